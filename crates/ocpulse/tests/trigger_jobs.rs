//! Bulk trigger jobs over simulated fleets: counts and per-station results with stations
//! that answer, reject, stay silent or are offline; cancel; resume after a restart; and
//! every bad request refused with the JSON error shape.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::Server;
use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::StationConfig;
use ocpulse_sim::fleet::{FleetOptions, run_fleet};
use ocpulse_sim::runner::{FleetStats, RunOptions};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A running simulated fleet.
struct Fleet {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<Value, ocpulse_sim::runner::RunError>>,
    stats: Arc<FleetStats>,
}

impl Fleet {
    async fn start(server: &Server, stations: Vec<StationConfig>) -> Self {
        let n = stations.len() as u64;
        let stats = Arc::new(FleetStats::default());
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_fleet(
            FleetOptions {
                stations,
                run: RunOptions {
                    url: format!("ws://{}/ocpp", server.addr),
                    reconnect_min: Duration::from_millis(50),
                    reconnect_max: Duration::from_millis(500),
                    ..RunOptions::default()
                },
                ramp_per_sec: 0.0,
                summary_every: None,
            },
            Arc::clone(&stats),
            stop.clone(),
        ));
        let fleet = Self { stop, task, stats };
        fleet.wait_booted(n).await;
        fleet
    }

    async fn wait_booted(&self, n: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.stats.booted.load(Ordering::Relaxed) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} booted",
                self.stats.booted.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

fn stations(prefix: &str, n: usize, fault: Option<&str>) -> Vec<StationConfig> {
    (0..n)
        .map(|i| {
            let version = if i % 2 == 0 {
                ProtocolVersion::V16
            } else {
                ProtocolVersion::V201
            };
            let mut cfg = StationConfig::new(format!("{prefix}{i:03}"), version);
            if let Some(f) = fault {
                cfg.faults.add_flag(f).expect("fault flag");
            }
            cfg
        })
        .collect()
}

async fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    server.post(path, &body.to_string()).await
}

