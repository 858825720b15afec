//! `/api/v1/trigger-jobs`: one trigger request (or one CSMS call) sent to many stations,
//! with admission control, progress, per-station results, cancel and resume after a restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ocpp_rpc::ProtocolVersion;
use ocpp_rpc::trigger::MatchReason;
use ocpulse_core::fleet_job::{
    Job, JobCall, JobEvse, JobLimits, JobOutcome, JobSpec, JobStatus, JobTrigger,
};
use ocpulse_core::selector::{Connection, Selector};
use ocpulse_core::trigger_plan::{self, TriggerRequest};
use ocpulse_core::{StationState, rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::openapi::ApiErrorBody;
use super::page::{Order, Page, Paging};
use super::send_trigger::requested_by;
use super::trigger_answer::TriggeredMessage;
use super::{ApiError, parse_body, query};
use crate::app::App;
use crate::jobs::{self, CancelError, JobHandle};
use crate::now_ms;

const EXAMPLE: &str = r#"{"selector": {"all": true} or {"stationIds": ["CP1", "CP2"]} or {"protocol": "ocpp1.6", "connectorStatus": "Charging"}, "trigger": {"requestedMessage": "StatusNotification"}, "concurrency": 100, "ratePerSecond": 200, "retries": 2, "retryBackoffMs": 1000}"#;

/// The longest a caller may wait for a job in one request.
const MAX_WAIT_MS: u64 = 300_000;

/// `POST /api/v1/trigger-jobs` body: the spec, flat, plus whether to wait.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = TriggerJobBody, example = json!({"name": "status sweep", "selector": {"all": true}, "trigger": {"requestedMessage": "StatusNotification"}, "concurrency": 100, "retries": 2}))]
pub(crate) struct CreateBody {
    /// A label for people (at most 200 bytes).
    #[schema(max_length = 200)]
    name: Option<String>,
    /// Which stations. Required.
    #[schema(value_type = StationSelector, required = true)]
    selector: Option<StationSelector>,
    /// What to ask each station: a trigger, or `call` instead (exactly one of the two).
    #[schema(value_type = Option<JobTriggerBody>)]
    trigger: Option<JobTriggerBody>,
    /// A CSMS call to send each station instead of a trigger: each station's version
    /// checks the payload first (a station whose version refuses it gets `NotApplicable`
    /// with the reason; nothing is sent to it).
    #[schema(value_type = Option<JobCallBody>)]
    call: Option<JobCallBody>,
    /// Triggers of this job in flight at once (default 100).
    #[schema(minimum = 1, maximum = 10_000)]
    concurrency: Option<u32>,
    /// Station starts per second, 0.001 to 100000 (default: as fast as the concurrency allows).
    #[schema(minimum = 0.001, maximum = 100_000)]
    rate_per_second: Option<f64>,
    /// Retries per station after a retryable outcome (default 2).
    #[schema(minimum = 0, maximum = 10)]
    retries: Option<u32>,
    /// Backoff before the first retry, doubled for each further one (default 1000).
    #[schema(minimum = 1, maximum = 300_000)]
    retry_backoff_ms: Option<u64>,
    /// Each station's start is delayed by a stable offset in `[0, spreadMs)` (default 0).
    #[schema(minimum = 0, maximum = 3_600_000)]
    spread_ms: Option<u64>,
    /// Answer when the job has ended (200) instead of at once (202); default false.
    wait: Option<bool>,
    /// With `wait`: the longest to wait, in ms (default 60000); a 202 when it runs out.
    #[schema(minimum = 1, maximum = 300_000)]
    wait_timeout_ms: Option<u64>,
    /// Add each station's correlated messages (from its trigger record) to its result.
    include_messages: Option<bool>,
}

// The serde attributes are the core `Selector`'s, so a selector is read (and refused, with
// the same words) as the core reads it, and shown as it always was.
/// Which stations a job, schedule or freshness target is about (`ocpulse_core::selector::Selector`):
/// `stationIds`, or `all: true`, or filters; filters also narrow `stationIds`. An empty
/// selector, an empty id list, or `stationIds` with `all` are refused.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = Selector, examples(json!({"all": true}), json!({"stationIds": ["CP0001", "CS0001"]}), json!({"protocol": "ocpp1.6", "connection": "connected"})))]
pub(crate) struct StationSelector {
    /// These stations only (non-blank ids).
    /// At most 10000 (`too_many_station_ids`): select a larger fleet by filter or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 10_000)]
    station_ids: Option<Vec<String>>,
    /// Every known station (subject to the filters); required when nothing else is given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    all: bool,
    /// Only stations on this protocol (`1.6`, `2.0.1` and `2.1` are accepted too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ProtocolName>)]
    protocol: Option<String>,
    /// BootNotification vendor (exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vendor: Option<String>,
    /// BootNotification model (exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    /// BootNotification firmware version (exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    firmware_version: Option<String>,
    /// Only connected (or disconnected) stations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connection: Option<ConnectionName>,
    /// At least one connector reports this status (`Charging`, `Faulted`, `Available`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ConnectorStatusName>)]
    connector_status: Option<String>,
}

impl From<StationSelector> for Selector {
    fn from(s: StationSelector) -> Self {
        Selector {
            station_ids: s.station_ids,
            all: s.all,
            // Any spelling the CLI takes (`1.6`, `ocpp1.6`, ...) is kept as the subprotocol.
            protocol: s
                .protocol
                .map(|p| ProtocolVersion::parse_name(&p).map_or(p, |v| v.subprotocol().into())),
            vendor: s.vendor,
            model: s.model,
            firmware_version: s.firmware_version,
            connection: s.connection.map(Connection::from),
            connector_status: s.connector_status,
        }
    }
}

impl From<&Selector> for StationSelector {
    fn from(s: &Selector) -> Self {
        StationSelector {
            station_ids: s.station_ids.clone(),
            all: s.all,
            protocol: s.protocol.clone(),
            vendor: s.vendor.clone(),
            model: s.model.clone(),
            firmware_version: s.firmware_version.clone(),
            connection: s.connection.map(ConnectionName::from),
            connector_status: s.connector_status.clone(),
        }
    }
}

/// The schema of a protocol name: exactly what `Selector::check` accepts
/// (`ProtocolVersion::NAMES`: each subprotocol, and the bare version); answers carry the
/// subprotocol.
pub(crate) struct ProtocolName;

impl utoipa::PartialSchema for ProtocolName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "An OCPP version: its subprotocol (`ocpp1.6`), or the bare version (`1.6`) in a request.",
            ))
            .enum_values(Some(ProtocolVersion::NAMES))
            .into()
    }
}

