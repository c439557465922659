//! The chunked purge.
//!
//! A flush reads the cutoff once from the server's clock (`UTC_TIMESTAMP() - grace`, never
//! `NOW()` and never this node's clock), takes a named lock so that only one flusher works on a
//! table at a time, and then walks the expiry index in `(expiry, primary key)` order. Each chunk
//! is two statements: a SELECT of at most `batch_size` keys past the previous chunk's last key,
//! and a DELETE of exactly those keys (sorted, so InnoDB visits the clustered index in order)
//! that re-checks the expiry, so a row that was changed in between is never removed. Each DELETE
//! commits on its own (autocommit): no transaction grows with the backlog, and a kill at any
//! moment loses at most one chunk's work, which the next flush redoes.
//!
//! Walking forward from the last key, rather than repeating `DELETE … LIMIT n` from the start,
//! keeps every chunk from rescanning the index entries earlier chunks deleted but InnoDB has not
//! purged yet; and it makes progress however many rows share one expiry value (Keystone's
//! LP 1387401 infinite loop).
//!
//! The engine knows nothing about OCF. It takes a connection, a table plan, a deadline and a stop
//! flag, and reports what it did; the monitor and the one-shot CLI both drive it.

use std::cmp::Ordering;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Params, Row, Value};

use crate::db::{code, within, DbError, Deadline, Session};
use crate::table::TablePlan;

/// Set by a signal handler; the engine stops at the next chunk boundary.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }
    pub fn request(&self) {
        self.0.store(true, AtomicOrdering::SeqCst)
    }
    pub fn requested(&self) -> bool {
        self.0.load(AtomicOrdering::SeqCst)
    }
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

/// Reads `UTC_TIMESTAMP() - grace` from the server, once per flush.
pub async fn server_cutoff(s: &mut Session, grace: Duration, deadline: Deadline) -> Result<(Value, String), DbError> {
    let row: Option<(Value, String)> = within(
        deadline,
        Duration::from_secs(10),
        "read the server clock",
        s.conn.exec_first(
            "SELECT UTC_TIMESTAMP() - INTERVAL ? SECOND, CAST(UTC_TIMESTAMP() - INTERVAL ? SECOND AS CHAR)",
            (grace.as_secs(), grace.as_secs()),
        ),
    )
    .await?;
    row.ok_or_else(|| DbError::Unreachable("the server returned no time".into()))
}

/// The largest chunk Galera accepts: `wsrep_max_ws_rows` and `wsrep_max_ws_size` are permanent
/// limits (errors 1180 and 1105), so retrying an oversized chunk unchanged would loop forever.
async fn galera_cap(s: &mut Session, plan: &TablePlan, deadline: Deadline) -> Result<Option<u32>, DbError> {
    let vars: Vec<(String, String)> = within(
        deadline,
        Duration::from_secs(10),
        "read wsrep limits",
        s.conn.query("SHOW VARIABLES WHERE Variable_name IN ('wsrep_on', 'wsrep_max_ws_rows', 'wsrep_max_ws_size')"),
    )
    .await?;
    let get = |n: &str| vars.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str());
    if !get("wsrep_on").is_some_and(|v| v.eq_ignore_ascii_case("ON")) {
        return Ok(None);
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
    Ok(cap.map(|c| c.min(u64::from(u32::MAX)) as u32))
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
    let (cutoff, cutoff_text) = server_cutoff(s, opts.grace, deadline).await?;
    report.cutoff = cutoff_text;

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
    if let Some(cap) = galera_cap(s, plan, deadline).await? {
        if cap < limit {
            crate::info!("chunks limited to {cap} rows by wsrep_max_ws_rows/wsrep_max_ws_size");
            limit = cap;
        }
    }

    let first_sql = format!(
        "SELECT {pk}, {exp} FROM {t}{hint} WHERE {exp} < ? ORDER BY {exp}, {pk} LIMIT ",
        pk = plan.pk,
        exp = plan.expiry,
        t = plan.table,
        hint = plan.index_hint()
    );
    let next_sql = format!(
        "SELECT {pk}, {exp} FROM {t}{hint} WHERE {exp} < ? AND ({exp} > ? OR ({exp} = ? AND {pk} > ?)) ORDER BY {exp}, {pk} LIMIT ",
        pk = plan.pk,
        exp = plan.expiry,
        t = plan.table,
        hint = plan.index_hint()
    );
    let mut cursor: Option<(Value, Value)> = None;
    let mut chunk_time = Duration::from_millis(50);
    let mut skipped_locked = 0u64;

    loop {
        if stop.requested() {
            return Ok(End::Stopped);
        }
        // Stop with margin: a chunk may take several times the last one's duration.
        if let Some(left) = deadline.remaining() {
            if left < chunk_time * 3 + Duration::from_millis(100) {
                return Ok(End::Budget);
            }
        }
        let t0 = Instant::now();
        let (sql, params): (String, Vec<Value>) = match &cursor {
            None => (format!("{first_sql}{limit}"), vec![cutoff.clone()]),
            Some((exp, pk)) => {
                (format!("{next_sql}{limit}"), vec![cutoff.clone(), exp.clone(), exp.clone(), pk.clone()])
            }
        };
        let rows: Vec<Row> = match within(
            deadline,
            Duration::from_secs(30),
            "select a chunk",
            s.conn.exec(bounded(s, &sql, deadline), params),
        )
        .await
        {
            Ok(r) => r,
            Err(e) if is_statement_timeout(&e) => return Ok(End::Budget),
            Err(e) => return Err(e),
        };
        if rows.is_empty() {
            break;
        }
        let mut keys: Vec<Value> = Vec::with_capacity(rows.len());
        let mut last: Option<(Value, Value)> = None;
        for mut row in rows {
            let (Some(pk), Some(exp)) = (row.take::<Value, _>(0), row.take::<Value, _>(1)) else {
                return Err(DbError::Server(0, "a chunk row came back without its key".into()));
            };
            last = Some((exp, pk.clone()));
            keys.push(pk);
        }
        keys.sort_by(value_order);
        let n = keys.len();

        match delete_keys(s, plan, &keys, &cutoff, deadline).await {
            Ok(deleted) => {
                report.rows += deleted;
                report.chunks += 1;
                report.max_chunk_rows = report.max_chunk_rows.max(deleted);
                cursor = last;
                on_chunk(report.rows);
            }
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
                crate::warn!("{n} rows stayed locked by another transaction ({msg}); leaving them for the next flush");
                skipped_locked += n as u64;
                cursor = last;
            }
            Err(ChunkError::StatementTimeout) => return Ok(End::Budget),
            Err(ChunkError::Db(e)) => return Err(e),
        }
        chunk_time = t0.elapsed();
        if n < limit as usize {
            break;
        }
        if !opts.sleep.is_zero() {
            tokio::time::sleep(deadline.remaining_or(opts.sleep)).await;
        }
    }
    Ok(if skipped_locked > 0 { End::SkippedLocked(skipped_locked) } else { End::Complete })
}

