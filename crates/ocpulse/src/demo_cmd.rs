//! `ocpulse demo`: a server on a temporary data directory with a simulated mixed fleet (1.6
//! and 2.0.1 stations, transactions with meter values, a few faulty stations, an alert rule
//! that fires on them), and the dashboard's URL. Ctrl-C stops everything and deletes the
//! data directory. It is the first thing to run to see what ocpulse does.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::StationConfig;
use ocpulse_sim::fleet::{FleetOptions, run_fleet};
use ocpulse_sim::runner::{FleetStats, RunOptions};
use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;
use crate::tokens::Scope;

/// Options of `ocpulse demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the server listens (a loopback address: the demo is for this machine).
    #[arg(long, default_value = "127.0.0.1:8180")]
    pub listen: std::net::SocketAddr,
    /// Healthy 1.6 stations (CP0001, ...: two connectors, transactions).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(0..=5000))]
    pub stations_16: u32,
    /// Healthy 2.0.1 stations (CS0001, ...: one EVSE, transactions).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=5000))]
    pub stations_201: u32,
    /// Require a login (an admin token is created and printed), as a production server does.
    #[arg(long)]
    pub login: bool,
    /// Keep the data directory (printed) instead of deleting it at exit.
    #[arg(long)]
    pub keep_data: bool,
}

/// The demo fleet: healthy stations of both versions with transactions, and faulty ones.
pub fn fleet(args: &DemoArgs) -> Vec<StationConfig> {
    let mut all = Vec::new();
    let charging = |cfg: &mut StationConfig, i: u32| {
        cfg.auto_transactions = true;
        // Staggered, so the fleet is never all idle or all charging.
        cfg.idle_time = Duration::from_secs(10 + u64::from(i % 5) * 7);
        cfg.session_time = Duration::from_secs(60 + u64::from(i % 4) * 30);
        cfg.meter_interval = Duration::from_secs(5);
    };
    for i in 1..=args.stations_16 {
        let mut cfg = StationConfig::new(format!("CP{i:04}"), ProtocolVersion::V16);
        cfg.evses = 2;
        cfg.vendor = if i % 3 == 0 { "Voltwerk" } else { "ocpulse" }.into();
        cfg.firmware_version = if i % 4 == 0 { "1.4.2" } else { "1.5.0" }.into();
        charging(&mut cfg, i);
        all.push(cfg);
    }
    for i in 1..=args.stations_201 {
        let mut cfg = StationConfig::new(format!("CS{i:04}"), ProtocolVersion::V201);
        cfg.vendor = if i % 2 == 0 { "Chargetron" } else { "ocpulse" }.into();
        cfg.firmware_version = "2.0.7".into();
        cfg.dc = i % 2 == 0;
        charging(&mut cfg, i);
        all.push(cfg);
    }
    // Faulty stations: connectors reported Faulted (the alert rule fires), one that rejects
    // StatusNotification triggers, one whose firmware ignores every CSMS call.
    let mut faulted = StationConfig::new("FAULTY01", ProtocolVersion::V16);
    faulted.faults.faulted = true;
    faulted.vendor = "Voltwerk".into();
    all.push(faulted);
    let mut faulted = StationConfig::new("FAULTY02", ProtocolVersion::V201);
    faulted.faults.faulted = true;
    all.push(faulted);
    let mut rejecting = StationConfig::new("REJECT01", ProtocolVersion::V16);
    // The flag syntax of `ocpulse sim --fault`, which cannot fail for this one.
    let _ = rejecting.faults.add_flag("StatusNotification=reject");
    all.push(rejecting);
    let mut deaf = StationConfig::new("DEAF0001", ProtocolVersion::V201);
    deaf.faults.ignore_csms_calls = true;
    all.push(deaf);
    all
}

