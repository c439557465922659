//! The OCF actions, following resource-agents' "pseudo resource" pattern: the state file is the
//! resource. `start` creates it, `stop` removes it, and `monitor` reports it and, when a flush is
//! due and the monitor is not a probe, runs one flush bounded by the operation's timeout.
//!
//! Each action returns an [`Outcome`]; none prints an exit code or exits. What each returns in each
//! situation is the exit-code contract in the README, and `tests/ocf_contract.rs` checks every
//! cell of it.

use std::time::Duration;

use crate::config::{Config, ConfigError, RawParams, StateDir};
use crate::db::{self, Deadline, SessionOpts};
use crate::flush::{self, End, FlushOpts, FlushReport, Stop};
use crate::ocf::{OcfEnv, OcfError, OcfStatus, Outcome};
use crate::state::{self, FlushRecord, State, StateError};
use crate::table;
use crate::{attrd, metrics, Async};
use crate::{error, info, warn};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Monitor,
    ValidateAll,
    MetaData,
    Usage,
    /// Actions the OCF API defines that this agent does not implement.
    Unimplemented,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "start" => Action::Start,
            "stop" => Action::Stop,
            "monitor" => Action::Monitor,
            "validate-all" => Action::ValidateAll,
            "meta-data" => Action::MetaData,
            "usage" | "help" => Action::Usage,
            "notify" | "promote" | "demote" | "migrate_to" | "migrate_from" | "reload" | "reload-agent" | "recover" => {
                Action::Unimplemented
            }
            _ => return None,
        })
    }
}

pub const USAGE: &str = "usage: tokenflush {start|stop|monitor|validate-all|meta-data|usage}  (OCF resource agent)\n       tokenflush flush [--connection URL | --config FILE] [--password-file F] [--target T [--table T --expiry-column C]] [--grace S] [--dry-run] [--json]\n       tokenflush status [--instance NAME] [--state-dir DIR] [--json]\n       tokenflush --help";

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

pub fn start(ctx: &Ctx) -> Outcome {
    let config = match Config::from_params(ctx.raw, ctx.env) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    if let Err(e) = state::ensure_dir(&config.state_dir) {
        return e.into();
    }
    let path = config.state_dir.state_file(ctx.env);
    if state::exists(&path) {
        return Outcome::ok();
    }
    let st = State::new(&ctx.env.instance, state::now());
    match state::write(&path, &st) {
        Ok(()) => {
            info!(
                "started; first flush of target {} (table {}) at the next monitor ({})",
                config.target.name(),
                config.rule.table.as_str(),
                config.db.redacted()
            );
            publish(&config, ctx.env, &st);
            Outcome::ok()
        }
        Err(e) => e.into(),
    }
}

/// After a flush (and at start): the metrics file and the node attributes, when configured.
/// Best effort: a failure is logged and never changes the action's result.
pub fn publish(config: &Config, env: &OcfEnv, st: &State) {
    if let Some(path) = &config.metrics_file {
        if let Err(e) = metrics::write(path, &env.instance, st) {
            warn!("metrics_file {}: {e}", path.display());
        }
    }
    if config.node_attributes {
        attrd::publish(&env.instance, st.backlog_estimate, st.last_success_at);
    }
}

pub fn stop(ctx: &Ctx) -> Outcome {
    // Stop must succeed whatever the parameters say: fall back to the default directory.
    let dir = StateDir::from_params(ctx.raw, ctx.env)
        .unwrap_or_else(|_| StateDir { path: ctx.env.rsctmp.clone().into(), is_default: true });
    let path = dir.state_file(ctx.env);
    if ctx.raw.get("node_attributes").is_some_and(crate::params::is_true) {
        attrd::clear(&ctx.env.instance);
    }
    match state::remove(&path) {
        Ok(()) => Outcome::ok(),
        Err(e) => {
            error!("stop: {e}");
            Outcome::ok()
        }
    }
}

