//! The fault matrix of issue 5: the agent against real processes that die, hang, fill up, lock
//! rows or race it. Every case checks the same three promises:
//! - no unexpired and no NULL-expiry row is ever deleted;
//! - every operation returns before its `OCF_RESKEY_CRM_meta_timeout`;
//! - the next monitor recovers and finishes the backlog.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{server, start_server, state_json, temp_dir, Agent, Blackhole, Mount, Rng, Run, Server, TestDb};

/// What must never change, whatever goes wrong.
struct Kept {
    live: u64,
    nulls: u64,
}

impl Kept {
    fn of(db: &TestDb) -> Kept {
        Kept { live: db.live(), nulls: db.nulls() }
    }

    fn check(&self, db: &TestDb, when: &str) {
        assert_eq!(db.live(), self.live, "{when}: an unexpired row was deleted");
        assert_eq!(db.nulls(), self.nulls, "{when}: a NULL-expiry row was deleted");
    }
}

/// The operation returned before Pacemaker would have killed it.
fn in_time(r: &Run, timeout_ms: u64, what: &str) {
    assert!(r.elapsed < Duration::from_millis(timeout_ms), "{what} overran its {timeout_ms} ms timeout: {r:?}");
}

/// Runs monitors (waiting out `interval`/`retry_interval` of 1 s between them) until no expired
/// row is left; each must succeed inside its timeout.
fn drain(a: &Agent, db: &TestDb, timeout_ms: u64, what: &str) -> usize {
    let a = a.clone().env("OCF_RESKEY_CRM_meta_timeout", &timeout_ms.to_string());
    for n in 1..=8 {
        let m = a.run("monitor");
        in_time(&m, timeout_ms, what);
        assert_ne!(m.code, 7, "{what}: a monitor must never report a started resource stopped: {m:?}");
        if m.code == 0 && db.expired() == 0 {
            return n;
        }
        std::thread::sleep(Duration::from_millis(1100));
    }
    panic!("{what}: the backlog was not finished by 8 monitors ({} expired rows left)", db.expired());
}

fn leak(s: Server) -> &'static Server {
    Box::leak(Box::new(s))
}

/// Pacemaker SIGKILLs the whole process group of an operation that overruns its timeout. The
/// agent is killed here at random points of a flush (before it connects, between and inside
/// chunks, around the state write), 24 times: every committed chunk stays committed, no live
/// row goes, the state file always parses (it is replaced atomically), and the next monitor
/// simply carries on.
#[test]
fn sigkill_at_random_points_never_corrupts_state_or_loses_rows() {
    let db = server().fresh_db("sigkill");
    db.fill(5000, 5);
    let kept = Kept::of(&db);
    let dir = temp_dir();
    // One row per chunk and a 1 ms pause between chunks: a flush of the backlog takes seconds
    // however fast the engine gets, so the kills land inside it.
    let a = db.agent(dir.path()).param("batch_size", "1").param("sleep_ms", "1").param("interval", "1");
    assert_eq!(a.run("start").code, 0);
    let mut rng = Rng::from_env_or_clock();
    let mut killed_mid_flush = 0;
    for i in 0..24 {
        let before = db.expired();
        let m = a.spawn(&["monitor"]);
        // Three kinds of points: at exec/connect, early in the chunk loop, anywhere later.
        let delay = match i % 3 {
            0 => rng.below(15),
            1 => 20 + rng.below(100),
            _ => 50 + rng.below(350),
        };
        std::thread::sleep(Duration::from_millis(delay));
        m.signal("-KILL");
        let r = m.wait();
        if r.code == -9 && db.expired() < before {
            killed_mid_flush += 1;
        }
        let text = fs::read_to_string(dir.path().join("tokenflush-p_tokenflush.state")).expect("state file present");
        assert!(
            serde_json::from_str::<serde_json::Value>(&text).is_ok(),
            "kill {i} after {delay} ms left an unreadable state file:\n{text}"
        );
        kept.check(&db, &format!("kill {i} after {delay} ms"));
    }
    assert!(killed_mid_flush >= 5, "only {killed_mid_flush} kills landed mid-flush: the test did not test much");
    eprintln!("24 SIGKILLs, {killed_mid_flush} of them after rows had gone; state file readable after each");
    assert!(db.expired() > 0, "some backlog is left for the recovery monitor");
    drain(&a.clone().param("batch_size", "1000").param("sleep_ms", "0"), &db, 20_000, "after 24 SIGKILLs");
    kept.check(&db, "after recovery");
    assert_eq!(a.run("stop").code, 0);
}

