//! Hostile conditions a production database can present, as black-box regressions: a server that
//! imposes its own session state, a connection charset narrower than the table's, an index the
//! hint cannot use, a concurrent insert into the chunk being deleted, rows of several megabytes,
//! and one implausible value in a table of good ones. Each test drives the real binary
//! (`tokenflush flush ... --json`) and checks the table from a second connection.
//!
//! Each of these failed on the engine before its fix (the tests were committed first, in
//! 7e98e7b and in the commits that added the later ones): each doc comment says what an
//! operator lost.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{server, start_server, Agent, Run, Server, TestDb};

const WALKS: [&str; 2] = ["expiry", "primary-key"];

fn leak(s: Server) -> &'static Server {
    Box::leak(Box::new(s))
}

/// Forces the walk of a flush (`--walk`).
fn with_walk(a: Agent, args: &mut Vec<String>, walk: &str) -> Agent {
    args.extend(["--walk".into(), walk.into()]);
    a
}

/// The agent and argv of `tokenflush flush --connection URL --json EXTRA...`, on `walk` when
/// given (the engine's own choice otherwise).
fn flush_cmd(url: &str, walk: Option<&str>, extra: &[&str]) -> (Agent, Vec<String>) {
    let mut args: Vec<String> = ["flush", "--json", "--connection", url].iter().map(|s| s.to_string()).collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let a = Agent::new();
    let a = match walk {
        Some(w) => with_walk(a, &mut args, w),
        None => a,
    };
    (a, args)
}

