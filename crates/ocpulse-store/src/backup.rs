//! `ocpulse backup` and `ocpulse restore`: a consistent copy of the SQLite database while a
//! server serves from it, and that copy put back into a data directory.
//!
//! The copy goes through SQLite's online backup API inside one read transaction on the
//! source: it is the database as of the moment the backup began (every commit before it,
//! nothing after), and in WAL mode a reader never blocks the server's writer, which keeps
//! committing to the log meanwhile. (Without that transaction SQLite would restart the
//! copy at every commit the server makes, and under load it would never finish.) The copy is
//! made page-step by page-step into a temporary file beside the target, checked, synced and
//! only then renamed into place, so the target is always either the old backup or a whole
//! new one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ocpulse_core::store::StoreError;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OptionalExtension as _, params};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::integrity::{self, Check, CheckError};
use crate::lock::DataDirLock;

/// The database file's name in a data directory.
pub(crate) const DATABASE_FILE: &str = "ocpulse.sqlite3";

/// Pages copied per backup step (4 MiB of 4 KiB pages): the copy's unit of progress.
const STEP_PAGES: i32 = 1024;

/// What a finished backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    /// The database copied.
    pub source: PathBuf,
    /// Its size, in bytes.
    pub bytes: u64,
    /// The highest journal `seq` in the copy: every entry up to it is in the backup.
    pub journal_head: i64,
    /// How long the copy took (the source's read transaction was open this long).
    pub copied_in: Duration,
    /// How long checking every page of the copy took.
    pub checked_in: Duration,
}

/// What a finished restore did.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    /// The database file now in place.
    pub database: PathBuf,
    /// Its size, in bytes.
    pub bytes: u64,
    /// The highest journal `seq` it holds.
    pub journal_head: i64,
    /// Where the database it replaced was moved, if there was one.
    pub previous: Option<PathBuf>,
    /// What the restored database continues from.
    pub counters: Counters,
}

/// The counters a restored database continues from, so that nothing handed out after the
/// backup was taken is handed out again: a 1.6 transaction id (a station would get one it
/// already holds), a journal `seq` (an event-stream client's `Last-Event-ID` would skip
/// or repeat entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counters {
    /// No database was replaced: the backup's own.
    Backup,
    /// Carried over from the replaced database where it was further.
    Carried {
        /// The highest 1.6 transaction id handed out.
        last_transaction_id: i64,
        /// The highest journal `seq` assigned.
        journal_seq: i64,
    },
    /// The replaced database could not be read for them (too damaged): the backup's own,
    /// and ids handed out after the backup was taken may be handed out again.
    Unreadable(String),
}

fn db(what: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Database(format!("{what}: {e}"))
}

fn io(what: String) -> impl Fn(std::io::Error) -> StoreError {
    move |e| StoreError::Setup(format!("{what}: {e}"))
}

/// `name` with `suffix` appended (`ocpulse.sqlite3` → `ocpulse.sqlite3-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes a file and its rollback journal if they exist (leftovers of a copy cut short).
fn remove_partial(path: &Path) {
    for p in [path.to_path_buf(), with_suffix(path, "-journal")] {
        let _ = std::fs::remove_file(p);
    }
}

/// Copies the database of `src` (in the read transaction the caller holds, or one SQLite
/// takes) into a new file `dest`, in steps, and leaves it a self-contained file (rollback
/// journal mode, nothing beside it).
fn copy(src: &Connection, dest: &Path) -> Result<(), StoreError> {
    remove_partial(dest);
    let mut to = Connection::open(dest).map_err(db("cannot create the copy"))?;
    {
        let backup = Backup::new(src, &mut to).map_err(db("cannot start the copy"))?;
        let mut waited = Duration::ZERO;
        loop {
            match backup.step(STEP_PAGES).map_err(db("the copy failed"))? {
                StepResult::Done => break,
                StepResult::More => {}
                // Not expected while the source's read transaction is open; bounded anyway.
                _ if waited < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(10));
                    waited += Duration::from_millis(10);
                }
                _ => {
                    return Err(StoreError::Database(
                        "the copy failed: the source stayed locked for 30 s".into(),
                    ));
                }
            }
        }
    }
    // The copied header says WAL, as the source's does: a backup is one file instead.
    to.query_row("PRAGMA journal_mode=DELETE", [], |_| Ok(()))
        .map_err(db("cannot finish the copy"))?;
    Ok(())
}

