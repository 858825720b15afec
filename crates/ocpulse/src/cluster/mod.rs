//! Cluster mode: several `ocpulse serve` processes on one PostgreSQL database and one NATS.
//!
//! A server alone runs the same code with no bus: it holds every connected station itself.
//! With `--cluster-url`, the node joins NATS (`bus`): it keeps a liveness record in the
//! nodes bucket, writes who holds each station it accepts into the ownership bucket, closes
//! its socket when a newer connection of the station opened on another node, and serves
//! API requests other nodes hand it (`forward`). Its store tails the shared journal, and
//! `follow` folds the entries of stations held elsewhere into this node's copy of them.
//! What an ownership means and which connection wins is `ocpulse_core::cluster`.

pub mod bus;
pub mod drain;
pub mod follow;
pub mod forward;
pub mod leader;
pub mod remote;

use std::sync::{Arc, OnceLock};

use ocpulse_core::Millis;
use ocpulse_core::cluster::{NodeRecord, Ownership};

use crate::app::App;
use crate::config::ClusterSettings;

/// This server's place in its cluster (alone: no bus).
#[derive(Debug)]
pub struct Cluster {
    /// This process, told apart from an earlier one of the same node.
    pub instance: String,
    /// When this process started.
    pub started_at: Millis,
    /// The node's NATS connection, once joined (never, for a server alone).
    bus: OnceLock<Arc<bus::Bus>>,
    /// Whether the node is draining, and how its closes are spread.
    pub drain: drain::Drain,
}

impl Default for Cluster {
    fn default() -> Self {
        Self {
            instance: uuid::Uuid::new_v4().simple().to_string(),
            started_at: crate::now_ms(),
            bus: OnceLock::new(),
            drain: drain::Drain::default(),
        }
    }
}

impl Cluster {
    /// The NATS side, in cluster mode.
    pub fn bus(&self) -> Option<&Arc<bus::Bus>> {
        self.bus.get()
    }

    /// This node's id, in cluster mode.
    pub fn node_id(&self) -> Option<&str> {
        self.bus().map(|b| b.node_id.as_str())
    }

    /// Who holds `station_id`'s live connection on another node, if anyone does: the node
    /// to hand a request for it to. `None` alone, or when no live node holds it.
    pub async fn owner_elsewhere(&self, station_id: &str) -> Option<Ownership> {
        let bus = self.bus()?;
        let owner = bus.owner(station_id).await?;
        (owner.node != bus.node_id).then_some(owner)
    }

    /// The live nodes (alone: this one), by id.
    pub fn nodes(&self, app: &App) -> Vec<NodeRecord> {
        match self.bus() {
            Some(bus) => bus.live_nodes(),
            None => vec![self.record(app, "local", true)],
        }
    }

    /// This node's record as others see it.
    pub fn record(&self, app: &App, id: &str, leader: bool) -> NodeRecord {
        NodeRecord {
            id: id.to_owned(),
            instance: self.instance.clone(),
            started_at: self.started_at,
            heartbeat_at: crate::now_ms(),
            stations: app.stations.local_sessions(),
            leader,
            draining: self.drain.is_draining(),
            ready: app.readiness.ready(),
        }
    }
}

/// Joins the cluster `settings` names: connects to NATS, opens the buckets, and starts the
/// node's tasks (heartbeat, takeovers, the forwarded-request responder, following other
/// nodes' stations, and the campaign for the lease that runs `background` on one node).
/// Fails saying why when NATS cannot be reached or has no JetStream.
pub async fn join<F, Fut>(
    app: &Arc<App>,
    settings: &ClusterSettings,
    router: axum::Router,
    background: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Arc<App>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let bus = Arc::new(bus::Bus::connect(settings, &app.cluster.instance).await?);
    // Before any station connects: this node's 1.6 transaction ids are its slot's alone.
    let slot = bus.claim_slot(&app.cluster.instance).await?;
    app.transaction_ids.spread(bus::SLOTS, slot);
    if app.cluster.bus.set(Arc::clone(&bus)).is_err() {
        anyhow::bail!("this server already joined a cluster");
    }
    bus::start(app, &bus).await?;
    forward::serve(app, &bus, router).await?;
    remote::serve(app, &bus).await?;
    remote::serve_calls(app, &bus).await?;
    follow::start(app);
    shared_docs(app);
    leader::campaign(app, &bus, background);
    tracing::info!(
        node = %bus.node_id,
        cluster = %settings.name,
        "joined the cluster"
    );
    Ok(())
}

/// How often a node re-reads what every node's handshakes and sessions decide from: station
/// registrations and the id-token registry (API tokens are re-read on a miss already).
const SHARED_DOCS_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// Keeps this node's registrations and id tokens as the store has them, so a change made
/// through any node reaches every node's handshakes and answers within `SHARED_DOCS_EVERY`.
fn shared_docs(app: &Arc<App>) {
    let app = Arc::clone(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SHARED_DOCS_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = app.shutdown.cancelled() => break,
            }
            match app.gate.registrations.reload(&*app.store).await {
                // A station registered elsewhere is listed here too, as at start.
                Ok(()) => {
                    for reg in app.gate.registrations.all() {
                        app.stations.ensure(&reg.id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot re-read the station registrations"),
            }
            if let Err(e) = crate::id_tokens::reload(&*app.store, &app.id_tokens).await {
                tracing::warn!(error = %e, "cannot re-read the id-token registry");
            }
        }
    });
}

/// Makes sure this node knows where `station_id` is held before fleet work plans for it: a
/// station with no session here and no holder on record (its holder's record was late
/// under load, or its ownership's watch event is still on its way) is looked up in the
/// ownership bucket, and the holder found is recorded. Alone: nothing to do.
pub async fn locate(app: &App, station_id: &str) {
    let Some(bus) = app.cluster.bus() else {
        return;
    };
    let known = app
        .stations
        .get(station_id)
        .is_some_and(|e| e.session.is_some() || e.remote.is_some());
    if known {
        return;
    }
    if let Some(owner) = bus.owner(station_id).await
        && owner.node != bus.node_id
    {
        app.stations
            .set_remote(station_id, Some(owner.node), Some(owner.since));
    }
}

/// A station connected here: the cluster learns this node holds it (a newer connection of
/// it on another node then closes this one). Alone: nothing to say.
pub fn claimed(app: &Arc<App>, station_id: &str, generation: u64, protocol: &str) {
    let Some(bus) = app.cluster.bus().cloned() else {
        return;
    };
    let owner = Ownership {
        node: bus.node_id.clone(),
        instance: app.cluster.instance.clone(),
        generation,
        since: crate::now_ms(),
        protocol: protocol.to_owned(),
    };
    let station = station_id.to_owned();
    tokio::spawn(async move { bus.claim(&station, &owner).await });
}

/// A station's connection here ended: its ownership is removed unless a newer connection
/// (here or elsewhere) already replaced it.
pub fn released(app: &Arc<App>, station_id: &str, generation: u64) {
    let Some(bus) = app.cluster.bus().cloned() else {
        return;
    };
    if app.cluster.drain.is_draining() {
        bus.let_go(station_id);
    }
    let station = station_id.to_owned();
    tokio::spawn(async move { bus.release(&station, generation).await });
}
