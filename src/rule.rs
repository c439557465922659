//! What makes a row go: the rule of one table, and the SQL predicate the engine runs.
//!
//! A [`RuleSpec`] is what the configuration asks for (a table, its expiry column or columns in
//! order of precedence, and soft-delete columns); [`crate::table::inspect`] checks it against the
//! real table and resolves it into an [`ExpiryRule`], which knows each column's storage
//! ([`TimeKind`]) and renders the predicate with its parameters for a given [`Cutoff`].
//!
//! The predicate of a row is: its expiry is before the cutoff, **or** one of the soft-delete
//! columns is set. The expiry of a row is its first non-NULL expiry column (Keystone's trust
//! model reads `expires_at_int or expires_at`); a row whose expiry columns are all NULL never
//! expires. Every comparison is against a cutoff the server computed from `UTC_TIMESTAMP()`.

use mysql_async::Value;

use crate::ident::Ident;

/// One expiry column the configuration names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColSpec {
    pub name: Ident,
    /// A column that may be missing from older schemas; it is then left out of the rule.
    pub optional: bool,
    /// Used only when none of the columns before it exists (an older schema's column).
    pub fallback: bool,
}

impl ColSpec {
    pub fn required(name: &'static str) -> ColSpec {
        ColSpec { name: Ident::known(name), optional: false, fallback: false }
    }
}

/// A rule through a parent table: the row goes when its parent (`parent.pk = row.fk`) has a time
/// before the cutoff (glance's `task_info` of old deleted tasks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    pub fk: Ident,
    pub parent: Ident,
    pub parent_pk: Ident,
    pub parent_col: Ident,
}

/// A rule over the table's rows whose key has no row in another table (`trust_role` rows whose
/// trust is gone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orphan {
    pub fk: Ident,
    pub parent: Ident,
    pub parent_pk: Ident,
}

/// Rows of another table that go with a row, in its transaction: `table.col` holds the row's
/// primary key (`trust_role.trust_id` of a trust). The preset's word for what `ON DELETE
/// CASCADE` would say where the schema has no foreign key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependent {
    pub table: Ident,
    pub col: Ident,
}

/// The rule as configured, before the table is inspected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    pub table: Ident,
    /// Expiry columns by precedence: a row's expiry is the first of them that is not NULL.
    pub expiry: Vec<ColSpec>,
    /// Soft-delete columns: a row where one of them is set goes whatever its expiry.
    pub deleted: Vec<Ident>,
    /// oslo.db's soft delete: only a row whose flag is set (`deleted <> 0`: the Boolean style,
    /// and the integer style that stores the row's id) may go, and then only by its expiry
    /// columns (its `deleted_at`).
    pub soft_delete: Option<Ident>,
    /// The row goes by its parent's time (no expiry columns of its own).
    pub via: Option<Via>,
    /// The row goes when its parent is gone (no expiry columns of its own).
    pub orphan: Option<Orphan>,
    /// A preset's table that older or smaller schemas may not have: skipped when missing.
    pub optional: bool,
    /// Rows elsewhere deleted with each row, in the same transaction (skipped when their table
    /// is missing).
    pub dependents: Vec<Dependent>,
}

impl RuleSpec {
    /// A custom rule: one expiry column, no soft delete.
    pub fn single(table: Ident, expiry: Ident) -> RuleSpec {
        RuleSpec {
            table,
            expiry: vec![ColSpec { name: expiry, optional: false, fallback: false }],
            deleted: vec![],
            soft_delete: None,
            via: None,
            orphan: None,
            optional: false,
            dependents: vec![],
        }
    }

    fn empty(table: &'static str) -> RuleSpec {
        RuleSpec { expiry: vec![], ..RuleSpec::single(Ident::known(table), Ident::known("x")) }
    }

    /// A rule of one time column: the row goes when it is older than the cutoff.
    pub fn older(table: &'static str, col: &'static str) -> RuleSpec {
        RuleSpec::single(Ident::known(table), Ident::known(col))
    }

    /// oslo.db's soft delete: `deleted <> 0 AND deleted_at < cutoff`.
    pub fn soft_deleted(table: &'static str) -> RuleSpec {
        RuleSpec { soft_delete: Some(Ident::known("deleted")), ..RuleSpec::older(table, "deleted_at") }
    }

    /// Rows whose parent's time is before the cutoff.
    pub fn via(table: &'static str, via: Via) -> RuleSpec {
        RuleSpec { via: Some(via), ..RuleSpec::empty(table) }
    }

    /// Rows whose parent is gone.
    pub fn orphans(table: &'static str, orphan: Orphan) -> RuleSpec {
        RuleSpec { orphan: Some(orphan), ..RuleSpec::empty(table) }
    }

