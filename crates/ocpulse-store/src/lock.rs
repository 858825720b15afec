//! The data directory's lock: one process at a time serves from (or restores into) a data
//! directory. Two servers on one SQLite file would both take station messages and their
//! states, trigger records and transaction ids would silently diverge.
//!
//! The lock is an OS advisory lock (`flock` on Unix, through `std::fs::File::try_lock`) on
//! `DATA_DIR/ocpulse.lock`: the kernel releases it when the process ends however it ends,
//! `kill -9` included, so a restart after a crash is never refused. The file itself stays;
//! it names the holder (command, pid, start time) for whoever is refused next. Commands
//! that work beside a running server (`ocpulse token`, `ocpulse backup`) never take it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "ocpulse.lock";

/// Why the data directory could not be locked.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it; `holder` is what that process wrote in the lock file.
    InUse {
        /// The data directory.
        dir: PathBuf,
        /// The holder as it described itself (`ocpulse serve (pid 1234, started ...)`).
        holder: String,
    },
    /// The directory or the lock file could not be made, opened or locked.
    Io {
        /// What failed.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InUse { dir, holder } => write!(
                f,
                "the data directory {} is in use by {holder}, which holds the lock {}; stop it first, or use another --data-dir",
                dir.display(),
                dir.join(LOCK_FILE).display()
            ),
            Self::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for LockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InUse { .. } => None,
            Self::Io { source, .. } => Some(source),
        }
    }
}

/// The exclusive right to a data directory, held until dropped (or the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    /// Open for as long as the lock is held: closing it releases the lock.
    _file: File,
}

impl DataDirLock {
    /// Locks `data_dir` (creating it if needed) for `command` (`"ocpulse serve"`), or says
    /// who holds it. Never waits: a second server must refuse at once, not queue.
    pub fn acquire(data_dir: &Path, command: &str) -> Result<Self, LockError> {
        let io = |what: String| move |source| LockError::Io { what, source };
        std::fs::create_dir_all(data_dir)
            .map_err(io(format!("cannot create {}", data_dir.display())))?;
        let path = data_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(format!("cannot open the lock file {}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // Empty when the holder has not written itself yet (it locks first).
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::InUse {
                    dir: data_dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "another process".into()
                    } else {
                        holder.into()
                    },
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(io(format!("cannot lock {}", path.display()))(e));
            }
        }
        let started = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default();
        let me = format!(
            "{command} (pid {}, started {started})\n",
            std::process::id()
        );
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(me.as_bytes()))
            .map_err(io(format!("cannot write the lock file {}", path.display())))?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DataDirLock::acquire(dir.path(), "ocpulse serve").expect("free");
        let refused = DataDirLock::acquire(dir.path(), "ocpulse restore").expect_err("held");
        let message = refused.to_string();
        assert!(
            message.contains(&format!(
                "ocpulse serve (pid {}, started ",
                std::process::id()
            )),
            "{message}"
        );
        assert!(message.contains(LOCK_FILE), "{message}");
        drop(first);
        DataDirLock::acquire(dir.path(), "ocpulse restore").expect("released on drop");
    }
}
