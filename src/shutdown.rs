//! Cancellation: the stop token a signal sets, the grace a flush gets to reach a chunk boundary
//! after it, and the async runtime that watches for the signals.
//!
//! Like mini-redis's `shutdown.rs`, the stop request is a small type of its own, passed down to
//! whatever may have to stop early: the engine checks it between chunks and stops its lock-wait
//! retries when it is set.

use std::cell::OnceCell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::ocf::{OcfStatus, Outcome};

/// Set by a signal handler; the engine stops at the next chunk boundary.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<StopInner>);

#[derive(Debug, Default)]
struct StopInner {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    pub fn request(&self) {
        self.0.flag.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn requested(&self) -> bool {
        self.0.flag.load(Ordering::SeqCst)
    }

    /// Resolves once a stop is requested.
    pub async fn wait(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.requested() {
                return;
            }
            notified.await;
        }
    }
}

/// How long a flush may still take after a stop request before it is abandoned.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Runs `fut` to completion unless a stop is requested; then it gets `grace` more to reach its
/// chunk boundary and is dropped after that (`None`). Dropping it closes the connection: the
/// statement in flight, one chunk in one autocommit transaction, commits or rolls back whole on
/// the server, so nothing is left half-done.
pub async fn unless_stopped<F: Future>(stop: &Stop, grace: Duration, fut: F) -> Option<F::Output> {
    tokio::pin!(fut);
    tokio::select! {
        r = &mut fut => return Some(r),
        _ = stop.wait() => {}
    }
    tokio::time::timeout(grace, fut).await.ok()
}

/// The async runtime, built on first use. Most monitors only read the state file (a probe, or no
/// flush due) and this binary is forked every few seconds, so they must not pay for a runtime
/// and signal handlers they never use. With the runtime comes the SIGTERM/SIGINT watch that sets
/// `stop`.
pub struct Async {
    rt: OnceCell<tokio::runtime::Runtime>,
    stop: Stop,
}

impl Async {
    pub fn new(stop: &Stop) -> Async {
        Async { rt: OnceCell::new(), stop: stop.clone() }
    }

    /// Runs `fut` to completion, building the runtime first if need be.
    pub fn block_on<F: Future>(&self, fut: F) -> Result<F::Output, Outcome> {
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
            rt.shutdown_timeout(Duration::from_millis(100));
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
        crate::warn!("signal received; stopping at the next chunk boundary");
        stop.request();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_request_gives_the_work_its_grace_then_abandons_it() {
        let stop = Stop::new();
        let rt = Async::new(&stop);
        stop.request();
        let quick = rt.block_on(unless_stopped(&stop, Duration::from_millis(200), async { 7 })).unwrap();
        assert_eq!(quick, Some(7), "work that ends within the grace keeps its result");
        let hung = rt.block_on(unless_stopped(&stop, Duration::from_millis(50), std::future::pending::<()>()));
        assert_eq!(hung.unwrap(), None, "work that outlives the grace is dropped");
        rt.shutdown();
    }
}
