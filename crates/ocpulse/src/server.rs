//! Assembles the router and runs the server until shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::routing::{get, put};
use ocpulse_core::Store;
use ocpulse_store::{DataDirLock, PgStore, SqliteStore};
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::ServerConfig;
use crate::{api, ws};

/// The whole HTTP surface: the station endpoint and the API.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/ocpp/{station_id}", get(ws::upgrade))
        // The stations' log uploads: the one-time token in the path is the credential.
        .route(
            "/uploads/{token}",
            put(api::uploads::receive).post(api::uploads::receive),
        )
        .merge(api::router(&app))
        .merge(crate::web::router())
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
    // One server per data directory (its database, or its CA with PostgreSQL), held until
    // this returns or the process dies.
    let _held = DataDirLock::acquire(&config.data_dir, "ocpulse serve")?;
    let store = match (&config.cluster, config.database_url.as_deref()) {
        (Some(_), Some(url)) => Arc::new(
            PgStore::open_cluster_node(url)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail()))?,
        ) as Arc<dyn Store>,
        _ => open_store(&config.data_dir, config.database_url.as_deref(), true).await?,
    };
    let app = Arc::new(App::new(config, store).await?);
    let tls = match &app.config.security.tls {
        Some(files) => {
            let ca_pem = app.ca.as_ref().map(|ca| ca.cert_pem());
            Some(crate::tls::acceptor(files, ca_pem.as_deref())?)
        }
        None => None,
    };
    let open_files = raise_fd_limit();
    // Charging sessions follow the journal on every node: a remote start waits on what
    // this task folds, wherever it was asked.
    crate::charging_sessions::start(&app).await?;
    match app.config.cluster.clone() {
        // In a cluster, one node (the lease's holder) runs the background work.
        Some(settings) => {
            crate::cluster::join(
                &app,
                &settings,
                router(Arc::clone(&app)),
                |app| async move { background(&app).await },
            )
            .await?;
        }
        None => background(&app).await?,
    }
    crate::web::start(&app);
    tracing::info!(
        addr = %listener.local_addr()?,
        tls = tls.is_some(),
        auto_register = app.config.security.auto_register,
        require_token = app.config.security.require_token,
        schemas = app.schemas.len(),
        "ocpulse listening"
    );
    // Station sockets never end by themselves: at shutdown every session is told to close,
    // so the graceful shutdown can finish.
    let token = app.shutdown.clone();
    let stopping = Arc::clone(&app);
    tokio::spawn(async move {
        shutdown.await;
        // A cluster node hands its stations to the others before it stops.
        if stopping.config.cluster.is_some() {
            crate::cluster::drain::run(&stopping).await;
        }
        token.cancel();
    });
    let flushes = flush_share(app.config.shutdown_timeout);
    let waits = session_wait(app.config.shutdown_timeout);
    let settings = crate::listener::Listening {
        tls,
        handshake_timeout: app.config.limits.handshake_timeout,
        // Pending connections never take more than a quarter of the descriptors: the rest
        // stay for the store, the API and authenticated stations.
        max_pending: app
            .config
            .limits
            .max_pending_connections
            .min(open_files.map_or(usize::MAX, |n| (n / 4).max(16))),
        shutdown_grace: waits,
    };
    let listening = crate::listener::serve(
        listener,
        router(Arc::clone(&app)),
        settings,
        app.shutdown.clone(),
    );
    tokio::join!(listening, close_sessions(&app, waits));
    // Whatever is left of the timeout goes to the store; what it has not written by then
    // is written as the store closes (its writer finishes its queue) or replayed at the
    // next start.
    if tokio::time::timeout(flushes, flush(&app)).await.is_err() {
        tracing::warn!(
            "the store did not finish flushing within --shutdown-timeout; exiting anyway"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

/// Starts the background work a server runs once (in a cluster, on the leader alone):
/// resumes jobs, rollouts and schedules from the store, and starts freshness targets,
/// alerting, retention and snapshots.
async fn background(app: &Arc<App>) -> anyhow::Result<()> {
    let delay = app.config.job_resume_delay;
    crate::jobs::resume(app, delay).await?;
    crate::station_config::apply::mark_interrupted(app).await?;
    crate::schedules::start(app, delay).await?;
    crate::freshness::start(app, delay).await?;
    // Alerting follows the journal from before the first station can connect.
    crate::alerts::start(app).await?;
    crate::firmware::resume(app).await?;
    crate::retention::start(app);
    crate::snapshots::start(app);
    Ok(())
}

/// The part of `--shutdown-timeout` kept for flushing the store after sessions and
/// requests ended: a fifth of the timeout, at most two seconds (a flush normally takes
/// milliseconds; the rest is for stations that are slow to take their close frame).
fn flush_share(timeout: Duration) -> Duration {
    (timeout / 5).min(Duration::from_secs(2))
}

/// How long a stop waits for sessions and requests: the timeout less the flush's share.
pub(crate) fn session_wait(timeout: Duration) -> Duration {
    timeout.saturating_sub(flush_share(timeout))
}

/// At shutdown, waits (up to `waits`) for every station session to send its close frame
/// and journal its `StationDisconnected`. Without this wait the process ended while
/// sessions were still closing, and their disconnects were lost.
async fn close_sessions(app: &App, waits: Duration) {
    app.shutdown.cancelled().await;
    app.sessions.close();
    let open = app.sessions.len();
    let started = Instant::now();
    if tokio::time::timeout(waits, app.sessions.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = app.sessions.len(),
            "station sessions still open at the end of --shutdown-timeout; dropping them"
        );
    } else {
        tracing::info!(
            sessions = open,
            took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "every station session closed"
        );
    }
}

/// Commits what the stop left: running jobs' progress, every write queued before (a
/// commit is written after everything queued before it, so this is a barrier for the
/// sessions' disconnect entries), and last the station snapshot that folds them in.
async fn flush(app: &App) {
    crate::jobs::flush_all(app).await;
    if let Err(e) = app
        .store
        .commit(ocpulse_core::store::WriteBatch::default())
        .await
    {
        tracing::error!(error = %e, "could not flush the journal at shutdown");
    }
    crate::snapshots::finish(app).await;
}

/// Opens the store `ocpulse` runs on: PostgreSQL when a database URL is given, else SQLite
/// in `data_dir`. `server`: opened by the server itself (triggers left running by a stopped
/// server are marked interrupted), not by an offline command beside it. A bad URL or an
/// unreachable database is an error saying which, never a panic.
pub async fn open_store(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    server: bool,
) -> anyhow::Result<Arc<dyn Store>> {
    let Some(url) = database_url else {
        let store = if server {
            SqliteStore::open(data_dir)
        } else {
            SqliteStore::open_beside_server(data_dir)
        };
        let store =
            store.with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
        return Ok(Arc::new(store));
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        anyhow::bail!(
            "--database-url must be a postgres:// (or postgresql://) URL, not {:?}",
            describe_database(url)
        );
    }
    let store = if server {
        PgStore::open(url).await
    } else {
        PgStore::open_beside_server(url).await
    };
    Ok(Arc::new(
        store.map_err(|e| anyhow::anyhow!("{}", e.detail()))?,
    ))
}

/// A database URL as it may be shown: without the password.
pub fn describe_database(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".into();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

/// Raises the soft limit on open files to the hard limit (every station is a socket) and
/// returns the limit in force, so the listener's cap on pending connections can keep a
/// reserve of the rest for the API and for stations that authenticate.
fn raise_fd_limit() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current != limit.maximum {
            let raised = rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            if let Err(e) = setrlimit(Resource::Nofile, raised) {
                tracing::warn!(error = %e, "cannot raise the open-file limit");
            }
        }
        getrlimit(Resource::Nofile)
            .current
            .and_then(|n| usize::try_from(n).ok())
    }
    #[cfg(not(target_os = "linux"))]
    None
}
