//! Reading what a rebuild left in the database, and undoing or finishing it. Any node can do
//! this: everything it needs is in the database.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Value;

use super::ddl::{drop_all, quote, Ddl};
use super::names::{recognise, Found, Leftover, Names};
use crate::db::{within, DbError, Deadline, Session};

const WAIT: Duration = Duration::from_secs(10);

/// Which of the rebuild's objects exist.
pub async fn find(s: &mut Session, n: &Names, deadline: Deadline) -> Result<Found, DbError> {
    let schema = s.schema.clone();
    let tables: Vec<String> = within(
        deadline,
        WAIT,
        "look for a rebuild",
        s.conn.exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?, ?, ?)",
            (&schema, &n.new, &n.old, &n.state),
        ),
    )
    .await?;
    let triggers: Vec<String> = within(deadline, WAIT, "look for a rebuild's triggers", s.conn.exec(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?",
        (&schema, &n.table),
    ))
    .await?;
    let mut f = Found {
        new: tables.contains(&n.new),
        old: tables.contains(&n.old),
        state: tables.contains(&n.state),
        triggers: triggers.iter().filter(|t| n.triggers.contains(t)).count(),
        phase: None,
    };
    if f.state {
        let sql = format!("SELECT phase FROM {} WHERE id = 1", quote(&n.state));
        f.phase = within(deadline, WAIT, "read the rebuild's state", s.conn.query_first(sql)).await?;
    }
    Ok(f)
}

/// The copy's progress, as its last committed chunk recorded it.
pub struct Progress {
    pub cursor: Option<Value>,
    pub copied: u64,
}

pub async fn progress(s: &mut Session, ddl: &Ddl, deadline: Deadline) -> Result<Progress, DbError> {
    let row: Option<(String, Value, u64)> =
        within(deadline, WAIT, "read the rebuild's state", s.conn.query_first(ddl.read_state())).await?;
    let (_, cursor, copied) = row.ok_or_else(|| DbError::Schema("the rebuild's state table has no row".into()))?;
    Ok(Progress { cursor: (cursor != Value::NULL).then_some(cursor), copied })
}

/// Drops every object of a rebuild, triggers first. Idempotent, so a kill in the middle of it
/// is finished by the next one.
pub async fn drop_everything(s: &mut Session, n: &Names, deadline: Deadline) -> Result<(), DbError> {
    // Every statement is tried, so that one that fails leaves as little as possible behind.
    let mut first = None;
    for sql in drop_all(n) {
        if let Err(e) = super::step::ddl(s, &sql, deadline).await {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// Deals with what an earlier rebuild left: a finished swap is cleaned up, a broken start is
/// undone, and a copy under way is resumed (`resume`) or undone. Returns whether a copy is left
/// to resume.
pub async fn settle(s: &mut Session, n: &Names, resume: bool, deadline: Deadline) -> Result<bool, DbError> {
    let found = find(s, n, deadline).await?;
    match recognise(&found) {
        Leftover::Nothing => Ok(false),
        Leftover::Copying if resume => {
            crate::info!("resuming the rebuild of {} left by an earlier flush", quote(&n.table));
            Ok(true)
        }
        Leftover::Copying | Leftover::Incomplete => {
            crate::warn!("undoing the unfinished rebuild of {} left by an earlier flush", quote(&n.table));
            drop_everything(s, n, deadline).await?;
            Ok(false)
        }
        Leftover::Swapped => {
            crate::info!("finishing the rebuild of {}: dropping the old table", quote(&n.table));
            drop_everything(s, n, deadline).await?;
            Ok(false)
        }
    }
}
