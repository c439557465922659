//! The agent's parameters, declared once.
//!
//! [`PARAMS`] is the single source for the meta-data XML, the defaults, the first syntax check of
//! every value (kind and range) and the README's parameter table. `config` then turns the checked
//! strings into typed values. Adding a parameter here is enough for it to show up in
//! `crm ra info`, in the README test and in validation.

use std::fmt::Write as _;

/// What a parameter's value must look like. The meta-data only knows string, integer and boolean
/// (ra-api-1.dtd), so the finer kinds below all render as one of those.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    /// A whole number within the bounds, both inclusive.
    Integer {
        min: u64,
        max: u64,
    },
    /// true/false, yes/no, on/off or 1/0, as Pacemaker's crm_is_true reads them.
    Boolean,
}

impl Kind {
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Integer { .. } => "integer",
            Kind::Boolean => "boolean",
        }
    }
}

/// A boolean parameter's value, read like Pacemaker's `crm_is_true`.
pub fn is_true(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "y" | "1")
}

fn is_boolean(v: &str) -> bool {
    is_true(v) || matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "no" | "off" | "n" | "0")
}

#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub default: Option<&'static str>,
    pub required: bool,
    pub unique: bool,
    pub short: &'static str,
    pub long: &'static str,
}

const DAY: u64 = 86_400;

