//! Prometheus text-format metrics for node_exporter's textfile collector.
//!
//! The file is rewritten atomically (temporary file and rename in the same directory, as the
//! textfile collector requires) after every flush, mode 0644 so that node_exporter, which runs
//! as another user, can read it. Every sample carries the resource instance as the `instance`
//! label; Prometheus renames it `exported_instance` at scrape time unless `honor_labels` is set.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::state::{self, State};

/// The metrics of one instance, in the text exposition format (version 0.0.4).
pub fn render(instance: &str, st: &State) -> String {
    let label = format!("{{instance=\"{}\"}}", escape(instance));
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: Option<String>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        if let Some(v) = value {
            let _ = writeln!(out, "{name}{label} {v}");
        }
    };
    metric(
        "tokenflush_rows_deleted_total",
        "counter",
        "Rows deleted since the resource started.",
        Some(st.rows_deleted_total.to_string()),
    );
    metric(
        "tokenflush_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful flush (0: none yet).",
        Some(st.last_success_at.unwrap_or(0).to_string()),
    );
    metric(
        "tokenflush_last_flush_duration_seconds",
        "gauge",
        "Wall time of the last flush.",
        st.last_flush.as_ref().map(|f| format!("{:.3}", f.seconds)),
    );
    metric(
        "tokenflush_backlog_rows",
        "gauge",
        "Estimated expired rows left after the last flush (absent: not known yet).",
        st.backlog_estimate.map(|b| b.to_string()),
    );
    metric(
        "tokenflush_flush_failures_total",
        "counter",
        "Failed flushes since the resource started.",
        Some(st.failures_total.to_string()),
    );
    out
}

/// Label values escape backslash, double quote and line feed.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Rewrites the metrics file atomically with mode 0644, whatever the process umask.
pub fn write(path: &Path, instance: &str, st: &State) -> io::Result<()> {
    state::write_atomic(path, render(instance, st).as_bytes(), 0o644)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_unknowns_are_left_out() {
        let st = State::new("x", 1);
        let text = render("a\"b\\c", &st);
        assert!(text.contains("tokenflush_rows_deleted_total{instance=\"a\\\"b\\\\c\"} 0\n"), "{text}");
        assert!(!text.contains("tokenflush_backlog_rows{"), "{text}");
        assert!(text.contains("# TYPE tokenflush_backlog_rows gauge\n"));
    }
}
