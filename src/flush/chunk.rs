//! Running one chunk's statements, and the retry policy for lock waits and deadlocks
//! (steps 5 and 6 of a flush).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Params, Row, Value};

use super::abandon::{abandon, Abandoned, Phase};
pub use super::family::Deleted;
use super::family::Family;
use super::sql::bounded;
use crate::db::{code, within, DbError, Deadline, Session};
use crate::shutdown::Stop;

/// Lock-wait and deadlock retries per chunk, before its rows are left for the next flush.
pub const LOCK_RETRIES: u32 = 4;

/// Why a chunk's DELETE did not delete.
pub enum ChunkError {
    /// The chunk exceeds a Galera write-set limit: permanent, so it must shrink.
    TooBig,
    /// Its rows stayed locked by another transaction past the retries.
    Locked(String),
    /// The server-side bound (`max_statement_time`) fired: the budget is spent.
    StatementTimeout,
    /// The client gave up waiting for it (see [`super::abandon::outcome`] for what it did).
    Abandoned(Abandoned),
    /// A foreign key the rule does not guard refused one of its rows (1451): a child of a
    /// cascading child, a composite key, a child in another database.
    Referenced(String),
    Db(DbError),
}

/// What to do after a failed attempt of a chunk's DELETE.
#[derive(Debug, PartialEq, Eq)]
pub enum Retry {
    /// Wait this long and try again.
    After(Duration),
    /// Give up on the chunk: its rows stay for the next flush.
    GiveUp,
}

/// The lock-retry policy: attempt `attempt` (from 1) waits 100 ms, 200 ms, 400 ms, 800 ms, and
/// is not made at all after [`LOCK_RETRIES`], after a stop request, or when less than four
/// back-offs of time are left.
pub fn retry_after(attempt: u32, stop_requested: bool, left: Option<Duration>) -> Retry {
    if attempt > LOCK_RETRIES || stop_requested {
        return Retry::GiveUp;
    }
    let backoff = Duration::from_millis(50 << attempt);
    if left.is_some_and(|r| r < backoff * 4) {
        return Retry::GiveUp;
    }
    Retry::After(backoff)
}

/// The longest one statement may run, whatever the budget: the server ends it there
/// (`max_statement_time`), and the client gives up [`CLIENT_SLACK`] later.
pub const STATEMENT_CAP: Duration = Duration::from_secs(10);

/// How much longer the client waits than the server-side bound, so that the server's own
/// timeout, which rolls the statement back and leaves the connection usable, fires first.
pub const CLIENT_SLACK: Duration = Duration::from_secs(2);

/// The two bounds of one statement.
#[derive(Debug, PartialEq, Eq)]
pub struct Bounds {
    /// What the server is told (`max_statement_time`).
    pub server: Duration,
    /// How long the client waits: a little longer, never past the deadline.
    pub client: Duration,
    /// The client's wait is the time left: running into it means the budget is spent, not that
    /// the server stopped answering.
    pub by_budget: bool,
}

/// The bounds of the next statement. The server's comes first, so that normally the server
/// ends a statement, which it rolls back cleanly, and the client never has to give up on one
/// whose outcome it then does not know. The client's is never past the deadline: a monitor
/// must return within its operation's timeout even when the server hangs.
pub fn bounds(mariadb: bool, deadline: Deadline) -> Bounds {
    let cap = Bounds { server: STATEMENT_CAP, client: STATEMENT_CAP, by_budget: false };
    match deadline.remaining() {
        Some(left) if left <= STATEMENT_CAP + CLIENT_SLACK && (mariadb || left <= STATEMENT_CAP) => {
            Bounds { server: before(left), client: left, by_budget: true }
        }
        _ if mariadb => Bounds { client: STATEMENT_CAP + CLIENT_SLACK, ..cap },
        _ => cap,
    }
}

/// A server bound safely before the client's `wait`: a quarter earlier (at least 250 ms, more
/// than a starved server may take to notice its own bound; at most [`CLIENT_SLACK`]), in whole
/// seconds from one second up so that the statement text, and the driver's prepared-statement
/// cache, stay the same from chunk to chunk.
fn before(wait: Duration) -> Duration {
    let slack = (wait / 4).clamp(Duration::from_millis(250), CLIENT_SLACK);
    let bound = wait.saturating_sub(slack);
    if bound >= Duration::from_secs(1) {
        Duration::from_secs(bound.as_secs())
    } else {
        Duration::from_millis((bound.as_millis() as u64 / 100 * 100).max(100))
    }
}

