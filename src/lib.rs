//! tokenflush as a library: everything but the process entry point.
//!
//! The binary (`src/main.rs`) only decides between the OCF path and the human CLI and maps the
//! result to an exit status. Keeping the rest here lets the integration tests and the fuzzers
//! reach the parsers directly.
//!
//! | module | its one job |
//! |---|---|
//! | [`ocf`] | exit codes, Pacemaker's environment, the outcome of an action |
//! | [`params`] | the parameter table and the meta-data rendered from it |
//! | [`rule`] | the `target` presets and the expiry predicate |
//! | [`config`] | raw parameters to one validated, typed `Config` |
//! | [`dburl`] | SQLAlchemy-style database URLs, and the redacting `Secret` |
//! | [`keystone_conf`] | `[database] connection` from keystone.conf and keystone.conf.d |
//! | [`state`] | the per-instance state file, written atomically |
//! | [`status`] | `tokenflush status`: the state files, for people and scripts |
//! | [`metrics`] | the Prometheus textfile written after every flush |
//! | [`attrd`] | transient node attributes through attrd_updater |
//! | [`db`] | connecting with timeouts, session settings, error classes |
//! | [`table`] | what the table looks like, from information_schema |
//! | [`flush`] | the chunked purge |
//! | [`actions`] | the OCF actions |
//! | [`cli`] | the human commands |
//! | [`log`] | ocf_log-style logging to stderr and syslog |

pub mod actions;
pub mod attrd;
pub mod cli;
pub mod config;
pub mod db;
pub mod dburl;
pub mod flush;
pub mod keystone_conf;
pub mod log;
pub mod metrics;
pub mod ocf;
pub mod params;
pub mod rule;
pub mod state;
pub mod status;
pub mod table;

use flush::Stop;
use ocf::{OcfStatus, Outcome};

/// The async runtime, built on first use. Most monitors only read the state file (a probe, or no
/// flush due) and this binary is forked every few seconds, so they must not pay for a runtime
/// and signal handlers they never use. With the runtime comes the SIGTERM/SIGINT watch that sets
/// `stop`.
pub struct Async {
    rt: std::cell::OnceCell<tokio::runtime::Runtime>,
    stop: Stop,
}

impl Async {
    pub fn new(stop: &Stop) -> Async {
        Async { rt: std::cell::OnceCell::new(), stop: stop.clone() }
    }

    /// Runs `fut` to completion, building the runtime first if need be.
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> Result<F::Output, Outcome> {
        if self.rt.get().is_none() {
            let rt = runtime()?;
            spawn_signal_watch(&rt, &self.stop);
            let _ = self.rt.set(rt);
        }
        match self.rt.get() {
            Some(rt) => Ok(rt.block_on(fut)),
            None => Err(Outcome::fail(OcfStatus::ErrGeneric, "the async runtime is not available")),
        }
    }

    /// Ends the runtime, if one was built, without waiting on a hung server's socket.
    pub fn shutdown(self) {
        if let Some(rt) = self.rt.into_inner() {
            rt.shutdown_timeout(std::time::Duration::from_millis(100));
        }
    }
}

/// A single-threaded runtime: the agent does one thing at a time and lives for a second.
fn runtime() -> Result<tokio::runtime::Runtime, Outcome> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Outcome::fail(OcfStatus::ErrGeneric, format!("cannot start the async runtime: {e}")))
}

/// SIGTERM or SIGINT asks the flush to stop at the next chunk boundary.
fn spawn_signal_watch(rt: &tokio::runtime::Runtime, stop: &Stop) {
    use tokio::signal::unix::{signal, SignalKind};
    let stop = stop.clone();
    rt.spawn(async move {
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        warn!("signal received; stopping at the next chunk boundary");
        stop.request();
    });
}
