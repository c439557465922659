//! tokenflush: a Pacemaker OCF resource agent, and a one-shot command, that deletes expired rows
//! from Keystone's SQL `token` table in small committed chunks.
//!
//! `main` decides between the OCF path (the first argument is an OCF action; everything after it
//! is ignored, as the OCF API requires) and the human CLI, and is the only place that turns a
//! result into an exit status.

use std::process::ExitCode;

use tokenflush::action::{self, Action};
use tokenflush::agent::{self, Ctx};
use tokenflush::config;
use tokenflush::ocf::{OcfEnv, OcfStatus, Outcome};
use tokenflush::params::{self, RawParams};
use tokenflush::shutdown::{Async, Stop};
use tokenflush::text::one_line;
use tokenflush::{cli, log, metadata};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let env = OcfEnv::from_process();
    let first = args.get(1).map(|a| a.to_string_lossy().into_owned());
    // The OCF path reports failures as Pacemaker expects; the human CLI as a plain error line.
    let mut reason_prefix = env.exit_reason_prefix.clone();
    let outcome = match first.as_deref() {
        None => {
            eprintln!("{}", action::usage());
            Outcome::status(OcfStatus::ErrArgs)
        }
        Some(word) => match Action::parse(word) {
            Some(action) => run_action(action, &env),
            None if word == "flush" || word == "status" || word.starts_with('-') => {
                init_log(&env, log::Level::Warning);
                reason_prefix = "tokenflush: error: ".into();
                cli::run(args, &env, Stop::new())
            }
            None => {
                eprintln!("{}", action::usage());
                Outcome::status(OcfStatus::ErrUnimplemented)
            }
        },
    };
    if let Some(reason) = &outcome.reason {
        eprintln!("{reason_prefix}{}", one_line(reason));
    }
    ExitCode::from(outcome.status.code())
}

fn init_log(env: &OcfEnv, stderr_min: log::Level) {
    let raw = RawParams::new(env.params.clone());
    let facility = raw
        .get(&params::LOG_FACILITY)
        .and_then(config::parse_facility)
        .or_else(|| env.log_facility.as_deref().and_then(config::parse_facility))
        .unwrap_or(syslog::Facility::LOG_DAEMON);
    log::init(&env.instance, facility, stderr_min);
}

fn run_action(action: Action, env: &OcfEnv) -> Outcome {
    let with_agent = |f: &dyn Fn(&Ctx, &Async) -> Outcome| {
        init_log(env, log::Level::Info);
        let raw = RawParams::new(env.params.clone());
        let ctx = Ctx { env, raw: &raw, stop: Stop::new() };
        let rt = Async::new(&ctx.stop);
        let outcome = f(&ctx, &rt);
        rt.shutdown();
        outcome
    };
    match action {
        Action::MetaData => {
            print!("{}", metadata::metadata_xml());
            Outcome::ok()
        }
        Action::Usage => {
            println!("{}", action::usage());
            Outcome::ok()
        }
        Action::Unimplemented => Outcome::status(OcfStatus::ErrUnimplemented),
        Action::Start => with_agent(&|ctx, _| agent::start(ctx)),
        Action::Stop => with_agent(&|ctx, _| agent::stop(ctx)),
        Action::Monitor => with_agent(&|ctx, rt| agent::monitor(ctx, rt)),
        Action::ValidateAll => with_agent(&|ctx, rt| agent::validate(ctx, rt)),
    }
}
