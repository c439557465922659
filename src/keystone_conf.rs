//! Reading `[database] connection` from keystone.conf the way oslo.config does.
//!
//! oslo.config reads the main file and then every `*.conf` in the sibling `keystone.conf.d/`
//! directory in sorted order; a later value overrides an earlier one, a duplicate key's last value
//! wins, indented lines continue a value, and `#` or `;` start a comment only at the beginning of
//! a line (so a password may contain them). rust-ini does the line parsing with quotes and
//! escapes turned off, which matches oslo's treatment of raw values.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error("{0} is a directory, not a file")]
    NotAFile(PathBuf),
    #[error("cannot read {0}: permission denied")]
    Denied(PathBuf),
    #[error("cannot read {0}: {1}")]
    Io(PathBuf, io::Error),
    #[error("{0} is not a valid INI file: {1}")]
    Syntax(PathBuf, String),
    #[error("{0} has no [database] connection")]
    NoConnection(PathBuf),
    #[error("[database] connection in {0} is empty")]
    EmptyConnection(PathBuf),
    /// The referenced name is not shown: in a password, the text after a `$` is the password's.
    #[error("[database] connection in {0} contains a $ substitution, which tokenflush does not resolve: write the value itself, with a literal $ written $$ as oslo.config requires")]
    Substitution(PathBuf),
}

/// The files oslo.config would read for `path`, in order: the file, then `<dir>/keystone.conf.d/*.conf`
/// sorted by name (the directory is named after the file: `<stem>.conf.d`).
pub fn files_for(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    let dir_name = format!("{}.d", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
    let conf_d = path.with_file_name(dir_name);
    if let Ok(entries) = fs::read_dir(&conf_d) {
        let mut extra: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            // Python's glob("*.conf"), which oslo.config uses, skips hidden files.
            .filter(|p| p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.')))
            .filter(|p| p.extension().is_some_and(|e| e == "conf") && p.is_file())
            .collect();
        extra.sort();
        files.extend(extra);
    }
    files
}

/// `[database] connection` as oslo.config resolves it across keystone.conf and keystone.conf.d.
pub fn database_connection(path: &Path) -> Result<String, ConfError> {
    let mut found: Option<(String, PathBuf)> = None;
    for file in files_for(path) {
        let text = read(&file)?;
        if let Some(v) = connection_in(&text).map_err(|e| ConfError::Syntax(file.clone(), e))? {
            found = Some((v, file));
        }
    }
    match found {
        Some((v, file)) if v.trim().is_empty() => Err(ConfError::EmptyConnection(file)),
        Some((v, file)) => unescape_dollars(&v).map_err(|_| ConfError::Substitution(file)),
        None => Err(ConfError::NoConnection(path.to_path_buf())),
    }
}

/// oslo.config substitutes `$name` and `${name}` with other options' values and reads `$$` as
/// one `$`. `$$` is undone here; a reference is refused (its name, for tests only, in the error).
fn unescape_dollars(v: &str) -> Result<String, String> {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('$') => {
                chars.next();
                out.push('$');
            }
            Some(&n) if n == '{' || n == '_' || n.is_ascii_alphabetic() => {
                let name: String = chars
                    .take_while(|&c| c != '}' && (c == '{' || c == '_' || c == '.' || c.is_ascii_alphanumeric()))
                    .collect();
                return Err(name.trim_start_matches('{').chars().take(40).collect());
            }
            _ => out.push('$'),
        }
    }
    Ok(out)
}

fn read(file: &Path) -> Result<String, ConfError> {
    fs::read_to_string(file).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ConfError::Missing(file.to_path_buf()),
        io::ErrorKind::PermissionDenied => ConfError::Denied(file.to_path_buf()),
        io::ErrorKind::IsADirectory => ConfError::NotAFile(file.to_path_buf()),
        // Not text: a configuration error, like any other unparsable keystone.conf.
        io::ErrorKind::InvalidData => ConfError::Syntax(file.to_path_buf(), "not UTF-8 text".into()),
        _ => ConfError::Io(file.to_path_buf(), e),
    })
}

