//! Reading the local files a configuration names: keystone.conf (through [`crate::keystone_conf`])
//! and the password file. Each failure names the file and says what is wrong with it, and
//! becomes the [`ConfigError`] whose OCF status says whether another node could do better.

use std::fs;
use std::io;
use std::path::Path;

use super::ConfigError;
use crate::keystone_conf::ConfError;
use crate::secret::Secret;

pub fn conf_error(e: ConfError) -> ConfigError {
    let msg = format!("config: {e}");
    match e {
        ConfError::Missing(_) | ConfError::NotAFile(_) => ConfigError::Missing(msg),
        ConfError::Denied(_) => ConfigError::Denied(msg),
        ConfError::Io(..) => ConfigError::Io(msg),
        ConfError::Syntax(..)
        | ConfError::NoConnection(_)
        | ConfError::EmptyConnection(_)
        | ConfError::Substitution(_) => ConfigError::Invalid(msg),
    }
}

/// The first line of the password file, without its line ending.
pub fn read_password_file(path: &Path) -> Result<Secret, ConfigError> {
    let text = fs::read(path).map_err(|e| {
        let msg = format!("password_file: cannot read {}: {}", path.display(), io_reason(&e));
        match e.kind() {
            io::ErrorKind::NotFound => {
                ConfigError::Missing(format!("password_file: {} does not exist", path.display()))
            }
            io::ErrorKind::IsADirectory => {
                ConfigError::Missing(format!("password_file: {} is a directory, not a file", path.display()))
            }
            io::ErrorKind::PermissionDenied => ConfigError::Denied(msg),
            _ => ConfigError::Io(msg),
        }
    })?;
    let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    let line = String::from_utf8(first.to_vec()).map_err(|_| {
        ConfigError::Invalid(format!("password_file: the first line of {} is not UTF-8", path.display()))
    })?;
    if line.is_empty() {
        return Err(ConfigError::Invalid(format!("password_file: {} is empty", path.display())));
    }
    Ok(Secret::new(line))
}

fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::NotFound => "no such file".into(),
        _ => e.to_string(),
    }
}
