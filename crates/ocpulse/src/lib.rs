//! The ocpulse binary's I/O shell: the command line, the WebSocket endpoint stations
//! connect to, the per-station session tasks, and the HTTP API. The protocol rules live
//! in `ocpp-rpc` and the domain in `ocpulse-core`; this crate wires them to sockets,
//! clocks and the store.

pub mod alerts;
pub mod api;
pub mod app;
pub mod auth;
pub mod backup_cmd;
pub mod bench_cmd;
pub mod call_run;
pub mod charging_control;
pub mod charging_sessions;
pub mod cli;
pub mod client_cmd;
pub mod cluster;
pub mod completions_cmd;
pub mod config;
pub mod config_cmd;
pub mod config_file;
pub mod csms_call;
pub mod demo_cmd;
pub mod firmware;
pub mod freshness;
pub mod id_tokens;
pub mod jobs;
pub mod listener;
pub mod logging;
pub mod logs;
pub mod metrics;
pub mod readiness;
pub mod registry;
pub mod retention;
pub mod schedules;
pub mod serve_args;
pub mod server;
pub mod session_env;
pub mod sim_cmd;
pub mod snapshots;
pub mod station_config;
pub mod stdout;
pub mod tls;
pub mod token_cmd;
pub mod tokens;
pub mod trigger_run;
pub mod trigger_service;
pub mod web;
pub mod ws;

/// Installs rustls's process-wide crypto provider (ring, which ocpulse-ca already builds).
///
/// Every HTTP client in the process (webhook deliveries, the CLI, the benchmark driver)
/// is built on rustls without a compiled-in provider, and building one before a provider
/// is installed panics, so every entry point calls this first. Idempotent.
pub fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err only when another provider was installed first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The current wall-clock time in milliseconds since the Unix epoch.
pub fn now_ms() -> ocpulse_core::Millis {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// Resolves on Ctrl-C or SIGTERM: how `serve` and `sim` learn to stop cleanly.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}
