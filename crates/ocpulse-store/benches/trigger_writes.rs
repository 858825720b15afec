//! What the durable journal costs per trigger, piece by piece: the CPU the store spends on
//! the writes of one StatusNotification trigger-and-await, with the server's own write
//! pattern (one awaited commit per trigger, the rest enqueued), 32 triggers at a time on
//! 1,000 stations by default, `synchronous=FULL`, and nothing else in the process. Each
//! level adds one part of what ocpulse stores; `raw` is the floor: the four frames as bare
//! rows through rusqlite, one transaction per batch of concurrent triggers, no JSON, no
//! event, no record. Station state is not written per message (it is folded from the
//! journal in the background). The last level is not a trigger: a MeterValues with its
//! answer in one awaited commit, the ingest scenario's unit.
//!
//! `cargo bench -p ocpulse-store --bench trigger_writes [-- --triggers N] [--level L]
//! [--concurrent C] [--stations S]`
//! (20,000 triggers a level by default, each level run three times; bounded in count, about
//! a minute in all). The server's allocator (mimalloc) is used here too.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use ocpulse_core::journal::{Direction, JournalEntry};
use ocpulse_core::store::{Store, WriteBatch};
use ocpulse_core::trigger_record::TriggerRecord;
use ocpulse_store::SqliteStore;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How many triggers run at a time, over how many stations: the defaults are the closed
/// loop's shape; `--concurrent 100 --stations 10000` is a bulk job's over a 10k fleet.
#[derive(Clone, Copy)]
struct Shape {
    concurrent: usize,
    stations: usize,
}

/// Runs per level; the median is printed.
const REPEATS: usize = 3;

/// What one level writes per trigger, beyond the four frames.
#[derive(Clone, Copy)]
struct Level {
    name: &'static str,
    event: bool,
    record: bool,
    /// Everything of the trigger in its one awaited commit: what the store would cost if a
    /// trigger's completion were committed with the message that completes it.
    one_commit: bool,
}

const LEVELS: [Level; 4] = [
    Level {
        name: "4 frames",
        event: false,
        record: false,
        one_commit: false,
    },
    Level {
        name: "+ TriggerCompleted event",
        event: true,
        record: false,
        one_commit: false,
    },
    Level {
        name: "+ trigger record (= the server)",
        event: true,
        record: true,
        one_commit: false,
    },
    Level {
        name: "the same in one commit per trigger",
        event: true,
        record: true,
        one_commit: true,
    },
];

const RECORD: &str = r#"{"id":"T","stationId":"S","protocol":"ocpp1.6","requestedBy":"api","request":{"connectorId":1,"requestedMessage":"StatusNotification"},"createdAt":"2026-11-30T18:28:33.801Z","calls":[{"action":"TriggerMessage","payload":{"connectorId":1,"requestedMessage":"StatusNotification"},"status":"Accepted","answerMs":0}],"messages":[{"action":"StatusNotification","messageId":"e6ad239f-4","payload":{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"2026-11-30T18:28:33.802Z"},"receivedAt":"2026-11-30T18:28:33.802Z","afterMs":0}],"outcome":"Completed","complete":true,"completedAt":"2026-11-30T18:28:33.802Z","elapsedMs":0}"#;

/// The four frames of a StatusNotification trigger, in order: the TriggerMessage, its
/// answer, the triggered StatusNotification, its answer (direction, type, action, payload).
const FRAMES: [(Direction, &str, &str, &str); 4] = [
    (
        Direction::Out,
        "CALL",
        "TriggerMessage",
        r#"{"connectorId":1,"requestedMessage":"StatusNotification"}"#,
    ),
    (
        Direction::In,
        "CALLRESULT",
        "TriggerMessage",
        r#"{"status":"Accepted"}"#,
    ),
    (
        Direction::In,
        "CALL",
        "StatusNotification",
        r#"{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"2026-11-30T18:28:33.802Z"}"#,
    ),
    (Direction::Out, "CALLRESULT", "StatusNotification", "{}"),
];

