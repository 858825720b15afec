//! Builds the data directory `bench/startup.sh` starts the server on: a journal of
//! `--entries` entries over `--stations` stations, as a fleet streaming MeterValues leaves
//! it (each station connected, booted, its connectors reported, then MeterValues with their
//! answers), and the station snapshots a background round stored `--tail` entries before
//! the end: what start-up finds after a `kill -9` at the worst moment. `--tail` equal to
//! `--entries` stores no snapshot at all.
//!
//! `cargo run --release -p ocpulse --example startup_fixture -- DIR [--stations N]
//! [--entries N] [--tail N]`
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ocpulse_core::journal::{Direction, EVENT, JournalEntry, STATION_CONNECTED};
use ocpulse_core::store::{Store, WriteBatch};
use ocpulse_store::SqliteStore;

/// Entries per commit while filling.
const BATCH: usize = 20_000;

struct Args {
    dir: PathBuf,
    stations: usize,
    entries: usize,
    tail: usize,
}

fn args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        dir: PathBuf::from(
            args.next()
                .expect("usage: startup_fixture DIR [--stations N] [--entries N] [--tail N]"),
        ),
        stations: 10_000,
        entries: 10_000_000,
        tail: 50_000,
    };
    while let Some(flag) = args.next() {
        let value: usize = args
            .next()
            .and_then(|v| v.parse().ok())
            .expect("a number after each flag");
        match flag.as_str() {
            "--stations" => parsed.stations = value,
            "--entries" => parsed.entries = value,
            "--tail" => parsed.tail = value.min(parsed.entries),
            other => panic!("unknown flag {other}"),
        }
    }
    parsed.tail = parsed.tail.min(parsed.entries);
    parsed
}

fn entry(
    station: &str,
    direction: Direction,
    frame_type: &'static str,
    id: &str,
    action: &str,
    payload: String,
    at: i64,
) -> JournalEntry {
    JournalEntry {
        seq: 0,
        station_id: station.to_owned(),
        direction,
        frame_type,
        message_id: (frame_type != EVENT).then(|| id.to_owned()),
        action: Some(action.to_owned()),
        payload,
        at,
        violation: None,
        trigger_id: None,
    }
}

/// The `n`th entry pair of the fleet's traffic: a station's opening (connected, boot,
/// status) first, then MeterValues and their answers, stations in turn.
fn traffic(stations: usize, at0: i64) -> impl Iterator<Item = JournalEntry> {
    let opening = (0..stations).flat_map(move |s| {
        let id = format!("CP{s:05}");
        let at = at0 + i64::try_from(s).unwrap_or(0);
        let now = ocpulse_core::rfc3339(at);
        [
            entry(&id, Direction::In, EVENT, "", STATION_CONNECTED, r#"{"generation":1,"protocol":"ocpp1.6"}"#.into(), at),
            entry(&id, Direction::In, "CALL", "b1", "BootNotification", r#"{"chargePointModel":"sim-1","chargePointSerialNumber":"A1","chargePointVendor":"ocpulse","firmwareVersion":"1.0"}"#.into(), at),
            entry(&id, Direction::Out, "CALLRESULT", "b1", "BootNotification", format!(r#"{{"currentTime":"{now}","interval":300,"status":"Accepted"}}"#), at),
            entry(&id, Direction::In, "CALL", "s1", "StatusNotification", format!(r#"{{"connectorId":1,"errorCode":"NoError","status":"Charging","timestamp":"{now}"}}"#), at),
            entry(&id, Direction::Out, "CALLRESULT", "s1", "StatusNotification", "{}".into(), at),
        ]
    });
    let meter = (0u64..).flat_map(move |n| {
        let s = usize::try_from(n).unwrap_or(0) % stations;
        let id = format!("CP{s:05}");
        let at = at0 + i64::try_from(stations).unwrap_or(0) + i64::try_from(n).unwrap_or(0);
        let now = ocpulse_core::rfc3339(at);
        let message = format!("m{n}");
        [
            entry(&id, Direction::In, "CALL", &message, "MeterValues", format!(r#"{{"connectorId":1,"transactionId":7,"meterValue":[{{"timestamp":"{now}","sampledValue":[{{"value":"{n}","measurand":"Energy.Active.Import.Register","unit":"Wh"}}]}}]}}"#), at),
            entry(&id, Direction::Out, "CALLRESULT", &message, "MeterValues", "{}".into(), at),
        ]
    });
    opening.chain(meter)
}

async fn fill(store: &dyn Store, source: &mut impl Iterator<Item = JournalEntry>, count: usize) {
    let mut left = count;
    while left > 0 {
        let batch: Vec<JournalEntry> = source.by_ref().take(left.min(BATCH)).collect();
        left -= batch.len();
        store
            .commit(WriteBatch {
                entries: batch,
                ..WriteBatch::default()
            })
            .await
            .expect("commit");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = args();
    std::fs::create_dir_all(&args.dir).expect("data directory");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&args.dir).expect("open the store"));
    let at0 = ocpulse::now_ms() - i64::try_from(args.entries).unwrap_or(0);
    let mut source = traffic(args.stations, at0);
    let started = Instant::now();
    fill(&*store, &mut source, args.entries - args.tail).await;
    let filled = started.elapsed();
    if args.entries > args.tail {
        let folding = Instant::now();
        let reached = ocpulse::snapshots::round(&*store, 0)
            .await
            .expect("snapshot round");
        let secs = folding.elapsed().as_secs_f64();
        println!(
            "snapshot of {} stations through seq {reached}: folded {} entries in {secs:.1} s ({:.0} entries/s)",
            args.stations,
            args.entries - args.tail,
            (args.entries - args.tail) as f64 / secs
        );
    }
    fill(&*store, &mut source, args.tail).await;
    println!(
        "{} entries over {} stations ({} after the snapshot) in {:.1} s (fill {:.1} s)",
        args.entries,
        args.stations,
        args.tail,
        started.elapsed().as_secs_f64(),
        filled.as_secs_f64()
    );
}