impl utoipa::ToSchema for ProtocolName {}

/// The schema of a connector status filter: either version's vocabulary, exactly what
/// `Selector::check` accepts.
pub(crate) struct ConnectorStatusName;

impl utoipa::PartialSchema for ConnectorStatusName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A connector status of OCPP 1.6 (`ChargePointStatus`) or 2.x (`ConnectorStatusEnumType`).",
            ))
            .enum_values(Some(ocpulse_core::selector::connector_statuses()))
            .into()
    }
}

impl utoipa::ToSchema for ConnectorStatusName {}

/// Whether a station has a live connection.
#[derive(Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) enum ConnectionName {
    /// It has a live WebSocket now.
    Connected,
    /// It has none.
    Disconnected,
}

impl From<ConnectionName> for Connection {
    fn from(c: ConnectionName) -> Self {
        match c {
            ConnectionName::Connected => Connection::Connected,
            ConnectionName::Disconnected => Connection::Disconnected,
        }
    }
}

impl From<Connection> for ConnectionName {
    fn from(c: Connection) -> Self {
        match c {
            Connection::Connected => ConnectionName::Connected,
            Connection::Disconnected => ConnectionName::Disconnected,
        }
    }
}

// The serde attributes are the core `JobTrigger`'s (see `StationSelector`).
/// The trigger a job sends to each station (`ocpulse_core::fleet_job::JobTrigger`): the
/// single-station trigger body without `wait`.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = JobTrigger, example = json!({"requestedMessage": "StatusNotification"}))]
pub(crate) struct JobTriggerBody {
    /// The message wanted, by its name in either version (`Heartbeat`, `StatusNotification`,
    /// `MeterValues`, ...).
    #[schema(value_type = super::send_trigger::RequestedMessage)]
    requested_message: String,
    /// 1.6-style target: a connector (0 = the station itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connector_id: Option<i64>,
    /// 2.x-style target: an EVSE (and a connector in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    evse: Option<JobEvseBody>,
    /// With `requestedMessage: "CustomTrigger"` (OCPP 2.1 stations only), and only then:
    /// the vendor trigger's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 50)]
    custom_trigger: Option<String>,
    /// How long each station's trigger may take, in ms (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
}

