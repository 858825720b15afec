//! Assembles the router and runs the server until shutdown.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use axum::serve::ListenerExt;
use ocpulse_core::Store;
use ocpulse_store::SqliteStore;
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::ServerConfig;
use crate::{api, ws};

/// The whole HTTP surface: the station endpoint and the API.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/ocpp/{station_id}", get(ws::upgrade))
        .merge(api::router(&app))
        .fallback(api::not_found)
        .with_state(app)
}

/// Binds the listener with a deep accept queue: when thousands of stations reconnect at
/// once, a short queue drops SYNs and each dropped station waits a full second to retry.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(8192)
}

/// Opens the store and serves on `listener` until `shutdown` resolves.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.check_exposure()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&config.data_dir)?);
    let app = Arc::new(App::new(config, store)?);
    let delay = app.config.job_resume_delay;
    crate::jobs::resume(&app, delay).await?;
    crate::schedules::start(&app, delay).await?;
    crate::freshness::start(&app, delay).await?;
    // Alerting follows the journal from before the first station can connect.
    crate::alerts::start(&app).await?;
    tracing::info!(addr = %listener.local_addr()?, schemas = app.schemas.len(), "ocpulse listening");
    // Station sockets never end by themselves: at shutdown every session is told to close,
    // so the graceful shutdown can finish.
    let token = app.shutdown.clone();
    tokio::spawn(async move {
        shutdown.await;
        token.cancel();
    });
    // OCPP frames are small and latency-bound: never let Nagle hold one back.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    // `into_make_service`: serving a `Router` directly rebuilds its whole route table for
    // every accepted connection (`Router::with_state(())` in axum's `Service<IncomingStream>`
    // impl), 8% of the server's CPU while a fleet connects (perf); this clones an `Arc`.
    axum::serve(listener, router(Arc::clone(&app)).into_make_service())
        .with_graceful_shutdown(app.shutdown.clone().cancelled_owned())
        .await?;
    crate::jobs::flush_all(&app).await;
    Ok(())
}
