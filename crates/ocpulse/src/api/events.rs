//! `GET /api/v1/events?station=&action=&kind=&trigger=&after=`: live events as
//! Server-Sent Events, a tail of the journal.
//!
//! Every event is a journal entry and its SSE `id` is the entry's `seq`, so the journal is
//! both the source and the replay buffer: a client that reconnects with `Last-Event-ID`
//! (or `after`) is first replayed what it missed, then continues live, each id once and in
//! order. The replay reads the journal a page at a time (`PAGE` entries), never whole.
//!
//! A client's memory on the server is bounded. Each stream has a producer task that
//! follows the store's bounded broadcast of committed entries and hands events to the
//! connection under a budget of `PENDING_BYTES` not yet taken by it. A client that falls
//! behind is not caught up in memory: when the live feed overtakes it
//! (`RecvError::Lagged`) it is sent a final `event: lag` (its `id` is where to resume) and
//! the stream ends; when its socket does not drain for `event_stream_stall` the connection
//! is closed. Either way it reconnects with `Last-Event-ID` (an `EventSource` does so by
//! itself) and is replayed everything after that id from the journal, so a slow reader
//! never slows a station, never holds more than its budget, and never loses an entry.
//! The response says `Connection: close`: a stream's connection serves nothing after it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use ocpulse_core::JournalEntry;
use ocpulse_core::alert_rules::ALERT_EVENTS;
use ocpulse_core::journal::{EVENT, STATION_CONNECTED, STATION_DISCONNECTED};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::ApiError;
use super::messages::JournalEntryView;
use super::openapi::ApiErrorBody;
use crate::app::App;
use crate::listener::ConnectionAbort;

/// Entries read per journal page while replaying (the page is held while it is sent).
const PAGE: usize = 64;

/// Bytes of events a client may have waiting that its connection has not taken yet
/// (about; an event costs its data's length plus a little). One event larger than this
/// takes the whole budget alone.
const PENDING_BYTES: usize = 64 * 1024;

/// A comment this often keeps proxies and load balancers from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The values of `kind`, in the order error messages list them.
const KINDS: [&str; 4] = ["frame", "station", "trigger", "alert"];

/// What an entry is, as the stream's `kind` field and filter name it: `frame` (CALL,
/// CALLRESULT, CALLERROR, MALFORMED), `station` (connected, disconnected), `trigger`
/// (`TriggerCompleted`), `alert` (AlertRaised, AlertAcknowledged, AlertResolved), `event`
/// for any other event.
fn kind_of(e: &JournalEntry) -> &'static str {
    if e.frame_type != EVENT {
        return "frame";
    }
    match e.action.as_deref() {
        Some(STATION_CONNECTED | STATION_DISCONNECTED) => "station",
        Some(ocpulse_core::projection::TRIGGER_COMPLETED) => "trigger",
        Some(a) if ALERT_EVENTS.contains(&a) => "alert",
        _ => "event",
    }
}

/// Which entries a client asked for; every given condition must hold.
#[derive(Debug, Default)]
struct Filter {
    station: Option<String>,
    actions: Option<Vec<String>>,
    kinds: Option<Vec<&'static str>>,
    trigger: Option<String>,
}

impl Filter {
    fn matches(&self, e: &JournalEntry) -> bool {
        self.station.as_ref().is_none_or(|s| *s == e.station_id)
            && self
                .actions
                .as_ref()
                .is_none_or(|list| e.action.as_ref().is_some_and(|a| list.contains(a)))
            && self
                .kinds
                .as_ref()
                .is_none_or(|list| list.contains(&kind_of(e)))
            && self
                .trigger
                .as_ref()
                .is_none_or(|t| e.trigger_id.as_ref() == Some(t))
    }
}

/// A comma-separated list, blanks dropped; `None` when nothing is left (no filter).
fn list(value: Option<&String>) -> Option<Vec<String>> {
    let items: Vec<String> = value?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!items.is_empty()).then_some(items)
}

