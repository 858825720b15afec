//! Storage backends for ocpulse, each an implementation of `ocpulse_core::Store`: SQLite
//! under `--data-dir` (the embedded default) and memory (for tests). Every one passes the
//! same contract suite (`contract`).

mod backup;
#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod deferred;
mod integrity;
mod lock;
mod memory;
mod migrations;
mod sqlite;

pub use backup::{BackupReport, Counters, RestoreReport, backup, restore};
pub use lock::{DataDirLock, LOCK_FILE, LockError};
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// The reason given to a trigger that was still running when the store was last closed:
/// opening the store again marks it `Interrupted`, because it will never finish.
pub const INTERRUPTED_DETAIL: &str = "ocpulse stopped while the trigger ran";
