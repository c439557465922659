//! What the table to flush looks like, learned from `information_schema` before any delete.
//!
//! The engine deletes by primary key, so it needs the table's single-column primary key; it
//! needs each expiry column's storage (DATETIME, TIMESTAMP, or a BIGINT of epoch microseconds:
//! any other type would make "older than the cutoff" mean something else, and an integer column
//! holding epoch *seconds* would make every row look expired, so both are refused); and, ideally,
//! an index that starts with the expiry column. A missing table or column, or a wrong type, is a
//! [`DbError::Schema`]: `validate-all` at level 10 reports it as not configured (6), and a
//! monitor reports it as degraded (190) with the reason.

use mysql_async::prelude::Queryable;

use crate::db::{within, DbError, Deadline, Session, CONNECT_TIMEOUT};
use crate::ident::Ident;
use crate::plan::Member;
use crate::rule::{ExpiryCol, ExpiryRule, RuleSpec, TimeKind};

/// Everything the engine needs to generate its statements.
#[derive(Clone, Debug)]
pub struct TablePlan {
    pub table: Ident,
    /// The main expiry column: the one the keyset walk follows when the rule is simple.
    pub expiry: Ident,
    pub pk: Ident,
    /// What makes a row go, with each column's storage.
    pub rule: ExpiryRule,
    /// An index whose first column is the expiry column, quoted for SQL.
    pub expiry_index: Option<String>,
    /// InnoDB's estimate of the average row length, for sizing chunks under Galera's limits.
    pub avg_row_length: u64,
    /// The primary key's values, as read back, compare in the order of its index, so a cursor
    /// can follow it (see [`key_walkable`]).
    pub key_walkable: bool,
    /// What goes with each row ([`crate::plan::family`]); its chunks then lock their rows first
    /// and count what goes with them (see `flush::family`).
    pub family: Vec<Member>,
}

impl TablePlan {
    /// `FORCE INDEX (...)` when an expiry index exists, so the walk never falls back to a scan.
    pub fn index_hint(&self) -> String {
        self.expiry_index.as_ref().map(|i| format!(" FORCE INDEX ({i})")).unwrap_or_default()
    }
}

/// The smallest value of a BIGINT expiry that can be epoch microseconds: 1e14 us is March 1973.
/// Epoch seconds (about 1.7e9 today) and milliseconds (1.7e12) are far below it.
pub const MIN_PLAUSIBLE_MICROS: i64 = 100_000_000_000_000;

/// Inspects the table of `spec`. `fks` are the database's foreign keys ([`crate::plan`]): the
/// ones of children that do not cascade become the rule's guards.
pub async fn inspect(
    s: &mut Session,
    spec: &RuleSpec,
    fks: &[crate::plan::ForeignKey],
    deadline: Deadline,
) -> Result<TablePlan, DbError> {
    let schema = s.schema.clone();
    let table = &spec.table;
    // Every column may be NULL (a view has no engine): a typed tuple that cannot take a NULL
    // would make the driver panic.
    let tbl: Option<(Option<String>, Option<u64>)> = within(
        deadline,
        CONNECT_TIMEOUT,
        "inspect table",
        s.conn.exec_first(
            "SELECT ENGINE, AVG_ROW_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&schema, table.as_str()),
        ),
    )
    .await?;
    let (engine, avg_row_length) = match tbl {
        Some(t) => t,
        None => return Err(DbError::Schema(format!("table {table} does not exist in database `{schema}`"))),
    };
    if engine.is_none() {
        return Err(DbError::Schema(format!("{table} in database `{schema}` is a view, not a table")));
    }
    let mut rule = resolve_rule(s, spec, deadline).await?;
    rule.guards = crate::plan::guards(table, fks);
    // A sweep of orphans needs no cursor, so a key of several columns will do (trust_role's).
    let (pk, single) = primary_key(s, table, spec.orphan.is_some(), deadline).await?;
    // A rule through a parent, or of orphans, has no time column of its own: it walks the key.
    let main = rule.expiry.last().map(|c| c.name.clone()).unwrap_or_else(|| pk.clone());
    let key_walkable = single && key_type(s, table, &pk, deadline).await?;
    let index = expiry_index(s, table, &main, deadline).await?;
    let family = match key_walkable {
        true => crate::plan::family(table, &pk, &spec.dependents, fks),
        false => vec![],
    };
    Ok(TablePlan {
        table: table.clone(),
        expiry: main,
        pk,
        rule,
        expiry_index: index.map(|i| format!("`{}`", i.replace('`', "``"))),
        avg_row_length: avg_row_length.unwrap_or(0),
        family,
        key_walkable,
    })
}

