//! A target's tables, resolved against the database: found (a preset's optional tables, nova's
//! `shadow_*` tables, every soft-deleted table), ordered children before parents by the foreign
//! keys among them, and each given the guards that keep a row its children still reference.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::db::{within, DbError, Deadline, Session};
use crate::ident::Ident;
use crate::rule::{Dependent, Guard, RuleSpec};
use crate::target::{nova_shadow_column, Tables};

const WAIT: Duration = Duration::from_secs(10);

/// A foreign key: `child.child_col` references `parent.parent_col`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForeignKey {
    pub child: String,
    pub child_col: String,
    pub parent: String,
    pub parent_col: String,
    /// `ON DELETE CASCADE` or `SET NULL`: deleting the parent changes the child itself.
    pub cascades: bool,
}

/// The tables to flush, children first, and the database's foreign keys (read once, for the
/// order here and the guards of [`crate::table::inspect`]).
pub async fn resolve(
    s: &mut Session,
    tables: &Tables,
    deadline: Deadline,
) -> Result<(Vec<RuleSpec>, Vec<ForeignKey>), DbError> {
    let columns = columns(s, deadline).await?;
    let has = |t: &str, c: &str| columns.iter().any(|(tt, cc)| tt == t && cc == c);
    let exists = |t: &str| columns.iter().any(|(tt, _)| tt == t);
    let specs: Vec<RuleSpec> = match tables {
        Tables::Fixed(specs) => specs.iter().filter(|r| !r.optional || exists(r.table.as_str())).cloned().collect(),
        Tables::NovaShadow => names(&columns)
            .into_iter()
            .filter(|t| t.starts_with("shadow_"))
            .filter_map(|t| {
                let col = nova_shadow_column(&t, |c| has(&t, c))?;
                Some(RuleSpec::single(Ident::parse("table", &t).ok()?, Ident::parse("column", col).ok()?))
            })
            .collect(),
        Tables::SoftDeleted => names(&columns)
            .into_iter()
            .filter(|t| has(t, "deleted") && has(t, "deleted_at"))
            .filter_map(|t| {
                let table = Ident::parse("table", &t).ok()?;
                Some(RuleSpec {
                    soft_delete: Some(Ident::known("deleted")),
                    ..RuleSpec::single(table, Ident::known("deleted_at"))
                })
            })
            .collect(),
    };
    let specs = specs
        .into_iter()
        .map(|mut r| {
            r.dependents.retain(|d| has(d.table.as_str(), d.col.as_str()));
            r
        })
        .collect();
    let fks = foreign_keys(s, deadline).await?;
    Ok((children_first(specs, &fks), fks))
}

/// Orders the tables so that every child comes before its parents (a self-reference is no
/// constraint), keeping the given order where the keys allow.
pub fn children_first(mut specs: Vec<RuleSpec>, fks: &[ForeignKey]) -> Vec<RuleSpec> {
    let mut out = Vec::with_capacity(specs.len());
    while !specs.is_empty() {
        let waiting = |t: &str, rest: &[RuleSpec]| {
            rest.iter().any(|r| fks.iter().any(|f| f.parent == t && f.child == r.table.as_str() && f.child != f.parent))
        };
        let i = (0..specs.len()).find(|&i| !waiting(specs[i].table.as_str(), &specs)).unwrap_or(0);
        out.push(specs.remove(i));
    }
    out
}

/// The guards of a table: every child whose foreign key does not cascade, through a
/// single-column key. A row it references may not go (the DELETE would fail with 1451).
pub fn guards(table: &Ident, fks: &[ForeignKey]) -> Vec<Guard> {
    fks.iter()
        .filter(|f| f.parent == table.as_str() && !f.cascades)
        .filter_map(|f| {
            Some(Guard {
                child: Ident::parse("table", &f.child).ok()?,
                child_col: Ident::parse("column", &f.child_col).ok()?,
                table: table.clone(),
                col: Ident::parse("column", &f.parent_col).ok()?,
            })
        })
        .collect()
}

/// A table whose rows go with a row of another, in the same transaction: counted against the
/// transaction's bound, and deleted by the flush itself where it is the preset's
/// [`Dependent`] rather than the server's `ON DELETE CASCADE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub table: Ident,
    /// Holds the primary key of the row it goes with.
    pub col: Ident,
    /// Deleted by the flush (a dependent); otherwise the server's cascade does it.
    pub ours: bool,
}

