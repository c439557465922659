//! Running one chunk's statements, and the retry policy for lock waits and deadlocks
//! (steps 5 and 6 of a flush).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Params, Row, Value};

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
/// timeout, which leaves the connection usable, fires first.
pub const CLIENT_SLACK: Duration = Duration::from_secs(2);

/// How long the client waits for a statement: until the deadline, or, when the statement cap
/// comes first, [`CLIENT_SLACK`] past it on MariaDB, so that the server's own bound, which
/// leaves the connection usable, fires first. Never past the deadline: a monitor must return
/// within its operation's timeout even when the server hangs.
pub fn client_wait(mariadb: bool, deadline: Deadline) -> Duration {
    match deadline.remaining() {
        Some(left) if left <= STATEMENT_CAP => left,
        Some(left) if mariadb => left.min(STATEMENT_CAP + CLIENT_SLACK),
        None if mariadb => STATEMENT_CAP + CLIENT_SLACK,
        _ => STATEMENT_CAP,
    }
}

/// The server-side bound of the next statement: the time left, at most [`STATEMENT_CAP`].
fn server_bound(deadline: Deadline) -> Duration {
    deadline.remaining().unwrap_or(STATEMENT_CAP).min(STATEMENT_CAP)
}

/// Runs a chunk's SELECT, bounded on the server and the client.
pub async fn select_chunk(
    s: &mut Session,
    sql: &str,
    params: Vec<Value>,
    deadline: Deadline,
) -> Result<Vec<Row>, DbError> {
    let bound = server_bound(deadline);
    let sql = bounded(s.mariadb, Some(bound), s.lock_wait, sql);
    let result =
        within(Deadline::none(), client_wait(s.mariadb, deadline), "select a chunk", s.conn.exec(sql, params)).await;
    if matches!(result, Err(DbError::Timeout(..))) {
        abandon(s, deadline).await;
    }
    result
}

/// Runs one chunk's write statement, retrying lock waits and deadlocks by [`retry_after`], then
/// commits it. Returns the number of rows it deleted, once the commit is confirmed: the session
/// runs with autocommit (checked at connect), and the explicit `COMMIT` makes sure of it
/// whatever the session does.
///
/// A stop request ends the retries: the lock wait in progress runs out (bounded by
/// `innodb_lock_wait_timeout`), but the chunk is not tried again.
pub async fn exec_chunk(
    s: &mut Session,
    sql: &str,
    params: Vec<Value>,
    deadline: Deadline,
    stop: &Stop,
) -> Result<u64, ChunkError> {
    let params = Params::Positional(params);
    let mut attempt = 0;
    loop {
        let bound = server_bound(deadline);
        let sql = bounded(s.mariadb, Some(bound), s.lock_wait, sql);
        let result = within(Deadline::none(), client_wait(s.mariadb, deadline), "delete a chunk", async {
            s.conn.exec_drop(sql, params.clone()).await?;
            let rows = s.conn.affected_rows();
            s.conn.query_drop("COMMIT").await?;
            Ok::<_, mysql_async::Error>(rows)
        })
        .await;
        let e = match result {
            Ok(rows) => return Ok(rows),
            Err(e @ DbError::Timeout(..)) => {
                abandon(s, deadline).await;
                return Err(ChunkError::Db(e));
            }
            Err(e) => e,
        };
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
            _ if is_statement_timeout(&e) => return Err(ChunkError::StatementTimeout),
            _ => return Err(ChunkError::Db(e)),
        }
    }
}

/// The client gave up on a statement the server did not end by itself (MySQL, which has no
/// `max_statement_time` here, or a server too busy to notice it): ends it from a second
/// connection, so that it does not go on holding its locks after this process is gone. The
/// first connection is unusable after a timeout and is dropped with the session.
pub async fn abandon(s: &Session, deadline: Deadline) {
    let id = s.conn.id();
    let opts = s.conn.opts().clone();
    // A server that hangs cannot take the KILL either: spend little of what is left on it.
    let wait = deadline.remaining_or(Duration::from_secs(5)).clamp(Duration::from_millis(300), Duration::from_secs(5));
    let killed = within(Deadline::none(), wait, "end the abandoned statement", async move {
        let mut killer = mysql_async::Conn::new(opts).await?;
        killer.query_drop(format!("KILL QUERY {id}")).await?;
        let _ = killer.disconnect().await;
        Ok::<_, mysql_async::Error>(())
    })
    .await;
    match killed {
        Ok(()) => crate::warn!("ended the statement the client gave up on (connection {id}) from a second connection"),
        Err(e) => crate::error!("could not end the statement the client gave up on (connection {id}): {e}"),
    }
}

/// The walk read a key it cannot get past: the key that came back is the one it asked to go
/// beyond. It happens when a key does not survive the round trip (a character set that cannot
/// hold it); a flush must stop then, not spin.
pub fn no_progress(at: &super::sql::Cursor) -> DbError {
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
        assert_eq!(client_wait(true, Deadline::none()), s(12), "the command: the server's 10 s bound fires first");
        assert_eq!(client_wait(false, Deadline::none()), s(10), "MySQL: no server bound to wait for");
        assert!(client_wait(true, Deadline::after(s(10))) <= s(10), "a monitor never waits past its budget");
        assert_eq!(client_wait(true, Deadline::after(s(600))), s(12));
        assert_eq!(server_bound(Deadline::none()), STATEMENT_CAP);
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
