//! The parameter table itself: one constant per parameter, and [`PARAMS`] in rendering order.

use super::{Flag, Kind, Param, Unit, DAY};

const fn flag(value_name: &'static str, help: Option<&'static str>) -> Option<Flag> {
    Some(Flag { value_name, help })
}

pub const CONNECTION: Param = Param {
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
    flag: flag(
        "URL",
        Some("Database URL (mysql://user@host/keystone). A password here is visible in the process list: prefer --config or --password-file."),
    ),
};

pub const CONFIG: Param = Param {
    name: "config",
    kind: Kind::String,
    default: Some("/etc/keystone/keystone.conf"),
    required: false,
    unique: false,
    short: "keystone.conf to read the connection from",
    long: "Path of keystone.conf. Its [database] connection (and that of the *.conf files in the sibling \
           keystone.conf.d directory) is used when 'connection' is unset; the file is not read otherwise.",
    flag: flag("FILE", Some("keystone.conf to read [database] connection from (when --connection is not given).")),
};

pub const PASSWORD_FILE: Param = Param {
    name: "password_file",
    kind: Kind::String,
    default: None,
    required: false,
    unique: false,
    short: "File holding the database password",
    long: "Optional path of a file whose first line is the database password. It overrides any password in the \
           URL, so that no password has to be stored in the CIB.",
    flag: flag("FILE", Some("File whose first line is the database password.")),
};

pub const TARGET: Param = Param {
    name: "target",
    kind: Kind::String,
    default: Some("keystone-token"),
    required: false,
    unique: false,
    short: "What to flush: a preset, or custom",
    long: "What to flush. keystone-token (the default): Keystone's token table, rows whose 'expires' has passed. \
           keystone-trust: what 'keystone-manage trust_flush' deletes (soft-deleted trusts, and trusts whose \
           expires_at_int has passed), then the trust_role rows whose trust is gone. keystone-revocation: \
           revocation_event rows older than Keystone's [token] expiration + [revoke] expiration_buffer, read from \
           'config'. nova-shadow: what 'nova-manage db purge --before' deletes from the shadow_* tables, \
           age_in_days old. cinder: what 'cinder-manage db purge age_in_days' deletes, children first. glance: \
           what 'glance-manage db purge --age_in_days' deletes, never images. aodh-alarm-history: what \
           'aodh-expirer' deletes, time_to_live old. custom: the table named by 'table', rows whose \
           'expiry_column' has passed. One resource flushes one target; configure one resource per target.",
    flag: flag(
        "TARGET",
        Some("What to flush: keystone-token (default), keystone-trust, keystone-revocation, nova-shadow, cinder, glance, aodh-alarm-history, or custom (with --table and --expiry-column)."),
    ),
};

pub const TABLE: Param = Param {
    name: "table",
    kind: Kind::String,
    default: None,
    required: false,
    unique: false,
    short: "Table to flush (target=custom only)",
    long: "With target=custom, the table holding expiring rows: a plain SQL identifier (letters, digits, _ and $). \
           It needs a single-column primary key. Setting it with another target is a configuration error.",
    flag: flag("NAME", Some("Table to flush (with --target custom).")),
};

pub const EXPIRY_COLUMN: Param = Param {
    name: "expiry_column",
    kind: Kind::String,
    default: None,
    required: false,
    unique: false,
    short: "Expiry column (target=custom only)",
    long: "With target=custom, the column holding each row's expiry time: DATETIME in naive UTC, TIMESTAMP, or a \
           BIGINT of microseconds since the epoch. An integer column holding epoch seconds is refused. Rows whose \
           expiry is NULL are never deleted. Setting it with another target is a configuration error.",
    flag: flag("NAME", Some("Expiry column of the table (with --target custom).")),
};

