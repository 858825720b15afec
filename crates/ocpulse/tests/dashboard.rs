//! The web dashboard against a real server: login with an API token (an HttpOnly,
//! SameSite=Strict session cookie), CSRF checks on the dashboard's forms and on API writes
//! made with the cookie, pages rendered from real station data, buttons by scope, logout,
//! and development mode without login.

mod common;

use std::time::Duration;

use common::{Server, Station};
use ocpulse::tokens::Scope;
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn required() -> impl FnOnce(&mut ocpulse::config::ServerConfig) {
    |c| c.security.require_token = true
}

/// Makes a token through the API with the admin token.
async fn token(server: &Server, admin: &str, name: &str, scope: &str) -> String {
    let r = client()
        .post(server.url("/api/v1/tokens"))
        .bearer_auth(admin)
        .json(&json!({"name": name, "scopes": [scope]}))
        .send()
        .await
        .expect("create token");
    assert_eq!(r.status().as_u16(), 201);
    let body: Value = r.json().await.expect("json");
    body["token"].as_str().expect("token").to_owned()
}

/// The value of `name="NAME" value="..."` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

/// The `name=value` of a `Set-Cookie` header naming `name`, and the whole header.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<(String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| (v.split(';').next().unwrap_or("").to_owned(), v.to_owned()))
}

/// Logs in with `token` through the form; the session cookie (`ocpulse_session=...`).
async fn login(server: &Server, plain: &str) -> String {
    let form = client()
        .get(server.url("/ui/login?next=/ui/stations"))
        .send()
        .await
        .expect("login form");
    assert_eq!(form.status().as_u16(), 200);
    let (login_cookie, _) = set_cookie(&form, "ocpulse_login").expect("login cookie");
    let html = form.text().await.expect("html");
    let csrf = hidden(&html, "csrf");
    let r = client()
        .post(server.url("/ui/login"))
        .header("cookie", &login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&next=%2Fui%2Fstations&token={plain}"))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status().as_u16(), 303, "login redirects");
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/ui/stations")
    );
    let (cookie, header) = set_cookie(&r, "ocpulse_session").expect("session cookie");
    assert!(header.contains("HttpOnly"), "{header}");
    assert!(header.contains("SameSite=Strict"), "{header}");
    assert!(header.contains("Path=/"), "{header}");
    cookie
}

