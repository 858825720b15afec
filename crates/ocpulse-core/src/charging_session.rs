//! Charging sessions as a fold of the journal: what a driver's charge looks like to an
//! operator (who, where, since when, energy so far, power now, why it ended), built from
//! the station CALLs that describe transactions. 1.6: `StartTransaction` and the
//! CALLRESULT ocpulse answered it with (the `transactionId` is ocpulse's), `MeterValues`
//! naming the `transactionId`, `StopTransaction` (`meterStop`, `reason`,
//! `transactionData`). 2.x: `TransactionEvent` Started / Updated / Ended (`meterValue`,
//! `idToken`, `evse`, `remoteStartId`, `stoppedReason`).
//!
//! Entries go in (in `seq` order), changed sessions come out; no I/O. The server keeps the
//! result in its store and follows the journal's tail, so a restart rebuilds sessions from
//! the journal like station state.
//!
//! Energy so far is the latest `Energy.Active.Import.Register` (the outlet's, without a
//! phase) minus the start (1.6 `meterStart`, else the first register value of the
//! session), in Wh; power now is the latest `Power.Active.Import`, in W (kWh / kW and 2.x
//! multipliers converted). The meter timeline keeps the last [`TIMELINE_MAX`] readings.

use std::collections::HashMap;

use ocpp_types::{v16, v201};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Millis;
use crate::incoming::{Call2, Call16, Readings, StationCall};
use crate::journal::{Direction, JournalEntry};

/// The actions whose entries change sessions: the journal filter for catching up.
pub const SESSION_ACTIONS: [&str; 4] = [
    "StartTransaction",
    "StopTransaction",
    "MeterValues",
    "TransactionEvent",
];

/// How many meter readings a session's timeline keeps (the newest; older ones are still in
/// the journal and `GET /stations/{id}/meter-values`).
pub const TIMELINE_MAX: usize = 120;

/// The measurand that is energy so far.
const ENERGY: &str = "Energy.Active.Import.Register";
/// The measurand that is power now.
const POWER: &str = "Power.Active.Import";

/// One charging session (a transaction), as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingSession {
    /// The session's id: the journal `seq` of the entry that opened it, as 16 hex digits
    /// ([`session_id`]): unique, and ordered like the sessions' starts as text too.
    pub id: String,
    /// The station.
    pub station_id: String,
    /// 1.6 `transactionId` (assigned by ocpulse) or 2.x `transactionId` (the station's).
    pub transaction_id: String,
    /// `1.6` or `2.x`: which messages described it.
    pub family: String,
    /// 2.x EVSE.
    pub evse_id: Option<i64>,
    /// 1.6 connector, or the 2.x EVSE's connector.
    pub connector_id: Option<i64>,
    /// Who started it (1.6 `idTag`, 2.x `idToken.idToken`).
    pub id_token: Option<String>,
    /// What ocpulse answered about that token at the start (1.6 `idTagInfo.status`).
    pub authorization: Option<String>,
    /// 2.x `remoteStartId`: the RequestStartTransaction that started it.
    pub remote_start_id: Option<i64>,
    /// Whether it is still going (no StopTransaction / TransactionEvent Ended yet).
    pub active: bool,
    /// The station's start timestamp, as sent.
    pub started_at: String,
    /// When ocpulse received the start.
    pub received_at: Millis,
    /// The station's stop timestamp, as sent.
    pub stopped_at: Option<String>,
    /// When ocpulse received the stop.
    pub ended_received_at: Option<Millis>,
    /// Why it stopped (1.6 `reason`, 2.x `stoppedReason`; absent means `Local` in both).
    pub stop_reason: Option<String>,
    /// 2.x `chargingState` as last reported.
    pub charging_state: Option<String>,
    /// The energy register at the start, Wh.
    pub meter_start_wh: Option<f64>,
    /// The energy register as last read (1.6 `meterStop` at the end), Wh.
    pub meter_now_wh: Option<f64>,
    /// Energy delivered so far (final once ended), Wh.
    pub energy_wh: Option<f64>,
    /// The latest active power, W (0 once ended).
    pub power_w: Option<f64>,
    /// The newest meter readings, oldest first (at most [`TIMELINE_MAX`]).
    pub timeline: Vec<MeterPoint>,
    /// The last journal entry that changed it.
    pub last_seq: i64,
    /// When that entry was received.
    pub updated_at: Millis,
}

