//! Planning a caller's trigger request into the OCPP call a station's version needs, and
//! what to wait for afterwards. Every refusal here happens before anything is sent.
//!
//! Targets: `evse` is the 2.x form, `connectorId` the 1.6 form; either is accepted for
//! either family where the meaning is the same (a 1.6 connector is an independently
//! operated outlet, i.e. a one-connector EVSE), refused where it is not. 2.0.1 and 2.1 are
//! planned alike; 2.1 adds `SignV2G20Certificate` and `CustomTrigger` (with its
//! `customTrigger` name), which no older version can express.

use std::time::Duration;

use ocpp_rpc::trigger::{Expectation, Scope, TargetKey};
use ocpp_rpc::{Family, ProtocolVersion};
use ocpp_types::{v16, v21, v201};
use serde_json::Value;

use crate::state::StationState;

/// A caller's trigger request, already read from JSON (serialized when a cluster node asks
/// the station's node to run it).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerRequest {
    /// The message the caller wants.
    pub requested_message: String,
    /// 2.x-style target.
    pub evse: Option<EvseTarget>,
    /// 1.6-style target.
    pub connector_id: Option<i64>,
    /// With `CustomTrigger` (2.1 only): the vendor trigger's name.
    pub custom_trigger: Option<String>,
}

/// A 2.x `EVSEType` as the caller wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvseTarget {
    /// EVSE id (> 0).
    pub id: i64,
    /// Connector within the EVSE.
    pub connector_id: Option<i64>,
}

/// Names of the same message in the two families: (OCPP 1.6 name, OCPP 2.x name).
/// A caller may use either name with a station of either version.
pub const VOCABULARY: &[(&str, &str)] = &[
    ("DiagnosticsStatusNotification", "LogStatusNotification"),
    (
        "SignChargePointCertificate",
        "SignChargingStationCertificate",
    ),
];

/// 2.0.1 messages that 1.6 (even with the security extension) has no equivalent for, and
/// what a caller can do instead.
pub const NO_V16_EQUIVALENT: &[(&str, &str)] = &[
    (
        "TransactionEvent",
        "OCPP 1.6 has no transaction snapshot message; trigger MeterValues with the transaction's connectorId for its meter values",
    ),
    (
        "SignV2GCertificate",
        "OCPP 1.6 has no ISO 15118 (V2G) certificates; only SignChargePointCertificate exists",
    ),
    (
        "SignCombinedCertificate",
        "OCPP 1.6 has no ISO 15118 (V2G) certificates; only SignChargePointCertificate exists",
    ),
    (
        "PublishFirmwareStatusNotification",
        "OCPP 1.6 has no local firmware publishing (that is a 2.0.1 local controller feature)",
    ),
];

/// 2.1 messages that older versions have no equivalent for, and why.
pub const ONLY_IN_V21: &[(&str, &str)] = &[
    (
        "SignV2G20Certificate",
        "ISO 15118-20 certificates are new in OCPP 2.1",
    ),
    (
        "CustomTrigger",
        "vendor-defined custom triggers are new in OCPP 2.1 (F06.FR.20)",
    ),
];

/// The requestedMessage that carries a `customTrigger` name.
pub const CUSTOM_TRIGGER: &str = "CustomTrigger";

/// The longest `customTrigger` (TriggerMessageRequest of 2.1: string, maxLength 50).
pub const CUSTOM_TRIGGER_MAX: usize = 50;

/// The name a station of `version` knows for `requested`, and a note when it differs;
/// or why there is none.
pub fn translate(
    version: ProtocolVersion,
    requested: &str,
) -> Result<(&str, Option<String>), PlanError> {
    let native = valid_messages(version).contains(&requested);
    if native {
        return Ok((requested, None));
    }
    let other = match version.family() {
        Family::V16 => VOCABULARY
            .iter()
            .find(|(_, v2)| *v2 == requested)
            .map(|(v16, _)| *v16),
        Family::V2 => VOCABULARY
            .iter()
            .find(|(v16, _)| *v16 == requested)
            .map(|(_, v2)| *v2),
    };
    if let Some(name) = other {
        return Ok((
            name,
            Some(format!(
                "{requested} is called {name} in {version}; sent as {name}"
            )),
        ));
    }
    if version.family() == Family::V16
        && let Some((_, why)) = NO_V16_EQUIVALENT.iter().find(|(m, _)| *m == requested)
    {
        return Err(bad(
            "no_equivalent",
            format!("requestedMessage {requested:?} has no OCPP 1.6 equivalent: {why}"),
        ));
    }
    if let Some((_, why)) = ONLY_IN_V21.iter().find(|(m, _)| *m == requested) {
        return Err(bad(
            "no_equivalent",
            format!(
                "requestedMessage {requested:?} exists only in OCPP 2.1: {why}; this station speaks {version}"
            ),
        ));
    }
    Ok((requested, None))
}

