//! The station registry: `POST /api/v1/stations` (register), `PUT` and `DELETE
//! /api/v1/stations/{id}`, and `POST /api/v1/stations/{id}/password` (set or rotate the
//! Basic-auth password, on the station the OCPP way).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ocpp_rpc::Family;
use ocpulse_core::admission::{self, MAX_PROFILE, Registration};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::openapi::ApiErrorBody;
use super::{ApiError, parse_body};
use crate::app::App;
use crate::auth::password;
use crate::registry::{CallOutcome, CallRequest};

const REGISTER_EXAMPLE: &str =
    r#"{"id": "CP0001", "securityProfile": 2, "enabled": true, "notes": "depot A"}"#;
const UPDATE_EXAMPLE: &str = r#"{"securityProfile": 3, "enabled": false, "notes": "..."}"#;
const PASSWORD_EXAMPLE: &str = r#"{"onStation": true} (or {"password": "<16 to 40 visible ASCII characters>", "onStation": false})"#;

/// A station's registration as the API shows it (never the password or its hash).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegistrationView {
    /// The identity in the connection URL.
    #[schema(example = "CP0001")]
    id: String,
    /// The lowest security profile it may connect with: 0 (no credentials, loopback
    /// listeners only), 1 (Basic auth), 2 (Basic auth over TLS), 3 (TLS client certificate).
    security_profile: u8,
    /// A disabled station is refused at the handshake.
    enabled: bool,
    /// The operator's notes.
    notes: String,
    /// Whether a Basic-auth password is set.
    has_password: bool,
    /// Registered by `--auto-register` rather than by an operator.
    auto_registered: bool,
    /// Connections of this station refused since the server started.
    refused_connections: u64,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
}

impl RegistrationView {
    pub(crate) fn of(reg: &Registration, app: &App) -> Self {
        Self {
            id: reg.id.clone(),
            security_profile: reg.security_profile,
            enabled: reg.enabled,
            notes: reg.notes.clone(),
            has_password: reg.password_hash.is_some(),
            auto_registered: reg.auto_registered,
            refused_connections: app.gate.registrations.refusals(&reg.id),
            created_at: ocpulse_core::rfc3339(reg.created_at),
            updated_at: ocpulse_core::rfc3339(reg.updated_at),
        }
    }
}

/// A registration, with the password when one was just made (shown this once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Registered {
    /// The registration.
    registration: RegistrationView,
    /// The Basic-auth password, present only in the answer that set it.
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

/// The body of `POST /api/v1/stations`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RegisterBody {
    /// The identity (1 to 48 of `a-z A-Z 0-9 * - _ = + | @ .`).
    #[schema(
        example = "CP0001",
        pattern = r"^[A-Za-z0-9*_=+|@.\-]{1,48}$",
        min_length = 1,
        max_length = 48
    )]
    id: String,
    /// 0 to 3; default 1. Profile 0 (no credentials) only on a loopback listener.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 3)]
    security_profile: Option<u8>,
    /// Default true.
    #[serde(default)]
    enabled: Option<bool>,
    /// Free text.
    #[serde(default)]
    notes: Option<String>,
    /// The Basic-auth password for profiles 1 and 2 (16 to 40 visible ASCII characters);
    /// without it one is generated and returned once.
    #[serde(default)]
    #[schema(pattern = r"^[\x21-\x7E]{16,40}$", min_length = 16, max_length = 40)]
    password: Option<String>,
}

/// The body of `PUT /api/v1/stations/{id}`: the fields to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UpdateBody {
    /// 0 to 3.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 3)]
    security_profile: Option<u8>,
    /// Disabling closes a live connection.
    #[serde(default)]
    enabled: Option<bool>,
    /// Free text.
    #[serde(default)]
    notes: Option<String>,
}

/// The body of `POST /api/v1/stations/{id}/password`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PasswordBody {
    /// The new password; without it one is generated.
    #[serde(default)]
    password: Option<String>,
    /// Send it to the connected station first (1.6 ChangeConfiguration AuthorizationKey,
    /// 2.0.1 SetVariables SecurityCtrlr.BasicAuthPassword) and keep it only if the station
    /// accepts (A01.FR.03/04). Default: true when the station is connected.
    #[serde(default)]
    on_station: Option<bool>,
}

/// The answer of a password change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PasswordChanged {
    /// The registration.
    registration: RegistrationView,
    /// The new password, shown this once.
    password: String,
    /// Whether the station was told (and accepted) it.
    applied_on_station: bool,
    /// The station's answer, when it was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    station_status: Option<String>,
}

fn storage(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "storage_error",
        e.to_string(),
    )
}

fn check_profile(app: &App, profile: u8) -> Result<(), ApiError> {
    if profile > MAX_PROFILE {
        return Err(ApiError::bad_request(
            "invalid_security_profile",
            format!("securityProfile is 0, 1, 2 or 3, got {profile}"),
        ));
    }
    if profile == 0 && !app.config.listen.ip().is_loopback() {
        return Err(ApiError::bad_request(
            "invalid_security_profile",
            "securityProfile 0 (no credentials) is refused on a listener that is not loopback; use 1 or 2 (Basic auth) or 3 (client certificate)",
        ));
    }
    if profile >= 2 && app.config.security.tls.is_none() {
        tracing::warn!(
            profile,
            "a station registered for a TLS profile cannot connect: the server has no --tls-cert"
        );
    }
    Ok(())
}

