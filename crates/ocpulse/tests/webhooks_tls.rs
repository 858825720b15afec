//! Webhooks over https: a real TLS receiver on 127.0.0.1 with a certificate from a private
//! CA. Without that CA trusted the delivery fails with a certificate error in the log (no
//! silent plaintext fallback); with `--webhook-ca` it is delivered.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use common::{Server, Station, allow_loopback_webhooks};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A TCP listener whose connections are TLS, for `axum::serve`.
struct TlsListener {
    tcp: TcpListener,
    tls: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that refuses our certificate ends its handshake: keep listening.
            if let Ok(tls) = self.tls.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A private CA and a `localhost` certificate it signed: (CA PEM, leaf DER, leaf key DER).
fn private_pki() -> (String, Vec<u8>, Vec<u8>) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Receiver Test Root");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf_key = rcgen::KeyPair::generate().expect("key");
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf");
    (ca_cert.pem(), leaf.der().to_vec(), leaf_key.serialize_der())
}

/// Starts the https receiver; returns its URL and the bodies it got.
async fn receiver(leaf: Vec<u8>, key: Vec<u8>) -> (String, Arc<Mutex<Vec<Value>>>) {
    ocpulse::install_tls_provider();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        )
        .expect("server config");
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = tcp.local_addr().expect("addr").port();
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |_: HeaderMap, body: Bytes| {
            let seen = Arc::clone(&seen);
            async move {
                if let Ok(v) = serde_json::from_slice(&body) {
                    seen.lock().push(v);
                }
                "ok"
            }
        }),
    );
    let listener = TlsListener {
        tcp,
        tls: TlsAcceptor::from(Arc::new(config)),
    };
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("https://localhost:{port}/hooks"), got)
}

async fn faulted_alert(server: &Server, url: &str, id: &str) -> String {
    let (code, hook) = server
        .post(
            "/api/v1/webhooks",
            &json!({"url": url, "secret": "tls-test-secret-0123456789"}).to_string(),
        )
        .await;
    assert_eq!(code, 201, "https URLs are accepted: {hook}");
    let (code, rule) = server
        .post(
            "/api/v1/alert-rules",
            &json!({"name": "faulted", "condition": {"kind": "connectorFaulted"}}).to_string(),
        )
        .await;
    assert_eq!(code, 201, "{rule}");
    let mut st = Station::connect(server, id, "ocpp1.6").await;
    st.boot16().await;
    st.call(
        "StatusNotification",
        json!({"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted"}),
    )
    .await;
    hook["id"].as_str().expect("webhook id").to_owned()
}

async fn deliveries(server: &Server, hook: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let (_, d) = server
            .get(&format!("/api/v1/webhooks/{hook}/deliveries"))
            .await;
        if d["items"]
            .as_array()
            .and_then(|a| a.first())
            .is_some_and(&done)
        {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("deliveries of {hook} never settled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_webhooks_are_verified_against_the_trusted_cas() {
    let (ca_pem, leaf, key) = private_pki();
    let (url, got) = receiver(leaf, key).await;

    // Not trusted: every attempt fails on the certificate, nothing reaches the receiver.
    let server = Server::start_with(|c| {
        allow_loopback_webhooks(c);
        c.webhook_retry_base = Duration::from_millis(20);
        c.webhook_attempts = 2;
    })
    .await;
    let hook = faulted_alert(&server, &url, "TLS1").await;
    let log = deliveries(&server, &hook, |d| d["status"] == "failed").await;
    let errors = log["items"][0]["attempts"].to_string();
    assert!(
        errors.to_lowercase().contains("certificate") || errors.contains("UnknownIssuer"),
        "{log}"
    );
    assert!(got.lock().is_empty());
    drop(server);

    // Trusted through --webhook-ca: delivered over TLS.
    let files = tempfile::tempdir().expect("tempdir");
    let ca_path = files.path().join("receiver-ca.pem");
    std::fs::write(&ca_path, ca_pem).expect("write CA");
    let server = Server::start_with(|c| {
        allow_loopback_webhooks(c);
        c.webhook_ca = Some(ca_path.clone());
    })
    .await;
    let hook = faulted_alert(&server, &url, "TLS2").await;
    let log = deliveries(&server, &hook, |d| d["status"] == "delivered").await;
    assert_eq!(log["items"][0]["event"], "AlertRaised", "{log}");
    let bodies = got.lock().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["alert"]["stationId"], "TLS2");
}
