//! Draining a node: it takes no new stations (the WebSocket upgrade answers 503 and the
//! readiness check fails, so the load balancer stops sending it any), closes each of its
//! stations with WebSocket code 1012 (service restart) once that connection has no CSMS
//! CALL or trigger running, the closes spread over `--drain-time` so the fleet reconnects
//! to the other nodes gradually, and then the process stops. `SIGTERM` drains a cluster
//! node; `POST /api/v1/cluster/nodes/{id}/drain` drains any node.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::App;

/// How long a connection whose turn has come may finish its CSMS CALLs and triggers before
/// it closes anyway: the longest trigger wait the API allows.
pub const IDLE_WAIT: Duration = Duration::from_secs(300);

/// A node's drain: started once, never undone (the process stops at its end).
#[derive(Debug, Default)]
pub struct Drain {
    /// Set first: the node refuses stations and tells the cluster it drains.
    flag: std::sync::atomic::AtomicBool,
    /// Cancelled once the cluster knows: the node's stations start closing.
    started: CancellationToken,
    spread: parking_lot::Mutex<Duration>,
}

impl Drain {
    /// Whether the node is draining.
    pub fn is_draining(&self) -> bool {
        self.flag.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Resolves when the drain starts.
    pub async fn started(&self) {
        self.started.cancelled().await;
    }

    /// When, after the start, the connection of `generation` closes: spread evenly over the
    /// drain time by a hash of the generation, so closes do not come in one burst.
    pub fn turn(&self, generation: u64) -> Duration {
        let spread = *self.spread.lock();
        let slot = generation.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54; // 0..1024
        spread.mul_f64(f64::from(u32::try_from(slot).unwrap_or(0)) / 1024.0)
    }
}

/// Drains this node and then stops it: returns once every station has closed (or the
/// drain time and one trigger wait have passed), having cancelled the server's run.
pub async fn run(app: &Arc<App>) {
    if app.cluster.drain.is_draining() {
        return;
    }
    let spread = app.config.drain_time;
    *app.cluster.drain.spread.lock() = spread;
    app.cluster
        .drain
        .flag
        .store(true, std::sync::atomic::Ordering::Relaxed);
    // The other nodes learn it drains before its first station closes, so a request for a
    // station it lets go waits for the station to reconnect instead of failing.
    if let Some(bus) = app.cluster.bus()
        && let Err(e) = super::bus::heartbeat(app, bus).await
    {
        tracing::warn!(error = %e, "cannot tell the cluster this node drains");
    }
    app.cluster.drain.started.cancel();
    let held = app.stations.local_sessions();
    tracing::info!(
        stations = held,
        spread_s = spread.as_secs_f64(),
        "draining: closing this node's stations with 1012 so they reconnect to other nodes"
    );
    let deadline = tokio::time::Instant::now() + spread + IDLE_WAIT;
    while app.stations.local_sessions() > 0 && tokio::time::Instant::now() < deadline {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            () = app.shutdown.cancelled() => return,
        }
    }
    tracing::info!("drained: every station moved; stopping");
    app.shutdown.cancel();
}
