//! tokenflush: a Pacemaker OCF resource agent, and a one-shot command, that deletes expired rows
//! from Keystone's SQL `token` table in small committed chunks.
//!
//! `main` decides between the OCF path (the first argument is an OCF action; everything after it
//! is ignored, as the OCF API requires) and the human CLI, and is the only place that turns a
//! result into an exit status.

use std::process::ExitCode;

use tokenflush::actions::{self, Action, Ctx, USAGE};
use tokenflush::config::{self, RawParams};
use tokenflush::flush::Stop;
use tokenflush::ocf::{OcfEnv, OcfStatus, Outcome};
use tokenflush::{cli, log, params, Async};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let env = OcfEnv::from_process();
    let first = args.get(1).map(|a| a.to_string_lossy().into_owned());
    // The OCF path reports failures as Pacemaker expects; the human CLI as a plain error line.
    let mut reason_prefix = env.exit_reason_prefix.clone();
    let outcome = match first.as_deref() {
        None => {
            eprintln!("{USAGE}");
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
                eprintln!("{USAGE}");
                Outcome::status(OcfStatus::ErrUnimplemented)
            }
        },
    };
    if let Some(reason) = &outcome.reason {
        let line: String = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        eprintln!("{reason_prefix}{line}");
    }
    ExitCode::from(outcome.status.code())
}

fn init_log(env: &OcfEnv, stderr_min: log::Level) {
    let facility = env
        .params
        .get("log_facility")
        .and_then(|f| config::parse_facility(f))
        .or_else(|| env.log_facility.as_deref().and_then(config::parse_facility))
        .unwrap_or(syslog::Facility::LOG_DAEMON);
    log::init(&env.instance, facility, stderr_min);
}

fn run_action(action: Action, env: &OcfEnv) -> Outcome {
    match action {
        Action::MetaData => {
            print!("{}", params::metadata_xml());
            return Outcome::ok();
        }
        Action::Usage => {
            println!("{USAGE}");
            return Outcome::ok();
        }
        Action::Unimplemented => return Outcome::status(OcfStatus::ErrUnimplemented),
        _ => {}
    }
    init_log(env, log::Level::Info);
    let raw = RawParams::new(env.params.clone());
    let ctx = Ctx { env, raw: &raw, stop: Stop::new() };
    let rt = Async::new(&ctx.stop);
    let outcome = match action {
        Action::Start => actions::start(&ctx),
        Action::ValidateAll => actions::validate(&ctx, &rt),
        Action::Monitor => actions::monitor(&ctx, &rt),
        _ => actions::stop(&ctx),
    };
    rt.shutdown();
    outcome
}
