//! `ocpulse bench` and the null server it measures against.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
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

/// Runs the null server.
pub async fn null_server(args: NullServerArgs) -> anyhow::Result<()> {
    let listener = crate::server::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    ocpulse_bench::null_server::serve(listener).await
}
