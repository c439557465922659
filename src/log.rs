//! Logging in the style of resource-agents' `ocf_log`.
//!
//! Every message goes to stderr, one line each, tagged `tokenflush(<instance>)[<pid>]`: Pacemaker
//! records an agent's stderr in its own log, and machines without a syslog daemon would otherwise
//! lose every diagnostic. When a syslog socket exists (`/dev/log`, or `TOKENFLUSH_SYSLOG_SOCKET`
//! for a test or a chroot), the message also goes there with the configured facility. The logger
//! is process-wide because the process does one thing and then exits; it is set up once in `main`.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use syslog::{Formatter3164, Logger, LoggerBackend};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        }
    }
}

struct Sink {
    tag: String,
    stderr_min: Level,
    syslog: Option<Mutex<Logger<LoggerBackend, Formatter3164>>>,
    /// Set after a send to syslog failed or timed out: the rest go to stderr only.
    syslog_failed: AtomicBool,
}

/// The longest one message may wait for the syslog socket. A syslog daemon that stopped reading
/// (a hung journald) fills the socket's queue, and a blocking send would then hang the agent
/// until Pacemaker kills the operation.
const SYSLOG_SEND_TIMEOUT: Duration = Duration::from_millis(100);

fn bound_sends(backend: &LoggerBackend) {
    let _ = match backend {
        LoggerBackend::Unix(s) => s.set_write_timeout(Some(SYSLOG_SEND_TIMEOUT)),
        LoggerBackend::UnixStream(w) => w.get_ref().set_write_timeout(Some(SYSLOG_SEND_TIMEOUT)),
        _ => Ok(()),
    };
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Sets up the process-wide logger. Later calls are ignored.
pub fn init(instance: &str, facility: syslog::Facility, stderr_min: Level) {
    let tag = format!("tokenflush({instance})");
    let socket = std::env::var_os("TOKENFLUSH_SYSLOG_SOCKET").map(PathBuf::from).unwrap_or_else(|| "/dev/log".into());
    let syslog = socket.exists().then(|| {
        let formatter = Formatter3164 { facility, hostname: None, process: tag.clone(), pid: std::process::id() };
        syslog::unix_custom(formatter, &socket).ok().map(|l| {
            bound_sends(&l.backend);
            Mutex::new(l)
        })
    });
    let _ = SINK.set(Sink { tag, stderr_min, syslog: syslog.flatten(), syslog_failed: AtomicBool::new(false) });
}

pub fn log(level: Level, args: fmt::Arguments<'_>) {
    let Some(sink) = SINK.get() else {
        let _ = writeln!(std::io::stderr(), "tokenflush: {}: {args}", level.label());
        return;
    };
    let msg = args.to_string();
    if level >= sink.stderr_min {
        let _ = writeln!(std::io::stderr().lock(), "{}[{}]: {}: {msg}", sink.tag, std::process::id(), level.label());
    }
    if let Some(logger) = sink.syslog.as_ref().filter(|_| !sink.syslog_failed.load(Ordering::Relaxed)) {
        if let Ok(mut l) = logger.lock() {
            let sent = match level {
                Level::Info => l.info(&msg),
                Level::Warning => l.warning(&msg),
                Level::Error => l.err(&msg),
            };
            if sent.is_err() {
                sink.syslog_failed.store(true, Ordering::Relaxed);
            }
        }
    }
}

#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Info, format_args!($($t)*)) };
}
#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Warning, format_args!($($t)*)) };
}
#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Error, format_args!($($t)*)) };
}
