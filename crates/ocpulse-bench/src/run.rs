//! One benchmark run: every target in turn under the same scenarios.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::procstat::{cpu_secs, rss_kib};
use crate::report::Report;
use crate::scenarios::{
    Fleet, fleet_job, fleet_trigger, ingest, trigger_closed_loop, trigger_open_loop,
};
use crate::targets::{BenchSchema, Target, start};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Under a minute: N = 1,000 and short phases (for CI).
    pub quick: bool,
    /// The servers to measure, in order.
    pub targets: Vec<Target>,
    /// The `ocpulse` executable (serves ocpulse and the null server).
    pub exe: PathBuf,
    /// The repository root (for `bench/peers`).
    pub repo: PathBuf,
    /// The most stations to try for ocpulse alone (0 = skip).
    pub max_stations: usize,
    /// Scenarios to run (empty = all): trigger, latency, fleet, job, storm, ingest, big,
    /// max. The 1,000-station connect always runs, since the others stand on it; `job` also
    /// connects the 10,000 (unless quick) without the rest of `big`. For profiling one path
    /// without the rest.
    pub only: Vec<String>,
    /// The bulk job's `concurrency` in the `job` scenario (`None`: the server's default).
    pub job_concurrency: Option<u32>,
    /// Stations streaming MeterValues in the ingest scenario.
    pub ingest_stations: usize,
    /// `--store postgres`: also run ocpulse (next to its SQLite run) on the PostgreSQL
    /// database at this URL, in a schema made for the run and dropped after it.
    pub postgres_url: Option<String>,
}

impl BenchOptions {
    fn wants(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }
}

