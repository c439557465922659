//! Database URLs as Keystone writes them, read the way SQLAlchemy reads them.
//!
//! Keystone's `[database] connection` is a SQLAlchemy URL (`mysql+pymysql://user:pass@host/db`).
//! SQLAlchemy does not follow the WHATWG URL rules: the user name runs to the first `:`, and the
//! password runs to the next `@`, so a password may hold raw `:`, `/`, `#`, `;` and `?`. A general
//! URL parser would cut such a password at `#` (a fragment) or `?` (a query) and connect with the
//! wrong secret, so this module splits the URL by SQLAlchemy's rules and only then percent-decodes
//! each part. Nothing here ever puts the password into an error message: errors quote the
//! redacted form of the URL.

use std::path::PathBuf;

use percent_encoding::percent_decode_str;

use crate::secret::Secret;

/// Client-side TLS settings from the URL's `ssl_*` query keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSpec {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Verify the server's certificate and name (`ssl_mode=VERIFY_IDENTITY`, or a CA given).
    pub verify_identity: bool,
    /// Verify the certificate chain (`VERIFY_CA`, `VERIFY_IDENTITY`, or a CA given).
    pub verify_ca: bool,
}

impl TlsSpec {
    /// One `ssl*` or `tls*` query key: whether it asks for TLS. Neither an unknown key nor a
    /// bad value is repeated: the rest of a password cut at a raw '@' can land in the query.
    fn apply(&mut self, key: &str, value: &str) -> Result<bool, UrlError> {
        match key {
            "ssl_ca" => self.ca = Some(PathBuf::from(value)),
            "ssl_cert" => self.cert = Some(PathBuf::from(value)),
            "ssl_key" => self.key = Some(PathBuf::from(value)),
            "ssl" => {
                return match value.to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Ok(true),
                    "0" | "false" | "no" | "off" => Ok(false),
                    _ => Err(UrlError("?ssl= is not true or false".into())),
                }
            }
            "ssl_mode" => match value.to_ascii_uppercase().as_str() {
                "DISABLED" => return Ok(false),
                "PREFERRED" | "REQUIRED" => {}
                "VERIFY_CA" => self.verify_ca = true,
                "VERIFY_IDENTITY" => (self.verify_ca, self.verify_identity) = (true, true),
                _ => {
                    return Err(UrlError(
                        "?ssl_mode= is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY".into(),
                    ))
                }
            },
            _ => {
                return Err(UrlError(
                    "has an unknown TLS option (known: ssl, ssl_ca, ssl_cert, ssl_key, ssl_mode)".into(),
                ))
            }
        }
        Ok(true)
    }
}

/// Where and how to connect, with every part decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbUrl {
    pub scheme: String,
    pub user: String,
    pub password: Option<Secret>,
    /// A host name, an IPv4 address, or an IPv6 address without its brackets.
    pub host: Option<String>,
    pub port: Option<u16>,
    /// `?unix_socket=` or `?socket=`: connect through this socket instead of TCP.
    pub socket: Option<PathBuf>,
    pub database: String,
    pub tls: Option<TlsSpec>,
    /// Query keys that were ignored (not `charset`, which is always ignored), for a warning.
    pub ignored_keys: Vec<String>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(pub String);

/// Query keys that drivers accept and that do not change where or how securely we connect.
const HARMLESS_KEYS: &[&str] = &[
    "charset",
    "plugin",
    "binary_prefix",
    "use_unicode",
    "autocommit",
    "local_infile",
    "client_flag",
    "connect_timeout",
    "read_timeout",
    "write_timeout",
    "init_command",
    "sql_mode",
    "read_default_group",
];

impl DbUrl {
    pub fn parse(raw: &str) -> Result<DbUrl, UrlError> {
        // oslo.config continuation lines arrive joined by newlines; a URL never contains one.
        let text: String = raw.split('\n').map(str::trim).collect();
        if text.is_empty() {
            return Err(UrlError("is empty".into()));
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(UrlError("is not a URL of the form mysql://user:password@host/database".into()));
        };
        check_scheme(scheme)?;
        let (user, password, after_userinfo) = split_userinfo(rest);
        let (hostport, path_query) = split_at_first(after_userinfo, &['/', '?']);
        let (host, port) = parse_hostport(hostport)?;
        let (database, query) = match path_query.strip_prefix('/') {
            Some(p) => split_once_or_all(p, '?'),
            None => ("", path_query.strip_prefix('?').unwrap_or("")),
        };
        let mut url = DbUrl {
            scheme: scheme.to_string(),
            user: decode(user.unwrap_or(""), "user name")?,
            password: password.map(|p| decode(p, "password").map(Secret::new)).transpose()?,
            host,
            port,
            socket: None,
            database: decode(database, "database name")?,
            tls: None,
            ignored_keys: Vec::new(),
        };
        url.apply_query(query)?;
        url.check()?;
        Ok(url)
    }

