//! `ocpulse sim`: run simulated stations against a CSMS until interrupted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::StationConfig;
use ocpulse_sim::faults::{Faults, Scenario};
use ocpulse_sim::fleet::{FleetOptions, run_fleet};
use ocpulse_sim::runner::{FleetStats, RunOptions};
use tokio_util::sync::CancellationToken;

/// Options of `ocpulse sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// The CSMS endpoint; each station connects to URL/{stationId}.
    #[arg(long, default_value = "ws://127.0.0.1:8180/ocpp")]
    pub url: String,
    /// Station ids are PREFIX0001, PREFIX0002, ...
    #[arg(long, default_value = "SIM")]
    pub id_prefix: String,
    /// How many stations.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub stations: u32,
    /// OCPP version: 1.6, 2.0.1 or 2.1.
    #[arg(long, default_value = "1.6", value_parser = parse_protocol)]
    pub protocol: ProtocolVersion,
    /// EVSEs per station (a 1.6 station numbers its connectors 1..EVSES×CONNECTORS).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub evses: u32,
    /// Connectors per EVSE.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub connectors: u32,
    /// HTTP Basic auth (security profiles 1 and 2): PASSWORD (user = station id) or
    /// USER:PASSWORD.
    #[arg(long, alias = "password", env = "OCPULSE_SIM_PASSWORD")]
    pub basic_auth: Option<String>,
    /// For wss:// URLs: the CA certificate (PEM) to trust for the CSMS's server certificate.
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
    /// Security profile 3: the station's client certificate (PEM chain; its CN must be the
    /// station id, so one station). Needs --client-key and a wss:// URL.
    #[arg(long, value_name = "PATH", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "PATH", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Inject a trigger fault: MESSAGE=FAULT (MESSAGE may be *). Faults: reject,
    /// not-implemented, callerror[:CODE], no-answer, accept-never-send, delay:MS,
    /// before-response, wrong-target, twice, crossing. Repeatable. For GetLog,
    /// GetDiagnostics, UpdateFirmware and SignedUpdateFirmware: reject or fail.
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    /// A JSON scenario file with faults for all stations and per station id.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Keep heartbeating but ignore every CSMS CALL (alive socket, dead firmware).
    #[arg(long)]
    pub ignore_csms_calls: bool,
    /// Report every connector Faulted.
    #[arg(long)]
    pub faulted: bool,
    /// No car plugged in: accept a remote start and never start the transaction.
    #[arg(long)]
    pub no_car: bool,
    /// Answer every remote start Rejected.
    #[arg(long)]
    pub reject_remote_start: bool,
    /// Start and stop transactions by themselves.
    #[arg(long)]
    pub transactions: bool,
    /// DC chargers (report State of Charge).
    #[arg(long)]
    pub dc: bool,
    /// Idle seconds between transactions.
    #[arg(long, default_value_t = 60)]
    pub idle_secs: u64,
    /// Seconds a transaction charges.
    #[arg(long, default_value_t = 120)]
    pub session_secs: u64,
    /// Seconds between meter reports while charging.
    #[arg(long, default_value_t = 30)]
    pub meter_interval_secs: u64,
    /// Drop the connection this often (seconds) and reconnect with backoff.
    #[arg(long)]
    pub disconnect_every_secs: Option<u64>,
    /// First reconnect wait (ms); doubles up to --reconnect-max-ms, plus jitter.
    #[arg(long, default_value_t = 1000)]
    pub reconnect_min_ms: u64,
    /// Longest reconnect wait (ms).
    #[arg(long, default_value_t = 60_000)]
    pub reconnect_max_ms: u64,
    /// Messages kept while offline, per station.
    #[arg(long, default_value_t = 1000)]
    pub offline_buffer: usize,
    /// Messages per second a station sends from its offline buffer after reconnecting.
    #[arg(long, default_value_t = 50.0)]
    pub flush_rate: f64,
    /// New connections per second while starting (0 = all at once).
    #[arg(long, default_value_t = 0.0)]
    pub ramp: f64,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Seconds between live summary lines on stderr (0 = none).
    #[arg(long, default_value_t = 5)]
    pub summary_secs: u64,
    /// Send triggered messages unmarked (no `context`/`triggerReason` = `Trigger`), as some
    /// firmware does, to exercise the CSMS's matching without markers.
    #[arg(long)]
    pub unmarked_triggers: bool,
    /// Also write the final JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// `--protocol`: the spellings every command accepts ([`ProtocolVersion::parse_name`]).
