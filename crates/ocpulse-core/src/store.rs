//! The storage port. The session commits a station's CALL (and the state it changed)
//! before acknowledging it; backends batch concurrent commits into one transaction
//! (group commit) so the durability rule costs little throughput.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::Millis;
use crate::journal::{JournalEntry, JournalQuery, JournalScan};
use crate::projection::Folded;
use crate::retention::{JournalPrune, JournalStats};
use crate::state::StationState;
use crate::trigger_record::{TriggerQuery, TriggerRecord};

/// A boxed, sendable future, so `Store` stays object-safe.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why storage failed, by kind, so a caller can tell a full disk from a closed store or a
/// value that cannot be written. Cloned because one group commit fails every batch in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement (disk full, I/O error, corrupt file).
    #[error("storage error: {0}")]
    Database(String),
    /// A value could not be turned into JSON to be written, or read back from it.
    #[error("storage error: {0}")]
    Serialization(String),
    /// The store no longer takes work: its writer has stopped (shutting down, or crashed).
    #[error("storage error: the journal writer has stopped")]
    Closed,
    /// The store could not be opened (its directory could not be made, a thread not started).
    #[error("storage error: {0}")]
    Setup(String),
    /// A read was cut short before it could answer (its task panicked or was cancelled).
    #[error("storage error: {0}")]
    Interrupted(String),
}

impl StoreError {
    /// What went wrong without the `storage error:` prefix, for messages that name the
    /// store themselves.
    pub fn detail(&self) -> &str {
        match self {
            Self::Database(d) | Self::Serialization(d) | Self::Setup(d) | Self::Interrupted(d) => d,
            Self::Closed => "the journal writer has stopped",
        }
    }
}

/// A station's live state, shared by its session and the API. The store never writes it:
/// it keeps snapshots folded from the journal (`crate::projection`).
pub type SharedStation = Arc<Mutex<StationState>>;

/// A station's snapshot as stored: its id, the last journal `seq` it reflects, its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStation {
    /// The station.
    pub id: String,
    /// Every entry of the station up to this `seq` is folded in.
    pub seq: i64,
    /// The `StationState` as JSON.
    pub state: String,
}

impl StoredStation {
    /// Serializes a folded state for storage.
    pub fn of(folded: &Folded) -> Result<Self, StoreError> {
        Ok(Self {
            id: folded.state.id.clone(),
            seq: folded.seq,
            state: serde_json::to_string(&folded.state)
                .map_err(|e| StoreError::Serialization(e.to_string()))?,
        })
    }

    /// Reads a stored row back. A state that no longer reads (a damaged row) is an
    /// error the backend reports before starting that station afresh from `seq` 0
    /// ([`Folded::fresh`]), so replay rebuilds what the journal still holds of it.
    pub fn read(seq: i64, state: &str) -> Result<Folded, String> {
        serde_json::from_str::<StationState>(state)
            .map(|state| Folded { seq, state })
            .map_err(|e| e.to_string())
    }
}

/// Snapshots a background round writes (never per message).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnapshotWrite {
    /// Station states to insert or replace.
    pub stations: Vec<StoredStation>,
    /// Set by a round's last batch: every station's entries up to this `seq` are folded
    /// into its stored snapshot, so start-up replays only what comes after.
    pub through: Option<i64>,
}

/// What start-up folds the journal's tail into.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Every entry up to this `seq` is reflected in `stations` (0: replay everything).
    pub through: i64,
    /// Every stored station snapshot.
    pub stations: Vec<Folded>,
}

/// Writes that must become durable together.
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    /// Journal entries to append, in order.
    pub entries: Vec<JournalEntry>,
    /// Trigger records to insert or replace (by id). Shared with the server's in-memory
    /// copy of the same record (the final record of a trigger is read from memory until the
    /// store has it), so it is built once and never deep-copied for either.
    pub triggers: Vec<Arc<TriggerRecord>>,
    /// Fleet-operation documents to insert, replace or delete (by kind and id).
    pub docs: Vec<Doc>,
    /// A 1.6 transaction id this batch's answer hands out. The store keeps the highest it
    /// has committed (`Store::last_transaction_id`), so an id a station saw acknowledged is
    /// never handed out again, even after a crash.
    pub transaction_id: Option<i64>,
    /// Journal entries to delete (retention), in the same transaction as the rest.
    pub prune: Vec<JournalPrune>,
    /// Station snapshots (written by the background snapshot round only).
    pub snapshot: Option<SnapshotWrite>,
}

