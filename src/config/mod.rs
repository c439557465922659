//! Turning raw parameters into one validated, typed [`Config`].
//!
//! Raw strings stop here. Validation happens in two steps so that each OCF action can ask for
//! exactly what it needs: [`Syntax::parse`] checks every parameter's form without touching the
//! file system (what `validate-all` at level 0 and a probe may rely on), and [`Syntax::load`]
//! then reads the local files it names (keystone.conf, the password file). Each failure is a
//! [`ConfigError`] that names the parameter; `error` gives it its OCF status.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dburl::DbUrl;
use crate::flush::{Strategy, Walk};
use crate::ident::Ident;
use crate::keystone_conf;
use crate::ocf::OcfEnv;
use crate::params::{self, RawParams, PARAMS};
use crate::rule::RuleSpec;
use crate::state::StateDir;
use crate::target::{age_of, Age, Tables, Target, TargetSpec};
use crate::text::shown;

mod files;

use files::{conf_error, read_password_file};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The value's syntax or combination is wrong wherever it runs.
    #[error("{0}")]
    Invalid(String),
    /// A file or directory the configuration names is missing on this node.
    #[error("{0}")]
    Missing(String),
    /// A file the configuration names cannot be read by this user.
    #[error("{0}")]
    Denied(String),
    /// A local file could not be read for another reason.
    #[error("{0}")]
    Io(String),
}

/// Where the database URL comes from.
#[derive(Clone, Debug)]
pub enum DbSource {
    Url(Box<DbUrl>),
    KeystoneConf(PathBuf),
}

/// Every setting except the database connection: what `Syntax` checked and `Config` keeps.
#[derive(Clone, Debug)]
pub struct Settings {
    pub target: Target,
    /// What to delete: the preset's tables, or `table`/`expiry_column` with `target=custom`.
    pub spec: TargetSpec,
    /// How old a row must be to go: `grace` past its expiry, or the preset's age. For
    /// keystone-revocation it is read from keystone.conf by [`Syntax::load`].
    pub age: Duration,
    pub interval: Duration,
    pub grace: Duration,
    pub batch_size: NonZeroU32,
    pub sleep: Duration,
    pub max_runtime: Duration,
    pub retry_interval: Duration,
    /// A walk forced by the `walk` parameter; `None` lets the engine choose.
    pub walk: Option<Walk>,
    /// Delete, rebuild, or choose per flush.
    pub strategy: Strategy,
    pub state_dir: StateDir,
    /// Prometheus text file written after every flush, for node_exporter's textfile collector.
    pub metrics_file: Option<PathBuf>,
    /// Publish backlog and last success as transient node attributes with attrd_updater.
    pub node_attributes: bool,
}

/// Every parameter checked for form; files named by it not yet read.
#[derive(Clone, Debug)]
pub struct Syntax {
    pub source: DbSource,
    /// keystone.conf (`config`), for the options a target reads from it besides the connection.
    pub keystone_conf: PathBuf,
    pub password_file: Option<PathBuf>,
    pub settings: Settings,
}

/// The validated configuration every action and the CLI work from: the settings, and the
/// database URL with the password from wherever it came.
#[derive(Clone, Debug)]
pub struct Config {
    pub db: DbUrl,
    pub settings: Settings,
}

impl std::ops::Deref for Syntax {
    type Target = Settings;
    fn deref(&self) -> &Settings {
        &self.settings
    }
}

impl std::ops::Deref for Config {
    type Target = Settings;
    fn deref(&self) -> &Settings {
        &self.settings
    }
}

pub fn parse_facility(s: &str) -> Option<syslog::Facility> {
    let s = s.trim().to_ascii_lowercase();
    if s.is_empty() || s.starts_with("log_") {
        return None;
    }
    s.parse().ok()
}

