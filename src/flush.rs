//! The chunked purge.
//!
//! A flush reads the cutoff once from the server's clock (`UTC_TIMESTAMP() - grace`, never
//! `NOW()` and never this node's clock), takes a named lock so that only one flusher works on a
//! table at a time, and then walks the table in key order: along the expiry index by
//! `(expiry, primary key)`, or along the primary key for a table far larger than the buffer pool
//! (see [`pick_walk`]). Each chunk is two statements: a SELECT of the chunk's last key (the
//! `batch_size`-th expired row past the previous chunk's last key), and a DELETE of the key range
//! between the two, `ORDER BY … LIMIT batch_size`, that re-checks the expiry, so a row that was
//! changed in between is never removed. Each DELETE commits on its own (autocommit): no
//! transaction grows with the backlog, and a kill at any moment loses at most one chunk's work,
//! which the next flush redoes.
//!
//! Walking forward from the last key, rather than repeating `DELETE … LIMIT n` from the start,
//! keeps every chunk from rescanning the index entries earlier chunks deleted but InnoDB has not
//! purged yet; and it makes progress however many rows share one expiry value (Keystone's
//! LP 1387401 infinite loop).
//!
//! The engine knows nothing about OCF. It takes a connection, a table plan, a deadline and a stop
//! flag, and reports what it did; the monitor and the one-shot CLI both drive it.

use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Params, Row, Value};

use crate::db::{code, within, DbError, Deadline, Session};
use crate::rule::Cutoff;
use crate::table::TablePlan;

/// Set by a signal handler; the engine stops at the next chunk boundary.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<StopInner>);

#[derive(Debug, Default)]
struct StopInner {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }
    pub fn request(&self) {
        self.0.flag.store(true, AtomicOrdering::SeqCst);
        self.0.notify.notify_waiters();
    }
    pub fn requested(&self) -> bool {
        self.0.flag.load(AtomicOrdering::SeqCst)
    }
    /// Resolves once a stop is requested.
    pub async fn wait(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.requested() {
                return;
            }
            notified.await;
        }
    }
}

/// How long a flush may still take after a stop request before it is abandoned.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Runs `fut` to completion unless a stop is requested; then it gets `grace` more to reach its
/// chunk boundary and is dropped after that (`None`). Dropping it closes the connection: the
/// statement in flight, one chunk in one autocommit transaction, commits or rolls back whole on
/// the server, so nothing is left half-done.
pub async fn unless_stopped<F: std::future::Future>(stop: &Stop, grace: Duration, fut: F) -> Option<F::Output> {
    tokio::pin!(fut);
    tokio::select! {
        r = &mut fut => return Some(r),
        _ = stop.wait() => {}
    }
    tokio::time::timeout(grace, fut).await.ok()
}

#[derive(Clone, Debug)]
pub struct FlushOpts {
    pub batch_size: u32,
    pub grace: Duration,
    /// Pause between chunks, for operators who want the flush even gentler.
    pub sleep: Duration,
}

/// How a flush ended.
#[derive(Debug)]
pub enum End {
    /// No expired row is left (as of the cutoff).
    Complete,
    /// The time budget ran out at a chunk boundary; the next flush continues.
    Budget,
    /// A stop was requested (SIGTERM, Ctrl-C).
    Stopped,
    /// Another flusher holds the named lock on this table; nothing was done.
    LockHeld,
    /// Rows whose locks stayed held past the retries were left for the next flush.
    SkippedLocked(u64),
    /// The flush failed; the rows counted before the failure were deleted and committed.
    Failed(DbError),
}

#[derive(Debug)]
pub struct FlushReport {
    pub rows: u64,
    pub chunks: u64,
    pub elapsed: Duration,
    /// The largest number of rows one transaction deleted.
    pub max_chunk_rows: u64,
    /// The cutoff, as the server computed it (UTC).
    pub cutoff: String,
    pub end: End,
    /// The walk the engine chose.
    pub walk: Option<Walk>,
    /// Expired rows left, as estimated after an incomplete flush (0 after a complete one).
    pub backlog: Option<u64>,
}

