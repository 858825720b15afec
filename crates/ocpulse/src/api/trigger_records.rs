//! `GET /api/v1/triggers/{id}` and `GET /api/v1/triggers?station=&outcome=&limit=&after=`:
//! trigger records, running ones from memory, ended ones from the store.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ocpulse_core::trigger_record::{Outcome, TriggerQuery};
use serde_json::{Value, json};

use super::ApiError;
use super::openapi::ApiErrorBody;
use super::page::{Page, PageParams, Paging};
use crate::app::App;

fn storage(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "storage_error",
        e.to_string(),
    )
}

/// A trigger record as the API shows it (the record as stored, or live while running).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only
pub(crate) struct TriggerRecordView {
    /// The record id.
    id: String,
    /// The station.
    station_id: String,
    /// The station's subprotocol.
    protocol: String,
    /// Who asked (`X-Requested-By`, `job:<id>`, ...).
    requested_by: String,
    /// The request as the caller gave it.
    request: Value,
    /// When the trigger started (RFC 3339).
    created_at: String,
    /// Each OCPP call sent (action, payload, note, status, statusInfo, error, answerMs).
    calls: Vec<Value>,
    /// The station messages correlated with the trigger (action, messageId, payload,
    /// receivedAt, afterMs, beforeAnswer, matchedBy: why it was taken).
    messages: Vec<Value>,
    /// Messages of the expected action about another target.
    unmatched: Option<Vec<Value>>,
    /// How the trigger ended (or `Running`).
    #[schema(value_type = TriggerOutcome)]
    outcome: String,
    /// More about the outcome.
    detail: Option<String>,
    /// False when the deadline cut a fan-out short.
    complete: bool,
    /// When it ended (RFC 3339).
    completed_at: Option<String>,
    /// How long it took.
    elapsed_ms: Option<u64>,
    /// For certificate triggers: the certificate issued.
    certificate: Option<Value>,
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
) -> Result<Json<Value>, ApiError> {
    let running = app.running.lock().get(&id).cloned();
    let record = match running {
        Some(r) => Some(r),
        None => app.store.trigger(id.clone()).await.map_err(storage)?,
    };
    let record = record.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "trigger_not_found",
            format!("no trigger with id {id:?}; list them with GET /api/v1/triggers?station=ID"),
        )
    })?;
    Ok(Json(json!(record)))
}

/// Trigger records, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/triggers",
    tag = "triggers",
    params(
        ("station" = Option<String>, Query, description = "Only this station's triggers", example = "CP0001"),
        ("outcome" = Option<TriggerOutcome>, Query, description = "Only triggers with this outcome", example = "Completed"),
        PageParams,
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
) -> Result<Json<Page<Value>>, ApiError> {
    let outcome = params
        .get("outcome")
        .map(|o| {
            Outcome::parse(o).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_outcome",
                    format!("outcome {o:?} is not one of the trigger outcomes"),
                )
                .with(
                    "validValues",
                    json!(Outcome::ALL.iter().map(|o| o.as_str()).collect::<Vec<_>>()),
                )
            })
        })
        .transpose()?;
    let paging = Paging::parse(&params)?;
    let rows = app
        .store
        .triggers(TriggerQuery {
            station_id: params.get("station").cloned(),
            outcome,
            before_seq: paging.after_number("a record's sequence number")?,
            limit: paging.limit + 1,
        })
        .await
        .map_err(storage)?;
    let page = Page::from_lookahead(rows, paging.limit, |(seq, _)| seq.to_string());
    let mut records: Vec<Value> = Vec::with_capacity(page.items.len());
    for (_, r) in page.items {
        // A running trigger's stored row lags its live record.
        let live = (r.outcome == Outcome::Running)
            .then(|| app.running.lock().get(&r.id).cloned())
            .flatten();
        records.push(json!(live.unwrap_or(r)));
    }
    Ok(Json(Page {
        items: records,
        next: page.next,
    }))
}