/// The id of the session opened by journal entry `seq`: fixed-width hex, so ids sort
/// as text the way the sessions started.
pub fn session_id(seq: i64) -> String {
    format!("{seq:016x}")
}

/// The journal `seq` that opened the session with this id, if it is one.
pub fn opening_seq(id: &str) -> Option<i64> {
    if id.len() != 16 {
        return None;
    }
    i64::from_str_radix(id, 16).ok()
}

/// One meter reading of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterPoint {
    /// The station's timestamp of the reading.
    pub timestamp: String,
    /// The journal entry that carried it.
    pub seq: i64,
    /// The energy register, Wh.
    pub energy_wh: Option<f64>,
    /// Active power, W.
    pub power_w: Option<f64>,
}

impl ChargingSession {
    /// A session opened by journal entry `seq`.
    fn opened(
        entry: &JournalEntry,
        seq: i64,
        received_at: Millis,
        transaction_id: String,
        family: &str,
        started_at: String,
    ) -> Self {
        Self {
            id: session_id(seq),
            station_id: entry.station_id.clone(),
            transaction_id,
            family: family.to_owned(),
            evse_id: None,
            connector_id: None,
            id_token: None,
            authorization: None,
            remote_start_id: None,
            active: true,
            started_at,
            received_at,
            stopped_at: None,
            ended_received_at: None,
            stop_reason: None,
            charging_state: None,
            meter_start_wh: None,
            meter_now_wh: None,
            energy_wh: None,
            power_w: None,
            timeline: Vec::new(),
            last_seq: entry.seq,
            updated_at: entry.at,
        }
    }

    /// The EVSE (2.x) or connector (1.6) it runs on: what a start request names.
    pub fn target(&self) -> Option<i64> {
        self.evse_id.or(self.connector_id)
    }

    /// Reads meter values into the register, power and timeline.
    fn read_meter(&mut self, readings: Readings<'_>, seq: i64) {
        let mut points: Vec<MeterPoint> = Vec::new();
        for sample in readings.samples() {
            let Some(value) = sample.value else { continue };
            let energy = sample.measurand == ENERGY;
            if !(energy || sample.measurand == POWER)
                || sample.phase.is_some()
                || sample.location != "Outlet"
            {
                continue;
            }
            let scale = 10f64.powi(sample.multiplier.unwrap_or(0).clamp(-9, 9) as i32);
            let kilo = matches!(sample.unit(), Some("kWh" | "kW"));
            let value = value * scale * if kilo { 1000.0 } else { 1.0 };
            if points
                .last()
                .is_none_or(|p| p.timestamp != sample.timestamp)
            {
                points.push(MeterPoint {
                    timestamp: sample.timestamp.to_owned(),
                    seq,
                    energy_wh: None,
                    power_w: None,
                });
            }
            if let Some(point) = points.last_mut() {
                if energy {
                    point.energy_wh = Some(value);
                } else {
                    point.power_w = Some(value);
                }
            }
        }
        for point in points {
            if let Some(e) = point.energy_wh {
                self.meter_start_wh.get_or_insert(e);
                self.meter_now_wh = Some(e);
            }
            if let Some(p) = point.power_w {
                self.power_w = Some(p);
            }
            self.timeline.push(point);
        }
        let excess = self.timeline.len().saturating_sub(TIMELINE_MAX);
        self.timeline.drain(..excess);
        self.energy_so_far();
    }