async fn page(server: &Server, path: &str, cookie: &str) -> (u16, String) {
    let r = client()
        .get(server.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .expect("page");
    (r.status().as_u16(), r.text().await.expect("text"))
}

/// A POST to the API with the session cookie, with or without the page's CSRF token.
async fn api_post(server: &Server, path: &str, cookie: &str, csrf: Option<&str>) -> (u16, Value) {
    let mut r = client()
        .post(server.url(path))
        .header("cookie", cookie)
        .json(&json!({}));
    if let Some(c) = csrf {
        r = r.header("x-csrf-token", c);
    }
    let r = r.send().await.expect("post");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The page's CSRF token (its `<meta name="csrf-token">`).
fn page_csrf(html: &str) -> String {
    let marker = "name=\"csrf-token\" content=\"";
    let start = html.find(marker).expect("csrf meta") + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

#[tokio::test]
async fn login_cookie_csrf_scopes_and_logout() {
    let server = Server::start_with(required()).await;
    let admin = ocpulse::token_cmd::create(server.dir.path(), "ops", &[Scope::Admin])
        .await
        .expect("offline create")
        .plain;
    let operator = token(&server, &admin, "operator", "trigger").await;
    let reader = token(&server, &admin, "viewer", "read").await;
    // A faulted connector raises an alert under this rule.
    let r = client()
        .post(server.url("/api/v1/alert-rules"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Connector faulted", "condition": {"kind": "connectorFaulted"}}))
        .send()
        .await
        .expect("rule");
    assert_eq!(r.status().as_u16(), 201);
    let mut cp = Station::connect(&server, "CP1", "ocpp1.6").await;
    cp.boot16().await;
    cp.status16(1, "Available").await;
    cp.status16(2, "Faulted").await;

    // Without a session every page sends the browser to the login form.
    let r = client()
        .get(server.url("/ui/stations?q=CP"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/ui/login?next=%2Fui%2Fstations%3Fq%3DCP")
    );

    // The login form refuses a post without its CSRF token, and an unknown token.
    let r = client()
        .post(server.url("/ui/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={operator}"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 403);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "csrf_failed");
    assert!(body["message"].as_str().expect("message").contains("CSRF"));
    let form = client()
        .get(server.url("/ui/login"))
        .send()
        .await
        .expect("form");
    let (login_cookie, _) = set_cookie(&form, "ocpulse_login").expect("cookie");
    let csrf = hidden(&form.text().await.expect("html"), "csrf");
    let r = client()
        .post(server.url("/ui/login"))
        .header("cookie", &login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&token=ocp_not_a_token"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);
    assert!(set_cookie(&r, "ocpulse_session").is_none());

    // The operator (trigger scope) logs in and sees the station, the trigger form and the
    // alert with its Acknowledge button.
    let cookie = login(&server, &operator).await;
    let (code, html) = page(&server, "/ui/stations", &cookie).await;
    assert_eq!(code, 200);
    assert!(html.contains("data-station=\"CP1\""), "{html}");
    assert!(html.contains("Faulted") && html.contains("Available"));
    assert!(html.contains("Signed in as <strong>operator</strong>"));
    let (code, html) = page(&server, "/ui/stations/CP1", &cookie).await;
    assert_eq!(code, 200);
    assert!(html.contains("id=\"trigger-form\""));
    assert!(html.contains("ocpp1.6"));
    let csrf = page_csrf(&html);
    assert_eq!(csrf.len(), 64);
    let (code, html) = page(&server, "/", &cookie).await;
    assert_eq!(code, 200);
    assert!(html.contains("id=\"count-known\">1<"), "{html}");
    assert!(html.contains("id=\"count-connected\">1<"));
    // The alert engine raises it from the committed journal: up to 15 s on a loaded machine.
    let mut alert = String::new();
    for _ in 0..300 {
        let (_, html) = page(&server, "/ui/alerts", &cookie).await;
        if html.contains("button class=\"ack\"") {
            alert = hidden_attr(&html, "data-alert");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alert.is_empty(), "the faulted connector raised an alert");
    let (code, _) = page(&server, "/ui/stations/NOPE", &cookie).await;
    assert_eq!(code, 404);
    // The pages read from the API render their tables; webhooks are the admin's.
    for (path, table) in [
        ("/ui/sessions", "sessions-table"),
        ("/ui/schedules", "freshness-table"),
        ("/ui/triggers/NOPE", "trigger-timeline"),
        ("/ui/jobs", "jobs-table"),
        ("/ui/operations", "rollouts-table"),
    ] {
        let (code, html) = page(&server, path, &cookie).await;
        assert_eq!(code, 200, "{path}");
        assert!(html.contains(&format!("id=\"{table}\"")), "{path}");
        assert!(
            !html.contains("href=\"/ui/webhooks\""),
            "no Webhooks link below admin"
        );
    }
    let (_, html) = page(&server, "/ui/webhooks", &cookie).await;
    assert!(html.contains("needs the <code>admin</code> scope"));

    // The API takes the cookie: reads as they are, writes only with the CSRF header.
    let (code, _) = page(&server, "/api/v1/stations/CP1", &cookie).await;
    assert_eq!(code, 200);
    let ack = format!("/api/v1/alerts/{alert}/acknowledge");
    let (code, body) = api_post(&server, &ack, &cookie, None).await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(body["error"], "csrf_failed");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("X-CSRF-Token")
    );
    let (code, _) = api_post(&server, &ack, &cookie, Some("0".repeat(64).as_str())).await;
    assert_eq!(code, 403, "a wrong CSRF token is refused too");
    let (code, body) = api_post(&server, &ack, &cookie, Some(&csrf)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["acknowledgedBy"], "operator", "{body}");
    // The selector count behind the job form.
    let (code, text) = page(
        &server,
        "/ui/selector-count?connectorStatus=Faulted",
        &cookie,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json")["count"],
        1
    );

    // A read-only token sees no trigger form, no job form and no Acknowledge button, and
    // its cookie cannot write even with the CSRF header.
    let reader_cookie = login(&server, &reader).await;
    let (_, html) = page(&server, "/ui/stations/CP1", &reader_cookie).await;
    assert!(!html.contains("trigger-form"));
    assert!(html.contains("Signed in as <strong>viewer</strong>"));
    let reader_csrf = page_csrf(&html);
    let (_, html) = page(&server, "/ui/jobs", &reader_cookie).await;
    assert!(!html.contains("job-form"));
    cp.status16(2, "Available").await;
    cp.status16(2, "Faulted").await;
    let (_, html) = page(&server, "/ui/alerts?status=all", &reader_cookie).await;
    assert!(html.contains("data-alert="), "{html}");
    assert!(!html.contains("button class=\"ack\""));
    let (code, body) = api_post(&server, &ack, &reader_cookie, Some(&reader_csrf)).await;
    assert_eq!(code, 403);
    assert_eq!(body["error"], "forbidden");

    // Logout needs the form's CSRF token, ends the session and clears the cookie.
    let r = client()
        .post(server.url("/ui/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=")
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status().as_u16(), 403);
    let r = client()
        .post(server.url("/ui/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status().as_u16(), 303);
    let (_, header) = set_cookie(&r, "ocpulse_session").expect("cleared");
    assert!(header.contains("Max-Age=0"), "{header}");
    let (code, _) = page(&server, "/ui/stations", &cookie).await;
    assert_eq!(code, 303, "the ended session no longer opens pages");
    let (code, _) = page(&server, "/api/v1/stations", &cookie).await;
    assert_eq!(code, 401, "nor the API");

    // Revoking a token ends its sessions.
    let r = client()
        .get(server.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("list");
    let list: Value = r.json().await.expect("json");
    let id = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["name"] == "viewer")
        .expect("viewer")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = client()
        .delete(server.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status().as_u16(), 200);
    let (code, _) = page(&server, "/ui/stations", &reader_cookie).await;
    assert_eq!(code, 303);
}

/// The value of the first `NAME="..."` attribute.
fn hidden_attr(html: &str, name: &str) -> String {
    let marker = format!("{name}=\"");
    let start = html.find(&marker).expect("attribute") + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

#[tokio::test]
async fn development_mode_shows_the_dashboard_without_login() {
    let server = Server::start().await;
    let mut cs = Station::connect(&server, "CS1", "ocpp2.0.1").await;
    cs.boot201().await;
    cs.status201(1, 1, "Occupied").await;
    let (code, html) = page(&server, "/ui/stations?protocol=ocpp2.0.1", "").await;
    assert_eq!(code, 200);
    assert!(html.contains("development mode"));
    assert!(html.contains("data-station=\"CS1\""));
    assert!(html.contains("Occupied"));
    let (code, html) = page(&server, "/ui/stations?protocol=ocpp1.6", "").await;
    assert_eq!(code, 200);
    assert!(html.contains("0 stations match"));
    let (_, html) = page(&server, "/ui/stations/CS1", "").await;
    assert!(html.contains("id=\"trigger-form\""));
    assert!(html.contains("EVSE (optional)"));
    // The embedded assets, the vendored chart library with its licence.
    for (asset, kind) in [
        ("app.js", "text/javascript"),
        ("uPlot.iife.min.js", "text/javascript"),
        ("uPlot.min.css", "text/css"),
        ("uPlot-LICENSE.txt", "text/plain"),
    ] {
        let r = client()
            .get(server.url(&format!("/ui/assets/{asset}")))
            .send()
            .await
            .expect("asset");
        assert_eq!(r.status().as_u16(), 200, "{asset}");
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(ct.starts_with(kind), "{asset}: {ct}");
    }
    // A page sent to a non-loopback Host asks for a login even here (DNS rebinding).
    let r = client()
        .get(server.url("/"))
        .header("host", "evil.example:80")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 303);
}
