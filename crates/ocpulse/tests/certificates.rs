//! The SignCertificate → CertificateSigned flow against a real server on real sockets: the
//! simulator (and a raw WebSocket station where a test needs an exact frame) asks for a
//! certificate, and every issued leaf is verified against the CA the API publishes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use clap::Parser as _;
use common::{Server, Station};
use ocpp_rpc::ProtocolVersion;
use ocpulse::cli::{Cli, Command};
use ocpulse::config::{CaSource, ServerConfig};
use ocpulse_sim::runner::{RunOptions, run_station};
use ocpulse_sim::{Station as SimStation, StationConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer as _;

/// A simulated station connected to `server` until the returned token is cancelled.
fn start_sim(
    server: &Server,
    id: &str,
    version: ProtocolVersion,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let options = Arc::new(RunOptions {
        url: format!("ws://{}/ocpp", server.addr),
        reconnect_min: Duration::from_millis(50),
        ..RunOptions::default()
    });
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        let station = SimStation::new(StationConfig::new(id, version), None);
        async move {
            let _ = run_station(station, options, Arc::default(), stop, true).await;
        }
    });
    (stop, task)
}

async fn wait_for(server: &Server, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..500 {
        let (code, body) = server.get(&format!("/api/v1/stations/{id}")).await;
        if code == 200 && ready(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("station {id} never reached the expected state; last seen: {last}");
}

/// `GET /api/v1/ca`: the CA certificate's DER, checking the content type on the way.
async fn fetch_ca(server: &Server) -> Vec<u8> {
    let r = reqwest::get(server.url("/api/v1/ca"))
        .await
        .expect("GET ca");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-pem-file")
    );
    let pem = r.text().await.expect("body");
    let ders = pem_ders(&pem);
    assert_eq!(ders.len(), 1, "one CA certificate: {pem}");
    ders.into_iter().next().expect("one")
}

fn pem_ders(text: &str) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(text.as_bytes())
        .map(|p| p.expect("PEM block").contents)
        .collect()
}

fn common_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .expect("a CN")
        .to_owned()
}

/// Checks an issued chain: leaf then CA, the leaf signed by `ca_der`'s key, carrying the
/// CSR's CN and public key. Returns the leaf's serial (lowercase hex).
fn assert_issued(chain_pem: &str, ca_der: &[u8], csr_pem: &str) -> String {
    let chain = pem_ders(chain_pem);
    assert_eq!(chain.len(), 2, "leaf then CA: {chain_pem}");
    assert_eq!(chain[1], ca_der, "the chain ends with the published CA");
    let (_, ca) = X509Certificate::from_der(ca_der).expect("CA parses");
    let (_, leaf) = X509Certificate::from_der(&chain[0]).expect("leaf parses");
    leaf.verify_signature(Some(ca.public_key()))
        .expect("the leaf verifies against the CA certificate");
    assert_eq!(leaf.issuer(), ca.subject());
    let csr_der = pem_ders(csr_pem).into_iter().next().expect("CSR PEM");
    let (_, csr) = X509CertificationRequest::from_der(&csr_der).expect("CSR parses");
    let info = &csr.certification_request_info;
    assert_eq!(common_name(leaf.subject()), common_name(&info.subject));
    assert_eq!(
        leaf.public_key().raw,
        info.subject_pki.raw,
        "the leaf certifies the station's own key"
    );
    let days =
        (leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp()) / 86_400;
    assert!(
        (365..=366).contains(&days),
        "365 days of validity, got {days}"
    );
    leaf.raw_serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The station's journal, oldest first.
async fn journal(server: &Server, id: &str) -> Vec<Value> {
    let (code, body) = server
        .get(&format!("/api/v1/stations/{id}/messages?limit=1000"))
        .await;
    assert_eq!(code, 200, "{body}");
    let mut entries = body["items"].as_array().expect("entries").clone();
    entries.reverse();
    entries
}

fn find<'a>(entries: &'a [Value], direction: &str, kind: &str, action: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e["direction"] == direction && e["type"] == kind && e["action"] == action)
        .collect()
}

