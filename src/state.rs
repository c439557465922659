//! The per-instance state file: the whole of the "pseudo resource".
//!
//! There is no daemon. `start` creates the state file, `stop` removes it, and `monitor` reads it
//! to decide whether the resource runs and whether a flush is due, then records the flush's
//! result in it. Pacemaker kills a timed-out operation with SIGKILL, so every write is atomic
//! (temporary file, fsync, rename, fsync of the directory): a reader sees the old state or the new
//! one, never half of either. A file that is unreadable anyway (edited by hand, a disk fault) is
//! reported by [`read`] as corrupt, and the monitor rebuilds it rather than failing.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::ocf::OcfEnv;

pub const STATE_VERSION: u32 = 1;

/// Where the state file lives, and whether the agent may create the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateDir {
    pub path: PathBuf,
    /// The default ($HA_RSCTMP) is created when missing; a configured directory must already exist.
    pub is_default: bool,
}

impl StateDir {
    /// This instance's state file in the directory.
    pub fn state_file(&self, env: &OcfEnv) -> PathBuf {
        self.path.join(format!("tokenflush-{}.state", env.instance_file_stem()))
    }
}

/// What one flush did, as recorded for `status` and the next monitor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlushRecord {
    /// Unix time the flush ended (node clock; used only for scheduling and display).
    pub at: u64,
    pub rows: u64,
    pub chunks: u64,
    pub seconds: f64,
    /// The backlog was emptied (false: the time budget ran out, or another flusher held the lock).
    pub complete: bool,
    /// Another flusher held the named lock, so this one did nothing.
    #[serde(default)]
    pub skipped: bool,
}

/// The state of one instance. Unknown fields are ignored and missing ones default, so an older
/// or newer agent can read the file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub version: u32,
    pub instance: String,
    pub started_at: u64,
    /// When the last flush attempt ended, successful or not.
    pub last_attempt_at: Option<u64>,
    /// When the last flush that emptied the backlog ended: the interval counts from here.
    pub last_complete_at: Option<u64>,
    /// The last flush stopped early at its time budget: the next monitor continues at once.
    pub pending: bool,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_flush: Option<FlushRecord>,
    pub last_success_at: Option<u64>,
    pub rows_deleted_total: u64,
    pub failures_total: u64,
    pub backlog_estimate: Option<u64>,
    /// The first table of a several-table target that the last flush did not finish.
    pub next_table: Option<String>,
}

impl State {
    pub fn new(instance: &str, now: u64) -> State {
        State { version: STATE_VERSION, instance: instance.to_string(), started_at: now, ..State::default() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state_dir {0} does not exist")]
    DirMissing(PathBuf),
    #[error("state_dir {0} is not a directory")]
    NotADir(PathBuf),
    #[error("cannot write the state file in {0}: permission denied or read-only file system")]
    Denied(PathBuf),
    #[error("cannot write the state file in {0}: no space left on device")]
    Full(PathBuf),
    #[error("state file {0}: {1}")]
    Io(PathBuf, io::Error),
    #[error("state file {0} is corrupt")]
    Corrupt(PathBuf),
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Makes sure the state directory exists: the default one is created (mode 0755, as
/// resource-agents' tmpfiles setup would), a configured one must already be there.
pub fn ensure_dir(dir: &StateDir) -> Result<(), StateError> {
    match fs::metadata(&dir.path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(StateError::NotADir(dir.path.clone())),
        Err(e) if e.kind() == io::ErrorKind::NotFound && dir.is_default => {
            fs::DirBuilder::new().recursive(true).mode(0o755).create(&dir.path).map_err(|e| write_error(&dir.path, e))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StateError::DirMissing(dir.path.clone())),
        Err(e) => Err(StateError::Io(dir.path.clone(), e)),
    }
}

/// Whether the state file exists: the resource's running state. Nothing else is read.
pub fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Reads the state. `Ok(None)` when there is no state file (the resource is stopped).
pub fn read(path: &Path) -> Result<Option<State>, StateError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|_| StateError::Corrupt(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StateError::Io(path.to_path_buf(), e)),
    }
}

/// Replaces the state file atomically, mode 0600.
pub fn write(path: &Path, state: &State) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut json =
        serde_json::to_vec_pretty(state).map_err(|e| StateError::Io(path.to_path_buf(), io::Error::other(e)))?;
    json.push(b'\n');
    write_atomic(path, &json, 0o600).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StateError::DirMissing(dir.to_path_buf()),
        _ => write_error(dir, e),
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    remove_stale_temps(path);
    result
}

/// Removes temporary files of `path` left by a writer that was killed between creating and
/// renaming one (Pacemaker SIGKILLs a timed-out operation). Only files older than a minute are
/// touched, so a concurrent writer's file in progress is never pulled away from under it.
fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let ours = file
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".tmp"))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() >= 60);
        if ours && old {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Removes the state file; a missing file is fine (stop is idempotent).
pub fn remove(path: &Path) -> Result<(), StateError> {
    remove_stale_temps(path);
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(write_error(path.parent().unwrap_or(path), e)),
    }
}

fn write_error(dir: &Path, e: io::Error) -> StateError {
    match e.raw_os_error() {
        Some(libc_code)
            if libc_code == nix::errno::Errno::ENOSPC as i32 || libc_code == nix::errno::Errno::EDQUOT as i32 =>
        {
            StateError::Full(dir.to_path_buf())
        }
        Some(c)
            if c == nix::errno::Errno::EACCES as i32
                || c == nix::errno::Errno::EROFS as i32
                || c == nix::errno::Errno::EPERM as i32 =>
        {
            StateError::Denied(dir.to_path_buf())
        }
        _ => StateError::Io(dir.to_path_buf(), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_state_reads_back_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.state");
        let mut s = State::new("p", 5);
        s.rows_deleted_total = 42;
        write(&path, &s).unwrap();
        assert_eq!(read(&path).unwrap(), Some(s));
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_corrupt_file_is_reported_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.state");
        fs::write(&path, b"{\"version\": 1, \"rows_dele").unwrap();
        assert!(matches!(read(&path), Err(StateError::Corrupt(_))));
    }

    #[test]
    fn temporary_files_of_a_killed_writer_are_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.state");
        let stale = dir.path().join(".s.state.4242.tmp");
        let fresh = dir.path().join(".s.state.4343.tmp");
        let foreign = dir.path().join(".other.state.4242.tmp");
        for f in [&stale, &fresh, &foreign] {
            fs::write(f, b"{").unwrap();
        }
        let hour_ago = SystemTime::now() - std::time::Duration::from_secs(3600);
        for f in [&stale, &foreign] {
            File::options().write(true).open(f).unwrap().set_modified(hour_ago).unwrap();
        }
        write(&path, &State::new("p", 1)).unwrap();
        assert!(!stale.exists(), "a stale temp file of this state file is removed");
        assert!(fresh.exists(), "a recent one may belong to a writer in progress");
        assert!(foreign.exists(), "other files are left alone");
    }

    #[test]
    fn missing_state_means_stopped() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(&dir.path().join("none")).unwrap(), None);
        remove(&dir.path().join("none")).unwrap();
    }
}
