//! `GET /metrics`: the series a server with simulated stations exports after a trigger, in
//! the OpenMetrics text Prometheus scrapes, and who may read them. `prometheus.rs` has a
//! real Prometheus scrape them.

mod common;

use std::time::Duration;

use common::Server;
use ocpp_rpc::ProtocolVersion;
use ocpulse::tokens::Scope;
use ocpulse_sim::StationConfig;
use serde_json::json;

async fn scrape(server: &Server, token: Option<&str>) -> (u16, String, String) {
    let mut request = reqwest::Client::new().get(server.url("/metrics"));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let r = request.send().await.expect("GET /metrics");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, r.text().await.expect("body"))
}

/// The value of the series line that starts with `series` (name and labels), if any.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

/// Scrapes until `series` has a value satisfying `ok` (what the sessions count may land a
/// moment after the API answered), or fails with the last text.
async fn wait_value(server: &Server, series: &str, ok: impl Fn(f64) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..150 {
        last = scrape(server, None).await.2;
        if value(&last, series).is_some_and(&ok) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{series} never satisfied the test; last scrape:\n{last}");
}

#[tokio::test]
async fn stations_frames_a_trigger_commits_the_journal_and_the_process_are_exported() {
    let server = Server::start().await;
    let (stop16, _t16) =
        common::sim::spawn(&server, StationConfig::new("CP1", ProtocolVersion::V16));
    let (stop201, _t201) =
        common::sim::spawn(&server, StationConfig::new("CS1", ProtocolVersion::V201));
    common::wait_connected(&server, "CP1", true).await;
    common::wait_connected(&server, "CS1", true).await;
    let (code, answer) = server
        .trigger("CP1", json!({"requestedMessage": "Heartbeat"}))
        .await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["outcome"], "Completed", "{answer}");

    let text = wait_value(
        &server,
        r#"ocpulse_trigger_duration_seconds_count{requested_message="Heartbeat",protocol="ocpp1.6",outcome="Completed"}"#,
        |n| n == 1.0,
    )
    .await;
    let (status, content_type, _) = scrape(&server, None).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    for (series, expected) in [
        (r#"ocpulse_stations_connected{protocol="ocpp1.6"}"#, 1.0),
        (r#"ocpulse_stations_connected{protocol="ocpp2.0.1"}"#, 1.0),
        (
            r#"ocpulse_frames_total{direction="in",protocol="ocpp1.6",action="BootNotification",frame_type="CALL"}"#,
            1.0,
        ),
        (
            r#"ocpulse_frames_total{direction="out",protocol="ocpp2.0.1",action="BootNotification",frame_type="CALLRESULT"}"#,
            1.0,
        ),
        (
            r#"ocpulse_frames_total{direction="out",protocol="ocpp1.6",action="TriggerMessage",frame_type="CALL"}"#,
            1.0,
        ),
        (
            r#"ocpulse_csms_calls_total{protocol="ocpp1.6",outcome="result"}"#,
            1.0,
        ),
    ] {
        assert_eq!(value(&text, series), Some(expected), "{series} in:\n{text}");
    }
    // Buckets are cumulative: the one trigger is in +Inf, and in no bucket below 5 ms
    // that it could not have taken.
    assert_eq!(
        value(
            &text,
            r#"ocpulse_trigger_duration_seconds_bucket{le="+Inf",requested_message="Heartbeat",protocol="ocpp1.6",outcome="Completed"}"#
        ),
        Some(1.0)
    );
    assert!(value(&text, "ocpulse_store_commit_seconds_count").is_some_and(|n| n >= 2.0));
    assert!(value(&text, "ocpulse_store_batch_entries_count").is_some_and(|n| n >= 2.0));
    assert!(value(&text, "ocpulse_journal_bytes").is_some_and(|n| n > 0.0));
    assert!(value(&text, "ocpulse_journal_newest_seq").is_some_and(|n| n > 0.0));
    assert!(value(&text, "process_resident_memory_bytes").is_some_and(|n| n > 0.0));
    assert!(value(&text, "process_open_fds").is_some_and(|n| n > 0.0));
    assert!(value(&text, "process_cpu_seconds_total").is_some());

    // A station that leaves is no longer counted.
    stop16.cancel();
    wait_value(
        &server,
        r#"ocpulse_stations_connected{protocol="ocpp1.6"}"#,
        |n| n == 0.0,
    )
    .await;
    stop201.cancel();
}

#[tokio::test]
async fn an_invalid_frame_is_counted_as_a_violation_under_its_action() {
    let server = Server::start().await;
    let mut station = common::Station::connect(&server, "CP2", "ocpp1.6").await;
    // connectorId must be an integer: strict validation refuses it with a CALLERROR.
    let answer = station
        .call(
            "StatusNotification",
            json!({"connectorId": "one", "errorCode": "NoError", "status": "Available"}),
        )
        .await;
    assert_eq!(answer[0], 4, "a CALLERROR: {answer}");
    station.send_text("not json").await;
    let _ = station.recv().await;
    let text = wait_value(
        &server,
        r#"ocpulse_validation_violations_total{protocol="ocpp1.6",action="StatusNotification",kind="refused"}"#,
        |n| n == 1.0,
    )
    .await;
    assert_eq!(
        value(
            &text,
            r#"ocpulse_validation_violations_total{protocol="ocpp1.6",action="",kind="malformed"}"#
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_need_a_read_token_where_tokens_are_required() {
    let server = Server::start_with(|c| c.security.require_token = true).await;
    let (status, _, body) = scrape(&server, None).await;
    assert_eq!(status, 401, "{body}");
    let reader = ocpulse::token_cmd::create(server.dir.path(), "prometheus", &[Scope::Read])
        .await
        .expect("token");
    let (status, _, body) = scrape(&server, Some(&reader.plain)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("ocpulse_stations_connected") || body.contains("process_cpu_seconds_total"),
        "{body}"
    );
    let (status, _, _) = scrape(&server, Some("ocp_not_a_token")).await;
    assert_eq!(status, 401);
}