pub fn validate(ctx: &Ctx, rt: &Async) -> Outcome {
    let config = match Config::from_params(ctx.raw, ctx.env) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    if !config.state_dir.is_default && !config.state_dir.path.is_dir() {
        return ConfigError::Missing(format!("state_dir {} does not exist", config.state_dir.path.display())).into();
    }
    if ctx.env.check_level >= 10 {
        match rt.block_on(deep_check(&config, ctx.env)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return e.into(),
            Err(o) => return o,
        }
    }
    Outcome::ok()
}

/// `OCF_CHECK_LEVEL=10`: the database answers, and the table and column exist with a date/time type.
async fn deep_check(config: &Config, env: &OcfEnv) -> Result<(), db::DbError> {
    let deadline = Deadline::after(budget(Duration::from_secs(10), env.timeout));
    let mut s = db::connect(&config.db, SessionOpts::default(), deadline).await?;
    let r = table::inspect(&mut s, &config.rule, deadline).await.map(|_| ());
    s.close().await;
    r
}

pub fn monitor(ctx: &Ctx, rt: &Async) -> Outcome {
    let env = ctx.env;
    let dir = match StateDir::from_params(ctx.raw, env) {
        Ok(d) => d,
        Err(_) if env.is_probe() => return Outcome::status(OcfStatus::NotRunning),
        Err(e) => return e.into(),
    };
    let path = dir.state_file(env);
    if !state::exists(&path) {
        return Outcome::status(OcfStatus::NotRunning);
    }
    let config = match Config::from_params(ctx.raw, env) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    let mut st = match state::read(&path) {
        Ok(Some(s)) => s,
        Ok(None) => return Outcome::status(OcfStatus::NotRunning),
        Err(StateError::Corrupt(_)) if env.is_probe() => return Outcome::ok(),
        Err(e @ StateError::Corrupt(_)) => {
            warn!("{e}; rebuilding it");
            State::new(&env.instance, state::now())
        }
        Err(e) => return e.into(),
    };
    if env.is_probe() {
        return Outcome::ok();
    }

    if env.check_level >= 10 {
        match rt.block_on(deep_check(&config, env)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.ocf_status() == OcfStatus::ErrConfigured => return e.into(),
            Ok(Err(e)) => return Outcome::fail(OcfStatus::Degraded, e),
            Err(o) => return o,
        }
    }

    let now = state::now();
    if st.consecutive_failures > 0 {
        let retry_at = st.last_attempt_at.unwrap_or(0).saturating_add(config.retry_interval.as_secs());
        if now < retry_at {
            let reason = st.last_error.clone().unwrap_or_else(|| "the last flush failed".into());
            return Outcome::fail(OcfStatus::Degraded, reason);
        }
    }
    let due = st.pending
        || st.consecutive_failures > 0
        || st.last_complete_at.is_none_or(|t| now >= t.saturating_add(config.interval.as_secs()));
    if !due {
        return Outcome::ok();
    }

    let budget = budget(config.max_runtime, env.timeout);
    let flush = run_flush(&config, Deadline::after(budget), &ctx.stop);
    let result = match rt.block_on(flush::unless_stopped(&ctx.stop, flush::STOP_GRACE, flush)) {
        Ok(Some(result)) => result,
        // The state stays as it was, so the next monitor simply flushes again.
        Ok(None) => {
            return Outcome::fail(OcfStatus::Degraded, "stopped by a signal before the flush reached a chunk boundary")
        }
        Err(o) => return o,
    };
    let outcome = record(&mut st, &result, state::now());
    if let Err(e) = state::write(&path, &st) {
        error!("{e}");
        return Outcome::fail(OcfStatus::Degraded, format!("flush done but its result could not be recorded: {e}"));
    }
    publish(&config, env, &st);
    outcome
}

/// The result of one flush attempt: the engine's report, or the failure before it could start.
pub enum FlushResult {
    Ran(FlushReport),
    NotStarted(db::DbError),
}

/// Connects, inspects the table and flushes until done, the deadline, or a stop request.
pub async fn run_flush(config: &Config, deadline: Deadline, stop: &Stop) -> FlushResult {
    run_flush_with(config, deadline, stop, &mut NoProgress).await
}

