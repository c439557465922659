//! Running one step of a rebuild that changes the schema: each is short, since Galera
//! replicates it in total order, and waits for a table's metadata lock only briefly and again,
//! never in a queue that holds up Keystone's requests. And the crash-test hook that stops a
//! rebuild right after any step.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::db::{code, within, DbError, Deadline, Session};

/// How long the swap keeps trying to take the table from Keystone's transactions, at most.
pub const SWAP_PATIENCE: Duration = Duration::from_secs(20);

/// Runs one DDL statement. The session's `lock_wait_timeout` is at its minimum, so a statement
/// that needs the table while a transaction holds it fails at once (1205) rather than making
/// every request queue behind it; it is retried every 50 ms until the deadline.
pub async fn ddl(s: &mut Session, sql: &str, deadline: Deadline) -> Result<(), DbError> {
    let started = Instant::now();
    loop {
        match within(deadline, Duration::from_secs(30), "run a rebuild step", s.conn.query_drop(sql)).await {
            Ok(()) => return Ok(()),
            Err(e) if e.server_code() == Some(code::LOCK_WAIT_TIMEOUT) && started.elapsed() < SWAP_PATIENCE => {
                if deadline.remaining().is_some_and(|r| r < Duration::from_millis(200)) {
                    return Err(e);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The crash-test hook: `TOKENFLUSH_CRASH_AFTER=<step>` makes the process abort right after
/// that step of a rebuild, as a SIGKILL would, so that the tests can leave every state a
/// killed rebuild can leave. The steps: state, new, triggers, chunk, swap, mark, drop-old.
pub fn crash_point(step: &str) {
    if std::env::var("TOKENFLUSH_CRASH_AFTER").is_ok_and(|v| v == step) {
        std::process::abort();
    }
}
