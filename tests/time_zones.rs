//! Time zones and daylight saving time. Keystone stores `expires` as naive UTC and the agent's
//! cutoff is the server's `UTC_TIMESTAMP() - grace`, read once per flush, in a session pinned to
//! `+00:00`. So neither the server's `time_zone`, nor the zone the server process runs in, nor
//! the agent's own `TZ`, nor a DST jump in the middle of a flush may change which rows go.

mod common;

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{start_server_with, temp_dir, Server, TestDb};

const TS_TABLE: &str = "CREATE TABLE token_ts (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    expires TIMESTAMP NULL DEFAULT NULL,
    extra TEXT NULL,
    valid TINYINT(1) NOT NULL,
    INDEX ix_token_ts_expires (expires)
) ENGINE=InnoDB";

fn leak(s: Server) -> &'static Server {
    Box::leak(Box::new(s))
}

/// Minutes between the server's local clock and UTC, as its sessions see it now.
fn server_offset_minutes(srv: &Server) -> i64 {
    srv.sql(None, "SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW() + INTERVAL 30 SECOND)").parse().unwrap()
}

/// The same rows in a DATETIME table (Keystone's) and a TIMESTAMP one, written in UTC.
fn seed(db: &TestDb) {
    db.sql(TS_TABLE);
    for table in ["token", "token_ts"] {
        db.sql(&format!(
            "SET time_zone = '+00:00';
             INSERT INTO {table} (id, expires, valid) SELECT CONCAT('old-', seq), UTC_TIMESTAMP() - INTERVAL 2 HOUR - INTERVAL seq MINUTE, 1 FROM seq_1_to_150;
             INSERT INTO {table} (id, expires, valid) SELECT CONCAT('live-', seq), UTC_TIMESTAMP() + INTERVAL seq MINUTE, 1 FROM seq_1_to_150;
             INSERT INTO {table} (id, expires, valid) SELECT CONCAT('null-', seq), NULL, 1 FROM seq_1_to_5;
             INSERT INTO {table} (id, expires, valid) VALUES ('edge-old', UTC_TIMESTAMP() - INTERVAL 2 MINUTE, 1),
                 ('edge-grace', UTC_TIMESTAMP() - INTERVAL 30 SECOND, 1), ('edge-future', UTC_TIMESTAMP() + INTERVAL 5 MINUTE, 1)"
        ));
    }
}

fn count(db: &TestDb, table: &str, cond: &str) -> u64 {
    db.sql(&format!("SET time_zone = '+00:00'; SELECT COUNT(*) FROM {table} WHERE {cond}")).parse().unwrap()
}

/// The server's `time_zone` at MariaDB's extremes (+13:00, -12:00) and SYSTEM, on a server whose
/// own process runs in a zone with a half-hour offset and DST (America/St_Johns), with the agent
/// in yet another zone (Asia/Kathmandu, +05:45): for a DATETIME and a TIMESTAMP expiry column,
/// no unexpired row goes, the row inside the grace period stays, and every row expired more
/// than `grace` ago goes.
#[test]
fn no_zone_changes_which_rows_go() {
    let srv = leak(start_server_with(&[], &[("TZ", "America/St_Johns")]));
    let system = srv.sql(None, "SELECT @@system_time_zone");
    assert!(system == "NST" || system == "NDT", "the server runs in St John's time: {system}");
    assert_ne!(server_offset_minutes(srv), 0, "SYSTEM is not UTC on this server");
    for (i, tz) in ["+13:00", "-12:00", "SYSTEM"].iter().enumerate() {
        srv.sql(None, &format!("SET GLOBAL time_zone = '{tz}'"));
        let db = srv.fresh_db(&format!("zone_{i}"));
        seed(&db);
        for table in ["token", "token_ts"] {
            let dir = temp_dir();
            let a = db
                .agent(dir.path())
                .param("target", "custom")
                .param("table", table)
                .param("expiry_column", "expires")
                .env("TZ", "Asia/Kathmandu");
            assert_eq!(a.run("start").code, 0);
            let m = a.run("monitor");
            assert_eq!(m.code, 0, "{tz} {table}: {m:?}");
            let what = format!("time_zone {tz}, {table}");
            assert_eq!(count(&db, table, "id LIKE 'old-%' OR id = 'edge-old'"), 0, "{what}: expired rows go");
            assert_eq!(count(&db, table, "id LIKE 'live-%'"), 150, "{what}: live rows stay");
            assert_eq!(count(&db, table, "id IN ('edge-grace', 'edge-future')"), 2, "{what}: grace and future stay");
            assert_eq!(count(&db, table, "expires IS NULL"), 5, "{what}: NULL rows stay");
            assert_eq!(a.run("stop").code, 0);
        }
    }
}

