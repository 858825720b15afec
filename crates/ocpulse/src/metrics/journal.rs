//! The journal's size as gauges, read from `Store::journal_stats` at most once per refresh
//! interval: a scrape storm costs one read per interval, not one per scrape.

use std::time::{Duration, Instant};

use ocpulse_core::Store;
use ocpulse_core::retention::JournalStats;
use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::gauge::ConstGauge;

/// The last journal statistics read, and when.
#[derive(Debug)]
pub struct JournalSize {
    refresh: Duration,
    last: Mutex<Option<(Instant, JournalStats)>>,
    /// One reader at a time: concurrent scrapes of a stale value wait for the same read.
    reading: tokio::sync::Mutex<()>,
}

impl JournalSize {
    /// Reads the store at most once per `refresh`.
    pub fn new(refresh: Duration) -> Self {
        Self {
            refresh,
            last: Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self) -> bool {
        self.last
            .lock()
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < self.refresh)
    }

    /// Reads the statistics again if the last read is older than the refresh interval. A
    /// failed read keeps the previous values (and is logged); it never fails a scrape.
    pub async fn refresh(&self, store: &dyn Store) {
        if self.fresh() {
            return;
        }
        let _one = self.reading.lock().await;
        if self.fresh() {
            return;
        }
        match store.journal_stats().await {
            Ok(stats) => *self.last.lock() = Some((Instant::now(), stats)),
            Err(e) => tracing::warn!(error = %e, "metrics: cannot read the journal's size"),
        }
    }
}

impl Collector for JournalSize {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some((_, stats)) = self.last.lock().clone() else {
            return Ok(());
        };
        let gauges: [(&str, &str, i64); 3] = [
            (
                "journal_bytes",
                "Bytes the store uses on disk (the journal is most of it)",
                i64::try_from(stats.bytes).unwrap_or(i64::MAX),
            ),
            (
                "journal_oldest_seq",
                "The oldest journal entry's seq (0 when empty)",
                stats.oldest_seq,
            ),
            (
                "journal_newest_seq",
                "The newest journal entry's seq: entries ever journaled",
                stats.newest_seq,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        if let Some(oldest) = stats.oldest_at {
            let age = (crate::now_ms() - oldest).max(0) as f64 / 1000.0;
            let gauge = ConstGauge::new(age);
            gauge.encode(encoder.encode_descriptor(
                "journal_oldest_age_seconds",
                "Age of the oldest journal entry (what retention keeps)",
                None,
                gauge.metric_type(),
            )?)?;
        }
        Ok(())
    }
}
