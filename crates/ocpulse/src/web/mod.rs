//! The web dashboard, served by the server itself at `/` and `/ui/...` (docs/dashboard.md).
//!
//! Pages are rendered on the server with `maud` from the same live state the API reads
//! (the registry, alerts), a page of rows at a time so they stay fast at any fleet size.
//! A little plain JavaScript (`assets/app.js`, no build step) keeps them live: it follows
//! the API's event stream (`GET /api/v1/events`) and, at most once per throttle period,
//! re-fetches the part of the page an event touched (`?fragment=1` renders only that part),
//! and it calls the JSON API for actions (trigger, job, acknowledge). Charts use uPlot,
//! vendored under `assets/vendor/uplot` with its licence. Everything is embedded in the
//! binary. Login is with an API token (`session`); a loopback development server without
//! `--require-token` needs none, as its API.

pub mod pages;
pub mod session;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use parking_lot::Mutex;

use crate::app::App;
use crate::tokens::Scope;

/// How often the fleet's connected count is sampled for the overview's chart.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Samples kept: six hours at one every ten seconds (bounded memory).
const SAMPLES_KEPT: usize = 2160;

/// The dashboard's state in [`App`]: logins and the overview's samples.
#[derive(Debug, Default)]
pub struct Web {
    /// Logged-in browsers.
    pub sessions: session::Sessions,
    /// (unix seconds, connected stations, known stations, triggers ended since the sample
    /// before), oldest first.
    pub samples: Mutex<VecDeque<(i64, usize, usize, u64)>>,
}

impl Web {
    /// Records one sample, dropping the oldest past the bound.
    pub fn sample(&self, at_secs: i64, connected: usize, known: usize, triggers: u64) {
        let mut s = self.samples.lock();
        if s.len() >= SAMPLES_KEPT {
            s.pop_front();
        }
        s.push_back((at_secs, connected, known, triggers));
    }
}

/// Starts the sampler of the overview's chart (one count of the registry per
/// [`SAMPLE_EVERY`], and the triggers that ended meanwhile, counted from the committed
/// journal's `TriggerCompleted` entries as the event stream reads them), stopped at shutdown.
pub fn start(app: &Arc<App>) {
    let app = Arc::clone(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut live = Some(app.store.subscribe());
        let mut triggers = 0u64;
        loop {
            let next = async {
                match live.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = app.shutdown.cancelled() => break,
                _ = tick.tick() => {
                    let (connected, known) = connected_count(&app);
                    app.web.sample(crate::now_ms() / 1000, connected, known, triggers);
                    triggers = 0;
                }
                entry = next => match entry {
                    Ok(e) => {
                        if e.frame_type == ocpulse_core::journal::EVENT
                            && e.action.as_deref() == Some(ocpulse_core::projection::TRIGGER_COMPLETED)
                        {
                            triggers += 1;
                        }
                    }
                    // Overtaken (entries of unknown kinds were missed): the count is low
                    // for this interval, never wrong for the next.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => live = None,
                },
            }
        }
    });
}

/// (connected, known) stations now.
pub fn connected_count(app: &App) -> (usize, usize) {
    let all = app.stations.all();
    let connected = all.iter().filter(|(_, e)| e.connected()).count();
    (connected, all.len())
}

/// The dashboard's routes (merged into the server's router beside the API).
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/ui", get(|| async { Redirect::to("/") }))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/stations", get(pages::stations))
        .route("/ui/stations/{id}", get(pages::station))
        .route("/ui/jobs", get(pages::jobs))
        .route("/ui/alerts", get(pages::alerts))
        .route("/ui/sessions", get(pages::sessions))
        .route("/ui/schedules", get(pages::schedules))
        .route("/ui/webhooks", get(pages::webhooks))
        .route("/ui/operations", get(pages::operations))
        .route("/ui/triggers/{id}", get(pages::trigger))
        .route("/ui/selector-count", get(pages::selector_count))
        .route("/ui/assets/{file}", get(asset))
}

