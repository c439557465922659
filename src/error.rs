//! Where an error becomes a status: every error type's OCF exit code, in one place.
//!
//! Each action and the CLI turn an error into an [`Outcome`](crate::ocf::Outcome) through
//! [`OcfError`]; the codes below are the README's exit-code contract. The one deliberate
//! difference between paths is the recurring monitor's, which [`monitor_status`] states: a flush
//! that failed for a reason other than the configuration is reported as degraded, so that
//! Pacemaker shows it without recovering the resource.

use crate::config::ConfigError;
use crate::db::DbError;
use crate::ocf::{OcfError, OcfStatus};
use crate::state::StateError;

impl OcfError for ConfigError {
    fn ocf_status(&self) -> OcfStatus {
        match self {
            ConfigError::Invalid(_) => OcfStatus::ErrConfigured,
            ConfigError::Missing(_) => OcfStatus::ErrInstalled,
            ConfigError::Denied(_) => OcfStatus::ErrPerm,
            ConfigError::Io(_) => OcfStatus::ErrGeneric,
        }
    }
}

impl OcfError for DbError {
    /// What `validate-all` at level 10 and the `flush` command report.
    fn ocf_status(&self) -> OcfStatus {
        match self {
            DbError::Schema(_) | DbError::Misconfigured(_) => OcfStatus::ErrConfigured,
            DbError::AccessDenied(_) => OcfStatus::ErrPerm,
            DbError::Unreachable(_) | DbError::Timeout(..) | DbError::Unconfirmed(..) | DbError::Server(..) => {
                OcfStatus::ErrGeneric
            }
        }
    }
}

impl OcfError for StateError {
    fn ocf_status(&self) -> OcfStatus {
        match self {
            StateError::DirMissing(_) | StateError::NotADir(_) => OcfStatus::ErrInstalled,
            StateError::Denied(_) => OcfStatus::ErrPerm,
            StateError::Full(_) | StateError::Io(..) | StateError::Corrupt(_) => OcfStatus::ErrGeneric,
        }
    }
}

/// A recurring monitor's status for a database error: a configuration problem stays
/// "not configured" (6) at `OCF_CHECK_LEVEL=10`, where the operator asked for the deep check;
/// everything else, access denied included, is degraded (190): the resource runs, the next
/// monitor retries after `retry_interval`, and Pacemaker recovers nothing.
pub fn monitor_status(e: &DbError) -> OcfStatus {
    match e.ocf_status() {
        OcfStatus::ErrConfigured => OcfStatus::ErrConfigured,
        _ => OcfStatus::Degraded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_map_to_the_contract() {
        let denied = DbError::AccessDenied("user 'ks'".into());
        assert_eq!(denied.ocf_status(), OcfStatus::ErrPerm, "the flush command and validate-all agree");
        assert_eq!(monitor_status(&denied), OcfStatus::Degraded, "a monitor never recovers on a password");
        let schema = DbError::Schema("no table".into());
        assert_eq!(schema.ocf_status(), OcfStatus::ErrConfigured);
        assert_eq!(monitor_status(&schema), OcfStatus::ErrConfigured);
        assert_eq!(monitor_status(&DbError::Unreachable("refused".into())), OcfStatus::Degraded);
    }

    #[test]
    fn file_errors_map_to_the_contract() {
        assert_eq!(ConfigError::Missing("x".into()).ocf_status(), OcfStatus::ErrInstalled);
        assert_eq!(ConfigError::Denied("x".into()).ocf_status(), OcfStatus::ErrPerm);
        assert_eq!(StateError::Denied("/x".into()).ocf_status(), OcfStatus::ErrPerm);
    }
}
