//! The OCF contract: what each action returns in each situation, as the README's table says.
//! Pacemaker acts on these codes (restart, move, stop everywhere, or nothing), so each cell is
//! an operator-visible promise.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{server, temp_dir, Agent, BIN};

const ACTIONS: [&str; 5] = ["validate-all", "start", "probe", "monitor", "stop"];

/// Runs every action of the contract's row against a fresh state dir; `started` first starts
/// the resource with good parameters so that probe and monitor see it running.
fn row(good: &Agent, bad: &Agent, started: bool) -> Vec<(String, i32, Option<String>)> {
    let mut out = Vec::new();
    for action in ACTIONS {
        if started {
            assert_eq!(good.run("start").code, 0);
        } else {
            good.run("stop");
        }
        let r = match action {
            "probe" => bad.clone().probe().run("monitor"),
            a => bad.run(a),
        };
        out.push((action.to_string(), r.code, r.reason().map(str::to_string)));
    }
    good.run("stop");
    out
}

fn codes(r: &[(String, i32, Option<String>)]) -> Vec<i32> {
    r.iter().map(|(_, c, _)| *c).collect()
}

/// A typo in a parameter is the operator's to fix everywhere: 6 (not configured), except that
/// a probe of a stopped resource reports it stopped and stop always succeeds.
#[test]
fn bad_parameter_syntax_row() {
    let db = server().fresh_db("syntax_row");
    let dir = temp_dir();
    let good = db.agent(dir.path());
    let bad = good.clone().param("batch_size", "lots");
    let r = row(&good, &bad, false);
    assert_eq!(codes(&r), vec![6, 6, 7, 7, 0], "{r:?}");
    assert!(r[0].2.as_deref().unwrap().contains("batch_size"), "{r:?}");
    let r = row(&good, &bad, true);
    assert_eq!(codes(&r), vec![6, 6, 6, 6, 0], "{r:?}");
}

