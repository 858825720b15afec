//! TriggerMessage (1.6 §5.17, 2.0.1/2.1 F06) and the 1.6 security extension's
//! ExtendedTriggerMessage, every value of every version, and the faults that bend them.
//!
//! Rules followed (SPEC_BRIEF §2b, §2c):
//! - the response goes out before the requested message, which is a new CALL with a new id
//!   (1.6 §5.17, F06.FR.04);
//! - the requested message carries the station's *current* state (1.6 §5.17 "not intended
//!   to retrieve historic data"), MeterValues with context `Trigger`;
//! - 1.6: a connectorId that is irrelevant is ignored; one that is absent where relevant
//!   means "all allowed values", for StatusNotification connector 0 included (§5.17);
//! - 2.0.1: StatusNotification needs evse.id and evse.connectorId (F06.FR.12);
//!   BootNotification is Rejected once registration is Accepted (F06.FR.17); TransactionEvent
//!   exists only while a transaction runs; MeterValues/TransactionEvent without evse mean
//!   every EVSE (F06.FR.06, F06.FR.11);
//! - a targeted EVSE/connector that does not exist is Rejected;
//! - 2.1: `SignV2G20Certificate` asks for an ISO 15118-20 certificate; `CustomTrigger`
//!   sends the message of a custom trigger the station supports ([`CUSTOM_TRIGGERS`]) and
//!   is NotImplemented for any other name (F06.FR.20).

use std::time::Duration;

use ocpp_rpc::{ErrorCode, Family, Frame, ProtocolVersion};
use serde_json::{Value, json};

use crate::clock::Now;
use crate::faults::TriggerFault;
use crate::messages;
use crate::station::{Deferred, Output, Pending, Purpose, Registration, Station};

/// The custom triggers a simulated 2.1 station supports (what it would list in
/// CustomizationCtrl.CustomTriggers), each with the message it sends.
pub const CUSTOM_TRIGGERS: &[(&str, &str)] = &[("ocpulse-sim.heartbeat", "Heartbeat")];

/// How long a crossing-CALLs station holds its TriggerMessage response.
const CROSSING_HOLD: Duration = Duration::from_millis(300);

/// What the spec says to do with a trigger.
#[derive(Debug)]
pub(crate) struct Decision {
    status: &'static str,
    reason: Option<&'static str>,
    messages: Vec<Pending>,
}

fn rejected(reason: &'static str) -> Decision {
    Decision {
        status: "Rejected",
        reason: Some(reason),
        messages: Vec::new(),
    }
}

fn accepted(messages: Vec<Pending>) -> Decision {
    Decision {
        status: "Accepted",
        reason: None,
        messages,
    }
}

fn msg(action: &'static str, payload: Value) -> Pending {
    Pending {
        action,
        payload,
        purpose: Purpose::Other,
    }
}

