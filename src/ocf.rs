//! The OCF side of the process: exit codes, the environment Pacemaker hands an agent, and the
//! one-line exit reason.
//!
//! Everything an action decides ends up as an [`Outcome`]: a status from the single [`OcfStatus`]
//! enum and, for failures, a reason. Only `main` turns an outcome into an exit status, so no other
//! code path can exit with a code the OCF contract does not know.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// Exit codes of the OCF resource agent API 1.1, plus Pacemaker's degraded status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum OcfStatus {
    Success = 0,
    ErrGeneric = 1,
    ErrArgs = 2,
    ErrUnimplemented = 3,
    ErrPerm = 4,
    ErrInstalled = 5,
    ErrConfigured = 6,
    NotRunning = 7,
    /// Active, but a flush failed: Pacemaker (>= 2.0.5) shows it and does not recover.
    Degraded = 190,
}

impl OcfStatus {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// What an action ends with: a status and, when something went wrong, a reason for the operator.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: OcfStatus,
    pub reason: Option<String>,
}

impl Outcome {
    pub fn ok() -> Self {
        Outcome { status: OcfStatus::Success, reason: None }
    }

    pub fn status(status: OcfStatus) -> Self {
        Outcome { status, reason: None }
    }

    pub fn fail(status: OcfStatus, reason: impl fmt::Display) -> Self {
        Outcome { status, reason: Some(reason.to_string()) }
    }
}

/// Errors that know which OCF status they stand for.
pub trait OcfError: fmt::Display {
    fn ocf_status(&self) -> OcfStatus;
}

impl<E: OcfError> From<E> for Outcome {
    fn from(e: E) -> Self {
        Outcome::fail(e.ocf_status(), e)
    }
}

/// The default of `HA_RSCTMP`, as resource-agents' shell library sets it.
pub const DEFAULT_RSCTMP: &str = "/run/resource-agents";

/// The parts of Pacemaker's environment an action reads, captured once at start-up.
/// Its `Debug` lists parameter names only: values may hold the database password.
#[derive(Clone, Default)]
pub struct OcfEnv {
    /// `OCF_RESOURCE_INSTANCE`, or "tokenflush" when run by hand.
    pub instance: String,
    /// `OCF_RESKEY_CRM_meta_timeout`: how long Pacemaker gives this operation.
    pub timeout: Option<Duration>,
    /// `OCF_RESKEY_CRM_meta_interval`: 0 or unset makes a monitor a probe.
    pub interval: Duration,
    /// `OCF_CHECK_LEVEL`: 0, or 10 for the deeper database check.
    pub check_level: u32,
    /// `OCF_RESKEY_CRM_meta_clone_max`, when the resource is cloned.
    pub clone_max: Option<u32>,
    /// `HA_RSCTMP`, defaulting to /run/resource-agents.
    pub rsctmp: String,
    /// `HA_LOGFACILITY`, if set.
    pub log_facility: Option<String>,
    /// `OCF_EXIT_REASON_PREFIX`, defaulting to `ocf-exit-reason:`.
    pub exit_reason_prefix: String,
    /// Every `OCF_RESKEY_<name>` that is not a `CRM_meta_` attribute, by name.
    pub params: HashMap<String, String>,
}

impl fmt::Debug for OcfEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.params.keys().collect();
        names.sort();
        f.debug_struct("OcfEnv")
            .field("instance", &self.instance)
            .field("timeout", &self.timeout)
            .field("interval", &self.interval)
            .field("check_level", &self.check_level)
            .field("clone_max", &self.clone_max)
            .field("rsctmp", &self.rsctmp)
            .field("params", &names)
            .finish_non_exhaustive()
    }
}

impl OcfEnv {
    /// Reads the environment. Malformed numbers in Pacemaker's own variables are treated as unset:
    /// they come from the cluster manager, not from the operator's parameters.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut env = OcfEnv {
            instance: "tokenflush".into(),
            rsctmp: DEFAULT_RSCTMP.into(),
            exit_reason_prefix: "ocf-exit-reason:".into(),
            ..OcfEnv::default()
        };
        for (key, value) in vars {
            match key.as_str() {
                "OCF_RESOURCE_INSTANCE" if !value.is_empty() => env.instance = value,
                "OCF_RESKEY_CRM_meta_timeout" => {
                    env.timeout = value.trim().parse::<u64>().ok().filter(|&ms| ms > 0).map(Duration::from_millis)
                }
                "OCF_RESKEY_CRM_meta_interval" => {
                    env.interval = Duration::from_millis(value.trim().parse().unwrap_or(0))
                }
                "OCF_CHECK_LEVEL" => env.check_level = value.trim().parse().unwrap_or(0),
                "OCF_RESKEY_CRM_meta_clone_max" => env.clone_max = value.trim().parse().ok(),
                "HA_RSCTMP" if !value.is_empty() => env.rsctmp = value,
                "HA_LOGFACILITY" if !value.is_empty() => env.log_facility = Some(value),
                "OCF_EXIT_REASON_PREFIX" if !value.is_empty() => env.exit_reason_prefix = value,
                _ => {
                    if let Some(name) = key.strip_prefix("OCF_RESKEY_") {
                        if !name.starts_with("CRM_meta_") && name != "crm_feature_set" {
                            env.params.insert(name.to_string(), value);
                        }
                    }
                }
            }
        }
        env
    }

    pub fn from_process() -> Self {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))))
    }

    /// A monitor with interval 0 is a probe: it reports state and never flushes.
    pub fn is_probe(&self) -> bool {
        self.interval.is_zero()
    }

    /// A state-file name that stays inside the state directory whatever the instance is called
    /// (clone instances carry `:N`, and nothing stops an operator from using odd characters).
    pub fn instance_file_stem(&self) -> String {
        self.instance
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':') { c } else { '_' })
            .collect::<String>()
            .trim_start_matches('.')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> OcfEnv {
        OcfEnv::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn interval_zero_or_unset_is_a_probe() {
        assert!(env(&[]).is_probe());
        assert!(env(&[("OCF_RESKEY_CRM_meta_interval", "0")]).is_probe());
        assert!(!env(&[("OCF_RESKEY_CRM_meta_interval", "10000")]).is_probe());
    }

    #[test]
    fn meta_attributes_are_not_parameters() {
        let e = env(&[("OCF_RESKEY_CRM_meta_timeout", "20000"), ("OCF_RESKEY_table", "token")]);
        assert_eq!(e.timeout, Some(Duration::from_secs(20)));
        assert_eq!(e.params.get("table").map(String::as_str), Some("token"));
        assert!(!e.params.contains_key("CRM_meta_timeout"));
    }

    #[test]
    fn debug_output_names_parameters_but_never_shows_values() {
        let e = env(&[("OCF_RESKEY_connection", "mysql://u:Hunter2@h/k")]);
        let shown = format!("{e:?}");
        assert!(shown.contains("connection"), "{shown}");
        assert!(!shown.contains("Hunter2"), "{shown}");
    }

    #[test]
    fn instance_names_cannot_escape_the_state_directory() {
        let e = env(&[("OCF_RESOURCE_INSTANCE", "../../etc/p_x:0")]);
        assert_eq!(e.instance_file_stem(), "_.._etc_p_x:0");
        assert!(!e.instance_file_stem().contains('/'));
    }
}
