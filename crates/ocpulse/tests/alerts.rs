//! Alert rules end to end: a real server, scripted stations, and a real webhook receiver
//! that fails the first deliveries, checks every signature, and sees the retries.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use common::{Server, Station, allow_loopback_webhooks, spawn_trigger};
use parking_lot::Mutex;
use serde_json::{Value, json};

const SECRET: &str = "test-secret-0123456789";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// A webhook receiver on 127.0.0.1: answers 500 to the first `fail_first` requests, then 200.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Self {
        Self::start_on("127.0.0.1:0", fail_first).await
    }

    async fn start_on(addr: &str, fail_first: usize) -> Self {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind receiver");
        let url = format!(
            "http://{}/hooks/ocpulse",
            listener.local_addr().expect("addr")
        );
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen = Arc::clone(&got);
        let app = axum::Router::new().route(
            "/hooks/ocpulse",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let seen = Arc::clone(&seen);
                async move {
                    let mut seen = seen.lock();
                    let answered = if seen.len() < fail_first { 500 } else { 200 };
                    seen.push(Received {
                        headers,
                        body,
                        answered,
                    });
                    StatusCode::from_u16(answered).expect("status")
                }
            }),
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver runs");
        });
        Self { url, got }
    }

    fn all(&self) -> Vec<Received> {
        self.got.lock().clone()
    }

    /// Waits until a request with this event was answered 200, returning it.
    async fn delivered(&self, event: &str) -> Received {
        for _ in 0..300 {
            if let Some(r) = self
                .all()
                .into_iter()
                .find(|r| r.answered == 200 && r.header("x-ocpulse-event") == event)
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no {event} delivered; got {:?}", self.all());
    }
}

/// What a receiver does: recompute the HMAC of "<timestamp>.<body>" with the secret.
fn verify(r: &Received, secret: &str) {
    let timestamp = r.header("x-ocpulse-timestamp");
    assert!(
        timestamp.parse::<i64>().is_ok(),
        "unix-seconds timestamp: {timestamp:?}"
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(&r.body);
    let expected: String = ring::hmac::sign(&key, &signed)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        r.header("x-ocpulse-signature"),
        format!("sha256={expected}")
    );
    let other = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"another-secret-entirely");
    let forged: String = ring::hmac::sign(&other, &signed)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_ne!(r.header("x-ocpulse-signature"), format!("sha256={forged}"));
}

async fn fast_server() -> Server {
    Server::start_with(|c| {
        allow_loopback_webhooks(c);
        c.webhook_retry_base = Duration::from_millis(50);
        c.webhook_timeout = Duration::from_secs(2);
    })
    .await
}

async fn create(server: &Server, path: &str, body: Value) -> Value {
    let (code, created) = server.post(path, &body.to_string()).await;
    assert_eq!(code, 201, "{path} {body} -> {created}");
    created
}

/// Polls `GET path` until `ok` holds for the body.
async fn eventually(server: &Server, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (code, body) = server.get(path).await;
        if code == 200 && ok(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} never matched; last {last}");
}

async fn status16(station: &mut Station, connector: i64, status: &str, error: &str) {
    let r = station
        .call(
            "StatusNotification",
            json!({"connectorId": connector, "errorCode": error, "status": status, "timestamp": "2025-01-01T12:00:00Z"}),
        )
        .await;
    assert_eq!(r[0], 3, "accepted: {r}");
}

/// Reads the SSE body of `GET /api/v1/events?{query}` until `n` events arrived.
async fn sse_events(server: &Server, query: &str, n: usize) -> Vec<Value> {
    let mut response = reqwest::get(server.url(&format!("/api/v1/events?{query}")))
        .await
        .expect("GET /api/v1/events");
    assert_eq!(response.status().as_u16(), 200);
    let (mut buffer, mut events) = (String::new(), Vec::new());
    while events.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("an event within 10 s")
            .expect("readable")
            .expect("open");
        buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) {
                events.push(serde_json::from_str(data.trim()).expect("JSON data"));
            }
        }
    }
    events
}

