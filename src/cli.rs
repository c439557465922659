//! The human commands: `tokenflush flush` (like `keystone-manage token_flush`, but chunked) and
//! `tokenflush status`. clap parses them; the OCF actions never go through clap, whose own exit
//! codes (2 for usage errors) would collide with OCF's.
//!
//! The CLI turns its flags into the same raw parameters Pacemaker would pass and validates them
//! with the same parameter table, so both paths accept and reject exactly the same values.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::IsTerminal;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::actions::{self, FlushResult, Progress};
use crate::config::{Config, RawParams};
use crate::db::{self, Deadline, SessionOpts};
use crate::flush::{self, End, Stop};
use crate::ocf::{OcfEnv, OcfStatus, Outcome};
use crate::table;

#[derive(Parser, Debug)]
#[command(
    name = "tokenflush",
    version,
    about = "Flush expired rows from Keystone's token table in small committed chunks"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Delete every expired row now, chunk by chunk, and print a summary.
    ///
    /// On a terminal a progress bar shows rows deleted out of the estimated backlog, rows/s and
    /// the time left. Ctrl-C stops at the next chunk boundary and prints what was done.
    Flush(FlushArgs),
    /// Show each agent instance's state: running or stopped, the last flush, failures, backlog.
    Status(StatusArgs),
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Only this resource instance (its OCF_RESOURCE_INSTANCE, e.g. p_tokenflush).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Directory of the state files (the agent's state_dir; default $HA_RSCTMP, /run/resource-agents).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct FlushArgs {
    /// Database URL (mysql://user@host/keystone). A password here is visible in the process list:
    /// prefer --config or --password-file.
    #[arg(long, value_name = "URL")]
    pub connection: Option<String>,
    /// keystone.conf to read [database] connection from (when --connection is not given).
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// File whose first line is the database password.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<String>,
    /// What to flush: keystone-token (default), keystone-trust, or custom (with --table and
    /// --expiry-column).
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// Table to flush (with --target custom).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// Expiry column of the table (with --target custom).
    #[arg(long, value_name = "NAME")]
    pub expiry_column: Option<String>,
    /// Seconds past expiry before a row is deleted.
    #[arg(long, value_name = "SECONDS")]
    pub grace: Option<String>,
    /// Rows per committed chunk.
    #[arg(long, value_name = "ROWS")]
    pub batch_size: Option<String>,
    /// Milliseconds to pause between chunks.
    #[arg(long, value_name = "MS")]
    pub sleep_ms: Option<String>,
    /// Stop at a chunk boundary after this many seconds (default: run until the backlog is empty).
    #[arg(long, value_name = "SECONDS")]
    pub max_runtime: Option<String>,
    /// Only count the expired rows and show the oldest expiry; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

impl FlushArgs {
    fn raw_params(&self) -> RawParams {
        let mut map = HashMap::new();
        let pairs = [
            ("connection", &self.connection),
            ("config", &self.config),
            ("password_file", &self.password_file),
            ("target", &self.target),
            ("table", &self.table),
            ("expiry_column", &self.expiry_column),
            ("grace", &self.grace),
            ("batch_size", &self.batch_size),
            ("max_runtime", &self.max_runtime),
            ("sleep_ms", &self.sleep_ms),
        ];
        for (k, v) in pairs {
            if let Some(v) = v {
                map.insert(k.to_string(), v.clone());
            }
        }
        RawParams::new(map)
    }
}

/// Parses the command line. Help and version print and succeed; usage errors fail with
/// OCF_ERR_ARGS (2), the closest OCF meaning.
pub fn run(args: Vec<OsString>, env: &OcfEnv, stop: Stop) -> Outcome {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => Outcome::ok(),
                _ => Outcome::status(OcfStatus::ErrArgs),
            };
        }
    };
    match cli.cmd {
        Cmd::Flush(a) => flush_cmd(&a, env, stop),
        Cmd::Status(a) => crate::status::run(a.instance.as_deref(), a.state_dir.as_deref(), a.json, env),
    }
}

fn flush_cmd(a: &FlushArgs, env: &OcfEnv, stop: Stop) -> Outcome {
    let raw = a.raw_params();
    let config = match Config::from_params(&raw, &OcfEnv { clone_max: None, ..env.clone() }) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    let deadline = match a.max_runtime {
        Some(_) => Deadline::after(config.max_runtime),
        None => Deadline::none(),
    };
    let rt = crate::Async::new(&stop);
    let outcome = if a.dry_run {
        rt.block_on(dry_run(&config, a.json)).unwrap_or_else(|o| o)
    } else {
        // A bar only for a person watching: without a terminal the flush stays quiet.
        let mut bar = Bar(None);
        let mut quiet = actions::NoProgress;
        let progress: &mut dyn Progress = if std::io::stderr().is_terminal() { &mut bar } else { &mut quiet };
        let flush = actions::run_flush_with(&config, deadline, &stop, progress);
        match rt.block_on(flush::unless_stopped(&stop, flush::STOP_GRACE, flush)) {
            Ok(Some(result)) => summarize(&result, a.json),
            Err(o) => o,
            Ok(None) => Outcome::fail(
                OcfStatus::ErrGeneric,
                "stopped by a signal; the chunk in flight was abandoned and commits or rolls back whole on the server",
            ),
        }
    };
    rt.shutdown();
    outcome
}

