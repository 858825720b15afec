//! `GET /health/live` and `GET /health/ready`: probes that need no token, readiness naming
//! the check that failed with a 503, and `/api/v1/health` kept as it was.

mod common;

use common::Server;
use serde_json::json;

#[tokio::test]
async fn a_healthy_server_is_live_and_ready_and_the_old_health_route_still_answers() {
    let server = Server::start().await;
    assert_eq!(
        server.get("/health/live").await,
        (200, json!({"status": "live"}))
    );
    assert_eq!(
        server.get("/health/ready").await,
        (
            200,
            json!({"status": "ready", "checks": {"disk": "ok", "shutdown": "ok", "store": "ok"}})
        )
    );
    assert_eq!(
        server.get("/api/v1/health").await,
        (200, json!({"status": "ok"}))
    );
}

#[tokio::test]
async fn too_little_free_space_makes_the_server_unready_with_a_503_naming_the_disk() {
    let server = Server::start_with(|c| c.min_free_space = u64::MAX).await;
    let (code, body) = server.get("/health/ready").await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["error"], "not_ready");
    assert_eq!(body["failed"], json!(["disk"]));
    assert_eq!(body["checks"]["store"], "ok");
    assert_eq!(body["checks"]["shutdown"], "ok");
    let disk = body["checks"]["disk"].as_str().expect("the disk's reason");
    assert!(disk.contains("below the floor of"), "{disk}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("not ready: disk: ")),
        "{body}"
    );
    // Still live: only traffic should go elsewhere, the process needs no restart.
    assert_eq!(server.get("/health/live").await.0, 200);
}

#[tokio::test]
async fn probes_need_no_token_where_tokens_are_required() {
    let server = Server::start_with(|c| c.security.require_token = true).await;
    assert_eq!(server.get("/health/live").await.0, 200);
    assert_eq!(server.get("/health/ready").await.0, 200);
    assert_eq!(server.get("/api/v1/stations").await.0, 401);
}