/// Makes `path`'s content and its name in `dir` durable.
fn sync(path: &Path) -> Result<(), StoreError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(format!("cannot sync {}", path.display())))?;
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        // Directories cannot be opened for syncing everywhere; the file itself is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The highest journal `seq` of an ocpulse database (0 when the journal is empty), or an
/// error when it is not one.
fn journal_head(conn: &Connection) -> Result<i64, StoreError> {
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'journal'",
            [],
            |r| r.get(0),
        )
        .map_err(db("cannot read the database"))?;
    if tables == 0 {
        return Err(StoreError::Setup(
            "it is not an ocpulse database (it has no journal table)".into(),
        ));
    }
    conn.query_row("SELECT coalesce(max(seq), 0) FROM journal", [], |r| {
        r.get(0)
    })
    .map_err(db("cannot read the journal"))
}

/// Checks every page of `path` (no time limit): the word on a backup before it is trusted.
fn check_copy(conn: &Connection, path: &Path, check: Check) -> Result<(), StoreError> {
    match integrity::check_pages(conn, check, None) {
        Ok(_) => Ok(()),
        Err(CheckError::Damaged(d)) => Err(StoreError::Setup(format!(
            "{} is damaged: {}",
            path.display(),
            d.0
        ))),
        Err(CheckError::Failed(e)) => Err(StoreError::Database(format!(
            "cannot check {}: {e}",
            path.display()
        ))),
    }
}

/// Backs up the database of `data_dir` to `to` while a server may be serving from it.
///
/// `to` appears only once whole and checked (a temporary `TO.partial` beside it until
/// then); an existing file there is replaced. The server's writer is never blocked: its
/// commits go on into the write-ahead log, which grows past its usual size until the copy
/// ends, and is then checkpointed back as usual.
pub fn backup(data_dir: &Path, to: &Path) -> Result<BackupReport, StoreError> {
    let source = data_dir.join(DATABASE_FILE);
    if !source.exists() {
        return Err(StoreError::Setup(format!(
            "there is no database to back up: {} does not exist",
            source.display()
        )));
    }
    if let (Ok(a), Ok(b)) = (source.canonicalize(), to.canonicalize())
        && a == b
    {
        return Err(StoreError::Setup(format!(
            "--to {} is the database itself",
            to.display()
        )));
    }
    integrity::check_file(&source).map_err(|d| {
        StoreError::Setup(format!(
            "the database {} is damaged: {}",
            source.display(),
            d.0
        ))
    })?;
    let src = integrity::open_existing(&source).map_err(db("cannot open the database"))?;
    let partial = with_suffix(to, ".partial");
    let started = Instant::now();
    // The snapshot: every commit before this point, none after.
    src.execute_batch("BEGIN DEFERRED")
        .map_err(db("cannot begin the backup"))?;
    let head = journal_head(&src);
    let copied = head.and_then(|head| copy(&src, &partial).map(|()| head));
    let _ = src.execute_batch("ROLLBACK");
    drop(src);
    let finish = |journal_head: i64| -> Result<BackupReport, StoreError> {
        let copied_in = started.elapsed();
        let checking = Instant::now();
        let copy = integrity::open_existing(&partial).map_err(db("cannot open the copy"))?;
        check_copy(&copy, &partial, Check::Quick)?;
        drop(copy);
        let checked_in = checking.elapsed();
        sync(&partial)?;
        std::fs::rename(&partial, to).map_err(io(format!(
            "cannot move {} to {}",
            partial.display(),
            to.display()
        )))?;
        sync(to)?;
        Ok(BackupReport {
            source: source.clone(),
            bytes: std::fs::metadata(to).map_or(0, |m| m.len()),
            journal_head,
            copied_in,
            checked_in,
        })
    };
    let report = copied.and_then(finish);
    if report.is_err() {
        remove_partial(&partial);
    }
    report
}

/// The highest 1.6 transaction id and every AUTOINCREMENT sequence (journal, triggers) of
/// the database at `path`, read without changing it (a damaged file is kept as found).
fn read_counters(path: &Path) -> rusqlite::Result<(i64, Vec<(String, i64)>)> {
    let conn = integrity::open_existing(path)?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    conn.pragma_update(None, "query_only", true)?;
    let last_transaction_id = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'last_transaction_id'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let sequences = conn
        .prepare("SELECT name, seq FROM sqlite_sequence")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok((last_transaction_id, sequences))
}