/// Each configured column checked against the table: the expiry columns with their storage
/// (optional ones that are missing left out), and the soft-delete columns.
async fn resolve_rule(s: &mut Session, spec: &RuleSpec, deadline: Deadline) -> Result<ExpiryRule, DbError> {
    let table = &spec.table;
    let mut expiry: Vec<ExpiryCol> = Vec::new();
    for c in &spec.expiry {
        if c.fallback && !expiry.is_empty() {
            continue;
        }
        let Some(kind) = column_kind(s, table, &c.name, deadline).await? else {
            if c.optional {
                continue;
            }
            return Err(DbError::Schema(format!("expiry_column {} does not exist in table {table}", c.name)));
        };
        if kind == TimeKind::EpochMicros {
            check_micros(s, table, &c.name, deadline).await?;
        }
        expiry.push(ExpiryCol { name: c.name.clone(), kind });
    }
    for d in &spec.deleted {
        if column_type(s, table, d, deadline).await?.is_none() {
            return Err(DbError::Schema(format!("column {d} does not exist in table {table}")));
        }
    }
    if let Some(flag) = &spec.soft_delete {
        if column_type(s, table, flag, deadline).await?.is_none() {
            return Err(DbError::Schema(format!("column {flag} does not exist in table {table}")));
        }
    }
    if expiry.is_empty() && spec.via.is_none() && spec.orphan.is_none() {
        return Err(DbError::Schema(format!("no expiry column is configured for table {table}")));
    }
    Ok(ExpiryRule {
        expiry,
        deleted: spec.deleted.clone(),
        flag: spec.soft_delete.clone(),
        guards: vec![],
        table: Some(table.clone()),
        via: spec.via.clone(),
        orphan: spec.orphan.clone(),
    })
}

/// The table's single-column primary key, which the engine walks and deletes by, and `true`;
/// or, when `any` allows it (a sweep needs no cursor), the first column of a wider key and
/// `false`.
async fn primary_key(s: &mut Session, table: &Ident, any: bool, deadline: Deadline) -> Result<(Ident, bool), DbError> {
    let schema = s.schema.clone();
    let pk: Vec<String> = within(
        deadline,
        CONNECT_TIMEOUT,
        "inspect primary key",
        s.conn.exec(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
            (&schema, table.as_str()),
        ),
    )
    .await?;
    let unusual = |_| DbError::Schema(format!("table {table} has a primary key column with an unusual name"));
    match pk.as_slice() {
        [one] => Ok((Ident::parse("primary key", one).map_err(unusual)?, true)),
        [first, ..] if any => Ok((Ident::parse("primary key", first).map_err(unusual)?, false)),
        _ => Err(DbError::Schema(format!("table {table} needs a single-column primary key to be flushed in chunks"))),
    }
}

/// Whether the primary key can be walked with a cursor: [`key_walkable`] of its type.
async fn key_type(s: &mut Session, table: &Ident, pk: &Ident, deadline: Deadline) -> Result<bool, DbError> {
    let schema = s.schema.clone();
    let row: Option<(String, Option<String>)> = within(
        deadline,
        CONNECT_TIMEOUT,
        "inspect the primary key's type",
        s.conn.exec_first(
            "SELECT DATA_TYPE, COLLATION_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?",
            (&schema, table.as_str(), pk.as_str()),
        ),
    )
    .await?;
    Ok(row.is_some_and(|(ty, collation)| key_walkable(&ty, collation.as_deref())))
}

