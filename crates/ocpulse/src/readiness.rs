//! Readiness (`GET /health/ready`): whether this server should be sent traffic now. Three
//! checks, each named in the answer: the store takes a committed write, the data
//! directory's file system has more free space than the floor (`--min-free-space`), and
//! the server is not shutting down. Liveness (`/health/live`) needs none of them.
//!
//! A check's result is reused for a second, and one check runs at a time, so a probe storm
//! costs one small write per second at most.

use std::path::Path;
use std::time::{Duration, Instant};

use ocpulse_core::store::{Doc, WriteBatch};
use parking_lot::Mutex;

use crate::app::App;

/// How long one readiness result is reused.
const REUSE: Duration = Duration::from_secs(1);

/// How long the store's probe write may take before the store counts as not writable.
const STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// The one document the probe rewrites (kind `health`, never read back).
const PROBE_KIND: &str = "health";

/// What each check found: `None` passed, `Some(why)` failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The store did not commit a write.
    pub store: Option<String>,
    /// Free space in the data directory is below the floor (or unreadable).
    pub disk: Option<String>,
    /// The server is shutting down.
    pub shutdown: Option<String>,
    /// In a cluster: the node has lost NATS (it cannot be routed to, nor route).
    pub cluster: Option<String>,
}

impl Report {
    /// The failed checks' names and reasons, in a fixed order.
    pub fn failures(&self) -> Vec<(&'static str, &str)> {
        [
            ("store", &self.store),
            ("disk", &self.disk),
            ("shutdown", &self.shutdown),
            ("cluster", &self.cluster),
        ]
        .into_iter()
        .filter_map(|(name, why)| why.as_deref().map(|w| (name, w)))
        .collect()
    }
}

/// The last readiness result and the lock that makes checks run one at a time.
#[derive(Debug, Default)]
pub struct Readiness {
    last: Mutex<Option<(Instant, Report)>>,
    checking: tokio::sync::Mutex<()>,
}

impl Readiness {
    /// The checks' results, at most `REUSE` old (shutting down always counts at once).
    pub async fn check(&self, app: &App) -> Report {
        let _one = self.checking.lock().await;
        let reused = self
            .last
            .lock()
            .as_ref()
            .filter(|(at, _)| at.elapsed() < REUSE)
            .map(|(_, r)| r.clone());
        let mut report = match reused {
            Some(r) => r,
            None => {
                let r = Report {
                    store: store_writable(app).await.err(),
                    disk: free_space(&app.config.data_dir, app.config.min_free_space).err(),
                    shutdown: None,
                    cluster: None,
                };
                *self.last.lock() = Some((Instant::now(), r.clone()));
                r
            }
        };
        if app.shutdown.is_cancelled() {
            report.shutdown = Some("the server is shutting down".into());
        }
        report.cluster = app.cluster.bus().and_then(|b| b.health());
        if app.cluster.drain.is_draining() {
            report.cluster = Some("this node is draining: it takes no new stations".into());
        }
        report
    }

    /// Whether the last checks passed (true before the first): what a node tells the
    /// cluster about itself without running them.
    pub fn ready(&self) -> bool {
        self.last
            .lock()
            .as_ref()
            .is_none_or(|(_, r)| r.failures().is_empty())
    }
}

/// Commits one small document: proves the writer is alive and the database takes writes.
async fn store_writable(app: &App) -> Result<(), String> {
    let doc = Doc::put(
        PROBE_KIND,
        "ready",
        &serde_json::json!({ "at": crate::now_ms() }),
    )
    .map_err(|e| e.to_string())?;
    let commit = app.store.commit(WriteBatch {
        docs: vec![doc],
        ..WriteBatch::default()
    });
    match tokio::time::timeout(STORE_TIMEOUT, commit).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("the store refused a write: {e}")),
        Err(_) => Err(format!(
            "the store did not commit a write within {} s",
            STORE_TIMEOUT.as_secs()
        )),
    }
}

/// Whether the file system holding `dir` has at least `floor` bytes free for this user.
pub fn free_space(dir: &Path, floor: u64) -> Result<(), String> {
    if floor == 0 {
        return Ok(());
    }
    let free = available_bytes(dir)
        .map_err(|e| format!("cannot read the free space of {}: {e}", dir.display()))?;
    if free < floor {
        return Err(format!(
            "{} has {} free, below the floor of {} (--min-free-space)",
            dir.display(),
            show_bytes(free),
            show_bytes(floor)
        ));
    }
    Ok(())
}

#[cfg(unix)]
fn available_bytes(dir: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(not(unix))]
fn available_bytes(_dir: &Path) -> std::io::Result<u64> {
    Ok(u64::MAX)
}

/// `1.5 GiB`, `300 MiB`, `12 KiB`, `512 B`.
pub fn show_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if n >= size {
            return format!("{:.1} {unit}", n as f64 / size as f64).replace(".0 ", " ");
        }
    }
    format!("{n} B")
}

/// Reads a size: `0`, `512`, `100MiB`, `2G`, `1.5GiB` (K/M/G/T are powers of 1024, with or
/// without `iB`/`B`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 500MiB, 2GiB or 0"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {text:?}; use KiB, MiB, GiB or TiB"
            ));
        }
    };
    Ok((number * scale as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_in_powers_of_1024() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("100MiB"), Ok(100 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert_eq!(show_bytes(100 << 20), "100 MiB");
        assert_eq!(show_bytes(3 << 29), "1.5 GiB");
    }

    #[test]
    fn free_space_below_the_floor_fails_with_both_figures() {
        let dir = std::env::temp_dir();
        assert_eq!(free_space(&dir, 0), Ok(()));
        assert_eq!(free_space(&dir, 1), Ok(()));
        let why = free_space(&dir, u64::MAX).expect_err("nobody has 16 EiB free");
        assert!(why.contains("below the floor of"), "{why}");
    }
}
