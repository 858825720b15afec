//! The embedded SQLite store.
//!
//! One writer thread owns the write connection and commits in groups: it takes every
//! batch queued while the previous commit was running and writes them in one
//! transaction (WAL, `synchronous=FULL`), then acknowledges each. Under load a commit
//! carries many station messages for the price of one fsync; idle, a message waits for
//! exactly one. Reads use a second connection on the blocking pool.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use ocpulse_core::Millis;
use ocpulse_core::journal::{Direction, JournalEntry, JournalQuery, JournalScan};
use ocpulse_core::projection::Folded;
use ocpulse_core::retention::{ActionSet, JournalStats};
use ocpulse_core::store::{
    BoxFuture, DocChange, Snapshot, SnapshotWrite, Store, StoreError, WriteBatch,
};
use ocpulse_core::trigger_record::{TriggerQuery, TriggerRecord};
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{broadcast, oneshot};

/// The most batches one group commit takes, so a flood cannot make one commit unbounded.
const MAX_GROUP: usize = 4096;

/// A batch queued for the writer and, when someone waits for its durability, where to say
/// it is done (named so that "job" means only a bulk trigger job).
type Commit = (WriteBatch, Option<oneshot::Sender<Result<(), StoreError>>>);

/// How long entries nobody waits for may wait for company before they are committed.
const LINGER: Duration = Duration::from_millis(10);

/// How many committed entries a live subscriber may fall behind before it is told it
/// lagged (and replays from the journal): the bound that keeps a slow client from holding
/// memory or slowing the writer.
const EVENTS_CAPACITY: usize = 4096;

/// SQLite-backed `Store`.
pub struct SqliteStore {
    commits: mpsc::Sender<Commit>,
    /// Joined on drop, so what was queued (lingering entries, deferred states) is written
    /// before the store is gone.
    writer: Option<thread::JoinHandle<()>>,
    reader: Arc<Mutex<Connection>>,
    events: broadcast::Sender<Arc<JournalEntry>>,
    path: PathBuf,
    /// Set, the writer stops dead before its next COMMIT as a killed process would (the
    /// contract suite's crash test; nothing else sets it).
    #[cfg(test)]
    halt: Arc<AtomicBool>,
    /// The checkpoint thread runs while this lives (taken, then joined, on drop).
    alive: Option<Arc<()>>,
    checkpointer: Option<thread::JoinHandle<()>>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the queue ends the writer's loop; it writes what it still holds first.
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.commits, closed));
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("the journal writer panicked");
        }
        // Its connection closed too, the last one to close (the reader's) folds the log into
        // the database and removes it: a stopped server leaves one self-contained file.
        drop(self.alive.take());
        if let Some(checkpointer) = self.checkpointer.take() {
            checkpointer.thread().unpark();
            let _ = checkpointer.join();
        }
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

/// A statement the database refused or failed.
fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// A value that cannot become, or be read back from, the JSON it is stored as.
fn not_json(e: serde_json::Error) -> StoreError {
    StoreError::Serialization(e.to_string())
}