/// Runs the demo until Ctrl-C.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        anyhow::bail!(
            "ocpulse demo listens on a loopback address only (got {}); use `ocpulse serve` to serve a network",
            args.listen
        );
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("ocpulse-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let result = serve_demo(&args, &dir).await;
    if args.keep_data {
        eprintln!("data kept in {}", dir.display());
    } else if let Err(e) = std::fs::remove_dir_all(&dir) {
        eprintln!("warning: cannot delete {}: {e}", dir.display());
    }
    result
}

async fn serve_demo(args: &DemoArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    let token = if args.login {
        Some(
            crate::token_cmd::create(dir, "demo-admin", &[Scope::Admin])
                .await?
                .plain,
        )
    } else {
        None
    };
    let mut config = ServerConfig {
        listen: args.listen,
        data_dir: dir.to_path_buf(),
        ..ServerConfig::default()
    };
    config.security.require_token = args.login;
    let listener = crate::server::bind(args.listen).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {}: {e} (try --listen 127.0.0.1:8190)",
            args.listen
        )
    })?;
    let stop = CancellationToken::new();
    let server_stop = stop.clone();
    let server = tokio::spawn(crate::server::serve(config, listener, async move {
        server_stop.cancelled().await;
    }));
    let base = format!("http://{}", args.listen);
    wait_ready(&base).await?;
    add_rules(&base, token.as_deref()).await?;
    let stations = fleet(args);
    let count = stations.len();
    let options = FleetOptions {
        stations,
        run: RunOptions {
            url: format!("ws://{}/ocpp", args.listen),
            ..RunOptions::default()
        },
        ramp_per_sec: 0.0,
        summary_every: None,
    };
    crate::stdout::line(&format!(
        "ocpulse demo: {count} simulated stations (1.6 and 2.0.1, transactions, 4 faulty) on a server in {}",
        dir.display()
    ));
    crate::stdout::line(&format!("Dashboard: {base}/"));
    match &token {
        Some(t) => crate::stdout::line(&format!("Log in with the API token: {t}")),
        None => crate::stdout::line("No login needed (a loopback development server)."),
    }
    crate::stdout::line(&format!(
        "API: {base}/api/v1 (e.g. curl -s {base}/api/v1/stations{}). Ctrl-C stops everything.",
        token.as_ref().map_or(String::new(), |t| format!(
            " -H 'authorization: Bearer {t}'"
        ))
    ));
    let fleet_stop = stop.clone();
    let fleet = tokio::spawn(run_fleet(
        options,
        Arc::new(FleetStats::default()),
        fleet_stop,
    ));
    crate::shutdown_signal().await;
    eprintln!("stopping the fleet and the server...");
    stop.cancel();
    let _ = fleet.await;
    server
        .await
        .map_err(|e| anyhow::anyhow!("the server task failed: {e}"))??;
    Ok(())
}

/// Waits (up to 30 s) for the server to answer its health route.
async fn wait_ready(base: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{base}/api/v1/health")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the demo server did not start within 30 s")
}

/// The demo's fleet rules: an alert for every faulted connector (the faulty stations have
/// them) and a schedule that asks every connected station for its status every 30 s (so the
/// overview's chart shows triggers and the station pages recent ones).
async fn add_rules(base: &str, token: Option<&str>) -> anyhow::Result<()> {
    let rules = [
        (
            "alert-rules",
            serde_json::json!({
                "name": "Connector faulted",
                "condition": {"kind": "connectorFaulted"},
                "severity": "critical"
            }),
        ),
        (
            "schedules",
            serde_json::json!({
                "name": "status sweep",
                "selector": {"all": true, "connection": "connected"},
                "trigger": {"requestedMessage": "StatusNotification", "timeoutMs": 5000},
                "everySeconds": 30
            }),
        ),
    ];
    for (path, body) in rules {
        let mut request = reqwest::Client::new()
            .post(format!("{base}/api/v1/{path}"))
            .json(&body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let r = request
            .send()
            .await
            .with_context(|| format!("cannot create the demo's {path}"))?;
        if !r.status().is_success() {
            anyhow::bail!("the demo's {path} was refused: {}", r.status());
        }
    }
    Ok(())
}