/// A 1.6 MeterValues of the ingest scenario and its answer: what a streaming station's
/// acknowledged message writes in one awaited commit.
const METER_VALUES: [(Direction, &str, &str, &str); 2] = [
    (
        Direction::In,
        "CALL",
        "MeterValues",
        r#"{"connectorId":1,"meterValue":[{"timestamp":"2026-11-30T18:28:33.802Z","sampledValue":[{"value":"27040","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}"#,
    ),
    (Direction::Out, "CALLRESULT", "MeterValues", "{}"),
];

const MESSAGE_ID: &str = "e6ad239f-4";
const AT: i64 = 1_796_063_313_802;

/// The station of the `k`th unit: any `stations` consecutive units are on distinct stations
/// (a station has one CALL open at a time), not neighbours in key order (a real fleet's
/// stations are not answering in id order).
fn station_of(k: usize, stations: usize) -> usize {
    let stride = if stations.is_multiple_of(7) { 1 } else { 7 };
    (k * stride) % stations
}

fn trigger_id(n: usize) -> String {
    format!("01a22db73f8972ed94e7bb7f5a{n:06x}")
}

/// One frame row (direction, type, action, payload) as a journal entry of `station`.
fn entry(
    station: &str,
    (direction, frame_type, action, payload): (Direction, &'static str, &str, &str),
    trigger: Option<&str>,
) -> JournalEntry {
    JournalEntry {
        seq: 0,
        station_id: station.to_owned(),
        direction,
        frame_type,
        message_id: Some(MESSAGE_ID.to_owned()),
        action: Some(action.to_owned()),
        payload: payload.to_owned(),
        at: AT,
        violation: None,
        trigger_id: trigger.map(str::to_owned),
    }
}

/// Frame `i` of [`FRAMES`] as a journal entry of `station`'s trigger.
fn frame(station: &str, i: usize, trigger: &str) -> JournalEntry {
    entry(station, FRAMES[i], Some(trigger))
}

/// The trigger's final record, as the server stores it.
fn record(template: &TriggerRecord, station: &str, trigger: String) -> Arc<TriggerRecord> {
    let mut record = template.clone();
    record.id = trigger;
    record.station_id = station.to_owned();
    Arc::new(record)
}

fn event(station: &str, trigger: &str, name: &str) -> JournalEntry {
    JournalEntry::trigger_event(
        station,
        trigger,
        name,
        r#"{"calls":1,"request":{"connectorId":1,"requestedMessage":"StatusNotification"},"requestedBy":"api"}"#.to_owned(),
        AT,
    )
}

/// One trigger's writes, in the order and with the waits the server has. The entries before
/// the awaited commit are enqueued back to back here; in the server a station's round trip
/// separates them, so there they share a commit less often and cost a little more.
async fn one_trigger(
    store: &SqliteStore,
    level: Level,
    station: &str,
    template: &TriggerRecord,
    n: usize,
) {
    let trigger = trigger_id(n);
    if level.one_commit {
        return one_commit(store, station, template, trigger).await;
    }
    let batch = |entries, triggers| WriteBatch {
        entries,
        triggers,
        ..WriteBatch::default()
    };
    store.enqueue(batch(vec![frame(station, 0, &trigger)], Vec::new()));
    store.enqueue(batch(vec![frame(station, 1, &trigger)], Vec::new()));
    store
        .commit(batch(
            vec![frame(station, 2, &trigger), frame(station, 3, &trigger)],
            Vec::new(),
        ))
        .await
        .expect("commit");
    let mut last = Vec::new();
    if level.event {
        last.push(event(station, &trigger, "TriggerCompleted"));
    }
    let records = if level.record {
        vec![record(template, station, trigger)]
    } else {
        Vec::new()
    };
    if !last.is_empty() || !records.is_empty() {
        store.enqueue(batch(last, records));
    }
}

/// A MeterValues as the session writes it: the CALL and its CALLRESULT in one commit
/// awaited before the answer.
async fn one_meter_values(store: &SqliteStore, station: &str) {
    let entries = METER_VALUES
        .into_iter()
        .map(|row| entry(station, row, None))
        .collect();
    store
        .commit(WriteBatch {
            entries,
            ..WriteBatch::default()
        })
        .await
        .expect("commit");
}

/// The whole trigger's entries and record in one awaited commit.
async fn one_commit(store: &SqliteStore, station: &str, template: &TriggerRecord, trigger: String) {
    let entries = vec![
        frame(station, 0, &trigger),
        frame(station, 1, &trigger),
        frame(station, 2, &trigger),
        frame(station, 3, &trigger),
        event(station, &trigger, "TriggerCompleted"),
    ];
    store
        .commit(WriteBatch {
            entries,
            triggers: vec![record(template, station, trigger)],
            ..WriteBatch::default()
        })
        .await
        .expect("commit");
}

/// CPU seconds (user + system) of this process and of the store's threads so far.
fn cpu() -> (f64, f64) {
    let ticks = |stat: &str| -> f64 {
        // Fields after the parenthesised name: state is 3rd, utime 14th, stime 15th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (t(11) + t(12)) / 100.0
    };
    let process = std::fs::read_to_string("/proc/self/stat").map_or(0.0, |s| ticks(&s));
    let mut writer = 0.0;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for task in dir.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            // Thread names are cut to 15 bytes: the writer and the checkpointer both read
            // "ocpulse-sqlite-".
            if comm.starts_with("ocpulse-sqlite-") {
                writer +=
                    std::fs::read_to_string(task.path().join("stat")).map_or(0.0, |s| ticks(&s));
            }
        }
    }
    (process, writer)
}

