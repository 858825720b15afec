//! The typed station operations (Reset, ChangeAvailability, UnlockConnector, ClearCache):
//! one vocabulary for callers, translated here into the CALL of the station's version, or
//! refused with the field and the values that version can say. Plain values in, a planned
//! CALL out; the binary sends it like any other CSMS call (schema-checked, recorded).
//!
//! Targets follow the trigger planner's rule: a 1.6 connector is an EVSE of one connector,
//! so `connectorId` alone is the 1.6 form (0: the whole station) and `evseId` (with a
//! `connectorId` inside it) the 2.x form; each is accepted for the other family where the
//! meaning is the same.
//!
//! Reset types: 2.x `Immediate` resets now, ending transactions first (B11/B12), which is
//! what 1.6 `Soft` does (stop transactions gracefully, then restart); 2.x has no
//! hardware/software distinction, so 1.6 `Hard` and `Soft` are both said `Immediate`
//! there. 2.x `OnIdle` (wait for transactions to end) and 2.1 `ImmediateAndResume` have no
//! 1.6 equivalent.

use ocpp_rpc::{Family, ProtocolVersion};
use serde_json::{Map, Value, json};

/// An operation as a caller asks for it, in the one vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationOp {
    /// Restart the station (or, in 2.x, one EVSE).
    Reset {
        /// `Hard`, `Soft`, `Immediate`, `OnIdle` or (2.1) `ImmediateAndResume`.
        kind: String,
        /// 2.x only: the EVSE to reset instead of the whole station.
        evse_id: Option<i64>,
    },
    /// Make the station, an EVSE or a connector (in)operative.
    ChangeAvailability {
        /// Operative (true) or Inoperative (false).
        operative: bool,
        /// Without `evse_id`: a 1.6 connector (0 = the whole station). With it: the
        /// connector within that EVSE.
        connector_id: Option<i64>,
        /// A 2.x EVSE.
        evse_id: Option<i64>,
    },
    /// Release a connector's cable lock.
    UnlockConnector {
        /// As for ChangeAvailability (required, > 0).
        connector_id: Option<i64>,
        /// As for ChangeAvailability.
        evse_id: Option<i64>,
    },
    /// Clear the station's authorization cache.
    ClearCache,
}

/// The CALL to send.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedOp {
    /// The OCPP action.
    pub action: &'static str,
    /// Its payload in the station's version.
    pub payload: Value,
    /// How the request was translated, when it was (kept in the record and the answer).
    pub note: Option<String>,
}

/// Why an operation cannot be said in a version, or a malformed request: the API's 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// Stable code (`invalid_value`, `no_equivalent`, `missing_field`, `conflicting_fields`).
    pub code: &'static str,
    /// The body field at fault.
    pub field: &'static str,
    /// What was wrong and what would be right.
    pub message: String,
    /// The values that would be valid for the field, when it has a list of them.
    pub valid: Vec<&'static str>,
}

fn error(code: &'static str, field: &'static str, message: String) -> OpError {
    OpError {
        code,
        field,
        message,
        valid: Vec::new(),
    }
}

/// Every Reset type the vocabulary knows.
pub const RESET_TYPES: [&str; 5] = ["Hard", "Soft", "Immediate", "OnIdle", "ImmediateAndResume"];

/// The Reset types a station of `protocol` can be sent (after translation).
pub fn reset_types(protocol: ProtocolVersion) -> Vec<&'static str> {
    match protocol {
        ProtocolVersion::V16 => vec!["Hard", "Soft", "Immediate"],
        ProtocolVersion::V201 => vec!["Immediate", "OnIdle", "Hard", "Soft"],
        ProtocolVersion::V21 => vec!["Immediate", "OnIdle", "ImmediateAndResume", "Hard", "Soft"],
    }
}

/// Reads `operative` (a boolean) or `type` (`Operative` / `Inoperative`, the OCPP words);
/// exactly one is needed, or both saying the same.
pub fn availability(operative: Option<bool>, kind: Option<&str>) -> Result<bool, OpError> {
    let from_type = kind
        .map(|t| match t {
            "Operative" => Ok(true),
            "Inoperative" => Ok(false),
            other => Err(OpError {
                code: "invalid_value",
                field: "type",
                message: format!("type must be Operative or Inoperative, got {other:?}"),
                valid: vec!["Operative", "Inoperative"],
            }),
        })
        .transpose()?;
    match (operative, from_type) {
        (Some(a), Some(b)) if a != b => Err(error(
            "conflicting_fields",
            "operative",
            format!(
                "operative {a} and type {:?} disagree; send one of them",
                kind.unwrap_or_default()
            ),
        )),
        (Some(a), _) => Ok(a),
        (None, Some(b)) => Ok(b),
        (None, None) => Err(error(
            "missing_field",
            "operative",
            "say what to make it: \"operative\": true or false (or \"type\": \"Operative\" / \"Inoperative\")".into(),
        )),
    }
}

