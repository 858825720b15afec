//! A real Prometheus (Debian's `prometheus` package, which `.ci/run` installs) scrapes a
//! server with simulated stations every second, with a read token as the server requires
//! one, and PromQL over its HTTP API finds the series: stations by protocol, frames, a
//! trigger's latency bucket, the process.
//!
//! Without a `prometheus` on PATH the test says so and passes, unless
//! `OCPULSE_REQUIRE_PROMETHEUS=1` (CI sets it) makes that a failure.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use ocpp_rpc::ProtocolVersion;
use ocpulse::tokens::Scope;
use ocpulse_sim::StationConfig;
use serde_json::{Value, json};

/// Kills Prometheus when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `prometheus --version` runs.
fn installed() -> bool {
    Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Starts Prometheus on loopback, scraping `target` every second with the token in
/// `token_file`; returns it and its address.
fn start_prometheus(dir: &Path, target: &str, token_file: &Path) -> (Running, String) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: ocpulse\n    metrics_path: /metrics\n    \
             authorization:\n      type: Bearer\n      credentials_file: {}\n    \
             static_configs:\n      - targets: ['{target}']\n",
            token_file.display()
        ),
    )
    .expect("write prometheus.yml");
    let addr = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    (Running(child), addr)
}

/// Percent-encodes everything but letters and digits (a query string's value).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Runs a PromQL instant query until it returns at least one sample, or fails with the
/// last answer after `within`.
async fn until_series(prometheus: &str, query: &str, within: Duration) -> Vec<Value> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut last = Value::Null;
    while started.elapsed() < within {
        if let Ok(r) = client
            .get(format!(
                "http://{prometheus}/api/v1/query?query={}",
                url_encode(query)
            ))
            .send()
            .await
            && let Ok(body) = r.json::<Value>().await
        {
            if let Some(result) = body["data"]["result"].as_array()
                && !result.is_empty()
            {
                return result.clone();
            }
            last = body;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("PromQL {query:?} returned nothing in {within:?}; last answer: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_server_and_promql_finds_its_series() {
    if !installed() {
        assert!(
            std::env::var_os("OCPULSE_REQUIRE_PROMETHEUS").is_none_or(|v| v != "1"),
            "OCPULSE_REQUIRE_PROMETHEUS=1 but `prometheus` is not on PATH"
        );
        eprintln!(
            "SKIPPED prometheus_scrapes_the_server_and_promql_finds_its_series: `prometheus` is not installed (apt-get install prometheus; CI installs it)"
        );
        return;
    }
    let server = Server::start_with(|c| c.security.require_token = true).await;
    // Tokens are made offline beside the server: once it holds its data directory.
    for _ in 0..100 {
        if reqwest::get(server.url("/api/v1/health")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = ocpulse::token_cmd::create(server.dir.path(), "prometheus", &[Scope::Read])
        .await
        .expect("a read token");
    let admin = ocpulse::token_cmd::create(server.dir.path(), "test", &[Scope::Admin])
        .await
        .expect("an admin token");
    let client = reqwest::Client::new();
    let (stop16, _) = common::sim::spawn(&server, StationConfig::new("CP1", ProtocolVersion::V16));
    let (stop201, _) =
        common::sim::spawn(&server, StationConfig::new("CS1", ProtocolVersion::V201));
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &token.plain).expect("write the token");
    let (_prometheus, addr) = start_prometheus(dir.path(), &server.addr.to_string(), &token_file);

    let within = Duration::from_secs(30);
    until_series(&addr, r#"up{job="ocpulse"} == 1"#, within).await;
    for protocol in ["ocpp1.6", "ocpp2.0.1"] {
        until_series(
            &addr,
            &format!(r#"ocpulse_stations_connected{{protocol="{protocol}"}} > 0"#),
            within,
        )
        .await;
    }
    until_series(
        &addr,
        r#"sum(ocpulse_frames_total{direction="in"}) > 0"#,
        within,
    )
    .await;
    until_series(&addr, "process_resident_memory_bytes > 0", within).await;

    let r = client
        .post(server.url("/api/v1/stations/CP1/trigger"))
        .bearer_auth(&admin.plain)
        .json(&json!({"requestedMessage": "Heartbeat"}))
        .send()
        .await
        .expect("trigger");
    let answer: Value = r.json().await.expect("JSON");
    assert_eq!(answer["outcome"], "Completed", "{answer}");
    let buckets = until_series(
        &addr,
        r#"ocpulse_trigger_duration_seconds_bucket{requested_message="Heartbeat",protocol="ocpp1.6",outcome="Completed",le="+Inf"} == 1"#,
        within,
    )
    .await;
    assert_eq!(buckets.len(), 1, "{buckets:?}");
    stop16.cancel();
    stop201.cancel();
}