/// One measurement: process CPU µs, store threads' CPU µs (per trigger) and triggers/s.
type Figures = (f64, f64, f64);

/// What each unit of a measurement writes: one trigger of a level, or one MeterValues.
#[derive(Clone, Copy)]
enum Work {
    Trigger(Level),
    MeterValues,
}

fn measure_level(work: Work, triggers: usize, shape: Shape) -> Figures {
    let Shape {
        concurrent,
        stations,
    } = shape;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path()).expect("open"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ids: Arc<Vec<String>> = Arc::new((0..stations).map(|i| format!("S{i:05}")).collect());
    let template: Arc<TriggerRecord> = Arc::new(serde_json::from_str(RECORD).expect("record"));
    let run = |count: usize, offset: usize| {
        runtime.block_on(async {
            let tasks: Vec<_> = (0..concurrent)
                .map(|c| {
                    let store = Arc::clone(&store);
                    let ids = Arc::clone(&ids);
                    let template = Arc::clone(&template);
                    tokio::spawn(async move {
                        let mut k = c;
                        while k < count {
                            let id = &ids[station_of(k, stations)];
                            match work {
                                Work::Trigger(level) => {
                                    one_trigger(&store, level, id, &template, offset + k).await;
                                }
                                Work::MeterValues => one_meter_values(&store, id).await,
                            }
                            k += concurrent;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("task");
            }
        });
    };
    run(triggers / 10, 0); // warm-up: tables and indexes of a running server
    let (p0, w0) = cpu();
    let started = Instant::now();
    run(triggers, triggers);
    // Everything enqueued before it is committed with it.
    runtime
        .block_on(store.commit(WriteBatch::default()))
        .expect("commit");
    std::thread::sleep(std::time::Duration::from_millis(50));
    let secs = started.elapsed().as_secs_f64();
    let (p1, w1) = cpu();
    #[allow(clippy::cast_precision_loss)]
    let n = triggers as f64;
    ((p1 - p0) * 1e6 / n, (w1 - w0) * 1e6 / n, n / secs)
}

/// The floor: the four frames as rows of the journal's own schema, one transaction per
/// `concurrent` triggers, WAL, `synchronous=FULL`; nothing else.
fn measure_raw(triggers: usize, station_index: bool, shape: Shape) -> Figures {
    let Shape {
        concurrent,
        stations,
    } = shape;
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = rusqlite::Connection::open(dir.path().join("raw.sqlite3")).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, station_id TEXT NOT NULL, direction TEXT NOT NULL, frame_type TEXT NOT NULL, message_id TEXT, action TEXT, payload TEXT NOT NULL, at INTEGER NOT NULL, violation TEXT, trigger_id TEXT);
",
    )
    .expect("schema");
    if station_index {
        conn.execute_batch("CREATE INDEX journal_by_station ON journal (station_id, seq);")
            .expect("index");
    }
    let write = |from: usize, to: usize| {
        let mut k = from;
        while k < to {
            let tx = conn.unchecked_transaction().expect("begin");
            {
                let mut insert = tx
                    .prepare_cached("INSERT INTO journal (station_id, direction, frame_type, message_id, action, payload, at, trigger_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
                    .expect("prepare");
                for j in k..(k + concurrent).min(to) {
                    let station = format!("S{:05}", station_of(j, stations));
                    let trigger = trigger_id(j);
                    for (direction, frame_type, action, payload) in FRAMES {
                        insert
                            .execute(rusqlite::params![
                                station,
                                direction.as_str(),
                                frame_type,
                                MESSAGE_ID,
                                action,
                                payload,
                                AT,
                                trigger
                            ])
                            .expect("insert");
                    }
                }
            }
            tx.commit().expect("commit");
            k += concurrent;
        }
    };
    write(0, triggers / 10);
    let (p0, _) = cpu();
    let started = Instant::now();
    write(triggers / 10, triggers / 10 + triggers);
    let secs = started.elapsed().as_secs_f64();
    let (p1, _) = cpu();
    #[allow(clippy::cast_precision_loss)]
    let n = triggers as f64;
    ((p1 - p0) * 1e6 / n, f64::NAN, n / secs)
}

/// Runs `measure` `REPEATS` times and prints the median of each column: this machine's
/// speed moves between runs, and the process CPU is read in 10 ms ticks.
fn row(name: &str, measure: impl Fn() -> Figures) {
    let mut runs: Vec<Figures> = (0..REPEATS).map(|_| measure()).collect();
    let median = |runs: &mut Vec<Figures>, pick: fn(&Figures) -> f64| {
        runs.sort_by(|a, b| pick(a).total_cmp(&pick(b)));
        pick(&runs[runs.len() / 2])
    };
    let process = median(&mut runs, |f| f.0);
    let store = median(&mut runs, |f| f.1);
    let rate = median(&mut runs, |f| f.2);
    let store = if store.is_nan() {
        "(same thread)".to_owned()
    } else {
        format!("{store:.1}")
    };
    println!("| {name} | {process:.1} | {store} | {rate:.0} |");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let triggers = flag("--triggers").unwrap_or(20_000);
    // `--level N` runs one level only (0 = raw), for a profiler.
    let only = flag("--level");
    let shape = Shape {
        concurrent: flag("--concurrent").unwrap_or(32).max(1),
        stations: flag("--stations").unwrap_or(1000).max(1),
    };
    println!(
        "{triggers} StatusNotification triggers (or MeterValues) per level, {} at a time, {} stations, synchronous=FULL; median of {REPEATS} runs\n",
        shape.concurrent, shape.stations
    );
    println!(
        "| writes per trigger | process CPU µs / trigger | store threads' CPU µs / trigger (writer + checkpoint) | triggers/s |"
    );
    println!("|---|---|---|---|");
    if only.is_none_or(|l| l == 0) {
        row(
            "raw: 4 frame rows, one transaction per batch of concurrent triggers, no index",
            || measure_raw(triggers, false, shape),
        );
        row("raw: the same with the per-station index", || {
            measure_raw(triggers, true, shape)
        });
    }
    for (i, level) in LEVELS.into_iter().enumerate() {
        if only.is_none_or(|l| l == i + 1) {
            row(level.name, || {
                measure_level(Work::Trigger(level), triggers, shape)
            });
        }
    }
    // `--level 5`: the ingest scenario's unit (shape it with `--concurrent 100 --stations 100`).
    if only.is_none_or(|l| l == LEVELS.len() + 1) {
        row(
            "MeterValues (not a trigger): its 2 frames, one awaited commit",
            || measure_level(Work::MeterValues, triggers, shape),
        );
    }
}