/// A state file that is corrupt anyway (a disk fault, a hand edit, an empty file) is rebuilt by
/// the next monitor rather than failing the resource; a probe reports the resource running.
#[test]
fn a_corrupt_state_file_is_rebuilt() {
    let db = server().fresh_db("corrupt_state");
    db.fill(200, 2);
    let kept = Kept::of(&db);
    let dir = temp_dir();
    let a = db.agent(dir.path());
    let path = dir.path().join("tokenflush-p_tokenflush.state");
    for (i, garbage) in
        [&b"{\"version\": 1, \"rows_dele"[..], b"", b"\x00\xff\xfe garbage \x01", b"[1,2,3]"].into_iter().enumerate()
    {
        assert_eq!(a.run("start").code, 0);
        fs::write(&path, garbage).unwrap();
        let p = a.clone().probe().run("monitor");
        assert_eq!(p.code, 0, "case {i}: a probe sees the resource running: {p:?}");
        let m = a.run("monitor");
        assert_eq!(m.code, 0, "case {i}: {m:?}");
        assert!(m.stderr.contains("corrupt"), "case {i}: the rebuild is logged: {m:?}");
        let st = state_json(dir.path());
        assert_eq!(st["version"], 1, "case {i}: rebuilt: {st}");
        assert_eq!(db.expired(), 0, "case {i}: the rebuilt state flushes at once");
        assert_eq!(a.run("stop").code, 0);
        db.sql(&format!(
            "INSERT INTO token (id, expires, valid) SELECT CONCAT('again{i}-', seq), UTC_TIMESTAMP() - INTERVAL 2 HOUR, 1 FROM seq_1_to_20"
        ));
    }
    kept.check(&db, "after the rebuilds");
}

/// mariadbd dies (SIGKILL) in the middle of a flush and comes back later. The monitor reports
/// degraded (190) while it is down, never "not running" (7, which would make Pacemaker restart
/// the resource in a loop), and 0 once it is back; InnoDB's crash recovery keeps every
/// committed chunk and every live row.
#[test]
fn mariadbd_killed_mid_flush_is_degraded_until_it_returns() {
    let srv = leak(start_server(&[]));
    let db = srv.fresh_db("kill9");
    db.fill(3000, 5);
    let kept = Kept::of(&db);
    let dir = temp_dir();
    // Paced (2 rows, 2 ms apart) so that the server dies mid-flush however fast the engine is.
    let a = db
        .agent(dir.path())
        .param("batch_size", "2")
        .param("sleep_ms", "2")
        .param("retry_interval", "1")
        .param("interval", "1");
    let timeout_ms = 10_000;
    let a = a.env("OCF_RESKEY_CRM_meta_timeout", &timeout_ms.to_string());
    assert_eq!(a.run("start").code, 0);
    let m = a.spawn(&["monitor"]);
    std::thread::sleep(Duration::from_millis(400));
    srv.kill();
    let r = m.wait();
    in_time(&r, timeout_ms, "the monitor whose server died");
    assert_eq!(r.code, 190, "a flush cut short by a dead server is degraded: {r:?}");
    assert!(db_down_reason(&r), "{r:?}");

    for i in 0..3 {
        std::thread::sleep(Duration::from_millis(600));
        let m = a.run("monitor");
        in_time(&m, timeout_ms, "a monitor while the server is down");
        assert_eq!(m.code, 190, "monitor {i} while down: {m:?}");
        let p = a.clone().probe().run("monitor");
        assert_eq!(p.code, 0, "a probe while down still sees the resource: {p:?}");
    }

    srv.restart();
    kept.check(&db, "after crash recovery");
    let st = state_json(dir.path());
    assert!(st["consecutive_failures"].as_u64().unwrap() >= 1, "{st}");
    std::thread::sleep(Duration::from_millis(1100));
    drain(&a.clone().param("sleep_ms", "0"), &db, timeout_ms, "after the server came back");
    assert_eq!(state_json(dir.path())["consecutive_failures"], 0);
    kept.check(&db, "after the backlog was finished");
    assert_eq!(a.run("stop").code, 0);
}

