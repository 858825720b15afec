//! Log uploads end to end: a real server, simulated 1.6 and 2.0.1 stations that really
//! upload to the one-time URL they are given, and raw stations for the refusals (silent,
//! bad bodies, an upload too large, a token used twice).

mod common;

use std::time::Duration;

use common::{Server, Station, sim, wait_connected};
use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::StationConfig;
use serde_json::{Value, json};

fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn request_log(server: &Server, station: &str, body: Value) -> (u16, Value) {
    server
        .post(
            &format!("/api/v1/stations/{station}/logs"),
            &body.to_string(),
        )
        .await
}

/// POSTs a log request in the background, so the test can play the station meanwhile.
fn spawn_request(
    server: &Server,
    station: &str,
    body: Value,
) -> tokio::task::JoinHandle<(u16, Value)> {
    let url = server.url(&format!("/api/v1/stations/{station}/logs"));
    tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(url)
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    })
}

async fn download(server: &Server, id: &str) -> (u16, String, Vec<u8>) {
    let r = reqwest::get(server.url(&format!("/api/v1/logs/{id}/content")))
        .await
        .expect("GET content");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        content_type,
        r.bytes().await.expect("body").to_vec(),
    )
}

async fn a_simulated_station_uploads_its_log(id: &str, version: ProtocolVersion, action: &str) {
    let server = Server::start().await;
    let (stop, task) = sim::spawn(&server, StationConfig::new(id, version));
    sim::wait_for(&server, id, |s| s["connected"] == json!(true)).await;
    let (code, log) = request_log(&server, id, json!({"wait": true, "timeoutMs": 20000})).await;
    assert_eq!(code, 200, "{log}");
    assert_eq!(log["status"], "received", "{log}");
    assert_eq!(log["action"], action);
    assert_eq!(log["answer"], "Accepted");
    let file = &log["file"];
    assert!(file["size"].as_u64().is_some_and(|n| n > 0), "{log}");
    let statuses: Vec<&str> = log["progress"]
        .as_array()
        .expect("progress")
        .iter()
        .filter_map(|p| p["status"].as_str())
        .collect();
    assert!(statuses.contains(&"Uploading"), "{log}");
    let log_id = log["id"].as_str().expect("id");
    let (code, content_type, bytes) = download(&server, log_id).await;
    assert_eq!(code, 200);
    assert_eq!(content_type, "text/plain");
    assert_eq!(
        sha256(&bytes),
        file["sha256"].as_str().expect("sha"),
        "download equals upload"
    );
    assert_eq!(Some(bytes.len() as u64), file["size"].as_u64());
    let text = String::from_utf8(bytes).expect("text");
    assert!(text.contains(&format!("station={id}")), "{text}");
    assert!(
        text.contains(&format!("protocol={}", version.subprotocol())),
        "{text}"
    );
    // The station reports Uploaded after the server took the file; the request stays received.
    for _ in 0..100 {
        let (_, now) = server.get(&format!("/api/v1/logs/{log_id}")).await;
        if now["progress"].to_string().contains("\"Uploaded\"") {
            assert_eq!(now["status"], "received");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, list) = server.get(&format!("/api/v1/logs?station={id}")).await;
    assert_eq!(code, 200);
    assert_eq!(list["items"][0]["id"], log_id);
    // The upload is a fact in the journal.
    let (_, messages) = server.get(&format!("/api/v1/stations/{id}/messages")).await;
    assert!(messages.to_string().contains("LogUploaded"), "{messages}");
    stop.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn a_simulated_16_station_uploads_its_diagnostics_by_multipart_post() {
    a_simulated_station_uploads_its_log("SIMLOG16", ProtocolVersion::V16, "GetDiagnostics").await;
}

#[tokio::test]
async fn a_simulated_201_station_uploads_its_log_by_put() {
    a_simulated_station_uploads_its_log("SIMLOG201", ProtocolVersion::V201, "GetLog").await;
}

#[tokio::test]
async fn a_station_refusing_get_log_is_reported_rejected_and_its_url_takes_nothing() {
    let server = Server::start().await;
    let mut cfg = StationConfig::new("SIMREJ", ProtocolVersion::V201);
    cfg.faults.add_flag("GetLog=reject").expect("fault");
    let (stop, task) = sim::spawn(&server, cfg);
    sim::wait_for(&server, "SIMREJ", |s| s["connected"] == json!(true)).await;
    let (code, log) = request_log(
        &server,
        "SIMREJ",
        json!({"logType": "SecurityLog", "wait": true}),
    )
    .await;
    assert_eq!(code, 200, "{log}");
    assert_eq!(log["status"], "rejected");
    assert_eq!(log["answer"], "Rejected");
    assert_eq!(log["logType"], "SecurityLog");
    let (code, _, body) = download(&server, log["id"].as_str().expect("id")).await;
    assert_eq!(code, 409, "{}", String::from_utf8_lossy(&body));
    stop.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn a_station_whose_upload_fails_is_reported_failed() {
    let server = Server::start().await;
    let mut cfg = StationConfig::new("SIMFAIL", ProtocolVersion::V16);
    cfg.faults.add_flag("GetDiagnostics=fail").expect("fault");
    let (stop, task) = sim::spawn(&server, cfg);
    sim::wait_for(&server, "SIMFAIL", |s| s["connected"] == json!(true)).await;
    let (code, log) = request_log(
        &server,
        "SIMFAIL",
        json!({"wait": true, "timeoutMs": 20000}),
    )
    .await;
    assert_eq!(code, 200, "{log}");
    assert_eq!(log["status"], "failed", "{log}");
    assert!(
        log["progress"].to_string().contains("UploadFailed"),
        "{log}"
    );
    let (code, list) = server.get("/api/v1/logs?status=failed").await;
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    stop.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn a_silent_station_is_a_504_and_the_request_is_kept_as_an_error() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPSILENT", "ocpp2.0.1").await;
    st.boot201().await;
    let (code, err) = request_log(&server, "CPSILENT", json!({"timeoutMs": 300})).await;
    assert_eq!(code, 504, "{err}");
    assert_eq!(err["error"], "station_timeout");
    let id = err["logId"].as_str().expect("logId");
    let (code, log) = server.get(&format!("/api/v1/logs/{id}")).await;
    assert_eq!(code, 200);
    assert_eq!(log["status"], "error");
    assert_eq!(log["answer"], "station_timeout");
}

#[tokio::test]
async fn bad_requests_are_refused_before_anything_is_sent() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPBAD", "ocpp2.0.1").await;
    st.boot201().await;
    for (body, code) in [
        (json!({"logType": "EverythingLog"}), "invalid_log_type"),
        (json!({"from": "yesterday"}), "invalid_time"),
        (
            json!({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
            "invalid_time",
        ),
        (json!({"timeoutMs": 0}), "invalid_timeout"),
        (json!({"location": "ftp://elsewhere"}), "invalid_body"),
    ] {
        let (status, err) = request_log(&server, "CPBAD", body.clone()).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["error"], code, "{body}: {err}");
    }
    let (status, err) = server.post("/api/v1/stations/CPBAD/logs", "").await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_body")),
        "an empty body"
    );
    let (status, err) = request_log(&server, "NOPE", json!({})).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (404, Some("station_not_found"))
    );
    use futures_util::StreamExt;
    let next = tokio::time::timeout(Duration::from_millis(300), st.ws.next()).await;
    assert!(next.is_err(), "nothing was sent: {next:?}");
    let (code, list) = server.get("/api/v1/logs").await;
    assert_eq!(
        (code, list["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (code, err) = server.get("/api/v1/logs?status=lost").await;
    assert_eq!((code, err["error"].as_str()), (400, Some("invalid_status")));
}

/// A raw 1.6 station asked for diagnostics: the upload URL it was given.
async fn raw_request(
    server: &Server,
    id: &str,
) -> (Station, String, tokio::task::JoinHandle<(u16, Value)>) {
    let mut st = Station::connect(server, id, "ocpp1.6").await;
    st.boot16().await;
    wait_connected(server, id, true).await;
    let http = spawn_request(server, id, json!({}));
    let (call_id, action, payload) = st.next_call().await;
    assert_eq!(action, "GetDiagnostics");
    st.reply(&call_id, json!({"fileName": "diag.tar.gz"})).await;
    let url = payload["location"].as_str().expect("location").to_owned();
    assert!(
        url.starts_with(&format!("http://{}/uploads/", server.addr)),
        "{url}"
    );
    // 128 bits of token, hex.
    assert_eq!(url.rsplit('/').next().map(str::len), Some(32), "{url}");
    (st, url, http)
}

#[tokio::test]
async fn an_upload_too_large_a_bad_body_and_a_second_upload_are_refused() {
    let server = Server::start_with(|c| c.max_upload_bytes = 1024).await;
    let (_st, url, http) = raw_request(&server, "CPRAW").await;
    let (code, log) = http.await.expect("join");
    assert_eq!(code, 202, "{log}");
    assert_eq!(log["status"], "accepted");
    assert_eq!(log["fileName"], "diag.tar.gz");
    let id = log["id"].as_str().expect("id").to_owned();
    let http = reqwest::Client::new();
    let too_large = http
        .put(&url)
        .body(vec![b'x'; 2000])
        .send()
        .await
        .expect("PUT");
    assert_eq!(too_large.status().as_u16(), 413);
    let bad = http
        .post(&url)
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("not multipart at all")
        .send()
        .await
        .expect("POST");
    assert_eq!(bad.status().as_u16(), 400);
    let empty = http.put(&url).send().await.expect("PUT");
    assert_eq!(empty.status().as_u16(), 400);
    let (code, err) = (
        download(&server, &id).await.0,
        server.get(&format!("/api/v1/logs/{id}")).await.1,
    );
    assert_eq!(code, 409, "nothing was kept: {err}");
    let ok = http
        .post(&url)
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"diag.tar.gz\"\r\nContent-Type: application/gzip\r\n\r\nGZDATA\r\n--XYZ--\r\n")
        .send()
        .await
        .expect("POST");
    assert_eq!(ok.status().as_u16(), 201);
    let again = http.put(&url).body("more").send().await.expect("PUT");
    assert_eq!(again.status().as_u16(), 410, "the token is spent");
    let (code, content_type, bytes) = download(&server, &id).await;
    assert_eq!(
        (code, content_type.as_str(), bytes.as_slice()),
        (200, "application/gzip", &b"GZDATA"[..])
    );
    let (_, log) = server.get(&format!("/api/v1/logs/{id}")).await;
    assert_eq!(log["status"], "received");
    assert_eq!(log["file"]["fileName"], "diag.tar.gz");
    let unknown = http
        .put(server.url("/uploads/00000000000000000000000000000000"))
        .body("x")
        .send()
        .await
        .expect("PUT");
    assert_eq!(unknown.status().as_u16(), 404);
    // The file is under the data directory, named by the server.
    assert!(
        server
            .dir
            .path()
            .join("uploads")
            .join(format!("{id}.log"))
            .exists()
    );
}

#[tokio::test]
async fn the_public_url_is_where_stations_are_told_to_upload() {
    let server =
        Server::start_with(|c| c.public_url = Some("https://csms.example.com/base".into())).await;
    let mut st = Station::connect(&server, "CPPUB", "ocpp2.0.1").await;
    st.boot201().await;
    wait_connected(&server, "CPPUB", true).await;
    let http = spawn_request(&server, "CPPUB", json!({"from": "2026-01-01T00:00:00Z"}));
    let (call_id, action, payload) = st.next_call().await;
    assert_eq!(action, "GetLog");
    assert_eq!(payload["logType"], "DiagnosticsLog");
    assert_eq!(payload["log"]["oldestTimestamp"], "2026-01-01T00:00:00Z");
    let url = payload["log"]["remoteLocation"].as_str().expect("url");
    assert!(
        url.starts_with("https://csms.example.com/base/uploads/"),
        "{url}"
    );
    st.reply(&call_id, json!({"status": "Accepted"})).await;
    let (code, log) = http.await.expect("join");
    assert_eq!(code, 202);
    assert_eq!(log["requestId"], payload["requestId"]);
    // LogStatusNotification with the requestId is the request's progress.
    let r = st
        .call(
            "LogStatusNotification",
            json!({"status": "Uploading", "requestId": payload["requestId"]}),
        )
        .await;
    assert_eq!(r[0], 3);
    let (_, now) = server
        .get(&format!("/api/v1/logs/{}", log["id"].as_str().expect("id")))
        .await;
    assert_eq!(now["status"], "uploading", "{now}");
}

#[tokio::test]
async fn requests_and_files_survive_a_restart() {
    let server = Server::start().await;
    let (_st, url, http) = raw_request(&server, "CPKEEP").await;
    let (code, log) = http.await.expect("join");
    assert_eq!(code, 202, "{log}");
    let id = log["id"].as_str().expect("id").to_owned();
    let put = reqwest::Client::new()
        .put(&url)
        .header("content-type", "text/plain")
        .body("kept across restarts")
        .send()
        .await
        .expect("PUT");
    assert_eq!(put.status().as_u16(), 201);
    drop(_st);
    let server = server.restart(|_| {}).await;
    let (code, after) = server.get(&format!("/api/v1/logs/{id}")).await;
    assert_eq!(code, 200, "{after}");
    assert_eq!(after["status"], "received");
    let (code, _, bytes) = download(&server, &id).await;
    assert_eq!(
        (code, bytes.as_slice()),
        (200, &b"kept across restarts"[..])
    );
    let again = reqwest::Client::new()
        .put(&url)
        .body("x")
        .send()
        .await
        .expect("PUT");
    assert_eq!(
        again.status().as_u16(),
        410,
        "still spent after the restart"
    );
}
