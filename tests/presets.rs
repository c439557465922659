//! The `target` presets against the real schemas they target, and the guards of `custom`.

mod common;

use common::{server, temp_dir, Agent};

/// Keystone's `trust` table exactly as Keystone 30.0.0's `db_sync` creates it (tests/openstack/e2e.sh
/// checks the file against a real one). No index covers the expiry.
pub const TRUST_SCHEMA: &str = include_str!("../scripts/keystone-trust.sql");

/// A trust row as Keystone's setter writes it: `expires_at` and `expires_at_int` carry the same
/// instant, `offset` seconds from now (negative: in the past).
fn trust_values(id: &str, offset: &str, deleted: bool) -> String {
    let at = format!("UTC_TIMESTAMP() + INTERVAL {offset} SECOND");
    let deleted = if deleted { "UTC_TIMESTAMP()" } else { "NULL" };
    format!(
        "('{id}', 'tr-{id}', 'te', 'p', 0, {deleted}, {at}, \
         TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {at}), '{{}}')"
    )
}

const TRUST_COLS: &str =
    "(id, trustor_user_id, trustee_user_id, project_id, impersonation, deleted_at, expires_at, expires_at_int, extra)";

fn ids(db: &common::TestDb, table: &str) -> Vec<String> {
    let out = db.sql(&format!("SELECT id FROM {table} ORDER BY id"));
    out.lines().map(str::to_string).collect()
}