fn db_down_reason(r: &Run) -> bool {
    let reason = r.reason().unwrap_or_default();
    ["unreachable", "timed out", "flush failed"].iter().any(|w| reason.contains(w))
}

/// mariadbd hangs (SIGSTOP) while a chunk runs: the sockets stay open but nothing answers. Only
/// the client-side timeouts can end the wait, and they end it inside the monitor's budget.
/// Probes, start and a level-10 validate-all return in time as well. After SIGCONT the next
/// monitor finishes the job.
#[test]
fn a_hung_server_costs_the_budget_not_the_timeout() {
    let srv = leak(start_server(&[]));
    let db = srv.fresh_db("sigstop");
    db.fill(3000, 4);
    let kept = Kept::of(&db);
    let dir = temp_dir();
    let timeout_ms = 6_000;
    let a = db
        .agent(dir.path())
        .param("batch_size", "2")
        .param("sleep_ms", "2")
        .param("retry_interval", "1")
        .param("interval", "1")
        .env("OCF_RESKEY_CRM_meta_timeout", &timeout_ms.to_string());
    assert_eq!(a.run("start").code, 0);
    let m = a.spawn(&["monitor"]);
    std::thread::sleep(Duration::from_millis(400));
    srv.pause();
    let resume = Resume(srv);
    let r = m.wait();
    in_time(&r, timeout_ms, "the monitor whose server hung");
    assert_eq!(r.code, 190, "{r:?}");
    assert!(r.reason().unwrap_or_default().contains("timed out"), "{r:?}");

    // While it hangs: nothing waits longer than its own timeout.
    let p = a.clone().probe().run("monitor");
    assert_eq!(p.code, 0, "{p:?}");
    in_time(&p, 1_000, "a probe against a hung server");
    let v = a.clone().env("OCF_CHECK_LEVEL", "10").env("OCF_RESKEY_CRM_meta_timeout", "4000").run("validate-all");
    in_time(&v, 4_000, "validate-all at level 10 against a hung server");
    assert_eq!(v.code, 1, "{v:?}");
    assert!(v.reason().unwrap_or_default().contains("timed out"), "{v:?}");
    std::thread::sleep(Duration::from_millis(1100));
    let m = a.run("monitor");
    in_time(&m, timeout_ms, "a second monitor against a hung server");
    assert_eq!(m.code, 190, "{m:?}");
    let other = temp_dir();
    let s = db.agent(other.path()).env("OCF_RESOURCE_INSTANCE", "p_other").run("start");
    assert_eq!(s.code, 0, "start never needs the database: {s:?}");

    drop(resume);
    std::thread::sleep(Duration::from_millis(1100));
    drain(&a.clone().param("sleep_ms", "0"), &db, timeout_ms, "after SIGCONT");
    kept.check(&db, "after the hang");
    assert_eq!(a.run("stop").code, 0);
}

