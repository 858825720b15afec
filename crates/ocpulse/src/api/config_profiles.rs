//! `/api/v1/config/profiles`: desired configuration profiles, the settings an operator
//! wants on every station a selector picks, for one OCPP version.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::station_config::ConfigProfile;
use serde::{Deserialize, Serialize};

use super::jobs::StationSelector;
use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::query::Params;
use super::schedules::{Deleted, store_error};
use super::{ApiError, parse_body};
use crate::app::App;
use crate::station_config;

const PROFILE_EXAMPLE: &str = r#"{"protocol": "ocpp1.6", "selector": {"all": true}, "settings": {"HeartbeatInterval": "300"}}"#;

/// A profile as written.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = ConfigProfileBody, examples(
    json!({"name": "fleet defaults 1.6", "protocol": "ocpp1.6", "selector": {"all": true}, "settings": {"HeartbeatInterval": "300", "MeterValueSampleInterval": "60"}}),
    json!({"protocol": "ocpp2.0.1", "selector": {"vendor": "Acme"}, "settings": {"OCPPCommCtrlr.HeartbeatInterval": "300"}})
))]
struct ProfileBody {
    /// A label for people.
    name: Option<String>,
    /// `ocpp1.6` or `ocpp2.0.1` (2.0.1 profiles apply to 2.1 stations too). Required.
    #[schema(value_type = super::jobs::ProtocolName, required = true)]
    protocol: Option<String>,
    /// Which stations of that version. Required.
    #[schema(value_type = StationSelector, required = true)]
    selector: Option<StationSelector>,
    /// Key → desired value (1.6 keys; 2.x `Component.Variable`). Required, 1 to 500.
    #[schema(required = true)]
    settings: Option<BTreeMap<String, String>>,
}

/// A stored profile.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ConfigProfile)]
pub(crate) struct ProfileView {
    /// The profile id.
    profile_id: String,
    /// Its label, or null.
    name: Option<String>,
    /// Its version.
    protocol: String,
    /// Which stations.
    selector: StationSelector,
    /// Key → desired value.
    settings: BTreeMap<String, String>,
}

impl From<&ConfigProfile> for ProfileView {
    fn from(p: &ConfigProfile) -> Self {
        ProfileView {
            profile_id: p.id.clone(),
            name: p.name.clone(),
            protocol: p.protocol.clone(),
            selector: StationSelector::from(&p.selector),
            settings: p.settings.clone(),
        }
    }
}

pub(crate) fn profile_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "profile_not_found",
        format!("no configuration profile with id {id:?}; GET /api/v1/config/profiles lists them"),
    )
}

fn check_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_profile_id",
            format!(
                "a profile id is 1 to 64 of A-Z a-z 0-9 - _ . , got {id:?} (e.g. fleet-defaults)"
            ),
        ))
    }
}

/// Creates or replaces a profile (201 when new, 200 when replaced).
#[utoipa::path(
    put,
    path = "/api/v1/config/profiles/{id}",
    tag = "configuration",
    params(("id" = String, Path, description = "The profile id (A-Z a-z 0-9 - _ .)", example = "fleet-defaults")),
    request_body(content = ProfileBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = ProfileView),
        (status = 201, description = "Created", body = ProfileView),
        (status = 400, description = "A malformed body (`invalid_body`), a missing field (`missing_field`), a bad id (`invalid_profile_id`), protocol (`invalid_protocol`), selector (`empty_selector`, `invalid_selector`, ...), key (`invalid_key`) or value (`value_too_long`), or no settings (`empty_settings`, `too_many_settings`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 503, description = "The profile could not be stored (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn put(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    raw: Bytes,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    let body: ProfileBody = parse_body(&raw, PROFILE_EXAMPLE)?;
    let missing = |field: &str| {
        ApiError::bad_request(
            "missing_field",
            format!("{field} is required, e.g. {PROFILE_EXAMPLE}"),
        )
    };
    let protocol = body.protocol.ok_or_else(|| missing("protocol"))?;
    let profile = ConfigProfile {
        id,
        name: body.name,
        // Any spelling the version parser takes is stored as the subprotocol.
        protocol: ocpp_rpc::ProtocolVersion::parse_name(&protocol)
            .map_or(protocol, |v| v.subprotocol().to_owned()),
        selector: body.selector.ok_or_else(|| missing("selector"))?.into(),
        settings: body.settings.ok_or_else(|| missing("settings"))?,
    };
    profile
        .check()
        .map_err(|e| ApiError::bad_request(e.code, e.message))?;
    let created = station_config::put_profile(&app, &profile)
        .await
        .map_err(store_error)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ProfileView::from(&profile))).into_response())
}

/// Every profile.
#[utoipa::path(
    get,
    path = "/api/v1/config/profiles",
    tag = "configuration",
    params(Paging),
    responses(
        (status = 200, description = "A page of profiles by id; `next` is the last profile id", body = Page<ProfileView>),
        (status = 400, description = "A bad `limit` (`invalid_limit`) or an unknown parameter (`invalid_query`)", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Json<Page<ProfileView>>, ApiError> {
    let paging = Paging::parse(&params)?;
    let profiles = station_config::profiles(&app).await.map_err(store_error)?;
    Ok(Json(paging.page(
        profiles,
        Order::Ascending,
        |p| p.id.as_str(),
        |p| ProfileView::from(&p),
    )))
}

/// One profile.
#[utoipa::path(
    get,
    path = "/api/v1/config/profiles/{id}",
    tag = "configuration",
    params(("id" = String, Path, description = "The profile id")),
    responses(
        (status = 200, description = "The profile", body = ProfileView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No such profile (`profile_not_found`)", body = ApiErrorBody),
        (status = 503, description = "The store is unavailable (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<ProfileView>, ApiError> {
    let profile = station_config::profile(&app, &id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| profile_not_found(&id))?;
    Ok(Json(ProfileView::from(&profile)))
}

/// Deletes a profile (snapshots stay).
#[utoipa::path(
    delete,
    path = "/api/v1/config/profiles/{id}",
    tag = "configuration",
    params(("id" = String, Path, description = "The profile id")),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No such profile (`profile_not_found`)", body = ApiErrorBody),
        (status = 503, description = "The deletion could not be stored (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    if station_config::delete_profile(&app, &id)
        .await
        .map_err(store_error)?
    {
        Ok(Json(Deleted { deleted: id }))
    } else {
        Err(profile_not_found(&id))
    }
}