// The serde attributes are the core `JobCall`'s (see `StationSelector`).
/// The CSMS call a job sends to each station (`ocpulse_core::fleet_job::JobCall`): the
/// `/calls` body without `wait`.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = JobCall, example = json!({"action": "ChangeConfiguration", "payload": {"key": "HeartbeatInterval", "value": "300"}}))]
pub(crate) struct JobCallBody {
    /// A CSMS-initiated action of the stations' version(s).
    #[schema(value_type = super::calls::CallAction)]
    action: String,
    /// The CALL payload (default `{}`), checked against each station's version.
    #[serde(default = "empty_object")]
    #[schema(value_type = Option<Object>)]
    payload: Value,
    /// How long each station has to answer, in ms (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 300_000)]
    timeout_ms: Option<u64>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl From<JobCallBody> for JobCall {
    fn from(c: JobCallBody) -> Self {
        JobCall {
            action: c.action,
            payload: c.payload,
            timeout_ms: c.timeout_ms,
        }
    }
}

impl From<&JobCall> for JobCallBody {
    fn from(c: &JobCall) -> Self {
        JobCallBody {
            action: c.action.clone(),
            // Shown as stored; a job's payload may carry a secret for every station.
            payload: ocpulse_core::session::secrets_redacted(&c.action, &c.payload)
                .unwrap_or_else(|| c.payload.clone()),
            timeout_ms: c.timeout_ms,
        }
    }
}

/// An EVSE target of a job.
#[derive(Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = JobEvse)]
pub(crate) struct JobEvseBody {
    /// The EVSE id.
    id: i64,
    /// A connector of that EVSE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connector_id: Option<i64>,
}

impl From<JobTriggerBody> for JobTrigger {
    fn from(t: JobTriggerBody) -> Self {
        JobTrigger {
            requested_message: t.requested_message,
            connector_id: t.connector_id,
            evse: t.evse.map(|e| JobEvse {
                id: e.id,
                connector_id: e.connector_id,
            }),
            custom_trigger: t.custom_trigger,
            timeout_ms: t.timeout_ms,
        }
    }
}

impl From<&JobTrigger> for JobTriggerBody {
    fn from(t: &JobTrigger) -> Self {
        JobTriggerBody {
            requested_message: t.requested_message.clone(),
            connector_id: t.connector_id,
            evse: t.evse.map(|e| JobEvseBody {
                id: e.id,
                connector_id: e.connector_id,
            }),
            custom_trigger: t.custom_trigger.clone(),
            timeout_ms: t.timeout_ms,
        }
    }
}

/// A job's admission control as it runs (`limits` of a job or schedule).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = JobLimits)]
pub(crate) struct JobLimitsView {
    /// Triggers in flight at once.
    concurrency: u32,
    /// Station starts per second; absent: as fast as the concurrency allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_per_second: Option<f64>,
    /// Retries per station after a retryable outcome.
    retries: u32,
    /// Backoff before the first retry, in ms.
    retry_backoff_ms: u64,
    /// Start spread, in ms.
    spread_ms: u64,
}

impl From<&JobLimits> for JobLimitsView {
    fn from(l: &JobLimits) -> Self {
        JobLimitsView {
            concurrency: l.concurrency,
            rate_per_second: l.rate_per_second,
            retries: l.retries,
            retry_backoff_ms: l.retry_backoff_ms,
            spread_ms: l.spread_ms,
        }
    }
}

/// Where a job stands.
#[derive(Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) enum JobStatusName {
    /// Stations are still being triggered.
    Running,
    /// Every station has a final result.
    Completed,
    /// Cancelled: stations not started by then are `Cancelled`.
    Cancelled,
}

impl From<JobStatus> for JobStatusName {
    fn from(s: JobStatus) -> Self {
        match s {
            JobStatus::Running => JobStatusName::Running,
            JobStatus::Completed => JobStatusName::Completed,
            JobStatus::Cancelled => JobStatusName::Cancelled,
        }
    }
}

impl From<JobStatusName> for JobStatus {
    fn from(s: JobStatusName) -> Self {
        match s {
            JobStatusName::Running => JobStatus::Running,
            JobStatusName::Completed => JobStatus::Completed,
            JobStatusName::Cancelled => JobStatus::Cancelled,
        }
    }
}

