//! The shared test harness: a real, throwaway MariaDB server per test binary, and a way to run the
//! real `tokenflush` binary the way Pacemaker does (action as argv[1], parameters as
//! `OCF_RESKEY_*`).
//!
//! The server is started once per test binary on a free loopback port, from a fresh data directory
//! in a temp dir. A watchdog shell kills it and removes the directory when the test process
//! exits, however it exits. Each test works in a database of its own, so tests run in parallel.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tokenflush");

/// The Keystone `token` table exactly as Keystone 30.0.0's `db_sync` creates it; the same file
/// gives the shell sandboxes their schema.
pub const TOKEN_SCHEMA: &str = include_str!("../../scripts/keystone-token.sql");

pub struct Server {
    pub dir: PathBuf,
    pub port: u16,
    pub socket: PathBuf,
    pub pid: u32,
}

static SERVER: OnceLock<Server> = OnceLock::new();

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The test binary's MariaDB server, started on first use.
pub fn server() -> &'static Server {
    SERVER.get_or_init(|| start_server(&[]))
}

/// Starts a MariaDB server in a new temp dir. `extra` are additional mariadbd options.
/// The server dies with the test process (watchdog), or earlier through [`Server::kill`].
pub fn start_server(extra: &[&str]) -> Server {
    start_server_with(extra, &[])
}

/// A freshly installed, never started data directory, made once per test binary and copied
/// (sparsely: 6 MB instead of 114 MB) for each server, so a private server costs a copy rather
/// than another `mariadb-install-db`.
fn template_datadir() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("tokenflush-test-tpl.").tempdir().expect("temp dir").keep();
        let data = dir.join("data");
        let user = if nix_is_root() { "root" } else { "mysql" };
        let out = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--auth-root-authentication-method=normal", "--skip-test-db"])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--user={user}"))
            .output()
            .expect("mariadb-install-db (run scripts/setup.sh)");
        assert!(out.status.success(), "mariadb-install-db failed: {}", String::from_utf8_lossy(&out.stderr));
        // Removed when this test process ends, however it ends.
        spawn_watchdog(
            r#"while kill -0 "$TF_PARENT" 2>/dev/null; do sleep 0.5; done; rm -rf "$TF_DIR""#,
            &dir,
            &[],
            &[],
        );
        data
    })
}

/// Makes the template data directory now, so that a test timing its set-up does not pay for
/// `mariadb-install-db` inside that set-up.
pub fn warm_template() {
    template_datadir();
}