/// A keyset walk reads a row's key back and asks the server for the rows after it; that works
/// only when the value read back compares with the stored ones as the index orders them.
/// Integers, decimals, dates, VARCHAR, VARBINARY and BINARY do. CHAR with a NO PAD collation
/// does not (CHAR is stored padded with spaces and read back without them, and under NO PAD the
/// spaces count), nor ENUM and SET (indexed by ordinal, compared with a string as text), nor
/// floating point, BIT and the rest. A table whose key cannot be walked is flushed by the
/// predicate alone, and never rebuilt.
pub fn key_walkable(data_type: &str, collation: Option<&str>) -> bool {
    let ty = data_type.to_ascii_lowercase();
    let nopad = collation.is_some_and(|c| c.to_ascii_lowercase().contains("nopad"));
    match ty.as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "decimal" | "numeric" => true,
        "date" | "datetime" | "timestamp" | "year" => true,
        "varchar" | "varbinary" | "binary" => true,
        "char" => !nopad,
        _ => false,
    }
}

/// The narrowest usable index whose first column is the expiry column, if any. An index the
/// optimizer must not use (MariaDB's `IGNORED`, MySQL's `INVISIBLE`) makes a hint naming it fail
/// with error 1176, so it does not count: without another the walk follows the primary key.
async fn expiry_index(
    s: &mut Session,
    table: &Ident,
    col: &Ident,
    deadline: Deadline,
) -> Result<Option<String>, DbError> {
    let schema = s.schema.clone();
    let usable = usable_index_filter(s, deadline).await?;
    let sql = format!(
        "SELECT INDEX_NAME FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ? AND SEQ_IN_INDEX = 1{usable} \
         ORDER BY (SELECT COUNT(*) FROM information_schema.STATISTICS s2 \
                   WHERE s2.TABLE_SCHEMA = ? AND s2.TABLE_NAME = ? AND s2.INDEX_NAME = STATISTICS.INDEX_NAME), INDEX_NAME LIMIT 1"
    );
    within(
        deadline,
        CONNECT_TIMEOUT,
        "inspect indexes",
        s.conn.exec_first(sql, (&schema, table.as_str(), col.as_str(), &schema, table.as_str())),
    )
    .await
}

/// The condition that keeps ignored or invisible indexes out, for the server at hand: MariaDB
/// 10.6 and later have `STATISTICS.IGNORED`, MySQL 8 `STATISTICS.IS_VISIBLE`, older servers
/// neither (and no such indexes).
async fn usable_index_filter(s: &mut Session, deadline: Deadline) -> Result<&'static str, DbError> {
    let cols: Vec<String> = within(
        deadline,
        CONNECT_TIMEOUT,
        "inspect index visibility",
        s.conn.query(
            "SELECT UPPER(COLUMN_NAME) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'STATISTICS' \
             AND COLUMN_NAME IN ('IGNORED', 'IS_VISIBLE')",
        ),
    )
    .await?;
    Ok(if cols.iter().any(|c| c == "IGNORED") {
        " AND IGNORED = 'NO'"
    } else if cols.iter().any(|c| c == "IS_VISIBLE") {
        " AND IS_VISIBLE = 'YES'"
    } else {
        ""
    })
}

async fn column_type(
    s: &mut Session,
    table: &Ident,
    col: &Ident,
    deadline: Deadline,
) -> Result<Option<String>, DbError> {
    let schema = s.schema.clone();
    let t: Option<String> = within(
        deadline,
        CONNECT_TIMEOUT,
        "inspect column",
        s.conn.exec_first(
            "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?",
            (&schema, table.as_str(), col.as_str()),
        ),
    )
    .await?;
    Ok(t.map(|t| t.to_ascii_lowercase()))
}

/// How an expiry column stores time, or `None` when it does not exist. A type that cannot hold
/// an expiry is a schema error: comparing it with the cutoff would mean something else.
async fn column_kind(
    s: &mut Session,
    table: &Ident,
    col: &Ident,
    deadline: Deadline,
) -> Result<Option<TimeKind>, DbError> {
    Ok(match column_type(s, table, col, deadline).await?.as_deref() {
        None => None,
        Some("datetime") => Some(TimeKind::DateTime),
        Some("timestamp") => Some(TimeKind::Timestamp),
        Some("bigint") => Some(TimeKind::EpochMicros),
        Some(small @ ("int" | "mediumint" | "smallint" | "tinyint")) => {
            return Err(DbError::Schema(format!(
                "expiry_column {col} in table {table} is {small}, not DATETIME or TIMESTAMP, and too small for \
                 epoch microseconds (epoch seconds are not supported)"
            )))
        }
        Some(other) => {
            return Err(DbError::Schema(format!(
            "expiry_column {col} in table {table} is {other}, not DATETIME or TIMESTAMP (or BIGINT epoch microseconds)"
        )))
        }
    })
}

