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

/// Runs a chunk's SELECT, bounded on the server and the client.
pub async fn select_chunk(
    s: &mut Session,
    sql: &str,
    params: Vec<Value>,
    deadline: Deadline,
) -> Result<Vec<Row>, DbError> {
    let sql = bounded(s.mariadb, deadline.remaining(), s.lock_wait, sql);
    within(deadline, Duration::from_secs(30), "select a chunk", s.conn.exec(sql, params)).await
}

/// Runs one chunk's write statement, retrying lock waits and deadlocks by [`retry_after`].
/// Returns the number of rows it deleted.
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
        let sql = bounded(s.mariadb, deadline.remaining(), s.lock_wait, sql);
        let result = within(deadline, Duration::from_secs(30), "delete a chunk", async {
            s.conn.exec_drop(sql, params.clone()).await?;
            Ok::<_, mysql_async::Error>(s.conn.affected_rows())
        })
        .await;
        let e = match result {
            Ok(rows) => return Ok(rows),
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

/// The server ended the statement at its `max_statement_time`, or it was killed.
pub fn is_statement_timeout(e: &DbError) -> bool {
    matches!(e.server_code(), Some(code::STATEMENT_TIMEOUT | code::QUERY_INTERRUPTED))
}

#[cfg(test)]
mod tests {
    use super::*;

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
