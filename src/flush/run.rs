//! The chunk loop: the steps of a flush in order, each one a call into its own module.

use std::time::{Duration, Instant};

use mysql_async::Value;

use super::abandon::{self, Abandoned, Outcome};
use super::chunk::{
    exec_chunk, is_statement_timeout, no_progress, select_chunk, select_count, ChunkError, Deleted, Work,
};
use super::cursor::Cursor;
use super::cutoff::server_cutoff;
use super::estimate::estimate_backlog;
use super::galera::{galera_limits, FlowControl};
use super::position::{Position, Step};
use super::rebuild;
use super::report::{End, FlushReport};
use super::size::ChunkSize;
use super::sql::Statements;
use super::strategy::{self, Estimate, Strategy};
use super::walk::{choose_walk, Walk};
use super::{lock, FlushOpts};
use crate::db::{DbError, Deadline, Session};
use crate::shutdown::Stop;
use crate::table::TablePlan;

/// Chunks in a row that delete nothing before the flush gives up: rows that all change under
/// the flush between its two statements, chunk after chunk, are not a workload but a loop.
pub const MAX_EMPTY_CHUNKS: u32 = 100;

/// How often a chunk's range is deleted again while writers keep putting expired rows in it.
pub const MAX_REPEATS: u32 = 3;

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
        let chosen = self.strategy(&pred, &params).await?;
        self.report.strategy = Some(chosen);
        if chosen == Strategy::Rebuild {
            return self.rebuild(&pred, &params, galera.cap).await;
        }
        self.undo_rebuild().await;
        let mut flow_control = galera.on.then(FlowControl::default);
        let size = ChunkSize::new(self.opts.batch_size, galera.cap, self.plan.avg_row_length);
        if size.cap() < self.opts.batch_size {
            crate::info!(
                "chunks limited to {} rows by wsrep_max_ws_rows/wsrep_max_ws_size or by the rows' size",
                size.cap()
            );
        }
        let mut pos = Position::new(size);
        let walk = choose_walk(self.s, self.plan, (&pred, &params), self.opts.walk, self.deadline).await?;
        self.report.walk = Some(walk);
        let sql = Statements::new(self.plan, &pred, walk);
        if walk != Walk::Sweep {
            loop {
                if let Some(end) = self.time_to_stop(&pos) {
                    return Ok(end);
                }
                match self.chunk(&sql, &params, &mut pos).await? {
                    Step::Next => self.pause(&mut pos, flow_control.as_mut()).await,
                    Step::Again => {}
                    Step::Done => break,
                    Step::End(end) => return Ok(end),
                }
            }
        }
        if let Some(end) = self.sweep(&sql, &params, &mut pos, walk, flow_control.as_mut()).await? {
            return Ok(end);
        }
        Ok(if pos.skipped_locked > 0 { End::SkippedLocked(pos.skipped_locked) } else { End::Complete })
    }

    /// The strategy of this flush: the one asked for, or for `auto` the one [`strategy::choose`]
    /// picks from the server's estimates.
    async fn strategy(&mut self, pred: &str, params: &[Value]) -> Result<Strategy, DbError> {
        if self.opts.strategy != Strategy::Auto {
            return Ok(self.opts.strategy);
        }
        let mut expired =
            super::estimate::estimate_rows_before(self.s, self.plan, (pred, params), self.deadline).await?;
        let (rows, bytes, free) = super::estimate::table_stats(self.s, self.plan, self.deadline).await?;
        // InnoDB caps a range's estimate at half the table, which is where the choice is made:
        // near the cap, count.
        if expired * 5 >= rows * 2 {
            expired = super::estimate::count_rows_before(self.s, self.plan, (pred, params), self.deadline).await?;
        }
        let rebuildable =
            expired >= strategy::SMALL_BACKLOG && rebuild::rebuildable(self.s, self.plan, self.deadline).await;
        let chosen = strategy::choose(Estimate { expired, rows, bytes, free, rebuildable });
        crate::info!(
            "auto: ~{expired} of ~{rows} rows expired, {} MB free of {} MB: {}",
            free >> 20,
            bytes >> 20,
            chosen.name()
        );
        Ok(chosen)
    }

    async fn rebuild(&mut self, pred: &str, params: &[Value], galera_cap: Option<u32>) -> Result<End, DbError> {
        let job = rebuild::Job {
            s: self.s,
            plan: self.plan,
            opts: self.opts,
            pred,
            params,
            deadline: self.deadline,
            stop: self.stop,
            on_chunk: self.on_chunk,
            report: &mut self.report,
            galera_cap,
        };
        rebuild::rebuild(job).await
    }

    /// A delete flush undoes a rebuild an earlier flush left unfinished (and finishes one that
    /// was swapped). It cannot when its user lacks the privileges: then the rebuild's triggers
    /// go on carrying writes into its copy, which is harmless, and the delete proceeds.
    async fn undo_rebuild(&mut self) {
        let names = rebuild::names::Names::of(&self.plan.table);
        if let Err(e) = rebuild::state::settle(self.s, &names, false, self.deadline).await {
            crate::warn!("cannot clean up the rebuild an earlier flush left on {}: {e}", self.plan.table);
        }
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
        let limit = pos.size.rows();
        let boundary = match pos.again_upto.take() {
            Some(b) => Some(b),
            None => match self.boundary(sql, params, pos, limit).await {
                Ok(Some(b)) => Some(b),
                Ok(None) => return Ok(Step::Done),
                Err(e) if is_statement_timeout(&e) => return Ok(self.out_of_statement_time(pos)),
                Err(e) => return Err(e),
            },
        };
        let work = pos.work(self.plan, sql, params, boundary.as_ref(), limit);
        let deleted = match exec_chunk(self.s, &work, self.deadline, self.stop).await {
            Ok(d) => d,
            Err(ChunkError::StatementTimeout) => return Ok(self.out_of_statement_time(pos)),
            Err(ChunkError::Abandoned(a)) => return self.abandoned(a, pos, t0).await,
            Err(ChunkError::Referenced(why)) => {
                return pos.referenced(self.s, &mut self.report, (sql, params), boundary, why, self.deadline).await
            }
            Err(e) => return pos.failed(e, boundary),
        };
        self.count_chunk(pos, &deleted, t0);
        // A family chunk that took fewer rows than its range holds ends where it stopped.
        let full = deleted.rows >= u64::from(limit) || deleted.upto.is_some();
        let boundary = deleted.upto.or(boundary);
        self.advance(sql, params, pos, boundary, deleted.rows, full).await
    }

    /// The chunk's last key: the `limit`-th expired row after the cursor or, near the end, the
    /// last expired row there is (so that the tail, too, is a fixed range). `None`: no expired
    /// row is left after the cursor.
    async fn boundary(
        &mut self,
        sql: &Statements,
        params: &[Value],
        pos: &Position,
        limit: u32,
    ) -> Result<Option<Cursor>, DbError> {
        let (text, args) = sql.boundary(pos.cursor.as_ref(), params, limit);
        if let Some(b) = select_chunk(self.s, &text, args, self.deadline).await?.into_iter().next() {
            return Ok(Cursor::from_row(b));
        }
        let (text, args) = sql.last(pos.cursor.as_ref(), params);
        Ok(select_chunk(self.s, &text, args, self.deadline).await?.into_iter().next().and_then(Cursor::from_row))
    }

    /// A chunk the client gave up on: what it did, learned on the session's fresh connection
    /// from what its rows' [`Abandoned::check`] still finds (a sweep has none), is counted;
    /// then the flush ends: spent, if the wait was the budget's and the server answered the
    /// second connection; failed, with the timeout, if it did not (a hung server). A chunk
    /// whose fate stays unknown fails the flush and says so: the report never claims rows it
    /// does not know about.
    async fn abandoned(&mut self, a: Abandoned, pos: &mut Position, t0: Instant) -> Result<Step, DbError> {
        let left = match a.check.clone() {
            Some((text, args)) if a.gone && matches!(a.phase, abandon::Phase::Committing(_)) => {
                let d = Deadline::after(abandon::ABANDON_WAIT);
                select_count(self.s, &text, args, d).await.ok().flatten()
            }
            _ => None,
        };
        match abandon::outcome(&a, left) {
            Outcome::Committed(d) => self.count_chunk(pos, &d, t0),
            Outcome::RolledBack => {}
            Outcome::Unknown(n) => return Err(DbError::Unconfirmed(a.error.to_string(), n)),
        }
        match a.by_budget && a.gone {
            true => Ok(Step::End(End::Budget)),
            false => Err(a.error),
        }
    }

    /// A committed chunk: the report, the progress observer, and what sizes the next one.
    fn count_chunk(&mut self, pos: &mut Position, deleted: &Deleted, t0: Instant) {
        if deleted.rows + deleted.with > 0 {
            self.report.add_chunk(deleted.rows, deleted.with);
            (self.on_chunk)(self.report.rows);
        }
        pos.last_chunk = t0.elapsed();
        pos.last_rows = deleted.rows + deleted.with;
        pos.size.after(pos.last_chunk);
    }

    /// Moves the cursor past a chunk, unless rows may be left in its range.
    async fn advance(
        &mut self,
        sql: &Statements,
        params: &[Value],
        pos: &mut Position,
        boundary: Option<Cursor>,
        deleted: u64,
        full: bool,
    ) -> Result<Step, DbError> {
        pos.empty = if deleted == 0 { pos.empty + 1 } else { 0 };
        let Some(b) = boundary else { return Ok(Step::Done) };
        if deleted == 0 && pos.cursor.as_ref() == Some(&b) {
            return Err(no_progress(&b));
        }
        if pos.empty >= MAX_EMPTY_CHUNKS {
            return Err(DbError::Misconfigured(format!(
                "{MAX_EMPTY_CHUNKS} chunks in a row deleted nothing: the rows change under the flush faster than it \
                 deletes them; stopping rather than looping"
            )));
        }
        // A full chunk may have left a row of its range behind (one inserted into it between
        // the two statements took a place under the LIMIT): delete the same range again until
        // it is clear.
        // Writers that keep filling the range faster than it empties cannot hold the walk:
        // after MAX_REPEATS the rows left there are counted as skipped (the flush then does not
        // report complete, and the next one comes back for them).
        if full {
            let (text, args) = sql.left_in_range(pos.cursor.as_ref(), &b, params);
            if !select_chunk(self.s, &text, args, self.deadline).await?.is_empty() {
                if pos.repeats < MAX_REPEATS {
                    pos.repeats += 1;
                    pos.again_upto = Some(b);
                    return Ok(Step::Next);
                }
                crate::warn!("rows keep arriving in the range of a chunk; leaving them for the next flush");
                pos.skipped_locked += 1;
            }
        }
        pos.repeats = 0;
        pos.cursor = Some(b);
        Ok(Step::Next)
    }

    /// The sweep: `DELETE … WHERE <rule> LIMIT n` until a chunk comes back short: the whole flush
    /// for a key a cursor cannot follow (nothing after a keyset walk, which has already visited
    /// every row that existed when it passed). `Some(end)` when the flush ends early.
    async fn sweep(
        &mut self,
        sql: &Statements,
        params: &[Value],
        pos: &mut Position,
        walk: Walk,
        mut flow_control: Option<&mut FlowControl>,
    ) -> Result<Option<End>, DbError> {
        if walk != Walk::Sweep {
            return Ok(None);
        }
        loop {
            if let Some(end) = self.time_to_stop(pos) {
                return Ok(Some(end));
            }
            let t0 = Instant::now();
            let limit = pos.size.rows();
            let work = Work::Range { sql: sql.sweep(limit), params: params.to_vec(), check: None };
            let deleted = match exec_chunk(self.s, &work, self.deadline, self.stop).await {
                Ok(d) => d,
                Err(ChunkError::StatementTimeout) => match self.out_of_statement_time(pos) {
                    Step::End(end) => return Ok(Some(end)),
                    _ => continue,
                },
                Err(ChunkError::Abandoned(a)) => match self.abandoned(a, pos, t0).await? {
                    Step::End(end) => return Ok(Some(end)),
                    _ => continue,
                },
                Err(e) => match pos.failed(e, None)? {
                    Step::End(end) => return Ok(Some(end)),
                    Step::Done => return Ok(None),
                    Step::Next | Step::Again => continue,
                },
            };
            self.count_chunk(pos, &deleted, t0);
            if deleted.rows < u64::from(limit) {
                return Ok(None);
            }
            self.pause(pos, flow_control.as_deref_mut()).await;
        }
    }

    /// The server ended a statement at its time bound. With budget left the chunk was too big
    /// for the statement cap: halve it and go on; otherwise the budget is spent.
    fn out_of_statement_time(&self, pos: &mut Position) -> Step {
        let budget_left = self.deadline.remaining().is_none_or(|r| r > Duration::from_secs(1));
        if budget_left && pos.size.halve() {
            crate::warn!("a chunk ran out of its statement time; retrying with {} rows", pos.size.rows());
            return Step::Again;
        }
        Step::End(End::Budget)
    }

    /// `sleep_ms`, or longer while Galera flow control holds the cluster or the throttle says
    /// the server is busy.
    async fn pause(&mut self, pos: &mut Position, flow_control: Option<&mut FlowControl>) {
        let mut pause = self.opts.sleep;
        if let Some(fc) = flow_control {
            pause = pause.max(fc.pause(self.s, self.deadline).await);
        }
        let before = pos.throttle.why.clone();
        let throttled = pos.throttle.pause(self.s, self.deadline, pos.last_rows, pos.last_chunk).await;
        if let Some(why) = pos.throttle.why.as_ref().filter(|w| before.as_ref() != Some(*w)) {
            crate::info!("throttle: {why}; pausing {} ms between chunks", throttled.as_millis());
        }
        self.report.throttled += throttled;
        pause = pause.max(throttled);
        if !pause.is_zero() {
            tokio::time::sleep(self.deadline.remaining_or(pause)).await;
        }
    }
}