/// A read task that ended without an answer (it panicked or was cancelled).
fn interrupted(e: tokio::task::JoinError) -> StoreError {
    StoreError::Interrupted(format!("a read did not finish: {e}"))
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db)?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;")
        .map_err(db)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) `ocpulse.sqlite3` in `data_dir` and starts the writer;
    /// a damaged file is refused, after a time-bounded `quick_check` (`integrity`).
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, true)
    }

    /// Opens the store for an offline command (`ocpulse token create`) that may run while
    /// a server uses the same file: like `open`, but it leaves running triggers alone,
    /// because they may belong to that live server rather than to a stopped one.
    pub fn open_beside_server(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, false)
    }

    fn open_with(data_dir: &Path, recover: bool) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Setup(format!("cannot create {}: {e}", data_dir.display())))?;
        let path = data_dir.join("ocpulse.sqlite3");
        crate::integrity::before_open(&path, recover)?;
        let mut writer = open(&path)?;
        // Only a database without tables can switch to incremental vacuum cheaply; older
        // ones keep reusing freed pages.
        let empty: i64 = writer
            .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(db)?;
        if empty == 0 {
            writer
                .pragma_update(None, "auto_vacuum", "INCREMENTAL")
                .map_err(db)?;
        }
        crate::migrations::sqlite(&mut writer)?;
        // A trigger still running when the process stopped will never finish.
        if recover {
            writer
                .execute(
                    "UPDATE triggers SET outcome = 'Interrupted', record = json_set(record, '$.outcome', 'Interrupted', '$.detail', ?1) WHERE outcome = 'Running'",
                    [crate::INTERRUPTED_DETAIL],
                )
                .map_err(db)?;
        }
        // Checkpoints run on their own thread (below), never inside a commit: an automatic
        // checkpoint in the writer stalls every waiting station for its duration.
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(db)?;
        // After a restart the log is truncated back to this size, so it never keeps a peak.
        writer
            .pragma_update(None, "journal_size_limit", WAL_LIMIT as i64)
            .map_err(db)?;
        let reader = open(&path)?;
        let checkpointer = open(&path)?;
        let (commits, rx) = mpsc::channel::<Commit>();
        let wal = data_dir.join("ocpulse.sqlite3-wal");
        let alive = Arc::new(());
        let watch = Arc::downgrade(&alive);
        let (events, _) = broadcast::channel(EVENTS_CAPACITY);
        let publish = events.clone();
        let checkpoints = Arc::new(CheckpointLock::default());
        let restarts = Arc::clone(&checkpoints);
        let halt = Arc::new(AtomicBool::new(false));
        let halted = Arc::clone(&halt);
        let writer = thread::Builder::new()
            .name("ocpulse-sqlite-writer".into())
            .spawn(move || write_loop(writer, rx, wal, publish, &restarts, &halted))
            .map_err(|e| StoreError::Setup(format!("cannot start the writer thread: {e}")))?;
        let checkpoint_thread = thread::Builder::new()
            .name("ocpulse-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, watch, &checkpoints))
            .map_err(|e| StoreError::Setup(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self {
            commits,
            writer: Some(writer),
            reader: Arc::new(Mutex::new(reader)),
            events,
            path,
            #[cfg(test)]
            halt,
            alive: Some(alive),
            checkpointer: Some(checkpoint_thread),
        })
    }
}

/// How often the WAL is copied back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// One checkpoint at a time, whichever thread runs it.
///
/// SQLite gives its checkpoint lock to the first checkpointer and makes a second one fail at
/// once (no busy handler for that lock). A writer's RESTART arriving while a PASSIVE pass
/// copies a large log would fail, and the log would keep growing past [`WAL_LIMIT`] for as
/// long as commits keep coming; waiting here for the pass to end lets the RESTART happen.
#[derive(Default)]
struct CheckpointLock {
    one: Mutex<()>,
    /// WAL frames the last checkpoint left uncopied (a reader still needed them, or the
    /// writer added them meanwhile): what a RESTART would have to copy first.
    left: std::sync::atomic::AtomicI64,
}

/// The most frames (16 MiB of 4 KiB pages) the writer copies in a RESTART of its own.
///
/// After a long reader (`ocpulse backup`) the log holds everything committed meanwhile,
/// which the writer would copy between two commits (0.9 s for ~100 MB, measured); past
/// this the checkpoint thread copies it in the background first.
const RESTART_MAX_LEFT: i64 = 4096;

/// The frames a `wal_checkpoint` row says it left (its columns: busy, log, checkpointed).
fn frames_left(row: &rusqlite::Row<'_>) -> rusqlite::Result<i64> {
    Ok(row.get::<_, i64>(1)? - row.get::<_, i64>(2)?)
}

