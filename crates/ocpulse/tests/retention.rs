//! Journal retention end to end: a server started with retention periods deletes, in the
//! background, exactly the journal entries that are due (per action, with overrides kept
//! for ever) and keeps everything newer, through the real SQLite store.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Server;
use ocpulse_core::Store;
use ocpulse_core::retention::RetentionPolicy;
use ocpulse_core::store::WriteBatch;
use ocpulse_store::SqliteStore;
use ocpulse_store::contract::entry;

const DAY_MS: i64 = 86_400_000;

/// The actions of a station's journal, oldest first, with how many days old each is.
async fn journal(server: &Server, station: &str, now: i64) -> Vec<(String, i64)> {
    let (code, body) = server
        .get(&format!("/api/v1/stations/{station}/messages?limit=1000"))
        .await;
    assert_eq!(code, 200, "{body}");
    let mut list: Vec<(String, i64)> = body["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let at = e["at"].as_str().unwrap_or_default();
            let ms = chrono_ms(at);
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                (now - ms) / DAY_MS,
            )
        })
        .collect();
    list.reverse();
    list
}

/// Unix ms of an RFC 3339 time as the API prints it (`2026-12-04T12:00:00.000Z`).
fn chrono_ms(text: &str) -> i64 {
    humantime::parse_rfc3339(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_entries_are_pruned_per_action_and_everything_newer_is_kept() {
    let server = Server::start().await;
    let addr = server.addr;
    let dir = server.stop().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0);
    {
        let store = SqliteStore::open(dir.path()).expect("open");
        let mut list = Vec::new();
        for days in [40, 20, 10, 3, 1] {
            for action in ["MeterValues", "Heartbeat", "BootNotification"] {
                list.push(entry("OLD1", action, now - days * DAY_MS));
            }
        }
        store
            .commit(WriteBatch {
                entries: list,
                ..WriteBatch::default()
            })
            .await
            .expect("commit");
    }
    let server = Server::start_in(dir, addr, |c| {
        c.prune_every = Duration::from_millis(100);
        c.retention = RetentionPolicy {
            journal: Some(Duration::from_secs(15 * 86_400)),
            per_action: BTreeMap::from([
                (
                    "MeterValues".to_owned(),
                    Some(Duration::from_secs(2 * 86_400)),
                ),
                ("BootNotification".to_owned(), None),
            ]),
        };
    })
    .await;
    let expected: Vec<(String, i64)> = [
        ("BootNotification", 40),
        ("BootNotification", 20),
        ("Heartbeat", 10),
        ("BootNotification", 10),
        ("Heartbeat", 3),
        ("BootNotification", 3),
        ("MeterValues", 1),
        ("Heartbeat", 1),
        ("BootNotification", 1),
    ]
    .iter()
    .map(|(a, d)| ((*a).to_owned(), *d))
    .collect();
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = journal(&server, "OLD1", now).await;
        if seen == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen, expected,
        "MeterValues kept 2 days, BootNotification for ever, the rest 15 days"
    );
    // The storage report says what is kept and when the next pass is.
    let (code, report) = server.get("/api/v1/reports/storage").await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(
        report["retention"]["journalSeconds"],
        15 * 86_400,
        "{report}"
    );
    assert_eq!(
        report["retention"]["perAction"],
        serde_json::json!([
            {"action": "BootNotification", "seconds": null},
            {"action": "MeterValues", "seconds": 2 * 86_400},
        ])
    );
    let oldest = report["journal"]["oldestAt"].as_str().unwrap_or_default();
    assert_eq!((now - chrono_ms(oldest)) / DAY_MS, 40, "{report}");
    assert!(
        report["journal"]["bytes"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    assert!(
        report["pruning"]["passes"].as_u64().unwrap_or(0) >= 1,
        "{report}"
    );
    assert!(report["pruning"]["nextPassAt"].is_string(), "{report}");
    assert_eq!(report["pruning"]["lastError"], serde_json::Value::Null);
}