/// A trigger job as the API shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TriggerJob)]
pub(crate) struct JobView {
    /// The job id.
    job_id: String,
    /// Its label, or null.
    name: Option<String>,
    /// Where it stands.
    status: JobStatusName,
    /// Who asked (`X-Requested-By`, `api`, or `schedule:<id>`).
    requested_by: String,
    /// Which stations (as given).
    selector: StationSelector,
    /// What each is asked: a trigger...
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger: Option<JobTriggerBody>,
    /// ... or a call.
    #[serde(skip_serializing_if = "Option::is_none")]
    call: Option<JobCallBody>,
    /// Admission control.
    limits: JobLimitsView,
    /// When it was created (RFC 3339).
    created_at: String,
    /// When it ended (RFC 3339), or null while running.
    finished_at: Option<String>,
    /// Time since creation (until the end, once ended).
    elapsed_ms: i64,
    /// How many times it was resumed after a restart.
    resumed: u32,
    /// Stations selected.
    total: usize,
    /// Stations that ended `Completed` or `Partial`.
    succeeded: usize,
    /// Stations that ended otherwise.
    failed: usize,
    /// Stations still `Pending` or `Running`.
    open: usize,
    /// Stations per outcome.
    counts: BTreeMap<String, usize>,
    /// Per-station results (`results=all|failed`; absent with `none` and in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<Vec<JobResultView>>,
}

/// One station's part of a job.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TriggerJobResult)]
pub(crate) struct JobResultView {
    /// The station.
    station_id: String,
    /// `Pending`, `Running`, a trigger outcome (`Completed`, `Rejected`, ...) or a job
    /// outcome (`Offline`, `UnknownStation`, `NotApplicable`, `Cancelled`).
    #[schema(value_type = String)]
    outcome: &'static str,
    /// Triggers sent so far (retries included).
    attempts: u32,
    /// The latest trigger's record id.
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger_id: Option<String>,
    /// A call job: the latest call's record id (`GET /api/v1/calls/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    call_id: Option<String>,
    /// A call job: the `status` of the station's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    /// A call job: the station's CALLERROR (`errorCode`, `errorDescription`, `errorDetails`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    call_error: Option<Value>,
    /// Why it ended so, when not a success.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// How long the latest trigger took.
    #[serde(skip_serializing_if = "Option::is_none")]
    elapsed_ms: Option<u64>,
    /// Why each message of the latest trigger was taken as its answer, in order
    /// (`marker`, `target`, `transaction`, `first_after_accept`); absent when none was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Option<Vec<String>>)]
    matched_by: Vec<MatchReason>,
    /// When it reached its final result (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
    /// With `include=messages` / `includeMessages`: what the station sent (action,
    /// messageId, payload, receivedAt, matchedBy), from its trigger record.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    messages: Option<Vec<Value>>,
}

/// A job's admission control from the optional body fields, defaults filled in; shared
/// with schedules, which take the same fields.
pub(crate) fn limits_from(
    concurrency: Option<u32>,
    rate_per_second: Option<f64>,
    retries: Option<u32>,
    retry_backoff_ms: Option<u64>,
    spread_ms: u64,
) -> JobLimits {
    let defaults = JobLimits::default();
    JobLimits {
        concurrency: concurrency.unwrap_or(defaults.concurrency),
        rate_per_second,
        retries: retries.unwrap_or(defaults.retries),
        retry_backoff_ms: retry_backoff_ms.unwrap_or(defaults.retry_backoff_ms),
        spread_ms,
    }
}

/// Turns a create body into a checked spec; shared with schedules, which carry the same one.
pub(crate) fn spec_from(
    name: Option<String>,
    selector: Option<StationSelector>,
    trigger: Option<JobTriggerBody>,
    call: Option<JobCallBody>,
    limits: JobLimits,
    example: &str,
) -> Result<JobSpec, ApiError> {
    let selector = selector.ok_or_else(|| {
        ApiError::bad_request(
            "missing_selector",
            format!("selector is required: which stations to trigger, e.g. {example}"),
        )
    })?;
    if trigger.is_none() && call.is_none() {
        return Err(ApiError::bad_request(
            "missing_trigger",
            format!("trigger (or call) is required: what to ask each station, e.g. {example}"),
        ));
    }
    if name.as_ref().is_some_and(|n| n.len() > 200) {
        return Err(ApiError::bad_request(
            "invalid_name",
            "name must be at most 200 characters",
        ));
    }
    let spec = JobSpec {
        name,
        selector: selector.into(),
        trigger: trigger.map(Into::into),
        call: call.map(Into::into),
        limits,
    };
    spec.check()
        .map_err(|e| ApiError::bad_request(e.code, e.message))?;
    if let Some(t) = &spec.trigger {
        refuse_for_every_version(&t.request())?;
    }
    Ok(spec)
}

