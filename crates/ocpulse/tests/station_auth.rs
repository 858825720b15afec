//! Station authentication at the handshake (OCPP security profiles 1–3, A00.FR.*): the
//! registry, Basic auth, no downgrade, TLS with client certificates issued through the
//! SignCertificate flow, password rotation, and the listener's bounds. Real sockets, a real
//! SQLite file, real TLS.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::{Server, Station, Ws};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

fn closed_server() -> impl FnOnce(&mut ocpulse::config::ServerConfig) {
    |c| c.security.auto_register = false
}

async fn register(server: &Server, body: Value) -> Value {
    let (code, reg) = server.post("/api/v1/stations", &body.to_string()).await;
    assert_eq!(code, 201, "{reg}");
    reg
}

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// Opens a WebSocket on any stream: the HTTP status of a refusal, or the socket.
async fn handshake<S>(
    stream: S,
    url: &str,
    protocol: &str,
    authorization: Option<&str>,
) -> Result<tokio_tungstenite::WebSocketStream<S>, u16>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut request = url.into_client_request().expect("request");
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(protocol).expect("hv"),
    );
    if let Some(a) = authorization {
        headers.insert("Authorization", HeaderValue::from_str(a).expect("hv"));
    }
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("handshake failed without an HTTP status: {e}"),
    }
}

async fn plain(server: &Server, id: &str, authorization: Option<&str>) -> Result<Ws, u16> {
    let tcp = TcpStream::connect(server.addr).await.expect("tcp");
    handshake(
        tokio_tungstenite::MaybeTlsStream::Plain(tcp),
        &server.ws_url(id),
        "ocpp1.6",
        authorization,
    )
    .await
}

