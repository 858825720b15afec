//! End-to-end behaviour of the CA: real CSRs from rcgen and OpenSSL, issued certificates
//! checked with x509-parser (including their signature against the CA key).

use base64::Engine as _;
use ocpulse_ca::{CaError, CertificateAuthority, SignedCertificate, csr_subject};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

/// A CA certificate and key made with OpenSSL (RSA 2048); test data only.
const RSA_CA_PEM: &str = include_str!("fixtures/rsa-ca.pem");
const RSA_CA_KEY: &str = include_str!("fixtures/rsa-ca.key");
/// An OpenSSL RSA CSR for `O=Example CPO, CN=CP0002`.
const RSA_CSR: &str = include_str!("fixtures/rsa-station.csr");
/// An OpenSSL EC CSR whose subject repeats OU, which the CA refuses rather than alter.
const DUP_OU_CSR: &str = include_str!("fixtures/dup-ou.csr");

/// A real PKCS#10 request for a fresh ECDSA P-256 key, as a station (or ocpulse-sim) makes it.
fn station_csr(cn: &str) -> (rcgen::CertificateSigningRequest, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Example CPO");
    let csr = params.serialize_request(&key).expect("csr");
    (csr, key)
}

/// DER of every certificate in a PEM text.
fn pem_ders(text: &str) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(text.as_bytes())
        .map(|p| {
            let p = p.expect("pem");
            assert_eq!(p.label, "CERTIFICATE");
            p.contents
        })
        .collect()
}

fn one_der(text: &str) -> Vec<u8> {
    let mut ders = pem_ders(text);
    assert_eq!(ders.len(), 1, "exactly one certificate expected");
    ders.remove(0)
}

fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = X509Certificate::from_der(der).expect("certificate parses");
    assert!(rest.is_empty());
    cert
}

fn cn(cert: &X509Certificate<'_>) -> String {
    cert.subject()
        .iter_common_name()
        .next()
        .expect("a CN")
        .as_str()
        .expect("text")
        .to_owned()
}

fn armor_csr(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Checks everything a station relies on in an issued certificate.
fn assert_valid_leaf(ca: &CertificateAuthority, signed: &SignedCertificate, expect_cn: &str) {
    let ca_der = one_der(&ca.cert_pem());
    let ca_cert = parse(&ca_der);
    let leaf_der = one_der(&signed.certificate_pem);
    let leaf = parse(&leaf_der);

    // Signed by the CA's key, and only by it.
    leaf.verify_signature(Some(ca_cert.public_key()))
        .expect("leaf signature verifies with the CA public key");
    let other = CertificateAuthority::generate_dev("Some other CA").expect("other CA");
    let other_der = one_der(&other.cert_pem());
    assert!(
        leaf.verify_signature(Some(parse(&other_der).public_key()))
            .is_err(),
        "the leaf must not verify against an unrelated CA key"
    );
    assert_eq!(leaf.issuer().as_raw(), ca_cert.subject().as_raw());

    assert_eq!(cn(&leaf), expect_cn);
    assert!(signed.subject.contains(&format!("CN={expect_cn}")));

    let bc = leaf
        .basic_constraints()
        .expect("one basicConstraints")
        .expect("basicConstraints present");
    assert!(!bc.value.ca, "leaf must not be a CA");
    assert!(!leaf.is_ca());

    let eku = leaf
        .extended_key_usage()
        .expect("one EKU")
        .expect("EKU present");
    assert!(eku.value.client_auth && eku.value.server_auth);
    let ku = leaf.key_usage().expect("one KU").expect("KU present");
    assert!(ku.value.digital_signature());
    assert!(!ku.value.key_cert_sign());

    let sn = leaf
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    assert_eq!(sn, signed.serial_hex);
    assert!(signed.serial_hex.len() >= 32, "128-bit random serial");

    let reported = OffsetDateTime::parse(&signed.not_after, &Rfc3339).expect("RFC 3339");
    assert_eq!(reported, leaf.validity().not_after.to_datetime());

    // Chain: the leaf, then the CA.
    let chain = pem_ders(&signed.chain_pem);
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0], leaf_der);
    assert_eq!(chain[1], ca_der);
}

#[test]
fn dev_ca_is_a_self_signed_p256_ca_valid_ten_years() {
    let ca = CertificateAuthority::generate_dev("ocpulse test CA").expect("dev CA");
    let der = one_der(&ca.cert_pem());
    let cert = parse(&der);
    cert.verify_signature(None)
        .expect("self-signature verifies");
    assert_eq!(cn(&cert), "ocpulse test CA");
    assert_eq!(
        cert.signature_algorithm.algorithm,
        x509_parser::oid_registry::OID_SIG_ECDSA_WITH_SHA256
    );
    let bc = cert
        .basic_constraints()
        .expect("one")
        .expect("basicConstraints present");
    assert!(bc.critical && bc.value.ca);
    let ku = cert.key_usage().expect("one").expect("key usage present");
    assert!(ku.value.key_cert_sign() && ku.value.crl_sign());
    let validity = cert.validity();
    let now = OffsetDateTime::now_utc();
    assert!(validity.not_before.to_datetime() <= now);
    let years = (validity.not_after.to_datetime() - now).whole_days();
    assert!((3640..=3660).contains(&years), "{years} days");
}

