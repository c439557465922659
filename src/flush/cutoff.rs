//! The cutoff of a flush, read once from the server's clock (step 2 of a flush).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Value;

use crate::db::{within, DbError, Deadline, Session};
use crate::rule::Cutoff;

/// Reads `UTC_TIMESTAMP() - grace` from the server, once per flush, as a DATETIME, as epoch
/// microseconds (for BIGINT expiry columns; independent of any time zone) and as text. Never
/// `NOW()` and never this node's clock.
pub async fn server_cutoff(s: &mut Session, grace: Duration, deadline: Deadline) -> Result<Cutoff, DbError> {
    let g = grace.as_secs();
    let row: Option<(Value, i64, String)> = within(
        deadline,
        Duration::from_secs(10),
        "read the server clock",
        s.conn.exec_first(
            "SELECT UTC_TIMESTAMP() - INTERVAL ? SECOND, \
             TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP() - INTERVAL ? SECOND), \
             CAST(UTC_TIMESTAMP() - INTERVAL ? SECOND AS CHAR)",
            (g, g, g),
        ),
    )
    .await?;
    let (datetime, micros, text) = row.ok_or_else(|| DbError::Unreachable("the server returned no time".into()))?;
    Ok(Cutoff { datetime, micros, text })
}
