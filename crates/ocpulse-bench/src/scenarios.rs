//! The load scenarios. Every loop is bounded in count and time; everything stays on
//! 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ocpp_rpc::{Family, ProtocolVersion};
use ocpulse_sim::StationConfig;
use ocpulse_sim::fleet::{FleetOptions, run_fleet};
use ocpulse_sim::runner::{FleetStats, RunOptions};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

use crate::http_caller::{Caller, HttpOutcome, Post};

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

impl Latency {
    /// Summarises samples (any order).
    pub fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort();
        let at =
            |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
        Self {
            p50: at(0.5),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// Station `i` of a benchmark fleet: half 1.6, half 2.0.1.
pub fn station(i: usize, prefix: &str) -> StationConfig {
    let protocol = if i.is_multiple_of(2) {
        ProtocolVersion::V16
    } else {
        ProtocolVersion::V201
    };
    StationConfig::new(format!("{prefix}{i:05}"), protocol)
}

/// The trigger body for a station in its own version's form.
pub fn trigger_body(cfg: &StationConfig) -> String {
    match cfg.protocol.family() {
        Family::V16 => r#"{"requestedMessage":"StatusNotification","connectorId":1}"#.into(),
        Family::V2 => {
            r#"{"requestedMessage":"StatusNotification","evse":{"id":1,"connectorId":1}}"#.into()
        }
    }
}

/// A running fleet of simulated stations.
pub struct Fleet {
    /// Their configs.
    pub stations: Vec<StationConfig>,
    /// Shared counters.
    pub stats: Arc<FleetStats>,
    stop: CancellationToken,
    task: JoinHandle<Result<Value, ocpulse_sim::runner::RunError>>,
}

impl Fleet {
    /// Connects `n` stations to `ws` and waits (at most `limit`) until all booted.
    /// Returns the fleet and the time it took, or the time of the limit.
    pub async fn connect(
        ws: &str,
        n: usize,
        prefix: &str,
        limit: Duration,
    ) -> (Self, Duration, usize) {
        let stations: Vec<_> = (0..n).map(|i| station(i, prefix)).collect();
        let stats = Arc::new(FleetStats::default());
        let stop = CancellationToken::new();
        let run = RunOptions {
            url: ws.to_owned(),
            reconnect_min: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(2),
            ..RunOptions::default()
        };
        let started = Instant::now();
        let task = tokio::spawn(run_fleet(
            FleetOptions {
                stations: stations.clone(),
                run,
                ramp_per_sec: 0.0,
                summary_every: None,
            },
            Arc::clone(&stats),
            stop.clone(),
        ));
        while stats.booted.load(Ordering::Relaxed) < n as u64 && started.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let booted = usize::try_from(stats.booted.load(Ordering::Relaxed)).unwrap_or(0);
        (
            Self {
                stations,
                stats,
                stop,
                task,
            },
            started.elapsed(),
            n.saturating_sub(booted),
        )
    }

    /// Disconnects every station.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// The `host:port` of a server's `http://host:port` base.
fn authority(http: &str) -> &str {
    http.trim_start_matches("http://").trim_end_matches('/')
}

/// A station's trigger call, built once: parsing the URL on every request was 5% of the
/// driver's CPU in the closed loop (perf), and the driver must never be the limit.
fn trigger_post(cfg: &StationConfig) -> Post {
    Post::json(
        &format!("/api/v1/stations/{}/trigger", cfg.id),
        trigger_body(cfg),
    )
}

/// Closed loop: `concurrency` callers, each triggering its own station back to back.
/// Returns (triggers per second, latency, failures).
pub async fn trigger_closed_loop(
    http: &str,
    stations: &[StationConfig],
    concurrency: usize,
    duration: Duration,
) -> (f64, Latency, usize) {
    let started = Instant::now();
    let workers: Vec<_> = stations
        .iter()
        .take(concurrency)
        .map(|cfg| {
            let mut caller = Caller::new(authority(http));
            let post = trigger_post(cfg);
            tokio::spawn(async move {
                let (mut samples, mut failures) = (Vec::new(), 0usize);
                while started.elapsed() < duration && samples.len() < 1_000_000 {
                    let t = Instant::now();
                    if caller.call(&post).await.is_success() {
                        samples.push(t.elapsed());
                    } else {
                        failures += 1;
                    }
                }
                (samples, failures)
            })
        })
        .collect();
    let (mut all, mut failures) = (Vec::new(), 0);
    for w in workers {
        if let Ok((s, f)) = w.await {
            all.extend(s);
            failures += f;
        }
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    (rate, Latency::of(all), failures)
}

/// Open loop at a fixed rate over the given stations (round robin); latency counts from
/// each request's scheduled time, so a slow server cannot hide queueing (no coordinated
/// omission). Returns (latency, failures, sent).
pub async fn trigger_open_loop(
    http: &str,
    stations: &[StationConfig],
    rate: f64,
    duration: Duration,
) -> (Latency, usize, usize) {
    let started = tokio::time::Instant::now();
    let gap = Duration::from_secs_f64(1.0 / rate);
    let total = (duration.as_secs_f64() * rate) as usize;
    let posts: Vec<_> = stations.iter().map(trigger_post).collect();
    // Idle connections, taken by each request and given back: as many as were ever in
    // flight at once, like a client's keep-alive pool.
    let idle = Arc::new(parking_lot::Mutex::new(Vec::<Caller>::new()));
    let addr = authority(http).to_owned();
    let mut tasks = Vec::with_capacity(total);
    for k in 0..total {
        let due = started + gap * u32::try_from(k).unwrap_or(u32::MAX);
        send_at(due).await;
        let post = posts[k % posts.len()].clone();
        let taken = idle.lock().pop();
        let mut caller = taken.unwrap_or_else(|| Caller::new(&addr));
        let idle = Arc::clone(&idle);
        tasks.push(tokio::spawn(async move {
            let ok = caller.call(&post).await.is_success();
            let took = due.elapsed();
            idle.lock().push(caller);
            (ok, took)
        }));
    }
    let (mut samples, mut failures) = (Vec::new(), 0);
    for t in tasks {
        match t.await {
            Ok((true, d)) => samples.push(d),
            _ => failures += 1,
        }
    }
    (Latency::of(samples), failures, total)
}

/// Waits until `due` precisely. Tokio's timer wheel ticks in whole milliseconds and fires
/// late by up to one tick, and the open loop counts latency from `due`, so a plain
/// `sleep_until` added up to 1 ms of the *driver's* lateness to every sample at 1,000/s.
/// The last stretch is spent yielding instead (the driver has its own core).
async fn send_at(due: tokio::time::Instant) {
    const TIMER_SLACK: Duration = Duration::from_millis(2);
    if let Some(early) = due.checked_sub(TIMER_SLACK)
        && early > tokio::time::Instant::now()
    {
        tokio::time::sleep_until(early).await;
    }
    while tokio::time::Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

/// Triggers StatusNotification on every station at once (at most `in_flight` HTTP calls
/// open); returns (seconds until all answered, failures).
pub async fn fleet_trigger(
    http: &str,
    stations: &[StationConfig],
    in_flight: usize,
) -> (f64, usize) {
    let started = Instant::now();
    let stations: Arc<Vec<StationConfig>> = Arc::new(stations.to_vec());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..in_flight.min(stations.len()))
        .map(|_| {
            let (mut caller, stations, next) = (
                Caller::new(authority(http)),
                Arc::clone(&stations),
                Arc::clone(&next),
            );
            tokio::spawn(async move {
                let mut failures = 0;
                while let Some(cfg) = stations.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if !caller.call(&trigger_post(cfg)).await.is_success() {
                        failures += 1;
                    }
                }
                failures
            })
        })
        .collect();
    let mut failures = 0;
    for w in workers {
        failures += w.await.unwrap_or(0);
    }
    (started.elapsed().as_secs_f64(), failures)
}

/// The body of the bulk fleet trigger: every station, StatusNotification of connector 1
/// (1.6 `connectorId` 1 is EVSE 1 on 2.0.1), so each station does the same work as in
/// [`fleet_trigger`]; `wait` makes the one POST answer when the job has ended.
pub fn fleet_job_body(concurrency: Option<u32>) -> String {
    let mut body = json!({
        "selector": {"all": true},
        "trigger": {"requestedMessage": "StatusNotification", "connectorId": 1},
        "retries": 0,
        "wait": true,
        "waitTimeoutMs": 120_000,
    });
    if let Some(c) = concurrency {
        body["concurrency"] = json!(c);
    }
    body.to_string()
}

/// Triggers StatusNotification on every connected station through one bulk job
/// (`POST /api/v1/trigger-jobs` with `wait: true`; ocpulse only). Returns (seconds from the
/// POST until the job answered, stations of `expected` not `Completed`): a station counts
/// only if the job ended `completed` and its own result is `Completed` — its message was
/// committed to the journal and handed to the trigger.
pub async fn fleet_job(http: &str, expected: usize, concurrency: Option<u32>) -> (f64, usize) {
    // The job answers when it has ended (its waitTimeoutMs is 120 s).
    let mut caller = Caller::new(authority(http)).with_limit(Duration::from_secs(150));
    let post = Post::json("/api/v1/trigger-jobs", fleet_job_body(concurrency));
    let started = Instant::now();
    let body = match caller.call(&post).await {
        HttpOutcome::Status(code, body) if (200..300).contains(&code) => Some(body),
        HttpOutcome::Status(..) | HttpOutcome::Failed => None,
    };
    let secs = started.elapsed().as_secs_f64();
    let completed = body
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter(|job| job["status"] == "completed")
        .map_or(0, |job| job_completed(&job));
    (secs, expected.saturating_sub(completed))
}

/// How many stations of a job view ended `Completed` (agreeing counts and results).
pub fn job_completed(job: &Value) -> usize {
    let counted = job["counts"]["Completed"].as_u64().unwrap_or(0);
    let listed = job["results"].as_array().map_or(0, |r| {
        r.iter().filter(|r| r["outcome"] == "Completed").count()
    });
    usize::try_from(counted).map_or(0, |c| c.min(listed))
}

/// `stations` 1.6 stations each stream MeterValues back to back (each waits for its
/// acknowledgement) for `duration`. Returns (acknowledged per second, latency).
pub async fn ingest(ws: &str, stations: usize, duration: Duration, prefix: &str) -> (f64, Latency) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..stations)
        .map(|i| {
            let url = format!("{ws}/{prefix}{i:05}");
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let Ok(mut request) = url.into_client_request() else { return samples };
                request.headers_mut().insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().expect("static header"));
                let Ok((mut socket, _)) = tokio_tungstenite::connect_async_with_config(request, None, true).await else { return samples };
                let boot = json!([2, "b", "BootNotification", {"chargePointVendor": "bench", "chargePointModel": "ingest"}]).to_string();
                if socket.send(Message::Text(boot.into())).await.is_err() || socket.next().await.is_none() {
                    return samples;
                }
                let mut n = 0u64;
                while started.elapsed() < duration {
                    n += 1;
                    let frame = json!([2, format!("m{n}"), "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z", "sampledValue": [{"value": n.to_string(), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]}]);
                    let t = Instant::now();
                    if socket.send(Message::Text(frame.to_string().into())).await.is_err() {
                        break;
                    }
                    match socket.next().await {
                        Some(Ok(Message::Text(_))) => samples.push(t.elapsed()),
                        _ => break,
                    }
                }
                let _ = socket.close(None).await;
                samples
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    (
        all.len() as f64 / started.elapsed().as_secs_f64(),
        Latency::of(all),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn send_at_never_returns_before_the_scheduled_time() {
        let start = tokio::time::Instant::now();
        for k in 1..=20u32 {
            let due = start + Duration::from_micros(250) * k;
            send_at(due).await;
            assert!(tokio::time::Instant::now() >= due, "request {k} sent early");
        }
    }

    #[test]
    fn callers_reach_the_server_named_by_its_base_url() {
        assert_eq!(authority("http://127.0.0.1:8180"), "127.0.0.1:8180");
        assert_eq!(authority("http://127.0.0.1:8180/"), "127.0.0.1:8180");
    }

    #[tokio::test]
    async fn a_trigger_call_posts_the_stations_own_version_form_to_its_endpoint() {
        use axum::extract::Path;
        let app = axum::Router::new().route(
            "/api/v1/stations/{id}/trigger",
            axum::routing::post(|Path(id): Path<String>, body: String| async move {
                format!("{id} {body}")
            }),
        );
        let http = format!("http://{}", crate::http_caller::tests::serve(app).await);
        let mut caller = Caller::new(authority(&http));
        for i in [6, 7] {
            let cfg = station(i, "B");
            let answer = caller.call(&trigger_post(&cfg)).await;
            let expected = format!("{} {}", cfg.id, trigger_body(&cfg));
            assert_eq!(answer, HttpOutcome::Status(200, expected.into()));
        }
    }
}
