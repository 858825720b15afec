//! `/api/v1/id-tokens`: the id-token registry stations are answered from (Authorize, 1.6
//! Start/StopTransaction, 2.0.1 TransactionEvent): list, read, create or replace, delete.
//! A change is committed to the store before any station is answered with it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocpulse_core::authorization::{
    self, DEFAULT_TOKEN_TYPE, IdTokenEntry, Policy, TOKEN_TYPES, TokenStatus,
};
use ocpulse_core::{parse_rfc3339, rfc3339};
use serde::Serialize;
use serde_json::Value;

use super::openapi::ApiErrorBody;
use super::page::{Order, Paging};
use super::query::storage;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::now_ms;

const EXAMPLE: &str = r#"{"status": "Accepted", "type": "ISO14443", "expiry": "2027-12-31T23:59:59Z", "groupId": "FLEET-A"} (every field optional)"#;

/// The body of `PUT /api/v1/id-tokens/{idToken}`: the whole entry (a field left out takes
/// its default, so a PUT replaces rather than merges). Each field is read as JSON first and
/// checked by `read_body`, so a bad value is named in the 400.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = IdTokenBody, example = json!({"status": "Accepted", "type": "ISO14443", "expiry": "2027-12-31T23:59:59Z", "groupId": "FLEET-A"}))]
struct Body {
    /// `Accepted` (default), `Blocked`, `Expired` or `Invalid`: what a station is answered.
    #[schema(value_type = Option<TokenStatusName>)]
    status: Option<Value>,
    /// The 2.0.1 IdTokenEnumType the token is sent with in local lists (default
    /// `ISO14443`). Lookups match the token whatever its type.
    #[serde(rename = "type")]
    #[schema(value_type = Option<TokenTypeName>)]
    token_type: Option<Value>,
    /// RFC 3339; from then on an Accepted token answers `Expired` (and stations may cache
    /// it until then). Null or absent: no expiry.
    #[schema(value_type = Option<String>, format = DateTime)]
    expiry: Option<Value>,
    /// The group (1.6 `parentIdTag`, 2.0.1 `groupIdToken`), 1 to 36 characters. Null or
    /// absent: none.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 36)]
    group_id: Option<Value>,
}

/// An id token's status: what a station is answered.
pub(crate) struct TokenStatusName;

impl utoipa::PartialSchema for TokenStatusName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(TokenStatus::NAMES))
            .into()
    }
}

impl utoipa::ToSchema for TokenStatusName {}

/// A 2.0.1 IdTokenEnumType.
pub(crate) struct TokenTypeName;

impl utoipa::PartialSchema for TokenTypeName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(TOKEN_TYPES))
            .into()
    }
}

impl utoipa::ToSchema for TokenTypeName {}

/// An id token as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = IdToken)]
pub(crate) struct IdTokenView {
    /// The token as registered (matched case-insensitively).
    #[schema(example = "04A2B3C4")]
    id_token: String,
    /// Its 2.0.1 type.
    #[serde(rename = "type")]
    #[schema(value_type = TokenTypeName)]
    token_type: String,
    /// Its status as set.
    #[schema(value_type = TokenStatusName)]
    status: &'static str,
    /// What a station presenting it is answered now: the status, or `Expired` once an
    /// Accepted token is past its expiry.
    #[schema(value_type = TokenStatusName)]
    answered_now: &'static str,
    /// RFC 3339, or null.
    expiry: Option<String>,
    /// The group, or null.
    group_id: Option<String>,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
}

impl IdTokenView {
    pub(crate) fn of(e: &IdTokenEntry, now: ocpulse_core::Millis) -> Self {
        Self {
            id_token: e.id_token.clone(),
            token_type: e.token_type.clone(),
            status: e.status.as_str(),
            answered_now: authorization::decide(Some(e), Policy::Registry, now)
                .status
                .as_str(),
            expiry: e.expiry.map(rfc3339),
            group_id: e.group_id.clone(),
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// The answer of `DELETE /api/v1/id-tokens/{idToken}`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = IdTokenDeleted)]
struct Deleted {
    /// The entry as it was.
    deleted: IdTokenView,
}

fn not_found(token: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "id_token_not_found",
        format!("no id token {token:?} in the registry; GET /api/v1/id-tokens lists them"),
    )
    .with("idToken", token)
}

fn check_path(token: &str) -> Result<(), ApiError> {
    authorization::check_token(token).map_err(|why| {
        ApiError::bad_request("invalid_id_token", format!("the id token {why}"))
            .with("field", "idToken")
    })
}

/// A body field that must be a string when present (null counts as absent).
fn text<'a>(field: &'static str, value: &'a Option<Value>) -> Result<Option<&'a str>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(ApiError::bad_request(
            "invalid_id_token_field",
            format!("{field} must be a string or null, got {other}"),
        )
        .with("field", field)),
    }
}

