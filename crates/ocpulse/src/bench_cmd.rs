//! `ocpulse bench` and the null server it measures against.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use std::time::Duration;

use ocpulse_bench::cluster::{ClusterOptions, run_cluster};
use ocpulse_bench::run::{BenchOptions, run};
use ocpulse_bench::targets::Target;

/// Options of `ocpulse bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A run of under a minute (1,000 stations, 2 s phases) that only shows the benchmark works.
    #[arg(long)]
    pub quick: bool,
    /// Servers to measure, comma-separated: ocpulse, null, python, node.
    #[arg(
        long,
        default_value = "ocpulse,null,python,node",
        value_delimiter = ','
    )]
    pub targets: Vec<String>,
    /// The most stations to try on ocpulse alone (0 = skip; the open-file limit is 20,000).
    #[arg(long, default_value_t = 19_000)]
    pub max_stations: usize,
    /// The repository root (where `bench/peers` lives).
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Run only these scenarios, comma-separated (trigger, latency, fleet, job, storm,
    /// ingest, big, max); the 1,000-station connect always runs (`job` also connects the
    /// 10,000 unless --quick). For profiling one path.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// The bulk job's `concurrency` in the `job` scenario (default: the server's default).
    #[arg(long)]
    pub job_concurrency: Option<u32>,
    /// Stations streaming MeterValues (each with one CALL in flight, as OCPP allows) in the
    /// ingest scenario.
    #[arg(long, default_value_t = 100)]
    pub ingest_stations: usize,
    /// Stores to run ocpulse on: `sqlite` (the default), or `postgres` to also run it on
    /// PostgreSQL (`--database-url`), a column `ocpulse (postgres)` beside `ocpulse`.
    #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "postgres"])]
    pub store: String,
    /// The PostgreSQL database for `--store postgres`; each run makes a schema of its own
    /// in it and drops it afterwards.
    #[arg(
        long,
        env = "OCPULSE_BENCH_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Run the cluster benchmark instead: this many `ocpulse serve` nodes on PostgreSQL
    /// (`--database-url`, a schema of the run's own) and a `nats-server` of the run's own,
    /// holding `--cluster-stations` together, next to one node alone.
    #[arg(long, value_name = "NODES", value_parser = clap::value_parser!(u64).range(2..=26))]
    pub cluster: Option<u64>,
    /// Stations of the whole cluster in `--cluster` (default 45,000; 1,500 with --quick).
    #[arg(long)]
    pub cluster_stations: Option<usize>,
    /// Stations of the single node `--cluster` compares with (default 10,000; 500 with
    /// --quick).
    #[arg(long)]
    pub single_stations: Option<usize>,
    /// The nats-server executable `--cluster` starts (Debian package nats-server).
    #[arg(long, default_value = "/usr/sbin/nats-server")]
    pub nats_server: PathBuf,
    /// Also write the markdown table here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Options of the hidden `ocpulse bench-null-server`.
#[derive(Debug, clap::Args)]
pub struct NullServerArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8181")]
    pub listen: SocketAddr,
}

