//! The presets of several tables and of other rule kinds, against schemas shaped like the
//! services' (tests/parity/ checks them row for row against the official tools themselves):
//! soft deletes, retention ages, rows dated through a parent, orphans, children before their
//! parents, a parent its children hold, and one budget shared fairly across the tables.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{server, start_server, temp_dir, Agent, Server, TestDb};

fn flush(db: &TestDb, extra: &[&str]) -> serde_json::Value {
    let url = db.url();
    let mut args = vec!["flush", "--json", "--connection", url.as_str()];
    args.extend_from_slice(extra);
    let r = Agent::new().run_args(&args);
    assert_eq!(r.code, 0, "{r:?}");
    serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

fn ids(db: &TestDb, table: &str) -> Vec<String> {
    db.sql(&format!("SELECT id FROM {table} ORDER BY id")).lines().map(str::to_string).collect()
}

/// keystone-trust goes beyond Keystone, as documented: each trust's `trust_role` rows go with
/// it, then the roles whose trust was already gone (orphans an earlier `keystone-manage
/// trust_flush` left); the roles of live trusts stay.
#[test]
fn keystone_trust_also_sweeps_the_roles_of_trusts_that_are_gone() {
    let db = server().fresh_db("trust_roles");
    db.sql(include_str!("../scripts/keystone-trust.sql"));
    db.sql(include_str!("../scripts/keystone-trust-role.sql"));
    db.sql(
        "INSERT INTO trust (id, trustor_user_id, trustee_user_id, impersonation, expires_at_int, deleted_at) VALUES \
         ('expired', 'a', 'b', 0, TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP() - INTERVAL 1 DAY), NULL), \
         ('live', 'c', 'b', 0, TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP() + INTERVAL 1 DAY), NULL), \
         ('deleted', 'd', 'b', 0, NULL, UTC_TIMESTAMP()); \
         INSERT INTO trust_role VALUES ('expired', 'r1'), ('expired', 'r2'), ('live', 'r1'), ('deleted', 'r3'), \
         ('long-gone', 'r1'), ('long-gone', 'r4')",
    );
    let v = flush(&db, &["--target", "keystone-trust"]);
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(ids(&db, "trust"), ["live"]);
    assert_eq!(db.sql("SELECT GROUP_CONCAT(CONCAT(trust_id, '/', role_id)) FROM trust_role"), "live/r1");
    assert_eq!(v["rows_deleted"], 2 + 2, "two trusts, then two orphaned roles: {v}");
    assert_eq!(v["rows_deleted_with"], 3, "the trusts' own three roles went with them: {v}");
    assert_eq!(v["tables"][0]["rows_deleted_with"], 3, "{v}");
    let tables: Vec<&str> = v["tables"].as_array().unwrap().iter().map(|t| t["table"].as_str().unwrap()).collect();
    assert_eq!(tables, ["trust", "trust_role"], "{v}");
}

/// keystone-revocation prunes `revocation_event` with Keystone's own cutoff, `[token]
/// expiration` + `[revoke] expiration_buffer` from keystone.conf and keystone.conf.d.
#[test]
fn keystone_revocation_uses_keystones_own_cutoff() {
    let db = server().fresh_db("revocation");
    db.sql(include_str!("../scripts/keystone-revocation-event.sql"));
    db.sql(
        "INSERT INTO revocation_event (user_id, issued_before, revoked_at) VALUES \
         ('old', UTC_TIMESTAMP(), UTC_TIMESTAMP() - INTERVAL 1000 SECOND), \
         ('recent', UTC_TIMESTAMP(), UTC_TIMESTAMP() - INTERVAL 800 SECOND)",
    );
    let dir = temp_dir();
    let conf = dir.path().join("keystone.conf");
    std::fs::write(&conf, "[token]\nexpiration = 600\n").unwrap();
    std::fs::create_dir(dir.path().join("keystone.conf.d")).unwrap();
    std::fs::write(dir.path().join("keystone.conf.d/revoke.conf"), "[revoke]\nexpiration_buffer = 300\n").unwrap();
    let v = flush(&db, &["--target", "keystone-revocation", "--config", conf.to_str().unwrap()]);
    assert_eq!(v["rows_deleted"], 1, "{v}");
    assert_eq!(db.sql("SELECT GROUP_CONCAT(user_id) FROM revocation_event"), "recent");
}

/// cinder: soft-deleted rows (`deleted` set and `deleted_at` past the age) in every table that
/// has them, children before parents; a soft-deleted volume whose snapshot is still live stays,
/// counted, instead of failing the whole purge as `cinder-manage db purge` does.
#[test]
fn cinder_deletes_children_first_and_keeps_a_parent_its_child_holds() {
    let db = server().fresh_db("cinder");
    db.sql(
        "DROP TABLE token; \
         CREATE TABLE volumes (id VARCHAR(36) PRIMARY KEY, deleted TINYINT(1), deleted_at DATETIME) ENGINE=InnoDB; \
         CREATE TABLE snapshots (id VARCHAR(36) PRIMARY KEY, volume_id VARCHAR(36) NOT NULL, deleted TINYINT(1), \
           deleted_at DATETIME, CONSTRAINT snapshots_ibfk_1 FOREIGN KEY (volume_id) REFERENCES volumes (id)) ENGINE=InnoDB; \
         CREATE TABLE services (id INT PRIMARY KEY, deleted TINYINT(1), deleted_at DATETIME) ENGINE=InnoDB; \
         INSERT INTO volumes VALUES ('gone', 1, UTC_TIMESTAMP() - INTERVAL 40 DAY), ('held', 1, UTC_TIMESTAMP() - INTERVAL 40 DAY), \
           ('recent', 1, UTC_TIMESTAMP() - INTERVAL 5 DAY), ('live', 0, NULL), ('undeleted', 0, UTC_TIMESTAMP() - INTERVAL 40 DAY); \
         INSERT INTO snapshots VALUES ('s-gone', 'gone', 1, UTC_TIMESTAMP() - INTERVAL 40 DAY), ('s-live', 'held', 0, NULL); \
         INSERT INTO services VALUES (1, 1, UTC_TIMESTAMP() - INTERVAL 31 DAY), (2, 0, NULL)",
    );
    let v = flush(&db, &["--target", "cinder", "--age-in-days", "30"]);
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(ids(&db, "volumes"), ["held", "live", "recent", "undeleted"]);
    assert_eq!(ids(&db, "snapshots"), ["s-live"]);
    assert_eq!(ids(&db, "services"), ["2"]);
    assert_eq!(v["kept_by_children"], 1, "the volume its live snapshot holds is counted: {v}");
    let order: Vec<&str> = v["tables"].as_array().unwrap().iter().map(|t| t["table"].as_str().unwrap()).collect();
    let pos = |t| order.iter().position(|o| *o == t).unwrap();
    assert!(pos("snapshots") < pos("volumes"), "children first: {order:?}");
    // A second flush changes nothing and never loops on the held parent.
    let v = flush(&db, &["--target", "cinder", "--age-in-days", "30"]);
    assert_eq!((v["rows_deleted"].as_u64(), v["complete"].as_bool()), (Some(0), Some(true)), "{v}");
}

/// glance: rows whose `deleted_at` is past the age (glance tests nothing else), the `task_info`
/// of such tasks first, `tasks` last, and never `images`, however old and deleted.
#[test]
fn glance_never_touches_images_and_takes_task_info_with_its_task() {
    let db = server().fresh_db("glance");
    let old = "UTC_TIMESTAMP() - INTERVAL 40 DAY";
    db.sql(&format!(
        "DROP TABLE token; \
         CREATE TABLE images (id VARCHAR(36) PRIMARY KEY, deleted TINYINT(1) NOT NULL, deleted_at DATETIME) ENGINE=InnoDB; \
         CREATE TABLE image_properties (id INT PRIMARY KEY, image_id VARCHAR(36) NOT NULL, deleted TINYINT(1) NOT NULL, \
           deleted_at DATETIME, FOREIGN KEY (image_id) REFERENCES images (id)) ENGINE=InnoDB; \
         CREATE TABLE image_tags LIKE image_properties; CREATE TABLE image_locations LIKE image_properties; \
         CREATE TABLE image_members LIKE image_properties; \
         CREATE TABLE tasks (id VARCHAR(36) PRIMARY KEY, deleted TINYINT(1) NOT NULL, deleted_at DATETIME) ENGINE=InnoDB; \
         CREATE TABLE task_info (task_id VARCHAR(36) PRIMARY KEY, input TEXT, \
           FOREIGN KEY (task_id) REFERENCES tasks (id)) ENGINE=InnoDB; \
         INSERT INTO images VALUES ('img-old-deleted', 1, {old}), ('img', 0, NULL); \
         INSERT INTO image_properties VALUES (1, 'img-old-deleted', 1, {old}), (2, 'img', 0, NULL), (3, 'img', 0, {old}); \
         INSERT INTO tasks VALUES ('t-old', 1, {old}), ('t-live', 0, NULL); \
         INSERT INTO task_info VALUES ('t-old', 'x'), ('t-live', 'y')"
    ));
    let v = flush(&db, &["--target", "glance"]);
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(ids(&db, "images"), ["img", "img-old-deleted"], "images is never purged");
    assert_eq!(ids(&db, "image_properties"), ["2"], "deleted_at alone decides, as in glance");
    assert_eq!(ids(&db, "tasks"), ["t-live"]);
    assert_eq!(db.sql("SELECT GROUP_CONCAT(task_id) FROM task_info"), "t-live");
}

/// nova-shadow: every `shadow_*` table by the column nova's purge dates it by (`deleted_at`;
/// `created_at` for the instance actions; none at all for `shadow_alembic_version`, skipped).
#[test]
fn nova_shadow_dates_each_table_as_nova_does() {
    let db = server().fresh_db("nova_shadow");
    db.sql(
        "CREATE TABLE shadow_instances (id INT PRIMARY KEY, created_at DATETIME, deleted_at DATETIME) ENGINE=InnoDB; \
         CREATE TABLE shadow_instance_actions (id INT PRIMARY KEY, created_at DATETIME, deleted_at DATETIME) ENGINE=InnoDB; \
         CREATE TABLE shadow_alembic_version (version_num VARCHAR(32) PRIMARY KEY) ENGINE=InnoDB; \
         CREATE TABLE instances (id INT PRIMARY KEY, deleted_at DATETIME) ENGINE=InnoDB; \
         INSERT INTO shadow_instances VALUES (1, UTC_TIMESTAMP() - INTERVAL 99 DAY, UTC_TIMESTAMP() - INTERVAL 20 DAY), \
           (2, UTC_TIMESTAMP() - INTERVAL 99 DAY, UTC_TIMESTAMP() - INTERVAL 3 DAY); \
         INSERT INTO shadow_instance_actions VALUES (1, UTC_TIMESTAMP() - INTERVAL 20 DAY, NULL), \
           (2, UTC_TIMESTAMP() - INTERVAL 3 DAY, UTC_TIMESTAMP() - INTERVAL 99 DAY); \
         INSERT INTO shadow_alembic_version VALUES ('abc'); \
         INSERT INTO instances VALUES (1, UTC_TIMESTAMP() - INTERVAL 99 DAY)",
    );
    let v = flush(&db, &["--target", "nova-shadow", "--age-in-days", "14"]);
    assert_eq!(v["rows_deleted"], 2, "{v}");
    assert_eq!(ids(&db, "shadow_instances"), ["2"]);
    assert_eq!(ids(&db, "shadow_instance_actions"), ["2"], "dated by created_at, not deleted_at");
    assert_eq!(db.sql("SELECT COUNT(*) FROM shadow_alembic_version"), "1");
    assert_eq!(ids(&db, "instances"), ["1"], "only shadow tables");
}

/// aodh-alarm-history: nothing without a time to live (aodh-expirer does nothing without one,
/// so the configuration is refused), then the history older than it.
#[test]
fn aodh_alarm_history_keeps_its_time_to_live() {
    let db = server().fresh_db("aodh");
    db.sql(
        "CREATE TABLE alarm_history (event_id VARCHAR(128) PRIMARY KEY, alarm_id VARCHAR(128), \
         `timestamp` DATETIME(6)) ENGINE=InnoDB; \
         INSERT INTO alarm_history VALUES ('old', 'a', UTC_TIMESTAMP(6) - INTERVAL 2 HOUR), \
         ('new', 'a', UTC_TIMESTAMP(6) - INTERVAL 10 MINUTE), ('null', 'a', NULL)",
    );
    let r = Agent::new().run_args(&["flush", "--connection", &db.url(), "--target", "aodh-alarm-history"]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(r.stderr.contains("needs time_to_live"), "{r:?}");
    let v = flush(&db, &["--target", "aodh-alarm-history", "--time-to-live", "3600"]);
    assert_eq!(v["rows_deleted"], 1, "{v}");
    assert_eq!(db.sql("SELECT GROUP_CONCAT(event_id ORDER BY event_id) FROM alarm_history"), "new,null");
}

/// One monitor's budget is shared across a target's tables, and the next monitor starts with
/// the table the last one did not finish, so that no table waits for the others to be empty.
#[test]
fn a_target_of_many_tables_shares_the_budget_and_resumes_where_it_stopped() {
    let db = server().fresh_db("many_tables");
    let mut ddl = String::from("DROP TABLE token;");
    for t in ["aa", "bb", "cc"] {
        ddl.push_str(&format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, deleted TINYINT(1), deleted_at DATETIME, KEY (deleted_at)) ENGINE=InnoDB; \
             INSERT INTO {t} SELECT seq, 1, UTC_TIMESTAMP() - INTERVAL 40 DAY FROM seq_1_to_600;"
        ));
    }
    db.sql(&ddl);
    let dir = temp_dir();
    let a = db
        .agent(dir.path())
        .param("target", "cinder")
        .param("batch_size", "10")
        .param("sleep_ms", "10")
        .env("OCF_RESKEY_CRM_meta_timeout", "2000");
    assert_eq!(a.run("start").code, 0);
    assert_eq!(a.run("monitor").code, 0);
    let left = |t: &str| -> u64 { db.sql(&format!("SELECT COUNT(*) FROM {t}")).parse().unwrap() };
    assert!(["aa", "bb", "cc"].iter().all(|t| left(t) < 600), "every table got a share of the first budget");
    let st = common::state_json(dir.path());
    assert_eq!(st["pending"], true, "{st}");
    assert!(st["next_table"].is_string(), "the next monitor knows where to start: {st}");
    for _ in 0..20 {
        if ["aa", "bb", "cc"].iter().all(|t| left(t) == 0) {
            break;
        }
        assert_eq!(a.run("monitor").code, 0);
    }
    assert!(["aa", "bb", "cc"].iter().all(|t| left(t) == 0));
    assert_eq!(a.run("stop").code, 0);
}

