//! The agent's parameters, declared once.
//!
//! Each parameter is one [`Param`] below: its name, its type and unit, its default, its
//! documentation and, when the `flush` command takes it too, its flag. [`PARAMS`] lists them in
//! the order every rendering uses. From this table come the meta-data XML, the README's
//! parameter table and the man page ([`crate::metadata`]), the first syntax check of every value
//! ([`check_kind`]), the `flush` command's flags ([`crate::cli::flush`]), and the typed reads of
//! [`RawParams`] that [`crate::config`] makes. Adding a parameter here makes it appear in all of
//! them at once; only what it means is left to write in `config`.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

pub use crate::text::shown;

/// The unit of an integer parameter: what its error messages and flags call it, and how it is
/// read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Milliseconds,
    Rows,
    Days,
}

impl Unit {
    pub fn plural(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Milliseconds => "milliseconds",
            Unit::Rows => "rows",
            Unit::Days => "days",
        }
    }
}

/// What a parameter's value must look like. The meta-data only knows string, integer and boolean
/// (ra-api-1.dtd), so the finer kinds below all render as one of those.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    /// A whole number within the bounds, both inclusive.
    Integer {
        min: u64,
        max: u64,
        unit: Unit,
    },
    /// true/false, yes/no, on/off or 1/0, as Pacemaker's crm_is_true reads them.
    Boolean,
    /// One of these words.
    Choice(&'static [&'static str]),
}

impl Kind {
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::String | Kind::Choice(_) => "string",
            Kind::Integer { .. } => "integer",
            Kind::Boolean => "boolean",
        }
    }
}

/// The `flush` command's flag for a parameter: `--<name with dashes> VALUE`.
#[derive(Clone, Copy, Debug)]
pub struct Flag {
    pub value_name: &'static str,
    /// The flag's help, when it says more than the parameter's short description.
    pub help: Option<&'static str>,
}

#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub default: Option<&'static str>,
    pub required: bool,
    pub unique: bool,
    pub short: &'static str,
    pub long: &'static str,
    /// The `flush` command takes it as a flag; `None`: OCF only.
    pub flag: Option<Flag>,
}

impl Param {
    /// The flag's long name: the parameter's with dashes.
    pub fn flag_name(&self) -> String {
        self.name.replace('_', "-")
    }
}

/// A boolean parameter's value, read like Pacemaker's `crm_is_true`.
pub fn is_true(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "y" | "1")
}

fn is_boolean(v: &str) -> bool {
    is_true(v) || matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "no" | "off" | "n" | "0")
}

/// Checks a value against its declared kind. The error names the parameter and never repeats the
/// value when the parameter may carry a secret.
pub fn check_kind(p: &Param, value: &str) -> Result<(), String> {
    match p.kind {
        Kind::String => Ok(()),
        Kind::Integer { min, max, unit } => {
            let v = value.trim();
            match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(()),
                Ok(_) => Err(format!("{} must be between {min} and {max}, not {v}", p.name)),
                Err(_) if v.parse::<i128>().is_ok() => {
                    Err(format!("{} must be between {min} and {max}, not {v}", p.name))
                }
                Err(_) => {
                    Err(format!("{} must be a whole number of {}, not '{}'", p.name, unit.plural(), shown(value)))
                }
            }
        }
        Kind::Boolean if is_boolean(value) => Ok(()),
        Kind::Boolean => Err(format!("{} must be true or false, not '{}'", p.name, shown(value))),
        Kind::Choice(words) if words.contains(&value.trim()) => Ok(()),
        Kind::Choice(words) => Err(format!("{} must be one of {}, not '{}'", p.name, words.join(", "), shown(value))),
    }
}

/// Parameter values by name, with empty values treated as unset (Pacemaker passes unset
/// parameters as absent, but hand-written environments often carry `OCF_RESKEY_x=`), read
/// through the declared [`Param`]s. Its `Debug` lists names only: the connection value may hold
/// the password.
#[derive(Clone, Default)]
pub struct RawParams(HashMap<String, String>);

impl fmt::Debug for RawParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.0.keys().collect();
        names.sort();
        f.debug_tuple("RawParams").field(&names).finish()
    }
}

