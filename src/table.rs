//! What the table to flush looks like, learned from `information_schema` before any delete.
//!
//! The engine deletes by primary key and walks the expiry index, so it needs the table's
//! single-column primary key, the expiry column's type (only date/time types are accepted: an
//! integer or string column would make "older than the cutoff" mean something else) and, ideally,
//! an index that starts with the expiry column. A missing table or column, or a wrong type, is a
//! [`DbError::Schema`]: `validate-all` at level 10 reports it as not configured (6), and a
//! monitor reports it as degraded (190) with the reason.

use mysql_async::prelude::Queryable;

use crate::config::Ident;
use crate::db::{within, DbError, Deadline, Session, CONNECT_TIMEOUT};

/// Everything the engine needs to generate its statements.
#[derive(Clone, Debug)]
pub struct TablePlan {
    pub table: Ident,
    pub expiry: Ident,
    pub pk: Ident,
    /// An index whose first column is the expiry column, quoted for SQL.
    pub expiry_index: Option<String>,
    /// InnoDB's estimate of the average row length, for sizing chunks under Galera's limits.
    pub avg_row_length: u64,
}

impl TablePlan {
    /// `FORCE INDEX (...)` when an expiry index exists, so the walk never falls back to a scan.
    pub fn index_hint(&self) -> String {
        self.expiry_index.as_ref().map(|i| format!(" FORCE INDEX ({i})")).unwrap_or_default()
    }
}

pub async fn inspect(s: &mut Session, table: &Ident, expiry: &Ident, deadline: Deadline) -> Result<TablePlan, DbError> {
    let schema = s.schema.clone();
    let tbl: Option<(String, Option<u64>)> = within(
        deadline,
        CONNECT_TIMEOUT,
        "inspect table",
        s.conn.exec_first(
            "SELECT ENGINE, AVG_ROW_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&schema, table.as_str()),
        ),
    )
    .await?;
    let Some((_engine, avg_row_length)) = tbl else {
        return Err(DbError::Schema(format!("table {table} does not exist in database `{schema}`")));
    };
    let col: Option<String> = within(
        deadline,
        CONNECT_TIMEOUT,
        "inspect column",
        s.conn.exec_first(
            "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?",
            (&schema, table.as_str(), expiry.as_str()),
        ),
    )
    .await?;
    match col.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => return Err(DbError::Schema(format!("expiry_column {expiry} does not exist in table {table}"))),
        Some("datetime") | Some("timestamp") => {}
        Some(other) => {
            return Err(DbError::Schema(format!(
                "expiry_column {expiry} in table {table} is {other}, not DATETIME or TIMESTAMP"
            )))
        }
    };
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
    let pk = match pk.as_slice() {
        [one] => Ident::parse("primary key", one)
            .map_err(|_| DbError::Schema(format!("table {table} has a primary key column with an unusual name")))?,
        _ => {
            return Err(DbError::Schema(format!(
                "table {table} needs a single-column primary key to be flushed in chunks"
            )))
        }
    };
    let index: Option<String> = within(
        deadline,
        CONNECT_TIMEOUT,
        "inspect indexes",
        s.conn.exec_first(
            "SELECT INDEX_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ? AND SEQ_IN_INDEX = 1 \
             ORDER BY (SELECT COUNT(*) FROM information_schema.STATISTICS s2 \
                       WHERE s2.TABLE_SCHEMA = ? AND s2.TABLE_NAME = ? AND s2.INDEX_NAME = STATISTICS.INDEX_NAME), INDEX_NAME LIMIT 1",
            (&schema, table.as_str(), expiry.as_str(), &schema, table.as_str()),
        ),
    )
    .await?;
    Ok(TablePlan {
        table: table.clone(),
        expiry: expiry.clone(),
        pk,
        expiry_index: index.map(|i| format!("`{}`", i.replace('`', "``"))),
        avg_row_length: avg_row_length.unwrap_or(0),
    })
}
