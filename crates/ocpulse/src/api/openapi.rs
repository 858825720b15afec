//! The OpenAPI document of the whole HTTP API, generated from the handlers' own
//! `#[utoipa::path(...)]` annotations and served at `GET /api/v1/openapi.json`.
//!
//! **Adding an endpoint** (every route must be documented; `tests/openapi.rs` fails on drift):
//!
//! 1. Register the route in the `api_routes!` list in `api/mod.rs` (it builds the router
//!    *and* the `ROUTES` list the test compares with this document).
//! 2. Annotate the handler with `#[utoipa::path(get|post|put|delete, path = "/api/v1/...",
//!    tag = "...", params(...), request_body = ..., responses(...))]`: the path exactly as
//!    routed, every path/query/header parameter, and every status the handler can return.
//!    Every 4xx/5xx response has `body = ApiErrorBody` (import it from `super::openapi`);
//!    success bodies use schema structs defined in the `api` module (never a domain type).
//!    A body's schema is the struct the handler serializes (or parses): it derives
//!    `Serialize` (`Deserialize`) *and* `utoipa::ToSchema`, borrowing from the domain value
//!    where that saves copies (`#[schema(value_type = String)]` for a `&str`, ...); there are
//!    no structs for the document only. A list of names the server reads as text gets its
//!    schema from the domain's list (a `PartialSchema` impl, as `TriggerOutcome`), or is an
//!    enum deriving `Deserialize` that the handler parses with (`query::name`).
//! 3. Add the handler to `paths(...)` below, and run
//!    `cargo test -p ocpulse --test openapi` and `bash interop/openapi_fuzz.sh`.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;
use utoipa::OpenApi;

pub use super::error::ApiErrorBody;

use super::auth::SecurityDoc;

/// The document: one `paths(...)` list naming every handler of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ocpulse",
        description = "OCPP central system: trigger a station's message with one HTTP call and get that message back. Every error (4xx and 5xx) is a JSON object with `error` (a stable code) and `message` (what was wrong), sometimes with more fields."
    ),
    servers((url = "/", description = "this server")),
    modifiers(&EmptyMeansAbsent, &SecurityDoc),
    paths(
        super::stations::list,
        super::stations::one,
        super::stations::set_validation,
        super::registrations::register,
        super::registrations::update,
        super::registrations::unregister,
        super::registrations::set_password,
        super::send_trigger::trigger,
        super::calls::send,
        super::call_records::list,
        super::call_records::one,
        super::station_ops::reset,
        super::station_ops::change_availability,
        super::station_ops::unlock_connector,
        super::station_ops::clear_cache,
        super::messages::list,
        super::sessions::start,
        super::sessions::list,
        super::sessions::one,
        super::sessions::stop,
        super::logs::create,
        super::logs::list,
        super::logs::one,
        super::logs::content,
        super::trigger_records::list,
        super::trigger_records::one,
        super::events::stream,
        super::ca::certificate,
        super::health,
        super::health::live,
        super::health::ready,
        super::metrics::metrics,
        document,
        super::jobs::create,
        super::jobs::list,
        super::jobs::one,
        super::jobs::cancel,
        super::schedules::create,
        super::schedules::list,
        super::schedules::one,
        super::schedules::replace,
        super::schedules::delete,
        super::freshness_targets::create,
        super::freshness_targets::list,
        super::freshness_targets::one,
        super::freshness_targets::delete,
        super::reports::fleet,
        super::reports::list,
        super::reports::one,
        super::storage_report::storage,
        super::cluster::show,
        super::cluster::drain,
        super::meter_values::list,
        super::export::journal,
        super::export::meter_values,
        super::alert_rules::create,
        super::alert_rules::list,
        super::alert_rules::one,
        super::alert_rules::replace,
        super::alert_rules::delete,
        super::alerts::list,
        super::alerts::one,
        super::alerts::acknowledge,
        super::webhooks::create,
        super::webhooks::list,
        super::webhooks::one,
        super::webhooks::delete,
        super::webhooks::deliveries,
        super::id_tokens::list,
        super::id_tokens::one,
        super::id_tokens::put,
        super::id_tokens::delete,
        super::local_list::push,
        super::tokens::create,
        super::tokens::list,
        super::tokens::delete,
        super::station_config::read_now,
        super::station_config::latest,
        super::station_config::history,
        super::config_profiles::list,
        super::config_profiles::one,
        super::config_profiles::put,
        super::config_profiles::delete,
        super::config_drift::report,
        super::config_drift::check,
        super::config_drift::apply,
        super::config_drift::applies,
        super::config_drift::one_apply,
        super::firmware::create,
        super::firmware::list,
        super::firmware::one,
        super::firmware::cancel,
    ),
    components(schemas(
        ApiErrorBody,
        super::trigger_records::TriggerOutcome,
        super::messages::JournalBefore,
        super::jobs::ResultsName,
        super::jobs::IncludeName,
        super::jobs::JobStatusName,
        super::query::ExportFormat,
        super::alerts::AlertStatusName,
    )),
    tags(
        (name = "stations", description = "What is known about each station"),
        (name = "triggers", description = "Ask a station for a message and get it back"),
        (name = "calls", description = "Send any CSMS call of a station's version and get its answer; read back call records"),
        (name = "station-ops", description = "Reset, ChangeAvailability, UnlockConnector, ClearCache in one vocabulary for every version"),
        (name = "sessions", description = "Charging sessions: watch them, start and stop them"),
        (name = "logs", description = "Ask a station for its log and download what it uploads"),
        (name = "events", description = "Live events: a tail of the journal"),
        (name = "jobs", description = "Bulk trigger jobs: one trigger sent to many stations"),
        (name = "schedules", description = "Recurring trigger jobs"),
        (name = "freshness", description = "Targets that make ocpulse refresh stale station data by itself"),
        (name = "reports", description = "The fleet, each station's health and meter readings"),
        (name = "export", description = "The journal and meter rows as CSV or JSON lines"),
        (name = "alerts", description = "Alert rules and the alerts they raise"),
        (name = "webhooks", description = "Where alert changes are POSTed"),
        (name = "configuration", description = "Stations' configuration: snapshots, desired profiles, drift and applying"),
        (name = "firmware", description = "Firmware rollouts in stages: a canary share, a wait, the rest; halted when too many fail"),
        (name = "authorization", description = "The id-token registry stations are answered from, and local lists"),
        (name = "tokens", description = "API bearer tokens and their scopes (admin)"),
        (name = "meta", description = "The server itself"),
    )
)]
pub struct ApiDoc;