// ---------------------------------------------------------------------------------------------
// What goes with a row goes in its transaction, and counts against batch_size
// ---------------------------------------------------------------------------------------------

/// A server that logs every row it changes (ROW binary log), for counting transactions.
fn logging_server() -> &'static Server {
    let srv = start_server(&["--log-bin=binlog", "--server-id=1", "--binlog-format=ROW"]);
    Box::leak(Box::new(srv))
}

/// The rows of each transaction the server logged for database `db`, by table. The server
/// does not log what `ON DELETE CASCADE` removes, only each statement's own rows.
fn transactions(srv: &Server, db: &str) -> Vec<BTreeMap<String, u64>> {
    srv.sql(None, "FLUSH BINARY LOGS");
    let data = srv.dir.join("data");
    let mut files: Vec<_> = std::fs::read_dir(&data)
        .expect("datadir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("binlog.0")))
        .collect();
    files.sort();
    let out = Command::new("mariadb-binlog")
        .args(["--no-defaults", "-v", "--base64-output=decode-rows"])
        .args(&files)
        .output()
        .expect("mariadb-binlog");
    let mut txns: Vec<BTreeMap<String, u64>> = Vec::new();
    let prefix = format!("`{db}`.`");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.starts_with('#') && line.contains("\tGTID ") {
            txns.push(BTreeMap::new());
        }
        let row = ["### DELETE FROM ", "### INSERT INTO ", "### UPDATE "].iter().find_map(|k| line.strip_prefix(k));
        if let (Some(t), Some(cur)) = (row.and_then(|r| r.strip_prefix(&prefix)), txns.last_mut()) {
            *cur.entry(t.trim_end_matches('`').to_string()).or_default() += 1;
        }
    }
    txns.retain(|t| !t.is_empty());
    txns
}

