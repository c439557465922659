//! `monitor`: report the state file and, when [`crate::schedule::decide`] says a flush is due and
//! this is not a probe, run one flush bounded by the operation's timeout and record it.

use super::{budget, deep_check, fail, publish, Ctx};
use crate::config::{self, Config};
use crate::db::Deadline;
use crate::error::monitor_status;
use crate::job::{self, NoProgress};
use crate::ocf::{OcfStatus, Outcome};
use crate::schedule::{self, Decision};
use crate::shutdown::{self, Async};
use crate::state::{self, State, StateError};
use crate::{error, info, warn};

pub fn monitor(ctx: &Ctx, rt: &Async) -> Outcome {
    let env = ctx.env;
    let dir = match config::state_dir(ctx.raw, env) {
        Ok(d) => d,
        Err(_) if env.is_probe() => return Outcome::status(OcfStatus::NotRunning),
        Err(e) => return fail(e),
    };
    let path = dir.state_file(env);
    if !state::exists(&path) {
        return Outcome::status(OcfStatus::NotRunning);
    }
    let config = match Config::from_params(ctx.raw, env) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut st = match state::read(&path) {
        Ok(Some(s)) => s,
        Ok(None) => return Outcome::status(OcfStatus::NotRunning),
        Err(StateError::Corrupt(_)) if env.is_probe() => return Outcome::ok(),
        Err(e @ StateError::Corrupt(_)) => {
            warn!("{e}; rebuilding it");
            State::new(&env.instance, state::now())
        }
        Err(e) => return fail(e),
    };
    if env.is_probe() {
        return Outcome::ok();
    }
    if env.check_level >= 10 {
        match rt.block_on(deep_check(&config, env)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Outcome::fail(monitor_status(&e), e),
            Err(o) => return o,
        }
    }
    match schedule::decide(&st, state::now(), config.interval, config.retry_interval) {
        Decision::Wait { reason } => Outcome::fail(OcfStatus::Degraded, reason),
        Decision::NotDue => Outcome::ok(),
        Decision::Flush => flush_and_record(ctx, rt, &config, &mut st, &path),
    }
}

fn flush_and_record(ctx: &Ctx, rt: &Async, config: &Config, st: &mut State, path: &std::path::Path) -> Outcome {
    let deadline = Deadline::after(budget(config.max_runtime, ctx.env.timeout));
    let mut quiet = NoProgress;
    let resume_at = st.next_table.clone();
    let flush = job::run_flush(config, deadline, &ctx.stop, &mut quiet, resume_at.as_deref());
    let result = match rt.block_on(shutdown::unless_stopped(&ctx.stop, shutdown::STOP_GRACE, flush)) {
        Ok(Some(result)) => result,
        // The state stays as it was, so the next monitor simply flushes again.
        Ok(None) => {
            return Outcome::fail(OcfStatus::Degraded, "stopped by a signal before the flush reached a chunk boundary")
        }
        Err(o) => return o,
    };
    let recorded = schedule::record(st, &result, state::now());
    match (&recorded.note, &recorded.outcome.reason) {
        (Some(note), _) => info!("{note}"),
        (None, Some(reason)) => error!("{reason}"),
        (None, None) => {}
    }
    if let Err(e) = state::write(path, st) {
        error!("{e}");
        return Outcome::fail(OcfStatus::Degraded, format!("flush done but its result could not be recorded: {e}"));
    }
    publish(config, ctx.env, st);
    recorded.outcome
}