pub const PARAMS: &[Param] = &[
    Param {
        name: "connection",
        kind: Kind::String,
        default: None,
        required: false,
        unique: false,
        short: "Database URL",
        long: "SQLAlchemy-style MySQL/MariaDB URL, as in keystone.conf: mysql+pymysql://user:password@host:3306/keystone. \
               mysql://, mysql+pymysql:// and mysql+mysqldb:// are accepted, with ?unix_socket=/path and the ssl_* options; \
               charset= is ignored. When unset, [database] connection is read from the file named by 'config'. \
               Parameters are stored in the CIB in plain text: keep the password out of it with password_file.",
    },
    Param {
        name: "config",
        kind: Kind::String,
        default: Some("/etc/keystone/keystone.conf"),
        required: false,
        unique: false,
        short: "keystone.conf to read the connection from",
        long: "Path of keystone.conf. Its [database] connection (and that of the *.conf files in the sibling \
               keystone.conf.d directory) is used when 'connection' is unset; the file is not read otherwise.",
    },
    Param {
        name: "password_file",
        kind: Kind::String,
        default: None,
        required: false,
        unique: false,
        short: "File holding the database password",
        long: "Optional path of a file whose first line is the database password. It overrides any password in the \
               URL, so that no password has to be stored in the CIB.",
    },
    Param {
        name: "target",
        kind: Kind::String,
        default: Some("keystone-token"),
        required: false,
        unique: false,
        short: "What to flush: keystone-token, keystone-trust or custom",
        long: "What to flush. keystone-token (the default): Keystone's token table, rows whose 'expires' has passed. \
               keystone-trust: Keystone's trust table, rows whose expiry has passed (expires_at_int, the epoch-microsecond \
               column newer Keystone writes, else expires_at) or that are soft-deleted (deleted_at set), as \
               'keystone-manage trust_flush' deletes them. custom: the table named by 'table', rows whose \
               'expiry_column' has passed. One resource flushes one target; configure one resource per target.",
    },
    Param {
        name: "table",
        kind: Kind::String,
        default: None,
        required: false,
        unique: false,
        short: "Table to flush (target=custom only)",
        long: "With target=custom, the table holding expiring rows: a plain SQL identifier (letters, digits, _ and $). \
               It needs a single-column primary key. Setting it with another target is a configuration error.",
    },
    Param {
        name: "expiry_column",
        kind: Kind::String,
        default: None,
        required: false,
        unique: false,
        short: "Expiry column (target=custom only)",
        long: "With target=custom, the column holding each row's expiry time: DATETIME in naive UTC, TIMESTAMP, or a \
               BIGINT of microseconds since the epoch. An integer column holding epoch seconds is refused. Rows whose \
               expiry is NULL are never deleted. Setting it with another target is a configuration error.",
    },
    Param {
        name: "interval",
        kind: Kind::Integer { min: 1, max: 7 * DAY },
        default: Some("600"),
        required: false,
        unique: false,
        short: "Seconds between flushes",
        long: "How often a flush is due, in seconds. A monitor runs a flush when this long has passed since the last \
               complete one, or straight away when the last one stopped early because its time budget ran out.",
    },
    Param {
        name: "grace",
        kind: Kind::Integer { min: 0, max: 30 * DAY },
        default: Some("60"),
        required: false,
        unique: false,
        short: "Seconds of margin past expiry",
        long: "A row is deleted only once expiry < UTC_TIMESTAMP() - grace, read from the database server's clock. \
               The margin keeps clock skew between Keystone nodes and the database from removing a valid token.",
    },
    Param {
        name: "batch_size",
        kind: Kind::Integer { min: 1, max: 100_000 },
        default: Some("1000"),
        required: false,
        unique: false,
        short: "Rows per chunk",
        long: "The most rows deleted and committed in one transaction. Lowered automatically to stay under Galera's \
               wsrep_max_ws_rows and wsrep_max_ws_size.",
    },
    Param {
        name: "sleep_ms",
        kind: Kind::Integer { min: 0, max: 60_000 },
        default: Some("0"),
        required: false,
        unique: false,
        short: "Pause between chunks",
        long: "Milliseconds to pause between chunks, to leave the database more room at the cost of a slower flush. \
               On Galera the flush also pauses on its own while flow control is active.",
    },
    Param {
        name: "max_runtime",
        kind: Kind::Integer { min: 1, max: DAY },
        default: Some("30"),
        required: false,
        unique: false,
        short: "Most seconds one monitor may flush",
        long: "Time budget of the flush run by one monitor, in seconds. The effective budget is the smaller of this and \
               half the monitor's timeout; the flush stops at a chunk boundary and the next monitor continues. Give the \
               monitor operation a timeout of at least twice this value.",
    },
    Param {
        name: "retry_interval",
        kind: Kind::Integer { min: 1, max: DAY },
        default: Some("30"),
        required: false,
        unique: false,
        short: "Seconds to wait after a failed flush",
        long: "After a failed flush (database unreachable, access denied, lock timeouts) the next attempt waits at least \
               this many seconds; monitors in between report the last result (degraded) without touching the database.",
    },
    Param {
        name: "state_dir",
        kind: Kind::String,
        default: None,
        required: false,
        unique: false,
        short: "Directory of the state file",
        long: "Directory holding this instance's state file. Defaults to $HA_RSCTMP (/run/resource-agents), which is \
               created when missing. A directory given here must exist.",
    },
    Param {
        name: "metrics_file",
        kind: Kind::String,
        default: None,
        required: false,
        unique: false,
        short: "Prometheus metrics file",
        long: "Optional path of a Prometheus text-format file, rewritten atomically (mode 0644) after every flush, \
               for node_exporter's textfile collector (for example /var/lib/prometheus/node-exporter/tokenflush.prom). \
               It holds tokenflush_rows_deleted_total, tokenflush_last_success_timestamp_seconds, \
               tokenflush_last_flush_duration_seconds, tokenflush_backlog_rows and tokenflush_flush_failures_total, \
               labelled with the resource instance. Its directory must exist.",
    },
    Param {
        name: "node_attributes",
        kind: Kind::Boolean,
        default: Some("false"),
        required: false,
        unique: false,
        short: "Publish backlog and last success as node attributes",
        long: "When true, after each flush the agent sets the transient node attributes <instance>-backlog (estimated \
               expired rows left) and <instance>-last-success (Unix time of the last successful flush) with \
               attrd_updater, so that they show in 'crm_mon -A'. Stop removes them.",
    },
    Param {
        name: "log_facility",
        kind: Kind::String,
        default: None,
        required: false,
        unique: false,
        short: "Syslog facility",
        long: "Syslog facility for the agent's messages: daemon, user, or local0 to local7. Defaults to \
               $HA_LOGFACILITY, else daemon. Messages always go to stderr too, which Pacemaker logs.",
    },
];

pub fn find(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name == name)
}

/// Checks a value against its declared kind. The error names the parameter and never repeats the
/// value when the parameter may carry a secret.
pub fn check_kind(p: &Param, value: &str) -> Result<(), String> {
    match p.kind {
        Kind::String => Ok(()),
        Kind::Integer { min, max } => {
            let v = value.trim();
            match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(()),
                Ok(_) => Err(format!("{} must be between {min} and {max}, not {v}", p.name)),
                Err(_) if v.parse::<i128>().is_ok() => {
                    Err(format!("{} must be between {min} and {max}, not {v}", p.name))
                }
                Err(_) => Err(format!("{} must be a whole number of {}, not '{}'", p.name, unit(p), shown(value))),
            }
        }
        Kind::Boolean if is_boolean(value) => Ok(()),
        Kind::Boolean => Err(format!("{} must be true or false, not '{}'", p.name, shown(value))),
    }
}

fn unit(p: &Param) -> &'static str {
    if p.name == "batch_size" {
        "rows"
    } else {
        "seconds"
    }
}