async fn journal_events(server: &Server, station: &str, action: &str) -> Vec<Value> {
    // Refusals are journaled without waiting: give the writer a moment.
    let mut last = Vec::new();
    for _ in 0..50 {
        let (_, body) = server
            .get(&format!(
                "/api/v1/stations/{station}/messages?action={action}&limit=100"
            ))
            .await;
        last = body["items"].as_array().cloned().unwrap_or_default();
        if !last.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

#[tokio::test]
async fn an_unregistered_station_is_refused_at_the_handshake_and_nothing_is_created() {
    let server = Server::start_with(closed_server()).await;
    assert_eq!(plain(&server, "STRANGER1", None).await.err(), Some(404));
    let (code, _) = server.get("/api/v1/stations/STRANGER1").await;
    assert_eq!(code, 404, "no station record for a refused identity");
    let (_, list) = server.get("/api/v1/stations").await;
    assert_eq!(list, json!({"items": [], "next": null}));
}

#[tokio::test]
async fn profile_1_basic_auth_checks_username_and_password_a00_fr_202() {
    let server = Server::start_with(closed_server()).await;
    let reg = register(&server, json!({"id": "CP1", "securityProfile": 1})).await;
    let password = reg["password"]
        .as_str()
        .expect("password shown once")
        .to_owned();
    assert_eq!(password.len(), 40);
    assert_eq!(reg["registration"]["hasPassword"], true);

    assert_eq!(
        plain(&server, "CP1", None).await.err(),
        Some(401),
        "missing"
    );
    let wrong = basic("CP1", "0000000000000000000000000000000000000000");
    assert_eq!(
        plain(&server, "CP1", Some(&wrong)).await.err(),
        Some(401),
        "wrong"
    );
    let other_user = basic("CP2", &password);
    assert_eq!(
        plain(&server, "CP1", Some(&other_user)).await.err(),
        Some(401),
        "username must be the identity"
    );
    let mut ws = plain(&server, "CP1", Some(&basic("CP1", &password)))
        .await
        .expect("right credentials connect");
    ws.send(Message::Text(
        json!([2, "b1", "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "M"}])
            .to_string()
            .into(),
    ))
    .await
    .expect("send");
    let answer = ws.next().await.expect("frame").expect("ok");
    assert!(answer.to_text().expect("text").contains("Accepted"));

    let (_, station) = server.get("/api/v1/stations/CP1").await;
    assert_eq!(
        station["registration"]["refusedConnections"], 3,
        "{station}"
    );
    assert!(station["registration"].get("password").is_none());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = journal_events(&server, "CP1", "ConnectionRefused").await;
    assert_eq!(refused.len(), 3, "each refusal journaled: {refused:?}");
    let needle = password.as_bytes();
    for file in ["ocpulse.sqlite3", "ocpulse.sqlite3-wal"] {
        let stored = std::fs::read(server.dir.path().join(file)).unwrap_or_default();
        assert!(
            !stored.windows(needle.len()).any(|w| w == needle),
            "the password is never stored in the clear ({file})"
        );
    }
}

#[tokio::test]
async fn a_station_registered_for_tls_cannot_connect_in_the_clear_a00_fr_002() {
    let server = Server::start_with(closed_server()).await;
    let reg = register(&server, json!({"id": "CP2", "securityProfile": 2})).await;
    let password = reg["password"].as_str().expect("password").to_owned();
    assert_eq!(
        plain(&server, "CP2", Some(&basic("CP2", &password)))
            .await
            .err(),
        Some(401),
        "profile 1 on a profile-2 registration is a downgrade"
    );
    let refused = journal_events(&server, "CP2", "ConnectionRefused").await;
    assert_eq!(refused[0]["payload"]["code"], "downgrade", "{refused:?}");
}

#[tokio::test]
async fn disabled_and_deleted_registrations_refuse_and_close_the_live_connection() {
    let server = Server::start_with(closed_server()).await;
    let reg = register(&server, json!({"id": "CP3", "securityProfile": 1})).await;
    let auth = basic("CP3", reg["password"].as_str().expect("pw"));
    let mut ws = plain(&server, "CP3", Some(&auth)).await.expect("connects");
    common::wait_connected(&server, "CP3", true).await;
    let r = reqwest::Client::new()
        .put(server.url("/api/v1/stations/CP3"))
        .header("content-type", "application/json")
        .body(r#"{"enabled": false}"#)
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status(), 200);
    // The live connection is closed by the server.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "disabling closes the connection");
    assert_eq!(plain(&server, "CP3", Some(&auth)).await.err(), Some(403));
    let r = reqwest::Client::new()
        .delete(server.url("/api/v1/stations/CP3"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 204);
    assert_eq!(plain(&server, "CP3", Some(&auth)).await.err(), Some(404));
}

#[tokio::test]
async fn registry_requests_are_checked() {
    let server = Server::start_with(closed_server()).await;
    for (body, code) in [
        (json!({"id": "bad id"}), "invalid_station_id"),
        (json!({"id": "x".repeat(49)}), "invalid_station_id"),
        (
            json!({"id": "CP9", "securityProfile": 4}),
            "invalid_security_profile",
        ),
        (
            json!({"id": "CP9", "password": "short"}),
            "invalid_password",
        ),
        (json!({"id": "CP9", "pasword": "typo"}), "invalid_body"),
    ] {
        let (status, err) = server.post("/api/v1/stations", &body.to_string()).await;
        assert_eq!((status, err["error"].clone()), (400, json!(code)), "{body}");
    }
    register(&server, json!({"id": "CP9"})).await;
    let (status, err) = server.post("/api/v1/stations", r#"{"id": "CP9"}"#).await;
    assert_eq!(
        (status, err["error"].clone()),
        (409, json!("already_registered"))
    );
}

/// Plays a 1.6 station that answers the CSMS's ChangeConfiguration with `status`.
async fn answer_change_configuration(ws: &mut Ws, status: &str) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a CALL within 10 s")
            .expect("open")
            .expect("ok");
        let Message::Text(text) = msg else { continue };
        let frame: Value = serde_json::from_str(text.as_str()).expect("json");
        if frame[0] == 2 && frame[2] == "ChangeConfiguration" {
            ws.send(Message::Text(
                json!([3, frame[1], {"status": status}]).to_string().into(),
            ))
            .await
            .expect("answer");
            return frame[3].clone();
        }
    }
}

/// Asks for a password rotation in the background, so the test can play the station.
fn spawn_rotation(url: String) -> tokio::task::JoinHandle<(u16, Value)> {
    tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("POST");
        (r.status().as_u16(), r.json::<Value>().await.expect("json"))
    })
}

#[tokio::test]
async fn password_rotation_follows_the_stations_answer_a01_fr_03_04() {
    let server = Server::start_with(closed_server()).await;
    let reg = register(&server, json!({"id": "ROT1", "securityProfile": 1})).await;
    let old = reg["password"].as_str().expect("pw").to_owned();
    let mut ws = plain(&server, "ROT1", Some(&basic("ROT1", &old)))
        .await
        .expect("connects");
    common::wait_connected(&server, "ROT1", true).await;

    // Rejected: the old password stays.
    let url = server.url("/api/v1/stations/ROT1/password");
    let call = spawn_rotation(url.clone());
    let sent = answer_change_configuration(&mut ws, "Rejected").await;
    assert_eq!(sent["key"], "AuthorizationKey");
    let (status, body) = call.await.expect("task");
    assert_eq!(
        (status, body["error"].clone()),
        (409, json!("password_rejected"))
    );
    assert!(
        plain(&server, "ROT1", Some(&basic("ROT1", &old)))
            .await
            .is_ok()
    );
    // That connection replaced the first; continue on a fresh one.
    let mut ws = plain(&server, "ROT1", Some(&basic("ROT1", &old)))
        .await
        .expect("connects");
    common::wait_connected(&server, "ROT1", true).await;

    // Accepted: the new password works and the old one no longer does.
    let call = spawn_rotation(url);
    let sent = answer_change_configuration(&mut ws, "Accepted").await;
    let (status, body) = call.await.expect("task");
    assert_eq!(status, 200, "{body}");
    let new = body["password"].as_str().expect("new password").to_owned();
    assert_eq!(
        sent["value"],
        json!(new),
        "the station is told the new password"
    );
    assert_ne!(new, old);
    assert_eq!(
        plain(&server, "ROT1", Some(&basic("ROT1", &old)))
            .await
            .err(),
        Some(401)
    );
    assert!(
        plain(&server, "ROT1", Some(&basic("ROT1", &new)))
            .await
            .is_ok()
    );
    let (_, journal) = server.get("/api/v1/stations/ROT1/messages?limit=200").await;
    let text = journal.to_string();
    assert!(!text.contains(&new), "the new password is not journaled");
    assert!(text.contains("<redacted>"), "{text}");
}

#[tokio::test]
async fn idle_connections_are_bounded_and_the_api_still_answers() {
    let server = Server::start_with(|c| {
        c.limits.max_pending_connections = 50;
        c.limits.handshake_timeout = Duration::from_millis(800);
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..400 {
        if let Ok(s) = TcpStream::connect(server.addr).await {
            idle.push(s);
        }
    }
    // They are held idle (older than the moment a pending connection is safe from
    // eviction); a real client still gets through, evicting the oldest of them.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let started = std::time::Instant::now();
    let (code, _) = server.get("/api/v1/health").await;
    assert_eq!(code, 200);
    assert!(started.elapsed() < Duration::from_secs(5));
    // After the handshake timeout every idle connection has been closed by the server.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut closed = 0;
    for s in &mut idle {
        let mut buf = [0u8; 1];
        if let Ok(Ok(0)) | Ok(Err(_)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::io::AsyncReadExt::read(s, &mut buf),
        )
        .await
        {
            closed += 1;
        }
    }
    assert_eq!(closed, idle.len(), "every idle connection was closed");
    // Stations still connect.
    let mut st = Station::connect(&server, "AFTER1", "ocpp1.6").await;
    st.boot16().await;
}

#[tokio::test]
async fn an_oversized_frame_gets_a_callerror_and_is_journaled_as_size_and_hash() {
    let server = Server::start_with(|c| c.limits.max_frame_bytes = 4096).await;
    let mut st = Station::connect(&server, "BIG1", "ocpp1.6").await;
    st.boot16().await;
    let big = json!([2, "big-1", "DataTransfer", {"vendorId": "x", "data": "y".repeat(10_000)}]);
    st.send_text(&big.to_string()).await;
    let r = st.recv().await;
    assert_eq!(
        (r[0].clone(), r[1].clone(), r[2].clone()),
        (json!(4), json!("big-1"), json!("FormationViolation"))
    );
    st.boot16().await; // the connection lives on
    let (_, journal) = server.get("/api/v1/stations/BIG1/messages?limit=50").await;
    let text = journal.to_string();
    assert!(
        !text.contains(&"y".repeat(200)),
        "the bulk is not journaled"
    );
    assert!(text.contains("sha256"), "{text}");
}

// ---- TLS: profiles 2 and 3 ----

struct Pki {
    server_cert: std::path::PathBuf,
    server_key: std::path::PathBuf,
    server_der: rustls::pki_types::CertificateDer<'static>,
    _dir: tempfile::TempDir,
}

fn server_pki() -> Pki {
    let dir = tempfile::tempdir().expect("dir");
    let key = rcgen::KeyPair::generate().expect("key");
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("params");
    let cert = params.self_signed(&key).expect("cert");
    let server_cert = dir.path().join("server.pem");
    let server_key = dir.path().join("server.key");
    std::fs::write(&server_cert, cert.pem()).expect("write");
    std::fs::write(&server_key, key.serialize_pem()).expect("write");
    Pki {
        server_cert,
        server_key,
        server_der: cert.der().clone(),
        _dir: dir,
    }
}

async fn tls_server(pki: &Pki) -> Server {
    let (cert, key) = (pki.server_cert.clone(), pki.server_key.clone());
    Server::start_with(move |c| {
        c.security.auto_register = false;
        c.security.tls = Some(ocpulse::config::TlsFiles {
            cert,
            key,
            client_ca: None,
        });
    })
    .await
}

type TlsWs = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// A wss connection: Err(None) when TLS itself refused, Err(Some(status)) for HTTP.
async fn wss(
    server: &Server,
    pki: &Pki,
    id: &str,
    authorization: Option<&str>,
    client: Option<(
        Vec<rustls::pki_types::CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    )>,
) -> Result<TlsWs, Option<u16>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.server_der.clone()).expect("root");
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match client {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .expect("client cert"),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(server.addr).await.expect("tcp");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let Ok(tls) = connector.connect(name, tcp).await else {
        return Err(None);
    };
    let url = format!("wss://{}/ocpp/{id}", server.addr);
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("ocpp1.6"),
    );
    if let Some(a) = authorization {
        request
            .headers_mut()
            .insert("Authorization", HeaderValue::from_str(a).expect("hv"));
    }
    match tokio_tungstenite::client_async(request, tls).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(r)) => Err(Some(r.status().as_u16())),
        // A client certificate the server's verifier refused shows up at the first read
        // under TLS 1.3 (the server's alert follows the client's Finished).
        Err(_) => Err(None),
    }
}

