//! The session settings the engine relies on, set explicitly and read back.
//!
//! The server's `init_connect` runs for every user without SUPER (Keystone's included) before
//! the client sends anything, and a DBA may use it to turn autocommit off, change the isolation,
//! the time zone, the connection character set or the SQL mode. None of those is the agent's to
//! trust: each one changes what a chunk does (a chunk that never commits, a TIMESTAMP compared in
//! another zone, keys that do not survive the round trip as a cursor, a COMMIT that ends the
//! session, a cascade that no longer cascades, an information_schema read cut short). So the
//! session sets each one itself after connecting, reads them all back, and refuses to flush if
//! one did not take.

use mysql_async::Row;

/// What a flushing session needs, as `SET` statements run in this order after connecting.
pub fn statements(lock_wait_timeout: u32) -> Vec<String> {
    vec![
        // Every chunk commits on its own.
        "SET SESSION autocommit = 1".to_string(),
        // No gap locks: a range delete must not block Keystone inserting new rows. Writable,
        // whatever the DBA made the session's default.
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED, READ WRITE".to_string(),
        // A COMMIT ends the transaction and nothing else (RELEASE would end the session, CHAIN
        // open another); foreign keys are checked and cascade; unique keys are checked (the
        // rebuild's copy); no statement is refused as unkeyed or as reading too many rows; and
        // no result the engine reads (information_schema's columns, privileges, keys) is cut at
        // `sql_select_limit`.
        "SET SESSION completion_type = 'NO_CHAIN', foreign_key_checks = 1, unique_checks = 1, \
         sql_safe_updates = 0, sql_big_selects = 1, sql_select_limit = DEFAULT"
            .to_string(),
        // Every key round-trips as a cursor unchanged, 4-byte UTF-8 included.
        "SET NAMES utf8mb4".to_string(),
        // No mode that changes what an expression means (PIPES_AS_CONCAT, HIGH_NOT_PRECEDENCE,
        // PAD_CHAR_TO_FULL_LENGTH, ORACLE, ...); strict, so a copied row is never silently changed.
        format!("SET SESSION sql_mode = '{SQL_MODE}'"),
        // A TIMESTAMP compares in UTC like Keystone's naive-UTC DATETIMEs; a row lock costs
        // seconds, not the default 50.
        format!("SET SESSION time_zone = '+00:00', innodb_lock_wait_timeout = {}", lock_wait_timeout.max(1)),
    ]
}

pub const SQL_MODE: &str = "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION";

/// The read-back, in the order of [`Observed`]'s fields. `{tx}` is the prefix of the
/// transaction variables' names: `tx` (MariaDB), or `transaction` (MySQL 8, which dropped
/// `tx_isolation` and `tx_read_only`).
pub fn readback(tx: &str) -> String {
    format!(
        "SELECT @@session.autocommit, @@session.{tx}_isolation, @@session.time_zone, \
         @@session.character_set_client, @@session.character_set_connection, @@session.character_set_results, \
         @@session.sql_mode, @@session.{tx}_read_only, @@session.completion_type, @@session.foreign_key_checks, \
         @@session.unique_checks, @@session.sql_safe_updates, @@session.sql_big_selects, @@session.sql_select_limit"
    )
}

/// The session as the server reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub autocommit: i64,
    pub isolation: String,
    pub time_zone: String,
    pub charset_client: String,
    pub charset_connection: String,
    pub charset_results: Option<String>,
    pub sql_mode: String,
    pub read_only: i64,
    pub completion_type: String,
    pub foreign_key_checks: i64,
    pub unique_checks: i64,
    pub sql_safe_updates: i64,
    pub sql_big_selects: i64,
    pub sql_select_limit: u64,
}

impl Observed {
    /// The read-back's one row; `None` when a value is missing or of another type.
    pub fn from_row(row: &Row) -> Option<Observed> {
        Some(Observed {
            autocommit: row.get_opt(0)?.ok()?,
            isolation: row.get_opt(1)?.ok()?,
            time_zone: row.get_opt(2)?.ok()?,
            charset_client: row.get_opt(3)?.ok()?,
            charset_connection: row.get_opt(4)?.ok()?,
            charset_results: row.get_opt(5)?.ok()?,
            sql_mode: row.get_opt(6)?.ok()?,
            read_only: row.get_opt(7)?.ok()?,
            completion_type: row.get_opt(8)?.ok()?,
            foreign_key_checks: row.get_opt(9)?.ok()?,
            unique_checks: row.get_opt(10)?.ok()?,
            sql_safe_updates: row.get_opt(11)?.ok()?,
            sql_big_selects: row.get_opt(12)?.ok()?,
            sql_select_limit: row.get_opt(13)?.ok()?,
        })
    }
}