/// A configured file that is missing on this node is 5 (not installed: try another node);
/// one this user cannot read is 4.
#[test]
fn missing_and_unreadable_files_row() {
    let db = server().fresh_db("files_row");
    let dir = temp_dir();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let good = db.agent(dir.path());
    let missing = good.clone().param("password_file", "/nonexistent/tokenflush-pw");
    let r = row(&good, &missing, false);
    assert_eq!(codes(&r), vec![5, 5, 7, 7, 0], "{r:?}");
    assert!(r[0].2.as_deref().unwrap().contains("password_file"), "{r:?}");
    let r = row(&good, &missing, true);
    assert_eq!(codes(&r)[3], 5, "monitor of a started resource: {r:?}");

    let secret = dir.path().join("pw");
    fs::write(&secret, "x\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let unreadable = good.clone().param("password_file", &secret.to_string_lossy()).run_as("nobody");
    let v = unreadable.run("validate-all");
    assert_eq!(v.code, 4, "{v:?}");
    assert!(v.reason().unwrap().contains("password_file"), "{v:?}");
    assert_eq!(unreadable.run("start").code, 4);
    assert_eq!(unreadable.clone().probe().run("monitor").code, 7);
    assert_eq!(good.run("start").code, 0);
    assert_eq!(unreadable.run("monitor").code, 4);
    assert_eq!(good.run("stop").code, 0);
}

/// A cloned flusher would run on every node at once: refused as not configured.
#[test]
fn cloned_row() {
    let db = server().fresh_db("clone_row");
    let dir = temp_dir();
    let good = db.agent(dir.path());
    let cloned = good.clone().env("OCF_RESKEY_CRM_meta_clone_max", "2");
    let r = row(&good, &cloned, false);
    assert_eq!(codes(&r), vec![6, 6, 7, 7, 0], "{r:?}");
    assert!(r[0].2.as_deref().unwrap().contains("clone"), "{r:?}");
    assert_eq!(codes(&row(&good, &cloned, true))[3], 6);
}

/// An unreachable database must not stop the cluster from starting a maintenance job, and must
/// not trigger recovery: the monitor reports degraded (190) once a flush has failed.
#[test]
fn unreachable_database_row() {
    let db = server().fresh_db("unreachable_row");
    let dir = temp_dir();
    let port = common::free_port();
    let good = db.agent(dir.path());
    let down = good.clone().param("connection", &format!("mysql://root@127.0.0.1:{port}/keystone"));
    let r = row(&good, &down, false);
    assert_eq!(codes(&r), vec![0, 0, 7, 7, 0], "{r:?}");
    let r = row(&good, &down, true);
    assert_eq!(codes(&r), vec![0, 0, 0, 190, 0], "{r:?}");
    assert!(r[3].2.as_deref().unwrap().contains("unreachable"), "{r:?}");

    // Access denied behaves the same.
    let denied = good.clone().param("connection", &db.server.url("nosuchuser", "wrong", &db.name));
    assert_eq!(denied.run("validate-all").code, 0);
    assert_eq!(good.run("start").code, 0);
    let m = denied.run("monitor");
    assert_eq!(m.code, 190, "{m:?}");
    assert!(m.reason().unwrap().contains("denied"), "{m:?}");
    assert_eq!(denied.clone().env("OCF_CHECK_LEVEL", "10").run("validate-all").code, 4);
    assert_eq!(good.run("stop").code, 0);
}

/// A schema problem is invisible at level 0 (no database access) and is a configuration error
/// at level 10; a monitor reports it as degraded with the reason.
#[test]
fn schema_problems_row() {
    let db = server().fresh_db("schema_row");
    db.sql("CREATE TABLE wrongtype (id INT PRIMARY KEY, expires VARCHAR(20), INDEX(expires))");
    let dir = temp_dir();
    let good = db.agent(dir.path());
    let custom = good.clone().param("target", "custom").param("table", "token").param("expiry_column", "expires");
    for (param, value, words) in [
        ("table", "no_such_table", "does not exist"),
        ("expiry_column", "no_such_column", "does not exist"),
        ("table", "wrongtype", "not DATETIME"),
    ] {
        let bad = custom.clone().param(param, value);
        let r = row(&good, &bad, true);
        assert_eq!(codes(&r), vec![0, 0, 0, 190, 0], "{param}={value}: {r:?}");
        assert!(r[3].2.as_deref().unwrap().contains(words), "{r:?}");
        let deep = bad.clone().env("OCF_CHECK_LEVEL", "10");
        let v = deep.run("validate-all");
        assert_eq!(v.code, 6, "{v:?}");
        assert!(v.reason().unwrap().contains(value), "{v:?}");
        assert_eq!(good.run("start").code, 0);
        assert_eq!(deep.run("monitor").code, 6);
        assert_eq!(good.run("stop").code, 0);
    }
}

/// The sequence ocf-tester and Pacemaker rely on: stopped is 7, start and stop are idempotent.
#[test]
fn action_sequence_is_idempotent() {
    let db = server().fresh_db("sequence");
    db.fill(50, 3);
    let dir = temp_dir();
    let a = db.agent(dir.path());
    assert_eq!(a.run("monitor").code, 7, "monitor of a stopped resource");
    assert_eq!(a.clone().probe().run("monitor").code, 7, "probe of a stopped resource");
    assert_eq!(a.run("start").code, 0);
    assert_eq!(a.run("start").code, 0, "second start");
    assert_eq!(a.clone().probe().run("monitor").code, 0, "probe of a started resource");
    assert_eq!(db.expired(), 50, "a probe never flushes");
    assert_eq!(a.run("monitor").code, 0);
    assert_eq!(db.expired(), 0);
    assert_eq!(db.live(), 50);
    assert_eq!(db.nulls(), 3);
    assert_eq!(a.run("stop").code, 0);
    assert_eq!(a.run("stop").code, 0, "second stop");
    assert_eq!(a.run("monitor").code, 7);
}

/// Actions the agent does not implement say so with 3, and never with a failure code that
/// would make Pacemaker recover. A missing action is an argument error.
#[test]
fn unimplemented_unknown_and_missing_actions() {
    for action in ["notify", "promote", "demote", "migrate_to", "migrate_from", "reload"] {
        assert_eq!(Agent::new().run(action).code, 3, "{action}");
    }
    let r = Agent::new().run("frobnicate");
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("usage"), "{r:?}");
    assert_eq!(Agent::new().run_args(&[]).code, 2);
    assert_eq!(Agent::new().run("usage").code, 0);
    // Further arguments are ignored, as the OCF API requires.
    assert_eq!(Agent::new().run_args(&["meta-data", "extra", "--junk"]).code, 0);
}

