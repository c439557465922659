//! The human commands: `tokenflush flush` (like `keystone-manage token_flush`, but chunked) and
//! `tokenflush status`. clap parses them; the OCF actions never go through clap, whose own exit
//! codes (2 for usage errors) would collide with OCF's.
//!
//! The `flush` command's flags are generated from the parameter table ([`crate::params`]) and
//! turned back into the same raw parameters Pacemaker would pass, so both paths accept and reject
//! exactly the same values.

pub mod flush;

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand};

use crate::ocf::{OcfEnv, OcfStatus, Outcome};
use crate::shutdown::Stop;

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
    Flush(flush::FlushArgs),
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
        Cmd::Flush(a) => flush::run(&a, env, stop),
        Cmd::Status(a) => crate::status::run(a.instance.as_deref(), a.state_dir.as_deref(), a.json, env),
    }
}
