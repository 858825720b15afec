//! Integrity and operations of the data directory, on the real binary and real SQLite
//! files: one server per directory (and a restart after `kill -9`), damaged databases
//! refused at start instead of served empty or half-read, and `ocpulse backup` under load
//! restored by `ocpulse restore` with every message acknowledged before the backup began.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::spawned::{
    fill, free_port, journaled, ocpulse, refused, start, stream_meter_values, wait_ready,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_dir_is_refused_and_a_killed_one_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let first = start(port, dir.path());
    wait_ready(port).await;

    let (_, stderr) = refused(free_port(), dir.path());
    let holder = format!("ocpulse serve (pid {}, started ", first.pid());
    assert!(
        stderr.contains(&holder)
            && stderr.contains("is in use by")
            && stderr.contains("ocpulse.lock"),
        "the refusal names the holder ({holder}...): {stderr}"
    );
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "a one-line error: {stderr}"
    );

    // Commands made to run beside a server still do.
    let token = ocpulse()
        .args([
            "token",
            "create",
            "--name",
            "ops",
            "--scope",
            "read",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("token create");
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );

    first.kill();
    let port = free_port();
    let again = start(port, dir.path());
    wait_ready(port).await;
    again.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_length_database_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let server = start(port, dir.path());
    wait_ready(port).await;
    fill(port, "EMPTY1", 1, 20).await;
    server.terminate();

    // The file truncated to nothing, and no write-ahead log beside it that could still
    // hold its pages (SQLite would rebuild a young database from a log that has them all).
    let database = dir.path().join("ocpulse.sqlite3");
    std::fs::File::create(&database).expect("truncate to 0 bytes");
    for log in ["ocpulse.sqlite3-wal", "ocpulse.sqlite3-shm"] {
        let _ = std::fs::remove_file(dir.path().join(log));
    }
    let (_, stderr) = refused(free_port(), dir.path());
    assert!(
        stderr.contains(&format!("the database {} is damaged", database.display()))
            && stderr.contains("empty (0 bytes)")
            && stderr.contains("ocpulse restore --from"),
        "what, which file, what to do: {stderr}"
    );
    assert_eq!(
        std::fs::metadata(&database).expect("kept").len(),
        0,
        "left as it was"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_overwritten_pages_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let server = start(port, dir.path());
    wait_ready(port).await;
    // About 2 MB of journal: 400 MeterValues of 40 values each.
    fill(port, "PAGES1", 40, 400).await;
    server.terminate();

    // A clean stop folds the log into the database: every page is in the file now.
    assert!(
        !dir.path().join("ocpulse.sqlite3-wal").exists(),
        "a stopped server leaves one file"
    );
    let database = dir.path().join("ocpulse.sqlite3");
    let mut bytes = std::fs::read(&database).expect("read");
    let pages = bytes.len() / 4096;
    assert!(pages > 256, "a database of {pages} pages");
    // 64 pages of garbage in the middle, header and schema untouched.
    let from = pages / 2 * 4096;
    let mut x: u32 = 0x2545_f491;
    for b in &mut bytes[from..from + 64 * 4096] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x.to_le_bytes()[0];
    }
    std::fs::write(&database, &bytes).expect("write");

    let (_, stderr) = refused(free_port(), dir.path());
    assert!(
        stderr.contains(&format!("the database {} is damaged", database.display()))
            && stderr.contains("ocpulse restore --from"),
        "what, which file, what to do: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_every_message_acknowledged_before_it_began() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let server = start(port, dir.path());
    wait_ready(port).await;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stations: Vec<_> = (0..4)
        .map(|i| {
            tokio::spawn(stream_meter_values(
                port,
                format!("BAK{i}"),
                20,
                u64::MAX,
                tx.clone(),
            ))
        })
        .collect();
    drop(tx);
    let mut acked = HashSet::new();
    let mut last_ack = Instant::now();
    while acked.len() < 1000 {
        let (id, at) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("acks keep coming")
            .expect("streams alive");
        acked.insert(id);
        last_ack = at;
    }
    // Every acknowledgement received so far came before the backup began.
    while let Ok((id, at)) = rx.try_recv() {
        acked.insert(id);
        last_ack = at;
    }
    let before = acked.clone();
    let backup_file = dir.path().join("backups").join("ocpulse-backup.sqlite3");
    std::fs::create_dir_all(backup_file.parent().expect("dir")).expect("mkdir");
    let began = Instant::now();
    let mut backup = {
        let mut command = ocpulse();
        command
            .arg("backup")
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--to")
            .arg(&backup_file);
        tokio::task::spawn_blocking(move || command.output().expect("backup"))
    };
    // The stations keep streaming while the copy runs; the longest wait for an
    // acknowledgement meanwhile shows whether the backup held the server's writer up.
    let mut longest_gap = Duration::ZERO;
    let mut during = 0;
    let backup = loop {
        tokio::select! {
            output = &mut backup => break output.expect("backup task"),
            ack = rx.recv() => {
                let (id, at) = ack.expect("streams alive");
                longest_gap = longest_gap.max(at.saturating_duration_since(last_ack));
                last_ack = at;
                acked.insert(id);
                during += 1;
            }
        }
    };
    let took = began.elapsed();
    assert!(
        backup.status.success(),
        "backup: {}",
        String::from_utf8_lossy(&backup.stderr)
    );
    let said = String::from_utf8_lossy(&backup.stdout);
    println!(
        "{said}backup under load took {took:?}; {during} MeterValues acknowledged meanwhile, longest wait between acknowledgements {longest_gap:?}"
    );
    assert!(said.contains("journal up to seq"), "{said}");

    // A restore into the live directory is refused while the server holds it.
    let live = ocpulse()
        .arg("restore")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--from")
        .arg(&backup_file)
        .output()
        .expect("restore");
    let stderr = String::from_utf8_lossy(&live.stderr);
    assert!(
        !live.status.success() && stderr.contains("cannot restore while a server runs"),
        "{stderr}"
    );

    server.kill();
    for s in stations {
        let _ = s.await;
    }
    let restore = ocpulse()
        .arg("restore")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--from")
        .arg(&backup_file)
        .output()
        .expect("restore");
    let said = String::from_utf8_lossy(&restore.stdout);
    assert!(
        restore.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&restore.stderr)
    );
    assert!(
        said.contains("the database it replaced is kept as")
            && said.contains("counters carried over from the database it replaces"),
        "{said}"
    );

    let port = free_port();
    let server = start(port, dir.path());
    wait_ready(port).await;
    let mut restored = HashSet::new();
    for i in 0..4 {
        restored.extend(journaled(port, &format!("BAK{i}")).await);
    }
    server.kill();
    let lost: Vec<_> = before.difference(&restored).collect();
    assert!(
        lost.is_empty(),
        "{} of {} messages acknowledged before the backup are not in it, e.g. {:?}",
        lost.len(),
        before.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
    println!(
        "restored {} MeterValues; {} acknowledged before the backup began",
        restored.len(),
        before.len()
    );
}
