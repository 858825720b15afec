//! `GET /api/v1/reports/storage`: what the store holds and what retention does about it, so
//! an operator sees the journal's size and age before the disk fills.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use ocpulse_core::rfc3339;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;
use super::openapi::ApiErrorBody;
use super::query::Params;
use crate::app::App;

/// The store's size, the journal's extent, the retention in force and the pruning task.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = StorageReport)]
pub(crate) struct StorageView {
    /// The journal and the store's size on disk.
    journal: JournalView,
    /// How long entries are kept (from `--retain-*`).
    retention: RetentionView,
    /// What the pruning task did last and will do next (all null without a retention).
    pruning: PruningView,
}

/// The journal's extent.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JournalView {
    /// Bytes the store uses on disk for everything it keeps (the journal is most of it).
    bytes: u64,
    /// The oldest entry's seq (0 when empty).
    oldest_seq: i64,
    /// When the oldest entry was received or sent (RFC 3339), null when empty.
    oldest_at: Option<String>,
    /// The newest entry's seq (0 when empty).
    newest_seq: i64,
}

/// The retention periods in force, in seconds; null keeps for ever.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RetentionView {
    /// Every action without its own period (`--retain-journal`).
    journal_seconds: Option<u64>,
    /// Actions with their own period (`--retain-meter-values`, `--retain-action`).
    per_action: Vec<ActionRetention>,
}

/// One action's own period.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActionRetention {
    /// The OCPP action (its CALLs and the answers to them).
    action: String,
    /// Seconds kept; null keeps it for ever.
    seconds: Option<u64>,
}

/// The pruning task.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PruningView {
    /// When the last pass ended (RFC 3339).
    last_pass_at: Option<String>,
    /// When the next pass starts (RFC 3339).
    next_pass_at: Option<String>,
    /// Passes since the server started.
    passes: u64,
    /// Why the last pass failed (it is retried at the next).
    last_error: Option<String>,
}

/// The store's size, the journal's oldest and newest entries, the retention in force and
/// when the journal is pruned next.
#[utoipa::path(
    get,
    path = "/api/v1/reports/storage",
    tag = "reports",
    responses(
        (status = 200, description = "The store and its retention", body = StorageView),
        (status = 400, description = "Any query parameter (`invalid_query`: this endpoint takes none) or an undecodable query", body = ApiErrorBody),
        (status = 500, description = "The store could not be read (`storage_error`)", body = ApiErrorBody),
    )
)]
pub async fn storage(
    State(app): State<Arc<App>>,
    _undecodable_is_refused: Query<Params>,
) -> Result<Json<StorageView>, ApiError> {
    let stats = app.store.journal_stats().await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage_error",
            e.to_string(),
        )
    })?;
    let policy = &app.config.retention;
    let status = app.pruning.status();
    Ok(Json(StorageView {
        journal: JournalView {
            bytes: stats.bytes,
            oldest_seq: stats.oldest_seq,
            oldest_at: stats.oldest_at.map(rfc3339),
            newest_seq: stats.newest_seq,
        },
        retention: RetentionView {
            journal_seconds: policy.journal.map(|d| d.as_secs()),
            per_action: policy
                .per_action
                .iter()
                .map(|(action, period)| ActionRetention {
                    action: action.clone(),
                    seconds: period.map(|d| d.as_secs()),
                })
                .collect(),
        },
        pruning: PruningView {
            last_pass_at: status.last_pass_at.map(rfc3339),
            next_pass_at: status.next_pass_at.map(rfc3339),
            passes: status.passes,
            last_error: status.last_error,
        },
    }))
}