#[test]
fn signs_a_real_csr_and_the_leaf_verifies_against_the_ca() {
    let ca = CertificateAuthority::generate_dev("ocpulse test CA").expect("dev CA");
    let (csr, key) = station_csr("CP0001");
    let before = OffsetDateTime::now_utc();
    let signed = ca.sign_csr(&csr.pem().expect("pem"), 365).expect("signed");
    let after = OffsetDateTime::now_utc();

    assert_valid_leaf(&ca, &signed, "CP0001");
    assert!(signed.subject.contains("O=Example CPO"));

    let leaf_der = one_der(&signed.certificate_pem);
    let leaf = parse(&leaf_der);
    // The certificate is for the station's key, not some other one.
    assert_eq!(
        &*leaf.public_key().subject_public_key.data,
        key.public_key_raw()
    );
    // EC key: keyAgreement rather than keyEncipherment.
    let ku = leaf.key_usage().expect("one").expect("KU present").value;
    assert!(ku.key_agreement() && !ku.key_encipherment());

    // notBefore = now - 5 min, notAfter = now + 365 days (second precision).
    let nb = leaf.validity().not_before.to_datetime();
    let na = leaf.validity().not_after.to_datetime();
    let slack = Duration::seconds(1);
    assert!(nb >= before - Duration::minutes(5) - slack && nb <= after - Duration::minutes(5));
    assert!(na >= before + Duration::days(365) - slack && na <= after + Duration::days(365));
    assert!(leaf.validity().is_valid());
}

