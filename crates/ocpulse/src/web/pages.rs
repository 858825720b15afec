//! The dashboard's pages. Each renders from live state a page of rows at a time; `?fragment=1`
//! renders only the part the page's script refreshes when an event says it changed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use ocpulse_core::StationState;
use ocpulse_core::alert_rules::{Alert, AlertStatus};
use ocpulse_core::selector::{Connection, Selector};
use serde_json::json;

use super::{Viewer, html_response, json_island, layout, url_encode, viewer};
use crate::app::App;
use crate::tokens::Scope;

/// Rows per page of the stations and alerts lists.
pub const PAGE_SIZE: usize = 50;

type Params = Query<HashMap<String, String>>;

fn here(uri: &Uri) -> String {
    uri.path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned())
}

fn fragment(q: &HashMap<String, String>) -> bool {
    q.get("fragment").is_some_and(|v| v == "1")
}

/// A page or, with `?fragment=1`, only its live part.
fn answer(
    q: &HashMap<String, String>,
    title: &str,
    page: &str,
    v: &Viewer,
    live: Markup,
    whole: impl FnOnce(Markup) -> Markup,
) -> Response {
    if fragment(q) {
        html_response(StatusCode::OK, live)
    } else {
        html_response(StatusCode::OK, layout(title, page, v, whole(live)))
    }
}

fn when(ms: Option<ocpulse_core::Millis>) -> String {
    ms.map_or_else(|| "never".into(), ocpulse_core::rfc3339)
}

fn connection_badge(connected: bool) -> Markup {
    if connected {
        html! { span.badge.ok { "connected" } }
    } else {
        html! { span.badge.off { "disconnected" } }
    }
}

fn status_class(status: &str) -> &'static str {
    match status {
        "Available" => "ok",
        "Charging" | "Occupied" | "Preparing" | "SuspendedEV" | "SuspendedEVSE" | "Finishing" => {
            "busy"
        }
        "Faulted" => "bad",
        "Unavailable" | "Reserved" => "warn",
        _ => "off",
    }
}

/// A trigger outcome as a badge (`Completed` good, `Running` busy, anything else bad).
fn status_badge_outcome(outcome: &str) -> Markup {
    let class = match outcome {
        "Completed" | "Partial" => "ok",
        "Running" => "busy",
        _ => "bad",
    };
    html! { span class={"badge " (class)} { (outcome) } }
}

fn status_badge(status: &str) -> Markup {
    html! { span class={"badge " (status_class(status))} { (status) } }
}

/// A connector's label: `2` (1.6) or `1/1` (EVSE/connector, 2.x).
fn connector_label(c: &ocpulse_core::state::ConnectorStatus) -> String {
    match c.evse_id {
        Some(e) => format!("{e}/{}", c.connector_id),
        None => c.connector_id.to_string(),
    }
}

/// A station's connectors in short: `1 Available · 2 Charging`.
fn connectors_brief(state: &StationState) -> Markup {
    html! {
        @if state.connectors.is_empty() {
            span.muted { "no status yet" }
        }
        @for c in &state.connectors {
            span.conn { span.muted { (connector_label(c)) } " " (status_badge(&c.status)) }
        }
    }
}

// ---------------------------------------------------------------- overview

/// Counts for the overview, from one pass over the registry.
#[derive(Default)]
struct Fleet {
    known: usize,
    connected: usize,
    statuses: BTreeMap<String, usize>,
    protocols: BTreeMap<String, usize>,
    vendors: BTreeMap<String, usize>,
    firmware: BTreeMap<String, usize>,
    transactions: usize,
}

fn fleet(app: &App) -> Fleet {
    let mut f = Fleet::default();
    for (_, entry) in app.stations.all() {
        f.known += 1;
        if entry.connected() {
            f.connected += 1;
        }
        let s = entry.state.lock();
        for c in &s.connectors {
            *f.statuses.entry(c.status.clone()).or_default() += 1;
        }
        let unknown = || "unknown".to_owned();
        *f.protocols
            .entry(s.protocol.clone().unwrap_or_else(unknown))
            .or_default() += 1;
        let boot = s.boot.as_ref();
        *f.vendors
            .entry(boot.and_then(|b| b.vendor.clone()).unwrap_or_else(unknown))
            .or_default() += 1;
        *f.firmware
            .entry(
                boot.and_then(|b| b.firmware_version.clone())
                    .unwrap_or_else(unknown),
            )
            .or_default() += 1;
        f.transactions += s.transactions.len();
    }
    f
}

