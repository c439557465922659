//! Benchmark helpers for tokenflush (see bench/README.md).
//!
//! `loadgen load`            Keystone-like live traffic at a fixed rate; one CSV line per operation.
//! `loadgen keystone-offset` Keystone's token_flush as it was from Pike to Queens (one transaction per
//!                           batch), or with `--single-trx` as from Juno to Ocata (all batches in one).
//! `loadgen limit-loop`      the naive `DELETE … WHERE expires < :now LIMIT n` loop, autocommit.
//! `loadgen sample`          every --interval-ms: Handler_delete (rows deleted), the purge history length,
//!                           the largest trx_rows_modified in information_schema.innodb_trx, the
//!                           delete-marked records purged so far and, with --file, the size and inode
//!                           of the table's .ibd file (CSV).
//!
//! `loadgen purge-wait`      returns once InnoDB's history list length is at most --history: polls it
//!                           every --poll-ms on one connection, while another wakes the purge threads
//!                           (`SET GLOBAL innodb_max_purge_lag_wait`, which on its own only looks every
//!                           100 ms, too coarse for the small flushes of the steady state).
//!
//! The two peers print one JSON object on stdout, like `tokenflush flush --json`.

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn usage() -> ! {
    eprintln!(
        "usage:\n  loadgen load --url URL [--rate OPS_PER_S] [--conns N] [--out CSV] [--ready-file F] [--max-seconds S]\n  \
         loadgen keystone-offset --url URL [--batch N] [--single-trx]\n  \
         loadgen limit-loop --url URL [--batch N] [--isolation read-committed|repeatable-read]\n  \
         loadgen sample --url URL [--interval-ms MS] [--out CSV] [--ready-file F] [--max-seconds S] [--file IBD]\n  \
         loadgen purge-wait --url URL [--history N] [--poll-ms MS] [--max-seconds S]"
    );
    std::process::exit(2)
}

struct Args {
    cmd: String,
    url: String,
    rate: f64,
    conns: usize,
    out: Option<String>,
    ready_file: Option<String>,
    max_seconds: f64,
    batch: u64,
    single_trx: bool,
    isolation: String,
    interval_ms: u64,
    file: Option<String>,
    history: u64,
    poll_ms: u64,
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().unwrap_or_else(|| usage());
    let mut a = Args {
        cmd,
        url: String::new(),
        rate: 200.0,
        conns: 4,
        out: None,
        ready_file: None,
        max_seconds: 1800.0,
        batch: 1000,
        single_trx: false,
        isolation: "read-committed".into(),
        interval_ms: 100,
        file: None,
        history: 0,
        poll_ms: 5,
    };
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| usage());
        match k.as_str() {
            "--url" => a.url = v(),
            "--rate" => a.rate = v().parse().unwrap_or_else(|_| usage()),
            "--conns" => a.conns = v().parse().unwrap_or_else(|_| usage()),
            "--out" => a.out = Some(v()),
            "--ready-file" => a.ready_file = Some(v()),
            "--max-seconds" => a.max_seconds = v().parse().unwrap_or_else(|_| usage()),
            "--batch" => a.batch = v().parse().unwrap_or_else(|_| usage()),
            "--isolation" => a.isolation = v(),
            "--single-trx" => a.single_trx = true,
            "--interval-ms" => a.interval_ms = v().parse().unwrap_or_else(|_| usage()),
            "--file" => a.file = Some(v()),
            "--history" => a.history = v().parse().unwrap_or_else(|_| usage()),
            "--poll-ms" => a.poll_ms = v().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if a.url.is_empty() || a.conns == 0 || a.rate <= 0.0 || a.batch == 0 {
        usage()
    }
    a
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = parse_args();
    let r = match a.cmd.as_str() {
        "load" => load(&a).await,
        "keystone-offset" => keystone_offset(&a).await,
        "limit-loop" => limit_loop(&a).await,
        "sample" => sample(&a).await,
        "purge-wait" => purge_wait(&a).await,
        _ => usage(),
    };
    if let Err(e) = r {
        eprintln!("loadgen {}: {e}", a.cmd);
        std::process::exit(1);
    }
}

async fn connect(url: &str) -> Res<Conn> {
    Ok(Conn::new(Opts::from_url(url)?).await?)
}

fn epoch_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// splitmix64: ids and choices need to be random-looking, not cryptographic.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(n);
        s
    }
}