pub const AGE_IN_DAYS: Param = Param {
    name: "age_in_days",
    kind: Kind::Integer { min: 0, max: 36_500, unit: Unit::Days },
    default: Some("30"),
    required: false,
    unique: false,
    short: "Age in days of the rows that go (nova-shadow, cinder, glance)",
    long: "For the targets whose official purge takes an age in days (cinder-manage db purge AGE_IN_DAYS, \
           glance-manage db purge --age_in_days, nova-manage db purge --before DATE): a row goes once its date \
           (deleted_at, or the column nova dates the table by) is more than this many days before the database \
           server's UTC clock.",
    flag: flag("DAYS", None),
};

pub const TIME_TO_LIVE: Param = Param {
    name: "time_to_live",
    kind: Kind::Integer { min: 1, max: 100 * 365 * DAY, unit: Unit::Seconds },
    default: None,
    required: false,
    unique: false,
    short: "Seconds alarm history is kept (aodh-alarm-history)",
    long: "For target=aodh-alarm-history: aodh.conf's [database] alarm_history_time_to_live, in seconds. An \
           alarm_history row goes once its timestamp is older than this. Required with that target, as aodh-expirer \
           does nothing without it.",
    flag: flag("SECONDS", None),
};

pub const INTERVAL: Param = Param {
    name: "interval",
    kind: Kind::Integer { min: 1, max: 7 * DAY, unit: Unit::Seconds },
    default: Some("600"),
    required: false,
    unique: false,
    short: "Seconds between flushes",
    long: "How often a flush is due, in seconds. A monitor runs a flush when this long has passed since the last \
           complete one, or straight away when the last one stopped early because its time budget ran out.",
    flag: None,
};

pub const GRACE: Param = Param {
    name: "grace",
    kind: Kind::Integer { min: 0, max: 30 * DAY, unit: Unit::Seconds },
    default: Some("60"),
    required: false,
    unique: false,
    short: "Seconds of margin past expiry",
    long: "A row is deleted only once expiry < UTC_TIMESTAMP() - grace, read from the database server's clock. \
           The margin keeps clock skew between Keystone nodes and the database from removing a valid token.",
    flag: flag("SECONDS", Some("Seconds past expiry before a row is deleted.")),
};

pub const BATCH_SIZE: Param = Param {
    name: "batch_size",
    kind: Kind::Integer { min: 1, max: 100_000, unit: Unit::Rows },
    default: Some("1000"),
    required: false,
    unique: false,
    short: "Rows per chunk",
    long: "The most rows deleted and committed in one transaction. Lowered automatically to stay under Galera's \
           wsrep_max_ws_rows and wsrep_max_ws_size.",
    flag: flag("ROWS", Some("Rows per committed chunk.")),
};

pub const SLEEP_MS: Param = Param {
    name: "sleep_ms",
    kind: Kind::Integer { min: 0, max: 60_000, unit: Unit::Milliseconds },
    default: Some("0"),
    required: false,
    unique: false,
    short: "Pause between chunks",
    long: "Milliseconds to pause between chunks, to leave the database more room at the cost of a slower flush. \
           On Galera the flush also pauses on its own while flow control is active.",
    flag: flag("MS", Some("Milliseconds to pause between chunks.")),
};

pub const MAX_RUNTIME: Param = Param {
    name: "max_runtime",
    kind: Kind::Integer { min: 1, max: DAY, unit: Unit::Seconds },
    default: Some("30"),
    required: false,
    unique: false,
    short: "Most seconds one monitor may flush",
    long: "Time budget of the flush run by one monitor, in seconds. The effective budget is the smaller of this and \
           half the monitor's timeout; the flush stops at a chunk boundary and the next monitor continues. Give the \
           monitor operation a timeout of at least twice this value.",
    flag: flag(
        "SECONDS",
        Some("Stop at a chunk boundary after this many seconds (default: run until the backlog is empty)."),
    ),
};