fn checkpoint_loop(conn: Connection, alive: std::sync::Weak<()>, lock: &CheckpointLock) {
    loop {
        thread::park_timeout(CHECKPOINT_EVERY);
        if alive.upgrade().is_none() {
            return;
        }
        // PASSIVE never blocks the writer; it copies what no reader still needs.
        let _one_at_a_time = lock.one.lock();
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], frames_left) {
            Ok(left) => lock.left.store(left, Ordering::Relaxed),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

/// The WAL size past which the writer itself resets the log between two commits.
///
/// Under sustained load a PASSIVE checkpoint never catches up with the writer, so the
/// log would grow without bound (600 MB in five seconds of ingest, measured) and every
/// commit would pay for fresh file pages. A RESTART checkpoint copies what the passive
/// ones left (little, they run often) and lets the next commit rewrite the log from its
/// start, on pages already in the cache.
const WAL_LIMIT: u64 = 32 * 1024 * 1024;

/// The busy timeout `open` gives every connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

fn wal_bytes(wal: &Path) -> u64 {
    std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

fn write_loop(
    mut conn: Connection,
    rx: mpsc::Receiver<Commit>,
    wal: PathBuf,
    events: broadcast::Sender<Arc<JournalEntry>>,
    checkpoints: &CheckpointLock,
    halt: &AtomicBool,
) {
    let mut assigned = Vec::new();
    // Said once per blocked stretch, not after every commit of it.
    let mut restart_blocked = false;
    loop {
        let first = match rx.recv() {
            Ok(queued) => queued,
            Err(_) => break,
        };
        let mut group: Vec<Commit> = vec![first];
        let deadline = Instant::now() + LINGER;
        while !group.is_empty() {
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(queued) => group.push(queued),
                    Err(_) => break,
                }
            }
            // Commit at once when someone waits; otherwise linger so that fire-and-forget
            // entries share the next waited-for commit (one transaction, one fsync).
            if group.len() >= MAX_GROUP || group.iter().any(|(_, ack)| ack.is_some()) {
                break;
            }
            // Parked, not blocked on the queue: a fire-and-forget batch arriving now only
            // queues (no futex wake, no context switch: ≈ 7% of the server's CPU in a 10,000
            // station bulk job); `commit` unparks the writer for a batch someone waits for.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            thread::park_timeout(left);
        }
        assigned.clear();
        let result = write_group(&mut conn, &group, &mut assigned, halt);
        if halt.load(Ordering::Relaxed) {
            // A simulated crash: no acknowledgement, no flush, the transaction rolled back.
            return;
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, batches = group.len(), "journal commit failed");
        }
        // Published only after the commit, so a subscriber never sees an entry that could
        // still vanish, and only when someone listens. Receivers are counted after the
        // commit, not before the write: one subscribing meanwhile either receives the
        // entries here or finds them committed when it replays from the journal.
        let publish = result.is_ok() && events.receiver_count() > 0;
        let mut seqs = assigned.iter();
        for (batch, ack) in group {
            if let Some(ack) = ack {
                let _ = ack.send(result.clone());
            }
            if publish {
                for (mut entry, seq) in batch.entries.into_iter().zip(seqs.by_ref()) {
                    entry.seq = *seq;
                    // Err only when every receiver left meanwhile: nobody to tell.
                    let _ = events.send(Arc::new(entry));
                }
            }
        }
        if wal_bytes(&wal) > WAL_LIMIT
            && checkpoints.left.load(Ordering::Relaxed) <= RESTART_MAX_LEFT
        {
            let _one_at_a_time = checkpoints.one.lock();
            // Never waits for readers: one that holds a snapshot for long (`ocpulse backup`,
            // a long export) would hold every commit for the busy timeout, again and again
            // (10 s stalls, measured). Blocked, the log grows until that reader ends.
            let _ = conn.busy_timeout(Duration::ZERO);
            // Its first column says whether it was blocked (by readers).
            let restart = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
                Ok((r.get::<_, i64>(0)?, frames_left(r)?))
            });
            let _ = conn.busy_timeout(BUSY_TIMEOUT);
            if let Ok((_, left)) = restart {
                checkpoints.left.store(left, Ordering::Relaxed);
            }
            match restart {
                Ok((0, _)) => restart_blocked = false,
                Ok(_) if restart_blocked => {}
                Ok(_) => {
                    restart_blocked = true;
                    tracing::warn!(
                        wal_bytes = wal_bytes(&wal),
                        "WAL restart checkpoint blocked by a reader (a backup, a long read); the log grows until it ends, retrying after each commit"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "WAL restart checkpoint failed"),
            }
        }
    }
}