/// SIGCONTs the server even when the test fails, so the watchdog can clean up.
struct Resume(&'static Server);

impl Drop for Resume {
    fn drop(&mut self) {
        self.0.resume();
    }
}

/// The database is down (nothing listens) or hangs in the handshake when the cluster starts the
/// resource: start still succeeds (a maintenance job must not block the cluster), validate-all
/// at OCF_CHECK_LEVEL=10 reports it, and a probe neither flushes nor even connects, so it can
/// never hang.
#[test]
fn an_unreachable_database_never_blocks_start_or_probe() {
    let db = server().fresh_db("unreachable_start");
    let dir = temp_dir();
    let nothing = common::free_port();
    let hole = Blackhole::new();
    for (what, port) in [("nothing listening", nothing), ("hung handshake", hole.port)] {
        let a = db
            .agent(dir.path())
            .param("connection", &format!("mysql://root@127.0.0.1:{port}/keystone"))
            .env("OCF_RESKEY_CRM_meta_timeout", "4000");
        let p = a.clone().probe().run("monitor");
        assert_eq!(p.code, 7, "{what}: probe of a stopped resource: {p:?}");
        assert_eq!(a.run("validate-all").code, 0, "{what}: level 0 never touches the database");
        let s = a.run("start");
        assert_eq!(s.code, 0, "{what}: {s:?}");
        in_time(&s, 4_000, "start");
        let before = hole.connections();
        let p = a.clone().probe().run("monitor");
        assert_eq!(p.code, 0, "{what}: {p:?}");
        in_time(&p, 1_000, "probe");
        assert_eq!(hole.connections(), before, "{what}: a probe never connects");
        let v = a.clone().env("OCF_CHECK_LEVEL", "10").run("validate-all");
        in_time(&v, 4_000, "validate-all at level 10");
        assert_eq!(v.code, 1, "{what}: {v:?}");
        let reason = v.reason().unwrap_or_default();
        assert!(reason.contains("unreachable") || reason.contains("timed out"), "{what}: {v:?}");
        let m = a.run("monitor");
        in_time(&m, 4_000, "monitor");
        assert_eq!(m.code, 190, "{what}: {m:?}");
        assert_eq!(a.run("stop").code, 0);
    }
    assert!(hole.connections() >= 2, "the hung-handshake case really connected (validate and monitor)");
}

/// The default state directory ($HA_RSCTMP, /run/resource-agents) may be missing after a
/// reboot (it lives on tmpfs): start creates it, not world-writable.
#[test]
fn a_missing_default_state_dir_is_created() {
    let db = server().fresh_db("statedir_default");
    db.fill(10, 1);
    let base = temp_dir();
    let rsctmp = base.path().join("run/resource-agents");
    let a = Agent::new().param("connection", &db.url()).env("HA_RSCTMP", &rsctmp.to_string_lossy());
    assert_eq!(a.run("monitor").code, 7);
    assert_eq!(a.run("start").code, 0);
    let mode = fs::metadata(&rsctmp).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o002, 0, "the state dir is not world-writable: {mode:o}");
    assert_eq!(a.run("monitor").code, 0);
    assert_eq!(db.expired(), 0);
    assert_eq!(a.run("stop").code, 0);
}

/// A state_dir the operator configured must exist: 5 (not installed on this node), with the
/// parameter named. stop still succeeds.
#[test]
fn a_missing_configured_state_dir_is_not_installed() {
    let db = server().fresh_db("statedir_missing");
    let a = db.agent(Path::new("/nonexistent/tokenflush-state"));
    for action in ["validate-all", "start"] {
        let r = a.run(action);
        assert_eq!(r.code, 5, "{action}: {r:?}");
        assert!(r.reason().unwrap_or_default().contains("state_dir"), "{action}: {r:?}");
    }
    assert_eq!(a.run("monitor").code, 7);
    assert_eq!(a.run("stop").code, 0);
}

/// A state directory the agent cannot write (a read-only mount, or a directory owned by
/// another user) is a permission problem: 4 with a clear reason. stop still succeeds.
#[test]
fn an_unwritable_state_dir_is_a_permission_error() {
    let db = server().fresh_db("statedir_ro");
    let dir = temp_dir();
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    {
        let _ro = Mount::read_only(&state);
        let a = db.agent(&state);
        let s = a.run("start");
        assert_eq!(s.code, 4, "{s:?}");
        assert!(s.reason().unwrap_or_default().contains("read-only"), "{s:?}");
        assert_eq!(a.run("stop").code, 0);
    }
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o755)).unwrap();
    let a = db.agent(&state).run_as("nobody");
    let s = a.run("start");
    assert_eq!(s.code, 4, "as nobody: {s:?}");
    assert!(s.reason().unwrap_or_default().contains("permission denied"), "{s:?}");
    assert_eq!(a.run("stop").code, 0);
    assert_eq!(fs::read_dir(&state).unwrap().count(), 0, "nothing half-written is left");
}

