//! The database password never leaves the agent: not on stdout or stderr, not in syslog, not in
//! the state file, not in the process list, whichever action runs and however the connection
//! fails. And the files the agent writes are private.

mod common;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{server, temp_dir, Agent, Run, Spawned};

/// A syslog socket owned by the test: every datagram the agent sends is kept.
struct SyslogCapture {
    path: PathBuf,
    messages: Arc<Mutex<Vec<String>>>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SyslogCapture {
    fn bind(dir: &Path) -> SyslogCapture {
        let path = dir.join("log");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (messages, done) = (messages.clone(), done.clone());
            move || {
                let mut buf = vec![0u8; 65536];
                while !done.load(Ordering::SeqCst) {
                    if let Ok(n) = sock.recv(&mut buf) {
                        messages.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
                    }
                }
            }
        });
        SyslogCapture { path, messages, done, thread: Some(thread) }
    }

    fn finish(mut self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(200));
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.messages.lock().unwrap().clone()
    }
}

/// Reads /proc/<pid>/cmdline while the process lives; the process must still be running when
/// first read, or the check proves nothing.
fn cmdline_while_running(p: &Spawned) -> String {
    let path = format!("/proc/{}/cmdline", p.pid());
    let raw = fs::read(&path).expect("the process is still running");
    let text = String::from_utf8_lossy(&raw).replace('\0', " ");
    assert!(!text.trim().is_empty(), "read the command line of a live process, not a zombie");
    text
}

/// Everything the agent produced, gathered for one grep.
#[derive(Default)]
struct Seen(String);

impl Seen {
    fn run(&mut self, what: &str, r: &Run) {
        self.0 += &format!("\n### {what} (exit {})\n{}\n{}", r.code, r.stdout, r.stderr);
    }
    fn text(&mut self, what: &str, t: &str) {
        self.0 += &format!("\n### {what}\n{t}");
    }
    fn state(&mut self, dir: &Path) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            if let Ok(t) = fs::read_to_string(e.path()) {
                self.text(&e.path().display().to_string(), &t);
            }
        }
    }
}

