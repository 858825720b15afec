//! Test support: a real server on an ephemeral port with a real SQLite file, and a
//! minimal real WebSocket station client.
#![allow(dead_code, missing_docs)]

pub mod sim;
pub mod spawned;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ocpulse::config::ServerConfig;
use ocpulse_store::contract::PgSchema;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// With `OCPULSE_TEST_SERVER_STORE=postgres` (and `OCPULSE_TEST_POSTGRES_URL`), every test
/// server runs on PostgreSQL, each data directory with a schema of its own kept across its
/// restarts: how `.ci/run` runs the server's integration tests on the second backend.
/// Unset, servers run on SQLite in their data directory.
async fn database_url(dir: &std::path::Path) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock};
    type Schemas = parking_lot::Mutex<HashMap<std::path::PathBuf, Arc<PgSchema>>>;
    // Kept for the process's life (a restarted server finds its schema); `.ci/run` drops
    // the test schemas afterwards.
    static SCHEMAS: LazyLock<Schemas> = LazyLock::new(Schemas::default);
    if std::env::var("OCPULSE_TEST_SERVER_STORE").as_deref() != Ok("postgres") {
        return None;
    }
    if let Some(schema) = SCHEMAS.lock().get(dir) {
        return Some(schema.url.clone());
    }
    let schema = PgSchema::create()
        .await
        .expect("OCPULSE_TEST_SERVER_STORE=postgres needs OCPULSE_TEST_POSTGRES_URL");
    let url = schema.url.clone();
    SCHEMAS.lock().insert(dir.to_path_buf(), Arc::new(schema));
    Some(url)
}

