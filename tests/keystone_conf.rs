//! `[database] connection` read from real keystone.conf and keystone.conf.d files, the way
//! oslo.config reads them, and used against the real server.

mod common;

use std::fs;
use std::path::Path;

use common::{server, temp_dir, Agent};
use tokenflush::config::Config;
use tokenflush::ocf::{OcfEnv, OcfError, OcfStatus};
use tokenflush::params::RawParams;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// oslo.config reads keystone.conf, then keystone.conf.d/*.conf in sorted order (later wins,
/// hidden files and other extensions ignored); within a file the last duplicate wins, indented
/// lines continue a value, `#` and `;` inside a value are part of it, and `$$` is one `$`.
/// A password full of those characters, in the mysql+pymysql form with `?charset=utf8`, reaches
/// the server intact and the flush runs.
#[test]
fn connection_from_keystone_conf_d_reaches_the_server() {
    let db = server().fresh_db("ksconf");
    db.fill(120, 2);
    let password = "P#a;s$w:rd/?x";
    let url = db.user_url("tfks", password);
    assert!(url.contains(password));
    let dir = temp_dir();
    let conf = dir.path().join("etc/keystone/keystone.conf");
    write(
        &conf,
        "[DEFAULT]\ndebug = true\n\n[database]\n# stale values, overridden below\nconnection = mysql://wrong:wrong@127.0.0.1:1/nowhere\n\
         connection = mysql+pymysql://ks:old@127.0.0.1:1/k\nmax_retries = -1\n",
    );
    let d = dir.path().join("etc/keystone/keystone.conf.d");
    write(&d.join("05-early.conf"), "[database]\nconnection = mysql://early:early@127.0.0.1:1/k\n");
    write(
        &d.join("10-db.conf"),
        &format!(
            "[database]\nconnection = mysql+pymysql://tfks:{}@127.0.0.1:{}\n    /{}?charset=utf8\n",
            password.replace('$', "$$"),
            db.server.port,
            db.name
        ),
    );
    write(&d.join("20-pool.conf"), "[database]\nmax_pool_size = 5\n");
    write(&d.join(".hidden.conf"), "[database]\nconnection = mysql://hidden:x@127.0.0.1:1/k\n");
    write(&d.join("99-old.conf.bak"), "[database]\nconnection = mysql://bak:x@127.0.0.1:1/k\n");

    let state = temp_dir();
    let a = Agent::new().param("config", conf.to_str().unwrap()).param("state_dir", state.path().to_str().unwrap());
    assert_eq!(a.clone().env("OCF_CHECK_LEVEL", "10").run("validate-all").code, 0);
    assert_eq!(a.run("start").code, 0);
    let m = a.run("monitor");
    assert_eq!(m.code, 0, "{m:?}");
    assert!(!m.stderr.contains(password), "{m:?}");
    assert_eq!(db.expired(), 0);
    assert_eq!(db.live(), 120);
    a.run("stop");

    // A reference to another option is refused like a syntax error (6), without repeating the
    // text after the '$' (in a password it is the password's).
    write(&d.join("30-ref.conf"), "[database]\nconnection = mysql://tfks:$db_password@127.0.0.1/k\n");
    let v = a.run("validate-all");
    assert_eq!(v.code, 6, "{v:?}");
    assert!(v.reason().unwrap().contains("$ substitution"), "{v:?}");
    assert!(!v.stderr.contains("db_password"), "{v:?}");
}

/// The unix_socket form (`mysql://user@/db?unix_socket=...`) connects through the socket.
#[test]
fn unix_socket_form_from_keystone_conf() {
    let db = server().fresh_db("ksconf_sock");
    db.fill(40, 0);
    let dir = temp_dir();
    let conf = dir.path().join("keystone.conf");
    write(
        &conf,
        &format!("[database]\nconnection = mysql://root@/{}?unix_socket={}\n", db.name, db.server.socket.display()),
    );
    let r = Agent::new().run_args(&["flush", "--config", conf.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(db.expired(), 0);
}

/// IPv6 hosts in brackets and the TLS options reach mysql_async's options. Without the `tls`
/// feature a URL asking for TLS is refused as "not installed" (5) rather than silently
/// connecting in clear text.
#[test]
fn ipv6_and_tls_options_from_keystone_conf() {
    let dir = temp_dir();
    let conf = dir.path().join("keystone.conf");
    write(
        &conf,
        "[database]\nconnection = mysql+pymysql://ks:pw@[fd00::5]:3307/keystone?ssl_ca=/etc/ssl/ca.pem\
         &ssl_cert=/etc/ssl/c.pem&ssl_key=/etc/ssl/k.pem&ssl_mode=VERIFY_IDENTITY&charset=utf8\n",
    );
    let raw = RawParams::new([("config".to_string(), conf.to_str().unwrap().to_string())].into());
    let result = Config::from_params(&raw, &OcfEnv::default());
    #[cfg(not(feature = "tls"))]
    {
        let e = result.unwrap_err();
        assert_eq!(e.ocf_status(), OcfStatus::ErrInstalled);
        assert!(e.to_string().contains("'tls' feature"), "{e}");
    }
    #[cfg(feature = "tls")]
    {
        let c = result.unwrap();
        assert_eq!(c.db.host.as_deref(), Some("fd00::5"));
        let opts = mysql_async::Opts::from(
            tokenflush::db::opts(&c.db, tokenflush::db::SessionOpts::default()).expect("TLS options"),
        );
        assert_eq!(opts.ip_or_hostname(), "fd00::5");
        assert_eq!(opts.tcp_port(), 3307);
        let ssl = opts.ssl_opts().expect("TLS is on");
        assert!(!ssl.skip_domain_validation() && !ssl.accept_invalid_certs());
        assert!(ssl.client_identity().is_some());
    }
    // Without TLS options the IPv6 host reaches the driver's options in any build.
    write(&conf, "[database]\nconnection = mysql+pymysql://ks:pw@[::1]:3307/keystone?charset=utf8\n");
    let c = Config::from_params(&raw, &OcfEnv::default()).unwrap();
    let opts = mysql_async::Opts::from(tokenflush::db::opts(&c.db, tokenflush::db::SessionOpts::default()).unwrap());
    assert_eq!(opts.ip_or_hostname(), "::1");
    assert_eq!(opts.tcp_port(), 3307);
    let _ = OcfStatus::Success;
}
