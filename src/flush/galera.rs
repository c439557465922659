//! Galera: the write-set limits that cap a chunk, and flow control, which pauses the flush
//! (steps 6 and 7 of a flush).

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::db::{within, DbError, Deadline, Session};
use crate::table::TablePlan;

/// What Galera allows: `on` when the server replicates through wsrep, and `cap`, the largest
/// chunk that fits `wsrep_max_ws_rows` and `wsrep_max_ws_size`. Both limits are permanent (errors
/// 1180 and 1105), so retrying an oversized chunk unchanged would loop forever.
pub struct GaleraLimits {
    pub on: bool,
    pub cap: Option<u32>,
}

pub async fn galera_limits(s: &mut Session, plan: &TablePlan, deadline: Deadline) -> Result<GaleraLimits, DbError> {
    let vars: Vec<(String, String)> = within(
        deadline,
        Duration::from_secs(10),
        "read wsrep limits",
        s.conn.query("SHOW VARIABLES WHERE Variable_name IN ('wsrep_on', 'wsrep_max_ws_rows', 'wsrep_max_ws_size')"),
    )
    .await?;
    let get = |n: &str| vars.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str());
    if !get("wsrep_on").is_some_and(|v| v.eq_ignore_ascii_case("ON")) {
        return Ok(GaleraLimits { on: false, cap: None });
    }
    let rows = get("wsrep_max_ws_rows").and_then(|v| v.parse::<u64>().ok());
    let size = get("wsrep_max_ws_size").and_then(|v| v.parse::<u64>().ok());
    Ok(GaleraLimits { on: true, cap: chunk_cap(rows, size, plan.avg_row_length) })
}

/// The largest chunk under the write-set limits (0 means unlimited): 90 % of the row limit, and
/// half the size limit over twice the average row. A deleted row's write-set entry holds its
/// full image and its key, so the margin keeps an unusually wide chunk inside the limit.
pub fn chunk_cap(max_rows: Option<u64>, max_size: Option<u64>, avg_row_length: u64) -> Option<u32> {
    let by_rows = max_rows.filter(|&r| r > 0).map(|r| (r * 9 / 10).max(1));
    let by_size = max_size.filter(|&s| s > 0).map(|s| (s / 2 / (avg_row_length.max(256) * 2)).max(1));
    let cap = match (by_rows, by_size) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    cap.map(|c| c.min(u64::from(u32::MAX)) as u32)
}

/// Backs off while Galera flow control holds the cluster: a replica that cannot keep up makes
/// every writer wait, Keystone's token inserts included, so the flush yields first.
/// `wsrep_flow_control_paused` is a fraction since the last `FLUSH STATUS`, not "paused now", so
/// this reads `wsrep_flow_control_active` and the growth of `wsrep_flow_control_paused_ns`.
#[derive(Default)]
pub struct FlowControl {
    paused_ns: Option<u64>,
}

impl FlowControl {
    const MAX_PAUSE: Duration = Duration::from_secs(1);

    pub async fn pause(&mut self, s: &mut Session, deadline: Deadline) -> Duration {
        let vars: Vec<(String, String)> = match within(
            deadline,
            Duration::from_secs(2),
            "read flow control",
            s.conn.query(
                "SHOW STATUS WHERE Variable_name IN ('wsrep_flow_control_active', 'wsrep_flow_control_paused_ns')",
            ),
        )
        .await
        {
            Ok(v) => v,
            Err(_) => return Duration::ZERO,
        };
        let active = vars.iter().any(|(k, v)| k == "wsrep_flow_control_active" && v.eq_ignore_ascii_case("true"));
        let now_ns = vars.iter().find(|(k, _)| k == "wsrep_flow_control_paused_ns").and_then(|(_, v)| v.parse().ok());
        let pause = self.react(active, now_ns);
        if !pause.is_zero() {
            crate::info!("Galera flow control is active; pausing {} ms", pause.as_millis());
        }
        pause
    }

    /// The pause for what the server said: none while flow control stays idle, else the time
    /// the cluster spent paused since the last look, between 50 ms and a second.
    fn react(&mut self, active: bool, now_ns: Option<u64>) -> Duration {
        let grown = match (self.paused_ns, now_ns) {
            (Some(before), Some(now)) if now > before => Duration::from_nanos(now - before),
            _ => Duration::ZERO,
        };
        self.paused_ns = now_ns.or(self.paused_ns);
        if active || !grown.is_zero() {
            grown.max(Duration::from_millis(50)).min(Self::MAX_PAUSE)
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_fit_both_write_set_limits() {
        assert_eq!(chunk_cap(None, None, 500), None);
        assert_eq!(chunk_cap(Some(0), Some(0), 500), None, "0 means unlimited");
        assert_eq!(chunk_cap(Some(100), None, 500), Some(90));
        // 1 MB over twice a 1 KB row, halved: 256 rows.
        assert_eq!(chunk_cap(None, Some(1 << 20), 1024), Some(256));
        assert_eq!(chunk_cap(Some(100), Some(1 << 20), 1024), Some(90));
        assert_eq!(chunk_cap(Some(1), Some(10), 1 << 20), Some(1), "never below one row");
    }

    #[test]
    fn flow_control_pauses_only_while_the_cluster_was_paused() {
        let mut fc = FlowControl::default();
        assert_eq!(fc.react(false, Some(1_000)), Duration::ZERO, "the first reading is the baseline");
        assert_eq!(fc.react(false, Some(1_000)), Duration::ZERO);
        assert_eq!(fc.react(false, Some(300_001_000)), Duration::from_millis(300));
        assert_eq!(fc.react(true, Some(300_001_000)), Duration::from_millis(50), "active: at least 50 ms");
        assert_eq!(fc.react(false, Some(9_000_000_000)), Duration::from_secs(1), "at most a second");
    }
}
