//! The station side of the server over a real socket: negotiation, malformed input,
//! validation policy, state, journal, reconnects and restarts.

mod common;

use std::time::Duration;

use common::{Server, Station, connect_raw, wait_connected};
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn negotiation_picks_the_stations_preferred_supported_version() {
    let server = Server::start().await;
    for (offer, chosen) in [
        ("ocpp2.1, ocpp2.0.1, ocpp1.6", "ocpp2.1"),
        ("ocpp2.0.1, ocpp2.1", "ocpp2.0.1"),
        ("ocpp1.6, ocpp2.1", "ocpp1.6"),
        ("ocpp2.0, ocpp2.1", "ocpp2.1"),
    ] {
        let (_ws, protocol) = connect_raw(&server.ws_url("PREF"), Some(offer)).await;
        assert_eq!(protocol.as_deref(), Some(chosen), "{offer}");
    }
}

#[tokio::test]
async fn unsupported_subprotocol_completes_the_handshake_without_header_then_closes() {
    let server = Server::start().await;
    // A raw handshake: client libraries refuse an answer without the subprotocol they asked for.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for offer in ["Sec-WebSocket-Protocol: ocpp1.5, ocpp2.0\r\n", ""] {
        let mut tcp = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("tcp");
        let request = format!(
            "GET /ocpp/OLD HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{offer}\r\n",
            server.addr
        );
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut received = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), async {
            let mut buf = [0u8; 1024];
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        assert!(read.is_ok(), "server closed the connection");
        let text = String::from_utf8_lossy(&received).to_lowercase();
        assert!(
            text.starts_with("http/1.1 101"),
            "handshake completed: {text}"
        );
        assert!(
            !text.contains("sec-websocket-protocol"),
            "no subprotocol header (OCPP-J §3.2): {text}"
        );
        let head_end = received
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of headers")
            + 4;
        assert_eq!(
            received.get(head_end).map(|b| b & 0x0f),
            Some(0x8),
            "then a close frame"
        );
    }
}

#[tokio::test]
async fn identities_are_48_characters_of_the_ocpp_alphabet_after_percent_decoding() {
    let server = Server::start().await;
    let too_long = "x".repeat(49);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            server.ws_url(&too_long),
        )
        .expect("req");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "ocpp2.0.1".parse().expect("hv"));
    assert!(
        tokio_tungstenite::connect_async(request).await.is_err(),
        "49-character identity refused"
    );
    // Percent-decoded before the identity rules apply: `%2D` is `-`, in the alphabet.
    let mut st = Station::connect(&server, "RDAM%2D123", "ocpp1.6").await;
    st.boot16().await;
    let (code, body) = server.get("/api/v1/stations/RDAM-123").await;
    assert_eq!((code, body["id"].clone()), (200, json!("RDAM-123")));
    // A space (or ':', '/', ...) is outside the OCPP identity alphabet in either version.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            server.ws_url("RDAM%20123"),
        )
        .expect("req");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "ocpp1.6".parse().expect("hv"));
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 400),
        other => panic!("identity with a space must be refused with 400, got {other:?}"),
    }
    let (code, _) = server.get("/api/v1/stations/RDAM%20123").await;
    assert_eq!(code, 404, "a refused identity creates no station");
}

