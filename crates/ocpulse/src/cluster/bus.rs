//! The node's NATS connection: the ownership bucket (who holds each station), the nodes
//! bucket (which processes are alive), and the tasks that keep both true.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;
use ocpulse_core::cluster::{self, NodeRecord, Ownership};
use parking_lot::Mutex;

use crate::app::App;
use crate::config::ClusterSettings;

/// How often a node refreshes its liveness record.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long a request for a station a draining node closed waits for it to reconnect to
/// another node: a station reconnects at once after a 1012 close, through the load
/// balancer (which no longer sends it to the draining node).
pub const HANDOVER: Duration = Duration::from_secs(15);

/// The most nodes a cluster has: each live node holds one of this many slots, and hands
/// out only the 1.6 transaction ids of its slot (`session_env::CountedTransactionIds`).
pub const SLOTS: i64 = 64;

/// How long a watch that ended (NATS restarted) waits before it is opened again.
const REWATCH: Duration = Duration::from_millis(500);

/// A node whose record is older than this is taken for dead: its stations have no owner
/// (their next connection, anywhere, claims them). Three missed heartbeats.
pub const NODE_TTL: Duration = Duration::from_secs(6);

/// The node's side of NATS.
pub struct Bus {
    /// This node's id.
    pub node_id: String,
    /// The subject prefix and bucket names' stem (`--cluster-name`).
    pub name: String,
    /// The connection.
    pub client: async_nats::Client,
    stations: kv::Store,
    nodes: kv::Store,
    /// The transaction-id slots held by live nodes (`SLOTS`).
    slots: kv::Store,
    /// This node's slot, once claimed.
    slot: std::sync::atomic::AtomicI64,
    /// The live nodes' records, kept by a watch of the nodes bucket.
    seen: Mutex<HashMap<String, NodeRecord>>,
    /// The ownerships this node wrote, by station: what a newer one elsewhere is compared to.
    held: Mutex<HashMap<String, Ownership>>,
    /// Stations a draining node let go, and until when a request for one waits for it to
    /// reconnect elsewhere (`moving`).
    moving: Mutex<HashMap<String, std::time::Instant>>,
    /// The lease on the cluster's background work.
    pub lease: super::leader::Lease,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("node_id", &self.node_id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Opens a key-value bucket (one value per key; entries expire after `max_age` unless
/// zero), creating it the first time any node starts. The bucket's stream is made as the
/// client's `create_key_value` makes it, without its account query, whose answer NATS
/// servers before 2.10 give in a shape the client cannot read.
pub async fn bucket(
    js: &jetstream::Context,
    name: String,
    max_age: Duration,
) -> anyhow::Result<kv::Store> {
    if let Ok(store) = js.get_key_value(name.as_str()).await {
        return Ok(store);
    }
    let stream = jetstream::stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: 1,
        discard: jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    };
    js.get_or_create_stream(stream).await.with_context(|| {
        format!("cannot create the JetStream key-value bucket {name:?} (is JetStream enabled on the NATS server? start it with -js)")
    })?;
    js.get_key_value(name.as_str())
        .await
        .with_context(|| format!("cannot open the JetStream key-value bucket {name:?}"))
}

impl Bus {
    /// Connects and opens the buckets.
    pub async fn connect(settings: &ClusterSettings, instance: &str) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("ocpulse {} ({instance})", settings.node_id))
            .connection_timeout(Duration::from_secs(5))
            .retry_on_initial_connect()
            .connect(settings.url.as_str())
            .await
            .with_context(|| {
                format!(
                    "cannot connect to NATS at {}",
                    crate::server::describe_database(&settings.url)
                )
            })?;
        // Wait (bounded) for the first connection, so a wrong URL fails the start.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while client.connection_state() != async_nats::connection::State::Connected {
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "cannot connect to NATS at {} within 10 s",
                    crate::server::describe_database(&settings.url)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let js = jetstream::new(client.clone());
        let stations = bucket(&js, format!("{}_stations", settings.name), Duration::ZERO).await?;
        let nodes = bucket(&js, format!("{}_nodes", settings.name), NODE_TTL * 2).await?;
        let lease = super::leader::Lease::open(&client, &settings.name).await?;
        let slots = bucket(&js, format!("{}_slots", settings.name), NODE_TTL * 2).await?;
        Ok(Self {
            slots,
            slot: std::sync::atomic::AtomicI64::new(-1),
            lease,
            node_id: settings.node_id.clone(),
            name: settings.name.clone(),
            client,
            stations,
            nodes,
            seen: Mutex::default(),
            held: Mutex::default(),
            moving: Mutex::default(),
        })
    }

    /// Claims a free transaction-id slot for this process (held while it refreshes it with
    /// its heartbeat; a dead node's slot lapses after `NODE_TTL` twice over).
    pub async fn claim_slot(&self, instance: &str) -> anyhow::Result<i64> {
        for slot in 0..SLOTS {
            if self
                .slots
                .create(format!("s{slot}"), instance.to_owned().into_bytes().into())
                .await
                .is_ok()
            {
                self.slot.store(slot, std::sync::atomic::Ordering::Relaxed);
                return Ok(slot);
            }
        }
        anyhow::bail!(
            "all {SLOTS} node slots of the cluster are taken: a cluster has at most {SLOTS} nodes"
        )
    }