/// The state directory: `state_dir`, which must be absolute, or `$HA_RSCTMP`.
pub fn state_dir(raw: &RawParams, env: &OcfEnv) -> Result<StateDir, ConfigError> {
    match raw.get(&params::STATE_DIR) {
        Some(p) => {
            let path = PathBuf::from(p);
            if !path.is_absolute() {
                return Err(ConfigError::Invalid(format!("state_dir '{}' must be an absolute path", shown(p))));
            }
            Ok(StateDir { path, is_default: false })
        }
        None => Ok(StateDir { path: PathBuf::from(&env.rsctmp), is_default: true }),
    }
}

impl Syntax {
    pub fn parse(raw: &RawParams, env: &OcfEnv) -> Result<Syntax, ConfigError> {
        if let Some(n) = env.clone_max.filter(|&n| n > 1) {
            return Err(ConfigError::Invalid(format!(
                "tokenflush must run as a single primitive, not a clone (clone-max={n}): every copy would flush the same table"
            )));
        }
        for p in PARAMS {
            if let Some(v) = raw.get(p) {
                params::check_kind(p, v).map_err(ConfigError::Invalid)?;
            }
        }
        // An identifier set to "" is a mistake, not a request for the default table.
        for p in [&params::TABLE, &params::EXPIRY_COLUMN] {
            if raw.is_set_empty(p) {
                return Err(ConfigError::Invalid(format!("{} is set but empty", p.name)));
            }
        }
        let source = match raw.get(&params::CONNECTION) {
            Some(url) => {
                DbSource::Url(Box::new(DbUrl::parse(url).map_err(|e| ConfigError::Invalid(format!("connection {e}")))?))
            }
            None => DbSource::KeystoneConf(absolute(&params::CONFIG, raw.value(&params::CONFIG).unwrap_or_default())?),
        };
        let password_file = raw.get(&params::PASSWORD_FILE).map(|p| absolute(&params::PASSWORD_FILE, p)).transpose()?;
        // Only validated here: main sets the logger up before the configuration, from the same value.
        if let Some(f) = raw.get(&params::LOG_FACILITY).filter(|f| parse_facility(f).is_none()) {
            return Err(ConfigError::Invalid(format!(
                "log_facility '{}' is not a syslog facility (daemon, user, local0..local7)",
                shown(f)
            )));
        }
        let keystone_conf = PathBuf::from(raw.value(&params::CONFIG).unwrap_or_default());
        Ok(Syntax { source, keystone_conf, password_file, settings: settings(raw, env)? })
    }

    /// Reads the files the parameters name and returns the complete configuration.
    pub fn load(self) -> Result<Config, ConfigError> {
        let mut db = match &self.source {
            DbSource::Url(u) => (**u).clone(),
            DbSource::KeystoneConf(path) => {
                let url = keystone_conf::database_connection(path).map_err(conf_error)?;
                DbUrl::parse(&url).map_err(|e| {
                    ConfigError::Invalid(format!("config: [database] connection in {} {e}", path.display()))
                })?
            }
        };
        if let Some(pf) = &self.password_file {
            db.password = Some(read_password_file(pf)?);
        }
        let mut settings = self.settings;
        if settings.spec.age == Age::KeystoneRevocation {
            settings.age = keystone_conf::revocation_age(&self.keystone_conf).map_err(conf_error)?;
        }
        if let Some(dir) = settings.metrics_file.as_deref().and_then(Path::parent) {
            if !dir.is_dir() {
                return Err(ConfigError::Missing(format!("metrics_file: directory {} does not exist", dir.display())));
            }
        }
        #[cfg(not(feature = "tls"))]
        if db.tls.is_some() {
            return Err(ConfigError::Missing(
                "connection asks for TLS (ssl_*), but this tokenflush was built without the 'tls' feature".into(),
            ));
        }
        Ok(Config { db, settings })
    }
}

