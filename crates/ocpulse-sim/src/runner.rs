//! Drives one [`Station`] over a real WebSocket: connect with the right subprotocol (and
//! Basic auth), feed it frames and timer ticks, reconnect with backoff and jitter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;

use crate::clock::Now;
use crate::station::{Counters, Output, Registration, Station};

/// How stations connect.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The CSMS endpoint without the identity, e.g. `ws://127.0.0.1:8180/ocpp`.
    pub url: String,
    /// Basic auth: `PASSWORD` (user = the station id) or `USER:PASSWORD`.
    pub basic_auth: Option<String>,
    /// TLS for `wss://` URLs: the trusted CA and, for profile 3, the client certificate.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// First reconnect wait.
    pub reconnect_min: Duration,
    /// Longest reconnect wait (the wait doubles up to this, plus jitter).
    pub reconnect_max: Duration,
    /// Drop the connection this often (fault injection; `None` = never).
    pub disconnect_every: Option<Duration>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            url: "ws://127.0.0.1:8180/ocpp".into(),
            basic_auth: None,
            tls: None,
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            disconnect_every: None,
        }
    }
}

/// Why a station could not connect at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Nothing answered at the URL (or it is not a WebSocket endpoint).
    #[error("cannot connect to {url}: {reason}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The server did not accept the station's OCPP version.
    #[error(
        "{url} refused subprotocol {offered}: the server answered without Sec-WebSocket-Protocol (it does not speak this OCPP version)"
    )]
    SubprotocolRefused {
        /// The URL tried.
        url: String,
        /// What was offered.
        offered: &'static str,
    },
}

/// Counters shared by every station of a run.
#[derive(Debug, Default)]
pub struct FleetStats {
    /// Stations with an open WebSocket.
    pub connected: AtomicU64,
    /// Stations whose BootNotification was accepted.
    pub booted: AtomicU64,
    /// Connections that failed or dropped.
    pub disconnects: AtomicU64,
    /// CALLs sent by stations.
    pub calls_sent: AtomicU64,
    /// CALLRESULTs received for them.
    pub results: AtomicU64,
    /// CALLERRORs and timeouts.
    pub errors: AtomicU64,
    /// CSMS CALLs received.
    pub csms_calls: AtomicU64,
    /// Triggers answered Accepted.
    pub triggers_accepted: AtomicU64,
}

impl FleetStats {
    fn add(&self, now: Counters, before: Counters) {
        self.calls_sent
            .fetch_add(now.calls_sent - before.calls_sent, Ordering::Relaxed);
        self.results
            .fetch_add(now.results - before.results, Ordering::Relaxed);
        self.errors
            .fetch_add(now.errors - before.errors, Ordering::Relaxed);
        self.csms_calls
            .fetch_add(now.csms_calls - before.csms_calls, Ordering::Relaxed);
        self.triggers_accepted.fetch_add(
            now.triggers_accepted - before.triggers_accepted,
            Ordering::Relaxed,
        );
    }
}

type Ws = tokio_tungstenite::WebSocketStream<
    tokio_util::either::Either<
        tokio::net::TcpStream,
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    >,
>;

/// Opens TCP (and TLS for `wss://`) to the request's host, Nagle off.
async fn transport(
    request: &tokio_tungstenite::tungstenite::handshake::client::Request,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<
    tokio_util::either::Either<
        tokio::net::TcpStream,
        tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    >,
    String,
> {
    let uri = request.uri();
    let secure = uri.scheme_str() == Some("wss");
    let host = uri.host().ok_or("the URL has no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    if !secure {
        return Ok(tokio_util::either::Either::Left(tcp));
    }
    let config = tls.ok_or("a wss:// URL needs the CA to trust (--ca-cert)")?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host} is not a TLS server name: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    Ok(tokio_util::either::Either::Right(stream))
}

/// Small buffers: a fleet of thousands must fit in little memory.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// Path-segment encoding: RFC 3986 §2.3 unreserved characters stay as they are.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Opens the station's WebSocket.
pub async fn connect(station: &Station, opts: &RunOptions) -> Result<Ws, RunError> {
    let id = &station.config().id;
    let encoded = percent_encoding::utf8_percent_encode(id, PATH_SEGMENT).to_string();
    let url = format!("{}/{encoded}", opts.url.trim_end_matches('/'));
    let offered = station.config().protocol.subprotocol();
    let unreachable = |reason: String| RunError::Unreachable {
        url: url.clone(),
        reason,
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| unreachable(e.to_string()))?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(offered));
    if let Some(auth) = &opts.basic_auth {
        let credentials = if auth.contains(':') {
            auth.clone()
        } else {
            format!("{id}:{auth}")
        };
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        request.headers_mut().insert(
            "Authorization",
            HeaderValue::from_str(&value).map_err(|e| unreachable(e.to_string()))?,
        );
    }
    let stream = transport(&request, opts.tls.as_ref())
        .await
        .map_err(unreachable)?;
    match tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config())).await {
        Ok((ws, response)) => {
            if response.headers().get("sec-websocket-protocol").is_none() {
                return Err(RunError::SubprotocolRefused { url, offered });
            }
            Ok(ws)
        }
        Err(WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(_))) => {
            Err(RunError::SubprotocolRefused { url, offered })
        }
        // Some servers (Python `websockets`, for one) refuse an unsupported subprotocol with
        // HTTP 400 instead of completing the handshake without it.
        Err(WsError::Http(response)) => {
            let raw = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            // One line: operators grep for "error:".
            let body: String = raw
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(200)
                .collect();
            Err(unreachable(format!(
                "the server refused the WebSocket handshake with HTTP {}{}; check the URL, and whether it accepts subprotocol {offered}",
                response.status(),
                if body.is_empty() {
                    String::new()
                } else {
                    format!(" ({body})")
                }
            )))
        }
        Err(e) => Err(unreachable(e.to_string())),
    }
}