impl FlushReport {
    pub fn rows_per_sec(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.rows as f64 / s
        } else {
            0.0
        }
    }
    pub fn complete(&self) -> bool {
        matches!(self.end, End::Complete)
    }
}

/// Lock-wait and deadlock retries per chunk, before its rows are left for the next flush.
const LOCK_RETRIES: u32 = 4;

/// The named lock that keeps two flushers of one table from running at once on one server.
/// MariaDB limits lock names to 64 characters; longer names are shortened with a hash.
pub fn lock_name(schema: &str, plan: &TablePlan) -> String {
    let name = format!("tokenflush.{}.{}", schema, plan.table.as_str());
    if name.len() <= 64 {
        return name;
    }
    let hash = name.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
    format!("{}.{hash:016x}", &name[..47])
}

/// Reads `UTC_TIMESTAMP() - grace` from the server, once per flush, as a DATETIME, as epoch
/// microseconds (for BIGINT expiry columns; independent of any time zone) and as text.
pub async fn server_cutoff(s: &mut Session, grace: Duration, deadline: Deadline) -> Result<Cutoff, DbError> {
    let g = grace.as_secs();
    let row: Option<(Value, i64, String)> = within(
        deadline,
        Duration::from_secs(10),
        "read the server clock",
        s.conn.exec_first(
            "SELECT UTC_TIMESTAMP() - INTERVAL ? SECOND, \
             TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP() - INTERVAL ? SECOND), \
             CAST(UTC_TIMESTAMP() - INTERVAL ? SECOND AS CHAR)",
            (g, g, g),
        ),
    )
    .await?;
    let (datetime, micros, text) = row.ok_or_else(|| DbError::Unreachable("the server returned no time".into()))?;
    Ok(Cutoff { datetime, micros, text })
}

/// What Galera allows: `on` when the server replicates through wsrep, and `cap`, the largest
/// chunk that fits `wsrep_max_ws_rows` and `wsrep_max_ws_size`. Both limits are permanent (errors
/// 1180 and 1105), so retrying an oversized chunk unchanged would loop forever.
struct GaleraLimits {
    on: bool,
    cap: Option<u32>,
}

async fn galera_limits(s: &mut Session, plan: &TablePlan, deadline: Deadline) -> Result<GaleraLimits, DbError> {
    let vars: Vec<(String, String)> = within(
        deadline,
        Duration::from_secs(10),
        "read wsrep limits",
        s.conn.query("SHOW VARIABLES WHERE Variable_name IN ('wsrep_on', 'wsrep_max_ws_rows', 'wsrep_max_ws_size')"),
    )
    .await?;
    let get = |n: &str| vars.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str());
    if !get("wsrep_on").is_some_and(|v| v.eq_ignore_ascii_case("ON")) {
        return Ok(GaleraLimits { on: false, cap: None });
    }
    let mut cap: Option<u64> = None;
    if let Some(rows) = get("wsrep_max_ws_rows").and_then(|v| v.parse::<u64>().ok()).filter(|&r| r > 0) {
        cap = Some((rows * 9 / 10).max(1));
    }
    if let Some(size) = get("wsrep_max_ws_size").and_then(|v| v.parse::<u64>().ok()).filter(|&r| r > 0) {
        // A deleted row's write-set entry holds its full image and its key; allow twice InnoDB's
        // average row length and use half the limit, so an unusually wide chunk still fits.
        let per_row = plan.avg_row_length.max(256) * 2;
        let by_size = (size / 2 / per_row).max(1);
        cap = Some(cap.map_or(by_size, |c| c.min(by_size)));
    }
    Ok(GaleraLimits { on: true, cap: cap.map(|c| c.min(u64::from(u32::MAX)) as u32) })
}

