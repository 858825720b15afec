//! Fault injection for the trigger path: the failures real firmware shows, per
//! requestedMessage or for all, from flags (`--fault StatusNotification=reject`) or a
//! scenario file.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// How a station misbehaves when triggered for one requestedMessage.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TriggerFault {
    /// Follow the spec (the default).
    #[default]
    None,
    /// Answer `Rejected`.
    Reject,
    /// Answer `NotImplemented`.
    NotImplemented,
    /// Answer with a CALLERROR of this code.
    CallError(String),
    /// Never answer the TriggerMessage.
    NoAnswer,
    /// Answer `Accepted`, then never send the message.
    AcceptNeverSend,
    /// Answer `Accepted`, send the message after this delay (longer than a caller waits).
    Delay(Duration),
    /// Send the message before the TriggerMessage response (violates F06.FR.04 / §5.17).
    BeforeResponse,
    /// Send the message about another connector/EVSE than the one asked for.
    WrongTarget,
    /// Send the message twice.
    Twice,
    /// Start an own CALL while the CSMS's TriggerMessage is still unanswered (crossing CALLs).
    Crossing,
}

impl std::str::FromStr for TriggerFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, arg) = s.split_once(':').map_or((s, None), |(a, b)| (a, Some(b)));
        Ok(match (name, arg) {
            ("none" | "ok", None) => Self::None,
            ("reject", None) => Self::Reject,
            ("not-implemented", None) => Self::NotImplemented,
            ("callerror", code) => Self::CallError(code.unwrap_or("InternalError").to_owned()),
            ("no-answer", None) => Self::NoAnswer,
            ("accept-never-send", None) => Self::AcceptNeverSend,
            ("delay", Some(ms)) => Self::Delay(Duration::from_millis(
                ms.parse()
                    .map_err(|_| format!("delay:{ms}: not a number of milliseconds"))?,
            )),
            ("before-response", None) => Self::BeforeResponse,
            ("wrong-target", None) => Self::WrongTarget,
            ("twice", None) => Self::Twice,
            ("crossing", None) => Self::Crossing,
            _ => {
                return Err(format!(
                    "unknown fault {s:?}; use none, reject, not-implemented, callerror[:CODE], no-answer, accept-never-send, delay:MS, before-response, wrong-target, twice or crossing"
                ));
            }
        })
    }
}

/// How a station misbehaves when the CSMS asks for an operation (GetLog, GetDiagnostics,
/// UpdateFirmware; `reject` also for Reset, ChangeAvailability, UnlockConnector, ClearCache,
/// ChangeConfiguration): `--fault GetLog=reject`, `--fault Reset=reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationFault {
    /// Refuse it (GetLog `Rejected`; 1.6 GetDiagnostics answers without a file name; the
    /// [`REFUSABLE_OPERATIONS`] answer `Rejected`, UnlockConnector `UnlockFailed`, changing
    /// nothing).
    Reject,
    /// Accept it, then fail (the upload is never made; `UploadFailed` / `UploadFailure`;
    /// a firmware download fails: `DownloadFailed`).
    Fail,
    /// UpdateFirmware: accept it and install, but every status report is lost on the way
    /// (none is sent); only a triggered FirmwareStatusNotification and the boot with the
    /// new version tell the CSMS how it went.
    Quiet,
}

impl std::str::FromStr for OperationFault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reject" => Ok(Self::Reject),
            "fail" => Ok(Self::Fail),
            "quiet" => Ok(Self::Quiet),
            _ => Err(format!(
                "unknown operation fault {s:?}; use reject, fail or quiet"
            )),
        }
    }
}

/// The operations [`OperationFault`]s apply to (any other name is a trigger's).
pub const FAULTY_OPERATIONS: [&str; 9] = [
    "GetLog",
    "GetDiagnostics",
    "UpdateFirmware",
    "SignedUpdateFirmware",
    "Reset",
    "ChangeAvailability",
    "UnlockConnector",
    "ClearCache",
    "ChangeConfiguration",
];

/// The operations a `reject` fault answers with their refusal status at once (firmware that
/// will not be told); `fail` means nothing more for them.
pub const REFUSABLE_OPERATIONS: [&str; 5] = [
    "Reset",
    "ChangeAvailability",
    "UnlockConnector",
    "ClearCache",
    "ChangeConfiguration",
];

/// Every fault of one station.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Per requestedMessage (`*` applies to every message without its own entry).
    pub triggers: BTreeMap<String, TriggerFault>,
    /// Alive socket, dead firmware: keep heartbeating, ignore every CSMS CALL.
    pub ignore_csms_calls: bool,
    /// Report every connector Faulted from the start.
    pub faulted: bool,
    /// No car plugged in: accept RemoteStartTransaction / RequestStartTransaction and
    /// never start the transaction.
    pub no_car: bool,
    /// Answer every RemoteStartTransaction / RequestStartTransaction `Rejected`.
    pub reject_remote_start: bool,
    /// Per operation ([`FAULTY_OPERATIONS`]).
    pub operations: BTreeMap<String, OperationFault>,
}

