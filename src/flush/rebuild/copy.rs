//! The rebuild's steps in order: set up, copy in committed chunks, swap, clean up.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Params, Value};

use super::ddl::Ddl;
use super::state;
use super::step::{crash_point, ddl};
use crate::db::{code, within, DbError, Deadline, Session};
use crate::flush::abandon::abandon;
use crate::flush::chunk::{bounds, retry_after, rollback, Retry};
use crate::flush::report::{End, FlushReport};
use crate::flush::size::ChunkSize;
use crate::flush::sql::bounded;
use crate::shutdown::Stop;

/// How long the old table outlives the swap. Every connection must open the swapped-in table
/// again, and dropping a large table right away holds up those opens for as long as the DROP
/// takes (measured: a 330 MB table, 100 ms of DROP, an 87 ms stall of the live load at the swap;
/// 8 ms with the drop a moment later), so the drop waits until busy connections have moved on.
pub const DROP_AFTER_SWAP: Duration = Duration::from_millis(300);

pub struct Rebuilder<'a> {
    pub s: &'a mut Session,
    pub ddl: Ddl,
    pub pred: String,
    pub params: Vec<Value>,
    pub deadline: Deadline,
    pub stop: &'a Stop,
    pub on_chunk: &'a mut dyn FnMut(u64),
    pub report: &'a mut FlushReport,
    pub size: ChunkSize,
    /// `sleep_ms` between chunks.
    pub sleep: Duration,
    pub throttle: crate::flush::throttle::Throttle,
}

