//! The station endpoint `ws://ADDR/ocpp/{stationId}`: subprotocol negotiation, identity
//! rules, and the hand-over to a session task.

mod session;

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ocpp_rpc::{identity, version};
use ocpulse_core::admission;
use tracing::Instrument as _;

use crate::app::App;
use crate::auth::{self, Peer};

/// The WebSocket read buffer: small, because tungstenite zero-fills the whole buffer
/// before every read, so all of it stays resident for every connected station (4 KiB of
/// an idle station's ≈10.6 KB at 10k stations, measured; 1 KiB brings it to ≈7.7 KB).
/// Larger messages are still read whole (the buffer grows to the frame's length), in a few
/// more reads; tungstenite's default is 128 KiB.
const READ_BUFFER: usize = 1024;
/// The largest WebSocket message read at all, as a multiple of `--max-frame-bytes`: a
/// message up to it is refused with a CALLERROR and journaled as its size and hash; a
/// larger one closes the connection (1009) without being buffered further.
const HARD_LIMIT_FACTOR: usize = 4;

/// Upgrades a station connection, once the station is known and has authenticated as its
/// registration requires. Refusals are HTTP answers before the upgrade: 400 for an identity
/// outside the OCPP alphabet, 404 for an unknown station, 401 (with `WWW-Authenticate:
/// Basic`) for missing or wrong credentials or a downgrade, 403 for a disabled station, 429
/// when the address failed too often.
pub async fn upgrade(
    State(app): State<Arc<App>>,
    Path(station_id): Path<String>,
    headers: HeaderMap,
    peer: Option<Extension<Peer>>,
    ws: WebSocketUpgrade,
) -> Response {
    if app.shutdown.is_cancelled() {
        // A session opened now would be closed at once: the station retries elsewhere or
        // after the restart.
        return (StatusCode::SERVICE_UNAVAILABLE, "the CSMS is shutting down").into_response();
    }
    if app.cluster.drain.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "this CSMS node is draining: connect again (the load balancer sends you to another node)",
        )
            .into_response();
    }
    if let Err(e) = admission::check_identity(&station_id) {
        return (
            StatusCode::BAD_REQUEST,
            format!("invalid station identity: {e}"),
        )
            .into_response();
    }
    let peer = peer.map_or_else(
        || Peer {
            remote: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: false,
            certificate_cn: None,
        },
        |Extension(p)| p,
    );
    let basic = auth::basic_credentials(&headers);
    let profile = admission::Presented {
        identity: &station_id,
        tls: peer.tls,
        basic: basic.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
        certificate_cn: peer.certificate_cn.as_deref(),
    }
    .profile();
    let now = crate::now_ms();
    if let Err(refusal) = app
        .gate
        .admit(&*app.store, &station_id, &peer, basic, now)
        .await
    {
        tracing::warn!(station = %station_id, remote = %peer.remote, code = refusal.code(), "station connection refused: {refusal}");
        if refusal.counts_as_failure() {
            app.store.record(vec![auth::refusal_entry(
                &station_id,
                &refusal,
                &peer,
                profile,
                now,
            )]);
        }
        let status =
            StatusCode::from_u16(refusal.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
        let mut response = (status, refusal.to_string()).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"ocpulse\", charset=\"UTF-8\""),
            );
        }
        return response;
    }
    let offer: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let offer = offer.join(",");
    let hard_limit = app
        .config
        .limits
        .max_frame_bytes
        .saturating_mul(HARD_LIMIT_FACTOR);
    let ws = ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(hard_limit)
        .max_frame_size(hard_limit);
    let Some(protocol) = version::negotiate(&offer) else {
        // OCPP-J 1.6 §3.2: complete the handshake without Sec-WebSocket-Protocol, then close.
        tracing::warn!(station = %station_id, offer = %offer, "no supported OCPP subprotocol offered; closing");
        return ws.on_upgrade(|mut socket| async move {
            let reason = "no supported subprotocol: offer ocpp2.1, ocpp2.0.1 or ocpp1.6";
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
    // Counted from the answer on, not from when the upgraded socket reaches the session:
    // a stop in between still waits for this session to journal its disconnect.
    let tracked = app.sessions.token();
    ws.protocols([protocol.subprotocol()])
        .on_upgrade(move |socket| {
            // Every line the session logs, and anything it calls, names its station.
            let span = tracing::info_span!("session", station = %station_id);
            async move {
                session::run(app, station_id, protocol, socket).await;
                drop(tracked);
            }
            .instrument(span)
        })
}