pub(crate) fn parse_protocol(s: &str) -> Result<ProtocolVersion, String> {
    ProtocolVersion::parse_name(s).ok_or_else(|| {
        format!("unknown protocol {s:?}; use 1.6, 2.0.1 or 2.1 (or ocpp1.6, ocpp2.0.1, ocpp2.1)")
    })
}

impl SimArgs {
    /// One station config per simulated station.
    pub fn station_configs(&self) -> anyhow::Result<Vec<StationConfig>> {
        let mut base = Faults {
            ignore_csms_calls: self.ignore_csms_calls,
            faulted: self.faulted,
            no_car: self.no_car,
            reject_remote_start: self.reject_remote_start,
            ..Faults::default()
        };
        for flag in &self.faults {
            base.add_flag(flag).map_err(anyhow::Error::msg)?;
        }
        let scenario: Scenario = match &self.scenario {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read scenario {}", path.display()))?;
                serde_json::from_str(&text)
                    .with_context(|| format!("scenario {} is not valid", path.display()))?
            }
            None => Scenario::default(),
        };
        (1..=self.stations)
            .map(|i| {
                let id = format!("{}{i:04}", self.id_prefix);
                let mut cfg = StationConfig::new(id.clone(), self.protocol);
                cfg.evses = self.evses;
                cfg.connectors = self.connectors;
                cfg.dc = self.dc;
                cfg.auto_transactions = self.transactions;
                cfg.idle_time = Duration::from_secs(self.idle_secs);
                cfg.session_time = Duration::from_secs(self.session_secs);
                cfg.meter_interval = Duration::from_secs(self.meter_interval_secs.max(1));
                cfg.offline_buffer = self.offline_buffer;
                cfg.flush_rate = self.flush_rate;
                cfg.mark_triggered = !self.unmarked_triggers;
                cfg.faults = scenario
                    .faults_for(&id, &base)
                    .map_err(anyhow::Error::msg)?;
                Ok(cfg)
            })
            .collect()
    }

    /// How the stations connect.
    pub fn run_options(&self) -> anyhow::Result<RunOptions> {
        let tls = match (&self.ca_cert, &self.client_cert, &self.client_key) {
            (Some(ca), cert, key) => Some(
                ocpulse_sim::tls::client_config(ca, cert.as_deref().zip(key.as_deref()))
                    .map_err(anyhow::Error::msg)?,
            ),
            (None, None, None) => None,
            (None, _, _) => anyhow::bail!(
                "--client-cert needs --ca-cert (the CA that issued the CSMS's certificate)"
            ),
        };
        if tls.is_some() && !self.url.starts_with("wss://") {
            anyhow::bail!(
                "--ca-cert and --client-cert are for wss:// URLs; got {}",
                self.url
            );
        }
        Ok(RunOptions {
            url: self.url.clone(),
            basic_auth: self.basic_auth.clone(),
            tls,
            reconnect_min: Duration::from_millis(self.reconnect_min_ms),
            reconnect_max: Duration::from_millis(self.reconnect_max_ms.max(self.reconnect_min_ms)),
            disconnect_every: self.disconnect_every_secs.map(Duration::from_secs),
        })
    }
}

/// Runs the simulator; errors (unreachable URL, refused subprotocol) end the process non-zero.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let options = FleetOptions {
        stations: args.station_configs()?,
        run: args.run_options()?,
        ramp_per_sec: args.ramp,
        summary_every: (args.summary_secs > 0).then(|| Duration::from_secs(args.summary_secs)),
    };
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    let duration = args.duration;
    tokio::spawn(async move {
        let limit = async {
            match duration {
                Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = crate::shutdown_signal() => {}
            () = limit => {}
        }
        stopper.cancel();
    });
    let stats = Arc::new(FleetStats::default());
    let report = run_fleet(options, stats, stop)
        .await
        .map_err(|e| anyhow::anyhow!("ocpulse sim: {e}"))?;
    let text = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.report {
        std::fs::write(path, &text)
            .with_context(|| format!("cannot write report {}", path.display()))?;
    }
    crate::stdout::line(&text);
    Ok(())
}
