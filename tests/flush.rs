//! The flush engine against a real server: which rows go, how chunks commit, how a budget is
//! honoured and resumed, and what happens when two flushers meet.

mod common;

use std::fs;
use std::time::Duration;

use common::{server, state_json, temp_dir, Agent};

/// Expired rows go and every other row stays, whatever the server's time zone: the cutoff is the
/// server's UTC clock, and Keystone's `expires` is naive UTC. The agent's own TZ is set far
/// from UTC too, to prove the node's clock and zone play no part.
#[test]
fn expired_rows_go_whatever_the_time_zone() {
    for (i, tz) in ["+10:00", "-08:00", "+13:00", "-12:00"].iter().enumerate() {
        let db = server().fresh_db(&format!("tz_{i}"));
        db.fill(300, 7);
        // Rows just around the cutoff: 2 minutes ago goes (grace 60 s), 30 s ago stays, and a
        // row that expires in 5 minutes obviously stays.
        db.sql("INSERT INTO token (id, expires, valid) VALUES ('edge-old', UTC_TIMESTAMP() - INTERVAL 2 MINUTE, 1), \
                ('edge-grace', UTC_TIMESTAMP() - INTERVAL 30 SECOND, 1), ('edge-future', UTC_TIMESTAMP() + INTERVAL 5 MINUTE, 1)");
        db.server.sql(None, &format!("SET GLOBAL time_zone = '{tz}'"));
        let dir = temp_dir();
        let a = db.agent(dir.path()).env("TZ", "Pacific/Kiritimati");
        assert_eq!(a.run("start").code, 0);
        let m = a.run("monitor");
        assert_eq!(m.code, 0, "{tz}: {m:?}");
        assert_eq!(db.count("id LIKE 'edge-%'"), 2, "{tz}: only edge-old goes");
        assert_eq!(db.count("id = 'edge-old'"), 0);
        assert_eq!(db.count("expires < UTC_TIMESTAMP() - INTERVAL 60 SECOND"), 0, "{tz}");
        assert_eq!(db.live(), 300 + 1, "{tz}");
        assert_eq!(db.nulls(), 7, "{tz}");
        a.run("stop");
    }
    server().sql(None, "SET GLOBAL time_zone = SYSTEM");
}

