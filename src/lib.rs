//! tokenflush as a library: everything but the process entry point.
//!
//! The binary (`src/main.rs`) only decides between the OCF path and the human CLI and maps the
//! result to an exit status. Keeping the rest here lets the integration tests and the fuzzers
//! reach the parsers directly.
//!
//! The modules, lowest layer first: each one uses only modules above it in this table
//! (`tests/module_graph.rs` checks it).
//!
//! | module | its one job |
//! |---|---|
//! | [`text`] | one-line messages and quoted values |
//! | [`secret`] | a secret that never prints |
//! | [`ocf`] | exit codes, Pacemaker's environment, the outcome of an action |
//! | [`log`] | ocf_log-style logging to stderr and syslog |
//! | [`ident`] | plain SQL identifiers |
//! | [`params`] | **where a parameter is declared**: the parameter table, typed reads of raw values |
//! | [`action`] | the OCF actions, declared once: dispatch, usage, meta-data |
//! | [`metadata`] | the meta-data XML and the README table, rendered from the two tables |
//! | [`dburl`] | SQLAlchemy-style database URLs |
//! | [`keystone_conf`] | `[database] connection` from keystone.conf and keystone.conf.d |
//! | [`rule`] | what makes a row of one table go: the SQL predicate |
//! | [`target`] | the `target` presets: their tables, and how old a row must be |
//! | [`state`] | **where the state file is written**: the per-instance state, atomically |
//! | [`db`] | connecting with timeouts, session settings, error classes |
//! | [`plan`] | a target's tables found in the database, children first, with their foreign keys |
//! | [`table`] | what the table looks like, from information_schema |
//! | [`shutdown`] | the stop token, its grace, the runtime and its signal watch |
//! | [`flush`] | the engine: **where the chunk DELETE is built** ([`flush::sql`]), **how the walk is chosen** ([`flush::walk`]), **where Galera flow control is handled** ([`flush::galera`]) |
//! | [`config`] | raw parameters to one validated, typed `Config` |
//! | [`mod@error`] | **where an error becomes a status** |
//! | [`job`] | the flush job shared by the monitor and the CLI |
//! | [`schedule`] | **when a monitor flushes**, and what it records |
//! | [`status`] | `tokenflush status`: the state files, for people and scripts |
//! | [`metrics`] | the Prometheus textfile written after every flush |
//! | [`attrd`] | transient node attributes through attrd_updater |
//! | [`agent`] | the OCF actions, one file each |
//! | [`cli`] | the human commands |

pub mod text;

pub mod secret;

pub mod ocf;

pub mod log;

pub mod ident;

pub mod params;

pub mod action;

pub mod metadata;

pub mod dburl;

pub mod keystone_conf;

pub mod rule;

pub mod target;

pub mod state;

pub mod db;

pub mod plan;

pub mod table;

pub mod shutdown;

pub mod flush;

pub mod config;

pub mod error;

pub mod job;

pub mod schedule;

pub mod status;

pub mod metrics;

pub mod attrd;

pub mod agent;

pub mod cli;