/// Backs off while Galera flow control holds the cluster: a replica that cannot keep up makes
/// every writer wait, Keystone's token inserts included, so the flush yields first.
/// `wsrep_flow_control_paused` is a fraction since the last `FLUSH STATUS`, not "paused now", so
/// this reads `wsrep_flow_control_active` and the growth of `wsrep_flow_control_paused_ns`.
#[derive(Default)]
struct FlowControl {
    paused_ns: Option<u64>,
}

impl FlowControl {
    const MAX_PAUSE: Duration = Duration::from_secs(1);

    async fn pause(&mut self, s: &mut Session, deadline: Deadline) -> Duration {
        let vars: Vec<(String, String)> = match within(
            deadline,
            Duration::from_secs(2),
            "read flow control",
            s.conn.query(
                "SHOW STATUS WHERE Variable_name IN ('wsrep_flow_control_active', 'wsrep_flow_control_paused_ns')",
            ),
        )
        .await
        {
            Ok(v) => v,
            Err(_) => return Duration::ZERO,
        };
        let active = vars.iter().any(|(k, v)| k == "wsrep_flow_control_active" && v.eq_ignore_ascii_case("true"));
        let now_ns = vars.iter().find(|(k, _)| k == "wsrep_flow_control_paused_ns").and_then(|(_, v)| v.parse().ok());
        let grown = match (self.paused_ns, now_ns) {
            (Some(before), Some(now)) if now > before => Duration::from_nanos(now - before),
            _ => Duration::ZERO,
        };
        self.paused_ns = now_ns.or(self.paused_ns);
        if active || !grown.is_zero() {
            let pause = grown.max(Duration::from_millis(50)).min(Self::MAX_PAUSE);
            crate::info!("Galera flow control is active; pausing {} ms", pause.as_millis());
            pause
        } else {
            Duration::ZERO
        }
    }
}

/// Deletes expired rows in committed chunks until none is left, the deadline nears, or `stop`
/// is requested. Never returns an error: a failure ends the flush and is reported in
/// [`FlushReport::end`] with the rows deleted before it.
pub async fn flush(
    s: &mut Session,
    plan: &TablePlan,
    opts: &FlushOpts,
    deadline: Deadline,
    stop: &Stop,
    on_chunk: &mut dyn FnMut(u64),
) -> FlushReport {
    let started = Instant::now();
    let mut report = FlushReport {
        rows: 0,
        chunks: 0,
        elapsed: Duration::ZERO,
        max_chunk_rows: 0,
        cutoff: String::new(),
        end: End::Complete,
        backlog: None,
        walk: None,
    };
    report.end = match run(s, plan, opts, deadline, stop, on_chunk, &mut report).await {
        Ok(end) => end,
        Err(e) => End::Failed(e),
    };
    if !matches!(report.end, End::Failed(_)) {
        let name = lock_name(&s.schema, plan);
        let _ =
            within(deadline, Duration::from_secs(2), "release lock", s.conn.exec_drop("DO RELEASE_LOCK(?)", (name,)))
                .await;
    }
    report.elapsed = started.elapsed();
    report.backlog = match report.end {
        End::Complete => Some(0),
        End::Budget | End::Stopped | End::SkippedLocked(_) => {
            let d = Deadline::after(deadline.remaining_or(Duration::from_secs(1)));
            estimate_backlog(s, plan, opts.grace, d).await.ok()
        }
        End::LockHeld | End::Failed(_) => None,
    };
    report
}

