//! `tokenflush flush`: one flush now, with a progress bar on a terminal and a summary at the end.

use std::collections::HashMap;
use std::io::IsTerminal;

use clap::{Arg, ArgAction, ArgMatches, Command};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::config::Config;
use crate::db::{self, Deadline, SessionOpts};
use crate::flush::{self, End, FlushReport};
use crate::job::{self, FlushResult, NoProgress, Progress};
use crate::ocf::{OcfEnv, OcfError, OcfStatus, Outcome};
use crate::params::{RawParams, MAX_RUNTIME, PARAMS};
use crate::shutdown::{self, Async, Stop};
use crate::table;

/// The `flush` command's arguments: every parameter that declares a [`crate::params::Flag`],
/// as the raw values Pacemaker would pass, plus `--dry-run` and `--json`.
#[derive(Debug, Default)]
pub struct FlushArgs {
    pub params: HashMap<String, String>,
    pub dry_run: bool,
    pub json: bool,
}

impl clap::FromArgMatches for FlushArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut a = FlushArgs::default();
        a.update_from_arg_matches(m)?;
        Ok(a)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for p in PARAMS.iter().filter(|p| p.flag.is_some()) {
            if let Some(v) = m.get_one::<String>(p.name) {
                self.params.insert(p.name.to_string(), v.clone());
            }
        }
        self.dry_run |= m.get_flag("dry_run");
        self.json |= m.get_flag("json");
        Ok(())
    }
}

impl clap::Args for FlushArgs {
    fn augment_args(cmd: Command) -> Command {
        let flags = PARAMS.iter().filter_map(|p| {
            let f = p.flag?;
            Some(Arg::new(p.name).long(p.flag_name()).value_name(f.value_name).help(f.help.unwrap_or(p.short)))
        });
        cmd.args(flags)
            .arg(
                Arg::new("dry_run")
                    .long("dry-run")
                    .action(ArgAction::SetTrue)
                    .help("Only count the expired rows and show the oldest expiry; delete nothing."),
            )
            .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print the summary as one JSON object."))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

pub fn run(a: &FlushArgs, env: &OcfEnv, stop: Stop) -> Outcome {
    let raw = RawParams::new(a.params.clone());
    let config = match Config::from_params(&raw, &OcfEnv { clone_max: None, ..env.clone() }) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    // Unlike a monitor's, the command's flush runs until the backlog is empty unless told.
    let deadline = match raw.get(&MAX_RUNTIME) {
        Some(_) => Deadline::after(config.max_runtime),
        None => Deadline::none(),
    };
    let rt = Async::new(&stop);
    let outcome = if a.dry_run {
        rt.block_on(dry_run(&config, a.json)).unwrap_or_else(|o| o)
    } else {
        // A bar only for a person watching: without a terminal the flush stays quiet.
        let mut bar = Bar(None);
        let mut quiet = NoProgress;
        let progress: &mut dyn Progress = if std::io::stderr().is_terminal() { &mut bar } else { &mut quiet };
        let flush = job::run_flush(&config, deadline, &stop, progress, None);
        match rt.block_on(shutdown::unless_stopped(&stop, shutdown::STOP_GRACE, flush)) {
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
        let (tables, fks) = job::tables_of(&mut s, config, deadline).await?;
        let mut total: Option<flush::DryRun> = None;
        for spec in &tables {
            let plan = table::inspect(&mut s, spec, &fks, deadline).await?;
            let d = flush::count_expired(&mut s, &plan, config.age, deadline).await?;
            total = Some(match total {
                None => d,
                Some(t) => flush::DryRun {
                    expired: t.expired + d.expired,
                    oldest: [t.oldest, d.oldest].into_iter().flatten().min(),
                    cutoff: t.cutoff,
                },
            });
        }
        s.close().await;
        total.ok_or_else(|| db::DbError::Schema("no table to count".into()))
    }
    .await;
    match result {
        Ok(d) => {
            if json {
                let v = serde_json::json!({"dry_run": true, "expired_rows": d.expired, "oldest_expiry": d.oldest, "cutoff": d.cutoff});
                println!("{v}");
            } else {
                println!(
                    "{} expired rows (expiry before {} UTC); oldest expiry: {}",
                    d.expired,
                    d.cutoff,
                    d.oldest.as_deref().unwrap_or("none")
                );
            }
            Outcome::ok()
        }
        Err(e) => e.into(),
    }
}

/// Prints the summary. A failure has the status its error maps to ([`crate::error`]), as on the
/// OCF path: a flush command that runs into a wrong password exits 4, like `validate-all`.
fn summarize(result: &FlushResult, json: bool) -> Outcome {
    let r = match result {
        FlushResult::NotStarted(e) => return Outcome::fail(e.ocf_status(), e),
        FlushResult::Ran(r) => r,
    };
    if json {
        println!("{}", summary_json(r));
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
        End::Failed(e) => Outcome::fail(e.ocf_status(), e),
        _ => Outcome::ok(),
    }
}

fn summary_json(r: &FlushReport) -> serde_json::Value {
    serde_json::json!({
        "rows_deleted": r.rows,
        "rows_deleted_with": r.rows_with,
        "chunks": r.chunks,
        "seconds": r.elapsed.as_secs_f64(),
        "rows_per_sec": r.rows_per_sec(),
        "max_rows_per_transaction": r.max_chunk_rows,
        "complete": r.complete(),
        "end": r.end.name(),
        "cutoff": r.cutoff,
        "walk": r.walk.map(|w| w.name()),
        "strategy": r.strategy.map(|s| s.name()),
        "rows_copied": r.rows_copied,
        "throttled_seconds": r.throttled.as_secs_f64(),
        "kept_by_children": r.kept_by_children,
        "tables": r.tables.iter().map(|t| serde_json::json!({
            "table": t.table, "rows_deleted": t.rows, "rows_deleted_with": t.rows_with, "chunks": t.chunks, "end": t.end,
            "error": t.error, "kept_by_children": t.kept_by_children,
        })).collect::<Vec<_>>(),
        "error": match &r.end { End::Failed(e) => Some(e.to_string()), _ => None },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> FlushArgs {
        let mut argv = vec!["tokenflush", "flush"];
        argv.extend(args);
        match super::super::Cli::try_parse_from(argv).unwrap().cmd {
            super::super::Cmd::Flush(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_flag_is_a_parameter_of_the_table() {
        let a = parse(&["--batch-size", "50", "--sleep-ms=3", "--walk", "expiry", "--dry-run"]);
        assert_eq!(a.params.get("batch_size").map(String::as_str), Some("50"));
        assert_eq!(a.params.get("sleep_ms").map(String::as_str), Some("3"));
        assert_eq!(a.params.get("walk").map(String::as_str), Some("expiry"));
        assert!(a.dry_run && !a.json);
    }

    #[test]
    fn parameters_without_a_flag_are_refused() {
        assert!(super::super::Cli::try_parse_from(["tokenflush", "flush", "--interval", "5"]).is_err());
    }

    #[test]
    fn a_failed_flush_has_the_status_of_its_error() {
        let denied = FlushResult::NotStarted(db::DbError::AccessDenied("user 'ks'".into()));
        assert_eq!(summarize(&denied, true).status, OcfStatus::ErrPerm);
        let down = FlushResult::NotStarted(db::DbError::Unreachable("refused".into()));
        assert_eq!(summarize(&down, true).status, OcfStatus::ErrGeneric);
        let schema = FlushResult::NotStarted(db::DbError::Schema("no table".into()));
        assert_eq!(summarize(&schema, true).status, OcfStatus::ErrConfigured);
    }
}