/// A request that no station of any version could take (an unknown message name, a
/// target out of range, a `customTrigger` without `CustomTrigger` or the reverse) is
/// refused now, rather than failing on every station later.
fn refuse_for_every_version(request: &TriggerRequest) -> Result<(), ApiError> {
    let blank = StationState::new("");
    let errors: Vec<_> = ProtocolVersion::ALL
        .into_iter()
        .filter_map(|v| trigger_plan::plan_all(v, request, &blank).err())
        .collect();
    let stateless = [
        "unknown_requested_message",
        "invalid_target",
        "conflicting_target",
        "missing_custom_trigger",
        "unexpected_custom_trigger",
        "invalid_custom_trigger",
    ];
    // The newest version's words: its list of values is the longest.
    let Some(first) = errors.first() else {
        return Ok(());
    };
    let same_everywhere = errors.len() == ProtocolVersion::ALL.len()
        && errors.iter().all(|e| e.code == first.code)
        && stateless.contains(&first.code);
    if !same_everywhere {
        return Ok(());
    }
    let mut err = ApiError::bad_request(first.code, format!("trigger: {}", first.message));
    if first.code == "unknown_requested_message" {
        let mut valid = Vec::new();
        for m in ProtocolVersion::ALL
            .into_iter()
            .flat_map(trigger_plan::valid_messages)
        {
            if !valid.contains(&m) {
                valid.push(m);
            }
        }
        err = err.with("validValues", valid);
    }
    Err(err)
}

/// A call no version could take (not a CSMS action anywhere, or a payload every version's
/// schema refuses) is refused now, each version's reason said; a call some version takes
/// runs, and stations of the others get `NotApplicable` with theirs.
fn refuse_call_for_every_version(
    schemas: &ocpp_rpc::SchemaRegistry,
    call: &JobCall,
) -> Result<(), ApiError> {
    let mut reasons = serde_json::Map::new();
    let mut first = None;
    for v in ProtocolVersion::ALL {
        match crate::csms_call::check(schemas, v, &call.action, &call.payload) {
            Ok(()) => return Ok(()),
            Err(e) => {
                reasons.insert(
                    v.subprotocol().to_owned(),
                    serde_json::json!({"error": e.code(), "message": e.to_string()}),
                );
                first.get_or_insert(e);
            }
        }
    }
    let Some(first) = first else {
        return Ok(());
    };
    Err(ApiError::bad_request(
        first.code(),
        format!("call: no OCPP version takes this call ({first}); see byProtocol"),
    )
    .with("byProtocol", Value::Object(reasons)))
}