async fn tls_api(
    server: &Server,
    pki: &Pki,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let cert = reqwest::Certificate::from_der(pki.server_der.as_ref()).expect("cert");
    let client = reqwest::Client::builder()
        .add_root_certificate(cert)
        .build()
        .expect("client");
    let r = client
        .request(method, format!("https://{}{path}", server.addr))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("https");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn call(ws: &mut TlsWs, id: &str, action: &str, payload: Value) -> Value {
    ws.send(Message::Text(
        json!([2, id, action, payload]).to_string().into(),
    ))
    .await
    .expect("send");
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("answer in time")
            .expect("open")
            .expect("ok");
        if let Message::Text(t) = msg {
            let frame: Value = serde_json::from_str(t.as_str()).expect("json");
            if frame[1] == id {
                return frame;
            }
        }
    }
}

fn csr_for(cn: &str) -> (String, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let csr = params.serialize_request(&key).expect("csr");
    (csr.pem().expect("pem"), key)
}

fn chain_of(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject as _;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("chain")
}

fn key_der(key: &rcgen::KeyPair) -> rustls::pki_types::PrivateKeyDer<'static> {
    rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into())
}

#[tokio::test]
async fn profile_2_then_a_certificate_from_signcertificate_then_profile_3_a02() {
    ocpulse::install_tls_provider();
    let pki = server_pki();
    let server = tls_server(&pki).await;
    let (code, reg) = tls_api(
        &server,
        &pki,
        reqwest::Method::POST,
        "/api/v1/stations",
        json!({"id": "TLS1", "securityProfile": 2}),
    )
    .await;
    assert_eq!(code, 201, "{reg}");
    let password = reg["password"].as_str().expect("pw").to_owned();

    assert_eq!(
        wss(&server, &pki, "TLS1", None, None).await.err(),
        Some(Some(401))
    );
    let mut ws = wss(&server, &pki, "TLS1", Some(&basic("TLS1", &password)), None)
        .await
        .expect("profile 2 connects");

    // A CSR in another station's name is refused and raises a security event.
    let (foreign, _) = csr_for("SOMEONE-ELSE");
    let answer = call(&mut ws, "s1", "SignCertificate", json!({"csr": foreign})).await;
    assert_eq!(answer[2]["status"], "Rejected", "{answer}");
    // Its own: Accepted, then CertificateSigned with the chain.
    let (own, key) = csr_for("TLS1");
    let answer = call(&mut ws, "s2", "SignCertificate", json!({"csr": own})).await;
    assert_eq!(answer[2]["status"], "Accepted", "{answer}");
    let chain = loop {
        let msg = ws.next().await.expect("frame").expect("ok");
        if let Message::Text(t) = msg {
            let frame: Value = serde_json::from_str(t.as_str()).expect("json");
            if frame[0] == 2 && frame[2] == "CertificateSigned" {
                ws.send(Message::Text(
                    json!([3, frame[1], {"status": "Accepted"}])
                        .to_string()
                        .into(),
                ))
                .await
                .expect("answer");
                break frame[3]["cert"]
                    .as_str()
                    .or(frame[3]["certificateChain"].as_str())
                    .expect("chain")
                    .to_owned();
            }
        }
    };
    drop(ws);

    // Not yet registered for profile 3: the certificate is refused.
    let creds = || Some((chain_of(&chain), key_der(&key)));
    assert_eq!(
        wss(&server, &pki, "TLS1", None, creds()).await.err(),
        Some(Some(401))
    );
    let (code, _) = tls_api(
        &server,
        &pki,
        reqwest::Method::PUT,
        "/api/v1/stations/TLS1",
        json!({"securityProfile": 3}),
    )
    .await;
    assert_eq!(code, 200);
    let mut ws = wss(&server, &pki, "TLS1", None, creds())
        .await
        .expect("profile 3 connects");
    let boot = call(
        &mut ws,
        "b1",
        "BootNotification",
        json!({"chargePointVendor": "Acme", "chargePointModel": "M"}),
    )
    .await;
    assert_eq!(boot[2]["status"], "Accepted");
    // Basic auth is now a downgrade (A00.FR.005).
    assert_eq!(
        wss(&server, &pki, "TLS1", Some(&basic("TLS1", &password)), None)
            .await
            .err(),
        Some(Some(401))
    );
    let (code, events) = tls_api(
        &server,
        &pki,
        reqwest::Method::GET,
        "/api/v1/stations/TLS1/messages?limit=100",
        json!(null),
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        events.to_string().contains("SecurityEvent"),
        "the refused CSR is a security event: {events}"
    );
}