    fn apply_query(&mut self, query: &str) -> Result<(), UrlError> {
        let mut tls = TlsSpec::default();
        let mut want_tls = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = split_once_or_all(pair, '=');
            let key = decode(k, "query key")?;
            let value = decode(v, "query value")?;
            match key.as_str() {
                "unix_socket" | "socket" => {
                    if value.is_empty() {
                        return Err(UrlError(format!("?{key}= is empty")));
                    }
                    self.socket = Some(PathBuf::from(value));
                }
                k if HARMLESS_KEYS.contains(&k) => {
                    if k != "charset" {
                        self.ignored_keys.push(key);
                    }
                }
                k if k.starts_with("ssl") || k.starts_with("tls") => want_tls |= tls.apply(k, &value)?,
                // Only a plain name is repeated: the rest of a password cut at a raw '@' can
                // land in the query.
                _ if key.len() <= 32 && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') => {
                    self.ignored_keys.push(key)
                }
                _ => self.ignored_keys.push("(an unreadable key)".into()),
            }
        }
        if want_tls {
            if tls.ca.is_some() {
                tls.verify_ca = true;
            }
            self.tls = Some(tls);
        }
        Ok(())
    }

    fn check(&self) -> Result<(), UrlError> {
        if self.user.is_empty() {
            return Err(UrlError("has no user name".into()));
        }
        if self.database.is_empty() {
            return Err(UrlError("has no database name (mysql://user:password@host/keystone)".into()));
        }
        if self.database.len() > 64 || self.database.contains(['/', '\\', '\0']) {
            return Err(UrlError("has an invalid database name".into()));
        }
        if self.host.is_none() && self.socket.is_none() {
            return Err(UrlError("has no host (and no ?unix_socket=)".into()));
        }
        Ok(())
    }

    /// The URL with the password replaced, safe for logs and exit reasons.
    pub fn redacted(&self) -> String {
        let pass = if self.password.is_some() { ":***" } else { "" };
        let host = match &self.host {
            Some(h) if h.contains(':') => format!("[{h}]"),
            Some(h) => h.clone(),
            None => String::new(),
        };
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let socket = self.socket.as_ref().map(|s| format!("?unix_socket={}", s.display())).unwrap_or_default();
        format!("{}://{}{}@{}{}/{}{}", self.scheme, self.user, pass, host, port, self.database, socket)
    }
}

fn check_scheme(scheme: &str) -> Result<(), UrlError> {
    let (dialect, driver) = split_once_or_all(scheme, '+');
    let driver_ok = driver.is_empty() || driver.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match dialect {
        "mysql" | "mariadb" if driver_ok => Ok(()),
        _ => {
            let shown: String = scheme.chars().filter(|c| c.is_ascii_graphic()).take(32).collect();
            Err(UrlError(format!(
                "has scheme '{shown}': only MySQL/MariaDB is supported (mysql://, mysql+pymysql://, mysql+mysqldb://)"
            )))
        }
    }
}

/// SQLAlchemy's userinfo rule: `(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@`, with the
/// backtracking a regex engine would do.
fn split_userinfo(s: &str) -> (Option<&str>, Option<&str>, &str) {
    let run_end = s.find([':', '/']).unwrap_or(s.len());
    if s[run_end..].starts_with(':') {
        if let Some(at) = s[run_end + 1..].find('@') {
            let at = run_end + 1 + at;
            return (Some(&s[..run_end]), Some(&s[run_end + 1..at]), &s[at + 1..]);
        }
    }
    match s[..run_end].rfind('@') {
        Some(at) => (Some(&s[..at]), None, &s[at + 1..]),
        None => (None, None, s),
    }
}

fn parse_hostport(s: &str) -> Result<(Option<String>, Option<u16>), UrlError> {
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let Some((v6, after)) = inner.split_once(']') else {
            return Err(UrlError("has an IPv6 host without its closing ']'".into()));
        };
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err(UrlError("has an invalid IPv6 host".into()));
        }
        match after {
            "" => (Some(v6.to_string()), None),
            p if p.starts_with(':') => (Some(v6.to_string()), Some(&p[1..])),
            _ => return Err(UrlError("has characters after the IPv6 host".into())),
        }
    } else {
        let (h, p) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        let h = decode(h, "host")?;
        if h.contains('@') {
            return Err(UrlError("has '@' in the host: a raw '@' in the password must be written %40".into()));
        }
        let valid = h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !valid || h.starts_with(['-', '.']) || h.ends_with('-') || h.contains("..") || h.len() > 253 {
            return Err(UrlError("has an invalid host name".into()));
        }
        ((!h.is_empty()).then_some(h), p)
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(UrlError("has an invalid port (a number from 1 to 65535)".into())),
        },
    };
    Ok((host, port))
}

