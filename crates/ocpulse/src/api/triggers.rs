//! `GET /api/v1/triggers/{id}` and `GET /api/v1/triggers?station=&outcome=&limit=&before=`:
//! trigger records, running ones from memory, ended ones from the store.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ocpulse_core::trigger_record::{Outcome, TriggerQuery};
use serde_json::{Value, json};

use super::{ApiError, parse_limit};
use crate::app::App;

fn storage(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "storage_error",
        e.to_string(),
    )
}

/// One trigger record.
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let running = app.running.lock().ok().and_then(|r| r.get(&id).cloned());
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
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if let Some(unknown) = params
        .keys()
        .find(|k| !matches!(k.as_str(), "station" | "outcome" | "limit" | "before"))
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("unknown query parameter {unknown:?}; use station, outcome, limit and before"),
        ));
    }
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
    let limit = parse_limit(params.get("limit"))?;
    let before_seq = params
        .get("before")
        .map(|b| {
            b.parse::<i64>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_before",
                    format!(
                        "before must be the \"next\" value of a previous page (a number), got {b:?}"
                    ),
                )
            })
        })
        .transpose()?;
    let rows = app
        .store
        .triggers(TriggerQuery {
            station_id: params.get("station").cloned(),
            outcome,
            before_seq,
            limit,
        })
        .await
        .map_err(storage)?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|(seq, _)| *seq))
        .flatten();
    let mut records: Vec<Value> = Vec::new();
    for (_, r) in rows {
        // A running trigger's stored row lags its live record.
        let live = (r.outcome == Outcome::Running)
            .then(|| app.running.lock().ok().and_then(|m| m.get(&r.id).cloned()))
            .flatten();
        records.push(json!(live.unwrap_or(r)));
    }
    Ok(Json(json!({"triggers": records, "next": next})))
}
