//! `GET /api/v1/stations/{id}/messages?action=&limit=&before=`: the journal, newest first.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ocpulse_core::journal::JournalQuery;
use ocpulse_core::{JournalEntry, parse_rfc3339, rfc3339};
use serde_json::{Value, json};

use super::ApiError;
use super::openapi::ApiErrorBody;
use super::page::{Page, PageParams, Paging};
use crate::app::App;

/// A journal entry as the API shows it (`entry_json` builds it).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only
pub(crate) struct JournalEntryView {
    /// Its position in the journal (also the event id of the event stream).
    seq: i64,
    /// `in` (from the station) or `out` (to it).
    direction: String,
    /// `CALL`, `CALLRESULT`, `CALLERROR`, `MALFORMED` or `EVENT`.
    #[serde(rename = "type")]
    frame_type: String,
    /// The OCPP message id.
    message_id: Option<String>,
    /// The action (or event name).
    action: Option<String>,
    /// The payload (the raw text when it was not JSON).
    payload: Value,
    /// When it was journaled (RFC 3339).
    at: String,
    /// The schema violation accepted in lenient mode.
    violation: Option<String>,
    /// The trigger it belongs to.
    trigger_id: Option<String>,
}

/// Where a journal page ends: an entry's `seq` (to page), or an RFC 3339 time.
pub(crate) struct JournalBefore;

impl utoipa::PartialSchema for JournalBefore {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))))
            .item(ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))))
            .description(Some("An entry's seq (entries before it), or an RFC 3339 time (entries journaled before it)"))
            .into()
    }
}

impl utoipa::ToSchema for JournalBefore {}

/// The API form of a journal entry (shared with the event stream).
pub(crate) fn entry_json(e: &JournalEntry) -> Value {
    let payload = serde_json::from_str::<Value>(&e.payload)
        .unwrap_or_else(|_| Value::String(e.payload.clone()));
    let mut v = json!({
        "seq": e.seq,
        "direction": e.direction.as_str(),
        "type": e.frame_type,
        "messageId": e.message_id,
        "action": e.action,
        "payload": payload,
        "at": rfc3339(e.at),
    });
    if let Some(violation) = &e.violation {
        v["violation"] = json!(violation);
    }
    if let Some(trigger) = &e.trigger_id {
        v["triggerId"] = json!(trigger);
    }
    v
}

/// Lists a station's journal, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/stations/{id}/messages",
    tag = "stations",
    params(
        ("id" = String, Path, description = "The station id", example = "CP0001"),
        ("action" = Option<String>, Query, description = "Only entries of this action"),
        ("before" = Option<JournalBefore>, Query, description = "Only entries before this seq or this RFC 3339 time", example = "2025-01-01T12:00:00Z"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of journal entries, newest first; `next` is the last entry's `seq`", body = Page<JournalEntryView>),
        (status = 400, description = "A bad `limit` (`invalid_limit`), `after` (`invalid_after`), `before` (`invalid_before`), an unknown parameter (`invalid_query`) or an undecodable path/query", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Page<Value>>, ApiError> {
    if app.stations.get(&id).is_none() {
        return Err(ApiError::station_not_found(&id));
    }
    let paging = Paging::parse(&params)?;
    let (mut before_seq, mut before_at) = (None, None);
    if let Some(b) = params.get("before") {
        if let Ok(seq) = b.parse::<i64>() {
            before_seq = Some(seq);
        } else if let Some(at) = parse_rfc3339(b) {
            before_at = Some(at);
        } else {
            return Err(ApiError::bad_request(
                "invalid_before",
                format!(
                    "before must be an entry's seq (e.g. before=1234, to page) or an RFC 3339 time (e.g. before=2025-01-01T12:00:00Z), got {b:?}"
                ),
            ));
        }
    }
    // The cursor continues below the previous page's last seq (newest first).
    if let Some(after) = paging.after_number("an entry's seq")? {
        before_seq = Some(before_seq.map_or(after, |b| b.min(after)));
    }
    let action = params.get("action").filter(|a| !a.is_empty()).cloned();
    let entries = app
        .store
        .journal(JournalQuery {
            station_id: id,
            action,
            before_seq,
            before_at,
            limit: paging.limit + 1,
        })
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage_error",
                e.to_string(),
            )
        })?;
    let page = Page::from_lookahead(entries, paging.limit, |e| e.seq.to_string());
    Ok(Json(Page {
        items: page.items.iter().map(entry_json).collect(),
        next: page.next,
    }))
}