    fn energy_so_far(&mut self) {
        if let (Some(start), Some(now)) = (self.meter_start_wh, self.meter_now_wh) {
            self.energy_wh = Some((now - start).max(0.0));
        }
    }

    fn end(&mut self, stopped_at: &str, reason: Option<&str>, received_at: Millis) {
        self.active = false;
        self.stopped_at = Some(stopped_at.to_owned());
        self.ended_received_at = Some(received_at);
        self.stop_reason = Some(reason.unwrap_or("Local").to_owned());
        self.power_w = Some(0.0);
        self.energy_so_far();
    }
}

/// A 1.6 StartTransaction waiting for the CALLRESULT that assigns its transaction id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingStart {
    /// The CALL's message id.
    pub message_id: String,
    /// Its journal `seq` (the session's id once answered).
    pub seq: i64,
    /// When it was received.
    pub at: Millis,
    /// Its payload.
    pub payload: String,
}

/// The open sessions and the starts awaiting their answer: the fold's whole state, small
/// (one entry per connector in use), so it is stored beside the sessions and a restart
/// continues from it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionFold {
    /// Every entry up to this `seq` is folded in.
    pub seq: i64,
    /// Open sessions.
    pub open: Vec<ChargingSession>,
    /// 1.6 StartTransaction CALLs by station, until their CALLRESULT.
    pub pending: HashMap<String, PendingStart>,
}

impl SessionFold {
    /// Folds one entry; returns the session it changed (ended sessions leave `open`).
    /// Entries at or below `seq` are skipped, so a replay from an older point is harmless.
    pub fn apply(&mut self, entry: &JournalEntry) -> Option<ChargingSession> {
        if entry.seq <= self.seq {
            return None;
        }
        self.seq = entry.seq;
        let action = entry.action.as_deref()?;
        if !SESSION_ACTIONS.contains(&action) {
            return None;
        }
        match (entry.direction, entry.frame_type) {
            (Direction::In, "CALL") => self.station_call(entry, action),
            (Direction::Out, "CALLRESULT") if action == "StartTransaction" => {
                self.start_answered(entry)
            }
            _ => None,
        }
    }

    fn station_call(&mut self, entry: &JournalEntry, action: &str) -> Option<ChargingSession> {
        let payload: Value = serde_json::from_str(&entry.payload).ok()?;
        match StationCall::read_journaled(action, &payload) {
            StationCall::V16(Call16::StartTransaction(_)) => {
                self.pending.insert(
                    entry.station_id.clone(),
                    PendingStart {
                        message_id: entry.message_id.clone().unwrap_or_default(),
                        seq: entry.seq,
                        at: entry.at,
                        payload: entry.payload.clone(),
                    },
                );
                None
            }
            StationCall::V16(Call16::StopTransaction(stop)) => {
                let id = stop.transaction_id.to_string();
                let mut session = self.take(&entry.station_id, &id)?;
                if let Some(data) = stop.transaction_data.as_deref() {
                    session.read_meter(Readings::V16(data), entry.seq);
                }
                session.meter_now_wh = Some(stop.meter_stop as f64);
                session.end(
                    &stop.timestamp,
                    stop.reason.map(v16::Reason::as_str),
                    entry.at,
                );
                touch(&mut session, entry);
                Some(session)
            }
            call @ StationCall::V16(Call16::MeterValues(_)) => {
                let meter = call.meter()?;
                let id = meter.transaction_id?;
                let session = self.find(&entry.station_id, &id)?;
                session.read_meter(meter.readings, entry.seq);
                touch(session, entry);
                Some(session.clone())
            }
            StationCall::V2(Call2::TransactionEvent(event)) => Some(self.event(entry, &event)),
            _ => None,
        }
    }