// ---------------------------------------------------------------- the live load

struct Sample {
    epoch_us: u64,
    conn: usize,
    op: &'static str,
    lat_us: u64, // completion minus the time the operation was due (includes queueing behind a stall)
    svc_us: u64, // completion minus the time it was actually sent
    ok: bool,
}

async fn load(a: &Args) -> Res<()> {
    // Tokens to look up: a sample of live ones already in the table, plus every token this run inserts.
    let mut c0 = connect(&a.url).await?;
    let ids: Vec<String> =
        c0.query("SELECT id FROM token WHERE expires > UTC_TIMESTAMP() LIMIT 5000").await?;
    c0.disconnect().await?;
    let ids = Arc::new(Mutex::new(ids));
    let mut conns = Vec::new();
    for _ in 0..a.conns {
        conns.push(connect(&a.url).await?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let period = Duration::from_secs_f64(a.conns as f64 / a.rate);
    let t0 = Instant::now() + Duration::from_millis(50);
    let deadline = t0 + Duration::from_secs_f64(a.max_seconds);
    let seed = epoch_us();
    let mut tasks = Vec::new();
    for (i, mut conn) in conns.into_iter().enumerate() {
        let ids = ids.clone();
        let stop = stop.clone();
        let errors = errors.clone();
        let offset = period.mul_f64(i as f64 / a.conns as f64);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(seed ^ ((i as u64 + 1) * 0x1234_5678_9abc));
            let pad = rng.hex(900);
            let mut out = Vec::new();
            let mut k: u64 = 0;
            loop {
                let due = t0 + offset + period.mul_f64(k as f64);
                if stop.load(Ordering::Relaxed) || due >= deadline {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let insert = (k + i as u64) % 2 == 0;
                let sent = Instant::now();
                let ok = if insert {
                    let id = rng.hex(32); // uuid4().hex, as Keystone's UUID tokens
                    let user = rng.hex(32);
                    let extra = format!(
                        "{{\"token_data\": {{\"token\": {{\"methods\": [\"password\"], \"user\": {{\"id\": \"{user}\"}}, \"audit_ids\": [\"{pad}\"]}}}}}}"
                    );
                    let r = conn
                        .exec_drop(
                            "INSERT INTO token (id, expires, extra, valid, trust_id, user_id) \
                             VALUES (?, UTC_TIMESTAMP() + INTERVAL 1 HOUR, ?, 1, NULL, ?)",
                            (id.clone(), extra, user),
                        )
                        .await;
                    if r.is_ok() {
                        ids.lock().unwrap().push(id);
                    }
                    r.is_ok()
                } else {
                    let id = {
                        let v = ids.lock().unwrap();
                        if v.is_empty() {
                            rng.hex(32)
                        } else {
                            v[(rng.next() % v.len() as u64) as usize].clone()
                        }
                    };
                    conn.exec_first::<(String, Option<Value>, Option<String>, i64), _, _>(
                        "SELECT id, expires, extra, valid FROM token WHERE id = ?",
                        (id,),
                    )
                    .await
                    .is_ok()
                };
                let done = Instant::now();
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                out.push(Sample {
                    epoch_us: epoch_us(),
                    conn: i,
                    op: if insert { "insert" } else { "select" },
                    lat_us: done.saturating_duration_since(due).as_micros() as u64,
                    svc_us: done.saturating_duration_since(sent).as_micros() as u64,
                    ok,
                });
                k += 1;
            }
            let _ = conn.disconnect().await;
            out
        }));
    }
    if let Some(f) = &a.ready_file {
        std::fs::write(f, format!("{}\n", epoch_us()))?;
    }
    // Run until SIGTERM/SIGINT or --max-seconds, whichever comes first.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = tokio::time::sleep_until(deadline.into()) => {}
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    all.sort_by_key(|s| s.epoch_us);
    let mut csv = String::from("epoch_us,conn,op,lat_us,svc_us,ok\n");
    for s in &all {
        csv.push_str(&format!(
            "{},{},{},{},{},{}\n",
            s.epoch_us, s.conn, s.op, s.lat_us, s.svc_us, s.ok as u8
        ));
    }
    match &a.out {
        Some(f) => std::fs::write(f, csv)?,
        None => print!("{csv}"),
    }
    eprintln!("loadgen: {} operations, {} errors", all.len(), errors.load(Ordering::Relaxed));
    Ok(())
}

