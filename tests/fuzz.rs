//! Property-based fuzzing of everything that parses operator input: database URLs, keystone.conf,
//! and parameter values. The parsers must never panic (a panic in an OCF action is exit 101,
//! which Pacemaker reads as a generic failure), must read what SQLAlchemy and oslo.config read,
//! and must never put the password into an error.
//!
//! Case counts are modest so this runs in seconds in CI; set `PROPTEST_CASES=100000` for a
//! longer run. Failures are persisted to `tests/proptest-regressions/fuzz.txt` (committed) and
//! replayed first on every run; each one found so far is also an explicit test at the end.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use tokenflush::config::Syntax;
use tokenflush::dburl::DbUrl;
use tokenflush::ocf::OcfEnv;
use tokenflush::params::{self, check_kind, Kind, RawParams, PARAMS};

fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default_cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/proptest-regressions/fuzz.txt"))),
        ..ProptestConfig::default()
    }
}

/// Percent-encodes exactly the given characters, as an operator would by hand.
fn encode(s: &str, chars: &[char]) -> String {
    s.chars().map(|c| if chars.contains(&c) { format!("%{:02X}", c as u32) } else { c.to_string() }).collect()
}

fn scheme() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("mysql".to_string()),
        Just("mysql+pymysql".to_string()),
        Just("mysql+mysqldb".to_string()),
        Just("mariadb".to_string()),
        Just("postgresql".to_string()),
        Just("sqlite".to_string()),
        "[a-z+_-]{0,12}",
        any::<String>(),
    ]
}

/// A URL segment that may be anything, including the characters URLs give meaning to.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9.-]{0,20}", "[\\[\\]:@/?#;%=&a-z0-9 .-]{0,24}", any::<String>(),]
}

