//! What a flush reports: how it ended, and what it did on the way.

use std::time::Duration;

use super::strategy::Strategy;
use super::walk::Walk;
use crate::db::DbError;

/// How a flush ended.
#[derive(Debug)]
pub enum End {
    /// No expired row is left (as of the cutoff).
    Complete,
    /// The time budget ran out at a chunk boundary; the next flush continues.
    Budget,
    /// A stop was requested (SIGTERM, Ctrl-C).
    Stopped,
    /// Another flusher holds the named lock on this table; nothing was done.
    LockHeld,
    /// Rows were left for the next flush: their locks stayed held past the retries, or writers
    /// kept putting expired rows into a chunk's range faster than it emptied.
    SkippedLocked(u64),
    /// The flush failed; the rows counted before the failure were deleted and committed.
    Failed(DbError),
}

impl End {
    /// The name scripts read (`--json`'s `end`).
    pub fn name(&self) -> &'static str {
        match self {
            End::Complete => "complete",
            End::Budget => "budget",
            End::Stopped => "stopped",
            End::LockHeld => "lock_held",
            End::SkippedLocked(_) => "skipped_locked",
            End::Failed(_) => "failed",
        }
    }
}

#[derive(Debug)]
pub struct FlushReport {
    pub rows: u64,
    /// Rows of other tables that went with them: dependents, and what cascades changed.
    pub rows_with: u64,
    pub chunks: u64,
    pub elapsed: Duration,
    /// The largest number of rows one transaction deleted (or changed by cascade).
    pub max_chunk_rows: u64,
    /// The cutoff, as the server computed it (UTC).
    pub cutoff: String,
    pub end: End,
    /// The walk the engine chose (for the delete strategy).
    pub walk: Option<Walk>,
    /// The strategy the flush used: delete or rebuild.
    pub strategy: Option<Strategy>,
    /// Rows a rebuild copied into the new table (0 for a delete).
    pub rows_copied: u64,
    /// Time the throttle paused between chunks because the server was busy.
    pub throttled: Duration,
    /// Expired rows left, as estimated after an incomplete flush (0 after a complete one).
    pub backlog: Option<u64>,
    /// The table flushed (for a report of several, the first).
    pub table: String,
    /// Rows the rule would take that a child still references: left, and counted.
    pub kept_by_children: Option<u64>,
    /// One line per table, for a target of several.
    pub tables: Vec<TableSummary>,
    /// The first table this flush did not finish: the next one starts there.
    pub resume_at: Option<String>,
}

/// What a flush did to one table of its target.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSummary {
    pub table: String,
    pub rows: u64,
    pub rows_with: u64,
    pub chunks: u64,
    pub end: &'static str,
    pub error: Option<String>,
    pub kept_by_children: Option<u64>,
}

impl FlushReport {
    pub fn new() -> FlushReport {
        FlushReport {
            rows: 0,
            rows_with: 0,
            chunks: 0,
            elapsed: Duration::ZERO,
            max_chunk_rows: 0,
            cutoff: String::new(),
            end: End::Complete,
            walk: None,
            strategy: None,
            rows_copied: 0,
            throttled: Duration::ZERO,
            backlog: None,
            table: String::new(),
            kept_by_children: None,
            tables: vec![],
            resume_at: None,
        }
    }

    fn summary(&self) -> TableSummary {
        TableSummary {
            table: self.table.clone(),
            rows: self.rows,
            rows_with: self.rows_with,
            chunks: self.chunks,
            end: self.end.name(),
            error: match &self.end {
                End::Failed(e) => Some(e.to_string()),
                _ => None,
            },
            kept_by_children: self.kept_by_children,
        }
    }