/// Translates `op` into the CALL of `protocol`.
pub fn plan(protocol: ProtocolVersion, op: &StationOp) -> Result<PlannedOp, OpError> {
    match op {
        StationOp::Reset { kind, evse_id } => reset(protocol, kind, *evse_id),
        StationOp::ChangeAvailability {
            operative,
            connector_id,
            evse_id,
        } => change_availability(protocol, *operative, *connector_id, *evse_id),
        StationOp::UnlockConnector {
            connector_id,
            evse_id,
        } => unlock(protocol, *connector_id, *evse_id),
        StationOp::ClearCache => Ok(PlannedOp {
            action: "ClearCache",
            payload: json!({}),
            note: None,
        }),
    }
}

fn reset(
    protocol: ProtocolVersion,
    kind: &str,
    evse_id: Option<i64>,
) -> Result<PlannedOp, OpError> {
    let valid = reset_types(protocol);
    let version = protocol.subprotocol();
    if !RESET_TYPES.contains(&kind) {
        return Err(OpError {
            code: "invalid_value",
            field: "type",
            message: format!("type {kind:?} is not a Reset type; {version} takes {valid:?}"),
            valid,
        });
    }
    if !valid.contains(&kind) {
        return Err(OpError {
            code: "no_equivalent",
            field: "type",
            message: format!(
                "Reset type {kind} cannot be said in {version}: {}; it takes {valid:?}",
                match kind {
                    "OnIdle" => "OCPP 1.6 has no reset that waits for transactions to end",
                    _ => "only OCPP 2.1 has ImmediateAndResume",
                }
            ),
            valid,
        });
    }
    let (sent, note) = match (protocol.family(), kind) {
        (Family::V16, "Immediate") => (
            "Soft",
            Some("2.x Immediate (end transactions, then reset) is said Soft in OCPP 1.6"),
        ),
        (Family::V2, "Hard" | "Soft") => (
            "Immediate",
            Some(
                "OCPP 2.x has no hard/soft reset: both are said Immediate (end transactions, then reset now)",
            ),
        ),
        _ => (kind, None),
    };
    let mut payload = json!({"type": sent});
    if let Some(evse) = evse_id {
        if protocol.family() == Family::V16 {
            return Err(error(
                "no_equivalent",
                "evseId",
                "OCPP 1.6 resets only the whole station; leave out evseId".into(),
            ));
        }
        if evse <= 0 {
            return Err(error(
                "invalid_value",
                "evseId",
                format!(
                    "evseId must be greater than 0 (leave it out to reset the whole station), got {evse}"
                ),
            ));
        }
        payload["evseId"] = json!(evse);
    }
    Ok(PlannedOp {
        action: "Reset",
        payload,
        note: note.map(str::to_owned),
    })
}

/// The 1.6 connector a request names: `connectorId` alone, or an EVSE of one connector.
fn v16_connector(connector_id: Option<i64>, evse_id: Option<i64>) -> Result<Option<i64>, OpError> {
    match (evse_id, connector_id) {
        (None, c) => Ok(c),
        (Some(e), None | Some(1)) => Ok(Some(e)),
        (Some(e), Some(c)) => Err(error(
            "no_equivalent",
            "connectorId",
            format!(
                "this station speaks OCPP 1.6, which has no EVSEs with several connectors; evseId {e} with connectorId {c} has no 1.6 equivalent: send \"connectorId\" alone with the station's connector number"
            ),
        )),
    }
}

fn non_negative(field: &'static str, v: Option<i64>) -> Result<(), OpError> {
    match v {
        Some(n) if n < 0 => Err(error(
            "invalid_value",
            field,
            format!("{field} must be 0 or more, got {n}"),
        )),
        _ => Ok(()),
    }
}

