//! `GET /api/v1/stations/{id}/messages?action=&limit=&before=`: the journal, newest first.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::journal::JournalQuery;
use ocpulse_core::{JournalEntry, parse_rfc3339, rfc3339};
use serde::Serialize;
use serde_json::Value;

use super::ApiError;
use super::openapi::ApiErrorBody;
use super::page::{Page, Paging};
use crate::app::App;

// Borrowed from the entry. Fields are in alphabetical order, the order the entry had when the
// API showed it as one JSON map, so the bytes a client receives did not change. The event
// stream and the journal export add `stationId` (and the stream `kind`), which this schema
// leaves out: the messages of one station do not carry them.
/// A journal entry as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JournalEntryView<'a> {
    /// The action (or event name).
    #[schema(value_type = Option<String>)]
    action: Option<&'a str>,
    /// When it was journaled (RFC 3339).
    at: String,
    /// `in` (from the station) or `out` (to it).
    #[schema(value_type = String)]
    direction: &'static str,
    /// The event stream's kind of the entry (`frame`, `station`, `trigger`, `alert`,
    /// `event`); only in the stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub(crate) kind: Option<&'static str>,
    /// The OCPP message id.
    #[schema(value_type = Option<String>)]
    message_id: Option<&'a str>,
    /// The payload (the raw text when it was not JSON).
    payload: Value,
    /// Its position in the journal (also the event id of the event stream).
    seq: i64,
    /// The station; only in the event stream and the journal export.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub(crate) station_id: Option<&'a str>,
    /// The trigger it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    trigger_id: Option<&'a str>,
    /// `CALL`, `CALLRESULT`, `CALLERROR`, `MALFORMED` or `EVENT`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    frame_type: &'static str,
    /// The schema violation accepted in lenient mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    violation: Option<&'a str>,
}

impl<'a> From<&'a JournalEntry> for JournalEntryView<'a> {
    fn from(e: &'a JournalEntry) -> Self {
        Self {
            action: e.action.as_deref(),
            at: rfc3339(e.at),
            direction: e.direction.as_str(),
            kind: None,
            message_id: e.message_id.as_deref(),
            payload: serde_json::from_str::<Value>(&e.payload)
                .unwrap_or_else(|_| Value::String(e.payload.clone())),
            seq: e.seq,
            station_id: None,
            trigger_id: e.trigger_id.as_deref(),
            frame_type: e.frame_type,
            violation: e.violation.as_deref(),
        }
    }
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

/// Lists a station's journal, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/stations/{id}/messages",
    tag = "stations",
    params(
        ("id" = String, Path, description = "The station id", example = "CP0001"),
        ("action" = Option<String>, Query, description = "Only entries of this action"),
        ("before" = Option<JournalBefore>, Query, description = "Only entries before this seq or this RFC 3339 time", example = "2025-01-01T12:00:00Z"),
        Paging,
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
) -> Result<Response, ApiError> {
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
        items: page
            .items
            .iter()
            .map(JournalEntryView::from)
            .collect::<Vec<_>>(),
        next: page.next,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use ocpulse_core::Direction;

    use super::*;
    use crate::api::assert_sorted_keys;

    #[test]
    fn entries_keep_the_key_order_of_a_json_map_with_or_without_the_stream_fields() {
        let entry = JournalEntry {
            seq: 7,
            station_id: "CP1".into(),
            direction: Direction::In,
            frame_type: "CALL",
            message_id: Some("m1".into()),
            action: Some("StatusNotification".into()),
            payload: r#"{"status": "Available", "connectorId": 1}"#.into(),
            at: 0,
            violation: Some("v".into()),
            trigger_id: Some("t".into()),
        };
        let mut view = JournalEntryView::from(&entry);
        assert_sorted_keys(&view);
        view.station_id = Some(&entry.station_id);
        view.kind = Some("frame");
        assert_sorted_keys(&view);
        let raw = JournalEntry {
            payload: "not json".into(),
            message_id: None,
            action: None,
            violation: None,
            trigger_id: None,
            ..entry
        };
        let shown = serde_json::to_value(JournalEntryView::from(&raw)).expect("view");
        assert_eq!(shown["payload"], "not json");
        assert!(shown["messageId"].is_null() && shown["action"].is_null());
        assert!(shown.get("violation").is_none() && shown.get("triggerId").is_none());
    }
}