/// What to send and what to wait for.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerPlan {
    /// `TriggerMessage`, or `ExtendedTriggerMessage` for a 1.6 security-extension message.
    pub action: &'static str,
    /// The request payload, in the station's version.
    pub payload: Value,
    /// The station CALL(s) that answer it.
    pub expectation: Expectation,
    /// Set when the caller's name or target was translated for the station's version.
    pub note: Option<String>,
}

/// Why a trigger request cannot be sent; becomes a 400 whose message says what would be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    /// A stable machine-readable code.
    pub code: &'static str,
    /// What was wrong and what would be right.
    pub message: String,
}

/// Every code a [`PlanError`] may carry.
pub const PLAN_CODES: [&str; 11] = [
    "internal",
    "invalid_target",
    "conflicting_target",
    "invalid_custom_trigger",
    "missing_connector_id",
    "missing_custom_trigger",
    "missing_evse",
    "no_equivalent",
    "unexpected_custom_trigger",
    "unknown_requested_message",
    "untranslatable_target",
];

/// A plan error's code read back (from another cluster node's answer) as the one constant
/// it is; a code this version does not know reads as `internal`.
pub fn stable_code(code: &str) -> &'static str {
    PLAN_CODES
        .into_iter()
        .find(|c| *c == code)
        .unwrap_or("internal")
}

fn bad(code: &'static str, message: impl Into<String>) -> PlanError {
    PlanError {
        code,
        message: message.into(),
    }
}

/// How long an open-ended "every connector" trigger waits after the last message when the
/// station's layout is unknown.
pub const QUIET_PERIOD: Duration = Duration::from_millis(750);

/// The requestedMessage values a version accepts, for error messages and discovery.
pub fn valid_messages(version: ProtocolVersion) -> Vec<&'static str> {
    match version {
        ProtocolVersion::V21 => v21::MessageTriggerEnumType::ALL
            .iter()
            .map(|m| m.as_str())
            .collect(),
        ProtocolVersion::V16 => {
            let mut all: Vec<&str> = v16::MessageTrigger::ALL
                .iter()
                .map(|m| m.as_str())
                .collect();
            for m in v16::MessageTriggerEnumType::ALL {
                if !all.contains(&m.as_str()) {
                    all.push(m.as_str());
                }
            }
            all
        }
        ProtocolVersion::V201 => v201::MessageTriggerEnumType::ALL
            .iter()
            .map(|m| m.as_str())
            .collect(),
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(Value::String(name.to_owned())).ok()
}

fn to_i32(n: i64, what: &str) -> Result<i32, PlanError> {
    i32::try_from(n).map_err(|_| bad("invalid_target", format!("{what} {n} is out of range")))
}

/// Plans `request` as the OCPP calls it needs, sent one after another: one, except for a
/// 2.x StatusNotification without a target on a station with several connectors, which
/// F06.FR.13 makes one TriggerMessage per connector.
pub fn plan_all(
    version: ProtocolVersion,
    request: &TriggerRequest,
    station: &StationState,
) -> Result<Vec<TriggerPlan>, PlanError> {
    check_custom_trigger(request)?;
    let (name, _) = translate(version, &request.requested_message)?;
    let untargeted = request.evse.is_none() && request.connector_id.is_none();
    if version.is_v2() && name == "StatusNotification" && untargeted {
        let layout: Vec<(i64, i64)> = station
            .connectors
            .iter()
            .filter_map(|c| Some((c.evse_id?, c.connector_id)))
            .filter(|(e, _)| *e > 0)
            .collect();
        if layout.len() > 1 {
            return layout
                .into_iter()
                .map(|(id, connector)| {
                    let one = TriggerRequest {
                        evse: Some(EvseTarget {
                            id,
                            connector_id: Some(connector),
                        }),
                        ..request.clone()
                    };
                    plan(version, &one, station).map(|mut p| {
                        p.note = Some(format!(
                            "OCPP 2.x triggers StatusNotification per connector (F06.FR.13): one TriggerMessage for each known connector, this one for EVSE {id} connector {connector}"
                        ));
                        p
                    })
                })
                .collect();
        }
    }
    plan(version, request, station).map(|p| vec![p])
}

