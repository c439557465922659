//! Where the walk stands between two chunks, and what a chunk's failure does to it: the state
//! the chunk loop ([`super::run`]) carries from one chunk to the next, and the decisions about
//! it that need no server.

use std::time::Duration;

use mysql_async::Value;

use super::chunk::{select_count, ChunkError, Work};
use super::cursor::Cursor;
use super::family::Family;
use super::report::{add_counts, End, FlushReport};
use super::size::ChunkSize;
use super::sql::Statements;
use super::throttle::Throttle;
use crate::db::{DbError, Deadline, Session};
use crate::table::TablePlan;

/// Where the walk stands between two chunks.
pub struct Position {
    /// The last key of the last chunk; `None` before the first.
    pub cursor: Option<Cursor>,
    pub size: ChunkSize,
    /// How long the last chunk took, to keep the next one inside the budget.
    pub last_chunk: Duration,
    /// Rows left behind because their locks stayed held.
    pub skipped_locked: u64,
    /// Chunks in a row that deleted nothing.
    pub empty: u32,
    /// Rows the last chunk deleted, for the throttle.
    pub last_rows: u64,
    /// A range whose chunk came out full with rows left in it: the next chunk deletes the same
    /// range again, to the same boundary, rather than reading a new one. A fixed range is what
    /// makes the walk end whatever writers insert: they would always keep a moving one full.
    pub again_upto: Option<Cursor>,
    /// How many times in a row the same range was deleted again.
    pub repeats: u32,
    pub throttle: Throttle,
}

/// What the loop does after a chunk.
pub enum Step {
    /// Pause if asked, then the next chunk.
    Next,
    /// The next chunk at once (the chunk changed size or was skipped).
    Again,
    /// No expired row is left.
    Done,
    /// The flush ends here.
    End(End),
}

impl Position {
    /// The start of a walk: before the first key, with chunks of `size`.
    pub fn new(size: ChunkSize) -> Position {
        Position {
            cursor: None,
            size,
            last_chunk: Duration::from_millis(50),
            skipped_locked: 0,
            empty: 0,
            last_rows: 0,
            again_upto: None,
            repeats: 0,
            throttle: Throttle::default(),
        }
    }

    /// The next chunk's transaction: the DELETE of its range or, for a table whose rows take
    /// others with them, a family chunk, bounded by what one transaction may hold.
    pub fn work<'w>(
        &'w self,
        plan: &'w TablePlan,
        sql: &'w Statements,
        params: &'w [Value],
        boundary: Option<&'w Cursor>,
        limit: u32,
    ) -> Work<'w> {
        if plan.family.is_empty() {
            let (text, args) = sql.delete_range(self.cursor.as_ref(), boundary, params, limit);
            let check = boundary.map(|b| sql.count_in_range(self.cursor.as_ref(), b, params));
            return Work::Range { sql: text, params: args, check };
        }
        Work::Family(Family {
            sql,
            members: &plan.family,
            cursor: self.cursor.as_ref(),
            upto: boundary,
            params,
            limit,
            bound: u64::from(self.size.cap()),
        })
    }

    /// A chunk whose DELETE failed: shrink it under Galera's limits, skip rows that stay
    /// locked, or end the flush.
    pub fn failed(&mut self, e: ChunkError, boundary: Option<Cursor>) -> Result<Step, DbError> {
        match e {
            ChunkError::TooBig if self.size.halve() => {
                self.size.cap_here();
                crate::warn!("chunk exceeded a Galera write-set limit; retrying with {} rows", self.size.rows());
                Ok(Step::Again)
            }
            ChunkError::TooBig => Err(DbError::Misconfigured(
                "a single row exceeds wsrep_max_ws_rows or wsrep_max_ws_size: raise the limit".into(),
            )),
            ChunkError::Locked(msg) => {
                crate::warn!("a chunk stayed locked by another transaction ({msg}); leaving it for the next flush");
                self.skipped_locked += u64::from(self.size.rows());
                match boundary {
                    Some(b) => {
                        self.cursor = Some(b);
                        Ok(Step::Again)
                    }
                    None => Ok(Step::Done),
                }
            }
            ChunkError::Referenced(_) if self.size.halve() => Ok(Step::Again),
            ChunkError::Referenced(why) => Err(DbError::Misconfigured(format!(
                "a row the rule takes is held by a foreign key the flush does not guard, and a flush over this \
                 table's key cannot step past it: {why}"
            ))),
            ChunkError::StatementTimeout => Ok(Step::End(End::Budget)),
            ChunkError::Abandoned(a) => Err(a.error),
            ChunkError::Db(e) => Err(e),
        }
    }

    /// A walk's chunk that a foreign key the rule does not guard refused (a child of a
    /// cascading child, a composite key, a child in another database: error 1451). Halving
    /// narrows the chunk down to the one held row; that row is left, counted with the rows
    /// kept by children, and the walk steps past it. It steps only when the held row is alone
    /// in its range (a row a writer put before it since is deleted first), or when the count
    /// cannot be read: a walk that never steps would be a loop.
    pub async fn referenced(
        &mut self,
        s: &mut Session,
        report: &mut FlushReport,
        (sql, params): (&Statements, &[Value]),
        boundary: Option<Cursor>,
        why: String,
        deadline: Deadline,
    ) -> Result<Step, DbError> {
        let Some(b) = boundary.filter(|_| self.size.rows() == 1) else {
            return self.failed(ChunkError::Referenced(why), None);
        };
        let (text, args) = sql.count_in_range(self.cursor.as_ref(), &b, params);
        let in_range = select_count(s, &text, args, deadline).await?;
        if in_range.is_none_or(|n| n <= 1) {
            crate::warn!(
                "a row of {} is held by a foreign key the flush does not guard ({why}); leaving it",
                sql.table()
            );
            report.kept_by_children = add_counts(report.kept_by_children, Some(1));
            self.cursor = Some(b);
        }
        Ok(Step::Again)
    }
}