#[tokio::test]
async fn certificates_of_another_station_or_another_ca_are_refused_a00_fr_405() {
    ocpulse::install_tls_provider();
    let pki = server_pki();
    let server = tls_server(&pki).await;
    for id in ["TLSA", "TLSB"] {
        let (code, _) = tls_api(
            &server,
            &pki,
            reqwest::Method::POST,
            "/api/v1/stations",
            json!({"id": id, "securityProfile": 3}),
        )
        .await;
        assert_eq!(code, 201);
    }
    // A certificate the station CA issued to TLSB, used by someone connecting as TLSA.
    let ca_pem = std::fs::read_to_string(server.dir.path().join("ca/ca.pem")).expect("ca");
    let ca_key = std::fs::read_to_string(server.dir.path().join("ca/ca.key")).expect("ca key");
    let ca = ocpulse_ca::CertificateAuthority::load(&ca_pem, &ca_key).expect("ca");
    let (csr, key_b) = csr_for("TLSB");
    let signed_b = ca.sign_csr(&csr, 30).expect("signed");
    let b = || Some((chain_of(&signed_b.chain_pem), key_der(&key_b)));
    assert_eq!(
        wss(&server, &pki, "TLSA", None, b()).await.err(),
        Some(Some(401))
    );
    assert!(
        wss(&server, &pki, "TLSB", None, b()).await.is_ok(),
        "its own identity"
    );
    // A certificate for TLSA from a CA ocpulse does not trust: TLS itself refuses it.
    let foreign = ocpulse_ca::CertificateAuthority::generate_dev("foreign CA").expect("ca");
    let (csr, key_a) = csr_for("TLSA");
    let signed = foreign.sign_csr(&csr, 30).expect("signed");
    assert_eq!(
        wss(
            &server,
            &pki,
            "TLSA",
            None,
            Some((chain_of(&signed.chain_pem), key_der(&key_a)))
        )
        .await
        .err(),
        Some(None)
    );
    let (_, station) = tls_api(
        &server,
        &pki,
        reqwest::Method::GET,
        "/api/v1/stations/TLSA",
        json!(null),
    )
    .await;
    assert_eq!(station["connected"], false);
    assert_eq!(
        station["registration"]["refusedConnections"], 1,
        "{station}"
    );
}
