//! What each OCPP security profile costs at the handshake: connects per second for 1,000
//! registered stations at profiles 0 (none), 1 (Basic auth), 2 (Basic auth over TLS) and
//! 3 (TLS client certificate), against the real `ocpulse serve` binary, and the server's
//! CPU per connection. Each profile runs twice: "first" is every station's first
//! connection (profiles 1/2 verify argon2id once each), "again" a reconnect of all of them
//! (a password that verified before is checked against an in-memory keyed digest).
//!
//! `cargo bench -p ocpulse --bench handshake [-- --stations N --concurrency C]` —
//! bounded in count and time; loopback only.
#![allow(missing_docs)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{StreamExt, stream};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const PASSWORD: &str = "bench-password-0123456789abcdef";

struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start(tls: Option<&(std::path::PathBuf, std::path::PathBuf)>) -> Server {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ocpulse"));
    cmd.args(["serve", "--no-auto-register", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some((cert, key)) = tls {
        cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
    }
    let child = cmd.spawn().expect("spawn ocpulse");
    Server { child, port, dir }
}

fn http_client(server_der: &CertificateDer<'static>) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(server_der).expect("cert"))
        .build()
        .expect("client")
}

async fn wait_up(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if client
            .get(format!("{base}/api/v1/health"))
            .send()
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not come up");
}

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// What a station presents besides TLS (profile 3's certificate is in its connector).
enum Credentials {
    None,
    Basic,
}

async fn connect_once(
    port: u16,
    id: &str,
    tls: Option<&tokio_rustls::TlsConnector>,
    creds: &Credentials,
    client_tls: Option<tokio_rustls::TlsConnector>,
) -> bool {
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let mut request = format!("{scheme}://127.0.0.1:{port}/ocpp/{id}")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("ocpp1.6"),
    );
    if let Credentials::Basic = creds {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{PASSWORD}"));
        request.headers_mut().insert(
            "Authorization",
            HeaderValue::from_str(&format!("Basic {token}")).expect("hv"),
        );
    }
    let Ok(tcp) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let _ = tcp.set_nodelay(true);
    let connector = client_tls.or_else(|| tls.cloned());
    match connector {
        None => tokio_tungstenite::client_async(request, tcp).await.is_ok(),
        Some(c) => {
            let name = ServerName::try_from("127.0.0.1").expect("name");
            match c.connect(name, tcp).await {
                Ok(stream) => tokio_tungstenite::client_async(request, stream)
                    .await
                    .is_ok(),
                Err(_) => false,
            }
        }
    }
}

struct Row {
    profile: u8,
    round: &'static str,
    ok: usize,
    secs: f64,
    cpu_ms: f64,
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let stations = arg("--stations", 1000);
    let concurrency = arg("--concurrency", 100);

    // The server's certificate, trusted by the stations.
    let pki = tempfile::tempdir().expect("dir");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let tls_files = (pki.path().join("s.pem"), pki.path().join("s.key"));
    std::fs::write(&tls_files.0, cert.pem()).expect("write");
    std::fs::write(&tls_files.1, key.serialize_pem()).expect("write");
    let server_der = cert.der().clone();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_der.clone()).expect("root");
    let roots = Arc::new(roots);
    let plain_client = tokio_rustls::TlsConnector::from(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(Arc::clone(&roots))
            .with_no_client_auth(),
    ));

    let mut rows = Vec::new();
    for profile in 0u8..=3 {
        let server = start((profile >= 2).then_some(&tls_files));
        let http = http_client(&server_der);
        let base = format!(
            "{}://127.0.0.1:{}",
            if profile >= 2 { "https" } else { "http" },
            server.port
        );
        wait_up(&http, &base).await;
        let ids: Vec<String> = (0..stations)
            .map(|i| format!("HS{profile}{i:05}"))
            .collect();
        // Register every station (its password is hashed once here, not timed).
        stream::iter(ids.iter())
            .for_each_concurrent(4, |id| {
                let (http, base) = (&http, &base);
                async move {
                    let mut body = json!({"id": id, "securityProfile": profile});
                    if (1..=2).contains(&profile) {
                        body["password"] = json!(PASSWORD);
                    }
                    let r = http
                        .post(format!("{base}/api/v1/stations"))
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send()
                        .await
                        .expect("register");
                    assert_eq!(r.status(), 201, "{:?}", r.text().await);
                }
            })
            .await;
        // Profile 3: a certificate per station from the server's own CA.
        let mut certs = Vec::new();
        if profile == 3 {
            let ca_pem = std::fs::read_to_string(server.dir.path().join("ca/ca.pem")).expect("ca");
            let ca_key = std::fs::read_to_string(server.dir.path().join("ca/ca.key")).expect("key");
            let ca = ocpulse_ca::CertificateAuthority::load(&ca_pem, &ca_key).expect("ca");
            for id in &ids {
                let key = rcgen::KeyPair::generate().expect("key");
                let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("p");
                params.distinguished_name = rcgen::DistinguishedName::new();
                params
                    .distinguished_name
                    .push(rcgen::DnType::CommonName, id.as_str());
                let csr = params
                    .serialize_request(&key)
                    .expect("csr")
                    .pem()
                    .expect("pem");
                let signed = ca.sign_csr(&csr, 30).expect("signed");
                let chain = CertificateDer::pem_slice_iter(signed.chain_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .expect("chain");
                let config = rustls::ClientConfig::builder()
                    .with_root_certificates(Arc::clone(&roots))
                    .with_client_auth_cert(chain, PrivateKeyDer::Pkcs8(key.serialize_der().into()))
                    .expect("client cert");
                certs.push(tokio_rustls::TlsConnector::from(Arc::new(config)));
            }
        }
        let tls = (profile >= 2).then_some(&plain_client);
        for round in ["first", "again"] {
            let cpu_before = cpu_secs(server.child.id());
            let started = Instant::now();
            let results: Vec<bool> = stream::iter(ids.iter().enumerate())
                .map(|(i, id)| {
                    let creds = if (1..=2).contains(&profile) {
                        Credentials::Basic
                    } else {
                        Credentials::None
                    };
                    let client_tls = certs.get(i).cloned();
                    async move {
                        tokio::time::timeout(
                            Duration::from_secs(60),
                            connect_once(server.port, id, tls, &creds, client_tls),
                        )
                        .await
                        .unwrap_or(false)
                    }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
            let secs = started.elapsed().as_secs_f64();
            let cpu_ms = (cpu_secs(server.child.id()) - cpu_before) * 1e3;
            rows.push(Row {
                profile,
                round,
                ok: results.iter().filter(|ok| **ok).count(),
                secs,
                cpu_ms,
            });
            // Let the server see the closes before the next round.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let base = rows
        .iter()
        .find(|r| r.profile == 0 && r.round == "first")
        .map_or(1.0, |r| r.ok as f64 / r.secs);
    println!(
        "handshake cost, {stations} stations, {concurrency} at a time (connect + upgrade, no boot)"
    );
    println!(
        "| profile | round | connected | seconds | connects/s | ÷ profile 0 | server CPU ms per connect |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let rate = r.ok as f64 / r.secs;
        println!(
            "| {} | {} | {}/{stations} | {:.3} | {:.0} | {:.2}× | {:.3} |",
            r.profile,
            r.round,
            r.ok,
            r.secs,
            rate,
            rate / base,
            r.cpu_ms / r.ok.max(1) as f64
        );
    }
}