/// The typed settings, from values [`params::check_kind`] has accepted.
fn settings(raw: &RawParams, env: &OcfEnv) -> Result<Settings, ConfigError> {
    let (target, spec) = parse_target(raw)?;
    let grace = raw.duration(&params::GRACE);
    let ttl = raw.get(&params::TIME_TO_LIVE).map(|_| raw.number(&params::TIME_TO_LIVE));
    if spec.age == Age::TimeToLive && ttl.is_none() {
        return Err(ConfigError::Invalid(format!(
            "target {} needs time_to_live (aodh.conf's [database] alarm_history_time_to_live, in seconds)",
            target.name()
        )));
    }
    let days = raw.number(&params::AGE_IN_DAYS);
    let age = age_of(spec.age, grace, days, ttl.unwrap_or(0), Duration::ZERO);
    let batch_size = u32::try_from(raw.number(&params::BATCH_SIZE)).ok().and_then(NonZeroU32::new);
    Ok(Settings {
        target,
        spec,
        age,
        interval: raw.duration(&params::INTERVAL),
        grace,
        batch_size: batch_size.ok_or_else(|| ConfigError::Invalid("batch_size must be at least 1".into()))?,
        sleep: raw.duration(&params::SLEEP_MS),
        max_runtime: raw.duration(&params::MAX_RUNTIME),
        retry_interval: raw.duration(&params::RETRY_INTERVAL),
        walk: raw.value(&params::WALK).and_then(Walk::from_name),
        strategy: raw.value(&params::STRATEGY).and_then(Strategy::from_name).unwrap_or(Strategy::Delete),
        state_dir: state_dir(raw, env)?,
        metrics_file: raw.get(&params::METRICS_FILE).map(|p| absolute(&params::METRICS_FILE, p)).transpose()?,
        node_attributes: raw.flag(&params::NODE_ATTRIBUTES),
    })
}

/// The `target` preset, or with `target=custom` the `table` and `expiry_column` parameters.
/// `table` and `expiry_column` with another target are refused rather than ignored: the
/// operator meant something, and a preset would silently flush a different table.
fn parse_target(raw: &RawParams) -> Result<(Target, TargetSpec), ConfigError> {
    let name = raw.value(&params::TARGET).unwrap_or("keystone-token");
    let target = Target::parse(name).ok_or_else(|| {
        ConfigError::Invalid(format!("target '{}' is not one of {}", shown(name), Target::NAMES.join(", ")))
    })?;
    let idents = [&params::TABLE, &params::EXPIRY_COLUMN];
    // A malformed identifier is reported as such whatever the target.
    for p in idents {
        if let Some(v) = raw.get(p) {
            ident(p, v)?;
        }
    }
    if let Some(spec) = target.preset() {
        if let Some(p) = idents.into_iter().find(|p| raw.get(p).is_some()) {
            return Err(ConfigError::Invalid(format!(
                "{} applies only with target=custom; target {} always flushes {}",
                p.name,
                target.name(),
                target.describe()
            )));
        }
        return Ok((target, spec));
    }
    let get = |p: &params::Param| {
        raw.get(p)
            .ok_or_else(|| ConfigError::Invalid(format!("target=custom needs {}", p.name)))
            .and_then(|v| ident(p, v))
    };
    let rule = RuleSpec::single(get(&params::TABLE)?, get(&params::EXPIRY_COLUMN)?);
    Ok((target, TargetSpec { tables: Tables::Fixed(vec![rule]), age: Age::Grace }))
}

fn ident(p: &params::Param, v: &str) -> Result<Ident, ConfigError> {
    Ident::parse(p.name, v).map_err(|e| ConfigError::Invalid(e.to_string()))
}

impl Config {
    /// Parses and loads in one go, for callers that need everything.
    pub fn from_params(raw: &RawParams, env: &OcfEnv) -> Result<Config, ConfigError> {
        Syntax::parse(raw, env)?.load()
    }
}

