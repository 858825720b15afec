//! Station state from the journal: rebuilt at start, snapshotted in the background.
//!
//! Sessions never write station state; the journal they commit is the source of truth
//! (`ocpulse_core::projection`). At start every station is its stored snapshot with the
//! journal's tail folded in. In the background a round folds what was committed since the
//! last round into the snapshots of the stations it touched and stores them, every
//! [`ROUND_EVERY`] or [`ROUND_ENTRIES`] entries, whichever comes first, and once more at
//! shutdown: how long a restart replays stays bounded, and no station message pays for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use ocpulse_core::StationState;
use ocpulse_core::journal::JournalScan;
use ocpulse_core::projection::Projection;
use ocpulse_core::store::{SnapshotWrite, Store, StoreError, StoredStation, WriteBatch};

use crate::app::App;

/// The longest a round waits while anything new is committed.
pub const ROUND_EVERY: Duration = Duration::from_secs(30);

/// New entries that start a round early, so a busy journal never leaves a long replay.
pub const ROUND_ENTRIES: i64 = 50_000;

/// How often the task looks at the journal's head.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Entries read per journal page.
const PAGE: usize = 5_000;

/// Stations per snapshot batch: one batch is one short transaction of the writer.
const CHUNK: usize = 500;

/// Where the stored snapshots stand, shared with retention (which never deletes an entry
/// a snapshot does not yet reflect) and the storage report.
#[derive(Debug)]
pub struct Snapshots {
    through: AtomicI64,
    /// One round at a time: two overlapping rounds could store a station's older fold
    /// after its newer one.
    one: tokio::sync::Mutex<()>,
}

impl Snapshots {
    /// Where start-up found them.
    pub fn new(through: i64) -> Self {
        Self {
            through: AtomicI64::new(through),
            one: tokio::sync::Mutex::new(()),
        }
    }

    /// Every entry up to this `seq` is folded into the stored snapshots.
    pub fn through(&self) -> i64 {
        self.through.load(Ordering::Relaxed)
    }

    fn reached(&self, seq: i64) {
        self.through.fetch_max(seq, Ordering::Relaxed);
    }
}

/// What start-up rebuilt.
#[derive(Debug)]
pub struct Rebuilt {
    /// Every station known, none connected.
    pub stations: Vec<StationState>,
    /// The point the stored snapshots reached.
    pub through: i64,
    /// Journal entries folded on top of them.
    pub replayed: u64,
}

/// Every station's state: its stored snapshot and the journal entries after it.
pub async fn rebuild(store: &dyn Store) -> Result<Rebuilt, StoreError> {
    let started = Instant::now();
    let snapshot = store.load_snapshot()?;
    let mut projection = Projection::new(snapshot.stations);
    let head = store.journal_head().await?;
    let replayed = fold(store, &mut projection, snapshot.through, head, false).await?;
    tracing::info!(
        snapshot_seq = snapshot.through,
        journal_head = head,
        replayed,
        ms = started.elapsed().as_millis() as u64,
        "station state rebuilt from the journal"
    );
    Ok(Rebuilt {
        stations: projection.into_states(),
        through: snapshot.through,
        replayed,
    })
}

/// Folds the entries in `(after, until]` into `projection`, page by page. `lazy`: load a
/// station's stored snapshot when its first entry comes (a round), instead of holding
/// every snapshot from the start (start-up).
async fn fold(
    store: &dyn Store,
    projection: &mut Projection,
    after: i64,
    until: i64,
    lazy: bool,
) -> Result<u64, StoreError> {
    let mut cursor = after;
    let mut folded = 0u64;
    while cursor < until {
        let page = store
            .journal_scan(JournalScan {
                after_seq: cursor,
                until_seq: Some(until),
                limit: PAGE,
                ..JournalScan::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        if lazy {
            let mut missing: Vec<String> = page
                .iter()
                .filter(|e| !projection.holds(&e.station_id))
                .map(|e| e.station_id.clone())
                .collect();
            missing.sort_unstable();
            missing.dedup();
            if !missing.is_empty() {
                for stored in store.station_snapshots(missing).await? {
                    projection.insert(stored);
                }
            }
        }
        for entry in &page {
            projection.apply(entry);
        }
        folded += page.len() as u64;
        if page.len() < PAGE {
            break;
        }
    }
    Ok(folded)
}

/// One round: folds what was committed after `from` into the snapshots of the stations it
/// touched and stores them; returns the `seq` the snapshots now reach.
pub async fn round(store: &dyn Store, from: i64) -> Result<i64, StoreError> {
    let head = store.journal_head().await?;
    if head <= from {
        return Ok(from);
    }
    let mut projection = Projection::default();
    fold(store, &mut projection, from, head, true).await?;
    let stations = projection
        .take()
        .iter()
        .map(StoredStation::of)
        .collect::<Result<Vec<_>, _>>()?;
    let mut chunks = stations.chunks(CHUNK).peekable();
    if chunks.peek().is_none() {
        return write(store, Vec::new(), head).await.map(|()| head);
    }
    while let Some(chunk) = chunks.next() {
        // Only the last batch moves the mark: a round cut short is redone from the old
        // one, and stations already written skip what they reflect.
        let through = chunks.peek().is_none().then_some(head);
        store
            .commit(WriteBatch {
                snapshot: Some(SnapshotWrite {
                    stations: chunk.to_vec(),
                    through,
                }),
                ..WriteBatch::default()
            })
            .await?;
    }
    Ok(head)
}

async fn write(
    store: &dyn Store,
    stations: Vec<StoredStation>,
    head: i64,
) -> Result<(), StoreError> {
    store
        .commit(WriteBatch {
            snapshot: Some(SnapshotWrite {
                stations,
                through: Some(head),
            }),
            ..WriteBatch::default()
        })
        .await
}

/// Starts the background rounds; they end at shutdown (`finish` runs the last one).
pub fn start(app: &Arc<App>) {
    let app = Arc::clone(app);
    tokio::spawn(async move {
        // The first round comes at once when start-up replayed anything: the next start
        // then replays nothing of it.
        let mut last = Instant::now()
            .checked_sub(ROUND_EVERY)
            .unwrap_or_else(Instant::now);
        loop {
            tokio::select! {
                () = app.shutdown.cancelled() => return,
                () = tokio::time::sleep(LOOK_EVERY) => {}
            }
            let from = app.snapshots.through();
            let head = match app.store.journal_head().await {
                Ok(head) => head,
                Err(e) => {
                    tracing::warn!(error = %e, "snapshot round: cannot read the journal head");
                    continue;
                }
            };
            let due =
                head - from >= ROUND_ENTRIES || (head > from && last.elapsed() >= ROUND_EVERY);
            if !due {
                continue;
            }
            last = Instant::now();
            let _one = app.snapshots.one.lock().await;
            match round(&*app.store, app.snapshots.through()).await {
                Ok(reached) => app.snapshots.reached(reached),
                Err(e) => tracing::warn!(error = %e, "snapshot round failed; retrying at the next"),
            }
        }
    });
}

/// The shutdown round: what the sessions committed last is folded in, so the next start
/// replays nothing.
pub async fn finish(app: &App) {
    let _one = app.snapshots.one.lock().await;
    match round(&*app.store, app.snapshots.through()).await {
        Ok(reached) => app.snapshots.reached(reached),
        Err(e) => {
            tracing::warn!(error = %e, "the shutdown snapshot failed; the next start replays the journal's tail")
        }
    }
}
