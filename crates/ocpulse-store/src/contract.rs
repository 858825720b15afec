//! The storage contract: what every `Store` backend must do, written once and run against
//! each (memory, SQLite, PostgreSQL) by [`contract_tests!`](crate::contract_tests).
//!
//! The server relies on these rules and nothing else: journal entries get increasing
//! `seq`s in commit order, reads filter and page exactly so, an acknowledged batch is
//! durable and whole, subscribers see an entry only once it is committed, and what was
//! queued without waiting is written in order with everything else. A new backend is done
//! when it passes this suite.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::journal::{Direction, EVENT, JournalEntry, JournalQuery, JournalScan, MALFORMED};
use ocpulse_core::projection::Folded;
use ocpulse_core::state::StationState;
use ocpulse_core::store::{
    BoxFuture, Doc, Snapshot, SnapshotWrite, Store, StoreError, StoredStation, WriteBatch,
};
use ocpulse_core::trigger_record::{Outcome, RecordKind, TriggerQuery, TriggerRecord};
use parking_lot::Mutex;

/// A backend under test: one storage (a directory, a schema) that can be opened again and
/// again, as a server restarting on it would.
pub trait Backend: Send + Sync {
    /// Opens the storage as `ocpulse serve` does (triggers left running are interrupted).
    /// Every call opens the same storage; the previous store is dropped first when the
    /// test wants a restart.
    fn open(&self) -> BoxFuture<Result<Arc<dyn Store>, StoreError>>;

    /// Cuts `store` off from its storage the way a crash would, while commits may be in
    /// flight: what is not committed is lost, nothing more is written or flushed (the
    /// store may go on working through a new connection afterwards). Returns false when
    /// the backend cannot simulate a crash (the crash test then says it was skipped).
    fn crash(&self, store: Arc<dyn Store>) -> BoxFuture<bool> {
        drop(store);
        Box::pin(std::future::ready(false))
    }
}

/// Runs every contract test as a `#[tokio::test]` in the calling module. `$backend` is an
/// expression giving a future of `Option<impl Backend>`, evaluated afresh by each test; a
/// `None` (say, no database configured) makes the test pass after saying it was skipped.
#[macro_export]
macro_rules! contract_tests {
    ($backend:expr) => {
        $crate::contract_tests!(@each $backend;
            journal_keeps_commit_order_and_every_field,
            journal_reads_one_station_newest_first_with_each_filter,
            journal_scan_filters_and_pages_oldest_first,
            journal_after_pages_every_station_and_head_follows,
            subscribers_see_committed_entries_in_seq_order,
            trigger_records_are_replaced_by_id_filtered_and_paged,
            running_triggers_are_interrupted_by_a_restart,
            documents_are_put_replaced_deleted_and_kept,
            station_snapshots_are_kept_by_seq_and_loaded_after_reopening,
            the_highest_transaction_id_is_kept_across_reopening,
            concurrent_commits_are_all_durable_in_each_tasks_order,
            a_large_batch_commits_whole,
            queued_writes_become_visible_in_order,
            a_closed_store_keeps_what_was_queued,
            nul_characters_do_not_fail_a_commit,
            batches_are_whole_or_absent_after_a_crash,
            pruning_deletes_only_the_covered_actions_in_its_window,
            seq_before_and_stats_follow_the_journal
        );
    };
    (@each $backend:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(backend) = $backend.await else {
                    eprintln!("skipped: {} (backend not available)", stringify!($name));
                    return;
                };
                $crate::contract::$name(&backend).await;
            }
        )*
    };
}

/// How long anything eventual (a queued write, a published entry) may take.
const EVENTUALLY: Duration = Duration::from_secs(10);

async fn open(backend: &dyn Backend) -> Arc<dyn Store> {
    backend.open().await.expect("the backend opens")
}

