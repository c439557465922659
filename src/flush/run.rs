//! The chunk loop: the steps of a flush in order, each one a call into its own module.

use std::time::{Duration, Instant};

use mysql_async::Value;

use super::chunk::{exec_chunk, is_statement_timeout, select_chunk, ChunkError};
use super::cutoff::server_cutoff;
use super::estimate::estimate_backlog;
use super::galera::{galera_limits, FlowControl};
use super::report::{End, FlushReport};
use super::sql::{Cursor, Statements};
use super::walk::choose_walk;
use super::{lock, FlushOpts};
use crate::db::{DbError, Deadline, Session};
use crate::shutdown::Stop;
use crate::table::TablePlan;

/// One flush in progress: what it works on, and what it has done so far.
pub struct Flusher<'a> {
    pub s: &'a mut Session,
    pub plan: &'a TablePlan,
    pub opts: &'a FlushOpts,
    pub deadline: Deadline,
    pub stop: &'a Stop,
    pub on_chunk: &'a mut dyn FnMut(u64),
    pub report: FlushReport,
}

/// Where the walk stands between two chunks.
struct Position {
    /// The last key of the last chunk; `None` before the first.
    cursor: Option<Cursor>,
    /// Rows per chunk: `batch_size`, lowered under Galera's limits.
    limit: u32,
    /// How long the last chunk took, to keep the next one inside the budget.
    last_chunk: Duration,
    /// Rows left behind because their locks stayed held.
    skipped_locked: u64,
}

/// What the loop does after a chunk.
enum Step {
    /// Pause if asked, then the next chunk.
    Next,
    /// The next chunk at once (the chunk changed size or was skipped).
    Again,
    /// No expired row is left.
    Done,
    /// The flush ends here.
    End(End),
}