/// Every action, the CLI, and every kind of failing connection, with a distinctive password
/// carrying `: / # ; ? %`: the password (raw or percent-encoded) appears in none of stdout,
/// stderr, exit reasons, the captured syslog, the state file, or /proc/<pid>/cmdline of the
/// agent and of a CLI run given --config or --password-file. The syslog capture is shown to be
/// real: the agent's messages do arrive there.
#[test]
fn the_password_appears_nowhere() {
    let db = server().fresh_db("secrets_all");
    db.fill(400, 2);
    let password = "Sx7:tf/w#d;q?z%Kp";
    let encoded = "Sx7:tf/w#d;q?z%25Kp";
    let wrong = "Wr0ng:Secret#Value";
    let raw_url = db.user_url("leaky", password);
    let url = raw_url.replace(password, encoded);
    let dir = temp_dir();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let syslog = SyslogCapture::bind(dir.path());
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    let base = Agent::new()
        .param("state_dir", &state.to_string_lossy())
        .env("TOKENFLUSH_SYSLOG_SOCKET", &syslog.path.to_string_lossy())
        .param("batch_size", "50")
        .param("interval", "1")
        .param("retry_interval", "1");
    let a = base.clone().param("connection", &url);
    let mut seen = Seen::default();

    for action in ["meta-data", "usage", "validate-all", "notify", "frobnicate", "start", "start"] {
        let r = a.run(action);
        seen.run(action, &r);
    }
    let r = a.clone().env("OCF_CHECK_LEVEL", "10").run("validate-all");
    assert_eq!(r.code, 0, "the raw : / # ; ? and %25 password works: {r:?}");
    seen.run("validate-all level 10", &r);
    seen.run("probe", &a.clone().probe().run("monitor"));

    // A monitor held up by row locks, so its command line can be read while it runs.
    let lock = || {
        let ids = db
            .sql("SELECT CONCAT(\"'\", id, \"'\") FROM token WHERE expires < UTC_TIMESTAMP() ORDER BY expires LIMIT 5");
        let mut holder = db.server.session(&db.name);
        holder.exec(&format!(
            "BEGIN; UPDATE token SET extra = 'held' WHERE id IN ({});",
            ids.lines().collect::<Vec<_>>().join(",")
        ));
        holder
    };
    let holder = lock();
    let m = a.clone().env("OCF_RESKEY_CRM_meta_timeout", "6000").spawn(&["monitor"]);
    std::thread::sleep(Duration::from_millis(300));
    let cmd = cmdline_while_running(&m);
    assert!(cmd.contains("monitor"), "{cmd}");
    seen.text("cmdline of the monitor", &cmd);
    holder.close();
    let r = m.wait();
    assert_eq!(r.code, 0, "{r:?}");
    seen.run("monitor under row locks", &r);
    seen.state(&state);

    // The CLI given --config and --password-file, also held up by the locks.
    let conf = dir.path().join("keystone.conf");
    fs::write(&conf, format!("[database]\nconnection = {url}\n")).unwrap();
    let pwfile = dir.path().join("pw");
    fs::write(&pwfile, format!("{password}\n")).unwrap();
    let no_pw_url = raw_url.replace(password, "placeholder");
    let conf2 = dir.path().join("keystone-nopw.conf");
    fs::write(&conf2, format!("[database]\nconnection = {no_pw_url}\n")).unwrap();
    for (i, args) in [
        vec!["flush", "--config", conf.to_str().unwrap(), "--batch-size", "50"],
        vec!["flush", "--config", conf2.to_str().unwrap(), "--password-file", pwfile.to_str().unwrap(), "--json"],
    ]
    .into_iter()
    .enumerate()
    {
        db.add_expired(&format!("cli{i}"), 300);
        let holder = lock();
        let c = base.spawn(&args);
        std::thread::sleep(Duration::from_millis(300));
        let cmd = cmdline_while_running(&c);
        assert!(cmd.contains("flush"), "{cmd}");
        seen.text("cmdline of the CLI", &cmd);
        holder.close();
        let r = c.wait();
        assert_eq!(r.code, 0, "{r:?}");
        seen.run("CLI", &r);
    }
    std::thread::sleep(Duration::from_millis(1100));
    let r = a.run("monitor");
    assert_eq!(r.code, 0, "{r:?}");
    seen.run("monitor", &r);
    assert_eq!(db.expired(), 0);
    seen.run("CLI dry run", &base.run_args(&["flush", "--config", conf.to_str().unwrap(), "--dry-run"]));

    // Failing connections: wrong password, nothing listening, a URL that does not parse.
    let bad_pw = base.clone().param("connection", &url.replace(encoded, wrong));
    std::thread::sleep(Duration::from_millis(1100));
    let r = bad_pw.run("monitor");
    assert_eq!(r.code, 190, "{r:?}");
    assert!(r.reason().unwrap().contains("denied"), "{r:?}");
    seen.run("monitor, wrong password", &r);
    seen.run("validate-all 10, wrong password", &bad_pw.clone().env("OCF_CHECK_LEVEL", "10").run("validate-all"));
    seen.state(&state);
    let r = base.run_args(&["flush", "--connection", &url.replace(encoded, wrong)]);
    assert_ne!(r.code, 0);
    seen.run("CLI, wrong password", &r);
    let down = common::free_port();
    let unreachable = url.replace(&format!(":{}/", db.server.port), &format!(":{down}/"));
    assert_ne!(unreachable, url);
    std::thread::sleep(Duration::from_millis(1100));
    let r = base.clone().param("connection", &unreachable).run("monitor");
    assert_eq!(r.code, 190, "{r:?}");
    seen.run("monitor, unreachable", &r);
    seen.state(&state);
    for broken in [
        url.replace(&format!(":{}/", db.server.port), ":99999/"),
        url.replace("127.0.0.1", "bad host"),
        url.replace("mysql://", "postgresql://"),
        url.replace(&format!("/{}", db.name), "/"),
        format!("{url}?ssl_mode={password}"),
    ] {
        for action in ["validate-all", "start", "monitor"] {
            let r = base.clone().param("connection", &broken).run(action);
            assert_eq!(r.code, 6, "{action} {r:?}");
            seen.run(&format!("{action}, broken URL"), &r);
        }
        seen.run("CLI, broken URL", &base.run_args(&["flush", "--connection", &broken]));
    }
    // A password with a '$' in keystone.conf: oslo.config reads `$name` as a reference to
    // another option. Whatever the agent makes of it, the text after the '$' is the password's
    // and must not be repeated.
    let dollar = dir.path().join("keystone-dollar.conf");
    fs::write(&dollar, format!("[database]\nconnection = {}\n", raw_url.replace(password, "Ab$DollarTail9x"))).unwrap();
    let d = base.clone().param("config", &dollar.to_string_lossy());
    for action in ["validate-all", "start", "monitor"] {
        seen.run(&format!("{action}, $ in keystone.conf"), &d.run(action));
    }
    seen.run("CLI, $ in keystone.conf", &base.run_args(&["flush", "--config", dollar.to_str().unwrap()]));
    seen.run("stop", &a.run("stop"));

    let messages = syslog.finish();
    assert!(
        messages.iter().any(|m| m.contains("tokenflush(p_tokenflush)") && m.contains("flushed")),
        "the syslog capture is real: {messages:?}"
    );
    seen.text("syslog", &messages.join("\n"));
    for secret in [password, encoded, wrong, "Wr0ng%3ASecret", "DollarTail9x"] {
        assert!(!seen.0.contains(secret), "found {secret:?} in:\n{}", seen.0);
    }
    eprintln!("grepped {} bytes of output and {} syslog messages: 0 secrets found", seen.0.len(), messages.len());
}