/// Creates and starts a job; with `"wait": true`, answers when it ends (or the wait ends).
#[utoipa::path(
    post,
    path = "/api/v1/trigger-jobs",
    tag = "jobs",
    params(
        ("X-Requested-By" = Option<String>, Header, description = "Who asks (1 to 128 visible ASCII characters), kept in the job; default `api`. Ignored when a bearer token is used: its name is recorded", max_length = 128, pattern = r"^[\t\x20-\x7E]*[\x21-\x7E][\t\x20-\x7E]*$", example = "billing-job"),
    ),
    request_body(content = CreateBody, content_type = "application/json"),
    responses(
        (status = 200, description = "`wait: true` and the job ended within `waitTimeoutMs`: the job with every station's result", body = JobView,
            headers(("Location" = String, description = "The job's URL"))),
        (status = 202, description = "The job runs (not waited for, or the wait ran out): the job so far", body = JobView,
            headers(("Location" = String, description = "The job's URL"))),
        (status = 400, description = "Not a JSON object of this shape (`invalid_body`), a missing `selector`/`trigger` (`missing_selector`, `missing_trigger`), a bad selector (`empty_selector`, `invalid_selector`, `too_many_station_ids` for more than 10000 `stationIds`), a bound out of range (`invalid_name`, `invalid_timeout`, `invalid_concurrency`, `invalid_rate`, `invalid_retries`, `invalid_retry_backoff`, `invalid_spread`, `invalid_wait_timeout`, `missing_requested_message`), a trigger no station could take (`unknown_requested_message` with `validValues`, `invalid_target`, `conflicting_target`) or a bad `X-Requested-By` (`invalid_requested_by`)", body = ApiErrorBody),
        (status = 413, description = "The body is too large (`body_too_large`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
        (status = 503, description = "The job could not be stored (`store_unavailable`)", body = ApiErrorBody),
    )
)]
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Option<axum::Extension<super::auth::Caller>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let by = requested_by(&headers, caller.as_deref())?;
    let body: CreateBody = parse_body(&raw, EXAMPLE)?;
    let limits = limits_from(
        body.concurrency,
        body.rate_per_second,
        body.retries,
        body.retry_backoff_ms,
        body.spread_ms.unwrap_or(0),
    );
    let body_include_messages = body.include_messages.unwrap_or(false);
    let spec = spec_from(
        body.name,
        body.selector,
        body.trigger,
        body.call,
        limits,
        EXAMPLE,
    )?;
    if let Some(c) = &spec.call {
        refuse_call_for_every_version(&app.schemas, c)?;
    }
    let wait_ms = body.wait_timeout_ms.unwrap_or(60_000);
    if !(1..=MAX_WAIT_MS).contains(&wait_ms) {
        return Err(ApiError::bad_request(
            "invalid_wait_timeout",
            format!("waitTimeoutMs must be from 1 to {MAX_WAIT_MS}, got {wait_ms}"),
        ));
    }
    let handle = jobs::create(&app, spec, by).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.detail(),
        )
    })?;
    let status = if body.wait.unwrap_or(false) {
        let finished = handle.finished.notified();
        if !handle.is_finished() {
            // A stopping server does not wait for the job (it resumes after the restart).
            tokio::select! {
                () = finished => {}
                () = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
                () = app.shutdown.cancelled() => {}
            }
        }
        if handle.is_finished() {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        }
    } else {
        StatusCode::ACCEPTED
    };
    let job = handle
        .full(&app)
        .await
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "job lock"))?;
    let location = format!("/api/v1/trigger-jobs/{}", job.id);
    let mut body = view(&job, &job.counts(), ResultsName::All);
    if body_include_messages {
        add_messages(&app, &mut body).await;
    }
    Ok((status, [(header::LOCATION, location)], Json(body)).into_response())
}

/// The job as the API shows it: request, progress counts (`counts`, which a finished job
/// keeps when its results have left memory), and per-station results from `job.results`.
fn view(job: &Job, counts: &BTreeMap<String, usize>, results: ResultsName) -> JobView {
    let sum = |pick: &dyn Fn(JobOutcome) -> bool| -> usize {
        counts
            .iter()
            .filter(|(k, _)| JobOutcome::parse(k).is_some_and(pick))
            .map(|(_, n)| n)
            .sum()
    };
    let ok = sum(&JobOutcome::succeeded);
    let open = sum(&JobOutcome::is_open);
    let total: usize = counts.values().sum();
    let end = job.finished_at.unwrap_or_else(now_ms);
    let results = (results != ResultsName::Nothing).then(|| {
        job.results
            .iter()
            .filter(|r| results == ResultsName::All || (!r.is_open() && !r.outcome.succeeded()))
            .map(|r| JobResultView {
                station_id: r.station_id.clone(),
                outcome: r.outcome.as_str(),
                attempts: r.attempts,
                trigger_id: r.trigger_id.clone(),
                call_id: r.call_id.clone(),
                status: r.status.clone(),
                call_error: r.call_error.clone(),
                detail: r.detail.clone(),
                elapsed_ms: r.elapsed_ms,
                matched_by: r.matched_by.clone(),
                finished_at: r.finished_at.map(rfc3339),
                messages: None,
            })
            .collect()
    });
    JobView {
        job_id: job.id.clone(),
        name: job.spec.name.clone(),
        status: job.status.into(),
        requested_by: job.requested_by.clone(),
        selector: StationSelector::from(&job.spec.selector),
        trigger: job.spec.trigger.as_ref().map(JobTriggerBody::from),
        call: job.spec.call.as_ref().map(JobCallBody::from),
        limits: JobLimitsView::from(&job.spec.limits),
        created_at: rfc3339(job.created_at),
        finished_at: job.finished_at.map(rfc3339),
        elapsed_ms: end.saturating_sub(job.created_at),
        resumed: job.resumed,
        total,
        succeeded: ok,
        failed: total - ok - open,
        open,
        counts: counts.clone(),
        results,
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "job_not_found",
        format!("no trigger job with id {id:?}; GET /api/v1/trigger-jobs lists them"),
    )
}