fn flush(url: &str, walk: Option<&str>, extra: &[&str]) -> Run {
    let (a, args) = flush_cmd(url, walk, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    a.run_args(&args)
}

/// Runs a flush, SIGKILLing it if it is still running after `limit`; `true` when it had to be
/// killed.
fn flush_bounded(url: &str, walk: Option<&str>, extra: &[&str], limit: Duration) -> (Run, bool) {
    let (a, args) = flush_cmd(url, walk, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut s = a.spawn(&args);
    loop {
        if s.child.try_wait().expect("poll tokenflush").is_some() {
            return (s.wait(), false);
        }
        if s.started.elapsed() > limit {
            s.signal("-KILL");
            return (s.wait(), true);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The JSON summary of a flush that printed one.
fn summary(r: &Run) -> serde_json::Value {
    serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("no JSON summary ({e}): {r:?}"))
}

/// A user with only what Keystone's own database user has on its database (no SUPER, so the
/// server's `init_connect` applies to it, as it does to every OpenStack service user). The
/// flush needs no more: it reads `information_schema`, which shows an ordinary user the tables
/// it has privileges on, and `GET_LOCK` needs no privilege.
fn service_user(db: &TestDb, user: &str) -> String {
    db.server.sql(
        None,
        &format!(
            "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'pw'; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON `{db}`.* TO '{user}'@'%'",
            db = db.name
        ),
    );
    db.server.url(user, "pw", &db.name)
}

fn count(db: &TestDb, table: &str, cond: &str) -> u64 {
    db.sql(&format!("SET time_zone = '+00:00'; SELECT COUNT(*) FROM {table} WHERE {cond}")).parse().expect("a count")
}

// ---------------------------------------------------------------------------------------------
// 1. Session state the server imposes through init_connect
// ---------------------------------------------------------------------------------------------

/// Runs a flush of the token table as an ordinary user on a server whose `init_connect` is
/// `init`, and checks from a second connection that exactly the expired rows went and that the
/// summary told the truth.
fn flush_under_init_connect(srv: &'static Server, name: &str, init: &str) {
    srv.sql(None, &format!("SET GLOBAL init_connect = '{}'", init.replace('\'', "''")));
    let db = srv.fresh_db(name);
    db.fill(500, 5);
    let url = service_user(&db, &format!("ks_{}", &name[..name.len().min(20)]));
    let r = flush(&url, None, &["--batch-size", "50"]);
    assert_eq!(r.code, 0, "init_connect {init:?}: {r:?}");
    let v = summary(&r);
    let left = db.expired();
    assert_eq!(
        left, 0,
        "init_connect {init:?}: the flush reported {} rows deleted, but a second connection still sees \
         {left} of the 500 expired rows: {v}",
        v["rows_deleted"]
    );
    assert_eq!(v["rows_deleted"], 500, "init_connect {init:?}: {v}");
    assert_eq!(v["complete"], true, "init_connect {init:?}: {v}");
    assert_eq!(db.live(), 500, "init_connect {init:?}: a live row was deleted");
    assert_eq!(db.nulls(), 5, "init_connect {init:?}: a NULL-expiry row was deleted");
}

/// A DBA who sets `init_connect = 'SET autocommit=0'` (some DBAs' idea of safety; a proxy can
/// do the same) turns every chunk into part of one transaction that is never committed: the
/// flush counts the rows the DELETEs matched, exits 0, disconnects, and the server rolls it all
/// back. The operator sees "deleted 500 rows", the table never shrinks, and every run redoes the
/// same work inside the one ever-growing transaction, holding every deleted row's lock until it
/// disconnects, that chunking exists to avoid. A flush must commit what it reports.
#[test]
fn a_server_that_turns_autocommit_off_still_gets_every_chunk_committed() {
    let srv = leak(start_server(&["--init-connect=SET autocommit=0"]));
    flush_under_init_connect(srv, "autocommit_off", "SET autocommit=0");
}

/// `init_connect` raising the isolation to SERIALIZABLE would turn the flush's reads into
/// locking reads with gap locks, blocking Keystone's token inserts for the length of each chunk;
/// the flush must still delete exactly the expired rows (and keeps its own READ COMMITTED).
#[test]
fn a_server_imposed_serializable_isolation_deletes_exactly_the_expired_rows() {
    let init = "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE";
    let srv = leak(start_server(&[&format!("--init-connect={init}")]));
    flush_under_init_connect(srv, "serializable", init);
}

/// SQL modes a server may impose (ANSI quoting, Oracle and MSSQL compatibility, strict modes,
/// padding, empty strings as NULL) must not change which rows go: the engine's statements mean
/// the same thing under each.
#[test]
fn a_server_imposed_sql_mode_deletes_exactly_the_expired_rows() {
    let modes = [
        "ORACLE",
        "ANSI",
        "MSSQL",
        "TRADITIONAL,NO_BACKSLASH_ESCAPES",
        "PAD_CHAR_TO_FULL_LENGTH,EMPTY_STRING_IS_NULL,TIME_ROUND_FRACTIONAL",
    ];
    let srv = leak(start_server(&[&format!("--init-connect=SET sql_mode='{}'", modes[0])]));
    for (i, mode) in modes.iter().enumerate() {
        flush_under_init_connect(srv, &format!("sql_mode_{i}"), &format!("SET sql_mode='{mode}'"));
    }
}

/// A TIMESTAMP expiry column compares in the session's time zone. A server-imposed
/// `time_zone = '+05:00'` that leaked into the flush would keep every row expired in the last
/// five hours; `-05:00` would delete every row expiring in the next five, which is worse: live
/// sessions cut off. The flush must compare in UTC whatever the server imposes.
#[test]
fn a_server_imposed_time_zone_does_not_shift_a_timestamp_expiry() {
    for (i, zone) in ["+05:00", "-05:00"].iter().enumerate() {
        let srv = leak(start_server(&[&format!("--init-connect=SET time_zone='{zone}'")]));
        let db = srv.fresh_db(&format!("ts_zone_{i}"));
        db.sql(
            "SET time_zone = '+00:00'; \
             CREATE TABLE sess_ts (id VARCHAR(40) PRIMARY KEY, valid_until TIMESTAMP NULL DEFAULT NULL, \
                 INDEX ix_sess_ts_valid_until (valid_until)); \
             INSERT INTO sess_ts SELECT CONCAT('old-', seq), UTC_TIMESTAMP() - INTERVAL 10 MINUTE - INTERVAL seq MINUTE \
                 FROM seq_1_to_200; \
             INSERT INTO sess_ts SELECT CONCAT('live-', seq), UTC_TIMESTAMP() + INTERVAL 10 MINUTE + INTERVAL seq MINUTE \
                 FROM seq_1_to_200; \
             INSERT INTO sess_ts VALUES ('edge-grace', UTC_TIMESTAMP() - INTERVAL 30 SECOND), ('null-1', NULL)",
        );
        let url = service_user(&db, "ks_zone");
        let r = flush(&url, None, &["--target", "custom", "--table", "sess_ts", "--expiry-column", "valid_until"]);
        assert_eq!(r.code, 0, "{zone}: {r:?}");
        let v = summary(&r);
        let what = format!("init_connect time_zone {zone}");
        assert_eq!(count(&db, "sess_ts", "id LIKE 'old-%'"), 0, "{what}: expired rows go: {v}");
        assert_eq!(count(&db, "sess_ts", "id LIKE 'live-%'"), 200, "{what}: live rows stay: {v}");
        assert_eq!(count(&db, "sess_ts", "id IN ('edge-grace', 'null-1')"), 2, "{what}: grace and NULL stay: {v}");
        assert_eq!(v["rows_deleted"], 200, "{what}: {v}");
    }
}

/// More session state a DBA can impose, each of which changes what the engine's statements do.
/// Before the engine set them itself, three made every flush fail after at most one chunk:
/// `completion_type = RELEASE` ends the session at the first chunk's COMMIT ("connection
/// closed"), a read-only session refuses every DELETE, and `max_join_size` (which turns
/// `sql_big_selects` off) refuses the boundary SELECT. `CHAIN`, `sql_safe_updates` and
/// `sql_select_limit` left the delete path alone and stay here as guards (for what the last
/// one does to a rebuild and to a cascade, see the next two tests).
#[test]
fn more_server_imposed_session_state_still_deletes_exactly_the_expired_rows() {
    let inits = [
        "SET completion_type=2",
        "SET completion_type=1",
        "SET SESSION TRANSACTION READ ONLY",
        "SET max_join_size=10",
        "SET sql_safe_updates=1",
        "SET sql_select_limit=3",
    ];
    let srv = leak(start_server(&[]));
    for (i, init) in inits.iter().enumerate() {
        flush_under_init_connect(srv, &format!("session_{i}"), init);
    }
}

/// `sql_select_limit` cuts every result a session reads without a LIMIT of its own, the
/// information_schema queries included: a rebuild that read the table's columns under it would
/// copy only the first few of them, and every live row would come back from the swap with the
/// rest at their defaults. Every live row must come through the rebuild unchanged.
#[test]
fn a_server_imposed_sql_select_limit_loses_no_column_in_a_rebuild() {
    let srv = leak(start_server(&[]));
    srv.sql(None, "SET GLOBAL init_connect = 'SET sql_select_limit=2'");
    let db = srv.fresh_db("select_limit_rebuild");
    db.sql(
        "CREATE TABLE sess (id INT PRIMARY KEY, expires DATETIME NULL, a VARCHAR(20) NOT NULL DEFAULT '', \
             b INT NOT NULL DEFAULT 0, c TEXT NULL, KEY ix_sess_expires (expires)); \
         INSERT INTO sess SELECT seq, UTC_TIMESTAMP() - INTERVAL 1 HOUR, 'old', seq, 'gone' FROM seq_1_to_300; \
         INSERT INTO sess SELECT 1000 + seq, UTC_TIMESTAMP() + INTERVAL 1 DAY, CONCAT('a', seq), seq, REPEAT('c', seq) \
             FROM seq_1_to_100",
    );
    let live = "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', id, expires, a, b, c))) FROM sess WHERE id > 1000";
    let before = db.sql(live);
    db.server.sql(
        None,
        &format!(
            "CREATE USER IF NOT EXISTS 'ks_limit'@'%' IDENTIFIED BY 'pw'; GRANT ALL ON `{}`.* TO 'ks_limit'@'%'",
            db.name
        ),
    );
    let url = db.server.url("ks_limit", "pw", &db.name);
    let target = ["--target", "custom", "--table", "sess", "--expiry-column", "expires", "--strategy", "rebuild"];
    let r = flush(&url, None, &target);
    assert_eq!(r.code, 0, "{r:?}");
    let v = summary(&r);
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(count(&db, "sess", "id <= 300"), 0, "{v}");
    assert_eq!(db.sql(live), before, "a live row changed in the rebuild: {v}");
}

/// `foreign_key_checks = 0` in `init_connect` turns off `ON DELETE CASCADE`: each expired parent
/// would go and leave its children behind, orphans no later flush finds, where the service's
/// own purge takes them with it. And `sql_select_limit` would cut the family a chunk counts.
/// Each parent's children must go with it, whatever the server imposes.
#[test]
fn a_server_imposed_session_state_never_leaves_a_cascade_undone() {
    let srv = leak(start_server(&[]));
    for (i, init) in ["SET foreign_key_checks=0", "SET sql_select_limit=3"].iter().enumerate() {
        srv.sql(None, &format!("SET GLOBAL init_connect = '{init}'"));
        let db = srv.fresh_db(&format!("fk_checks_{i}"));
        db.cascading_alarms("INT", "{}", "{}");
        let url = service_user(&db, &format!("ks_fk_{i}"));
        let target = ["--target", "custom", "--table", "alarm", "--expiry-column", "expires", "--batch-size", "25"];
        let r = flush(&url, None, &target);
        assert_eq!(r.code, 0, "{init}: {r:?}");
        let v = summary(&r);
        assert_eq!(v["rows_deleted"], 40, "{init}: {v}");
        assert_eq!(db.sql("SELECT COUNT(*) FROM alarm_change"), "1", "{init}: orphans were left: {v}");
        assert_eq!(v["max_rows_per_transaction"], 20, "{init}: two alarms and their 18 changes: {v}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. A connection charset narrower than the table's
// ---------------------------------------------------------------------------------------------

/// A server whose `init_connect` is `SET NAMES utf8` (utf8mb3, long the "safe" default) and a
/// utf8mb4 table whose primary keys hold 4-byte characters (emoji in a custom table's ids): the
/// boundary key crosses the wire as `?`, so the range DELETE matches nothing and the cursor never
/// moves. Before its fix the flush spun until its budget ran out (about 17,000 statements a
/// second), deleting nothing, and exited 0 as if it had merely run out of time; every later run
/// did the same, and the CLI without `--max-runtime` spun until it was killed. The flush must end: either
/// every expired row goes, or it fails at once with a clear one-line error. Ids share a few
/// expiry values (tokens issued in the same second), so the expiry walk depends on the key too.
#[test]
fn a_narrow_connection_charset_never_makes_the_flush_spin() {
    let srv = leak(start_server(&["--init-connect=SET NAMES utf8"]));
    let db = srv.fresh_db("emoji_ids");
    for walk in WALKS {
        let t = format!("emoji_{}", walk.replace('-', "_"));
        db.sql(&format!(
            "CREATE TABLE {t} (id VARCHAR(64) NOT NULL PRIMARY KEY, expires DATETIME NULL, \
                 INDEX ix_{t}_expires (expires)) DEFAULT CHARSET=utf8mb4; \
             INSERT INTO {t} SELECT CONCAT(CHAR(0xF09F9880 + seq % 40 USING utf8mb4), '-', LEFT(SHA2(seq, 256), 40)), \
                 UTC_TIMESTAMP() - INTERVAL 1 HOUR - INTERVAL seq % 3 SECOND FROM seq_1_to_300; \
             INSERT INTO {t} SELECT CONCAT(CHAR(0xF09F9880 + seq % 40 USING utf8mb4), '-live-', seq), \
                 UTC_TIMESTAMP() + INTERVAL 1 DAY FROM seq_1_to_50"
        ));
    }
    let url = service_user(&db, "ks_utf8");
    let runs: Vec<_> = WALKS
        .iter()
        .map(|&walk| {
            let url = url.clone();
            std::thread::spawn(move || {
                let t = format!("emoji_{}", walk.replace('-', "_"));
                let mut extra = vec!["--target", "custom", "--table", &t, "--expiry-column", "expires"];
                extra.extend(["--batch-size", "50", "--max-runtime", "20"]);
                (walk, t.clone(), flush_bounded(&url, Some(walk), &extra, Duration::from_secs(40)))
            })
        })
        .collect();
    let mut problems = Vec::new();
    for h in runs {
        let (walk, t, (r, killed)) = h.join().expect("flush thread");
        assert_eq!(count(&db, &t, "expires > UTC_TIMESTAMP()"), 50, "{walk}: a live row was deleted: {r:?}");
        let left = count(&db, &t, "expires < UTC_TIMESTAMP()");
        if killed {
            problems
                .push(format!("{walk}: still running after 40 s despite --max-runtime 20 ({left} rows left): {r:?}"));
        } else if r.code == 0 {
            let v = summary(&r);
            if left != 0 || v["complete"] != true {
                problems.push(format!(
                    "{walk}: exited 0 after {:.1} s with {left} of 300 expired rows left, deleting {} (it spun): {v}",
                    r.elapsed.as_secs_f64(),
                    v["rows_deleted"]
                ));
            }
        } else {
            let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let clear = lines.iter().any(|l| l.contains("error")) && r.elapsed < Duration::from_secs(10);
            if !clear {
                problems.push(format!("{walk}: failed without one clear, prompt error: {r:?}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// 3. An index the hint cannot use
// ---------------------------------------------------------------------------------------------

/// A DBA testing whether `ix_token_expires` is still needed marks it IGNORED (MariaDB 10.6+);
/// the index still shows in information_schema, so the engine picks it and its `FORCE INDEX`
/// fails with error 1176 at the first chunk: every flush fails, every monitor degrades, and the
/// backlog grows until someone reads the logs. The primary-key walk needs no expiry index: the
/// flush must fall back to it (or pick an index the server will use) and delete every expired
/// row.
#[test]
fn an_ignored_expiry_index_falls_back_to_another_walk() {
    let db = server().fresh_db("ignored_index");
    db.fill(800, 3);
    db.sql("ALTER TABLE token ALTER INDEX ix_token_expires IGNORED");
    let r = flush(&db.url(), None, &["--batch-size", "100"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = summary(&r);
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(db.expired(), 0, "{v}");
    assert_eq!(v["rows_deleted"], 800, "{v}");
    assert_eq!(db.live(), 800);
    assert_eq!(db.nulls(), 3);
}

/// `--dry-run`, what an operator runs first to see the backlog, uses the same hint and fails the
/// same way on an IGNORED expiry index; it must count the expired rows.
#[test]
fn dry_run_counts_despite_an_ignored_expiry_index() {
    let db = server().fresh_db("ignored_index_dry");
    db.fill(120, 0);
    db.sql("ALTER TABLE token ALTER INDEX ix_token_expires IGNORED");
    let r = flush(&db.url(), None, &["--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(summary(&r)["expired_rows"], 120, "{r:?}");
    assert_eq!(db.expired(), 120);
}

// ---------------------------------------------------------------------------------------------
// 4. A concurrent insert into the chunk being deleted
// ---------------------------------------------------------------------------------------------

/// Pre-existing expired rows for the race: `n` rows tagged `user_id = 'pre'`, ids spread over
/// the key space (56 hex characters, so an id just after one of them still fits VARCHAR(64)),
/// and distinct expiry values one second apart; plus as many live rows.
fn fill_for_race(db: &TestDb, n: u64) {
    db.sql(&format!(
        "DELETE FROM token; \
         INSERT INTO token (id, expires, valid, user_id) SELECT LEFT(SHA2(CONCAT('pre', seq, RAND()), 256), 56), \
             '2020-01-01 00:00:00' - INTERVAL seq SECOND, 1, 'pre' FROM seq_1_to_{n}; \
         INSERT INTO token (id, expires, valid, user_id) SELECT LEFT(SHA2(CONCAT('live', seq, RAND()), 256), 56), \
             UTC_TIMESTAMP() + INTERVAL 1 DAY, 1, 'live' FROM seq_1_to_{n}"
    ));
}

/// The most rows one race writer inserts.
const RACE_INSERTS: u64 = 4000;

/// A writer inserting already-expired rows (`user_id = 'ins'`) as fast as one session can, each
/// aimed just after a pre-existing row near the front of the walk: for the expiry walk, a row
/// tied on the expiry of one of the next few pre-existing rows to go (random id); for the
/// primary-key walk, an id just after one of the next few pre-existing ids. With
/// `TOKENFLUSH_TEST_RACE_KEYS=random` it inserts random ids with expiry values among the
/// pre-existing ones instead, across the whole key space: that hits the chunk in flight too,
/// only less often.
struct Inserter {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
    child: std::process::Child,
    errors: tempfile::NamedTempFile,
}

impl Inserter {
    fn start(db: &TestDb, walk: &'static str) -> Inserter {
        use std::io::Write;
        // A client of its own rather than the harness's SqlSession: `--force` keeps it going
        // past the odd lock wait or deadlock, and nothing waits for a reply between statements.
        let errors = tempfile::NamedTempFile::new().expect("temp file");
        let mut child = std::process::Command::new("mariadb")
            .args(["--no-defaults", "-uroot", "-N", "-B", "--force"])
            .arg(format!("--socket={}", db.server.socket.display()))
            .arg(&db.name)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(errors.reopen().expect("reopen"))
            .spawn()
            .expect("mariadb client");
        let mut stdin = child.stdin.take().expect("stdin");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let random = std::env::var("TOKENFLUSH_TEST_RACE_KEYS").is_ok_and(|v| v == "random");
        let handle = std::thread::spawn(move || {
            let mut sql = String::from("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;\n");
            let mut n = 0u64;
            // At most RACE_INSERTS rows: an unbounded writer faster than the flush (as on an
            // idle machine) would keep it walking forever, since it stops only when the flush does.
            while !flag.load(Ordering::SeqCst) && n < RACE_INSERTS {
                for _ in 0..10 {
                    n += 1;
                    sql.push_str(&match walk {
                        _ if random => {
                            "INSERT INTO token (id, expires, valid, user_id) VALUES (LEFT(SHA2(RAND(), 256), 56), \
                             '2020-01-01 00:00:00' - INTERVAL FLOOR(1 + RAND() * 1500) SECOND, 1, 'ins');\n"
                                .to_string()
                        }
                        "expiry" => "SELECT COUNT(*) INTO @r FROM token WHERE user_id = 'pre'; \
                             INSERT INTO token (id, expires, valid, user_id) VALUES (SHA2(RAND(), 256), \
                             '2020-01-01 00:00:00' - INTERVAL GREATEST(1, @r - FLOOR(RAND() * 7)) SECOND, 1, 'ins');\n"
                            .to_string(),
                        _ => format!(
                            "SET @m = NULL; SELECT id INTO @m FROM token WHERE user_id = 'pre' ORDER BY id \
                             LIMIT 1 OFFSET {off}; \
                             INSERT INTO token (id, expires, valid, user_id) VALUES (COALESCE(CONCAT(@m, '-', {n}), \
                             SHA2(RAND(), 256)), '2020-01-01 00:00:00' - INTERVAL 1 SECOND, 1, 'ins');\n",
                            off = n % 10
                        ),
                    });
                }
                if stdin.write_all(sql.as_bytes()).is_err() {
                    return;
                }
                sql.clear();
            }
        });
        Inserter { stop, handle, child, errors }
    }

    /// Stops inserting at once (statements still queued in the pipe are dropped) and returns
    /// the client's error output.
    fn stop(mut self) -> String {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.handle.join();
        std::fs::read_to_string(self.errors.path()).unwrap_or_default()
    }
}

/// Rounds per walk: `TOKENFLUSH_TEST_RACE_ROUNDS`, 5 by default.
fn race_rounds() -> u32 {
    std::env::var("TOKENFLUSH_TEST_RACE_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5)
}

/// Each chunk SELECTs its boundary key (the batch_size-th expired row after the cursor), then
/// DELETEs the key range up to it with `LIMIT batch_size`. An expired row inserted into that
/// range between the two statements makes the range hold batch_size + 1 rows: the LIMIT drops
/// the last one, the boundary row itself, and the cursor moves past it. The flush then reports
/// the backlog empty while a row that was expired before it started is still there, and nothing
/// tells the operator (the next flush finds it, if nothing races again). Rows arrive already
/// expired when a Keystone node's clock lags the database's, or in custom tables. After every
/// flush that reports complete, no row that was expired when it started may be left.
fn no_preexisting_expired_row_survives_concurrent_inserts(walk: &'static str) {
    let db = server().fresh_db(&format!("race_{walk}"));
    let rounds = race_rounds();
    let mut failures = Vec::new();
    for round in 1..=rounds {
        fill_for_race(&db, 1500);
        let ins = Inserter::start(&db, walk);
        let r = flush(&db.url(), Some(walk), &["--batch-size", "7"]);
        let errors = ins.stop();
        assert_eq!(r.code, 0, "{walk} round {round}: {r:?}");
        let v = summary(&r);
        assert_eq!(v["walk"], walk, "{v}");
        assert_eq!(count(&db, "token", "user_id = 'live'"), 1500, "{walk} round {round}: a live row was deleted");
        let left = count(&db, "token", "user_id = 'pre'");
        // Rows the writer got in: those the flush deleted beyond the pre-existing ones, and those left.
        let inserted = (v["rows_deleted"].as_u64().unwrap_or(0) + left).saturating_sub(1500)
            + count(&db, "token", "user_id = 'ins'");
        eprintln!(
            "{walk} round {round}: {inserted} concurrent inserts ({} client errors{}), {left} pre-existing \
             expired rows left: {v}",
            errors.lines().count(),
            errors.lines().next().map(|l| format!(", first: {l}")).unwrap_or_default()
        );
        if v["complete"] == true && left > 0 {
            let ids = db.sql("SELECT id, expires FROM token WHERE user_id = 'pre' ORDER BY expires, id LIMIT 5");
            failures.push(format!("round {round}: {left} left, e.g.\n{ids}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{walk}: {} of {rounds} flushes reported complete while pre-existing expired rows were left:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The push-out race along the expiry index (see the helper above): rows tied on an expiry.
#[test]
fn no_preexisting_expired_row_survives_concurrent_inserts_on_the_expiry_walk() {
    no_preexisting_expired_row_survives_concurrent_inserts("expiry");
}

/// The push-out race along the primary key (see the helper above): ids just after a boundary.
#[test]
fn no_preexisting_expired_row_survives_concurrent_inserts_on_the_primary_key_walk() {
    no_preexisting_expired_row_survives_concurrent_inserts("primary-key");
}

// ---------------------------------------------------------------------------------------------
// 5. Rows of several megabytes
// ---------------------------------------------------------------------------------------------

/// Slows a server down to a fraction of its speed by SIGSTOPping it most of the time (a host
/// starved of CPU, or simply a far larger table than a test can afford), until dropped.
struct Throttle {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    pid: i32,
}

impl Throttle {
    fn new(srv: &Server, run: Duration, stopped: Duration) -> Throttle {
        use nix::sys::signal::{kill, Signal};
        let pid = srv.current_pid() as i32;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let p = nix::unistd::Pid::from_raw(pid);
            while !flag.load(Ordering::SeqCst) {
                let _ = kill(p, Signal::SIGSTOP);
                std::thread::sleep(stopped);
                let _ = kill(p, Signal::SIGCONT);
                std::thread::sleep(run);
            }
        });
        Throttle { stop, handle: Some(handle), pid }
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), nix::sys::signal::Signal::SIGCONT);
    }
}

/// The statements the flushing user still has on the server (none once it is gone).
fn statements_of(db: &TestDb, user: &str) -> String {
    db.server.sql(
        None,
        &format!(
            "SELECT CONCAT(ID, ' ', COMMAND, ' ', ROUND(TIME_MS), ' ms ', COALESCE(STATE, ''), ': ', \
             LEFT(COALESCE(INFO, ''), 120)) FROM information_schema.PROCESSLIST WHERE USER = '{user}'"
        ),
    )
}

/// Expired rows of 4 to 8 MB: 240 MB.
const HUGE_ROWS: u64 = 40;
/// The server runs 1/20 of the time.
const THROTTLE_RUN: Duration = Duration::from_millis(10);
const THROTTLE_STOP: Duration = Duration::from_millis(190);

/// `n` expired rows of 4 to 8 MB each in table `big`.
fn fill_big(db: &TestDb, tag: &str, n: u64) {
    db.sql(&format!(
        "INSERT INTO big SELECT CONCAT('{tag}', seq), UTC_TIMESTAMP() - INTERVAL 1 HOUR - INTERVAL seq SECOND, \
         REPEAT(CHAR(65 + seq % 26), (4 + seq % 5) * 1048576) FROM seq_1_to_{n}"
    ));
}

/// A table of rows of several megabytes (a custom table with a LONGBLOB; with row-based binary
/// logging, as on every Galera or replicated OpenStack database, deleting a row also writes its
/// whole image). A chunk is batch_size rows whatever their size: at the default 1000 that is
/// gigabytes, far past the 30 s a chunk may take on the client and past any monitor's budget. The
/// statement is cut off and rolled back, the next run tries the very same chunk, and the table
/// never shrinks. Scaled down here (40 rows, 240 MB, on a server slowed to a twentieth of its
/// speed, with a 3 s budget) to stay under a minute:
/// - each flush with a modest `--max-runtime` deletes rows and reports what it deleted, and
///   repeated flushes empty the table;
/// - once the client has given up on a chunk (its budget ran out, or the process was killed, as
///   Pacemaker kills an operation that overruns), no statement of it is still running on the
///   server a moment later, holding its locks and undo and racing the next run.
#[test]
fn huge_rows_make_progress_and_leave_no_statement_behind() {
    let srv =
        leak(start_server(&["--max-allowed-packet=64M", "--log-bin=binlog", "--server-id=1", "--binlog-format=ROW"]));
    let db = srv.fresh_db("huge_rows");
    db.sql(
        "CREATE TABLE big (id VARCHAR(64) NOT NULL PRIMARY KEY, expires DATETIME NULL, payload LONGBLOB, \
         INDEX ix_big_expires (expires)) ENGINE=InnoDB; \
         INSERT INTO big VALUES ('live', UTC_TIMESTAMP() + INTERVAL 1 DAY, 'small')",
    );
    fill_big(&db, "a", HUGE_ROWS);
    let user = "ks_big";
    let url = service_user(&db, user);
    // TOKENFLUSH_TEST_HUGE_BATCH replays the test with another batch_size, to see what chunks
    // bounded in bytes would achieve (1 row: 4 to 8 MB).
    let batch = std::env::var("TOKENFLUSH_TEST_HUGE_BATCH").unwrap_or_else(|_| "1000".into());
    let target = ["--target", "custom", "--table", "big", "--expiry-column", "expires", "--batch-size", &batch];
    let mut problems = Vec::new();
    let started = Instant::now();

    let throttle = Throttle::new(srv, THROTTLE_RUN, THROTTLE_STOP);
    // Repeated flushes with a 3 s budget: each must delete something and say what it deleted,
    // until none is left.
    let mut runs = 0;
    loop {
        let before = count(&db, "big", "id <> 'live'");
        if before == 0 {
            break;
        }
        runs += 1;
        let mut extra = target.to_vec();
        extra.extend(["--max-runtime", "3"]);
        let (r, killed) = flush_bounded(&url, None, &extra, Duration::from_secs(20));
        // A moment for the server to end what the client gave up on (or to finish it), then
        // what is still running, and what is left.
        std::thread::sleep(Duration::from_secs(1));
        let left_behind = statements_of(&db, user);
        let after = count(&db, "big", "id <> 'live'");
        eprintln!("flush {runs} ({:.1} s): {before} -> {after} huge rows: {r:?}", r.elapsed.as_secs_f64());
        if !left_behind.is_empty() {
            problems.push(format!("1 s after flush {runs} exited, its statements still run:\n{left_behind}"));
        }
        let reported =
            serde_json::from_str::<serde_json::Value>(r.stdout.trim()).ok().map(|v| v["rows_deleted"].clone());
        if killed || after >= before {
            problems.push(format!(
                "flush {runs} with --max-runtime 3 deleted nothing ({before} huge rows before, {after} after): {r:?}"
            ));
            break;
        }
        if r.code != 0 || reported != Some(serde_json::json!(before - after)) {
            problems.push(format!(
                "flush {runs} exited {} reporting {reported:?} rows deleted, but {} went: {r:?}",
                r.code,
                before - after
            ));
        }
        if started.elapsed() > Duration::from_secs(45) {
            problems.push(format!("after {runs} flushes and 45 s, {after} huge rows are still left"));
            break;
        }
    }

    // A flush killed in the middle of a chunk, the way Pacemaker kills an operation at its
    // timeout: its statement must not carry on without it.
    drop(throttle);
    if count(&db, "big", "id <> 'live'") < HUGE_ROWS / 2 {
        fill_big(&db, "b", HUGE_ROWS);
    }
    let throttle = Throttle::new(srv, THROTTLE_RUN, THROTTLE_STOP);
    let (a, args) = flush_cmd(&url, None, &target);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = a.spawn(&args);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) && !statements_of(&db, user).contains("DELETE") {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.signal("-KILL");
    let r = child.wait();
    // A SIGKILLed client can send nothing more: what ends its statement is the bound the
    // statement carries (max_statement_time, at most the engine's 10 s statement cap), so it
    // must be gone within that, with a margin for the throttled server to notice.
    let killed_at = Instant::now();
    let mut left_behind = statements_of(&db, user);
    while !left_behind.is_empty() && killed_at.elapsed() < Duration::from_secs(14) {
        // A statement already being ended shows as `Killed`, rolling back, with no text left.
        let unbounded = left_behind.lines().any(|l| !l.contains("max_statement_time=") && !l.contains(" Killed "));
        assert!(!unbounded, "every statement carries its bound: {left_behind}");
        std::thread::sleep(Duration::from_millis(200));
        left_behind = statements_of(&db, user);
    }
    if !left_behind.is_empty() {
        problems.push(format!(
            "14 s after the flush was SIGKILLed ({:?} in), its statement still runs on the server:\n{left_behind}",
            r.elapsed
        ));
    }
    drop(throttle);
    assert_eq!(count(&db, "big", "id = 'live'"), 1, "the live row stays");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// 6. One implausible value
// ---------------------------------------------------------------------------------------------

/// Keystone's `trust` table exactly as Keystone 30's `db_sync` creates it.
const TRUST_SCHEMA: &str = include_str!("../scripts/keystone-trust.sql");

/// The epoch-seconds guard samples the column for any value below 1e14 and refuses the whole
/// table when it finds one. On a trust table one bad row (a hand edit, a buggy migration, a
/// restore) then makes every flush exit 6 ("not epoch microseconds") and every monitor degrade:
/// expired and soft-deleted trusts pile up forever because of one row. The other expired trusts
/// must go and the flush must succeed; a warning about the odd row is fine.
#[test]
fn one_implausible_trust_expiry_does_not_veto_the_flush() {
    let db = server().fresh_db("trust_odd_row");
    db.sql(TRUST_SCHEMA);
    db.sql(
        "INSERT INTO trust (id, trustor_user_id, trustee_user_id, impersonation, expires_at, expires_at_int) \
         SELECT CONCAT('expired-', seq), CONCAT('u', seq), 'b', 0, UTC_TIMESTAMP() - INTERVAL seq + 1 MINUTE, \
         TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP() - INTERVAL seq + 1 MINUTE) FROM seq_1_to_200; \
         INSERT INTO trust (id, trustor_user_id, trustee_user_id, impersonation, expires_at, expires_at_int) \
         SELECT CONCAT('live-', seq), CONCAT('u', seq), 'b', 0, UTC_TIMESTAMP() + INTERVAL seq MINUTE, \
         TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP() + INTERVAL seq MINUTE) FROM seq_1_to_50; \
         INSERT INTO trust (id, trustor_user_id, trustee_user_id, impersonation, deleted_at) \
         VALUES ('soft-deleted', 'd', 'b', 0, UTC_TIMESTAMP() - INTERVAL 1 DAY); \
         INSERT INTO trust (id, trustor_user_id, trustee_user_id, impersonation, expires_at, expires_at_int) \
         VALUES ('odd', 'o', 'b', 0, UTC_TIMESTAMP() + INTERVAL 1 DAY, 5)",
    );
    let r = flush(&db.url(), None, &["--target", "keystone-trust", "--batch-size", "50"]);
    assert_eq!(r.code, 0, "one odd row vetoed the whole flush: {r:?}");
    let v = summary(&r);
    assert_eq!(count(&db, "trust", "id LIKE 'expired-%' OR id = 'soft-deleted'"), 0, "{v}");
    assert_eq!(count(&db, "trust", "id LIKE 'live-%'"), 50, "live trusts stay: {v}");
}

/// A row the flush cannot see is held: a foreign key it does not guard (a child of a child that
/// the cascade would have to delete but may not, here one `change_note` under one alarm's
/// change; a composite or cross-database key works the same way) makes the DELETE of that
/// one parent fail with 1451, and with it its whole chunk, every run. One held row must
/// not veto the flush: the others go, the held one stays, and the report says so.
#[test]
fn one_row_held_by_an_unguarded_foreign_key_does_not_veto_the_flush() {
    let db = server().fresh_db("held_by_grandchild");
    db.sql(
        "CREATE TABLE alarm (id INT PRIMARY KEY, expires DATETIME, KEY ix_expires (expires)) ENGINE=InnoDB; \
         CREATE TABLE alarm_change (id INT AUTO_INCREMENT PRIMARY KEY, alarm_id INT NOT NULL, \
           FOREIGN KEY (alarm_id) REFERENCES alarm (id) ON DELETE CASCADE) ENGINE=InnoDB; \
         CREATE TABLE change_note (id INT AUTO_INCREMENT PRIMARY KEY, change_id INT NOT NULL, \
           FOREIGN KEY (change_id) REFERENCES alarm_change (id)) ENGINE=InnoDB; \
         INSERT INTO alarm SELECT seq, UTC_TIMESTAMP() - INTERVAL seq + 10 MINUTE FROM seq_1_to_40; \
         INSERT INTO alarm VALUES (1000, UTC_TIMESTAMP() + INTERVAL 1 DAY); \
         INSERT INTO alarm_change (alarm_id) SELECT a.seq FROM seq_1_to_40 a, seq_1_to_3 b; \
         INSERT INTO change_note (change_id) SELECT MIN(id) FROM alarm_change WHERE alarm_id = 17",
    );
    let target = ["--target", "custom", "--table", "alarm", "--expiry-column", "expires", "--batch-size", "10"];
    for run in ["first", "second"] {
        let r = flush(&db.url(), None, &target);
        assert_eq!(r.code, 0, "{run} flush: {r:?}");
        let v = summary(&r);
        assert_eq!(db.sql("SELECT GROUP_CONCAT(id ORDER BY id) FROM alarm"), "17,1000", "{run} flush: {v}");
        assert_eq!(db.sql("SELECT COUNT(*) FROM alarm_change"), "3", "{run} flush: alarm 17's changes stay: {v}");
        assert_eq!(v["rows_deleted"], if run == "first" { 39 } else { 0 }, "{run} flush: {v}");
        assert_eq!(v["kept_by_children"], 1, "{run} flush: the held row is counted as kept: {v}");
        assert_eq!(v["complete"], true, "{run} flush: nothing else is left: {v}");
        assert!(r.stderr.contains("held"), "{run} flush: and logged: {r:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. A COMMIT that does not return
// ---------------------------------------------------------------------------------------------

/// A server stalled in its commits (a full or frozen disk under the binary log or the redo log;
/// faked with `BACKUP STAGE BLOCK_COMMIT`, which holds every commit): the flush's client gives
/// up at its budget after its chunk's COMMIT was sent. Left there, that connection holds the
/// chunk's row locks until the server gets round to it, and the report cannot know whether its
/// rows went. The flush must end that connection from a second one, learn from the table what
/// the chunk did, report exactly that, and end as a spent budget; the next flush finishes.
#[test]
fn a_commit_that_hangs_is_ended_and_reported_as_it_ended() {
    let srv = leak(start_server(&[]));
    let db = srv.fresh_db("hung_commit");
    db.fill(300, 5);
    let user = "ks_commit";
    let url = service_user(&db, user);
    let mut backup = srv.session(&db.name);
    backup.exec("BACKUP STAGE START; BACKUP STAGE BLOCK_COMMIT;");
    let r = flush(&url, None, &["--batch-size", "100", "--max-runtime", "2"]);
    let left_behind = statements_of(&db, user);
    backup.exec("BACKUP STAGE END;");
    backup.close();
    let v = summary(&r);
    assert_eq!(r.code, 0, "a commit that outlasts the budget spends the budget: {r:?}");
    assert_eq!(v["end"], "budget", "{v}");
    assert_eq!(v["rows_deleted"], 300 - db.expired(), "the report says exactly what went: {v}");
    assert!(left_behind.is_empty(), "the given-up connection still runs after the flush exited:\n{left_behind}");
    assert!(r.stderr.contains("ended the statement the client gave up on"), "{r:?}");

    let r = flush(&url, None, &["--batch-size", "100"]);
    assert_eq!((r.code, db.expired(), db.live(), db.nulls()), (0, 0, 300, 5), "the next flush finishes: {r:?}");
}
