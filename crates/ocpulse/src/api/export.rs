//! `GET /api/v1/export/journal` and `GET /api/v1/export/meter-values`: the journal and the
//! meter rows as a CSV or JSON-lines download, filtered by station, action/EVSE/measurand and
//! time range.
//!
//! The response is streamed: the journal is read one page at a time with a `seq` cursor and
//! each page is encoded and sent before the next is read, so an export of any size holds one
//! page in memory. It is a snapshot: it ends at the journal head as it was when the request
//! arrived, so it finishes even while stations keep writing.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ocpulse_core::JournalEntry;
use ocpulse_core::journal::JournalScan;
use ocpulse_core::rfc3339;

use super::ApiError;
use super::messages::JournalEntryView;
use super::meter_values::{
    MeterRowView, ROW_COLUMNS, RowFilter, SCAN_PAGE, meter_scan, row_record,
};
use super::openapi::ApiErrorBody;
use super::query::{ExportFormat, Params, range, storage, text};
use crate::app::App;

/// The columns of a journal export, in CSV order. `payload` is the JSON text as journaled
/// (raw text for a malformed frame); the JSON-lines form is `messages`'s entry plus `stationId`.
const JOURNAL_COLUMNS: [&str; 10] = [
    "seq",
    "at",
    "stationId",
    "direction",
    "type",
    "messageId",
    "action",
    "triggerId",
    "violation",
    "payload",
];

/// Turns one page of entries into bytes of the export.
type Encode = Box<dyn FnMut(&[JournalEntry], &mut Vec<u8>) -> std::io::Result<()> + Send>;

fn csv_line<I, T>(record: I, out: &mut Vec<u8>) -> std::io::Result<()>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    w.write_record(record).map_err(std::io::Error::other)?;
    w.flush()
}

fn json_line(v: &impl serde::Serialize, out: &mut Vec<u8>) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, v).map_err(std::io::Error::other)?;
    out.push(b'\n');
    Ok(())
}

/// Checks the optional `station` (404 when never seen).
fn station(app: &App, params: &Params) -> Result<Option<String>, ApiError> {
    match text(params, "station") {
        Some(id) if app.stations.get(id).is_none() => Err(ApiError::station_not_found(id)),
        other => Ok(other.map(str::to_owned)),
    }
}

/// A file name made of safe characters only, whatever the station id holds.
fn file_name(what: &str, station: Option<&str>, format: ExportFormat) -> String {
    let who: String = station
        .unwrap_or("all")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("ocpulse-{what}-{who}.{}", format.extension())
}

struct Pages {
    app: Arc<App>,
    scan: JournalScan,
    encode: Encode,
    header: Vec<u8>,
    done: bool,
}