fn parse_results(value: Option<&String>) -> Result<ResultsName, ApiError> {
    match value {
        None => Ok(ResultsName::All),
        Some(v) => query::name(v).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_results",
                format!("results must be all, failed or none, got {v:?}"),
            )
        }),
    }
}

/// Adds each result's correlated messages (from its trigger record): what the fleet sent.
async fn add_messages(app: &App, body: &mut JobView) {
    for r in body.results.iter_mut().flatten() {
        let Some(id) = r.trigger_id.clone() else {
            continue;
        };
        let held = app.running.lock().get(&id).cloned();
        let record = match held {
            Some(rec) => Some(rec),
            None => app.store.trigger(id).await.ok().flatten(),
        };
        if let Some(rec) = record {
            r.messages = Some(
                rec.messages
                    .iter()
                    .map(|m| serde_json::to_value(TriggeredMessage::from(m)).unwrap_or(Value::Null))
                    .collect(),
            );
        }
    }
}

/// What `include` may add to a job view.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum IncludeName {
    /// Each station's correlated messages.
    Messages,
}

/// Which per-station results a job view carries.
#[derive(Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ResultsName {
    /// Every station's result.
    All,
    /// Only stations that ended without success.
    Failed,
    /// None.
    #[serde(rename = "none")]
    Nothing,
}

/// One job with its progress and per-station results (`?results=all|failed|none`,
/// `?include=messages` adds each station's messages).
#[utoipa::path(
    get,
    path = "/api/v1/trigger-jobs/{id}",
    tag = "jobs",
    params(
        ("id" = String, Path, description = "The job id"),
        ("results" = Option<ResultsName>, Query, description = "Which per-station results to include (default `all`)"),
        ("include" = Option<IncludeName>, Query, description = "`messages`: add each station's correlated messages (from its trigger record) to its result"),
    ),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 400, description = "A bad `results` (`invalid_results`) or `include` (`invalid_include`), an unknown parameter (`invalid_query`) or an undecodable path/query", body = ApiErrorBody),
        (status = 404, description = "No job with this id (`job_not_found`)", body = ApiErrorBody),
    )
)]
pub async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<JobView>, ApiError> {
    let results = parse_results(params.get("results"))?;
    let include_messages = match params.get("include") {
        None => false,
        Some(v) => match query::name::<IncludeName>(v) {
            Some(IncludeName::Messages) => true,
            None => {
                return Err(ApiError::bad_request(
                    "invalid_include",
                    format!("include must be \"messages\", got {v:?}"),
                ));
            }
        },
    };
    let handle = app.jobs.get(&id).ok_or_else(|| not_found(&id))?;
    let job = if results == ResultsName::Nothing {
        handle.snapshot()
    } else {
        handle.full(&app).await
    }
    .ok_or_else(|| not_found(&id))?;
    let mut body = view(&job, &handle.counts(), results);
    if include_messages {
        add_messages(&app, &mut body).await;
    }
    Ok(Json(body))
}

/// Jobs, newest first, without per-station results (`?status=&limit=&after=`).
#[utoipa::path(
    get,
    path = "/api/v1/trigger-jobs",
    tag = "jobs",
    params(
        ("status" = Option<JobStatusName>, Query, description = "Only jobs in this state"),
        Paging,
    ),
    responses(
        (status = 200, description = "A page of jobs, newest first, without `results`; `next` is the last job id", body = Page<JobView>),
        (status = 400, description = "A bad `status` (`invalid_status`), `limit` (`invalid_limit`), an unknown parameter (`invalid_query`) or an undecodable query", body = ApiErrorBody),
    )
)]
pub async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Page<JobView>>, ApiError> {
    let paging = Paging::parse(&params)?;
    let status = match params.get("status") {
        None => None,
        Some(v) => Some(JobStatus::from(
            query::name::<JobStatusName>(v).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_status",
                    format!("status must be running, completed or cancelled, got {v:?}"),
                )
            })?,
        )),
    };
    // Counted first, then read: a running job's results are never copied for a list.
    // Job ids are time-ordered (UUIDv7), so newest first is descending by id.
    let matching = app.jobs.list().into_iter().filter_map(|h| {
        let counts = h.counts();
        let job = h.job.lock();
        let before_cursor = paging.after.as_ref().is_some_and(|a| job.id >= *a);
        if before_cursor || status.is_some_and(|s| job.status != s) {
            return None;
        }
        Some((job.id.clone(), view(&job, &counts, ResultsName::Nothing)))
    });
    Ok(Json(paging.page(
        matching,
        Order::Descending,
        |(id, _)| id.as_str(),
        |(_, v)| v,
    )))
}