impl Station {
    /// The `sampledValue.context` of a triggered meter reading: `Trigger` (1.6 §7.45,
    /// 2.0.1 ReadingContextEnumType) unless the station is told not to mark.
    fn trigger_context(&self) -> &'static str {
        if self.cfg.mark_triggered {
            "Trigger"
        } else {
            "Sample.Periodic"
        }
    }

    /// The `triggerReason` of a triggered TransactionEvent: `Trigger` (F06.FR.07) unless
    /// the station is told not to mark.
    fn trigger_reason(&self) -> &'static str {
        if self.cfg.mark_triggered {
            "Trigger"
        } else {
            "MeterValuePeriodic"
        }
    }

    pub(crate) fn on_trigger(
        &mut self,
        id: &str,
        action: &str,
        payload: &Value,
        now: Now,
    ) -> Vec<Output> {
        let requested = payload
            .get("requestedMessage")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let decision = match self.version().family() {
            Family::V16 => {
                let connector = payload.get("connectorId").and_then(Value::as_i64);
                self.decide_v16(
                    &requested,
                    connector,
                    action == "ExtendedTriggerMessage",
                    now,
                )
            }
            Family::V2 => {
                let evse = payload.get("evse").map(|e| {
                    (
                        e.get("id").and_then(Value::as_i64).unwrap_or(0),
                        e.get("connectorId").and_then(Value::as_i64),
                    )
                });
                let custom = payload.get("customTrigger").and_then(Value::as_str);
                self.decide_v2(&requested, evse, custom, now)
            }
        };
        self.apply_fault(id, &requested, decision, now)
    }

    fn response(&self, id: &str, status: &str, reason: Option<&str>) -> String {
        let mut payload = json!({"status": status});
        if let (true, Some(reason)) = (self.version().is_v2(), reason) {
            payload["statusInfo"] = json!({"reasonCode": reason});
        }
        Frame::CallResult {
            id: id.to_owned(),
            payload,
        }
        .to_text()
    }

    fn apply_fault(
        &mut self,
        id: &str,
        requested: &str,
        mut decision: Decision,
        now: Now,
    ) -> Vec<Output> {
        let fault = self.cfg.faults.for_trigger(requested).clone();
        let answer = |s: &Self, d: &Decision| Output::Send(s.response(id, d.status, d.reason));
        let mut out = Vec::new();
        match fault {
            TriggerFault::Reject => return vec![Output::Send(self.response(id, "Rejected", None))],
            TriggerFault::NotImplemented => {
                return vec![Output::Send(self.response(id, "NotImplemented", None))];
            }
            TriggerFault::CallError(code) => {
                let code = ErrorCode::parse(&code).unwrap_or(ErrorCode::InternalError);
                return vec![Output::Send(
                    Frame::call_error(id, code, self.version(), "injected fault").to_text(),
                )];
            }
            TriggerFault::NoAnswer => return Vec::new(),
            TriggerFault::AcceptNeverSend => {
                decision.messages.clear();
            }
            _ => {}
        }
        if decision.status == "Accepted" {
            self.counters.triggers_accepted += 1;
        }
        match fault {
            TriggerFault::Delay(d) => {
                out.push(answer(self, &decision));
                self.deferred
                    .push((now.mono + d, Deferred::Enqueue(decision.messages)));
            }
            TriggerFault::BeforeResponse => {
                for m in &decision.messages {
                    let frame = self.raw_call(m.action, &m.payload);
                    out.push(Output::Send(frame));
                }
                out.push(answer(self, &decision));
            }
            TriggerFault::Crossing => {
                let own = self.raw_call("Heartbeat", &json!({}));
                out.push(Output::Send(own));
                let frame = self.response(id, decision.status, decision.reason);
                self.deferred.push((
                    now.mono + CROSSING_HOLD,
                    Deferred::Respond(frame, decision.messages),
                ));
            }
            other => {
                out.push(answer(self, &decision));
                let twice = other == TriggerFault::Twice;
                if other == TriggerFault::WrongTarget {
                    let count = self.evses.len();
                    decision
                        .messages
                        .iter_mut()
                        .for_each(|m| retarget(m, count));
                }
                let copies = if twice {
                    decision.messages.clone()
                } else {
                    Vec::new()
                };
                for m in decision.messages.into_iter().chain(copies) {
                    self.send_triggered(m);
                }
            }
        }
        out
    }

    fn csr_message(&mut self, certificate_type: Option<&str>) -> Option<Pending> {
        let (csr, _key) = crate::csr::generate(&self.cfg.id, "ocpulse-sim").ok()?;
        Some(msg(
            "SignCertificate",
            messages::sign_certificate(&csr, certificate_type),
        ))
    }

    fn meter_message(&self, index: usize, now: Now) -> Pending {
        let e = &self.evses[index];
        msg(
            "MeterValues",
            messages::meter_values(
                self.version(),
                e.id,
                &e.meter,
                self.cfg.dc,
                self.trigger_context(),
                e.tx.as_ref(),
                now,
            ),
        )
    }

    fn decide_v16(
        &mut self,
        requested: &str,
        connector: Option<i64>,
        extended: bool,
        now: Now,
    ) -> Decision {
        let count = self.evses.len();
        let index = match connector {
            Some(c) if c < 0 || usize::try_from(c).is_ok_and(|c| c > count) => {
                return rejected("UnknownConnector");
            }
            Some(c) => usize::try_from(c).ok().filter(|c| *c > 0).map(|c| c - 1),
            None => None,
        };
        match (requested, extended) {
            ("BootNotification", _) => {
                let payload = messages::boot(&self.cfg, "Triggered");
                accepted(vec![Pending {
                    action: "BootNotification",
                    payload,
                    purpose: Purpose::Boot,
                }])
            }
            ("Heartbeat", _) => accepted(vec![msg("Heartbeat", json!({}))]),
            // 1.6 core status notifications carry no requestId; `Idle` only when triggered
            // and nothing runs (§6.20, §6.38).
            ("DiagnosticsStatusNotification", false) => accepted(vec![msg(
                "DiagnosticsStatusNotification",
                json!({"status": self.log.triggered().0}),
            )]),
            ("FirmwareStatusNotification", false) => accepted(vec![msg(
                "FirmwareStatusNotification",
                json!({"status": self.firmware.triggered().0}),
            )]),
            // §6.16: the extension's FirmwareStatusNotification means the secure update's
            // status; L01.FR.28/29: Idle once nothing runs, else the last status.
            ("FirmwareStatusNotification", true) => {
                let (status, request_id) = self.firmware.triggered();
                accepted(vec![msg(
                    "SignedFirmwareStatusNotification",
                    messages::activity_status(status, request_id),
                )])
            }
            // N01.FR.12: requestId only while an upload runs.
            ("LogStatusNotification", true) => {
                let (status, request_id) = self.log.triggered();
                accepted(vec![msg(
                    "LogStatusNotification",
                    messages::activity_status(status, request_id),
                )])
            }
            ("SignChargePointCertificate", true) => match self.csr_message(None) {
                Some(m) => accepted(vec![m]),
                None => rejected("CsrFailed"),
            },
            ("MeterValues", _) => match (connector, index) {
                (Some(0), _) => {
                    let main = messages::main_meter(&self.evses);
                    accepted(vec![msg(
                        "MeterValues",
                        messages::meter_values(
                            ProtocolVersion::V16,
                            0,
                            &main,
                            self.cfg.dc,
                            self.trigger_context(),
                            None,
                            now,
                        ),
                    )])
                }
                (_, Some(i)) => accepted(vec![self.meter_message(i, now)]),
                _ => accepted((0..count).map(|i| self.meter_message(i, now)).collect()),
            },
            ("StatusNotification", _) => {
                let status = |s: &Self, i: usize| {
                    msg(
                        "StatusNotification",
                        messages::status_v16(s.evses[i].id, s.evses[i].state(), now),
                    )
                };
                let charge_point = || {
                    let cp = if self
                        .evses
                        .iter()
                        .all(|e| e.state() == crate::model::ConnState::Faulted)
                        && count > 0
                    {
                        crate::model::ConnState::Faulted
                    } else {
                        crate::model::ConnState::Available
                    };
                    msg("StatusNotification", messages::status_v16(0, cp, now))
                };
                match (connector, index) {
                    (Some(0), _) => accepted(vec![charge_point()]),
                    (_, Some(i)) => accepted(vec![status(self, i)]),
                    // §5.17: "the notification for the Charge Point itself and a notification for each of its connectors".
                    _ => {
                        let mut all = vec![charge_point()];
                        all.extend((0..count).map(|i| status(self, i)));
                        accepted(all)
                    }
                }
            }
            _ => Decision {
                status: "NotImplemented",
                reason: None,
                messages: Vec::new(),
            },
        }
    }

    fn decide_v2(
        &mut self,
        requested: &str,
        evse: Option<(i64, Option<i64>)>,
        custom: Option<&str>,
        now: Now,
    ) -> Decision {
        let v21 = self.version() == ProtocolVersion::V21;
        let index = match evse {
            None => None,
            Some((id, _))
                if id < 1 || usize::try_from(id).is_ok_and(|id| id > self.evses.len()) =>
            {
                return rejected("UnknownEvse");
            }
            Some((id, connector)) => {
                let i = usize::try_from(id - 1).unwrap_or(0);
                if connector.is_some_and(|c| {
                    c < 1 || usize::try_from(c).is_ok_and(|c| c > self.evses[i].connectors.len())
                }) {
                    return rejected("UnknownConnector");
                }
                Some(i)
            }
        };
        let connector = evse.and_then(|(_, c)| c);
        let dc = self.cfg.dc;
        match requested {
            // F06.FR.17: a BootNotification trigger is for Pending/Rejected stations.
            "BootNotification" if self.registration == Registration::Accepted => {
                rejected("AlreadyAccepted")
            }
            "BootNotification" => {
                self.boot_reason = "Triggered";
                let payload = messages::boot(&self.cfg, "Triggered");
                accepted(vec![Pending {
                    action: "BootNotification",
                    payload,
                    purpose: Purpose::Boot,
                }])
            }
            "Heartbeat" => accepted(vec![msg("Heartbeat", json!({}))]),
            "LogStatusNotification" => {
                let (status, request_id) = self.log.triggered();
                accepted(vec![msg(
                    "LogStatusNotification",
                    messages::activity_status(status, request_id),
                )])
            }
            "FirmwareStatusNotification" => {
                let (status, request_id) = self.firmware.triggered();
                accepted(vec![msg(
                    "FirmwareStatusNotification",
                    messages::activity_status(status, request_id),
                )])
            }
            "PublishFirmwareStatusNotification" => accepted(vec![msg(
                "PublishFirmwareStatusNotification",
                messages::activity_status("Idle", None),
            )]),
            "SignV2G20Certificate" if !v21 => not_implemented(),
            "SignChargingStationCertificate"
            | "SignV2GCertificate"
            | "SignV2G20Certificate"
            | "SignCombinedCertificate" => {
                let kind = match requested {
                    "SignChargingStationCertificate" => Some("ChargingStationCertificate"),
                    "SignV2GCertificate" => Some("V2GCertificate"),
                    "SignV2G20Certificate" => Some("V2G20Certificate"),
                    _ => None,
                };
                match self.csr_message(kind) {
                    Some(m) => accepted(vec![m]),
                    None => rejected("CsrFailed"),
                }
            }
            "MeterValues" => match index {
                Some(i) => accepted(vec![self.meter_message(i, now)]),
                None => accepted(
                    (0..self.evses.len())
                        .map(|i| self.meter_message(i, now))
                        .collect(),
                ),
            },
            // F06.FR.12: StatusNotification only at connector level.
            "StatusNotification" => match (index, connector) {
                (Some(i), Some(c)) => {
                    let state = self.evses[i].connectors[usize::try_from(c - 1).unwrap_or(0)];
                    let id = self.evses[i].id;
                    accepted(vec![msg(
                        "StatusNotification",
                        messages::status_v201(id, u32::try_from(c).unwrap_or(1), state, now),
                    )])
                }
                _ => rejected("MissingConnectorId"),
            },
            "TransactionEvent" => {
                let targets: Vec<usize> = match index {
                    Some(i) => vec![i],
                    None => (0..self.evses.len()).collect(),
                };
                let mut out = Vec::new();
                for i in targets {
                    let Some(tx) = self.evses[i].tx.clone() else {
                        continue;
                    };
                    let payload = messages::transaction_event(
                        "Updated",
                        self.trigger_reason(),
                        &tx,
                        &self.evses[i],
                        dc,
                        Some(self.trigger_context()),
                        "Charging",
                        now,
                    );
                    self.bump_seq(i);
                    out.push(msg("TransactionEvent", payload));
                }
                if out.is_empty() {
                    rejected("NoTransaction")
                } else {
                    accepted(out)
                }
            }
            "CustomTrigger" if v21 => {
                match CUSTOM_TRIGGERS
                    .iter()
                    .find(|(name, _)| Some(*name) == custom)
                {
                    Some((_, "Heartbeat")) => accepted(vec![msg("Heartbeat", json!({}))]),
                    _ => not_implemented(),
                }
            }
            _ => not_implemented(),
        }
    }
}

fn not_implemented() -> Decision {
    Decision {
        status: "NotImplemented",
        reason: None,
        messages: Vec::new(),
    }
}

/// Points a triggered message at another connector/EVSE (the `wrong-target` fault).
fn retarget(m: &mut Pending, count: usize) {
    let count = i64::try_from(count).unwrap_or(1);
    for key in ["connectorId", "evseId"] {
        if key == "connectorId" && m.payload.get("evseId").is_some() {
            continue;
        }
        if let Some(v) = m.payload.get(key).and_then(Value::as_i64) {
            m.payload[key] = json!(if count > 1 { v % count + 1 } else { v + 1 });
        }
    }
}
