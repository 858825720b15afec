//! The null server: a WebSocket server that parses as little as possible and answers every
//! frame with the cheapest valid reply, plus the same HTTP trigger endpoint as the others.
//! It shows the ceiling of the machine: no validation, no journal, no state.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

type Stations =
    Arc<Mutex<HashMap<String, mpsc::UnboundedSender<(String, oneshot::Sender<String>)>>>>;

/// Serves until the process ends.
pub async fn serve(listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let stations: Stations = Arc::default();
    let app = Router::new()
        .route("/ocpp/{id}", get(upgrade))
        .route("/api/v1/stations/{id}/trigger", post(trigger))
        .route("/api/v1/stations", get(count))
        .with_state(stations);
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // `into_make_service`: no per-connection rebuild of the route table (as in ocpulse).
    axum::serve(listener, app.into_make_service()).await?;
    Ok(())
}

async fn count(State(stations): State<Stations>) -> String {
    let n = stations.lock().len();
    format!("{{\"connected\":{n}}}")
}

async fn upgrade(
    State(stations): State<Stations>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let offer = headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let proto = if offer.contains("ocpp2.0.1") {
        "ocpp2.0.1"
    } else {
        "ocpp1.6"
    };
    ws.read_buffer_size(4096)
        .write_buffer_size(0)
        .protocols([proto])
        .on_upgrade(move |socket| session(stations, id, socket))
}

/// The type and id of a frame, read without building a JSON tree.
fn head(text: &str) -> Option<(u8, String)> {
    let items: Vec<&RawValue> = serde_json::from_str(text).ok()?;
    let kind = items.first()?.get().parse().ok()?;
    let id: String = serde_json::from_str(items.get(1)?.get()).ok()?;
    Some((kind, id))
}

async fn session(stations: Stations, id: String, socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, oneshot::Sender<String>)>();
    stations.lock().insert(id.clone(), tx);
    let (mut sink, mut stream) = socket.split();
    // A trigger in progress: waiting for its CALLRESULT, then for the station's next CALL.
    let mut waiting: Option<(bool, oneshot::Sender<String>)> = None;
    loop {
        tokio::select! {
            frame = stream.next() => {
                let Some(Ok(Message::Text(text))) = frame else { break };
                let Some((kind, msg_id)) = head(text.as_str()) else { continue };
                if kind == 2 {
                    let reply = if text.as_str().contains("\"BootNotification\"") {
                        format!(r#"[3,"{msg_id}",{{"status":"Accepted","currentTime":"2025-01-01T00:00:00Z","interval":300}}]"#)
                    } else if text.as_str().contains("\"Heartbeat\"") {
                        format!(r#"[3,"{msg_id}",{{"currentTime":"2025-01-01T00:00:00Z"}}]"#)
                    } else {
                        format!(r#"[3,"{msg_id}",{{}}]"#)
                    };
                    if sink.send(Message::Text(reply.into())).await.is_err() {
                        break;
                    }
                    if let Some((true, done)) = waiting.take() {
                        let _ = done.send(text.to_string());
                    }
                } else if kind == 3
                    && let Some((false, done)) = waiting.take() {
                        waiting = Some((true, done));
                    }
            }
            Some((call, done)) = rx.recv(), if waiting.is_none() => {
                if sink.send(Message::Text(call.into())).await.is_err() {
                    break;
                }
                waiting = Some((false, done));
            }
        }
    }
    stations.lock().remove(&id);
}

async fn trigger(
    State(stations): State<Stations>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(tx) = stations.lock().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "{\"error\":\"station_not_found\"}").into_response();
    };
    // The body is passed through as the TriggerMessage payload, minus nothing: the driver
    // sends the station's own form. No validation, by design.
    let payload = String::from_utf8_lossy(&body);
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let call = format!(r#"[2,"n{n}","TriggerMessage",{payload}]"#);
    let (done, result) = oneshot::channel();
    if tx.send((call, done)).is_err() {
        return (StatusCode::CONFLICT, "{\"error\":\"station_disconnected\"}").into_response();
    }
    match tokio::time::timeout(std::time::Duration::from_secs(10), result).await {
        Ok(Ok(message)) => (
            [("content-type", "application/json")],
            format!(r#"{{"status":"Accepted","messages":[{message}]}}"#),
        )
            .into_response(),
        _ => (StatusCode::GATEWAY_TIMEOUT, "{\"error\":\"timeout\"}").into_response(),
    }
}