/// Raises the counters of the database at `path` to at least `last_transaction_id` and
/// `sequences`.
fn raise_counters(
    path: &Path,
    last_transaction_id: i64,
    sequences: &[(String, i64)],
) -> rusqlite::Result<()> {
    let mut conn = integrity::open_existing(path)?;
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('last_transaction_id', ?1) ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)",
        [last_transaction_id],
    )?;
    for (name, seq) in sequences {
        let raised = tx.execute(
            "UPDATE sqlite_sequence SET seq = MAX(seq, ?2) WHERE name = ?1",
            params![name, seq],
        )?;
        if raised == 0 {
            tx.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                params![name, seq],
            )?;
        }
    }
    tx.commit()
}

/// Restores the backup `from` into `data_dir`, which no server may hold meanwhile.
///
/// The backup is checked first (every page and index); it is then copied to a temporary
/// file in the data directory, and only then does it take the database's place. A
/// database already there is not deleted: it is moved aside, with its write-ahead log, to
/// `ocpulse.sqlite3.before-restore-TIME`, after its counters were carried over
/// ([`Counters`]).
pub fn restore(data_dir: &Path, from: &Path) -> Result<RestoreReport, StoreError> {
    let _held = DataDirLock::acquire(data_dir, "ocpulse restore").map_err(|e| match e {
        crate::lock::LockError::InUse { .. } => {
            StoreError::Setup(format!("cannot restore while a server runs: {e}"))
        }
        crate::lock::LockError::Io { .. } => StoreError::Setup(e.to_string()),
    })?;
    if !from.is_file() {
        return Err(StoreError::Setup(format!(
            "the backup {} does not exist",
            from.display()
        )));
    }
    let refuse = |why: String| {
        StoreError::Setup(format!(
            "the backup {} cannot be restored: {why}",
            from.display()
        ))
    };
    integrity::check_file(from).map_err(|d| refuse(d.0))?;
    let src = integrity::open_existing(from).map_err(|e| refuse(e.to_string()))?;
    match integrity::check_pages(&src, Check::Full, None) {
        Ok(_) => {}
        Err(CheckError::Damaged(d)) => return Err(refuse(d.0)),
        Err(CheckError::Failed(e)) => return Err(refuse(e.to_string())),
    }
    let journal_head = journal_head(&src).map_err(|e| refuse(e.detail().to_owned()))?;
    let database = data_dir.join(DATABASE_FILE);
    let restoring = with_suffix(&database, ".restoring");
    if let Err(e) = copy(&src, &restoring) {
        remove_partial(&restoring);
        return Err(e);
    }
    drop(src);
    let counters = if database.exists() {
        match read_counters(&database) {
            Ok((last_transaction_id, sequences)) => {
                raise_counters(&restoring, last_transaction_id, &sequences)
                    .map_err(db("cannot carry the counters over"))?;
                let carried =
                    read_counters(&restoring).map_err(db("cannot read the restored counters"))?;
                Counters::Carried {
                    last_transaction_id: carried.0,
                    journal_seq: carried
                        .1
                        .iter()
                        .find(|(name, _)| name == "journal")
                        .map_or(0, |(_, seq)| *seq),
                }
            }
            Err(e) => Counters::Unreadable(e.to_string()),
        }
    } else {
        Counters::Backup
    };
    sync(&restoring)?;
    let previous = if database.exists() {
        let stamp = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default()
            .replace(':', "");
        let aside = with_suffix(&database, &format!(".before-restore-{stamp}"));
        // The log goes with its database (SQLite finds it by name); the shared-memory
        // index is rebuilt from the log.
        for suffix in ["-wal", ""] {
            let from = with_suffix(&database, suffix);
            if from.exists() {
                let to = with_suffix(&aside, suffix);
                std::fs::rename(&from, &to).map_err(io(format!(
                    "cannot move {} aside to {}",
                    from.display(),
                    to.display()
                )))?;
            }
        }
        Some(aside)
    } else {
        None
    };
    let _ = std::fs::remove_file(with_suffix(&database, "-shm"));
    let _ = std::fs::remove_file(with_suffix(&database, "-wal"));
    std::fs::rename(&restoring, &database).map_err(io(format!(
        "cannot move {} to {}",
        restoring.display(),
        database.display()
    )))?;
    sync(&database)?;
    Ok(RestoreReport {
        bytes: std::fs::metadata(&database).map_or(0, |m| m.len()),
        database,
        journal_head,
        previous,
        counters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use ocpulse_core::journal::{Direction, JournalEntry};
    use ocpulse_core::store::{Store as _, WriteBatch};

    fn entry(at: i64) -> JournalEntry {
        JournalEntry {
            seq: 0,
            station_id: "CP1".into(),
            direction: Direction::In,
            frame_type: "CALL",
            message_id: Some(format!("m{at}")),
            action: Some("Heartbeat".into()),
            payload: "{}".into(),
            at,
            violation: None,
            trigger_id: None,
        }
    }

    async fn write(store: &SqliteStore, from: i64, to: i64) {
        for at in from..to {
            store
                .commit(WriteBatch {
                    entries: vec![entry(at)],
                    ..WriteBatch::default()
                })
                .await
                .expect("commit");
        }
    }

    #[tokio::test]
    async fn a_backup_of_a_live_store_restores_into_a_store_with_its_journal() {
        let live = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(live.path()).expect("open");
        write(&store, 0, 100).await;
        let file = live.path().join("backup.sqlite3");
        let report = backup(live.path(), &file).expect("backup");
        assert_eq!(report.journal_head, 100);
        assert!(!with_suffix(&file, ".partial").exists());
        write(&store, 100, 110).await;

        // Into the live directory: refused while the store's owner holds the lock.
        let held = DataDirLock::acquire(live.path(), "ocpulse serve").expect("lock");
        let refused = restore(live.path(), &file).expect_err("held");
        assert!(
            refused
                .to_string()
                .contains("cannot restore while a server runs"),
            "{refused}"
        );
        drop(held);

        let other = tempfile::tempdir().expect("tempdir");
        std::fs::write(other.path().join(DATABASE_FILE), b"").expect("an empty database");
        let restored = restore(other.path(), &file).expect("restore");
        assert_eq!(restored.journal_head, 100);
        let previous = restored.previous.expect("the empty file kept aside");
        assert_eq!(std::fs::metadata(previous).expect("kept").len(), 0);
        assert!(
            matches!(restored.counters, Counters::Unreadable(_)),
            "{:?}",
            restored.counters
        );
        let store = SqliteStore::open(other.path()).expect("open the restored store");
        assert_eq!(store.journal_head().await.expect("head"), 100);
        assert_eq!(store.journal_after(99, 10).await.expect("read")[0].at, 99);
    }

    #[tokio::test]
    async fn a_restore_continues_the_counters_of_the_database_it_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).expect("open");
        write(&store, 0, 10).await;
        let file = dir.path().join("backup.sqlite3");
        backup(dir.path(), &file).expect("backup");
        // After the backup: more entries, and a transaction id a station now holds.
        write(&store, 10, 20).await;
        store
            .commit(WriteBatch {
                entries: vec![entry(20)],
                transaction_id: Some(41),
                ..WriteBatch::default()
            })
            .await
            .expect("commit");
        drop(store);

        let restored = restore(dir.path(), &file).expect("restore");
        assert_eq!(restored.journal_head, 10);
        assert_eq!(
            restored.counters,
            Counters::Carried {
                last_transaction_id: 41,
                journal_seq: 21
            }
        );
        let store = SqliteStore::open(dir.path()).expect("open the restored store");
        assert_eq!(store.last_transaction_id().expect("read"), 41);
        write(&store, 21, 22).await;
        assert_eq!(
            store.journal_head().await.expect("head"),
            22,
            "seq 11..=21 are never given to other entries"
        );
    }

    #[test]
    fn a_damaged_backup_is_not_restored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("backup.sqlite3");
        std::fs::write(&file, b"SQLite format 3\0 and then nothing of use").expect("write");
        let data = dir.path().join("data");
        let e = restore(&data, &file).expect_err("damaged");
        assert!(e.to_string().contains("cannot be restored"), "{e}");
        assert!(!data.join(DATABASE_FILE).exists());
    }
}