/// `customTrigger` goes with `CustomTrigger` and only with it, whatever the version: these
/// refusals need no station, so a fleet job is refused at once too.
fn check_custom_trigger(request: &TriggerRequest) -> Result<(), PlanError> {
    let custom = request.requested_message == CUSTOM_TRIGGER;
    match request.custom_trigger.as_deref() {
        Some(_) if !custom => Err(bad(
            "unexpected_custom_trigger",
            format!(
                "customTrigger is sent only with requestedMessage \"CustomTrigger\" (OCPP 2.1), not with {:?}; remove it, or ask for \"CustomTrigger\"",
                request.requested_message
            ),
        )),
        None if custom => Err(bad(
            "missing_custom_trigger",
            "requestedMessage \"CustomTrigger\" needs \"customTrigger\": the name of a vendor trigger the station lists in CustomizationCtrl.CustomTriggers (F06.FR.20), e.g. {\"requestedMessage\": \"CustomTrigger\", \"customTrigger\": \"com.vendor.diagnostics\"}",
        )),
        Some(name) if name.is_empty() || name.chars().count() > CUSTOM_TRIGGER_MAX => Err(bad(
            "invalid_custom_trigger",
            format!(
                "customTrigger must be 1 to {CUSTOM_TRIGGER_MAX} characters, got {}",
                name.chars().count()
            ),
        )),
        _ => Ok(()),
    }
}

/// The ExtendedTriggerMessage to try after a 1.6 station answered NotImplemented to
/// `plan`, where the security extension has the same message with the same meaning
/// (BootNotification, Heartbeat, MeterValues, StatusNotification) and the target is one it
/// allows (connectorId > 0 or none): many stations implement only one of the two calls.
pub fn extended_retry(version: ProtocolVersion, plan: &TriggerPlan) -> Option<TriggerPlan> {
    use v16::MessageTriggerEnumType as E;
    if version.family() != Family::V16 || plan.action != "TriggerMessage" {
        return None;
    }
    let name = plan.payload.get("requestedMessage")?.as_str()?;
    let same = [
        E::BootNotification,
        E::Heartbeat,
        E::MeterValues,
        E::StatusNotification,
    ];
    if !same.iter().any(|m| m.as_str() == name)
        || plan.payload.get("connectorId").and_then(Value::as_i64) == Some(0)
    {
        return None;
    }
    Some(TriggerPlan {
        action: "ExtendedTriggerMessage",
        payload: plan.payload.clone(),
        expectation: plan.expectation.clone(),
        note: Some(
            "the station answered NotImplemented to TriggerMessage; retried with the security extension's ExtendedTriggerMessage".into(),
        ),
    })
}

/// Plans `request` for a station of `version` whose known state is `station`.
pub fn plan(
    version: ProtocolVersion,
    request: &TriggerRequest,
    station: &StationState,
) -> Result<TriggerPlan, PlanError> {
    check_custom_trigger(request)?;
    let (name, note) = translate(version, &request.requested_message)?;
    let translated;
    let request = if note.is_some() {
        translated = TriggerRequest {
            requested_message: name.to_owned(),
            ..request.clone()
        };
        &translated
    } else {
        request
    };
    if let Some(c) = request.connector_id
        && c < 0
    {
        return Err(bad(
            "invalid_target",
            format!("connectorId must be 0 or more, got {c}"),
        ));
    }
    if let Some(e) = request.evse {
        if e.id <= 0 {
            return Err(bad(
                "invalid_target",
                format!("evse.id must be greater than 0, got {}", e.id),
            ));
        }
        if e.connector_id.is_some_and(|c| c <= 0) {
            return Err(bad(
                "invalid_target",
                "evse.connectorId must be greater than 0",
            ));
        }
    }
    let planned = match version.family() {
        Family::V16 => plan_v16(request, station),
        Family::V2 => plan_v2(version, request, station),
    };
    planned.map(|mut p| {
        p.note = note.or(p.note);
        p
    })
}

fn unknown_message(version: ProtocolVersion, name: &str) -> PlanError {
    bad(
        "unknown_requested_message",
        format!(
            "requestedMessage {name:?} does not exist in {version}; valid values for this station are: {}",
            valid_messages(version).join(", ")
        ),
    )
}

