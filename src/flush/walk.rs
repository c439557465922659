//! The walk: the order in which the engine visits expired rows, and how it is chosen
//! (step 4 of a flush).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Value;

use super::estimate::estimate_rows_before;
use crate::db::{within, DbError, Deadline, Session};
use crate::table::TablePlan;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// Along the expiry index, in `(expiry, primary key)` order: each chunk reads its boundary
    /// key from the index and deletes the key range up to it.
    Expiry,
    /// Along the primary key: InnoDB reads the clustered index in order, so a table far larger
    /// than the buffer pool is read sequentially instead of one random page per row.
    PrimaryKey,
    /// No cursor: `DELETE … WHERE <rule> LIMIT n` until none is left, for a key a cursor cannot
    /// follow ([`crate::table::key_walkable`]). Each chunk rescans what InnoDB has not purged.
    Sweep,
}

impl Walk {
    pub const NAMES: &'static [&'static str] = &["expiry", "primary-key"];

    pub fn from_name(name: &str) -> Option<Walk> {
        match name.trim() {
            "expiry" => Some(Walk::Expiry),
            "primary-key" => Some(Walk::PrimaryKey),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Walk::Expiry => "expiry",
            Walk::PrimaryKey => "primary-key",
            Walk::Sweep => "sweep",
        }
    }
}

/// Picks the walk from what the server can tell cheaply, unless `forced` (the `walk` parameter,
/// for tests and benchmarks) names one.
///
/// Walking the expiry index visits the clustered index in the ids' order, which is random: once
/// the table outgrows the buffer pool, nearly every expired row costs a page read. Walking the
/// primary key reads every page once, in order, expired rows or not; [`pick_walk`] weighs the two.
///
/// A rule over several columns or with soft deletes (keystone-trust) has no single index to walk:
/// it always walks the primary key, whatever is forced.
pub async fn choose_walk(
    s: &mut Session,
    plan: &TablePlan,
    pred: (&str, &[Value]),
    forced: Option<Walk>,
    deadline: Deadline,
) -> Result<Walk, DbError> {
    if !plan.key_walkable {
        return Ok(Walk::Sweep);
    }
    if !plan.rule.is_simple() {
        return Ok(Walk::PrimaryKey);
    }
    if let Some(forced) = forced {
        return Ok(forced);
    }
    if plan.expiry_index.is_none() {
        return Ok(Walk::PrimaryKey);
    }
    let Some(size) = table_size(s, plan, deadline).await? else { return Ok(Walk::Expiry) };
    if size.data + size.index <= size.pool {
        return Ok(Walk::Expiry);
    }
    let expired = estimate_rows_before(s, plan, pred, deadline).await.unwrap_or(0);
    let walk = pick_walk(size, expired);
    crate::info!(
        "table is {} MB against a {} MB buffer pool with ~{expired} expired rows: walking {}",
        (size.data + size.index) >> 20,
        size.pool >> 20,
        walk.name()
    );
    Ok(walk)
}

async fn table_size(s: &mut Session, plan: &TablePlan, deadline: Deadline) -> Result<Option<TableSize>, DbError> {
    type Sizes = (Option<u64>, Option<u64>, Option<u64>, Option<u64>);
    let sizes: Option<Sizes> = within(
        deadline,
        Duration::from_secs(5),
        "read table size",
        s.conn.exec_first(
            "SELECT DATA_LENGTH, INDEX_LENGTH, @@innodb_buffer_pool_size, @@innodb_page_size \
             FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (plan.table.as_str(),),
        ),
    )
    .await?;
    Ok(sizes.map(|(data, index, pool, page)| TableSize {
        data: data.unwrap_or(0),
        index: index.unwrap_or(0),
        pool: pool.unwrap_or(0),
        page: page.unwrap_or(0),
    }))
}

/// What `choose_walk` weighs, in bytes.
#[derive(Clone, Copy, Debug)]
pub struct TableSize {
    pub data: u64,
    pub index: u64,
    pub pool: u64,
    pub page: u64,
}

/// The primary key when the expiry walk's expected page misses (expired rows times the share of
/// the table not in the buffer pool) exceed the table's data pages; the expiry index otherwise.
/// So the primary key wins for a first flush of a neglected, large table, and the expiry index in
/// the steady state, where a flush removes a small slice of a table that fits in memory. Measured
/// here with a 64 MB pool and a 300 MB table, half expired: 292k page reads along the expiry
/// index against 45k along the primary key.
pub fn pick_walk(size: TableSize, expired: u64) -> Walk {
    let total = size.data + size.index;
    if total <= size.pool || size.page == 0 {
        return Walk::Expiry;
    }
    let uncached = 1.0 - size.pool as f64 / total as f64;
    let pages = (size.data / size.page).max(1);
    if expired as f64 * uncached > pages as f64 {
        Walk::PrimaryKey
    } else {
        Walk::Expiry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    #[test]
    fn a_table_that_fits_in_the_pool_walks_the_expiry_index() {
        let size = TableSize { data: 300 * MB, index: 60 * MB, pool: 2048 * MB, page: 16384 };
        assert_eq!(pick_walk(size, 150_000), Walk::Expiry);
    }

    #[test]
    fn a_big_neglected_table_walks_the_primary_key() {
        // 600k rows of ~2 KB against a 256 MB pool, half expired: the benchmark's I/O-bound regime.
        let size = TableSize { data: 1200 * MB, index: 150 * MB, pool: 256 * MB, page: 16384 };
        assert_eq!(pick_walk(size, 300_000), Walk::PrimaryKey);
    }

    #[test]
    fn a_big_table_with_a_small_backlog_walks_the_expiry_index() {
        // The steady state: a flush every few minutes removes a thin slice.
        let size = TableSize { data: 1200 * MB, index: 150 * MB, pool: 256 * MB, page: 16384 };
        assert_eq!(pick_walk(size, 5_000), Walk::Expiry);
    }

    #[test]
    fn walks_parse_by_their_documented_names() {
        for n in Walk::NAMES {
            assert_eq!(Walk::from_name(n).unwrap().name(), *n);
        }
        assert_eq!(Walk::from_name("pk"), None);
    }
}
