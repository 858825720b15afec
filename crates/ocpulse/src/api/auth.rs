//! Who may call which route, and the middleware that enforces it: bearer tokens with scopes
//! ([`ACCESS`], the one route → scope table) and the cross-site request checks that keep a
//! web page an operator has open from using the API (writes must be JSON and same-origin).
//!
//! Order of the checks, for every API route:
//! 1. `Authorization` present: it must be a known token (401 otherwise, even in development
//!    mode). Absent: a public route passes; otherwise 401 when tokens are required
//!    (`config.security.require_token`), else the request is the local development caller
//!    with every scope, if it is addressed to a loopback host (403 `untrusted_host`
//!    otherwise: DNS rebinding).
//! 2. The caller must hold the route's scope (403 `forbidden`).
//! 3. A write (POST/PUT/PATCH/DELETE) must not come from another origin (403
//!    `cross_origin`) and must carry `application/json` if it has a body or a content type
//!    at all (415 `unsupported_media_type`): browsers send cross-site form and `text/plain`
//!    posts without asking, but never a cross-site JSON one.
//!
//! The handler then finds the [`Caller`] as a request extension. Without `Authorization`,
//! the dashboard's session cookie stands for the token its user logged in with; a write
//! made with it must also carry the session's `X-CSRF-Token` (`web::session`).

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::app::App;
use crate::tokens::{self, Scope};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, token or not (a presented token is still checked).
    Public,
    /// A caller holding this scope (or one that implies it).
    Needs(Scope),
}

use Access::{Needs, Public};
use Scope::{Admin, Read, Trigger};