/// A count table, largest first, at most `top` rows.
fn counts_table(
    caption: &str,
    key: &str,
    unit: &str,
    counts: &BTreeMap<String, usize>,
    link: Option<&str>,
) -> Markup {
    let mut rows: Vec<_> = counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let more = rows.len().saturating_sub(10);
    rows.truncate(10);
    html! {
        table.counts {
            caption { (caption) }
            thead { tr { th scope="col" { (key) } th scope="col" .num { (unit) } } }
            tbody {
                @for (name, n) in rows {
                    tr {
                        td {
                            @if let Some(param) = link {
                                a href={"/ui/stations?" (param) "=" (url_encode(name))} { (name) }
                            } @else { (name) }
                        }
                        td.num { (n) }
                    }
                }
                @if more > 0 { tr { td colspan="2" .muted { "and " (more) " more" } } }
            }
        }
    }
}

/// `GET /`: the fleet overview.
pub async fn overview(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Params,
) -> Response {
    let v = match viewer(&app, &headers, &here(&uri)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let f = fleet(&app);
    let (open_alerts, latest): (usize, Vec<Alert>) = {
        let state = app.alerts.state.lock().await;
        let open: Vec<&Alert> = state
            .alerts
            .values()
            .rev()
            .filter(|a| a.status == AlertStatus::Open)
            .collect();
        (
            open.len(),
            open.iter().take(5).map(|a| (*a).clone()).collect(),
        )
    };
    let samples: Vec<_> = app.web.samples.lock().iter().copied().collect();
    let mut samples = samples;
    // The chart always ends now, even before the first tick of a fresh server.
    samples.push((crate::now_ms() / 1000, f.connected, f.known, 0));
    let series = json!({
        "t": samples.iter().map(|s| s.0).collect::<Vec<_>>(),
        "connected": samples.iter().map(|s| s.1).collect::<Vec<_>>(),
        "known": samples.iter().map(|s| s.2).collect::<Vec<_>>(),
        "triggers": samples.iter().map(|s| s.3).collect::<Vec<_>>(),
    });
    let live = html! {
        div.cards {
            div.card { div.big #count-known { (f.known) } div { "stations known" } }
            div.card { div.big #count-connected { (f.connected) } div { "connected" } }
            div.card { div.big { (f.known - f.connected) } div { a href="/ui/stations?connection=disconnected" { "disconnected" } } }
            div.card { div.big { (f.transactions) } div { "open transactions" } }
            div.card { div.big #count-alerts { (open_alerts) } div { a href="/ui/alerts" { "open alerts" } } }
        }
        script type="application/json" #fleet-samples { (json_island(&series)) }
        div.grid {
            (counts_table("Connectors by status", "status", "connectors", &f.statuses, Some("status")))
            (counts_table("Stations by protocol", "protocol", "stations", &f.protocols, Some("protocol")))
            (counts_table("Stations by vendor", "vendor", "stations", &f.vendors, Some("vendor")))
            (counts_table("Stations by firmware", "firmware", "stations", &f.firmware, Some("firmware")))
        }
        section aria-labelledby="open-alerts" {
            h2 #open-alerts { "Latest open alerts" }
            @if latest.is_empty() {
                p.muted { "No open alerts." }
            } @else {
                (alerts_table(&latest, &v))
            }
        }
    };
    answer(&q, "Fleet overview", "overview", &v, live, |live| {
        html! {
            section aria-labelledby="chart-title" {
                h2 #chart-title { "Connected stations and triggers over time" }
                div #fleet-chart .chart role="img" aria-label="Chart of connected and known stations, and triggers ended per 10 seconds, over time" {}
            }
            div data-fragment="/?fragment=1" data-events="action=StatusNotification,StationConnected,StationDisconnected,BootNotification,StartTransaction,StopTransaction,TransactionEvent,AlertRaised,AlertAcknowledged,AlertResolved" data-throttle="2000" {
                (live)
            }
        }
    })
}

// ---------------------------------------------------------------- stations

struct StationFilter {
    q: String,
    connection: Option<bool>,
    status: Option<String>,
    protocol: Option<String>,
    vendor: Option<String>,
    firmware: Option<String>,
}

impl StationFilter {
    fn parse(q: &HashMap<String, String>) -> Self {
        let get = |k: &str| {
            q.get(k)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        Self {
            q: get("q").unwrap_or_default().to_lowercase(),
            connection: get("connection").and_then(|c| match c.as_str() {
                "connected" => Some(true),
                "disconnected" => Some(false),
                _ => None,
            }),
            status: get("status"),
            protocol: get("protocol"),
            vendor: get("vendor"),
            firmware: get("firmware"),
        }
    }

    fn keeps(&self, s: &StationState, connected: bool) -> bool {
        let boot = s.boot.as_ref();
        let unknown_or = |v: Option<&String>, want: &String| match v {
            Some(v) => v == want,
            None => want == "unknown",
        };
        (self.q.is_empty()
            || s.id.to_lowercase().contains(&self.q)
            || boot.is_some_and(|b| {
                [&b.vendor, &b.model, &b.serial_number].iter().any(|f| {
                    f.as_ref()
                        .is_some_and(|f| f.to_lowercase().contains(&self.q))
                })
            }))
            && self.connection.is_none_or(|c| c == connected)
            && self
                .status
                .as_ref()
                .is_none_or(|st| s.connectors.iter().any(|c| &c.status == st))
            && self
                .protocol
                .as_ref()
                .is_none_or(|p| unknown_or(s.protocol.as_ref(), p))
            && self
                .vendor
                .as_ref()
                .is_none_or(|p| unknown_or(boot.and_then(|b| b.vendor.as_ref()), p))
            && self
                .firmware
                .as_ref()
                .is_none_or(|p| unknown_or(boot.and_then(|b| b.firmware_version.as_ref()), p))
    }

    /// The query string of this filter (without the page).
    fn query(&self) -> String {
        let mut parts = Vec::new();
        let mut add = |k: &str, v: Option<&str>| {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                parts.push(format!("{k}={}", url_encode(v)));
            }
        };
        add("q", Some(&self.q));
        add(
            "connection",
            self.connection
                .map(|c| if c { "connected" } else { "disconnected" }),
        );
        add("status", self.status.as_deref());
        add("protocol", self.protocol.as_deref());
        add("vendor", self.vendor.as_deref());
        add("firmware", self.firmware.as_deref());
        parts.join("&")
    }
}

const STATUSES: [&str; 10] = [
    "Available",
    "Occupied",
    "Charging",
    "Preparing",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
];

/// `GET /ui/stations`: search, filter and page the stations; live status.
pub async fn stations(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Params,
) -> Response {
    let v = match viewer(&app, &headers, &here(&uri)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let filter = StationFilter::parse(&q);
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut matched = 0usize;
    let mut rows = Vec::new();
    let skip = (page - 1) * PAGE_SIZE;
    for (_, entry) in app.stations.all() {
        let connected = entry.connected();
        let s = entry.state.lock();
        if !filter.keeps(&s, connected) {
            continue;
        }
        matched += 1;
        if matched > skip && rows.len() < PAGE_SIZE {
            rows.push((s.clone(), connected));
        }
    }
    let pages = matched.div_ceil(PAGE_SIZE).max(1);
    let base = filter.query();
    let link = |p: usize| {
        if base.is_empty() {
            format!("/ui/stations?page={p}")
        } else {
            format!("/ui/stations?{base}&page={p}")
        }
    };
    let live = html! {
        p #stations-summary { (matched) " stations match · page " (page) " of " (pages) }
        table.list #stations-table {
            thead { tr {
                th scope="col" { "Station" } th scope="col" { "Connection" } th scope="col" { "Protocol" }
                th scope="col" { "Vendor / model" } th scope="col" { "Firmware" } th scope="col" { "Connectors" } th scope="col" { "Last seen" }
            } }
            tbody {
                @for (s, connected) in &rows {
                    tr data-station=(s.id) {
                        th scope="row" { a href={"/ui/stations/" (url_encode(&s.id))} { (s.id) } }
                        td { (connection_badge(*connected)) }
                        td { (s.protocol.as_deref().unwrap_or("—")) }
                        td { (s.boot.as_ref().and_then(|b| b.vendor.as_deref()).unwrap_or("—")) " "
                             span.muted { (s.boot.as_ref().and_then(|b| b.model.as_deref()).unwrap_or("")) } }
                        td { (s.boot.as_ref().and_then(|b| b.firmware_version.as_deref()).unwrap_or("—")) }
                        td.status { (connectors_brief(s)) }
                        td { time { (when(s.last_seen)) } }
                    }
                }
                @if rows.is_empty() { tr { td colspan="7" .muted { "No station matches." } } }
            }
        }
        nav.pager aria-label="Pages" {
            @if page > 1 { a href=(link(page - 1)) rel="prev" { "← Previous" } }
            @if page < pages { a href=(link(page + 1)) rel="next" { "Next →" } }
        }
    };
    let fragment_url = if base.is_empty() {
        format!("/ui/stations?page={page}&fragment=1")
    } else {
        format!("/ui/stations?{base}&page={page}&fragment=1")
    };
    answer(&q, "Stations", "stations", &v, live, |live| {
        html! {
            form.filters method="get" action="/ui/stations" role="search" {
                div { label for="q" { "Search" } input #q type="search" name="q" value=(filter.q) placeholder="id, vendor, model, serial"; }
                div { label for="connection" { "Connection" }
                    select #connection name="connection" {
                        option value="" { "any" }
                        option value="connected" selected[filter.connection == Some(true)] { "connected" }
                        option value="disconnected" selected[filter.connection == Some(false)] { "disconnected" }
                    }
                }
                div { label for="status" { "Connector status" }
                    select #status name="status" {
                        option value="" { "any" }
                        @for st in STATUSES { option value=(st) selected[filter.status.as_deref() == Some(st)] { (st) } }
                    }
                }
                div { label for="protocol" { "Protocol" }
                    select #protocol name="protocol" {
                        option value="" { "any" }
                        @for p in ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"] { option value=(p) selected[filter.protocol.as_deref() == Some(p)] { (p) } }
                    }
                }
                @if let Some(vendor) = &filter.vendor { input type="hidden" name="vendor" value=(vendor); }
                @if let Some(fw) = &filter.firmware { input type="hidden" name="firmware" value=(fw); }
                button type="submit" { "Filter" }
            }
            div data-fragment=(fragment_url) data-events="action=StatusNotification,BootNotification,StationConnected,StationDisconnected" data-rows="tr[data-station]" data-throttle="1000" {
                (live)
            }
        }
    })
}

// ---------------------------------------------------------------- station

fn connectors_table(s: &StationState, connected: bool) -> Markup {
    html! {
        p { (connection_badge(connected)) " · last seen " time { (when(s.last_seen)) } " · " (s.transactions.len()) " open transaction(s)" }
        table.list #connectors-table {
            caption { "Connectors" }
            thead { tr { th scope="col" { "Connector" } th scope="col" { "Status" } th scope="col" { "Error" } th scope="col" { "Reported" } } }
            tbody {
                @for c in &s.connectors {
                    tr data-connector=(connector_label(c)) {
                        th scope="row" { (connector_label(c)) }
                        td.status { (status_badge(&c.status)) }
                        td { (c.error_code.as_deref().unwrap_or("")) }
                        td { time { (c.timestamp.clone().unwrap_or_else(|| ocpulse_core::rfc3339(c.received_at))) } }
                    }
                }
                @if s.connectors.is_empty() { tr { td colspan="4" .muted { "No StatusNotification yet." } } }
            }
        }
        @if !s.transactions.is_empty() {
            table.list {
                caption { "Open transactions" }
                thead { tr { th scope="col" { "Transaction" } th scope="col" { "Connector / EVSE" } th scope="col" { "Id tag" } th scope="col" { "State" } th scope="col" { "Started" } } }
                tbody {
                    @for t in &s.transactions {
                        tr {
                            td { code { (t.transaction_id) } }
                            td { (t.connector_id.or(t.evse_id).map(|n| n.to_string()).unwrap_or_default()) }
                            td { (t.id_tag.as_deref().unwrap_or("")) }
                            td { (t.charging_state.as_deref().unwrap_or("")) }
                            td { (t.started_at.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

/// What the trigger form offers (the vocabulary both versions share, per `docs/triggers.md`).
const TRIGGERABLE: [&str; 7] = [
    "StatusNotification",
    "Heartbeat",
    "MeterValues",
    "BootNotification",
    "FirmwareStatusNotification",
    "DiagnosticsStatusNotification",
    "LogStatusNotification",
];

/// `GET /ui/stations/{id}`: connectors live, meter chart, journal tail, trigger form.
pub async fn station(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Params,
) -> Response {
    let v = match viewer(&app, &headers, &here(&uri)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(entry) = app.stations.get(&id) else {
        return html_response(
            StatusCode::NOT_FOUND,
            layout(
                "Station not found",
                "stations",
                &v,
                html! {
                    p { "No station " code { (id) } " ever connected or was registered. " a href="/ui/stations" { "All stations" } }
                },
            ),
        );
    };
    let connected = entry.connected();
    let s = entry.state.lock().clone();
    let live = connectors_table(&s, connected);
    let title = format!("Station {id}");
    let enc = url_encode(&id);
    let two = s
        .protocol
        .as_deref()
        .is_some_and(|p| p.starts_with("ocpp2"));
    answer(&q, &title, "station", &v, live, |live| {
        html! {
            div #station data-station=(id) {
                dl.facts {
                    dt { "Protocol" } dd { (s.protocol.as_deref().unwrap_or("—")) }
                    @if let Some(b) = &s.boot {
                        dt { "Vendor / model" } dd { (b.vendor.as_deref().unwrap_or("—")) " / " (b.model.as_deref().unwrap_or("—")) }
                        dt { "Firmware" } dd { (b.firmware_version.as_deref().unwrap_or("—")) }
                        dt { "Serial" } dd { (b.serial_number.as_deref().unwrap_or("—")) }
                        dt { "Booted" } dd { (ocpulse_core::rfc3339(b.received_at)) }
                    }
                    dt { "Registration" } dd { (s.registration_status.as_deref().unwrap_or("—")) }
                    dt { "Connected since" } dd { (when(s.connected_since)) }
                }
                section aria-labelledby="live-title" {
                    h2 #live-title { "Live status" }
                    div data-fragment={"/ui/stations/" (enc) "?fragment=1"} data-events={"station=" (enc)} data-actions="StatusNotification,StationConnected,StationDisconnected,StartTransaction,StopTransaction,TransactionEvent,BootNotification" data-throttle="500" {
                        (live)
                    }
                }
                @if v.can(Scope::Trigger) {
                    section aria-labelledby="trigger-title" #trigger-section {
                        h2 #trigger-title { "Trigger a message" }
                        form #trigger-form data-station=(id) {
                            div { label for="requested" { "Message" }
                                select #requested name="requestedMessage" {
                                    @for m in TRIGGERABLE { option value=(m) { (m) } }
                                }
                            }
                            @if two {
                                div { label for="target" { "EVSE (optional)" } input #target type="number" min="0" name="evse"; }
                            } @else {
                                div { label for="target" { "Connector (optional)" } input #target type="number" min="0" name="connectorId"; }
                            }
                            button type="submit" { "Trigger" }
                        }
                        div #trigger-result aria-live="polite" {}
                    }
                }
                section aria-labelledby="meter-title" {
                    h2 #meter-title { "Meter: power and energy (last hour)" }
                    div #meter-chart .chart data-station=(id) role="img" aria-label="Chart of power and energy over the last hour" {}
                    p #meter-empty .muted hidden { "No meter values in the last hour." }
                }
                section aria-labelledby="triggers-title" {
                    h2 #triggers-title { "Recent triggers" }
                    table.list #recent-triggers data-station=(id) {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Message" } th scope="col" { "Outcome" } th scope="col" { "Elapsed" } th scope="col" { "By" } } }
                        tbody { tr { td colspan="5" .muted { "Loading…" } } }
                    }
                }
                @if !s.capabilities.is_empty() {
                    section aria-labelledby="caps-title" {
                        h2 #caps-title { "Capability matrix: what it did with each trigger" }
                        table.list {
                            thead { tr {
                                th scope="col" { "Message" } th scope="col" .num { "Accepted" } th scope="col" .num { "Delivered" }
                                th scope="col" .num { "Rejected" } th scope="col" .num { "Not implemented" } th scope="col" .num { "Errors" }
                                th scope="col" .num { "Timeouts" } th scope="col" .num { "Mean latency" } th scope="col" { "Works with" }
                                th scope="col" { "Last outcome" }
                            } }
                            tbody {
                                @for (m, c) in &s.capabilities {
                                    tr {
                                        th scope="row" { (m) }
                                        td.num { (c.accepted) } td.num { (c.delivered) } td.num { (c.rejected) }
                                        td.num { (c.not_implemented) } td.num { (c.errors) } td.num { (c.timeouts) }
                                        td.num { @if c.delivered > 0 { (c.latency_ms_total / c.delivered) " ms" } }
                                        td { (c.works_with.as_deref().unwrap_or("")) }
                                        td { @if let Some(o) = c.last_outcome { (status_badge_outcome(o.as_str())) } }
                                    }
                                }
                            }
                        }
                    }
                }
                section aria-labelledby="journal-title" {
                    h2 #journal-title { "Journal (live)" }
                    div.filters {
                        div { label for="journal-filter" { "Action filter" } input #journal-filter type="search" placeholder="e.g. StatusNotification"; }
                    div { label for="journal-direction" { "Direction" }
                        select #journal-direction { option value="" { "any" } option value="in" { "in (from the station)" } option value="out" { "out (to the station)" } }
                    }
                    div { label for="journal-type" { "Type" }
                        select #journal-type { option value="" { "any" } @for t in ["CALL", "CALLRESULT", "CALLERROR", "EVENT", "MALFORMED"] { option value=(t) { (t) } } }
                    }
                        div.check { input #journal-pause type="checkbox"; label for="journal-pause" { "Pause live tail" } }
                    }
                    table.list.journal #journal data-station=(id) {
                        thead { tr { th scope="col" { "Seq" } th scope="col" { "At" } th scope="col" { "Dir" } th scope="col" { "Type" } th scope="col" { "Action" } th scope="col" { "Payload" } } }
                        tbody {}
                    }
                    button #journal-older type="button" hidden { "Load older entries" }
                }
            }
        }
    })
}

// ---------------------------------------------------------------- jobs

/// `GET /ui/jobs`: the job form (live count of matching stations) and recent jobs.
pub async fn jobs(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Params,
) -> Response {
    let v = match viewer(&app, &headers, &here(&uri)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = html! {
        @if v.can(Scope::Trigger) {
            section aria-labelledby="new-job" {
                h2 #new-job { "New trigger job" }
                form #job-form {
                    fieldset {
                        legend { "Stations" }
                        div { label for="job-protocol" { "Protocol" }
                            select #job-protocol name="protocol" {
                                option value="" { "any" }
                                @for p in ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"] { option value=(p) { (p) } }
                            }
                        }
                        div { label for="job-connection" { "Connection" }
                            select #job-connection name="connection" {
                                option value="" { "any" }
                                option value="connected" selected { "connected" }
                                option value="disconnected" { "disconnected" }
                            }
                        }
                        div { label for="job-status" { "Connector status" }
                            select #job-status name="connectorStatus" {
                                option value="" { "any" }
                                @for st in STATUSES { option value=(st) { (st) } }
                            }
                        }
                        div { label for="job-vendor" { "Vendor (exact)" } input #job-vendor type="text" name="vendor"; }
                        div { label for="job-firmware" { "Firmware (exact)" } input #job-firmware type="text" name="firmwareVersion"; }
                        p #job-count aria-live="polite" { "…" }
                    }
                    div { label for="job-message" { "Message" }
                        select #job-message name="requestedMessage" {
                            @for m in TRIGGERABLE { option value=(m) { (m) } }
                        }
                    }
                    div { label for="job-name" { "Name (optional)" } input #job-name type="text" name="name" maxlength="100"; }
                    button type="submit" { "Start job" }
                }
            }
        }
        section #job-progress-section aria-labelledby="job-progress-title" hidden {
            h2 #job-progress-title { "Job " span #job-id {} }
            progress #job-progress max="100" value="0" aria-label="Job progress" {}
            p #job-progress-text aria-live="polite" {}
            table.list #job-results {
                thead { tr { th scope="col" { "Station" } th scope="col" { "Outcome" } th scope="col" .num { "Attempts" } th scope="col" { "Detail" } } }
                tbody {}
            }
        }
        section aria-labelledby="recent-jobs" {
            h2 #recent-jobs { "Recent jobs" }
            table.list #jobs-table {
                thead { tr { th scope="col" { "Job" } th scope="col" { "Status" } th scope="col" { "Message" } th scope="col" { "Progress" } th scope="col" { "Created" } } }
                tbody { tr { td colspan="5" .muted { "Loading…" } } }
            }
        }
    };
    let _ = &q;
    html_response(StatusCode::OK, layout("Jobs", "jobs", &v, body))
}

/// `GET /ui/selector-count?protocol=&connection=&connectorStatus=&vendor=&firmwareVersion=`:
/// how many stations a job with these filters would select now (the job form's live count).
pub async fn selector_count(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Params,
) -> Response {
    if let Err(r) = viewer(&app, &headers, &here(&uri)).await {
        return r;
    }
    let get = |k: &str| {
        q.get(k)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let connection = match get("connection").as_deref() {
        None => None,
        Some("connected") => Some(Connection::Connected),
        Some("disconnected") => Some(Connection::Disconnected),
        Some(other) => {
            return crate::api::ApiError::bad_request(
                "invalid_selector",
                format!("connection {other:?} is not connected or disconnected"),
            )
            .into_response();
        }
    };
    let selector = Selector {
        station_ids: None,
        all: true,
        protocol: get("protocol").map(|p| {
            ocpp_rpc::ProtocolVersion::parse_name(&p).map_or(p, |v| v.subprotocol().into())
        }),
        vendor: get("vendor"),
        model: get("model"),
        firmware_version: get("firmwareVersion"),
        connection,
        connector_status: get("connectorStatus"),
    };
    if let Err(e) = selector.check() {
        return crate::api::ApiError::bad_request(e.code, e.message).into_response();
    }
    let count = app
        .stations
        .all()
        .iter()
        .filter(|(_, e)| selector.selects(&e.state.lock(), e.connected()))
        .count();
    Json(json!({ "count": count })).into_response()
}

// ---------------------------------------------------------------- alerts

fn alerts_table(alerts: &[Alert], v: &Viewer) -> Markup {
    html! {
        table.list #alerts-table {
            thead { tr {
                th scope="col" { "Raised" } th scope="col" { "Severity" } th scope="col" { "Rule" } th scope="col" { "Station" }
                th scope="col" { "Target" } th scope="col" { "Count" } th scope="col" { "Status" } th scope="col" { span.sr-only { "Actions" } }
            } }
            tbody {
                @for a in alerts {
                    tr data-alert=(a.id) {
                        td { time { (a.last_raised_at) } }
                        td { span class={"badge sev-" (format!("{:?}", a.severity).to_lowercase())} { (format!("{:?}", a.severity).to_lowercase()) } }
                        td { (a.rule_name) }
                        td { a href={"/ui/stations/" (url_encode(&a.station_id))} { (a.station_id) } }
                        td { (a.target) }
                        td.num { (a.count) }
                        td.alert-status { (format!("{:?}", a.status).to_lowercase())
                            @if let Some(by) = &a.acknowledged_by { " by " (by) } }
                        td {
                            @if a.status == AlertStatus::Open && v.can(Scope::Trigger) {
                                button.ack type="button" data-alert=(a.id) aria-label={"Acknowledge alert " (a.rule_name) " on " (a.station_id)} { "Acknowledge" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /ui/alerts?status=open|acknowledged|resolved|all&page=`: alerts, newest first; acknowledge.
pub async fn alerts(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Params,
) -> Response {
    let v = match viewer(&app, &headers, &here(&uri)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let status = q.get("status").map_or("open", String::as_str);
    let wanted = match status {
        "acknowledged" => Some(AlertStatus::Acknowledged),
        "resolved" => Some(AlertStatus::Resolved),
        "all" => None,
        _ => Some(AlertStatus::Open),
    };
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let (matched, rows) = {
        let state = app.alerts.state.lock().await;
        let all: Vec<&Alert> = state
            .alerts
            .values()
            .rev()
            .filter(|a| wanted.is_none_or(|w| a.status == w))
            .collect();
        let rows: Vec<Alert> = all
            .iter()
            .skip((page - 1) * PAGE_SIZE)
            .take(PAGE_SIZE)
            .map(|a| (*a).clone())
            .collect();
        (all.len(), rows)
    };
    let pages = matched.div_ceil(PAGE_SIZE).max(1);
    let live = html! {
        p { (matched) " " (status) " alerts · page " (page) " of " (pages) }
        @if rows.is_empty() { p.muted { "None." } } @else { (alerts_table(&rows, &v)) }
        nav.pager aria-label="Pages" {
            @if page > 1 { a href={"/ui/alerts?status=" (status) "&page=" (page - 1)} rel="prev" { "← Previous" } }
            @if page < pages { a href={"/ui/alerts?status=" (status) "&page=" (page + 1)} rel="next" { "Next →" } }
        }
    };
    answer(&q, "Alerts", "alerts", &v, live, |live| {
        html! {
            nav.tabs aria-label="Alert status" {
                @for s in ["open", "acknowledged", "resolved", "all"] {
                    @if s == status { a href={"/ui/alerts?status=" (s)} aria-current="page" { (s) } }
                    @else { a href={"/ui/alerts?status=" (s)} { (s) } }
                }
            }
            div data-fragment={"/ui/alerts?status=" (status) "&page=" (page) "&fragment=1"} data-events="kind=alert" data-throttle="1000" {
                (live)
            }
        }
    })
}

// ---------------------------------------------------------------- pages read from the API

/// A table the page's script fills from an API list (`items`, `next`), 50 rows at a time
/// with "Load more", re-read every `refresh_ms` (0: never). Columns: (field path, header,
/// format: `text`, `num`, `badge`, `station`, `trigger`, `time`, `json`, `bool`).
fn api_table(
    id: &str,
    caption: &str,
    api: &str,
    columns: &[(&str, &str, &str)],
    refresh_ms: u32,
) -> Markup {
    let spec = serde_json::to_string(columns).unwrap_or_default();
    html! {
        table.list id=(id) data-api=(api) data-columns=(spec) data-refresh=(refresh_ms) {
            caption { (caption) }
            thead { tr { @for (_, label, format) in columns {
                @if *format == "num" { th scope="col" .num { (label) } } @else { th scope="col" { (label) } }
            } } }
            tbody { tr { td colspan=(columns.len()) .muted { "Loading…" } } }
        }
        button.more type="button" data-table=(id) hidden { "Load more" }
    }
}

async fn shell(
    app: &App,
    headers: &HeaderMap,
    uri: &Uri,
    title: &str,
    page: &str,
    body: impl FnOnce(&Viewer) -> Markup,
) -> Response {
    match viewer(app, headers, &here(uri)).await {
        Ok(v) => {
            let b = body(&v);
            html_response(StatusCode::OK, layout(title, page, &v, b))
        }
        Err(r) => r,
    }
}

/// `GET /ui/sessions?active=true|false`: charging sessions with their energy, re-read every 5 s.
pub async fn sessions(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Params,
) -> Response {
    let active = q.get("active").map(String::as_str);
    let api = match active {
        Some("true") => "/api/v1/sessions?active=true&limit=50",
        Some("false") => "/api/v1/sessions?active=false&limit=50",
        _ => "/api/v1/sessions?limit=50",
    };
    shell(&app, &headers, &uri, "Charging sessions", "sessions", |_| html! {
        nav.tabs aria-label="Session status" {
            @for (value, label) in [(None, "all"), (Some("true"), "active"), (Some("false"), "ended")] {
                @let href = value.map_or_else(|| "/ui/sessions".to_owned(), |v| format!("/ui/sessions?active={v}"));
                @if active == value { a href=(href) aria-current="page" { (label) } } @else { a href=(href) { (label) } }
            }
        }
        (api_table("sessions-table", "Sessions, newest first (energy live, every 5 s)", api, &[
            ("stationId", "Station", "station"), ("transactionId", "Transaction", "text"), ("connectorId", "Connector", "num"),
            ("evseId", "EVSE", "num"), ("idToken", "Id token", "text"), ("active", "Active", "bool"),
            ("energyWh", "Energy (Wh)", "num"), ("powerW", "Power (W)", "num"), ("startedAt", "Started", "time"),
            ("stoppedAt", "Stopped", "time"), ("stopReason", "Stop reason", "text"),
        ], 5000))
    }).await
}

/// `GET /ui/schedules`: schedules and freshness targets, with their last runs and counters.
pub async fn schedules(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    shell(&app, &headers, &uri, "Schedules and freshness", "schedules", |_| html! {
        (api_table("schedules-table", "Schedules (recurring trigger jobs)", "/api/v1/schedules?limit=50", &[
            ("name", "Name", "text"), ("enabled", "Enabled", "bool"), ("trigger.requestedMessage", "Message", "text"),
            ("everySeconds", "Every (s)", "num"), ("nextRunAt", "Next run", "time"), ("lastRun.jobId", "Last job", "job"),
            ("lastRun.startedAt", "Last run", "time"), ("lastRun.counts", "Last run's outcomes", "json"), ("runs", "Runs", "num"),
        ], 10000))
        (api_table("freshness-table", "Freshness targets (data kept younger than a maximum age)", "/api/v1/freshness?limit=50", &[
            ("name", "Name", "text"), ("data", "Data", "json"), ("maxAgeSeconds", "Max age (s)", "num"),
            ("refreshes", "Refreshes", "num"), ("succeeded", "Succeeded", "num"), ("failed", "Failed", "num"),
            ("createdAt", "Created", "time"),
        ], 10000))
    }).await
}

/// `GET /ui/webhooks`: webhooks (admin only, as the API), each with its latest deliveries.
pub async fn webhooks(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    shell(&app, &headers, &uri, "Webhooks", "webhooks", |v| html! {
        @if v.can(Scope::Admin) {
            (api_table("webhooks-table", "Webhooks (signed alert deliveries)", "/api/v1/webhooks?limit=50", &[
                ("url", "URL", "text"), ("events", "Events", "json"), ("secretHint", "Secret", "text"),
                ("createdAt", "Created", "time"), ("id", "Delivery log", "deliveries"),
            ], 0))
            section #deliveries-section hidden aria-labelledby="deliveries-title" {
                h2 #deliveries-title { "Deliveries" }
                (api_table("deliveries-table", "Latest deliveries", "", &[
                    ("createdAt", "Created", "time"), ("event", "Event", "text"), ("alertId", "Alert", "text"),
                    ("status", "Status", "badge"), ("attempts", "Attempts", "count"), ("completedAt", "Completed", "time"),
                    ("note", "Note", "text"),
                ], 0))
            }
        } @else {
            p { "Webhooks hold receivers' URLs and delivery logs: reading them needs the " code { "admin" } " scope." }
        }
    }).await
}

/// `GET /ui/triggers/{id}`: one trigger's timeline (request, the CALLs sent and their
/// answers, the station's messages and why each was taken, the end), read from its record,
/// and the frames the journal holds for it (each entry carrying its `triggerId`).
pub async fn trigger(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let title = format!("Trigger {id}");
    shell(&app, &headers, &uri, &title, "trigger", |_| {
        html! {
            div #trigger-detail data-trigger=(id) {
                dl.facts #trigger-facts {}
                h2 { "Timeline" }
                ol.timeline #trigger-timeline { li.muted { "Loading…" } }
                h2 { "Frames in the journal" }
                ol.timeline #trigger-frames { li.muted { "Loading…" } }
            }
        }
    })
    .await
}

/// `GET /ui/operations`: firmware rollouts (stage, counts) and configuration drift (per
/// profile, and the stations that drift).
pub async fn operations(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    shell(&app, &headers, &uri, "Firmware and configuration", "operations", |_| html! {
        (api_table("rollouts-table", "Firmware rollouts, newest first", "/api/v1/firmware/rollouts?limit=50", &[
            ("id", "Rollout", "text"), ("firmwareVersion", "Firmware", "text"), ("stage", "Stage", "badge"),
            ("finished", "Finished", "bool"), ("canary", "Canary", "num"), ("counts", "Stations by status", "json"),
            ("createdAt", "Created", "time"), ("reason", "Why it stopped", "text"),
        ], 5000))
        (api_table("drift-profiles-table", "Configuration drift by profile", "/api/v1/config/drift#profiles", &[
            ("profileId", "Profile", "text"), ("stations", "Stations", "num"), ("compliant", "Compliant", "num"),
            ("drifting", "Drifting", "num"), ("unread", "Not read yet", "num"),
        ], 10000))
        (api_table("drift-stations-table", "Stations and their standing (first 200)", "/api/v1/config/drift#stations", &[
            ("stationId", "Station", "station"), ("profileId", "Profile", "text"), ("standing", "Standing", "badge"),
            ("readAt", "Read", "time"), ("items", "Keys that differ", "count"),
        ], 10000))
    }).await
}