/// A station CALL of `action` at `at` (its payload names the time): test data for any code
/// that writes journal entries, here and in the server's tests.
pub fn entry(station: &str, action: &str, at: i64) -> JournalEntry {
    JournalEntry {
        seq: 0,
        station_id: station.into(),
        direction: Direction::In,
        frame_type: "CALL",
        message_id: Some(format!("m{at}")),
        action: Some(action.into()),
        payload: format!(r#"{{"at":{at}}}"#),
        at,
        violation: None,
        trigger_id: None,
    }
}

fn entries(list: Vec<JournalEntry>) -> WriteBatch {
    WriteBatch {
        entries: list,
        ..WriteBatch::default()
    }
}

fn record(id: &str, station: &str, outcome: Outcome) -> TriggerRecord {
    TriggerRecord {
        id: id.into(),
        kind: RecordKind::Trigger,
        station_id: station.into(),
        protocol: "ocpp1.6".into(),
        requested_by: "contract".into(),
        request: serde_json::json!({"requestedMessage": "Heartbeat"}),
        created_at: "2025-01-01T00:00:00Z".into(),
        calls: Vec::new(),
        messages: Vec::new(),
        unmatched: Vec::new(),
        outcome,
        detail: None,
        complete: false,
        completed_at: None,
        elapsed_ms: None,
        certificate: None,
    }
}

/// A stored snapshot of `id` folded up to `seq` (its `last_seen` says so too).
fn stored(id: &str, seq: i64) -> StoredStation {
    let mut state = StationState::new(id);
    state.last_seen = Some(seq);
    StoredStation::of(&Folded { seq, state }).expect("json")
}

/// A batch of snapshots, moving the mark to `through` when set.
fn snapshot(stations: Vec<StoredStation>, through: Option<i64>) -> WriteBatch {
    WriteBatch {
        snapshot: Some(SnapshotWrite { stations, through }),
        ..WriteBatch::default()
    }
}

fn ats(list: &[JournalEntry]) -> Vec<i64> {
    list.iter().map(|e| e.at).collect()
}

fn seqs_increase(list: &[JournalEntry]) -> bool {
    list.windows(2).all(|w| w[0].seq < w[1].seq)
}

/// Waits until `check` holds, polling; panics with `what` after [`EVENTUALLY`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every field of an entry is kept, whatever its frame type; `seq`s increase in commit
/// order within and across batches; an empty batch commits.
pub async fn journal_keeps_commit_order_and_every_field(backend: &dyn Backend) {
    let store = open(backend).await;
    assert_eq!(
        store.journal_head().await.expect("head"),
        0,
        "empty journal"
    );
    store
        .commit(WriteBatch::default())
        .await
        .expect("an empty batch commits");
    let call = entry("CP1", "BootNotification", 10);
    let answer = JournalEntry {
        direction: Direction::Out,
        frame_type: "CALLRESULT",
        violation: Some("additional property".into()),
        trigger_id: Some("t1".into()),
        payload: r#"{"status":"Accepted"}"#.into(),
        ..entry("CP1", "BootNotification", 11)
    };
    let malformed = JournalEntry {
        frame_type: MALFORMED,
        message_id: None,
        action: None,
        payload: "not [json".into(),
        ..entry("CP1", "x", 12)
    };
    let event = JournalEntry {
        frame_type: EVENT,
        direction: Direction::Out,
        ..entry("CP2", "StationConnected", 13)
    };
    let error = JournalEntry {
        frame_type: "CALLERROR",
        direction: Direction::In,
        ..entry("CP2", "Reset", 14)
    };
    let written = [call, answer, malformed, event, error];
    store
        .commit(entries(written[..2].to_vec()))
        .await
        .expect("commit");
    store
        .commit(entries(vec![written[2].clone()]))
        .await
        .expect("commit");
    store
        .commit(entries(written[3..].to_vec()))
        .await
        .expect("commit");
    let read = store.journal_after(0, 100).await.expect("read");
    assert_eq!(read.len(), written.len());
    assert!(seqs_increase(&read), "seqs increase in commit order");
    assert!(read[0].seq > 0, "a seq is assigned");
    for (got, want) in read.iter().zip(&written) {
        assert_eq!(
            *got,
            JournalEntry {
                seq: got.seq,
                ..want.clone()
            },
            "every field as written"
        );
    }
    let head = store.journal_head().await.expect("head");
    assert_eq!(head, read[4].seq);
    store
        .commit(entries(vec![entry("CP1", "Heartbeat", 20)]))
        .await
        .expect("commit");
    let later = store.journal_after(head, 10).await.expect("read");
    assert_eq!(ats(&later), vec![20]);
    assert!(later[0].seq > head, "a later commit, a higher seq");
}

/// `journal` reads one station newest first and applies the action, `before_seq`,
/// `before_at` and limit filters.
pub async fn journal_reads_one_station_newest_first_with_each_filter(backend: &dyn Backend) {
    let store = open(backend).await;
    let mut list = Vec::new();
    for i in 0..10 {
        let action = if i % 2 == 0 {
            "Heartbeat"
        } else {
            "MeterValues"
        };
        list.push(entry("CP1", action, i));
        list.push(entry("CP2", action, 100 + i));
    }
    store.commit(entries(list)).await.expect("commit");
    let q = |action: Option<&str>, before_seq, before_at, limit| JournalQuery {
        station_id: "CP1".into(),
        action: action.map(Into::into),
        before_seq,
        before_at,
        limit,
    };
    let all = store.journal(q(None, None, None, 100)).await.expect("read");
    assert_eq!(ats(&all), (0..10).rev().collect::<Vec<_>>(), "newest first");
    assert!(all.iter().all(|e| e.station_id == "CP1"));
    let beats = store
        .journal(q(Some("Heartbeat"), None, None, 100))
        .await
        .expect("read");
    assert_eq!(ats(&beats), vec![8, 6, 4, 2, 0]);
    let page1 = store.journal(q(None, None, None, 3)).await.expect("read");
    let page2 = store
        .journal(q(None, Some(page1[2].seq), None, 3))
        .await
        .expect("read");
    assert_eq!(ats(&page1), vec![9, 8, 7]);
    assert_eq!(ats(&page2), vec![6, 5, 4], "pages by seq, nothing skipped");
    let early = store
        .journal(q(None, None, Some(5), 100))
        .await
        .expect("read");
    assert_eq!(ats(&early), vec![4, 3, 2, 1, 0], "before_at is exclusive");
    let combined = store
        .journal(q(Some("MeterValues"), Some(all[2].seq), Some(6), 1))
        .await
        .expect("read");
    assert_eq!(ats(&combined), vec![5]);
    let none = store
        .journal(JournalQuery {
            station_id: "CP9".into(),
            limit: 10,
            ..JournalQuery::default()
        })
        .await
        .expect("read");
    assert!(none.is_empty());
}

/// `journal_scan` filters by station, actions, station CALLs and time, and pages oldest
/// first by its cursor up to `until_seq`.
pub async fn journal_scan_filters_and_pages_oldest_first(backend: &dyn Backend) {
    let store = open(backend).await;
    let mut list = Vec::new();
    for i in 0..10 {
        let station = if i % 2 == 0 { "CP1" } else { "CP2" };
        let action = if i % 3 == 0 {
            "MeterValues"
        } else {
            "Heartbeat"
        };
        list.push(entry(station, action, i * 10));
    }
    list.push(JournalEntry {
        frame_type: "CALLRESULT",
        direction: Direction::Out,
        ..entry("CP1", "MeterValues", 95)
    });
    list.push(JournalEntry {
        action: None,
        frame_type: MALFORMED,
        ..entry("CP1", "", 97)
    });
    store.commit(entries(list)).await.expect("commit");
    let scan = |s: JournalScan| {
        let store = Arc::clone(&store);
        async move { store.journal_scan(s).await.expect("read") }
    };
    let all = scan(JournalScan {
        limit: 100,
        ..JournalScan::default()
    })
    .await;
    assert_eq!(
        ats(&all),
        vec![0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 97],
        "every station, oldest first"
    );
    let cp1 = scan(JournalScan {
        station_id: Some("CP1".into()),
        limit: 100,
        ..JournalScan::default()
    })
    .await;
    assert_eq!(ats(&cp1), vec![0, 20, 40, 60, 80, 95, 97]);
    let meter = scan(JournalScan {
        actions: vec!["MeterValues".into(), "StopTransaction".into()],
        limit: 100,
        ..JournalScan::default()
    })
    .await;
    assert_eq!(
        ats(&meter),
        vec![0, 30, 60, 90, 95],
        "an entry without action matches no action"
    );
    let meter_calls = scan(JournalScan {
        actions: vec!["MeterValues".into()],
        station_calls_only: true,
        limit: 100,
        ..JournalScan::default()
    })
    .await;
    assert_eq!(
        ats(&meter_calls),
        vec![0, 30, 60, 90],
        "the CALLRESULT is left out"
    );
    let window = scan(JournalScan {
        from_at: Some(20),
        to_at: Some(60),
        limit: 100,
        ..JournalScan::default()
    })
    .await;
    assert_eq!(
        ats(&window),
        vec![20, 30, 40, 50],
        "from inclusive, to exclusive"
    );
    let one_station_window = scan(JournalScan {
        station_id: Some("CP2".into()),
        from_at: Some(20),
        limit: 2,
        ..JournalScan::default()
    })
    .await;
    assert_eq!(
        ats(&one_station_window),
        vec![30, 50],
        "filters combine with the limit"
    );
    let mut pages = Vec::new();
    let mut after_seq = 0;
    loop {
        let page = scan(JournalScan {
            after_seq,
            until_seq: Some(all[8].seq),
            limit: 4,
            ..JournalScan::default()
        })
        .await;
        let Some(last) = page.last() else { break };
        after_seq = last.seq;
        pages.push(ats(&page));
    }
    assert_eq!(
        pages,
        vec![vec![0, 10, 20, 30], vec![40, 50, 60, 70], vec![80]],
        "pages by cursor, ending at until_seq"
    );
}

/// `journal_after` reads every station oldest first in pages; `journal_head` is the
/// highest committed seq, also after reopening.
pub async fn journal_after_pages_every_station_and_head_follows(backend: &dyn Backend) {
    let store = open(backend).await;
    assert_eq!(store.journal_head().await.expect("head"), 0);
    assert!(store.journal_after(0, 10).await.expect("read").is_empty());
    let list = (0..7)
        .map(|i| entry(if i % 2 == 0 { "CP1" } else { "CP2" }, "Heartbeat", i))
        .collect();
    store.commit(entries(list)).await.expect("commit");
    let mut read = Vec::new();
    let mut after = 0;
    loop {
        let page = store.journal_after(after, 3).await.expect("read");
        assert!(page.len() <= 3, "the limit holds");
        let Some(last) = page.last() else { break };
        after = last.seq;
        read.extend(page);
    }
    assert_eq!(
        ats(&read),
        (0..7).collect::<Vec<_>>(),
        "nothing skipped across pages"
    );
    assert!(seqs_increase(&read));
    assert_eq!(read[1].station_id, "CP2");
    assert_eq!(store.journal_head().await.expect("head"), after);
    let tail = store.journal_after(read[4].seq, 100).await.expect("read");
    assert_eq!(ats(&tail), vec![5, 6]);
    drop(store);
    let store = open(backend).await;
    assert_eq!(
        store.journal_head().await.expect("head"),
        after,
        "after reopening"
    );
    store
        .commit(entries(vec![entry("CP1", "Heartbeat", 7)]))
        .await
        .expect("commit");
    let next = store.journal_after(after, 10).await.expect("read");
    assert_eq!(ats(&next), vec![7]);
    assert!(next[0].seq > after, "seqs are never reused after reopening");
}

/// A subscriber gets every entry committed after it subscribed, once, in `seq` order, with
/// the `seq` the journal gave it, and only once it can be read back (committed).
pub async fn subscribers_see_committed_entries_in_seq_order(backend: &dyn Backend) {
    let store = open(backend).await;
    store
        .commit(entries(vec![entry("CP1", "BootNotification", 0)]))
        .await
        .expect("commit before anyone listens");
    let mut events = store.subscribe();
    store.record(vec![entry("CP2", "Heartbeat", 1)]);
    store
        .commit(entries(vec![
            entry("CP1", "Heartbeat", 2),
            entry("CP1", "MeterValues", 3),
        ]))
        .await
        .expect("commit");
    let mut live = Vec::new();
    for _ in 0..3 {
        let e = tokio::time::timeout(EVENTUALLY, events.recv())
            .await
            .expect("published in time")
            .expect("not lagged");
        live.push((*e).clone());
    }
    let stored = store.journal_after(0, 100).await.expect("read");
    assert_eq!(stored.len(), 4);
    assert_eq!(
        live,
        stored[1..],
        "every entry committed after subscribing, in order"
    );
    assert!(events.try_recv().is_err(), "nothing published twice");

    // Many writers at once: still one order, and every entry readable when it is heard of.
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in 0..25 {
                    store
                        .commit(entries(vec![entry(&format!("W{t}"), "Heartbeat", i)]))
                        .await
                        .expect("commit");
                }
            })
        })
        .collect();
    let mut last = stored[3].seq;
    for _ in 0..100 {
        let e = tokio::time::timeout(EVENTUALLY, events.recv())
            .await
            .expect("published in time")
            .expect("not lagged");
        assert!(e.seq > last, "published in seq order");
        last = e.seq;
        let back = store.journal_after(e.seq - 1, 1).await.expect("read");
        assert_eq!(
            back.first().map(|b| b.seq),
            Some(e.seq),
            "committed when published"
        );
    }
    for t in tasks {
        t.await.expect("writer task");
    }
}