/// Hashes on the blocking pool: argon2 is slow on purpose.
async fn hashed(password: &str) -> Result<String, ApiError> {
    let internal = |e: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e);
    let p = password.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&p))
        .await
        .map_err(|e| internal(e.to_string()))?
        .map_err(|e| internal(e.to_string()))
}

fn new_password(chosen: Option<String>) -> Result<String, ApiError> {
    match chosen {
        Some(p) => {
            password::check_chosen(&p).map_err(|e| ApiError::bad_request("invalid_password", e))?;
            Ok(p)
        }
        None => password::generate().map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        }),
    }
}

fn not_registered(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "station_not_registered",
        format!("station {id:?} is not registered; POST /api/v1/stations registers it"),
    )
}

/// The registration of `id`, or the 404 that says how to make one.
fn registered(app: &App, id: &str) -> Result<Registration, ApiError> {
    app.gate
        .registrations
        .get(id)
        .ok_or_else(|| not_registered(id))
}

/// Registers a station.
#[utoipa::path(
    post,
    path = "/api/v1/stations",
    tag = "registry",
    request_body(content = RegisterBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered; `password` is shown this once (profiles 1 and 2)", body = Registered),
        (status = 400, description = "Not a JSON object of this shape (`invalid_body`), a bad identity (`invalid_station_id`), profile (`invalid_security_profile`) or password (`invalid_password`)", body = ApiErrorBody),
        (status = 409, description = "Already registered (`already_registered`)", body = ApiErrorBody),
        (status = "4XX", description = "Any other client error (e.g. 413, 415)", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn register(
    State(app): State<Arc<App>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let body: RegisterBody = parse_body(&body, REGISTER_EXAMPLE)?;
    admission::check_identity(&body.id)
        .map_err(|e| ApiError::bad_request("invalid_station_id", e))?;
    let profile = body.security_profile.unwrap_or(1);
    check_profile(&app, profile)?;
    if app.gate.registrations.get(&body.id).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_registered",
            format!(
                "station {:?} is registered already; PUT /api/v1/stations/{} changes it",
                body.id, body.id
            ),
        ));
    }
    let password = if (1..=2).contains(&profile) || body.password.is_some() {
        Some(new_password(body.password)?)
    } else {
        None
    };
    let now = crate::now_ms();
    let reg = Registration {
        id: body.id.clone(),
        security_profile: profile,
        enabled: body.enabled.unwrap_or(true),
        notes: body.notes.unwrap_or_default(),
        password_hash: match &password {
            Some(p) => Some(hashed(p).await?),
            None => None,
        },
        auto_registered: false,
        created_at: now,
        updated_at: now,
    };
    app.gate
        .registrations
        .put(&*app.store, reg.clone())
        .await
        .map_err(storage)?;
    app.stations.ensure(&reg.id);
    tracing::info!(station = %reg.id, profile, "station registered");
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            registration: RegistrationView::of(&reg, &app),
            password,
        }),
    ))
}

