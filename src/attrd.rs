//! Transient node attributes through `attrd_updater`, so that `crm_mon -A` shows the backlog and
//! the last successful flush next to the node running the resource.
//!
//! The attributes are `<instance>-backlog` (estimated expired rows left) and
//! `<instance>-last-success` (Unix time). They are transient: Pacemaker forgets them when the
//! node leaves the cluster, and `stop` deletes them. Publishing is best effort: a missing or
//! hung `attrd_updater` is logged and never changes an action's result.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::warn;

/// The longest one attrd_updater call may take before it is killed.
const TIMEOUT: Duration = Duration::from_secs(5);

pub fn names(instance: &str) -> [String; 2] {
    [format!("{instance}-backlog"), format!("{instance}-last-success")]
}

/// Sets the attributes that are known.
pub fn publish(instance: &str, backlog: Option<u64>, last_success: Option<u64>) {
    let [b, s] = names(instance);
    for (name, value) in [(b, backlog), (s, last_success)] {
        if let Some(v) = value {
            run(&["-n", &name, "-U", &v.to_string()]);
        }
    }
}

/// Deletes both attributes (stop).
pub fn clear(instance: &str) {
    for name in names(instance) {
        run(&["-n", &name, "-D"]);
    }
}

fn run(args: &[&str]) {
    let child = Command::new("attrd_updater")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            warn!("node_attributes: cannot run attrd_updater: {e}");
            return;
        }
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return,
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                let err = crate::text::one_line(&err);
                warn!("node_attributes: attrd_updater {} failed ({status}): {err}", args.join(" "));
                return;
            }
            Ok(None) if started.elapsed() < TIMEOUT => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                warn!("node_attributes: attrd_updater {} did not answer within {TIMEOUT:?}", args.join(" "));
                return;
            }
        }
    }
}
