//! The SQL text of a flush's chunks (step 5): the SELECT of a chunk's boundary key and the DELETE
//! of the key range up to it, rendered once per flush from the table plan, and the server-side
//! bounds every statement carries. Only text and parameters are built here; `chunk` runs them.

use std::time::Duration;

use mysql_async::Value;

use super::cursor::Cursor;
use super::walk::Walk;
use crate::plan::Member;
use crate::table::TablePlan;

/// The statements of one flush, rendered once from the table plan and the walk.
pub struct Statements {
    walk: Walk,
    table: String,
    pk: String,
    exp: String,
    hint: String,
    pred: String,
}

impl Statements {
    /// `pred` is the rule's predicate ([`crate::rule::ExpiryRule::predicate`]); the expiry walk
    /// is only chosen for a simple rule, where it reads `expiry < ?`.
    pub fn new(plan: &TablePlan, pred: &str, walk: Walk) -> Statements {
        Statements {
            walk,
            table: plan.table.to_string(),
            pk: plan.pk.to_string(),
            exp: plan.expiry.to_string(),
            hint: plan.index_hint(),
            pred: pred.to_string(),
        }
    }

    /// The table, quoted, for messages.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// `(after cursor)`, `(up to boundary)` and `ORDER BY` for the walk, with their parameters
    /// appended to `params` (the predicate's, which come first in the text).
    fn walk_clauses(&self, after: Option<&Cursor>, upto: Option<&Cursor>, params: &mut Vec<Value>) -> (String, String) {
        let (pk, exp) = (&self.pk, &self.exp);
        let mut clauses = String::new();
        match self.walk {
            Walk::PrimaryKey | Walk::Sweep => {
                if let Some(c) = after {
                    clauses.push_str(&format!(" AND {pk} > ?"));
                    params.push(c.pk.clone());
                }
                if let Some(c) = upto {
                    clauses.push_str(&format!(" AND {pk} <= ?"));
                    params.push(c.pk.clone());
                }
                (clauses, format!("ORDER BY {pk}"))
            }
            Walk::Expiry => {
                for (c, cmp, tie) in [(after, ">", ">"), (upto, "<", "<=")] {
                    if let Some(c) = c {
                        let e = c.exp.clone().unwrap_or(Value::NULL);
                        clauses.push_str(&format!(" AND ({exp} {cmp} ? OR ({exp} = ? AND {pk} {tie} ?))"));
                        params.extend([e.clone(), e, c.pk.clone()]);
                    }
                }
                (clauses, format!("ORDER BY {exp}, {pk}"))
            }
        }
    }

    /// The columns a walk's position is read from (`pk[, expiry]`, as [`Cursor::from_row`]
    /// takes them) and the index hint that keeps the walk on its index.
    fn key_and_index(&self) -> (String, String) {
        match self.walk {
            Walk::PrimaryKey | Walk::Sweep => (self.pk.clone(), " FORCE INDEX (PRIMARY)".to_string()),
            Walk::Expiry => (format!("{}, {}", self.pk, self.exp), self.hint.clone()),
        }
    }

    /// The key of the `limit`-th row to delete after `cursor`: only one row crosses the wire.
    pub fn boundary(&self, cursor: Option<&Cursor>, pred_params: &[Value], limit: u32) -> (String, Vec<Value>) {
        let mut params = pred_params.to_vec();
        let (clauses, order) = self.walk_clauses(cursor, None, &mut params);
        let (cols, hint) = self.key_and_index();
        let offset = limit.saturating_sub(1);
        let sql = format!(
            "SELECT {cols} FROM {}{hint} WHERE {}{clauses} {order} LIMIT 1 OFFSET {offset}",
            self.table, self.pred
        );
        (sql, params)
    }

    /// The last expired row after `cursor`, in walk order: the end of the tail's range.
    pub fn last(&self, cursor: Option<&Cursor>, pred_params: &[Value]) -> (String, Vec<Value>) {
        let mut params = pred_params.to_vec();
        let (clauses, _) = self.walk_clauses(cursor, None, &mut params);
        let (cols, hint) = self.key_and_index();
        let order = match self.walk {
            Walk::PrimaryKey | Walk::Sweep => format!("{} DESC", self.pk),
            Walk::Expiry => format!("{} DESC, {} DESC", self.exp, self.pk),
        };
        let sql =
            format!("SELECT {cols} FROM {}{hint} WHERE {}{clauses} ORDER BY {order} LIMIT 1", self.table, self.pred);
        (sql, params)
    }