/// Each trust's roles are deleted in the trust's own transaction, and the whole transaction,
/// roles included, stays within batch_size: 30 trusts of 4 roles each with a batch of 12 make
/// transactions of 2 trusts and 8 roles. From the server's log, not the flush's word.
#[test]
fn each_trusts_roles_go_in_its_transaction_within_batch_size() {
    let srv = logging_server();
    let db = srv.fresh_db("trust_txn");
    db.sql(include_str!("../scripts/keystone-trust.sql"));
    db.sql(include_str!("../scripts/keystone-trust-role.sql"));
    db.sql(
        "INSERT INTO trust (id, trustor_user_id, trustee_user_id, impersonation, expires_at_int) \
         SELECT CONCAT('t', seq), 'a', 'b', 0, TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP() - INTERVAL 1 DAY) - seq \
         FROM seq_1_to_30; \
         INSERT INTO trust_role SELECT CONCAT('t', a.seq), CONCAT('r', b.seq) FROM seq_1_to_30 a, seq_1_to_4 b; \
         INSERT INTO trust (id, trustor_user_id, trustee_user_id, impersonation, expires_at_int) VALUES \
         ('live', 'a', 'b', 0, TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP() + INTERVAL 1 DAY)); \
         INSERT INTO trust_role VALUES ('live', 'r1')",
    );
    srv.sql(None, "FLUSH BINARY LOGS; RESET MASTER");
    let v = flush(&db, &["--target", "keystone-trust", "--batch-size", "12"]);
    assert_eq!(
        (v["complete"].clone(), v["rows_deleted"].clone(), v["rows_deleted_with"].clone()),
        (true.into(), 30.into(), 120.into()),
        "{v}"
    );
    assert_eq!(v["max_rows_per_transaction"], 10, "two trusts and their eight roles: {v}");
    assert_eq!(db.sql("SELECT GROUP_CONCAT(trust_id) FROM trust_role"), "live");
    let txns = transactions(srv, &db.name);
    assert_eq!(txns.len(), 15, "{txns:?}");
    for t in &txns {
        assert_eq!((t.get("trust"), t.get("trust_role")), (Some(&2), Some(&8)), "every trust with its roles: {txns:?}");
    }
}