/// What goes with each row of `table` (primary key `pk`): its dependents, then every child
/// whose foreign key to the primary key cascades (`SET NULL` too: it writes the child's row).
/// A child that references the table itself, or another column, is not counted.
pub fn family(table: &Ident, pk: &Ident, dependents: &[Dependent], fks: &[ForeignKey]) -> Vec<Member> {
    let mut out: Vec<Member> =
        dependents.iter().map(|d| Member { table: d.table.clone(), col: d.col.clone(), ours: true }).collect();
    let cascading = fks
        .iter()
        .filter(|f| f.parent == table.as_str() && f.cascades && f.child != f.parent && f.parent_col == pk.as_str());
    for f in cascading {
        if out.iter().any(|m| m.table.as_str() == f.child && m.col.as_str() == f.child_col) {
            continue;
        }
        if let (Ok(t), Ok(c)) = (Ident::parse("table", &f.child), Ident::parse("column", &f.child_col)) {
            out.push(Member { table: t, col: c, ours: false });
        }
    }
    out
}

/// Every (table, column) of the database, base tables only.
async fn columns(s: &mut Session, deadline: Deadline) -> Result<Vec<(String, String)>, DbError> {
    within(
        deadline,
        WAIT,
        "list the tables",
        s.conn.query(
            "SELECT c.TABLE_NAME, c.COLUMN_NAME FROM information_schema.COLUMNS c JOIN information_schema.TABLES t \
         ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
         WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE' ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
        ),
    )
    .await
}

fn names(columns: &[(String, String)]) -> Vec<String> {
    let mut n: Vec<String> = columns.iter().map(|(t, _)| t.clone()).collect();
    n.dedup();
    n
}

/// The database's single-column foreign keys.
pub async fn foreign_keys(s: &mut Session, deadline: Deadline) -> Result<Vec<ForeignKey>, DbError> {
    let rows: Vec<(String, String, String, String, String, u64)> = within(deadline, WAIT, "read foreign keys", s.conn.query(
        "SELECT k.TABLE_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.DELETE_RULE, \
         (SELECT COUNT(*) FROM information_schema.KEY_COLUMN_USAGE k2 WHERE k2.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA \
          AND k2.TABLE_NAME = k.TABLE_NAME AND k2.CONSTRAINT_NAME = k.CONSTRAINT_NAME) \
         FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
         ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
         WHERE k.CONSTRAINT_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL \
         AND k.REFERENCED_TABLE_SCHEMA = DATABASE()",
    ))
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.5 == 1)
        .map(|(child, child_col, parent, parent_col, rule, _)| ForeignKey {
            child,
            child_col,
            parent,
            parent_col,
            cascades: matches!(rule.as_str(), "CASCADE" | "SET NULL"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fk(child: &str, parent: &str) -> ForeignKey {
        ForeignKey {
            child: child.into(),
            child_col: "p".into(),
            parent: parent.into(),
            parent_col: "id".into(),
            cascades: false,
        }
    }

    fn order(tables: &[&str], fks: &[ForeignKey]) -> Vec<String> {
        let specs = tables
            .iter()
            .map(|t| RuleSpec::single(Ident::parse("t", t).unwrap(), Ident::known("deleted_at")))
            .collect();
        children_first(specs, fks).into_iter().map(|r| r.table.as_str().to_string()).collect()
    }

    #[test]
    fn children_go_before_their_parents() {
        let fks = [fk("snapshots", "volumes"), fk("volume_metadata", "volumes"), fk("snapshot_metadata", "snapshots")];
        assert_eq!(
            order(&["volumes", "snapshots", "volume_metadata", "snapshot_metadata"], &fks),
            ["volume_metadata", "snapshot_metadata", "snapshots", "volumes"]
        );
    }

    #[test]
    fn a_self_reference_does_not_stall_the_order() {
        assert_eq!(order(&["qos", "b"], &[fk("qos", "qos")]), ["qos", "b"]);
    }

    #[test]
    fn a_row_takes_its_dependents_and_its_cascading_children_along() {
        let mut cascade = fk("alarm_history", "alarm");
        cascade.cascades = true;
        let mut to_other_col = fk("alarm_log", "alarm");
        (to_other_col.cascades, to_other_col.parent_col) = (true, "name".into());
        let fks = [fk("snapshots", "alarm"), cascade, to_other_col];
        let dep = [Dependent { table: Ident::known("alarm_role"), col: Ident::known("alarm_id") }];
        let family = family(&Ident::known("alarm"), &Ident::known("id"), &dep, &fks);
        let names: Vec<(&str, bool)> = family.iter().map(|m| (m.table.as_str(), m.ours)).collect();
        assert_eq!(names, vec![("alarm_role", true), ("alarm_history", false)]);
    }

    #[test]
    fn only_keys_that_do_not_cascade_guard_a_row() {
        let mut cascade = fk("alarm_history", "alarm");
        cascade.cascades = true;
        let fks = [fk("snapshots", "volumes"), cascade];
        assert_eq!(guards(&Ident::known("volumes"), &fks).len(), 1);
        assert!(guards(&Ident::known("alarm"), &fks).is_empty());
    }
}
