//! Many stations in one process: the load generator behind `ocpulse sim --stations N`.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ocpp_rpc::SchemaRegistry;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::StationConfig;
use crate::runner::{FleetStats, RunError, RunOptions, run_station};
use crate::station::Station;

/// A fleet run.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// One config per station.
    pub stations: Vec<StationConfig>,
    /// How they connect.
    pub run: RunOptions,
    /// New connections per second while ramping up (0 = all at once).
    pub ramp_per_sec: f64,
    /// Print a summary line this often (`None` = never).
    pub summary_every: Option<Duration>,
}

/// Runs the fleet until `stop`. The first station connects before the others start, and
/// its failure to connect ends the run with that error.
pub async fn run_fleet(
    opts: FleetOptions,
    stats: Arc<FleetStats>,
    stop: CancellationToken,
) -> Result<Value, RunError> {
    let started = Instant::now();
    let schemas = SchemaRegistry::load().ok().map(Arc::new);
    let run = Arc::new(opts.run.clone());
    let mut configs = opts.stations.into_iter();
    let total = configs.len();
    let Some(first) = configs.next() else {
        return Ok(report(&stats, 0, started));
    };
    let spawn = |cfg: StationConfig, fail_fast: bool| {
        let station = Station::new(cfg, schemas.clone());
        tokio::spawn(run_station(
            station,
            Arc::clone(&run),
            Arc::clone(&stats),
            stop.clone(),
            fail_fast,
        ))
    };
    // The first station goes alone and fails fast: a wrong URL or a refused subprotocol
    // ends the whole run with its error before thousands of stations retry it.
    let first = spawn(first, true);
    loop {
        if first.is_finished() {
            match first.await {
                Ok(Err(e)) => return Err(e),
                _ => return Ok(report(&stats, total, started)),
            }
        }
        if stats.connected.load(Ordering::Relaxed) > 0 || stop.is_cancelled() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut tasks = Vec::with_capacity(total);
    tasks.push(first);
    let summary = opts.summary_every.map(|every| {
        let stats = Arc::clone(&stats);
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut last_calls = 0;
            let mut ticker = tokio::time::interval(every);
            ticker.tick().await;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                let calls = stats.calls_sent.load(Ordering::Relaxed);
                // Not eprintln!: a closed stderr (`2>&1 | head -1`) must not panic the fleet.
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "sim: {:>6.1}s connected {} booted {} calls/s {:.0} errors {} triggers accepted {}",
                    started.elapsed().as_secs_f64(),
                    stats.connected.load(Ordering::Relaxed),
                    stats.booted.load(Ordering::Relaxed),
                    (calls - last_calls) as f64 / every.as_secs_f64(),
                    stats.errors.load(Ordering::Relaxed),
                    stats.triggers_accepted.load(Ordering::Relaxed),
                );
                last_calls = calls;
            }
        })
    });
    let gap = if opts.ramp_per_sec > 0.0 {
        Duration::from_secs_f64(1.0 / opts.ramp_per_sec)
    } else {
        Duration::ZERO
    };
    for cfg in configs {
        if stop.is_cancelled() {
            break;
        }
        tasks.push(spawn(cfg, false));
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
    }
    stop.cancelled().await;
    for t in tasks {
        let _ = t.await;
    }
    if let Some(s) = summary {
        let _ = s.await;
    }
    Ok(report(&stats, total, started))
}

/// The final JSON report of a run.
pub fn report(stats: &FleetStats, stations: usize, started: Instant) -> Value {
    let elapsed = started.elapsed().as_secs_f64();
    let calls = stats.calls_sent.load(Ordering::Relaxed);
    json!({
        "stations": stations,
        "booted": stats.booted.load(Ordering::Relaxed),
        "disconnects": stats.disconnects.load(Ordering::Relaxed),
        "callsSent": calls,
        "results": stats.results.load(Ordering::Relaxed),
        "errors": stats.errors.load(Ordering::Relaxed),
        "csmsCalls": stats.csms_calls.load(Ordering::Relaxed),
        "triggersAccepted": stats.triggers_accepted.load(Ordering::Relaxed),
        "elapsedSecs": (elapsed * 10.0).round() / 10.0,
        "callsPerSec": if elapsed > 0.0 { (calls as f64 / elapsed).round() } else { 0.0 },
    })
}