#[test]
fn tampered_csr_is_rejected_with_the_signature_error() {
    let ca = CertificateAuthority::generate_dev("ocpulse test CA").expect("dev CA");
    let (csr, _) = station_csr("CP0001");
    let der = csr.der().to_vec();

    // Change the CN inside the signed body: still a well-formed CSR, but the signature no
    // longer matches.
    let pos = der
        .windows(6)
        .position(|w| w == b"CP0001")
        .expect("CN in DER");
    let mut body_tampered = der.clone();
    body_tampered[pos + 5] = b'2';
    let pem = armor_csr("CERTIFICATE REQUEST", &body_tampered);
    assert_eq!(
        csr_subject(&pem).expect("still parses"),
        "CN=CP0002, O=Example CPO"
    );
    let err = ca
        .sign_csr(&pem, 365)
        .expect_err("tampered CSR must be rejected");
    assert!(matches!(err, CaError::CsrSignature(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("the CSR's signature does not verify")
    );

    // Flip the last byte of the signature itself.
    let mut sig_tampered = der.clone();
    let last = sig_tampered.len() - 1;
    sig_tampered[last] ^= 0x01;
    let err = ca
        .sign_csr(&armor_csr("CERTIFICATE REQUEST", &sig_tampered), 365)
        .expect_err("bad signature must be rejected");
    assert!(matches!(err, CaError::CsrSignature(_)), "{err:?}");

    // The untouched request still signs, so the failures above are due to the tampering.
    ca.sign_csr(&armor_csr("CERTIFICATE REQUEST", &der), 365)
        .expect("original CSR signs");
}

#[test]
fn garbage_is_rejected_with_the_format_error() {
    let ca = CertificateAuthority::generate_dev("ocpulse test CA").expect("dev CA");
    for garbage in [
        "",
        "   \n",
        "hello, this is not a CSR!",
        "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n",
        "-----BEGIN CERTIFICATE REQUEST-----\n@@@@\n-----END CERTIFICATE REQUEST-----\n",
    ] {
        let err = ca.sign_csr(garbage, 365).expect_err("garbage");
        assert!(matches!(err, CaError::CsrFormat), "{garbage:?}: {err:?}");
        assert_eq!(err.to_string(), "the CSR is not PEM or base64 DER");
        assert!(matches!(csr_subject(garbage), Err(CaError::CsrFormat)));
    }

    // Valid base64 that is not a PKCS#10 structure.
    let err = ca.sign_csr("AAECAwQFBgcICQ==", 365).expect_err("not DER");
    assert!(matches!(err, CaError::CsrParse(_)), "{err:?}");

    // A certificate sent instead of a request.
    let err = ca.sign_csr(&ca.cert_pem(), 365).expect_err("certificate");
    assert!(
        matches!(&err, CaError::CsrPemLabel(l) if l == "CERTIFICATE"),
        "{err:?}"
    );
}

#[test]
fn bare_base64_and_legacy_label_and_escaped_newlines_are_accepted() {
    let ca = CertificateAuthority::generate_dev("ocpulse test CA").expect("dev CA");
    let (csr, _) = station_csr("CP0001");
    let b64 = base64::engine::general_purpose::STANDARD.encode(csr.der());

    let signed = ca.sign_csr(&b64, 30).expect("bare base64");
    assert_valid_leaf(&ca, &signed, "CP0001");

    let wrapped: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    ca.sign_csr(&wrapped.join("\r\n"), 30)
        .expect("wrapped bare base64");

    let legacy = armor_csr("NEW CERTIFICATE REQUEST", csr.der());
    let signed = ca.sign_csr(&legacy, 30).expect("NEW CERTIFICATE REQUEST");
    assert_valid_leaf(&ca, &signed, "CP0001");

    let escaped = csr.pem().expect("pem").replace('\n', "\\n");
    ca.sign_csr(&escaped, 30).expect("escaped newlines");
}

#[test]
fn csr_subject_shows_the_subject_without_signing() {
    let (csr, _) = station_csr("CP0001");
    assert_eq!(
        csr_subject(&csr.pem().expect("pem")).expect("subject"),
        "CN=CP0001, O=Example CPO"
    );
    assert_eq!(
        csr_subject(RSA_CSR).expect("subject"),
        "O=Example CPO, CN=CP0002"
    );
}

#[test]
fn load_or_generate_twice_gives_the_same_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_dir = dir.path().join("nested").join("ca");
    let first = CertificateAuthority::load_or_generate(&ca_dir).expect("generate");
    let second = CertificateAuthority::load_or_generate(&ca_dir).expect("load");
    assert_eq!(first.cert_pem(), second.cert_pem());
    assert_eq!(
        std::fs::read_to_string(ca_dir.join("ca.pem")).expect("ca.pem"),
        first.cert_pem()
    );
    assert!(!ca_dir.join("ca.key.tmp").exists() && !ca_dir.join("ca.pem.tmp").exists());

    // Same key too: a certificate signed after the restart verifies with the first CA.
    let (csr, _) = station_csr("CP0001");
    let signed = second
        .sign_csr(&csr.pem().expect("pem"), 365)
        .expect("signed");
    assert_valid_leaf(&first, &signed, "CP0001");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(ca_dir.join("ca.key"))
            .expect("key metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "key mode {mode:o}");
    }

    // A different directory is a different CA.
    let other = CertificateAuthority::load_or_generate(&dir.path().join("other")).expect("other");
    assert_ne!(other.cert_pem(), first.cert_pem());
}

#[test]
fn load_or_generate_refuses_to_overwrite_a_lone_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ca.key"), "precious").expect("write");
    let err = CertificateAuthority::load_or_generate(dir.path()).expect_err("lone key");
    assert!(matches!(err, CaError::IncompleteCaDir { .. }), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ca.key")).expect("read"),
        "precious"
    );
    assert!(!dir.path().join("ca.pem").exists());
}

#[test]
fn load_rejects_a_key_of_another_ca_and_non_pkcs8_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = CertificateAuthority::load_or_generate(&dir.path().join("a")).expect("a");
    CertificateAuthority::load_or_generate(&dir.path().join("b")).expect("b");
    let key_b = std::fs::read_to_string(dir.path().join("b").join("ca.key")).expect("key b");
    let err = CertificateAuthority::load(&a.cert_pem(), &key_b).expect_err("mismatch");
    assert!(matches!(err, CaError::KeyMismatch), "{err:?}");

    let sec1 = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
    let err = CertificateAuthority::load(&a.cert_pem(), sec1).expect_err("sec1");
    assert!(
        matches!(&err, CaError::CaKey(m) if m.contains("PKCS#8")),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("cannot read CA key: "));

    let err = CertificateAuthority::load("not a certificate", &key_b).expect_err("no cert");
    assert!(matches!(err, CaError::CaCertificate(_)), "{err:?}");

    // A leaf is not a CA, even with its own key.
    let key_a = std::fs::read_to_string(dir.path().join("a").join("ca.key")).expect("key a");
    let leaf_key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let leaf = params.self_signed(&leaf_key).expect("leaf");
    let err =
        CertificateAuthority::load(&leaf.pem(), &leaf_key.serialize_pem()).expect_err("not CA");
    assert!(matches!(err, CaError::NotACa), "{err:?}");
    CertificateAuthority::load(&a.cert_pem(), &key_a).expect("the right key loads");
}

