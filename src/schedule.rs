//! When a monitor flushes, and what it records afterwards: pure functions of the state, the
//! time and the settings, so that every rule is unit-tested on timestamps.
//!
//! - **Retry gate.** After a failed flush the next attempt waits `retry_interval`; monitors in
//!   between report the last failure (degraded) without touching the database.
//! - **Due rule.** A flush is due when the last one stopped early (`pending`), when the last one
//!   failed, or when `interval` has passed since the last complete one.
//! - **Record.** A flush that ran updates the counters, and decides whether the next monitor
//!   continues at once.

use std::time::Duration;

use crate::flush::{End, FlushReport};
use crate::job::FlushResult;
use crate::ocf::{OcfStatus, Outcome};
use crate::state::{FlushRecord, State};

/// What a monitor does now.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// The last flush failed less than `retry_interval` ago: report that, do nothing.
    Wait { reason: String },
    /// Nothing to do until `interval` has passed.
    NotDue,
    /// Run a flush.
    Flush,
}

pub fn decide(st: &State, now: u64, interval: Duration, retry_interval: Duration) -> Decision {
    if st.consecutive_failures > 0 {
        let retry_at = st.last_attempt_at.unwrap_or(0).saturating_add(retry_interval.as_secs());
        if now < retry_at {
            let reason = st.last_error.clone().unwrap_or_else(|| "the last flush failed".into());
            return Decision::Wait { reason };
        }
        return Decision::Flush;
    }
    let due = st.pending || st.last_complete_at.is_none_or(|t| now >= t.saturating_add(interval.as_secs()));
    if due {
        Decision::Flush
    } else {
        Decision::NotDue
    }
}

/// What [`record`] decided: the monitor's outcome, and the line to log.
#[derive(Debug, PartialEq, Eq)]
pub struct Recorded {
    pub outcome: Outcome,
    /// Info for a flush that ran; the error is the outcome's reason.
    pub note: Option<String>,
}

/// Records a flush attempt in the state and decides the monitor's status.
pub fn record(st: &mut State, result: &FlushResult, now: u64) -> Recorded {
    st.last_attempt_at = Some(now);
    let report = match result {
        FlushResult::NotStarted(e) => return failed(st, e.to_string()),
        FlushResult::Ran(r) => r,
    };
    st.rows_deleted_total += report.rows;
    st.next_table = report.resume_at.clone();
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
    let summary = summary(report);
    let note = match &report.end {
        End::Failed(e) => return failed(st, format!("flush failed after {summary}: {e}")),
        End::Complete => {
            st.pending = false;
            st.last_complete_at = Some(now);
            (report.rows > 0).then(|| format!("flushed {summary}; backlog empty"))
        }
        End::LockHeld => {
            st.pending = false;
            st.last_complete_at = Some(now);
            Some("another flusher holds the lock on this table; skipped".to_string())
        }
        End::Budget | End::Stopped | End::SkippedLocked(_) => {
            st.pending = true;
            Some(format!("flushed {summary}; more left, continuing at the next monitor ({:?})", report.end))
        }
    };
    st.consecutive_failures = 0;
    st.last_error = None;
    st.last_success_at = Some(now);
    Recorded { outcome: Outcome::ok(), note }
}

fn summary(r: &FlushReport) -> String {
    format!(
        "{} rows in {} chunks in {:.2}s ({:.0} rows/s), cutoff {} UTC",
        r.rows,
        r.chunks,
        r.elapsed.as_secs_f64(),
        r.rows_per_sec(),
        r.cutoff
    )
}

fn failed(st: &mut State, reason: String) -> Recorded {
    st.consecutive_failures += 1;
    st.failures_total += 1;
    st.last_error = Some(reason.clone());
    Recorded { outcome: Outcome::fail(OcfStatus::Degraded, reason), note: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbError;

    const MIN: Duration = Duration::from_secs(60);
    const T: u64 = 1_700_000_000;

    fn state() -> State {
        State::new("p", T)
    }

    #[test]
    fn the_first_monitor_after_start_flushes() {
        assert_eq!(decide(&state(), T, 10 * MIN, MIN), Decision::Flush);
    }

    #[test]
    fn a_complete_flush_makes_the_next_one_due_after_the_interval() {
        let st = State { last_complete_at: Some(T), ..state() };
        assert_eq!(decide(&st, T + 599, 10 * MIN, MIN), Decision::NotDue);
        assert_eq!(decide(&st, T + 600, 10 * MIN, MIN), Decision::Flush);
    }

    #[test]
    fn a_flush_cut_short_continues_at_the_next_monitor() {
        let st = State { last_complete_at: Some(T), pending: true, ..state() };
        assert_eq!(decide(&st, T + 1, 10 * MIN, MIN), Decision::Flush);
    }

    #[test]
    fn after_a_failure_monitors_wait_for_the_retry_interval() {
        let st = State {
            last_complete_at: Some(T),
            last_attempt_at: Some(T + 5),
            consecutive_failures: 1,
            last_error: Some("database unreachable".into()),
            ..state()
        };
        assert_eq!(
            decide(&st, T + 34, 10 * MIN, 30 * Duration::from_secs(1)),
            Decision::Wait { reason: "database unreachable".into() }
        );
        assert_eq!(
            decide(&st, T + 35, 10 * MIN, Duration::from_secs(30)),
            Decision::Flush,
            "retried before the interval"
        );
    }

    #[test]
    fn a_failure_is_counted_and_degrades_the_monitor() {
        let mut st = state();
        let r = record(&mut st, &FlushResult::NotStarted(DbError::Unreachable("refused".into())), T);
        assert_eq!(r.outcome.status, OcfStatus::Degraded);
        assert_eq!((st.consecutive_failures, st.failures_total, st.last_attempt_at), (1, 1, Some(T)));
        assert_eq!(st.last_error.as_deref(), Some("database unreachable: refused"));
    }

    #[test]
    fn a_complete_flush_clears_failures_and_pending() {
        let mut st = State { consecutive_failures: 3, pending: true, last_error: Some("x".into()), ..state() };
        let report = FlushReport { rows: 10, chunks: 1, backlog: Some(0), ..FlushReport::new() };
        let r = record(&mut st, &FlushResult::Ran(report), T + 9);
        assert_eq!(r.outcome, Outcome::ok());
        assert!(!st.pending && st.consecutive_failures == 0 && st.last_error.is_none());
        assert_eq!((st.last_complete_at, st.last_success_at, st.rows_deleted_total), (Some(T + 9), Some(T + 9), 10));
        assert!(r.note.unwrap().starts_with("flushed 10 rows in 1 chunks"));
    }

    #[test]
    fn a_flush_out_of_time_stays_pending_and_keeps_the_interval_anchor() {
        let mut st = State { last_complete_at: Some(T), ..state() };
        let report = FlushReport { rows: 5, end: End::Budget, backlog: Some(42), ..FlushReport::new() };
        record(&mut st, &FlushResult::Ran(report), T + 700);
        assert!(st.pending);
        assert_eq!((st.last_complete_at, st.backlog_estimate), (Some(T), Some(42)));
    }

    #[test]
    fn a_held_lock_counts_as_done_for_this_interval() {
        let mut st = state();
        record(&mut st, &FlushResult::Ran(FlushReport { end: End::LockHeld, ..FlushReport::new() }), T);
        assert_eq!((st.pending, st.last_complete_at), (false, Some(T)));
        assert!(st.last_flush.unwrap().skipped);
    }
}
