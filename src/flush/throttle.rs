//! The closed-loop throttle: between chunks, the flush backs off when the server says it is
//! busy, so that live traffic keeps its latency (pt-archiver only sleeps by a fixed
//! coefficient). It reads, at most every [`READ_EVERY`]:
//!
//! - **`Threads_running`**: statements executing right now. Above `max(2 × start, start + 8)`,
//!   where `start` is the reading when the flush began, the flush pauses in proportion to the
//!   excess (the server's CPUs are busy with someone else's work).
//! - **`Innodb_history_list_length`**: transactions whose undo InnoDB's purge has not processed.
//!   Each chunk adds its deleted rows to purge's work; once the list grows [`HISTORY_HIGH`] past
//!   its start, the flush pauses until purge has brought it back under [`HISTORY_LOW`] past it,
//!   so that delete-marked rows do not pile up and slow every index scan.
//! - **its own chunk latency**: the time per row of each chunk, against the best of the first
//!   chunks. When it runs at three times that, the server is slowing down (locks, I/O, a
//!   replica), and the flush pauses as long as its last chunk took, halving its duty cycle.
//!
//! Each pause is at most [`MAX_PAUSE`] and never past the deadline; the report counts them.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::db::{within, Deadline, Session};

pub const READ_EVERY: Duration = Duration::from_millis(200);
pub const MAX_PAUSE: Duration = Duration::from_secs(1);
pub const HISTORY_HIGH: u64 = 5_000;
pub const HISTORY_LOW: u64 = 2_000;
/// Chunks whose latency sets the baseline.
const BASELINE_CHUNKS: u32 = 5;

/// What the server said, when it said it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    pub running: Option<u64>,
    pub history: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Throttle {
    start: Option<Reading>,
    /// Purge is being waited for (between the high and the low mark).
    draining: bool,
    /// The best seconds per row of the first chunks, and how many were seen.
    baseline: Option<f64>,
    seen: u32,
    last_read: Option<Instant>,
    last: Reading,
    /// Why the last pause was made, for the log.
    pub why: Option<String>,
}

impl Throttle {
    /// Reads the server when [`READ_EVERY`] has passed, then decides the pause after a chunk of
    /// `rows` rows that took `took`.
    pub async fn pause(&mut self, s: &mut Session, deadline: Deadline, rows: u64, took: Duration) -> Duration {
        if self.last_read.is_none_or(|t| t.elapsed() >= READ_EVERY) {
            self.last = read(s, deadline).await;
            self.last_read = Some(Instant::now());
        }
        self.react(self.last, rows, took)
    }

    /// The pause for a reading and the chunk just done: the longest any signal asks for.
    pub fn react(&mut self, now: Reading, rows: u64, took: Duration) -> Duration {
        let start = *self.start.get_or_insert(now);
        let mut pause = Duration::ZERO;
        self.why = None;
        if let (Some(r0), Some(r)) = (start.running, now.running) {
            let limit = (2 * r0).max(r0 + 8);
            if r > limit {
                let p = took.mul_f64(((r - limit) as f64 / limit as f64).min(4.0)).max(Duration::from_millis(20));
                self.note(&mut pause, p, format!("Threads_running {r} over {limit}"));
            }
        }
        if let (Some(h0), Some(h)) = (start.history, now.history) {
            let over = h.saturating_sub(h0);
            self.draining = if self.draining { over > HISTORY_LOW } else { over > HISTORY_HIGH };
            if self.draining {
                self.note(
                    &mut pause,
                    (took * 2).max(Duration::from_millis(50)),
                    format!("purge is {over} transactions behind"),
                );
            }
        }
        if rows > 0 {
            let per_row = took.as_secs_f64() / rows as f64;
            self.seen += 1;
            if self.seen <= BASELINE_CHUNKS {
                self.baseline = Some(self.baseline.map_or(per_row, |b| b.min(per_row)));
            } else if self.baseline.is_some_and(|b| per_row > 3.0 * b) {
                self.note(&mut pause, took, "chunks run at over three times their first speed".to_string());
            }
        }
        pause.min(MAX_PAUSE)
    }

    fn note(&mut self, pause: &mut Duration, p: Duration, why: String) {
        if p > *pause {
            *pause = p;
            self.why = Some(why);
        }
    }
}

/// One round trip: `SHOW GLOBAL STATUS` needs no privilege (MySQL has no history length there;
/// that signal is then simply absent). A failed read is no reading, never an error.
async fn read(s: &mut Session, deadline: Deadline) -> Reading {
    let rows: Vec<(String, String)> = within(
        deadline,
        Duration::from_secs(2),
        "read the server's load",
        s.conn.query("SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_running', 'Innodb_history_list_length')"),
    )
    .await
    .unwrap_or_default();
    let get = |n: &str| rows.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).and_then(|(_, v)| v.parse().ok());
    Reading {
        running: get("Threads_running").map(|r: u64| r.saturating_sub(1)),
        history: get("Innodb_history_list_length"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn r(running: u64, history: u64) -> Reading {
        Reading { running: Some(running), history: Some(history) }
    }

    #[test]
    fn a_quiet_server_gets_no_pause() {
        let mut t = Throttle::default();
        for _ in 0..20 {
            assert_eq!(t.react(r(2, 100), 1000, 50 * MS), Duration::ZERO);
        }
    }

    #[test]
    fn busy_cpus_make_the_flush_yield_in_proportion() {
        let mut t = Throttle::default();
        t.react(r(2, 0), 1000, 50 * MS);
        assert_eq!(t.react(r(10, 0), 1000, 50 * MS), Duration::ZERO, "up to start + 8");
        assert_eq!(t.react(r(20, 0), 1000, 50 * MS), 50 * MS, "twice the limit: one chunk's time");
        assert!(t.why.as_deref().unwrap().contains("Threads_running 20 over 10"));
        assert_eq!(t.react(r(500, 0), 1000, 500 * MS), MAX_PAUSE, "never more than a second");
    }

    #[test]
    fn purge_falling_behind_pauses_until_it_caught_up() {
        let mut t = Throttle::default();
        t.react(r(1, 1000), 1000, 40 * MS);
        assert_eq!(t.react(r(1, 5000), 1000, 40 * MS), Duration::ZERO);
        assert_eq!(t.react(r(1, 7000), 1000, 40 * MS), 80 * MS, "over the high mark");
        assert_eq!(t.react(r(1, 4000), 1000, 40 * MS), 80 * MS, "still over the low mark");
        assert_eq!(t.react(r(1, 2500), 1000, 40 * MS), Duration::ZERO, "caught up");
    }

    #[test]
    fn chunks_slowing_down_halve_the_duty_cycle() {
        let mut t = Throttle::default();
        for _ in 0..5 {
            t.react(Reading::default(), 1000, 20 * MS);
        }
        assert_eq!(t.react(Reading::default(), 1000, 50 * MS), Duration::ZERO, "2.5 times: still fine");
        assert_eq!(t.react(Reading::default(), 1000, 70 * MS), 70 * MS);
        assert_eq!(t.react(Reading::default(), 100, 20 * MS), 20 * MS, "per row, not per chunk");
    }
}