#[test]
fn rsa_ca_and_rsa_csr_work() {
    let rsa_ca = CertificateAuthority::load(RSA_CA_PEM, RSA_CA_KEY).expect("RSA CA loads");
    let (csr, _) = station_csr("CP0001");
    let signed = rsa_ca
        .sign_csr(&csr.pem().expect("pem"), 365)
        .expect("RSA CA signs an EC CSR");
    assert_valid_leaf(&rsa_ca, &signed, "CP0001");
    let leaf_der = one_der(&signed.certificate_pem);
    assert_eq!(
        parse(&leaf_der).signature_algorithm.algorithm,
        x509_parser::oid_registry::OID_PKCS1_SHA256WITHRSA
    );

    let ec_ca = CertificateAuthority::generate_dev("ocpulse test CA").expect("dev CA");
    let signed = ec_ca
        .sign_csr(RSA_CSR, 365)
        .expect("EC CA signs an RSA CSR");
    assert_valid_leaf(&ec_ca, &signed, "CP0002");
    let leaf_der = one_der(&signed.certificate_pem);
    let leaf = parse(&leaf_der);
    let ku = leaf.key_usage().expect("one").expect("KU present").value;
    assert!(ku.key_encipherment() && !ku.key_agreement());
}

#[test]
fn ca_chain_in_the_cert_file_is_appended_to_issued_chains() {
    let ec_ca = CertificateAuthority::generate_dev("ocpulse test CA").expect("dev CA");
    let bundle = format!("{RSA_CA_PEM}{}", ec_ca.cert_pem());
    let ca = CertificateAuthority::load(&bundle, RSA_CA_KEY).expect("bundle loads");
    assert_eq!(pem_ders(&ca.cert_pem()).len(), 1);
    let (csr, _) = station_csr("CP0001");
    let signed = ca.sign_csr(&csr.pem().expect("pem"), 1).expect("signed");
    assert_eq!(pem_ders(&signed.chain_pem).len(), 3);
}

#[test]
fn validity_is_checked_and_never_outlives_the_ca() {
    let ca = CertificateAuthority::generate_dev("ocpulse test CA").expect("dev CA");
    let (csr, _) = station_csr("CP0001");
    let pem = csr.pem().expect("pem");

    let err = ca.sign_csr(&pem, 0).expect_err("zero days");
    assert!(
        matches!(err, CaError::InvalidValidity { days: 0, .. }),
        "{err:?}"
    );

    let signed = ca.sign_csr(&pem, 100 * 365).expect("clamped");
    let ca_der = one_der(&ca.cert_pem());
    let leaf_der = one_der(&signed.certificate_pem);
    assert_eq!(
        parse(&leaf_der).validity().not_after,
        parse(&ca_der).validity().not_after
    );

    let err = ca.sign_csr(&pem, u32::MAX).expect_err("beyond 9999");
    assert!(matches!(err, CaError::InvalidValidity { .. }), "{err:?}");
}

#[test]
fn subjects_that_cannot_be_copied_exactly_are_refused() {
    let ca = CertificateAuthority::generate_dev("ocpulse test CA").expect("dev CA");
    assert_eq!(
        csr_subject(DUP_OU_CSR).expect("subject"),
        "OU=a, OU=b, CN=CP0003"
    );
    let err = ca.sign_csr(DUP_OU_CSR, 365).expect_err("duplicate OU");
    assert!(matches!(err, CaError::CsrSubject(_)), "{err:?}");
}

#[test]
fn a_csr_in_another_stations_name_is_refused_a00_fr_405() {
    let ca = CertificateAuthority::generate_dev("ocpulse test CA").expect("dev CA");
    let (csr, _key) = station_csr("SOMEONE-ELSE");
    let pem = csr.pem().expect("pem");
    let rule = |org: Option<&str>| ocpulse_ca::SubjectRule {
        common_name: "CP0001".into(),
        organization: org.map(str::to_owned),
    };
    match ca.sign_csr_for(&pem, 365, Some(&rule(None))) {
        Err(CaError::SubjectMismatch { field, found, .. }) => {
            assert_eq!((field, found.as_str()), ("CN", "SOMEONE-ELSE"));
        }
        other => panic!("expected SubjectMismatch, got {other:?}"),
    }
    let (own, _key) = station_csr("CP0001");
    let own = own.pem().expect("pem");
    let signed = ca
        .sign_csr_for(&own, 365, Some(&rule(Some("Example CPO"))))
        .expect("own name, right organization");
    assert_eq!(
        ocpulse_ca::certificate_common_name(&one_der(&signed.certificate_pem)).as_deref(),
        Some("CP0001")
    );
    assert!(matches!(
        ca.sign_csr_for(&own, 365, Some(&rule(Some("Other CPO")))),
        Err(CaError::SubjectMismatch { field: "O", .. })
    ));
}