    /// The column named in messages and used to walk the table: the last required expiry column
    /// (or the first one when all are optional). `None` for a rule without any (through a
    /// parent, or of orphans), which always walks the primary key.
    pub fn main_column(&self) -> Option<&Ident> {
        self.expiry.iter().rev().find(|c| !c.optional).or(self.expiry.first()).map(|c| &c.name)
    }
}

/// How a column stores a point in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeKind {
    /// DATETIME: naive UTC, as Keystone writes it.
    DateTime,
    /// TIMESTAMP: compared in the session's time zone, which the agent sets to UTC.
    Timestamp,
    /// BIGINT of microseconds since 1970-01-01 UTC (Keystone's `DateTimeInt`).
    EpochMicros,
}

/// An expiry column as found in the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiryCol {
    pub name: Ident,
    pub kind: TimeKind,
}

/// The cutoff of one flush, read once from the server's clock.
#[derive(Clone, Debug)]
pub struct Cutoff {
    /// `UTC_TIMESTAMP() - grace` as the server returned it (a DATETIME value).
    pub datetime: Value,
    /// The same instant in microseconds since the epoch.
    pub micros: i64,
    /// The same instant as text, for reports.
    pub text: String,
}

/// A table whose rows reference this one through a foreign key that does not cascade: a row
/// it still references may not go (the DELETE would fail with 1451), so the rule leaves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guard {
    pub child: Ident,
    pub child_col: Ident,
    pub table: Ident,
    pub col: Ident,
}

/// The resolved rule: what the engine deletes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ExpiryRule {
    /// Present expiry columns by precedence (at least one).
    pub expiry: Vec<ExpiryCol>,
    pub deleted: Vec<Ident>,
    /// The soft-delete flag that must be set, when the rule is oslo.db's soft delete.
    pub flag: Option<Ident>,
    /// Rows still referenced by these children stay.
    pub guards: Vec<Guard>,
    /// The table the rule is of, to qualify its columns in subqueries.
    pub table: Option<Ident>,
    /// The row goes by its parent's time: the parent's column is a DATETIME.
    pub via: Option<Via>,
    /// The row goes when its parent is gone.
    pub orphan: Option<Orphan>,
}

impl ExpiryRule {
    /// Whether the rule is one column compared with the cutoff, so that an index on that column
    /// bounds every chunk's scan (the keyset walk on `(expiry, pk)`).
    pub fn is_simple(&self) -> bool {
        self.expiry.len() == 1
            && self.deleted.is_empty()
            && self.flag.is_none()
            && self.guards.is_empty()
            && self.via.is_none()
            && self.orphan.is_none()
    }

    /// The predicate without the guards: the rows the rule would take if no child held them.
    pub fn unguarded(&self) -> ExpiryRule {
        ExpiryRule { guards: vec![], ..self.clone() }
    }

    /// The predicate "this row may go", with its positional parameters.
    pub fn predicate(&self, cutoff: &Cutoff) -> (String, Vec<Value>) {
        let mut parts = Vec::new();
        let mut params = Vec::new();
        let cut = |c: &ExpiryCol| match c.kind {
            TimeKind::EpochMicros => Value::Int(cutoff.micros),
            TimeKind::DateTime | TimeKind::Timestamp => cutoff.datetime.clone(),
        };
        // Expiry i applies when every column before it is NULL.
        for (i, c) in self.expiry.iter().enumerate() {
            let mut conds: Vec<String> = self.expiry[..i].iter().map(|p| format!("{} IS NULL", p.name)).collect();
            conds.push(format!("{} < ?", c.name));
            params.push(cut(c));
            parts.push(if conds.len() == 1 { conds.remove(0) } else { format!("({})", conds.join(" AND ")) });
        }
        for d in &self.deleted {
            parts.push(format!("{d} IS NOT NULL"));
        }
        let me = self.table.as_ref().map(|t| t.to_string()).unwrap_or_default();
        if let Some(v) = &self.via {
            parts.push(format!(
                "EXISTS (SELECT 1 FROM {p} WHERE {p}.{ppk} = {me}.{fk} AND {p}.{pc} < ?)",
                p = v.parent,
                ppk = v.parent_pk,
                fk = v.fk,
                pc = v.parent_col
            ));
            params.push(cutoff.datetime.clone());
        }
        if let Some(o) = &self.orphan {
            parts.push(format!(
                "NOT EXISTS (SELECT 1 FROM {p} WHERE {p}.{ppk} = {me}.{fk})",
                p = o.parent,
                ppk = o.parent_pk,
                fk = o.fk
            ));
        }
        let mut sql = if parts.len() == 1 { parts.remove(0) } else { format!("({})", parts.join(" OR ")) };
        if let Some(flag) = &self.flag {
            sql = format!("({flag} <> 0 AND {sql})");
        }
        for g in &self.guards {
            sql = format!(
                "({sql} AND NOT EXISTS (SELECT 1 FROM {} WHERE {}.{} = {}.{}))",
                g.child, g.child, g.child_col, g.table, g.col
            );
        }
        (sql, params)
    }