/// Reads a PUT body into the entry it describes (keeping `created_at` of `existing`).
fn read_body(
    token: &str,
    raw: &[u8],
    existing: Option<&IdTokenEntry>,
    now: ocpulse_core::Millis,
) -> Result<IdTokenEntry, ApiError> {
    let body: Body = parse_body(raw, EXAMPLE)?;
    let status = match text("status", &body.status)? {
        None => TokenStatus::Accepted,
        Some(s) => TokenStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_id_token_field",
                format!("status {s:?} is not one of {:?}", TokenStatus::NAMES),
            )
            .with("field", "status")
            .with("validValues", TokenStatus::NAMES)
        })?,
    };
    let token_type = match text("type", &body.token_type)? {
        None => DEFAULT_TOKEN_TYPE,
        Some(t) => TOKEN_TYPES.into_iter().find(|k| *k == t).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_id_token_field",
                format!("type {t:?} is not a 2.0.1 IdTokenEnumType, one of {TOKEN_TYPES:?}"),
            )
            .with("field", "type")
            .with("validValues", TOKEN_TYPES)
        })?,
    };
    let expiry = text("expiry", &body.expiry)?
        .map(|e| {
            parse_rfc3339(e).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_id_token_field",
                    format!("expiry {e:?} is not an RFC 3339 time such as 2027-12-31T23:59:59Z"),
                )
                .with("field", "expiry")
            })
        })
        .transpose()?;
    let group_id = text("groupId", &body.group_id)?
        .map(|g| {
            authorization::check_token(g)
                .map(|()| g.to_owned())
                .map_err(|why| {
                    ApiError::bad_request("invalid_id_token_field", format!("groupId {why}"))
                        .with("field", "groupId")
                })
        })
        .transpose()?;
    Ok(IdTokenEntry {
        id_token: token.to_owned(),
        token_type: token_type.to_owned(),
        status,
        expiry,
        group_id,
        created_at: existing.map_or(now, |e| e.created_at),
        updated_at: now,
    })
}

/// `GET /api/v1/id-tokens`.
#[utoipa::path(
    get,
    path = "/api/v1/id-tokens",
    tag = "authorization",
    params(Paging),
    responses(
        (status = 200, description = "A page of the registry, by token (upper-cased); `next` is the last token's key", body = super::page::Page<IdTokenView>),
        (status = 400, description = "A bad `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(&params)?;
    let now = now_ms();
    let entries: Vec<(String, IdTokenEntry)> = app
        .id_tokens
        .all()
        .into_iter()
        .map(|e| (authorization::key(&e.id_token), e))
        .collect();
    Ok(Json(paging.page(
        entries,
        Order::Ascending,
        |(k, _)| k.as_str(),
        |(_, e)| IdTokenView::of(&e, now),
    ))
    .into_response())
}

/// `GET /api/v1/id-tokens/{idToken}`.
#[utoipa::path(
    get,
    path = "/api/v1/id-tokens/{idToken}",
    tag = "authorization",
    params(("idToken" = String, Path, description = "The id token (case-insensitive)", example = "04A2B3C4")),
    responses(
        (status = 200, description = "The entry", body = IdTokenView),
        (status = 400, description = "Not a valid id token (`invalid_id_token`) or an undecodable path (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "Not in the registry (`id_token_not_found`)", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    check_path(&token)?;
    let entry = app
        .id_tokens
        .find(&token)
        .ok_or_else(|| not_found(&token))?;
    Ok(Json(IdTokenView::of(&entry, now_ms())).into_response())
}

/// `PUT /api/v1/id-tokens/{idToken}`: creates (201) or replaces (200) the entry.
#[utoipa::path(
    put,
    path = "/api/v1/id-tokens/{idToken}",
    tag = "authorization",
    params(("idToken" = String, Path, description = "The id token: 1 to 36 visible ASCII characters except / ? # % \\ (matched case-insensitively; a 1.6 idTag holds at most 20)", example = "04A2B3C4")),
    request_body(content = Body, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = IdTokenView),
        (status = 201, description = "Created", body = IdTokenView),
        (status = 400, description = "Not a valid id token (`invalid_id_token`), not a JSON object of this shape (`invalid_body`, naming an unknown field and the known ones) or a bad field (`invalid_id_token_field`, with `field` and, for status and type, `validValues`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Storage error (`storage_error`)", body = ApiErrorBody),
    )
)]
pub async fn put(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    raw: Bytes,
) -> Result<Response, ApiError> {
    check_path(&token)?;
    let now = now_ms();
    let existing = app.id_tokens.find(&token);
    let entry = read_body(&token, &raw, existing.as_ref(), now)?;
    crate::id_tokens::put(&*app.store, &app.id_tokens, entry.clone())
        .await
        .map_err(storage)?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(IdTokenView::of(&entry, now))).into_response())
}

/// `DELETE /api/v1/id-tokens/{idToken}`.
#[utoipa::path(
    delete,
    path = "/api/v1/id-tokens/{idToken}",
    tag = "authorization",
    params(("idToken" = String, Path, description = "The id token (case-insensitive)", example = "04A2B3C4")),
    responses(
        (status = 200, description = "The deleted entry", body = Deleted),
        (status = 400, description = "Not a valid id token (`invalid_id_token`) or an undecodable path (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "Not in the registry (`id_token_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Storage error (`storage_error`)", body = ApiErrorBody),
    )
)]
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    check_path(&token)?;
    if app.id_tokens.find(&token).is_none() {
        return Err(not_found(&token));
    }
    let removed = crate::id_tokens::delete(&*app.store, &app.id_tokens, &token)
        .await
        .map_err(storage)?
        .ok_or_else(|| not_found(&token))?;
    Ok(Json(Deleted {
        deleted: IdTokenView::of(&removed, now_ms()),
    })
    .into_response())
}