/// Who is looking at a page.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The token's name; `None` in development mode without login.
    pub name: Option<String>,
    /// What the token may do (every scope in development mode).
    pub scopes: Vec<Scope>,
    /// The session's CSRF token (`None` without a session: development mode, where the
    /// API's own cross-site checks protect its writes).
    pub csrf: Option<String>,
}

impl Viewer {
    /// Whether the viewer may do what `scope` allows (decides which buttons are shown).
    pub fn can(&self, scope: Scope) -> bool {
        crate::tokens::allows(&self.scopes, scope)
    }
}

/// The viewer of a request, or the redirect to the login page. A live session wins; without
/// one, a loopback development server (no `--require-token`, a loopback `Host`) shows the
/// dashboard with every scope, as its API answers without a token.
pub async fn viewer(app: &App, headers: &HeaderMap, here: &str) -> Result<Viewer, Response> {
    if let Some((_, s)) = session::current(app, headers).await {
        return Ok(Viewer {
            name: Some(s.name),
            scopes: s.scopes,
            csrf: Some(s.csrf),
        });
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !app.config.security.require_token && crate::api::auth::loopback_host(host) {
        return Ok(Viewer {
            name: None,
            scopes: Scope::ALL.to_vec(),
            csrf: None,
        });
    }
    let next = url_encode(here);
    Err(Redirect::to(&format!("/ui/login?next={next}")).into_response())
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Security headers of every dashboard page: no framing, scripts only from this server.
fn page_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// An HTML answer with the page headers.
pub fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response();
    page_headers(&mut r);
    r
}

/// The main pages, in the navigation's order: (path, label, page key).
const NAV: [(&str, &str, &str); 8] = [
    ("/", "Overview", "overview"),
    ("/ui/stations", "Stations", "stations"),
    ("/ui/sessions", "Sessions", "sessions"),
    ("/ui/jobs", "Jobs", "jobs"),
    ("/ui/schedules", "Schedules", "schedules"),
    ("/ui/alerts", "Alerts", "alerts"),
    ("/ui/operations", "Firmware", "operations"),
    ("/ui/webhooks", "Webhooks", "webhooks"),
];

/// The frame of every page: navigation, who is logged in, logout, the scripts.
pub fn layout(title: &str, page: &str, viewer: &Viewer, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · ocpulse" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/ui/assets/uPlot.min.css";
                link rel="stylesheet" href="/ui/assets/app.css";
                meta name="csrf-token" content=(viewer.csrf.as_deref().unwrap_or(""));
            }
            body data-page=(page) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "ocpulse" }
                    nav aria-label="Main" {
                        ul {
                            @for (href, label, key) in NAV {
                                @if key != "webhooks" || viewer.can(Scope::Admin) {
                                li {
                                    @if key == page {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                                }
                            }
                        }
                    }
                    div.who {
                        @match &viewer.name {
                            Some(name) => {
                                span { "Signed in as " strong { (name) } " (" (scope_names(&viewer.scopes)) ")" }
                                form method="post" action="/ui/logout" {
                                    input type="hidden" name="csrf" value=(viewer.csrf.as_deref().unwrap_or(""));
                                    button type="submit" { "Log out" }
                                }
                            }
                            None => span.badge.dev title="A loopback server without --require-token: no login needed" { "development mode" }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                div #live-status role="status" aria-live="polite" {}
                script src="/ui/assets/uPlot.iife.min.js" {}
                script src="/ui/assets/app.js" {}
            }
        }
    }
}

fn scope_names(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `next` target that stays on this server (a path, not `//host`).
fn safe_next(next: Option<&String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.clone(),
        _ => "/".into(),
    }
}

/// `GET /ui/login`: the form. Sets a short-lived cookie holding the form's CSRF token (the
/// login form is protected too: no other site can log a browser in as someone else).
async fn login_form(
    State(app): State<Arc<App>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    login_page(&app, q.get("next"), None, StatusCode::OK)
}

