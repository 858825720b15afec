//! `/api/v1/tokens`: create (the plain token is in that answer only), list and revoke API
//! bearer tokens. Admin only (see `api/auth.rs`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::query::Params;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::tokens::{CreateError, Scope, TokenView};

const EXAMPLE: &str = r#"{"name": "billing-job", "scopes": ["trigger"]}"#;

/// The create body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TokenBody, example = json!({"name": "billing-job", "scopes": ["trigger"]}))]
struct CreateBody {
    /// Who or what will use it (1 to 64 visible ASCII characters, unique): recorded as
    /// `requestedBy` of the triggers and jobs it starts.
    #[schema(min_length = 1, max_length = 64, example = "billing-job")]
    name: String,
    /// What it may do: `read` (GETs), `trigger` (triggers, jobs, schedules, freshness,
    /// acknowledging alerts; implies read), `admin` (everything).
    #[schema(min_items = 1)]
    scopes: Vec<ScopeName>,
}

/// A token scope.
#[derive(Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = TokenScope)]
enum ScopeName {
    /// Every GET except tokens and webhooks.
    Read,
    /// Triggers, trigger jobs, schedules, freshness targets, acknowledging alerts.
    Trigger,
    /// Everything, including the station registry, tokens, webhooks and alert rules.
    Admin,
}

impl From<ScopeName> for Scope {
    fn from(s: ScopeName) -> Self {
        match s {
            ScopeName::Read => Scope::Read,
            ScopeName::Trigger => Scope::Trigger,
            ScopeName::Admin => Scope::Admin,
        }
    }
}

impl From<Scope> for ScopeName {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Read => ScopeName::Read,
            Scope::Trigger => ScopeName::Trigger,
            Scope::Admin => ScopeName::Admin,
        }
    }
}

fn scope_names(scopes: &[Scope]) -> Vec<ScopeName> {
    scopes.iter().copied().map(ScopeName::from).collect()
}

/// A token as listed (`tokens::TokenView`): never the token or its hash.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Token)]
struct TokenInfo<'a> {
    /// The token id (for revoking).
    #[schema(value_type = String)]
    id: &'a str,
    /// Its name.
    #[schema(value_type = String)]
    name: &'a str,
    /// Its scopes.
    scopes: Vec<ScopeName>,
    /// When it was created (RFC 3339).
    #[schema(value_type = String)]
    created_at: &'a str,
    /// When it was last used (RFC 3339, to within a minute); absent if never.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    last_used_at: Option<&'a str>,
}

impl<'a> From<&'a TokenView> for TokenInfo<'a> {
    fn from(t: &'a TokenView) -> Self {
        Self {
            id: &t.id,
            name: &t.name,
            scopes: scope_names(&t.scopes),
            created_at: &t.created_at,
            last_used_at: t.last_used_at.as_deref(),
        }
    }
}

// Fields are in alphabetical order, the order this answer had when it was one JSON map, so
// the bytes a client receives did not change.
/// The answer of `POST /api/v1/tokens`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TokenCreated)]
struct TokenCreated<'a> {
    /// When it was created (RFC 3339).
    #[schema(value_type = String)]
    created_at: &'a str,
    /// The token id (for revoking).
    #[schema(value_type = String)]
    id: &'a str,
    /// Its name.
    #[schema(value_type = String)]
    name: &'a str,
    /// Its scopes.
    scopes: Vec<ScopeName>,
    /// The bearer token: shown here once, never again (only its hash is stored).
    #[schema(value_type = String, example = "ocp_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    token: &'a str,
}

/// The answer of `DELETE /api/v1/tokens/{id}`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TokenRevoked)]
struct TokenRevoked<'a> {
    /// The token as it was.
    deleted: TokenInfo<'a>,
}

fn storage(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "storage_error",
        format!("the tokens could not be read or written: {e}"),
    )
}

/// `POST /api/v1/tokens`: 201 with the plain token, shown this once.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    request_body(content = CreateBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The token; `token` is shown here only", body = TokenCreated),
        (status = 400, description = "Not a JSON object of this shape (`invalid_body`) or a bad name or scope list (`invalid_token_spec`)", body = ApiErrorBody),
        (status = 409, description = "A token with this name exists (`token_name_taken`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Storage or random source error (`storage_error`, `internal`)", body = ApiErrorBody),
    )
)]
pub async fn create(State(app): State<Arc<App>>, raw: Bytes) -> Result<Response, ApiError> {
    let body: CreateBody = parse_body(&raw, EXAMPLE)?;
    let scopes: Vec<Scope> = body.scopes.into_iter().map(Scope::from).collect();
    let created = app
        .tokens
        .create(app.store.as_ref(), &body.name, &scopes)
        .await
        .map_err(|e| match e {
            CreateError::Invalid(m) => ApiError::bad_request("invalid_token_spec", m),
            e @ CreateError::NameTaken(_) => {
                ApiError::new(StatusCode::CONFLICT, "token_name_taken", e.to_string())
            }
            CreateError::Random => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                CreateError::Random.to_string(),
            ),
            CreateError::Store(e) => storage(e),
        })?;
    let token = &created.token;
    let body = TokenCreated {
        created_at: &token.created_at,
        id: &token.id,
        name: &token.name,
        scopes: scope_names(&token.scopes),
        token: &created.plain,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/v1/tokens`: every token, without secrets.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "tokens",
    params(Paging),
    responses(
        (status = 200, description = "A page of tokens, oldest first; `next` is the last token id", body = Page<TokenInfo>),
        (status = 400, description = "A bad `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
        (status = 500, description = "Storage error (`storage_error`)", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(&params)?;
    let mut tokens = app.tokens.list(app.store.as_ref()).await.map_err(storage)?;
    tokens.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(paging.page(
        &tokens,
        Order::Ascending,
        |t| t.id.as_str(),
        TokenInfo::from,
    ))
    .into_response())
}

/// `DELETE /api/v1/tokens/{id}`: the token stops working at once.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    tag = "tokens",
    params(("id" = String, Path, description = "The token id")),
    responses(
        (status = 200, description = "The revoked token", body = TokenRevoked),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No token with this id (`token_not_found`)", body = ApiErrorBody),
        (status = 500, description = "Storage error (`storage_error`)", body = ApiErrorBody),
    )
)]
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match app
        .tokens
        .revoke(app.store.as_ref(), &id)
        .await
        .map_err(storage)?
    {
        Some(token) => {
            let view = token.view(None);
            Ok(Json(TokenRevoked {
                deleted: TokenInfo::from(&view),
            })
            .into_response())
        }
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "token_not_found",
            format!("no token with id {id:?}; GET /api/v1/tokens lists them"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::assert_sorted_keys;

    #[test]
    fn the_created_token_answer_keeps_the_key_order_of_a_json_map() {
        assert_sorted_keys(&TokenCreated {
            created_at: "t",
            id: "i",
            name: "n",
            scopes: vec![ScopeName::Read, ScopeName::Admin],
            token: "ocp_x",
        });
    }
}