/// The interactive flush's progress bar: rows deleted out of the estimated backlog, rows/s and
/// the time left, on stderr after every chunk. It is cleared before the summary.
struct Bar(Option<ProgressBar>);

impl Progress for Bar {
    fn wants_backlog(&self) -> bool {
        true
    }

    fn started(&mut self, table: &str, backlog: Option<u64>) {
        let bar = ProgressBar::with_draw_target(Some(backlog.unwrap_or(0).max(1)), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} rows, {rate}, ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key("rate", |st: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} rows/s", st.per_sec());
                }),
        );
        bar.set_prefix(format!("flushing {table}"));
        bar.tick();
        self.0 = Some(bar);
    }

    fn chunk(&mut self, rows: u64) {
        if let Some(bar) = &self.0 {
            // The estimate is the optimizer's guess: grow the bar rather than overflow it.
            if bar.length().is_some_and(|l| rows > l) {
                bar.set_length(rows);
            }
            bar.set_position(rows);
        }
    }

    fn finished(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

async fn dry_run(config: &Config, json: bool) -> Outcome {
    let deadline = Deadline::none();
    let result = async {
        let mut s = db::connect(&config.db, SessionOpts::default(), deadline).await?;
        let plan = table::inspect(&mut s, &config.rule, deadline).await?;
        let r = flush::count_expired(&mut s, &plan, config.grace, deadline).await;
        s.close().await;
        r
    }
    .await;
    match result {
        Ok((n, oldest, cutoff)) => {
            if json {
                let v =
                    serde_json::json!({"dry_run": true, "expired_rows": n, "oldest_expiry": oldest, "cutoff": cutoff});
                println!("{v}");
            } else {
                println!(
                    "{n} expired rows (expiry before {cutoff} UTC); oldest expiry: {}",
                    oldest.as_deref().unwrap_or("none")
                );
            }
            Outcome::ok()
        }
        Err(e) => Outcome::fail(OcfStatus::ErrGeneric, e),
    }
}

fn summarize(result: &FlushResult, json: bool) -> Outcome {
    let r = match result {
        FlushResult::NotStarted(e) => {
            let status = if matches!(e, db::DbError::Schema(_) | db::DbError::Misconfigured(_)) {
                OcfStatus::ErrConfigured
            } else {
                OcfStatus::ErrGeneric
            };
            return Outcome::fail(status, e);
        }
        FlushResult::Ran(r) => r,
    };
    let end = match &r.end {
        End::Complete => "complete",
        End::Budget => "budget",
        End::Stopped => "stopped",
        End::LockHeld => "lock_held",
        End::SkippedLocked(_) => "skipped_locked",
        End::Failed(_) => "failed",
    };
    if json {
        let v = serde_json::json!({
            "rows_deleted": r.rows,
            "chunks": r.chunks,
            "seconds": r.elapsed.as_secs_f64(),
            "rows_per_sec": r.rows_per_sec(),
            "max_rows_per_transaction": r.max_chunk_rows,
            "complete": r.complete(),
            "end": end,
            "cutoff": r.cutoff,
            "walk": r.walk.map(|w| w.name()),
            "error": match &r.end { End::Failed(e) => Some(e.to_string()), _ => None },
        });
        println!("{v}");
    } else {
        println!(
            "deleted {} rows in {} chunks in {:.2}s ({:.0} rows/s), cutoff {} UTC: {}",
            r.rows,
            r.chunks,
            r.elapsed.as_secs_f64(),
            r.rows_per_sec(),
            r.cutoff,
            match &r.end {
                End::Complete => "backlog empty".to_string(),
                End::Budget => "stopped at --max-runtime, more left".to_string(),
                End::Stopped => "interrupted at a chunk boundary, more left".to_string(),
                End::LockHeld => "another flusher holds the lock on this table, nothing done".to_string(),
                End::SkippedLocked(n) => format!("{n} locked rows left for the next run"),
                End::Failed(e) => format!("failed: {e}"),
            }
        );
    }
    match &r.end {
        End::Failed(e) => Outcome::fail(OcfStatus::ErrGeneric, e),
        _ => Outcome::ok(),
    }
}