/// Cancels a running job; 409 if it already ended.
#[utoipa::path(
    post,
    path = "/api/v1/trigger-jobs/{id}/cancel",
    tag = "jobs",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The cancelled job (stations not started are `Cancelled`), without `results`", body = JobView),
        (status = 400, description = "The path is not valid UTF-8 (`invalid_request`)", body = ApiErrorBody),
        (status = 404, description = "No job with this id (`job_not_found`)", body = ApiErrorBody),
        (status = 409, description = "The job already ended (`job_finished`)", body = ApiErrorBody),
        (status = 500, description = "Internal error", body = ApiErrorBody),
    )
)]
pub async fn cancel(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let handle: Arc<JobHandle> = match app.jobs.cancel(&id) {
        Ok(h) => h,
        Err(CancelError::NotFound) => return Err(not_found(&id)),
        Err(CancelError::Finished(status)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "job_finished",
                format!(
                    "trigger job {id:?} already ended ({status:?}); only a running job can be cancelled"
                ),
            ));
        }
    };
    // The runner marks the stations it had not started; give it a moment so the answer
    // shows the cancelled job rather than the instant before.
    let finished = handle.finished.notified();
    if !handle.is_finished() {
        let _ = tokio::time::timeout(Duration::from_secs(2), finished).await;
    }
    let job = handle
        .snapshot()
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "job lock"))?;
    Ok(Json(view(&job, &handle.counts(), ResultsName::Nothing)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_and_job_triggers_read_and_show_as_the_core_types() {
        for selector in [
            r#"{"all": true}"#,
            r#"{"stationIds": ["CP1"], "protocol": "ocpp1.6", "vendor": "v", "model": "m", "firmwareVersion": "f", "connection": "disconnected", "connectorStatus": "Charging"}"#,
        ] {
            let ours: StationSelector = serde_json::from_str(selector).expect("api selector");
            let core: Selector = serde_json::from_str(selector).expect("core selector");
            assert_eq!(
                serde_json::to_string(&StationSelector::from(&core)).ok(),
                serde_json::to_string(&core).ok()
            );
            assert_eq!(Selector::from(ours), core);
        }
        for trigger in [
            r#"{"requestedMessage": "Heartbeat"}"#,
            r#"{"requestedMessage": "CustomTrigger", "connectorId": 1, "evse": {"id": 1, "connectorId": 2}, "customTrigger": "x", "timeoutMs": 5}"#,
        ] {
            let ours: JobTriggerBody = serde_json::from_str(trigger).expect("api trigger");
            let core: JobTrigger = serde_json::from_str(trigger).expect("core trigger");
            assert_eq!(
                serde_json::to_string(&JobTriggerBody::from(&core)).ok(),
                serde_json::to_string(&core).ok()
            );
            assert_eq!(JobTrigger::from(ours), core);
        }
    }

    #[test]
    fn bad_selectors_and_job_triggers_are_refused_in_the_core_words() {
        for selector in [
            r#"{"all": true, "x": 1}"#,
            r#"{"connection": "maybe"}"#,
            r#"{"stationIds": "CP1"}"#,
        ] {
            let ours = serde_json::from_str::<StationSelector>(selector)
                .err()
                .map(|e| e.to_string());
            let core = serde_json::from_str::<Selector>(selector)
                .err()
                .map(|e| e.to_string());
            assert!(ours.is_some(), "{selector}");
            assert_eq!(ours, core, "{selector}");
        }
        for trigger in [
            r#"{"requestedMessage": "Heartbeat", "wait": true}"#,
            r#"{}"#,
            r#"{"requestedMessage": "Heartbeat", "evse": {"id": "x"}}"#,
            r#"{"requestedMessage": "Heartbeat", "evse": {"id": 1, "connector": 1}}"#,
        ] {
            let ours = serde_json::from_str::<JobTriggerBody>(trigger)
                .err()
                .map(|e| e.to_string());
            let core = serde_json::from_str::<JobTrigger>(trigger)
                .err()
                .map(|e| e.to_string());
            assert!(ours.is_some(), "{trigger}");
            assert_eq!(ours, core, "{trigger}");
        }
    }
}