async fn run(
    s: &mut Session,
    plan: &TablePlan,
    opts: &FlushOpts,
    deadline: Deadline,
    stop: &Stop,
    on_chunk: &mut dyn FnMut(u64),
    report: &mut FlushReport,
) -> Result<End, DbError> {
    let cutoff = server_cutoff(s, opts.grace, deadline).await?;
    report.cutoff = cutoff.text.clone();
    // What makes a row go (the target's expiry rule), with its parameters.
    let (pred, cutoff) = plan.rule.predicate(&cutoff);

    let name = lock_name(&s.schema, plan);
    let got: Option<Option<i64>> = within(
        deadline,
        Duration::from_secs(10),
        "take the named lock",
        s.conn.exec_first("SELECT GET_LOCK(?, 0)", (name,)),
    )
    .await?;
    if got.flatten() != Some(1) {
        return Ok(End::LockHeld);
    }

    let mut limit = opts.batch_size.max(1);
    let galera = galera_limits(s, plan, deadline).await?;
    let mut flow_control = galera.on.then(FlowControl::default);
    if let Some(cap) = galera.cap {
        if cap < limit {
            crate::info!("chunks limited to {cap} rows by wsrep_max_ws_rows/wsrep_max_ws_size");
            limit = cap;
        }
    }

    let walk = choose_walk(s, plan, (&pred, &cutoff), deadline).await?;
    let sql = Statements::new(plan, &pred);
    let mut cursor: Option<Cursor> = None;
    let mut chunk_time = Duration::from_millis(50);
    let mut skipped_locked = 0u64;
    report.walk = Some(walk);

    loop {
        if stop.requested() {
            return Ok(End::Stopped);
        }
        // Stop with margin: a chunk may take several times the last one's duration. (Its lock
        // waits shrink with the time left: see `bounded`.)
        if let Some(left) = deadline.remaining() {
            if left < chunk_time * 3 + Duration::from_millis(100) {
                return Ok(End::Budget);
            }
        }
        let t0 = Instant::now();
        // The chunk's last key: the `limit`-th expired row after the cursor. Only one row crosses
        // the wire, and the DELETE below then works on a key range, as InnoDB likes best.
        let (text, params) = sql.boundary(walk, cursor.as_ref(), &cutoff, limit);
        let boundary = match select_chunk(s, &text, params, deadline).await {
            Ok(rows) => rows.into_iter().next().and_then(Cursor::from_row),
            Err(e) if is_statement_timeout(&e) => return Ok(End::Budget),
            Err(e) => return Err(e),
        };
        let (text, params) = sql.delete_range(walk, cursor.as_ref(), boundary.as_ref(), &cutoff, limit);
        let deleted = match exec_chunk(s, &text, params, deadline, stop).await {
            Ok(n) => n,
            Err(ChunkError::TooBig) if limit > 1 => {
                limit = (limit / 2).max(1);
                crate::warn!("chunk exceeded a Galera write-set limit; retrying with {limit} rows");
                continue;
            }
            Err(ChunkError::TooBig) => {
                return Err(DbError::Misconfigured(
                    "a single row exceeds wsrep_max_ws_rows or wsrep_max_ws_size: raise the limit".into(),
                ))
            }
            Err(ChunkError::Locked(msg)) => {
                crate::warn!("a chunk stayed locked by another transaction ({msg}); leaving it for the next flush");
                skipped_locked += u64::from(limit);
                match boundary {
                    Some(b) => {
                        cursor = Some(b);
                        continue;
                    }
                    None => break,
                }
            }
            Err(ChunkError::StatementTimeout) => return Ok(End::Budget),
            Err(ChunkError::Db(e)) => return Err(e),
        };
        if deleted > 0 {
            report.rows += deleted;
            report.chunks += 1;
            report.max_chunk_rows = report.max_chunk_rows.max(deleted);
            on_chunk(report.rows);
        }
        chunk_time = t0.elapsed();
        match boundary {
            Some(b) => cursor = Some(b),
            // No `limit`-th row: this was the tail of the backlog. A full tail means rows expired
            // concurrently; go round again from the same cursor.
            None if deleted < u64::from(limit) => break,
            None => {}
        }
        let mut pause = opts.sleep;
        if let Some(fc) = flow_control.as_mut() {
            pause = pause.max(fc.pause(s, deadline).await);
        }
        if !pause.is_zero() {
            tokio::time::sleep(deadline.remaining_or(pause)).await;
        }
    }
    Ok(if skipped_locked > 0 { End::SkippedLocked(skipped_locked) } else { End::Complete })
}