/// Keystone's own batching looped forever when more tokens than a batch shared one `expires`
/// (LP 1387401). The keyset walk on (expires, id) moves through ties.
#[test]
fn ties_on_expires_larger_than_a_batch_still_finish() {
    let db = server().fresh_db("ties");
    db.sql("INSERT INTO token (id, expires, valid) SELECT SHA2(seq, 256), '2020-01-01 00:00:00', 1 FROM seq_1_to_2500");
    db.sql(
        "INSERT INTO token (id, expires, valid) SELECT SHA2(CONCAT('b', seq), 256), '2020-01-01 00:00:01', 1 FROM seq_1_to_700",
    );
    let r = Agent::new().run_args(&["flush", "--connection", &db.url(), "--batch-size", "100", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["rows_deleted"], 3200);
    assert_eq!(v["complete"], true);
    assert!(v["max_rows_per_transaction"].as_u64().unwrap() <= 100, "no transaction exceeds the chunk: {v}");
    assert!(v["chunks"].as_u64().unwrap() >= 32);
    assert_eq!(db.count("1"), 0);
}

/// A monitor stops at a chunk boundary when its budget runs out and the next monitor carries on
/// at once, so a large backlog drains across monitors without any one overrunning its timeout.
#[test]
fn a_budget_smaller_than_the_backlog_resumes_at_the_next_monitor() {
    let db = server().fresh_db("budget");
    db.fill(6000, 2);
    let dir = temp_dir();
    // 2 s of timeout gives a 1 s budget; a slow one-row chunk makes the backlog outlast it.
    let a = db.agent(dir.path()).param("batch_size", "1").env("OCF_RESKEY_CRM_meta_timeout", "2000");
    assert_eq!(a.run("start").code, 0);
    let m = a.run("monitor");
    assert_eq!(m.code, 0, "{m:?}");
    assert!(m.elapsed < Duration::from_secs(2), "the monitor returned inside its timeout: {m:?}");
    let left = db.expired();
    assert!(left > 0 && left < 6000, "a partial flush: {left} left");
    let st = state_json(dir.path());
    assert_eq!(st["pending"], true);
    assert_eq!(st["last_flush"]["complete"], false);
    let mut monitors = 1;
    while db.expired() > 0 {
        let m = a.clone().param("batch_size", "1000").run("monitor");
        assert_eq!(m.code, 0, "{m:?}");
        monitors += 1;
        assert!(monitors < 20, "the backlog drains");
    }
    assert_eq!(state_json(dir.path())["pending"], false);
    assert_eq!(state_json(dir.path())["rows_deleted_total"], 6000);
    assert_eq!(db.live(), 6000);
    assert_eq!(db.nulls(), 2);
    a.run("stop");
}

/// Two flushers on one server never delete at the same time: the named lock makes the second
/// one skip quietly, as a success.
#[test]
fn two_flushers_never_delete_at_once() {
    let db = server().fresh_db("two_flushers");
    db.fill(3000, 0);
    // Hold the lock the way a running flusher would, from another session.
    let lock = format!("tokenflush.{}.token", db.name);
    let mut holder = std::process::Command::new("mariadb")
        .args(["--no-defaults", "-uroot", "-N"])
        .arg(format!("--socket={}", db.server.socket.display()))
        .arg("-e")
        .arg(format!("SELECT GET_LOCK('{lock}', 10); SELECT SLEEP(4);"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let r = Agent::new().run_args(&["flush", "--connection", &db.url(), "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["end"], "lock_held");
    assert_eq!(v["rows_deleted"], 0);
    assert_eq!(db.expired(), 3000);
    holder.wait().unwrap();

    // Two real flushers at once: together they delete each row exactly once.
    let a = std::thread::spawn({
        let url = db.url();
        move || Agent::new().run_args(&["flush", "--connection", &url, "--batch-size", "50", "--json"])
    });
    let b = Agent::new().run_args(&["flush", "--connection", &db.url(), "--batch-size", "50", "--json"]);
    let a = a.join().unwrap();
    let mut total = 0;
    for r in [&a, &b] {
        assert_eq!(r.code, 0, "{r:?}");
        let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
        total += v["rows_deleted"].as_u64().unwrap();
    }
    assert_eq!(total, 3000);
    assert_eq!(db.expired(), 0);
    assert_eq!(db.live(), 3000);
}

/// `--dry-run` counts and deletes nothing.
#[test]
fn dry_run_counts_without_deleting() {
    let db = server().fresh_db("dry_run");
    db.fill(123, 4);
    let r = Agent::new().run_args(&["flush", "--connection", &db.url(), "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("123 expired rows"), "{r:?}");
    assert_eq!(db.expired(), 123);
    let r = Agent::new().run_args(&["flush", "--connection", &db.url()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("deleted 123 rows"), "{r:?}");
}

/// The CLI reads the connection from keystone.conf and the password from a file, so no secret
/// needs to be on the command line.
#[test]
fn cli_reads_keystone_conf_and_password_file() {
    let db = server().fresh_db("cli_conf");
    db.fill(40, 0);
    let url = db.user_url("ks_cli", "pa#ss;w/rd");
    let dir = temp_dir();
    let conf = dir.path().join("keystone.conf");
    let no_pw = url.replace(":pa#ss;w/rd@", ":placeholder@").replace("mysql://", "mysql+pymysql://");
    fs::write(&conf, format!("[DEFAULT]\ndebug = false\n\n[database]\nconnection = {no_pw}?charset=utf8\n")).unwrap();
    let pw = dir.path().join("pw");
    fs::write(&pw, "pa#ss;w/rd\n").unwrap();
    let r = Agent::new().run_args(&[
        "flush",
        "--config",
        &conf.to_string_lossy(),
        "--password-file",
        &pw.to_string_lossy(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(db.expired(), 0);
    let bad = Agent::new().run_args(&["flush", "--config", "/nonexistent/keystone.conf"]);
    assert_eq!(bad.code, 5, "{bad:?}");
    assert!(bad.stderr.contains("does not exist"), "{bad:?}");
}

/// Interval scheduling: a monitor right after a complete flush does nothing; rows that expire
/// later wait for the interval.
#[test]
fn nothing_happens_until_the_interval_is_due() {
    let db = server().fresh_db("interval");
    db.fill(10, 0);
    let dir = temp_dir();
    let a = db.agent(dir.path()).param("interval", "2");
    assert_eq!(a.run("start").code, 0);
    assert_eq!(a.run("monitor").code, 0);
    assert_eq!(db.expired(), 0);
    db.sql("INSERT INTO token (id, expires, valid) VALUES ('late', UTC_TIMESTAMP() - INTERVAL 1 HOUR, 1)");
    assert_eq!(a.run("monitor").code, 0);
    assert_eq!(db.count("id = 'late'"), 1, "not due yet");
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(a.run("monitor").code, 0);
    assert_eq!(db.count("id = 'late'"), 0, "due after the interval");
    a.run("stop");
}

const WALKS: [&str; 2] = ["expiry", "primary-key"];

fn flush_json(db: &common::TestDb, walk: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["flush", "--json"];
    let url = db.url();
    args.extend(["--connection", url.as_str()]);
    args.extend_from_slice(extra);
    args.extend(["--walk", walk]);
    let r = Agent::new().run_args(&args);
    assert_eq!(r.code, 0, "{walk}: {r:?}");
    serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

/// Both walks (along the expiry index, and along the primary key for tables that outgrow the
/// buffer pool) delete exactly the expired rows, ties and all, in chunks no larger than asked.
#[test]
fn both_walks_delete_exactly_the_expired_rows() {
    for walk in WALKS {
        let db = server().fresh_db(&format!("walk_{walk}"));
        db.fill(1500, 5);
        db.sql("INSERT INTO token (id, expires, valid) SELECT SHA2(CONCAT('t', seq), 256), '2021-06-01 12:00:00', 1 FROM seq_1_to_450");
        let v = flush_json(&db, walk, &["--batch-size", "200"]);
        assert_eq!(v["walk"], walk);
        assert_eq!(v["rows_deleted"], 1950, "{walk}: {v}");
        assert_eq!(v["complete"], true);
        assert!(v["max_rows_per_transaction"].as_u64().unwrap() <= 200, "{walk}: {v}");
        assert_eq!(db.expired(), 0, "{walk}");
        assert_eq!(db.live(), 1500, "{walk}");
        assert_eq!(db.nulls(), 5, "{walk}");
    }
}

/// Keystone keeps issuing tokens while the flush walks the table. New live tokens are never
/// touched; expired rows that land behind the walk's position are left for the next flush, which
/// removes them.
#[test]
fn concurrent_inserts_during_the_walk_are_safe() {
    for walk in WALKS {
        let db = server().fresh_db(&format!("concurrent_{walk}"));
        db.fill(2000, 0);
        let writer = {
            let socket = db.server.socket.clone();
            let name = db.name.clone();
            std::thread::spawn(move || {
                for i in 0..40 {
                    let sql = format!(
                        "INSERT INTO token (id, expires, valid) VALUES ('live-{i}', UTC_TIMESTAMP() + INTERVAL 1 HOUR, 1), \
                         ('old-{i}', UTC_TIMESTAMP() - INTERVAL 1 DAY - INTERVAL {i} MINUTE, 1)"
                    );
                    let ok = std::process::Command::new("mariadb")
                        .args(["--no-defaults", "-uroot"])
                        .arg(format!("--socket={}", socket.display()))
                        .arg(&name)
                        .arg("-e")
                        .arg(sql)
                        .status()
                        .unwrap();
                    assert!(ok.success());
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        let v = flush_json(&db, walk, &["--batch-size", "50", "--sleep-ms", "5"]);
        writer.join().unwrap();
        assert_eq!(db.count("id LIKE 'live-%'"), 40, "{walk}: new live tokens are never touched");
        assert_eq!(db.live(), 2000 + 40, "{walk}");
        let first = v["rows_deleted"].as_u64().unwrap();
        assert!(first >= 2000, "{walk}: {v}");
        let v2 = flush_json(&db, walk, &[]);
        assert_eq!(first + v2["rows_deleted"].as_u64().unwrap(), 2040, "{walk}: every expired row goes exactly once");
        assert_eq!(db.expired(), 0, "{walk}");
    }
}

/// A budget that runs out mid-walk leaves a consistent table, and the next monitor finishes it,
/// along the primary key as along the expiry index.
#[test]
fn the_primary_key_walk_resumes_after_the_budget() {
    let db = server().fresh_db("pk_budget");
    db.fill(3000, 1);
    let dir = temp_dir();
    let a = db
        .agent(dir.path())
        .param("walk", "primary-key")
        .param("batch_size", "1")
        // 3000 one-row chunks 2 ms apart cannot fit in the 1 s budget, however fast the server.
        .param("sleep_ms", "2")
        .env("OCF_RESKEY_CRM_meta_timeout", "2000");
    assert_eq!(a.run("start").code, 0);
    let m = a.run("monitor");
    assert_eq!(m.code, 0, "{m:?}");
    assert!(m.elapsed < Duration::from_secs(2), "{m:?}");
    assert!(db.expired() > 0, "a partial flush");
    assert_eq!(state_json(dir.path())["pending"], true);
    for _ in 0..10 {
        if db.expired() == 0 {
            break;
        }
        assert_eq!(a.clone().param("batch_size", "500").run("monitor").code, 0);
    }
    assert_eq!(db.expired(), 0);
    assert_eq!(db.live(), 3000);
    assert_eq!(db.nulls(), 1);
    assert_eq!(state_json(dir.path())["rows_deleted_total"], 3000);
}

/// `sleep_ms` pauses between chunks: five chunks with 150 ms pauses cannot finish in under 0.6 s.
/// (A lower bound on the pause itself, not a speed claim.)
#[test]
fn sleep_ms_pauses_between_chunks() {
    let db = server().fresh_db("sleep_ms");
    db.fill(500, 0);
    let v = flush_json(&db, "expiry", &["--batch-size", "100", "--sleep-ms", "150"]);
    assert_eq!(v["rows_deleted"], 500);
    assert!(v["seconds"].as_f64().unwrap() >= 0.6, "{v}");
}

/// A wrong password is the same error whoever meets it: `tokenflush flush` exits 4, as
/// `validate-all` at level 10 does (`src/error.rs` maps both); only the recurring monitor says
/// degraded, so that Pacemaker does not recover the resource over a password.
#[test]
fn a_wrong_password_has_one_status_on_every_path() {
    let db = server().fresh_db("wrong_pw");
    db.fill(10, 0);
    let url = db.user_url("pw_user", "right").replace(":right@", ":wrong@");
    let cli = Agent::new().run_args(&["flush", "--connection", &url]);
    assert_eq!(cli.code, 4, "{cli:?}");
    assert!(cli.stderr.contains("tokenflush: error: database access denied"), "{cli:?}");
    let dir = temp_dir();
    let a = Agent::new().param("connection", &url).param("state_dir", &dir.path().to_string_lossy());
    assert_eq!(a.clone().env("OCF_CHECK_LEVEL", "10").run("validate-all").code, 4);
    assert_eq!(a.run("start").code, 0);
    assert_eq!(a.run("monitor").code, 190);
    a.run("stop");
    assert_eq!(db.expired(), 10, "nothing was deleted");
}

/// The throttle backs off when the server gets busy during a flush: two dozen statements start
/// running (here `SELECT SLEEP`, which `Threads_running` counts like any query), and the flush
/// pauses between chunks until they are done, rather than competing with them.
#[test]
fn the_throttle_backs_off_when_the_server_gets_busy() {
    let srv: &'static common::Server = Box::leak(Box::new(common::start_server(&[])));
    let db = srv.fresh_db("throttle");
    db.fill(3000, 0);
    let c =
        Agent::new().spawn(&["flush", "--json", "--connection", &db.url(), "--batch-size", "20", "--sleep-ms", "10"]);
    std::thread::sleep(Duration::from_millis(300));
    let sleepers: Vec<std::process::Child> = (0..24)
        .map(|_| {
            std::process::Command::new("mariadb")
                .args(["--no-defaults", "-uroot", "-e", "SELECT SLEEP(3)"])
                .arg(format!("--socket={}", srv.socket.display()))
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("mariadb")
        })
        .collect();
    let r = c.wait();
    for mut s in sleepers {
        let _ = s.wait();
    }
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["complete"], true, "{v}");
    assert!(v["throttled_seconds"].as_f64().unwrap() > 0.2, "the flush paused for the busy server: {v}");
    assert_eq!(db.expired(), 0);
}