/// Runs a chunk's SELECT, bounded on the server and the client.
pub async fn select_chunk(
    s: &mut Session,
    sql: &str,
    params: Vec<Value>,
    deadline: Deadline,
) -> Result<Vec<Row>, DbError> {
    let b = bounds(s.mariadb, deadline);
    let sql = bounded(s.mariadb, Some(b.server), s.lock_wait, sql);
    let result = within(Deadline::none(), b.client, "select a chunk", s.conn.exec(sql, params)).await;
    if matches!(result, Err(DbError::Timeout(..))) {
        abandon(s).await;
    }
    result
}

/// Runs a chunk's `SELECT COUNT(*) …` like [`select_chunk`]; `None` when no count came back.
pub async fn select_count(
    s: &mut Session,
    sql: &str,
    params: Vec<Value>,
    deadline: Deadline,
) -> Result<Option<u64>, DbError> {
    let rows = select_chunk(s, sql, params, deadline).await?;
    Ok(rows.into_iter().next().and_then(|r| mysql_async::from_row_opt::<u64>(r).ok()))
}

/// What one chunk's transaction does.
pub enum Work<'a> {
    /// One DELETE; `check` counts the rows of its range the rule still takes (a sweep has no
    /// range, so none).
    Range { sql: String, params: Vec<Value>, check: Option<(String, Vec<Value>)> },
    /// The rows of a range and what goes with them.
    Family(Family<'a>),
}

/// Runs one chunk's statements in a transaction of their own, retrying lock waits and
/// deadlocks by [`retry_after`], and commits it. Returns what it deleted, once the COMMIT is
/// confirmed. The explicit transaction is what makes a chunk the client gives up on knowable:
/// until its COMMIT is sent nothing of it can land ([`Phase`]).
///
/// A stop request ends the retries: the lock wait in progress runs out (bounded by
/// `innodb_lock_wait_timeout`), but the chunk is not tried again.
pub async fn exec_chunk(
    s: &mut Session,
    work: &Work<'_>,
    deadline: Deadline,
    stop: &Stop,
) -> Result<Deleted, ChunkError> {
    let mut attempt = 0;
    loop {
        let b = bounds(s.mariadb, deadline);
        let (mariadb, lock_wait) = (s.mariadb, s.lock_wait);
        let bound = |sql: &str| bounded(mariadb, Some(b.server), lock_wait, sql);
        let mut phase = Phase::Open;
        let mut check = match work {
            Work::Range { check, .. } => check.clone(),
            Work::Family(_) => None,
        };
        let conn = &mut s.conn;
        let result = within(Deadline::none(), b.client, "delete a chunk", async {
            conn.query_drop("START TRANSACTION").await?;
            let done = match work {
                Work::Range { sql, params, .. } => {
                    conn.exec_drop(bound(sql), Params::Positional(params.clone())).await?;
                    Deleted { rows: conn.affected_rows(), ..Deleted::default() }
                }
                Work::Family(f) => f.delete(conn, &bound, &mut check).await?,
            };
            phase = Phase::Committing(done.clone());
            conn.query_drop("COMMIT").await?;
            Ok::<_, mysql_async::Error>(done)
        })
        .await;
        let e = match result {
            Ok(done) => return Ok(done),
            Err(error @ DbError::Timeout(..)) => {
                let gone = abandon(s).await;
                return Err(ChunkError::Abandoned(Abandoned { phase, gone, by_budget: b.by_budget, error, check }));
            }
            Err(e) => e,
        };
        rollback(s, Deadline::none()).await;
        match e.server_code() {
            Some(code::WSREP_MAX_WS_ROWS) => return Err(ChunkError::TooBig),
            Some(code::WSREP_MAX_WS_SIZE) if e.to_string().contains("writeset") => return Err(ChunkError::TooBig),
            Some(code::LOCK_WAIT_TIMEOUT | code::DEADLOCK) => {
                attempt += 1;
                match retry_after(attempt, stop.requested(), deadline.remaining()) {
                    Retry::After(backoff) => tokio::time::sleep(backoff).await,
                    Retry::GiveUp => return Err(ChunkError::Locked(e.to_string())),
                }
            }
            Some(code::ROW_IS_REFERENCED | code::ROW_IS_REFERENCED_2) => {
                return Err(ChunkError::Referenced(e.to_string()))
            }
            _ if is_statement_timeout(&e) => return Err(ChunkError::StatementTimeout),
            _ => return Err(ChunkError::Db(e)),
        }
    }
}