/// Like [`start_server`], with environment variables for mariadbd (`TZ`, say). The server can be
/// killed, paused and restarted on the same data directory and port ([`Server::kill`],
/// [`Server::pause`], [`Server::restart`]).
pub fn start_server_with(extra: &[&str], env: &[(&str, &str)]) -> Server {
    let dir = tempfile::Builder::new().prefix("tokenflush-test-db.").tempdir().expect("temp dir").keep();
    let data = dir.join("data");
    let cp =
        Command::new("cp").args(["-a", "--sparse=always"]).arg(template_datadir()).arg(&data).output().expect("cp");
    assert!(cp.status.success(), "copy of the template datadir failed: {}", String::from_utf8_lossy(&cp.stderr));
    let user = if nix_is_root() { "root" } else { "mysql" };
    let port = free_port();
    let socket = dir.join("sock");
    // A temp dir of its own: a server deletes every `#sql*` file in its tmpdir when it starts,
    // so servers sharing /tmp pull internal temporary tables from under each other's queries
    // ("Error on delete of '/tmp/#sql-temptable-….MAI'").
    let tmpdir = dir.join("tmp");
    std::fs::create_dir_all(&tmpdir).expect("server tmpdir");
    let mut args: Vec<String> = vec![
        "--no-defaults".into(),
        format!("--datadir={}", data.display()),
        format!("--socket={}", socket.display()),
        format!("--port={port}"),
        "--bind-address=127.0.0.1".into(),
        format!("--pid-file={}", dir.join("mariadbd.pid").display()),
        format!("--log-error={}", dir.join("err.log").display()),
        "--skip-name-resolve".into(),
        format!("--tmpdir={}", tmpdir.display()),
        "--innodb-buffer-pool-size=64M".into(),
        "--innodb-log-file-size=16M".into(),
        "--innodb-flush-log-at-trx-commit=2".into(),
        "--innodb-doublewrite=0".into(),
        "--max-connections=200".into(),
        format!("--user={user}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    // The watchdog starts the server, restarts it on request (a `restart` file, after the test
    // killed it), waits for this test process to end, then kills the server and removes its
    // directory. It survives a panic or an abort of the test binary.
    let script = r#"run() { mariadbd "$@" >/dev/null 2>&1 </dev/null & srv=$!; echo $srv > "$TF_DIR/server.pid"; }
        run "$@"
        while kill -0 "$TF_PARENT" 2>/dev/null; do
            if [ -e "$TF_DIR/restart" ] && ! kill -0 $srv 2>/dev/null; then rm -f "$TF_DIR/restart"; run "$@"; fi
            sleep 0.2
        done
        kill -CONT $srv 2>/dev/null; kill -KILL $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$TF_DIR""#;
    spawn_watchdog(script, &dir, &args, env);
    let server = Server { dir, port, socket, pid: 0 };
    server.wait_ready(None);
    Server { pid: server.current_pid(), ..server }
}

/// Runs `script` in a detached bash that outlives every test thread, with `TF_PARENT` (this test
/// process) and `TF_DIR` set, so it can clean up after the process however it ends.
fn spawn_watchdog(script: &str, dir: &Path, args: &[String], env: &[(&str, &str)]) {
    // Deliberately never waited for: it must outlive the test threads.
    #[allow(clippy::zombie_processes)]
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg("tokenflush-test-watchdog")
        .args(args)
        .envs(env.iter().copied())
        .env("TF_PARENT", std::process::id().to_string())
        .env("TF_DIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn a test watchdog");
}

fn nix_is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl Server {
    /// Runs SQL as root through the socket and returns the tab-separated output without headers.
    pub fn sql(&self, db: Option<&str>, sql: &str) -> String {
        let mut c = Command::new("mariadb");
        c.args(["--no-defaults", "-uroot", "-N", "-B"]).arg(format!("--socket={}", self.socket.display()));
        if let Some(db) = db {
            c.arg(db);
        }
        let out = c.arg("-e").arg(sql).output().expect("mariadb client");
        assert!(out.status.success(), "SQL failed: {sql}\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    /// A new, empty database named after the test, with the Keystone token table.
    pub fn fresh_db(&'static self, name: &str) -> TestDb {
        let name = format!("t_{}", name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
        self.sql(None, &format!("DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}`"));
        self.sql(Some(&name), TOKEN_SCHEMA);
        TestDb { server: self, name }
    }

    pub fn url(&self, user: &str, password: &str, db: &str) -> String {
        format!("mysql://{user}:{password}@127.0.0.1:{}/{db}", self.port)
    }

    /// The pid of the running mariadbd (it changes with [`Server::restart`]).
    pub fn current_pid(&self) -> u32 {
        std::fs::read_to_string(self.dir.join("server.pid")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill").args([sig, &self.current_pid().to_string()]).status();
    }

    /// Whether the server answers a ping within a second.
    pub fn ping(&self) -> bool {
        Command::new("mariadb-admin")
            .args(["--no-defaults", "-uroot", "--connect-timeout=1"])
            .arg(format!("--socket={}", self.socket.display()))
            .arg("ping")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Waits until a server other than `old_pid` answers.
    fn wait_ready(&self, old_pid: Option<u32>) {
        let started = Instant::now();
        loop {
            let pid = self.current_pid();
            if pid != 0 && Some(pid) != old_pid && self.ping() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "mariadbd did not start: see {}",
                self.dir.join("err.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs the server (for fault tests on a server of their own) and waits until it is gone.
    pub fn kill(&self) {
        let pid = self.current_pid();
        self.signal("-KILL");
        let started = Instant::now();
        while Path::new(&format!("/proc/{pid}")).exists() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same data directory and port, after [`Server::kill`]
    /// (InnoDB crash recovery included), and waits until it answers.
    pub fn restart(&self) {
        let old = self.current_pid();
        std::fs::write(self.dir.join("restart"), b"").expect("restart request");
        self.wait_ready(Some(old));
    }

    /// SIGSTOPs the server: it keeps its sockets open but answers nothing, like a hung host.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONTs a paused server.
    pub fn resume(&self) {
        self.signal("-CONT");
    }
}

/// One test's database.
pub struct TestDb {
    pub server: &'static Server,
    pub name: String,
}

impl TestDb {
    pub fn sql(&self, sql: &str) -> String {
        self.server.sql(Some(&self.name), sql)
    }

    pub fn count(&self, where_clause: &str) -> u64 {
        self.sql(&format!("SELECT COUNT(*) FROM token WHERE {where_clause}")).parse().expect("a count")
    }

    /// Root over TCP, no password.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/{}", self.server.port, self.name)
    }

    /// A user with a password that may do everything on this database.
    pub fn user_url(&self, user: &str, password: &str) -> String {
        let esc = password.replace('\\', "\\\\").replace('\'', "\\'");
        self.server.sql(
            None,
            &format!(
                "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{esc}'; ALTER USER '{user}'@'%' IDENTIFIED BY '{esc}'; \
                 GRANT ALL ON `{db}`.* TO '{user}'@'%'",
                db = self.name
            ),
        );
        self.server.url(user, password, &self.name)
    }

    /// Inserts `n` expired rows (expired `age_s` seconds ago and earlier, one second apart),
    /// `n` live rows expiring in a day, and `nulls` rows without expiry. Every INSERT names
    /// `valid`, as Keystone's did: the table db_sync creates gives it no default.
    pub fn fill(&self, n: u64, nulls: u64) {
        if n > 0 {
            self.sql(&format!(
                "INSERT INTO token (id, expires, extra, valid, user_id) SELECT SHA2(CONCAT('e', seq), 256), \
                 UTC_TIMESTAMP() - INTERVAL 1 HOUR - INTERVAL seq SECOND, REPEAT('x', 200), 1, 'u' FROM seq_1_to_{n}; \
                 INSERT INTO token (id, expires, extra, valid, user_id) SELECT SHA2(CONCAT('l', seq), 256), \
                 UTC_TIMESTAMP() + INTERVAL 1 DAY + INTERVAL seq SECOND, REPEAT('y', 200), 1, 'u' FROM seq_1_to_{n};"
            ));
        }
        if nulls > 0 {
            self.sql(&format!(
                "INSERT INTO token (id, expires, extra, valid) SELECT SHA2(CONCAT('n', seq), 256), NULL, 'n', 1 FROM seq_1_to_{nulls}"
            ));
        }
    }

    /// A custom target whose rows take others with them: 40 expired `alarm`s (`--table alarm
    /// --expiry-column expires`) with 9 `alarm_change` rows each, which go by `ON DELETE
    /// CASCADE`, and one live alarm with one change. `key` is the key's column type; `alarm` and
    /// `change` are the SQL of an alarm's key as the alarm and as its changes hold it, with `{}`
    /// for its number (`seq`, and 0 for the live one).
    pub fn cascading_alarms(&self, key: &str, alarm: &str, change: &str) {
        let (a, c) = (|n: &str| alarm.replace("{}", n), |n: &str| change.replace("{}", n));
        self.sql(&format!(
            "CREATE TABLE alarm (id {key} PRIMARY KEY, expires DATETIME, KEY ix_expires (expires)) ENGINE=InnoDB; \
             CREATE TABLE alarm_change (id INT AUTO_INCREMENT PRIMARY KEY, alarm_id {key} NOT NULL, \
               FOREIGN KEY (alarm_id) REFERENCES alarm (id) ON DELETE CASCADE) ENGINE=InnoDB; \
             INSERT INTO alarm SELECT {}, UTC_TIMESTAMP() - INTERVAL seq + 10 MINUTE FROM seq_1_to_40; \
             INSERT INTO alarm VALUES ({}, UTC_TIMESTAMP() + INTERVAL 1 DAY); \
             INSERT INTO alarm_change (alarm_id) SELECT {} FROM seq_1_to_40 a, seq_1_to_9 b; \
             INSERT INTO alarm_change (alarm_id) VALUES ({})",
            a("seq"),
            a("0"),
            c("a.seq"),
            c("0")
        ));
    }

    /// Adds `n` more expired rows (ids tagged with `tag`, so it can be called again).
    pub fn add_expired(&self, tag: &str, n: u64) {
        self.sql(&format!(
            "INSERT INTO token (id, expires, extra, valid) SELECT CONCAT('{tag}-', seq), \
             UTC_TIMESTAMP() - INTERVAL 2 HOUR - INTERVAL seq SECOND, 'x', 1 FROM seq_1_to_{n}"
        ));
    }

    pub fn expired(&self) -> u64 {
        self.count("expires < UTC_TIMESTAMP()")
    }

    pub fn live(&self) -> u64 {
        self.count("expires >= UTC_TIMESTAMP()")
    }

    pub fn nulls(&self) -> u64 {
        self.count("expires IS NULL")
    }

    /// An agent invocation preconfigured for this database with its own state directory.
    pub fn agent(&self, state_dir: &Path) -> Agent {
        Agent::new().param("connection", &self.url()).param("state_dir", &state_dir.to_string_lossy())
    }
}

/// One invocation of the real binary, as Pacemaker would make it.
#[derive(Clone, Default)]
pub struct Agent {
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// The `ocf-exit-reason:` line, if any.
    pub fn reason(&self) -> Option<&str> {
        self.stderr.lines().find_map(|l| l.strip_prefix("ocf-exit-reason:"))
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

impl Agent {
    pub fn new() -> Agent {
        Agent::default()
            .env("OCF_RESOURCE_INSTANCE", "p_tokenflush")
            .env("OCF_RESKEY_CRM_meta_timeout", "20000")
            .env("OCF_RESKEY_CRM_meta_interval", "10000")
            .env("HA_LOGFACILITY", "daemon")
    }

    pub fn param(self, name: &str, value: &str) -> Agent {
        self.env(&format!("OCF_RESKEY_{name}"), value)
    }

    pub fn env(mut self, k: &str, v: &str) -> Agent {
        self.env.insert(k.to_string(), v.to_string());
        self
    }

    pub fn unset(mut self, k: &str) -> Agent {
        self.env.remove(k);
        self
    }

    /// A monitor with interval 0.
    pub fn probe(self) -> Agent {
        self.env("OCF_RESKEY_CRM_meta_interval", "0")
    }

    /// Runs as an unprivileged user (root ignores file modes, so this is how tests deny access).
    pub fn run_as(mut self, user: &str) -> Agent {
        self.user = Some(user.to_string());
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = match &self.user {
            Some(u) => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid", u, "--regid", "nogroup", "--clear-groups", "--"]).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        c.args(args).env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").envs(&self.env).stdin(Stdio::null());
        c
    }

    pub fn run(&self, action: &str) -> Run {
        self.run_args(&[action])
    }

    pub fn run_args(&self, args: &[&str]) -> Run {
        let t = Instant::now();
        let out: Output = self.command(args).output().expect("run tokenflush");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: t.elapsed(),
        }
    }
}

/// A temp dir that user `nobody` can enter (for meta-data and ocf-tester as nobody).
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("tokenflush-test.").tempdir().expect("temp dir")
}

/// Reads the state file of the default test instance in `dir`.
pub fn state_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("tokenflush-p_tokenflush.state")).expect("state file");
    serde_json::from_str(&text).expect("state JSON")
}

impl Agent {
    /// Starts the binary without waiting, output captured, for tests that signal it mid-run.
    pub fn spawn(&self, args: &[&str]) -> Spawned {
        let child = self.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn tokenflush");
        Spawned { child, started: Instant::now() }
    }
}

/// A running agent or CLI.
pub struct Spawned {
    pub child: std::process::Child,
    pub started: Instant,
}

impl Spawned {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`"-KILL"`, `"-TERM"`, ...).
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill").args([sig, &self.child.id().to_string()]).status();
    }

    /// Waits for the process; `code` is -(signal) when a signal ended it.
    pub fn wait(self) -> Run {
        use std::os::unix::process::ExitStatusExt;
        let out = self.child.wait_with_output().expect("wait tokenflush");
        Run {
            code: out.status.code().unwrap_or_else(|| -out.status.signal().unwrap_or(0)),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: self.started.elapsed(),
        }
    }
}

/// A small deterministic generator for randomised timings; the seed is printed so a failure
/// can be replayed with `TOKENFLUSH_TEST_SEED`.
pub struct Rng(u64);

impl Rng {
    pub fn from_env_or_clock() -> Rng {
        let seed = std::env::var("TOKENFLUSH_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
        });
        eprintln!("random seed: TOKENFLUSH_TEST_SEED={seed}");
        Rng(seed | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A mount that is undone when the guard drops, even when the test panics.
pub struct Mount(pub PathBuf);

impl Mount {
    /// A tmpfs of `size` (e.g. "64k") on `dir`.
    pub fn tmpfs(dir: &Path, size: &str) -> Mount {
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"])
            .arg(dir)
            .status();
        assert!(st.is_ok_and(|s| s.success()), "mount tmpfs on {}", dir.display());
        Mount(dir.to_path_buf())
    }

    /// `dir` bind-mounted read-only onto itself.
    pub fn read_only(dir: &Path) -> Mount {
        let st = Command::new("mount").args(["--bind", "-o", "ro"]).arg(dir).arg(dir).status();
        assert!(st.is_ok_and(|s| s.success()), "read-only bind mount of {}", dir.display());
        let m = Mount(dir.to_path_buf());
        // Older util-linux ignores ro on the first bind: remount to be sure.
        let _ = Command::new("mount").args(["-o", "remount,bind,ro"]).arg(dir).status();
        m
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount").arg(&self.0).status().is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Accepts TCP connections on loopback and never answers: a database that hangs in the
/// handshake, and a counter proving whether anything tried to connect at all.
pub struct Blackhole {
    pub port: u16,
    listener: TcpListener,
    held: std::sync::Mutex<Vec<std::net::TcpStream>>,
}

impl Blackhole {
    pub fn new() -> Blackhole {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        Blackhole { port, listener, held: Default::default() }
    }

    /// Connections made so far (accepted and kept open, so clients keep waiting).
    pub fn connections(&self) -> usize {
        let mut held = self.held.lock().unwrap();
        while let Ok((s, _)) = self.listener.accept() {
            held.push(s);
        }
        held.len()
    }
}

impl Default for Blackhole {
    fn default() -> Self {
        Self::new()
    }
}

/// An interactive `mariadb` session kept open across statements (to hold row locks in an open
/// transaction while the agent runs).
pub struct SqlSession {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Server {
    pub fn session(&self, db: &str) -> SqlSession {
        let mut child = Command::new("mariadb")
            .args(["--no-defaults", "-uroot", "-N", "-B", "--unbuffered"])
            .arg(format!("--socket={}", self.socket.display()))
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadb client");
        let stdin = child.stdin.take();
        let out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        SqlSession { child, stdin, out }
    }
}

impl SqlSession {
    /// Runs statements and waits until they are done; returns their output.
    pub fn exec(&mut self, sql: &str) -> String {
        use std::io::{BufRead, Write};
        let stdin = self.stdin.as_mut().expect("open session");
        writeln!(stdin, "{sql}\nSELECT 'tokenflush-test-done';").expect("write SQL");
        stdin.flush().expect("flush SQL");
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = self.out.read_line(&mut line).expect("read SQL output");
            assert!(n > 0, "mariadb session ended while running: {sql}");
            if line.trim() == "tokenflush-test-done" {
                return text;
            }
            text.push_str(&line);
        }
    }

    /// Ends the session (an open transaction rolls back) and waits for the client to exit.
    pub fn close(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for SqlSession {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
