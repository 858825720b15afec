//! An in-memory `Store`: every rule of the port (seq order, ack after "commit", publish
//! after commit, replace by id, restart recovery) without a file, so tests of code above
//! the store run fast and the contract suite has a reference to hold the databases to.

use std::collections::BTreeMap;
use std::sync::Arc;

use ocpulse_core::Millis;
use ocpulse_core::journal::{Direction, JournalEntry, JournalQuery, JournalScan};
use ocpulse_core::projection::Folded;
use ocpulse_core::retention::JournalStats;
use ocpulse_core::store::{BoxFuture, DocChange, Snapshot, Store, StoreError, WriteBatch};
use ocpulse_core::trigger_record::{Outcome, TriggerQuery, TriggerRecord};
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::INTERRUPTED_DETAIL;

/// How many committed entries a live subscriber may fall behind (as the databases).
const EVENTS_CAPACITY: usize = 4096;

/// What a memory store holds: what a database file would, shared by every store opened on it.
#[derive(Debug, Default)]
struct Data {
    /// The journal in `seq` order (with gaps where retention deleted entries).
    journal: Vec<JournalEntry>,
    /// The last `seq` handed out.
    last_seq: i64,
    /// Trigger records by id, with their list position (fixed at first insert).
    triggers: BTreeMap<String, (i64, TriggerRecord)>,
    /// The next trigger position.
    trigger_seq: i64,
    /// Documents by (kind, id).
    docs: BTreeMap<(String, String), String>,
    /// Station states as last committed, by id.
    /// Station snapshots: `(seq, JSON)` by id, stored as text like the real backends.
    stations: BTreeMap<String, (i64, String)>,
    /// The point every snapshot reaches.
    snapshot_through: i64,
    /// The highest 1.6 transaction id committed.
    last_transaction_id: i64,
}

/// A `Store` in memory. [`MemoryStore::reopen`] opens another store on the same data, as
/// reopening a database file would; nothing survives the process.
#[derive(Debug)]
pub struct MemoryStore {
    data: Arc<Mutex<Data>>,
    events: broadcast::Sender<Arc<JournalEntry>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::on(Arc::new(Mutex::new(Data::default())))
    }

    /// A new store on the same data, as a server restarting on the same database would
    /// open it: triggers still running are marked interrupted, live subscribers of this
    /// store hear nothing of the new one.
    pub fn reopen(&self) -> Self {
        {
            let mut data = self.data.lock();
            for (_, record) in data.triggers.values_mut() {
                if record.outcome == Outcome::Running {
                    record.outcome = Outcome::Interrupted;
                    record.detail = Some(INTERRUPTED_DETAIL.into());
                }
            }
        }
        Self::on(Arc::clone(&self.data))
    }

    fn on(data: Arc<Mutex<Data>>) -> Self {
        let (events, _) = broadcast::channel(EVENTS_CAPACITY);
        Self { data, events }
    }

    /// Applies a batch at once, atomically, and publishes its entries in `seq` order (under
    /// the lock, so concurrent batches publish in the order they were applied).
    fn apply(&self, batch: WriteBatch) {
        let mut data = self.data.lock();
        for p in &batch.prune {
            data.journal.retain(|e| {
                !(e.seq > p.after_seq
                    && e.seq <= p.until_seq
                    && p.actions.covers(e.action.as_deref()))
            });
        }
        let first = data.journal.len();
        for mut entry in batch.entries {
            data.last_seq += 1;
            entry.seq = data.last_seq;
            data.journal.push(entry);
        }
        for record in batch.triggers {
            let next = data.trigger_seq + 1;
            let position = data.triggers.get(&record.id).map_or(next, |(seq, _)| *seq);
            if position == next {
                data.trigger_seq = next;
            }
            data.triggers
                .insert(record.id.clone(), (position, (*record).clone()));
        }
        for doc in batch.docs {
            let key = (doc.kind.to_owned(), doc.id);
            match doc.change {
                DocChange::Put(body) => {
                    data.docs.insert(key, body);
                }
                DocChange::Delete => {
                    data.docs.remove(&key);
                }
            }
        }
        if let Some(id) = batch.transaction_id {
            data.last_transaction_id = data.last_transaction_id.max(id);
        }
        if let Some(snapshot) = batch.snapshot {
            for s in snapshot.stations {
                // Never replaced by an older fold (the real backends' rule too).
                if data.stations.get(&s.id).is_none_or(|(seq, _)| *seq < s.seq) {
                    data.stations.insert(s.id, (s.seq, s.state));
                }
            }
            if let Some(through) = snapshot.through {
                data.snapshot_through = data.snapshot_through.max(through);
            }
        }
        if self.events.receiver_count() > 0 {
            for entry in &data.journal[first..] {
                // Err only when every receiver left meanwhile: nobody to tell.
                let _ = self.events.send(Arc::new(entry.clone()));
            }
        }
    }
}

/// An answer now, as a future.
fn ready<T: Send + 'static>(value: T) -> BoxFuture<Result<T, StoreError>> {
    Box::pin(std::future::ready(Ok(value)))
}

/// Whether `entry` passes every filter of `scan` but the paging cursor and the limit.
fn scanned(entry: &JournalEntry, scan: &JournalScan) -> bool {
    scan.station_id
        .as_ref()
        .is_none_or(|id| *id == entry.station_id)
        && scan.until_seq.is_none_or(|until| entry.seq <= until)
        && scan.from_at.is_none_or(|from| entry.at >= from)
        && scan.to_at.is_none_or(|to| entry.at < to)
        && (scan.actions.is_empty()
            || entry
                .action
                .as_ref()
                .is_some_and(|a| scan.actions.contains(a)))
        && (!scan.station_calls_only
            || (entry.direction == Direction::In && entry.frame_type == "CALL"))
}

