//! Storage backends for ocpulse, each an implementation of `ocpulse_core::Store`: SQLite
//! under `--data-dir` (the embedded default), PostgreSQL (`--database-url`, feature
//! `postgres`) and memory (for tests). Every one passes the same contract suite
//! (`contract`).

mod backup;
#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod integrity;
mod lock;
mod memory;
mod migrations;
#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;

pub use backup::{BackupReport, Counters, RestoreReport, backup, restore};
pub use lock::{DataDirLock, LOCK_FILE, LockError};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// The reason given to a trigger that was still running when the store was last closed:
/// opening the store again marks it `Interrupted`, because it will never finish.
pub const INTERRUPTED_DETAIL: &str = "ocpulse stopped while the trigger ran";

/// The frame type of a stored entry as the journal's `&'static str`; anything unknown
/// reads as `MALFORMED` (every backend stores it as text).
pub(crate) fn stored_frame_type(stored: &str) -> &'static str {
    use ocpulse_core::journal::{EVENT, MALFORMED};
    match stored {
        "CALL" => "CALL",
        "CALLRESULT" => "CALLRESULT",
        "CALLERROR" => "CALLERROR",
        EVENT => EVENT,
        _ => MALFORMED,
    }
}

/// A stored station snapshot read back; an unreadable one is logged and rebuilt from the
/// journal (it starts at `seq` 0).
pub(crate) fn stored_station(
    id: String,
    seq: i64,
    state: &str,
) -> ocpulse_core::projection::Folded {
    ocpulse_core::store::StoredStation::read(seq, state).unwrap_or_else(|error| {
        tracing::warn!(station = %id, %error, "stored station snapshot unreadable; rebuilding it from the journal");
        ocpulse_core::projection::Folded::fresh(id)
    })
}