/// Ends what a failed statement left of its transaction (a lock wait timeout or the server's
/// time bound rolls back the statement, not the transaction), so that the session's next
/// statement does not run inside it. At most 2 s, and not past `deadline`.
pub async fn rollback(s: &mut Session, deadline: Deadline) {
    let _ = within(deadline, Duration::from_secs(2), "roll back", s.conn.query_drop("ROLLBACK")).await;
}

/// The walk read a key it cannot get past: the key that came back is the one it asked to go
/// beyond. It happens when a key does not survive the round trip (a character set that cannot
/// hold it); a flush must stop then, not spin.
pub fn no_progress(at: &super::cursor::Cursor) -> DbError {
    DbError::Misconfigured(format!(
        "the flush cannot get past the key {}: the server returns it unchanged as the next one \
         (does the connection's character set hold every key?); stopping rather than looping",
        shown_key(&at.pk)
    ))
}

/// A key for a one-line message.
fn shown_key(v: &Value) -> String {
    match v {
        Value::Bytes(b) => format!("'{}'", crate::text::shown(&String::from_utf8_lossy(b))),
        other => crate::text::shown(&other.as_sql(false)),
    }
}

/// The server ended the statement at its `max_statement_time`, or it was killed.
pub fn is_statement_timeout(e: &DbError) -> bool {
    matches!(e.server_code(), Some(code::STATEMENT_TIMEOUT | code::QUERY_INTERRUPTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_ends_a_statement_before_the_client_gives_up() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let none = bounds(true, Deadline::none());
        assert_eq!((none.server, none.client, none.by_budget), (s(10), s(12), false), "the command");
        assert_eq!(bounds(false, Deadline::none()).client, s(10), "MySQL: no server bound to wait for");
        assert_eq!(bounds(true, Deadline::after(s(600))).client, s(12));
        for left in [ms(150), ms(400), ms(1_000), ms(1_300), s(3), s(10), s(12)] {
            let b = bounds(true, Deadline::after(left));
            assert!(b.by_budget, "{left:?}");
            assert!(b.client <= left, "a monitor never waits past its budget: {left:?} -> {b:?}");
            assert!(b.server + ms(40) < b.client, "the server's bound fires first: {left:?} -> {b:?}");
        }
    }

    #[test]
    fn the_server_bound_is_whole_seconds_from_one_second_up() {
        let ms = Duration::from_millis;
        assert_eq!(before(ms(12_000)), ms(10_000));
        assert_eq!(before(ms(2_999)), ms(2_000));
        assert_eq!(before(ms(1_400)), ms(1_000));
        assert_eq!(before(ms(1_300)), ms(900));
        assert_eq!(before(ms(1_000)), ms(700));
        assert_eq!(before(ms(350)), ms(100));
    }

    #[test]
    fn lock_waits_are_retried_four_times_with_doubling_back_off() {
        let waits: Vec<Retry> = (1..=5).map(|a| retry_after(a, false, None)).collect();
        let ms = |m| Retry::After(Duration::from_millis(m));
        assert_eq!(waits, vec![ms(100), ms(200), ms(400), ms(800), Retry::GiveUp]);
    }

    #[test]
    fn no_retry_after_a_stop_or_without_time_for_it() {
        assert_eq!(retry_after(1, true, None), Retry::GiveUp);
        assert_eq!(retry_after(1, false, Some(Duration::from_millis(399))), Retry::GiveUp);
        assert_eq!(retry_after(1, false, Some(Duration::from_millis(400))), Retry::After(Duration::from_millis(100)));
    }
}
