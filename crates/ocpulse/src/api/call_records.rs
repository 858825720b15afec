//! `GET /api/v1/calls/{id}` and `GET /api/v1/calls?station=&outcome=&limit=&after=`: the
//! records of CSMS calls (`/calls`, the typed station operations, jobs' calls). They are
//! trigger records of kind `call` (one model, one table): a running one from memory, an
//! ended one from the store.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use ocpulse_core::trigger_record::RecordKind;

use super::ApiError;
use super::openapi::ApiErrorBody;
use super::page::{Page, Paging};
use super::trigger_records::{self, TriggerOutcome, TriggerRecordView};
use crate::app::App;

/// One call record.
#[utoipa::path(
    get,
    path = "/api/v1/calls/{id}",
    tag = "calls",
    params(("id" = String, Path, description = "The call record id (`callId` of a call's answer)")),
    responses(
        (status = 200, description = "The record: `kind` is `call`, `calls[0]` the CALL sent (secrets redacted) with the station's `response`, `status` or `error`", body = TriggerRecordView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No call with this id (`call_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    trigger_records::one_of(&app, RecordKind::Call, id).await
}

/// Call records, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/calls",
    tag = "calls",
    params(
        ("station" = Option<String>, Query, description = "Only this station's calls", example = "CP0001"),
        ("outcome" = Option<TriggerOutcome>, Query, description = "Only calls with this outcome (a call ends Completed, CallError, InvalidResponse, StationTimeout, Disconnected or Interrupted)", example = "CallError"),
        Paging,
    ),
    responses(
        (status = 200, description = "A page of call records, newest first", body = Page<TriggerRecordView>),
        (status = 400, description = "A bad `outcome` (`invalid_outcome`, with `validValues`), `limit` (`invalid_limit`), `after` (`invalid_after`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    trigger_records::list_of(&app, RecordKind::Call, &params).await
}
