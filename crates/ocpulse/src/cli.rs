//! The command line: `ocpulse serve`, `ocpulse sim` and `ocpulse bench`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ocpulse_core::ValidationMode;

use crate::config::ServerConfig;

/// ocpulse: an OCPP central system that makes TriggerMessage a first-class API.
#[derive(Debug, Parser)]
#[command(name = "ocpulse", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the CSMS: stations connect to ws://ADDR/ocpp/{stationId}, the API is under http://ADDR/api/v1.
    Serve(ServeArgs),
    /// Run simulated charging stations (1.6J or 2.0.1) against a CSMS until interrupted.
    Sim(crate::sim_cmd::SimArgs),
    /// Benchmark ocpulse against peer CSMSs and a null server under the same load.
    Bench(crate::bench_cmd::BenchArgs),
    /// The benchmark's null server (answers every frame with the cheapest valid reply).
    #[command(hide = true)]
    BenchNullServer(crate::bench_cmd::NullServerArgs),
}

/// Options of `ocpulse serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address for the one listener (station WebSocket and HTTP API).
    #[arg(long, env = "OCPULSE_LISTEN", default_value = "127.0.0.1:8180")]
    pub listen: SocketAddr,
    /// Directory of the embedded SQLite database (created if missing).
    #[arg(long, env = "OCPULSE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Heartbeat interval (seconds) given to stations with an Accepted BootNotification.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(i32).range(1..))]
    pub heartbeat_interval: i32,
    /// Seconds a station has to answer a CSMS CALL.
    #[arg(long, default_value_t = 30)]
    pub call_timeout: u64,
    /// Inbound schema validation for stations without their own policy: strict or lenient.
    #[arg(long, default_value = "strict")]
    pub validation: ValidationMode,
    /// Seconds of silence before a station is pinged; three intervals without any frame or
    /// pong close the connection (0 = never ping).
    #[arg(long, default_value_t = 60)]
    pub ws_ping_interval: u64,
}

impl ServeArgs {
    /// The server settings these options describe.
    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            heartbeat_interval: self.heartbeat_interval,
            call_timeout: Duration::from_secs(self.call_timeout),
            validation: self.validation,
            ws_ping_interval: Duration::from_secs(self.ws_ping_interval),
            ..ServerConfig::default()
        }
    }
}
