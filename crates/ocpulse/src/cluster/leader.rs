//! Exactly-once background work: one node of the cluster, the leader, runs bulk jobs,
//! schedules, freshness targets and the liveness probe, alert evaluation and webhook
//! deliveries, firmware rollouts, configuration applies, retention and snapshots, and
//! serves their API routes (other nodes hand those requests to it, `forward`).
//!
//! The lease is a key in a JetStream key-value bucket whose entries expire after `LEASE`:
//! a node takes it by creating the key (only one create can succeed), keeps it by updating
//! it at its last revision every `RENEW`, and when the leader dies its key expires and the
//! next node to try creates it, then resumes the work from the store. A leader that cannot
//! renew because NATS is away keeps trying: while NATS is down no other node can take the
//! lease either, and when it is back the renewal at its last revision succeeds if the lease
//! is still its own. If the lease expired meanwhile and that renewal is refused (another
//! node may have taken it), the old leader stops itself, so the work never runs twice for
//! longer than one renewal period.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use serde::{Deserialize, Serialize};

use super::bus::Bus;
use crate::app::App;

/// How long a lease lasts without renewal: the most a dead leader's work waits (a NATS
/// restart shorter than this keeps the leader).
pub const LEASE: Duration = Duration::from_secs(10);

/// How often the leader renews, and others try to take the lease.
const RENEW: Duration = Duration::from_secs(1);

/// The lease key.
const KEY: &str = "leader";

/// The lease's value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaderRecord {
    /// The leading node.
    pub node: String,
    /// Its process.
    pub instance: String,
}

/// The lease bucket and whether this node holds it.
pub struct Lease {
    bucket: kv::Store,
    held: AtomicBool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("held", &self.held.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// Opens the cluster's lease bucket.
    pub async fn open(client: &async_nats::Client, cluster: &str) -> anyhow::Result<Self> {
        let js = jetstream::new(client.clone());
        let bucket = super::bus::bucket(&js, format!("{cluster}_leader"), LEASE).await?;
        Ok(Self {
            bucket,
            held: AtomicBool::new(false),
        })
    }

    /// Whether this node leads now.
    pub fn held(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }

    /// The leader now, if any node holds the lease.
    pub async fn leader(&self) -> Option<LeaderRecord> {
        let value = self.bucket.get(KEY).await.ok()??;
        serde_json::from_slice(&value).ok()
    }
}

/// Tries for the lease every `RENEW` until this node gets it, then runs `start` (the
/// background work, resumed from the store) once and renews until the process stops.
pub fn campaign<F, Fut>(app: &Arc<App>, bus: &Arc<Bus>, start: F)
where
    F: FnOnce(Arc<App>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let app = Arc::clone(app);
    let bus = Arc::clone(bus);
    tokio::spawn(async move {
        let record = LeaderRecord {
            node: bus.node_id.clone(),
            instance: app.cluster.instance.clone(),
        };
        let Ok(value) = serde_json::to_vec(&record) else {
            return;
        };
        let mut tick = tokio::time::interval(RENEW);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let revision = loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = app.shutdown.cancelled() => return,
            }
            if let Ok(revision) = bus.lease.bucket.create(KEY, value.clone().into()).await {
                break revision;
            }
        };
        bus.lease.held.store(true, Ordering::Relaxed);
        tracing::info!(node = %bus.node_id, "this node leads the cluster's background work");
        if let Err(e) = start(Arc::clone(&app)).await {
            tracing::error!(error = %e, "cannot start the background work; stopping this node");
            app.shutdown.cancel();
            return;
        }
        let mut revision = revision;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = app.shutdown.cancelled() => break,
            }
            match bus
                .lease
                .bucket
                .update(KEY, value.clone().into(), revision)
                .await
            {
                Ok(next) => revision = next,
                Err(e) if e.kind() != kv::UpdateErrorKind::WrongLastRevision => {
                    tracing::warn!(error = %e, "cannot renew the cluster lease; retrying");
                }
                Err(e) => {
                    tracing::error!(
                        error = %e,
                        "lost the cluster lease on background work (it expired before this node could renew it); stopping this node so it never runs beside the new leader"
                    );
                    bus.lease.held.store(false, Ordering::Relaxed);
                    app.shutdown.cancel();
                    return;
                }
            }
        }
        // Stopping: the lease goes at once, so another node takes over without waiting.
        let _ = bus
            .lease
            .bucket
            .delete_expect_revision(KEY, Some(revision))
            .await;
        bus.lease.held.store(false, Ordering::Relaxed);
    });
}
