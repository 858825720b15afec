//! Is a database file fit to serve from? Checked before the store opens it.
//!
//! SQLite takes a zero-length file for a new, empty database, so without these checks a
//! truncated file would start a server with every station, record and journal entry gone,
//! and a damaged page would only show up when a read reaches it (an export cut off
//! mid-stream). Two layers:
//! - [`check_file`]: the file itself, before SQLite sees it (empty, not a SQLite file,
//!   shorter than its header says). Every open runs it.
//! - [`check_pages`]: SQLite's own `quick_check` / `integrity_check` of every page, with an
//!   optional time limit. A server start runs the quick one within [`START_CHECK_BUDGET`]:
//!   a check cut short is logged, not fatal, so start-up time stays bounded however large
//!   the journal grows.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ocpulse_core::store::StoreError;
use rusqlite::{Connection, ErrorCode, OpenFlags};

/// How long the `quick_check` at a server's start may take before it is stopped (and the
/// start goes on, with a warning). Measured on a release build: 885 MB took 1.1-1.3 s from
/// the page cache, over 3 s from disk on a busy machine; past it only `ocpulse backup`
/// checks every page.
pub(crate) const START_CHECK_BUDGET: Duration = Duration::from_secs(3);

/// At most this many problems are listed (SQLite's own limit argument).
const MAX_PROBLEMS: usize = 5;

/// What is wrong with a database file, in words for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage(pub String);

/// Why a page check did not say "sound".
#[derive(Debug)]
pub(crate) enum CheckError {
    /// The file is damaged.
    Damaged(Damage),
    /// The check itself failed (an I/O error, a lock it could not get).
    Failed(rusqlite::Error),
}

impl From<rusqlite::Error> for CheckError {
    fn from(e: rusqlite::Error) -> Self {
        match damage(&e) {
            Some(d) => Self::Damaged(d),
            None => Self::Failed(e),
        }
    }
}

/// The damage an error reports, when it reports damage (SQLite's CORRUPT and NOTADB).
pub(crate) fn damage(e: &rusqlite::Error) -> Option<Damage> {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            Some(Damage(format!("SQLite cannot read it: {e}")))
        }
        _ => None,
    }
}

/// SQLite's companion files of `path` (`-wal`, `-journal`): how many bytes they hold.
fn companion_bytes(path: &Path, suffix: &str) -> u64 {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    std::fs::metadata(PathBuf::from(name)).map_or(0, |m| m.len())
}

/// Checks the file before SQLite opens it: a missing file is fine (a new database), an
/// empty one, one that is not SQLite, or one shorter than its header says is damaged.
///
/// A new database in WAL mode can be 0 bytes with its first pages still in the `-wal` file
/// (a server killed in its first 100 ms); SQLite reads them from there, so that is fine too,
/// and so is a short file with a log beside it (a checkpoint cut off half-way).
pub(crate) fn check_file(path: &Path) -> Result<(), Damage> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Damage(format!("it cannot be read: {e}"))),
    };
    let logs = companion_bytes(path, "-wal") + companion_bytes(path, "-journal");
    if len == 0 {
        if logs > 0 {
            return Ok(());
        }
        return Err(Damage(
            "it is empty (0 bytes): it was truncated, or never written".into(),
        ));
    }
    let mut header = [0u8; 100];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Damage(format!(
                "it is {len} bytes long, too short to be a SQLite database"
            )),
            _ => Damage(format!("it cannot be read: {e}")),
        })?;
    if &header[..16] != b"SQLite format 3\0" {
        return Err(Damage(
            "it is not a SQLite database (it does not start with the SQLite header)".into(),
        ));
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536,
        n => u64::from(n),
    };
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(Damage(format!(
            "its header names an impossible page size ({page_size})"
        )));
    }
    // The header's page count counts only when the change counter matches the number it
    // was written with (SQLite's rule); a log beside the file may hold the missing pages.
    let pages = u64::from(u32::from_be_bytes([
        header[28], header[29], header[30], header[31],
    ]));
    let counted = pages > 0 && header[24..28] == header[92..96];
    if counted && logs == 0 && len < pages * page_size {
        return Err(Damage(format!(
            "it is truncated: {len} bytes, where its header counts {pages} pages of {page_size} bytes ({} bytes)",
            pages * page_size
        )));
    }
    Ok(())
}

