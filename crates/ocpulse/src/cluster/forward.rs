//! Any node answers any API call: a request about a station another node holds is handed
//! to that node over NATS request/reply and served there as if it had come to it, so the
//! caller gets the same answer (status, JSON, errors) whichever node it asked. The asking
//! node has authenticated and authorized the request; the owner trusts its cluster's bus
//! and serves it with the caller the asking node established.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ocpulse_core::cluster::{ForwardedRequest, ForwardedResponse};
use tower::ServiceExt;

use super::bus::Bus;
use crate::api::ApiError;
use crate::api::auth::Caller;
use crate::app::App;

/// The longest a forwarded request may take: the longest trigger wait the API allows
/// (`timeoutMs` up to 300 s) with room for the hop.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(330);

/// The largest request body handed to another node (NATS' default payload limit
/// is 1 MiB; an answer is checked against the server's own limit, `reply_payload`).
const MAX_BODY: usize = 1 << 20;

/// The request headers an answer depends on; the rest (authorization, host, cookies) stay
/// with the node that was asked.
const KEPT_HEADERS: [&str; 4] = [
    "content-type",
    "accept",
    "x-requested-by",
    "idempotency-key",
];

/// Marks a request another node handed to this one, with the caller it established: the
/// API's guard takes the caller from it instead of authenticating again. Only this module
/// inserts it, from the bus; nothing from a socket can.
#[derive(Debug, Clone)]
pub struct Forwarded {
    /// Who called, as the asking node established it.
    pub caller: Option<Caller>,
    /// Nodes it passed before this one.
    pub hops: u8,
}

/// The routes of the cluster's background work, served by the leader (`leader`): their
/// state lives where the work runs.
const LEADER_ROUTES: [&str; 10] = [
    "/api/v1/trigger-jobs",
    "/api/v1/schedules",
    "/api/v1/freshness",
    "/api/v1/alerts",
    "/api/v1/alert-rules",
    "/api/v1/webhooks",
    "/api/v1/firmware",
    "/api/v1/config/apply",
    "/api/v1/config/applies",
    "/api/v1/config/drift",
];

/// Whether `path` is one of the leader's routes.
fn leader_route(path: &str) -> bool {
    LEADER_ROUTES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The station a station route (`/api/v1/stations/{id}` and below) is about.
fn station_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/api/v1/stations/")?;
    let id = rest.split('/').next().filter(|id| !id.is_empty())?;
    percent_encoding::percent_decode_str(id)
        .decode_utf8()
        .ok()
        .map(|id| id.into_owned())
}

/// The API middleware: serves here a request about a station held here, held nowhere, or
/// already handed over; hands the rest to the station's node. When that node does not
/// answer the bus (it just died), the request is served here, which answers as for a
/// station that is not connected.
pub async fn route(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let hops = match request.extensions().get::<Forwarded>() {
        // Handed here for a station this node no longer holds (it moved meanwhile): handed
        // on once more, to where it went.
        Some(f) if f.hops == 0 && !holds(&app, request.uri().path()) => 1,
        Some(_) => return next.run(request).await,
        None => 0,
    };
    let Some(bus) = app.cluster.bus().cloned() else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_owned();
    let target = if let Some(node) = node_of(&path) {
        if node == bus.node_id {
            return next.run(request).await;
        }
        Target::Node(node)
    } else if leader_route(&path) {
        if bus.lease.held() {
            return next.run(request).await;
        }
        match bus.lease.leader().await {
            Some(leader) if leader.node != bus.node_id => Target::Leader(leader.node),
            _ => {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no_leader",
                    format!(
                        "{path} is served by the cluster's leader, and no node leads right now (one takes over within {} s of the last one's end); retry",
                        super::leader::LEASE.as_secs()
                    ),
                )
                .into_response();
            }
        }
    } else {
        let Some(station) = station_of(&path) else {
            return next.run(request).await;
        };
        if app
            .stations
            .get(&station)
            .is_some_and(|e| e.session.is_some())
        {
            return next.run(request).await;
        }
        let Some(owner) = owner_or_wait(&app, &bus, &station).await else {
            return next.run(request).await;
        };
        if owner.node == bus.node_id {
            return next.run(request).await;
        }
        Target::Owner(station, owner.node)
    };
    let node = match &target {
        Target::Leader(node) | Target::Owner(_, node) | Target::Node(node) => node.clone(),
    };
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than {MAX_BODY} bytes"),
            )
            .into_response();
        }
    };
    let forwarded = ForwardedRequest {
        method: parts.method.to_string(),
        uri: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .filter(|(name, _)| KEPT_HEADERS.contains(&name.as_str()))
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect(),
        body: bytes.to_vec(),
        caller: parts
            .extensions
            .get::<Caller>()
            .and_then(|c| serde_json::to_value(c).ok()),
        hops,
    };
    match (ask(&bus, &node, &forwarded).await, target) {
        (Ok(answer), _) => into_response(answer),
        (Err(Unanswered::NoResponders), Target::Owner(..)) => {
            // The owner is gone: answered here, as for a station not connected.
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        (Err(Unanswered::NoResponders), Target::Node(node)) => ApiError::new(
            StatusCode::NOT_FOUND,
            "node_not_found",
            format!("no live node is called {node:?}; GET /api/v1/cluster lists them"),
        )
        .into_response(),
        (Err(Unanswered::Failed(why)), Target::Node(node)) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "node_unreachable",
            format!("node {node:?} did not answer: {why}; retry"),
        )
        .into_response(),
        (Err(Unanswered::NoResponders), Target::Leader(node)) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_leader",
            format!(
                "{path} is served by the cluster's leader, and its node {node:?} is gone (another takes over within {} s); retry",
                super::leader::LEASE.as_secs()
            ),
        )
        .into_response(),
        (Err(Unanswered::Failed(why)), Target::Owner(station, node)) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "node_unreachable",
            format!(
                "station {station:?} is held by node {node:?}, which did not answer: {why}; retry (its stations reconnect to other nodes if it is gone)"
            ),
        )
        .into_response(),
        (Err(Unanswered::Failed(why)), Target::Leader(node)) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "node_unreachable",
            format!("{path} is served by the cluster's leader, node {node:?}, which did not answer: {why}; retry"),
        )
        .into_response(),
    }
}

