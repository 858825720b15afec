//! Entry point for the CSR fuzz target in `fuzz/` (cargo-fuzz, nightly) and for the corpus
//! replay test that runs it on stable (`tests/fuzz_corpus.rs`). Not an API: hidden from the
//! docs, kept here so both callers check the same properties.

use std::sync::OnceLock;

use crate::{CertificateAuthority, SubjectRule, certificate_common_name, csr_subject, pem};

/// The identity a rule-bound signing demands (the corpus's CSRs name it).
pub const STATION: &str = "FUZZ1";

/// One CA for the whole process: generating a key per input would drown the parsing.
fn ca() -> &'static CertificateAuthority {
    static CA: OnceLock<CertificateAuthority> = OnceLock::new();
    CA.get_or_init(|| {
        CertificateAuthority::generate_dev("ocpulse fuzz CA")
            .unwrap_or_else(|e| panic!("a development CA: {e}"))
    })
}

/// A station's CSR through everything SignCertificate does with it: reading its subject
/// for the record, then verifying and signing it, checking that an issued certificate
/// names the station the rule demands.
///
/// The first byte's bit 0 says how the rest is read: as the CSR text a station sends (PEM
/// in its many shapes, or bare base64), or as DER that is wrapped in PEM first (so the
/// fuzzer mutates the ASN.1 directly); bit 1 signs for [`STATION`] only, as the server does.
pub fn csr(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = if mode & 1 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        text.to_owned()
    } else {
        pem::encode("CERTIFICATE REQUEST", rest)
    };
    let subject = csr_subject(&text);
    let rule = SubjectRule {
        common_name: STATION.into(),
        organization: None,
    };
    let rule = (mode & 2 != 0).then_some(&rule);
    let Ok(signed) = ca().sign_csr_for(&text, 365, rule) else {
        return;
    };
    assert!(subject.is_ok(), "signed a CSR whose subject cannot be read");
    let block = pem::blocks(&signed.certificate_pem)
        .ok()
        .and_then(|b| b.into_iter().next())
        .unwrap_or_else(|| panic!("the issued certificate is not PEM"));
    let cn = certificate_common_name(&block.der);
    if rule.is_some() {
        assert_eq!(cn.as_deref(), Some(STATION), "issued for another station");
    }
    assert!(
        signed.chain_pem.starts_with(&signed.certificate_pem),
        "the chain does not start with the issued certificate"
    );
}