/// keystone-trust deletes what `keystone-manage trust_flush` deletes: soft-deleted trusts,
/// whatever their dates, and trusts whose `expires_at_int` is past. Keystone's filter compiles
/// to `expires_at_int` alone, so a trust whose `expires_at_int` is NULL is kept whatever its
/// `expires_at` says (`old-row-no-int`), as Keystone keeps it; `in-grace` stays for the grace.
#[test]
fn keystone_trust_flushes_expired_and_soft_deleted_trusts() {
    let db = server().fresh_db("trust_preset");
    db.sql(TRUST_SCHEMA);
    let rows = [
        trust_values("expired", "-3600", false),
        trust_values("live", "86400", false),
        trust_values("deleted-live", "86400", true),
        trust_values("in-grace", "-20", false),
    ];
    db.sql(&format!("INSERT INTO trust {TRUST_COLS} VALUES {}", rows.join(",")));
    db.sql(
        "INSERT INTO trust (id, trustor_user_id, trustee_user_id, impersonation, expires_at, expires_at_int, deleted_at) VALUES \
         ('never', 'a', 'b', 0, NULL, NULL, NULL), \
         ('deleted-never', 'c', 'b', 0, NULL, NULL, UTC_TIMESTAMP() - INTERVAL 1 DAY), \
         ('old-row-no-int', 'd', 'b', 0, UTC_TIMESTAMP() - INTERVAL 1 DAY, NULL, NULL), \
         ('int-wins-live', 'e', 'b', 0, UTC_TIMESTAMP() - INTERVAL 1 DAY, \
            TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP() + INTERVAL 1 DAY), NULL)",
    );
    // Enough rows for many chunks through the primary-key walk.
    db.sql(
        "INSERT INTO trust (id, trustor_user_id, trustee_user_id, impersonation, expires_at, expires_at_int) \
         SELECT CONCAT('bulk-x-', seq), CONCAT('u', seq), 'b', 0, UTC_TIMESTAMP() - INTERVAL seq + 1 MINUTE, \
         TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP() - INTERVAL seq + 1 MINUTE) FROM seq_1_to_1500; \
         INSERT INTO trust (id, trustor_user_id, trustee_user_id, impersonation, expires_at, expires_at_int) \
         SELECT CONCAT('bulk-y-', seq), CONCAT('u', seq), 'b', 0, UTC_TIMESTAMP() + INTERVAL seq MINUTE, \
         TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP() + INTERVAL seq MINUTE) FROM seq_1_to_1500",
    );
    let token_rows_before = db.count("1");
    db.fill(10, 0);

    // --dry-run counts what the flush will delete, with the same rule.
    let r = Agent::new().run_args(&[
        "flush",
        "--connection",
        &db.url(),
        "--target",
        "keystone-trust",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["expired_rows"], 1500 + 3, "{v}");

    let dir = temp_dir();
    let a = db.agent(dir.path()).param("target", "keystone-trust").param("batch_size", "100");
    assert_eq!(a.clone().env("OCF_CHECK_LEVEL", "10").run("validate-all").code, 0);
    assert_eq!(a.run("start").code, 0);
    let m = a.run("monitor");
    assert_eq!(m.code, 0, "{m:?}");
    let left = ids(&db, "trust");
    let named: Vec<&str> = left.iter().map(String::as_str).filter(|i| !i.starts_with("bulk-")).collect();
    assert_eq!(named, vec!["in-grace", "int-wins-live", "live", "never", "old-row-no-int"], "{m:?}");
    assert_eq!(db.sql("SELECT COUNT(*) FROM trust WHERE id LIKE 'bulk-x-%'"), "0");
    assert_eq!(db.sql("SELECT COUNT(*) FROM trust WHERE id LIKE 'bulk-y-%'"), "1500");
    assert_eq!(db.count("1"), token_rows_before + 20, "the token table is not this target's business");
    let st = common::state_json(dir.path());
    assert_eq!(st["last_flush"]["rows"], 1500 + 3, "{st}");
    assert!(st["last_flush"]["chunks"].as_u64().unwrap() >= 15, "{st}");
    assert_eq!(a.run("stop").code, 0);
}

/// A trust table from before Queens has no `expires_at_int`; the preset then reads `expires_at`.
#[test]
fn keystone_trust_works_on_schemas_without_expires_at_int() {
    let db = server().fresh_db("trust_old");
    db.sql(TRUST_SCHEMA);
    // The pre-Queens table had today's 5-column unique key, which does not name expires_at_int.
    db.sql("ALTER TABLE trust DROP COLUMN expires_at_int");
    db.sql(
        "INSERT INTO trust (id, trustor_user_id, trustee_user_id, impersonation, expires_at, deleted_at) VALUES \
         ('expired', 'a', 'b', 0, UTC_TIMESTAMP() - INTERVAL 1 HOUR, NULL), ('live', 'c', 'b', 0, UTC_TIMESTAMP() + INTERVAL 1 HOUR, NULL), \
         ('deleted', 'd', 'b', 0, NULL, UTC_TIMESTAMP())",
    );
    let r = Agent::new().run_args(&["flush", "--connection", &db.url(), "--target", "keystone-trust", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["rows_deleted"], 2, "{v}");
    assert_eq!(ids(&db, "trust"), vec!["live"]);
}

/// The default target is Keystone's token table; naming a table or column with a preset is a
/// configuration error (6), because the preset would silently flush something else.
#[test]
fn table_and_expiry_column_need_target_custom() {
    let db = server().fresh_db("target_params");
    db.fill(5, 0);
    let dir = temp_dir();
    let a = db.agent(dir.path());
    for (k, v) in [("table", "token"), ("expiry_column", "expires")] {
        for target in [None, Some("keystone-token"), Some("keystone-trust")] {
            let mut bad = a.clone().param(k, v);
            if let Some(t) = target {
                bad = bad.param("target", t);
            }
            let r = bad.run("validate-all");
            assert_eq!(r.code, 6, "{k} with {target:?}: {r:?}");
            assert!(r.reason().unwrap().contains("applies only with target=custom"), "{r:?}");
            assert_eq!(bad.run("start").code, 6);
        }
    }
    assert_eq!(a.clone().param("target", "nonsense").run("validate-all").code, 6);
    assert_eq!(a.clone().param("target", "custom").param("table", "token").run("validate-all").code, 6);
    assert_eq!(a.run("start").code, 0);
    assert_eq!(a.run("monitor").code, 0);
    assert_eq!(db.expired(), 0, "the default target flushed the token table");
    a.run("stop");
}

/// `custom` takes any table with a single-column primary key and an expiry that is DATETIME,
/// TIMESTAMP or BIGINT epoch microseconds, indexed or not.
#[test]
fn custom_accepts_datetime_timestamp_and_epoch_microseconds() {
    let db = server().fresh_db("custom_kinds");
    db.sql(
        "CREATE TABLE sess_us (id INT AUTO_INCREMENT PRIMARY KEY, exp_us BIGINT NULL, INDEX (exp_us)); \
         INSERT INTO sess_us (exp_us) SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP() - INTERVAL seq + 1 MINUTE) FROM seq_1_to_300; \
         INSERT INTO sess_us (exp_us) SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP() + INTERVAL seq MINUTE) FROM seq_1_to_200; \
         INSERT INTO sess_us (exp_us) VALUES (NULL); \
         CREATE TABLE sess_ts (id VARCHAR(40) PRIMARY KEY, valid_until TIMESTAMP NULL DEFAULT NULL); \
         INSERT INTO sess_ts SELECT CONCAT('old', seq), UTC_TIMESTAMP() - INTERVAL seq HOUR FROM seq_1_to_250; \
         INSERT INTO sess_ts SELECT CONCAT('new', seq), UTC_TIMESTAMP() + INTERVAL seq HOUR FROM seq_1_to_50;",
    );
    // The server's zone is far from UTC: TIMESTAMP comparisons happen in the session's UTC.
    for (table, col, gone, kept) in [("sess_us", "exp_us", 300, 201), ("sess_ts", "valid_until", 250, 50)] {
        let r = Agent::new().env("TZ", "Asia/Tokyo").run_args(&[
            "flush",
            "--connection",
            &db.url(),
            "--target",
            "custom",
            "--table",
            table,
            "--expiry-column",
            col,
            "--batch-size",
            "64",
            "--json",
        ]);
        assert_eq!(r.code, 0, "{table}: {r:?}");
        let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
        assert_eq!(v["rows_deleted"], gone, "{table}: {v}");
        assert_eq!(db.sql(&format!("SELECT COUNT(*) FROM {table}")), kept.to_string(), "{table}");
    }
}

/// An integer column holding epoch seconds (or one too small to hold microseconds) is refused:
/// against a cutoff in microseconds every row would look expired and the table would be emptied.
#[test]
fn an_integer_expiry_in_epoch_seconds_is_refused_not_flushed() {
    let db = server().fresh_db("custom_seconds");
    db.sql(
        "CREATE TABLE s_sec (id INT PRIMARY KEY, exp BIGINT, INDEX (exp)); \
         INSERT INTO s_sec SELECT seq, UNIX_TIMESTAMP() + 86400 + seq FROM seq_1_to_100; \
         CREATE TABLE s_int (id INT PRIMARY KEY, exp INT, INDEX (exp)); \
         INSERT INTO s_int SELECT seq, UNIX_TIMESTAMP() + 86400 FROM seq_1_to_10;",
    );
    let dir = temp_dir();
    for (table, words) in [("s_sec", "not epoch microseconds"), ("s_int", "too small for epoch microseconds")] {
        let a = db.agent(dir.path()).param("target", "custom").param("table", table).param("expiry_column", "exp");
        let v = a.clone().env("OCF_CHECK_LEVEL", "10").run("validate-all");
        assert_eq!(v.code, 6, "{v:?}");
        assert!(v.reason().unwrap().contains(words), "{v:?}");
        assert_eq!(a.run("start").code, 0);
        let m = a.run("monitor");
        assert_eq!(m.code, 190, "{m:?}");
        assert!(m.reason().unwrap().contains(words), "{m:?}");
        a.run("stop");
        let r = Agent::new().run_args(&[
            "flush",
            "--connection",
            &db.url(),
            "--target",
            "custom",
            "--table",
            table,
            "--expiry-column",
            "exp",
        ]);
        assert_ne!(r.code, 0, "{r:?}");
    }
    assert_eq!(db.sql("SELECT COUNT(*) FROM s_sec"), "100", "nothing was deleted");
    assert_eq!(db.sql("SELECT COUNT(*) FROM s_int"), "10");
}
