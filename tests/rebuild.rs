//! The rebuild strategy against a real server: it keeps exactly the rows that stay and gives the
//! space back, refuses what it cannot do before it creates anything, loses nothing Keystone
//! writes while it runs, and leaves the table whole however it is killed, for the next flush on
//! any node to finish or undo from the database alone.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{server, start_server, Agent, Rng, Server, TestDb};

/// A checksum of the rows that must survive a flush: unexpired (an hour of margin over the
/// cutoff, so the clock moving during the test changes nothing) or without expiry.
fn kept(db: &TestDb) -> String {
    db.sql(
        "SELECT COUNT(*), COALESCE(BIT_XOR(CRC32(CONCAT_WS('|', id, IFNULL(expires, 'null'), IFNULL(extra, ''), \
         valid, IFNULL(trust_id, ''), IFNULL(user_id, '')))), 0) FROM token \
         WHERE expires IS NULL OR expires > UTC_TIMESTAMP() + INTERVAL 1 MINUTE",
    )
}

/// The rebuild's own objects left in the database: tables and triggers named `_token_tf*`.
fn leftovers(db: &TestDb) -> String {
    db.sql(
        "SELECT GROUP_CONCAT(n ORDER BY n) FROM (SELECT TABLE_NAME n FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE '\\_%\\_tf%' UNION ALL SELECT TRIGGER_NAME \
         FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE '\\_%\\_tf%') x",
    )
}

fn rebuild(url: &str, extra: &[&str]) -> common::Run {
    let mut args = vec!["flush", "--json", "--strategy", "rebuild", "--connection", url];
    args.extend_from_slice(extra);
    Agent::new().run_args(&args)
}

