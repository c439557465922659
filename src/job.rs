//! The flush job, shared by the recurring monitor and the `flush` command: connect, inspect the
//! table, run the engine, close. The monitor follows it with nobody; the interactive command
//! with a progress bar, through [`Progress`].

use crate::config::Config;
use crate::db::{self, DbError, Deadline, SessionOpts};
use crate::flush::{self, FlushOpts, FlushReport};
use crate::shutdown::Stop;
use crate::table;

/// The result of one flush attempt: the engine's report, or the failure before it could start.
pub enum FlushResult {
    Ran(FlushReport),
    NotStarted(DbError),
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

/// Connects, inspects the table and flushes until done, the deadline, or a stop request.
pub async fn run_flush(config: &Config, deadline: Deadline, stop: &Stop, progress: &mut dyn Progress) -> FlushResult {
    if !config.db.ignored_keys.is_empty() {
        crate::info!("connection: URL options without effect here: {}", config.db.ignored_keys.join(", "));
    }
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
    let opts = FlushOpts {
        batch_size: config.batch_size.get(),
        grace: config.grace,
        sleep: config.sleep,
        walk: config.walk,
        strategy: config.strategy,
    };
    let report = flush::flush(&mut s, &plan, &opts, deadline, stop, &mut |rows| progress.chunk(rows)).await;
    progress.finished();
    s.close().await;
    FlushResult::Ran(report)
}

/// A lock wait is retried a few times, so each wait gets a small part of the budget.
fn lock_wait_for(deadline: Deadline) -> u32 {
    deadline.remaining().map_or(5, |r| (r.as_secs() / 8).clamp(1, 5) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_lock_wait_gets_an_eighth_of_the_budget_between_1_and_5_seconds() {
        assert_eq!(lock_wait_for(Deadline::none()), 5);
        assert_eq!(lock_wait_for(Deadline::after(Duration::from_secs(24))), 2);
        assert_eq!(lock_wait_for(Deadline::after(Duration::from_secs(3))), 1);
        assert_eq!(lock_wait_for(Deadline::after(Duration::from_secs(3600))), 5);
    }
}