/// UTC time of day and zero-based day of the year of a Unix time, as `date -u` prints them.
fn utc_day_and_time(epoch: u64) -> (u32, String) {
    let out = Command::new("date").args(["-u", "-d", &format!("@{epoch}"), "+%j %H:%M:%S"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (day, hms) = text.split_once(' ').unwrap();
    (day.parse::<u32>().unwrap() - 1, hms.to_string())
}

/// A flush that straddles a DST change. Without faketime the server's clock cannot be moved to
/// a real transition, so the transition is moved to the server's clock instead: mariadbd runs
/// with a POSIX `TZ` rule, `TFS0TFD,<today>/<hh:mm:ss>,...`, that makes its local time jump from
/// UTC+0 to UTC+1 a few seconds into the test. The flush starts before the jump and is held up
/// by a row lock until the server's own clock (checked with `NOW() - UTC_TIMESTAMP()`) has
/// jumped, then deletes its remaining rows after it.
///
/// An agent that took its cutoff from the local clock (`NOW()`), or read it again per chunk,
/// would see "now" leap an hour ahead and delete every token expiring within that hour. The
/// rows are placed on both sides of the local jump, in naive UTC: expired ones up to a few
/// minutes before it must go, and live ones from a minute to an hour after it must stay.
#[test]
fn a_flush_straddling_a_dst_jump_deletes_exactly_the_same_rows() {
    common::warm_template();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let jump_at = now + 12;
    let (day, hms) = utc_day_and_time(jump_at);
    let tz = format!("TFS0TFD,{day}/{hms},{}/0", (day + 180) % 365);
    let srv = leak(start_server_with(&[], &[("TZ", &tz)]));
    assert_eq!(srv.sql(None, "SELECT @@system_time_zone"), "TFS", "the server runs in the test zone");
    assert_eq!(server_offset_minutes(srv), 0, "before the jump, local time is UTC");

    let db = srv.fresh_db("dst");
    let at = format!("FROM_UNIXTIME({jump_at})");
    db.sql(&format!(
        "SET time_zone = '+00:00';
         INSERT INTO token (id, expires, valid) SELECT CONCAT('old-', seq), UTC_TIMESTAMP() - INTERVAL 3 HOUR - INTERVAL seq SECOND, 1 FROM seq_1_to_400;
         INSERT INTO token (id, expires, valid) SELECT CONCAT('before-', seq), {at} - INTERVAL seq MINUTE, 1 FROM seq_3_to_40;
         INSERT INTO token (id, expires, valid) SELECT CONCAT('after-', seq), {at} + INTERVAL seq MINUTE, 1 FROM seq_1_to_70;
         INSERT INTO token (id, expires, valid) SELECT CONCAT('null-', seq), NULL, 1 FROM seq_1_to_4"
    ));
    // The last row the walk reaches: the newest expired one.
    let last = "before-3";
    let mut holder = db.server.session(&db.name);
    holder.exec(&format!("BEGIN; UPDATE token SET extra = 'held' WHERE id = '{last}';"));

    let dir = temp_dir();
    let a = db
        .agent(dir.path())
        .param("batch_size", "10")
        .env("TZ", "Europe/Berlin")
        .env("OCF_RESKEY_CRM_meta_timeout", "30000");
    assert_eq!(a.run("start").code, 0);
    let wait_until = |epoch: u64| {
        while SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() < epoch as f64 {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(now + 2 <= jump_at, "set-up took too long to start the flush before the jump");
    wait_until(jump_at - 2);
    assert_eq!(server_offset_minutes(srv), 0, "the flush starts before the jump");
    let m = a.spawn(&["monitor"]);
    let t = Instant::now();
    while server_offset_minutes(srv) != 60 {
        assert!(t.elapsed() < Duration::from_secs(10), "the server's clock never jumped");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(m.pid() > 0 && std::path::Path::new(&format!("/proc/{}", m.pid())).exists());
    holder.exec("ROLLBACK;");
    let r = m.wait();
    assert_eq!(r.code, 0, "{r:?}");
    holder.close();

    let cutoff = r.stderr.split("cutoff ").nth(1).and_then(|s| s.get(..19)).expect("the cutoff is logged").to_string();
    let cutoff_epoch: u64 =
        db.sql(&format!("SET time_zone = '+00:00'; SELECT UNIX_TIMESTAMP('{cutoff}')")).parse().unwrap();
    assert!(cutoff_epoch < jump_at - 55, "the cutoff was read once, before the jump: {cutoff}");
    assert_eq!(db.count(&format!("id = '{last}'")), 0, "the row released after the jump went: {r:?}");
    assert_eq!(db.count("id LIKE 'old-%' OR id LIKE 'before-%'"), 0, "every expired row went");
    assert_eq!(db.count("id LIKE 'after-%'"), 70, "no row expiring in the hour after the jump went");
    assert_eq!(db.nulls(), 4);
    assert_eq!(server_offset_minutes(srv), 60, "the server is still an hour ahead of UTC");
    assert_eq!(a.run("stop").code, 0);
}