/// Query parameters the report and export endpoints read with `query::text`, where an empty
/// value (`evse=`) counts as absent: they get `allowEmptyValue: true`, which utoipa's
/// `params(...)` cannot say.
const EMPTY_MEANS_ABSENT: &[(&str, &[&str])] = &[
    ("/api/v1/reports/health", &["after"]),
    (
        "/api/v1/sessions",
        &["station", "active", "from", "to", "after"],
    ),
    (
        "/api/v1/stations/{id}/meter-values",
        &["from", "to", "evse", "measurand", "after"],
    ),
    (
        "/api/v1/export/journal",
        &["station", "action", "from", "to", "format"],
    ),
    (
        "/api/v1/export/meter-values",
        &["station", "evse", "measurand", "from", "to", "format"],
    ),
];

/// POST operations whose JSON body may be left out (utoipa marks every typed body required).
const OPTIONAL_BODIES: &[&str] = &[
    "/api/v1/alerts/{id}/acknowledge",
    // An empty body makes a password and sets it on the station.
    "/api/v1/stations/{id}/password",
    // Stopping a session needs no options.
    "/api/v1/sessions/{id}/stop",
];

/// Sets `allowEmptyValue` on the parameters of [`EMPTY_MEANS_ABSENT`], and marks the bodies
/// of [`OPTIONAL_BODIES`] optional.
struct EmptyMeansAbsent;

impl utoipa::Modify for EmptyMeansAbsent {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{RefOr, Required};
        for path in OPTIONAL_BODIES {
            if let Some(body) = openapi
                .paths
                .paths
                .get_mut(*path)
                .and_then(|item| item.post.as_mut())
                .and_then(|op| op.request_body.as_mut())
                && let RefOr::T(body) = body
            {
                body.required = Some(Required::False);
            }
        }
        for (path, names) in EMPTY_MEANS_ABSENT {
            let Some(item) = openapi.paths.paths.get_mut(*path) else {
                continue;
            };
            let Some(op) = item.get.as_mut() else {
                continue;
            };
            for p in op.parameters.iter_mut().flatten() {
                let RefOr::T(p) = p else { continue };
                if p.parameter_in == ParameterIn::Query && names.contains(&p.name.as_str()) {
                    p.extensions
                        .get_or_insert_with(Default::default)
                        .insert("allowEmptyValue".into(), Value::Bool(true));
                }
            }
        }
    }
}

/// The document as served (built once). Serializing it cannot fail: it is plain strings,
/// maps and numbers; `tests/openapi.rs` fetches it.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI document serializes to JSON")
});

/// The schema of a string that takes the names every version has for something (its CSMS
/// actions, its trigger messages, ...): their sorted union, so the document lists exactly
/// what the server may accept; a station then takes only its own version's.
pub(crate) fn every_version_enum<I>(
    names_of: impl Fn(ocpp_rpc::ProtocolVersion) -> I,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>
where
    I: IntoIterator<Item = &'static str>,
{
    let mut names: Vec<&str> = ocpp_rpc::ProtocolVersion::ALL
        .into_iter()
        .flat_map(names_of)
        .collect();
    names.sort_unstable();
    names.dedup();
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(description))
        .enum_values(Some(names))
        .into()
}

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API", body = serde_json::Value, content_type = "application/json"),
        (status = "4XX", description = "Any client error the framework makes (e.g. 405 for another method)", body = ApiErrorBody),
    )
)]
pub async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}