// ---------------------------------------------------------------- the chunked peers

fn report(method: &str, rows: u64, chunks: u64, max_stmt: u64, max_trx: u64, t: Instant) {
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{{\"method\": \"{method}\", \"rows_deleted\": {rows}, \"chunks\": {chunks}, \"seconds\": {secs:.3}, \
         \"max_rows_per_statement\": {max_stmt}, \"max_rows_per_transaction\": {max_trx}, \"complete\": true}}"
    );
}

/// keystone/token/persistence/backends/sql.py after LP 1649616 (Pike–Queens): `now` is fixed once;
/// each batch's upper bound is the expires of the batch_size-th oldest expired token; the batch
/// deletes `expires <= boundary` and commits; when fewer than batch_size remain, one last delete up
/// to `now`. The boundary SELECT and its DELETE run in the same transaction, as the SQLAlchemy
/// session did, under the server's default isolation. With --single-trx every batch runs inside one
/// transaction, as before that fix (Juno–Ocata).
async fn keystone_offset(a: &Args) -> Res<()> {
    let t = Instant::now();
    let mut c = connect(&a.url).await?;
    let now: Value = c.query_first("SELECT UTC_TIMESTAMP()").await?.ok_or("no UTC_TIMESTAMP")?;
    let now = now.as_sql(false);
    // Text protocol with the values inlined, as PyMySQL under SQLAlchemy sends them.
    let sel = format!(
        "SELECT token.expires FROM token WHERE token.expires < {now} ORDER BY token.expires LIMIT 1 OFFSET {}",
        a.batch - 1
    );
    let (mut rows, mut chunks, mut max_stmt, mut trx_rows, mut max_trx) = (0u64, 0u64, 0u64, 0u64, 0u64);
    c.query_drop("SET autocommit = 0").await?;
    loop {
        let boundary: Option<Value> = c.query_first(sel.as_str()).await?;
        let last = boundary.is_none();
        match boundary {
            Some(b) => c.query_drop(format!("DELETE FROM token WHERE token.expires <= {}", b.as_sql(false))).await?,
            None => c.query_drop(format!("DELETE FROM token WHERE token.expires < {now}")).await?,
        }
        let n = c.affected_rows();
        rows += n;
        chunks += 1;
        max_stmt = max_stmt.max(n);
        trx_rows += n;
        if !a.single_trx {
            c.query_drop("COMMIT").await?;
            max_trx = max_trx.max(trx_rows);
            trx_rows = 0;
        }
        if last {
            break;
        }
    }
    c.query_drop("COMMIT").await?;
    max_trx = max_trx.max(trx_rows);
    c.disconnect().await?;
    let name = if a.single_trx { "keystone-juno" } else { "keystone-offset" };
    report(name, rows, chunks, max_stmt, max_trx, t);
    Ok(())
}

/// `DELETE FROM token WHERE expires < :now LIMIT n`, autocommit, until a statement deletes nothing.
async fn limit_loop(a: &Args) -> Res<()> {
    let t = Instant::now();
    let mut c = connect(&a.url).await?;
    let iso = match a.isolation.as_str() {
        "read-committed" => "READ COMMITTED",
        "repeatable-read" => "REPEATABLE READ",
        _ => usage(),
    };
    c.query_drop(format!("SET SESSION TRANSACTION ISOLATION LEVEL {iso}")).await?;
    let now: Value = c.query_first("SELECT UTC_TIMESTAMP()").await?.ok_or("no UTC_TIMESTAMP")?;
    let del = format!("DELETE FROM token WHERE expires < {} LIMIT {}", now.as_sql(false), a.batch);
    let (mut rows, mut chunks, mut max) = (0u64, 0u64, 0u64);
    loop {
        c.query_drop(del.as_str()).await?;
        let n = c.affected_rows();
        chunks += 1;
        rows += n;
        max = max.max(n);
        if n == 0 {
            break;
        }
    }
    c.disconnect().await?;
    report("limit-loop", rows, chunks, max, max, t);
    Ok(())
}

// ---------------------------------------------------------------- the server sampler

/// Polls the server until SIGTERM/SIGINT or --max-seconds. `max_trx_rows` is the largest
/// trx_rows_modified of any open transaction at that instant: a lower bound on the real maximum
/// (a transaction that starts and commits between two samples is missed), used as a cross-check of
/// the exact figure from performance_schema.
async fn sample(a: &Args) -> Res<()> {
    let mut c = connect(&a.url).await?;
    let mut out = String::from("epoch_us,rows_deleted,history_length,max_trx_rows,rows_purged,file_bytes,file_ino\n");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let deadline = Instant::now() + Duration::from_secs_f64(a.max_seconds);
    let mut tick = tokio::time::interval(Duration::from_millis(a.interval_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ready = a.ready_file.clone();
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {}
        }
        if Instant::now() >= deadline {
            break;
        }
        // One round trip: rows deleted (Handler_delete), purge history length, delete-marked
        // records purged so far (INNODB_METRICS purge_del_mark_records, enabled by bench.sh),
        // and the largest open transaction.
        let row: Option<(Option<String>, Option<String>, Option<u64>, Option<u64>)> = c
            .query_first(
                "SELECT (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'HANDLER_DELETE'), \
                        (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_HISTORY_LIST_LENGTH'), \
                        (SELECT `COUNT` FROM information_schema.INNODB_METRICS WHERE NAME = 'purge_del_mark_records'), \
                        (SELECT COALESCE(MAX(trx_rows_modified), 0) FROM information_schema.innodb_trx)",
            )
            .await?;
        let (del, hist, purged, maxtrx) = row.unwrap_or((None, None, None, None));
        // The table's file as the file system sees it: its size, and its inode, which changes when
        // a rebuild (OPTIMIZE TABLE, a rename swap) replaces it. -1 while the name is missing.
        let (bytes, ino) = match a.file.as_deref().map(std::fs::metadata) {
            Some(Ok(m)) => {
                use std::os::unix::fs::MetadataExt;
                (m.len() as i64, m.ino() as i64)
            }
            Some(Err(_)) => (-1, -1),
            None => (0, 0),
        };
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            epoch_us(),
            del.unwrap_or_default(),
            hist.unwrap_or_default(),
            maxtrx.unwrap_or(0),
            purged.unwrap_or(0),
            bytes,
            ino
        ));
        if let Some(f) = ready.take() {
            std::fs::write(f, format!("{}\n", epoch_us()))?;
        }
    }
    let _ = c.disconnect().await;
    match &a.out {
        Some(f) => std::fs::write(f, out)?,
        None => print!("{out}"),
    }
    Ok(())
}