/// A full state file system: start fails with 1 and says so; a started resource whose disk
/// fills keeps flushing correctly but reports degraded (it cannot record what it did) rather
/// than failing; stop always succeeds; once space is back, the monitor is healthy again.
#[test]
fn a_full_state_dir_is_reported_and_survived() {
    let db = server().fresh_db("statedir_full");
    db.fill(300, 3);
    let kept = Kept::of(&db);
    let dir = temp_dir();
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    let _tmpfs = Mount::tmpfs(&state, "64k");
    let a = db.agent(&state);
    let fill = |name: &str| {
        // Fill every page the tmpfs has left.
        let _ = std::process::Command::new("dd")
            .args(["if=/dev/zero", "bs=4k", "count=64"])
            .arg(format!("of={}", state.join(name).display()))
            .stderr(std::process::Stdio::null())
            .status();
    };
    fill("ballast");
    let s = a.run("start");
    assert_eq!(s.code, 1, "{s:?}");
    assert!(s.reason().unwrap_or_default().contains("no space left"), "{s:?}");
    assert_eq!(a.run("stop").code, 0);
    assert!(!state.join("tokenflush-p_tokenflush.state").exists());

    fs::remove_file(state.join("ballast")).unwrap();
    assert_eq!(a.run("start").code, 0);
    fill("ballast");
    let m = a.run("monitor");
    assert_eq!(m.code, 190, "{m:?}");
    assert!(m.reason().unwrap_or_default().contains("no space left"), "{m:?}");
    assert_eq!(db.expired(), 0, "the flush itself went through");
    kept.check(&db, "full state dir");
    let st = state_json(&state);
    assert_eq!(st["version"], 1, "the old state is intact: {st}");
    let leftovers: Vec<_> = fs::read_dir(&state)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left behind: {leftovers:?}");
    fs::remove_file(state.join("ballast")).unwrap();
    assert_eq!(a.run("monitor").code, 0, "healthy again once there is space");
    assert_eq!(a.run("stop").code, 0);
}

fn agent_rows(dir: &Path, instance: &str) -> (u64, bool) {
    let text = fs::read_to_string(dir.join(format!("tokenflush-{instance}.state"))).expect("state file");
    let st: serde_json::Value = serde_json::from_str(&text).expect("state JSON");
    (st["last_flush"]["rows"].as_u64().unwrap_or(0), st["last_flush"]["skipped"].as_bool().unwrap_or(false))
}

fn no_lock_errors(r: &Run, who: &str) {
    for word in ["Deadlock", "error 1213", "error 1205", "Lock wait"] {
        assert!(!r.stderr.contains(word) && !r.stdout.contains(word), "{who}: a lock error escaped: {r:?}");
    }
}