/// Where a request goes.
enum Target {
    /// The node holding the station (the station's id, the node).
    Owner(String, String),
    /// The leader's node.
    Leader(String),
    /// A node a route names (`/api/v1/cluster/nodes/{id}/...`).
    Node(String),
}

/// The node a node route (`/api/v1/cluster/nodes/{id}/...`) is about.
fn node_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/api/v1/cluster/nodes/")?;
    rest.split('/')
        .next()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// Whether the request is about a station with a session on this node (or about no
/// station at all).
fn holds(app: &App, path: &str) -> bool {
    station_of(path).is_none_or(|s| app.stations.get(&s).is_some_and(|e| e.session.is_some()))
}

/// The station's live owner; for a station a draining node just let go, waits (up to
/// `bus::HANDOVER`) for it to reconnect to another node, so a drain fails no request.
async fn owner_or_wait(
    app: &App,
    bus: &Bus,
    station: &str,
) -> Option<ocpulse_core::cluster::Ownership> {
    let deadline = tokio::time::Instant::now() + super::bus::HANDOVER;
    loop {
        let here = app
            .stations
            .get(station)
            .is_some_and(|e| e.session.is_some());
        // An ownership naming this node without a session here is one being released.
        if let Some(owner) = bus.owner(station).await
            && (here || owner.node != bus.node_id)
        {
            return Some(owner);
        }
        // Moving: let go by a draining node (this one, or the one this node last saw
        // holding it, whose release it may read before its watch tells it).
        let moving = bus.moving(station)
            || app
                .stations
                .get(station)
                .and_then(|e| e.remote)
                .is_some_and(|node| bus.is_draining(&node));
        if here || !moving || tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Why a forwarded request got no answer.
enum Unanswered {
    /// No node listens on the owner's subject.
    NoResponders,
    /// It timed out or could not be sent or read.
    Failed(String),
}

async fn ask(
    bus: &Bus,
    node: &str,
    request: &ForwardedRequest,
) -> Result<ForwardedResponse, Unanswered> {
    let payload = serde_json::to_vec(request).map_err(|e| Unanswered::Failed(e.to_string()))?;
    let asked = bus
        .client
        .send_request(
            bus.api_subject(node),
            async_nats::Request::new()
                .payload(payload.into())
                .timeout(Some(FORWARD_TIMEOUT)),
        )
        .await;
    match asked {
        Ok(message) => serde_json::from_slice(&message.payload)
            .map_err(|e| Unanswered::Failed(format!("unreadable answer: {e}"))),
        Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
            Err(Unanswered::NoResponders)
        }
        Err(e) => Err(Unanswered::Failed(e.to_string())),
    }
}

fn into_response(answer: ForwardedResponse) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.append(name, value);
        }
    }
    response
}

/// Serves the requests other nodes hand this one, each on a task of its own, through the
/// same router as requests from sockets.
pub async fn serve(app: &Arc<App>, bus: &Arc<Bus>, router: axum::Router) -> anyhow::Result<()> {
    let answering = Arc::clone(bus);
    super::bus::respond(app, bus, bus.api_subject(&bus.node_id), move |request| {
        let router = router.clone();
        let bus = Arc::clone(&answering);
        async move {
            let answer = match serde_json::from_slice::<ForwardedRequest>(&request.payload) {
                Ok(request) => serve_one(router, request).await,
                Err(e) => ForwardedResponse {
                    status: 400,
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: serde_json::to_vec(&serde_json::json!({
                        "error": "invalid_forward",
                        "message": format!("the forwarded request is unreadable: {e}"),
                    }))
                    .unwrap_or_default(),
                },
            };
            let limit = bus.client.server_info().max_payload;
            reply_payload(&answer, &bus.node_id, limit)
        }
    })
    .await
}

