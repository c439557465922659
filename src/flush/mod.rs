//! The chunked purge: the engine. It knows nothing about OCF: it takes a connection, a table
//! plan, options, a deadline and a stop token, and reports what it did; the monitor and the
//! one-shot CLI both drive it through [`crate::job`].
//!
//! A flush follows the README's steps, one file each:
//!
//! | step | file | what |
//! |---|---|---|
//! | 2 | [`cutoff`] | the cutoff, read once from the server's clock (`UTC_TIMESTAMP() - grace`) |
//! | 3 | [`lock`] | the named lock, so that one flusher works on a table at a time |
//! | 4 | [`walk`] | the walk (expiry index or primary key) and its cost model |
//! | 5 | [`sql`] | the text of a chunk's two statements: boundary SELECT and range DELETE |
//! | 5 | [`cursor`] | where a walk stands: the last key a chunk visited |
//! | 5 | [`family`] | chunks of a table whose rows take others with them (dependents, cascades) |
//! | 5–6 | [`chunk`] | running them in a transaction each, and the lock-wait retry policy |
//! | 5–6 | [`abandon`] | a chunk the client gave up on: ended on the server, and what it did |
//! | 6–7 | [`galera`] | Galera's write-set limits and flow control |
//! | 8 | [`run`] | the chunk loop, which stops at a chunk boundary |
//! | 8 | [`position`] | where the walk stands between two chunks, and what a failed chunk does to it |
//! | – | [`size`] | how many rows the next chunk takes: batch_size, Galera, bytes, time |
//! | – | [`strategy`] | delete or rebuild, and how `auto` chooses |
//! | – | [`rebuild`] | the rebuild strategy: copy the rows that stay, swap, crash-safe |
//! | – | [`estimate`] | `--dry-run`'s count and the backlog estimate |
//! | – | [`report`] | how a flush ended, and what it did |
//!
//! Each chunk is two statements: a SELECT of the chunk's last key (the `batch_size`-th expired
//! row past the previous chunk's last key), and a DELETE of the key range between the two,
//! `ORDER BY … LIMIT batch_size`, that re-checks the expiry, so a row that was changed in between
//! is never removed. Each DELETE runs and commits in a transaction of its own: no transaction
//! grows with the backlog, and a kill at any moment loses at most one chunk's work, which the
//! next flush redoes.
//!
//! Walking forward from the last key, rather than repeating `DELETE … LIMIT n` from the start,
//! keeps every chunk from rescanning the index entries earlier chunks deleted but InnoDB has not
//! purged yet; and it makes progress however many rows share one expiry value (Keystone's
//! LP 1387401 infinite loop).

pub mod abandon;
pub mod chunk;
pub mod cursor;
pub mod cutoff;
pub mod estimate;
pub mod family;
pub mod galera;
pub mod lock;
pub mod position;
pub mod rebuild;
pub mod report;
pub mod run;
pub mod size;
pub mod sql;
pub mod strategy;
pub mod throttle;
pub mod walk;

use std::time::Duration;

pub use estimate::{count_expired, estimate_backlog, DryRun};
pub use report::{End, FlushReport};
pub use strategy::Strategy;
pub use walk::Walk;

use crate::db::{Deadline, Session};
use crate::shutdown::Stop;
use crate::table::TablePlan;

#[derive(Clone, Debug)]
pub struct FlushOpts {
    pub batch_size: u32,
    pub grace: Duration,
    /// Pause between chunks, for operators who want the flush even gentler.
    pub sleep: Duration,
    /// The walk to use instead of choosing one (the `walk` parameter; for tests and benchmarks).
    pub walk: Option<Walk>,
    /// Delete, rebuild, or choose per flush (`auto`).
    pub strategy: Strategy,
}

/// Deletes expired rows in committed chunks until none is left, the deadline nears, or `stop`
/// is requested. Never returns an error: a failure ends the flush and is reported in
/// [`FlushReport::end`] with the rows deleted before it. `on_chunk` hears the running total of
/// rows deleted after every chunk.
pub async fn flush(
    s: &mut Session,
    plan: &TablePlan,
    opts: &FlushOpts,
    deadline: Deadline,
    stop: &Stop,
    on_chunk: &mut dyn FnMut(u64),
) -> FlushReport {
    run::Flusher { s, plan, opts, deadline, stop, on_chunk, report: FlushReport::new() }.run().await
}
