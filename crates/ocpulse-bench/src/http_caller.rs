//! The driver's HTTP side: one kept-alive HTTP/1.1 connection per caller, through hyper's
//! connection API, with each request's URI, headers and body built once.
//!
//! The benchmark's driver must never be what limits a server (issue 4), and against the null
//! server it was: `perf` on the driver put 51% of its core in the reqwest path (pool
//! checkout, URL handling, a header map per request, redirect and timeout layers) at
//! 8,300 triggers/s. A caller here owns its connection outright, so a request is encode →
//! write → read → parse and nothing else.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;

/// One POST, prepared once and sent many times.
#[derive(Debug, Clone)]
pub struct Post {
    uri: Uri,
    body: Bytes,
}

impl Post {
    /// A POST of JSON `body` to `path` (origin form: `/api/...`).
    ///
    /// # Panics
    /// When `path` is not a valid origin-form URI: the bench builds every path itself from
    /// ASCII station ids, so that is a bug in the bench, not an input.
    pub fn json(path: &str, body: impl Into<Bytes>) -> Self {
        let uri = path
            .parse()
            .unwrap_or_else(|e| panic!("bad benchmark path {path}: {e}"));
        Self {
            uri,
            body: body.into(),
        }
    }
}

/// What one call ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpOutcome {
    /// The server answered with this status and body.
    Status(u16, Bytes),
    /// No answer: the connection failed or closed (it is reopened on the next call).
    Failed,
}

impl HttpOutcome {
    /// A 2xx status.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Status(code, _) if (200..300).contains(code))
    }
}

/// How long one call may take by default: longer than any trigger's own deadline, so it only
/// ends calls to a server that stopped answering (every load loop is bounded in time).
pub const CALL_LIMIT: Duration = Duration::from_secs(60);

/// A caller with its own connection to one server (`host:port`).
pub struct Caller {
    addr: String,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
    limit: Duration,
}

impl Caller {
    /// A caller of `addr` (`127.0.0.1:PORT`); it connects on its first call.
    ///
    /// # Panics
    /// When `addr` cannot be a Host header (the bench builds it from an IP and a port).
    pub fn new(addr: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            host: HeaderValue::from_str(addr)
                .unwrap_or_else(|e| panic!("bad benchmark address {addr}: {e}")),
            sender: None,
            limit: CALL_LIMIT,
        }
    }

    /// The same caller with another limit per call (a bulk job's call waits for the whole
    /// job).
    #[must_use]
    pub fn with_limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    async fn connect(&self) -> Option<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(&self.addr).await.ok()?;
        stream.set_nodelay(true).ok()?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.ok()?;
        // The connection task ends when the caller drops its sender or the server closes.
        tokio::spawn(connection);
        Some(sender)
    }

    /// Sends `post` and reads the whole answer, within the caller's limit. A broken or timed
    /// out connection is reopened on the next call, never retried within this one (a retry
    /// would hide a failure from the count).
    pub async fn call(&mut self, post: &Post) -> HttpOutcome {
        let answer = tokio::time::timeout(self.limit, self.exchange(post))
            .await
            .unwrap_or(HttpOutcome::Failed);
        if answer == HttpOutcome::Failed {
            self.sender = None;
        }
        answer
    }

    async fn exchange(&mut self, post: &Post) -> HttpOutcome {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            self.sender = self.connect().await;
        }
        let Some(sender) = self.sender.as_mut() else {
            return HttpOutcome::Failed;
        };
        if sender.ready().await.is_err() {
            return HttpOutcome::Failed;
        }
        let mut request = Request::new(Full::new(post.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = post.uri.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.into_body().collect().await {
                    Ok(body) => HttpOutcome::Status(status, body.to_bytes()),
                    Err(_) => HttpOutcome::Failed,
                }
            }
            Err(_) => HttpOutcome::Failed,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::post;

    async fn echo_server() -> String {
        let app = Router::new().route(
            "/echo/{n}",
            post(
                |axum::extract::Path(n): axum::extract::Path<u16>, body: String| async move {
                    let status = axum::http::StatusCode::from_u16(n).unwrap_or_default();
                    (status, format!("{n}:{body}"))
                },
            ),
        );
        serve(app).await
    }

    /// Serves `app` on a free loopback port; returns its `host:port`.
    pub(crate) async fn serve(app: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[tokio::test]
    async fn one_connection_carries_many_calls_and_returns_status_and_body() {
        let addr = echo_server().await;
        let mut caller = Caller::new(&addr);
        for n in [200u16, 404, 201] {
            let answer = caller
                .call(&Post::json(&format!("/echo/{n}"), r#"{"a":1}"#))
                .await;
            assert_eq!(
                answer,
                HttpOutcome::Status(n, Bytes::from(format!("{n}:{{\"a\":1}}")))
            );
            assert_eq!(answer.is_success(), (200..300).contains(&n));
        }
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_a_failure_within_the_limit() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        // Accepts and reads, never answers.
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let mut caller = Caller::new(&addr).with_limit(Duration::from_millis(200));
        let started = std::time::Instant::now();
        assert_eq!(
            caller.call(&Post::json("/echo/200", "{}")).await,
            HttpOutcome::Failed
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_is_a_failure_not_a_hang() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        drop(listener);
        let mut caller = Caller::new(&addr);
        assert_eq!(
            caller.call(&Post::json("/echo/200", "{}")).await,
            HttpOutcome::Failed
        );
    }
}
