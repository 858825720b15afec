//! `GET /api/v1/stations/{id}/meter-values?from=&to=&evse=&measurand=&limit=&after=`: a
//! station's meter readings over time, one row per sampled value, oldest first, read from
//! the journal (`ocpulse_core::meter_rows` does the reading).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use ocpulse_core::journal::JournalScan;
use ocpulse_core::meter_rows::{METER_ACTIONS, MeterRow, meter_rows};
use ocpulse_core::rfc3339;
use serde_json::{Value, json};

use super::ApiError;
use super::openapi::ApiErrorBody;
use super::page::{Page, PageParams, Paging};
use super::query::{Params, evse, range, storage, text};
use crate::app::App;

/// How many journal entries one store read takes while collecting rows.
pub(crate) const SCAN_PAGE: usize = 500;

/// The columns of a meter row, in CSV order; the JSON form uses the same names.
pub(crate) const ROW_COLUMNS: [&str; 15] = [
    "seq",
    "receivedAt",
    "stationId",
    "action",
    "timestamp",
    "evseId",
    "connectorId",
    "transactionId",
    "measurand",
    "phase",
    "location",
    "context",
    "unit",
    "multiplier",
    "value",
];

/// A meter row: one sampled value (`row_json` builds it; the CSV export has the same columns).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = MeterRow)]
#[allow(dead_code)] // documentation only
pub(crate) struct MeterRowView {
    /// The journal entry it was read from (`after` pages by it).
    seq: i64,
    /// When ocpulse received the message (RFC 3339).
    received_at: String,
    /// The station.
    station_id: String,
    /// `MeterValues`, `StopTransaction` or `TransactionEvent`.
    action: String,
    /// The station's timestamp of the sample, as sent.
    timestamp: Option<String>,
    /// 2.0.1 EVSE id (0 = main meter).
    evse_id: Option<i64>,
    /// 1.6 connector id (0 = main meter), or a 2.0.1 TransactionEvent's `evse.connectorId`.
    connector_id: Option<i64>,
    /// The transaction, if the message names one.
    transaction_id: Option<String>,
    /// What was measured.
    measurand: String,
    /// The phase, if any.
    phase: Option<String>,
    /// Where it was measured.
    location: String,
    /// Why it was sampled.
    context: String,
    /// The unit, if known.
    unit: Option<String>,
    /// 2.0.1 `unitOfMeasure.multiplier` (a power of ten); null on 1.6.
    multiplier: Option<i64>,
    /// The value as a number; null when it is not one (1.6 `SignedData`).
    value: Option<f64>,
}

/// The API form of a meter row (every column present, `null` when empty).
pub(crate) fn row_json(r: &MeterRow) -> Value {
    json!({
        "seq": r.seq, "receivedAt": rfc3339(r.received_at), "stationId": r.station_id,
        "action": r.action, "timestamp": r.timestamp, "evseId": r.evse_id,
        "connectorId": r.connector_id, "transactionId": r.transaction_id,
        "measurand": r.measurand, "phase": r.phase, "location": r.location,
        "context": r.context, "unit": r.unit, "multiplier": r.multiplier, "value": r.value,
    })
}

/// The CSV record of a meter row, in `ROW_COLUMNS` order (empty when absent).
pub(crate) fn row_record(r: &MeterRow) -> [String; 15] {
    let opt = |v: Option<String>| v.unwrap_or_default();
    [
        r.seq.to_string(),
        rfc3339(r.received_at),
        r.station_id.clone(),
        r.action.clone(),
        opt(r.timestamp.clone()),
        opt(r.evse_id.map(|v| v.to_string())),
        opt(r.connector_id.map(|v| v.to_string())),
        opt(r.transaction_id.clone()),
        r.measurand.clone(),
        opt(r.phase.clone()),
        r.location.clone(),
        r.context.clone(),
        opt(r.unit.clone()),
        opt(r.multiplier.map(|v| v.to_string())),
        opt(r.value.map(|v| v.to_string())),
    ]
}

