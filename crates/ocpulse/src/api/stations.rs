//! `GET /api/v1/stations`, `GET /api/v1/stations/{id}`, `PUT /api/v1/stations/{id}/validation`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use ocpulse_core::journal::EVENT;
use ocpulse_core::projection::{VALIDATION_MODE_CHANGED, ValidationModeChanged};
use ocpulse_core::store::WriteBatch;
use ocpulse_core::{Direction, JournalEntry, ValidationMode};

use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::query::Params;
use super::station_view::StationView;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::registry::StationEntry;

fn view(entry: &StationEntry, app: &App) -> Result<StationView, ApiError> {
    let state = entry.state.lock();
    Ok(StationView::of(&state, entry.connected(), app))
}

/// Lists the known stations, by id.
#[utoipa::path(
    get,
    path = "/api/v1/stations",
    tag = "stations",
    params(Paging),
    responses(
        (status = 200, description = "A page of the stations that ever connected or are registered, by id; `next` is the last id", body = Page<StationView>),
        (status = 400, description = "A bad `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Json<Page<StationView>>, ApiError> {
    let paging = Paging::parse(&params)?;
    let page = paging.page(
        app.stations.all(),
        Order::Ascending,
        |(id, _)| id.as_str(),
        |(_, e)| view(&e, &app),
    );
    Ok(Json(Page {
        items: page.items.into_iter().collect::<Result<_, _>>()?,
        next: page.next,
    }))
}

/// One station.
#[utoipa::path(
    get,
    path = "/api/v1/stations/{id}",
    tag = "stations",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    responses(
        (status = 200, description = "The station", body = StationView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<StationView>, ApiError> {
    let entry = app
        .stations
        .get(&id)
        .ok_or_else(|| ApiError::station_not_found(&id))?;
    Ok(Json(view(&entry, &app)?))
}

/// The body of `PUT /api/v1/stations/{id}/validation`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ValidationBody {
    /// `strict` or `lenient`; null (or absent) to use the server default (`--validation`).
    #[schema(value_type = Option<ValidationModeName>)]
    mode: Option<String>,
}

/// The schema of a validation policy name: the names of `ValidationMode::ALL`, which
/// `ValidationMode`'s `FromStr` reads (so a wrong one is `invalid_validation_mode`).
struct ValidationModeName;

impl utoipa::PartialSchema for ValidationModeName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A validation policy."))
            .enum_values(Some(ValidationMode::ALL.map(|m| m.to_string())))
            .into()
    }
}

impl utoipa::ToSchema for ValidationModeName {}

/// Sets or clears a station's own validation policy.
#[utoipa::path(
    put,
    path = "/api/v1/stations/{id}/validation",
    tag = "stations",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    request_body(content = ValidationBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The station with its new policy", body = StationView),
        (status = 400, description = "Not a JSON object of this shape (`invalid_body`), an unknown mode (`invalid_validation_mode`) or an undecodable path (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No station with this id ever connected (`station_not_found`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Internal or storage error", body = ApiErrorBody),
    )
)]
pub async fn set_validation(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<StationView>, ApiError> {
    let entry = app
        .stations
        .get(&id)
        .ok_or_else(|| ApiError::station_not_found(&id))?;
    let body: ValidationBody = parse_body(
        &body,
        r#"{"mode": "lenient"} (or "strict", or null to use the server default)"#,
    )?;
    let mode = body
        .mode
        .map(|m| m.parse::<ValidationMode>())
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_validation_mode", e))?;
    entry.state.lock().validation_mode = mode;
    let changed = ValidationModeChanged { mode };
    let event = JournalEntry {
        seq: 0,
        station_id: id.clone(),
        direction: Direction::In,
        frame_type: EVENT,
        message_id: None,
        action: Some(VALIDATION_MODE_CHANGED.to_owned()),
        payload: serde_json::to_string(&changed).unwrap_or_default(),
        at: crate::now_ms(),
        violation: None,
        trigger_id: None,
    };
    app.store
        .commit(WriteBatch {
            entries: vec![event],
            ..WriteBatch::default()
        })
        .await
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "storage_error",
                e.to_string(),
            )
        })?;
    Ok(Json(view(&entry, &app)?))
}