// ---------------------------------------------------------------- waiting for purge

async fn history_length(c: &mut Conn) -> Res<u64> {
    let v: Option<String> = c
        .query_first("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_HISTORY_LIST_LENGTH'")
        .await?;
    Ok(v.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
}

/// Returns once `Innodb_history_list_length` is at most `--history` (the value before the method:
/// purge has caught up with everything the method committed). Fails after --max-seconds.
async fn purge_wait(a: &Args) -> Res<()> {
    let t = Instant::now();
    let mut c = connect(&a.url).await?;
    let first = history_length(&mut c).await?;
    if first <= a.history {
        c.disconnect().await?;
        println!(
            "{{\"history_start\": {first}, \"seconds\": {:.3}, \"done_epoch_us\": {}}}",
            t.elapsed().as_secs_f64(),
            epoch_us()
        );
        return Ok(());
    }
    // The nudger: the server's own wait wakes the purge coordinator every 100 ms until the
    // history is down to the limit, then returns; it runs beside the fine-grained poll below.
    let mut nudge = connect(&a.url).await?;
    let limit = a.history;
    let nudger = tokio::spawn(async move {
        let r = nudge.query_drop(format!("SET GLOBAL innodb_max_purge_lag_wait = {limit}")).await;
        let _ = nudge.disconnect().await;
        r
    });
    let deadline = t + Duration::from_secs_f64(a.max_seconds);
    let mut last;
    loop {
        tokio::time::sleep(Duration::from_millis(a.poll_ms.max(1))).await;
        last = history_length(&mut c).await?;
        if last <= a.history {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!("history list still {last} after {} s", a.max_seconds).into());
        }
    }
    let (secs, done) = (t.elapsed().as_secs_f64(), epoch_us());
    // The nudger's statement ends by itself at its next look (history is at the limit now):
    // do not wait up to 100 ms for it.
    nudger.abort();
    println!("{{\"history_start\": {first}, \"history_end\": {last}, \"seconds\": {secs:.3}, \"done_epoch_us\": {done}}}");
    let _ = c.disconnect().await;
    Ok(())
}
