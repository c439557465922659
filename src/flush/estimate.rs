//! Estimates around a flush: what `--dry-run` counts, and the backlog left after an incomplete
//! flush (for `status`, the metrics and the progress bar).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use super::cutoff::server_cutoff;
use crate::db::{within, DbError, Deadline, Session};
use crate::table::TablePlan;

/// What `--dry-run` shows.
#[derive(Debug)]
pub struct DryRun {
    /// Rows a flush would delete now.
    pub expired: u64,
    /// The oldest expiry among them, as text.
    pub oldest: Option<String>,
    /// The cutoff, as the server computed it (UTC).
    pub cutoff: String,
}

/// Counts the rows a flush would delete now, and the oldest expiry.
pub async fn count_expired(
    s: &mut Session,
    plan: &TablePlan,
    grace: Duration,
    deadline: Deadline,
) -> Result<DryRun, DbError> {
    let cutoff = server_cutoff(s, grace, deadline).await?;
    let (pred, params) = plan.rule.predicate(&cutoff);
    let sql = format!(
        "SELECT COUNT(*), CAST(MIN({shown}) AS CHAR) FROM {t}{hint} WHERE {pred}",
        shown = plan.rule.display_expr(),
        t = plan.table,
        hint = simple_hint(plan)
    );
    let row: Option<(u64, Option<String>)> =
        within(deadline, Duration::from_secs(3600), "count expired rows", s.conn.exec_first(sql, params)).await?;
    let (expired, oldest) = row.unwrap_or((0, None));
    Ok(DryRun { expired, oldest, cutoff: cutoff.text })
}

/// The expiry index hint, for a rule that one index can answer.
fn simple_hint(plan: &TablePlan) -> String {
    if plan.rule.is_simple() {
        plan.index_hint()
    } else {
        String::new()
    }
}

/// The optimizer's estimate of the rows the predicate selects. Without an index on a lone expiry
/// column the optimizer can only guess the table's size; such tables (trusts, say) are small
/// enough to count.
pub async fn estimate_rows_before(
    s: &mut Session,
    plan: &TablePlan,
    (pred, params): (&str, &[Value]),
    deadline: Deadline,
) -> Result<u64, DbError> {
    if !plan.rule.is_simple() || plan.expiry_index.is_none() {
        let sql = format!("SELECT COUNT(*) FROM {t} WHERE {pred}", t = plan.table);
        let n: Option<u64> =
            within(deadline, Duration::from_secs(10), "count backlog", s.conn.exec_first(sql, params.to_vec())).await?;
        return Ok(n.unwrap_or(0));
    }
    let sql = format!("EXPLAIN SELECT 1 FROM {t}{hint} WHERE {pred}", t = plan.table, hint = plan.index_hint());
    let row: Option<Row> =
        within(deadline, Duration::from_secs(10), "estimate backlog", s.conn.exec_first(sql, params.to_vec())).await?;
    Ok(row.and_then(|r| r.get_opt::<Option<u64>, _>("rows").and_then(Result::ok).flatten()).unwrap_or(0))
}

/// The rows the predicate selects, counted (along the expiry index when there is one).
pub async fn count_rows_before(
    s: &mut Session,
    plan: &TablePlan,
    (pred, params): (&str, &[Value]),
    deadline: Deadline,
) -> Result<u64, DbError> {
    let sql = format!("SELECT COUNT(*) FROM {t}{hint} WHERE {pred}", t = plan.table, hint = simple_hint(plan));
    let n: Option<u64> =
        within(deadline, Duration::from_secs(30), "count expired rows", s.conn.exec_first(sql, params.to_vec()))
            .await?;
    Ok(n.unwrap_or(0))
}

/// The optimizer's estimate of expired rows left: cheap, for `status` and metrics.
pub async fn estimate_backlog(
    s: &mut Session,
    plan: &TablePlan,
    grace: Duration,
    deadline: Deadline,
) -> Result<u64, DbError> {
    let cutoff = server_cutoff(s, grace, deadline).await?;
    let (pred, params) = plan.rule.predicate(&cutoff);
    estimate_rows_before(s, plan, (&pred, &params), deadline).await
}

/// The table's rows, bytes (data and indexes) and free bytes, as InnoDB's statistics say.
pub async fn table_stats(s: &mut Session, plan: &TablePlan, deadline: Deadline) -> Result<(u64, u64, u64), DbError> {
    type Stats = (Option<u64>, Option<u64>, Option<u64>, Option<u64>);
    let row: Option<Stats> = within(
        deadline,
        Duration::from_secs(5),
        "read table statistics",
        s.conn.exec_first(
            "SELECT TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH, DATA_FREE FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (plan.table.as_str(),),
        ),
    )
    .await?;
    let (rows, data, index, free) = row.unwrap_or_default();
    Ok((rows.unwrap_or(0), data.unwrap_or(0) + index.unwrap_or(0), free.unwrap_or(0)))
}