impl RawParams {
    pub fn new(map: HashMap<String, String>) -> Self {
        RawParams(map)
    }

    /// The explicit value, if any.
    pub fn get(&self, p: &Param) -> Option<&str> {
        self.0.get(p.name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// Whether the parameter was passed with an empty value. Pacemaker passes only the parameters
    /// that are set, so an empty one was set to "" on purpose.
    pub fn is_set_empty(&self, p: &Param) -> bool {
        self.0.get(p.name).is_some_and(|v| v.is_empty())
    }

    /// The explicit value or the declared default.
    pub fn value(&self, p: &Param) -> Option<&str> {
        self.get(p).or(p.default)
    }

    /// An integer parameter, explicit or default (0 when neither parses: [`check_kind`] has
    /// refused such a value before anything reads it).
    pub fn number(&self, p: &Param) -> u64 {
        debug_assert!(matches!(p.kind, Kind::Integer { .. }), "{} is not an integer", p.name);
        self.value(p).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    }

    /// A time parameter in its declared unit.
    pub fn duration(&self, p: &Param) -> Duration {
        match p.kind {
            Kind::Integer { unit: Unit::Milliseconds, .. } => Duration::from_millis(self.number(p)),
            Kind::Integer { unit: Unit::Seconds, .. } => Duration::from_secs(self.number(p)),
            Kind::Integer { unit: Unit::Days, .. } => Duration::from_secs(self.number(p) * 86_400),
            _ => {
                debug_assert!(false, "{} is not a duration", p.name);
                Duration::ZERO
            }
        }
    }

    /// A boolean parameter, explicit or default.
    pub fn flag(&self, p: &Param) -> bool {
        debug_assert!(matches!(p.kind, Kind::Boolean), "{} is not a boolean", p.name);
        self.value(p).is_some_and(is_true)
    }
}

const DAY: u64 = 86_400;

pub fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name == name)
}

mod table;
pub use table::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_is_declared_once() {
        for (i, p) in PARAMS.iter().enumerate() {
            assert!(PARAMS[i + 1..].iter().all(|q| q.name != p.name), "{} twice", p.name);
            assert!(!p.short.is_empty() && !p.long.is_empty());
        }
    }

    #[test]
    fn defaults_satisfy_their_own_kind() {
        for p in PARAMS {
            if let Some(d) = p.default {
                assert_eq!(check_kind(p, d), Ok(()), "{}", p.name);
            }
        }
    }

    #[test]
    fn integers_are_bounded() {
        let p = &BATCH_SIZE;
        assert!(check_kind(p, "0").is_err());
        assert!(check_kind(p, "-5").unwrap_err().contains("between 1 and"));
        assert!(check_kind(p, "99999999999999999999999").is_err());
        assert!(check_kind(p, "ten").unwrap_err().starts_with("batch_size"));
        assert_eq!(check_kind(p, "500"), Ok(()));
    }

    #[test]
    fn errors_name_each_parameter_in_its_own_unit() {
        assert_eq!(
            check_kind(&SLEEP_MS, "abc").unwrap_err(),
            "sleep_ms must be a whole number of milliseconds, not 'abc'"
        );
        assert_eq!(check_kind(&BATCH_SIZE, "abc").unwrap_err(), "batch_size must be a whole number of rows, not 'abc'");
        assert_eq!(check_kind(&INTERVAL, "abc").unwrap_err(), "interval must be a whole number of seconds, not 'abc'");
        assert_eq!(check_kind(&WALK, "pk").unwrap_err(), "walk must be one of auto, expiry, primary-key, not 'pk'");
    }

    #[test]
    fn typed_reads_use_the_declared_unit_and_default() {
        let raw = RawParams::new([("sleep_ms".to_string(), "250".to_string())].into());
        assert_eq!(raw.duration(&SLEEP_MS), Duration::from_millis(250));
        assert_eq!(raw.duration(&INTERVAL), Duration::from_secs(600));
        assert_eq!(raw.number(&BATCH_SIZE), 1000);
        assert!(!raw.flag(&NODE_ATTRIBUTES));
    }
}