    fn start_answered(&mut self, entry: &JournalEntry) -> Option<ChargingSession> {
        let pending = self.pending.remove(&entry.station_id)?;
        if entry.message_id.as_deref() != Some(pending.message_id.as_str()) {
            return None;
        }
        let request: v16::StartTransactionRequest = serde_json::from_str(&pending.payload).ok()?;
        let answer: Value = serde_json::from_str(&entry.payload).ok()?;
        let id = answer.get("transactionId").and_then(Value::as_i64)?;
        let mut session = ChargingSession::opened(
            entry,
            pending.seq,
            pending.at,
            id.to_string(),
            "1.6",
            request.timestamp.clone(),
        );
        session.connector_id = Some(request.connector_id.into());
        session.id_token = Some(request.id_tag.clone());
        session.authorization = answer
            .pointer("/idTagInfo/status")
            .and_then(Value::as_str)
            .map(str::to_owned);
        session.meter_start_wh = Some(request.meter_start as f64);
        session.meter_now_wh = Some(request.meter_start as f64);
        session.energy_wh = Some(0.0);
        self.open.retain(|s| {
            !(s.station_id == session.station_id && s.transaction_id == session.transaction_id)
        });
        self.open.push(session.clone());
        Some(session)
    }

    fn event(
        &mut self,
        entry: &JournalEntry,
        event: &v201::TransactionEventRequest,
    ) -> ChargingSession {
        let info = &event.transaction_info;
        let id = info.transaction_id.as_str();
        let ended = event.event_type == v201::TransactionEventEnumType::Ended;
        let known = if ended {
            self.take(&entry.station_id, id)
        } else {
            self.find(&entry.station_id, id).cloned()
        };
        let mut session = known.unwrap_or_else(|| {
            ChargingSession::opened(
                entry,
                entry.seq,
                entry.at,
                id.to_owned(),
                "2.x",
                event.timestamp.clone(),
            )
        });
        if let Some(evse) = &event.evse {
            session.evse_id = Some(evse.id.into());
            if let Some(c) = evse.connector_id {
                session.connector_id = Some(c.into());
            }
        }
        if let Some(token) = &event.id_token {
            session.id_token = Some(token.id_token.clone());
        }
        if let Some(remote) = info.remote_start_id {
            session.remote_start_id = Some(remote.into());
        }
        if let Some(state) = info.charging_state {
            session.charging_state = Some(state.as_str().to_owned());
        }
        if let Some(values) = event.meter_value.as_deref() {
            session.read_meter(Readings::V2(values), entry.seq);
        }
        if ended {
            session.end(
                &event.timestamp,
                info.stopped_reason.map(v201::ReasonEnumType::as_str),
                entry.at,
            );
        }
        touch(&mut session, entry);
        if !ended {
            match self.find(&entry.station_id, id) {
                Some(open) => *open = session.clone(),
                None => self.open.push(session.clone()),
            }
        }
        session
    }

    fn find(&mut self, station: &str, transaction: &str) -> Option<&mut ChargingSession> {
        self.open
            .iter_mut()
            .find(|s| s.station_id == station && s.transaction_id == transaction)
    }

    fn take(&mut self, station: &str, transaction: &str) -> Option<ChargingSession> {
        let i = self
            .open
            .iter()
            .position(|s| s.station_id == station && s.transaction_id == transaction)?;
        Some(self.open.remove(i))
    }
}

fn touch(session: &mut ChargingSession, entry: &JournalEntry) {
    session.last_seq = entry.seq;
    session.updated_at = entry.at;
}

/// What `GET /sessions` selects. Every filter is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFilter {
    /// Only this station.
    pub station_id: Option<String>,
    /// Only open (`true`) or ended (`false`) sessions.
    pub active: Option<bool>,
    /// Only sessions ocpulse saw start at or after this time.
    pub from: Option<Millis>,
    /// Only sessions ocpulse saw start before this time.
    pub to: Option<Millis>,
}