/// Streams the export: the header, then one chunk per journal page until a short page.
async fn respond(
    app: Arc<App>,
    mut scan: JournalScan,
    format: ExportFormat,
    name: String,
    header: Vec<u8>,
    encode: Encode,
) -> Result<Response, ApiError> {
    scan.until_seq = Some(app.store.journal_head().await.map_err(storage)?);
    let pages = Pages {
        app,
        scan,
        encode,
        header,
        done: false,
    };
    let stream = futures_util::stream::unfold(pages, |mut p| async move {
        if p.done {
            return None;
        }
        let page = match p.app.store.journal_scan(p.scan.clone()).await {
            Ok(page) => page,
            Err(e) => {
                // The status line is gone; cutting the body short is the honest signal.
                tracing::warn!("export stopped: {e}");
                p.done = true;
                return Some((Err(std::io::Error::other(e.to_string())), p));
            }
        };
        p.done = page.len() < p.scan.limit;
        if let Some(last) = page.last() {
            p.scan.after_seq = last.seq;
        }
        let mut buf = std::mem::take(&mut p.header);
        let chunk = (p.encode)(&page, &mut buf).map(|()| Bytes::from(buf));
        p.done |= chunk.is_err();
        Some((chunk, p))
    });
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Exports the journal: `station` (default every station), `action` (one, or several
/// comma-separated), `from`/`to` (RFC 3339; from inclusive, to exclusive), `format`
/// (`csv`, the default, or `jsonl`).
#[utoipa::path(
    get,
    path = "/api/v1/export/journal",
    tag = "export",
    params(
        ("station" = Option<String>, Query, description = "Only this station (default every station)", example = "CP0001"),
        ("action" = Option<String>, Query, description = "Only these actions, comma-separated", example = "StatusNotification,MeterValues"),
        ("from" = Option<String>, Query, format = DateTime, description = "Only entries journaled at or after this RFC 3339 time"),
        ("to" = Option<String>, Query, format = DateTime, description = "Only entries journaled before this RFC 3339 time"),
        ("format" = Option<ExportFormat>, Query, description = "`csv` (default) or `jsonl`"),
    ),
    responses(
        (status = 200, description = "The journal, oldest first, as an attachment: CSV with a header row (seq, at, stationId, direction, type, messageId, action, triggerId, violation, payload) or one JSON object per line (a journal entry plus `stationId`)",
            content(("text/csv"), ("application/x-ndjson")),
            headers(("Content-Disposition" = String, description = "attachment; filename=\"ocpulse-journal-<station or all>.<csv|jsonl>\""))),
        (status = 400, description = "A bad `from`/`to` (`invalid_time`, `invalid_range`), `format` (`invalid_format`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
        (status = 404, description = "`station` never connected (`station_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn journal(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let station = station(&app, &params)?;
    let format = ExportFormat::parse(&params)?;
    let (from_at, to_at) = range(&params)?;
    let actions = text(&params, "action")
        .map(|a| {
            a.split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let scan = JournalScan {
        station_id: station.clone(),
        actions,
        from_at,
        to_at,
        limit: SCAN_PAGE,
        ..JournalScan::default()
    };
    let mut header = Vec::new();
    let encode: Encode = match format {
        ExportFormat::Csv => {
            csv_line(JOURNAL_COLUMNS, &mut header).map_err(|e| storage_io(&e))?;
            Box::new(|page, out| {
                for e in page {
                    csv_line(
                        [
                            e.seq.to_string(),
                            rfc3339(e.at),
                            e.station_id.clone(),
                            e.direction.as_str().to_owned(),
                            e.frame_type.to_owned(),
                            e.message_id.clone().unwrap_or_default(),
                            e.action.clone().unwrap_or_default(),
                            e.trigger_id.clone().unwrap_or_default(),
                            e.violation.clone().unwrap_or_default(),
                            e.payload.clone(),
                        ],
                        out,
                    )?;
                }
                Ok(())
            })
        }
        ExportFormat::Jsonl => Box::new(|page, out| {
            for e in page {
                let mut view = JournalEntryView::from(e);
                view.station_id = Some(&e.station_id);
                json_line(&view, out)?;
            }
            Ok(())
        }),
    };
    let name = file_name("journal", station.as_deref(), format);
    respond(app, scan, format, name, header, encode).await
}

/// Exports meter rows (as `GET /api/v1/stations/{id}/meter-values` lists them): `station`
/// (default every station), `evse`, `measurand`, `from`/`to`, `format`.
#[utoipa::path(
    get,
    path = "/api/v1/export/meter-values",
    tag = "export",
    params(
        ("station" = Option<String>, Query, description = "Only this station (default every station)", example = "CP0001"),
        ("evse" = Option<i64>, Query, minimum = 0, description = "Only this 2.0.1 EVSE or 1.6 connector (0 = main meter)"),
        ("measurand" = Option<String>, Query, description = "Only this measurand", example = "Energy.Active.Import.Register"),
        ("from" = Option<String>, Query, format = DateTime, description = "Only rows received at or after this RFC 3339 time"),
        ("to" = Option<String>, Query, format = DateTime, description = "Only rows received before this RFC 3339 time"),
        ("format" = Option<ExportFormat>, Query, description = "`csv` (default) or `jsonl`"),
    ),
    responses(
        (status = 200, description = "Meter rows, oldest first, as an attachment: CSV with a header row (the `MeterRow` fields in order) or one `MeterRow` JSON object per line",
            content(("text/csv"), ("application/x-ndjson")),
            headers(("Content-Disposition" = String, description = "attachment; filename=\"ocpulse-meter-values-<station or all>.<csv|jsonl>\""))),
        (status = 400, description = "A bad `from`/`to` (`invalid_time`, `invalid_range`), `evse` (`invalid_evse`), `format` (`invalid_format`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
        (status = 404, description = "`station` never connected (`station_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn meter_values(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let station = station(&app, &params)?;
    let format = ExportFormat::parse(&params)?;
    let filter = RowFilter::parse(&params)?;
    let scan = meter_scan(station.clone(), &params)?;
    let mut header = Vec::new();
    let encode: Encode = match format {
        ExportFormat::Csv => {
            csv_line(ROW_COLUMNS, &mut header).map_err(|e| storage_io(&e))?;
            Box::new(move |page, out| {
                for row in page.iter().flat_map(|e| filter.rows(e)) {
                    csv_line(row_record(&row), out)?;
                }
                Ok(())
            })
        }
        ExportFormat::Jsonl => Box::new(move |page, out| {
            for row in page.iter().flat_map(|e| filter.rows(e)) {
                json_line(&MeterRowView::from(&row), out)?;
            }
            Ok(())
        }),
    };
    let name = file_name("meter-values", station.as_deref(), format);
    respond(app, scan, format, name, header, encode).await
}

fn storage_io(e: &std::io::Error) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("could not write the export header: {e}"),
    )
}
