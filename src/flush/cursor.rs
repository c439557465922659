//! Where a walk stands: the key of the last row a chunk visited, read back from the server
//! and sent again as the next chunk's start.

use mysql_async::{Row, Value};

/// A chunk's position: the last (expiry, primary key) visited, or the last primary key.
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor {
    pub pk: Value,
    pub exp: Option<Value>,
}

impl Cursor {
    /// From a row of `pk[, expiry]`.
    pub fn from_row(mut row: Row) -> Option<Cursor> {
        let pk = row.take::<Value, _>(0)?;
        let exp = if row.len() > 1 { row.take::<Value, _>(1) } else { None };
        Some(Cursor { pk, exp })
    }
}