fn parse_filter(params: &HashMap<String, String>) -> Result<Filter, ApiError> {
    let kinds = match list(params.get("kind")) {
        None => None,
        Some(given) => {
            let mut kinds = Vec::with_capacity(given.len());
            for k in given {
                let Some(known) = KINDS.iter().find(|known| **known == k) else {
                    return Err(ApiError::bad_request(
                        "invalid_kind",
                        format!(
                            "kind {k:?} does not exist; valid kinds are {} (comma-separated for several)",
                            KINDS.join(", ")
                        ),
                    )
                    .with("validValues", KINDS));
                };
                kinds.push(*known);
            }
            Some(kinds)
        }
    };
    let text = |key: &str| params.get(key).filter(|v| !v.is_empty()).cloned();
    Ok(Filter {
        station: text("station"),
        actions: list(params.get("action")),
        kinds,
        trigger: text("trigger"),
    })
}

/// Where to resume: `Last-Event-ID` (what an `EventSource` sends when it reconnects, so it
/// wins over the URL's `after`), else `after`, else nowhere (start live).
fn parse_resume(
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Option<i64>, ApiError> {
    let header = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("\u{fffd}").trim())
        .filter(|v| !v.is_empty());
    if let Some(h) = header {
        return match h.parse::<i64>() {
            Ok(seq) if seq >= 0 => Ok(Some(seq)),
            _ => Err(ApiError::bad_request(
                "invalid_last_event_id",
                format!(
                    "Last-Event-ID must be the id of an event this stream sent (a whole number), got {h:?}"
                ),
            )),
        };
    }
    match params
        .get("after")
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
    {
        None => Ok(None),
        Some(a) => match a.parse::<i64>() {
            Ok(seq) if seq >= 0 => Ok(Some(seq)),
            _ => Err(ApiError::bad_request(
                "invalid_after",
                format!(
                    "after must be an event id (a whole number, e.g. after=1234) to replay what followed it, got {a:?}"
                ),
            )),
        },
    }
}

fn storage_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "storage_error",
        e.to_string(),
    )
}

/// Streams journal entries as they are committed (see the module doc).
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    description = "Server-Sent Events: each event's `id` is the journal entry's `seq` and its `data` a JSON journal entry (see JournalEntryView) plus `stationId` and `kind`. Resume with `Last-Event-ID` or `after`: what followed that id is replayed from the journal, then the stream goes live. A client that falls behind is not buffered: when the live feed overtakes it, it gets a final `event: lag` (its `id` is where to resume, its data says how many entries it missed) and the stream ends; a client whose socket does not drain (64 KiB of events waiting longer than the server's stall timeout, 10 s by default) is disconnected. Either way reconnect with `Last-Event-ID` (an EventSource does so by itself) and nothing is lost. The response closes its connection when the stream ends.",
    params(
        ("station" = Option<String>, Query, description = "Only this station's events", example = "CP0001"),
        ("action" = Option<String>, Query, description = "Only these actions (comma-separated)"),
        ("kind" = Option<String>, Query, description = "Only these kinds: frame, station, trigger, alert (comma-separated)"),
        ("trigger" = Option<String>, Query, description = "Only this trigger's events"),
        ("after" = Option<i64>, Query, description = "Replay what followed this event id, then go live", minimum = 0),
        ("Last-Event-ID" = Option<i64>, Header, description = "What an EventSource sends when it reconnects; wins over `after`", minimum = 0),
    ),
    responses(
        (status = 200, description = "The event stream", body = String, content_type = "text/event-stream"),
        (status = 400, description = "An unknown parameter (`invalid_query`), `kind` (`invalid_kind`), `after` (`invalid_after`) or `Last-Event-ID` (`invalid_last_event_id`)", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn stream(
    State(app): State<Arc<App>>,
    abort: Option<Extension<ConnectionAbort>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let filter = parse_filter(&params)?;
    let resume = parse_resume(&headers, &params)?;
    // Subscribe before looking at the journal: whatever is committed from here on is
    // either received live or read by the replay (duplicates are dropped by seq).
    let live = app.store.subscribe();
    let head = app.store.journal_head().await.map_err(storage_error)?;
    // An id beyond the head comes from another database (or a guess): continue from now.
    let cursor = resume.map_or(head, |seq| seq.min(head));
    let (tx, rx) = mpsc::unbounded_channel();
    let stall = app.config.event_stream_stall;
    let producer = Producer {
        app,
        live,
        filter,
        cursor,
        replaying: resume.is_some(),
        tx,
        budget: Arc::new(Semaphore::new(PENDING_BYTES)),
        stall,
    };
    tokio::spawn(producer.run(abort.map(|Extension(a)| a)));
    // The permit travels with its event and is released when the connection takes it.
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let (event, permit): (Event, OwnedSemaphorePermit) = rx.recv().await?;
        drop(permit);
        Some((Ok::<_, Infallible>(event), rx))
    });
    Ok((
        [(header::CONNECTION, "close")],
        Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)),
    )
        .into_response())
}