/// A value made safe to quote in a one-line message: printable ASCII, at most 40 characters.
pub fn shown(value: &str) -> String {
    let mut s: String =
        value.chars().take(40).map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
    if value.chars().count() > 40 {
        s.push_str("...");
    }
    s
}

/// Suggested operation timeouts, advertised in the meta-data and the README.
pub const ACTIONS: &[(&str, &str, Option<&str>)] = &[
    ("start", "20s", None),
    ("stop", "20s", None),
    ("monitor", "60s", Some("60s")),
    ("validate-all", "20s", None),
    ("meta-data", "5s", None),
];

pub const AGENT_LONGDESC: &str = "tokenflush keeps OpenStack Keystone's SQL token table (or any table of expiring rows) free of \
expired rows. It runs as one cluster resource, so it is active on exactly one node. Each recurring monitor runs a flush when \
the interval is due: it deletes rows whose expiry is older than the database server's UTC clock minus the grace period, in \
small chunks that each commit on their own, and stops at a chunk boundary within its time budget. A failed flush makes the \
monitor report degraded (190) without triggering recovery.";

/// The meta-data XML: valid against ra-api-1.dtd (what ocf-tester checks) and metadata.rng.
pub fn metadata_xml() -> String {
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\"?>\n<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n");
    let _ = writeln!(x, "<resource-agent name=\"tokenflush\" version=\"{}\">", env!("CARGO_PKG_VERSION"));
    x.push_str("<version>1.1</version>\n");
    let _ = writeln!(x, "<longdesc lang=\"en\">\n{}\n</longdesc>", escape(AGENT_LONGDESC));
    x.push_str("<shortdesc lang=\"en\">Flushes expired Keystone tokens in small committed chunks</shortdesc>\n");
    x.push_str("<parameters>\n");
    for p in PARAMS {
        let _ = writeln!(
            x,
            "<parameter name=\"{}\" unique=\"{}\" required=\"{}\">",
            p.name,
            u8::from(p.unique),
            u8::from(p.required)
        );
        let _ = writeln!(x, "<longdesc lang=\"en\">\n{}\n</longdesc>", escape(p.long));
        let _ = writeln!(x, "<shortdesc lang=\"en\">{}</shortdesc>", escape(p.short));
        match p.default {
            Some(d) => {
                let _ = writeln!(x, "<content type=\"{}\" default=\"{}\" />", p.kind.content_type(), escape(d));
            }
            None => {
                let _ = writeln!(x, "<content type=\"{}\" />", p.kind.content_type());
            }
        }
        x.push_str("</parameter>\n");
    }
    x.push_str("</parameters>\n<actions>\n");
    for (name, timeout, interval) in ACTIONS {
        match interval {
            Some(i) => {
                let _ = writeln!(x, "<action name=\"{name}\" timeout=\"{timeout}\" interval=\"{i}\" depth=\"0\" />");
            }
            None => {
                let _ = writeln!(x, "<action name=\"{name}\" timeout=\"{timeout}\" />");
            }
        }
    }
    x.push_str("</actions>\n</resource-agent>\n");
    x
}

/// The README's parameter table, rendered from [`PARAMS`] (a test keeps README.md equal to it;
/// `cargo run --example docs -- readme` prints it). The long descriptions are in the meta-data
/// and the man page.
pub fn markdown_table() -> String {
    let mut t = String::from("| name | type | default | description |\n|---|---|---|---|\n");
    for p in PARAMS {
        let default = p.default.map(|d| format!("`{d}`")).unwrap_or_default();
        let short = p.short.replace('|', "\\|");
        let _ = writeln!(t, "| `{}` | {} | {default} | {short} |", p.name, p.kind.content_type());
    }
    t
}

fn escape(s: &str) -> String {
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_is_documented_once() {
        let xml = metadata_xml();
        for p in PARAMS {
            assert_eq!(xml.matches(&format!("<parameter name=\"{}\"", p.name)).count(), 1, "{}", p.name);
            assert!(!p.short.is_empty() && !p.long.is_empty());
        }
    }

    #[test]
    fn defaults_satisfy_their_own_kind() {
        for p in PARAMS {
            if let Some(d) = p.default {
                assert_eq!(check_kind(p, d), Ok(()), "{}", p.name);
            }
        }
    }

    #[test]
    fn integers_are_bounded() {
        let p = find("batch_size").unwrap();
        assert!(check_kind(p, "0").is_err());
        assert!(check_kind(p, "-5").unwrap_err().contains("between 1 and"));
        assert!(check_kind(p, "99999999999999999999999").is_err());
        assert!(check_kind(p, "ten").unwrap_err().starts_with("batch_size"));
        assert_eq!(check_kind(p, "500"), Ok(()));
    }
}