fn login_page(
    app: &App,
    next: Option<&String>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let csrf = session::random_hex();
    let next = safe_next(next);
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Log in · ocpulse" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/ui/assets/app.css";
            }
            body data-page="login" {
                main id="main" .login {
                    h1 { "ocpulse" }
                    p { "Log in with an API token (" code { "ocpulse token create --name NAME --scope read" } ")." }
                    @if let Some(e) = error {
                        p.error role="alert" { (e) }
                    }
                    form method="post" action="/ui/login" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="next" value=(next);
                        label for="token" { "API token" }
                        input #token type="password" name="token" autocomplete="off" required autofocus placeholder="ocp_...";
                        button type="submit" { "Log in" }
                    }
                }
            }
        }
    };
    let mut r = html_response(status, markup);
    let cookie = session::set_cookie(
        session::LOGIN_COOKIE,
        &csrf,
        "/ui/login",
        Duration::from_secs(3600),
        app.config.security.tls.is_some(),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// The fields of the login and logout forms.
#[derive(serde::Deserialize, Default)]
struct FormFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /ui/login`: checks the form's CSRF token and the API token, starts a session.
async fn login(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<FormFields>(&body) else {
        return session::csrf_refused("the login form could not be read; reload the page");
    };
    let expected = session::cookie(&headers, session::LOGIN_COOKIE);
    if !expected.is_some_and(|e| !form.csrf.is_empty() && session::same_secret(e, &form.csrf)) {
        return session::csrf_refused(
            "the login form's CSRF token is missing or does not match its cookie; reload the login page and try again",
        );
    }
    let plain = form.token.trim();
    let Some(token) = app.tokens.authenticate(app.store.as_ref(), plain).await else {
        return login_page(
            &app,
            form.next.as_ref(),
            Some("That token is not known: it was revoked, or mistyped."),
            StatusCode::UNAUTHORIZED,
        );
    };
    app.tokens.touch(app.store.as_ref(), &token.id);
    let id = app.web.sessions.create(session::Session {
        token_hash: token.hash.clone(),
        token_id: token.id.clone(),
        name: token.name.clone(),
        scopes: token.scopes.clone(),
        csrf: session::random_hex(),
        created: std::time::Instant::now(),
    });
    let secure = app.config.security.tls.is_some();
    let mut r = Redirect::to(&safe_next(form.next.as_ref())).into_response();
    let cookies = [
        session::set_cookie(session::COOKIE, &id, "/", session::LIFETIME, secure),
        session::set_cookie(
            session::LOGIN_COOKIE,
            "",
            "/ui/login",
            Duration::ZERO,
            secure,
        ),
    ];
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// `POST /ui/logout`: ends the session (the form carries its CSRF token).
async fn logout(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = serde_urlencoded::from_bytes::<FormFields>(&body).unwrap_or_default();
    let Some((id, s)) = session::current(&app, &headers).await else {
        return Redirect::to("/ui/login").into_response();
    };
    if form.csrf.is_empty() || !session::same_secret(&form.csrf, &s.csrf) {
        return session::csrf_refused(
            "this form's CSRF token is missing or wrong; reload the page and try again",
        );
    }
    app.web.sessions.remove(&id);
    let mut r = Redirect::to("/ui/login").into_response();
    let gone = session::set_cookie(
        session::COOKIE,
        "",
        "/",
        Duration::ZERO,
        app.config.security.tls.is_some(),
    );
    if let Ok(v) = HeaderValue::from_str(&gone) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// The embedded static files: (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/app.css"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/uPlot.min.css"),
    ),
    (
        "uPlot-LICENSE.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/vendor/uplot/LICENSE"),
    ),
];

/// `GET /ui/assets/{file}`: an embedded file (public: no fleet data in them).
async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=300"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// JSON inside a `<script type="application/json">`: `<` escaped so no `</script>` ends it.
pub fn json_island(value: &serde_json::Value) -> PreEscaped<String> {
    PreEscaped(value.to_string().replace('<', "\\u003c"))
}