/// Runs the benchmark and prints its table.
pub async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let targets = args
        .targets
        .iter()
        .map(|t| {
            Target::parse(t)
                .with_context(|| format!("unknown target {t:?}; use ocpulse, null, python or node"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let postgres_url = match (args.store.as_str(), &args.database_url) {
        ("postgres", Some(url)) => Some(url.clone()),
        ("postgres", None) => {
            anyhow::bail!("--store postgres needs --database-url (or OCPULSE_BENCH_DATABASE_URL)")
        }
        _ => None,
    };
    if let Some(nodes) = args.cluster {
        return cluster(&args, usize::try_from(nodes)?).await;
    }
    let opts = BenchOptions {
        quick: args.quick,
        targets,
        exe: std::env::current_exe().context("cannot find the ocpulse executable")?,
        repo: args.repo.clone(),
        max_stations: args.max_stations,
        only: args.only.clone(),
        job_concurrency: args.job_concurrency,
        ingest_stations: args.ingest_stations,
        postgres_url,
    };
    let report = run(&opts).await?;
    let when = time::OffsetDateTime::now_utc().date();
    let header = format!(
        "# ocpulse bench{} — {when}\n\nMachine: {} cores, {}; servers pinned to core 0, the driver to core 1; half the stations OCPP 1.6, half 2.0.1; trigger = StatusNotification through each server's HTTP trigger endpoint.",
        if args.quick { " --quick" } else { "" },
        std::fs::read_to_string("/proc/cpuinfo")
            .map(|c| c.lines().filter(|l| l.starts_with("processor")).count())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m.lines().next().map(str::to_owned))
            .unwrap_or_default()
            .replace("  ", ""),
    );
    let table = report.markdown(&header);
    crate::stdout::line(&table);
    if let Some(path) = &args.out {
        std::fs::write(path, &table).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// `bench --cluster N`.
async fn cluster(args: &BenchArgs, nodes: usize) -> anyhow::Result<()> {
    let Some(database_url) = args.database_url.clone() else {
        anyhow::bail!("--cluster needs --database-url (or OCPULSE_BENCH_DATABASE_URL)");
    };
    let opts = ClusterOptions {
        nodes,
        stations: args
            .cluster_stations
            .unwrap_or(if args.quick { 1_500 } else { 45_000 }),
        single_stations: args
            .single_stations
            .unwrap_or(if args.quick { 500 } else { 10_000 }),
        phase: Duration::from_secs(if args.quick { 2 } else { 5 }),
        exe: std::env::current_exe().context("cannot find the ocpulse executable")?,
        database_url,
        nats_server: args.nats_server.clone(),
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let report = run_cluster(&opts).await?;
    let header = format!(
        "# ocpulse bench --cluster {nodes}{} — {}\n\nMachine: {}; load average before the run: {}. {nodes} `ocpulse serve` nodes (release) on one PostgreSQL schema and a nats-server -js of the run's own, all on 127.0.0.1; servers unpinned; the driver and each node's fleet (a process of its own, `ocpulse bench-fleet`) pinned to core 1; half the stations OCPP 1.6, half 2.0.1. The single node runs alone on PostgreSQL first, then the cluster. `local`: triggers through the node holding the stations; `routed`: the same through another node (server CPU summed over both).",
        if args.quick { " --quick" } else { "" },
        time::OffsetDateTime::now_utc().date(),
        machine(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    let table = report.markdown(&header);
    crate::stdout::line(&table);
    if let Some(path) = &args.out {
        std::fs::write(path, &table).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// `N cores, MemTotal: … kB`.
fn machine() -> String {
    format!(
        "{} cores, {}",
        std::fs::read_to_string("/proc/cpuinfo")
            .map(|c| c.lines().filter(|l| l.starts_with("processor")).count())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m.lines().next().map(str::to_owned))
            .unwrap_or_default()
            .replace("  ", ""),
    )
}

/// Options of the hidden `ocpulse bench-fleet` (`bench --cluster` starts one per node).
#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// The node's `ws://127.0.0.1:PORT/ocpp`.
    #[arg(long)]
    pub url: String,
    /// Stations to connect.
    #[arg(long)]
    pub stations: usize,
    /// Their ids' prefix (`PREFIX00000`, …).
    #[arg(long)]
    pub prefix: String,
    /// The longest to wait for every boot, in seconds.
    #[arg(long, default_value_t = 300)]
    pub limit: u64,
}

/// Runs one fleet of `bench --cluster`: prints one JSON line when every station booted (or
/// the limit passed), then holds the fleet until stdin closes.
pub async fn fleet(args: FleetArgs) -> anyhow::Result<()> {
    let (fleet, took, failed) = ocpulse_bench::scenarios::Fleet::connect(
        &args.url,
        args.stations,
        &args.prefix,
        Duration::from_secs(args.limit),
    )
    .await;
    crate::stdout::line(
        &serde_json::json!({"secs": took.as_secs_f64(), "failed": failed}).to_string(),
    );
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await;
    fleet.stop().await;
    Ok(())
}

/// Runs the null server.
pub async fn null_server(args: NullServerArgs) -> anyhow::Result<()> {
    let listener = crate::server::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    ocpulse_bench::null_server::serve(listener).await
}