fn change_availability(
    protocol: ProtocolVersion,
    operative: bool,
    connector_id: Option<i64>,
    evse_id: Option<i64>,
) -> Result<PlannedOp, OpError> {
    non_negative("connectorId", connector_id)?;
    non_negative("evseId", evse_id)?;
    let status = if operative {
        "Operative"
    } else {
        "Inoperative"
    };
    if protocol.family() == Family::V16 {
        let connector = v16_connector(connector_id, evse_id)?.unwrap_or(0);
        return Ok(PlannedOp {
            action: "ChangeAvailability",
            payload: json!({"connectorId": connector, "type": status}),
            note: evse_id.is_some().then(|| {
                "a 1.6 connector is an EVSE of one connector: evseId is said connectorId".to_owned()
            }),
        });
    }
    let mut payload = json!({"operationalStatus": status});
    let mut note = None;
    let evse = match (evse_id, connector_id) {
        (Some(0), _) => {
            return Err(error(
                "invalid_value",
                "evseId",
                "evseId must be greater than 0; leave it out for the whole station".into(),
            ));
        }
        (Some(e), Some(0)) => {
            return Err(error(
                "invalid_value",
                "connectorId",
                format!(
                    "connectorId within EVSE {e} must be greater than 0; leave it out for the whole EVSE"
                ),
            ));
        }
        (Some(e), c) => Some((e, c)),
        (None, None | Some(0)) => None,
        (None, Some(c)) => {
            note = Some(format!(
                "connectorId {c} alone is a 1.6 connector, an EVSE of one connector: said evse {{id: {c}}}"
            ));
            Some((c, None))
        }
    };
    if let Some((id, connector)) = evse {
        let mut e = Map::new();
        e.insert("id".into(), json!(id));
        if let Some(c) = connector {
            e.insert("connectorId".into(), json!(c));
        }
        payload["evse"] = Value::Object(e);
    }
    Ok(PlannedOp {
        action: "ChangeAvailability",
        payload,
        note,
    })
}