/// meta-data needs no database, no root and no valid parameters, and must validate against both
/// the DTD ocf-tester uses and the RELAX NG schema of resource-agents.
#[test]
fn meta_data_validates_as_nobody() {
    let r = Agent::new().param("batch_size", "junk").run_as("nobody").run("meta-data");
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">"));
    let dir = temp_dir();
    let xml = dir.path().join("md.xml");
    fs::write(&xml, &r.stdout).unwrap();
    let dtd = Command::new("xmllint")
        .args(["--noout", "--dtdvalid", "/usr/share/resource-agents/ra-api-1.dtd"])
        .arg(&xml)
        .output()
        .unwrap();
    assert!(dtd.status.success(), "DTD: {}", String::from_utf8_lossy(&dtd.stderr));
    let rng = Command::new("xmllint")
        .args(["--noout", "--relaxng", "/usr/share/resource-agents/metadata.rng"])
        .arg(&xml)
        .output()
        .unwrap();
    assert!(rng.status.success(), "RNG: {}", String::from_utf8_lossy(&rng.stderr));
    for p in tokenflush::params::PARAMS {
        assert!(r.stdout.contains(&format!("<parameter name=\"{}\"", p.name)), "{}", p.name);
    }
    assert_eq!(r.stdout.matches("<parameter name=").count(), tokenflush::params::PARAMS.len());
}

/// The real ocf-tester, as an operator would run it, against a live database.
#[test]
fn ocf_tester_passes() {
    let db = server().fresh_db("ocf_tester");
    db.fill(100, 1);
    let dir = temp_dir();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let agent = dir.path().join("tokenflush");
    fs::copy(BIN, &agent).unwrap();
    fs::set_permissions(&agent, fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    let out = Command::new("ocf-tester")
        .args(["-n", "p_tokenflush", "-o"])
        .arg(format!("connection={}", db.url()))
        .arg("-o")
        .arg(format!("state_dir={}", state.display()))
        .arg(&agent)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("passed all tests"), "{text}");
    assert_eq!(db.expired(), 0);
    assert_eq!(db.live(), 100);
}

/// The password never shows in anything the agent writes: stderr, stdout, exit reasons, or the
/// state file, whichever action runs and whether the connection works or fails.
#[test]
fn password_never_leaks() {
    let db = server().fresh_db("secrets");
    db.fill(20, 0);
    let password = "Zq9:s/e#c;r?et%pw";
    let encoded = "Zq9:s/e#c;r?et%25pw";
    let url = db.user_url("leaky", password).replace(password, encoded);
    let dir = temp_dir();
    let a = Agent::new().param("connection", &url).param("state_dir", &dir.path().to_string_lossy());
    let mut seen = String::new();
    for action in ["validate-all", "start", "monitor", "monitor", "stop"] {
        let r = a.run(action);
        assert!(r.code == 0, "{action}: {r:?}");
        seen += &r.stdout;
        seen += &r.stderr;
        if let Ok(s) = fs::read_to_string(dir.path().join("tokenflush-p_tokenflush.state")) {
            seen += &s;
        }
    }
    assert_eq!(db.expired(), 0, "the raw :/#;? password worked");
    let wrong = Agent::new()
        .param("connection", &url.replace(encoded, "Zq9WrongButSecretish"))
        .param("state_dir", &dir.path().to_string_lossy());
    wrong.run("start");
    let r = wrong.run("monitor");
    assert_eq!(r.code, 190);
    seen += &r.stderr;
    seen += &fs::read_to_string(dir.path().join("tokenflush-p_tokenflush.state")).unwrap();
    wrong.run("stop");
    for secret in [password, encoded, "Zq9WrongButSecretish"] {
        assert!(!seen.contains(secret), "found {secret} in:\n{seen}");
    }
    // `start` logs the URL it will use: it must be there, with the password replaced.
    assert!(seen.contains("://leaky:***@127.0.0.1:"), "the URL is shown, redacted:\n{seen}");
}