/// Writes a group in one transaction, pushing each entry's assigned `seq` onto `seqs` in
/// order (a push per entry is all the hot path pays for the live event stream).
fn write_group(
    conn: &mut Connection,
    group: &[Commit],
    seqs: &mut Vec<i64>,
    halt: &AtomicBool,
) -> Result<(), StoreError> {
    let tx = conn.transaction().map_err(db)?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO journal (station_id, direction, frame_type, message_id, action, payload, at, violation, trigger_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        ).map_err(db)?;
        for (batch, _) in group {
            for e in &batch.entries {
                insert
                    .execute(params![
                        e.station_id,
                        e.direction.as_str(),
                        e.frame_type,
                        e.message_id,
                        e.action,
                        e.payload,
                        e.at,
                        e.violation,
                        e.trigger_id
                    ])
                    .map_err(db)?;
                seqs.push(tx.last_insert_rowid());
            }
        }
        let mut save_trigger = tx.prepare_cached(
            "INSERT INTO triggers (id, station_id, outcome, record, kind) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO UPDATE SET outcome = excluded.outcome, record = excluded.record",
        ).map_err(db)?;
        for (batch, _) in group {
            for t in &batch.triggers {
                let json = serde_json::to_string(&**t).map_err(not_json)?;
                save_trigger
                    .execute(params![
                        t.id,
                        t.station_id,
                        t.outcome.as_str(),
                        json,
                        t.kind.as_str()
                    ])
                    .map_err(db)?;
            }
        }
        let mut put_doc = tx.prepare_cached(
            "INSERT INTO docs (kind, id, body) VALUES (?1, ?2, ?3) ON CONFLICT(kind, id) DO UPDATE SET body = excluded.body",
        ).map_err(db)?;
        let mut delete_doc = tx
            .prepare_cached("DELETE FROM docs WHERE kind = ?1 AND id = ?2")
            .map_err(db)?;
        for (batch, _) in group {
            for d in &batch.docs {
                match &d.change {
                    DocChange::Put(body) => put_doc.execute(params![d.kind, d.id, body]),
                    DocChange::Delete => delete_doc.execute(params![d.kind, d.id]),
                }
                .map_err(db)?;
            }
        }
        // Retention: seq windows of the primary key, so a step touches only its range.
        for (batch, _) in group {
            for p in &batch.prune {
                let listed = serde_json::to_string(p.actions.listed()).map_err(not_json)?;
                let sql = match p.actions {
                    ActionSet::Only(_) => {
                        "DELETE FROM journal WHERE seq > ?1 AND seq <= ?2 AND action IN (SELECT value FROM json_each(?3))"
                    }
                    ActionSet::AllBut(_) => {
                        "DELETE FROM journal WHERE seq > ?1 AND seq <= ?2 AND (action IS NULL OR action NOT IN (SELECT value FROM json_each(?3)))"
                    }
                };
                tx.prepare_cached(sql)
                    .and_then(|mut s| s.execute(params![p.after_seq, p.until_seq, listed]))
                    .map_err(db)?;
            }
        }
        // One row keeps the highest 1.6 transaction id handed out, in the same transaction
        // as the StartTransaction that handed it out (see `Store::last_transaction_id`).
        let handed_out = group.iter().filter_map(|(b, _)| b.transaction_id).max();
        if let Some(id) = handed_out {
            tx.prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('last_transaction_id', ?1) ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
            )
            .and_then(|mut s| s.execute([id]))
            .map_err(db)?;
        }
        for snapshot in group.iter().filter_map(|(b, _)| b.snapshot.as_ref()) {
            write_snapshot(&tx, snapshot)?;
        }
    }
    if halt.load(Ordering::Relaxed) {
        // Dropped, not committed: rolled back, as a crash before COMMIT leaves it.
        return Err(StoreError::Closed);
    }
    tx.commit().map_err(db)?;
    // Pages freed by pruning go back to the file system a few at a time (a database made
    // before incremental vacuum was on reuses them for new entries instead).
    if group.iter().any(|(b, _)| !b.prune.is_empty())
        && let Err(e) = conn.execute_batch(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"))
    {
        tracing::warn!(error = %e, "incremental vacuum failed");
    }
    Ok(())
}