async fn wait_job(server: &Server, id: &str, status: &str) -> Value {
    for _ in 0..600 {
        let (code, job) = server.get(&format!("/api/v1/trigger-jobs/{id}")).await;
        assert_eq!(code, 200, "{job}");
        if job["status"] == status {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} never became {status}");
}

fn results_by_prefix<'a>(job: &'a Value, prefix: &str) -> Vec<&'a Value> {
    job["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| {
            r["stationId"]
                .as_str()
                .is_some_and(|s| s.starts_with(prefix))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_job_over_hundreds_of_stations_reports_every_outcome() {
    let server = Server::start().await;
    // 20 stations that booted once and went away: known, offline.
    let gone = Fleet::start(&server, stations("GONE", 20, None)).await;
    gone.stop().await;
    for i in 0..20 {
        common::wait_connected(&server, &format!("GONE{i:03}"), false).await;
    }
    let mut fleet = stations("OK", 240, None);
    fleet.extend(stations("REJ", 30, Some("Heartbeat=reject")));
    fleet.extend(stations("MUTE", 30, Some("Heartbeat=no-answer")));
    let live = Fleet::start(&server, fleet).await;

    let (code, job) = post(
        &server,
        "/api/v1/trigger-jobs",
        json!({
            "name": "heartbeat check",
            "selector": {"all": true},
            "trigger": {"requestedMessage": "Heartbeat", "timeoutMs": 1500},
            "concurrency": 64,
            "retries": 1,
            "retryBackoffMs": 100,
            "wait": true,
        }),
    )
    .await;
    assert_eq!(code, 200, "the job ended within the wait: {job}");
    assert_eq!(job["status"], "completed");
    assert_eq!(job["total"], 320);
    assert_eq!(
        job["counts"],
        json!({"Completed": 240, "Rejected": 30, "StationTimeout": 30, "Offline": 20}),
        "{}",
        job["counts"]
    );
    assert_eq!(job["succeeded"], 240);
    assert_eq!(job["failed"], 80);
    assert_eq!(job["open"], 0);

    for r in results_by_prefix(&job, "OK") {
        assert_eq!(
            (r["outcome"].as_str(), r["attempts"].as_u64()),
            (Some("Completed"), Some(1)),
            "{r}"
        );
    }
    for r in results_by_prefix(&job, "REJ") {
        assert_eq!(r["outcome"], "Rejected", "{r}");
        assert_eq!(
            r["attempts"], 1,
            "a station's own refusal is not retried: {r}"
        );
    }
    for r in results_by_prefix(&job, "MUTE") {
        assert_eq!(r["outcome"], "StationTimeout", "{r}");
        assert_eq!(
            r["attempts"], 2,
            "silence is retried once (retries: 1): {r}"
        );
    }
    for r in results_by_prefix(&job, "GONE") {
        assert_eq!(r["outcome"], "Offline", "{r}");
        assert_eq!(
            r["attempts"], 0,
            "offline stations are reported, not waited for, and no trigger reached them: {r}"
        );
        assert!(r["triggerId"].is_null(), "{r}");
    }
    // Each station's trigger is an ordinary trigger record, attributed to the job.
    let rej = results_by_prefix(&job, "REJ")[0];
    let (_, record) = server
        .get(&format!(
            "/api/v1/triggers/{}",
            rej["triggerId"].as_str().expect("id")
        ))
        .await;
    assert_eq!(record["outcome"], "Rejected", "{record}");
    assert_eq!(
        record["requestedBy"],
        format!("job:{}", job["jobId"].as_str().expect("job id")),
        "{record}"
    );
    // Only the failures, on request; the list carries no per-station results.
    let id = job["jobId"].as_str().expect("id");
    let (_, failed) = server
        .get(&format!("/api/v1/trigger-jobs/{id}?results=failed"))
        .await;
    assert_eq!(failed["results"].as_array().map(Vec::len), Some(80));
    let (_, list) = server.get("/api/v1/trigger-jobs").await;
    assert_eq!(list["items"][0]["jobId"], id);
    assert!(list["items"][0]["results"].is_null());

    // By ids: unknown ids are reported, duplicates counted once, filters still apply.
    let (code, job) = post(
        &server,
        "/api/v1/trigger-jobs",
        json!({
            "selector": {"stationIds": ["OK000", "NOPE", "OK000", "GONE001", "OK001"]},
            "trigger": {"requestedMessage": "StatusNotification"},
            "wait": true,
        }),
    )
    .await;
    assert_eq!(code, 200, "{job}");
    let outcomes: Vec<(&str, &str)> = job["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["stationId"].as_str().unwrap_or(""),
                r["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("OK000", "Completed"),
            ("NOPE", "UnknownStation"),
            ("GONE001", "Offline"),
            ("OK001", "Completed")
        ]
    );
    let attempts: Vec<u64> = job["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["attempts"].as_u64().unwrap_or(u64::MAX))
        .collect();
    assert_eq!(
        attempts,
        [1, 0, 0, 1],
        "attempts count triggers sent; none reached an unknown or offline station"
    );
    // The fleet's messages themselves, from each station's trigger record.
    let (_, with) = server
        .get(&format!(
            "/api/v1/trigger-jobs/{}?include=messages",
            job["jobId"].as_str().expect("id")
        ))
        .await;
    let first = &with["results"][0];
    assert_eq!(first["stationId"], "OK000", "{with}");
    let messages = first["messages"].as_array().expect("messages");
    assert!(!messages.is_empty(), "{first}");
    assert!(
        messages.iter().all(|m| m["action"] == "StatusNotification"),
        "{first}"
    );
    assert!(
        with["results"][1]["messages"].is_null(),
        "no trigger, no messages"
    );
    // A filter: only 2.0.1 stations that are connected.
    let (code, job) = post(
        &server,
        "/api/v1/trigger-jobs",
        json!({
            "selector": {"protocol": "ocpp2.0.1", "connection": "connected"},
            "trigger": {"requestedMessage": "Heartbeat", "timeoutMs": 500},
            "retries": 0,
            "wait": true,
        }),
    )
    .await;
    assert_eq!(code, 200, "{job}");
    assert_eq!(
        job["total"], 150,
        "120 OK + 15 REJ + 15 MUTE stations speak 2.0.1"
    );
    live.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_stops_starting_stations_and_cannot_be_cancelled_twice() {
    let server = Server::start().await;
    let live = Fleet::start(&server, stations("CAN", 40, None)).await;
    let (code, job) = post(
        &server,
        "/api/v1/trigger-jobs",
        json!({
            "selector": {"all": true},
            "trigger": {"requestedMessage": "Heartbeat"},
            "ratePerSecond": 10,
        }),
    )
    .await;
    assert_eq!(code, 202, "{job}");
    let id = job["jobId"].as_str().expect("id").to_owned();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (code, cancelled) = post(
        &server,
        &format!("/api/v1/trigger-jobs/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(code, 200, "{cancelled}");
    let job = wait_job(&server, &id, "cancelled").await;
    let done = job["counts"]["Completed"].as_u64().unwrap_or(0);
    let cancelled = job["counts"]["Cancelled"].as_u64().unwrap_or(0);
    assert!(
        (5..=15).contains(&done),
        "about 10 started in the first second at 10/s: {job}"
    );
    assert_eq!(done + cancelled, 40, "{job}");
    let (code, again) = post(
        &server,
        &format!("/api/v1/trigger-jobs/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(
        (code, again["error"].as_str()),
        (409, Some("job_finished")),
        "{again}"
    );
    let (code, missing) = post(&server, "/api/v1/trigger-jobs/nope/cancel", json!({})).await;
    assert_eq!(
        (code, missing["error"].as_str()),
        (404, Some("job_not_found")),
        "{missing}"
    );
    live.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_running_at_a_restart_resumes_and_finishes_every_station_once() {
    let server = Server::start().await;
    let live = Fleet::start(&server, stations("RES", 30, None)).await;
    let (code, job) = post(
        &server,
        "/api/v1/trigger-jobs",
        json!({
            "selector": {"all": true},
            "trigger": {"requestedMessage": "Heartbeat"},
            "ratePerSecond": 10,
        }),
    )
    .await;
    assert_eq!(code, 202, "{job}");
    let id = job["jobId"].as_str().expect("id").to_owned();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, before) = server.get(&format!("/api/v1/trigger-jobs/{id}")).await;
    let done_before: Vec<Value> = before["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["outcome"] == "Completed")
        .cloned()
        .collect();
    assert!(!done_before.is_empty(), "{before}");
    let server = server
        .restart(|c| c.job_resume_delay = Duration::from_millis(500))
        .await;
    for i in 0..30 {
        common::wait_connected(&server, &format!("RES{i:03}"), true).await;
    }
    let job = wait_job(&server, &id, "completed").await;
    assert_eq!(job["resumed"], 1, "{job}");
    assert_eq!(job["counts"], json!({"Completed": 30}), "{job}");
    // What had finished before the restart was kept, not run again.
    for r in &done_before {
        let now = job["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|x| x["stationId"] == r["stationId"])
            .expect("still listed");
        assert_eq!(now["triggerId"], r["triggerId"], "{now} vs {r}");
        assert_eq!(now["attempts"], 1, "{now}");
    }
    live.stop().await;
}

#[tokio::test]
async fn bad_job_requests_are_refused_with_what_would_be_right() {
    let server = Server::start().await;
    let cases = [
        (
            json!({"trigger": {"requestedMessage": "Heartbeat"}}),
            "missing_selector",
        ),
        (json!({"selector": {"all": true}}), "missing_trigger"),
        (
            json!({"selector": {}, "trigger": {"requestedMessage": "Heartbeat"}}),
            "empty_selector",
        ),
        (
            json!({"selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeet"}}),
            "unknown_requested_message",
        ),
        (
            json!({"selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "concurrency": 0}),
            "invalid_concurrency",
        ),
        (
            json!({"selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "ratePerSecond": -1}),
            "invalid_rate",
        ),
        (
            // Regression: a rate this close to zero passed the check and the runner panicked
            // turning it into an interval, leaving the job running forever.
            json!({"selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "ratePerSecond": 5e-324}),
            "invalid_rate",
        ),
        (
            json!({"selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "retries": 99}),
            "invalid_retries",
        ),
        (
            json!({"selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}, "colour": "red"}),
            "invalid_body",
        ),
        (
            json!({"selector": {"all": true, "modle": "X"}, "trigger": {"requestedMessage": "Heartbeat"}}),
            "invalid_body",
        ),
        (
            json!({"selector": {"protocol": "ocpp9"}, "trigger": {"requestedMessage": "Heartbeat"}}),
            "invalid_selector",
        ),
    ];
    for (body, code) in cases {
        let (status, err) = post(&server, "/api/v1/trigger-jobs", body.clone()).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["error"], code, "{body}: {err}");
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{err}"
        );
    }
    let (status, err) = server.get("/api/v1/trigger-jobs/unknown").await;
    assert_eq!(
        (status, err["error"].as_str()),
        (404, Some("job_not_found"))
    );
    let (status, err) = server.get("/api/v1/trigger-jobs?status=done").await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_status"))
    );
    let (status, err) = server.get("/api/v1/trigger-jobs?colour=red").await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_query"))
    );
    // A selector that matches nothing is a finished job with no stations, not an error.
    let (status, job) = post(
        &server,
        "/api/v1/trigger-jobs",
        json!({"selector": {"model": "none"}, "trigger": {"requestedMessage": "Heartbeat"}, "wait": true}),
    )
    .await;
    assert_eq!((status, job["total"].as_u64()), (200, Some(0)), "{job}");
}
