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
            // A lease whose node is gone is no leader: it lapses within the lease time.
            bus.lease
                .leader()
                .await
                .map(|l| l.node)
                .filter(|l| nodes.iter().any(|n| n.id == *l)),
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

/// What a drain request started.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DrainView {
    /// The node draining.
    node: String,
    /// Always true: the node takes no new stations, closes its own over the drain time,
    /// then stops.
    draining: bool,
    /// Stations it held when the drain started.
    stations: usize,
    /// Over how long their closes are spread, in seconds.
    drain_seconds: u64,
}

/// Drains a node: it takes no new stations, closes its stations (WebSocket 1012) over
/// `--drain-time` once each has no trigger running, so they reconnect to other nodes, then
/// stops. Any node takes the request for any node.
#[utoipa::path(
    post,
    path = "/api/v1/cluster/nodes/{id}/drain",
    tag = "meta",
    params(("id" = String, Path, description = "The node (`local` for a server alone)", example = "node-a")),
    responses(
        (status = 202, description = "The drain started (or was already running)", body = DrainView),
        (status = 404, description = "No live node has this id (`node_not_found`)", body = ApiErrorBody),
    )
)]
pub async fn drain(
    State(app): State<Arc<App>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    _undecodable_is_refused: Query<Params>,
) -> Result<(axum::http::StatusCode, Json<DrainView>), super::ApiError> {
    let this = app.cluster.node_id().unwrap_or("local").to_owned();
    if id != this {
        // A live node other than this one is reached through the bus (`forward`) before
        // this handler runs; what arrives here names no live node.
        return Err(super::ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "node_not_found",
            format!(
                "no live node is called {id:?}; GET /api/v1/cluster lists them (this one is {this:?})"
            ),
        ));
    }
    let stations = app.stations.local_sessions();
    let draining = Arc::clone(&app);
    tokio::spawn(async move { crate::cluster::drain::run(&draining).await });
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(DrainView {
            node: this,
            draining: true,
            stations,
            drain_seconds: app.config.drain_time.as_secs(),
        }),
    ))
}
