//! `GET /api/v1/triggers/{id}` and `GET /api/v1/triggers?station=&outcome=&limit=&after=`:
//! trigger records, running ones from memory, ended ones from the store.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpp_rpc::trigger::MatchReason;
use ocpulse_core::trigger_record::{
    CorrelatedMessage, Outcome, RecordKind, SentCall, TriggerQuery, TriggerRecord,
};
use serde::Serialize;
use serde_json::Value;

use super::ApiError;
use super::openapi::ApiErrorBody;
use super::page::{Page, Paging};
use crate::app::App;

fn storage(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "storage_error",
        e.to_string(),
    )
}

// Borrowed from the record. Fields are in alphabetical order, the order the record had when
// the API showed it as one JSON map, so the bytes a client receives did not change.
/// A trigger record as the API shows it (the record as stored, or live while running).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TriggerRecordView<'a> {
    /// Each OCPP call sent (action, payload, note, status, statusInfo, error, answerMs;
    /// for a call record also `response`, the station's whole CALLRESULT).
    #[schema(value_type = Vec<Value>)]
    calls: Vec<SentCallView<'a>>,
    /// For certificate triggers: the certificate issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    certificate: Option<&'a Value>,
    /// False when the deadline cut a fan-out short.
    complete: bool,
    /// When it ended (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    completed_at: Option<&'a str>,
    /// When the trigger started (RFC 3339).
    #[schema(value_type = String)]
    created_at: &'a str,
    /// More about the outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    detail: Option<&'a str>,
    /// How long it took.
    #[serde(skip_serializing_if = "Option::is_none")]
    elapsed_ms: Option<u64>,
    /// The record id.
    #[schema(value_type = String)]
    id: &'a str,
    /// `call` for a call record (`/api/v1/calls`); absent for a trigger.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "call")]
    kind: Option<&'static str>,
    /// The station messages correlated with the trigger (action, messageId, payload,
    /// receivedAt, afterMs, beforeAnswer, matchedBy: why it was taken).
    #[schema(value_type = Vec<Value>)]
    messages: Vec<RecordMessageView<'a>>,
    /// How the trigger ended (or `Running`).
    #[schema(value_type = TriggerOutcome)]
    outcome: &'static str,
    /// The station's subprotocol.
    #[schema(value_type = String)]
    protocol: &'a str,
    /// The request as the caller gave it.
    #[schema(value_type = Value)]
    request: &'a Value,
    /// Who asked (`X-Requested-By`, `job:<id>`, ...).
    #[schema(value_type = String)]
    requested_by: &'a str,
    /// The station.
    #[schema(value_type = String)]
    station_id: &'a str,
    /// Messages of the expected action about another target.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Option<Vec<Value>>)]
    unmatched: Vec<RecordMessageView<'a>>,
}

impl<'a> From<&'a TriggerRecord> for TriggerRecordView<'a> {
    fn from(r: &'a TriggerRecord) -> Self {
        Self {
            calls: r.calls.iter().map(SentCallView::from).collect(),
            certificate: r.certificate.as_ref(),
            complete: r.complete,
            completed_at: r.completed_at.as_deref(),
            created_at: &r.created_at,
            detail: r.detail.as_deref(),
            elapsed_ms: r.elapsed_ms,
            id: &r.id,
            kind: (!r.kind.is_trigger()).then(|| r.kind.as_str()),
            messages: r.messages.iter().map(RecordMessageView::from).collect(),
            outcome: r.outcome.as_str(),
            protocol: &r.protocol,
            request: &r.request,
            requested_by: &r.requested_by,
            station_id: &r.station_id,
            unmatched: r.unmatched.iter().map(RecordMessageView::from).collect(),
        }
    }
}

/// One OCPP call a trigger sent, as a record (and a trigger answer's `calls`) shows it; the
/// record's schema describes it in words (`calls`). Alphabetical, as `TriggerRecordView`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SentCallView<'a> {
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    payload: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_info: Option<&'a Value>,
}

impl<'a> From<&'a SentCall> for SentCallView<'a> {
    fn from(c: &'a SentCall) -> Self {
        Self {
            action: &c.action,
            answer_ms: c.answer_ms,
            error: c.error.as_ref(),
            note: c.note.as_deref(),
            payload: &c.payload,
            response: c.response.as_ref(),
            status: c.status.as_deref(),
            status_info: c.status_info.as_ref(),
        }
    }
}

/// A station message correlated with a trigger, as its record shows it (described in words
/// by the record's `messages`). Alphabetical, as `TriggerRecordView`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordMessageView<'a> {
    action: &'a str,
    after_ms: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    before_answer: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    matched_by: Option<MatchReason>,
    message_id: &'a str,
    payload: &'a Value,
    received_at: &'a str,
}

impl<'a> From<&'a CorrelatedMessage> for RecordMessageView<'a> {
    fn from(m: &'a CorrelatedMessage) -> Self {
        Self {
            action: &m.action,
            after_ms: m.after_ms,
            before_answer: m.before_answer,
            matched_by: m.matched_by,
            message_id: &m.message_id,
            payload: &m.payload,
            received_at: &m.received_at,
        }
    }
}

/// The schema of a trigger outcome name: the names of `Outcome::ALL`, so the document
/// lists exactly what the server accepts and writes.
pub(crate) struct TriggerOutcome;