/// Changes a registration. Disabling a station, or raising its profile above the one its
/// live connection uses, closes that connection.
#[utoipa::path(
    put,
    path = "/api/v1/stations/{id}",
    tag = "registry",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    request_body(content = UpdateBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The registration as changed", body = Registered),
        (status = 400, description = "Not a JSON object of this shape (`invalid_body`) or a bad profile (`invalid_security_profile`)", body = ApiErrorBody),
        (status = 404, description = "Not registered (`station_not_registered`)", body = ApiErrorBody),
        (status = "4XX", description = "Any other client error (e.g. 413, 415)", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Registered>, ApiError> {
    let mut reg = registered(&app, &id)?;
    let body: UpdateBody = parse_body(&body, UPDATE_EXAMPLE)?;
    let raised = body
        .security_profile
        .is_some_and(|p| p > reg.security_profile);
    if let Some(p) = body.security_profile {
        check_profile(&app, p)?;
        reg.security_profile = p;
    }
    if let Some(e) = body.enabled {
        reg.enabled = e;
    }
    if let Some(n) = body.notes {
        reg.notes = n;
    }
    reg.auto_registered = false;
    reg.updated_at = crate::now_ms();
    app.gate
        .registrations
        .put(&*app.store, reg.clone())
        .await
        .map_err(storage)?;
    if !reg.enabled || raised {
        // It reconnects (if it still may) under the new rules.
        app.stations.disconnect_now(&id);
    }
    Ok(Json(Registered {
        registration: RegistrationView::of(&reg, &app),
        password: None,
    }))
}

/// Deletes a registration and closes the station's connection; its history stays.
#[utoipa::path(
    delete,
    path = "/api/v1/stations/{id}",
    tag = "registry",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not registered (`station_not_registered`)", body = ApiErrorBody),
        (status = "4XX", description = "Any other client error", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn unregister(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !app
        .gate
        .registrations
        .delete(&*app.store, &id)
        .await
        .map_err(storage)?
    {
        return Err(not_registered(&id));
    }
    app.gate.verified.forget(&id);
    app.stations.disconnect_now(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a new Basic-auth password. With `onStation` (the default for a connected station)
/// the station is told first and the password changes only if it answers Accepted
/// (A01.FR.03); any other answer keeps the old one (A01.FR.04). The CALL is journaled with
/// the password redacted.
#[utoipa::path(
    post,
    path = "/api/v1/stations/{id}/password",
    tag = "registry",
    params(("id" = String, Path, description = "The station id", example = "CP0001")),
    request_body(content = PasswordBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The new password (shown this once)", body = PasswordChanged),
        (status = 400, description = "Not a JSON object of this shape (`invalid_body`) or a bad password (`invalid_password`)", body = ApiErrorBody),
        (status = 404, description = "Not registered (`station_not_registered`)", body = ApiErrorBody),
        (status = 409, description = "`onStation` but not connected (`station_not_connected`), or the station did not accept it (`password_rejected`, with `stationStatus`); the old password stays", body = ApiErrorBody),
        (status = "4XX", description = "Any other client error", body = ApiErrorBody),
        (status = 500, description = "Storage error", body = ApiErrorBody),
    )
)]
pub async fn set_password(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<PasswordChanged>, ApiError> {
    let mut reg = registered(&app, &id)?;
    let body: PasswordBody = if body.iter().all(u8::is_ascii_whitespace) {
        PasswordBody::default()
    } else {
        parse_body(&body, PASSWORD_EXAMPLE)?
    };
    let password = new_password(body.password)?;
    let session = app.stations.get(&id).and_then(|e| e.session);
    let on_station = body.on_station.unwrap_or(session.is_some());
    let mut station_status = None;
    if on_station {
        let Some(session) = session else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "station_not_connected",
                format!(
                    "station {id:?} is not connected, so it cannot be told its new password; retry when it is, or send {{\"onStation\": false}} to set it here only"
                ),
            ));
        };
        let status = tell_station(&app, &session, &password).await?;
        if status != "Accepted" {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "password_rejected",
                format!(
                    "the station answered {status:?}; its old password stays valid (A01.FR.04)"
                ),
            )
            .with("stationStatus", &status));
        }
        station_status = Some(status);
    }
    reg.password_hash = Some(hashed(&password).await?);
    reg.updated_at = crate::now_ms();
    app.gate
        .registrations
        .put(&*app.store, reg.clone())
        .await
        .map_err(storage)?;
    app.gate.verified.forget(&id);
    Ok(Json(PasswordChanged {
        registration: RegistrationView::of(&reg, &app),
        password,
        applied_on_station: on_station,
        station_status,
    }))
}

/// Sends the password to the station and returns its status (or why there was none).
async fn tell_station(
    app: &App,
    session: &crate::registry::SessionHandle,
    password: &str,
) -> Result<String, ApiError> {
    let (action, payload) = match session.protocol.family() {
        Family::V16 => (
            "ChangeConfiguration",
            json!({"key": "AuthorizationKey", "value": password}),
        ),
        Family::V2 => (
            "SetVariables",
            json!({"setVariableData": [{
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
                "attributeValue": password,
            }]}),
        ),
    };
    let (reply, answer) = oneshot::channel();
    let call = Box::new(CallRequest {
        action: action.to_owned(),
        payload,
        timeout: app.config.call_timeout,
        reply,
        watch: None,
        redact: true,
    });
    let gone = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "station_not_connected",
            "the station disconnected before it answered; its old password stays valid",
        )
    };
    session.calls.send(call).map_err(|_| gone())?;
    let outcome = answer.await.map_err(|_| gone())?.outcome;
    Ok(match outcome {
        CallOutcome::Result(payload) => status_of(&payload),
        CallOutcome::Error { code, .. } => format!("CallError {code}"),
        CallOutcome::InvalidResponse { .. } => "InvalidResponse".into(),
        CallOutcome::Timeout => "Timeout".into(),
        CallOutcome::Disconnected => return Err(gone()),
    })
}

/// The status of a ChangeConfiguration answer, or of the one SetVariables result.
fn status_of(payload: &Value) -> String {
    payload
        .get("status")
        .or_else(|| {
            payload
                .get("setVariableResult")
                .and_then(|r| r.get(0))
                .and_then(|r| r.get("attributeStatus"))
        })
        .and_then(Value::as_str)
        .unwrap_or("Unknown")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_is_read_from_either_versions_answer() {
        assert_eq!(status_of(&json!({"status": "Rejected"})), "Rejected");
        assert_eq!(
            status_of(
                &json!({"setVariableResult": [{"attributeStatus": "Accepted", "component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}]})
            ),
            "Accepted"
        );
        assert_eq!(status_of(&json!({})), "Unknown");
    }
}
