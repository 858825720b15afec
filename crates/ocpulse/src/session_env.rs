//! What every station session shares, built once at start: the settings it applies, the
//! schemas, the CA behind SignCertificate, the source of 1.6 transaction ids and the
//! id-token registry.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ocpulse_ca::{CaError, CertificateAuthority};
use ocpulse_core::authorization::IdTokenRegistry;
use ocpulse_core::session::{
    CertificateIssuer, IssueRefusal, IssuedCertificate, SessionEnv, SessionSettings, TransactionIds,
};
use ocpulse_core::trigger_plan::QUIET_PERIOD;

use crate::config::ServerConfig;

/// Validity of the station certificates ocpulse issues. A year: long enough that renewal is
/// rare, short enough that a lost key does not stay trusted for long.
const CERTIFICATE_VALIDITY_DAYS: u32 = 365;

/// The session environment for `config`; 1.6 transaction ids come from `transaction_ids`
/// (counting on after the highest the store has committed); id tokens are looked up in
/// `id_tokens` (loaded from the store, kept current by the API).
pub fn build(
    config: &ServerConfig,
    schemas: Arc<ocpp_rpc::SchemaRegistry>,
    ca: Option<Arc<CertificateAuthority>>,
    transaction_ids: Arc<CountedTransactionIds>,
    id_tokens: Arc<IdTokenRegistry>,
) -> SessionEnv {
    SessionEnv {
        settings: SessionSettings {
            heartbeat_interval: config.heartbeat_interval,
            validation: config.validation,
            max_frame_bytes: config.limits.max_frame_bytes,
            call_timeout: config.call_timeout,
            quiet_period: QUIET_PERIOD,
            csr_organization: config.csr_organization.clone(),
            authorization: config.authorization,
            node: config.cluster.as_ref().map(|c| c.node_id.clone()),
        },
        schemas,
        issuer: ca.map(|ca| Arc::new(CaIssuer(ca)) as Arc<dyn CertificateIssuer>),
        transaction_ids,
        id_tokens,
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

/// 1.6 transaction ids from an in-memory counter: handing one out never waits for storage.
///
/// Durability comes from the commit, not from here: the id travels in the
/// StartTransaction's own write batch (`WriteBatch::transaction_id`), which the store
/// commits before the station sees the answer, and the counter starts after the highest id
/// committed. An id whose commit failed was never acknowledged, so skipping it is harmless.
///
/// In a cluster every node counts on its own, so ids are spread over the nodes: a node with
/// slot `s` of `stride` hands out only ids `≡ s (mod stride)`, and no two live nodes share
/// a slot (`cluster::bus` claims one), so no two nodes hand out the same id.
#[derive(Debug)]
pub struct CountedTransactionIds {
    /// The last `n` handed out (id = n · stride + slot).
    last: AtomicI64,
    stride: AtomicI64,
    slot: AtomicI64,
}

impl CountedTransactionIds {
    /// Ids counting on after `last_transaction_id`, the highest the store has committed.
    pub fn new(last_transaction_id: i64) -> Self {
        Self {
            last: AtomicI64::new(last_transaction_id),
            stride: AtomicI64::new(1),
            slot: AtomicI64::new(0),
        }
    }

    /// From now on, hands out only ids `≡ slot (mod stride)`, all above any handed out or
    /// committed so far. Called once, as the node joins its cluster, before any station
    /// connects.
    pub fn spread(&self, stride: i64, slot: i64) {
        let old = self.stride.load(Ordering::Relaxed).max(1);
        let highest = self
            .last
            .load(Ordering::Relaxed)
            .saturating_mul(old)
            .saturating_add(self.slot.load(Ordering::Relaxed));
        self.stride.store(stride.max(1), Ordering::Relaxed);
        self.slot.store(slot, Ordering::Relaxed);
        self.last
            .store(highest / stride.max(1) + 1, Ordering::Relaxed);
    }
}

impl TransactionIds for CountedTransactionIds {
    fn next_transaction_id(&self) -> Option<i64> {
        let n = self.last.fetch_add(1, Ordering::Relaxed).checked_add(1)?;
        n.checked_mul(self.stride.load(Ordering::Relaxed))?
            .checked_add(self.slot.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod transaction_id_tests {
    use super::*;

    #[test]
    fn ids_continue_after_the_committed_highest_and_spread_nodes_never_share_one() {
        let alone = CountedTransactionIds::new(41);
        assert_eq!(alone.next_transaction_id(), Some(42));
        let a = CountedTransactionIds::new(1000);
        let b = CountedTransactionIds::new(990);
        a.spread(64, 0);
        b.spread(64, 1);
        let ids_a: Vec<i64> = (0..100).filter_map(|_| a.next_transaction_id()).collect();
        let ids_b: Vec<i64> = (0..100).filter_map(|_| b.next_transaction_id()).collect();
        assert!(ids_a.iter().all(|id| *id > 1000 && id % 64 == 0));
        assert!(ids_b.iter().all(|id| *id > 990 && id % 64 == 1));
        assert!(ids_a.iter().all(|id| !ids_b.contains(id)));
    }
}
