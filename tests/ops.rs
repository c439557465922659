//! Operator experience against the real server and real files: `status`, the Prometheus metrics
//! file, the interactive flush (progress bar on a real terminal, Ctrl-C at a chunk boundary).

mod common;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{server, temp_dir, Agent, BIN};

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn status(dir: &std::path::Path, extra: &[&str]) -> common::Run {
    let mut args = vec!["status", "--state-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    Agent::new().run_args(&args)
}

/// `status` tells an operator, from the state file alone, whether the resource runs here, what
/// the last flush did and how fast, and whether anything is failing.
#[test]
fn status_shows_running_instances_and_their_last_flush() {
    let db = server().fresh_db("status");
    db.fill(700, 0);
    let dir = temp_dir();
    let a = db.agent(dir.path()).param("batch_size", "100");
    let r = status(dir.path(), &[]);
    assert_eq!(r.code, 7, "nothing runs yet: {r:?}");
    assert!(r.stdout.contains("none is running"), "{r:?}");

    assert_eq!(a.run("start").code, 0);
    let r = status(dir.path(), &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("p_tokenflush: running"), "{r:?}");
    assert!(r.stdout.contains("last flush:    none yet"), "{r:?}");

    assert_eq!(a.run("monitor").code, 0);
    let r = status(dir.path(), &["--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON object");
    let i = &v["instances"][0];
    assert_eq!(i["instance"], "p_tokenflush");
    assert_eq!(i["running"], true);
    assert_eq!(i["last_flush"]["rows"], 700);
    assert_eq!(i["last_flush"]["chunks"], 7);
    assert_eq!(i["last_flush"]["complete"], true);
    assert!(i["last_flush"]["rows_per_sec"].as_f64().unwrap() > 0.0, "{i}");
    assert!(i["last_flush"]["at_utc"].as_str().unwrap().ends_with(" UTC"), "{i}");
    assert_eq!(i["consecutive_failures"], 0);
    assert_eq!(i["backlog_estimate"], 0);

    let r = status(dir.path(), &[]);
    assert!(r.stdout.contains("700 rows in 7 chunks"), "{r:?}");
    assert!(r.stdout.contains("rows/s, complete"), "{r:?}");

    // A failing database shows as degraded, with the reason, and counts failures.
    let port = common::free_port();
    let down = a.clone().param("connection", &format!("mysql://root@127.0.0.1:{port}/keystone"));
    assert_eq!(down.run("monitor").code, 0, "not due yet");
    let st = dir.path().join("tokenflush-p_tokenflush.state");
    let mut json: serde_json::Value = serde_json::from_str(&fs::read_to_string(&st).unwrap()).unwrap();
    json["last_complete_at"] = serde_json::json!(0);
    fs::write(&st, json.to_string()).unwrap();
    assert_eq!(down.run("monitor").code, 190);
    let r = status(dir.path(), &["--instance", "p_tokenflush"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("running, DEGRADED"), "{r:?}");
    assert!(r.stdout.contains("1 consecutive, 1 in total"), "{r:?}");
    assert!(r.stdout.contains("last error:    database unreachable"), "{r:?}");

    let r = status(dir.path(), &["--instance", "p_other", "--json"]);
    assert_eq!(r.code, 7, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["instances"][0]["running"], false);

    assert_eq!(a.run("stop").code, 0);
    let r = status(dir.path(), &["--instance", "p_tokenflush"]);
    assert_eq!(r.code, 7);
    assert!(r.stdout.contains("p_tokenflush: stopped"), "{r:?}");
}

fn scrape(path: &std::path::Path) -> HashMap<String, (f64, HashMap<String, String>, String)> {
    let text = fs::read_to_string(path).expect("metrics file");
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text format");
    let mut out = HashMap::new();
    for s in scrape.samples {
        let v = match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
            other => panic!("{}: unexpected {other:?}", s.metric),
        };
        let kind = match s.value {
            prometheus_parse::Value::Counter(_) => "counter",
            _ => "gauge",
        };
        out.insert(s.metric.clone(), (v, (*s.labels).clone(), kind.to_string()));
    }
    for name in out.keys() {
        assert!(scrape.docs.contains_key(name), "{name} has a HELP line");
    }
    out
}

/// The metrics file is what node_exporter's textfile collector reads: valid text format, the
/// documented names and types, the instance label, readable by others (0644), rewritten after
/// every flush, and never left half-written.
#[test]
fn metrics_file_is_valid_prometheus_text_after_every_flush() {
    let db = server().fresh_db("metrics");
    db.fill(250, 0);
    let dir = temp_dir();
    let prom = dir.path().join("textfile").join("tokenflush.prom");
    let a = db.agent(dir.path()).param("metrics_file", prom.to_str().unwrap());
    assert_eq!(a.run("validate-all").code, 5, "the metrics directory must exist");
    fs::create_dir(prom.parent().unwrap()).unwrap();
    assert_eq!(a.run("validate-all").code, 0);
    assert_eq!(a.run("start").code, 0);
    let m = scrape(&prom);
    assert_eq!(m["tokenflush_rows_deleted_total"].0, 0.0);
    assert!(!m.contains_key("tokenflush_backlog_rows"), "unknown before the first flush");

    let before = now_secs();
    assert_eq!(a.run("monitor").code, 0);
    let m = scrape(&prom);
    assert_eq!(m["tokenflush_rows_deleted_total"].0, 250.0);
    assert_eq!(m["tokenflush_rows_deleted_total"].2, "counter");
    assert_eq!(m["tokenflush_rows_deleted_total"].1["instance"], "p_tokenflush");
    assert!(m["tokenflush_last_success_timestamp_seconds"].0 >= before as f64);
    assert_eq!(m["tokenflush_last_success_timestamp_seconds"].2, "gauge");
    assert!(m["tokenflush_last_flush_duration_seconds"].0 > 0.0);
    assert_eq!(m["tokenflush_backlog_rows"].0, 0.0);
    assert_eq!(m["tokenflush_flush_failures_total"].0, 0.0);
    assert_eq!(m["tokenflush_flush_failures_total"].2, "counter");
    assert_eq!(fs::metadata(&prom).unwrap().permissions().mode() & 0o777, 0o644);
    let leftovers: Vec<_> = fs::read_dir(prom.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left for the collector to read");

    // A failed flush counts as a failure and keeps the last success time.
    let port = common::free_port();
    let down = a.clone().param("connection", &format!("mysql://root@127.0.0.1:{port}/keystone"));
    let st = dir.path().join("tokenflush-p_tokenflush.state");
    let mut json: serde_json::Value = serde_json::from_str(&fs::read_to_string(&st).unwrap()).unwrap();
    json["last_complete_at"] = serde_json::json!(0);
    fs::write(&st, json.to_string()).unwrap();
    assert_eq!(down.run("monitor").code, 190);
    let m2 = scrape(&prom);
    assert_eq!(m2["tokenflush_flush_failures_total"].0, 1.0);
    assert_eq!(m2["tokenflush_last_success_timestamp_seconds"].0, m["tokenflush_last_success_timestamp_seconds"].0);
    a.run("stop");
}

/// On a terminal, `flush` shows a progress bar with rows out of the estimated backlog, rows/s
/// and ETA; `script` gives it a real pseudo-terminal. Without one it prints only the summary.
#[test]
fn flush_shows_progress_on_a_terminal_and_stays_quiet_without() {
    let db = server().fresh_db("progress");
    db.fill(3000, 0);
    let cmd = format!("{BIN} flush --connection {} --batch-size 50", db.url());
    let out = Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("flushing token"), "{text}");
    assert!(text.contains("rows/s, ETA"), "{text}");
    assert!(text.contains("/3000 rows") || text.contains("/300"), "rows out of the estimated backlog: {text}");
    assert!(text.contains("deleted 3000 rows"), "{text}");
    assert_eq!(db.expired(), 0);

    let db = server().fresh_db("progress_quiet");
    db.fill(500, 0);
    let r = Agent::new().run_args(&["flush", "--connection", &db.url(), "--batch-size", "50", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stderr.contains("ETA"), "no bar without a terminal: {r:?}");
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("stdout is one JSON object");
    assert_eq!(v["rows_deleted"], 500);
}

/// Ctrl-C (SIGINT) stops a long flush at the next chunk boundary: every chunk it reports was
/// committed, nothing is half-done, and the summary says what was done.
#[test]
fn ctrl_c_stops_at_a_chunk_boundary_and_reports_what_was_done() {
    let db = server().fresh_db("sigint");
    db.fill(20_000, 0);
    let child = Agent::new()
        .command(&["flush", "--connection", &db.url(), "--batch-size", "1", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some chunks have committed, then interrupt.
    let t = Instant::now();
    while db.expired() > 19_900 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("the summary");
    assert_eq!(v["end"], "stopped", "{v}");
    assert_eq!(v["complete"], false);
    let deleted = v["rows_deleted"].as_u64().unwrap();
    assert!(deleted > 0 && deleted < 20_000, "{v}");
    assert_eq!(db.expired(), 20_000 - deleted, "exactly the reported rows are gone");
    assert!(stderr.contains("stopping at the next chunk boundary"), "{stderr}");
}