#[tokio::test]
async fn malformed_frames_get_the_right_callerror_and_the_connection_lives_on() {
    let server = Server::start().await;
    let mut st16 = Station::connect(&server, "MAL16", "ocpp1.6").await;
    st16.send_text("this is not json").await;
    let r = st16.recv().await;
    assert_eq!(
        (r[0].clone(), r[1].clone(), r[2].clone()),
        (json!(4), json!("-1"), json!("FormationViolation"))
    );
    st16.send_text(r#"[2, 42, "Heartbeat", {}]"#).await;
    let r = st16.recv().await;
    assert_eq!(
        (r[1].clone(), r[2].clone()),
        (json!("-1"), json!("FormationViolation"))
    );
    st16.send_text(r#"[2, "a1", "Heartbeat", null]"#).await;
    assert_eq!(st16.recv().await[1], "a1");
    st16.send_text(r#"[2, "a2", "Teleport", {}]"#).await;
    let r = st16.recv().await;
    assert_eq!(
        (r[1].clone(), r[2].clone()),
        (json!("a2"), json!("NotImplemented"))
    );
    st16.send_text(r#"[2, "a3", "BootNotification", {"chargePointVendor": "V"}]"#)
        .await;
    assert_eq!(
        st16.recv().await[2],
        "OccurenceConstraintViolation",
        "1.6 spelling"
    );
    st16.send_text(r#"[2, "a4", "Reset", {"type": "Hard"}]"#)
        .await;
    assert_eq!(st16.recv().await[2], "NotSupported");
    // Still alive:
    let r = st16.call("Heartbeat", json!({})).await;
    assert_eq!(r[0], 3);

    let mut st201 = Station::connect(&server, "MAL201", "ocpp2.0.1").await;
    st201.send_text(r#"{"x": 1}"#).await;
    let r = st201.recv().await;
    assert_eq!(
        (r[1].clone(), r[2].clone()),
        (json!("-1"), json!("RpcFrameworkError"))
    );
    st201
        .send_text(r#"[2, "b1", "BootNotification", {"reason": "PowerUp"}]"#)
        .await;
    assert_eq!(
        st201.recv().await[2],
        "OccurrenceConstraintViolation",
        "2.0.1 spelling"
    );
    st201
        .send_text(r#"[2, "b2", "Heartbeat", {"extra": true}]"#)
        .await;
    assert_eq!(st201.recv().await[2], "FormatViolation");
    st201
        .send_text(r#"[6, "b3", "NotifyPeriodicEventStream", {}]"#)
        .await;
    assert_eq!(st201.recv().await[2], "MessageTypeNotSupported");
    assert_eq!(st201.call("Heartbeat", json!({})).await[0], 3);
    let (_, journal) = server.get("/api/v1/stations/MAL201/messages").await;
    assert!(
        journal["items"]
            .as_array()
            .is_some_and(|j| j.iter().any(|e| e["type"] == "MALFORMED")),
        "malformed input is journaled"
    );
}

#[tokio::test]
async fn lenient_policy_accepts_quirks_and_records_them() {
    let server = Server::start_with(|c| c.validation = ocpulse_core::ValidationMode::Lenient).await;
    let mut st = Station::connect(&server, "QUIRK", "ocpp1.6").await;
    let long_serial = "S".repeat(40);
    let r = st.call("BootNotification", json!({"chargePointVendor": "V", "chargePointModel": "M", "chargePointSerialNumber": long_serial})).await;
    assert_eq!(r[2]["status"], "Accepted");
    let (_, station) = server.get("/api/v1/stations/QUIRK").await;
    assert_eq!(station["validation"]["violations"], 1);
    assert_eq!(station["boot"]["serialNumber"], json!(long_serial));
    let (_, journal) = server
        .get("/api/v1/stations/QUIRK/messages?action=BootNotification")
        .await;
    assert!(
        journal["items"][1]["violation"]
            .as_str()
            .is_some_and(|v| v.contains("chargePointSerialNumber")),
        "{journal}"
    );
}

#[tokio::test]
async fn per_station_policy_overrides_the_default() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "PER", "ocpp1.6").await;
    let quirky = json!({"chargePointVendor": "V", "chargePointModel": "M", "chargePointSerialNumber": "S".repeat(40)});
    assert_eq!(
        st.call("BootNotification", quirky.clone()).await[2],
        "PropertyConstraintViolation",
        "strict by default"
    );
    let r = reqwest::Client::new()
        .put(server.url("/api/v1/stations/PER/validation"))
        .header("content-type", "application/json")
        .body(r#"{"mode": "lenient"}"#)
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(st.call("BootNotification", quirky).await[0], 3);
    let r = reqwest::Client::new()
        .put(server.url("/api/v1/stations/PER/validation"))
        .header("content-type", "application/json")
        .body(r#"{"mode": "loose"}"#)
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn station_state_and_journal_reflect_what_the_station_sent() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "STATE", "ocpp1.6").await;
    st.boot16().await;
    st.status16(1, "Preparing").await;
    let start = st.call("StartTransaction", json!({"connectorId": 1, "idTag": "TAG1", "meterStart": 100, "timestamp": "2025-01-01T12:00:00Z"})).await;
    let tx = start[2]["transactionId"].as_i64().expect("transaction id");
    st.call("MeterValues", json!({"connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": "2025-01-01T12:01:00Z", "sampledValue": [{"value": "150", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]})).await;
    st.call(
        "FirmwareStatusNotification",
        json!({"status": "Downloading"}),
    )
    .await;
    let (code, s) = server.get("/api/v1/stations/STATE").await;
    assert_eq!(code, 200);
    assert_eq!(
        (s["connected"].clone(), s["protocol"].clone()),
        (json!(true), json!("ocpp1.6"))
    );
    assert_eq!(
        (s["boot"]["vendor"].clone(), s["boot"]["model"].clone()),
        (json!("Acme"), json!("Fast-1"))
    );
    assert_eq!(s["connectors"][0]["status"], "Preparing");
    assert_eq!(s["transactions"][0]["transactionId"], json!(tx.to_string()));
    assert_eq!(s["meterValues"][0]["sampledValue"][0]["value"], "150");
    assert_eq!(s["firmwareStatus"]["status"], "Downloading");
    assert!(s["lastSeen"].is_string());
    let (_, journal) = server.get("/api/v1/stations/STATE/messages?limit=2").await;
    let j = journal["items"].as_array().expect("array");
    assert_eq!(j.len(), 2);
    assert_eq!(
        (
            j[0]["direction"].clone(),
            j[0]["type"].clone(),
            j[0]["action"].clone()
        ),
        (
            json!("out"),
            json!("CALLRESULT"),
            json!("FirmwareStatusNotification")
        )
    );
    assert_eq!(
        (j[1]["direction"].clone(), j[1]["type"].clone()),
        (json!("in"), json!("CALL"))
    );
    assert_eq!(journal["next"], j[1]["seq"].to_string(), "{journal}");
    let (_, older) = server
        .get(&format!(
            "/api/v1/stations/STATE/messages?limit=2&before={}",
            j[1]["seq"]
        ))
        .await;
    assert_eq!(older["items"][0]["action"], "MeterValues");
    let (_, after) = server
        .get(&format!(
            "/api/v1/stations/STATE/messages?limit=2&after={}",
            j[1]["seq"]
        ))
        .await;
    assert_eq!(after["items"], older["items"], "after pages like before");
}

#[tokio::test]
async fn a_reconnect_with_the_same_id_replaces_the_old_session() {
    let server = Server::start().await;
    let mut old = Station::connect(&server, "TWICE", "ocpp1.6").await;
    old.boot16().await;
    let mut new = Station::connect(&server, "TWICE", "ocpp2.0.1").await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match old.ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "old session closed");
    new.boot201().await;
    wait_connected(&server, "TWICE", true).await;
    let (_, s) = server.get("/api/v1/stations/TWICE").await;
    assert_eq!(s["protocol"], "ocpp2.0.1");
    assert_eq!(
        server.get("/api/v1/stations").await.1["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn station_state_survives_a_restart() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "PERSIST", "ocpp1.6").await;
    st.boot16().await;
    st.status16(2, "Faulted").await;
    drop(st);
    // Folded back from the journal (and the snapshot written at shutdown) at start.
    let server = server.restart(|_| {}).await;
    let body: serde_json::Value = reqwest::get(server.url("/api/v1/stations/PERSIST"))
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(body["connected"], false);
    assert_eq!(body["connectors"][0]["status"], "Faulted");
    assert_eq!(body["boot"]["vendor"], "Acme");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_station_sockets_and_the_server_exits() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "BYE", "ocpp1.6").await;
    st.boot16().await;
    let _dir = server.stop().await; // asserts the server exits within 5 s
    let closed = tokio::time::timeout(Duration::from_secs(5), st.ws.next())
        .await
        .expect("socket closed promptly");
    assert!(
        matches!(closed, Some(Ok(Message::Close(_))) | None | Some(Err(_))),
        "{closed:?}"
    );
}

#[tokio::test]
async fn a_station_that_answers_no_ping_is_disconnected() {
    let server = Server::start_with(|c| c.ws_ping_interval = Duration::from_millis(100)).await;
    let mut st = Station::connect(&server, "GHOST", "ocpp1.6").await;
    st.boot16().await;
    // From now on the client never reads, so it never answers a ping: a vanished station.
    wait_connected(&server, "GHOST", true).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, body) = server.get("/api/v1/stations/GHOST").await;
    assert_eq!(
        body["connected"], false,
        "closed after three silent intervals: {body}"
    );
    drop(st);
}

#[tokio::test]
async fn a_quiet_station_that_answers_pings_stays_connected() {
    let server = Server::start_with(|c| c.ws_ping_interval = Duration::from_millis(100)).await;
    let mut st = Station::connect(&server, "QUIET", "ocpp1.6").await;
    st.boot16().await;
    // Reading answers pings automatically (tungstenite replies with a pong).
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(600);
    while let Ok(frame) = tokio::time::timeout_at(until, st.ws.next()).await {
        match frame {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("only pings were expected, got {other:?}"),
        }
    }
    assert!(
        pings >= 2,
        "a quiet station is pinged every interval: {pings}"
    );
    let (_, body) = server.get("/api/v1/stations/QUIET").await;
    assert_eq!(body["connected"], true, "{body}");
}
