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

use super::query::{Params, evse, only, range, storage, text};
use super::{ApiError, parse_limit};
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
pub async fn list(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    if app.stations.get(&id).is_none() {
        return Err(ApiError::station_not_found(&id));
    }
    only(
        &params,
        &["from", "to", "evse", "measurand", "limit", "after"],
    )?;
    let limit = parse_limit(params.get("limit"))?;
    let filter = RowFilter::parse(&params)?;
    let mut scan = meter_scan(Some(id), &params)?;
    if let Some(a) = text(&params, "after") {
        scan.after_seq = a.parse::<i64>().map_err(|_| {
            ApiError::bad_request(
                "invalid_after",
                format!("after must be a row's seq (a whole number, to page), got {a:?}"),
            )
        })?;
    }
    let mut out: Vec<Value> = Vec::new();
    'pages: loop {
        let page = app
            .store
            .journal_scan(scan.clone())
            .await
            .map_err(storage)?;
        for entry in &page {
            let rows = filter.rows(entry);
            if !out.is_empty() && out.len() + rows.len() > limit {
                break 'pages;
            }
            out.extend(rows.iter().map(row_json));
            if out.len() >= limit {
                break 'pages;
            }
        }
        match page.last() {
            Some(last) if page.len() == scan.limit => scan.after_seq = last.seq,
            _ => break,
        }
    }
    Ok(Json(Value::Array(out)))
}