/// Follows a flush as it runs: the interactive CLI draws a progress bar from it.
pub trait Progress {
    /// Whether to estimate the backlog before the first chunk (an extra query).
    fn wants_backlog(&self) -> bool {
        false
    }
    /// The flush is about to start on `table`, with `backlog` rows expected when estimated.
    fn started(&mut self, _table: &str, _backlog: Option<u64>) {}
    /// `rows` rows are deleted so far.
    fn chunk(&mut self, _rows: u64) {}
    /// The flush ended, whatever way.
    fn finished(&mut self) {}
}

/// Following nobody: the monitor.
pub struct NoProgress;

impl Progress for NoProgress {}

pub async fn run_flush_with(
    config: &Config,
    deadline: Deadline,
    stop: &Stop,
    progress: &mut dyn Progress,
) -> FlushResult {
    let session = SessionOpts { lock_wait_timeout: lock_wait_for(deadline) };
    let mut s = match db::connect(&config.db, session, deadline).await {
        Ok(s) => s,
        Err(e) => return FlushResult::NotStarted(e),
    };
    let plan = match table::inspect(&mut s, &config.rule, deadline).await {
        Ok(p) => p,
        Err(e) => return FlushResult::NotStarted(e),
    };
    let backlog = match progress.wants_backlog() {
        true => flush::estimate_backlog(&mut s, &plan, config.grace, deadline).await.ok(),
        false => None,
    };
    progress.started(plan.table.as_str(), backlog);
    let opts = FlushOpts { batch_size: config.batch_size.get(), grace: config.grace, sleep: config.sleep };
    let report = flush::flush(&mut s, &plan, &opts, deadline, stop, &mut |rows| progress.chunk(rows)).await;
    progress.finished();
    s.close().await;
    FlushResult::Ran(report)
}

/// A lock wait is retried a few times, so each wait gets a small part of the budget.
fn lock_wait_for(deadline: Deadline) -> u32 {
    deadline.remaining().map_or(5, |r| (r.as_secs() / 8).clamp(1, 5) as u32)
}

/// Records a flush attempt in the state and decides the monitor's status.
pub fn record(st: &mut State, result: &FlushResult, now: u64) -> Outcome {
    st.last_attempt_at = Some(now);
    let report = match result {
        FlushResult::NotStarted(e) => return failed(st, e.to_string()),
        FlushResult::Ran(r) => r,
    };
    st.rows_deleted_total += report.rows;
    if report.backlog.is_some() {
        st.backlog_estimate = report.backlog;
    }
    st.last_flush = Some(FlushRecord {
        at: now,
        rows: report.rows,
        chunks: report.chunks,
        seconds: report.elapsed.as_secs_f64(),
        complete: report.complete(),
        skipped: matches!(report.end, End::LockHeld),
    });
    let summary = format!(
        "{} rows in {} chunks in {:.2}s ({:.0} rows/s), cutoff {} UTC",
        report.rows,
        report.chunks,
        report.elapsed.as_secs_f64(),
        report.rows_per_sec(),
        report.cutoff
    );
    match &report.end {
        End::Failed(e) => return failed(st, format!("flush failed after {summary}: {e}")),
        End::Complete => {
            st.pending = false;
            st.last_complete_at = Some(now);
            if report.rows > 0 {
                info!("flushed {summary}; backlog empty");
            }
        }
        End::LockHeld => {
            st.pending = false;
            st.last_complete_at = Some(now);
            info!("another flusher holds the lock on this table; skipped");
        }
        End::Budget | End::Stopped | End::SkippedLocked(_) => {
            st.pending = true;
            info!("flushed {summary}; more left, continuing at the next monitor ({:?})", report.end);
        }
    }
    st.consecutive_failures = 0;
    st.last_error = None;
    st.last_success_at = Some(now);
    Outcome::ok()
}

fn failed(st: &mut State, reason: String) -> Outcome {
    st.consecutive_failures += 1;
    st.failures_total += 1;
    error!("{reason}");
    st.last_error = Some(reason.clone());
    Outcome::fail(OcfStatus::Degraded, reason)
}