/// A fleet-operation document (a trigger job, a schedule, an alert rule, an alert, a
/// webhook, a delivery): JSON kept by kind and id. These are few, read whole and changed
/// rarely next to the journal, so one keyed table serves them all and they share the
/// journal's writer, transactions and durability instead of needing their own.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// What it is (`"job"`, `"schedule"`, ...): the features' own namespace.
    pub kind: &'static str,
    /// Its id within the kind; listing orders by it, so time-ordered ids list by age.
    pub id: String,
    /// What to do with it.
    pub change: DocChange,
}

/// What a document write does, said explicitly so that no value (an empty body, a failed
/// serialization) can turn a write into a deletion by accident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocChange {
    /// Insert or replace it with this JSON text.
    Put(String),
    /// Delete it (nothing happens if there is none).
    Delete,
}

impl Doc {
    /// A document to insert or replace, serialized now (so later changes to `value` are
    /// not written by accident). A value that cannot be serialized is an error the caller
    /// must handle, never a deletion.
    pub fn put<T: serde::Serialize>(
        kind: &'static str,
        id: impl Into<String>,
        value: &T,
    ) -> Result<Self, StoreError> {
        let id = id.into();
        let body = serde_json::to_string(value).map_err(|e| {
            StoreError::Serialization(format!("cannot serialize {kind} {id:?}: {e}"))
        })?;
        Ok(Self {
            kind,
            id,
            change: DocChange::Put(body),
        })
    }

    /// A deletion.
    pub fn delete(kind: &'static str, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
            change: DocChange::Delete,
        }
    }
}

