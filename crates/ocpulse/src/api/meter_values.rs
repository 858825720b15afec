//! `GET /api/v1/stations/{id}/meter-values?from=&to=&evse=&measurand=&limit=&after=`: a
//! station's meter readings over time, one row per sampled value, oldest first, read from
//! the journal (`ocpulse_core::meter_rows` does the reading).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use ocpulse_core::journal::JournalScan;
use ocpulse_core::meter_rows::{METER_ACTIONS, MeterRow, meter_rows};
use ocpulse_core::rfc3339;
use serde::Serialize;

use super::ApiError;
use super::openapi::ApiErrorBody;
use super::page::{Page, Paging};
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

// Borrowed from the row. Fields are in alphabetical order, the order the row had when the
// API showed it as one JSON map, so the bytes a client receives did not change; every field
// is present (`null` when empty).
/// A meter row: one sampled value (the CSV export has the same columns).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = MeterRow)]
pub(crate) struct MeterRowView<'a> {
    /// `MeterValues`, `StopTransaction` or `TransactionEvent`.
    #[schema(value_type = String)]
    action: &'a str,
    /// 1.6 connector id (0 = main meter), or a 2.0.1 TransactionEvent's `evse.connectorId`.
    connector_id: Option<i64>,
    /// Why it was sampled.
    #[schema(value_type = String)]
    context: &'a str,
    /// 2.0.1 EVSE id (0 = main meter).
    evse_id: Option<i64>,
    /// Where it was measured.
    #[schema(value_type = String)]
    location: &'a str,
    /// What was measured.
    #[schema(value_type = String)]
    measurand: &'a str,
    /// 2.0.1 `unitOfMeasure.multiplier` (a power of ten); null on 1.6.
    multiplier: Option<i64>,
    /// The phase, if any.
    #[schema(value_type = Option<String>)]
    phase: Option<&'a str>,
    /// When ocpulse received the message (RFC 3339).
    received_at: String,
    /// The journal entry it was read from (`after` pages by it).
    seq: i64,
    /// The station.
    #[schema(value_type = String)]
    station_id: &'a str,
    /// The station's timestamp of the sample, as sent.
    #[schema(value_type = Option<String>)]
    timestamp: Option<&'a str>,
    /// The transaction, if the message names one.
    #[schema(value_type = Option<String>)]
    transaction_id: Option<&'a str>,
    /// The unit, if known.
    #[schema(value_type = Option<String>)]
    unit: Option<&'a str>,
    /// The value as a number; null when it is not one (1.6 `SignedData`).
    value: Option<f64>,
}

impl<'a> From<&'a MeterRow> for MeterRowView<'a> {
    fn from(r: &'a MeterRow) -> Self {
        Self {
            action: &r.action,
            connector_id: r.connector_id,
            context: &r.context,
            evse_id: r.evse_id,
            location: &r.location,
            measurand: &r.measurand,
            multiplier: r.multiplier,
            phase: r.phase.as_deref(),
            received_at: rfc3339(r.received_at),
            seq: r.seq,
            station_id: &r.station_id,
            timestamp: r.timestamp.as_deref(),
            transaction_id: r.transaction_id.as_deref(),
            unit: r.unit.as_deref(),
            value: r.value,
        }
    }
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
        Paging,
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
) -> Result<Response, ApiError> {
    if app.stations.get(&id).is_none() {
        return Err(ApiError::station_not_found(&id));
    }
    let paging = Paging::parse(&params)?;
    let filter = RowFilter::parse(&params)?;
    let mut scan = meter_scan(Some(id), &params)?;
    if let Some(after) = paging.after_number("a row's seq")? {
        scan.after_seq = after;
    }
    let mut out: Vec<MeterRow> = Vec::new();
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
            out.extend(rows);
        }
        match page.last() {
            Some(last) if page.len() == scan.limit => scan.after_seq = last.seq,
            _ => break,
        }
    }
    let next = if more {
        out.last().map(|row| row.seq.to_string())
    } else {
        None
    };
    Ok(Json(Page {
        items: out.iter().map(MeterRowView::from).collect::<Vec<_>>(),
        next,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::assert_sorted_keys;

    #[test]
    fn a_row_has_every_column_in_the_key_order_of_a_json_map() {
        let row = MeterRow {
            seq: 1,
            station_id: "CP1".into(),
            action: "MeterValues".into(),
            received_at: 0,
            timestamp: None,
            evse_id: Some(1),
            connector_id: None,
            transaction_id: None,
            measurand: "Voltage".into(),
            phase: None,
            location: "Outlet".into(),
            context: "Trigger".into(),
            unit: Some("V".into()),
            multiplier: None,
            value: Some(230.0),
        };
        let view = MeterRowView::from(&row);
        assert_sorted_keys(&view);
        let shown = serde_json::to_value(&view).expect("view");
        let keys: Vec<&str> = shown
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut columns = ROW_COLUMNS.to_vec();
        columns.sort_unstable();
        assert_eq!(keys, columns, "the JSON form has the CSV columns");
    }
}