    /// One report for the tables of a target, flushed in this order: the sums, the largest
    /// transaction, and the end of the whole (the first failure; else a stop; else the budget;
    /// else rows skipped as locked; complete only when every table is).
    pub fn merge(reports: Vec<FlushReport>) -> FlushReport {
        let tables: Vec<TableSummary> = reports.iter().map(FlushReport::summary).collect();
        let resume_at =
            reports.iter().find(|r| !matches!(r.end, End::Complete | End::LockHeld)).map(|r| r.table.clone());
        let mut it = reports.into_iter();
        let Some(mut total) = it.next() else { return FlushReport::new() };
        for r in it {
            total.rows += r.rows;
            total.rows_with += r.rows_with;
            total.chunks += r.chunks;
            total.elapsed += r.elapsed;
            total.max_chunk_rows = total.max_chunk_rows.max(r.max_chunk_rows);
            total.rows_copied += r.rows_copied;
            total.throttled += r.throttled;
            total.backlog = add_counts(total.backlog, r.backlog);
            total.kept_by_children = add_counts(total.kept_by_children, r.kept_by_children);
            total.end = worse(total.end, r.end);
        }
        total.tables = tables;
        total.resume_at = resume_at;
        total
    }

    pub fn rows_per_sec(&self) -> f64 {
        rate(self.rows, self.elapsed.as_secs_f64())
    }

    pub fn complete(&self) -> bool {
        matches!(self.end, End::Complete)
    }

    /// Counts one committed chunk of `rows` rows.
    pub fn add_chunk(&mut self, rows: u64, with: u64) {
        self.rows += rows;
        self.rows_with += with;
        self.chunks += 1;
        self.max_chunk_rows = self.max_chunk_rows.max(rows + with);
    }
}

impl Default for FlushReport {
    fn default() -> Self {
        FlushReport::new()
    }
}

/// The end of two tables' flushes together.
fn worse(a: End, b: End) -> End {
    let rank = |e: &End| match e {
        End::Failed(_) => 5,
        End::Stopped => 4,
        End::Budget => 3,
        End::SkippedLocked(_) => 2,
        End::Complete => 1,
        End::LockHeld => 0,
    };
    match (a, b) {
        (End::SkippedLocked(x), End::SkippedLocked(y)) => End::SkippedLocked(x + y),
        (End::LockHeld, End::Complete) => End::Complete,
        (a, b) if rank(&b) > rank(&a) => b,
        (a, _) => a,
    }
}

/// Two counts that may each be unknown: their sum, or the one that is known.
pub fn add_counts(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// Rows per second, 0 for an instant.
pub fn rate(rows: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        rows as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_that_may_be_unknown_add_up_to_what_is_known() {
        assert_eq!(add_counts(Some(2), Some(3)), Some(5));
        assert_eq!(add_counts(None, Some(3)), Some(3));
        assert_eq!(add_counts(Some(2), None), Some(2));
        assert_eq!(add_counts(None, None), None);
    }

    #[test]
    fn tables_of_a_target_add_up_and_the_worst_end_wins() {
        let one = |table: &str, rows, end| FlushReport {
            table: table.into(),
            rows,
            chunks: 1,
            max_chunk_rows: rows,
            end,
            ..FlushReport::new()
        };
        let r = FlushReport::merge(vec![
            one("a", 10, End::Complete),
            one("b", 30, End::Budget),
            one("c", 5, End::Complete),
        ]);
        assert_eq!((r.rows, r.chunks, r.max_chunk_rows), (45, 3, 30));
        assert!(matches!(r.end, End::Budget));
        assert_eq!(r.resume_at.as_deref(), Some("b"), "the next flush starts with the table left unfinished");
        assert_eq!(r.tables.len(), 3);
        let r = FlushReport::merge(vec![one("a", 1, End::Complete), one("b", 1, End::Complete)]);
        assert!(r.complete() && r.resume_at.is_none());
    }

    #[test]
    fn the_largest_transaction_is_tracked_exactly() {
        let mut r = FlushReport::new();
        for n in [10, 40, 25] {
            r.add_chunk(n, 0);
        }
        assert_eq!((r.rows, r.chunks, r.max_chunk_rows), (75, 3, 40));
        r.add_chunk(30, 15);
        assert_eq!((r.rows, r.rows_with, r.max_chunk_rows), (105, 15, 45), "what went with the rows counts");
        assert_eq!(rate(10, 0.0), 0.0);
        assert_eq!(rate(10, 2.0), 5.0);
    }
}
