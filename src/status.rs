//! `tokenflush status`: what the agent's state files say, for people and for scripts.
//!
//! The state file is the resource (see [`crate::state`]): an instance with a state file is
//! running, one without is stopped. For each instance the command shows the last flush (when,
//! rows, chunks, seconds, rows/s, whether it emptied the backlog), consecutive failures and the
//! last error, and the backlog estimate. It reads files only and never touches the database.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::flush::report::rate;
use crate::ocf::{OcfEnv, OcfStatus, Outcome};
use crate::state::{self, State};

const PREFIX: &str = "tokenflush-";
const SUFFIX: &str = ".state";

/// Runs the command. Exit 0 when at least one instance is running (or, with `--instance`, when
/// that one is); 7 (OCF "not running") otherwise.
pub fn run(instance: Option<&str>, state_dir: Option<&str>, as_json: bool, env: &OcfEnv) -> Outcome {
    let dir = PathBuf::from(state_dir.unwrap_or(&env.rsctmp));
    let files: Vec<(String, PathBuf)> = match instance {
        Some(name) => {
            let stem = OcfEnv { instance: name.to_string(), ..OcfEnv::default() }.instance_file_stem();
            vec![(name.to_string(), dir.join(format!("{PREFIX}{stem}{SUFFIX}")))]
        }
        None => match list(&dir) {
            Ok(f) => f,
            Err(e) => return Outcome::fail(OcfStatus::ErrGeneric, format!("cannot read {}: {e}", dir.display())),
        },
    };
    let now = state::now();
    let mut shown = Vec::new();
    let mut running = 0;
    for (name, path) in &files {
        let entry = match state::read(path) {
            Ok(Some(st)) => {
                running += 1;
                Entry { name: st.instance.clone().if_empty(name), path: path.clone(), state: Some(st), error: None }
            }
            Ok(None) => Entry { name: name.clone(), path: path.clone(), state: None, error: None },
            Err(e) => {
                running += 1;
                Entry { name: name.clone(), path: path.clone(), state: None, error: Some(e.to_string()) }
            }
        };
        shown.push(entry);
    }
    if as_json {
        let v = json!({
            "state_dir": dir.display().to_string(),
            "instances": shown.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
        });
        println!("{v}");
    } else if shown.is_empty() {
        println!("no tokenflush instance has a state file in {}: none is running on this node", dir.display());
    } else {
        for e in &shown {
            print!("{}", e.to_text(now));
        }
    }
    if running > 0 {
        Outcome::ok()
    } else {
        Outcome::status(OcfStatus::NotRunning)
    }
}

trait IfEmpty {
    fn if_empty(self, other: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, other: &str) -> String {
        if self.is_empty() {
            other.to_string()
        } else {
            self
        }
    }
}

/// The state files in `dir`, by name. A missing directory means nothing runs here.
fn list(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let inst = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?.to_string();
            Some((inst, e.path()))
        })
        .collect();
    out.sort();
    Ok(out)
}

struct Entry {
    name: String,
    path: PathBuf,
    state: Option<State>,
    error: Option<String>,
}

impl Entry {
    fn running(&self) -> bool {
        self.state.is_some() || self.error.is_some()
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "instance": self.name,
            "running": self.running(),
            "state_file": self.path.display().to_string(),
        });
        if let Some(e) = &self.error {
            v["error"] = json!(e);
        }
        if let Some(st) = &self.state {
            v["started_at"] = json!(st.started_at);
            v["pending"] = json!(st.pending);
            v["last_flush"] = match &st.last_flush {
                Some(f) => json!({
                    "at": f.at,
                    "at_utc": utc(f.at),
                    "rows": f.rows,
                    "chunks": f.chunks,
                    "seconds": f.seconds,
                    "rows_per_sec": rate(f.rows, f.seconds),
                    "complete": f.complete,
                    "skipped": f.skipped,
                }),
                None => Value::Null,
            };
            v["last_success_at"] = json!(st.last_success_at);
            v["consecutive_failures"] = json!(st.consecutive_failures);
            v["failures_total"] = json!(st.failures_total);
            v["last_error"] = json!(st.last_error);
            v["backlog_estimate"] = json!(st.backlog_estimate);
            v["rows_deleted_total"] = json!(st.rows_deleted_total);
        }
        v
    }

    fn to_text(&self, now: u64) -> String {
        let mut t = String::new();
        if let Some(e) = &self.error {
            t += &format!("{}: running, but {e}\n", self.name);
            return t;
        }
        let Some(st) = &self.state else {
            return format!("{}: stopped (no state file {})\n", self.name, self.path.display());
        };
        let health = if st.consecutive_failures > 0 { "running, DEGRADED" } else { "running" };
        t += &format!("{}: {health} (started {})\n", self.name, when(st.started_at, now));
        match &st.last_flush {
            Some(f) => {
                let end = if f.skipped {
                    "skipped: another flusher held the lock"
                } else if f.complete {
                    "complete"
                } else {
                    "incomplete, continuing at the next monitor"
                };
                t += &format!(
                    "  last flush:    {}: {} rows in {} chunks, {:.2}s, {:.0} rows/s, {end}\n",
                    when(f.at, now),
                    f.rows,
                    f.chunks,
                    f.seconds,
                    rate(f.rows, f.seconds)
                );
            }
            None => t += "  last flush:    none yet (the first runs at the next recurring monitor)\n",
        }
        t +=
            &format!("  last success:  {}\n", st.last_success_at.map_or_else(|| "never".to_string(), |s| when(s, now)));
        t += &format!("  failures:      {} consecutive, {} in total\n", st.consecutive_failures, st.failures_total);
        if let Some(e) = &st.last_error {
            t += &format!("  last error:    {e}\n");
        }
        t += &format!(
            "  backlog:       {}\n",
            st.backlog_estimate.map_or_else(|| "unknown".to_string(), |b| format!("about {b} expired rows"))
        );
        t += &format!("  deleted:       {} rows since start\n", st.rows_deleted_total);
        t
    }
}

fn when(ts: u64, now: u64) -> String {
    let ago = now.saturating_sub(ts);
    format!("{} ({} ago)", utc(ts), ago_text(ago))
}

fn ago_text(s: u64) -> String {
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Unix time as `YYYY-MM-DD HH:MM:SS UTC` (Howard Hinnant's civil-from-days).
pub fn utc(ts: u64) -> String {
    let days = (ts / 86_400) as i64;
    let secs = ts % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }
}