/// Refuses an integer expiry column that holds epoch seconds or milliseconds: compared with a
/// cutoff in microseconds, every row would look expired and the flush would empty the table.
///
/// The column is judged, not each row: its largest value must be epoch microseconds (1e14 and
/// up: seconds and milliseconds of any date before the year 5000 are below it). A few odd rows
/// below that in a column of microseconds are older than any cutoff; they go like any expired
/// row, as Keystone's own `expires_at_int < now` would delete them, with a warning.
async fn check_micros(s: &mut Session, table: &Ident, col: &Ident, deadline: Deadline) -> Result<(), DbError> {
    let sql = format!("SELECT MAX({col}), MIN({col}) FROM {table} WHERE {col} > 0");
    let row: Option<(Option<i64>, Option<i64>)> =
        within(deadline, CONNECT_TIMEOUT, "check the expiry unit", s.conn.query_first(sql)).await?;
    let (max, min) = row.unwrap_or((None, None));
    match judge_micros(max, min) {
        Micros::Empty | Micros::Yes => Ok(()),
        Micros::WithOddRows(v) => {
            crate::warn!(
                "expiry_column {col} in table {table} holds {v}, which is not epoch microseconds; the column is, \
                 so such rows are older than the cutoff and go with the expired ones"
            );
            Ok(())
        }
        Micros::No(v) => Err(DbError::Schema(format!(
            "expiry_column {col} in table {table} holds at most {v}, which is not epoch microseconds \
             (epoch seconds or milliseconds?); refusing to flush, as every row would look expired"
        ))),
    }
}

/// What an integer expiry column's largest and smallest positive values say about its unit.
#[derive(Debug, PartialEq, Eq)]
pub enum Micros {
    /// No positive value: nothing to judge, nothing would be deleted by mistake.
    Empty,
    Yes,
    /// Microseconds, but this value is below them.
    WithOddRows(i64),
    /// Seconds or milliseconds: the largest value.
    No(i64),
}

pub fn judge_micros(max: Option<i64>, min: Option<i64>) -> Micros {
    match (max, min) {
        (None, _) => Micros::Empty,
        (Some(max), _) if max < MIN_PLAUSIBLE_MICROS => Micros::No(max),
        (Some(_), Some(min)) if min < MIN_PLAUSIBLE_MICROS => Micros::WithOddRows(min),
        _ => Micros::Yes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_US: i64 = 1_764_633_600_000_000;

    #[test]
    fn a_column_of_seconds_or_milliseconds_is_refused() {
        assert_eq!(judge_micros(Some(1_764_633_600), Some(1_700_000_000)), Micros::No(1_764_633_600));
        assert_eq!(judge_micros(Some(1_764_633_600_000), Some(1)), Micros::No(1_764_633_600_000));
    }

    #[test]
    fn keys_that_read_back_out_of_index_order_are_not_walked() {
        assert!(key_walkable("varchar", Some("utf8mb4_general_ci")));
        assert!(key_walkable("char", Some("utf8mb3_general_ci")));
        assert!(key_walkable("bigint", None));
        assert!(!key_walkable("char", Some("utf8mb4_nopad_bin")));
        assert!(!key_walkable("CHAR", Some("utf8mb4_general_nopad_ci")));
        assert!(!key_walkable("enum", Some("utf8mb4_general_ci")));
        assert!(!key_walkable("double", None));
    }

    #[test]
    fn one_odd_row_in_a_column_of_microseconds_does_not_veto_it() {
        assert_eq!(judge_micros(Some(NOW_US), Some(5)), Micros::WithOddRows(5));
        assert_eq!(judge_micros(Some(NOW_US), Some(NOW_US - 1)), Micros::Yes);
        assert_eq!(judge_micros(None, None), Micros::Empty);
    }
}
