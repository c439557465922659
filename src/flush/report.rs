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
    /// Rows whose locks stayed held past the retries were left for the next flush.
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
    pub chunks: u64,
    pub elapsed: Duration,
    /// The largest number of rows one transaction deleted.
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
}

impl FlushReport {
    pub fn new() -> FlushReport {
        FlushReport {
            rows: 0,
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
        }
    }

    pub fn rows_per_sec(&self) -> f64 {
        rate(self.rows, self.elapsed.as_secs_f64())
    }

    pub fn complete(&self) -> bool {
        matches!(self.end, End::Complete)
    }

    /// Counts one committed chunk of `rows` rows.
    pub fn add_chunk(&mut self, rows: u64) {
        self.rows += rows;
        self.chunks += 1;
        self.max_chunk_rows = self.max_chunk_rows.max(rows);
    }
}

impl Default for FlushReport {
    fn default() -> Self {
        FlushReport::new()
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
    fn the_largest_transaction_is_tracked_exactly() {
        let mut r = FlushReport::new();
        for n in [10, 40, 25] {
            r.add_chunk(n);
        }
        assert_eq!((r.rows, r.chunks, r.max_chunk_rows), (75, 3, 40));
        assert_eq!(rate(10, 0.0), 0.0);
        assert_eq!(rate(10, 2.0), 5.0);
    }
}