// Alphabetical, the order this had when it was one JSON map.
/// The data of the final `event: lag` of a client that fell behind.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct LagNotice {
    /// Where to resume (also the event's id).
    last_event_id: i64,
    /// How many entries the live feed went past it.
    missed: u64,
    /// What to do.
    recovery: &'static str,
}

/// Why a stream's producer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The server is stopping.
    Shutdown,
    /// The client went away (its connection dropped the stream).
    Gone,
    /// The live feed overtook the client by this many entries.
    Lagged(u64),
    /// The client's socket did not take its pending events within the stall timeout.
    Stalled,
    /// The journal could not be read.
    Store,
}

/// One client's position in the journal, and what it has not taken yet.
struct Producer {
    app: Arc<App>,
    live: Receiver<Arc<JournalEntry>>,
    filter: Filter,
    /// The highest seq handled (sent, or skipped by the filter); nothing at or below it is
    /// sent again.
    cursor: i64,
    /// Reading the journal (resuming) rather than the feed.
    replaying: bool,
    tx: mpsc::UnboundedSender<(Event, OwnedSemaphorePermit)>,
    /// `PENDING_BYTES` permits; an event holds its size's worth until the connection takes it.
    budget: Arc<Semaphore>,
    stall: Duration,
}

impl Producer {
    /// Feeds the client until it ends, then makes sure the connection ends too.
    async fn run(mut self, abort: Option<ConnectionAbort>) {
        let _counted = self.app.metrics.event_stream_client();
        let end = self.feed().await;
        let (reason, missed) = match end {
            End::Shutdown => ("shutdown", 0),
            End::Gone => ("gone", 0),
            End::Lagged(missed) => ("lagged", missed),
            End::Stalled => ("stalled", 0),
            End::Store => ("store", 0),
        };
        self.app.metrics.event_stream_ended(reason, missed);
        if let End::Lagged(missed) = end {
            tracing::debug!(
                missed,
                cursor = self.cursor,
                "event stream: client lagged; ending its stream"
            );
            let notice = LagNotice {
                last_event_id: self.cursor,
                missed,
                recovery: "the stream ends here; reconnect with Last-Event-ID (this event's id) to be replayed everything after it from the journal",
            };
            let notice = Event::default()
                .event("lag")
                .id(self.cursor.to_string())
                .data(serde_json::to_string(&notice).unwrap_or_default());
            // Sent if the client makes room within the stall timeout, after everything
            // it was already given.
            let _ = self.send(notice, 256).await;
        }
        if matches!(end, End::Gone | End::Shutdown | End::Store) {
            return;
        }
        // Give the connection the stall timeout to take what is pending; a client that
        // does not read by then is disconnected instead of held.
        let budget = Arc::clone(&self.budget);
        let all = u32::try_from(PENDING_BYTES).unwrap_or(u32::MAX);
        let drained = end != End::Stalled
            && tokio::time::timeout(self.stall, budget.acquire_many(all))
                .await
                .is_ok_and(|p| p.is_ok());
        drop(self.tx); // the stream ends once its events are taken
        if !drained {
            tracing::debug!(
                cursor = self.cursor,
                "event stream: client not reading; closing its connection"
            );
            if let Some(abort) = &abort {
                abort.abort();
            }
            return;
        }
        // The connection still has to write what it took; `Connection: close` ends it
        // afterwards, and a socket that does not drain by the stall timeout is closed.
        tokio::time::sleep(self.stall).await;
        if let Some(abort) = &abort {
            abort.abort();
        }
    }