pub const RETRY_INTERVAL: Param = Param {
    name: "retry_interval",
    kind: Kind::Integer { min: 1, max: DAY, unit: Unit::Seconds },
    default: Some("30"),
    required: false,
    unique: false,
    short: "Seconds to wait after a failed flush",
    long: "After a failed flush (database unreachable, access denied, lock timeouts) the next attempt waits at least \
           this many seconds; monitors in between report the last result (degraded) without touching the database.",
    flag: None,
};

pub const WALK: Param = Param {
    name: "walk",
    kind: Kind::Choice(&["auto", "expiry", "primary-key"]),
    default: Some("auto"),
    required: false,
    unique: false,
    short: "Order in which a flush visits expired rows",
    long: "auto (the default) lets the engine choose from the table's size, the buffer pool and the backlog: \
           along the expiry index for a table that fits in memory or a thin backlog, along the primary key for a \
           large, neglected table. expiry or primary-key force one walk, for tests and benchmarks; a rule over \
           several columns (keystone-trust) always walks the primary key.",
    flag: flag("WALK", Some("Force the walk: expiry or primary-key (default auto: the engine chooses).")),
};

pub const STRATEGY: Param = Param {
    name: "strategy",
    kind: Kind::Choice(&["delete", "rebuild", "auto"]),
    default: Some("delete"),
    required: false,
    unique: false,
    short: "delete, rebuild or auto",
    long: "delete (the default): expired rows are deleted in committed chunks. rebuild: the rows that stay are \
           copied into a new table, kept in step with Keystone's writes by triggers, and swapped in with one \
           atomic RENAME TABLE, which also gives the table's disk space back; it needs a primary key, no foreign \
           keys or triggers of the table's own, and the CREATE, DROP, ALTER and TRIGGER privileges. A rebuild \
           that runs out of budget resumes at the next flush. auto rebuilds when fewer than a quarter as many \
           rows stay as go (or most go from a file that is mostly free space), and deletes otherwise.",
    flag: flag("STRATEGY", Some("delete (default), rebuild or auto.")),
};

pub const STATE_DIR: Param = Param {
    name: "state_dir",
    kind: Kind::String,
    default: None,
    required: false,
    unique: false,
    short: "Directory of the state file",
    long: "Directory holding this instance's state file. Defaults to $HA_RSCTMP (/run/resource-agents), which is \
           created when missing. A directory given here must exist.",
    flag: None,
};

pub const METRICS_FILE: Param = Param {
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
    flag: None,
};

pub const NODE_ATTRIBUTES: Param = Param {
    name: "node_attributes",
    kind: Kind::Boolean,
    default: Some("false"),
    required: false,
    unique: false,
    short: "Publish backlog and last success as node attributes",
    long: "When true, after each flush the agent sets the transient node attributes <instance>-backlog (estimated \
           expired rows left) and <instance>-last-success (Unix time of the last successful flush) with \
           attrd_updater, so that they show in 'crm_mon -A'. Stop removes them.",
    flag: None,
};

pub const LOG_FACILITY: Param = Param {
    name: "log_facility",
    kind: Kind::String,
    default: None,
    required: false,
    unique: false,
    short: "Syslog facility",
    long: "Syslog facility for the agent's messages: daemon, user, or local0 to local7. Defaults to \
           $HA_LOGFACILITY, else daemon. Messages always go to stderr too, which Pacemaker logs.",
    flag: None,
};

/// Every parameter, in the order the meta-data, the README, the man page and `--help` show them.
pub const PARAMS: &[Param] = &[
    CONNECTION,
    CONFIG,
    PASSWORD_FILE,
    TARGET,
    TABLE,
    EXPIRY_COLUMN,
    AGE_IN_DAYS,
    TIME_TO_LIVE,
    INTERVAL,
    GRACE,
    BATCH_SIZE,
    SLEEP_MS,
    MAX_RUNTIME,
    RETRY_INTERVAL,
    WALK,
    STRATEGY,
    STATE_DIR,
    METRICS_FILE,
    NODE_ATTRIBUTES,
    LOG_FACILITY,
];