fn absolute(p: &params::Param, value: &str) -> Result<PathBuf, ConfigError> {
    let path = PathBuf::from(value);
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(ConfigError::Invalid(format!("{} '{}' must be an absolute path", p.name, shown(value))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocf::{OcfError, OcfStatus};

    fn raw(pairs: &[(&str, &str)]) -> RawParams {
        RawParams::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn defaults_come_from_the_parameter_table() {
        let s = Syntax::parse(&raw(&[("connection", "mysql://u:p@h/k")]), &OcfEnv::default()).unwrap();
        assert_eq!(s.interval, Duration::from_secs(600));
        assert_eq!(s.grace, Duration::from_secs(60));
        assert_eq!(s.batch_size.get(), 1000);
        assert_eq!(s.target.describe(), "token");
        assert_eq!(s.target, Target::KeystoneToken);
        assert_eq!(s.walk, None, "auto: the engine chooses");
        assert!(matches!(s.source, DbSource::Url(_)));
    }

    #[test]
    fn identifiers_carrying_sql_are_refused() {
        for bad in ["token`; DROP TABLE token; --", "to ken", "a.b", "tökén", "1abc", "`t`", &"x".repeat(65)] {
            let e = Syntax::parse(
                &raw(&[
                    ("connection", "mysql://u:p@h/k"),
                    ("target", "custom"),
                    ("table", bad),
                    ("expiry_column", "e"),
                ]),
                &OcfEnv::default(),
            )
            .unwrap_err();
            assert!(e.to_string().starts_with("table '"), "{e}");
            assert_eq!(e.ocf_status(), OcfStatus::ErrConfigured);
        }
    }

    #[test]
    fn debug_of_the_config_redacts_the_password() {
        let raw = raw(&[("connection", "mysql://u:Hunter2Secret@h/k")]);
        let c = Config::from_params(&raw, &OcfEnv::default()).unwrap();
        for shown in [format!("{c:?}"), format!("{raw:?}")] {
            assert!(!shown.contains("Hunter2Secret"), "{shown}");
        }
        assert!(format!("{c:?}").contains("Secret(***)"));
    }

    #[test]
    fn table_and_column_apply_only_to_custom() {
        let url = ("connection", "mysql://u:p@h/k");
        for (target, p) in [("keystone-token", "table"), ("keystone-trust", "expiry_column"), ("", "table")] {
            let e = Syntax::parse(&raw(&[url, ("target", target), (p, "x")]), &OcfEnv::default()).unwrap_err();
            assert_eq!(e.ocf_status(), OcfStatus::ErrConfigured, "{target} {p}");
            assert!(e.to_string().starts_with(&format!("{p} applies only with target=custom")), "{e}");
        }
        let e = Syntax::parse(&raw(&[url, ("target", "custom"), ("table", "t")]), &OcfEnv::default()).unwrap_err();
        assert_eq!(e.to_string(), "target=custom needs expiry_column");
        let s = Syntax::parse(
            &raw(&[url, ("target", "custom"), ("table", "t"), ("expiry_column", "e")]),
            &OcfEnv::default(),
        )
        .unwrap();
        let Tables::Fixed(specs) = &s.spec.tables else { panic!("{:?}", s.spec) };
        assert_eq!(specs[0].main_column().unwrap().as_str(), "e");
        let e = Syntax::parse(&raw(&[url, ("target", "tokens")]), &OcfEnv::default()).unwrap_err();
        assert!(e.to_string().contains(&Target::NAMES.join(", ")), "{e}");
    }

    #[test]
    fn a_forced_walk_is_kept() {
        let s = Syntax::parse(&raw(&[("connection", "mysql://u:p@h/k"), ("walk", "primary-key")]), &OcfEnv::default());
        assert_eq!(s.unwrap().walk, Some(Walk::PrimaryKey));
    }

    #[test]
    fn clones_are_refused() {
        let env = OcfEnv { clone_max: Some(2), ..OcfEnv::default() };
        let e = Syntax::parse(&raw(&[("connection", "mysql://u:p@h/k")]), &env).unwrap_err();
        assert_eq!(e.ocf_status(), OcfStatus::ErrConfigured);
    }

    #[test]
    fn errors_about_the_url_never_repeat_the_password() {
        let e = Syntax::parse(&raw(&[("connection", "mysql://u:Hunter2Secret@h:99999/k")]), &OcfEnv::default())
            .unwrap_err();
        assert!(e.to_string().starts_with("connection "));
        assert!(!e.to_string().contains("Hunter2Secret"));
    }
}