impl Flusher<'_> {
    /// Runs the flush to its end and reports. A failure ends the flush and is reported in
    /// [`FlushReport::end`] with the rows deleted before it.
    pub async fn run(mut self) -> FlushReport {
        let started = Instant::now();
        let end = self.walk_table().await.unwrap_or_else(End::Failed);
        if !matches!(end, End::Failed(_)) {
            lock::release(self.s, self.plan, self.deadline).await;
        }
        self.report.elapsed = started.elapsed();
        self.report.backlog = match end {
            End::Complete => Some(0),
            End::Budget | End::Stopped | End::SkippedLocked(_) => {
                let d = Deadline::after(self.deadline.remaining_or(Duration::from_secs(1)));
                estimate_backlog(self.s, self.plan, self.opts.grace, d).await.ok()
            }
            End::LockHeld | End::Failed(_) => None,
        };
        self.report.end = end;
        self.report
    }

    /// Steps 2 to 8: the cutoff, the named lock, Galera's limits, the walk, then chunk after
    /// chunk until none is left, the budget runs out or a stop is requested.
    async fn walk_table(&mut self) -> Result<End, DbError> {
        let cutoff = server_cutoff(self.s, self.opts.grace, self.deadline).await?;
        self.report.cutoff = cutoff.text.clone();
        let (pred, params) = self.plan.rule.predicate(&cutoff);
        if !lock::take(self.s, self.plan, self.deadline).await? {
            return Ok(End::LockHeld);
        }
        let galera = galera_limits(self.s, self.plan, self.deadline).await?;
        let mut flow_control = galera.on.then(FlowControl::default);
        let mut pos = Position {
            cursor: None,
            limit: self.opts.batch_size.max(1),
            last_chunk: Duration::from_millis(50),
            skipped_locked: 0,
        };
        if let Some(cap) = galera.cap.filter(|&c| c < pos.limit) {
            crate::info!("chunks limited to {cap} rows by wsrep_max_ws_rows/wsrep_max_ws_size");
            pos.limit = cap;
        }
        let walk = choose_walk(self.s, self.plan, (&pred, &params), self.opts.walk, self.deadline).await?;
        self.report.walk = Some(walk);
        let sql = Statements::new(self.plan, &pred, walk);
        loop {
            if let Some(end) = self.time_to_stop(&pos) {
                return Ok(end);
            }
            match self.chunk(&sql, &params, &mut pos).await? {
                Step::Next => self.pause(flow_control.as_mut()).await,
                Step::Again => {}
                Step::Done => break,
                Step::End(end) => return Ok(end),
            }
        }
        Ok(if pos.skipped_locked > 0 { End::SkippedLocked(pos.skipped_locked) } else { End::Complete })
    }

    /// A stop request, or too little time left for another chunk: a chunk may take several
    /// times the last one's duration (its lock waits shrink with the time left, see
    /// [`super::sql::bounded`]).
    fn time_to_stop(&self, pos: &Position) -> Option<End> {
        if self.stop.requested() {
            return Some(End::Stopped);
        }
        match self.deadline.remaining() {
            Some(left) if left < pos.last_chunk * 3 + Duration::from_millis(100) => Some(End::Budget),
            _ => None,
        }
    }

    /// One chunk: the key of its last row, then the DELETE of the range up to it.
    async fn chunk(&mut self, sql: &Statements, params: &[Value], pos: &mut Position) -> Result<Step, DbError> {
        let t0 = Instant::now();
        let (text, args) = sql.boundary(pos.cursor.as_ref(), params, pos.limit);
        let boundary = match select_chunk(self.s, &text, args, self.deadline).await {
            Ok(rows) => rows.into_iter().next().and_then(Cursor::from_row),
            Err(e) if is_statement_timeout(&e) => return Ok(Step::End(End::Budget)),
            Err(e) => return Err(e),
        };
        let (text, args) = sql.delete_range(pos.cursor.as_ref(), boundary.as_ref(), params, pos.limit);
        let deleted = match exec_chunk(self.s, &text, args, self.deadline, self.stop).await {
            Ok(n) => n,
            Err(e) => return chunk_failed(e, boundary, pos),
        };
        if deleted > 0 {
            self.report.add_chunk(deleted);
            (self.on_chunk)(self.report.rows);
        }
        pos.last_chunk = t0.elapsed();
        match boundary {
            Some(b) => pos.cursor = Some(b),
            // No `limit`-th row: this was the tail of the backlog. A full tail means rows expired
            // concurrently; go round again from the same cursor.
            None if deleted < u64::from(pos.limit) => return Ok(Step::Done),
            None => {}
        }
        Ok(Step::Next)
    }

    /// `sleep_ms`, or longer while Galera flow control holds the cluster.
    async fn pause(&mut self, flow_control: Option<&mut FlowControl>) {
        let mut pause = self.opts.sleep;
        if let Some(fc) = flow_control {
            pause = pause.max(fc.pause(self.s, self.deadline).await);
        }
        if !pause.is_zero() {
            tokio::time::sleep(self.deadline.remaining_or(pause)).await;
        }
    }
}

/// A chunk whose DELETE failed: shrink it under Galera's limits, skip rows that stay locked, or
/// end the flush.
fn chunk_failed(e: ChunkError, boundary: Option<Cursor>, pos: &mut Position) -> Result<Step, DbError> {
    match e {
        ChunkError::TooBig if pos.limit > 1 => {
            pos.limit = (pos.limit / 2).max(1);
            crate::warn!("chunk exceeded a Galera write-set limit; retrying with {} rows", pos.limit);
            Ok(Step::Again)
        }
        ChunkError::TooBig => Err(DbError::Misconfigured(
            "a single row exceeds wsrep_max_ws_rows or wsrep_max_ws_size: raise the limit".into(),
        )),
        ChunkError::Locked(msg) => {
            crate::warn!("a chunk stayed locked by another transaction ({msg}); leaving it for the next flush");
            pos.skipped_locked += u64::from(pos.limit);
            match boundary {
                Some(b) => {
                    pos.cursor = Some(b);
                    Ok(Step::Again)
                }
                None => Ok(Step::Done),
            }
        }
        ChunkError::StatementTimeout => Ok(Step::End(End::Budget)),
        ChunkError::Db(e) => Err(e),
    }
}
