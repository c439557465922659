//! A chunk the client gave up on (its wait ran out before the server answered): ending it on
//! the server from a second connection, so that nothing of it goes on holding locks, and
//! deciding from how far it got, and from what its rows' range still holds, whether it
//! committed. A report never claims rows it does not know about.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Value;

use super::family::Deleted;
use crate::db::{code, within, DbError, Deadline, Session};

/// The most a flush spends, after its client gave up on a statement, on ending it, and again on
/// learning what it did. A monitor's budget is at most half its operation's timeout, so both
/// fit in the other half of any sensible timeout.
pub const ABANDON_WAIT: Duration = Duration::from_secs(1);

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
