//! The OCF actions, following resource-agents' "pseudo resource" pattern: the state file is the
//! resource. `start` creates it, `stop` removes it, and `monitor` reports it and, when a flush is
//! due and the monitor is not a probe, runs one flush bounded by the operation's timeout. One
//! file per action; [`crate::schedule`] decides when a monitor flushes.
//!
//! Each action returns an [`Outcome`]; none prints an exit code or exits. What each returns in each
//! situation is the exit-code contract in the README, and `tests/ocf_contract.rs` checks every
//! cell of it.

mod monitor;
mod start;
mod stop;
mod validate;

use std::time::Duration;

pub use monitor::monitor;
pub use start::start;
pub use stop::stop;
pub use validate::validate;

use crate::config::Config;
use crate::db::{self, Deadline, SessionOpts};
use crate::ocf::{OcfEnv, Outcome};
use crate::params::RawParams;
use crate::shutdown::Stop;
use crate::state::State;
use crate::{attrd, metrics, table, warn};

/// Everything an action needs from outside, passed in rather than read from globals.
pub struct Ctx<'a> {
    pub env: &'a OcfEnv,
    pub raw: &'a RawParams,
    pub stop: Stop,
}

/// The flush budget of one monitor: `max_runtime`, and at most half the operation's timeout, so
/// that the monitor always returns well before Pacemaker would kill it.
pub fn budget(max_runtime: Duration, op_timeout: Option<Duration>) -> Duration {
    match op_timeout {
        Some(t) => max_runtime.min(t / 2),
        None => max_runtime,
    }
}

/// After a flush (and at start): the metrics file and the node attributes, when configured.
/// Best effort: a failure is logged and never changes the action's result.
fn publish(config: &Config, env: &OcfEnv, st: &State) {
    if let Some(path) = &config.metrics_file {
        if let Err(e) = metrics::write(path, &env.instance, st) {
            warn!("metrics_file {}: {e}", path.display());
        }
    }
    if config.node_attributes {
        attrd::publish(&env.instance, st.backlog_estimate, st.last_success_at);
    }
}

/// `OCF_CHECK_LEVEL=10`: the database answers, and the target's tables and columns exist with
/// date/time types.
async fn deep_check(config: &Config, env: &OcfEnv) -> Result<(), db::DbError> {
    let deadline = Deadline::after(budget(Duration::from_secs(10), env.timeout));
    let mut s = db::connect(&config.db, SessionOpts::default(), deadline).await?;
    let r = async {
        let (tables, fks) = crate::job::tables_of(&mut s, config, deadline).await?;
        for spec in &tables {
            table::inspect(&mut s, spec, &fks, deadline).await?;
        }
        Ok(())
    }
    .await;
    s.close().await;
    r
}

/// An outcome for a failed step.
fn fail(e: impl crate::ocf::OcfError) -> Outcome {
    e.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_flushes_for_at_most_half_its_timeout() {
        let s = Duration::from_secs;
        assert_eq!(budget(s(30), Some(s(90))), s(30));
        assert_eq!(budget(s(30), Some(s(20))), s(10));
        assert_eq!(budget(s(30), None), s(30));
    }
}
