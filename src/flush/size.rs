//! How many rows the next chunk deletes: one mechanism for every bound a chunk has.
//!
//! A chunk never holds more than `batch_size` rows (the operator's bound on one transaction),
//! nor more than Galera's write-set limits allow, nor more than [`MAX_CHUNK_BYTES`] of rows by
//! the table's average row length (so a table of rows of several megabytes deletes a few of them
//! at a time instead of timing out on a thousand). Within that cap the size follows time: each
//! chunk aims at [`TARGET`], growing while chunks finish early and shrinking when one runs long,
//! as pt-online-schema-change's `--chunk-time` does. The first chunk starts small, because the
//! average row length is the optimizer's estimate and may be stale; and it starts at one row
//! when that average is over [`OFF_PAGE`]: such rows keep columns in overflow pages, which
//! InnoDB's statistics do not count (40 rows of 6 MB show as 223 KB each), so only time can say
//! how big a chunk may be.

use std::time::Duration;

/// What one chunk aims to take.
pub const TARGET: Duration = Duration::from_millis(500);

/// The most bytes of rows one chunk deletes, by the table's average row length.
pub const MAX_CHUNK_BYTES: u64 = 64 << 20;

/// The first chunk's size when the cap is larger.
pub const FIRST: u32 = 100;

/// An average row length over which rows store columns off-page (half an InnoDB page).
pub const OFF_PAGE: u64 = 8 << 10;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkSize {
    rows: u32,
    cap: u32,
}

impl ChunkSize {
    /// `galera_cap` from `wsrep_max_ws_rows`/`wsrep_max_ws_size`; `avg_row_length` in bytes.
    pub fn new(batch_size: u32, galera_cap: Option<u32>, avg_row_length: u64) -> ChunkSize {
        let by_bytes = match avg_row_length {
            0 => u32::MAX,
            n => u32::try_from(MAX_CHUNK_BYTES / n).unwrap_or(u32::MAX).max(1),
        };
        let cap = batch_size.max(1).min(galera_cap.unwrap_or(u32::MAX)).min(by_bytes).max(1);
        let first = if avg_row_length > OFF_PAGE { 1 } else { FIRST };
        ChunkSize { rows: cap.min(first), cap }
    }

    /// Rows in the next chunk.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// The largest chunk allowed.
    pub fn cap(&self) -> u32 {
        self.cap
    }

    /// Learns from a chunk of the current size that took `took`: grows (at most doubling) while
    /// chunks take under half the target, shrinks in proportion to the target when one takes
    /// over twice it. In between it stays, so that a noisy server does not make it hunt.
    pub fn after(&mut self, took: Duration) {
        let took_s = took.as_secs_f64().max(1e-4);
        let target_s = TARGET.as_secs_f64();
        if took_s > 2.0 * target_s {
            let scaled = (f64::from(self.rows) * target_s / took_s).floor() as u32;
            self.rows = scaled.clamp(1, self.rows);
        } else if took_s < target_s / 2.0 {
            self.rows = self.rows.saturating_mul(2).min(self.cap);
        }
    }

    /// Halves the chunk after one was refused as too big (Galera) or ran out of its statement
    /// time; `false` when it is a single row already.
    pub fn halve(&mut self) -> bool {
        if self.rows <= 1 {
            return false;
        }
        self.rows = (self.rows / 2).max(1);
        true
    }

    /// Lowers the cap to the current size: a Galera write-set refusal is permanent.
    pub fn cap_here(&mut self) {
        self.cap = self.rows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn small_rows_reach_batch_size_quickly() {
        let mut c = ChunkSize::new(1000, None, 200);
        assert_eq!(c.rows(), 100);
        for _ in 0..4 {
            c.after(20 * MS);
        }
        assert_eq!(c.rows(), 1000, "100, 200, 400, 800, then the cap");
        c.after(20 * MS);
        assert_eq!(c.rows(), 1000, "never over batch_size");
    }

    #[test]
    fn a_batch_below_the_first_size_is_used_whole() {
        assert_eq!(ChunkSize::new(7, None, 100).rows(), 7);
    }

    #[test]
    fn rows_of_megabytes_are_deleted_a_few_at_a_time() {
        let c = ChunkSize::new(1000, None, 6 << 20);
        assert_eq!((c.rows(), c.cap()), (1, 10), "64 MB of 6 MB rows, starting with one");
        let c = ChunkSize::new(1000, None, 223 << 10);
        assert_eq!((c.rows(), c.cap()), (1, 293), "statistics that undercount overflow pages: time decides");
        assert_eq!(ChunkSize::new(1000, None, 200 << 20).cap(), 1, "never below one row");
    }

    #[test]
    fn galera_limits_cap_the_chunk() {
        assert_eq!(ChunkSize::new(1000, Some(90), 100).cap(), 90);
    }

    #[test]
    fn a_slow_chunk_shrinks_the_next_in_proportion() {
        let mut c = ChunkSize::new(1000, None, 100);
        c.after(2000 * MS);
        assert_eq!(c.rows(), 25, "100 rows in 2 s: 25 rows for 0.5 s");
        c.after(300 * MS);
        assert_eq!(c.rows(), 25, "within the target band it stays");
        c.after(900 * MS);
        assert_eq!(c.rows(), 25, "up to twice the target too");
    }

    #[test]
    fn halving_stops_at_one_row() {
        let mut c = ChunkSize::new(2, None, 100);
        assert!(c.halve());
        assert_eq!(c.rows(), 1);
        assert!(!c.halve());
    }
}