impl utoipa::PartialSchema for TriggerOutcome {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("How a trigger ended (`Running` while it runs)"))
            .enum_values(Some(Outcome::ALL.iter().map(|o| o.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for TriggerOutcome {}

/// One trigger record.
#[utoipa::path(
    get,
    path = "/api/v1/triggers/{id}",
    tag = "triggers",
    params(("id" = String, Path, description = "The trigger id")),
    responses(
        (status = 200, description = "The record", body = TriggerRecordView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No trigger with this id (`trigger_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    one_of(&app, RecordKind::Trigger, id).await
}

/// One record of `kind` (a record of the other kind is not found here: its own endpoint
/// serves it).
pub(crate) async fn one_of(app: &App, kind: RecordKind, id: String) -> Result<Response, ApiError> {
    let running = app.running.lock().get(&id).cloned();
    let record = match running {
        Some(r) => Some(r),
        None => app.store.trigger(id.clone()).await.map_err(storage)?,
    };
    let (what, list) = match kind {
        RecordKind::Trigger => ("trigger", "triggers"),
        RecordKind::Call => ("call", "calls"),
    };
    let record = record.filter(|r| r.kind == kind).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            if kind == RecordKind::Trigger {
                "trigger_not_found"
            } else {
                "call_not_found"
            },
            format!("no {what} with id {id:?}; list them with GET /api/v1/{list}?station=ID"),
        )
    })?;
    Ok(Json(TriggerRecordView::from(&record)).into_response())
}

/// Trigger records, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/triggers",
    tag = "triggers",
    params(
        ("station" = Option<String>, Query, description = "Only this station's triggers", example = "CP0001"),
        ("outcome" = Option<TriggerOutcome>, Query, description = "Only triggers with this outcome", example = "Completed"),
        Paging,
    ),
    responses(
        (status = 200, description = "A page of records, newest first", body = Page<TriggerRecordView>),
        (status = 400, description = "A bad `outcome` (`invalid_outcome`, with `validValues`), `limit` (`invalid_limit`), `after` (`invalid_after`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    list_of(&app, RecordKind::Trigger, &params).await
}

/// A page of records of `kind`, newest first (`station`, `outcome`, paging).
pub(crate) async fn list_of(
    app: &App,
    kind: RecordKind,
    params: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let outcome = params
        .get("outcome")
        .map(|o| {
            Outcome::parse(o).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_outcome",
                    format!("outcome {o:?} is not one of the record outcomes"),
                )
                .with("validValues", Outcome::ALL.map(Outcome::as_str))
            })
        })
        .transpose()?;
    let paging = Paging::parse(params)?;
    let rows = app
        .store
        .triggers(TriggerQuery {
            kind: Some(kind),
            station_id: params.get("station").cloned(),
            outcome,
            before_seq: paging.after_number("a record's sequence number")?,
            limit: paging.limit + 1,
        })
        .await
        .map_err(storage)?;
    let page = Page::from_lookahead(rows, paging.limit, |(seq, _)| seq.to_string());
    let records: Vec<TriggerRecord> = page
        .items
        .into_iter()
        .map(|(_, r)| {
            // A running trigger's stored row lags its live record.
            let live = (r.outcome == Outcome::Running)
                .then(|| app.running.lock().get(&r.id).cloned())
                .flatten();
            live.unwrap_or(r)
        })
        .collect();
    Ok(Json(Page {
        items: records.iter().map(TriggerRecordView::from).collect(),
        next: page.next,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::assert_sorted_keys;
    use crate::api::trigger_answer::{TriggerAccepted, TriggerResult};

    /// A record with every optional part present, so every field is serialized.
    fn full_record() -> TriggerRecord {
        let call = SentCall {
            action: "TriggerMessage".into(),
            payload: json!({"requestedMessage": "StatusNotification", "connectorId": 1}),
            note: Some("translated".into()),
            status: Some("Accepted".into()),
            status_info: Some(json!({"reasonCode": "x"})),
            error: Some(json!({"errorCode": "y"})),
            answer_ms: Some(3),
            response: None,
        };
        let message = CorrelatedMessage {
            action: "StatusNotification".into(),
            message_id: "m1".into(),
            payload: json!({"status": "Available", "connectorId": 1}),
            received_at: "2025-01-01T00:00:00Z".into(),
            after_ms: 5,
            before_answer: true,
            matched_by: Some(MatchReason::Target),
        };
        TriggerRecord {
            id: "t1".into(),
            kind: Default::default(),
            station_id: "CP1".into(),
            protocol: "ocpp1.6".into(),
            requested_by: "api".into(),
            request: json!({"requestedMessage": "StatusNotification", "connectorId": 1}),
            created_at: "2025-01-01T00:00:00Z".into(),
            calls: vec![call.clone(), call],
            messages: vec![message.clone()],
            unmatched: vec![message],
            outcome: Outcome::Completed,
            detail: Some("detail".into()),
            complete: true,
            completed_at: Some("2025-01-01T00:00:01Z".into()),
            elapsed_ms: Some(7),
            certificate: Some(json!({"status": "Signed", "serial": "01"})),
        }
    }

    #[test]
    fn records_and_answers_keep_the_key_order_of_a_json_map() {
        let record = full_record();
        assert_sorted_keys(&TriggerRecordView::from(&record));
        assert_sorted_keys(&TriggerResult::from(&record));
        assert_sorted_keys(&TriggerAccepted::from(&record));
    }

    #[test]
    fn a_record_shows_what_is_stored() {
        let record = full_record();
        let shown = serde_json::to_value(TriggerRecordView::from(&record)).expect("view");
        let stored = serde_json::to_value(&record).expect("record");
        assert_eq!(shown, stored);
    }
}
