//! The station endpoint `ws://ADDR/ocpp/{stationId}`: subprotocol negotiation, identity
//! rules, and the hand-over to a session task.

mod session;

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ocpp_rpc::{identity, version};

use crate::app::App;

/// The WebSocket read buffer: small, because tungstenite zero-fills the whole buffer
/// before every read, so all of it stays resident for every connected station (4 KiB of
/// an idle station's ≈10.6 KB at 10k stations, measured; 1 KiB brings it to ≈7.7 KB).
/// Larger messages are still read whole (the buffer grows to the frame's length), in a few
/// more reads; tungstenite's default is 128 KiB.
const READ_BUFFER: usize = 1024;
/// The largest OCPP message accepted; OCPP-J sets no limit, 1 MiB is far above any real one.
const MAX_MESSAGE: usize = 1024 * 1024;

/// Upgrades a station connection.
pub async fn upgrade(
    State(app): State<Arc<App>>,
    Path(station_id): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let offer: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let offer = offer.join(",");
    let ws = ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE);
    let Some(protocol) = version::negotiate(&offer) else {
        // OCPP-J 1.6 §3.2: complete the handshake without Sec-WebSocket-Protocol, then close.
        tracing::warn!(station = %station_id, offer = %offer, "no supported OCPP subprotocol offered; closing");
        return ws.on_upgrade(|mut socket| async move {
            let reason = "no supported subprotocol: offer ocpp1.6 or ocpp2.0.1";
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: 1002,
                    reason: reason.into(),
                })))
                .await;
        });
    };
    if let Err(e) = identity::validate(&station_id, protocol) {
        return (
            StatusCode::BAD_REQUEST,
            format!("invalid station identity: {e}"),
        )
            .into_response();
    }
    ws.protocols([protocol.subprotocol()])
        .on_upgrade(move |socket| session::run(app, station_id, protocol, socket))
}
