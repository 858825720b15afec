//! The server's Prometheus metrics (`GET /metrics`, `api/metrics.rs`): one registry of
//! prometheus-client families, fed by small calls from the code that sees each event (the
//! session driver, `trigger_run`, the job runner, the event stream, webhook deliveries),
//! plus collectors read at scrape time: the process (`process`) and the journal's size
//! (`journal`, refreshed at most every few seconds whatever the scrape rate).
//!
//! Labels only ever take bounded values: an action a station names is a label only when the
//! schemas know it (`other` otherwise), so a station sending made-up actions cannot grow
//! the series without bound.

mod journal;
mod process;

use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::journal::{Direction, JournalEntry};
use ocpulse_core::session::CallOutcome;
use ocpulse_core::store::{Store, WriteBatch};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use journal::JournalSize;

/// Labels as (name, value) pairs; values are bounded sets (see the module comment).
type Labels<const N: usize> = [(&'static str, String); N];

/// A histogram family with fixed buckets.
type Histograms<const N: usize> = Family<Labels<N>, Histogram, fn() -> Histogram>;

/// Trigger latencies: 5 ms to ~82 s (a trigger's default wait is 10 s, jobs wait longer).
fn trigger_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// The content type of the exposition: OpenMetrics text, which Prometheus reads.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every series the server exports, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    triggers: Histograms<3>,
    calls: Family<Labels<2>, Counter>,
    jobs: Family<Labels<1>, Counter>,
    job_stations: Family<Labels<1>, Counter>,
    stations: Family<Labels<1>, Gauge>,
    frames: Family<Labels<4>, Counter>,
    violations: Family<Labels<3>, Counter>,
    commit_seconds: Histogram,
    batch_entries: Histogram,
    sse_clients: Gauge,
    sse_ends: Family<Labels<1>, Counter>,
    sse_missed: Counter,
    webhooks: Family<Labels<1>, Counter>,
    journal: Arc<JournalSize>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every family; `journal_refresh` bounds how often the journal's size is read.
    pub fn new(journal_refresh: Duration) -> Self {
        // The process series keep their standard names; the server's are `ocpulse_*`.
        let mut root = Registry::default();
        root.register_collector(Box::new(process::Process));
        let registry = root.sub_registry_with_prefix("ocpulse");
        let triggers = Histograms::<3>::new_with_constructor(trigger_histogram as fn() -> _);
        registry.register_with_unit(
            "trigger_duration",
            "Triggers from the caller's request to their outcome, by requested message, protocol and outcome",
            prometheus_client::registry::Unit::Seconds,
            triggers.clone(),
        );
        let calls = Family::default();
        registry.register(
            "csms_calls",
            "CSMS CALLs ended, by protocol and outcome (result, call_error, invalid_response, timeout, disconnected)",
            Family::clone(&calls),
        );
        let jobs = Family::default();
        registry.register(
            "jobs_finished",
            "Bulk trigger jobs finished, by status (Completed, Cancelled)",
            Family::clone(&jobs),
        );
        let job_stations = Family::default();
        registry.register(
            "job_station_results",
            "Stations' final results in finished jobs, by outcome",
            Family::clone(&job_stations),
        );
        let stations = Family::default();
        registry.register(
            "stations_connected",
            "Stations connected now, by protocol",
            Family::clone(&stations),
        );
        let frames = Family::default();
        registry.register(
            "frames",
            "OCPP frames journaled, by direction (in, out), protocol, action and frame type (CALL, CALLRESULT, CALLERROR, MALFORMED)",
            Family::clone(&frames),
        );
        let violations = Family::default();
        registry.register(
            "validation_violations",
            "Station frames that broke the rules, by protocol, action and what happened: accepted (lenient policy), refused (answered with a CALLERROR), invalid_response (an answer breaking its schema), malformed (unreadable), unmatched (an answer to no CALL in flight)",
            Family::clone(&violations),
        );
        let commit_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register_with_unit(
            "store_commit",
            "Station commits from the session asking to the store confirming durability (queueing and the transaction)",
            prometheus_client::registry::Unit::Seconds,
            commit_seconds.clone(),
        );
        let batch_entries = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "store_batch_entries",
            "Journal entries per write batch a station session hands the store",
            batch_entries.clone(),
        );
        let sse_clients = Gauge::default();
        registry.register(
            "event_stream_clients",
            "Event stream (SSE) clients connected now",
            sse_clients.clone(),
        );
        let sse_ends = Family::default();
        registry.register(
            "event_stream_ends",
            "Event streams ended, by reason (gone, lagged, stalled, shutdown, store)",
            Family::clone(&sse_ends),
        );
        let sse_missed = Counter::default();
        registry.register(
            "event_stream_lagged_entries",
            "Entries the live feed went past lagging event-stream clients (they resume from the journal)",
            sse_missed.clone(),
        );
        let webhooks = Family::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries finished, by result (delivered, failed)",
            Family::clone(&webhooks),
        );
        let journal = Arc::new(JournalSize::new(journal_refresh));
        registry.register_collector(Box::new(Arc::clone(&journal)));
        Self {
            registry: root,
            triggers,
            calls,
            jobs,
            job_stations,
            stations,
            frames,
            violations,
            commit_seconds,
            batch_entries,
            sse_clients,
            sse_ends,
            sse_missed,
            webhooks,
            journal,
        }
    }

    /// The exposition text: refreshes the journal's size if it is stale, then encodes.
    pub async fn render(&self, store: &dyn Store) -> Result<String, std::fmt::Error> {
        self.journal.refresh(store).await;
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// A trigger ended: its latency under its requested message, protocol and outcome.
    pub fn trigger_ended(
        &self,
        requested_message: &str,
        protocol: &str,
        outcome: &str,
        took: Duration,
    ) {
        self.triggers
            .get_or_create(&[
                ("requested_message", requested_message.to_owned()),
                ("protocol", protocol.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .observe(took.as_secs_f64());
    }

    /// A CSMS CALL ended.
    pub fn call_ended(&self, protocol: &str, outcome: &CallOutcome) {
        let outcome = match outcome {
            CallOutcome::Result(_) => "result",
            CallOutcome::Error { .. } => "call_error",
            CallOutcome::InvalidResponse { .. } => "invalid_response",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Disconnected => "disconnected",
        };
        self.calls
            .get_or_create(&[
                ("protocol", protocol.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    /// A job finished with `status`; `results` counts its stations by final outcome.
    pub fn job_finished<'a>(&self, status: &str, results: impl Iterator<Item = (&'a str, usize)>) {
        self.jobs
            .get_or_create(&[("status", status.to_owned())])
            .inc();
        for (outcome, n) in results {
            self.job_stations
                .get_or_create(&[("outcome", outcome.to_owned())])
                .inc_by(n as u64);
        }
    }

    /// Counts a station connection under its protocol until the returned guard is dropped.
    pub fn station_connected(self: &Arc<Self>, protocol: &str) -> ConnectedGuard {
        let labels = [("protocol", protocol.to_owned())];
        self.stations.get_or_create(&labels).inc();
        ConnectedGuard {
            metrics: Arc::clone(self),
            labels,
        }
    }

    /// Counts the frames of a batch a session hands the store, and its size. `known` says
    /// whether the protocol defines an action (unknown ones are counted as `other`).
    pub fn batch(&self, protocol: &str, batch: &WriteBatch, known: impl Fn(&str) -> bool) {
        let mut frames = 0u32;
        for entry in &batch.entries {
            if entry.frame_type == "EVENT" {
                continue;
            }
            frames += 1;
            let action = match entry.action.as_deref() {
                None => String::new(),
                Some(a) if known(a) => a.to_owned(),
                Some(_) => "other".to_owned(),
            };
            if let Some(kind) = violation_kind(entry) {
                self.violations
                    .get_or_create(&[
                        ("protocol", protocol.to_owned()),
                        ("action", action.clone()),
                        ("kind", kind.to_owned()),
                    ])
                    .inc();
            }
            self.frames
                .get_or_create(&[
                    ("direction", entry.direction.as_str().to_owned()),
                    ("protocol", protocol.to_owned()),
                    ("action", action),
                    ("frame_type", entry.frame_type.to_owned()),
                ])
                .inc();
        }
        if !batch.entries.is_empty() {
            self.batch_entries.observe(f64::from(frames.max(1)));
        }
    }

    /// A session's commit took `took` from asking to durable.
    pub fn commit_took(&self, took: Duration) {
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// Counts an event-stream client until the returned guard is dropped.
    pub fn event_stream_client(self: &Arc<Self>) -> StreamGuard {
        self.sse_clients.inc();
        StreamGuard(Arc::clone(self))
    }

    /// An event stream ended for `reason`; `missed` entries when it lagged.
    pub fn event_stream_ended(&self, reason: &str, missed: u64) {
        self.sse_ends
            .get_or_create(&[("reason", reason.to_owned())])
            .inc();
        self.sse_missed.inc_by(missed);
    }

    /// A webhook delivery finished (`delivered` or `failed`).
    pub fn webhook_delivery(&self, result: &str) {
        self.webhooks
            .get_or_create(&[("result", result.to_owned())])
            .inc();
    }
}

/// What kind of violation a journaled station frame records, if any.
fn violation_kind(entry: &JournalEntry) -> Option<&'static str> {
    match entry.direction {
        Direction::In if entry.frame_type == "MALFORMED" => Some("malformed"),
        Direction::In => entry.violation.as_deref().map(|v| {
            if v.starts_with("no CALL with this message id") {
                "unmatched"
            } else if entry.frame_type == "CALL" {
                // A strict refusal journals its CALL without a violation (the CALLERROR
                // answering it counts), so a CALL with one was accepted leniently.
                "accepted"
            } else {
                "invalid_response"
            }
        }),
        // The CSMS refusing a station CALL for its content: a CALLERROR with a
        // schema-violation code (1.6 spells one `Occurence`).
        Direction::Out if entry.frame_type == "CALLERROR" => {
            let refused = [
                "\"FormationViolation\"",
                "\"FormatViolation\"",
                "\"PropertyConstraintViolation\"",
                "\"OccurenceConstraintViolation\"",
                "\"OccurrenceConstraintViolation\"",
                "\"TypeConstraintViolation\"",
            ];
            let code = entry.payload.get(..60).unwrap_or(&entry.payload);
            refused
                .iter()
                .any(|c| code.contains(c))
                .then_some("refused")
        }
        Direction::Out => None,
    }
}

/// Holds one connected station in `ocpulse_stations_connected` while alive.
pub struct ConnectedGuard {
    metrics: Arc<Metrics>,
    labels: Labels<1>,
}

impl Drop for ConnectedGuard {
    fn drop(&mut self) {
        self.metrics.stations.get_or_create(&self.labels).dec();
    }
}

/// Holds one event-stream client in `ocpulse_event_stream_clients` while alive.
pub struct StreamGuard(Arc<Metrics>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.sse_clients.dec();
    }
}

#[cfg(test)]
mod tests;