/// Every API route's access rule, by lower-case method and the path as in `api_routes!`.
/// `every_route_has_an_access_rule` holds it equal to `api::ROUTES`; a route missing here
/// would need `admin` (see [`access`]).
pub const ACCESS: &[(&str, &str, Access)] = &[
    ("get", "/api/v1/health", Public),
    ("get", "/api/v1/openapi.json", Public),
    // Probes carry no token; the answers name checks, not fleet data.
    ("get", "/health/live", Public),
    ("get", "/health/ready", Public),
    // Metrics show the fleet (stations by protocol, triggers, ...): read, as other GETs.
    ("get", "/metrics", Needs(Read)),
    // Stations.
    ("get", "/api/v1/stations", Needs(Read)),
    ("get", "/api/v1/stations/{id}", Needs(Read)),
    ("put", "/api/v1/stations/{id}/validation", Needs(Admin)),
    ("post", "/api/v1/stations/{id}/trigger", Needs(Trigger)),
    // Any CSMS call can change a station's password, certificates or firmware, which only
    // admin may do through the typed routes: admin.
    ("post", "/api/v1/stations/{id}/calls", Needs(Admin)),
    // The typed operations change what a station does (restart it, take it out of
    // service, release a cable): admin, as /calls which can send them too.
    ("post", "/api/v1/stations/{id}/reset", Needs(Admin)),
    (
        "post",
        "/api/v1/stations/{id}/change-availability",
        Needs(Admin),
    ),
    (
        "post",
        "/api/v1/stations/{id}/unlock-connector",
        Needs(Admin),
    ),
    ("post", "/api/v1/stations/{id}/clear-cache", Needs(Admin)),
    ("get", "/api/v1/calls", Needs(Read)),
    ("get", "/api/v1/calls/{id}", Needs(Read)),
    ("get", "/api/v1/stations/{id}/messages", Needs(Read)),
    // Charging sessions: starting and stopping one delivers energy someone pays for, so
    // admin, like `/calls` that could send the same CALLs.
    ("post", "/api/v1/stations/{id}/sessions", Needs(Admin)),
    ("get", "/api/v1/sessions", Needs(Read)),
    ("get", "/api/v1/sessions/{id}", Needs(Read)),
    ("post", "/api/v1/sessions/{id}/stop", Needs(Admin)),
    ("get", "/api/v1/stations/{id}/health", Needs(Read)),
    ("get", "/api/v1/stations/{id}/meter-values", Needs(Read)),
    // Log uploads: asking is an operation on the station like a trigger; reading, read.
    ("post", "/api/v1/stations/{id}/logs", Needs(Trigger)),
    ("get", "/api/v1/logs", Needs(Read)),
    ("get", "/api/v1/logs/{id}", Needs(Read)),
    ("get", "/api/v1/logs/{id}/content", Needs(Read)),
    // The station registry (routes being added separately).
    ("post", "/api/v1/stations", Needs(Admin)),
    ("put", "/api/v1/stations/{id}", Needs(Admin)),
    ("delete", "/api/v1/stations/{id}", Needs(Admin)),
    ("post", "/api/v1/stations/{id}/password", Needs(Admin)),
    // Triggers, events, CA.
    ("get", "/api/v1/triggers", Needs(Read)),
    ("get", "/api/v1/triggers/{id}", Needs(Read)),
    ("get", "/api/v1/events", Needs(Read)),
    ("get", "/api/v1/ca", Needs(Read)),
    // Fleet operations.
    ("post", "/api/v1/trigger-jobs", Needs(Trigger)),
    ("get", "/api/v1/trigger-jobs", Needs(Read)),
    ("get", "/api/v1/trigger-jobs/{id}", Needs(Read)),
    ("post", "/api/v1/trigger-jobs/{id}/cancel", Needs(Trigger)),
    ("post", "/api/v1/schedules", Needs(Trigger)),
    ("get", "/api/v1/schedules", Needs(Read)),
    ("get", "/api/v1/schedules/{id}", Needs(Read)),
    ("put", "/api/v1/schedules/{id}", Needs(Trigger)),
    ("delete", "/api/v1/schedules/{id}", Needs(Trigger)),
    ("post", "/api/v1/freshness", Needs(Trigger)),
    ("get", "/api/v1/freshness", Needs(Read)),
    ("get", "/api/v1/freshness/{id}", Needs(Read)),
    ("delete", "/api/v1/freshness/{id}", Needs(Trigger)),
    // Reports and export.
    ("get", "/api/v1/reports/fleet", Needs(Read)),
    ("get", "/api/v1/reports/health", Needs(Read)),
    ("get", "/api/v1/reports/storage", Needs(Read)),
    ("get", "/api/v1/cluster", Needs(Read)),
    ("post", "/api/v1/cluster/nodes/{id}/drain", Needs(Admin)),
    ("get", "/api/v1/export/journal", Needs(Read)),
    ("get", "/api/v1/export/meter-values", Needs(Read)),
    // Authorization: reading the registry is read; changing who may charge, or a
    // station's local list, is admin.
    ("get", "/api/v1/id-tokens", Needs(Read)),
    ("get", "/api/v1/id-tokens/{idToken}", Needs(Read)),
    ("put", "/api/v1/id-tokens/{idToken}", Needs(Admin)),
    ("delete", "/api/v1/id-tokens/{idToken}", Needs(Admin)),
    ("post", "/api/v1/stations/{id}/local-list", Needs(Admin)),
    // Alerts.
    ("post", "/api/v1/alert-rules", Needs(Admin)),
    ("get", "/api/v1/alert-rules", Needs(Read)),
    ("get", "/api/v1/alert-rules/{id}", Needs(Read)),
    ("put", "/api/v1/alert-rules/{id}", Needs(Admin)),
    ("delete", "/api/v1/alert-rules/{id}", Needs(Admin)),
    ("get", "/api/v1/alerts", Needs(Read)),
    ("get", "/api/v1/alerts/{id}", Needs(Read)),
    ("post", "/api/v1/alerts/{id}/acknowledge", Needs(Trigger)),
    // Webhooks hold receivers' URLs and delivery logs: admin even to read.
    ("post", "/api/v1/webhooks", Needs(Admin)),
    ("get", "/api/v1/webhooks", Needs(Admin)),
    ("get", "/api/v1/webhooks/{id}", Needs(Admin)),
    ("delete", "/api/v1/webhooks/{id}", Needs(Admin)),
    ("get", "/api/v1/webhooks/{id}/deliveries", Needs(Admin)),
    // Configuration: reading sends only read-only calls (trigger); profiles and applying
    // change stations' settings, security ones included (admin).
    (
        "post",
        "/api/v1/stations/{id}/configuration/read",
        Needs(Trigger),
    ),
    ("get", "/api/v1/stations/{id}/configuration", Needs(Read)),
    (
        "get",
        "/api/v1/stations/{id}/configuration/history",
        Needs(Read),
    ),
    ("get", "/api/v1/config/profiles", Needs(Read)),
    ("get", "/api/v1/config/profiles/{id}", Needs(Read)),
    ("put", "/api/v1/config/profiles/{id}", Needs(Admin)),
    ("delete", "/api/v1/config/profiles/{id}", Needs(Admin)),
    ("get", "/api/v1/config/drift", Needs(Read)),
    ("post", "/api/v1/config/drift/check", Needs(Trigger)),
    ("post", "/api/v1/config/apply", Needs(Admin)),
    ("get", "/api/v1/config/applies", Needs(Read)),
    ("get", "/api/v1/config/applies/{id}", Needs(Read)),
    // Firmware: installing an image is as much as an arbitrary call (admin).
    ("post", "/api/v1/firmware/rollouts", Needs(Admin)),
    ("get", "/api/v1/firmware/rollouts", Needs(Read)),
    ("get", "/api/v1/firmware/rollouts/{id}", Needs(Read)),
    (
        "post",
        "/api/v1/firmware/rollouts/{id}/cancel",
        Needs(Admin),
    ),
    // Tokens.
    ("post", "/api/v1/tokens", Needs(Admin)),
    ("get", "/api/v1/tokens", Needs(Admin)),
    ("delete", "/api/v1/tokens/{id}", Needs(Admin)),
];

