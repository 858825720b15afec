//! `GET /api/v1/cluster`: the nodes serving this fleet, the stations each holds, which one
//! leads the background work, and whether each is healthy. A server alone is a cluster of
//! one node, `local`, that leads.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use ocpulse_core::rfc3339;
use serde::Serialize;
use utoipa::ToSchema;

use super::openapi::ApiErrorBody;
use super::query::Params;
use crate::app::App;

/// The cluster as this node sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Cluster)]
pub(crate) struct ClusterView {
    /// `single` (a server alone) or `cluster` (`--cluster-url`).
    #[schema(example = "cluster")]
    mode: &'static str,
    /// The node that answered.
    #[schema(example = "node-a")]
    node: String,
    /// The node leading the background work (jobs, schedules, alerts, ...), if any now.
    leader: Option<String>,
    /// The live nodes, by id.
    nodes: Vec<NodeView>,
    /// Stations connected to all of them.
    stations: usize,
}

/// One live node.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeView {
    /// Its `--node-id`.
    id: String,
    /// When its process started (RFC 3339).
    started_at: String,
    /// Its last liveness record (RFC 3339); a node silent for 6 s is dropped from the list.
    heartbeat_at: String,
    /// Stations connected to it.
    stations: usize,
    /// Whether it leads the background work.
    leader: bool,
    /// Whether it is draining (taking no new stations).
    draining: bool,
    /// Whether its readiness checks passed.
    ready: bool,
}

/// The nodes, their stations, the leader and their health.
#[utoipa::path(
    get,
    path = "/api/v1/cluster",
    tag = "meta",
    responses(
        (status = 200, description = "The cluster's live nodes", body = ClusterView),
        (status = 400, description = "Any query parameter (`invalid_query`: this endpoint takes none) or an undecodable query", body = ApiErrorBody),
    )
)]
pub async fn show(
    State(app): State<Arc<App>>,
    _undecodable_is_refused: Query<Params>,
) -> Json<ClusterView> {
    let nodes = app.cluster.nodes(&app);
    let (mode, node, leader) = match app.cluster.bus() {
        Some(bus) => (
            "cluster",
            bus.node_id.clone(),
            bus.lease.leader().await.map(|l| l.node),
        ),
        None => ("single", "local".to_owned(), Some("local".to_owned())),
    };
    Json(ClusterView {
        mode,
        node,
        leader: leader.clone(),
        stations: nodes.iter().map(|n| n.stations).sum(),
        nodes: nodes
            .into_iter()
            .map(|n| NodeView {
                leader: leader.as_deref() == Some(n.id.as_str()),
                id: n.id,
                started_at: rfc3339(n.started_at),
                heartbeat_at: rfc3339(n.heartbeat_at),
                stations: n.stations,
                draining: n.draining,
                ready: n.ready,
            })
            .collect(),
    })
}