/// The order in which the engine visits expired rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// Along the expiry index: SELECT a chunk's keys, then DELETE them by primary key.
    Expiry,
    /// Along the primary key: InnoDB reads the clustered index in order, so a table far larger
    /// than the buffer pool is read sequentially instead of one random page per row.
    PrimaryKey,
}

impl Walk {
    pub fn from_name(name: &str) -> Option<Walk> {
        match name {
            "expiry" => Some(Walk::Expiry),
            "primary-key" => Some(Walk::PrimaryKey),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Walk::Expiry => "expiry",
            Walk::PrimaryKey => "primary-key",
        }
    }
}

/// Picks the walk from what the server can tell cheaply.
///
/// Walking the expiry index visits the clustered index in the ids' order, which is random: once
/// the table outgrows the buffer pool, nearly every expired row costs a page read. Walking the
/// primary key reads every page once, in order, expired rows or not. So the primary key wins when
/// the expected page misses of the expiry walk (expired rows times the share of the table that is
/// not cached) exceed the table's page count: a first flush of a neglected, large table. The
/// expiry index wins in the steady state, where a flush removes a small slice of a table that
/// fits in memory. Measured here with a 64 MB pool and a 300 MB table, half expired: 292k page
/// reads along the expiry index against 45k along the primary key.
///
/// A rule over several columns or with soft deletes (keystone-trust) has no single index to walk:
/// it always walks the primary key.
async fn choose_walk(
    s: &mut Session,
    plan: &TablePlan,
    pred: (&str, &[Value]),
    deadline: Deadline,
) -> Result<Walk, DbError> {
    if !plan.rule.is_simple() {
        return Ok(Walk::PrimaryKey);
    }
    if let Some(forced) = std::env::var("TOKENFLUSH_WALK").ok().and_then(|w| Walk::from_name(&w)) {
        return Ok(forced);
    }
    if plan.expiry_index.is_none() {
        return Ok(Walk::PrimaryKey);
    }
    let sizes: Option<(u64, u64, u64, u64)> = within(
        deadline,
        Duration::from_secs(5),
        "read table size",
        s.conn.exec_first(
            "SELECT DATA_LENGTH, INDEX_LENGTH, @@innodb_buffer_pool_size, @@innodb_page_size \
             FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (plan.table.as_str(),),
        ),
    )
    .await?;
    let Some((data, index, pool, page)) = sizes else { return Ok(Walk::Expiry) };
    if data + index <= pool {
        return Ok(Walk::Expiry);
    }
    let expired = estimate_rows_before(s, plan, pred, deadline).await.unwrap_or(0);
    let total = data + index;
    let walk = pick_walk(TableSize { data, index, pool, page }, expired);
    crate::info!(
        "table is {} MB against a {} MB buffer pool with ~{expired} expired rows: walking {}",
        total >> 20,
        pool >> 20,
        walk.name()
    );
    Ok(walk)
}

/// What `choose_walk` weighs, in bytes.
#[derive(Clone, Copy, Debug)]
pub struct TableSize {
    pub data: u64,
    pub index: u64,
    pub pool: u64,
    pub page: u64,
}

/// The primary key when the expiry walk's expected page misses (expired rows times the share of
/// the table not in the buffer pool) exceed the table's data pages; the expiry index otherwise.
pub fn pick_walk(size: TableSize, expired: u64) -> Walk {
    let total = size.data + size.index;
    if total <= size.pool || size.page == 0 {
        return Walk::Expiry;
    }
    let uncached = 1.0 - size.pool as f64 / total as f64;
    let pages = (size.data / size.page).max(1);
    if expired as f64 * uncached > pages as f64 {
        Walk::PrimaryKey
    } else {
        Walk::Expiry
    }
}

/// A chunk's position: the last (expiry, primary key) visited, or the last primary key.
#[derive(Clone, Debug)]
struct Cursor {
    pk: Value,
    exp: Option<Value>,
}

impl Cursor {
    /// From a row of `pk[, expiry]`.
    fn from_row(mut row: Row) -> Option<Cursor> {
        let pk = row.take::<Value, _>(0)?;
        let exp = if row.len() > 1 { row.take::<Value, _>(1) } else { None };
        Some(Cursor { pk, exp })
    }
}