/// Debug formatting of every configuration type redacts the password, so a `{:?}` in a log
/// line or a panic message cannot leak it.
#[test]
fn debug_of_the_config_redacts_the_password() {
    use tokenflush::config::{Config, Syntax};
    use tokenflush::ocf::OcfEnv;
    use tokenflush::params::RawParams;
    let dir = temp_dir();
    let pw = dir.path().join("pw");
    fs::write(&pw, "FileSecret#1\n").unwrap();
    let raw = RawParams::new(HashMap::from([
        ("connection".to_string(), "mysql+pymysql://ks:UrlSecret%231@db:3306/keystone".to_string()),
        ("password_file".to_string(), pw.to_string_lossy().into_owned()),
    ]));
    let env = OcfEnv { rsctmp: "/run/resource-agents".into(), ..OcfEnv::default() };
    let syntax = Syntax::parse(&raw, &env).unwrap();
    let config = Config::from_params(&raw, &env).unwrap();
    assert_eq!(config.db.password.as_ref().unwrap().expose(), "FileSecret#1", "the file wins");
    for text in [format!("{syntax:?}"), format!("{config:?}"), format!("{:#?}", config), config.db.redacted()] {
        for secret in ["UrlSecret", "FileSecret"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert!(format!("{config:?}").contains("***"));
}

/// The state file is 0600 whatever the umask Pacemaker hands the agent; the state directory the
/// agent creates is not world-writable.
#[test]
fn state_files_are_private_and_the_state_dir_is_not_world_writable() {
    let db = server().fresh_db("secrets_modes");
    db.fill(10, 0);
    let dir = temp_dir();
    let rsctmp = dir.path().join("resource-agents");
    let a = Agent::new().param("connection", &db.url()).env("HA_RSCTMP", &rsctmp.to_string_lossy());
    for action in ["start", "monitor"] {
        let mut c = a.command(&[]);
        let bin = c.get_program().to_owned();
        let out = std::process::Command::new("sh")
            .args(["-c", "umask 000; exec \"$0\" \"$1\""])
            .arg(bin)
            .arg(action)
            .env_clear()
            .envs(c.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))))
            .output()
            .unwrap();
        let _ = c.stdout(std::process::Stdio::null());
        assert!(out.status.success(), "{action}: {out:?}");
        let file = rsctmp.join("tokenflush-p_tokenflush.state");
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "after {action}: {mode:o}");
        let dmode = fs::metadata(&rsctmp).unwrap().permissions().mode() & 0o777;
        assert_eq!(dmode & 0o022, 0, "after {action}, even with umask 000: {dmode:o}");
    }
    assert_eq!(db.expired(), 0);
    assert_eq!(a.run("stop").code, 0);
}