enum ChunkError {
    TooBig,
    Locked(String),
    StatementTimeout,
    Db(DbError),
}

/// Deletes one chunk's keys, retrying lock waits and deadlocks a few times with back-off.
async fn delete_keys(
    s: &mut Session,
    plan: &TablePlan,
    keys: &[Value],
    cutoff: &Value,
    deadline: Deadline,
) -> Result<u64, ChunkError> {
    let marks = vec!["?"; keys.len()].join(",");
    let sql = format!(
        "DELETE FROM {t} WHERE {pk} IN ({marks}) AND {exp} < ?",
        t = plan.table,
        pk = plan.pk,
        exp = plan.expiry
    );
    let mut params: Vec<Value> = keys.to_vec();
    params.push(cutoff.clone());
    let params = Params::Positional(params);
    let mut attempt = 0;
    loop {
        let sql = bounded(s, &sql, deadline);
        let result = within(deadline, Duration::from_secs(30), "delete a chunk", async {
            s.conn.exec_drop(sql, params.clone()).await?;
            Ok::<u64, mysql_async::Error>(s.conn.affected_rows())
        })
        .await;
        match result {
            Ok(n) => return Ok(n),
            Err(e) => match e.server_code() {
                Some(code::WSREP_MAX_WS_ROWS) => return Err(ChunkError::TooBig),
                Some(code::WSREP_MAX_WS_SIZE) if e.to_string().contains("writeset") => return Err(ChunkError::TooBig),
                Some(code::LOCK_WAIT_TIMEOUT | code::DEADLOCK) if attempt < LOCK_RETRIES => {
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
/// statement would otherwise leave it running there, holding its locks.
fn bounded(s: &Session, sql: &str, deadline: Deadline) -> String {
    match (s.mariadb, deadline.remaining()) {
        (true, Some(left)) => format!("SET STATEMENT max_statement_time={:.3} FOR {sql}", left.as_secs_f64().max(0.1)),
        _ => sql.to_string(),
    }
}

fn is_statement_timeout(e: &DbError) -> bool {
    matches!(e.server_code(), Some(code::STATEMENT_TIMEOUT | code::QUERY_INTERRUPTED))
}

/// Orders primary-key values the way InnoDB stores them, closely enough for locality: numbers
/// numerically, strings byte-wise. The order only affects speed, never which rows go.
fn value_order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::UInt(x), Value::UInt(y)) => x.cmp(y),
        (Value::Bytes(x), Value::Bytes(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// What `--dry-run` shows: how many rows a flush would delete now, and the oldest expiry.
pub async fn count_expired(
    s: &mut Session,
    plan: &TablePlan,
    grace: Duration,
    deadline: Deadline,
) -> Result<(u64, Option<String>, String), DbError> {
    let (cutoff, cutoff_text) = server_cutoff(s, grace, deadline).await?;
    let sql = format!(
        "SELECT COUNT(*), CAST(MIN({exp}) AS CHAR) FROM {t}{hint} WHERE {exp} < ?",
        exp = plan.expiry,
        t = plan.table,
        hint = plan.index_hint()
    );
    let row: Option<(u64, Option<String>)> =
        within(deadline, Duration::from_secs(3600), "count expired rows", s.conn.exec_first(sql, (cutoff,))).await?;
    let (n, oldest) = row.unwrap_or((0, None));
    Ok((n, oldest, cutoff_text))
}

/// The optimizer's estimate of expired rows left: cheap, for `status` and metrics.
pub async fn estimate_backlog(
    s: &mut Session,
    plan: &TablePlan,
    grace: Duration,
    deadline: Deadline,
) -> Result<u64, DbError> {
    let (cutoff, _) = server_cutoff(s, grace, deadline).await?;
    let sql = format!(
        "EXPLAIN SELECT 1 FROM {t}{hint} WHERE {exp} < ?",
        exp = plan.expiry,
        t = plan.table,
        hint = plan.index_hint()
    );
    let row: Option<Row> =
        within(deadline, Duration::from_secs(10), "estimate backlog", s.conn.exec_first(sql, (cutoff,))).await?;
    Ok(row.and_then(|r| r.get_opt::<Option<u64>, _>("rows").and_then(Result::ok).flatten()).unwrap_or(0))
}