/// Writes station snapshots, and the round's mark once its last batch is in.
fn write_snapshot(
    tx: &rusqlite::Transaction<'_>,
    snapshot: &SnapshotWrite,
) -> Result<(), StoreError> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO stations (id, state, seq) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET state = excluded.state, seq = excluded.seq WHERE excluded.seq > stations.seq",
    ).map_err(db)?;
    for s in &snapshot.stations {
        upsert.execute(params![s.id, s.state, s.seq]).map_err(db)?;
    }
    if let Some(through) = snapshot.through {
        tx.prepare_cached(
            "INSERT INTO meta (key, value) VALUES ('snapshot_seq', ?1) ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
        )
        .and_then(|mut s| s.execute([through]))
        .map_err(db)?;
    }
    Ok(())
}

/// Pages returned to the file system after a prune step: a few megabytes, so the step
/// stays short.
const VACUUM_PAGES: u32 = 1024;

/// The first entry at or after `seq`, as (seq, at).
fn entry_from(conn: &Connection, seq: i64) -> rusqlite::Result<Option<(i64, Millis)>> {
    conn.prepare_cached("SELECT seq, at FROM journal WHERE seq >= ?1 ORDER BY seq LIMIT 1")?
        .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// See `Store::journal_seq_before`: bisects the primary key, a few dozen point reads for
/// millions of entries.
fn seq_before(conn: &Connection, at: Millis) -> rusqlite::Result<i64> {
    let (mut lo, mut hi): (i64, i64) = conn.query_row(
        "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM journal",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    // Invariant: every entry below `lo` is older than `at`; none from `hi + 1` on is.
    let mut found = lo - 1;
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        match entry_from(conn, mid)? {
            Some((seq, when)) if seq <= hi && when < at => {
                found = seq;
                lo = seq + 1;
            }
            _ => hi = mid - 1,
        }
    }
    Ok(found.max(0))
}

fn stats(conn: &Connection) -> rusqlite::Result<JournalStats> {
    let (oldest_seq, newest_seq): (i64, i64) = conn.query_row(
        "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM journal",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let oldest_at = entry_from(conn, oldest_seq)?.map(|(_, at)| at);
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(JournalStats {
        oldest_seq,
        oldest_at: if oldest_seq == 0 { None } else { oldest_at },
        newest_seq,
        bytes: u64::try_from(pages.saturating_mul(size)).unwrap_or(0),
    })
}

fn read_journal(conn: &Connection, q: &JournalQuery) -> rusqlite::Result<Vec<JournalEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, station_id, direction, frame_type, message_id, action, payload, at, violation, trigger_id FROM journal
         WHERE station_id = ?1 AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR seq < ?3) AND (?4 IS NULL OR at < ?4)
         ORDER BY seq DESC LIMIT ?5",
    )?;
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(
        params![q.station_id, q.action, q.before_seq, q.before_at, limit],
        entry_row,
    )?;
    rows.collect()
}

fn read_after(
    conn: &Connection,
    after_seq: i64,
    limit: usize,
) -> rusqlite::Result<Vec<JournalEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, station_id, direction, frame_type, message_id, action, payload, at, violation, trigger_id FROM journal
         WHERE seq > ?1 ORDER BY seq ASC LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![after_seq, limit], entry_row)?;
    rows.collect()
}