/// Where journal and station state live.
pub trait Store: Send + Sync + 'static {
    /// Queues `batch` at once (so dropping the future does not cancel the write) and
    /// resolves when it is durably committed.
    fn commit(&self, batch: WriteBatch) -> BoxFuture<Result<(), StoreError>>;

    /// Journals entries without waiting (frames whose loss would break no promise, such as
    /// CSMS CALLs and answers to them). They are written in order with everything else, and
    /// a backend may hold them briefly to share a transaction with the next commit.
    fn record(&self, entries: Vec<JournalEntry>) {
        self.enqueue(WriteBatch {
            entries,
            ..WriteBatch::default()
        });
    }

    /// Queues any batch without waiting, like `record`: for writes that no answer to a
    /// station depends on (trigger records and events). Never forces a commit of its own.
    fn enqueue(&self, batch: WriteBatch) {
        drop(self.commit(batch));
    }

    /// Commits fleet-operation documents (durable when it resolves).
    fn save_docs(&self, docs: Vec<Doc>) -> BoxFuture<Result<(), StoreError>> {
        self.commit(WriteBatch {
            docs,
            ..WriteBatch::default()
        })
    }

    /// Reads one trigger record.
    fn trigger(&self, id: String) -> BoxFuture<Result<Option<TriggerRecord>, StoreError>>;

    /// Lists trigger records, newest first, each with its position for paging.
    fn triggers(
        &self,
        query: TriggerQuery,
    ) -> BoxFuture<Result<Vec<(i64, TriggerRecord)>, StoreError>>;

    /// Reads journal entries, newest first.
    fn journal(&self, query: JournalQuery) -> BoxFuture<Result<Vec<JournalEntry>, StoreError>>;

    /// Reads one page of the journal oldest first (`JournalScan`): how exports and reports
    /// walk a large, filtered part of it without loading it whole.
    fn journal_scan(&self, scan: JournalScan) -> BoxFuture<Result<Vec<JournalEntry>, StoreError>>;

    /// Reads up to `limit` entries of every station with `seq > after_seq`, oldest first:
    /// how a live tail replays what a client missed (reconnecting, or lagging behind).
    fn journal_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<JournalEntry>, StoreError>>;

    /// The highest `seq` committed so far (0 for an empty journal). A tail that subscribes
    /// first and then reads this knows where "live" began, so if it lags before receiving
    /// anything it can still replay exactly what it missed.
    fn journal_head(&self) -> BoxFuture<Result<i64, StoreError>>;

    /// The highest `seq` of an entry older than `at` (0 if none), found by bisecting `seq`
    /// on the assumption that entries are committed in time order (they are, to within a
    /// group commit): where retention stops deleting. Bisection, not an index on time,
    /// because an index would cost every commit a page.
    fn journal_seq_before(&self, at: Millis) -> BoxFuture<Result<i64, StoreError>>;

    /// The journal's extent and the store's size on disk: what the storage report shows
    /// and where pruning starts.
    fn journal_stats(&self) -> BoxFuture<Result<JournalStats, StoreError>>;

    /// Drops whole periods of the journal where the backend stores them apart (PostgreSQL's
    /// day partitions): each that ends at or before `before`, holds no entry above
    /// `until_seq` and none of the `keep` actions. Dropping a table is how retention stays
    /// cheap on a large journal; what is left (a partly due day, the default partition) is
    /// deleted row by row. Returns how many entries went; a backend without such periods
    /// drops nothing.
    fn drop_partitions(
        &self,
        before: Millis,
        until_seq: i64,
        keep: Vec<String>,
    ) -> BoxFuture<Result<u64, StoreError>> {
        let _ = (before, until_seq, keep);
        Box::pin(std::future::ready(Ok(0)))
    }

    /// Every entry committed from now on, with its `seq`, in `seq` order, published only
    /// after its transaction is durable (so a client never sees an entry that could vanish).
    ///
    /// The channel is bounded: a receiver that falls behind gets `RecvError::Lagged` instead
    /// of slowing the writer (and so the stations); it recovers with `journal_after`.
    /// Entries committed before `subscribe` returns may or may not be delivered.
    fn subscribe(&self) -> broadcast::Receiver<Arc<JournalEntry>>;

    /// Every document of `kind` as last committed, `(id, json)` ordered by id.
    fn docs(&self, kind: &'static str) -> BoxFuture<Result<Vec<(String, String)>, StoreError>>;

    /// One document, so a large one (a finished job's results) can live in the store
    /// rather than in memory and still be read on demand. The default reads every
    /// document of the kind; backends read the one.
    fn doc(&self, kind: &'static str, id: String) -> BoxFuture<Result<Option<String>, StoreError>> {
        let all = self.docs(kind);
        Box::pin(async move {
            Ok(all
                .await?
                .into_iter()
                .find(|(doc_id, _)| *doc_id == id)
                .map(|(_, body)| body))
        })
    }

    /// The stored station snapshots and the `seq` they all reach; read once at start,
    /// before the journal's tail is folded into them.
    fn load_snapshot(&self) -> Result<Snapshot, StoreError>;

    /// The stored snapshots of these stations (those that have one): what a background
    /// round folds new entries into without holding every station in memory.
    fn station_snapshots(&self, ids: Vec<String>) -> BoxFuture<Result<Vec<Folded>, StoreError>>;

    /// The highest 1.6 transaction id any committed batch handed out (0 if none); read once
    /// at start to seed the in-memory counter, so ids never repeat across restarts.
    fn last_transaction_id(&self) -> Result<i64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_that_cannot_be_serialized_is_an_error_not_a_deletion() {
        // JSON object keys must be strings; a tuple key cannot be written.
        let unwritable: std::collections::BTreeMap<(i32, i32), i32> = [((1, 2), 3)].into();
        assert!(matches!(
            Doc::put("job", "j1", &unwritable),
            Err(StoreError::Serialization(_))
        ));
        let doc = Doc::put("job", "j1", &serde_json::json!({})).expect("serializable");
        assert_eq!(doc.change, DocChange::Put("{}".into()));
        assert_eq!(Doc::delete("job", "j1").change, DocChange::Delete);
    }
}
