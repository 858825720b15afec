//! API authentication: bearer tokens and their scopes on every route, tokens made offline
//! while the server runs, `requestedBy` from the token's name, and the cross-site checks
//! on writes (JSON only, same origin) in both modes.

mod common;

use std::time::{Duration, Instant};

use common::{Server, Station};
use ocpulse::api::auth::{ACCESS, Access, access};
use ocpulse::tokens::Scope;
use serde_json::{Value, json};

/// Sends `method path` with an optional token and JSON body; (status, body, WWW-Authenticate).
async fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, Option<String>) {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
    let mut request = reqwest::Client::new().request(method, server.url(path));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let r = request.send().await.expect("request");
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, r.json().await.unwrap_or(Value::Null), challenge)
}

async fn create_token(server: &Server, admin: &str, name: &str, scopes: &[&str]) -> Value {
    let (code, body, _) = call(
        server,
        "post",
        "/api/v1/tokens",
        Some(admin),
        Some(json!({"name": name, "scopes": scopes})),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    body
}

fn required() -> impl FnOnce(&mut ocpulse::config::ServerConfig) {
    |c| c.security.require_token = true
}

#[tokio::test]
async fn every_route_answers_by_the_scope_of_its_token() {
    let server = Server::start_with(required()).await;
    // The first admin token is made offline, while the server runs.
    let admin = ocpulse::token_cmd::create(server.dir.path(), "ops", &[Scope::Admin])
        .await
        .expect("offline create")
        .plain;
    let reader = create_token(&server, &admin, "dashboard", &["read"]).await;
    let trigger = create_token(&server, &admin, "billing", &["trigger"]).await;
    let reader = reader["token"].as_str().expect("token").to_owned();
    let trigger = trigger["token"].as_str().expect("token").to_owned();
    let tokens = [
        (Scope::Read, reader.as_str()),
        (Scope::Trigger, trigger.as_str()),
        (Scope::Admin, admin.as_str()),
    ];
    let mut checked = 0;
    for (method, path) in ocpulse::api::ROUTES {
        let rule = access(method, path);
        let url = path.replace("{id}", "X");
        let body = (*method != "get").then(|| json!({}));
        // No token.
        let (code, answer, challenge) = call(&server, method, &url, None, body.clone()).await;
        if rule == Access::Public {
            assert_eq!(code, 200, "{method} {path} is public: {answer}");
        } else {
            assert_eq!(code, 401, "{method} {path} without a token: {answer}");
            assert_eq!(answer["error"], "unauthorized");
            assert!(
                challenge
                    .as_deref()
                    .is_some_and(|c| c.starts_with("Bearer")),
                "{challenge:?}"
            );
        }
        for (scope, token) in tokens {
            let allowed = match rule {
                Access::Public => true,
                Access::Needs(needed) => scope.implies(needed),
            };
            if allowed && *path == "/api/v1/events" {
                continue; // an endless stream
            }
            let (code, answer, _) = call(&server, method, &url, Some(token), body.clone()).await;
            if allowed {
                assert!(
                    code != 401 && code != 403,
                    "{method} {path} with a {scope} token: {code} {answer}"
                );
            } else {
                let Access::Needs(needed) = rule else {
                    unreachable!()
                };
                assert_eq!(code, 403, "{method} {path} with a {scope} token: {answer}");
                assert_eq!(answer["error"], "forbidden");
                assert_eq!(answer["requiredScope"], json!(needed));
                assert_eq!(answer["tokenScopes"], json!([scope]));
                let message = answer["message"].as_str().unwrap_or_default();
                assert!(
                    message.contains(&format!("`{needed}`")) && message.contains(scope.as_str()),
                    "{message}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
    // The access table's classes, spot-checked by name.
    assert_eq!(access("get", "/api/v1/tokens"), Access::Needs(Scope::Admin));
    // Any CSMS call can change what only admin may change through the typed routes.
    assert_eq!(
        access("post", "/api/v1/stations/{id}/calls"),
        Access::Needs(Scope::Admin)
    );
    assert!(
        ACCESS
            .iter()
            .any(|(m, p, _)| *m == "post" && *p == "/api/v1/stations")
    );
}

#[tokio::test]
async fn bad_malformed_and_revoked_tokens_are_refused_with_401() {
    let server = Server::start_with(required()).await;
    let admin = ocpulse::token_cmd::create(server.dir.path(), "ops", &[Scope::Admin])
        .await
        .expect("offline create")
        .plain;
    let (code, _, _) = call(&server, "get", "/api/v1/stations", Some(&admin), None).await;
    assert_eq!(code, 200);
    // Well-formed but unknown; malformed; another scheme.
    let unknown = format!("ocp_{}", "A".repeat(43));
    let (code, body, challenge) =
        call(&server, "get", "/api/v1/stations", Some(&unknown), None).await;
    assert_eq!((code, body["error"].as_str()), (401, Some("unauthorized")));
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.contains("invalid_token")),
        "{challenge:?}"
    );
    for header in ["Basic b3BzOnNlY3JldA==", "Bearer nope", "Bearer"] {
        let r = reqwest::Client::new()
            .get(server.url("/api/v1/stations"))
            .header("authorization", header)
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status().as_u16(), 401, "{header}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"], "unauthorized", "{header}");
    }
    // Even a public route checks a presented token.
    let (code, _, _) = call(&server, "get", "/api/v1/health", Some(&unknown), None).await;
    assert_eq!(code, 401);

    // Revoked through the API: refused at once.
    let reader = create_token(&server, &admin, "dashboard", &["read"]).await;
    let token = reader["token"].as_str().expect("token");
    assert_eq!(
        call(&server, "get", "/api/v1/stations", Some(token), None)
            .await
            .0,
        200
    );
    let (code, list, _) = call(&server, "get", "/api/v1/tokens", Some(&admin), None).await;
    assert_eq!(code, 200);
    let listed = list["items"].as_array().expect("tokens");
    assert_eq!(listed.len(), 2, "{list}");
    for t in listed {
        assert!(t.get("token").is_none() && t.get("hash").is_none(), "{t}");
    }
    let dashboard = listed
        .iter()
        .find(|t| t["name"] == "dashboard")
        .expect("listed");
    assert_eq!(dashboard["scopes"], json!(["read"]));
    assert!(dashboard["lastUsedAt"].is_string(), "{dashboard}");
    let id = reader["id"].as_str().expect("id");
    let (code, gone, _) = call(
        &server,
        "delete",
        &format!("/api/v1/tokens/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        (code, gone["deleted"]["name"].as_str()),
        (200, Some("dashboard"))
    );
    let (code, _, _) = call(&server, "get", "/api/v1/stations", Some(token), None).await;
    assert_eq!(code, 401, "revoked through the API");
    let (code, _, _) = call(
        &server,
        "delete",
        &format!("/api/v1/tokens/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(code, 404);

    // A duplicate name and a bad scope are refused.
    let (code, body, _) = call(
        &server,
        "post",
        "/api/v1/tokens",
        Some(&admin),
        Some(json!({"name": "ops", "scopes": ["read"]})),
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (409, Some("token_name_taken"))
    );
    let (code, _, _) = call(
        &server,
        "post",
        "/api/v1/tokens",
        Some(&admin),
        Some(json!({"name": "x", "scopes": ["write"]})),
    )
    .await;
    assert_eq!(code, 400);
    let (code, body, _) = call(
        &server,
        "post",
        "/api/v1/tokens",
        Some(&admin),
        Some(json!({"name": "x", "scopes": []})),
    )
    .await;
    assert_eq!(
        (code, body["error"].as_str()),
        (400, Some("invalid_token_spec"))
    );

    // Revoked offline: a running server refuses it within its cache age (5 s).
    let billing = create_token(&server, &admin, "billing", &["trigger"]).await;
    let token = billing["token"].as_str().expect("token");
    assert_eq!(
        call(&server, "get", "/api/v1/stations", Some(token), None)
            .await
            .0,
        200
    );
    assert!(
        ocpulse::token_cmd::revoke(server.dir.path(), billing["id"].as_str().expect("id"))
            .await
            .expect("offline revoke")
    );
    let started = Instant::now();
    loop {
        let (code, _, _) = call(&server, "get", "/api/v1/stations", Some(token), None).await;
        if code == 401 {
            break;
        }
        assert_eq!(code, 200);
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "a token revoked offline still works after 8 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_token_name_is_who_requested_a_trigger_and_a_job() {
    let server = Server::start_with(required()).await;
    let token = ocpulse::token_cmd::create(server.dir.path(), "billing", &[Scope::Trigger])
        .await
        .expect("offline create")
        .plain;
    let mut st = Station::connect(&server, "TOK1", "ocpp1.6").await;
    st.boot16().await;
    let r = reqwest::Client::new()
        .post(server.url("/api/v1/stations/TOK1/trigger"))
        .bearer_auth(&token)
        .header("x-requested-by", "someone-else")
        .json(&json!({"requestedMessage": "Heartbeat", "wait": false}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 202);
    let accepted: Value = r.json().await.expect("json");
    let id = accepted["triggerId"].as_str().expect("id");
    let (code, record, _) = call(
        &server,
        "get",
        &format!("/api/v1/triggers/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(code, 200, "{record}");
    assert_eq!(record["requestedBy"], "billing", "{record}");

    let (code, job, _) = call(
        &server,
        "post",
        "/api/v1/trigger-jobs",
        Some(&token),
        Some(json!({"selector": {"stationIds": ["TOK1"]}, "trigger": {"requestedMessage": "Heartbeat"}})),
    )
    .await;
    assert!(code == 200 || code == 202, "{code} {job}");
    assert_eq!(job["requestedBy"], "billing", "{job}");
}

/// Runs the real binary; (success, stdout, stderr).
async fn ocpulse(args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ocpulse"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("OCPULSE_TOKEN")
        .env_remove("OCPULSE_DATA_DIR")
        .output()
        .await
        .expect("run ocpulse");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_created_by_the_command_line_works_on_the_running_server() {
    let server = Server::start_with(required()).await;
    let dir = server.dir.path().to_str().expect("utf-8 path").to_owned();
    let (ok, out, err) = ocpulse(&[
        "token",
        "create",
        "--name",
        "cli-reader",
        "--scope",
        "read",
        "--data-dir",
        &dir,
    ])
    .await;
    assert!(ok, "{out}{err}");
    let token = out.trim();
    assert!(token.starts_with("ocp_") && token.len() == 47, "{out}");
    assert!(err.contains("shown only now"), "{err}");

    let (ok, out, err) =
        ocpulse(&["stations", "--server", &server.url(""), "--token", token]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("0 stations"), "{out}");
    let (ok, _, err) = ocpulse(&["stations", "--server", &server.url("")]).await;
    assert!(!ok);
    assert!(err.contains("401 unauthorized"), "{err}");
    let (ok, _, err) = ocpulse(&[
        "trigger",
        "CP1",
        "Heartbeat",
        "--server",
        &server.url(""),
        "--token",
        token,
    ])
    .await;
    assert!(!ok);
    assert!(err.contains("403 forbidden"), "{err}");

    let (ok, out, err) = ocpulse(&["token", "list", "--data-dir", &dir]).await;
    assert!(ok, "{err}");
    assert!(out.contains("cli-reader") && out.contains("read"), "{out}");
    assert!(!out.contains(token), "list never shows a token: {out}");
    let id = out
        .lines()
        .find(|l| l.contains("cli-reader"))
        .and_then(|l| l.split_whitespace().next())
        .expect("a row")
        .to_owned();
    let (ok, _, err) = ocpulse(&[
        "token",
        "create",
        "--name",
        "x",
        "--scope",
        "root",
        "--data-dir",
        &dir,
    ])
    .await;
    assert!(!ok && err.contains("root"), "{err}");
    let (ok, out, err) = ocpulse(&["token", "revoke", &id, "--data-dir", &dir]).await;
    assert!(ok, "{out}{err}");
    let (ok, _, err) = ocpulse(&["token", "revoke", &id, "--data-dir", &dir]).await;
    assert!(!ok && err.contains("no token"), "{err}");
}

#[tokio::test]
async fn form_and_text_posts_are_refused_with_415_in_development_mode() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let trigger = server.url("/api/v1/trigger-jobs");
    let body = r#"{"selector": {"all": true}, "trigger": {"requestedMessage": "Heartbeat"}}"#;
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut request = client.post(&trigger).body(body);
        if let Some(t) = content_type {
            request = request.header("content-type", t);
        }
        let r = request.send().await.expect("POST");
        assert_eq!(r.status().as_u16(), 415, "{content_type:?}");
        let answer: Value = r.json().await.expect("json");
        assert_eq!(answer["error"], "unsupported_media_type", "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains("application/json")),
            "{answer}"
        );
    }
    // A body-less form post (a form with no fields) cannot cancel a job either.
    let r = client
        .post(server.url("/api/v1/trigger-jobs/X/cancel"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 415);
    // Nothing was created.
    let (code, jobs) = server.get("/api/v1/trigger-jobs").await;
    assert_eq!((code, jobs), (200, json!({"items": [], "next": null})));
    // JSON passes, and so does a write with neither body nor content type.
    let r = client
        .post(&trigger)
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"selector": {"stationIds": ["NONE"]}, "trigger": {"requestedMessage": "Heartbeat"}}"#)
        .send()
        .await
        .expect("POST");
    let code = r.status().as_u16();
    assert!(code != 415 && code != 403, "{code}");
    let r = client
        .delete(server.url("/api/v1/schedules/X"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(
        r.status().as_u16(),
        404,
        "curl -X DELETE reaches the handler"
    );
}

#[tokio::test]
async fn writes_from_another_origin_are_refused_with_403() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let url = server.url("/api/v1/stations/CP1/trigger");
    for (header, value) in [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("origin", "http://127.0.0.1:1"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let r = client
            .post(&url)
            .header(header, value)
            .json(&json!({"requestedMessage": "Heartbeat"}))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status().as_u16(), 403, "{header}: {value}");
        let answer: Value = r.json().await.expect("json");
        assert_eq!(answer["error"], "cross_origin", "{answer}");
    }
    // The server's own origin (its UI, a same-origin fetch) passes to the handler.
    let r = client
        .post(&url)
        .header("origin", format!("http://{}", server.addr))
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"requestedMessage": "Heartbeat"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(
        r.status().as_u16(),
        404,
        "station_not_found: the handler ran"
    );
    // Reads are not writes: a cross-origin GET is answered (the browser keeps it from the page).
    let r = client
        .get(server.url("/api/v1/stations"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn development_mode_is_open_without_a_header_but_checks_a_presented_token() {
    let server = Server::start().await;
    let (code, _, _) = call(&server, "get", "/api/v1/stations", None, None).await;
    assert_eq!(code, 200);
    // No header: every scope, admin included.
    let (code, created, _) = call(
        &server,
        "post",
        "/api/v1/tokens",
        None,
        Some(json!({"name": "viewer", "scopes": ["read"]})),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    let token = created["token"].as_str().expect("token");
    assert!(token.starts_with("ocp_"), "{created}");
    // A presented token is still verified and limited to its scopes.
    let (code, _, _) = call(&server, "get", "/api/v1/stations", Some(token), None).await;
    assert_eq!(code, 200);
    let (code, answer, _) = call(
        &server,
        "post",
        "/api/v1/stations/CP1/trigger",
        Some(token),
        Some(json!({"requestedMessage": "Heartbeat"})),
    )
    .await;
    assert_eq!((code, answer["error"].as_str()), (403, Some("forbidden")));
    let unknown = format!("ocp_{}", "B".repeat(43));
    let (code, _, _) = call(&server, "get", "/api/v1/stations", Some(&unknown), None).await;
    assert_eq!(code, 401);
    // A page that rebound its own name to 127.0.0.1 (DNS rebinding) is same-origin with its
    // requests; the Host it sends gives it away, reads included.
    let port = server.addr.port();
    for (host, expected) in [
        (format!("evil.example:{port}"), 403),
        (format!("localhost:{port}"), 200),
    ] {
        let r = reqwest::Client::new()
            .get(server.url("/api/v1/stations"))
            .header("host", &host)
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status().as_u16(), expected, "{host}");
        if expected == 403 {
            let body: Value = r.json().await.expect("json");
            assert_eq!(body["error"], "untrusted_host", "{body}");
        }
    }
    // With a token the Host does not matter (a page cannot send one), nor on public routes.
    let r = reqwest::Client::new()
        .get(server.url("/api/v1/stations"))
        .header("host", "csms.example")
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);
    let r = reqwest::Client::new()
        .get(server.url("/api/v1/health"))
        .header("host", "csms.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn the_openapi_document_declares_the_bearer_scheme_and_each_operations_scope() {
    let server = Server::start_with(required()).await;
    let (code, doc, _) = call(&server, "get", "/api/v1/openapi.json", None, None).await;
    assert_eq!(code, 200);
    let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    for (method, path, rule) in ACCESS {
        let op = &doc["paths"][path][method];
        if op.is_null() {
            continue; // a rule for a route this build does not have
        }
        match rule {
            Access::Public => assert!(op.get("security").is_none(), "{method} {path}"),
            Access::Needs(scope) => {
                assert_eq!(
                    op["security"],
                    json!([{"bearerAuth": [scope]}]),
                    "{method} {path}"
                );
                for status in ["401", "403"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{method} {path} {status}"
                    );
                }
                if *method != "get" {
                    assert!(op["responses"]["415"].is_object(), "{method} {path} 415");
                }
            }
        }
    }
}