proptest! {
    #![proptest_config(config(512))]

    /// Any string at all: an answer, never a panic.
    #[test]
    fn url_parse_never_panics(s in any::<String>()) {
        let _ = DbUrl::parse(&s);
    }

    /// Strings shaped like URLs, with hostile parts in every position.
    #[test]
    fn url_shaped_input_never_panics(
        scheme in scheme(), user in segment(), pass in segment(), host in segment(),
        port in segment(), db in segment(), query in segment(),
    ) {
        let _ = DbUrl::parse(&format!("{scheme}://{user}:{pass}@{host}:{port}/{db}?{query}"));
        let _ = DbUrl::parse(&format!("{scheme}://{user}@{host}/{db}{query}"));
        let _ = DbUrl::parse(&format!("{scheme}://{pass}{host}{db}"));
    }

    /// SQLAlchemy's rule: the password runs to the next `@`, so percent-encoding only `@` is
    /// enough for any password without `%` (a `%` would start an escape).
    #[test]
    fn a_password_with_only_at_encoded_round_trips(
        user in "[a-zA-Z0-9_.$-]{1,16}",
        password in "[^%\n]{0,40}",
        port in 1u16..,
        db in "[a-zA-Z0-9_]{1,20}",
    ) {
        let url = format!("mysql+pymysql://{user}:{}@db.example:{port}/{db}?charset=utf8", encode(&password, &['@']));
        let u = DbUrl::parse(&url).map_err(|e| TestCaseError::fail(format!("{url}: {e}")))?;
        prop_assert_eq!(u.password.as_ref().map(|p| p.expose()), Some(password.as_str()));
        prop_assert_eq!(u.user, user);
        prop_assert_eq!(u.port, Some(port));
        prop_assert_eq!(u.database, db);
    }

    /// Any password at all round-trips once `@` and `%` are encoded; user names need `:`, `/`
    /// and `@` encoded as well.
    #[test]
    fn any_credentials_round_trip_when_encoded(user in "[^\n]{1,16}", password in "[^\n]{0,40}") {
        let url = format!(
            "mysql://{}:{}@10.0.0.1/keystone",
            encode(&user, &['%', ':', '/', '@']),
            encode(&password, &['%', '@'])
        );
        let u = DbUrl::parse(&url).map_err(|e| TestCaseError::fail(format!("{url}: {e}")))?;
        prop_assert_eq!(u.password.as_ref().map(|p| p.expose()), Some(password.as_str()));
        prop_assert_eq!(u.user, user);
    }

    /// Whatever else is wrong with a URL, neither its error nor its redacted form nor its
    /// Debug form contains the password.
    #[test]
    fn errors_never_contain_the_password(
        scheme in scheme(),
        secret in "[a-zA-Z0-9]{10,16}",
        user in "[a-z]{0,8}",
        host in segment(),
        port in segment(),
        db in segment(),
        query in prop_oneof![Just(String::new()), "[a-z_]{1,10}=[a-zA-Z0-9_]{0,10}"],
    ) {
        let password = format!("Pw{secret}");
        prop_assume!(![&host, &port, &db, &query, &user, &scheme].iter().any(|s| s.contains(&password)));
        for url in [
            format!("{scheme}://{user}:{password}@{host}:{port}/{db}?{query}"),
            format!("{scheme}://{user}:{password}@{host}/{db}"),
            format!("{scheme}://{user}:{password}@{host}"),
        ] {
            match DbUrl::parse(&url) {
                Err(e) => prop_assert!(!e.to_string().contains(&password), "{url} -> {e}"),
                Ok(u) => {
                    prop_assert!(!u.redacted().contains(&password), "{}", u.redacted());
                    let dbg = format!("{:?}", u);
                    prop_assert!(!dbg.contains(&password));
                }
            }
            let raw = RawParams::new(HashMap::from([("connection".to_string(), url.clone())]));
            match Syntax::parse(&raw, &OcfEnv::default()) {
                Err(e) => {
                    prop_assert!(!e.to_string().contains(&password), "{url} -> {e}");
                    prop_assert!(e.to_string().starts_with("connection "), "{e}");
                }
                Ok(s) => {
                    let dbg = format!("{:?}", s);
                    prop_assert!(!dbg.contains(&password));
                }
            }
        }
    }

    /// A raw `@` in a password (the one mistake SQLAlchemy's syntax allows) cuts it short, and
    /// the rest spills into the host, the path or the query. No error may repeat that rest.
    #[test]
    fn a_password_spilt_by_a_raw_at_never_shows_in_errors(
        head in "[a-zA-Z0-9]{0,6}",
        sep in prop_oneof![Just("?ssl_mode="), Just("?ssl="), Just("?ssl_"), Just("/"), Just(":"), Just("?"), Just("")],
        secret in "[a-zA-Z0-9]{10,14}",
        tail in prop_oneof![Just("@db.example/keystone"), Just("@db.example:3306/keystone?charset=utf8"), Just("@/keystone")],
    ) {
        let rest = format!("Rx{secret}");
        let url = format!("mysql+pymysql://keystone:{head}@{sep}{rest}{tail}");
        if let Err(e) = DbUrl::parse(&url) {
            prop_assert!(!e.to_string().contains(&rest), "{url} -> {e}");
        }
    }

    /// Every integer parameter accepts exactly the whole numbers in its range, and its error
    /// names the parameter.
    #[test]
    fn integer_parameters_accept_exactly_their_range(
        index in 0usize..64,
        value in prop_oneof![any::<String>(), "[ -]?[0-9]{1,25} ?", (0u64..200_000).prop_map(|n| n.to_string())],
    ) {
        let ints: Vec<_> = PARAMS.iter().filter(|p| matches!(p.kind, Kind::Integer { .. })).collect();
        let p = ints[index % ints.len()];
        let Kind::Integer { min, max, .. } = p.kind else { unreachable!() };
        let expected = value.trim().parse::<u64>().is_ok_and(|n| (min..=max).contains(&n));
        match check_kind(p, &value) {
            Ok(()) => prop_assert!(expected, "{} accepted {value:?}", p.name),
            Err(e) => {
                prop_assert!(!expected, "{} refused {value:?}: {e}", p.name);
                prop_assert!(e.starts_with(p.name), "{e}");
                prop_assert!(!e.contains('\n'), "one line: {e:?}");
            }
        }
    }

    /// Any mix of parameter values: Syntax::parse answers without panicking, and its error is
    /// one line that names a parameter.
    #[test]
    fn any_parameter_mix_parses_or_names_the_culprit(
        values in proptest::collection::vec((0..PARAMS.len() + 1, prop_oneof![any::<String>(), "[a-z0-9_./:@-]{0,20}"]), 0..8),
        clone_max in proptest::option::of(0u32..4),
    ) {
        let mut map = HashMap::new();
        for (i, v) in values {
            let name = PARAMS.get(i).map_or("unknown_param", |p| p.name);
            map.insert(name.to_string(), v);
        }
        let env = OcfEnv { clone_max, rsctmp: "/run/resource-agents".into(), ..OcfEnv::default() };
        if let Err(e) = Syntax::parse(&RawParams::new(map), &env) {
            let msg = e.to_string();
            prop_assert!(!msg.contains('\n'), "one line: {msg:?}");
            prop_assert!(
                PARAMS.iter().any(|p| msg.contains(p.name)) || msg.contains("clone"),
                "names the parameter: {msg}"
            );
        }
    }

    /// `shown`, which quotes bad values in reasons, keeps them one printable line.
    #[test]
    fn quoted_values_stay_one_printable_line(s in any::<String>()) {
        let q = params::shown(&s);
        prop_assert!(q.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{q:?}");
        prop_assert!(q.chars().count() <= 43);
    }
}

mod keystone_conf {
    use super::*;
    use std::fs;
    use tokenflush::keystone_conf::database_connection;

    fn with_conf<T>(text: &[u8], f: impl FnOnce(&std::path::Path) -> T) -> T {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keystone.conf");
        fs::write(&path, text).unwrap();
        f(&path)
    }

    /// A value as an operator writes it: no surrounding space, no line break, not quoted.
    fn value() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9:/@?#;%+=._-][a-zA-Z0-9:/@?#;%+=._ -]{0,40}[a-zA-Z0-9:/@?#;%+=._-]"
    }

    /// Lines around the connection that must not change it: other sections and keys, comments,
    /// blank lines.
    fn noise() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "# [a-z =:/@]{0,30}",
            "; [a-z =:/@]{0,30}",
            "[a-z_]{1,12} = [a-z0-9 ]{0,20}",
            "\\[(DEFAULT|token|cache|oslo_policy)\\]",
        ]
    }

    proptest! {
        #![proptest_config(config(128))]

        /// Arbitrary bytes as keystone.conf: an answer, never a panic.
        #[test]
        fn any_file_content_never_panics(text in proptest::collection::vec(any::<u8>(), 0..400)) {
            with_conf(&text, |p| { let _ = database_connection(p); });
        }

        /// Arbitrary INI-ish text: never a panic.
        #[test]
        fn ini_shaped_text_never_panics(lines in proptest::collection::vec(
            prop_oneof![noise(), "\\[[a-z\\]\\[ ]{0,10}\\]?", "[ \t]+[a-z:/@#;=]{0,20}", "connection ?[=:]? ?[^\n]{0,30}"], 0..12)
        ) {
            with_conf(lines.join("\n").as_bytes(), |p| { let _ = database_connection(p); });
        }

        /// The last `connection` of the last `[database]` section wins, whatever surrounds it,
        /// and a password's `#` and `;` are not comments.
        #[test]
        fn the_last_connection_wins(
            first in value(), last in value(), before in noise(), between in noise(), after in noise(),
            sep in prop_oneof![Just(" = "), Just("="), Just(" =  ")],
        ) {
            let text = format!(
                "[DEFAULT]\n{before}\n[database]\nconnection{sep}{first}\n{between}\n[database]\nconnection{sep}{last}\n[token]\n{after}\n"
            );
            let got = with_conf(text.as_bytes(), database_connection);
            prop_assert_eq!(got.ok(), Some(last.clone()), "{}", text);
        }

        /// A URL continued over indented lines reads as the URL itself.
        #[test]
        fn continuation_lines_join_back_into_the_url(
            password in "[a-zA-Z0-9:/?#;_.-]{1,20}", at in 0usize..60, indent in "[ \t]{1,4}",
        ) {
            let url = format!("mysql+pymysql://keystone:{password}@db.example:3306/keystone?charset=utf8");
            let cut = url.char_indices().map(|(i, _)| i).filter(|&i| i > 0).nth(at % (url.len() - 1)).unwrap();
            let (a, b) = url.split_at(cut);
            let text = format!("[database]\nconnection = {a}\n{indent}{b}\nmax_retries = 10\n");
            let got = with_conf(text.as_bytes(), database_connection)
                .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
            let parsed = DbUrl::parse(&got).map_err(|e| TestCaseError::fail(format!("{got:?}: {e}")))?;
            prop_assert_eq!(parsed, DbUrl::parse(&url).unwrap());
        }
    }
}

