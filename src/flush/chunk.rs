//! Running one chunk's statements, and the retry policy for lock waits and deadlocks
//! (steps 5 and 6 of a flush).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Params, Row, Value};

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
    /// The client gave up waiting for it (see [`outcome`] for what it did).
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

/// The most a flush spends, after its client gave up on a statement, on ending it, and again on
/// learning what it did. A monitor's budget is at most half its operation's timeout, so both
/// fit in the other half of any sensible timeout.
pub const ABANDON_WAIT: Duration = Duration::from_secs(1);

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

/// What one chunk's transaction does.
pub enum Work<'a> {
    /// One DELETE; `check` counts the rows of its range the rule still takes (a sweep has no
    /// range, so none).
    Range { sql: String, params: Vec<Value>, check: Option<(String, Vec<Value>)> },
    /// The rows of a range and what goes with them.
    Family(Family<'a>),
}

/// How far a chunk's transaction got before its client gave up on it.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Its COMMIT was never sent: once its connection is gone, nothing of it is left.
    Open,
    /// Its statements had deleted this and its COMMIT was sent: it may have committed.
    Committing(Deleted),
}

/// A chunk the client gave up on; the session has a fresh connection by now.
#[derive(Debug)]
pub struct Abandoned {
    pub phase: Phase,
    /// The connection that ran it is confirmed gone, so its transaction has ended one way or
    /// the other.
    pub gone: bool,
    pub by_budget: bool,
    pub error: DbError,
    /// Counts the chunk's rows still there: all of them if it rolled back.
    pub check: Option<(String, Vec<Value>)>,
}

/// What an abandoned chunk did.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    RolledBack,
    Committed(Deleted),
    /// Its COMMIT may or may not have landed, and nothing tells which: this many rows.
    Unknown(u64),
}

/// What an abandoned chunk did, from how far it got and, for one whose COMMIT was sent, how
/// many of its rows [`Abandoned::check`] still finds once its connection is gone (`None`: not
/// counted). A committed chunk leaves fewer than it deleted (only rows written into its range
/// since); a rolled-back one leaves every one of them back.
pub fn outcome(a: &Abandoned, left: Option<u64>) -> Outcome {
    match (&a.phase, left) {
        (Phase::Open, _) => Outcome::RolledBack,
        (Phase::Committing(d), Some(left)) if a.gone && left < d.rows => Outcome::Committed(d.clone()),
        (Phase::Committing(d), Some(_)) if a.gone && d.rows > 0 => Outcome::RolledBack,
        (Phase::Committing(d), _) if d.rows + d.with == 0 => Outcome::RolledBack,
        (Phase::Committing(d), _) => Outcome::Unknown(d.rows + d.with),
    }
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

/// The client gave up on a statement the server did not end by itself (MySQL, which has no
/// `max_statement_time` here, or a server too busy to notice it). From a second connection:
/// ends the first (`KILL`, which rolls back whatever it has not committed, so that nothing of
/// it goes on holding locks after this process is gone), waits until it has left the server,
/// and keeps the second as the session's connection. Returns whether the first is confirmed
/// gone.
pub async fn abandon(s: &mut Session) -> bool {
    let id = s.conn.id();
    let d = Deadline::after(ABANDON_WAIT);
    let ended = async {
        let mut fresh = s.sibling(d).await?;
        let kill = fresh.query_drop(format!("KILL {id}"));
        match within(d, ABANDON_WAIT, "end the abandoned statement", kill).await {
            Err(e) if e.server_code() != Some(code::UNKNOWN_THREAD) => return Err(e),
            _ => {}
        }
        let gone = gone(&mut fresh, id, d).await;
        Ok::<_, DbError>((fresh, gone))
    };
    match ended.await {
        Ok((fresh, gone)) => {
            drop(std::mem::replace(&mut s.conn, fresh));
            crate::warn!("ended the statement the client gave up on (connection {id}) from a second connection");
            gone
        }
        Err(e) => {
            crate::error!("could not end the statement the client gave up on (connection {id}): {e}");
            false
        }
    }
}

/// Waits until connection `id` has left the server (a killed connection stays while it rolls
/// back), until `d`.
async fn gone(conn: &mut mysql_async::Conn, id: u32, d: Deadline) -> bool {
    const SQL: &str = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?";
    loop {
        match within(d, ABANDON_WAIT, "watch the abandoned connection", conn.exec_first::<u64, _, _>(SQL, (id,))).await
        {
            Ok(Some(0)) => return true,
            Ok(_) if d.remaining().is_some_and(|r| r > Duration::from_millis(50)) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            _ => return false,
        }
    }
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

    fn abandoned(phase: Phase, gone: bool) -> Abandoned {
        Abandoned { phase, gone, by_budget: true, error: DbError::Timeout("delete a chunk", 1.0), check: None }
    }

    fn four() -> Deleted {
        Deleted { rows: 4, with: 2, upto: None }
    }

    #[test]
    fn a_chunk_given_up_before_its_commit_left_nothing() {
        assert_eq!(outcome(&abandoned(Phase::Open, false), None), Outcome::RolledBack);
    }

    #[test]
    fn a_chunk_given_up_in_its_commit_is_judged_by_what_its_range_still_holds() {
        let sent = || Phase::Committing(four());
        assert_eq!(outcome(&abandoned(sent(), true), Some(0)), Outcome::Committed(four()));
        assert_eq!(outcome(&abandoned(sent(), true), Some(1)), Outcome::Committed(four()), "one row written since");
        assert_eq!(outcome(&abandoned(sent(), true), Some(4)), Outcome::RolledBack, "its rows are back");
        assert_eq!(outcome(&abandoned(sent(), true), None), Outcome::Unknown(6), "not counted (a sweep)");
        assert_eq!(outcome(&abandoned(sent(), false), Some(0)), Outcome::Unknown(6), "it may still be committing");
        let nothing = Phase::Committing(Deleted::default());
        assert_eq!(outcome(&abandoned(nothing, false), None), Outcome::RolledBack, "nothing to lose");
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