fn read_scan(conn: &Connection, q: &JournalScan) -> rusqlite::Result<Vec<JournalEntry>> {
    // Two statements rather than `(?7 IS NULL OR station_id = ?7)`, so a one-station read
    // walks the (station_id, seq) index instead of the whole journal.
    let station = if q.station_id.is_some() {
        "station_id = ?7"
    } else {
        "?7 IS NULL"
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT seq, station_id, direction, frame_type, message_id, action, payload, at, violation, trigger_id FROM journal
         WHERE {station} AND seq > ?1 AND (?2 IS NULL OR seq <= ?2) AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at < ?4)
           AND (?5 IS NULL OR action IN (SELECT value FROM json_each(?5)))
           AND (?6 = 0 OR (direction = 'in' AND frame_type = 'CALL'))
         ORDER BY seq ASC LIMIT ?8"
    ))?;
    let actions = (!q.actions.is_empty())
        .then(|| serde_json::to_string(&q.actions).unwrap_or_else(|_| "[]".into()));
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(
        params![
            q.after_seq,
            q.until_seq,
            q.from_at,
            q.to_at,
            actions,
            q.station_calls_only,
            q.station_id,
            limit
        ],
        entry_row,
    )?;
    rows.collect()
}

/// Maps a row selected as `seq, station_id, direction, frame_type, message_id, action,
/// payload, at, violation, trigger_id`.
fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JournalEntry> {
    let direction: String = r.get(2)?;
    let ty: String = r.get(3)?;
    Ok(JournalEntry {
        seq: r.get(0)?,
        station_id: r.get(1)?,
        direction: Direction::parse(&direction).unwrap_or(Direction::In),
        frame_type: crate::stored_frame_type(&ty),
        message_id: r.get(4)?,
        action: r.get(5)?,
        payload: r.get(6)?,
        at: r.get(7)?,
        violation: r.get(8)?,
        trigger_id: r.get(9)?,
    })
}