/// Inputs that once broke a parser, or came close, kept as explicit cases.
#[test]
fn regression_corpus() {
    for s in [
        "",
        "://",
        "mysql://",
        "mysql://@",
        "mysql://:@/",
        "mysql://u:p@[",
        "mysql://u:p@[]",
        "mysql://u:p@[::1]x/k",
        "mysql://u:p@h:/k",
        "mysql://u:p@h:65535/k?",
        "mysql://u:p@h/k?&&&=&",
        "mysql://u:p@h/k?unix_socket",
        "mysql://u:%@h/k",
        "mysql://u:%zz@h/k",
        "mysql://u:%C3@h/k",
        "mysql://é:ü@ĥ/ķ",
        "mysql+://u:p@h/k",
        "+mysql://u:p@h/k",
        "mysql://u:p@h/k\n",
        "\n\n\n",
        "mysql://u:p@h\n  \n/k",
        "mysql://u:p:q:r@h/k",
        "mysql://u/p@h/k",
        "mysql://u@h@h/k",
    ] {
        let _ = DbUrl::parse(s);
    }
}

/// Found by `a_password_spilt_by_a_raw_at_never_shows_in_errors` and by tests/secrets.rs: the
/// errors for an unknown TLS key and a bad `ssl`/`ssl_mode` value used to repeat the key or the
/// value, which is where the rest of a password cut at a raw `@` lands.
#[test]
fn regression_query_errors_do_not_repeat_a_spilt_password() {
    for (url, rest) in [
        ("mysql+pymysql://keystone:@?ssl_RxAaAAA0AA0a@db.example/keystone", "RxAaAAA0AA0a"),
        ("mysql://keystone:a@?ssl_mode=RxSecretPart@db.example/keystone", "RxSecretPart"),
        ("mysql://keystone:a@?ssl=RxSecretPart@db.example/keystone", "RxSecretPart"),
        ("mysql://ks:pw@h/keystone?ssl_mode=RxSecretPart", "RxSecretPart"),
    ] {
        let e = DbUrl::parse(url).unwrap_err();
        assert!(!e.to_string().contains(rest), "{url} -> {e}");
    }
}
