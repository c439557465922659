//! Hostile and mistaken input: a table of bad parameter values, each with the exit code the
//! contract documents and a one-line reason that names the parameter, and none reaching the
//! database. Then the unusual-but-valid inputs that must work against the real server.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{server, temp_dir, Agent, Blackhole};

/// One bad input and what the agent must answer.
struct Case {
    what: String,
    params: Vec<(&'static str, String)>,
    /// validate-all (levels 0 and 10), start, and a monitor of a started resource.
    code: i32,
    /// Where the monitor differs (a missing configured state_dir: no state file, so 7).
    monitor: Option<i32>,
    /// Words the exit reason must contain: the parameter's name first.
    words: Vec<&'static str>,
    nobody: bool,
}

fn case(what: impl Into<String>, param: &'static str, value: impl Into<String>, code: i32) -> Case {
    Case {
        what: what.into(),
        params: vec![(param, value.into())],
        code,
        monitor: None,
        words: vec![param],
        nobody: false,
    }
}

impl Case {
    fn also(mut self, param: &'static str, value: impl Into<String>) -> Case {
        self.params.push((param, value.into()));
        self
    }
    fn says(mut self, word: &'static str) -> Case {
        self.words.push(word);
        self
    }
    fn by_nobody(mut self) -> Case {
        self.nobody = true;
        self
    }
    fn monitor(mut self, code: i32) -> Case {
        self.monitor = Some(code);
        self
    }
}

/// The files the keystone.conf and password_file cases point at.
fn write_files(dir: &Path, port: u16) {
    let url = format!("mysql+pymysql://ks:pw@127.0.0.1:{port}/keystone");
    let w = |name: &str, text: &[u8], mode: u32| {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    };
    w("no-database.conf", format!("[DEFAULT]\nconnection = {url}\n[token]\nexpiration = 3600\n").as_bytes(), 0o644);
    w("empty-connection.conf", b"[database]\nconnection =\n", 0o644);
    w("blank-connection.conf", b"[database]\nconnection =    \nmax_retries = 3\n", 0o644);
    w("quoted-empty.conf", b"[database]\nconnection = \"\"\n", 0o644);
    w(
        "postgres.conf",
        format!("[database]\nconnection = postgresql://ks:pw@127.0.0.1:{port}/keystone\n").as_bytes(),
        0o644,
    );
    w("sqlite.conf", b"[database]\nconnection = sqlite:////var/lib/keystone/keystone.db\n", 0o644);
    w("bad-port.conf", b"[database]\nconnection = mysql://ks:pw@127.0.0.1:99999/keystone\n", 0o644);
    w("empty.conf", b"", 0o644);
    w("binary.conf", b"\xff\xfe\x00[database]\nconnection = \xc3\x28\n", 0o644);
    w("unreadable.conf", format!("[database]\nconnection = {url}\n").as_bytes(), 0o600);
    w("empty-pw", b"", 0o644);
    w("newline-pw", b"\nsecret-on-line-two\n", 0o644);
    w("unreadable-pw", b"secret\n", 0o600);
    fs::create_dir_all(dir.join("a-directory.conf")).unwrap();
}

fn cases(dir: &Path, port: u16) -> Vec<Case> {
    let d = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let url = |rest: &str| format!("mysql://ks:pw@127.0.0.1:{port}/{rest}");
    let mut v = vec![
        // Malformed URLs and unknown schemes.
        case("not a URL", "connection", "keystone-db", 6),
        case("no scheme", "connection", format!("ks:pw@127.0.0.1:{port}/keystone"), 6),
        case("postgresql", "connection", format!("postgresql://ks:pw@127.0.0.1:{port}/keystone"), 6)
            .says("only MySQL/MariaDB is supported"),
        case("postgresql+psycopg2", "connection", format!("postgresql+psycopg2://ks:pw@127.0.0.1:{port}/ks"), 6)
            .says("only MySQL/MariaDB is supported"),
        case("sqlite", "connection", "sqlite:////var/lib/keystone/keystone.db", 6)
            .says("only MySQL/MariaDB is supported"),
        case("http", "connection", format!("http://ks:pw@127.0.0.1:{port}/keystone"), 6).says("only MySQL/MariaDB"),
        case("odd driver", "connection", format!("mysql+py-sql://ks:pw@127.0.0.1:{port}/keystone"), 6),
        case("port 0", "connection", "mysql://ks:pw@127.0.0.1:0/keystone", 6).says("port"),
        case("port 65536", "connection", "mysql://ks:pw@127.0.0.1:65536/keystone", 6).says("port"),
        case("negative port", "connection", "mysql://ks:pw@127.0.0.1:-3306/keystone", 6).says("port"),
        case("port not a number", "connection", "mysql://ks:pw@127.0.0.1:mysql/keystone", 6).says("port"),
        case("huge port", "connection", "mysql://ks:pw@127.0.0.1:99999999999999999999/keystone", 6).says("port"),
        case("empty host", "connection", "mysql://ks:pw@/keystone", 6).says("host"),
        case("empty host with port", "connection", format!("mysql://ks:pw@:{port}/keystone"), 6).says("host"),
        case("space in host", "connection", "mysql://ks:pw@db host/keystone", 6).says("host"),
        case("host with a leading dash", "connection", "mysql://ks:pw@-db/keystone", 6).says("host"),
        case("host with ..", "connection", "mysql://ks:pw@db..example/keystone", 6).says("host"),
        case("unicode host", "connection", "mysql://ks:pw@dб.example/keystone", 6).says("host"),
        case("bad IPv6", "connection", "mysql://ks:pw@[zz::1]/keystone", 6).says("IPv6"),
        case("unclosed IPv6", "connection", "mysql://ks:pw@[::1/keystone", 6).says("IPv6"),
        case("raw @ in password", "connection", url("keystone").replace("ks:pw", "ks:p@ss"), 6).says("%40"),
        case("no database", "connection", url(""), 6).says("database"),
        case("database with a slash", "connection", url("key/stone"), 6).says("database"),
        case("database not UTF-8", "connection", url("key%FFstone"), 6).says("database"),
        case("no user", "connection", format!("mysql://:pw@127.0.0.1:{port}/keystone"), 6).says("user"),
        case("empty socket", "connection", url("keystone?unix_socket="), 6).says("unix_socket"),
        case("bad ssl_mode", "connection", url("keystone?ssl_mode=SOMETIMES"), 6).says("ssl_mode"),
        case("unknown TLS option", "connection", url("keystone?ssl_verify_cert=1"), 6).says("TLS"),
        // Numbers that are not numbers, negative, zero or huge.
        case("interval abc", "interval", "abc", 6),
        case("interval negative", "interval", "-600", 6),
        case("interval zero", "interval", "0", 6),
        case("interval huge", "interval", "99999999999999999999999", 6),
        case("interval fraction", "interval", "1.5", 6),
        case("interval with unit", "interval", "10m", 6),
        case("interval blank", "interval", "   ", 6),
        case("batch_size abc", "batch_size", "lots", 6),
        case("batch_size negative", "batch_size", "-1", 6),
        case("batch_size zero", "batch_size", "0", 6),
        case("batch_size huge", "batch_size", "4294967297", 6),
        case("batch_size above max", "batch_size", "100001", 6),
        case("batch_size exponent", "batch_size", "1e3", 6),
        case("max_runtime abc", "max_runtime", "thirty", 6),
        case("max_runtime negative", "max_runtime", "-30", 6),
        case("max_runtime zero", "max_runtime", "0", 6),
        case("max_runtime huge", "max_runtime", "18446744073709551616", 6),
        case("grace negative", "grace", "-60", 6),
        case("retry_interval zero", "retry_interval", "0", 6),
        // Identifiers carrying SQL, quotes, spaces, dots, Unicode, or nothing.
        case("table injection", "table", "token`; DROP TABLE token; --", 6),
        case("table backticks", "table", "`token`", 6),
        case("table quote", "table", "token'", 6),
        case("table space", "table", "tok en", 6),
        case("table dot", "table", "keystone.token", 6),
        case("table unicode", "table", "tökén", 6),
        case("table digit first", "table", "1token", 6),
        case("table too long", "table", "t".repeat(65), 6),
        case("table empty", "table", "", 6),
        case("column injection", "expiry_column", "expires < NOW() OR 1=1 --", 6),
        case("column backtick", "expiry_column", "exp`ires", 6),
        case("column semicolon", "expiry_column", "expires;DELETE FROM token", 6),
        case("column empty", "expiry_column", "", 6),
        case("column newline", "expiry_column", "expires\nOR 1", 6),
        // Paths and other strings.
        case("relative state_dir", "state_dir", "run/tokenflush", 6),
        case("missing state_dir", "state_dir", "/nonexistent/tokenflush-state", 5).monitor(7),
        case("relative password_file", "password_file", "secret.txt", 6),
        case("log_facility", "log_facility", "kern-ish", 6),
        // keystone.conf (the connection comes from it when `connection` is unset).
        case("relative config", "config", "keystone.conf", 6).also("connection", ""),
        case("config missing", "config", "/nonexistent/keystone.conf", 5).also("connection", "").says("does not exist"),
        case("config unreadable", "config", d("unreadable.conf"), 4).also("connection", "").by_nobody(),
        case("config without [database]", "config", d("no-database.conf"), 6).also("connection", "").says("[database]"),
        case("config empty file", "config", d("empty.conf"), 6).also("connection", ""),
        case("config empty connection", "config", d("empty-connection.conf"), 6).also("connection", "").says("empty"),
        case("config blank connection", "config", d("blank-connection.conf"), 6).also("connection", ""),
        case("config quoted empty", "config", d("quoted-empty.conf"), 6).also("connection", ""),
        case("config postgresql", "config", d("postgres.conf"), 6).also("connection", "").says("only MySQL/MariaDB"),
        case("config sqlite", "config", d("sqlite.conf"), 6).also("connection", "").says("only MySQL/MariaDB"),
        case("config bad port", "config", d("bad-port.conf"), 6).also("connection", "").says("port"),
        case("config not UTF-8", "config", d("binary.conf"), 6).also("connection", ""),
        case("config is a directory", "config", d("a-directory.conf"), 5).also("connection", ""),
        // password_file.
        case("password_file missing", "password_file", "/nonexistent/tokenflush-pw", 5).says("does not exist"),
        case("password_file empty", "password_file", d("empty-pw"), 6).says("empty"),
        case("password_file first line empty", "password_file", d("newline-pw"), 6).says("empty"),
        case("password_file unreadable", "password_file", d("unreadable-pw"), 4).by_nobody(),
        case("password_file is a directory", "password_file", dir.to_string_lossy(), 5),
    ];
    for c in &mut v {
        if c.what.starts_with("missing state_dir") {
            c.words = vec!["state_dir"];
        }
    }
    v
}

/// Every bad value gets its documented code from validate-all (at level 0 and 10), start and a
/// monitor, a single `ocf-exit-reason` line naming the parameter, a stopped probe reports 7,
/// stop succeeds, nothing panics, and not one connection reaches the database: the connection
/// points at a listener the test owns, which counts every attempt.
#[test]
fn bad_parameters_get_their_code_and_reason_before_any_sql() {
    let hole = Blackhole::new();
    let dir = temp_dir();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let files = dir.path().join("files");
    fs::create_dir(&files).unwrap();
    fs::set_permissions(&files, fs::Permissions::from_mode(0o755)).unwrap();
    write_files(&files, hole.port);
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o755)).unwrap();
    let good = Agent::new()
        .param("connection", &format!("mysql://ks:pw@127.0.0.1:{}/keystone", hole.port))
        .param("state_dir", &state.to_string_lossy());
    let all = cases(&files, hole.port);
    let mut failures = Vec::new();
    for c in &all {
        let mut bad = good.clone();
        for (k, v) in &c.params {
            bad = bad.param(k, v);
        }
        if c.nobody {
            bad = bad.run_as("nobody");
        }
        let mut check = |label: &str, r: &common::Run, want: i32| {
            let lines = r.stderr.lines().filter(|l| l.starts_with("ocf-exit-reason:")).count();
            let reason = r.reason().unwrap_or_default();
            let problem = if r.code == 101 || r.stderr.contains("panicked") {
                Some("panicked".to_string())
            } else if r.code != want {
                Some(format!("exit {} instead of {want}", r.code))
            } else if want != 0 && want != 7 && lines != 1 {
                Some(format!("{lines} exit-reason lines"))
            } else if want != 0 && want != 7 && !c.words.iter().all(|w| reason.contains(w)) {
                Some(format!("reason does not say {:?}", c.words))
            } else {
                None
            };
            if let Some(p) = problem {
                failures.push(format!("{} / {label}: {p}\n{r:?}", c.what));
            }
        };
        assert_eq!(good.run("stop").code, 0);
        check("validate-all", &bad.run("validate-all"), c.code);
        check("validate-all level 10", &bad.clone().env("OCF_CHECK_LEVEL", "10").run("validate-all"), c.code);
        check("start", &bad.run("start"), c.code);
        check("probe of a stopped resource", &bad.clone().probe().run("monitor"), 7);
        assert_eq!(good.run("start").code, 0);
        check("monitor", &bad.run("monitor"), c.monitor.unwrap_or(c.code));
        check("stop", &bad.run("stop"), 0);
    }
    // The CLI shares the validation.
    for (args, want) in [
        (vec!["--table", "token`; DROP TABLE token; --"], 6),
        (vec!["--batch-size", "0"], 6),
        (vec!["--grace=-1"], 6),
        (vec!["--table="], 6),
        (vec!["--password-file", "/nonexistent/pw"], 5),
    ] {
        let url = format!("mysql://ks:pw@127.0.0.1:{}/keystone", hole.port);
        let mut full = vec!["flush", "--connection", url.as_str()];
        full.extend(args.iter().copied());
        let r = Agent::new().run_args(&full);
        if r.code != want || !r.stderr.contains("tokenflush: error:") {
            failures.push(format!("CLI {args:?}: exit {} instead of {want}\n{r:?}", r.code));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs misbehaved:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
    assert_eq!(hole.connections(), 0, "a bad input reached the database before validation failed");
    assert!(all.len() >= 40, "{} bad inputs", all.len());
    eprintln!("{} bad parameter values and 5 bad CLI invocations tried", all.len());

    // The listener does count: a valid configuration's monitor connects (and times out on it).
    assert_eq!(good.run("start").code, 0);
    let m = good.clone().env("OCF_RESKEY_CRM_meta_timeout", "2000").run("monitor");
    assert_eq!(m.code, 190, "{m:?}");
    assert!(hole.connections() >= 1, "the control case connected");
    assert_eq!(good.run("stop").code, 0);
}

/// What the database says about the table follows the contract: invisible at level 0, 6 at
/// OCF_CHECK_LEVEL=10 (the operator must fix the configuration), and degraded (190) with the
/// reason in a monitor, never a restart.
#[test]
fn schema_problems_are_6_at_level_10_and_190_in_a_monitor() {
    let db = server().fresh_db("bad_schema");
    db.sql("CREATE TABLE int_expiry (id INT PRIMARY KEY, expires INT, INDEX(expires))");
    db.sql("CREATE TABLE text_expiry (id INT PRIMARY KEY, expires VARCHAR(32), INDEX(expires))");
    db.sql("CREATE TABLE no_pk (id INT, expires DATETIME, INDEX(expires))");
    db.sql("CREATE TABLE two_col_pk (a INT, b INT, expires DATETIME, PRIMARY KEY (a, b))");
    let dir = temp_dir();
    // table and expiry_column apply with target=custom only.
    let good = db.agent(dir.path()).param("target", "custom").param("table", "token").param("expiry_column", "expires");
    let missing_db = format!("mysql://root@127.0.0.1:{}/no_such_database", db.server.port);
    for (what, param, value, word) in [
        ("missing table", "table", "no_such_table", "does not exist"),
        ("missing column", "expiry_column", "no_such_column", "does not exist"),
        ("INT expiry column", "table", "int_expiry", "not DATETIME"),
        ("VARCHAR expiry column", "table", "text_expiry", "not DATETIME"),
        ("no primary key", "table", "no_pk", "primary key"),
        ("two-column primary key", "table", "two_col_pk", "primary key"),
        ("missing database", "connection", missing_db.as_str(), "no_such_database"),
    ] {
        let bad = good.clone().param(param, value);
        assert_eq!(bad.run("validate-all").code, 0, "{what}: level 0 does not look at the database");
        let v = bad.clone().env("OCF_CHECK_LEVEL", "10").run("validate-all");
        assert_eq!(v.code, 6, "{what}: {v:?}");
        assert!(v.reason().unwrap_or_default().contains(word), "{what}: {v:?}");
        assert_eq!(bad.run("start").code, 0, "{what}");
        let m = bad.run("monitor");
        assert_eq!(m.code, 190, "{what}: {m:?}");
        assert!(m.reason().unwrap_or_default().contains(word), "{what}: {m:?}");
        assert_eq!(bad.clone().env("OCF_CHECK_LEVEL", "10").run("monitor").code, 6, "{what}");
        assert_eq!(bad.run("stop").code, 0);
    }
}

/// Valid inputs that look odd must work, against the real server: user names and passwords
/// percent-encoded or carrying raw `: / # ; ?` the way SQLAlchemy accepts them (only `@` needs
/// encoding), Unicode passwords, keystone.conf with duplicate keys (the last wins) and with
/// a value continued over indented lines, and keystone.conf.d overriding keystone.conf.
#[test]
fn unusual_but_valid_inputs_work() {
    let srv = server();
    let port = srv.port;
    // (user, password, how the URL writes them)
    let creds: &[(&str, &str, &str)] = &[
        ("ks_raw", "p:a/s#s;w?d", "ks_raw:p:a/s#s;w?d"),
        ("ks_enc", "p@ss/w:rd", "ks_enc:p%40ss%2Fw%3Ard"),
        ("ks@at", "x@y", "ks%40at:x%40y"),
        ("ks:colon", "100%sure", "ks%3Acolon:100%25sure"),
        ("ks_uni", "pässwörd€", "ks_uni:pässwörd€"),
        ("ks_space", "two words", "ks_space:two words"),
        ("ks_q", "?#;", "ks_q:?#;"),
    ];
    for (i, (user, password, userinfo)) in creds.iter().enumerate() {
        let db = srv.fresh_db(&format!("valid_cred_{i}"));
        db.fill(20, 1);
        db.user_url(user, password);
        for scheme in ["mysql", "mysql+pymysql"] {
            let url = format!("{scheme}://{userinfo}@127.0.0.1:{port}/{}?charset=utf8", db.name);
            let dir = temp_dir();
            let a = Agent::new().param("connection", &url).param("state_dir", &dir.path().to_string_lossy());
            assert_eq!(a.clone().env("OCF_CHECK_LEVEL", "10").run("validate-all").code, 0, "{url}");
            assert_eq!(a.run("start").code, 0);
            let m = a.run("monitor");
            assert_eq!(m.code, 0, "{user} / {url}: {m:?}");
            assert_eq!(a.run("stop").code, 0);
        }
        assert_eq!(db.expired(), 0, "{user}");
        assert_eq!(db.live(), 20);
    }

    let db = srv.fresh_db("valid_conf");
    db.fill(30, 2);
    let url = db.user_url("ks_conf", "c0nf#pw;x");
    let dir = temp_dir();
    let conf = dir.path().join("keystone.conf");
    // Duplicate keys in one section and a repeated section: oslo.config takes the last value.
    // The winning value is continued over indented lines.
    let (head, tail) = url.split_at(url.find('@').unwrap() + 1);
    fs::write(
        &conf,
        format!(
            "[DEFAULT]\ndebug = false\n\n[database]\nconnection = mysql://wrong:wrong@127.0.0.1:1/nope\n\
             max_retries = -1\n\n[token]\nexpiration = 3600\n\n[database]\nconnection = mysql://wrong2:x@127.0.0.1:1/nope\n\
             connection = {head}\n    {tail}\n    ?charset=utf8\n# connection = mysql://commented:out@h/x\n"
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    let a = Agent::new().param("config", &conf.to_string_lossy()).param("state_dir", &state.to_string_lossy());
    assert_eq!(a.clone().env("OCF_CHECK_LEVEL", "10").run("validate-all").code, 0);
    assert_eq!(a.run("start").code, 0);
    let m = a.run("monitor");
    assert_eq!(m.code, 0, "{m:?}");
    assert_eq!(db.expired(), 0);

    // keystone.conf.d/*.conf override keystone.conf, in name order.
    db.add_expired("more", 30);
    fs::write(&conf, "[database]\nconnection = mysql://wrong:wrong@127.0.0.1:1/nope\n").unwrap();
    let conf_d = dir.path().join("keystone.conf.d");
    fs::create_dir(&conf_d).unwrap();
    fs::write(conf_d.join("10-wrong.conf"), "[database]\nconnection = mysql://wrong3:x@127.0.0.1:1/nope\n").unwrap();
    fs::write(conf_d.join("20-db.conf"), format!("[database]\nconnection = {url}\n")).unwrap();
    fs::write(conf_d.join("30-other.conf"), "[token]\nprovider = fernet\n").unwrap();
    let m = a.clone().param("interval", "1").run("monitor");
    assert_eq!(m.code, 0, "{m:?}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let m = a.clone().param("interval", "1").run("monitor");
    assert_eq!(m.code, 0, "{m:?}");
    assert_eq!(db.expired(), 0, "keystone.conf.d was used");
    assert_eq!(db.live(), 30);
    assert_eq!(db.nulls(), 2);
    assert_eq!(a.run("stop").code, 0);
}
