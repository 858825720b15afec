//! The ocpulse binary's I/O shell: the command line, the WebSocket endpoint stations
//! connect to, the per-station session tasks, and the HTTP API. The protocol rules live
//! in `ocpp-rpc` and the domain in `ocpulse-core`; this crate wires them to sockets,
//! clocks and the store.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod registry;
pub mod server;
pub mod sim_cmd;
pub mod ws;

/// The current wall-clock time in milliseconds since the Unix epoch.
pub fn now_ms() -> ocpulse_core::Millis {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}