/// Two flushers at once on one server: the agent and a CLI run from cron, then two agent
/// instances (a second cluster, a copy-pasted resource). The named lock lets exactly one
/// delete; the other skips as a success, and no lock error reaches anyone.
#[test]
fn two_flushers_at_once_one_deletes_no_deadlock_escapes() {
    let db = server().fresh_db("two_at_once");
    let d1 = temp_dir();
    let d2 = temp_dir();
    let a1 = db.agent(d1.path()).param("batch_size", "3").param("sleep_ms", "1");
    let a2 =
        db.agent(d2.path()).param("batch_size", "3").param("sleep_ms", "1").env("OCF_RESOURCE_INSTANCE", "p_second");
    let mut rounds = Vec::new();
    for round in 0..2 {
        db.fill(2000, 3);
        let kept = Kept::of(&db);
        assert_eq!(a1.run("start").code, 0);
        let m = a1.spawn(&["monitor"]);
        let c =
            Agent::new().spawn(&["flush", "--connection", &db.url(), "--batch-size", "3", "--sleep-ms", "1", "--json"]);
        let (m, c) = (m.wait(), c.wait());
        assert_eq!(m.code, 0, "{m:?}");
        assert_eq!(c.code, 0, "{c:?}");
        no_lock_errors(&m, "agent");
        no_lock_errors(&c, "cli");
        let v: serde_json::Value = serde_json::from_str(c.stdout.trim()).expect("JSON summary");
        let cli_rows = v["rows_deleted"].as_u64().unwrap();
        let (agent_rows, agent_skipped) = agent_rows(d1.path(), "p_tokenflush");
        assert!(agent_rows == 0 || cli_rows == 0, "round {round}: both deleted ({agent_rows} and {cli_rows})");
        assert_eq!(agent_rows + cli_rows, 2000, "round {round}");
        rounds.push(agent_skipped || v["end"] == "lock_held");
        kept.check(&db, "agent and CLI");
        assert_eq!(a1.run("stop").code, 0);
        db.sql("DELETE FROM token");
    }
    db.fill(2000, 3);
    let kept = Kept::of(&db);
    assert_eq!(a1.run("start").code, 0);
    assert_eq!(a2.run("start").code, 0);
    let (m1, m2) = (a1.spawn(&["monitor"]), a2.spawn(&["monitor"]));
    let (m1, m2) = (m1.wait(), m2.wait());
    for (m, who) in [(&m1, "first"), (&m2, "second")] {
        assert_eq!(m.code, 0, "{who}: {m:?}");
        no_lock_errors(m, who);
    }
    let (r1, s1) = agent_rows(d1.path(), "p_tokenflush");
    let (r2, s2) = agent_rows(d2.path(), "p_second");
    assert!(r1 == 0 || r2 == 0, "both instances deleted ({r1} and {r2})");
    assert_eq!(r1 + r2, 2000);
    rounds.push(s1 || s2);
    assert!(rounds.iter().any(|&x| x), "the flushers never overlapped, so the lock was not exercised: {rounds:?}");
    kept.check(&db, "two agents");
    a1.run("stop");
    a2.run("stop");
}

/// SIGTERM during a flush (an operator's kill, a `timeout` wrapper, Ctrl-C on the CLI): the
/// current chunk finishes, the process exits promptly, and what it reports is exactly what it
/// deleted (no chunk is half counted). The monitor records the partial flush, and the next
/// monitor finishes the backlog.
#[test]
fn sigterm_stops_at_a_chunk_boundary_and_reports_exactly() {
    let db = server().fresh_db("sigterm");
    db.fill(3000, 3);
    let kept = Kept::of(&db);
    // The CLI.
    let before = db.expired();
    let c = Agent::new().spawn(&["flush", "--connection", &db.url(), "--batch-size", "2", "--sleep-ms", "2", "--json"]);
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    c.signal("-TERM");
    let r = c.wait();
    assert!(t.elapsed() < Duration::from_secs(2), "exits promptly after SIGTERM: {r:?}");
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("a summary is still printed");
    assert_eq!(v["end"], "stopped", "{v}");
    let deleted = before - db.expired();
    assert!(deleted > 0 && db.expired() > 0, "interrupted mid-flush ({deleted} deleted)");
    assert_eq!(v["rows_deleted"].as_u64().unwrap(), deleted, "the report matches the table");
    kept.check(&db, "CLI SIGTERM");

    // Under `timeout`, the wrapper operators put around cron jobs.
    let before = db.expired();
    let out = std::process::Command::new("timeout")
        .args([
            "-s",
            "TERM",
            "0.5",
            common::BIN,
            "flush",
            "--connection",
            &db.url(),
            "--batch-size",
            "2",
            "--sleep-ms",
            "2",
            "--json",
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124), "timed out: {out:?}");
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(v["end"], "stopped", "{v}");
    assert_eq!(v["rows_deleted"].as_u64().unwrap(), before - db.expired());

    // The monitor, with a fresh backlog.
    db.sql("INSERT INTO token (id, expires, valid) SELECT CONCAT('m', seq), UTC_TIMESTAMP() - INTERVAL 2 HOUR - INTERVAL seq SECOND, 1 FROM seq_1_to_3000");
    let dir = temp_dir();
    let a = db.agent(dir.path()).param("batch_size", "2").param("sleep_ms", "2");
    assert_eq!(a.run("start").code, 0);
    let before = db.expired();
    let m = a.spawn(&["monitor"]);
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    m.signal("-TERM");
    let r = m.wait();
    assert!(t.elapsed() < Duration::from_secs(2), "{r:?}");
    assert_eq!(r.code, 0, "a stopped flush is no failure: {r:?}");
    let st = state_json(dir.path());
    assert_eq!(st["pending"], true, "{st}");
    assert_eq!(st["rows_deleted_total"].as_u64().unwrap(), before - db.expired(), "{st}");
    assert!(db.expired() > 0);
    drain(&a.clone().param("batch_size", "1000").param("sleep_ms", "0"), &db, 20_000, "after SIGTERM");
    assert_eq!(state_json(dir.path())["rows_deleted_total"].as_u64().unwrap(), before);
    kept.check(&db, "monitor SIGTERM");
    assert_eq!(a.run("stop").code, 0);
}