fn decode(s: &str, what: &str) -> Result<String, UrlError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| UrlError(format!("has a {what} that is not valid UTF-8 once percent-decoded")))
}

fn split_at_first<'a>(s: &'a str, chars: &[char]) -> (&'a str, &'a str) {
    let i = s.find(chars).unwrap_or(s.len());
    s.split_at(i)
}

fn split_once_or_all(s: &str, c: char) -> (&str, &str) {
    s.split_once(c).unwrap_or((s, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> DbUrl {
        DbUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn keystone_pymysql_url_with_charset() {
        let u = ok("mysql+pymysql://keystone:s3cret@db.example.com:3306/keystone?charset=utf8");
        assert_eq!(u.user, "keystone");
        assert_eq!(u.password.as_ref().map(Secret::expose), Some("s3cret"));
        assert_eq!(u.host.as_deref(), Some("db.example.com"));
        assert_eq!(u.port, Some(3306));
        assert_eq!(u.database, "keystone");
        assert!(u.ignored_keys.is_empty());
    }

    #[test]
    fn password_runs_to_the_next_at_sign_like_sqlalchemy() {
        let u = ok("mysql://ks:p:a/s#s;w?d@10.0.0.5/keystone");
        assert_eq!(u.password.unwrap().expose(), "p:a/s#s;w?d");
        assert_eq!(u.host.as_deref(), Some("10.0.0.5"));
    }

    #[test]
    fn percent_encoding_is_decoded() {
        let u = ok("mysql://k%40s:p%40ss%23@h/keystone");
        assert_eq!(u.user, "k@s");
        assert_eq!(u.password.unwrap().expose(), "p@ss#");
    }

    #[test]
    fn a_raw_at_sign_in_the_password_is_explained() {
        let e = DbUrl::parse("mysql://ks:p@ss@h/keystone").unwrap_err();
        assert!(e.0.contains("%40"), "{e}");
        assert!(!e.0.contains("p@ss"));
    }

    #[test]
    fn unix_socket_and_ipv6() {
        let u = ok("mysql://ks:pw@/keystone?unix_socket=/run/mysqld/mysqld.sock");
        assert_eq!(u.socket, Some(PathBuf::from("/run/mysqld/mysqld.sock")));
        assert_eq!(u.host, None);
        let u = ok("mysql://ks:pw@[fd00::1]:3307/keystone?socket=%2Ftmp%2Fs");
        assert_eq!(u.host.as_deref(), Some("fd00::1"));
        assert_eq!(u.port, Some(3307));
        assert_eq!(u.socket, Some(PathBuf::from("/tmp/s")));
    }

    #[test]
    fn only_mysql_schemes_are_accepted() {
        for s in ["postgresql://u:p@h/k", "sqlite:///k.db", "http://u:p@h/k", "mysql+py-sql://u:p@h/k"] {
            let e = DbUrl::parse(s).unwrap_err();
            assert!(e.0.contains("only MySQL/MariaDB"), "{s}: {e}");
        }
        ok("mariadb+mysqldb://u:p@h/k");
    }

    #[test]
    fn bad_ports_and_hosts_are_rejected() {
        for s in [
            "mysql://u:p@h:0/k",
            "mysql://u:p@h:65536/k",
            "mysql://u:p@h:x/k",
            "mysql://u:p@h:-1/k",
            "mysql://u:p@/k",
            "mysql://u:p@ho st/k",
            "mysql://u:p@[zz]/k",
            "mysql://u:p@[::1/k",
            "mysql://u:p@h",
            "mysql://u:p@h/",
        ] {
            assert!(DbUrl::parse(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn tls_options_are_collected() {
        let u = ok("mysql://u:p@h/k?ssl_ca=/etc/ca.pem&ssl_mode=VERIFY_IDENTITY");
        let t = u.tls.unwrap();
        assert_eq!(t.ca, Some(PathBuf::from("/etc/ca.pem")));
        assert!(t.verify_identity && t.verify_ca);
        assert!(ok("mysql://u:p@h/k?ssl=true").tls.is_some());
        assert!(ok("mysql://u:p@h/k?ssl_mode=DISABLED").tls.is_none());
        assert!(DbUrl::parse("mysql://u:p@h/k?ssl_verify=1").is_err());
    }

    #[test]
    fn redacted_form_never_shows_the_password() {
        let u = ok("mysql://ks:Very%2FSecret@h:3306/keystone");
        assert_eq!(u.redacted(), "mysql://ks:***@h:3306/keystone");
        assert!(!format!("{u:?}").contains("Very"));
    }

    #[test]
    fn continuation_lines_are_joined() {
        let u = ok("mysql+pymysql://ks:pw@h\n/keystone");
        assert_eq!(u.database, "keystone");
    }
}
