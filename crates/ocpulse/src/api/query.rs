//! Query parameters: one rule for unknown ones on every route (`refuse_unknown`), and one
//! rule and error message per shared parameter, wherever it appears.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::{MatchedPath, Query, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ocpulse_core::Millis;
use ocpulse_core::parse_rfc3339;
use ocpulse_core::store::StoreError;

use super::ApiError;

/// The query string of an endpoint, as given.
pub(crate) type Params = HashMap<String, String>;

/// The query parameters each operation documents, by (lower-case method, path as routed):
/// the only ones it accepts. The OpenAPI document is the per-route list, so what a route
/// accepts and what it documents cannot drift apart.
static ACCEPTED: LazyLock<HashMap<(String, String), Vec<String>>> = LazyLock::new(|| {
    use utoipa::OpenApi as _;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::path::ParameterIn;
    let doc = super::openapi::ApiDoc::openapi();
    let mut accepted = HashMap::new();
    for (path, item) in &doc.paths.paths {
        let operations = [
            ("get", &item.get),
            ("post", &item.post),
            ("put", &item.put),
            ("delete", &item.delete),
        ];
        for (method, op) in operations {
            let Some(op) = op else { continue };
            let names = op
                .parameters
                .iter()
                .flatten()
                .filter_map(|p| match p {
                    RefOr::T(p) if p.parameter_in == ParameterIn::Query => Some(p.name.clone()),
                    _ => None,
                })
                .collect();
            accepted.insert((method.to_owned(), path.clone()), names);
        }
    }
    accepted
});

/// Middleware of every API route: a query parameter the operation does not document is
/// refused with 400 `invalid_query`, naming it and the accepted ones, so a typo
/// (`statoin=`) never silently widens a list or an export. An undecodable query is left
/// to the handler's own extractor, which says what is wrong with it.
pub(crate) async fn refuse_unknown(request: Request, next: Next) -> Response {
    if let Some(matched) = request.extensions().get::<MatchedPath>()
        && let Some(allowed) = ACCEPTED.get(&(
            request.method().as_str().to_ascii_lowercase(),
            matched.as_str().to_owned(),
        ))
        && let Ok(Query(given)) = Query::<Vec<(String, String)>>::try_from_uri(request.uri())
        && let Some((unknown, _)) = given.iter().find(|(k, _)| !allowed.contains(k))
    {
        return unknown_parameter(unknown, allowed).into_response();
    }
    next.run(request).await
}

/// The refusal of a parameter the endpoint does not know.
fn unknown_parameter(unknown: &str, allowed: &[String]) -> ApiError {
    let hint = match allowed {
        [] => "this endpoint takes no query parameters".to_owned(),
        [one] => format!("use {one}"),
        [init @ .., last] => format!("use {} and {last}", init.join(", ")),
    };
    ApiError::bad_request(
        "invalid_query",
        format!("unknown query parameter {unknown:?}; {hint}"),
    )
    .with("accepted", allowed)
}

/// Reads a query value as one of the names of `T`, an API enum that derives `Deserialize`
/// with the names it documents: `None` when it is none of them (the caller says what is
/// accepted, in its own words).
pub(crate) fn name<T: serde::de::DeserializeOwned>(value: &str) -> Option<T> {
    use serde::de::IntoDeserializer;
    let text: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        value.into_deserializer();
    T::deserialize(text).ok()
}

/// A non-empty parameter's value (an empty one counts as absent, like `action=` in `messages`).
pub(crate) fn text<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// `from` (inclusive) and `to` (exclusive), RFC 3339, compared with when ocpulse received
/// or sent each message.
pub(crate) fn range(params: &Params) -> Result<(Option<Millis>, Option<Millis>), ApiError> {
    let time = |key: &str| {
        text(params, key)
            .map(|v| {
                parse_rfc3339(v).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_time",
                        format!(
                            "{key} must be an RFC 3339 time such as 2025-01-01T12:00:00Z or 2025-01-01T13:00:00+01:00, got {v:?}"
                        ),
                    )
                })
            })
            .transpose()
    };
    let (from, to) = (time("from")?, time("to")?);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ApiError::bad_request(
            "invalid_range",
            format!(
                "from ({}) is later than to ({}); from is inclusive and to exclusive, so from must not be after to",
                ocpulse_core::rfc3339(f),
                ocpulse_core::rfc3339(t)
            ),
        ));
    }
    Ok((from, to))
}

/// `evse`: a 2.0.1 EVSE id or a 1.6 connector id (0 = the main meter).
pub(crate) fn evse(params: &Params) -> Result<Option<i64>, ApiError> {
    text(params, "evse")
        .map(|v| {
            v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_evse",
                    format!(
                        "evse must be a whole number, 0 or more (a 2.0.1 EVSE id or a 1.6 connector id; 0 is the main meter), got {v:?}"
                    ),
                )
            })
        })
        .transpose()
}

/// How an export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ExportFormat {
    /// Comma-separated values with a header row (RFC 4180 quoting), `text/csv`.
    Csv,
    /// One JSON object per line, `application/x-ndjson`.
    Jsonl,
}

impl ExportFormat {
    /// Reads `format` (default `csv`).
    pub(crate) fn parse(params: &Params) -> Result<Self, ApiError> {
        match text(params, "format") {
            None => Ok(ExportFormat::Csv),
            Some(v) => name(v).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_format",
                    format!("format must be csv or jsonl, got {v:?}"),
                )
            }),
        }
    }

    /// The response's content type.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Jsonl => "application/x-ndjson",
        }
    }

    /// The file extension.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
        }
    }
}

/// A storage failure as the API reports it.
pub(crate) fn storage(e: StoreError) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "storage_error",
        e.to_string(),
    )
}