/// The first setting that did not take, as an operator should read it.
pub fn check(o: &Observed) -> Result<(), String> {
    let norm = |s: &str| s.to_ascii_uppercase().replace(['-', ' '], "_");
    if o.autocommit != 1 {
        return Err("autocommit stayed off".into());
    }
    if norm(&o.isolation) != "READ_COMMITTED" {
        return Err(format!("the isolation level is {}, not READ COMMITTED", o.isolation));
    }
    if o.time_zone != "+00:00" {
        return Err(format!("the time zone is {}, not +00:00", o.time_zone));
    }
    for (what, v) in [
        ("character_set_client", Some(&o.charset_client)),
        ("character_set_connection", Some(&o.charset_connection)),
        ("character_set_results", o.charset_results.as_ref()),
    ] {
        if v.map(String::as_str) != Some("utf8mb4") {
            return Err(format!("{what} is {}, not utf8mb4", v.map_or("NULL", String::as_str)));
        }
    }
    if norm(&o.sql_mode) != SQL_MODE {
        return Err(format!("sql_mode is '{}', not '{SQL_MODE}'", o.sql_mode));
    }
    if norm(&o.completion_type) != "NO_CHAIN" && o.completion_type != "0" {
        return Err(format!("completion_type is {}, not NO_CHAIN", o.completion_type));
    }
    let flags = [
        ("the session is read-only", o.read_only == 0),
        ("foreign_key_checks stayed off", o.foreign_key_checks == 1),
        ("unique_checks stayed off", o.unique_checks == 1),
        ("sql_safe_updates stayed on", o.sql_safe_updates == 0),
        ("sql_big_selects stayed off", o.sql_big_selects == 1),
        ("sql_select_limit stayed set", o.sql_select_limit == u64::MAX),
    ];
    match flags.iter().find(|(_, ok)| !ok) {
        Some((why, _)) => Err(why.to_string()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Observed {
        Observed {
            autocommit: 1,
            isolation: "READ-COMMITTED".into(),
            time_zone: "+00:00".into(),
            charset_client: "utf8mb4".into(),
            charset_connection: "utf8mb4".into(),
            charset_results: Some("utf8mb4".into()),
            sql_mode: SQL_MODE.into(),
            read_only: 0,
            completion_type: "NO_CHAIN".into(),
            foreign_key_checks: 1,
            unique_checks: 1,
            sql_safe_updates: 0,
            sql_big_selects: 1,
            sql_select_limit: u64::MAX,
        }
    }

    #[test]
    fn the_settings_it_sets_are_the_settings_it_checks() {
        assert_eq!(check(&good()), Ok(()));
        assert!(statements(5).iter().any(|s| s.contains(SQL_MODE)));
        assert!(statements(0).last().unwrap().ends_with("innodb_lock_wait_timeout = 1"));
    }

    #[test]
    fn each_setting_the_server_overrode_is_named() {
        type Case = (fn(&mut Observed), &'static str);
        let cases: [Case; 12] = [
            (|o| o.autocommit = 0, "autocommit stayed off"),
            (|o| o.isolation = "SERIALIZABLE".into(), "the isolation level is SERIALIZABLE, not READ COMMITTED"),
            (|o| o.time_zone = "SYSTEM".into(), "the time zone is SYSTEM, not +00:00"),
            (|o| o.charset_results = None, "character_set_results is NULL, not utf8mb4"),
            (|o| o.sql_mode = "ORACLE".into(), "sql_mode is 'ORACLE', not 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"),
            (|o| o.completion_type = "RELEASE".into(), "completion_type is RELEASE, not NO_CHAIN"),
            (|o| o.read_only = 1, "the session is read-only"),
            (|o| o.foreign_key_checks = 0, "foreign_key_checks stayed off"),
            (|o| o.unique_checks = 0, "unique_checks stayed off"),
            (|o| o.sql_safe_updates = 1, "sql_safe_updates stayed on"),
            (|o| o.sql_big_selects = 0, "sql_big_selects stayed off"),
            (|o| o.sql_select_limit = 3, "sql_select_limit stayed set"),
        ];
        for (change, why) in cases {
            let mut o = good();
            change(&mut o);
            assert_eq!(check(&o), Err(why.to_string()));
        }
    }
}
