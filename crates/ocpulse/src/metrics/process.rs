//! The standard process series (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_open_fds`, `process_max_fds`, `process_start_time_seconds`), read from `/proc`
//! at each scrape. Elsewhere than Linux there is no `/proc` and nothing is exported.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads this process's figures from `/proc/self`.
#[derive(Debug)]
pub struct Process;

/// What `/proc/self` says, as far as it could be read.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Figures {
    pub cpu_seconds: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub open_fds: Option<i64>,
    pub max_fds: Option<i64>,
}

/// Reads `utime`, `stime` and `starttime` (clock ticks) out of `/proc/self/stat`: the
/// fields after the command name, which is in parentheses and may hold spaces.
pub(crate) fn parse_stat(stat: &str) -> Option<(u64, u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the man page, so field N is at N - 3.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some((field(14)?, field(15)?, field(22)?))
}

#[cfg(target_os = "linux")]
fn read() -> Figures {
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let times = stat.as_deref().and_then(parse_stat);
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    let resident = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        });
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| i64::try_from(d.count()).unwrap_or(i64::MAX));
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    Figures {
        cpu_seconds: times.map(|(u, s, _)| (u + s) as f64 / ticks),
        start_time_seconds: times
            .zip(boot)
            .map(|((_, _, start), boot)| boot as f64 + start as f64 / ticks),
        resident_bytes: resident.map(|pages| (pages * rustix::param::page_size() as u64) as f64),
        open_fds,
        max_fds: limit.current.and_then(|n| i64::try_from(n).ok()),
    }
}

#[cfg(not(target_os = "linux"))]
fn read() -> Figures {
    Figures::default()
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let f = read();
        if let Some(cpu) = f.cpu_seconds {
            let counter = ConstCounter::new(cpu);
            counter.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time spent, in seconds",
                None,
                counter.metric_type(),
            )?)?;
        }
        let gauges = [
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds",
                f.start_time_seconds,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size, in bytes",
                f.resident_bytes,
            ),
            (
                "process_open_fds",
                "Open file descriptors (station sockets are most of them)",
                f.open_fds.map(|n| n as f64),
            ),
            (
                "process_max_fds",
                "The limit on open file descriptors",
                f.max_fds.map(|n| n as f64),
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(v) = value {
                let gauge = ConstGauge::new(v);
                gauge.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    gauge.metric_type(),
                )?)?;
            }
        }
        Ok(())
    }
}