impl Faults {
    /// The fault for a requestedMessage.
    pub fn for_trigger(&self, requested: &str) -> &TriggerFault {
        static NONE: TriggerFault = TriggerFault::None;
        self.triggers
            .get(requested)
            .or_else(|| self.triggers.get("*"))
            .unwrap_or(&NONE)
    }

    /// The fault for an operation, if any.
    pub fn for_operation(&self, action: &str) -> Option<OperationFault> {
        self.operations.get(action).copied()
    }

    /// Adds `MESSAGE=FAULT` (as given on the command line): a trigger's, or an
    /// operation's (`GetLog=reject`, `UpdateFirmware=fail`).
    pub fn add_flag(&mut self, flag: &str) -> Result<(), String> {
        let (message, fault) = flag.split_once('=').ok_or_else(|| {
            format!(
                "--fault {flag:?}: use MESSAGE=FAULT, e.g. StatusNotification=reject, *=no-answer or GetLog=reject"
            )
        })?;
        if FAULTY_OPERATIONS.contains(&message) {
            self.operations.insert(message.to_owned(), fault.parse()?);
        } else {
            self.triggers.insert(message.to_owned(), fault.parse()?);
        }
        Ok(())
    }
}

/// One entry of a scenario file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FaultSpec {
    /// requestedMessage (or `*`) → fault name as on the command line.
    #[serde(default)]
    pub triggers: BTreeMap<String, String>,
    /// See [`Faults::ignore_csms_calls`].
    #[serde(default)]
    pub ignore_csms_calls: bool,
    /// See [`Faults::faulted`].
    #[serde(default)]
    pub faulted: bool,
    /// See [`Faults::no_car`].
    #[serde(default)]
    pub no_car: bool,
    /// See [`Faults::reject_remote_start`].
    #[serde(default)]
    pub reject_remote_start: bool,
    /// Operation → fault name (`reject`, `fail`), see [`Faults::operations`].
    #[serde(default)]
    pub operations: BTreeMap<String, String>,
}

/// A scenario file: faults for every station and per station id.
///
/// ```json
/// {"all": {"triggers": {"MeterValues": "delay:20000"}},
///  "stations": {"SIM0002": {"triggers": {"*": "no-answer"}, "ignoreCsmsCalls": true}}}
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Applies to every station.
    #[serde(default)]
    pub all: FaultSpec,
    /// Per station id, on top of `all`.
    #[serde(default)]
    pub stations: BTreeMap<String, FaultSpec>,
}

impl Scenario {
    /// The faults of station `id`, with `base` (from flags) underneath.
    pub fn faults_for(&self, id: &str, base: &Faults) -> Result<Faults, String> {
        let mut faults = base.clone();
        for spec in std::iter::once(&self.all).chain(self.stations.get(id)) {
            for (message, fault) in &spec.triggers {
                faults.triggers.insert(message.clone(), fault.parse()?);
            }
            for (operation, fault) in &spec.operations {
                faults.operations.insert(operation.clone(), fault.parse()?);
            }
            faults.ignore_csms_calls |= spec.ignore_csms_calls;
            faults.faulted |= spec.faulted;
            faults.no_car |= spec.no_car;
            faults.reject_remote_start |= spec.reject_remote_start;
        }
        Ok(faults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_flags_parse_and_star_applies_to_the_rest() {
        let mut f = Faults::default();
        f.add_flag("StatusNotification=reject").expect("flag");
        f.add_flag("*=delay:1500").expect("flag");
        assert_eq!(f.for_trigger("StatusNotification"), &TriggerFault::Reject);
        assert_eq!(
            f.for_trigger("Heartbeat"),
            &TriggerFault::Delay(Duration::from_millis(1500))
        );
        assert!(f.add_flag("Heartbeat=explode").is_err());
        f.add_flag("GetLog=reject").expect("an operation's fault");
        assert_eq!(f.for_operation("GetLog"), Some(OperationFault::Reject));
        assert!(f.add_flag("GetLog=no-answer").is_err());
        assert!(f.add_flag("Heartbeat").is_err());
        assert_eq!(
            "callerror:NotSupported".parse(),
            Ok(TriggerFault::CallError("NotSupported".into()))
        );
    }

    #[test]
    fn scenario_layers_station_faults_over_all() {
        let s: Scenario = serde_json::from_str(r#"{"all": {"triggers": {"MeterValues": "reject"}}, "stations": {"S2": {"triggers": {"*": "no-answer"}, "ignoreCsmsCalls": true}}}"#).expect("json");
        let f1 = s.faults_for("S1", &Faults::default()).expect("faults");
        let f2 = s.faults_for("S2", &Faults::default()).expect("faults");
        assert_eq!(f1.for_trigger("MeterValues"), &TriggerFault::Reject);
        assert_eq!(f1.for_trigger("Heartbeat"), &TriggerFault::None);
        assert_eq!(f2.for_trigger("Heartbeat"), &TriggerFault::NoAnswer);
        assert!(f2.ignore_csms_calls && !f1.ignore_csms_calls);
    }
}