/// Keystone holds row locks on expired tokens (an open transaction updating them): the flush
/// waits a bounded time per chunk, retries, then leaves those rows for later instead of failing
/// the monitor. Once the lock is gone the next monitor deletes them.
#[test]
fn row_locks_held_by_another_transaction_never_fail_the_monitor() {
    let db = server().fresh_db("row_locks");
    db.fill(600, 3);
    let kept = Kept::of(&db);
    let ids: Vec<String> = db
        .sql("SELECT id FROM token WHERE expires < UTC_TIMESTAMP() ORDER BY expires DESC LIMIT 200")
        .lines()
        .step_by(20)
        .map(|s| format!("'{s}'"))
        .collect();
    let mut holder = db.server.session(&db.name);
    holder.exec(&format!("BEGIN; UPDATE token SET extra = 'held' WHERE id IN ({});", ids.join(",")));
    let dir = temp_dir();
    let timeout_ms = 8_000;
    let a = db
        .agent(dir.path())
        .param("batch_size", "50")
        .param("interval", "1")
        .env("OCF_RESKEY_CRM_meta_timeout", &timeout_ms.to_string());
    assert_eq!(a.run("start").code, 0);
    let m = a.run("monitor");
    in_time(&m, timeout_ms, "a monitor meeting row locks");
    assert_eq!(m.code, 0, "lock waits never fail the monitor: {m:?}");
    assert_eq!(m.reason(), None, "{m:?}");
    let left = db.expired();
    assert!(left >= ids.len() as u64, "the locked rows are still there ({left})");
    assert!(left < 600, "the unlocked rows went ({left} left)");
    let st = state_json(dir.path());
    assert_eq!(st["pending"], true, "the flush knows it is not done: {st}");
    assert_eq!(st["consecutive_failures"], 0, "{st}");
    kept.check(&db, "while locked");
    holder.close();
    drain(&a, &db, timeout_ms, "after the lock was released");
    kept.check(&db, "after the locked rows went");
    assert_eq!(a.run("stop").code, 0);
}