    /// THE chunk DELETE: the expired rows after `cursor` up to and including `upto` (to the end
    /// when `None`), never more than `limit`, re-checking the predicate on each row so that a row
    /// changed since the boundary was read is never removed.
    pub fn delete_range(
        &self,
        cursor: Option<&Cursor>,
        upto: Option<&Cursor>,
        pred_params: &[Value],
        limit: u32,
    ) -> (String, Vec<Value>) {
        let mut params = pred_params.to_vec();
        let (clauses, order) = self.walk_clauses(cursor, upto, &mut params);
        (format!("DELETE FROM {} WHERE {}{clauses} {order} LIMIT {limit}", self.table, self.pred), params)
    }
}

impl Statements {
    /// Whether an expired row is left in `(cursor, upto]` after a full chunk: a row inserted
    /// into the range between the boundary SELECT and the DELETE can push one out of the
    /// DELETE's `LIMIT`, and the walk must not move past it.
    pub fn left_in_range(&self, cursor: Option<&Cursor>, upto: &Cursor, pred_params: &[Value]) -> (String, Vec<Value>) {
        self.in_range("1", " LIMIT 1", cursor, upto, pred_params)
    }

    /// How many rows of a chunk's range the rule still takes: what tells whether a chunk the
    /// client gave up on committed.
    pub fn count_in_range(
        &self,
        cursor: Option<&Cursor>,
        upto: &Cursor,
        pred_params: &[Value],
    ) -> (String, Vec<Value>) {
        self.in_range("COUNT(*)", "", cursor, upto, pred_params)
    }

    fn in_range(
        &self,
        what: &str,
        limit: &str,
        cursor: Option<&Cursor>,
        upto: &Cursor,
        pred_params: &[Value],
    ) -> (String, Vec<Value>) {
        let mut params = pred_params.to_vec();
        let (clauses, _) = self.walk_clauses(cursor, Some(upto), &mut params);
        let (_, hint) = self.key_and_index();
        (format!("SELECT {what} FROM {}{hint} WHERE {}{clauses}{limit}", self.table, self.pred), params)
    }
}

/// A family chunk's statements ([`super::family`]).
impl Statements {
    /// The rows of `(cursor, upto]` the rule takes, at most `limit`, in walk order, locked.
    pub fn lock_range(
        &self,
        cursor: Option<&Cursor>,
        upto: Option<&Cursor>,
        pred_params: &[Value],
        limit: u32,
    ) -> (String, Vec<Value>) {
        let mut params = pred_params.to_vec();
        let (clauses, order) = self.walk_clauses(cursor, upto, &mut params);
        let (cols, hint) = self.key_and_index();
        let sql = format!(
            "SELECT {cols} FROM {}{hint} WHERE {}{clauses} {order} LIMIT {limit} FOR UPDATE",
            self.table, self.pred
        );
        (sql, params)
    }

    /// How many rows of `m` go with each of `n` keys, each key as the table holds it. A child
    /// matches its row by the key's collation, as its foreign key and cascade do (`p-7` goes
    /// with `P-7` under a case-insensitive one), so the count is the server's, never a byte
    /// comparison of the child's copy of the key.
    pub fn count_members(&self, m: &Member, n: usize) -> String {
        format!(
            "SELECT p.{pk}, (SELECT COUNT(*) FROM {} c WHERE c.{} = p.{pk}) FROM {} p WHERE p.{pk} IN ({})",
            m.table,
            m.col,
            self.table,
            marks(n),
            pk = self.pk
        )
    }

    /// The dependents of `n` keys.
    pub fn delete_members(&self, m: &Member, n: usize) -> String {
        format!("DELETE FROM {} WHERE {} IN ({})", m.table, m.col, marks(n))
    }

    /// `n` locked rows, the rule checked once more.
    pub fn delete_keys(&self, n: usize) -> String {
        format!("DELETE FROM {} WHERE {} AND {} IN ({})", self.table, self.pred, self.pk, marks(n))
    }

    /// How many of `n` keys are still there.
    pub fn count_keys(&self, n: usize) -> String {
        format!("SELECT COUNT(*) FROM {} WHERE {} IN ({})", self.table, self.pk, marks(n))
    }
}

/// `?, ?, ?` for `n` values.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

impl Statements {
    /// A sweep chunk: expired rows by the rule alone, no cursor.
    pub fn sweep(&self, limit: u32) -> String {
        format!("DELETE FROM {} WHERE {} LIMIT {limit}", self.table, self.pred)
    }
}

