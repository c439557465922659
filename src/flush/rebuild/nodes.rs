//! Every Galera node has the rebuild's triggers, or the rebuild does not go on.
//!
//! A node applies each replicated `CREATE TRIGGER` on its own, and MariaDB 10.11 can fail to
//! (measured: "Trigger ... has an error in its body" while the node's own clients write to the
//! table, 3 times in 25 set-ups under load). With the default `wsrep_ignore_apply_errors` the
//! node ignores the failure and carries on without the trigger; every write its clients make
//! afterwards misses the copy, and the swap drops it. Nothing on the node that ran the DDL
//! shows it. So before the copy starts or resumes, the rebuild asks every node of the cluster
//! whether it has the triggers, once it has applied everything up to now (`wsrep_sync_wait`).
//! The nodes are read from `wsrep_incoming_addresses` (each node's `wsrep_node_incoming_address`
//! must be set) and reached with the flush's own credentials; the preconditions
//! ([`super::preflight`]) check that every one answers.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::names::Names;
use crate::db::{within, DbError, Deadline, Session};

const WAIT: Duration = Duration::from_secs(10);

/// What the cluster's nodes hold of the rebuild's triggers.
#[derive(Debug, PartialEq, Eq)]
pub enum Triggers {
    /// Every node has all three and the copy (or this is not a cluster).
    Everywhere,
    /// This node lacks at least one of them.
    MissingOn(String),
}

/// The nodes' client addresses from `wsrep_incoming_addresses` (`host:port,host:port`, IPv6
/// hosts in brackets). `None` when a node's address is not one a client can reach (a node
/// with no incoming address set says `AUTO`).
pub fn addresses(value: &str) -> Option<Vec<(String, u16)>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let (host, port) = a.rsplit_once(':')?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            (!host.is_empty()).then(|| Some((host.to_string(), port.parse().ok()?)))?
        })
        .collect()
}

/// The cluster's nodes, as clients reach them; `None` when the server is not a Galera node.
/// A node whose client address is unknown (`AUTO`: `wsrep_node_incoming_address` unset) cannot
/// be asked, so the rebuild is refused (`auto` then deletes).
pub async fn list(s: &mut Session, deadline: Deadline) -> Result<Option<Vec<(String, u16)>>, DbError> {
    let row: Option<(String, String)> = within(
        deadline,
        WAIT,
        "list the Galera nodes",
        s.conn.query_first("SHOW STATUS LIKE 'wsrep_incoming_addresses'"),
    )
    .await?;
    let Some((_, value)) = row.filter(|(_, v)| !v.is_empty()) else { return Ok(None) };
    match addresses(&value) {
        Some(nodes) => Ok(Some(nodes)),
        None => Err(DbError::Misconfigured(format!(
            "cannot rebuild: wsrep_incoming_addresses is '{value}', and the rebuild must ask every Galera node \
             whether it has its triggers: set wsrep_node_incoming_address on each node"
        ))),
    }
}

/// Every node answers the flush's credentials: a rebuild that could not ask one is refused
/// before it creates anything (and `auto` deletes).
pub async fn reachable(s: &mut Session, deadline: Deadline) -> Result<(), DbError> {
    for (host, port) in list(s, deadline).await?.unwrap_or_default() {
        let conn = connect(s, &host, port, deadline).await?;
        let _ = tokio::time::timeout(Duration::from_millis(500), conn.disconnect()).await;
    }
    Ok(())
}

async fn connect(s: &Session, host: &str, port: u16, deadline: Deadline) -> Result<mysql_async::Conn, DbError> {
    s.peer(host, port, deadline).await.map_err(|e| {
        DbError::Misconfigured(format!(
            "cannot rebuild: Galera node {host}:{port} cannot be reached to check that it has the rebuild's \
             triggers: {e}"
        ))
    })
}

/// Asks every node whether it has the rebuild's triggers on the table.
pub async fn triggers(s: &mut Session, n: &Names, deadline: Deadline) -> Result<Triggers, DbError> {
    let Some(nodes) = list(s, deadline).await? else { return Ok(Triggers::Everywhere) };
    for (host, port) in nodes {
        let node = format!("{host}:{port}");
        let mut conn = connect(s, &host, port, deadline).await?;
        // The triggers, and the copy they write into (a node that missed its CREATE TABLE would
        // refuse every write of its clients while the triggers are there).
        let sql = "SELECT (SELECT COUNT(*) FROM information_schema.TRIGGERS \
                   WHERE TRIGGER_SCHEMA = ? AND EVENT_OBJECT_TABLE = ? AND TRIGGER_NAME IN (?, ?, ?)) \
                   + (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?)";
        let [a, b, c] = n.triggers.clone();
        let args = (s.schema.clone(), n.table.clone(), a, b, c, s.schema.clone(), n.new.clone());
        let found: Option<u64> = within(deadline, WAIT, "count a node's triggers", async {
            conn.query_drop("SET SESSION wsrep_sync_wait = 1").await?;
            conn.exec_first(sql, args).await
        })
        .await?;
        let _ = tokio::time::timeout(Duration::from_millis(500), conn.disconnect()).await;
        if found != Some(4) {
            return Ok(Triggers::MissingOn(node));
        }
    }
    Ok(Triggers::Everywhere)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nodes_are_read_from_wsrep_incoming_addresses() {
        let v = addresses("10.0.0.1:3306,10.0.0.2:3306, [fd00::3]:3307").unwrap();
        assert_eq!(v, [("10.0.0.1".into(), 3306), ("10.0.0.2".into(), 3306), ("fd00::3".into(), 3307)]);
        assert_eq!(addresses("AUTO"), None);
        assert_eq!(addresses("10.0.0.1:3306,AUTO"), None);
        assert_eq!(addresses(":3306"), None);
        assert_eq!(addresses(""), Some(vec![]));
    }
}
