//! Every node shows every station: the entries of stations held by other nodes, read from
//! the shared journal's tail, are folded into this node's copy of their state, the same
//! fold start-up uses (`ocpulse_core::projection`). A station held here is left to its
//! session, which applies its own entries as it commits them.

use std::collections::HashMap;
use std::sync::Arc;

use ocpulse_core::journal::{EVENT, STATION_CONNECTED};
use ocpulse_core::projection::{Connected, Follower};
use tokio::sync::broadcast::error::RecvError;

use crate::app::App;

/// Starts folding other nodes' entries into this node's registry.
pub fn start(app: &Arc<App>) {
    let Some(node) = app.cluster.node_id().map(str::to_owned) else {
        return;
    };
    let mut entries = app.store.subscribe();
    let app = Arc::clone(app);
    tokio::spawn(async move {
        let mut follower = Follower::default();
        // The node whose connection each station's latest `StationConnected` came from:
        // entries after this node's own connect are its session's, already applied.
        let mut holder: HashMap<String, Option<String>> = HashMap::new();
        loop {
            let entry = match entries.recv().await {
                Ok(entry) => entry,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "fell behind the shared journal; other nodes' stations may show stale state until their next messages"
                    );
                    continue;
                }
                Err(RecvError::Closed) => break,
            };
            if entry.frame_type == EVENT && entry.action.as_deref() == Some(STATION_CONNECTED) {
                let by = serde_json::from_str::<Connected>(&entry.payload)
                    .ok()
                    .and_then(|c| c.node);
                if by.as_deref() == Some(node.as_str()) {
                    follower.forget(&entry.station_id);
                }
                holder.insert(entry.station_id.clone(), by);
            }
            let ours = holder
                .get(&entry.station_id)
                .is_some_and(|by| by.as_deref() == Some(node.as_str()));
            if ours {
                continue;
            }
            app.stations.ensure(&entry.station_id);
            let Some(station) = app.stations.get(&entry.station_id) else {
                continue;
            };
            if station.session.is_some() {
                continue;
            }
            follower.apply(&mut station.state.lock(), &entry);
        }
    });
}