/// A syslog daemon that stops reading (hung journald or rsyslog) fills its socket's queue, and
/// a blocking send would then hang every agent operation until Pacemaker kills it. Logging must
/// never cost more than a moment: stderr still gets every line.
#[test]
fn a_syslog_daemon_that_stops_reading_never_hangs_the_agent() {
    let db = server().fresh_db("stuck_syslog");
    db.fill(50, 1);
    let dir = temp_dir();
    let sock_path = dir.path().join("log");
    let _sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    let a = db.agent(&state).env("TOKENFLUSH_SYSLOG_SOCKET", &sock_path.to_string_lossy()).param("interval", "1");
    // Fill the socket's queue the way a daemon that stopped reading would let it fill.
    let filler = std::os::unix::net::UnixDatagram::unbound().unwrap();
    filler.set_nonblocking(true).unwrap();
    let mut queued = 0;
    while filler.send_to(&[b'x'; 512], &sock_path).is_ok() {
        queued += 1;
        assert!(queued < 1_000_000, "the queue never fills");
    }
    assert!(queued > 0);
    for i in 0..8 {
        let action = ["start", "monitor", "validate-all", "stop"][i % 4];
        let mut p = a.spawn(&[action]);
        let limit = Instant::now() + Duration::from_secs(5);
        while p.child.try_wait().unwrap().is_none() {
            if Instant::now() > limit {
                p.signal("-KILL");
                let r = p.wait();
                panic!("operation {i} ({action}) hung on a syslog socket nobody reads: {r:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let r = p.wait();
        assert_eq!(r.code, 0, "{action}: {r:?}");
        if action == "start" {
            assert!(r.stderr.contains("started"), "stderr still gets the message: {r:?}");
        }
    }
}

/// SIGTERM while a chunk waits on row locks another transaction holds: the wait in progress is
/// allowed to end (it is bounded by innodb_lock_wait_timeout), but the chunk is not retried
/// again and again before the process notices it was asked to stop. Without that, a stop
/// request waited out every retry (five lock waits and their back-off).
#[test]
fn sigterm_during_a_lock_wait_does_not_wait_out_the_retries() {
    let db = server().fresh_db("sigterm_locked");
    db.fill(300, 2);
    let kept = Kept::of(&db);
    let oldest = db.sql("SELECT id FROM token WHERE expires < UTC_TIMESTAMP() ORDER BY expires LIMIT 3");
    let ids: Vec<String> = oldest.lines().map(|s| format!("'{s}'")).collect();
    let mut holder = db.server.session(&db.name);
    holder.exec(&format!("BEGIN; UPDATE token SET extra = 'held' WHERE id IN ({});", ids.join(",")));
    // A 16 s budget gives 2 s lock waits (a budget of its own for each of five attempts).
    let dir = temp_dir();
    let a = db.agent(dir.path()).param("batch_size", "50").env("OCF_RESKEY_CRM_meta_timeout", "32000");
    assert_eq!(a.run("start").code, 0);
    for who in ["cli", "monitor"] {
        let p = match who {
            "cli" => {
                Agent::new().spawn(&["flush", "--connection", &db.url(), "--batch-size", "50", "--max-runtime", "16"])
            }
            _ => a.spawn(&["monitor"]),
        };
        // Inside the first 2 s lock wait.
        std::thread::sleep(Duration::from_millis(700));
        let t = Instant::now();
        p.signal("-TERM");
        let r = p.wait();
        let waited = t.elapsed();
        assert_eq!(r.code, 0, "{who}: {r:?}");
        assert!(
            waited < Duration::from_millis(3000),
            "{who}: stopped after one lock wait, not all retries: {waited:?}\n{r:?}"
        );
        if who == "cli" {
            assert!(r.stdout.contains("interrupted"), "{r:?}");
        } else {
            assert_eq!(state_json(dir.path())["pending"], true);
        }
    }
    holder.close();
    kept.check(&db, "SIGTERM during a lock wait");
}

/// SIGTERM to a CLI flush whose server hangs: the flush cannot reach a chunk boundary, so after a
/// short grace the process abandons the statement in flight and exits, instead of sitting out
/// its statement timeouts. The abandoned chunk commits or rolls back whole on the server.
#[test]
fn sigterm_with_a_hung_server_exits_after_a_short_grace() {
    let srv = leak(start_server(&[]));
    let db = srv.fresh_db("sigterm_hung");
    db.fill(3000, 2);
    let kept = Kept::of(&db);
    let c = Agent::new().spawn(&["flush", "--connection", &db.url(), "--batch-size", "2", "--sleep-ms", "2"]);
    std::thread::sleep(Duration::from_millis(400));
    srv.pause();
    let resume = Resume(srv);
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    c.signal("-TERM");
    let r = c.wait();
    assert!(t.elapsed() < Duration::from_secs(5), "exits within the grace, not after 30 s: {r:?}");
    assert_ne!(r.code, 0, "an abandoned flush is not a success: {r:?}");
    assert!(r.stderr.contains("stopped by a signal"), "{r:?}");
    drop(resume);
    kept.check(&db, "SIGTERM with a hung server");
    let r = Agent::new().run_args(&["flush", "--connection", &db.url()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(db.expired(), 0);
    kept.check(&db, "after the next flush");
}
