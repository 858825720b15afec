//! Storage backends for ocpulse. SQLite under `--data-dir` is the embedded default; the
//! `Store` trait in `ocpulse-core` is the seam for a PostgreSQL backend.

mod deferred;
mod sqlite;

pub use sqlite::SqliteStore;
