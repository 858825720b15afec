//! What one message says about one condition: for each target it mentions, whether the
//! condition fires there or is clear. Station CALLs come read into their typed messages
//! (`crate::incoming`, both versions); a payload that does not fit its type says nothing.
//! The CSMS's own events are read from their JSON.

use serde_json::{Value, json};

use super::{
    Condition, FIRMWARE_FAILURES, SECURITY_EVENT_NOTIFICATION, SECURITY_TYPE_MAX_CHARS,
    TECH_INFO_MAX_CHARS,
};
use crate::incoming::{ActivityReport, ConnectorReport, MeterReport, StationCall};
use crate::journal::{CONNECTION_REFUSED, SECURITY_EVENT};
use crate::{Millis, rfc3339};

/// The condition fires (`firing`) or is clear on `target`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Verdict {
    pub target: String,
    pub firing: bool,
    pub details: Value,
}

/// A field of one of the CSMS's own `EVENT` payloads (station CALLs come typed instead).
fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A station CALL the CSMS acknowledged (`action`, read into `call`), received at `at`.
pub(super) fn on_call(
    condition: &Condition,
    action: &str,
    call: &StationCall,
    at: Millis,
) -> Vec<Verdict> {
    match (condition, action) {
        (Condition::SecurityEvent { types, .. }, SECURITY_EVENT_NOTIFICATION) => call
            .security_event()
            .and_then(|e| {
                security(
                    types.as_deref(),
                    "station",
                    action,
                    Some(e.kind),
                    e.tech_info,
                    Some(e.timestamp),
                    at,
                )
            })
            .into_iter()
            .collect(),
        (Condition::ConnectorFaulted {}, "StatusNotification") => call
            .connector_status()
            .map(|report| status_notification(&report))
            .into_iter()
            .collect(),
        (
            Condition::FirmwareFailed {},
            "FirmwareStatusNotification" | "SignedFirmwareStatusNotification",
        ) => call
            .activity()
            .and_then(|report| firmware(action, &report))
            .into_iter()
            .collect(),
        (Condition::HeartbeatMissing { .. }, "Heartbeat") => vec![Verdict {
            target: "heartbeat".into(),
            firing: false,
            details: json!({"heartbeat": "received"}),
        }],
        (
            Condition::MeterOutOfRange {
                measurand,
                min,
                max,
            },
            "MeterValues" | "TransactionEvent",
        ) => call
            .meter()
            .and_then(|report| meter(&report, measurand, *min, *max))
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

fn status_notification(report: &ConnectorReport<'_>) -> Verdict {
    let (connector, status) = (report.connector_id, report.status);
    if let Some(evse) = report.evse_id {
        // 2.0.1: a connector within an EVSE; no error code in this message.
        return Verdict {
            target: format!("evse:{evse}/connector:{connector}"),
            firing: status == "Faulted",
            details: json!({"action": "StatusNotification", "evseId": evse, "connectorId": connector, "status": status}),
        };
    }
    let firing = status == "Faulted" || report.error_code.is_some_and(|c| c != "NoError");
    let mut details =
        json!({"action": "StatusNotification", "connectorId": connector, "status": status});
    for (key, value) in [
        ("errorCode", report.error_code),
        ("info", report.info),
        ("vendorId", report.vendor_id),
        ("vendorErrorCode", report.vendor_error_code),
    ] {
        if let Some(v) = value {
            details[key] = json!(v);
        }
    }
    Verdict {
        target: format!("connector:{connector}"),
        firing,
        details,
    }
}

fn firmware(action: &str, report: &ActivityReport) -> Option<Verdict> {
    let status = report.status;
    let firing = if FIRMWARE_FAILURES.contains(&status) {
        true
    } else if status == "Installed" {
        false
    } else {
        return None;
    };
    let mut details = json!({"action": action, "status": status});
    if let Some(id) = report.request_id {
        details["requestId"] = json!(id);
    }
    Some(Verdict {
        target: "firmware".into(),
        firing,
        details,
    })
}

/// The meter a MeterValues / TransactionEvent is about.
fn meter_target(report: &MeterReport<'_>) -> Option<String> {
    if let Some(e) = report.evse_id {
        return Some(format!("meter:evse:{e}"));
    }
    if let Some(c) = report.connector_id {
        return Some(format!("meter:connector:{c}"));
    }
    // A TransactionEvent after the first may leave the EVSE out (E01.FR.16).
    report
        .transaction_id
        .as_ref()
        .map(|t| format!("meter:transaction:{t}"))
}

fn meter(
    report: &MeterReport<'_>,
    measurand: &str,
    min: Option<f64>,
    max: Option<f64>,
) -> Option<Verdict> {
    let target = meter_target(report)?;
    let mut out_of_range = Vec::new();
    let mut last_in_range = None;
    for sample in report.readings.samples() {
        if sample.measurand != measurand {
            continue;
        }
        let Some(value) = sample.value else { continue };
        let mut seen = json!({"value": value});
        for (key, v) in [
            ("unit", sample.stated_unit),
            ("phase", sample.phase),
            ("timestamp", Some(sample.timestamp)),
        ] {
            if let Some(v) = v {
                seen[key] = json!(v);
            }
        }
        if min.is_some_and(|lo| value < lo) || max.is_some_and(|hi| value > hi) {
            out_of_range.push(seen);
        } else {
            last_in_range = Some(seen);
        }
    }
    let range = json!({"measurand": measurand, "min": min, "max": max});
    if let Some(first) = out_of_range.first() {
        let mut details = first.clone();
        details["measurand"] = range["measurand"].clone();
        details["min"] = range["min"].clone();
        details["max"] = range["max"].clone();
        details["outOfRange"] = json!(out_of_range.len());
        return Some(Verdict {
            target,
            firing: true,
            details,
        });
    }
    let mut details = last_in_range?;
    details["measurand"] = range["measurand"].clone();
    Some(Verdict {
        target,
        firing: false,
        details,
    })
}

/// A `TriggerCompleted` event's payload (`outcome`, `requestedMessage`).
pub(super) fn on_trigger_completed(
    condition: &Condition,
    trigger_id: Option<&str>,
    payload: &Value,
) -> Option<Verdict> {
    let Condition::TriggerOutcome {
        outcomes,
        requested_message,
    } = condition
    else {
        return None;
    };
    let outcome = text(payload, "outcome")?;
    let requested = text(payload, "requestedMessage");
    if requested_message
        .as_deref()
        .is_some_and(|wanted| Some(wanted) != requested)
    {
        return None;
    }
    let firing = if outcomes.iter().any(|o| o == outcome) {
        true
    } else if outcome == "Completed" {
        false
    } else {
        return None;
    };
    Some(Verdict {
        target: requested.map_or_else(|| "trigger".to_owned(), |m| format!("trigger:{m}")),
        firing,
        details: json!({"triggerId": trigger_id, "requestedMessage": requested, "outcome": outcome}),
    })
}

/// A `ConfigurationChecked` event's payload (`profileId`, `drifting`, `keys`).
pub(super) fn on_configuration_checked(condition: &Condition, payload: &Value) -> Option<Verdict> {
    let Condition::ConfigDrift { profiles } = condition else {
        return None;
    };
    let profile = text(payload, "profileId")?;
    if profiles
        .as_ref()
        .is_some_and(|wanted| !wanted.iter().any(|p| p == profile))
    {
        return None;
    }
    Some(Verdict {
        target: format!("config:{profile}"),
        firing: payload.get("drifting").and_then(Value::as_bool)?,
        details: json!({"profileId": profile, "keys": payload.get("keys").cloned().unwrap_or(Value::Null)}),
    })
}

/// A security `EVENT` the CSMS journaled at `at`: `SecurityEvent` (`type`, `techInfo`), or
/// `ConnectionRefused` (`code`, `reason`, `remote`, `profile`) when the rule asks for those.
pub(super) fn on_security_event(
    condition: &Condition,
    action: &str,
    payload: &Value,
    at: Millis,
) -> Option<Verdict> {
    let Condition::SecurityEvent {
        types,
        include_refused_connections,
    } = condition
    else {
        return None;
    };
    match action {
        SECURITY_EVENT => security(
            types.as_deref(),
            "csms",
            action,
            text(payload, "type"),
            text(payload, "techInfo"),
            text(payload, "timestamp"),
            at,
        ),
        CONNECTION_REFUSED if *include_refused_connections => {
            let mut v = security(
                types.as_deref(),
                "csms",
                action,
                text(payload, "code"),
                text(payload, "reason"),
                None,
                at,
            )?;
            if let Some(remote) = text(payload, "remote") {
                v.details["remote"] = json!(truncated(remote, TECH_INFO_MAX_CHARS).0);
            }
            if let Some(profile) = payload.get("profile").and_then(Value::as_i64) {
                v.details["profile"] = json!(profile);
            }
            Some(v)
        }
        _ => None,
    }
}

/// At most this many characters of a station's timestamp (RFC 3339 needs at most 35).
const TIMESTAMP_MAX_CHARS: usize = 40;

/// At most `max` characters of `s`, and whether it was cut.
fn truncated(s: &str, max: usize) -> (String, bool) {
    match s.char_indices().nth(max) {
        Some((end, _)) => (s[..end].to_owned(), true),
        None => (s.to_owned(), false),
    }
}

/// One security event as a verdict on its type (it always fires: nothing clears it).
/// `types` filters on the whole type; the target and details carry it cut to
/// [`SECURITY_TYPE_MAX_CHARS`], `techInfo` cut to [`TECH_INFO_MAX_CHARS`]. `timestamp` is
/// the sender's, else when the entry was journaled.
fn security(
    types: Option<&[String]>,
    source: &str,
    action: &str,
    event_type: Option<&str>,
    tech_info: Option<&str>,
    timestamp: Option<&str>,
    at: Millis,
) -> Option<Verdict> {
    let event_type = event_type.filter(|t| !t.trim().is_empty())?;
    if types.is_some_and(|wanted| !wanted.iter().any(|w| w == event_type)) {
        return None;
    }
    let (target, _) = truncated(event_type, SECURITY_TYPE_MAX_CHARS);
    let timestamp = timestamp.map_or_else(|| rfc3339(at), str::to_owned);
    let (timestamp, _) = truncated(&timestamp, TIMESTAMP_MAX_CHARS);
    let mut details = json!({
        "source": source,
        "action": action,
        "type": target,
        "timestamp": timestamp,
    });
    if let Some(info) = tech_info {
        let (info, cut) = truncated(info, TECH_INFO_MAX_CHARS);
        details["techInfo"] = json!(info);
        if cut {
            details["techInfoTruncated"] = json!(true);
        }
    }
    Some(Verdict {
        target,
        firing: true,
        details,
    })
}