/// Pins this process (all threads) to core 1, servers go to core 0.
pub fn pin_driver() -> bool {
    std::process::Command::new("/usr/bin/taskset")
        .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs every scenario against every target.
pub async fn run(opts: &BenchOptions) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let pinned = pin_driver();
    let small = 1_000;
    let big = if opts.quick { 0 } else { 10_000 };
    let phase = if opts.quick {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(5)
    };
    let me = std::process::id();
    eprintln!(
        "bench: driver pinned to core 1: {pinned}; phases of {phase:?}; targets: {:?}",
        opts.targets
    );
    let mut targets = opts.targets.clone();
    if opts.postgres_url.is_some() {
        // Next to ocpulse on SQLite, so the two columns stand side by side.
        let at = targets
            .iter()
            .position(|t| *t == Target::Ocpulse)
            .map_or(0, |i| i + 1);
        targets.insert(at, Target::OcpulsePostgres);
    }
    for &target in &targets {
        let name = target.name();
        let schema = match (target, &opts.postgres_url) {
            (Target::OcpulsePostgres, Some(url)) => match BenchSchema::create(url).await {
                Ok(schema) => Some(schema),
                Err(e) => {
                    eprintln!("bench: skipping {name}: {e:#}");
                    continue;
                }
            },
            _ => None,
        };
        let url = schema.as_ref().map(|s| s.url.as_str());
        let server = match start(target, &opts.exe, &opts.repo, pinned.then_some(0), url).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bench: skipping {name}: {e:#}");
                if let Some(schema) = schema
                    && let Err(e) = schema.drop_schema().await
                {
                    eprintln!("bench: {e:#}");
                }
                continue;
            }
        };
        let pid = server.pid();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rss_empty = rss_kib(pid);

        // Connect + boot, idle memory.
        let (fleet, took, failed) =
            Fleet::connect(&server.ws(), small, "B", Duration::from_secs(120)).await;
        report.add(
            name,
            format!("connect+boot {small} (s)"),
            took.as_secs_f64(),
        );
        report.add(
            name,
            format!("connect+boot {small} failures"),
            failed as f64,
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        report.add(
            name,
            format!("KB RSS per idle station ({small})"),
            (rss_kib(pid).saturating_sub(rss_empty)) as f64 / small as f64,
        );

        // Trigger-and-await, closed loop, 32 concurrent callers on 32 stations.
        if opts.wants("trigger") {
            let (cpu0, me0) = (cpu_secs(pid), cpu_secs(me));
            let (rate, lat, failures) =
                trigger_closed_loop(&server.http(), &fleet.stations, 32, phase).await;
            let count = rate * phase.as_secs_f64();
            report.add(name, "triggers/s (32 concurrent)", rate);
            report.add(name, "trigger p99 ms (32 concurrent)", lat.p99);
            let cpu_us = (cpu_secs(pid) - cpu0) * 1e6 / count.max(1.0);
            report.add(name, "server CPU µs per trigger", cpu_us);
            // What the server's core could do if the driver never held it back: the rate
            // above is the driver's ceiling, not the server's, whenever the driver's core is
            // full (against the null server it is), so ratios of this row are the fair ones.
            report.add(
                name,
                "triggers/s per server core (10⁶ ÷ CPU µs)",
                1e6 / cpu_us.max(1.0),
            );
            report.add(
                name,
                "driver CPU % during triggers",
                (cpu_secs(me) - me0) * 100.0 / phase.as_secs_f64(),
            );
            report.add(name, "trigger failures (32 concurrent)", failures as f64);
        }

        // Open loop at 1,000/s: latency without coordinated omission.
        if opts.wants("latency") {
            let (lat, failures, _) = trigger_open_loop(
                &server.http(),
                &fleet.stations[..32.min(fleet.stations.len())],
                1000.0,
                phase,
            )
            .await;
            report.add(name, "trigger p50 ms @1000/s", lat.p50);
            report.add(name, "trigger p99 ms @1000/s", lat.p99);
            report.add(name, "trigger max ms @1000/s", lat.max);
            report.add(name, "trigger failures @1000/s", failures as f64);
        }

        // Fleet trigger.
        if opts.wants("fleet") {
            let (secs, failures) = fleet_trigger(&server.http(), &fleet.stations, 256).await;
            report.add(name, format!("fleet trigger {small} (s)"), secs);
            report.add(
                name,
                format!("fleet trigger {small} failures"),
                failures as f64,
            );
        }

        // The same fleet trigger as one bulk job (ocpulse only: the others have no bulk API).
        if target.is_ocpulse() && opts.wants("job") {
            let (secs, failures) =
                fleet_job(&server.http(), fleet.stations.len(), opts.job_concurrency).await;
            report.add(
                name,
                format!("fleet trigger {small} via one bulk job (s)"),
                secs,
            );
            report.add(
                name,
                format!("fleet trigger {small} via one bulk job failures"),
                failures as f64,
            );
        }

        // Reconnect storm: everyone drops, everyone comes back at once.
        fleet.stop().await;
        if opts.wants("storm") {
            let (fleet, took, failed) =
                Fleet::connect(&server.ws(), small, "B", Duration::from_secs(120)).await;
            report.add(
                name,
                format!("reconnect storm {small} (s)"),
                took.as_secs_f64(),
            );
            report.add(
                name,
                format!("reconnect storm {small} failures"),
                failed as f64,
            );
            fleet.stop().await;
        }

        // Ingest with acknowledgements.
        if opts.wants("ingest") {
            let n = opts.ingest_stations;
            let cpu0 = cpu_secs(pid);
            let (rate, lat) = ingest(&server.ws(), n, phase, "I").await;
            let cpu = cpu_secs(pid) - cpu0;
            report.add(name, format!("MeterValues acked/s ({n} stations)"), rate);
            report.add(name, "MeterValues ack p99 ms", lat.p99);
            report.add(
                name,
                "server CPU µs per MeterValues",
                cpu * 1e6 / (rate * phase.as_secs_f64()).max(1.0),
            );
        }

        let big_job = target.is_ocpulse() && opts.wants("job");
        if big > 0 && (opts.wants("big") || big_job) {
            let rss_before = rss_kib(pid);
            let (fleet, took, failed) =
                Fleet::connect(&server.ws(), big, "T", Duration::from_secs(180)).await;
            report.add(name, format!("connect+boot {big} (s)"), took.as_secs_f64());
            report.add(name, format!("connect+boot {big} failures"), failed as f64);
            tokio::time::sleep(Duration::from_secs(2)).await;
            report.add(
                name,
                format!("KB RSS per idle station ({big})"),
                (rss_kib(pid).saturating_sub(rss_before)) as f64 / big as f64,
            );
            if opts.wants("big") {
                let (secs, failures) = fleet_trigger(&server.http(), &fleet.stations, 512).await;
                report.add(name, format!("fleet trigger {big} (s)"), secs);
                report.add(
                    name,
                    format!("fleet trigger {big} failures"),
                    failures as f64,
                );
            }
            if big_job {
                let (secs, failures) =
                    fleet_job(&server.http(), fleet.stations.len(), opts.job_concurrency).await;
                report.add(
                    name,
                    format!("fleet trigger {big} via one bulk job (s)"),
                    secs,
                );
                report.add(
                    name,
                    format!("fleet trigger {big} via one bulk job failures"),
                    failures as f64,
                );
            }
            fleet.stop().await;
        }
        if target.is_ocpulse() && opts.max_stations > 0 && !opts.quick && opts.wants("max") {
            let started = Instant::now();
            let (fleet, took, failed) = Fleet::connect(
                &server.ws(),
                opts.max_stations,
                "M",
                Duration::from_secs(240),
            )
            .await;
            report.add(
                name,
                format!("connect+boot {} (s)", opts.max_stations),
                took.as_secs_f64(),
            );
            report.add(
                name,
                format!("connect+boot {} failures", opts.max_stations),
                failed as f64,
            );
            report.add(
                name,
                "server RSS MB at max stations",
                rss_kib(pid) as f64 / 1024.0,
            );
            fleet.stop().await;
            eprintln!("bench: max-stations phase took {:?}", started.elapsed());
        }
        drop(server);
        if let Some(schema) = schema
            && let Err(e) = schema.drop_schema().await
        {
            eprintln!("bench: {e:#}");
        }
    }
    Ok(report)
}
