//! Dashboard logins: a random session id in an HttpOnly, SameSite=Strict cookie, mapped in
//! memory to the hash of the API token the user logged in with and a CSRF token.
//!
//! Why not the token itself in the cookie: a session id can be ended (logout, expiry, a
//! restart) without revoking the token, never lets the token leave the server again, and
//! the server keeps only the token's hash, as the token store does. Every use re-checks the
//! hash against the token store, so a revoked token ends its sessions within
//! `tokens::MAX_AGE`.
//!
//! The JSON API accepts the cookie instead of `Authorization` ([`api_caller`]); a write
//! made with it must carry the session's CSRF token in `X-CSRF-Token`, and the dashboard's
//! own form posts carry it in a hidden `csrf` field.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;

use crate::api::ApiError;
use crate::api::auth::{Caller, TokenCaller};
use crate::app::App;
use crate::tokens::Scope;

/// The session cookie's name.
pub const COOKIE: &str = "ocpulse_session";
/// The cookie that carries the login form's CSRF token until the form is posted.
pub const LOGIN_COOKIE: &str = "ocpulse_login";
/// The header the dashboard's scripts send the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session ends this long after login, used or not (the cookie's `Max-Age` too).
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// At most this many sessions are held; a new login past it ends the oldest.
const MAX_SESSIONS: usize = 10_000;

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// Hex SHA-256 of the API token it logged in with.
    pub token_hash: String,
    /// The token's id and name (who asked, in records).
    pub token_id: String,
    /// The token's name.
    pub name: String,
    /// The token's scopes at login (re-read on every use).
    pub scopes: Vec<Scope>,
    /// What its forms and script writes must send back.
    pub csrf: String,
    /// When it logged in.
    pub created: Instant,
}

/// The sessions of this server (lost at restart: users log in again).
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session; returns its id (the cookie's value).
    pub fn create(&self, session: Session) -> String {
        let id = random_hex();
        let mut map = self.by_id.lock();
        map.retain(|_, s| s.created.elapsed() < LIFETIME);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id.clone(), session);
        id
    }

    /// The live session with this id.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.by_id.lock();
        match map.get(id) {
            Some(s) if s.created.elapsed() < LIFETIME => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends a session (logout).
    pub fn remove(&self, id: &str) {
        self.by_id.lock().remove(id);
    }
}

/// 32 random bytes, hex: session ids and CSRF tokens.
pub fn random_hex() -> String {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    // The system's random source failing is not recoverable; a zero id would be guessable,
    // so fall back to nothing predictable: the time and a counter mixed by SHA-256.
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        let seed = format!("{:?}{}", Instant::now(), crate::now_ms());
        let digest = ring::digest::digest(&ring::digest::SHA256, seed.as_bytes());
        bytes.copy_from_slice(digest.as_ref());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares secrets without stopping at the first difference.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, `Secure` when the server speaks TLS.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// A live session and its id, re-checked against the token store: `None` without a cookie,
/// for an unknown or expired session, or when its token was revoked (the session ends).
pub async fn current(app: &App, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie(headers, COOKIE)?;
    let mut session = app.web.sessions.get(id)?;
    let Some(token) = app
        .tokens
        .authenticate_hash(app.store.as_ref(), &session.token_hash)
        .await
    else {
        app.web.sessions.remove(id);
        return None;
    };
    app.tokens.touch(app.store.as_ref(), &token.id);
    session.scopes.clone_from(&token.scopes);
    Some((id.to_owned(), session))
}

/// For the API's guard: the caller a dashboard session stands for, when the request sends
/// no `Authorization` but a live session cookie. A write must also carry the session's CSRF
/// token in `X-CSRF-Token` (403 `csrf_failed` otherwise). `None`: no live session, the
/// guard decides as without a cookie.
pub async fn api_caller(
    app: &App,
    headers: &HeaderMap,
    method: &Method,
) -> Option<Result<Caller, Response>> {
    if headers.contains_key(header::AUTHORIZATION) {
        return None;
    }
    let (_, session) = current(app, headers).await?;
    let writes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if writes {
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !sent.is_some_and(|s| same_secret(s, &session.csrf)) {
            return Some(Err(csrf_refused(
                "this request carries the dashboard's session cookie but not its CSRF token: send the page's token in the X-CSRF-Token header (the dashboard's scripts do), or use a bearer token",
            )));
        }
    }
    Some(Ok(Caller {
        token: Some(TokenCaller {
            id: session.token_id,
            name: session.name,
        }),
        scopes: session.scopes,
    }))
}

/// 403 `csrf_failed` with a message saying what was missing.
pub fn csrf_refused(message: &str) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "csrf_failed", message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; ocpulse_session=abc; b=2".parse().expect("header"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }

    #[test]
    fn session_cookies_are_http_only_and_strict() {
        let c = set_cookie(COOKIE, "x", "/", LIFETIME, false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"));
        assert!(set_cookie(COOKIE, "x", "/", LIFETIME, true).ends_with("; Secure"));
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(random_hex(), random_hex());
        assert_eq!(random_hex().len(), 64);
    }
}