/// On MariaDB, bounds the statement on the server too: a client that gives up on a hung
/// statement would otherwise leave it running there, holding its locks. The statement may also
/// wait on a row lock for at most half the time left (0: fail at once rather than wait), so a
/// lock met near the end of the budget ends the chunk as a lock timeout, which is retried or
/// skipped, instead of running into the client's timeout.
///
/// `bound` is the server's bound ([`super::chunk::bounds`]), at most a tenth of a second
/// finer; the lock wait is whole seconds.
pub fn bounded(mariadb: bool, bound: Option<Duration>, lock_wait: Duration, sql: &str) -> String {
    match (mariadb, bound) {
        (true, Some(bound)) => format!(
            "SET STATEMENT max_statement_time={}, innodb_lock_wait_timeout={} FOR {sql}",
            (bound.as_millis() / 100) as f64 / 10.0,
            (bound.as_secs() / 2).min(lock_wait.as_secs())
        ),
        _ => sql.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::Ident;
    use crate::rule::{ExpiryCol, ExpiryRule, TimeKind};

    fn plan(index: Option<&str>) -> TablePlan {
        TablePlan {
            table: Ident::known("token"),
            expiry: Ident::known("expires"),
            pk: Ident::known("id"),
            rule: ExpiryRule {
                expiry: vec![ExpiryCol { name: Ident::known("expires"), kind: TimeKind::DateTime }],
                ..Default::default()
            },
            expiry_index: index.map(|i| format!("`{i}`")),
            avg_row_length: 0,
            key_walkable: true,
            family: vec![],
        }
    }

    fn cursor(pk: &str, exp: Option<&str>) -> Cursor {
        Cursor { pk: Value::from(pk), exp: exp.map(Value::from) }
    }

    const CUT: &str = "2024-01-01 00:00:00";

    #[test]
    fn the_first_expiry_chunk_reads_its_boundary_from_the_index() {
        let sql = Statements::new(&plan(Some("ix_token_expires")), "`expires` < ?", Walk::Expiry);
        let (text, params) = sql.boundary(None, &[Value::from(CUT)], 1000);
        assert_eq!(
            text,
            "SELECT `id`, `expires` FROM `token` FORCE INDEX (`ix_token_expires`) WHERE `expires` < ? \
             ORDER BY `expires`, `id` LIMIT 1 OFFSET 999"
        );
        assert_eq!(params, vec![Value::from(CUT)]);
    }

    #[test]
    fn an_expiry_chunk_deletes_the_range_between_two_keys() {
        let sql = Statements::new(&plan(Some("ix")), "`expires` < ?", Walk::Expiry);
        let (after, upto) = (cursor("a", Some("2023-01-01")), cursor("m", Some("2023-06-01")));
        let (text, params) = sql.delete_range(Some(&after), Some(&upto), &[Value::from(CUT)], 50);
        assert_eq!(
            text,
            "DELETE FROM `token` WHERE `expires` < ? \
             AND (`expires` > ? OR (`expires` = ? AND `id` > ?)) \
             AND (`expires` < ? OR (`expires` = ? AND `id` <= ?)) ORDER BY `expires`, `id` LIMIT 50"
        );
        let v = Value::from;
        assert_eq!(
            params,
            vec![v(CUT), v("2023-01-01"), v("2023-01-01"), v("a"), v("2023-06-01"), v("2023-06-01"), v("m")]
        );
    }

    #[test]
    fn a_primary_key_chunk_walks_the_clustered_index() {
        let sql = Statements::new(&plan(None), "`expires` < ?", Walk::PrimaryKey);
        let (text, params) = sql.boundary(Some(&cursor("k", None)), &[Value::from(CUT)], 1);
        assert_eq!(
            text,
            "SELECT `id` FROM `token` FORCE INDEX (PRIMARY) WHERE `expires` < ? AND `id` > ? \
             ORDER BY `id` LIMIT 1 OFFSET 0"
        );
        assert_eq!(params, vec![Value::from(CUT), Value::from("k")]);
        let (text, _) = sql.delete_range(Some(&cursor("k", None)), None, &[Value::from(CUT)], 7);
        assert_eq!(text, "DELETE FROM `token` WHERE `expires` < ? AND `id` > ? ORDER BY `id` LIMIT 7");
    }

    #[test]
    fn the_tail_ends_at_the_last_expired_row() {
        let sql = Statements::new(&plan(Some("ix")), "`expires` < ?", Walk::Expiry);
        let (text, _) = sql.last(Some(&cursor("k", Some("2023-01-01"))), &[Value::from(CUT)]);
        assert_eq!(
            text,
            "SELECT `id`, `expires` FROM `token` FORCE INDEX (`ix`) WHERE `expires` < ? \
             AND (`expires` > ? OR (`expires` = ? AND `id` > ?)) ORDER BY `expires` DESC, `id` DESC LIMIT 1"
        );
    }

    #[test]
    fn a_full_chunk_checks_its_range_is_empty() {
        let sql = Statements::new(&plan(None), "`expires` < ?", Walk::PrimaryKey);
        let (text, params) = sql.left_in_range(Some(&cursor("a", None)), &cursor("m", None), &[Value::from(CUT)]);
        assert_eq!(
            text,
            "SELECT 1 FROM `token` FORCE INDEX (PRIMARY) WHERE `expires` < ? AND `id` > ? AND `id` <= ? LIMIT 1"
        );
        assert_eq!(params, vec![Value::from(CUT), Value::from("a"), Value::from("m")]);
        let (text, _) = sql.count_in_range(Some(&cursor("a", None)), &cursor("m", None), &[Value::from(CUT)]);
        assert_eq!(
            text, "SELECT COUNT(*) FROM `token` FORCE INDEX (PRIMARY) WHERE `expires` < ? AND `id` > ? AND `id` <= ?",
            "an abandoned chunk counts what its range still holds"
        );
    }

    #[test]
    fn a_family_chunk_locks_its_rows_then_deletes_dependents_before_them() {
        let sql = Statements::new(&plan(None), "`expires` < ?", Walk::PrimaryKey);
        let (text, params) =
            sql.lock_range(Some(&cursor("a", None)), Some(&cursor("m", None)), &[Value::from(CUT)], 50);
        assert_eq!(
            text,
            "SELECT `id` FROM `token` FORCE INDEX (PRIMARY) WHERE `expires` < ? AND `id` > ? AND `id` <= ? \
             ORDER BY `id` LIMIT 50 FOR UPDATE"
        );
        assert_eq!(params.len(), 3);
        let m = Member { table: Ident::known("token_role"), col: Ident::known("token_id"), ours: true };
        assert_eq!(
            sql.count_members(&m, 2),
            "SELECT p.`id`, (SELECT COUNT(*) FROM `token_role` c WHERE c.`token_id` = p.`id`) FROM `token` p \
             WHERE p.`id` IN (?, ?)"
        );
        assert_eq!(sql.delete_members(&m, 2), "DELETE FROM `token_role` WHERE `token_id` IN (?, ?)");
        assert_eq!(sql.delete_keys(2), "DELETE FROM `token` WHERE `expires` < ? AND `id` IN (?, ?)");
        assert_eq!(sql.count_keys(1), "SELECT COUNT(*) FROM `token` WHERE `id` IN (?)");
    }

    #[test]
    fn a_sweep_deletes_by_the_rule_alone() {
        let sql = Statements::new(&plan(Some("ix")), "`expires` < ?", Walk::Expiry);
        assert_eq!(sql.sweep(500), "DELETE FROM `token` WHERE `expires` < ? LIMIT 500");
    }

    #[test]
    fn mariadb_statements_are_bounded_on_the_server() {
        let lock = Duration::from_secs(5);
        let sql = "DELETE FROM t";
        assert_eq!(
            bounded(true, Some(Duration::from_secs(10)), lock, sql),
            "SET STATEMENT max_statement_time=10, innodb_lock_wait_timeout=5 FOR DELETE FROM t"
        );
        assert_eq!(
            bounded(true, Some(Duration::from_millis(1_000)), lock, sql),
            "SET STATEMENT max_statement_time=1, innodb_lock_wait_timeout=0 FOR DELETE FROM t",
            "near the end a lock is not waited for"
        );
        assert_eq!(
            bounded(true, Some(Duration::from_millis(800)), lock, sql),
            "SET STATEMENT max_statement_time=0.8, innodb_lock_wait_timeout=0 FOR DELETE FROM t"
        );
        assert_eq!(bounded(true, None, lock, sql), sql, "no deadline, no bound");
        assert_eq!(bounded(false, Some(lock), lock, sql), sql, "MySQL has no SET STATEMENT");
    }
}