impl Store for SqliteStore {
    fn commit(&self, batch: WriteBatch) -> BoxFuture<Result<(), StoreError>> {
        let (ack, done) = oneshot::channel();
        let sent = self.commits.send((batch, Some(ack)));
        // A lingering writer is parked (see `write_loop`); someone waits for this one.
        if let Some(writer) = &self.writer {
            writer.thread().unpark();
        }
        Box::pin(async move {
            sent.map_err(|_| StoreError::Closed)?;
            done.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn enqueue(&self, batch: WriteBatch) {
        let _ = self.commits.send((batch, None));
    }

    fn trigger(&self, id: String) -> BoxFuture<Result<Option<TriggerRecord>, StoreError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock();
                let json: Option<String> = conn
                    .query_row("SELECT record FROM triggers WHERE id = ?1", [&id], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(db)?;
                json.map(|j| serde_json::from_str(&j).map_err(not_json))
                    .transpose()
            })
            .await
            .map_err(interrupted)?
        })
    }

    fn triggers(
        &self,
        q: TriggerQuery,
    ) -> BoxFuture<Result<Vec<(i64, TriggerRecord)>, StoreError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock();
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT seq, record FROM triggers WHERE (?1 IS NULL OR station_id = ?1) AND (?2 IS NULL OR outcome = ?2) AND (?3 IS NULL OR seq < ?3) AND (?5 IS NULL OR kind = ?5) ORDER BY seq DESC LIMIT ?4",
                    )
                    .map_err(db)?;
                let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
                let rows = stmt
                    .query_map(
                        params![
                            q.station_id,
                            q.outcome.map(|o| o.as_str()),
                            q.before_seq,
                            limit,
                            q.kind.map(|k| k.as_str())
                        ],
                        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                    )
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)?;
                rows.into_iter()
                    .map(|(seq, j)| Ok((seq, serde_json::from_str(&j).map_err(not_json)?)))
                    .collect()
            })
            .await
            .map_err(interrupted)?
        })
    }

    fn journal(&self, query: JournalQuery) -> BoxFuture<Result<Vec<JournalEntry>, StoreError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock();
                read_journal(&conn, &query).map_err(db)
            })
            .await
            .map_err(interrupted)?
        })
    }

    fn journal_scan(&self, scan: JournalScan) -> BoxFuture<Result<Vec<JournalEntry>, StoreError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock();
                read_scan(&conn, &scan).map_err(db)
            })
            .await
            .map_err(interrupted)?
        })
    }

    fn journal_after(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<JournalEntry>, StoreError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock();
                read_after(&conn, after_seq, limit).map_err(db)
            })
            .await
            .map_err(interrupted)?
        })
    }

    fn journal_head(&self) -> BoxFuture<Result<i64, StoreError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock();
                conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM journal", [], |r| {
                    r.get(0)
                })
                .map_err(db)
            })
            .await
            .map_err(interrupted)?
        })
    }

    fn journal_seq_before(&self, at: Millis) -> BoxFuture<Result<i64, StoreError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || seq_before(&reader.lock(), at).map_err(db))
                .await
                .map_err(interrupted)?
        })
    }

    fn journal_stats(&self) -> BoxFuture<Result<JournalStats, StoreError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || stats(&reader.lock()).map_err(db))
                .await
                .map_err(interrupted)?
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<JournalEntry>> {
        self.events.subscribe()
    }

    fn docs(&self, kind: &'static str) -> BoxFuture<Result<Vec<(String, String)>, StoreError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock();
                let mut stmt = conn
                    .prepare_cached("SELECT id, body FROM docs WHERE kind = ?1 ORDER BY id")
                    .map_err(db)?;
                stmt.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(db)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(db)
            })
            .await
            .map_err(interrupted)?
        })
    }

    fn doc(&self, kind: &'static str, id: String) -> BoxFuture<Result<Option<String>, StoreError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock();
                let mut stmt = conn
                    .prepare_cached("SELECT body FROM docs WHERE kind = ?1 AND id = ?2")
                    .map_err(db)?;
                stmt.query_row(rusqlite::params![kind, id], |r| r.get(0))
                    .optional()
                    .map_err(db)
            })
            .await
            .map_err(interrupted)?
        })
    }

    fn load_snapshot(&self) -> Result<Snapshot, StoreError> {
        let conn = self.reader.lock();
        let through: Option<i64> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'snapshot_seq'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let mut stmt = conn
            .prepare("SELECT id, seq, state FROM stations ORDER BY id")
            .map_err(db)?;
        let stations = stmt
            .query_map([], |r| {
                Ok(crate::stored_station(
                    r.get(0)?,
                    r.get(1)?,
                    &r.get::<_, String>(2)?,
                ))
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(Snapshot {
            through: through.unwrap_or(0),
            stations,
        })
    }

    fn station_snapshots(&self, ids: Vec<String>) -> BoxFuture<Result<Vec<Folded>, StoreError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader.lock();
                let mut stmt = conn
                    .prepare_cached("SELECT seq, state FROM stations WHERE id = ?1")
                    .map_err(db)?;
                let mut found = Vec::with_capacity(ids.len());
                for id in ids {
                    let row: Option<(i64, String)> = stmt
                        .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                        .map_err(db)?;
                    if let Some((seq, state)) = row {
                        found.push(crate::stored_station(id, seq, &state));
                    }
                }
                Ok(found)
            })
            .await
            .map_err(interrupted)?
        })
    }

    fn last_transaction_id(&self) -> Result<i64, StoreError> {
        let conn = self.reader.lock();
        let last: Option<i64> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'last_transaction_id'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        Ok(last.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Backend;

    /// The contract suite on a fresh directory per test, with the halt switch of the
    /// store it opened last (what its crash test pulls).
    struct Sqlite(tempfile::TempDir, Mutex<Option<Arc<AtomicBool>>>);

    impl Backend for Sqlite {
        fn open(&self) -> BoxFuture<Result<Arc<dyn Store>, StoreError>> {
            let store = SqliteStore::open(self.0.path()).map(|s| {
                *self.1.lock() = Some(Arc::clone(&s.halt));
                Arc::new(s) as Arc<dyn Store>
            });
            Box::pin(std::future::ready(store))
        }

        fn crash(&self, store: Arc<dyn Store>) -> BoxFuture<bool> {
            let halt = self.1.lock().clone();
            Box::pin(async move {
                // Stop the writer dead before its next COMMIT: the group it holds rolls
                // back, nothing queued is written.
                let Some(halt) = halt else { return false };
                halt.store(true, Ordering::Relaxed);
                drop(store);
                true
            })
        }
    }

    async fn fresh() -> Option<Sqlite> {
        Some(Sqlite(
            tempfile::tempdir().expect("tempdir"),
            Mutex::new(None),
        ))
    }

    crate::contract_tests!(fresh());

    fn entry(station: &str, action: &str, at: i64) -> JournalEntry {
        JournalEntry {
            seq: 0,
            station_id: station.into(),
            direction: Direction::In,
            frame_type: "CALL",
            message_id: Some(format!("m{at}")),
            action: Some(action.into()),
            payload: "{}".into(),
            at,
            violation: None,
            trigger_id: None,
        }
    }

    #[tokio::test]
    async fn the_wal_stays_bounded_under_sustained_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("open");
        let big = "x".repeat(256 * 1024);
        // 64 MiB of journal, twice the limit, in commits that never pause.
        for i in 0..256 {
            let mut e = entry("CP1", "DataTransfer", i);
            e.payload.clone_from(&big);
            store
                .commit(WriteBatch {
                    entries: vec![e],
                    ..WriteBatch::default()
                })
                .await
                .expect("commit");
        }
        let wal = wal_bytes(&dir.path().join("ocpulse.sqlite3-wal"));
        assert!(
            wal <= WAL_LIMIT + 2 * 1024 * 1024,
            "WAL grew to {wal} bytes, limit {WAL_LIMIT}"
        );
    }

    /// A database file written by ocpulse before migrations went through refinery (six
    /// migrations counted in `PRAGMA user_version`, the SQL of that code verbatim) opens
    /// with its journal, states, triggers, documents and transaction id, and takes writes.
    #[tokio::test]
    async fn a_database_made_before_refinery_opens_with_its_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let conn = Connection::open(dir.path().join("ocpulse.sqlite3")).expect("create");
            conn.execute_batch(include_str!("../tests/fixtures/sqlite-user-version-6.sql"))
                .expect("old schema and data");
        }
        let store = SqliteStore::open(dir.path()).expect("open");
        let journal = store.journal_after(0, 10).await.expect("read");
        assert_eq!(
            journal.iter().map(|e| (e.seq, e.at)).collect::<Vec<_>>(),
            vec![(1, 1000), (2, 1001)]
        );
        assert_eq!(journal[1].trigger_id.as_deref(), Some("t1"));
        let snapshot = store.load_snapshot().expect("load");
        assert_eq!(snapshot.stations[0].state.id, "CP1");
        // A state written before snapshots existed reflects the whole journal of its time.
        assert_eq!((snapshot.stations[0].seq, snapshot.through), (2, 2));
        assert_eq!(store.last_transaction_id().expect("read"), 41);
        assert_eq!(
            store.doc("job", "j1".into()).await.expect("read"),
            Some(r#"{"n":1}"#.into())
        );
        let t1 = store
            .trigger("t1".into())
            .await
            .expect("read")
            .expect("kept");
        assert_eq!(
            t1.outcome,
            ocpulse_core::trigger_record::Outcome::Interrupted,
            "it was running"
        );
        store
            .commit(WriteBatch {
                entries: vec![entry("CP1", "Heartbeat", 1002)],
                ..WriteBatch::default()
            })
            .await
            .expect("commit");
        assert_eq!(store.journal_head().await.expect("head"), 3);
        drop(store);
        SqliteStore::open(dir.path()).expect("reopens with nothing left to migrate");
    }
}