/// Where uploads the station asks for are made: each in a task of its own (the station
/// keeps running meanwhile), its outcome sent back to the station's loop.
struct Uploads {
    client: Option<reqwest::Client>,
    done: tokio::sync::mpsc::UnboundedSender<bool>,
}

impl Uploads {
    fn start(&mut self, upload: crate::station::Upload, tls: Option<&Arc<rustls::ClientConfig>>) {
        if self.client.is_none() {
            match crate::upload::client(tls) {
                Ok(c) => self.client = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot build the upload client");
                    let _ = self.done.send(false);
                    return;
                }
            }
        }
        let (Some(client), done) = (self.client.clone(), self.done.clone()) else {
            return;
        };
        tokio::spawn(async move {
            let _ = done.send(crate::upload::perform(&client, upload).await);
        });
    }
}

async fn send_all(
    ws: &mut Ws,
    outputs: Vec<Output>,
    uploads: &mut Uploads,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> bool {
    for output in outputs {
        match output {
            Output::Send(text) => {
                if ws.feed(Message::Text(text.into())).await.is_err() {
                    return false;
                }
            }
            Output::Upload(upload) => uploads.start(upload, tls),
        }
    }
    ws.flush().await.is_ok()
}

async fn sleep_until(at: Option<std::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Runs a station until `stop` is cancelled. The first connection attempt's failure is
/// returned when `fail_fast` (so a CLI can exit with a clear message); later failures are
/// retried with exponential backoff and jitter.
pub async fn run_station(
    mut station: Station,
    opts: Arc<RunOptions>,
    stats: Arc<FleetStats>,
    stop: CancellationToken,
    fail_fast: bool,
) -> Result<Station, RunError> {
    let mut backoff = opts.reconnect_min;
    let mut first = true;
    let (done, mut uploaded) = tokio::sync::mpsc::unbounded_channel();
    let mut uploads = Uploads { client: None, done };
    let tls = opts.tls.clone();
    loop {
        if stop.is_cancelled() {
            return Ok(station);
        }
        let ws = tokio::select! {
            () = stop.cancelled() => return Ok(station),
            ws = connect(&station, &opts) => ws,
        };
        let mut ws = match ws {
            Ok(ws) => ws,
            Err(e) if first && fail_fast => return Err(e),
            Err(e) => {
                tracing::debug!(station = %station.config().id, error = %e, "connect failed; backing off");
                stats.disconnects.fetch_add(1, Ordering::Relaxed);
                let wait = backoff + jitter(&station, backoff);
                backoff = (backoff * 2).min(opts.reconnect_max);
                tokio::select! {
                    () = stop.cancelled() => return Ok(station),
                    () = tokio::time::sleep(wait) => continue,
                }
            }
        };
        first = false;
        backoff = opts.reconnect_min;
        stats.connected.fetch_add(1, Ordering::Relaxed);
        let mut booted = station.registration() == Registration::Accepted;
        let drop_at = opts
            .disconnect_every
            .map(|d| tokio::time::Instant::now() + d);
        let mut before = station.counters;
        let mut alive = send_all(
            &mut ws,
            station.on_connected(Now::system()),
            &mut uploads,
            tls.as_ref(),
        )
        .await;
        while alive {
            let outputs = tokio::select! {
                () = stop.cancelled() => {
                    let _ = ws.close(Some(CloseFrame { code: CloseCode::Normal, reason: "simulator stopping".into() })).await;
                    stats.connected.fetch_sub(1, Ordering::Relaxed);
                    stats.add(station.counters, before);
                    return Ok(station);
                }
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => station.on_text(text.as_str(), Now::system()),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                },
                () = sleep_until(station.next_wakeup()) => station.on_tick(Now::system()),
                Some(ok) = uploaded.recv() => station.on_upload_done(ok, Now::system()),
                () = async { match drop_at { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => break,
            };
            alive = send_all(&mut ws, outputs, &mut uploads, tls.as_ref()).await;
            let now_booted = station.registration() == Registration::Accepted;
            if now_booted && !booted {
                stats.booted.fetch_add(1, Ordering::Relaxed);
            }
            booted = now_booted;
            stats.add(station.counters, before);
            before = station.counters;
        }
        let _ = ws.close(None).await;
        stats.connected.fetch_sub(1, Ordering::Relaxed);
        stats.disconnects.fetch_add(1, Ordering::Relaxed);
        station.on_disconnected(Now::system());
        let wait = backoff + jitter(&station, backoff);
        backoff = (backoff * 2).min(opts.reconnect_max);
        tokio::select! {
            () = stop.cancelled() => return Ok(station),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Up to `base` of extra wait, different per station, so a fleet does not reconnect in lockstep.
fn jitter(station: &Station, base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let h = station.config().id.bytes().fold(u64::from(nanos), |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    });
    let ms = u64::try_from(base.as_millis()).unwrap_or(0).max(1);
    Duration::from_millis(h % ms)
}