impl Store for MemoryStore {
    fn commit(&self, batch: WriteBatch) -> BoxFuture<Result<(), StoreError>> {
        self.apply(batch);
        ready(())
    }

    fn enqueue(&self, batch: WriteBatch) {
        self.apply(batch);
    }

    fn trigger(&self, id: String) -> BoxFuture<Result<Option<TriggerRecord>, StoreError>> {
        ready(self.data.lock().triggers.get(&id).map(|(_, r)| r.clone()))
    }

    fn triggers(
        &self,
        q: TriggerQuery,
    ) -> BoxFuture<Result<Vec<(i64, TriggerRecord)>, StoreError>> {
        let data = self.data.lock();
        let mut list: Vec<(i64, TriggerRecord)> = data
            .triggers
            .values()
            .filter(|(seq, r)| {
                q.kind.is_none_or(|k| k == r.kind)
                    && q.station_id.as_ref().is_none_or(|s| *s == r.station_id)
                    && q.outcome.is_none_or(|o| o == r.outcome)
                    && q.before_seq.is_none_or(|before| *seq < before)
            })
            .cloned()
            .collect();
        list.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        list.truncate(q.limit);
        ready(list)
    }

    fn journal(&self, q: JournalQuery) -> BoxFuture<Result<Vec<JournalEntry>, StoreError>> {
        let data = self.data.lock();
        let found = data
            .journal
            .iter()
            .rev()
            .filter(|e| {
                e.station_id == q.station_id
                    && q.action
                        .as_ref()
                        .is_none_or(|a| e.action.as_ref() == Some(a))
                    && q.before_seq.is_none_or(|before| e.seq < before)
                    && q.before_at.is_none_or(|before| e.at < before)
            })
            .take(q.limit)
            .cloned()
            .collect();
        ready(found)
    }

    fn journal_scan(&self, scan: JournalScan) -> BoxFuture<Result<Vec<JournalEntry>, StoreError>> {
        let data = self.data.lock();
        let start = data.journal.partition_point(|e| e.seq <= scan.after_seq);
        let found = data
            .journal
            .iter()
            .skip(start)
            .filter(|e| scanned(e, &scan))
            .take(scan.limit)
            .cloned()
            .collect();
        ready(found)
    }

    fn journal_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<JournalEntry>, StoreError>> {
        let data = self.data.lock();
        let start = data.journal.partition_point(|e| e.seq <= after_seq);
        ready(
            data.journal
                .iter()
                .skip(start)
                .take(limit)
                .cloned()
                .collect(),
        )
    }

    fn journal_head(&self) -> BoxFuture<Result<i64, StoreError>> {
        ready(self.data.lock().last_seq)
    }

    fn journal_seq_before(&self, at: Millis) -> BoxFuture<Result<i64, StoreError>> {
        let data = self.data.lock();
        let older = data.journal.partition_point(|e| e.at < at);
        ready(older.checked_sub(1).map_or(0, |i| data.journal[i].seq))
    }

    fn journal_stats(&self) -> BoxFuture<Result<JournalStats, StoreError>> {
        let data = self.data.lock();
        let bytes = data
            .journal
            .iter()
            .map(|e| e.payload.len() + e.station_id.len())
            .sum::<usize>();
        ready(JournalStats {
            oldest_seq: data.journal.first().map_or(0, |e| e.seq),
            oldest_at: data.journal.first().map(|e| e.at),
            newest_seq: data.journal.last().map_or(0, |e| e.seq),
            bytes: u64::try_from(bytes).unwrap_or(u64::MAX),
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<JournalEntry>> {
        self.events.subscribe()
    }

    fn docs(&self, kind: &'static str) -> BoxFuture<Result<Vec<(String, String)>, StoreError>> {
        let data = self.data.lock();
        let found = data
            .docs
            .iter()
            .filter(|((k, _), _)| k == kind)
            .map(|((_, id), body)| (id.clone(), body.clone()))
            .collect();
        ready(found)
    }

    fn doc(&self, kind: &'static str, id: String) -> BoxFuture<Result<Option<String>, StoreError>> {
        ready(self.data.lock().docs.get(&(kind.to_owned(), id)).cloned())
    }

    fn load_snapshot(&self) -> Result<Snapshot, StoreError> {
        let data = self.data.lock();
        Ok(Snapshot {
            through: data.snapshot_through,
            stations: data
                .stations
                .iter()
                .map(|(id, (seq, state))| crate::stored_station(id.clone(), *seq, state))
                .collect(),
        })
    }

    fn station_snapshots(&self, ids: Vec<String>) -> BoxFuture<Result<Vec<Folded>, StoreError>> {
        let data = self.data.lock();
        let found = ids
            .into_iter()
            .filter_map(|id| {
                let (seq, state) = data.stations.get(&id)?;
                Some(crate::stored_station(id, *seq, state))
            })
            .collect();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn last_transaction_id(&self) -> Result<i64, StoreError> {
        Ok(self.data.lock().last_transaction_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Backend;

    /// The contract suite on a fresh memory store per test; "opening" it again is
    /// [`MemoryStore::reopen`].
    struct Memory(MemoryStore);

    impl Backend for Memory {
        fn open(&self) -> BoxFuture<Result<Arc<dyn Store>, StoreError>> {
            ready(Arc::new(self.0.reopen()) as Arc<dyn Store>)
        }
    }

    async fn fresh() -> Option<Memory> {
        Some(Memory(MemoryStore::new()))
    }

    crate::contract_tests!(fresh());
}