/// Which rows a caller wants, beyond what the journal read selects.
#[derive(Debug, Clone)]
pub(crate) struct RowFilter {
    /// Only this EVSE (2.0.1) or connector (1.6).
    pub evse: Option<i64>,
    /// Only this measurand.
    pub measurand: Option<String>,
}

impl RowFilter {
    /// Reads `evse` and `measurand`.
    pub(crate) fn parse(params: &Params) -> Result<Self, ApiError> {
        Ok(Self {
            evse: evse(params)?,
            measurand: text(params, "measurand").map(str::to_owned),
        })
    }

    /// The rows of one journal entry that pass.
    pub(crate) fn rows(&self, entry: &ocpulse_core::JournalEntry) -> Vec<MeterRow> {
        let mut rows = meter_rows(entry);
        rows.retain(|r| {
            self.evse.is_none_or(|e| r.target() == Some(e))
                && self.measurand.as_deref().is_none_or(|m| r.measurand == m)
        });
        rows
    }
}

/// The journal read that finds meter data (station CALLs of the meter actions only).
pub(crate) fn meter_scan(
    station: Option<String>,
    params: &Params,
) -> Result<JournalScan, ApiError> {
    let (from_at, to_at) = range(params)?;
    Ok(JournalScan {
        station_id: station,
        actions: METER_ACTIONS.iter().map(|a| (*a).to_owned()).collect(),
        station_calls_only: true,
        from_at,
        to_at,
        limit: SCAN_PAGE,
        ..JournalScan::default()
    })
}

/// Lists a station's meter rows. A page never splits one message's rows, so `after=<the
/// last row's seq>` continues exactly; it holds at most `limit` rows unless its first
/// message alone has more.
#[utoipa::path(
    get,
    path = "/api/v1/stations/{id}/meter-values",
    tag = "reports",
    params(
        ("id" = String, Path, description = "The station id", example = "CP0001"),
        ("from" = Option<String>, Query, format = DateTime, description = "Only rows received at or after this RFC 3339 time"),
        ("to" = Option<String>, Query, format = DateTime, description = "Only rows received before this RFC 3339 time"),
        ("evse" = Option<i64>, Query, minimum = 0, description = "Only this 2.0.1 EVSE or 1.6 connector (0 = main meter)"),
        ("measurand" = Option<String>, Query, description = "Only this measurand", example = "Energy.Active.Import.Register"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of meter rows, oldest first (a message's rows are never split, so a page may hold more than `limit` when its first message alone has more); `next` is the last row's `seq`", body = Page<MeterRowView>),
        (status = 400, description = "A bad `from`/`to` (`invalid_time`, `invalid_range`), `evse` (`invalid_evse`), `limit` (`invalid_limit`), `after` (`invalid_after`), an unknown parameter (`invalid_query`) or an undecodable path/query", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<Page<Value>>, ApiError> {
    if app.stations.get(&id).is_none() {
        return Err(ApiError::station_not_found(&id));
    }
    let paging = Paging::parse(&params)?;
    let filter = RowFilter::parse(&params)?;
    let mut scan = meter_scan(Some(id), &params)?;
    if let Some(after) = paging.after_number("a row's seq")? {
        scan.after_seq = after;
    }
    let mut out: Vec<Value> = Vec::new();
    // The page is full when the next message's rows would not fit; seeing that message is
    // also what says that more remain.
    let mut more = false;
    'pages: loop {
        let page = app
            .store
            .journal_scan(scan.clone())
            .await
            .map_err(storage)?;
        for entry in &page {
            let rows = filter.rows(entry);
            if rows.is_empty() {
                continue;
            }
            if !out.is_empty() && out.len() + rows.len() > paging.limit {
                more = true;
                break 'pages;
            }
            out.extend(rows.iter().map(row_json));
        }
        match page.last() {
            Some(last) if page.len() == scan.limit => scan.after_seq = last.seq,
            _ => break,
        }
    }
    let next = if more {
        out.last().map(|row| row["seq"].to_string())
    } else {
        None
    };
    Ok(Json(Page { items: out, next }))
}