/// Which of SQLite's page checks to run.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Check {
    /// `quick_check`: every page, b-tree and free-list structure; O(size).
    Quick,
    /// `integrity_check`: that, plus every index against its table; slower.
    Full,
}

/// Runs SQLite's page check on `conn`. `Ok(true)`: sound; `Ok(false)`: stopped after
/// `budget` before it could say (nothing was found so far, and nothing is known).
pub(crate) fn check_pages(
    conn: &Connection,
    check: Check,
    budget: Option<Duration>,
) -> Result<bool, CheckError> {
    let pragma = match check {
        Check::Quick => format!("PRAGMA quick_check({MAX_PROBLEMS})"),
        Check::Full => format!("PRAGMA integrity_check({MAX_PROBLEMS})"),
    };
    let (finished, wait) = mpsc::channel::<()>();
    let interrupt = conn.get_interrupt_handle();
    let rows = thread::scope(|scope| {
        if let Some(budget) = budget {
            scope.spawn(move || {
                let mut until = budget;
                while let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(until) {
                    interrupt.interrupt();
                    // Again until the check stops: one sent before it started is lost.
                    until = Duration::from_millis(1);
                }
            });
        }
        let rows = conn.prepare(&pragma).and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        });
        drop(finished);
        rows
    });
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) => {
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    if rows.len() == 1 && rows[0] == "ok" {
        return Ok(true);
    }
    // One problem per line, the first saying which database ("*** in database main ***").
    let mut found = rows
        .iter()
        .flat_map(|r| r.lines())
        .filter(|l| !l.starts_with("***"))
        .collect::<Vec<_>>()
        .join("; ");
    if found.len() > 400 {
        let cut = (0..=400)
            .rev()
            .find(|i| found.is_char_boundary(*i))
            .unwrap_or(0);
        found.truncate(cut);
        found.push_str(" ...");
    }
    Err(CheckError::Damaged(Damage(format!(
        "SQLite's {} found: {found}",
        match check {
            Check::Quick => "quick_check",
            Check::Full => "integrity_check",
        }
    ))))
}