    /// A SQL expression showing a row's expiry as a DATETIME (for `--dry-run`'s oldest expiry).
    pub fn display_expr(&self) -> String {
        let shown: Vec<String> = self
            .expiry
            .iter()
            .map(|c| match c.kind {
                TimeKind::EpochMicros => format!("FROM_UNIXTIME({} DIV 1000000)", c.name),
                _ => c.name.to_string(),
            })
            .collect();
        if shown.is_empty() {
            // A rule through a parent, or of orphans: no time of its own to show.
            "NULL".to_string()
        } else if shown.len() == 1 {
            shown[0].clone()
        } else {
            format!("COALESCE({})", shown.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Ident {
        Ident::parse("t", s).unwrap()
    }

    fn cutoff() -> Cutoff {
        Cutoff { datetime: Value::from("2024-01-01 00:00:00"), micros: 1_704_067_200_000_000, text: String::new() }
    }

    #[test]
    fn a_single_column_is_a_plain_comparison() {
        let r = ExpiryRule {
            expiry: vec![ExpiryCol { name: id("expires"), kind: TimeKind::DateTime }],
            ..Default::default()
        };
        let (sql, params) = r.predicate(&cutoff());
        assert_eq!(sql, "`expires` < ?");
        assert_eq!(params, vec![Value::from("2024-01-01 00:00:00")]);
        assert!(r.is_simple());
    }

    #[test]
    fn trust_reads_the_integer_first_then_the_datetime_or_the_soft_delete() {
        let r = ExpiryRule {
            expiry: vec![
                ExpiryCol { name: id("expires_at_int"), kind: TimeKind::EpochMicros },
                ExpiryCol { name: id("expires_at"), kind: TimeKind::DateTime },
            ],
            deleted: vec![id("deleted_at")],
            ..Default::default()
        };
        let (sql, params) = r.predicate(&cutoff());
        assert_eq!(
            sql,
            "(`expires_at_int` < ? OR (`expires_at_int` IS NULL AND `expires_at` < ?) OR `deleted_at` IS NOT NULL)"
        );
        assert_eq!(params, vec![Value::Int(1_704_067_200_000_000), Value::from("2024-01-01 00:00:00")]);
        assert!(!r.is_simple());
        assert_eq!(r.display_expr(), "COALESCE(FROM_UNIXTIME(`expires_at_int` DIV 1000000), `expires_at`)");
    }

    #[test]
    fn soft_deletes_guards_parents_and_orphans_render_as_sql() {
        let t = id("volumes");
        let r = ExpiryRule {
            expiry: vec![ExpiryCol { name: id("deleted_at"), kind: TimeKind::DateTime }],
            flag: Some(id("deleted")),
            guards: vec![Guard { child: id("snapshots"), child_col: id("volume_id"), table: t.clone(), col: id("id") }],
            table: Some(t),
            ..Default::default()
        };
        let (sql, params) = r.predicate(&cutoff());
        assert_eq!(
            sql,
            "((`deleted` <> 0 AND `deleted_at` < ?) AND NOT EXISTS (SELECT 1 FROM `snapshots` \
             WHERE `snapshots`.`volume_id` = `volumes`.`id`))"
        );
        assert_eq!(params.len(), 1);
        assert!(!r.is_simple());
        let via = ExpiryRule {
            table: Some(id("task_info")),
            via: Some(Via {
                fk: id("task_id"),
                parent: id("tasks"),
                parent_pk: id("id"),
                parent_col: id("deleted_at"),
            }),
            ..Default::default()
        };
        assert_eq!(
            via.predicate(&cutoff()).0,
            "EXISTS (SELECT 1 FROM `tasks` WHERE `tasks`.`id` = `task_info`.`task_id` AND `tasks`.`deleted_at` < ?)"
        );
        let orphan = ExpiryRule {
            table: Some(id("trust_role")),
            orphan: Some(Orphan { fk: id("trust_id"), parent: id("trust"), parent_pk: id("id") }),
            ..Default::default()
        };
        assert_eq!(orphan.display_expr(), "NULL", "nothing to show, and valid SQL");
        assert_eq!(
            orphan.predicate(&cutoff()),
            ("NOT EXISTS (SELECT 1 FROM `trust` WHERE `trust`.`id` = `trust_role`.`trust_id`)".to_string(), vec![])
        );
    }
}
