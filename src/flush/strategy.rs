//! Which strategy a flush uses: delete the expired rows in chunks, or rebuild the table from the
//! rows that stay. `auto` chooses from cheap estimates with [`choose`].

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Chunked DELETEs: the default, for the steady state.
    Delete,
    /// Copy the rows that stay into a new table and swap it in: for a table that is mostly
    /// expired, and to give its disk space back.
    Rebuild,
    /// Chosen per flush by [`choose`].
    Auto,
}

impl Strategy {
    pub const NAMES: &'static [&'static str] = &["delete", "rebuild", "auto"];

    pub fn from_name(s: &str) -> Option<Strategy> {
        match s.trim() {
            "delete" => Some(Strategy::Delete),
            "rebuild" => Some(Strategy::Rebuild),
            "auto" => Some(Strategy::Auto),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Delete => "delete",
            Strategy::Rebuild => "rebuild",
            Strategy::Auto => "auto",
        }
    }
}

/// What `auto` weighs, from the server's statistics.
#[derive(Clone, Copy, Debug, Default)]
pub struct Estimate {
    /// Rows the rule would delete.
    pub expired: u64,
    /// Rows in the table.
    pub rows: u64,
    /// Bytes of the table's data and indexes.
    pub bytes: u64,
    /// Bytes allocated to the table but free (InnoDB's DATA_FREE).
    pub free: u64,
    /// The table can be rebuilt (primary key, no foreign keys or triggers, privileges).
    pub rebuildable: bool,
}

/// Below this many expired rows a delete is over in seconds, whatever the table.
pub const SMALL_BACKLOG: u64 = 20_000;

/// The strategy for the estimate. The benchmark (bench/results/2026-12-02-strategies-summary.md,
/// production-shaped tables of 150k Keystone tokens) measured a rebuild copying a kept row in
/// about 70 µs (it reads every row and writes the kept ones) where a delete takes about 18 µs
/// per expired row: a rebuild wins when fewer than a quarter as many rows stay as go (a 90 %
/// expired table: 1.0 s against 2.2 s in memory, 1.4 s against 3.6 s I/O-bound) and loses at
/// half (7.2 s against 1.4 s). A file that is mostly free space is rebuilt sooner, once fewer rows
/// stay than go, since only a rebuild gives that space back. A small backlog is always deleted.
pub fn choose(e: Estimate) -> Strategy {
    if !e.rebuildable || e.expired < SMALL_BACKLOG {
        return Strategy::Delete;
    }
    let live = e.rows.saturating_sub(e.expired);
    let few_stay = live.saturating_mul(4) < e.expired;
    let mostly_free = e.free > e.bytes.saturating_mul(2) && live < e.expired;
    if few_stay || mostly_free {
        Strategy::Rebuild
    } else {
        Strategy::Delete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1 << 30;

    #[test]
    fn a_neglected_table_is_rebuilt() {
        let e = Estimate { expired: 950_000, rows: 1_000_000, bytes: 2 * GB, free: 0, rebuildable: true };
        assert_eq!(choose(e), Strategy::Rebuild);
    }

    #[test]
    fn the_steady_state_deletes() {
        let e = Estimate { expired: 50_000, rows: 1_000_000, bytes: 2 * GB, free: GB / 10, rebuildable: true };
        assert_eq!(choose(e), Strategy::Delete);
        let small = Estimate { expired: 5_000, rows: 5_100, bytes: GB, free: 0, rebuildable: true };
        assert_eq!(choose(small), Strategy::Delete, "a small backlog is deleted whatever its share");
    }

    #[test]
    fn half_expired_is_deleted_a_copy_costs_more_per_row() {
        let e = Estimate { expired: 500_000, rows: 1_000_000, bytes: 2 * GB, free: GB, rebuildable: true };
        assert_eq!(choose(e), Strategy::Delete);
        let e = Estimate { expired: 790_000, rows: 1_000_000, bytes: 2 * GB, free: 0, rebuildable: true };
        assert_eq!(choose(e), Strategy::Delete, "the crossover is a quarter staying");
    }

    #[test]
    fn a_file_mostly_free_is_rebuilt_once_most_rows_go() {
        let e = Estimate { expired: 600_000, rows: 1_000_000, bytes: GB, free: 3 * GB, rebuildable: true };
        assert_eq!(choose(e), Strategy::Rebuild);
        let e = Estimate { expired: 400_000, rows: 1_000_000, bytes: GB, free: 3 * GB, rebuildable: true };
        assert_eq!(choose(e), Strategy::Delete);
    }

    #[test]
    fn a_table_that_cannot_be_rebuilt_is_deleted_from() {
        let e = Estimate { expired: 950_000, rows: 1_000_000, bytes: 2 * GB, free: 0, rebuildable: false };
        assert_eq!(choose(e), Strategy::Delete);
    }

    #[test]
    fn strategies_parse_by_their_documented_names() {
        for n in Strategy::NAMES {
            assert_eq!(Strategy::from_name(n).unwrap().name(), *n);
        }
    }
}