/// The rule for a method (lower case; HEAD is answered by GET) and routed path. Anything
/// not in [`ACCESS`] needs `admin`: a route added without a rule fails closed (and fails
/// `every_route_has_an_access_rule`).
pub fn access(method: &str, path: &str) -> Access {
    let method = if method == "head" { "get" } else { method };
    ACCESS
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map_or(Needs(Admin), |(_, _, a)| *a)
}

/// Who is calling, as the middleware established it; a request extension for handlers
/// (serialized when a cluster node hands the request to another).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Caller {
    /// The token used, if any (`None`: no token, on a public route or in development mode).
    pub token: Option<TokenCaller>,
    /// What the caller may do.
    pub scopes: Vec<Scope>,
}

/// The token a request was made with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenCaller {
    /// The token's id.
    pub id: String,
    /// The token's name: `requestedBy` of what this request starts.
    pub name: String,
}

impl Caller {
    /// The name to record as who asked, when a token says it.
    pub fn token_name(&self) -> Option<&str> {
        self.token.as_ref().map(|t| t.name.as_str())
    }
}

/// The scope names of a list, for messages.
fn names(scopes: &[Scope]) -> String {
    if scopes.is_empty() {
        return "none".into();
    }
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3; `error="invalid_token"` when a token
/// was presented).
fn unauthorized(message: impl Into<String>, presented: bool) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    let challenge = if presented {
        r#"Bearer realm="ocpulse", error="invalid_token""#
    } else {
        r#"Bearer realm="ocpulse""#
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// 403: the caller lacks the scope.
fn forbidden(needed: Scope, caller: &Caller) -> Response {
    let who = caller
        .token_name()
        .map_or_else(|| "this caller".to_owned(), |n| format!("token {n:?}"));
    let mut response = ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "this request needs the `{needed}` scope; {who} has: {}. Create a token with that scope (POST /api/v1/tokens, or `ocpulse token create --scope {needed}`)",
            names(&caller.scopes)
        ),
    )
    .with("requiredScope", needed)
    .with("tokenScopes", &caller.scopes)
    .into_response();
    let challenge =
        format!(r#"Bearer realm="ocpulse", error="insufficient_scope", scope="{needed}""#);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

/// Whether a method changes something (and so must pass the cross-site checks).
fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// `host[:port]` with the scheme's default port dropped, lower case, for comparing an
/// `Origin` with the `Host` the request was sent to.
fn normalize_authority(authority: &str, scheme: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    let default = match scheme {
        "https" => ":443",
        _ => ":80",
    };
    a.strip_suffix(default).map_or(a.clone(), str::to_owned)
}

/// Why a write is refused as cross-site, if it is: `Sec-Fetch-Site: cross-site`, or an
/// `Origin` (present) whose host and port differ from the request's `Host` (or that is
/// `null`, as sandboxed pages and some redirects send).
pub fn cross_origin(headers: &HeaderMap, host: Option<&str>) -> Option<String> {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Some(
            "the browser says this request comes from another site (Sec-Fetch-Site: cross-site)"
                .into(),
        );
    }
    let origin = headers.get(header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or("null");
    let same = origin.split_once("://").is_some_and(|(scheme, authority)| {
        host.is_some_and(|h| {
            !authority.contains('/')
                && normalize_authority(authority, scheme) == normalize_authority(h, scheme)
        })
    });
    (!same).then(|| {
        format!(
            "Origin {origin:?} is not this server ({}); the API does not take writes from other web pages",
            host.unwrap_or("no Host header")
        )
    })
}

/// Whether a `Host` names this machine (`localhost`, `*.localhost`, a loopback address),
/// with or without a port. No `Host` at all (HTTP/1.0) counts: browsers always send one.
pub fn loopback_host(host: Option<&str>) -> bool {
    let Some(host) = host else {
        return true;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(ip, _)| ip)
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    let lower = name.to_ascii_lowercase();
    lower == "localhost"
        || lower.ends_with(".localhost")
        || lower
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a write's body is refused, if it is: a write with a body, or with any content type,
/// must say `application/json` (parameters such as `charset` allowed). A write with neither
/// (`curl -X DELETE`) passes.
pub fn unsupported_media(headers: &HeaderMap) -> Option<String> {
    let content_type = headers.get(header::CONTENT_TYPE);
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    match content_type {
        None if !has_body => None,
        None => Some("this request has a body but no Content-Type; send `Content-Type: application/json` with a JSON body".into()),
        Some(v) => {
            let essence = v
                .to_str()
                .ok()
                .and_then(|s| s.split(';').next())
                .map(|s| s.trim().to_ascii_lowercase());
            (essence.as_deref() != Some("application/json")).then(|| {
                format!(
                    "Content-Type {:?} is not accepted; send `Content-Type: application/json` with a JSON body (writes without a body need no Content-Type)",
                    String::from_utf8_lossy(v.as_bytes())
                )
            })
        }
    }
}

/// The middleware (see the module comment): authenticates, checks the route's scope and
/// the cross-site rules, and hands the [`Caller`] to the handler.
pub async fn guard(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    // Handed over by another node of the cluster, which authenticated and authorized it.
    if let Some(forwarded) = request
        .extensions()
        .get::<crate::cluster::forward::Forwarded>()
        .cloned()
    {
        if let Some(caller) = forwarded.caller {
            request.extensions_mut().insert(caller);
        }
        return next.run(request).await;
    }
    let method = request.method().as_str().to_ascii_lowercase();
    let rule = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(Needs(Admin), |p| access(&method, p.as_str()));
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .map(str::to_owned);
    // The dashboard's session cookie, when no Authorization header is sent (writes need its
    // CSRF header too: `web::session::api_caller`).
    let session = crate::web::session::api_caller(&app, request.headers(), request.method()).await;
    let caller = match request.headers().get(header::AUTHORIZATION) {
        None if let Some(from_session) = session => match from_session {
            Ok(caller) => caller,
            Err(refused) => return refused,
        },
        Some(value) => {
            let plain = match tokens::bearer(value.as_bytes()) {
                Ok(t) => t,
                Err(tokens::BadHeader(why)) => return unauthorized(why, true),
            };
            let Some(token) = app.tokens.authenticate(app.store.as_ref(), plain).await else {
                return unauthorized(
                    "the bearer token is not known: it was revoked, or mistyped",
                    true,
                );
            };
            app.tokens.touch(app.store.as_ref(), &token.id);
            Caller {
                token: Some(TokenCaller {
                    id: token.id.clone(),
                    name: token.name.clone(),
                }),
                scopes: token.scopes.clone(),
            }
        }
        None if rule == Public => Caller {
            token: None,
            scopes: Vec::new(),
        },
        None if app.config.security.require_token => {
            return unauthorized(
                "this server requires a bearer token: send `Authorization: Bearer ocp_...` (create one with `ocpulse token create --name NAME --scope read`)",
                false,
            );
        }
        // Loopback development mode: no token, every scope, for requests addressed to a
        // loopback name. A web page that rebinds its own DNS name to 127.0.0.1 is
        // same-origin with its requests, so only the Host it had to send gives it away.
        None if !loopback_host(host.as_deref()) => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "untrusted_host",
                format!(
                    "without a token this development server only answers requests addressed to a loopback host (localhost, 127.0.0.1, [::1]), not {:?}; use http://127.0.0.1:PORT or send a bearer token",
                    host.as_deref().unwrap_or_default()
                ),
            )
            .into_response();
        }
        None => Caller {
            token: None,
            scopes: Scope::ALL.to_vec(),
        },
    };
    if let Needs(needed) = rule
        && !tokens::allows(&caller.scopes, needed)
    {
        return forbidden(needed, &caller);
    }
    if is_write(request.method()) {
        if let Some(why) = cross_origin(request.headers(), host.as_deref()) {
            return ApiError::new(StatusCode::FORBIDDEN, "cross_origin", why).into_response();
        }
        if let Some(why) = unsupported_media(request.headers()) {
            return ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                why,
            )
            .into_response();
        }
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The OpenAPI security scheme's name.
const SCHEME: &str = "bearerAuth";

/// Declares the bearer scheme in the OpenAPI document and, from [`ACCESS`], each
/// operation's required scope (as an OpenAPI 3.1 role name) and the 401/403/415 answers the
/// middleware can give it, so the document and the enforcement have one source.
pub struct SecurityDoc;

impl utoipa::Modify for SecurityDoc {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

        openapi.components.get_or_insert_with(Default::default).add_security_scheme(
            SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ocp_ token")
                    .description(Some(
                        "`Authorization: Bearer ocp_...`: a token from `ocpulse token create` or POST /api/v1/tokens. Scopes: `read` (GETs), `trigger` (triggers, jobs, schedules, freshness, acknowledging alerts; implies read), `admin` (everything). A loopback server without --require-token also answers requests that send no Authorization header.",
                    ))
                    .build(),
            ),
        );
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ApiErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for (path, item) in &mut openapi.paths.paths {
            let ops = [
                ("get", item.get.as_mut()),
                ("put", item.put.as_mut()),
                ("post", item.post.as_mut()),
                ("delete", item.delete.as_mut()),
                ("patch", item.patch.as_mut()),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let Needs(scope) = access(method, path) else {
                    continue;
                };
                op.security = Some(vec![SecurityRequirement::new(SCHEME, [scope.as_str()])]);
                let responses = &mut op.responses.responses;
                responses.entry("401".into()).or_insert_with(|| {
                    error("No bearer token where one is required, or a bad or revoked one (`unauthorized`, with `WWW-Authenticate: Bearer`)")
                });
                let forbidden = if method == "get" {
                    format!(
                        "The token lacks the `{scope}` scope (`forbidden`, with `requiredScope` and `tokenScopes`), or a request without a token to a development server is addressed to a non-loopback host (`untrusted_host`)"
                    )
                } else {
                    format!(
                        "The token lacks the `{scope}` scope (`forbidden`, with `requiredScope` and `tokenScopes`), the request comes from another web origin (`cross_origin`), or a request without a token to a development server is addressed to a non-loopback host (`untrusted_host`)"
                    )
                };
                responses
                    .entry("403".into())
                    .or_insert_with(|| error(&forbidden));
                if method != "get" {
                    responses.entry("415".into()).or_insert_with(|| {
                        error("A body (or a Content-Type) that is not `application/json` (`unsupported_media_type`)")
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_route_has_an_access_rule() {
        let ruled: BTreeSet<(&str, &str)> = ACCESS.iter().map(|(m, p, _)| (*m, *p)).collect();
        assert_eq!(
            ruled.len(),
            ACCESS.len(),
            "a route is listed twice in ACCESS"
        );
        let missing: Vec<_> = crate::api::ROUTES
            .iter()
            .filter(|r| !ruled.contains(*r))
            .collect();
        assert!(
            missing.is_empty(),
            "routes without an access rule (add them to ACCESS in api/auth.rs): {missing:?}"
        );
    }

    #[test]
    fn only_health_probes_and_the_document_are_public_and_gets_need_read_at_least() {
        for (method, path, rule) in ACCESS {
            match rule {
                Public => assert!(
                    *method == "get"
                        && matches!(
                            *path,
                            "/api/v1/health"
                                | "/api/v1/openapi.json"
                                | "/health/live"
                                | "/health/ready"
                        ),
                    "{method} {path} is public"
                ),
                Needs(Read) => assert_eq!(*method, "get", "{path}: writes need more than read"),
                Needs(_) => {}
            }
        }
        assert_eq!(access("get", "/api/v1/tokens"), Needs(Admin));
        assert_eq!(access("get", "/metrics"), Needs(Read));
        assert_eq!(access("get", "/api/v1/webhooks/{id}"), Needs(Admin));
        assert_eq!(access("post", "/api/v1/trigger-jobs"), Needs(Trigger));
        assert_eq!(access("head", "/api/v1/stations"), Needs(Read));
        assert_eq!(access("get", "/api/v1/health"), Public);
        assert_eq!(
            access("patch", "/api/v1/stations"),
            Needs(Admin),
            "unknown: admin"
        );
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn writes_must_be_json_when_they_carry_anything() {
        let ok = |pairs| unsupported_media(&headers(pairs)).is_none();
        assert!(ok(&[
            ("content-type", "application/json"),
            ("content-length", "2")
        ]));
        assert!(ok(&[("content-type", "Application/JSON; charset=utf-8")]));
        assert!(ok(&[]), "curl -X DELETE");
        assert!(ok(&[("content-length", "0")]));
        assert!(!ok(&[
            ("content-type", "text/plain"),
            ("content-length", "2")
        ]));
        assert!(!ok(&[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", "0")
        ]));
        assert!(!ok(&[("content-type", "multipart/form-data; boundary=x")]));
        assert!(!ok(&[("content-length", "2")]), "a body needs a type");
        assert!(!ok(&[("transfer-encoding", "chunked")]));
        assert!(!ok(&[("content-type", "application/jsonp")]));
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "127.0.0.1:8180",
            "127.0.0.1",
            "127.1.2.3:80",
            "localhost:8180",
            "LocalHost",
            "app.localhost:1",
            "[::1]:8180",
            "[::1]",
        ] {
            assert!(loopback_host(Some(host)), "{host}");
        }
        assert!(loopback_host(None));
        for host in [
            "evil.example:8180",
            "evil.example",
            "10.0.0.1:8180",
            "localhost.evil.example",
            "[::2]:1",
            "127.0.0.1.nip.io",
        ] {
            assert!(!loopback_host(Some(host)), "{host}");
        }
    }

    #[test]
    fn writes_from_other_origins_are_refused() {
        let refused = |pairs, host| cross_origin(&headers(pairs), host).is_some();
        assert!(
            !refused(&[], Some("127.0.0.1:8180")),
            "no Origin: a non-browser client"
        );
        assert!(!refused(
            &[("origin", "http://127.0.0.1:8180")],
            Some("127.0.0.1:8180")
        ));
        assert!(!refused(
            &[("origin", "http://CSMS.example")],
            Some("csms.example:80")
        ));
        assert!(!refused(
            &[("origin", "https://csms.example:443")],
            Some("csms.example")
        ));
        assert!(!refused(&[("sec-fetch-site", "same-origin")], Some("a")));
        assert!(refused(
            &[("origin", "http://evil.example")],
            Some("127.0.0.1:8180")
        ));
        assert!(refused(
            &[("origin", "http://127.0.0.1:9999")],
            Some("127.0.0.1:8180")
        ));
        assert!(refused(&[("origin", "null")], Some("127.0.0.1:8180")));
        assert!(refused(&[("origin", "http://127.0.0.1:8180")], None));
        assert!(refused(
            &[("sec-fetch-site", "cross-site")],
            Some("127.0.0.1:8180")
        ));
    }
}
