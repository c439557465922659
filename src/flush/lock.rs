//! The named lock that keeps two flushers of one table from running at once on one server
//! (step 3 of a flush).

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::db::{within, DbError, Deadline, Session};
use crate::table::TablePlan;

/// The lock's name. MariaDB limits lock names to 64 characters; longer names are shortened with
/// a hash.
pub fn lock_name(schema: &str, plan: &TablePlan) -> String {
    let name = format!("tokenflush.{}.{}", schema, plan.table.as_str());
    if name.len() <= 64 {
        return name;
    }
    let hash = name.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3));
    format!("{}.{hash:016x}", &name[..47])
}

/// Takes the lock without waiting: `false` when another flusher holds it.
pub async fn take(s: &mut Session, plan: &TablePlan, deadline: Deadline) -> Result<bool, DbError> {
    let name = lock_name(&s.schema, plan);
    let got: Option<Option<i64>> = within(
        deadline,
        Duration::from_secs(10),
        "take the named lock",
        s.conn.exec_first("SELECT GET_LOCK(?, 0)", (name,)),
    )
    .await?;
    Ok(got.flatten() == Some(1))
}

/// Releases the lock, best effort: closing the connection releases it too.
pub async fn release(s: &mut Session, plan: &TablePlan, deadline: Deadline) {
    let name = lock_name(&s.schema, plan);
    let _ =
        within(deadline, Duration::from_secs(2), "release lock", s.conn.exec_drop("DO RELEASE_LOCK(?)", (name,))).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::Ident;
    use crate::rule::ExpiryRule;

    fn plan(t: &str) -> TablePlan {
        TablePlan {
            table: Ident::parse("table", t).unwrap(),
            expiry: Ident::known("expires"),
            pk: Ident::known("id"),
            rule: ExpiryRule::default(),
            expiry_index: None,
            avg_row_length: 0,
            key_walkable: true,
            family: vec![],
        }
    }

    #[test]
    fn long_lock_names_are_shortened_but_stay_distinct() {
        let a = lock_name(&"s".repeat(60), &plan("token"));
        let b = lock_name(&"s".repeat(60), &plan("trust"));
        assert!(a.len() <= 64 && b.len() <= 64);
        assert_ne!(a, b);
        assert_eq!(lock_name("keystone", &plan("token")), "tokenflush.keystone.token");
    }
}