impl SessionFilter {
    /// Whether `session` is selected.
    pub fn matches(&self, session: &ChargingSession) -> bool {
        self.station_id
            .as_deref()
            .is_none_or(|s| s == session.station_id)
            && self.active.is_none_or(|a| a == session.active)
            && self.from.is_none_or(|f| session.received_at >= f)
            && self.to.is_none_or(|t| session.received_at < t)
    }
}

/// How a 2.x remote start is told apart from the station's other transactions: the
/// `remoteStartId` it sent; how a 1.6 one is: the connector (if asked for) and the id
/// token, on a session opened after the request was sent (`after_seq`).
#[derive(Debug, Clone, PartialEq)]
pub struct StartWatch {
    /// The station asked.
    pub station_id: String,
    /// Only sessions opened by a journal entry after this `seq`.
    pub after_seq: i64,
    /// The EVSE (2.x) or connector (1.6) asked for, if any.
    pub target: Option<i64>,
    /// The token the session must be started with.
    pub id_token: String,
    /// 2.x: the `remoteStartId` sent.
    pub remote_start_id: Option<i64>,
    /// 2.x: the `transactionId` the station's answer named (a transaction already under
    /// way that the request authorized).
    pub transaction_id: Option<String>,
}

impl StartWatch {
    /// Whether `session` is the one the request started.
    pub fn matches(&self, session: &ChargingSession) -> bool {
        if session.station_id != self.station_id {
            return false;
        }
        if let Some(tx) = &self.transaction_id {
            return *tx == session.transaction_id;
        }
        if let (Some(want), Some(got)) = (self.remote_start_id, session.remote_start_id) {
            return want == got;
        }
        opening_seq(&session.id).is_some_and(|s| s > self.after_seq)
            && session.id_token.as_deref() == Some(self.id_token.as_str())
            && self.target.is_none_or(|t| session.target() == Some(t))
    }
}

/// The CALL that asks a station of `family` to start a session, in one vocabulary:
/// 1.6 `RemoteStartTransaction` (`connectorId` = `target`, `idTag`), 2.x
/// `RequestStartTransaction` (`evseId` = `target`, `idToken` of `id_token_type`,
/// `remoteStartId`). The payload is schema-checked before it is sent.
pub fn remote_start(
    family: ocpp_rpc::Family,
    target: Option<i64>,
    id_token: &str,
    id_token_type: Option<&str>,
    remote_start_id: i64,
) -> (&'static str, Value) {
    let mut payload = serde_json::Map::new();
    match family {
        ocpp_rpc::Family::V16 => {
            if let Some(t) = target {
                payload.insert("connectorId".into(), t.into());
            }
            payload.insert("idTag".into(), id_token.into());
            ("RemoteStartTransaction", Value::Object(payload))
        }
        ocpp_rpc::Family::V2 => {
            if let Some(t) = target {
                payload.insert("evseId".into(), t.into());
            }
            payload.insert(
                "idToken".into(),
                serde_json::json!({"idToken": id_token, "type": id_token_type.unwrap_or("Central")}),
            );
            payload.insert("remoteStartId".into(), remote_start_id.into());
            ("RequestStartTransaction", Value::Object(payload))
        }
    }
}

/// The CALL that asks a station of `family` to stop `session`: 1.6
/// `RemoteStopTransaction` (its integer `transactionId`), 2.x `RequestStopTransaction`.
/// `None` for a 1.6 transaction id that is not a number (a 2.x session on a station now
/// speaking 1.6).
pub fn remote_stop(
    family: ocpp_rpc::Family,
    session: &ChargingSession,
) -> Option<(&'static str, Value)> {
    match family {
        ocpp_rpc::Family::V16 => {
            let id = session.transaction_id.parse::<i64>().ok()?;
            Some((
                "RemoteStopTransaction",
                serde_json::json!({"transactionId": id}),
            ))
        }
        ocpp_rpc::Family::V2 => Some((
            "RequestStopTransaction",
            serde_json::json!({"transactionId": session.transaction_id}),
        )),
    }
}

#[cfg(test)]
mod tests;
