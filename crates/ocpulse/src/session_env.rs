//! What every station session shares, built once at start: the settings it applies, the
//! schemas, the CA behind SignCertificate and the source of 1.6 transaction ids.

use std::sync::{Arc, Mutex};

use ocpulse_ca::{CaError, CertificateAuthority};
use ocpulse_core::session::{
    CertificateIssuer, IssueRefusal, IssuedCertificate, SessionEnv, SessionSettings, TransactionIds,
};
use ocpulse_core::store::Store;
use ocpulse_core::trigger_plan::QUIET_PERIOD;

use crate::config::ServerConfig;

/// Validity of the station certificates ocpulse issues. A year: long enough that renewal is
/// rare, short enough that a lost key does not stay trusted for long.
const CERTIFICATE_VALIDITY_DAYS: u32 = 365;

/// How many 1.6 transaction ids are reserved from the store at a time.
const TX_ID_BLOCK: i64 = 1000;

/// The session environment for `config`.
pub fn build(
    config: &ServerConfig,
    schemas: Arc<ocpp_rpc::SchemaRegistry>,
    ca: Option<Arc<CertificateAuthority>>,
    store: Arc<dyn Store>,
) -> SessionEnv {
    SessionEnv {
        settings: SessionSettings {
            heartbeat_interval: config.heartbeat_interval,
            validation: config.validation,
            max_frame_bytes: config.limits.max_frame_bytes,
            call_timeout: config.call_timeout,
            quiet_period: QUIET_PERIOD,
            csr_organization: config.csr_organization.clone(),
        },
        schemas,
        issuer: ca.map(|ca| Arc::new(CaIssuer(ca)) as Arc<dyn CertificateIssuer>),
        transaction_ids: Arc::new(StoredTransactionIds {
            store,
            block: Mutex::new((0, 0)),
        }),
    }
}

/// The CA as the session's certificate issuer.
struct CaIssuer(Arc<CertificateAuthority>);

impl CertificateIssuer for CaIssuer {
    fn issue(
        &self,
        csr: &str,
        common_name: &str,
        organization: Option<&str>,
    ) -> Result<IssuedCertificate, IssueRefusal> {
        let rule = ocpulse_ca::SubjectRule {
            common_name: common_name.to_owned(),
            organization: organization.map(str::to_owned),
        };
        match self
            .0
            .sign_csr_for(csr, CERTIFICATE_VALIDITY_DAYS, Some(&rule))
        {
            Ok(signed) => Ok(IssuedCertificate {
                chain_pem: signed.chain_pem,
                serial_hex: signed.serial_hex,
                not_after: signed.not_after,
            }),
            Err(e @ CaError::SubjectMismatch { .. }) => {
                tracing::warn!(%common_name, error = %e, "SignCertificate for another identity refused");
                Err(IssueRefusal::SubjectMismatch(e.to_string()))
            }
            Err(
                e @ (CaError::CaExpired(_)
                | CaError::Random
                | CaError::Generate(_)
                | CaError::InvalidValidity { .. }),
            ) => {
                tracing::error!(%common_name, error = %e, "the CA could not issue a certificate");
                Err(IssueRefusal::CaFailure(e.to_string()))
            }
            Err(e) => Err(IssueRefusal::InvalidCsr(e.to_string())),
        }
    }

    fn csr_subject(&self, csr: &str) -> Option<String> {
        ocpulse_ca::csr_subject(csr).ok()
    }
}

/// 1.6 transaction ids reserved from the store a block at a time.
struct StoredTransactionIds {
    store: Arc<dyn Store>,
    block: Mutex<(i64, i64)>,
}

impl TransactionIds for StoredTransactionIds {
    fn next_transaction_id(&self) -> Option<i64> {
        let mut block = self.block.lock().ok()?;
        if block.0 >= block.1 {
            let start = self.store.reserve_transaction_ids(TX_ID_BLOCK).ok()?;
            *block = (start, start + TX_ID_BLOCK);
        }
        let id = block.0;
        block.0 += 1;
        Some(id)
    }
}