    /// The subject a node serves forwarded API requests on.
    pub fn api_subject(&self, node: &str) -> String {
        format!("{}.node.{node}.api", self.name)
    }

    /// Why the cluster side is not healthy, if it is not: the readiness check.
    pub fn health(&self) -> Option<String> {
        (self.client.connection_state() != async_nats::connection::State::Connected)
            .then(|| "not connected to NATS (reconnecting)".to_owned())
    }

    /// The live nodes, by id.
    pub fn live_nodes(&self) -> Vec<NodeRecord> {
        let now = crate::now_ms();
        let ttl = i64::try_from(NODE_TTL.as_millis()).unwrap_or(i64::MAX);
        let mut nodes: Vec<NodeRecord> = self
            .seen
            .lock()
            .values()
            .filter(|n| now - n.heartbeat_at <= ttl)
            .cloned()
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        nodes
    }

    /// Marks a station this draining node let go as moving.
    pub fn let_go(&self, station_id: &str) {
        self.moving
            .lock()
            .insert(station_id.to_owned(), std::time::Instant::now() + HANDOVER);
    }

    /// Whether the station is being handed over by a draining node: a request for it waits
    /// (up to `HANDOVER`) for it to reconnect instead of failing.
    pub fn moving(&self, station_id: &str) -> bool {
        let mut moving = self.moving.lock();
        match moving.get(station_id) {
            Some(until) if *until > std::time::Instant::now() => true,
            Some(_) => {
                moving.remove(station_id);
                false
            }
            None => false,
        }
    }

    /// Whether `node` is alive and draining.
    pub fn is_draining(&self, node: &str) -> bool {
        self.seen.lock().get(node).is_some_and(|n| n.draining)
    }

    /// Who holds the station, if a live node does.
    pub async fn owner(&self, station_id: &str) -> Option<Ownership> {
        let key = cluster::station_key(station_id);
        let value = match self.stations.get(key).await {
            Ok(value) => value?,
            Err(e) => {
                tracing::warn!(station = station_id, error = %e, "cannot read the station's owner from NATS");
                return None;
            }
        };
        let owner: Ownership = serde_json::from_slice(&value).ok()?;
        cluster::is_live(&owner, &self.live_nodes()).then_some(owner)
    }

    /// Records that this node holds the station.
    pub async fn claim(&self, station_id: &str, owner: &Ownership) {
        self.held
            .lock()
            .insert(station_id.to_owned(), owner.clone());
        let Ok(value) = serde_json::to_vec(owner) else {
            return;
        };
        if let Err(e) = self
            .stations
            .put(cluster::station_key(station_id), value.into())
            .await
        {
            tracing::warn!(station = station_id, error = %e, "cannot record the station's owner in NATS");
        }
    }

    /// Removes this node's ownership of the station, unless a newer connection replaced it.
    pub async fn release(&self, station_id: &str, generation: u64) {
        {
            let mut held = self.held.lock();
            match held.get(station_id) {
                Some(o) if o.generation == generation => {
                    held.remove(station_id);
                }
                _ => return,
            }
        }
        let key = cluster::station_key(station_id);
        let Ok(Some(entry)) = self.stations.entry(key.clone()).await else {
            return;
        };
        let ours = serde_json::from_slice::<Ownership>(&entry.value)
            .is_ok_and(|o| o.node == self.node_id && o.generation == generation);
        if ours
            && let Err(e) = self
                .stations
                .delete_expect_revision(key, Some(entry.revision))
                .await
        {
            tracing::debug!(station = station_id, error = %e, "ownership changed while released");
        }
    }
}

/// Answers the requests other nodes send on `subject` until the node stops, each on a task
/// of its own: `handle` turns a request into its reply's payload (`None`: no reply).
/// The one loop behind every node-to-node request (API hand-offs, triggers, calls).
pub async fn respond<F, Fut>(
    app: &App,
    bus: &Arc<Bus>,
    subject: String,
    handle: F,
) -> anyhow::Result<()>
where
    F: Fn(async_nats::Message) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<Vec<u8>>> + Send + 'static,
{
    let mut requests = bus
        .client
        .subscribe(subject.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot serve {subject} on NATS: {e}"))?;
    let bus = Arc::clone(bus);
    let shutdown = app.shutdown.clone();
    let handle = Arc::new(handle);
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                m = requests.next() => m,
                () = shutdown.cancelled() => None,
            };
            let Some(message) = message else { break };
            let Some(reply) = message.reply.clone() else {
                continue;
            };
            let answer = handle(message);
            let bus = Arc::clone(&bus);
            let subject = subject.clone();
            tokio::spawn(async move {
                let Some(payload) = answer.await else {
                    return;
                };
                if let Err(e) = bus.client.publish(reply, payload.into()).await {
                    tracing::warn!(error = %e, %subject, "cannot answer another node's request");
                }
            });
        }
    });
    Ok(())
}