/// Triggers a Sign*Certificate on a simulated station and checks the whole flow: Accepted,
/// then CertificateSigned after the CALLRESULT, a chain that verifies against `ca_der`, and
/// the outcome in the station's state. Returns the CertificateSigned payload.
async fn sign_via_trigger(server: &Server, id: &str, requested: &str, ca_der: &[u8]) -> Value {
    let (code, body) = server
        .trigger(id, json!({"requestedMessage": requested}))
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "Accepted", "{body}");
    let message = &body["messages"][0];
    assert_eq!(message["action"], "SignCertificate", "{body}");
    // The trigger's answer already carries the outcome: signed, and the station's answer
    // to CertificateSigned.
    assert_eq!(body["certificate"]["status"], "Signed", "{body}");
    assert_eq!(
        body["certificate"]["certificateSignedStatus"], "Accepted",
        "{body}"
    );
    assert!(
        body["certificate"]["csrSubject"]
            .as_str()
            .is_some_and(|s| s.contains(&format!("CN={id}"))),
        "{body}"
    );
    let csr = message["payload"]["csr"].as_str().expect("csr").to_owned();

    let station = wait_for(server, id, |s| {
        !s["certificate"]["certificateSignedStatus"].is_null()
            && s["certificate"]["requestedAt"] == message["receivedAt"]
    })
    .await;
    let cert = &station["certificate"];
    assert_eq!(cert["status"], "Signed", "{cert}");
    assert_eq!(cert["certificateSignedStatus"], "Accepted", "{cert}");
    assert_eq!(cert["reason"], Value::Null);
    // The trigger's answer and the station view say the same in the same form (RFC 3339
    // times, not the stored milliseconds).
    assert_eq!(body["certificate"], *cert, "{body}");
    assert!(
        cert["csrSubject"]
            .as_str()
            .is_some_and(|s| s.contains(&format!("CN={id}"))),
        "{cert}"
    );
    assert!(cert["notAfter"].is_string() && cert["answeredAt"].is_string());

    // The journal is written behind the frames (only station CALLs wait for it): poll.
    let mut found = None;
    for _ in 0..200 {
        let entries = journal(server, id).await;
        let answered = entries
            .iter()
            .find(|e| {
                e["direction"] == "out"
                    && e["type"] == "CALLRESULT"
                    && e["messageId"] == message["messageId"]
            })
            .cloned()
            .expect("SignCertificate CALLRESULT journaled before it was sent");
        let sent = find(&entries, "out", "CALL", "CertificateSigned")
            .into_iter()
            .find(|e| e["seq"].as_i64() > answered["seq"].as_i64())
            .cloned();
        let result = sent.as_ref().and_then(|sent| {
            entries
                .iter()
                .find(|e| e["direction"] == "in" && e["messageId"] == sent["messageId"])
                .cloned()
        });
        if let (Some(sent), Some(result)) = (sent, result) {
            found = Some((answered, sent, result));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (answered, sent, result) =
        found.expect("a CertificateSigned after the Accepted CALLRESULT, and its answer");
    assert_eq!(answered["payload"], json!({"status": "Accepted"}));
    assert_eq!(result["type"], "CALLRESULT");
    assert_eq!(result["action"], "CertificateSigned");
    assert_eq!(result["payload"]["status"], "Accepted");
    assert_eq!(
        find(
            &journal(server, id).await,
            "out",
            "CALL",
            "CertificateSigned"
        )
        .iter()
        .filter(|e| e["seq"].as_i64() > answered["seq"].as_i64())
        .count(),
        1,
        "one CertificateSigned per SignCertificate"
    );
    let payload = sent["payload"].clone();
    let serial = assert_issued(
        payload["certificateChain"].as_str().expect("chain"),
        ca_der,
        &csr,
    );
    assert_eq!(
        cert["serial"],
        json!(serial),
        "the state names the issued certificate"
    );
    payload
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v16_sign_charge_point_certificate_is_signed_and_delivered_in_certificate_signed() {
    let server = Server::start().await;
    let (stop, task) = start_sim(&server, "CERT16", ProtocolVersion::V16);
    wait_for(&server, "CERT16", |s| s["registrationStatus"] == "Accepted").await;
    let ca = fetch_ca(&server).await;

    let payload = sign_via_trigger(&server, "CERT16", "SignChargePointCertificate", &ca).await;
    assert_eq!(
        payload.as_object().map(|o| o.len()),
        Some(1),
        "1.6 CertificateSigned has only certificateChain: {payload}"
    );
    let (_, station) = server.get("/api/v1/stations/CERT16").await;
    assert_eq!(station["certificate"]["certificateType"], Value::Null);
    stop.cancel();
    let _ = task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v201_sign_certificate_returns_the_requested_certificate_type() {
    let server = Server::start().await;
    let (stop, task) = start_sim(&server, "CERT201", ProtocolVersion::V201);
    wait_for(&server, "CERT201", |s| {
        s["registrationStatus"] == "Accepted"
    })
    .await;
    let ca = fetch_ca(&server).await;

    for (requested, certificate_type) in [
        (
            "SignChargingStationCertificate",
            json!("ChargingStationCertificate"),
        ),
        ("SignV2GCertificate", json!("V2GCertificate")),
        ("SignCombinedCertificate", Value::Null),
    ] {
        let payload = sign_via_trigger(&server, "CERT201", requested, &ca).await;
        assert_eq!(
            payload
                .get("certificateType")
                .cloned()
                .unwrap_or(Value::Null),
            certificate_type,
            "{requested}: the request's certificateType is passed back"
        );
        let (_, station) = server.get("/api/v1/stations/CERT201").await;
        assert_eq!(station["certificate"]["certificateType"], certificate_type);
    }
    stop.cancel();
    let _ = task.await;
}

fn station_csr(cn: &str) -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem")
}

/// The same CSR with one bit of its signature flipped: still a well-formed PKCS#10 request,
/// but it no longer proves possession of the key.
fn with_broken_signature(csr_pem: &str) -> String {
    let mut der = pem_ders(csr_pem).into_iter().next().expect("CSR PEM");
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        lines.join("\n")
    )
}

/// Proves no CALL followed an answer: the session queues a CertificateSigned as soon as the
/// CALLRESULT is out, so it would arrive before the answer to the next CALL.
async fn assert_no_csms_call(station: &mut Station) {
    let r = station.call("Heartbeat", json!({})).await;
    assert_eq!(r[0], 3, "{r}");
    assert!(
        station.pending_calls.is_empty(),
        "no CALL from the CSMS: {:?}",
        station.pending_calls
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csr_with_a_broken_signature_is_rejected_and_nothing_is_signed() {
    let server = Server::start().await;

    let mut v201 = Station::connect(&server, "BADCSR201", "ocpp2.0.1").await;
    v201.boot201().await;
    let good = station_csr("BADCSR201");
    let r = v201
        .call(
            "SignCertificate",
            json!({"csr": with_broken_signature(&good), "certificateType": "ChargingStationCertificate"}),
        )
        .await;
    assert_eq!(r[2]["status"], "Rejected", "{r}");
    assert_eq!(r[2]["statusInfo"]["reasonCode"], "InvalidCSR", "{r}");
    assert!(
        r[2]["statusInfo"]["additionalInfo"]
            .as_str()
            .is_some_and(|i| i.contains("signature") && i.len() <= 512),
        "{r}"
    );
    assert_no_csms_call(&mut v201).await;
    let (_, station) = server.get("/api/v1/stations/BADCSR201").await;
    let cert = &station["certificate"];
    assert_eq!(cert["status"], "Rejected", "{cert}");
    assert_eq!(cert["csrSubject"], "CN=BADCSR201", "{cert}");
    assert!(
        cert["reason"]
            .as_str()
            .is_some_and(|r| r.contains("signature"))
    );
    assert_eq!(cert["serial"], Value::Null);
    assert_eq!(cert["certificateSignedStatus"], Value::Null);

    // The untouched CSR is accepted, so the rejection above was the broken signature. This
    // station declines the certificate, and the state says so.
    let r = v201
        .call(
            "SignCertificate",
            json!({"csr": good, "certificateType": "ChargingStationCertificate"}),
        )
        .await;
    assert_eq!(r[2], json!({"status": "Accepted"}));
    let (id, action, payload) = v201.next_call().await;
    assert_eq!(action, "CertificateSigned");
    assert_eq!(payload["certificateType"], "ChargingStationCertificate");
    assert_issued(
        payload["certificateChain"].as_str().expect("chain"),
        &fetch_ca(&server).await,
        &good,
    );
    v201.reply(&id, json!({"status": "Rejected"})).await;
    let station = wait_for(&server, "BADCSR201", |s| {
        !s["certificate"]["certificateSignedStatus"].is_null()
    })
    .await;
    assert_eq!(station["certificate"]["status"], "Signed");
    assert_eq!(
        station["certificate"]["certificateSignedStatus"],
        "Rejected"
    );

    let mut v16 = Station::connect(&server, "BADCSR16", "ocpp1.6").await;
    v16.boot16().await;
    let r = v16
        .call(
            "SignCertificate",
            json!({"csr": with_broken_signature(&station_csr("BADCSR16"))}),
        )
        .await;
    assert_eq!(r[2], json!({"status": "Rejected"}), "1.6 has no statusInfo");
    assert_no_csms_call(&mut v16).await;
    let entries = journal(&server, "BADCSR16").await;
    assert!(find(&entries, "out", "CALL", "CertificateSigned").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_ca_sign_certificate_is_rejected_and_the_ca_endpoint_is_404() {
    let server = Server::start_with(|c| c.ca = CaSource::Disabled).await;

    let (code, body) = server.get("/api/v1/ca").await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["error"], "no_ca", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("--no-ca"))
    );

    let mut v201 = Station::connect(&server, "NOCA201", "ocpp2.0.1").await;
    v201.boot201().await;
    let r = v201
        .call("SignCertificate", json!({"csr": station_csr("NOCA201")}))
        .await;
    assert_eq!(r[2]["status"], "Rejected", "{r}");
    assert_eq!(r[2]["statusInfo"]["reasonCode"], "NoCA", "{r}");
    assert_no_csms_call(&mut v201).await;
    let (_, station) = server.get("/api/v1/stations/NOCA201").await;
    assert_eq!(station["certificate"]["status"], "Rejected");

    let mut v16 = Station::connect(&server, "NOCA16", "ocpp1.6").await;
    v16.boot16().await;
    let r = v16
        .call("SignCertificate", json!({"csr": station_csr("NOCA16")}))
        .await;
    assert_eq!(r[2], json!({"status": "Rejected"}));
    assert_no_csms_call(&mut v16).await;
    assert!(
        !server.dir.path().join("ca").exists(),
        "--no-ca generates no development CA"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_ca_is_generated_once_in_the_data_dir_and_kept_across_restarts() {
    let server = Server::start().await;
    let first = fetch_ca(&server).await;
    let on_disk = std::fs::read_to_string(server.dir.path().join("ca").join("ca.pem"))
        .expect("the development CA is kept in <data-dir>/ca/");
    assert_eq!(pem_ders(&on_disk), vec![first.clone()]);
    let dir = server.stop().await;
    let path = dir.path().to_path_buf();
    let again = Server::start_with(|c| c.data_dir = path).await;
    assert_eq!(fetch_ca(&again).await, first, "a restart keeps the same CA");
    drop(dir);
}

/// An operator's CA made with rcgen directly: (certificate PEM, PKCS#8 key PEM).
fn operator_ca() -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Operator Test Root");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Example CPO");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let cert = params.self_signed(&key).expect("self-signed CA");
    (cert.pem(), key.serialize_pem())
}

/// `ocpulse serve` options as an operator types them.
fn parse_serve(args: &[&str]) -> Result<ServerConfig, String> {
    let cli =
        Cli::try_parse_from(["ocpulse", "serve"].iter().chain(args)).map_err(|e| e.to_string())?;
    let Command::Serve(serve) = cli.command else {
        panic!("serve parses as serve")
    };
    serve.config().map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_ca_from_ca_cert_and_ca_key_signs_station_certificates() {
    let files = tempfile::tempdir().expect("tempdir");
    let (cert_pem, key_pem) = operator_ca();
    let cert_path = files.path().join("operator-ca.pem");
    let key_path = files.path().join("operator-ca.key");
    std::fs::write(&cert_path, &cert_pem).expect("write cert");
    std::fs::write(&key_path, &key_pem).expect("write key");
    let config = parse_serve(&[
        "--ca-cert",
        cert_path.to_str().expect("utf-8 path"),
        "--ca-key",
        key_path.to_str().expect("utf-8 path"),
    ])
    .expect("both CA options parse");
    let server = Server::start_with(|c| c.ca = config.ca).await;

    let operator_der = pem_ders(&cert_pem).into_iter().next().expect("CA DER");
    assert_eq!(
        fetch_ca(&server).await,
        operator_der,
        "GET /api/v1/ca publishes the operator's CA"
    );
    let (stop, task) = start_sim(&server, "OPCA16", ProtocolVersion::V16);
    wait_for(&server, "OPCA16", |s| s["registrationStatus"] == "Accepted").await;
    // Verified against the operator's own certificate, not the API's copy of it.
    sign_via_trigger(
        &server,
        "OPCA16",
        "SignChargePointCertificate",
        &operator_der,
    )
    .await;
    assert!(
        !server.dir.path().join("ca").exists(),
        "no development CA is generated when the operator gives one"
    );
    stop.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn ca_options_must_come_together_and_a_broken_ca_stops_startup() {
    assert_eq!(
        parse_serve(&[]).expect("defaults").ca,
        CaSource::Development
    );
    assert_eq!(
        parse_serve(&["--no-ca"]).expect("--no-ca").ca,
        CaSource::Disabled
    );
    for args in [
        &["--ca-cert", "ca.pem"][..],
        &["--ca-key", "ca.key"],
        &["--no-ca", "--ca-cert", "ca.pem", "--ca-key", "ca.key"],
    ] {
        let err = parse_serve(args).expect_err("refused");
        assert!(
            err.contains("--ca-key") || err.contains("--ca-cert"),
            "{args:?}: {err}"
        );
    }

    // A key that is not the certificate's: the server refuses to start and says why.
    let files = tempfile::tempdir().expect("tempdir");
    let (cert_pem, _) = operator_ca();
    let (_, other_key) = operator_ca();
    std::fs::write(files.path().join("ca.pem"), cert_pem).expect("write");
    std::fs::write(files.path().join("ca.key"), other_key).expect("write");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let config = ServerConfig {
        data_dir: files.path().join("data"),
        ca: CaSource::Files {
            cert: files.path().join("ca.pem"),
            key: files.path().join("ca.key"),
        },
        ..ServerConfig::default()
    };
    let err = ocpulse::server::serve(config, listener, async {})
        .await
        .expect_err("a mismatched CA key is a startup error");
    let message = format!("{err:#}");
    assert!(
        message.contains("does not match") && message.contains("ca.pem"),
        "{message}"
    );
}