pub struct Server {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        // The test's own HTTP clients need rustls's provider before the server sets it.
        ocpulse::install_tls_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = ServerConfig {
            listen: addr,
            data_dir: dir.path().to_path_buf(),
            database_url: database_url(dir.path()).await,
            ..ServerConfig::default()
        };
        tweak(&mut config);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            ocpulse::server::serve(config, listener, async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            addr,
            dir,
            shutdown: Some(tx),
            handle,
        }
    }

    /// Stops the server and starts a new one on the same address and data directory, as
    /// a process restart would (stations configured with the old URL reconnect to it).
    pub async fn restart(self, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let addr = self.addr;
        let dir = self.stop().await;
        Self::start_in(dir, addr, tweak).await
    }

    /// Starts a server on an existing data directory (left by `stop`, perhaps changed
    /// meanwhile), on `addr` once it is free again.
    pub async fn start_in(
        dir: tempfile::TempDir,
        addr: SocketAddr,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let mut config = ServerConfig {
            listen: addr,
            data_dir: dir.path().to_path_buf(),
            database_url: database_url(dir.path()).await,
            ..ServerConfig::default()
        };
        tweak(&mut config);
        let mut bound = None;
        for _ in 0..100 {
            match ocpulse::server::bind(addr) {
                Ok(l) => {
                    bound = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let listener = bound.expect("rebind the same address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            ocpulse::server::serve(config, listener, async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            addr,
            dir,
            shutdown: Some(tx),
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self, id: &str) -> String {
        format!("ws://{}/ocpp/{id}", self.addr)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = reqwest::get(self.url(path)).await.expect("GET");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("POST");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn trigger(&self, station: &str, body: Value) -> (u16, Value) {
        self.post(
            &format!("/api/v1/stations/{station}/trigger"),
            &body.to_string(),
        )
        .await
    }

    /// Stops the server, handing back its data directory (still on disk).
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(5), &mut self.handle)
            .await
            .expect("server exits within 5 s of shutdown")
            .expect("server task");
        self.dir
    }
}

/// Lets webhooks reach 127.0.0.0/8, where the tests' receivers listen: loopback is
/// refused by default (`--webhook-allow`), as any internal address is.
pub fn allow_loopback_webhooks(config: &mut ServerConfig) {
    config.webhook_allow =
        vec![ocpulse::alerts::address_policy::parse_cidr("127.0.0.0/8").expect("CIDR")];
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A station as a test drives it: every frame is explicit.
pub struct Station {
    pub ws: Ws,
    pub protocol: Option<String>,
    next_id: u64,
    /// CALLs from the server that arrived while waiting for something else.
    pub pending_calls: Vec<(String, String, Value)>,
}

pub async fn connect_raw(url: &str, offer: Option<&str>) -> (Ws, Option<String>) {
    let mut request = url.into_client_request().expect("request");
    if let Some(offer) = offer {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(offer).expect("header"),
        );
    }
    let (ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    let protocol = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (ws, protocol)
}

impl Station {
    pub async fn connect(server: &Server, id: &str, protocol: &str) -> Self {
        let (ws, negotiated) = connect_raw(&server.ws_url(id), Some(protocol)).await;
        assert_eq!(
            negotiated.as_deref(),
            Some(protocol),
            "subprotocol negotiated"
        );
        Self {
            ws,
            protocol: negotiated,
            next_id: 0,
            pending_calls: Vec::new(),
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// Next text frame as JSON (panics after 10 s).
    pub async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("frame within 10 s")
                .expect("open")
                .expect("ok");
            match msg {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("json frame"),
                Message::Close(_) => panic!("connection closed"),
                _ => continue,
            }
        }
    }

    /// Sends a CALL and returns the answer frame (CALLRESULT or CALLERROR).
    pub async fn call(&mut self, action: &str, payload: Value) -> Value {
        self.next_id += 1;
        let id = format!("st-{}", self.next_id);
        self.send_text(&json!([2, id, action, payload]).to_string())
            .await;
        loop {
            let frame = self.recv().await;
            if frame[0] == 2 {
                self.pending_calls.push((
                    frame[1].as_str().unwrap_or_default().into(),
                    frame[2].as_str().unwrap_or_default().into(),
                    frame[3].clone(),
                ));
                continue;
            }
            assert_eq!(frame[1], json!(id), "answer to our CALL: {frame}");
            return frame;
        }
    }

    /// Waits for the next CALL from the server: (id, action, payload).
    pub async fn next_call(&mut self) -> (String, String, Value) {
        if !self.pending_calls.is_empty() {
            return self.pending_calls.remove(0);
        }
        loop {
            let frame = self.recv().await;
            if frame[0] == 2 {
                return (
                    frame[1].as_str().unwrap_or_default().into(),
                    frame[2].as_str().unwrap_or_default().into(),
                    frame[3].clone(),
                );
            }
        }
    }

    pub async fn reply(&mut self, id: &str, payload: Value) {
        self.send_text(&json!([3, id, payload]).to_string()).await;
    }

    pub async fn boot16(&mut self) {
        let r = self.call("BootNotification", json!({"chargePointVendor": "Acme", "chargePointModel": "Fast-1", "chargePointSerialNumber": "SN-1"})).await;
        assert_eq!(r[2]["status"], "Accepted");
    }

    pub async fn boot201(&mut self) {
        let r = self.call("BootNotification", json!({"reason": "PowerUp", "chargingStation": {"vendorName": "Acme", "model": "Fast-2"}})).await;
        assert_eq!(r[2]["status"], "Accepted");
    }

    pub async fn status16(&mut self, connector: i64, status: &str) -> Value {
        self.call("StatusNotification", json!({"connectorId": connector, "errorCode": "NoError", "status": status, "timestamp": "2025-01-01T12:00:00Z"})).await
    }

    pub async fn status201(&mut self, evse: i64, connector: i64, status: &str) -> Value {
        self.call("StatusNotification", json!({"evseId": evse, "connectorId": connector, "connectorStatus": status, "timestamp": "2025-01-01T12:00:00Z"})).await
    }
}

/// Waits until the server lists the station as connected (the session registers asynchronously).
pub async fn wait_connected(server: &Server, id: &str, connected: bool) {
    for _ in 0..200 {
        let (code, body) = server.get(&format!("/api/v1/stations/{id}")).await;
        if code == 200 && body["connected"] == json!(connected) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("station {id} never became connected={connected}");
}

/// POSTs a trigger in the background, so the test can play the station meanwhile.
pub fn spawn_trigger(
    server: &Server,
    station: &str,
    body: Value,
) -> tokio::task::JoinHandle<(u16, Value)> {
    spawn_post(server, &format!("/api/v1/stations/{station}/trigger"), body)
}

/// POSTs `body` to `path` in the background (a trigger, a call, a station operation), so
/// the test can play the station meanwhile.
pub fn spawn_post(
    server: &Server,
    path: &str,
    body: Value,
) -> tokio::task::JoinHandle<(u16, Value)> {
    let url = server.url(path);
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
