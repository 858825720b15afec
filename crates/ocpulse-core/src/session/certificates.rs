//! SignCertificate: the CSR is checked and the certificate issued *before* the station is
//! answered, so Accepted is only said when a certificate really exists, and CertificateSigned
//! can follow with nothing left to fail.

use ocpp_rpc::{PayloadKind, ProtocolVersion, SchemaRegistry};
use serde_json::Value;

use crate::Millis;
use crate::answers::CsrVerdict;
use crate::incoming::CsrRequest;
use crate::state::{CertificateRequest, CertificateRequestStatus};

/// Issues station certificates: the CA, outside the domain (it holds keys and files).
pub trait CertificateIssuer: Send + Sync {
    /// Verifies `csr` and issues a certificate whose subject must be `common_name` (the
    /// station's identity, A00.FR.405) and, when set, `organization`.
    fn issue(
        &self,
        csr: &str,
        common_name: &str,
        organization: Option<&str>,
    ) -> Result<IssuedCertificate, IssueRefusal>;

    /// The CSR's subject, human readable, for the record (`None` when unreadable).
    fn csr_subject(&self, csr: &str) -> Option<String>;
}

/// A certificate the CA issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// Leaf and chain, PEM, as CertificateSigned carries them.
    pub chain_pem: String,
    /// Its serial, lowercase hex.
    pub serial_hex: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
}

/// Why no certificate was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueRefusal {
    /// The CSR names another identity than the connection's: an attack or a grave
    /// misconfiguration, raised as a security event.
    SubjectMismatch(String),
    /// The CSR is unreadable or its signature does not verify.
    InvalidCsr(String),
    /// The CA itself could not issue (expired, broken): the operator's problem.
    CaFailure(String),
}

/// The CertificateSigned to send once the Accepted answer is out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FollowUp {
    pub payload: Value,
    pub serial: String,
}

/// The outcome of checking a SignCertificate before answering it.
pub(crate) struct CsrCheck {
    pub verdict: CsrVerdict,
    pub record: CertificateRequest,
    pub follow_up: Option<FollowUp>,
    /// The CSR asked for another identity (journaled as a security event).
    pub subject_mismatch: Option<String>,
}

/// Checks a SignCertificate's CSR and, when it verifies, issues the certificate at once.
pub(crate) fn check_csr(
    issuer: Option<&dyn CertificateIssuer>,
    schemas: &SchemaRegistry,
    version: ProtocolVersion,
    identity: &str,
    organization: Option<&str>,
    request: Option<CsrRequest<'_>>,
    now: Millis,
) -> CsrCheck {
    let csr = request.map(|r| r.csr);
    let certificate_type = request.and_then(|r| r.certificate_type).map(str::to_owned);
    let mut record = CertificateRequest {
        requested_at: now,
        certificate_type: certificate_type.clone(),
        csr_subject: csr.zip(issuer).and_then(|(c, i)| i.csr_subject(c)),
        status: CertificateRequestStatus::Rejected,
        reason: None,
        serial: None,
        not_after: None,
        certificate_signed_status: None,
        answered_at: None,
    };
    let mut subject_mismatch = None;
    let (verdict, follow_up) = match (issuer, csr) {
        (None, _) => (CsrVerdict::NoCa, None),
        (Some(_), None) => (
            CsrVerdict::InvalidCsr("the request has no csr string".into()),
            None,
        ),
        (Some(issuer), Some(csr)) => match issuer.issue(csr, identity, organization) {
            Err(IssueRefusal::SubjectMismatch(why)) => {
                subject_mismatch = Some(why.clone());
                (CsrVerdict::InvalidCsr(why), None)
            }
            Err(IssueRefusal::InvalidCsr(why)) => (CsrVerdict::InvalidCsr(why), None),
            Err(IssueRefusal::CaFailure(why)) => (CsrVerdict::CaFailure(why), None),
            Ok(issued) => {
                let mut request = serde_json::json!({"certificateChain": issued.chain_pem});
                if version.is_v2()
                    && let Some(t) = &certificate_type
                {
                    // Echoed as requested; absent stays absent (the combined certificate).
                    request["certificateType"] = Value::from(t.as_str());
                }
                match schemas.validate(version, "CertificateSigned", PayloadKind::Request, &request)
                {
                    Err(e) => (
                        CsrVerdict::CaFailure(format!(
                            "the issued chain cannot be sent in CertificateSigned: {e}"
                        )),
                        None,
                    ),
                    Ok(()) => {
                        record.status = CertificateRequestStatus::Signed;
                        record.serial = Some(issued.serial_hex.clone());
                        record.not_after = Some(issued.not_after);
                        let follow_up = FollowUp {
                            payload: request,
                            serial: issued.serial_hex,
                        };
                        (CsrVerdict::Accepted, Some(follow_up))
                    }
                }
            }
        },
    };
    record.reason = verdict.reason();
    CsrCheck {
        verdict,
        record,
        follow_up,
        subject_mismatch,
    }
}
