//! What a rebuild needs before it creates anything (on Galera, too, every node answering the
//! flush's credentials: [`super::nodes`]), each refused with a one-line reason, and
//! what the table is made of (its columns, its key's type) for the rebuild's statements.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::ddl::Ddl;
use super::names::Names;
use crate::db::{within, DbError, Deadline, Session};
use crate::table::TablePlan;

/// The privileges the rebuild's statements need on the database.
pub const NEEDED: [&str; 8] = ["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "TRIGGER"];

const WAIT: Duration = Duration::from_secs(10);

fn refuse(why: String) -> DbError {
    DbError::Misconfigured(format!("cannot rebuild: {why}"))
}

/// Checks the preconditions and returns the statements of this table's rebuild.
pub async fn check(s: &mut Session, plan: &TablePlan, deadline: Deadline) -> Result<Ddl, DbError> {
    innodb_table(s, plan, deadline).await?;
    walkable(plan)?;
    unlinked(s, plan, deadline).await?;
    let names = Names::of(&plan.table);
    no_trigger_of_its_own(s, plan, &names, deadline).await?;
    privileged(s, deadline).await?;
    super::nodes::reachable(s, deadline).await?;
    let (pk_type, cols) = columns(s, plan, deadline).await?;
    Ok(Ddl::new(names, plan.pk.as_str(), &pk_type, &cols))
}

/// The table is an InnoDB base table.
async fn innodb_table(s: &mut Session, plan: &TablePlan, deadline: Deadline) -> Result<(), DbError> {
    let kind: Option<(String, Option<String>)> = within(
        deadline,
        WAIT,
        "inspect the table's kind",
        s.conn.exec_first(
            "SELECT TABLE_TYPE, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&s.schema.clone(), plan.table.as_str()),
        ),
    )
    .await?;
    match kind {
        Some((ty, _)) if ty != "BASE TABLE" => {
            Err(refuse(format!("{} is a {}, not a table", plan.table, ty.to_lowercase())))
        }
        Some((_, Some(e))) if e.eq_ignore_ascii_case("InnoDB") => Ok(()),
        Some((_, e)) => Err(refuse(format!("{} uses {}, not InnoDB", plan.table, e.unwrap_or_default()))),
        None => Err(DbError::Schema(format!("table {} does not exist", plan.table))),
    }
}

/// A copy can follow the table: no rows that go with its rows, and a key that reads back in
/// its index's order.
fn walkable(plan: &TablePlan) -> Result<(), DbError> {
    if let Some(m) = plan.family.iter().find(|m| m.ours) {
        return Err(refuse(format!(
            "rows of {} go with each row of {}, which a copy would leave behind",
            m.table, plan.table
        )));
    }
    if !plan.key_walkable {
        return Err(refuse(format!(
            "the primary key {} reads back out of its index's order (CHAR with a NO PAD collation, ENUM, \
             floating point, ...), so a copy cannot follow it",
            plan.pk
        )));
    }
    Ok(())
}

/// No foreign key leads to or from the table: a swap would leave it pointing at the old one.
async fn unlinked(s: &mut Session, plan: &TablePlan, deadline: Deadline) -> Result<(), DbError> {
    let (schema, t) = (s.schema.clone(), plan.table.as_str().to_string());
    let fks: Vec<String> = within(
        deadline,
        WAIT,
        "inspect foreign keys",
        s.conn.exec(
            "SELECT CONCAT(TABLE_NAME, '.', CONSTRAINT_NAME) FROM information_schema.KEY_COLUMN_USAGE \
         WHERE REFERENCED_TABLE_NAME IS NOT NULL AND ((TABLE_SCHEMA = ? AND TABLE_NAME = ?) \
         OR (REFERENCED_TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME = ?))",
            (&schema, &t, &schema, &t),
        ),
    )
    .await?;
    match fks.first() {
        Some(fk) => Err(refuse(format!("foreign key {fk} links {} to another table", plan.table))),
        None => Ok(()),
    }
}

/// The only triggers on the table are the rebuild's own (from a rebuild under way).
async fn no_trigger_of_its_own(
    s: &mut Session,
    plan: &TablePlan,
    names: &Names,
    deadline: Deadline,
) -> Result<(), DbError> {
    let triggers: Vec<String> = within(deadline, WAIT, "inspect triggers", s.conn.exec(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = ? AND EVENT_OBJECT_TABLE = ?",
        (&s.schema.clone(), plan.table.as_str()),
    ))
    .await?;
    match triggers.iter().find(|tr| !names.triggers.contains(tr)) {
        Some(other) => Err(refuse(format!("{} has a trigger of its own ({other})", plan.table))),
        None => Ok(()),
    }
}

/// The user may run every statement of a rebuild, triggers included.
async fn privileged(s: &mut Session, deadline: Deadline) -> Result<(), DbError> {
    let (missing, super_priv) = missing_privileges(s, deadline).await?;
    if !missing.is_empty() {
        return Err(refuse(format!("the database user lacks {} on the database", missing.join(", "))));
    }
    if !super_priv && triggers_need_super(s, deadline).await? {
        return Err(refuse(
            "binary logging is on, and creating triggers then needs SUPER or log_bin_trust_function_creators=1 \
             (SET GLOBAL log_bin_trust_function_creators = 1 on every node)"
                .into(),
        ));
    }
    Ok(())
}

/// The needed privileges the current user has neither globally nor on this database, and
/// whether it has SUPER.
async fn missing_privileges(s: &mut Session, deadline: Deadline) -> Result<(Vec<&'static str>, bool), DbError> {
    let have: Vec<String> = within(
        deadline,
        WAIT,
        "inspect privileges",
        s.conn.query(
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES \
         UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE DATABASE() LIKE TABLE_SCHEMA",
        ),
    )
    .await?;
    let has = |p: &str| have.iter().any(|h| h.eq_ignore_ascii_case(p));
    Ok((NEEDED.into_iter().filter(|p| !has(p)).collect(), has("SUPER")))
}

/// With the binary log on (Galera nodes often have it), the server refuses `CREATE TRIGGER` to
/// a user without SUPER unless `log_bin_trust_function_creators` is set (error 1419).
async fn triggers_need_super(s: &mut Session, deadline: Deadline) -> Result<bool, DbError> {
    let row: Option<(i64, i64)> = within(
        deadline,
        WAIT,
        "inspect binary logging",
        s.conn.query_first("SELECT @@GLOBAL.log_bin, @@GLOBAL.log_bin_trust_function_creators"),
    )
    .await?;
    Ok(row.is_some_and(|(log_bin, trusted)| log_bin == 1 && trusted == 0))
}

/// The primary key's full column type (for the state's cursor) and the columns a copy writes.
async fn columns(s: &mut Session, plan: &TablePlan, deadline: Deadline) -> Result<(String, Vec<String>), DbError> {
    type Col = (String, String, Option<String>, Option<String>, String);
    let rows: Vec<Col> = within(deadline, WAIT, "inspect columns", s.conn.exec(
        "SELECT COLUMN_NAME, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, EXTRA FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        (&s.schema.clone(), plan.table.as_str()),
    ))
    .await?;
    let mut pk_type = None;
    let mut cols = Vec::new();
    for (name, ty, charset, collation, extra) in rows {
        if name == plan.pk.as_str() {
            pk_type = Some(match (charset, collation) {
                (Some(cs), Some(co)) => format!("{ty} CHARACTER SET {cs} COLLATE {co}"),
                _ => ty.clone(),
            });
        }
        let generated =
            ["GENERATED", "VIRTUAL", "STORED", "PERSISTENT"].iter().any(|g| extra.to_uppercase().contains(g));
        if !generated {
            cols.push(name);
        }
    }
    let pk_type = pk_type.ok_or_else(|| DbError::Schema(format!("primary key {} not found", plan.pk)))?;
    Ok((pk_type, cols))
}