/// Flushes [`TestDb::cascading_alarms`] with a batch of 25 and checks, in the report and in the
/// server's binary log, that each transaction took 2 alarms and their 18 changes.
fn two_alarms_a_transaction(srv: &Server, db: &TestDb) {
    srv.sql(None, "FLUSH BINARY LOGS; RESET MASTER");
    let target = ["--target", "custom", "--table", "alarm", "--expiry-column", "expires", "--batch-size", "25"];
    let v = flush(db, &target);
    assert_eq!((v["rows_deleted"].clone(), v["rows_deleted_with"].clone()), (40.into(), 360.into()), "{v}");
    assert_eq!(v["max_rows_per_transaction"], 20, "two alarms and their 18 changes: {v}");
    assert_eq!(db.sql("SELECT COUNT(*) FROM alarm_change"), "1", "the live alarm's change stays");
    let txns = transactions(srv, &db.name);
    assert_eq!(txns.len(), 20, "{txns:?}");
    assert!(txns.iter().all(|t| t.get("alarm") == Some(&2)), "{txns:?}");
}

/// A child's key matches its parent's by the column's collation, as the foreign key and its
/// cascade do, not byte for byte: with a case-insensitive key, children written `p-7` cascade
/// from parent `P-7`. Counting them by bytes found no family at all: chunks of 25 parents took
/// 225 cascaded rows with them, and the report said none went.
#[test]
fn a_family_is_counted_by_the_keys_collation() {
    let srv = logging_server();
    let db = srv.fresh_db("cascade_collation");
    db.cascading_alarms("VARCHAR(20) COLLATE utf8mb4_general_ci", "CONCAT('P-', {})", "CONCAT('p-', {})");
    two_alarms_a_transaction(srv, &db);
}

/// A custom table whose children go by `ON DELETE CASCADE`: what the cascade removes counts
/// against batch_size (InnoDB removes it inside the parent's DELETE, which reports only the
/// parent's rows). 40 parents of 9 children with a batch of 25: 2 parents a transaction.
#[test]
fn rows_a_cascade_removes_count_against_batch_size() {
    let srv = logging_server();
    let db = srv.fresh_db("cascade_txn");
    db.cascading_alarms("INT", "{}", "{}");
    two_alarms_a_transaction(srv, &db);
}