impl Rebuilder<'_> {
    /// Creates the state, the copy and the triggers, in that order.
    pub async fn set_up(&mut self) -> Result<(), DbError> {
        for sql in self.ddl.create_state() {
            ddl(self.s, &sql, self.deadline).await?;
        }
        crash_point("state");
        ddl(self.s, &self.ddl.create_new(), self.deadline).await?;
        crash_point("new");
        for sql in self.ddl.create_triggers() {
            ddl(self.s, &sql, self.deadline).await?;
        }
        crash_point("triggers");
        Ok(())
    }

    /// Copies the rows that stay, chunk by chunk, from where the state says, until the end of
    /// the table (`Ok(None)`) or the budget or a stop (`Ok(Some(end))`).
    pub async fn copy(&mut self) -> Result<Option<End>, DbError> {
        let mut cursor = state::progress(self.s, &self.ddl, self.deadline).await?.cursor;
        let mut last = Duration::from_millis(50);
        loop {
            if self.stop.requested() {
                return Ok(Some(End::Stopped));
            }
            if self.deadline.remaining().is_some_and(|left| left < last * 3 + Duration::from_millis(100)) {
                return Ok(Some(End::Budget));
            }
            let t0 = Instant::now();
            let limit = self.size.rows();
            let boundary: Option<Value> = {
                let sql = self.ddl.copy_boundary(cursor.is_some(), limit);
                let args: Vec<Value> = cursor.iter().cloned().collect();
                within(self.deadline, Duration::from_secs(30), "read a copy chunk", self.s.conn.exec_first(sql, args))
                    .await?
            };
            let copied = self.copy_chunk(cursor.as_ref(), boundary.as_ref()).await?;
            // The chunk's transaction wrote the rows it copied; the rows it counted as dropped
            // are the ones the rebuild deletes.
            self.report.chunks += 1;
            self.report.rows_copied += copied.rows;
            self.report.rows += copied.dropped;
            self.report.max_chunk_rows = self.report.max_chunk_rows.max(copied.rows);
            (self.on_chunk)(self.report.rows);
            crash_point("chunk");
            last = t0.elapsed();
            self.size.after(last);
            match boundary {
                Some(b) => cursor = Some(b),
                None => return Ok(None),
            }
            let throttled = self.throttle.pause(self.s, self.deadline, copied.rows.max(1), last).await;
            self.report.throttled += throttled;
            let pause = self.sleep.max(throttled);
            if !pause.is_zero() {
                tokio::time::sleep(self.deadline.remaining_or(pause)).await;
            }
        }
    }

    /// One copy chunk and its cursor in one transaction, retried on lock waits and deadlocks.
    async fn copy_chunk(&mut self, after: Option<&Value>, upto: Option<&Value>) -> Result<Copied, DbError> {
        let mut args = self.params.clone();
        args.extend(after.cloned());
        args.extend(upto.cloned());
        let sql = self.ddl.copy_chunk(&self.pred, after.is_some(), upto.is_some());
        let count = self.ddl.count_dropped(&self.pred, after.is_some(), upto.is_some());
        let mut attempt = 0;
        loop {
            let b = bounds(self.s.mariadb, self.deadline);
            let text = bounded(self.s.mariadb, Some(b.server), self.s.lock_wait, &sql);
            let save = self.ddl.save_cursor();
            let cursor = upto.cloned().or_else(|| after.cloned()).unwrap_or(Value::NULL);
            let conn = &mut self.s.conn;
            let result = within(Deadline::none(), b.client, "copy a chunk", async {
                conn.query_drop("START TRANSACTION").await?;
                let dropped: Option<u64> = conn.exec_first(count.as_str(), Params::Positional(args.clone())).await?;
                conn.exec_drop(text, Params::Positional(args.clone())).await?;
                let rows = conn.affected_rows();
                conn.exec_drop(save, (cursor, rows)).await?;
                conn.query_drop("COMMIT").await?;
                Ok::<_, mysql_async::Error>(Copied { rows, dropped: dropped.unwrap_or(0) })
            })
            .await;
            let e = match result {
                Ok(c) => return Ok(c),
                // Whether it committed or not, the cursor saved with it says where to go on.
                Err(e @ DbError::Timeout(..)) => {
                    abandon(self.s).await;
                    return Err(e);
                }
                Err(e) => e,
            };
            rollback(self.s, self.deadline).await;
            match e.server_code() {
                Some(code::LOCK_WAIT_TIMEOUT | code::DEADLOCK) => {
                    attempt += 1;
                    match retry_after(attempt, self.stop.requested(), self.deadline.remaining()) {
                        Retry::After(backoff) => tokio::time::sleep(backoff).await,
                        Retry::GiveUp => return Err(e),
                    }
                }
                _ => return Err(e),
            }
        }
    }

    /// Swaps the copy in for the table, then drops the old table and the state.
    pub async fn swap(&mut self) -> Result<(), DbError> {
        self.carry_auto_increment().await?;
        ddl(self.s, &self.ddl.swap(), self.deadline).await?;
        crash_point("swap");
        ddl(self.s, &self.ddl.mark_swapped(), self.deadline).await?;
        crash_point("mark");
        let n = self.ddl.n.clone();
        tokio::time::sleep(self.deadline.remaining_or(DROP_AFTER_SWAP * 2) / 2).await;
        ddl(self.s, &format!("DROP TABLE IF EXISTS {}", super::ddl::quote(&n.old)), self.deadline).await?;
        crash_point("drop-old");
        state::drop_everything(self.s, &n, self.deadline).await
    }

    /// The copy's AUTO_INCREMENT counter is raised to the table's, so that no id of a deleted
    /// row is handed out again.
    async fn carry_auto_increment(&mut self) -> Result<(), DbError> {
        let n = &self.ddl.n;
        let ai: Option<Option<u64>> = within(self.deadline, Duration::from_secs(10), "read AUTO_INCREMENT", self.s.conn.exec_first(
            "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (&n.table,),
        ))
        .await?;
        if let Some(Some(next)) = ai {
            let sql = format!("ALTER TABLE {} AUTO_INCREMENT = {next}", super::ddl::quote(&n.new));
            ddl(self.s, &sql, self.deadline).await?;
        }
        Ok(())
    }
}

/// What one copy chunk did: rows it inserted into the copy, and rows of its range the swap
/// will drop.
pub struct Copied {
    pub rows: u64,
    pub dropped: u64,
}