/// 1.6 has only connectors: an EVSE target maps to the connector with the EVSE's number.
fn v16_connector(request: &TriggerRequest) -> Result<Option<i64>, PlanError> {
    let from_evse = match request.evse {
        None => None,
        Some(EvseTarget {
            id,
            connector_id: None | Some(1),
        }) => Some(id),
        Some(EvseTarget {
            id,
            connector_id: Some(c),
        }) => {
            return Err(bad(
                "untranslatable_target",
                format!(
                    "this station speaks OCPP 1.6, which has no EVSEs with several connectors; evse {{id: {id}, connectorId: {c}}} has no 1.6 equivalent: send \"connectorId\" with the station's connector number instead"
                ),
            ));
        }
    };
    match (request.connector_id, from_evse) {
        (Some(a), Some(b)) if a != b => Err(bad(
            "conflicting_target",
            format!("connectorId {a} and evse.id {b} name different connectors; send one of them"),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

fn plan_v16(request: &TriggerRequest, station: &StationState) -> Result<TriggerPlan, PlanError> {
    let name = request.requested_message.as_str();
    let connector = v16_connector(request)?;
    let connector_i32 = connector.map(|c| to_i32(c, "connectorId")).transpose()?;
    let (action, payload, expected_action) =
        if let Some(m) = parse_enum::<v16::MessageTrigger>(name) {
            let payload = serde_json::to_value(v16::TriggerMessageRequest {
                requested_message: m,
                connector_id: connector_i32,
            });
            ("TriggerMessage", payload, m.as_str())
        } else if let Some(m) = parse_enum::<v16::MessageTriggerEnumType>(name) {
            if connector == Some(0) {
                return Err(bad(
                    "invalid_target",
                    "ExtendedTriggerMessage needs connectorId > 0 (or none)",
                ));
            }
            let payload = serde_json::to_value(v16::ExtendedTriggerMessageRequest {
                requested_message: m,
                connector_id: connector_i32,
            });
            let expected = match m {
                v16::MessageTriggerEnumType::FirmwareStatusNotification => {
                    "SignedFirmwareStatusNotification"
                }
                v16::MessageTriggerEnumType::SignChargePointCertificate => "SignCertificate",
                other => other.as_str(),
            };
            ("ExtendedTriggerMessage", payload, expected)
        } else {
            return Err(unknown_message(ProtocolVersion::V16, name));
        };
    let payload = payload.map_err(|e| bad("internal", e.to_string()))?;
    let scope = match (expected_action, connector) {
        ("StatusNotification" | "MeterValues", Some(c)) => Scope::Target(TargetKey::of(c)),
        // 1.6 §5.17: no connectorId means "for all allowed connectorId values"; for
        // StatusNotification that includes connector 0, the Charge Point itself.
        ("StatusNotification", None) => Scope::All(
            station
                .known_targets()
                .into_iter()
                .map(TargetKey::of)
                .collect(),
        ),
        ("MeterValues", None) => Scope::All(
            station
                .known_targets()
                .into_iter()
                .filter(|c| *c > 0)
                .map(TargetKey::of)
                .collect(),
        ),
        _ => Scope::One,
    };
    Ok(TriggerPlan {
        action,
        payload,
        expectation: Expectation {
            action: expected_action,
            scope,
        },
        note: None,
    })
}

fn layout(station: &StationState) -> String {
    let pairs: Vec<String> = station
        .connectors
        .iter()
        .filter_map(|c| {
            c.evse_id
                .map(|e| format!("{{\"id\": {e}, \"connectorId\": {}}}", c.connector_id))
        })
        .collect();
    if pairs.is_empty() {
        "the station has not reported any connector yet".into()
    } else {
        format!("known connectors: {}", pairs.join(", "))
    }
}

/// Plans a 2.x trigger. The 2.1 vocabulary is a superset of 2.0.1's, so a name is read as
/// a 2.1 value once the station's version is known to have it, and the payload is then
/// built with the station's own version's types.
fn plan_v2(
    version: ProtocolVersion,
    request: &TriggerRequest,
    station: &StationState,
) -> Result<TriggerPlan, PlanError> {
    let name = request.requested_message.as_str();
    let message = valid_messages(version)
        .contains(&name)
        .then(|| parse_enum::<v21::MessageTriggerEnumType>(name))
        .flatten()
        .ok_or_else(|| unknown_message(version, name))?;
    use v21::MessageTriggerEnumType as M;
    let targeted = matches!(
        message,
        M::StatusNotification | M::MeterValues | M::TransactionEvent
    );
    let mut evse = match (request.evse, request.connector_id) {
        (Some(e), Some(c)) if c != e.id => {
            return Err(bad(
                "conflicting_target",
                format!(
                    "connectorId {c} and evse.id {} name different EVSEs; send one of them",
                    e.id
                ),
            ));
        }
        (Some(e), _) => Some(e),
        (None, Some(0)) if targeted => {
            return Err(bad(
                "untranslatable_target",
                "connectorId 0 (the whole charge point in OCPP 1.6) has no OCPP 2.x trigger equivalent; omit the target to trigger every EVSE",
            ));
        }
        (None, Some(0)) => None,
        // A 1.6 connector is an EVSE of one connector.
        (None, Some(c)) => Some(EvseTarget {
            id: c,
            connector_id: None,
        }),
        (None, None) => None,
    };
    if message == M::StatusNotification {
        // F06.FR.13: the CSMS SHALL include evse with connectorId; fill it in where the
        // known layout leaves exactly one choice.
        evse = Some(match evse {
            Some(
                e @ EvseTarget {
                    connector_id: Some(_),
                    ..
                },
            ) => e,
            Some(EvseTarget {
                id,
                connector_id: None,
            }) => match station.connectors_of_evse(id).as_slice() {
                [only] => EvseTarget {
                    id,
                    connector_id: Some(*only),
                },
                _ => {
                    return Err(bad(
                        "missing_connector_id",
                        format!(
                            "a 2.x StatusNotification trigger must name the connector (F06.FR.13): add \"evse\": {{\"id\": {id}, \"connectorId\": N}}; {}",
                            layout(station)
                        ),
                    ));
                }
            },
            None => {
                let all: Vec<_> = station
                    .connectors
                    .iter()
                    .filter_map(|c| Some((c.evse_id?, c.connector_id)))
                    .collect();
                match all.as_slice() {
                    [(id, c)] => EvseTarget {
                        id: *id,
                        connector_id: Some(*c),
                    },
                    _ => {
                        return Err(bad(
                            "missing_evse",
                            format!(
                                "a 2.x StatusNotification trigger must name one connector (F06.FR.13): add \"evse\": {{\"id\": N, \"connectorId\": M}}; {}",
                                layout(station)
                            ),
                        ));
                    }
                }
            }
        });
    }
    let evse_type = evse
        .map(|e| -> Result<_, PlanError> {
            Ok(v201::EVSEType {
                custom_data: None,
                id: to_i32(e.id, "evse.id")?,
                connector_id: e
                    .connector_id
                    .map(|c| to_i32(c, "evse.connectorId"))
                    .transpose()?,
            })
        })
        .transpose()?;
    let payload = match version {
        ProtocolVersion::V21 => serde_json::to_value(v21::TriggerMessageRequest {
            custom_data: None,
            evse: evse_type,
            requested_message: message,
            custom_trigger: request.custom_trigger.clone(),
        }),
        _ => {
            let message = parse_enum::<v201::MessageTriggerEnumType>(message.as_str())
                .ok_or_else(|| unknown_message(version, name))?;
            serde_json::to_value(v201::TriggerMessageRequest {
                custom_data: None,
                evse: evse_type,
                requested_message: message,
            })
        }
    }
    .map_err(|e| bad("internal", e.to_string()))?;
    let expected_action = match message {
        M::SignChargingStationCertificate
        | M::SignV2GCertificate
        | M::SignV2G20Certificate
        | M::SignCombinedCertificate => "SignCertificate",
        other => other.as_str(),
    };
    let mut note = None;
    let scope = match (message, evse) {
        (M::CustomTrigger, _) => {
            note = Some(format!(
                "CustomTrigger {:?} asks for a vendor-defined message that OCPP does not name, so no station message can be told to answer it: the trigger ends with the station's answer and claims no message (what the station sends next is in the journal)",
                request.custom_trigger.as_deref().unwrap_or_default()
            ));
            Scope::AnswerOnly
        }
        (M::StatusNotification, Some(e)) => Scope::Target(TargetKey {
            id: e.id,
            connector: e.connector_id,
        }),
        (M::MeterValues | M::TransactionEvent, Some(e)) => Scope::Target(TargetKey::of(e.id)),
        (M::MeterValues, None) => Scope::All(
            station
                .known_targets()
                .into_iter()
                .filter(|e| *e > 0)
                .map(TargetKey::of)
                .collect(),
        ),
        // F06.FR.07: one `Updated` event per running transaction, matched by its id (only
        // a transaction's first event must name its EVSE).
        (M::TransactionEvent, None) => Scope::Transactions(
            station
                .transactions
                .iter()
                .map(|t| t.transaction_id.clone())
                .collect(),
        ),
        _ => Scope::One,
    };
    Ok(TriggerPlan {
        action: "TriggerMessage",
        payload,
        expectation: Expectation {
            action: expected_action,
            scope,
        },
        note,
    })
}

#[cfg(test)]
mod plan_code_tests {
    #[test]
    fn every_code_the_planner_gives_reads_back_as_itself() {
        let source = include_str!("trigger_plan.rs");
        let mut found = 0;
        for piece in source.split("bad(").skip(1) {
            let Some(code) = piece
                .trim_start()
                .strip_prefix('"')
                .and_then(|r| r.split('"').next())
            else {
                continue;
            };
            if code.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !code.is_empty() {
                assert_eq!(
                    super::stable_code(code),
                    code,
                    "{code} is missing from PLAN_CODES"
                );
                found += 1;
            }
        }
        assert!(found >= 10, "found {found} codes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolVersion::*;
    use ocpp_rpc::{PayloadKind, SchemaRegistry};
    use serde_json::json;

    fn req(m: &str) -> TriggerRequest {
        TriggerRequest {
            requested_message: m.into(),
            ..TriggerRequest::default()
        }
    }

    fn station_16() -> StationState {
        let mut s = StationState::new("CP");
        for c in [0, 1, 2] {
            s.apply(
                "StatusNotification",
                &json!({"connectorId": c, "errorCode": "NoError", "status": "Available"}),
                &json!({}),
                1,
            );
        }
        s
    }

    fn station_201(layout: &[(i64, i64)]) -> StationState {
        let mut s = StationState::new("CS");
        for (e, c) in layout {
            s.apply("StatusNotification", &json!({"evseId": e, "connectorId": c, "connectorStatus": "Available", "timestamp": "2025-01-01T00:00:00Z"}), &json!({}), 1);
        }
        s
    }

    #[test]
    fn every_planned_payload_validates_against_the_official_schema() {
        let registry = SchemaRegistry::load().expect("schemas");
        for version in ProtocolVersion::ALL {
            for m in valid_messages(version) {
                let station = if version == V16 {
                    station_16()
                } else {
                    station_201(&[(1, 1)])
                };
                let mut request = req(m);
                if m == CUSTOM_TRIGGER {
                    request.custom_trigger = Some("com.vendor.selftest".into());
                }
                let plan = plan(version, &request, &station)
                    .unwrap_or_else(|e| panic!("{version} {m}: {e}"));
                registry
                    .validate(version, plan.action, PayloadKind::Request, &plan.payload)
                    .unwrap_or_else(|e| panic!("{version} {m}: {e}"));
            }
        }
    }

    #[test]
    fn unknown_message_is_refused_with_the_valid_list() {
        let err = plan(V16, &req("StatusReport"), &station_16()).expect_err("not in 1.6");
        assert_eq!(err.code, "unknown_requested_message");
        assert!(
            err.message.contains("DiagnosticsStatusNotification")
                && err.message.contains("SignChargePointCertificate")
        );
        let err = plan(V201, &req("StatusReport"), &station_201(&[])).expect_err("not in 2.0.1");
        assert!(err.message.contains("LogStatusNotification"));
    }

    #[test]
    fn either_versions_name_works_where_the_meaning_is_the_same() {
        let p = plan(
            V201,
            &req("DiagnosticsStatusNotification"),
            &station_201(&[]),
        )
        .expect("translated");
        assert_eq!(
            p.payload,
            json!({"requestedMessage": "LogStatusNotification"})
        );
        assert!(
            p.note
                .as_deref()
                .is_some_and(|n| n.contains("LogStatusNotification"))
        );
        let p =
            plan(V16, &req("SignChargingStationCertificate"), &station_16()).expect("translated");
        assert_eq!(p.action, "ExtendedTriggerMessage");
        assert_eq!(
            p.payload,
            json!({"requestedMessage": "SignChargePointCertificate"})
        );
        assert_eq!(p.expectation.action, "SignCertificate");
        let p =
            plan(V201, &req("SignChargePointCertificate"), &station_201(&[])).expect("translated");
        assert_eq!(
            p.payload,
            json!({"requestedMessage": "SignChargingStationCertificate"})
        );
        let p = plan(V16, &req("Heartbeat"), &station_16()).expect("native");
        assert_eq!(p.note, None);
    }

    #[test]
    fn a_16_not_implemented_is_retried_as_extended_only_where_it_means_the_same() {
        let registry = SchemaRegistry::load().expect("schemas");
        let p = plan(V16, &req("Heartbeat"), &station_16()).expect("plan");
        let retry = extended_retry(V16, &p).expect("the extension has Heartbeat");
        assert_eq!(retry.action, "ExtendedTriggerMessage");
        registry
            .validate(V16, retry.action, PayloadKind::Request, &retry.payload)
            .expect("a valid ExtendedTriggerMessage");
        let mut r = req("StatusNotification");
        r.connector_id = Some(0);
        let p = plan(V16, &r, &station_16()).expect("plan");
        assert_eq!(
            extended_retry(V16, &p),
            None,
            "the extension has no connector 0"
        );
        let p = plan(V16, &req("DiagnosticsStatusNotification"), &station_16()).expect("plan");
        assert_eq!(extended_retry(V16, &p), None, "not the same message there");
        let p = plan(V201, &req("Heartbeat"), &station_201(&[])).expect("plan");
        assert_eq!(extended_retry(V201, &p), None);
    }

    #[test]
    fn messages_without_a_16_equivalent_are_refused_with_the_reason() {
        for m in [
            "TransactionEvent",
            "SignV2GCertificate",
            "SignCombinedCertificate",
            "PublishFirmwareStatusNotification",
        ] {
            let err = plan(V16, &req(m), &station_16()).expect_err(m);
            assert_eq!(err.code, "no_equivalent", "{m}");
            assert!(err.message.contains("1.6"), "{}", err.message);
        }
    }

    #[test]
    fn v201_status_for_every_connector_fans_out_one_trigger_per_connector_f06_fr_13() {
        let station = station_201(&[(1, 1), (2, 1), (2, 2)]);
        let plans = plan_all(V201, &req("StatusNotification"), &station).expect("fan-out");
        let evses: Vec<Value> = plans.iter().map(|p| p.payload["evse"].clone()).collect();
        assert_eq!(
            evses,
            vec![
                json!({"id": 1, "connectorId": 1}),
                json!({"id": 2, "connectorId": 1}),
                json!({"id": 2, "connectorId": 2})
            ]
        );
        assert!(
            plans
                .iter()
                .all(|p| matches!(p.expectation.scope, Scope::Target(_)))
        );
        let one = plan_all(V201, &req("StatusNotification"), &station_201(&[(1, 1)])).expect("one");
        assert_eq!(one.len(), 1);
        assert_eq!(
            plan_all(V16, &req("StatusNotification"), &station_16())
                .expect("1.6 has the all-connectors form")
                .len(),
            1
        );
    }

    #[test]
    fn v16_status_without_connector_waits_for_connector_0_and_every_connector_5_17() {
        let p = plan(V16, &req("StatusNotification"), &station_16()).expect("plan");
        assert_eq!(p.payload, json!({"requestedMessage": "StatusNotification"}));
        assert_eq!(
            p.expectation.scope,
            Scope::All([0, 1, 2].into_iter().map(TargetKey::of).collect())
        );
        let p = plan(V16, &req("MeterValues"), &station_16()).expect("plan");
        assert_eq!(
            p.expectation.scope,
            Scope::All([1, 2].into_iter().map(TargetKey::of).collect())
        );
    }

    #[test]
    fn v16_security_extension_messages_use_extended_trigger_message() {
        let p = plan(V16, &req("LogStatusNotification"), &station_16()).expect("plan");
        assert_eq!(
            (p.action, p.expectation.action),
            ("ExtendedTriggerMessage", "LogStatusNotification")
        );
        let p = plan(V16, &req("SignChargePointCertificate"), &station_16()).expect("plan");
        assert_eq!(p.expectation.action, "SignCertificate");
        let p = plan(V16, &req("FirmwareStatusNotification"), &station_16()).expect("plan");
        assert_eq!(
            p.action, "TriggerMessage",
            "the core message wins where both have it"
        );
    }

    #[test]
    fn evse_target_translates_to_a_16_connector_where_meaningful() {
        let mut r = req("StatusNotification");
        r.evse = Some(EvseTarget {
            id: 2,
            connector_id: None,
        });
        let p = plan(V16, &r, &station_16()).expect("plan");
        assert_eq!(
            p.payload,
            json!({"requestedMessage": "StatusNotification", "connectorId": 2})
        );
        r.evse = Some(EvseTarget {
            id: 2,
            connector_id: Some(2),
        });
        assert_eq!(
            plan(V16, &r, &station_16())
                .expect_err("no 1.6 equivalent")
                .code,
            "untranslatable_target"
        );
        r.evse = Some(EvseTarget {
            id: 2,
            connector_id: None,
        });
        r.connector_id = Some(1);
        assert_eq!(
            plan(V16, &r, &station_16()).expect_err("conflict").code,
            "conflicting_target"
        );
    }

    #[test]
    fn v201_status_fills_the_connector_when_unambiguous_f06_fr_13() {
        let p = plan(V201, &req("StatusNotification"), &station_201(&[(1, 1)]))
            .expect("single connector");
        assert_eq!(
            p.payload,
            json!({"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}})
        );
        let mut r = req("StatusNotification");
        r.connector_id = Some(2);
        let p = plan(V201, &r, &station_201(&[(1, 1), (2, 1)])).expect("1.6-style target");
        assert_eq!(p.payload["evse"], json!({"id": 2, "connectorId": 1}));
        let err = plan(
            V201,
            &req("StatusNotification"),
            &station_201(&[(1, 1), (2, 1)]),
        )
        .expect_err("ambiguous");
        assert_eq!(err.code, "missing_evse");
        assert!(
            err.message.contains("\"connectorId\": 1"),
            "{}",
            err.message
        );
        let mut r = req("StatusNotification");
        r.evse = Some(EvseTarget {
            id: 1,
            connector_id: None,
        });
        assert_eq!(
            plan(V201, &r, &station_201(&[(1, 1), (1, 2)]))
                .expect_err("two connectors")
                .code,
            "missing_connector_id"
        );
    }

    #[test]
    fn v201_certificate_triggers_expect_sign_certificate() {
        for m in [
            "SignChargingStationCertificate",
            "SignV2GCertificate",
            "SignCombinedCertificate",
        ] {
            assert_eq!(
                plan(V201, &req(m), &station_201(&[]))
                    .expect("plan")
                    .expectation
                    .action,
                "SignCertificate"
            );
        }
    }

    fn custom(name: &str) -> TriggerRequest {
        TriggerRequest {
            custom_trigger: Some(name.into()),
            ..req(CUSTOM_TRIGGER)
        }
    }

    #[test]
    fn v21_custom_trigger_carries_its_name_and_ends_with_the_answer() {
        let registry = SchemaRegistry::load().expect("schemas");
        let p = plan(
            V21,
            &custom("com.vendor.diagnostics"),
            &station_201(&[(1, 1)]),
        )
        .expect("2.1 has CustomTrigger");
        assert_eq!(
            p.payload,
            json!({"requestedMessage": "CustomTrigger", "customTrigger": "com.vendor.diagnostics"})
        );
        assert_eq!(p.expectation.scope, Scope::AnswerOnly);
        assert!(
            p.note
                .as_deref()
                .is_some_and(|n| n.contains("vendor-defined")),
            "{:?}",
            p.note
        );
        registry
            .validate(V21, p.action, PayloadKind::Request, &p.payload)
            .expect("valid 2.1 TriggerMessage");
    }

    #[test]
    fn custom_trigger_and_its_name_go_together_in_every_version() {
        for version in ProtocolVersion::ALL {
            let station = station_201(&[(1, 1)]);
            let err = plan_all(version, &req(CUSTOM_TRIGGER), &station).expect_err("no name");
            assert_eq!(err.code, "missing_custom_trigger", "{version}");
            assert!(err.message.contains("customTrigger"), "{}", err.message);
            let mut r = req("Heartbeat");
            r.custom_trigger = Some("x".into());
            let err = plan_all(version, &r, &station).expect_err("name without CustomTrigger");
            assert_eq!(err.code, "unexpected_custom_trigger", "{version}");
            for bad_name in [String::new(), "x".repeat(CUSTOM_TRIGGER_MAX + 1)] {
                let err = plan_all(version, &custom(&bad_name), &station).expect_err("length");
                assert_eq!(err.code, "invalid_custom_trigger", "{version}");
            }
        }
        assert!(
            plan_all(
                V21,
                &custom(&"x".repeat(CUSTOM_TRIGGER_MAX)),
                &station_201(&[])
            )
            .is_ok()
        );
    }

    #[test]
    fn messages_new_in_21_are_refused_for_older_versions_with_the_reason() {
        for version in [V16, V201] {
            for r in [custom("com.vendor.x"), req("SignV2G20Certificate")] {
                let err = plan(version, &r, &station_16()).expect_err("2.1 only");
                assert_eq!(
                    err.code, "no_equivalent",
                    "{version} {}",
                    r.requested_message
                );
                assert!(err.message.contains("2.1"), "{}", err.message);
            }
        }
    }

    #[test]
    fn v21_plans_the_messages_it_shares_with_201_exactly_as_201() {
        let station = station_201(&[(1, 1), (2, 1), (2, 2)]);
        for m in valid_messages(V201) {
            let mut r = req(m);
            if m == "StatusNotification" || m == "MeterValues" {
                r.evse = Some(EvseTarget {
                    id: 2,
                    connector_id: Some(2),
                });
            }
            assert_eq!(
                plan_all(V21, &r, &station),
                plan_all(V201, &r, &station),
                "{m}"
            );
        }
        assert_eq!(
            plan_all(V21, &req("StatusNotification"), &station)
                .expect("fan-out")
                .len(),
            3,
            "F06.FR.13 holds in 2.1"
        );
        let p = plan(V21, &req("SignV2G20Certificate"), &station).expect("2.1 value");
        assert_eq!(p.expectation.action, "SignCertificate");
        assert_eq!(
            plan(V21, &req("Heartbeat"), &station_201(&[])).map(|p| p.note),
            Ok(None)
        );
        assert_eq!(
            plan(V21, &req("DiagnosticsStatusNotification"), &station)
                .expect("translated")
                .payload,
            json!({"requestedMessage": "LogStatusNotification"})
        );
    }

    #[test]
    fn negative_or_zero_targets_are_refused() {
        let mut r = req("MeterValues");
        r.connector_id = Some(-1);
        assert_eq!(
            plan(V16, &r, &station_16()).expect_err("negative").code,
            "invalid_target"
        );
        let mut r = req("MeterValues");
        r.evse = Some(EvseTarget {
            id: 0,
            connector_id: None,
        });
        assert_eq!(
            plan(V201, &r, &station_201(&[]))
                .expect_err("zero evse")
                .code,
            "invalid_target"
        );
        let mut r = req("MeterValues");
        r.connector_id = Some(0);
        assert_eq!(
            plan(V201, &r, &station_201(&[]))
                .expect_err("no 2.0.1 equivalent")
                .code,
            "untranslatable_target"
        );
    }
}
