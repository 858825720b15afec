//! Simulated stations (`ocpulse-sim`, the code behind `ocpulse sim`) run in-process against
//! a test [`Server`], and waits on what the server then knows of them.

use std::sync::Arc;
use std::time::Duration;

use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::runner::{RunOptions, run_station};
use ocpulse_sim::{Station, StationConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Server;

/// How a simulated station reaches `server`: reconnecting quickly, so a test never waits
/// for the default back-off.
pub fn run_options(server: &Server) -> Arc<RunOptions> {
    Arc::new(RunOptions {
        url: format!("ws://{}/ocpp", server.addr),
        reconnect_min: Duration::from_millis(50),
        ..RunOptions::default()
    })
}

/// Runs one simulated station against `server` until the token is cancelled.
pub fn spawn(
    server: &Server,
    cfg: StationConfig,
) -> (CancellationToken, tokio::task::JoinHandle<impl Sized>) {
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_station(
        Station::new(cfg, None),
        run_options(server),
        Arc::default(),
        stop.clone(),
        true,
    ));
    (stop, task)
}

/// A station with two EVSEs that starts a transaction on each at once and keeps both
/// charging (no periodic meter values) for longer than any test runs.
pub fn charging_on_two_evses(id: &str, version: ProtocolVersion) -> StationConfig {
    let mut cfg = StationConfig::new(id, version);
    cfg.evses = 2;
    cfg.auto_transactions = true;
    cfg.idle_time = Duration::from_millis(1);
    cfg.session_time = Duration::from_secs(3600);
    cfg.meter_interval = Duration::from_secs(3600);
    cfg
}

/// The station's view once `ready` holds for it (bounded: about 6 s).
pub async fn wait_for(server: &Server, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let (code, body) = server.get(&format!("/api/v1/stations/{id}")).await;
        if code == 200 && ready(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("station {id} never became ready");
}
