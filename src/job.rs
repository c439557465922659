//! The flush job, shared by the recurring monitor and the `flush` command: connect, find the
//! target's tables ([`crate::plan`]), and flush them one after the other, children first, each
//! with a fair share of the budget, starting with the one the last flush did not finish. The
//! monitor follows it with nobody; the interactive command with a progress bar, through
//! [`Progress`].

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::config::Config;
use crate::db::{self, within, DbError, Deadline, Session, SessionOpts};
use crate::flush::{self, End, FlushOpts, FlushReport};
use crate::plan::{self, ForeignKey};
use crate::rule::RuleSpec;
use crate::shutdown::Stop;
use crate::table::{self, TablePlan};

/// The result of one flush attempt: the engine's report, or the failure before it could start.
/// One per process, moved a few times: its size does not matter.
#[allow(clippy::large_enum_variant)]
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

/// Connects, finds the tables and flushes them until done, the deadline, or a stop request.
/// `resume_at` is the table the last flush did not finish, which goes first.
pub async fn run_flush(
    config: &Config,
    deadline: Deadline,
    stop: &Stop,
    progress: &mut dyn Progress,
    resume_at: Option<&str>,
) -> FlushResult {
    if !config.db.ignored_keys.is_empty() {
        crate::info!("connection: URL options without effect here: {}", config.db.ignored_keys.join(", "));
    }
    let session = SessionOpts { lock_wait_timeout: lock_wait_for(deadline) };
    let mut s = match db::connect(&config.db, session, deadline).await {
        Ok(s) => s,
        Err(e) => return FlushResult::NotStarted(e),
    };
    let (tables, fks) = match tables_of(&mut s, config, deadline).await {
        Ok(t) => t,
        Err(e) => return FlushResult::NotStarted(e),
    };
    let mut tables = tables;
    if let Some(i) = resume_at.and_then(|r| tables.iter().position(|t| t.table.as_str() == r)) {
        tables.rotate_left(i);
    }
    let result = flush_tables(&mut s, config, &tables, &fks, deadline, stop, progress).await;
    progress.finished();
    s.close().await;
    result
}

/// The target's tables, children first, and the database's foreign keys.
pub async fn tables_of(
    s: &mut Session,
    config: &Config,
    deadline: Deadline,
) -> Result<(Vec<RuleSpec>, Vec<ForeignKey>), DbError> {
    let (tables, fks) = plan::resolve(s, &config.spec.tables, deadline).await?;
    if tables.is_empty() {
        return Err(DbError::Schema(format!(
            "target {} finds no table to flush ({}) in database `{}`",
            config.target.name(),
            config.target.describe(),
            s.schema
        )));
    }
    Ok((tables, fks))
}

async fn flush_tables(
    s: &mut Session,
    config: &Config,
    tables: &[RuleSpec],
    fks: &[ForeignKey],
    deadline: Deadline,
    stop: &Stop,
    progress: &mut dyn Progress,
) -> FlushResult {
    let mut reports = Vec::new();
    for (i, spec) in tables.iter().enumerate() {
        if stop.requested() && !reports.is_empty() {
            break;
        }
        // A fair share of what is left; what a table does not use goes to the next.
        let share = match deadline.remaining() {
            Some(left) => Deadline::after(left / (tables.len() - i) as u32),
            None => Deadline::none(),
        };
        let plan = match table::inspect(s, spec, fks, share).await {
            Ok(p) => p,
            Err(e) if tables.len() == 1 => return FlushResult::NotStarted(e),
            Err(e) => {
                reports.push(failed_table(spec, e));
                continue;
            }
        };
        let mut report = flush_one(s, config, &plan, share, stop, progress).await;
        // Rows a guard keeps, and rows the engine met held by a foreign key no guard covers.
        let guarded = kept_by_children(s, &plan, config.age, share).await;
        report.kept_by_children = flush::report::add_counts(guarded, report.kept_by_children);
        reports.push(report);
    }
    FlushResult::Ran(FlushReport::merge(reports))
}

async fn flush_one(
    s: &mut Session,
    config: &Config,
    plan: &TablePlan,
    deadline: Deadline,
    stop: &Stop,
    progress: &mut dyn Progress,
) -> FlushReport {
    let backlog = match progress.wants_backlog() {
        true => flush::estimate_backlog(s, plan, config.age, deadline).await.ok(),
        false => None,
    };
    progress.started(plan.table.as_str(), backlog);
    let opts = FlushOpts {
        batch_size: config.batch_size.get(),
        grace: config.age,
        sleep: config.sleep,
        walk: config.walk,
        strategy: config.strategy,
    };
    let mut report = flush::flush(s, plan, &opts, deadline, stop, &mut |rows| progress.chunk(rows)).await;
    report.table = plan.table.as_str().to_string();
    report
}

fn failed_table(spec: &RuleSpec, e: DbError) -> FlushReport {
    FlushReport { table: spec.table.as_str().to_string(), end: End::Failed(e), ..FlushReport::new() }
}

/// Rows the rule would take but a child still references (and a foreign key that does not
/// cascade keeps): left, and counted for the report. `None` for a table without such children.
async fn kept_by_children(s: &mut Session, plan: &TablePlan, age: Duration, deadline: Deadline) -> Option<u64> {
    if plan.rule.guards.is_empty() {
        return None;
    }
    let cutoff = flush::cutoff::server_cutoff(s, age, deadline).await.ok()?;
    let (all, mut params) = plan.rule.unguarded().predicate(&cutoff);
    let (guarded, p2) = plan.rule.predicate(&cutoff);
    params.extend(p2);
    let sql = format!("SELECT COUNT(*) FROM {} WHERE {all} AND NOT {guarded}", plan.table);
    let n: Option<u64> =
        within(deadline, Duration::from_secs(10), "count rows kept by children", s.conn.exec_first(sql, params))
            .await
            .ok()?;
    n
}

/// A lock wait is retried a few times, so each wait gets a small part of the budget.
fn lock_wait_for(deadline: Deadline) -> u32 {
    deadline.remaining().map_or(5, |r| (r.as_secs() / 8).clamp(1, 5) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lock_wait_gets_an_eighth_of_the_budget_between_1_and_5_seconds() {
        assert_eq!(lock_wait_for(Deadline::none()), 5);
        assert_eq!(lock_wait_for(Deadline::after(Duration::from_secs(24))), 2);
        assert_eq!(lock_wait_for(Deadline::after(Duration::from_secs(3))), 1);
        assert_eq!(lock_wait_for(Deadline::after(Duration::from_secs(3600))), 5);
    }
}