/// Starts the node's upkeep: the liveness record every `HEARTBEAT`, the watch of the nodes
/// bucket, and the watch of ownerships that closes this node's connection of a station
/// that connected again elsewhere. Returns once the first record is written and read back.
pub async fn start(app: &Arc<App>, bus: &Arc<Bus>) -> anyhow::Result<()> {
    heartbeat(app, bus).await?;
    let watcher = Arc::clone(bus);
    let stop = app.shutdown.clone();
    tokio::spawn(async move {
        // A watch ends when NATS restarts: it is opened again, and replays every record.
        while !stop.is_cancelled() {
            let mut nodes = match watcher.nodes.watch_all().await {
                Ok(nodes) => nodes,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch the cluster's nodes; retrying");
                    tokio::time::sleep(REWATCH).await;
                    continue;
                }
            };
            while let Some(entry) = nodes.next().await {
                let Ok(entry) = entry else { continue };
                match entry.operation {
                    kv::Operation::Put => {
                        if let Ok(record) = serde_json::from_slice::<NodeRecord>(&entry.value) {
                            watcher.seen.lock().insert(record.id.clone(), record);
                        }
                    }
                    kv::Operation::Delete | kv::Operation::Purge => {
                        watcher.seen.lock().remove(&entry.key);
                    }
                }
            }
            tokio::time::sleep(REWATCH).await;
        }
    });
    let beat_app = Arc::clone(app);
    let beat_bus = Arc::clone(bus);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = beat_app.shutdown.cancelled() => break,
            }
            if let Err(e) = heartbeat(&beat_app, &beat_bus).await {
                tracing::warn!(error = %e, "cannot refresh this node's record in NATS");
            }
            forget_dead_owners(&beat_app, &beat_bus);
        }
        // Stopping: the node's record goes, so its stations' ownerships lapse at once.
        let _ = beat_bus.nodes.delete(beat_bus.node_id.as_str()).await;
    });
    let app = Arc::clone(app);
    let bus = Arc::clone(bus);
    tokio::spawn(async move {
        while !app.shutdown.is_cancelled() {
            let mut owners = match bus.stations.watch_all().await {
                Ok(owners) => owners,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch the stations' owners; retrying");
                    tokio::time::sleep(REWATCH).await;
                    continue;
                }
            };
            while let Some(entry) = owners.next().await {
                let Ok(entry) = entry else { continue };
                let Some(station) = cluster::station_of_key(&entry.key) else {
                    continue;
                };
                match entry.operation {
                    kv::Operation::Put => {
                        if let Ok(owner) = serde_json::from_slice::<Ownership>(&entry.value) {
                            bus.moving.lock().remove(&station);
                            owner_seen(&app, &bus, &station, owner);
                        }
                    }
                    kv::Operation::Delete | kv::Operation::Purge => {
                        let was = app.stations.get(&station).and_then(|e| e.remote);
                        if was.is_some_and(|node| bus.is_draining(&node)) {
                            bus.moving
                                .lock()
                                .insert(station.clone(), std::time::Instant::now() + HANDOVER);
                        }
                        app.stations.set_remote(&station, None, None);
                    }
                }
            }
            tokio::time::sleep(REWATCH).await;
        }
    });
    Ok(())
}

/// Writes this node's liveness record.
pub async fn heartbeat(app: &App, bus: &Bus) -> anyhow::Result<()> {
    let record = app.cluster.record(app, &bus.node_id, bus.lease.held());
    bus.seen.lock().insert(record.id.clone(), record.clone());
    let slot = bus.slot.load(std::sync::atomic::Ordering::Relaxed);
    if slot >= 0 {
        bus.slots
            .put(
                format!("s{slot}"),
                app.cluster.instance.clone().into_bytes().into(),
            )
            .await
            .context("cannot refresh this node's slot")?;
    }
    bus.nodes
        .put(bus.node_id.as_str(), serde_json::to_vec(&record)?.into())
        .await
        .context("cannot write this node's record")?;
    Ok(())
}

/// A station's ownership changed: when another node now holds it, this node's connection
/// of it (if older) closes, and this node shows it connected there.
fn owner_seen(app: &App, bus: &Bus, station: &str, owner: Ownership) {
    if owner.node == bus.node_id && owner.instance == app.cluster.instance {
        return;
    }
    let ours = bus.held.lock().get(station).cloned();
    if let Some(ours) = ours {
        if !owner.replaces(&ours) {
            return;
        }
        bus.held.lock().remove(station);
        if let Some(session) = app.stations.get(station).and_then(|e| e.session)
            && session.generation == ours.generation
        {
            tracing::info!(
                station,
                node = %owner.node,
                "the station connected again on another node; closing this connection"
            );
            session.cancel.cancel();
        }
    }
    app.stations
        .set_remote(station, Some(owner.node), Some(owner.since));
}

/// Stations shown as held by a node that is no longer alive are shown disconnected.
fn forget_dead_owners(app: &App, bus: &Bus) {
    let live: Vec<String> = bus.live_nodes().into_iter().map(|n| n.id).collect();
    app.stations.forget_remote_except(&live);
}