    async fn feed(&mut self) -> End {
        loop {
            if self.replaying {
                // A fresh subscription before each page: what is committed from here on
                // comes live (duplicates dropped by seq), so a long replay never makes the
                // live feed lag.
                self.live = self.live.resubscribe();
                let page = tokio::select! {
                    () = self.app.shutdown.cancelled() => return End::Shutdown,
                    () = self.tx.closed() => return End::Gone,
                    page = self.app.store.journal_after(self.cursor, PAGE) => page,
                };
                let page = match page {
                    Ok(page) => page,
                    Err(e) => {
                        // Ending the stream lets the client reconnect with its last id.
                        tracing::warn!(error = %e, "event stream: journal replay failed; closing the stream");
                        return End::Store;
                    }
                };
                // A short page means the replay reached what was committed when it was
                // read; anything later is (or will be) in the live feed.
                self.replaying = page.len() == PAGE;
                for entry in &page {
                    if let Err(end) = self.offer(entry).await {
                        return end;
                    }
                }
                continue;
            }
            let received = tokio::select! {
                () = self.app.shutdown.cancelled() => return End::Shutdown,
                () = self.tx.closed() => return End::Gone,
                received = self.live.recv() => received,
            };
            match received {
                Ok(entry) => {
                    if let Err(end) = self.offer(&entry).await {
                        return end;
                    }
                }
                Err(RecvError::Lagged(missed)) => return End::Lagged(missed),
                Err(RecvError::Closed) => return End::Shutdown,
            }
        }
    }

    /// Sends the entry if it is new to this client and matches its filter.
    async fn offer(&mut self, entry: &JournalEntry) -> Result<(), End> {
        if entry.seq <= self.cursor {
            return Ok(());
        }
        self.cursor = entry.seq;
        if !self.filter.matches(entry) {
            return Ok(());
        }
        let mut view = JournalEntryView::from(entry);
        view.station_id = Some(&entry.station_id);
        view.kind = Some(kind_of(entry));
        let data = serde_json::to_string(&view).unwrap_or_default();
        let cost = data.len() + 32;
        let event = Event::default().id(entry.seq.to_string()).data(data);
        self.send(event, cost).await
    }

    /// Queues an event once the client's budget has room for it.
    async fn send(&self, event: Event, cost: usize) -> Result<(), End> {
        let cost = u32::try_from(cost.min(PENDING_BYTES)).unwrap_or(u32::MAX);
        let permit = tokio::select! {
            permit = Arc::clone(&self.budget).acquire_many_owned(cost) => permit.map_err(|_| End::Gone)?,
            () = tokio::time::sleep(self.stall) => return Err(End::Stalled),
            () = self.app.shutdown.cancelled() => return Err(End::Shutdown),
            () = self.tx.closed() => return Err(End::Gone),
        };
        self.tx.send((event, permit)).map_err(|_| End::Gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocpulse_core::Direction;

    fn entry(frame_type: &'static str, action: &str, trigger: Option<&str>) -> JournalEntry {
        JournalEntry {
            seq: 1,
            station_id: "CP1".into(),
            direction: Direction::In,
            frame_type,
            message_id: None,
            action: Some(action.into()),
            payload: "{}".into(),
            at: 0,
            violation: None,
            trigger_id: trigger.map(Into::into),
        }
    }

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn kinds_and_trigger_ids_filter_entries() {
        let started = entry(EVENT, "TriggerCompleted", Some("t1"));
        let other = entry(EVENT, "TriggerCompleted", Some("t2"));
        let call = entry("CALL", "Heartbeat", Some("t1"));
        let connected = entry(EVENT, STATION_CONNECTED, None);
        assert_eq!(
            [&started, &call, &connected].map(kind_of),
            ["trigger", "frame", "station"]
        );
        let f = parse_filter(&params(&[("trigger", "t1")])).expect("valid");
        assert!(f.matches(&started) && f.matches(&call));
        assert!(!f.matches(&other) && !f.matches(&connected));
        let f = parse_filter(&params(&[("kind", "trigger, station")])).expect("valid");
        assert!(f.matches(&started) && f.matches(&connected) && !f.matches(&call));
    }

    #[test]
    fn last_event_id_wins_over_after_and_junk_is_refused() {
        let mut headers = HeaderMap::new();
        let p = params(&[("after", "5")]);
        assert_eq!(parse_resume(&headers, &p).expect("valid"), Some(5));
        headers.insert("last-event-id", axum::http::HeaderValue::from_static("9"));
        assert_eq!(parse_resume(&headers, &p).expect("valid"), Some(9));
        assert!(parse_resume(&HeaderMap::new(), &params(&[("after", "x")])).is_err());
        assert!(parse_filter(&params(&[("kind", "frame,nope")])).is_err());
    }
}
