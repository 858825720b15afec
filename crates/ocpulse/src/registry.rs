//! The stations ocpulse knows: their state (shared by their session and the API) and,
//! when connected, a handle to their one live session.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ocpp_rpc::ProtocolVersion;
use ocpulse_core::StationState;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use ocpulse_core::session::CallOutcome;
use ocpulse_core::session::{Collected, TriggerWatch};

/// How a CSMS CALL ended, as its caller hears it.
#[derive(Debug)]
pub struct CallEnd {
    /// The station's answer, or what happened instead.
    pub outcome: CallOutcome,
    /// For a trigger's CALL: the station messages its watch collected.
    pub collected: Option<Box<Collected>>,
}

/// A request to a session to send a CALL.
#[derive(Debug)]
pub struct CallRequest {
    /// The action.
    pub action: String,
    /// The payload, already validated against the request schema.
    pub payload: Value,
    /// How long the station has to answer (for a trigger: until the trigger's deadline).
    pub timeout: Duration,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<CallEnd>,
    /// For a trigger: from the moment this CALL is sent, the session collects the station
    /// CALLs that answer it (a message goes to the oldest trigger that claims it and to no
    /// other), and replies only when the trigger is done.
    pub watch: Option<TriggerWatch>,
    /// The payload carries a secret (a new station password): the journal keeps the CALL
    /// with the secret's value replaced by `"<redacted>"`.
    pub redact: bool,
}

/// The handle the API uses to talk to a connected station's session.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    /// The negotiated version.
    pub protocol: ProtocolVersion,
    /// Distinguishes this connection from an earlier or later one of the same station.
    pub generation: u64,
    /// Where CALL requests go (boxed: an idle channel preallocates a block of slots per
    /// station, so slots must be pointer-sized).
    pub calls: mpsc::UnboundedSender<Box<CallRequest>>,
    /// Cancelled when a newer connection replaces this one.
    pub cancel: CancellationToken,
}

/// One known station.
#[derive(Debug, Clone)]
pub struct StationEntry {
    /// Its state, shared by its session and the API.
    pub state: Arc<Mutex<StationState>>,
    /// Its live session, if connected here.
    pub session: Option<SessionHandle>,
    /// In a cluster: the node holding its connection, when another node does.
    pub remote: Option<String>,
}

impl StationEntry {
    /// Whether it has a live connection, here or on another node of the cluster.
    pub fn connected(&self) -> bool {
        self.session.is_some() || self.remote.is_some()
    }
}

/// All known stations.
#[derive(Debug, Default)]
pub struct Registry {
    stations: RwLock<HashMap<String, StationEntry>>,
    generations: std::sync::atomic::AtomicU64,
}

impl Registry {
    /// A registry holding the stations loaded from the store.
    pub fn with_stations(stations: Vec<StationState>) -> Self {
        let map = stations
            .into_iter()
            .map(|mut s| {
                // Stored by a server that stopped with the station connected: not connected now.
                s.connected_since = None;
                (
                    s.id.clone(),
                    StationEntry {
                        state: Arc::new(Mutex::new(s)),
                        session: None,
                        remote: None,
                    },
                )
            })
            .collect();
        Self {
            stations: RwLock::new(map),
            generations: Default::default(),
        }
    }

    /// A snapshot of one station's entry.
    pub fn get(&self, id: &str) -> Option<StationEntry> {
        self.stations.read().get(id).cloned()
    }

    /// Every station's entry, sorted by id.
    pub fn all(&self) -> Vec<(String, StationEntry)> {
        let mut all: Vec<_> = self
            .stations
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Makes sure a station is known (a registered station that never connected), without
    /// touching one that is.
    pub fn ensure(&self, id: &str) {
        self.stations
            .write()
            .entry(id.to_owned())
            .or_insert_with(|| StationEntry {
                state: Arc::new(Mutex::new(StationState::new(id))),
                session: None,
                remote: None,
            });
    }

    /// Ends a station's live session, if any (its registration was disabled or deleted).
    pub fn disconnect_now(&self, id: &str) {
        if let Some(session) = self.get(id).and_then(|e| e.session) {
            session.cancel.cancel();
        }
    }

    /// Registers a new connection, replacing (and cancelling) any earlier one of the same
    /// station. Returns the shared state and the new session's generation.
    pub fn connect(
        &self,
        id: &str,
        protocol: ProtocolVersion,
        calls: mpsc::UnboundedSender<Box<CallRequest>>,
        cancel: CancellationToken,
    ) -> (Arc<Mutex<StationState>>, u64) {
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let handle = SessionHandle {
            protocol,
            generation,
            calls,
            cancel,
        };
        let mut map = self.stations.write();
        let entry = map.entry(id.to_owned()).or_insert_with(|| StationEntry {
            state: Arc::new(Mutex::new(StationState::new(id))),
            session: None,
            remote: None,
        });
        if let Some(old) = entry.session.replace(handle) {
            old.cancel.cancel();
        }
        entry.remote = None;
        (Arc::clone(&entry.state), generation)
    }

    /// How many stations have a live session on this node.
    pub fn local_sessions(&self) -> usize {
        self.stations
            .read()
            .values()
            .filter(|e| e.session.is_some())
            .count()
    }

    /// In a cluster: `node` now holds the station's connection (since `since`), or none
    /// does (`None`). A station with a session here is shown as it is here.
    pub fn set_remote(&self, id: &str, node: Option<String>, since: Option<ocpulse_core::Millis>) {
        let mut map = self.stations.write();
        if node.is_none() && !map.contains_key(id) {
            return;
        }
        let entry = map.entry(id.to_owned()).or_insert_with(|| StationEntry {
            state: Arc::new(Mutex::new(StationState::new(id))),
            session: None,
            remote: None,
        });
        if entry.session.is_some() && node.is_some() {
            // The newer connection elsewhere closes this one; until then it is here.
            entry.remote = node;
            return;
        }
        if entry.session.is_none() {
            let mut state = entry.state.lock();
            match &node {
                Some(n) => {
                    state.node = Some(n.clone());
                    state.connected_since = since.or(state.connected_since);
                }
                None if entry.remote.is_some() => state.connected_since = None,
                None => {}
            }
        }
        entry.remote = node;
    }

    /// In a cluster: stations shown as held by a node not in `live` are shown disconnected.
    pub fn forget_remote_except(&self, live: &[String]) {
        let mut map = self.stations.write();
        for entry in map.values_mut() {
            if let Some(node) = &entry.remote
                && !live.contains(node)
            {
                entry.remote = None;
                if entry.session.is_none() {
                    entry.state.lock().connected_since = None;
                }
            }
        }
    }

    /// Forgets a session when its connection ends, unless a newer one already replaced it.
    pub fn disconnect(&self, id: &str, generation: u64) {
        let mut map = self.stations.write();
        if let Some(entry) = map.get_mut(id)
            && entry
                .session
                .as_ref()
                .is_some_and(|s| s.generation == generation)
        {
            entry.session = None;
            // Under the registry lock, so a newer connection's start is never cleared (nor
            // one on another node that replaced this one).
            if entry.remote.is_none() {
                entry.state.lock().connected_since = None;
            }
        }
    }
}