/// The statements of one flush, rendered once from the table plan.
struct Statements {
    table: String,
    pk: String,
    exp: String,
    hint: String,
    pred: String,
}

impl Statements {
    /// `pred` is the rule's predicate ([`crate::rule::ExpiryRule::predicate`]); the expiry walk
    /// is only chosen for a simple rule, where it reads `expiry < ?`.
    fn new(plan: &TablePlan, pred: &str) -> Statements {
        Statements {
            table: plan.table.to_string(),
            pk: plan.pk.to_string(),
            exp: plan.expiry.to_string(),
            hint: plan.index_hint(),
            pred: pred.to_string(),
        }
    }

    /// `(after cursor)`, `(up to boundary)` and `ORDER BY` for the walk, with their parameters
    /// appended to `params` (the predicate's, which come first in the text).
    fn walk_clauses(
        &self,
        walk: Walk,
        after: Option<&Cursor>,
        upto: Option<&Cursor>,
        params: &mut Vec<Value>,
    ) -> (String, String) {
        let (pk, exp) = (&self.pk, &self.exp);
        let mut clauses = String::new();
        match walk {
            Walk::PrimaryKey => {
                if let Some(c) = after {
                    clauses.push_str(&format!(" AND {pk} > ?"));
                    params.push(c.pk.clone());
                }
                if let Some(c) = upto {
                    clauses.push_str(&format!(" AND {pk} <= ?"));
                    params.push(c.pk.clone());
                }
                (clauses, format!("ORDER BY {pk}"))
            }
            Walk::Expiry => {
                for (c, cmp, tie) in [(after, ">", ">"), (upto, "<", "<=")] {
                    if let Some(c) = c {
                        let e = c.exp.clone().unwrap_or(Value::NULL);
                        clauses.push_str(&format!(" AND ({exp} {cmp} ? OR ({exp} = ? AND {pk} {tie} ?))"));
                        params.extend([e.clone(), e, c.pk.clone()]);
                    }
                }
                (clauses, format!("ORDER BY {exp}, {pk}"))
            }
        }
    }

    /// The key of the `limit`-th row to delete after `cursor`.
    fn boundary(&self, walk: Walk, cursor: Option<&Cursor>, pred_params: &[Value], limit: u32) -> (String, Vec<Value>) {
        let mut params = pred_params.to_vec();
        let (clauses, order) = self.walk_clauses(walk, cursor, None, &mut params);
        let (cols, hint) = match walk {
            Walk::PrimaryKey => (self.pk.clone(), " FORCE INDEX (PRIMARY)".to_string()),
            Walk::Expiry => (format!("{}, {}", self.pk, self.exp), self.hint.clone()),
        };
        let offset = limit.saturating_sub(1);
        let sql = format!(
            "SELECT {cols} FROM {}{hint} WHERE {}{clauses} {order} LIMIT 1 OFFSET {offset}",
            self.table, self.pred
        );
        (sql, params)
    }

    /// Deletes the expired rows after `cursor` up to and including `upto` (to the end when
    /// `None`), never more than `limit`, re-checking the predicate on each row.
    fn delete_range(
        &self,
        walk: Walk,
        cursor: Option<&Cursor>,
        upto: Option<&Cursor>,
        pred_params: &[Value],
        limit: u32,
    ) -> (String, Vec<Value>) {
        let mut params = pred_params.to_vec();
        let (clauses, order) = self.walk_clauses(walk, cursor, upto, &mut params);
        (format!("DELETE FROM {} WHERE {}{clauses} {order} LIMIT {limit}", self.table, self.pred), params)
    }
}

async fn select_chunk(s: &mut Session, sql: &str, params: Vec<Value>, deadline: Deadline) -> Result<Vec<Row>, DbError> {
    let sql = bounded(s, sql, deadline);
    within(deadline, Duration::from_secs(30), "select a chunk", s.conn.exec(sql, params)).await
}