/// Keystone's cutoff for revocation events: `[token] expiration` + `[revoke] expiration_buffer`
/// (defaults 3600 and 1800 seconds), read across keystone.conf and keystone.conf.d as Keystone
/// reads them. A missing file gives Keystone's defaults, as it does for Keystone.
pub fn revocation_age(path: &Path) -> Result<std::time::Duration, ConfError> {
    let mut expiration: u64 = 3600;
    let mut buffer: u64 = 1800;
    for file in files_for(path) {
        let text = match read(&file) {
            Ok(t) => t,
            Err(ConfError::Missing(_)) if file == path => continue,
            Err(e) => return Err(e),
        };
        for (section, key, slot) in
            [("token", "expiration", &mut expiration), ("revoke", "expiration_buffer", &mut buffer)]
        {
            if let Some(v) = option_in(&text, section, key).map_err(|e| ConfError::Syntax(file.clone(), e))? {
                *slot = v.trim().parse().map_err(|_| {
                    ConfError::Syntax(file.clone(), format!("[{section}] {key} is not a whole number of seconds"))
                })?;
            }
        }
    }
    Ok(std::time::Duration::from_secs(expiration + buffer))
}

/// The last `connection` of the last `[database]` section in one file's text.
fn connection_in(text: &str) -> Result<Option<String>, String> {
    option_in(text, "database", "connection")
}

/// The last `key` of the last `[section]` in one file's text.
fn option_in(text: &str, section: &str, key: &str) -> Result<Option<String>, String> {
    let opt = ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        enabled_indented_mutiline_value: true,
        ..ParseOption::default()
    };
    let ini = Ini::load_from_str_opt(text, opt).map_err(|e| e.to_string())?;
    let value = ini.section_all(Some(section)).filter_map(|s| s.get_all(key).next_back()).next_back().map(strip_quotes);
    Ok(value)
}

/// oslo.config drops one pair of matching outer quotes.
fn strip_quotes(v: &str) -> String {
    let v = v.trim();
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[0] == b[b.len() - 1] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_duplicate_wins_and_comment_chars_stay_in_values() {
        let text = "[DEFAULT]\ndebug = true\n[database]\nconnection = mysql://a:b@h/k\n# a comment\nconnection = mysql://ks:p#a;ss@h/keystone\n";
        assert_eq!(connection_in(text).unwrap().as_deref(), Some("mysql://ks:p#a;ss@h/keystone"));
    }

    #[test]
    fn continuation_lines_extend_a_value() {
        let text = "[database]\nconnection = mysql+pymysql://ks:pw@h\n    /keystone?charset=utf8\nmax_retries = 5\n";
        assert_eq!(connection_in(text).unwrap().as_deref(), Some("mysql+pymysql://ks:pw@h\n/keystone?charset=utf8"));
    }

    #[test]
    fn quotes_are_dropped_like_oslo() {
        assert_eq!(
            connection_in("[database]\nconnection = \"mysql://a:b@h/k\"\n").unwrap().as_deref(),
            Some("mysql://a:b@h/k")
        );
    }

    #[test]
    fn dollars_are_read_like_oslo_config() {
        assert_eq!(unescape_dollars("mysql://k:pa$$w$@h/k").unwrap(), "mysql://k:pa$w$@h/k");
        assert_eq!(unescape_dollars("mysql://k:$db_pass@h/k").unwrap_err(), "db_pass");
        assert_eq!(unescape_dollars("mysql://k:${database.pw}@h/k").unwrap_err(), "database.pw");
    }

    #[test]
    fn the_revocation_cutoff_is_read_like_keystone() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("keystone.conf");
        assert_eq!(revocation_age(&conf).unwrap().as_secs(), 5400, "Keystone's defaults without a file");
        fs::write(&conf, "[token]\nexpiration = 7200\n").unwrap();
        fs::create_dir(dir.path().join("keystone.conf.d")).unwrap();
        fs::write(dir.path().join("keystone.conf.d/10.conf"), "[revoke]\nexpiration_buffer = 600\n").unwrap();
        assert_eq!(revocation_age(&conf).unwrap().as_secs(), 7800);
        fs::write(&conf, "[token]\nexpiration = soon\n").unwrap();
        assert!(revocation_age(&conf).is_err());
    }

    #[test]
    fn no_database_section() {
        assert_eq!(connection_in("[DEFAULT]\nconnection = x\n").unwrap(), None);
    }
}