/// Trigger records are inserted or replaced by id (keeping their list position), read by
/// id, listed newest first and filtered by kind, station, outcome and position.
pub async fn trigger_records_are_replaced_by_id_filtered_and_paged(backend: &dyn Backend) {
    let store = open(backend).await;
    let save = |r: TriggerRecord| {
        store.commit(WriteBatch {
            triggers: vec![Arc::new(r)],
            ..WriteBatch::default()
        })
    };
    save(record("t1", "CP1", Outcome::Running))
        .await
        .expect("save");
    save(record("t2", "CP2", Outcome::Rejected))
        .await
        .expect("save");
    save(record("t3", "CP1", Outcome::Running))
        .await
        .expect("save");
    let mut call = record("c1", "CP1", Outcome::Running);
    call.kind = RecordKind::Call;
    save(call.clone()).await.expect("save");
    call.outcome = Outcome::CallError;
    save(call.clone()).await.expect("replace");
    assert_eq!(store.trigger("c1".into()).await.expect("read"), Some(call));
    let mut done = record("t1", "CP1", Outcome::Completed);
    done.detail = Some("all there".into());
    done.complete = true;
    save(done.clone()).await.expect("replace");
    assert_eq!(store.trigger("t1".into()).await.expect("read"), Some(done));
    assert_eq!(store.trigger("nope".into()).await.expect("read"), None);
    let list = |q: TriggerQuery| {
        let store = Arc::clone(&store);
        async move {
            store
                .triggers(q)
                .await
                .expect("list")
                .into_iter()
                .map(|(seq, r)| (seq, r.id))
                .collect::<Vec<_>>()
        }
    };
    let everything = list(TriggerQuery {
        limit: 10,
        ..TriggerQuery::default()
    })
    .await;
    let ids: Vec<&str> = everything.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["c1", "t3", "t2", "t1"],
        "every kind without a filter"
    );
    let calls = list(TriggerQuery {
        kind: Some(RecordKind::Call),
        outcome: Some(Outcome::CallError),
        limit: 10,
        ..TriggerQuery::default()
    })
    .await;
    assert_eq!(
        calls.len(),
        1,
        "the kind and outcome columns follow the record"
    );
    assert_eq!(calls[0].1, "c1");
    let all = list(TriggerQuery {
        kind: Some(RecordKind::Trigger),
        limit: 10,
        ..TriggerQuery::default()
    })
    .await;
    let ids: Vec<&str> = all.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids, vec!["t3", "t2", "t1"], "newest first, one row per id");
    assert!(
        all.windows(2).all(|w| w[0].0 > w[1].0),
        "positions decrease"
    );
    let cp1 = list(TriggerQuery {
        kind: Some(RecordKind::Trigger),
        station_id: Some("CP1".into()),
        limit: 10,
        ..TriggerQuery::default()
    })
    .await;
    assert_eq!(
        cp1.iter().map(|(_, id)| id.as_str()).collect::<Vec<_>>(),
        vec!["t3", "t1"]
    );
    let rejected = list(TriggerQuery {
        outcome: Some(Outcome::Rejected),
        limit: 10,
        ..TriggerQuery::default()
    })
    .await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].1, "t2");
    let page1 = list(TriggerQuery {
        kind: Some(RecordKind::Trigger),
        limit: 2,
        ..TriggerQuery::default()
    })
    .await;
    let page2 = list(TriggerQuery {
        kind: Some(RecordKind::Trigger),
        before_seq: Some(page1[1].0),
        limit: 2,
        ..TriggerQuery::default()
    })
    .await;
    assert_eq!(
        page1
            .iter()
            .chain(&page2)
            .map(|(_, id)| id.as_str())
            .collect::<Vec<_>>(),
        vec!["t3", "t2", "t1"],
        "pages by position"
    );
}