#[tokio::test]
async fn a_faulted_connector_raises_one_alert_delivered_signed_after_retries_then_resolves() {
    let server = fast_server().await;
    let receiver = Receiver::start(2).await;
    let hook = create(
        &server,
        "/api/v1/webhooks",
        json!({"url": receiver.url, "secret": SECRET}),
    )
    .await;
    assert!(
        hook.get("secret").is_none(),
        "the secret is never shown: {hook}"
    );
    assert_eq!(hook["secretHint"], "…6789");
    let hook_id = hook["id"].as_str().expect("id").to_owned();
    let rule = create(
        &server,
        "/api/v1/alert-rules",
        json!({"name": "Connector faulted", "condition": {"kind": "connectorFaulted"}, "severity": "critical"}),
    )
    .await;
    let rule_id = rule["id"].as_str().expect("id").to_owned();
    assert_eq!(rule["condition"], json!({"kind": "connectorFaulted"}));

    let mut cp = Station::connect(&server, "CP1", "ocpp1.6").await;
    cp.boot16().await;
    status16(&mut cp, 1, "Faulted", "GroundFailure").await;
    let listed = eventually(&server, "/api/v1/alerts?status=open", |b| {
        b["items"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let alert = &listed["items"][0];
    assert_eq!(
        (
            alert["ruleId"].as_str(),
            alert["stationId"].as_str(),
            alert["target"].as_str()
        ),
        (Some(rule_id.as_str()), Some("CP1"), Some("connector:1"))
    );
    assert_eq!(
        (alert["severity"].clone(), alert["count"].clone()),
        (json!("critical"), json!(1))
    );
    assert_eq!(alert["details"]["errorCode"], "GroundFailure");
    let alert_id = alert["id"].as_str().expect("id").to_owned();

    // Still faulted while open: the same alert counts it, no second alert.
    status16(&mut cp, 1, "Faulted", "GroundFailure").await;
    eventually(&server, &format!("/api/v1/alerts/{alert_id}"), |a| {
        a["count"] == 2
    })
    .await;
    let (_, all) = server.get("/api/v1/alerts").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1), "{all}");

    // The receiver failed twice; the third attempt is delivered, every one signed.
    let raised = receiver.delivered("AlertRaised").await;
    let attempts: Vec<Received> = receiver
        .all()
        .into_iter()
        .filter(|r| r.header("x-ocpulse-event") == "AlertRaised")
        .collect();
    assert_eq!(
        attempts.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    for r in &attempts {
        verify(r, SECRET);
        assert_eq!(
            r.header("x-ocpulse-delivery"),
            raised.header("x-ocpulse-delivery")
        );
    }
    let body = raised.json();
    assert_eq!(body["event"], "AlertRaised");
    assert_eq!(body["alert"]["id"], json!(alert_id));
    assert_eq!(
        body["deliveryId"],
        json!(raised.header("x-ocpulse-delivery"))
    );
    assert!(body["sentAt"].is_string());
    let log = eventually(
        &server,
        &format!("/api/v1/webhooks/{hook_id}/deliveries"),
        |b| b["items"][0]["status"] == "delivered",
    )
    .await;
    let delivery = &log["items"][0];
    assert_eq!(delivery["event"], "AlertRaised");
    assert_eq!(delivery["alertId"], json!(alert_id));
    let codes: Vec<Value> = delivery["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["statusCode"].clone())
        .collect();
    assert_eq!(codes, [json!(500), json!(500), json!(200)], "{delivery}");
    assert!(
        delivery["attempts"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("500"))
    );

    // The connector recovers: resolved, and delivered (first try now).
    status16(&mut cp, 1, "Available", "NoError").await;
    let resolved = eventually(&server, &format!("/api/v1/alerts/{alert_id}"), |a| {
        a["status"] == "resolved"
    })
    .await;
    assert_eq!(resolved["resolution"]["status"], "Available");
    let r = receiver.delivered("AlertResolved").await;
    verify(&r, SECRET);
    assert_eq!(r.json()["alert"]["status"], "resolved");

    // Faulted again: a new alert; acknowledged once, refused twice.
    status16(&mut cp, 1, "Faulted", "NoError").await;
    let open = eventually(&server, "/api/v1/alerts?status=open&station=CP1", |b| {
        b["items"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let second = open["items"][0]["id"].as_str().expect("id").to_owned();
    assert_ne!(second, alert_id);
    let (code, acked) = server
        .post(
            &format!("/api/v1/alerts/{second}/acknowledge"),
            r#"{"by": "alice", "note": "contactor replaced"}"#,
        )
        .await;
    assert_eq!(code, 200, "{acked}");
    assert_eq!(
        (
            acked["status"].as_str(),
            acked["acknowledgedBy"].as_str(),
            acked["acknowledgeNote"].as_str()
        ),
        (
            Some("acknowledged"),
            Some("alice"),
            Some("contactor replaced")
        )
    );
    let (code, again) = server
        .post(&format!("/api/v1/alerts/{second}/acknowledge"), "")
        .await;
    assert_eq!(
        (code, again["error"].as_str()),
        (409, Some("alert_not_open")),
        "{again}"
    );
    let (code, done) = server
        .post(&format!("/api/v1/alerts/{alert_id}/acknowledge"), "")
        .await;
    assert_eq!(code, 409, "a resolved alert: {done}");
    let (code, missing) = server.post("/api/v1/alerts/nope/acknowledge", "").await;
    assert_eq!(
        (code, missing["error"].as_str()),
        (404, Some("alert_not_found"))
    );
    let r = receiver.delivered("AlertAcknowledged").await;
    verify(&r, SECRET);
    let (_, by_status) = server.get("/api/v1/alerts?status=acknowledged").await;
    assert_eq!(by_status["items"][0]["id"], json!(second));
    let (_, by_rule) = server
        .get(&format!("/api/v1/alerts?rule={rule_id}&limit=1"))
        .await;
    assert_eq!(by_rule["items"].as_array().map(Vec::len), Some(1));

    // Every change is a journal entry on the event stream.
    let events = sse_events(&server, "kind=alert&after=0", 4).await;
    let names: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        names,
        [
            "AlertRaised",
            "AlertResolved",
            "AlertRaised",
            "AlertAcknowledged"
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e["kind"] == "alert" && e["stationId"] == "CP1")
    );
    assert_eq!(events[0]["payload"]["id"], json!(alert_id));

    // Deleting the rule resolves its open alert.
    let (code, deleted) = reqwest::Client::new()
        .delete(server.url(&format!("/api/v1/alert-rules/{rule_id}")))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map(|c| (c, ()))
        .expect("DELETE");
    assert_eq!((code, deleted), (200, ()));
    eventually(&server, &format!("/api/v1/alerts/{second}"), |a| {
        a["status"] == "resolved"
    })
    .await;
    let (code, _) = server.get(&format!("/api/v1/alert-rules/{rule_id}")).await;
    assert_eq!(code, 404);
    server.stop().await;
}

#[tokio::test]
async fn heartbeat_trigger_meter_and_v201_rules_fire() {
    let server = fast_server().await;
    create(&server, "/api/v1/alert-rules", json!({"name": "Silent", "condition": {"kind": "heartbeatMissing", "minutes": 0.02}, "stations": ["CP-SILENT"]})).await;
    create(&server, "/api/v1/alert-rules", json!({"name": "Trigger refused", "condition": {"kind": "triggerOutcome", "outcomes": ["Rejected", "NotImplemented"]}})).await;
    create(&server, "/api/v1/alert-rules", json!({"name": "Voltage", "condition": {"kind": "meterOutOfRange", "measurand": "Voltage", "min": 207, "max": 253}, "severity": "info"})).await;
    let faulted = create(
        &server,
        "/api/v1/alert-rules",
        json!({"name": "Faulted", "condition": {"kind": "connectorFaulted"}}),
    )
    .await;
    create(
        &server,
        "/api/v1/alert-rules",
        json!({"name": "Firmware", "condition": {"kind": "firmwareFailed"}}),
    )
    .await;

    // A connected station that sends no Heartbeat for 1.2 s.
    let mut silent = Station::connect(&server, "CP-SILENT", "ocpp1.6").await;
    silent.boot16().await;
    let hb = eventually(&server, "/api/v1/alerts?station=CP-SILENT", |b| {
        b["items"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert_eq!(hb["items"][0]["target"], "heartbeat");
    assert_eq!(hb["items"][0]["ruleName"], "Silent");
    let hb_id = hb["items"][0]["id"].as_str().expect("id").to_owned();
    let r = silent.call("Heartbeat", json!({})).await;
    assert_eq!(r[0], 3);
    eventually(&server, &format!("/api/v1/alerts/{hb_id}"), |a| {
        a["status"] == "resolved"
    })
    .await;

    // A trigger the station rejects.
    let mut cp = Station::connect(&server, "CP-T", "ocpp1.6").await;
    cp.boot16().await;
    let pending = spawn_trigger(
        &server,
        "CP-T",
        json!({"requestedMessage": "MeterValues", "connectorId": 1}),
    );
    let (id, action, _) = cp.next_call().await;
    assert_eq!(action, "TriggerMessage");
    cp.reply(&id, json!({"status": "Rejected"})).await;
    let (_, answer) = pending.await.expect("trigger answered");
    assert_eq!(answer["outcome"], "Rejected", "{answer}");
    let t = eventually(&server, "/api/v1/alerts?station=CP-T", |b| {
        b["items"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert_eq!(t["items"][0]["target"], "trigger:MeterValues");
    assert_eq!(t["items"][0]["details"]["outcome"], "Rejected");
    assert_eq!(t["items"][0]["details"]["triggerId"], answer["triggerId"]);

    // A 1.6 voltage outside 207..253 V, then back in range.
    let meter = |v: &str| json!({"connectorId": 1, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z", "sampledValue": [{"value": v, "measurand": "Voltage", "unit": "V", "phase": "L1"}]}]});
    assert_eq!(cp.call("MeterValues", meter("262.5")).await[0], 3);
    let m = eventually(&server, "/api/v1/alerts?station=CP-T&status=open", |b| {
        b["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["target"] == "meter:connector:1"))
    })
    .await;
    let m = m["items"]
        .as_array()
        .expect("alerts")
        .iter()
        .find(|x| x["target"] == "meter:connector:1")
        .cloned()
        .expect("meter alert");
    assert_eq!(
        (m["details"]["value"].clone(), m["severity"].clone()),
        (json!(262.5), json!("info"))
    );
    assert_eq!(cp.call("MeterValues", meter("231")).await[0], 3);
    eventually(
        &server,
        &format!("/api/v1/alerts/{}", m["id"].as_str().expect("id")),
        |a| a["status"] == "resolved",
    )
    .await;

    // 2.0.1: a faulted EVSE connector and a failed firmware install.
    let mut v2 = Station::connect(&server, "CP-2", "ocpp2.0.1").await;
    v2.boot201().await;
    assert_eq!(v2.status201(2, 1, "Faulted").await[0], 3);
    let r = v2
        .call(
            "FirmwareStatusNotification",
            json!({"status": "InstallationFailed", "requestId": 4}),
        )
        .await;
    assert_eq!(r[0], 3, "{r}");
    let a = eventually(&server, "/api/v1/alerts?station=CP-2", |b| {
        b["items"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    let mut targets: Vec<&str> = a["items"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|x| x["target"].as_str())
        .collect();
    targets.sort_unstable();
    assert_eq!(targets, ["evse:2/connector:1", "firmware"]);

    // A rule whose condition changes kind resolves the alerts nothing would clear now.
    let put = reqwest::Client::new()
        .put(server.url(&format!(
            "/api/v1/alert-rules/{}",
            faulted["id"].as_str().expect("id")
        )))
        .header("content-type", "application/json")
        .body(r#"{"name": "Faulted", "condition": {"kind": "firmwareFailed"}}"#)
        .send()
        .await
        .expect("PUT");
    assert_eq!(put.status().as_u16(), 200);
    let body: Value = put.json().await.expect("JSON");
    assert_eq!(body["resolvedAlerts"], 1, "{body}");
    let open = eventually(&server, "/api/v1/alerts?station=CP-2&status=open", |_| true).await;
    let open: Vec<&str> = open["items"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|x| x["target"].as_str())
        .collect();
    assert_eq!(open, ["firmware"]);
    server.stop().await;
}

#[tokio::test]
async fn a_security_event_notification_raises_until_acknowledged_then_raises_anew() {
    let server = fast_server().await;
    let rule = create(
        &server,
        "/api/v1/alert-rules",
        json!({"name": "Tamper", "condition": {"kind": "securityEvent", "types": ["TamperDetectionActivated"]}, "severity": "critical"}),
    )
    .await;
    assert_eq!(
        rule["condition"],
        json!({"kind": "securityEvent", "types": ["TamperDetectionActivated"], "includeRefusedConnections": false})
    );
    let mut cp = Station::connect(&server, "CP-SEC", "ocpp1.6").await;
    cp.boot16().await;
    let notify = |kind: &str, info: &str| json!({"type": kind, "timestamp": "2025-01-01T12:00:00Z", "techInfo": info});
    // A type the rule does not name raises nothing; the named one does.
    let r = cp
        .call(
            "SecurityEventNotification",
            notify("SettingSystemTime", "ntp"),
        )
        .await;
    assert_eq!(r[0], 3, "accepted: {r}");
    let r = cp
        .call(
            "SecurityEventNotification",
            notify("TamperDetectionActivated", "enclosure opened"),
        )
        .await;
    assert_eq!(r[0], 3, "accepted: {r}");
    let listed = eventually(&server, "/api/v1/alerts?station=CP-SEC", |b| {
        b["items"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let alert = &listed["items"][0];
    assert_eq!(
        (
            alert["target"].clone(),
            alert["status"].clone(),
            alert["severity"].clone()
        ),
        (
            json!("TamperDetectionActivated"),
            json!("open"),
            json!("critical")
        )
    );
    assert_eq!(
        alert["details"],
        json!({"source": "station", "action": "SecurityEventNotification", "type": "TamperDetectionActivated",
            "timestamp": "2025-01-01T12:00:00Z", "techInfo": "enclosure opened"})
    );
    let first = alert["id"].as_str().expect("id").to_owned();

    // Again while open: counted on the same alert.
    cp.call(
        "SecurityEventNotification",
        notify("TamperDetectionActivated", "enclosure opened again"),
    )
    .await;
    eventually(&server, &format!("/api/v1/alerts/{first}"), |a| {
        a["count"] == 2 && a["details"]["techInfo"] == "enclosure opened again"
    })
    .await;

    // Nothing clears a security event: acknowledging it ends the alert.
    let (code, acked) = server
        .post(
            &format!("/api/v1/alerts/{first}/acknowledge"),
            r#"{"by": "soc"}"#,
        )
        .await;
    assert_eq!(code, 200, "{acked}");
    assert_eq!(
        (acked["status"].as_str(), acked["acknowledgedBy"].as_str()),
        (Some("resolved"), Some("soc"))
    );
    assert!(acked["resolution"]["reason"].is_string(), "{acked}");

    // The next event is a new alert, not a quiet repeat of the acknowledged one.
    cp.call(
        "SecurityEventNotification",
        notify("TamperDetectionActivated", "opened a third time"),
    )
    .await;
    let open = eventually(&server, "/api/v1/alerts?station=CP-SEC&status=open", |b| {
        b["items"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    assert_ne!(open["items"][0]["id"], json!(first));
    assert_eq!(open["items"][0]["count"], 1);
    let events = sse_events(&server, "kind=alert&after=0", 4).await;
    let names: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        names,
        [
            "AlertRaised",
            "AlertAcknowledged",
            "AlertResolved",
            "AlertRaised"
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_pending_delivery_is_retried_after_a_restart() {
    // Nothing listens on the webhook's port yet: every attempt fails to connect.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let server = Server::start_with(|c| {
        allow_loopback_webhooks(c);
        c.webhook_retry_base = Duration::from_millis(300);
        c.webhook_attempts = 20;
    })
    .await;
    let url = format!("http://127.0.0.1:{port}/hooks/ocpulse");
    let hook = create(
        &server,
        "/api/v1/webhooks",
        json!({"url": url, "secret": SECRET, "events": ["AlertRaised"]}),
    )
    .await;
    let hook_id = hook["id"].as_str().expect("id").to_owned();
    create(
        &server,
        "/api/v1/alert-rules",
        json!({"name": "Faulted", "condition": {"kind": "connectorFaulted"}}),
    )
    .await;
    let mut cp = Station::connect(&server, "CP1", "ocpp1.6").await;
    cp.boot16().await;
    status16(&mut cp, 1, "Faulted", "NoError").await;
    let log = eventually(
        &server,
        &format!("/api/v1/webhooks/{hook_id}/deliveries"),
        |b| {
            b["items"][0]["attempts"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        },
    )
    .await;
    assert_eq!(log["items"][0]["status"], "pending");
    // One generic text for every connection failure: the log does not tell a closed
    // port from a filtered one (that is what made webhooks a port scanner).
    assert_eq!(
        log["items"][0]["attempts"][0]["error"],
        "could not connect to the receiver (or got no answer in time)",
        "{log}"
    );
    drop(cp);
    let dir = server.stop().await;

    let receiver = Receiver::start_on(&format!("127.0.0.1:{port}"), 0).await;
    let path = dir.path().to_path_buf();
    let server = Server::start_with(move |c| {
        allow_loopback_webhooks(c);
        c.data_dir = path;
        c.webhook_retry_base = Duration::from_millis(50);
    })
    .await;
    let r = receiver.delivered("AlertRaised").await;
    verify(&r, SECRET);
    let log = eventually(
        &server,
        &format!("/api/v1/webhooks/{hook_id}/deliveries"),
        |b| b["items"][0]["status"] == "delivered",
    )
    .await;
    let attempts = log["items"][0]["attempts"].as_array().expect("attempts");
    assert!(
        attempts.len() >= 2,
        "failed before the restart, delivered after: {log}"
    );
    assert_eq!(
        attempts.last().map(|a| a["statusCode"].clone()),
        Some(json!(200))
    );
    // The alert itself survived the restart, still open and not raised twice.
    let (_, alerts) = server.get("/api/v1/alerts").await;
    assert_eq!(
        alerts["items"].as_array().map(Vec::len),
        Some(1),
        "{alerts}"
    );
    server.stop().await;
    drop(dir);
}

#[tokio::test]
async fn bad_rule_and_webhook_bodies_are_400_json_and_unknown_ids_404() {
    let server = Server::start().await;
    let cases = [
        ("/api/v1/alert-rules", "", "invalid_body", "empty"),
        ("/api/v1/alert-rules", "{", "invalid_body", "not valid JSON"),
        (
            "/api/v1/alert-rules",
            r#"{"name": "x", "condition": {"kind": "sunset"}}"#,
            "invalid_body",
            "unknown variant `sunset`",
        ),
        (
            "/api/v1/alert-rules",
            r#"{"name": "x", "condition": {"kind": "connectorFaulted", "port": 1}}"#,
            "invalid_body",
            "unknown field `port`",
        ),
        (
            "/api/v1/alert-rules",
            r#"{"condition": {"kind": "connectorFaulted"}}"#,
            "invalid_body",
            "missing field `name`",
        ),
        (
            "/api/v1/alert-rules",
            r#"{"name": "x", "condition": {"kind": "heartbeatMissing", "minutes": -1}}"#,
            "invalid_rule",
            "greater than 0",
        ),
        (
            "/api/v1/alert-rules",
            r#"{"name": "x", "condition": {"kind": "triggerOutcome", "outcomes": ["Sad"]}}"#,
            "invalid_rule",
            "NotImplemented",
        ),
        (
            "/api/v1/alert-rules",
            r#"{"name": "x", "condition": {"kind": "meterOutOfRange"}}"#,
            "invalid_rule",
            "min, max",
        ),
        (
            "/api/v1/alert-rules",
            r#"{"name": "x", "condition": {"kind": "firmwareFailed"}, "severity": "meh"}"#,
            "invalid_body",
            "critical",
        ),
        (
            "/api/v1/webhooks",
            r#"{"url": "ftp://x/y", "secret": "0123456789abcdef"}"#,
            "invalid_webhook",
            "http",
        ),
        (
            "/api/v1/webhooks",
            r#"{"url": "http://x/y", "secret": "short"}"#,
            "invalid_webhook",
            "16 characters",
        ),
        (
            "/api/v1/webhooks",
            r#"{"url": "http://x/y", "secret": "0123456789abcdef", "events": ["AlertExploded"]}"#,
            "invalid_webhook",
            "AlertRaised",
        ),
        (
            "/api/v1/webhooks",
            r#"{"url": "http://x/y"}"#,
            "invalid_body",
            "missing field `secret`",
        ),
    ];
    for (path, body, error, hint) in cases {
        let (code, answer) = server.post(path, body).await;
        assert_eq!(code, 400, "{path} {body}: {answer}");
        assert_eq!(answer["error"], error, "{path} {body}: {answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| m.contains(hint)),
            "{body}: {answer}"
        );
    }
    for path in [
        "/api/v1/alert-rules/nope",
        "/api/v1/alerts/nope",
        "/api/v1/webhooks/nope",
        "/api/v1/webhooks/nope/deliveries",
    ] {
        let (code, answer) = server.get(path).await;
        assert_eq!(code, 404, "{path}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains("lists them")),
            "{answer}"
        );
    }
    let (code, answer) = server.get("/api/v1/alerts?status=burning").await;
    assert_eq!(
        (code, answer["error"].as_str()),
        (400, Some("invalid_status"))
    );
    let put = reqwest::Client::new()
        .put(server.url("/api/v1/alert-rules/nope"))
        .header("content-type", "application/json")
        .body(r#"{"name": "x", "condition": {"kind": "connectorFaulted"}}"#)
        .send()
        .await
        .expect("PUT");
    assert_eq!(put.status().as_u16(), 404);
    // PUT replaces a rule's spec, keeping its id.
    let rule = create(
        &server,
        "/api/v1/alert-rules",
        json!({"name": "a", "condition": {"kind": "connectorFaulted"}}),
    )
    .await;
    let id = rule["id"].as_str().expect("id");
    let put = reqwest::Client::new()
        .put(server.url(&format!("/api/v1/alert-rules/{id}")))
        .header("content-type", "application/json")
        .body(r#"{"name": "b", "condition": {"kind": "heartbeatMissing", "minutes": 5}, "severity": "critical"}"#)
        .send()
        .await
        .expect("PUT");
    assert_eq!(put.status().as_u16(), 200);
    let (_, rules) = server.get("/api/v1/alert-rules").await;
    assert_eq!(rules["items"][0]["name"], "b");
    assert_eq!(
        rules["items"][0]["condition"],
        json!({"kind": "heartbeatMissing", "minutes": 5.0})
    );
    server.stop().await;
}

/// Webhook URLs a caller could aim at the server's own network: IP literals and
/// `localhost` only, so checking them sends nothing anywhere.
fn internal_urls(port: u16) -> Vec<(String, &'static str)> {
    vec![
        (format!("http://127.0.0.1:{port}/hooks/ocpulse"), "loopback"),
        (format!("http://localhost:{port}/hooks/ocpulse"), "loopback"),
        (format!("http://[::1]:{port}/hooks/ocpulse"), "loopback"),
        (
            format!("http://2130706433:{port}/hooks/ocpulse"),
            "loopback",
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/hooks/ocpulse"),
            "loopback",
        ),
        (
            format!("http://0.0.0.0:{port}/hooks/ocpulse"),
            "unspecified",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".into(),
            "link-local",
        ),
        ("http://[fe80::1]/x".into(), "link-local"),
        ("http://10.0.0.1:6379/".into(), "private"),
        ("https://192.168.1.1/".into(), "private"),
        ("http://[fd00::1]/".into(), "private"),
        ("http://100.64.0.1/".into(), "shared (CGNAT)"),
        ("http://224.0.0.1/".into(), "multicast"),
        ("http://255.255.255.255/".into(), "broadcast"),
    ]
}

#[tokio::test]
async fn webhooks_to_internal_addresses_are_refused_at_creation_with_nothing_sent() {
    let receiver = Receiver::start(0).await;
    let port: u16 = receiver
        .url
        .rsplit(':')
        .next()
        .and_then(|tail| tail.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("receiver port");
    let server = Server::start().await;
    for (url, kind) in internal_urls(port) {
        let (code, answer) = server
            .post(
                "/api/v1/webhooks",
                &json!({"url": url, "secret": SECRET}).to_string(),
            )
            .await;
        assert_eq!(code, 400, "{url}: {answer}");
        assert_eq!(answer["error"], "webhook_target_refused", "{url}: {answer}");
        assert_eq!(answer["addressKind"], kind, "{url}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(kind)
                && message.contains("--webhook-allow")
                && message.contains("public addresses"),
            "says why and what is allowed: {answer}"
        );
    }
    let (_, hooks) = server.get("/api/v1/webhooks").await;
    assert_eq!(hooks["items"], json!([]), "nothing registered");
    // The operator's allow-list opens exactly what it names.
    let server2 = Server::start_with(allow_loopback_webhooks).await;
    let (code, _) = server2
        .post(
            "/api/v1/webhooks",
            &json!({"url": receiver.url, "secret": SECRET}).to_string(),
        )
        .await;
    assert_eq!(code, 201);
    let (code, answer) = server2
        .post(
            "/api/v1/webhooks",
            &json!({"url": "http://10.0.0.1/", "secret": SECRET}).to_string(),
        )
        .await;
    assert_eq!(
        (code, answer["error"].as_str()),
        (400, Some("webhook_target_refused"))
    );
    assert!(receiver.all().is_empty(), "registration sends nothing");
    server.stop().await;
    server2.stop().await;
}

#[tokio::test]
async fn a_target_refused_at_delivery_gets_no_traffic_and_is_logged_as_policy() {
    let receiver = Receiver::start(0).await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    // Registered while loopback was allowed...
    let server = Server::start_with(allow_loopback_webhooks).await;
    let mut hooks = Vec::new();
    for url in [&receiver.url, &by_name] {
        let hook = create(
            &server,
            "/api/v1/webhooks",
            json!({"url": url, "secret": SECRET}),
        )
        .await;
        hooks.push(hook["id"].as_str().expect("id").to_owned());
    }
    create(
        &server,
        "/api/v1/alert-rules",
        json!({"name": "Faulted", "condition": {"kind": "connectorFaulted"}}),
    )
    .await;
    // ...then the operator dropped the allow-list: the stored webhooks stay, the
    // deliveries are refused before any traffic, by IP literal and by resolved name.
    let server = server
        .restart(|c| {
            c.webhook_retry_base = Duration::from_millis(20);
        })
        .await;
    let mut cp = Station::connect(&server, "CP1", "ocpp1.6").await;
    cp.boot16().await;
    status16(&mut cp, 1, "Faulted", "NoError").await;
    for hook in &hooks {
        let log = eventually(
            &server,
            &format!("/api/v1/webhooks/{hook}/deliveries"),
            |b| b["items"][0]["status"] == "failed",
        )
        .await;
        let d = &log["items"][0];
        let attempts = d["attempts"].as_array().expect("attempts");
        assert_eq!(attempts.len(), 1, "a policy refusal is not retried: {log}");
        let error = attempts[0]["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("refused by policy"), "{log}");
        assert!(
            d["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("refused by policy")),
            "{log}"
        );
        assert!(attempts[0].get("statusCode").is_none(), "{log}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        receiver.all().is_empty(),
        "nothing reached the receiver: {:?}",
        receiver.all()
    );
    server.stop().await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let target = Receiver::start(0).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let redirector = format!("http://{}/moved", listener.local_addr().expect("addr"));
    let location = target.url.clone();
    let app = axum::Router::new().route(
        "/moved",
        axum::routing::post(move || {
            let location = location.clone();
            async move { (StatusCode::TEMPORARY_REDIRECT, [("location", location)]) }
        }),
    );
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("redirector runs");
    });
    let server = Server::start_with(|c| {
        allow_loopback_webhooks(c);
        c.webhook_attempts = 1;
    })
    .await;
    let hook = create(
        &server,
        "/api/v1/webhooks",
        json!({"url": redirector, "secret": SECRET}),
    )
    .await;
    let hook_id = hook["id"].as_str().expect("id").to_owned();
    create(
        &server,
        "/api/v1/alert-rules",
        json!({"name": "Faulted", "condition": {"kind": "connectorFaulted"}}),
    )
    .await;
    let mut cp = Station::connect(&server, "CP1", "ocpp1.6").await;
    cp.boot16().await;
    status16(&mut cp, 1, "Faulted", "NoError").await;
    let log = eventually(
        &server,
        &format!("/api/v1/webhooks/{hook_id}/deliveries"),
        |b| b["items"][0]["status"] == "failed",
    )
    .await;
    let attempt = &log["items"][0]["attempts"][0];
    assert_eq!(attempt["statusCode"], 307, "{log}");
    assert!(
        attempt["error"]
            .as_str()
            .is_some_and(|e| e.contains("redirects are not followed")),
        "{log}"
    );
    assert!(target.all().is_empty(), "the redirect was not followed");
    server.stop().await;
}