async fn serve_one(router: axum::Router, forwarded: ForwardedRequest) -> ForwardedResponse {
    let caller = forwarded
        .caller
        .clone()
        .and_then(|c| serde_json::from_value::<Caller>(c).ok());
    let mut builder = axum::http::Request::builder()
        .method(forwarded.method.as_str())
        .uri(forwarded.uri.as_str());
    for (name, value) in &forwarded.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = match builder.body(Body::from(forwarded.body)) {
        Ok(mut request) => {
            request.extensions_mut().insert(Forwarded {
                caller,
                hops: forwarded.hops,
            });
            request
        }
        Err(e) => {
            return ForwardedResponse {
                status: 400,
                headers: Vec::new(),
                body: format!("bad forwarded request: {e}").into_bytes(),
            };
        }
    };
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    // Read whole (this node's router made it): whether it fits the bus is `reply_payload`'s
    // call, which answers for it instead of cutting it.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body.to_vec(),
        Err(e) => {
            return ForwardedResponse {
                status: 500,
                headers: vec![("content-type".into(), "application/json".into())],
                body: serde_json::to_vec(&serde_json::json!({
                    "error": "internal",
                    "message": format!("the answer could not be read: {e}"),
                }))
                .unwrap_or_default(),
            };
        }
    };
    ForwardedResponse {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect(),
        body,
    }
}

/// The NATS payload answering a forwarded request: `answer`, or, when that is larger than
/// the bus carries (`limit`, the NATS server's `max_payload`), a 502 `answer_too_large`
/// saying so. Without it, the publish failed and the asking node waited the whole
/// `FORWARD_TIMEOUT` (330 s) for nothing; a bulk job's answer lists every station and
/// passes NATS' default 1 MiB at a few thousand stations.
fn reply_payload(answer: &ForwardedResponse, node: &str, limit: usize) -> Option<Vec<u8>> {
    let payload = serde_json::to_vec(answer).ok()?;
    if payload.len() <= limit {
        return Some(payload);
    }
    let too_large = ForwardedResponse {
        status: 502,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(&serde_json::json!({
            "error": "answer_too_large",
            "message": format!(
                "node {node:?} served the request (status {}), but its answer ({} bytes on the bus) is larger than the cluster's NATS carries ({limit} bytes); ask node {node:?} directly, or for less (`?results=none` or `failed`, a smaller `limit`)",
                answer.status,
                payload.len()
            ),
        }))
        .ok()?,
    };
    serde_json::to_vec(&too_large).ok()
}

#[cfg(test)]
mod tests {
    use super::{ForwardedResponse, leader_route, reply_payload, station_of};

    #[test]
    fn an_answer_the_bus_cannot_carry_becomes_a_stable_error_not_silence() {
        let answer = ForwardedResponse {
            status: 202,
            headers: vec![("content-type".into(), "application/json".into())],
            body: vec![b'x'; 4096],
        };
        let fits = reply_payload(&answer, "b", 1 << 20).expect("payload");
        let back: ForwardedResponse = serde_json::from_slice(&fits).expect("answer");
        assert_eq!((back.status, back.body.len()), (202, 4096));
        let limit = 2048;
        let cut = reply_payload(&answer, "b", limit).expect("payload");
        assert!(cut.len() <= limit, "{} bytes", cut.len());
        let back: ForwardedResponse = serde_json::from_slice(&cut).expect("answer");
        assert_eq!(back.status, 502);
        let body: serde_json::Value = serde_json::from_slice(&back.body).expect("json");
        assert_eq!(body["error"], "answer_too_large", "{body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("\"b\"")),
            "{body}"
        );
    }

    #[test]
    fn the_background_works_routes_go_to_the_leader_and_no_others() {
        for path in [
            "/api/v1/trigger-jobs",
            "/api/v1/trigger-jobs/j1/cancel",
            "/api/v1/config/apply",
            "/api/v1/config/applies/a1",
            "/api/v1/alerts/a/acknowledge",
        ] {
            assert!(leader_route(path), "{path}");
        }
        for path in [
            "/api/v1/stations/CP1/trigger",
            "/api/v1/config/profiles",
            "/api/v1/trigger-jobsx",
            "/api/v1/events",
        ] {
            assert!(!leader_route(path), "{path}");
        }
    }

    #[test]
    fn station_routes_name_their_station_and_others_none() {
        assert_eq!(station_of("/api/v1/stations/CP1").as_deref(), Some("CP1"));
        assert_eq!(
            station_of("/api/v1/stations/CP%2F1/trigger").as_deref(),
            Some("CP/1")
        );
        assert_eq!(station_of("/api/v1/stations"), None);
        assert_eq!(station_of("/api/v1/stations/"), None);
        assert_eq!(station_of("/api/v1/jobs/x"), None);
    }
}