/// Opens an existing database file for a check or a copy, never creating one.
pub(crate) fn open_existing(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// The refusal to serve from a damaged database: what is wrong, which file, what to do.
fn refusal(path: &Path, damage: &Damage) -> StoreError {
    let dir = path
        .parent()
        .map_or_else(|| ".".into(), |d| d.display().to_string());
    StoreError::Setup(format!(
        "the database {} is damaged: {}. ocpulse will not serve from it (that would hide or lose its history): restore your latest backup with `ocpulse restore --from FILE --data-dir {dir}` (it keeps the damaged file aside), or move the file away to start with an empty database",
        path.display(),
        damage.0
    ))
}

/// The checks before the store opens `path`: [`check_file`] always; at a server's start
/// (`at_start`) also a `quick_check` bounded by [`START_CHECK_BUDGET`]. Commands that open
/// the store beside a running server skip the page check (the server ran it).
pub(crate) fn before_open(path: &Path, at_start: bool) -> Result<(), StoreError> {
    check_file(path).map_err(|d| refusal(path, &d))?;
    if !at_start || !path.exists() {
        return Ok(());
    }
    let started = Instant::now();
    let size_mb = std::fs::metadata(path).map_or(0, |m| m.len()) / (1024 * 1024);
    let checked = open_existing(path)
        .map_err(CheckError::from)
        .and_then(|conn| check_pages(&conn, Check::Quick, Some(START_CHECK_BUDGET)));
    let took_ms = started.elapsed().as_millis();
    match checked {
        Ok(true) => {
            tracing::info!(file = %path.display(), size_mb, took_ms, "database integrity check passed (quick_check)");
            Ok(())
        }
        Ok(false) => {
            tracing::warn!(
                file = %path.display(),
                size_mb,
                took_ms,
                "database integrity check cut short at its time limit: not every page was checked; `ocpulse backup` checks every page of its copy"
            );
            Ok(())
        }
        Err(CheckError::Damaged(d)) => Err(refusal(path, &d)),
        Err(CheckError::Failed(e)) => Err(StoreError::Setup(format!(
            "cannot check the database {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(dir: &Path, rows: usize) -> PathBuf {
        let path = dir.join("db.sqlite3");
        let mut conn = Connection::open(&path).expect("create");
        let tx = conn.transaction().expect("begin");
        tx.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
            .expect("schema");
        for i in 0..rows {
            tx.execute("INSERT INTO t (body) VALUES (?1)", [format!("{i:0>2000}")])
                .expect("insert");
        }
        tx.commit().expect("commit");
        path
    }

    #[test]
    fn a_missing_file_is_a_new_database_and_an_empty_one_is_damaged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite3");
        assert_eq!(check_file(&path), Ok(()));
        std::fs::write(&path, b"").expect("write");
        let d = check_file(&path).expect_err("empty");
        assert!(d.0.contains("empty (0 bytes)"), "{d:?}");
        // Unless a log beside it holds its first pages.
        std::fs::write(dir.path().join("db.sqlite3-wal"), b"x").expect("write");
        assert_eq!(check_file(&path), Ok(()));
    }

    #[test]
    fn a_file_that_is_not_sqlite_or_is_cut_short_is_damaged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = database(dir.path(), 50);
        assert_eq!(check_file(&path), Ok(()));
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
        let d = check_file(&path).expect_err("truncated");
        assert!(d.0.contains("it is truncated"), "{d:?}");
        std::fs::write(&path, b"not a database, but long enough ".repeat(10)).expect("write");
        let d = check_file(&path).expect_err("not SQLite");
        assert!(d.0.contains("not a SQLite database"), "{d:?}");
        std::fs::write(&path, b"SQLite").expect("write");
        let d = check_file(&path).expect_err("short");
        assert!(d.0.contains("too short"), "{d:?}");
    }

    #[test]
    fn overwritten_pages_fail_the_quick_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = database(dir.path(), 200);
        let conn = open_existing(&path).expect("open");
        assert!(check_pages(&conn, Check::Quick, None).expect("sound"));
        drop(conn);
        let mut bytes = std::fs::read(&path).expect("read");
        let middle = bytes.len() / 2 / 4096 * 4096;
        for (i, b) in bytes[middle..middle + 4 * 4096].iter_mut().enumerate() {
            *b = (i * 7 + 13) as u8;
        }
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!(check_file(&path), Ok(()), "the header is intact");
        let conn = open_existing(&path).expect("open");
        match check_pages(&conn, Check::Quick, None) {
            // SQLite lists what it found, or stops at the first page it cannot read.
            Err(CheckError::Damaged(d)) => assert!(
                d.0.contains("quick_check found") || d.0.contains("SQLite cannot read it"),
                "{d:?}"
            ),
            other => panic!("damage not found: {other:?}"),
        }
    }

    #[test]
    fn a_check_past_its_budget_is_cut_short() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = database(dir.path(), 2000);
        let conn = open_existing(&path).expect("open");
        assert_eq!(
            check_pages(&conn, Check::Full, Some(Duration::ZERO)).ok(),
            Some(false)
        );
        assert!(check_pages(&conn, Check::Full, Some(Duration::from_secs(60))).expect("sound"));
    }
}