fn unlock(
    protocol: ProtocolVersion,
    connector_id: Option<i64>,
    evse_id: Option<i64>,
) -> Result<PlannedOp, OpError> {
    let positive = |field: &'static str, v: Option<i64>| match v {
        Some(n) if n <= 0 => Err(error(
            "invalid_value",
            field,
            format!("{field} must be greater than 0, got {n}"),
        )),
        _ => Ok(()),
    };
    positive("connectorId", connector_id)?;
    positive("evseId", evse_id)?;
    let missing = || {
        error(
            "missing_field",
            "connectorId",
            "say which connector: \"connectorId\" (a 1.6 connector), or \"evseId\" and \"connectorId\" (2.x)".into(),
        )
    };
    if protocol.family() == Family::V16 {
        let connector = v16_connector(connector_id, evse_id)?.ok_or_else(missing)?;
        return Ok(PlannedOp {
            action: "UnlockConnector",
            payload: json!({"connectorId": connector}),
            note: evse_id.is_some().then(|| {
                "a 1.6 connector is an EVSE of one connector: evseId is said connectorId".to_owned()
            }),
        });
    }
    let (evse, connector, note) = match (evse_id, connector_id) {
        (Some(e), Some(c)) => (e, c, None),
        (Some(e), None) => {
            return Err(error(
                "missing_field",
                "connectorId",
                format!(
                    "OCPP 2.x unlocks one connector of an EVSE: add \"connectorId\" within EVSE {e}"
                ),
            ));
        }
        (None, Some(c)) => (
            c,
            1,
            Some(format!(
                "connectorId {c} alone is a 1.6 connector, an EVSE of one connector: said evseId {c}, connectorId 1"
            )),
        ),
        (None, None) => return Err(missing()),
    };
    Ok(PlannedOp {
        action: "UnlockConnector",
        payload: json!({"evseId": evse, "connectorId": connector}),
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V16: ProtocolVersion = ProtocolVersion::V16;
    const V201: ProtocolVersion = ProtocolVersion::V201;
    const V21: ProtocolVersion = ProtocolVersion::V21;

    fn reset_op(kind: &str, evse_id: Option<i64>) -> StationOp {
        StationOp::Reset {
            kind: kind.into(),
            evse_id,
        }
    }

    #[test]
    fn reset_types_are_translated_or_refused_with_the_valid_ones() {
        let sent = |p, k| plan(p, &reset_op(k, None)).map(|o| o.payload);
        assert_eq!(sent(V16, "Hard"), Ok(json!({"type": "Hard"})));
        assert_eq!(sent(V16, "Immediate"), Ok(json!({"type": "Soft"})));
        assert_eq!(sent(V201, "Hard"), Ok(json!({"type": "Immediate"})));
        assert_eq!(sent(V201, "OnIdle"), Ok(json!({"type": "OnIdle"})));
        assert_eq!(
            sent(V21, "ImmediateAndResume"),
            Ok(json!({"type": "ImmediateAndResume"}))
        );
        let e = plan(V16, &reset_op("OnIdle", None)).expect_err("no 1.6 OnIdle");
        assert_eq!((e.code, e.field), ("no_equivalent", "type"));
        assert_eq!(e.valid, vec!["Hard", "Soft", "Immediate"]);
        let e = plan(V201, &reset_op("ImmediateAndResume", None)).expect_err("2.1 only");
        assert_eq!(e.code, "no_equivalent");
        let e = plan(V201, &reset_op("Sometime", None)).expect_err("unknown");
        assert_eq!((e.code, e.field), ("invalid_value", "type"));
        let e = plan(V16, &reset_op("Hard", Some(1))).expect_err("no 1.6 EVSE reset");
        assert_eq!(e.field, "evseId");
        assert_eq!(
            plan(V201, &reset_op("Immediate", Some(2))).map(|o| o.payload),
            Ok(json!({"type": "Immediate", "evseId": 2}))
        );
    }

    fn avail(operative: bool, connector_id: Option<i64>, evse_id: Option<i64>) -> StationOp {
        StationOp::ChangeAvailability {
            operative,
            connector_id,
            evse_id,
        }
    }

    #[test]
    fn availability_targets_follow_the_one_connector_evse_rule() {
        let sent = |p, op: StationOp| plan(p, &op).map(|o| o.payload);
        assert_eq!(
            sent(V16, avail(false, None, None)),
            Ok(json!({"connectorId": 0, "type": "Inoperative"}))
        );
        assert_eq!(
            sent(V16, avail(true, None, Some(2))),
            Ok(json!({"connectorId": 2, "type": "Operative"}))
        );
        assert_eq!(
            sent(V16, avail(true, Some(2), Some(1))).map_err(|e| e.field),
            Err("connectorId")
        );
        assert_eq!(
            sent(V201, avail(false, None, None)),
            Ok(json!({"operationalStatus": "Inoperative"}))
        );
        assert_eq!(
            sent(V201, avail(false, Some(2), None)),
            Ok(json!({"operationalStatus": "Inoperative", "evse": {"id": 2}}))
        );
        assert_eq!(
            sent(V201, avail(true, Some(1), Some(3))),
            Ok(json!({"operationalStatus": "Operative", "evse": {"id": 3, "connectorId": 1}}))
        );
        assert_eq!(
            sent(V201, avail(true, Some(-1), None)).map_err(|e| e.code),
            Err("invalid_value")
        );
    }

    #[test]
    fn operative_is_a_boolean_or_the_ocpp_word() {
        assert_eq!(availability(Some(true), None), Ok(true));
        assert_eq!(availability(None, Some("Inoperative")), Ok(false));
        assert_eq!(availability(Some(false), Some("Inoperative")), Ok(false));
        assert_eq!(
            availability(Some(true), Some("Inoperative")).map_err(|e| e.code),
            Err("conflicting_fields")
        );
        let e = availability(None, Some("Broken")).expect_err("bad word");
        assert_eq!(e.valid, vec!["Operative", "Inoperative"]);
        assert_eq!(
            availability(None, None).map_err(|e| e.code),
            Err("missing_field")
        );
    }

    #[test]
    fn unlock_needs_a_connector_and_translates_between_families() {
        let op = |c, e| StationOp::UnlockConnector {
            connector_id: c,
            evse_id: e,
        };
        let sent = |p, o: StationOp| plan(p, &o).map(|o| o.payload);
        assert_eq!(sent(V16, op(Some(2), None)), Ok(json!({"connectorId": 2})));
        assert_eq!(sent(V16, op(None, Some(2))), Ok(json!({"connectorId": 2})));
        assert_eq!(
            sent(V201, op(Some(1), Some(2))),
            Ok(json!({"evseId": 2, "connectorId": 1}))
        );
        assert_eq!(
            sent(V201, op(Some(2), None)),
            Ok(json!({"evseId": 2, "connectorId": 1}))
        );
        assert_eq!(
            sent(V201, op(None, Some(2))).map_err(|e| e.field),
            Err("connectorId")
        );
        assert_eq!(
            sent(V16, op(None, None)).map_err(|e| e.code),
            Err("missing_field")
        );
        assert_eq!(
            sent(V16, op(Some(0), None)).map_err(|e| e.code),
            Err("invalid_value")
        );
    }
}