enum ChunkError {
    TooBig,
    Locked(String),
    StatementTimeout,
    Db(DbError),
}

/// Runs one chunk's write statement, retrying lock waits and deadlocks a few times with
/// back-off. Returns the number of rows it deleted.
///
/// A stop request ends the retries: the lock wait in progress runs out (bounded by
/// `innodb_lock_wait_timeout`), but the chunk is not tried again.
async fn exec_chunk(
    s: &mut Session,
    sql: &str,
    params: Vec<Value>,
    deadline: Deadline,
    stop: &Stop,
) -> Result<u64, ChunkError> {
    let params = Params::Positional(params);
    let mut attempt = 0;
    loop {
        let sql = bounded(s, sql, deadline);
        let result = within(deadline, Duration::from_secs(30), "delete a chunk", async {
            s.conn.exec_drop(sql, params.clone()).await?;
            Ok::<_, mysql_async::Error>(s.conn.affected_rows())
        })
        .await;
        match result {
            Ok(r) => return Ok(r),
            Err(e) => match e.server_code() {
                Some(code::WSREP_MAX_WS_ROWS) => return Err(ChunkError::TooBig),
                Some(code::WSREP_MAX_WS_SIZE) if e.to_string().contains("writeset") => return Err(ChunkError::TooBig),
                Some(code::LOCK_WAIT_TIMEOUT | code::DEADLOCK) if attempt < LOCK_RETRIES && !stop.requested() => {
                    attempt += 1;
                    let backoff = Duration::from_millis(50 << attempt);
                    if deadline.remaining().is_some_and(|r| r < backoff * 4) {
                        return Err(ChunkError::Locked(e.to_string()));
                    }
                    tokio::time::sleep(backoff).await;
                }
                Some(code::LOCK_WAIT_TIMEOUT | code::DEADLOCK) => return Err(ChunkError::Locked(e.to_string())),
                _ if is_statement_timeout(&e) => return Err(ChunkError::StatementTimeout),
                _ => return Err(ChunkError::Db(e)),
            },
        }
    }
}

/// On MariaDB, bounds the statement on the server too: a client that gives up on a hung
/// statement would otherwise leave it running there, holding its locks. The statement may also
/// wait on a row lock for at most half the time left (0: fail at once rather than wait), so a
/// lock met near the end of the budget ends the chunk as a lock timeout, which is retried or
/// skipped, instead of running into the client's timeout.
///
/// Both bounds are whole seconds: the statement text then changes at most once a second, so the
/// driver's prepared-statement cache keeps working across chunks. The client-side timeout still
/// holds the exact deadline.
fn bounded(s: &Session, sql: &str, deadline: Deadline) -> String {
    match (s.mariadb, deadline.remaining()) {
        (true, Some(left)) => format!(
            "SET STATEMENT max_statement_time={}, innodb_lock_wait_timeout={} FOR {sql}",
            left.as_secs_f64().ceil().max(1.0),
            (left.as_secs() / 2).min(s.lock_wait.as_secs())
        ),
        _ => sql.to_string(),
    }
}

fn is_statement_timeout(e: &DbError) -> bool {
    matches!(e.server_code(), Some(code::STATEMENT_TIMEOUT | code::QUERY_INTERRUPTED))
}

/// What `--dry-run` shows: how many rows a flush would delete now, and the oldest expiry.
pub async fn count_expired(
    s: &mut Session,
    plan: &TablePlan,
    grace: Duration,
    deadline: Deadline,
) -> Result<(u64, Option<String>, String), DbError> {
    let cutoff = server_cutoff(s, grace, deadline).await?;
    let (pred, params) = plan.rule.predicate(&cutoff);
    let sql = format!(
        "SELECT COUNT(*), CAST(MIN({shown}) AS CHAR) FROM {t}{hint} WHERE {pred}",
        shown = plan.rule.display_expr(),
        t = plan.table,
        hint = simple_hint(plan)
    );
    let row: Option<(u64, Option<String>)> =
        within(deadline, Duration::from_secs(3600), "count expired rows", s.conn.exec_first(sql, params)).await?;
    let (n, oldest) = row.unwrap_or((0, None));
    Ok((n, oldest, cutoff.text))
}

