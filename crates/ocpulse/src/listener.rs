//! The one listener: accepts TCP, optionally speaks TLS (profiles 2 and 3), and serves
//! HTTP/1.1 with upgrades to the router.
//!
//! It is written out (rather than `axum::serve`) for the bounds a public listener needs
//! before any request exists: a connection must finish its TLS handshake and send its
//! first request within the handshake timeout, and about `max_pending_connections` may be
//! in that state at once. A new connection over the cap evicts the *oldest* pending one
//! (once it has waited a moment), so idle half-open sockets can neither use up the file
//! descriptors the API and the stations need nor lock newcomers out: a real client sends
//! its request within milliseconds and is never the oldest for long. What TLS learned about the peer (its
//! verified client certificate) reaches the handshake handler as a [`Peer`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Peer;

/// How long an idle keep-alive connection may wait between requests.
const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(75);

/// Lets a handler close its own connection, with whatever it still has buffered: an
/// event stream whose client stopped reading must not hold its memory and socket
/// forever, and hyper never polls a response body again while the socket is full.
/// Found in every request's extensions.
#[derive(Clone, Debug)]
pub struct ConnectionAbort(CancellationToken);

impl ConnectionAbort {
    /// Closes the connection (a no-op once it has ended).
    pub fn abort(&self) {
        self.0.cancel();
    }
}

/// The listener's settings.
#[derive(Clone)]
pub struct Listening {
    /// TLS, when the server has a certificate.
    pub tls: Option<TlsAcceptor>,
    /// Time to finish the TLS handshake and send a first request.
    pub handshake_timeout: Duration,
    /// Connections allowed at once that have not sent a first request.
    pub max_pending: usize,
    /// How long in-flight HTTP requests get to finish at shutdown (its share of
    /// `--shutdown-timeout`).
    pub shutdown_grace: Duration,
}

/// Accepts and serves connections until `shutdown` is cancelled, then lets HTTP requests
/// in flight finish (station sessions close on the same token by themselves).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: Listening,
    shutdown: CancellationToken,
) {
    let pending = Arc::new(Pending::default());
    let mut next_id = 0u64;
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, remote) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors (or a transient error): back off instead of
                // spinning; connections that time out free descriptors again.
                tracing::warn!(error = %e, "accept failed; pausing accepts for 50 ms");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        next_id += 1;
        let Some(slot) = pending.admit(next_id, settings.max_pending) else {
            tracing::debug!(%remote, "too many new connections without a request; closing");
            drop(tcp);
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
        let (router, settings, shutdown) = (router.clone(), settings.clone(), shutdown.clone());
        tracker.spawn(async move {
            connection(tcp, remote, slot, router, settings, shutdown).await;
        });
    }
    // Stop accepting at once: a station reconnecting now must be refused, not queued
    // behind a listener nobody accepts from any more.
    drop(listener);
    tracker.close();
    if tokio::time::timeout(settings.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after the shutdown grace period; closing them");
    }
}

/// Serves one connection: TLS handshake and first request within the deadline, then HTTP
/// until it closes or the server shuts down.
async fn connection(
    tcp: TcpStream,
    remote: SocketAddr,
    slot: Slot,
    router: Router,
    settings: Listening,
    shutdown: CancellationToken,
) {
    let deadline = tokio::time::Instant::now() + settings.handshake_timeout;
    let (io, peer) = match &settings.tls {
        None => (
            Either::Left(tcp),
            Peer {
                remote,
                tls: false,
                certificate_cn: None,
            },
        ),
        Some(acceptor) => match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => {
                let certificate_cn = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(|leaf| ocpulse_ca::certificate_common_name(leaf));
                let peer = Peer {
                    remote,
                    tls: true,
                    certificate_cn,
                };
                (Either::Right(Box::new(stream)), peer)
            }
            Ok(Err(e)) => {
                tracing::info!(%remote, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%remote, "no TLS handshake within the handshake timeout");
                return;
            }
        },
    };
    // The first request releases the pending slot; until then the deadline runs.
    let (seen_tx, seen_rx) = oneshot::channel::<()>();
    let evicted = slot.evicted.clone();
    let first = Arc::new(Mutex::new(Some((seen_tx, slot))));
    let abort = CancellationToken::new();
    let handle = ConnectionAbort(abort.clone());
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        if let Some((seen, slot)) = first.lock().take() {
            let _ = seen.send(());
            drop(slot);
        }
        request.extensions_mut().insert(peer.clone());
        request.extensions_mut().insert(handle.clone());
        tower::ServiceExt::oneshot(router.clone(), request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(KEEP_ALIVE_IDLE);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "HTTP connection ended with an error");
            }
            return;
        }
        seen = tokio::time::timeout_at(deadline, seen_rx) => {
            if !matches!(seen, Ok(Ok(()))) {
                tracing::debug!(%remote, "no request within the handshake timeout; closing");
                return;
            }
        }
        () = evicted.cancelled() => {
            tracing::debug!(%remote, "evicted: the oldest of too many connections without a request");
            return;
        }
        // Stopping: a connection that has sent nothing is closed at once (as hyper's
        // graceful shutdown closes idle ones), instead of holding the stop up until its
        // handshake timeout.
        () = shutdown.cancelled() => {
            tracing::debug!(%remote, "stopping: closing a connection that sent no request");
            return;
        }
    }
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "HTTP connection ended with an error");
            }
        }
        () = abort.cancelled() => {
            tracing::debug!(%remote, "connection closed by its handler");
        }
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(settings.shutdown_grace, conn).await;
        }
    }
}

/// How long a pending connection is safe from eviction: in a reconnect storm thousands of
/// stations are accepted faster than their first requests are read, and they must not
/// evict each other.
const EVICTABLE_AFTER: Duration = Duration::from_millis(250);
/// Beyond this multiple of the cap, with nothing old enough to evict, new connections are
/// closed at once.
const HARD_CAP_FACTOR: usize = 4;

/// Connections that have not sent a first request, oldest first (ids grow with age).
#[derive(Default)]
struct Pending {
    waiting: Mutex<std::collections::BTreeMap<u64, (tokio::time::Instant, CancellationToken)>>,
}

impl Pending {
    /// Adds a connection, first evicting the oldest ones (pending for a while) while the
    /// cap is reached. `None`: over the hard cap with nothing to evict, close it.
    fn admit(self: &Arc<Self>, id: u64, cap: usize) -> Option<Slot> {
        let now = tokio::time::Instant::now();
        let evicted = CancellationToken::new();
        let mut waiting = self.waiting.lock();
        let cap = cap.max(1);
        while waiting.len() >= cap {
            match waiting.first_key_value() {
                Some((_, (since, _))) if now.duration_since(*since) >= EVICTABLE_AFTER => {
                    if let Some((_, (_, oldest))) = waiting.pop_first() {
                        oldest.cancel();
                    }
                }
                _ => break,
            }
        }
        if waiting.len() >= cap.saturating_mul(HARD_CAP_FACTOR) {
            return None;
        }
        waiting.insert(id, (now, evicted.clone()));
        Some(Slot {
            id,
            evicted,
            pending: Arc::clone(self),
        })
    }
}

/// A connection's place among the pending ones; dropping it (first request, or the end of
/// the connection) leaves.
struct Slot {
    id: u64,
    evicted: CancellationToken,
    pending: Arc<Pending>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pending.waiting.lock().remove(&self.id);
    }
}
