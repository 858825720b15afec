//! Payloads a station sends, in each version family's shape (checked against the official
//! schemas by the crate's tests): 2.1 sends the messages it shares with 2.0.1 as 2.0.1 does.

use ocpp_rpc::{Family, ProtocolVersion};
use serde_json::{Value, json};

use crate::clock::Now;
use crate::config::StationConfig;
use crate::model::{ConnState, Evse, Meter, Transaction};

/// BootNotification; `reason` is used by 2.x (`PowerUp`, `Triggered`, ...).
pub fn boot(cfg: &StationConfig, reason: &str) -> Value {
    match cfg.protocol.family() {
        Family::V16 => json!({
            "chargePointVendor": cfg.vendor, "chargePointModel": cfg.model,
            "chargePointSerialNumber": cfg.id.chars().take(25).collect::<String>(), "firmwareVersion": cfg.firmware_version,
        }),
        Family::V2 => json!({
            "reason": reason,
            "chargingStation": {"vendorName": cfg.vendor, "model": cfg.model, "serialNumber": cfg.id.chars().take(25).collect::<String>(), "firmwareVersion": cfg.firmware_version},
        }),
    }
}

/// 1.6 StatusNotification of a connector (0 = the charge point).
pub fn status_v16(connector_id: u32, state: ConnState, now: Now) -> Value {
    let error = if state == ConnState::Faulted {
        "GroundFailure"
    } else {
        "NoError"
    };
    json!({"connectorId": connector_id, "errorCode": error, "status": state.v16(), "timestamp": now.rfc3339()})
}

/// 2.x StatusNotification of one connector of one EVSE.
pub fn status_v201(evse_id: u32, connector_id: u32, state: ConnState, now: Now) -> Value {
    json!({"timestamp": now.rfc3339(), "connectorStatus": state.v201(), "evseId": evse_id, "connectorId": connector_id})
}

/// The sampled values of a meter, with `context` (`Trigger`, `Sample.Periodic`, ...).
pub fn sampled_values(
    version: ProtocolVersion,
    meter: &Meter,
    dc: bool,
    context: &str,
) -> Vec<Value> {
    let mut values = vec![
        (
            "Energy.Active.Import.Register",
            meter.energy_wh.round(),
            "Wh",
        ),
        ("Power.Active.Import", meter.power_w.round(), "W"),
        (
            "Current.Import",
            (meter.current_a * 10.0).round() / 10.0,
            "A",
        ),
        ("Voltage", meter.voltage_v, "V"),
    ];
    if dc {
        values.push(("SoC", meter.soc.round(), "Percent"));
    }
    values
        .into_iter()
        .map(|(measurand, value, unit)| match version.family() {
            Family::V16 => json!({"value": format!("{value}"), "context": context, "measurand": measurand, "unit": unit}),
            Family::V2 => json!({"value": value, "context": context, "measurand": measurand, "unitOfMeasure": {"unit": unit}}),
        })
        .collect()
}

/// A MeterValues payload for one EVSE (2.x `evseId`, 1.6 `connectorId`; 0 = main meter).
pub fn meter_values(
    version: ProtocolVersion,
    target: u32,
    meter: &Meter,
    dc: bool,
    context: &str,
    tx: Option<&Transaction>,
    now: Now,
) -> Value {
    let meter_value = json!([{"timestamp": now.rfc3339(), "sampledValue": sampled_values(version, meter, dc, context)}]);
    match version.family() {
        Family::V16 => {
            let mut v = json!({"connectorId": target, "meterValue": meter_value});
            if let Some(id) = tx
                .and_then(|t| t.id.as_deref())
                .and_then(|id| id.parse::<i64>().ok())
            {
                v["transactionId"] = json!(id);
            }
            v
        }
        Family::V2 => json!({"evseId": target, "meterValue": meter_value}),
    }
}

/// The station's main meter: the sum of every EVSE's.
pub fn main_meter(evses: &[Evse]) -> Meter {
    let mut total = evses
        .first()
        .map(|e| e.meter.clone())
        .unwrap_or_else(|| Meter::new(0, false));
    total.energy_wh = evses.iter().map(|e| e.meter.energy_wh).sum();
    total.power_w = evses.iter().map(|e| e.meter.power_w).sum();
    total.current_a = evses.iter().map(|e| e.meter.current_a).sum();
    total
}

/// 1.6 StartTransaction.
pub fn start_transaction(connector_id: u32, tx: &Transaction) -> Value {
    json!({"connectorId": connector_id, "idTag": tx.id_tag, "meterStart": tx.meter_start_wh.round() as i64, "timestamp": tx.started_at})
}

/// 1.6 StopTransaction.
pub fn stop_transaction(tx: &Transaction, meter: &Meter, now: Now) -> Value {
    let mut v = json!({"meterStop": meter.energy_wh.round() as i64, "timestamp": now.rfc3339(), "reason": "EVDisconnected", "idTag": tx.id_tag});
    v["transactionId"] = json!(
        tx.id
            .as_deref()
            .and_then(|id| id.parse::<i64>().ok())
            .unwrap_or(0)
    );
    v
}

/// 2.x TransactionEvent.
#[allow(clippy::too_many_arguments)]
pub fn transaction_event(
    event_type: &str,
    trigger_reason: &str,
    tx: &Transaction,
    evse: &Evse,
    dc: bool,
    context: Option<&str>,
    charging_state: &str,
    now: Now,
) -> Value {
    let mut v = json!({
        "eventType": event_type,
        "timestamp": now.rfc3339(),
        "triggerReason": trigger_reason,
        "seqNo": tx.seq_no,
        "transactionInfo": {"transactionId": tx.id.clone().unwrap_or_default(), "chargingState": charging_state},
        "evse": {"id": evse.id, "connectorId": tx.connector},
    });
    if event_type == "Started" {
        v["idToken"] = json!({"idToken": tx.id_tag, "type": "ISO14443"});
        if let Some(id) = tx.remote_start_id {
            v["transactionInfo"]["remoteStartId"] = json!(id);
        }
    }
    if event_type == "Ended" {
        v["transactionInfo"]["stoppedReason"] = json!("EVDisconnected");
    }
    if let Some(context) = context {
        v["meterValue"] = json!([{"timestamp": now.rfc3339(), "sampledValue": sampled_values(ProtocolVersion::V201, &evse.meter, dc, context)}]);
    }
    v
}

/// A status notification of a long-running activity; `requestId` only while one runs.
pub fn activity_status(status: &str, request_id: Option<i64>) -> Value {
    let mut v = json!({"status": status});
    if let Some(id) = request_id {
        v["requestId"] = json!(id);
    }
    v
}

/// SignCertificate with a CSR; `certificate_type` only in 2.x (1.6 has no such field).
pub fn sign_certificate(csr: &str, certificate_type: Option<&str>) -> Value {
    let mut v = json!({"csr": csr});
    if let Some(t) = certificate_type {
        v["certificateType"] = json!(t);
    }
    v
}