/// The expiry index hint, for a rule that one index can answer.
fn simple_hint(plan: &TablePlan) -> String {
    if plan.rule.is_simple() {
        plan.index_hint()
    } else {
        String::new()
    }
}

/// The optimizer's estimate of the rows the predicate selects. Without an index on a lone expiry
/// column the optimizer can only guess the table's size; such tables (trusts, say) are small
/// enough to count.
async fn estimate_rows_before(
    s: &mut Session,
    plan: &TablePlan,
    (pred, params): (&str, &[Value]),
    deadline: Deadline,
) -> Result<u64, DbError> {
    if !plan.rule.is_simple() || plan.expiry_index.is_none() {
        let sql = format!("SELECT COUNT(*) FROM {t} WHERE {pred}", t = plan.table);
        let n: Option<u64> =
            within(deadline, Duration::from_secs(10), "count backlog", s.conn.exec_first(sql, params.to_vec())).await?;
        return Ok(n.unwrap_or(0));
    }
    let sql = format!("EXPLAIN SELECT 1 FROM {t}{hint} WHERE {pred}", t = plan.table, hint = plan.index_hint());
    let row: Option<Row> =
        within(deadline, Duration::from_secs(10), "estimate backlog", s.conn.exec_first(sql, params.to_vec())).await?;
    Ok(row.and_then(|r| r.get_opt::<Option<u64>, _>("rows").and_then(Result::ok).flatten()).unwrap_or(0))
}

/// The optimizer's estimate of expired rows left: cheap, for `status` and metrics.
pub async fn estimate_backlog(
    s: &mut Session,
    plan: &TablePlan,
    grace: Duration,
    deadline: Deadline,
) -> Result<u64, DbError> {
    let cutoff = server_cutoff(s, grace, deadline).await?;
    let (pred, params) = plan.rule.predicate(&cutoff);
    estimate_rows_before(s, plan, (&pred, &params), deadline).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    #[test]
    fn a_table_that_fits_in_the_pool_walks_the_expiry_index() {
        let size = TableSize { data: 300 * MB, index: 60 * MB, pool: 2048 * MB, page: 16384 };
        assert_eq!(pick_walk(size, 150_000), Walk::Expiry);
    }

    #[test]
    fn a_big_neglected_table_walks_the_primary_key() {
        // 600k rows of ~2 KB against a 256 MB pool, half expired: the benchmark's I/O-bound regime.
        let size = TableSize { data: 1200 * MB, index: 150 * MB, pool: 256 * MB, page: 16384 };
        assert_eq!(pick_walk(size, 300_000), Walk::PrimaryKey);
    }

    #[test]
    fn a_big_table_with_a_small_backlog_walks_the_expiry_index() {
        // The steady state: a flush every few minutes removes a thin slice.
        let size = TableSize { data: 1200 * MB, index: 150 * MB, pool: 256 * MB, page: 16384 };
        assert_eq!(pick_walk(size, 5_000), Walk::Expiry);
    }

    #[test]
    fn long_lock_names_are_shortened_but_stay_distinct() {
        let plan = |t: &str| TablePlan {
            table: crate::config::Ident::parse("table", t).unwrap(),
            expiry: crate::config::Ident::parse("c", "expires").unwrap(),
            pk: crate::config::Ident::parse("c", "id").unwrap(),
            rule: crate::rule::ExpiryRule { expiry: vec![], deleted: vec![] },
            expiry_index: None,
            avg_row_length: 0,
        };
        let a = lock_name(&"s".repeat(60), &plan("token"));
        let b = lock_name(&"s".repeat(60), &plan("trust"));
        assert!(a.len() <= 64 && b.len() <= 64);
        assert_ne!(a, b);
        assert_eq!(lock_name("keystone", &plan("token")), "tokenflush.keystone.token");
    }
}