fn json(r: &common::Run) -> serde_json::Value {
    serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

fn ibd_bytes(db: &TestDb, table: &str) -> u64 {
    let path = db.server.dir.join("data").join(&db.name).join(format!("{table}.ibd"));
    std::fs::metadata(&path).map(|m| m.len()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The neglected table a rebuild is for: most rows expired, the rest (and the NULL-expiry rows)
/// kept byte for byte, and the table's file shrinks to the size of what stayed.
#[test]
fn a_rebuild_keeps_exactly_the_rows_that_stay_and_gives_the_space_back() {
    let db = server().fresh_db("rebuild_basic");
    db.fill(2000, 7);
    db.sql(
        "INSERT INTO token (id, expires, extra, valid) SELECT CONCAT('old-', seq), \
         UTC_TIMESTAMP() - INTERVAL 3 DAY - INTERVAL seq SECOND, REPEAT('z', 1500), 1 FROM seq_1_to_20000",
    );
    let (before, file_before) = (kept(&db), ibd_bytes(&db, "token"));
    let r = rebuild(&db.url(), &["--batch-size", "500"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r);
    assert_eq!(v["strategy"], "rebuild", "{v}");
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(v["rows_deleted"], 22000, "{v}");
    assert_eq!(v["rows_copied"], 2007, "{v}");
    assert!(v["max_rows_per_transaction"].as_u64().unwrap() <= 500, "{v}");
    assert_eq!(kept(&db), before, "the rows that stay are identical");
    assert_eq!(db.expired(), 0);
    assert_eq!(db.nulls(), 7);
    assert_eq!(leftovers(&db), "NULL", "nothing of the rebuild is left");
    let file_after = ibd_bytes(&db, "token");
    assert!(file_after * 4 < file_before, "the file shrank from {file_before} to {file_after} bytes");
    // Keystone's writes work on the swapped-in table.
    db.sql("INSERT INTO token (id, expires, valid) VALUES ('after', UTC_TIMESTAMP() + INTERVAL 1 DAY, 1)");
    assert_eq!(db.count("id = 'after'"), 1);
}

/// What a rebuild cannot do safely is refused with one line, before it creates anything: the
/// operator learns why, and the table is exactly as it was.
#[test]
fn rebuild_preconditions_are_refused_before_anything_is_created() {
    let db = server().fresh_db("rebuild_pre");
    db.fill(50, 1);
    let custom = ["--target", "custom", "--table", "t", "--expiry-column", "expires"];
    let cases: [(&str, &str, &str); 4] = [
        (
            "a foreign key",
            "CREATE TABLE p (id INT PRIMARY KEY) ENGINE=InnoDB; \
             CREATE TABLE t (id INT PRIMARY KEY, expires DATETIME, p INT, KEY (expires), \
             CONSTRAINT fk_t_p FOREIGN KEY (p) REFERENCES p (id)) ENGINE=InnoDB",
            "cannot rebuild: foreign key",
        ),
        (
            "a trigger of its own",
            "CREATE TABLE t (id INT PRIMARY KEY, expires DATETIME, KEY (expires)) ENGINE=InnoDB; \
             CREATE TRIGGER t_audit AFTER DELETE ON t FOR EACH ROW SET @n = 1",
            "cannot rebuild: `t` has a trigger of its own (t_audit)",
        ),
        (
            "a view",
            "CREATE TABLE t0 (id INT PRIMARY KEY, expires DATETIME) ENGINE=InnoDB; CREATE VIEW t AS SELECT * FROM t0",
            "is a view",
        ),
        (
            "another engine",
            "CREATE TABLE t (id INT PRIMARY KEY, expires DATETIME) ENGINE=MyISAM",
            "cannot rebuild: `t` uses MyISAM, not InnoDB",
        ),
    ];
    for (what, ddl, why) in cases {
        db.sql("DROP VIEW IF EXISTS t; DROP TABLE IF EXISTS t, t0, p");
        db.sql(ddl);
        let r = rebuild(&db.url(), &custom);
        assert_eq!(r.code, 6, "{what}: {r:?}");
        assert!(r.stderr.contains("tokenflush: error:") && r.stderr.contains(why), "{what}: {r:?}");
        assert_eq!(r.stderr.lines().filter(|l| l.contains("error")).count(), 1, "{what}: one line: {r:?}");
        assert_eq!(leftovers(&db), "NULL", "{what}: nothing was created");
    }
    // A user with Keystone's privileges only (no CREATE, DROP, ALTER, TRIGGER).
    db.server.sql(
        None,
        &format!(
            "CREATE USER IF NOT EXISTS 'ks_rb'@'%' IDENTIFIED BY 'pw'; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON `{}`.* TO 'ks_rb'@'%'",
            db.name
        ),
    );
    let r = rebuild(&db.server.url("ks_rb", "pw", &db.name), &[]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(r.stderr.contains("lacks CREATE, DROP, ALTER, TRIGGER"), "{r:?}");
    assert_eq!(leftovers(&db), "NULL");
    assert_eq!(db.expired(), 50, "nothing was deleted");
}

/// A `mariadb` client that runs one statement at a time and says how many rows each changed
/// (-1 when it failed: a deadlock with the copy, say, which Keystone would retry).
struct Writer {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Writer {
    fn new(s: &Server, db: &str) -> Writer {
        let mut child = Command::new("mariadb")
            .args(["--no-defaults", "-uroot", "-N", "-B", "--unbuffered", "--force"])
            .arg(format!("--socket={}", s.socket.display()))
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadb client");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        Writer { child, out }
    }

    fn run(&mut self, sql: &str) -> i64 {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{sql}; SELECT CONCAT('rc=', ROW_COUNT());").expect("write");
        let mut line = String::new();
        loop {
            line.clear();
            assert!(self.out.read_line(&mut line).expect("read") > 0, "writer session ended");
            if let Some(n) = line.trim().strip_prefix("rc=") {
                return n.parse().unwrap_or(-1);
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the writers did, row by row: the final state each row they touched must be in.
#[derive(Default)]
struct Log {
    inserted: Vec<String>,
    updated: Vec<String>,
    deleted: Vec<String>,
}

/// Keystone keeps writing while a rebuild runs: new tokens, `valid` flipped on tokens the copy
/// has not reached yet (or has), tokens deleted. Every committed write is in the table after the
/// swap, checked row by row against a log of what the writers did; no other row changed.
#[test]
fn writes_during_a_rebuild_are_never_lost() {
    let db = server().fresh_db("rebuild_writes");
    db.fill(3000, 5);
    let live: Vec<String> = db
        .sql("SELECT id FROM token WHERE expires > UTC_TIMESTAMP() ORDER BY id")
        .lines()
        .map(str::to_string)
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, name, live) = (stop.clone(), db.name.clone(), live.clone());
        std::thread::spawn(move || {
            let mut w = Writer::new(server(), &name);
            let mut rng = Rng::from_env_or_clock();
            let mut log = Log::default();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let id = &live[rng.below(live.len() as u64) as usize];
                // Each row gets one kind of write only, so the log says its final state.
                let (sql, row, list) = match n % 3 {
                    0 => {
                        let new = format!("w-{n}");
                        let sql = format!(
                            "INSERT INTO token (id, expires, extra, valid) VALUES ('{new}', UTC_TIMESTAMP() + INTERVAL 2 DAY, 'w', 1)"
                        );
                        (sql, new, &mut log.inserted)
                    }
                    1 if !log.deleted.contains(id) => (
                        format!("UPDATE token SET valid = 0, extra = 'updated' WHERE id = '{id}'"),
                        id.clone(),
                        &mut log.updated,
                    ),
                    2 if !log.updated.contains(id) => {
                        (format!("DELETE FROM token WHERE id = '{id}'"), id.clone(), &mut log.deleted)
                    }
                    _ => continue,
                };
                if w.run(&sql) == 1 {
                    list.push(row);
                }
            }
            log
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let r = rebuild(&db.url(), &["--batch-size", "50", "--sleep-ms", "10"]);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    let log = writer.join().expect("writer");
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json(&r)["complete"], true, "{r:?}");
    assert!(
        log.inserted.len() > 20 && log.updated.len() > 20 && log.deleted.len() > 20,
        "the writers overlapped the rebuild"
    );
    // The log goes into a table of its own, to be joined with the result.
    db.sql("CREATE TABLE wlog (id VARCHAR(64) NOT NULL, kind CHAR(1) NOT NULL, PRIMARY KEY (id, kind))");
    for (kind, ids) in [("i", &log.inserted), ("u", &log.updated), ("d", &log.deleted)] {
        for part in ids.chunks(200) {
            let values: Vec<String> = part.iter().map(|i| format!("('{i}', '{kind}')")).collect();
            db.sql(&format!("INSERT IGNORE INTO wlog VALUES {}", values.join(",")));
        }
    }
    let n = |sql: &str| -> u64 { db.sql(sql).parse().unwrap() };
    let (ins, upd, del) = (
        n("SELECT COUNT(DISTINCT id) FROM wlog WHERE kind = 'i'"),
        n("SELECT COUNT(DISTINCT id) FROM wlog WHERE kind = 'u'"),
        n("SELECT COUNT(DISTINCT id) FROM wlog WHERE kind = 'd'"),
    );
    assert_eq!(n("SELECT COUNT(*) FROM wlog JOIN token USING (id) WHERE kind = 'i'"), ins, "an insert was lost");
    assert_eq!(n("SELECT COUNT(*) FROM wlog JOIN token USING (id) WHERE kind = 'd'"), 0, "a deleted row came back");
    assert_eq!(
        n("SELECT COUNT(*) FROM wlog JOIN token USING (id) WHERE kind = 'u' AND valid = 0 AND extra = 'updated'"),
        upd,
        "an update was lost"
    );
    assert_eq!(
        n("SELECT COUNT(*) FROM token WHERE expires > UTC_TIMESTAMP() AND id NOT LIKE 'w-%' AND valid = 1 \
           AND id NOT IN (SELECT id FROM wlog)"),
        live.len() as u64 - upd - del,
        "a row no writer touched changed or went"
    );
    assert_eq!(db.expired(), 0);
    assert_eq!(db.nulls(), 5);
    assert_eq!(leftovers(&db), "NULL");
    eprintln!(
        "during the rebuild: {} inserts, {} updates, {} deletes",
        log.inserted.len(),
        log.updated.len(),
        log.deleted.len()
    );
}

/// Every step a rebuild can be killed after (`TOKENFLUSH_CRASH_AFTER` aborts the process there,
/// as a SIGKILL would): the table stays whole and writable, and the next flush, rebuild or
/// delete, recognises what was left from the database alone and finishes or undoes it.
#[test]
fn a_rebuild_killed_at_any_step_is_finished_or_undone_by_the_next_flush() {
    let db = server().fresh_db("rebuild_kill");
    let steps = ["state", "new", "triggers", "chunk", "swap", "mark", "drop-old"];
    for (i, step) in steps.iter().enumerate() {
        db.sql("DELETE FROM token");
        db.fill(400, 3);
        let before = kept(&db);
        let args = ["flush", "--strategy", "rebuild", "--batch-size", "100", "--connection", &db.url()];
        let r = Agent::new().env("TOKENFLUSH_CRASH_AFTER", step).spawn(&args).wait();
        assert_eq!(r.code, -6, "{step}: the hook aborts the process (SIGABRT): {r:?}");
        assert_eq!(kept(&db), before, "{step}: the kept rows are whole right after the kill");
        let swapped = i >= 4;
        assert_eq!(db.expired() == 0, swapped, "{step}: the expired rows go with the swap, not before");
        // Keystone's writes keep working whatever was left (a trigger naming a missing copy would fail them).
        let id = format!("k-{step}");
        db.sql(&format!("INSERT INTO token (id, expires, valid) VALUES ('{id}', UTC_TIMESTAMP() + INTERVAL 1 DAY, 1)"));
        let next = if i % 2 == 0 { "rebuild" } else { "delete" };
        let r = Agent::new().run_args(&["flush", "--json", "--strategy", next, "--connection", &db.url()]);
        assert_eq!(r.code, 0, "{step} then {next}: {r:?}");
        assert_eq!(leftovers(&db), "NULL", "{step} then {next}: nothing left");
        assert_eq!(db.expired(), 0, "{step} then {next}");
        assert_eq!(db.count(&format!("id = '{id}'")), 1, "{step} then {next}: the write after the kill stayed");
        db.sql(&format!("DELETE FROM token WHERE id = '{id}'"));
        assert_eq!(kept(&db), before, "{step} then {next}: the kept rows are identical");
    }
}

/// A rebuild that runs out of budget keeps its copy and its cursor in the database and the next
/// flush resumes from there, chunk for chunk: nothing is copied twice and nothing is skipped.
#[test]
fn a_rebuild_resumes_from_its_cursor_across_flushes() {
    let db = server().fresh_db("rebuild_resume");
    db.fill(1500, 4);
    let before = kept(&db);
    let (mut copied, mut chunks, mut runs) = (0, 0, 0);
    loop {
        runs += 1;
        assert!(runs <= 30, "not done after 30 flushes");
        let r = rebuild(&db.url(), &["--batch-size", "40", "--sleep-ms", "30", "--max-runtime", "1"]);
        assert_eq!(r.code, 0, "{r:?}");
        let v = json(&r);
        copied += v["rows_copied"].as_u64().unwrap();
        chunks += v["chunks"].as_u64().unwrap();
        if v["complete"] == true {
            break;
        }
        assert_eq!(v["end"], "budget", "{v}");
        assert!(leftovers(&db).contains("_token_tfnew"), "the copy waits for the next flush");
    }
    assert!(runs >= 2, "the budget cut the rebuild");
    assert_eq!(copied, 1504, "every row that stays copied exactly once");
    // The copy walks every row, expired or not, in chunks of at most 40.
    assert!(chunks <= 3004 / 40 + runs + 1, "no chunk walked twice: {chunks} chunks in {runs} runs");
    assert_eq!(kept(&db), before);
    assert_eq!(db.expired(), 0);
    assert_eq!(leftovers(&db), "NULL");
}

/// The server restarts in the middle of a rebuild (InnoDB crash recovery): the table is whole
/// and the next flush finishes the rebuild.
#[test]
fn a_rebuild_survives_a_server_restart() {
    let srv: &'static Server = Box::leak(Box::new(start_server(&[])));
    let db = srv.fresh_db("rebuild_restart");
    db.fill(2000, 2);
    let before = kept(&db);
    let c = Agent::new().spawn(&[
        "flush",
        "--strategy",
        "rebuild",
        "--batch-size",
        "20",
        "--sleep-ms",
        "20",
        "--connection",
        &db.url(),
    ]);
    let t = std::time::Instant::now();
    while !leftovers(&db).contains("_token_tfnew") && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    srv.kill();
    let r = c.wait();
    assert_ne!(r.code, 0, "the flush lost its server: {r:?}");
    srv.restart();
    assert_eq!(kept(&db), before, "whole after crash recovery");
    let r = rebuild(&db.url(), &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json(&r)["complete"], true);
    assert_eq!(kept(&db), before);
    assert_eq!(db.expired(), 0);
    assert_eq!(leftovers(&db), "NULL");
}