/// A trigger still running when the store was last closed never finishes: opening the
/// store again marks it interrupted, with a reason, and leaves finished ones alone.
pub async fn running_triggers_are_interrupted_by_a_restart(backend: &dyn Backend) {
    let store = open(backend).await;
    store
        .commit(WriteBatch {
            triggers: vec![
                Arc::new(record("run", "CP1", Outcome::Running)),
                Arc::new(record("done", "CP1", Outcome::Completed)),
            ],
            ..WriteBatch::default()
        })
        .await
        .expect("commit");
    drop(store);
    let store = open(backend).await;
    let run = store
        .trigger("run".into())
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(run.outcome, Outcome::Interrupted);
    assert!(run.detail.is_some_and(|d| d.contains("stopped")));
    let listed = store
        .triggers(TriggerQuery {
            outcome: Some(Outcome::Interrupted),
            limit: 10,
            ..TriggerQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(listed.len(), 1, "the outcome column follows the record");
    let done = store
        .trigger("done".into())
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(done.outcome, Outcome::Completed);
}

/// Documents are kept by kind and id, listed by id, replaced, deleted, read one at a
/// time, and survive reopening.
pub async fn documents_are_put_replaced_deleted_and_kept(backend: &dyn Backend) {
    let store = open(backend).await;
    let put = |kind, id, n: i32| Doc::put(kind, id, &serde_json::json!({"n": n})).expect("json");
    store
        .save_docs(vec![
            put("job", "b", 1),
            put("job", "a", 2),
            put("alert", "a", 3),
        ])
        .await
        .expect("commit");
    store
        .commit(WriteBatch {
            docs: vec![
                put("job", "b", 4),
                Doc::delete("alert", "a"),
                Doc::delete("alert", "never"),
                put("job", "c", 5),
                Doc::delete("job", "c"),
            ],
            ..WriteBatch::default()
        })
        .await
        .expect("commit");
    drop(store);
    let store = open(backend).await;
    assert_eq!(
        store.docs("job").await.expect("read"),
        vec![
            ("a".to_owned(), r#"{"n":2}"#.to_owned()),
            ("b".to_owned(), r#"{"n":4}"#.to_owned())
        ],
        "ordered by id, the later write wins, a put then delete in one batch deletes"
    );
    assert!(
        store.docs("alert").await.expect("read").is_empty(),
        "deleted"
    );
    assert!(store.docs("other").await.expect("read").is_empty());
    assert_eq!(
        store.doc("job", "b".into()).await.expect("read"),
        Some(r#"{"n":4}"#.to_owned())
    );
    assert_eq!(store.doc("alert", "a".into()).await.expect("read"), None);
    assert_eq!(
        store.doc("alert", "b".into()).await.expect("read"),
        None,
        "kinds do not mix"
    );
}

/// Station snapshots are upserted by id, never replaced by an older fold, loaded ordered
/// by id with the mark of the last complete round after reopening, and read by id.
pub async fn station_snapshots_are_kept_by_seq_and_loaded_after_reopening(backend: &dyn Backend) {
    let store = open(backend).await;
    assert_eq!(store.load_snapshot().expect("load"), Snapshot::default());
    for (id, seq, through) in [
        ("CP2", 1, None),
        ("CP1", 2, None),
        ("CP2", 3, Some(3)),
        ("CP2", 2, None),
    ] {
        store
            .commit(snapshot(vec![stored(id, seq)], through))
            .await
            .expect("commit");
    }
    let mut boot = StationState::new("CP3");
    boot.protocol = Some("ocpp2.0.1".into());
    boot.registration_status = Some("Accepted".into());
    let whole = Folded {
        seq: 4,
        state: boot,
    };
    store
        .commit(snapshot(
            vec![StoredStation::of(&whole).expect("json")],
            Some(2),
        ))
        .await
        .expect("a snapshot alone commits");
    drop(store);
    let store = open(backend).await;
    let loaded = store.load_snapshot().expect("load");
    assert_eq!(loaded.through, 3, "the mark is never lowered");
    assert_eq!(
        loaded
            .stations
            .iter()
            .map(|f| (f.state.id.as_str(), f.seq, f.state.last_seen))
            .collect::<Vec<_>>(),
        vec![("CP1", 2, Some(2)), ("CP2", 3, Some(3)), ("CP3", 4, None)],
        "one per station, the newest fold, ordered by id"
    );
    assert_eq!(loaded.stations[2], whole, "the whole state round-trips");
    let some = store
        .station_snapshots(vec!["CP3".into(), "NEW".into(), "CP1".into()])
        .await
        .expect("read");
    let mut ids: Vec<&str> = some.iter().map(|f| f.state.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec!["CP1", "CP3"], "only the stations that have one");
}

/// The highest 1.6 transaction id any committed batch handed out is kept, never lowered,
/// and read back after reopening.
pub async fn the_highest_transaction_id_is_kept_across_reopening(backend: &dyn Backend) {
    let store = open(backend).await;
    assert_eq!(store.last_transaction_id().expect("read"), 0, "none yet");
    for id in [Some(7), None, Some(5)] {
        store
            .commit(WriteBatch {
                entries: vec![entry("CP1", "StartTransaction", 1)],
                transaction_id: id,
                ..WriteBatch::default()
            })
            .await
            .expect("commit");
    }
    assert_eq!(store.last_transaction_id().expect("read"), 7);
    drop(store);
    let store = open(backend).await;
    assert_eq!(
        store.last_transaction_id().expect("read"),
        7,
        "never lowered"
    );
    store
        .commit(WriteBatch {
            transaction_id: Some(8),
            ..WriteBatch::default()
        })
        .await
        .expect("commit");
    assert_eq!(store.last_transaction_id().expect("read"), 8);
}

/// Commits from many tasks at once are all acknowledged, all durable across reopening,
/// and each task's entries keep its order.
pub async fn concurrent_commits_are_all_durable_in_each_tasks_order(backend: &dyn Backend) {
    const TASKS: usize = 16;
    const EACH: i64 = 40;
    let store = open(backend).await;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let station = format!("T{t:02}");
                for i in 0..EACH {
                    // Some batches carry two entries, some a record nobody waits for.
                    if i % 5 == 0 {
                        store.record(vec![entry(&station, "StatusNotification", i)]);
                        continue;
                    }
                    let mut list = vec![entry(&station, "MeterValues", i)];
                    if i % 3 == 0 {
                        list.push(JournalEntry {
                            direction: Direction::Out,
                            frame_type: "CALLRESULT",
                            ..entry(&station, "MeterValues", i)
                        });
                    }
                    store.commit(entries(list)).await.expect("acknowledged");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    drop(store);
    let store = open(backend).await;
    let all = store.journal_after(0, 100_000).await.expect("read");
    assert!(seqs_increase(&all), "unique, increasing seqs");
    let per_call = usize::try_from(EACH).unwrap_or(0);
    let answers = (0..EACH).filter(|i| i % 5 != 0 && i % 3 == 0).count();
    assert_eq!(all.len(), TASKS * (per_call + answers), "nothing lost");
    let mut by_station: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for e in &all {
        by_station.entry(&e.station_id).or_default().push(e.at);
    }
    for (station, list) in by_station {
        let calls: Vec<i64> = all
            .iter()
            .filter(|e| e.station_id == station && e.direction == Direction::In)
            .map(|e| e.at)
            .collect();
        assert_eq!(
            calls,
            (0..EACH).collect::<Vec<_>>(),
            "{station} in its order"
        );
        assert!(
            list.windows(2).all(|w| w[0] <= w[1]),
            "{station}: answers follow calls"
        );
    }
}

/// One batch far larger than any group: committed whole, in order.
pub async fn a_large_batch_commits_whole(backend: &dyn Backend) {
    let store = open(backend).await;
    let n = 20_000;
    let list = (0..n).map(|i| entry("BIG", "MeterValues", i)).collect();
    store.commit(entries(list)).await.expect("commit");
    let all = store.journal_after(0, 100_000).await.expect("read");
    assert_eq!(ats(&all), (0..n).collect::<Vec<_>>());
    assert!(seqs_increase(&all));
}

/// What is queued without waiting (`record`, `enqueue`: entries, records, documents, a
/// station's state) is written without any later commit, in order with what is committed.
pub async fn queued_writes_become_visible_in_order(backend: &dyn Backend) {
    let store = open(backend).await;
    store.record(vec![entry("CP1", "TriggerMessage", 1)]);
    store.enqueue(WriteBatch {
        entries: vec![entry("CP1", "TriggerMessage", 2)],
        triggers: vec![Arc::new(record("q1", "CP1", Outcome::Completed))],
        docs: vec![Doc::put("job", "q", &1).expect("json")],
        snapshot: snapshot(vec![stored("QUIET", 7)], None).snapshot,
        transaction_id: None,
        prune: Vec::new(),
    });
    store
        .commit(entries(vec![entry("BUSY", "Heartbeat", 3)]))
        .await
        .expect("commit");
    let read = store.journal_after(0, 10).await.expect("read");
    assert_eq!(
        ats(&read),
        vec![1, 2, 3],
        "queued before the commit, written before it"
    );
    assert!(store.trigger("q1".into()).await.expect("read").is_some());
    assert_eq!(
        store.doc("job", "q".into()).await.expect("read"),
        Some("1".into())
    );
    let states = store.load_snapshot().expect("load").stations;
    assert!(
        states.iter().any(|f| f.state.id == "QUIET" && f.seq == 7),
        "the queued snapshot is written with the batch it was queued in"
    );
    // Queued alone, with nothing committed after it.
    store.record(vec![entry("CP1", "Heartbeat", 4)]);
    let head = read[2].seq;
    eventually("a lone record is written", || {
        let store = Arc::clone(&store);
        async move { store.journal_head().await.expect("head") > head }
    })
    .await;
}

/// Dropping a store writes what was queued first (a shutdown loses nothing).
pub async fn a_closed_store_keeps_what_was_queued(backend: &dyn Backend) {
    let store = open(backend).await;
    store.enqueue(WriteBatch {
        docs: vec![Doc::put("job", "queued", &1).expect("json")],
        ..snapshot(vec![stored("QUIET", 7)], None)
    });
    store
        .commit(entries(vec![entry("BUSY", "Heartbeat", 1)]))
        .await
        .expect("commit");
    store.record(vec![entry("BUSY", "Heartbeat", 2)]);
    drop(store);
    let store = open(backend).await;
    let states = store.load_snapshot().expect("load").stations;
    assert!(states.iter().any(|f| f.state.id == "QUIET" && f.seq == 7));
    assert_eq!(
        ats(&store.journal_after(0, 10).await.expect("read")),
        vec![1, 2]
    );
    assert!(
        store
            .doc("job", "queued".into())
            .await
            .expect("read")
            .is_some()
    );
}

/// A NUL character (valid in a WebSocket text frame and in decoded JSON strings) never
/// fails a commit. A backend whose text type cannot hold it may store U+FFFD instead.
pub async fn nul_characters_do_not_fail_a_commit(backend: &dyn Backend) {
    let store = open(backend).await;
    let odd = JournalEntry {
        frame_type: MALFORMED,
        message_id: Some("m\0".into()),
        action: Some("Heart\0beat".into()),
        payload: "raw\0text".into(),
        violation: Some("v\0".into()),
        ..entry("CP1", "x", 1)
    };
    store
        .commit(entries(vec![odd.clone(), entry("CP1", "Heartbeat", 2)]))
        .await
        .expect("commit");
    let read = store.journal_after(0, 10).await.expect("read");
    assert_eq!(ats(&read), vec![1, 2]);
    let same = |got: &str, want: &str| got == want || got == want.replace('\0', "\u{FFFD}");
    assert!(
        same(&read[0].payload, &odd.payload),
        "{:?}",
        read[0].payload
    );
    assert!(same(read[0].action.as_deref().unwrap_or(""), "Heart\0beat"));
    assert!(same(read[0].message_id.as_deref().unwrap_or(""), "m\0"));
}

/// After a crash while many batches are in flight, every acknowledged batch is there and
/// every batch (entries, documents, trigger record) is either entirely there or entirely
/// absent. Skipped by backends that cannot simulate a crash.
pub async fn batches_are_whole_or_absent_after_a_crash(backend: &dyn Backend) {
    const BATCHES: usize = 300;
    const ENTRIES: i64 = 4;
    let store = open(backend).await;
    let batch = move |k: usize| {
        let station = format!("C{k:03}");
        WriteBatch {
            entries: (0..ENTRIES)
                .map(|i| entry(&station, "MeterValues", i))
                .collect(),
            docs: vec![Doc::put("crash", station.clone(), &k).expect("json")],
            triggers: vec![Arc::new(record(&station, &station, Outcome::Completed))],
            transaction_id: None,
            prune: Vec::new(),
            snapshot: snapshot(vec![stored(&station, 1)], None).snapshot,
        }
    };
    // Writers commit one batch after another, so groups keep forming while the crash hits.
    const WRITERS: usize = 10;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            let acked = Arc::clone(&acked);
            tokio::spawn(async move {
                for k in (w..BATCHES).step_by(WRITERS) {
                    if store.commit(batch(k)).await.is_ok() {
                        acked.lock().push(k);
                    }
                }
            })
        })
        .collect();
    eventually("a third of the batches are acknowledged", || {
        let acked = Arc::clone(&acked);
        async move { acked.lock().len() >= BATCHES / 3 }
    })
    .await;
    let crashed = backend.crash(store).await;
    for w in writers {
        w.await.expect("writer");
    }
    if !crashed {
        eprintln!("skipped: this backend cannot simulate a crash");
        return;
    }
    let store = open(backend).await;
    let all = store.journal_after(0, 100_000).await.expect("read");
    let mut per_station: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for e in all {
        per_station.entry(e.station_id).or_default().push(e.at);
    }
    let docs: BTreeMap<String, String> = store
        .docs("crash")
        .await
        .expect("read")
        .into_iter()
        .collect();
    let snapshots: std::collections::BTreeSet<String> = store
        .load_snapshot()
        .expect("load")
        .stations
        .into_iter()
        .map(|f| f.state.id)
        .collect();
    let acked = acked.lock().clone();
    let mut present = 0;
    for k in 0..BATCHES {
        let station = format!("C{k:03}");
        let journaled = per_station.get(&station);
        let record = store.trigger(station.clone()).await.expect("read");
        let snapshot = snapshots.contains(&station);
        let whole = journaled.is_some_and(|l| *l == (0..ENTRIES).collect::<Vec<_>>())
            && docs.contains_key(&station)
            && record.is_some()
            && snapshot;
        let absent =
            journaled.is_none() && !docs.contains_key(&station) && record.is_none() && !snapshot;
        assert!(
            whole || absent,
            "batch {k} is torn: {journaled:?}, doc {}",
            docs.contains_key(&station)
        );
        if acked.contains(&k) {
            assert!(whole, "batch {k} was acknowledged but is not there");
        }
        present += usize::from(whole);
    }
    eprintln!(
        "crash: {} of {BATCHES} acknowledged, {present} present after reopening",
        acked.len()
    );
}

/// A prune step deletes exactly the entries of its actions within its seq window, in the
/// same transaction as the batch's other writes; seqs are not reused afterwards, and the
/// live tail and paging skip the gap.
pub async fn pruning_deletes_only_the_covered_actions_in_its_window(backend: &dyn Backend) {
    use ocpulse_core::retention::{ActionSet, JournalPrune};
    let store = open(backend).await;
    let actions = ["MeterValues", "Heartbeat", "BootNotification"];
    let list = (0..30)
        .map(|i| entry("CP1", actions[usize::try_from(i).unwrap_or(0) % 3], i))
        .collect();
    store.commit(entries(list)).await.expect("commit");
    let all = store.journal_after(0, 100).await.expect("read");
    let seq_of = |at: i64| all.iter().find(|e| e.at == at).map_or(0, |e| e.seq);
    // Meter values among the first 12 go, with a new entry in the same batch.
    store
        .commit(WriteBatch {
            entries: vec![entry("CP1", "Heartbeat", 30)],
            prune: vec![JournalPrune {
                actions: ActionSet::Only(vec!["MeterValues".into()]),
                after_seq: 0,
                until_seq: seq_of(11),
            }],
            ..WriteBatch::default()
        })
        .await
        .expect("prune");
    // Everything but boot notifications among the first 6 goes.
    store
        .commit(WriteBatch {
            prune: vec![JournalPrune {
                actions: ActionSet::AllBut(vec!["BootNotification".into()]),
                after_seq: 0,
                until_seq: seq_of(5),
            }],
            ..WriteBatch::default()
        })
        .await
        .expect("prune");
    let left = store.journal_after(0, 100).await.expect("read");
    let expected: Vec<i64> = (0..31)
        .filter(|i| {
            let pruned_meter_value = *i < 12 && i % 3 == 0;
            let pruned_heartbeat = *i < 6 && i % 3 == 1;
            !pruned_meter_value && !pruned_heartbeat
        })
        .collect();
    assert_eq!(ats(&left), expected);
    assert!(seqs_increase(&left));
    let page = store.journal_after(seq_of(1), 2).await.expect("read");
    assert_eq!(ats(&page), vec![2, 5], "paging skips the gaps");
    let head = store.journal_head().await.expect("head");
    assert_eq!(head, left.last().map_or(0, |e| e.seq));
    drop(store);
    let store = open(backend).await;
    store
        .commit(entries(vec![entry("CP1", "Heartbeat", 31)]))
        .await
        .expect("commit");
    let next = store.journal_after(head, 10).await.expect("read");
    assert_eq!(ats(&next), vec![31]);
}

/// `journal_seq_before` finds the last entry older than a time, also across gaps left by
/// pruning; `journal_stats` names the oldest and newest entries and a size.
pub async fn seq_before_and_stats_follow_the_journal(backend: &dyn Backend) {
    use ocpulse_core::retention::{ActionSet, JournalPrune};
    let store = open(backend).await;
    assert_eq!(store.journal_seq_before(1_000).await.expect("read"), 0);
    let empty = store.journal_stats().await.expect("stats");
    assert_eq!(
        (empty.oldest_seq, empty.oldest_at, empty.newest_seq),
        (0, None, 0)
    );
    let list = (0..100)
        .map(|i| entry("CP1", "Heartbeat", 1_000 + i * 10))
        .collect();
    store.commit(entries(list)).await.expect("commit");
    let all = store.journal_after(0, 1000).await.expect("read");
    let seq_of = |at: i64| all.iter().find(|e| e.at == at).map_or(0, |e| e.seq);
    assert_eq!(
        store.journal_seq_before(500).await.expect("read"),
        0,
        "none older"
    );
    assert_eq!(store.journal_seq_before(1_000).await.expect("read"), 0);
    assert_eq!(
        store.journal_seq_before(1_001).await.expect("read"),
        seq_of(1_000)
    );
    assert_eq!(
        store.journal_seq_before(1_500).await.expect("read"),
        seq_of(1_490)
    );
    assert_eq!(
        store.journal_seq_before(1_505).await.expect("read"),
        seq_of(1_500)
    );
    assert_eq!(
        store.journal_seq_before(9_999).await.expect("read"),
        seq_of(1_990)
    );
    store
        .commit(WriteBatch {
            prune: vec![JournalPrune {
                actions: ActionSet::AllBut(Vec::new()),
                after_seq: seq_of(1_200),
                until_seq: seq_of(1_600),
            }],
            ..WriteBatch::default()
        })
        .await
        .expect("prune");
    assert_eq!(
        store.journal_seq_before(1_400).await.expect("read"),
        seq_of(1_200),
        "across the gap"
    );
    assert_eq!(
        store.journal_seq_before(1_700).await.expect("read"),
        seq_of(1_690)
    );
    let stats = store.journal_stats().await.expect("stats");
    assert_eq!(stats.oldest_seq, seq_of(1_000));
    assert_eq!(stats.oldest_at, Some(1_000));
    assert_eq!(stats.newest_seq, seq_of(1_990));
    assert!(stats.bytes > 0);
}

/// The variable naming the PostgreSQL database tests may use (`.ci/run` sets it): a URL
/// such as `postgres://root@127.0.0.1:5432/test`. Unset, PostgreSQL tests pass after saying
/// they were skipped, so `cargo test` needs no database.
#[cfg(feature = "postgres")]
pub const POSTGRES_URL_VAR: &str = "OCPULSE_TEST_POSTGRES_URL";

/// A schema of its own in the test database (`POSTGRES_URL_VAR`), dropped with this value:
/// tests run in parallel without seeing each other's tables. Its connections are named
/// after it (`application_name`), so a test can cut exactly them.
#[cfg(feature = "postgres")]
pub struct PgSchema {
    base: String,
    /// The schema's name (also its connections' `application_name`).
    pub name: String,
    /// The URL of the test database with this schema as `search_path`: what to give
    /// `PgStore::open` or `ocpulse serve --database-url`.
    pub url: String,
}

#[cfg(feature = "postgres")]
impl PgSchema {
    /// A new schema, or `None` (saying so) when no test database is configured.
    pub async fn create() -> Option<Self> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let Ok(base) = std::env::var(POSTGRES_URL_VAR) else {
            eprintln!("{POSTGRES_URL_VAR} is not set: PostgreSQL test skipped");
            return None;
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "ocpulse_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        pg_admin(&base)
            .await
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("create the test schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}&application_name={name}");
        Some(Self { base, name, url })
    }

    /// The test database's URL, without the schema.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Ends every connection of this schema's stores, as a database restart would.
    pub async fn cut_connections(&self) {
        cut_connections(&self.base, &self.name).await;
    }
}

/// Ends every connection named `name` (`application_name`) on the database at `base`.
#[cfg(feature = "postgres")]
pub async fn cut_connections(base: &str, name: &str) {
    pg_admin(base)
        .await
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .await
        .expect("terminate");
}

#[cfg(feature = "postgres")]
impl Drop for PgSchema {
    fn drop(&mut self) {
        let base = self.base.clone();
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        // Its own thread and runtime: this may run inside a test's runtime, or unwinding.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move { pg_admin(&base).await.batch_execute(&sql).await })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}: {dropped:?}", self.name);
        }
    }
}

/// A plain connection to the database at `url` (panics if there is none: a test setup).
#[cfg(feature = "postgres")]
pub async fn pg_admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR}={url}: {e}"));
    tokio::spawn(connection);
    client
}
