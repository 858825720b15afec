//! Entry point for the API fuzz target in `fuzz/` (cargo-fuzz, nightly) and for the corpus
//! replay test that runs it on stable (`tests/fuzz_corpus.rs`). Not an API: hidden from the
//! docs, kept here so both callers check the same properties.
//!
//! Each input is one HTTP request, sent through the whole router (authentication, the query
//! rule, extractors, handlers, the JSON error layer) in process: no socket, a fresh app on
//! an in-memory store, no station connected.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use ocpp_rpc::SchemaRegistry;
use tower::ServiceExt as _;

use crate::app::App;
use crate::config::{CaSource, ServerConfig};

/// Stations the app knows (never connected), so station routes get past "no such station".
pub const STATIONS: [&str; 2] = ["CP0001", "CS0001"];

/// How long a request may take before it is left unchecked.
const WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The largest response body read.
const BODY_LIMIT: usize = 16 << 20;

fn schemas() -> Arc<SchemaRegistry> {
    static SCHEMAS: OnceLock<Arc<SchemaRegistry>> = OnceLock::new();
    Arc::clone(SCHEMAS.get_or_init(|| {
        Arc::new(SchemaRegistry::load().unwrap_or_else(|e| panic!("the schemas load: {e}")))
    }))
}

/// One request, written as its first line `METHOD TARGET` (the target with its query
/// string) followed by the body (sent as `application/json`). Checks what holds for every
/// request: no handler panics, nothing answers 500, and every error is the API's
/// `{"error", "message"}` shape.
pub fn request(data: &[u8]) {
    let (head, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(head) = std::str::from_utf8(head) else {
        return;
    };
    let Some((method, target)) = head.trim_end_matches('\r').split_once(' ') else {
        return;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let Ok(request) = Request::builder()
        .method(method)
        .uri(target)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
    else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("a runtime: {e}"));
    runtime.block_on(async move {
        let config = ServerConfig {
            data_dir: "/nonexistent/ocpulse-fuzz".into(),
            ca: CaSource::Disabled,
            ..ServerConfig::default()
        };
        let store = Arc::new(ocpulse_store::MemoryStore::new());
        let app = App::with_schemas(config, store, schemas())
            .await
            .unwrap_or_else(|e| panic!("the app starts: {e}"));
        for id in STATIONS {
            app.stations.ensure(id);
        }
        let router = crate::server::router(Arc::new(app));
        // No station is connected, so nothing should wait; a request that still does (a
        // job's retry delay) is left unchecked rather than slowing every run down.
        let Ok(Ok(response)) = tokio::time::timeout(WAIT, router.oneshot(request)).await else {
            return;
        };
        let status = response.status();
        let streaming = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{head}");
        if streaming {
            return;
        }
        let bytes = axum::body::to_bytes(response.into_body(), BODY_LIMIT)
            .await
            .unwrap_or_else(|e| panic!("{head}: the body cannot be read: {e}"));
        if status.is_client_error() || status.is_server_error() {
            let error: serde_json::Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{head}: {status} without a JSON body: {e}"));
            assert!(
                error["error"].is_string() && error["message"].is_string(),
                "{head}: {status} is not an API error: {error}"
            );
        }
    });
}
