//! The CSMS operations a real station supports besides TriggerMessage: configuration,
//! reset, remote start/stop, availability, firmware updates and log uploads (which run
//! through their statuses over a few seconds, so a triggered status reports them live).

use std::time::Duration;

use ocpp_rpc::Family;
use serde_json::{Value, json};

use crate::clock::Now;
use crate::faults::OperationFault;
use crate::model::ConnState;
use crate::station::{Activity, ActivityKind, Deferred, Pending, Purpose, Station, Upload};

/// Configuration keys (1.6) / variables (2.0.1 `Component.Variable`) the station exposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKeys {
    entries: Vec<(String, String, bool)>,
}

impl Default for ConfigKeys {
    fn default() -> Self {
        let e = |k: &str, v: &str, ro: bool| (k.to_owned(), v.to_owned(), ro);
        Self {
            entries: vec![
                e("HeartbeatInterval", "300", false),
                e("MeterValueSampleInterval", "30", false),
                e(
                    "MeterValuesSampledData",
                    "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage",
                    false,
                ),
                e("WebSocketPingInterval", "0", false),
                e("ConnectionTimeOut", "60", false),
                e(
                    "SupportedFeatureProfiles",
                    "Core,FirmwareManagement,RemoteTrigger",
                    true,
                ),
                e("OCPPCommCtrlr.HeartbeatInterval", "300", false),
                e("SampledDataCtrlr.TxUpdatedInterval", "30", false),
                e(
                    "AlignedDataCtrlr.Measurands",
                    "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage",
                    false,
                ),
                e("DeviceDataCtrlr.ItemsPerMessage", "20", true),
                e("OCPPCommCtrlr.WebSocketPingInterval", "0", false),
            ],
        }
    }
}

impl ConfigKeys {
    fn get(&self, key: &str) -> Option<&(String, String, bool)> {
        self.entries.iter().find(|(k, _, _)| k == key)
    }

    fn set(&mut self, key: &str, value: &str) -> &'static str {
        match self.entries.iter_mut().find(|(k, _, _)| k == key) {
            Some((_, _, true)) => "Rejected",
            Some((_, v, false)) => {
                *v = value.to_owned();
                if REBOOT_REQUIRED.contains(&key) {
                    "RebootRequired"
                } else {
                    "Accepted"
                }
            }
            None => "NotSupported",
        }
    }
}

/// Keys whose new value takes effect only after a reboot (the station says
/// `RebootRequired`, as real ones do for connection settings).
const REBOOT_REQUIRED: [&str; 2] = [
    "WebSocketPingInterval",
    "OCPPCommCtrlr.WebSocketPingInterval",
];

/// Variables per NotifyReport part, so a full report comes in several parts.
const REPORT_ITEMS_PER_PART: usize = 4;

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl Station {
    /// Answers a CSMS operation other than TriggerMessage; `None` if not supported.
    pub(crate) fn on_operation(&mut self, action: &str, p: &Value, now: Now) -> Option<Value> {
        let v16 = self.version().family() == Family::V16;
        Some(match action {
            "GetConfiguration" if v16 => {
                let wanted: Option<Vec<&str>> = p
                    .get("key")
                    .and_then(Value::as_array)
                    .map(|k| k.iter().filter_map(Value::as_str).collect());
                let keys: Vec<_> = self
                    .config_keys
                    .entries
                    .iter()
                    .filter(|(k, _, _)| !k.contains('.'))
                    .collect();
                let found: Vec<Value> = keys
                    .iter()
                    .filter(|(k, _, _)| wanted.as_ref().is_none_or(|w| w.contains(&k.as_str())))
                    .map(|(k, v, ro)| json!({"key": k, "readonly": ro, "value": v}))
                    .collect();
                let mut answer = json!({"configurationKey": found});
                let unknown: Vec<&str> = wanted
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|w| !keys.iter().any(|(k, _, _)| k == w))
                    .collect();
                if !unknown.is_empty() {
                    answer["unknownKey"] = json!(unknown);
                }
                answer
            }
            "ChangeConfiguration" if v16 => {
                let (key, value) = (text(p, "key")?, text(p, "value")?);
                let status = self.config_keys.set(key, value);
                if status == "Accepted" && key == "HeartbeatInterval" {
                    self.apply_heartbeat(value, now);
                }
                json!({"status": status})
            }
            "GetVariables" if !v16 => {
                let results: Vec<Value> = p
                    .get("getVariableData")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|d| {
                        let (c, var) = (
                            d["component"]["name"].as_str().unwrap_or_default(),
                            d["variable"]["name"].as_str().unwrap_or_default(),
                        );
                        let mut r = json!({"component": d["component"], "variable": d["variable"]});
                        match self.config_keys.get(&format!("{c}.{var}")) {
                            Some((_, value, _)) => {
                                r["attributeStatus"] = json!("Accepted");
                                r["attributeValue"] = json!(value);
                            }
                            None if self
                                .config_keys
                                .entries
                                .iter()
                                .any(|(k, _, _)| k.starts_with(&format!("{c}."))) =>
                            {
                                r["attributeStatus"] = json!("UnknownVariable")
                            }
                            None => r["attributeStatus"] = json!("UnknownComponent"),
                        }
                        r
                    })
                    .collect();
                json!({"getVariableResult": results})
            }
            "SetVariables" if !v16 => {
                let mut results = Vec::new();
                for d in p
                    .get("setVariableData")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let (c, var) = (
                        d["component"]["name"].as_str().unwrap_or_default(),
                        d["variable"]["name"].as_str().unwrap_or_default(),
                    );
                    let value = d["attributeValue"].as_str().unwrap_or_default();
                    let key = format!("{c}.{var}");
                    let status = match self.config_keys.set(&key, value) {
                        "NotSupported" => "UnknownVariable",
                        other => other,
                    };
                    if status == "Accepted" && key == "OCPPCommCtrlr.HeartbeatInterval" {
                        self.apply_heartbeat(value, now);
                    }
                    results.push(json!({"attributeStatus": status, "component": d["component"], "variable": d["variable"]}));
                }
                json!({"setVariableResult": results})
            }
            "GetBaseReport" if !v16 => {
                let request = p.get("requestId").and_then(Value::as_i64).unwrap_or(0);
                if text(p, "reportBase") == Some("SummaryInventory") {
                    return Some(json!({"status": "NotSupported"}));
                }
                self.report_parts(request, now);
                json!({"status": "Accepted"})
            }
            "Reset" => {
                self.deferred
                    .push((now.mono + Duration::from_secs(1), Deferred::Reboot));
                json!({"status": "Accepted"})
            }
            "RemoteStartTransaction" | "RequestStartTransaction" => {
                let wanted = if v16 {
                    p.get("connectorId")
                } else {
                    p.get("evseId")
                }
                .and_then(Value::as_i64);
                let tag = if v16 {
                    text(p, "idTag")
                } else {
                    p.get("idToken").and_then(|t| text(t, "idToken"))
                }
                .unwrap_or("REMOTE")
                .to_owned();
                let index = match wanted {
                    Some(n) => usize::try_from(n - 1).ok().filter(|i| {
                        self.evses
                            .get(*i)
                            .is_some_and(|e| e.tx.is_none() && e.state() == ConnState::Available)
                    }),
                    None => self
                        .evses
                        .iter()
                        .position(|e| e.tx.is_none() && e.state() == ConnState::Available),
                };
                if self.cfg.faults.reject_remote_start {
                    return Some(json!({"status": "Rejected"}));
                }
                if self.cfg.faults.no_car {
                    // Accepted, waiting for a car that never comes.
                    return Some(json!({"status": "Accepted"}));
                }
                let remote_start_id = p.get("remoteStartId").and_then(Value::as_i64);
                match index {
                    Some(i) => {
                        self.start_remote_transaction(i, &tag, remote_start_id, now);
                        let mut answer = json!({"status": "Accepted"});
                        if let (false, Some(id)) =
                            (v16, self.evses[i].tx.as_ref().and_then(|t| t.id.clone()))
                        {
                            answer["transactionId"] = json!(id);
                        }
                        answer
                    }
                    None => json!({"status": "Rejected"}),
                }
            }
            "RemoteStopTransaction" | "RequestStopTransaction" => {
                let wanted = match p.get("transactionId") {
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                };
                match self.evses.iter().position(|e| {
                    e.tx.as_ref().and_then(|t| t.id.as_deref()) == Some(wanted.as_str())
                }) {
                    Some(i) => {
                        self.end_transaction(i, "Remote", now);
                        json!({"status": "Accepted"})
                    }
                    None => json!({"status": "Rejected"}),
                }
            }
            "ChangeAvailability" => {
                let operative = matches!(
                    text(p, "type").or_else(|| text(p, "operationalStatus")),
                    Some("Operative")
                );
                let target = if v16 {
                    p.get("connectorId")
                        .and_then(Value::as_i64)
                        .filter(|c| *c > 0)
                } else {
                    p.get("evse")
                        .and_then(|e| e.get("id"))
                        .and_then(Value::as_i64)
                };
                let state = if operative {
                    ConnState::Available
                } else {
                    ConnState::Unavailable
                };
                for i in 0..self.evses.len() {
                    let id = i64::from(self.evses[i].id);
                    if target.is_none_or(|t| t == id) && self.evses[i].tx.is_none() {
                        for c in 0..self.evses[i].connectors.len() {
                            self.set_state(i, c, state, now);
                        }
                    }
                }
                json!({"status": "Accepted"})
            }
            "UnlockConnector" => json!({"status": "Unlocked"}),
            "ClearCache" => json!({"status": "Accepted"}),
            "DataTransfer" => json!({"status": "UnknownVendorId"}),
            "GetTransactionStatus" if !v16 => json!({"messagesInQueue": false}),
            "CertificateSigned" => json!({"status": "Accepted"}),
            "GetDiagnostics" if v16 => {
                let fault = self.cfg.faults.for_operation(action);
                if fault == Some(OperationFault::Reject) {
                    // 1.6 has no refusal: an answer without fileName says there is nothing.
                    return Some(json!({}));
                }
                let file_name = format!("diagnostics-{}.log", self.cfg.id);
                self.start_log(
                    "DiagnosticsStatusNotification",
                    None,
                    text(p, "location")?,
                    &file_name,
                    fault,
                    now,
                );
                json!({"fileName": file_name})
            }
            "GetLog" => {
                let fault = self.cfg.faults.for_operation(action);
                if fault == Some(OperationFault::Reject) {
                    return Some(json!({"status": "Rejected"}));
                }
                let request = p.get("requestId").and_then(Value::as_i64);
                let location = p.get("log").and_then(|l| text(l, "remoteLocation"))?;
                let file_name = format!("log-{}.log", self.cfg.id);
                // A new request while one uploads cancels it (use case N01): AcceptedCanceled.
                let status = if self.log.running && self.log.action == "LogStatusNotification" {
                    "AcceptedCanceled"
                } else {
                    "Accepted"
                };
                self.start_log(
                    "LogStatusNotification",
                    request,
                    location,
                    &file_name,
                    fault,
                    now,
                );
                json!({"status": status, "filename": file_name})
            }
            "UpdateFirmware" if v16 => {
                let fault = self.cfg.faults.for_operation(action);
                if fault == Some(OperationFault::Reject) {
                    // 1.6 core has no refusal: a station without firmware management.
                    return None;
                }
                let location = text(p, "location")?;
                self.start_update("FirmwareStatusNotification", None, location, fault, now);
                json!({})
            }
            "UpdateFirmware" | "SignedUpdateFirmware" => {
                let fault = self.cfg.faults.for_operation(action);
                if fault == Some(OperationFault::Reject) {
                    return Some(json!({"status": "Rejected"}));
                }
                let request = p.get("requestId").and_then(Value::as_i64);
                let location = p.get("firmware").and_then(|f| text(f, "location"))?;
                let action = if v16 {
                    "SignedFirmwareStatusNotification"
                } else {
                    "FirmwareStatusNotification"
                };
                // A new update while one runs cancels it (L01.FR.24): AcceptedCanceled.
                let status = if self.firmware.running {
                    "AcceptedCanceled"
                } else {
                    "Accepted"
                };
                self.start_update(action, request, location, fault, now);
                json!({"status": status})
            }
            _ => return None,
        })
    }

    /// Queues the NotifyReport parts of a base report: every `Component.Variable` key
    /// with its value and mutability, a few per part, sent after the answer.
    fn report_parts(&mut self, request_id: i64, now: Now) {
        let data: Vec<Value> = self
            .config_keys
            .entries
            .iter()
            .filter_map(|(k, v, ro)| {
                let (c, var) = k.split_once('.')?;
                let mutability = if *ro { "ReadOnly" } else { "ReadWrite" };
                Some(json!({"component": {"name": c}, "variable": {"name": var},
                    "variableAttribute": [{"type": "Actual", "value": v, "mutability": mutability}]}))
            })
            .collect();
        let chunks: Vec<&[Value]> = data.chunks(REPORT_ITEMS_PER_PART).collect();
        let last = chunks.len().saturating_sub(1);
        let parts = chunks
            .iter()
            .enumerate()
            .map(|(n, chunk)| Pending {
                action: "NotifyReport",
                payload: json!({"requestId": request_id, "generatedAt": now.rfc3339(),
                    "seqNo": n, "tbc": n < last, "reportData": chunk}),
                purpose: Purpose::Other,
            })
            .collect();
        self.deferred.push((
            now.mono + Duration::from_millis(100),
            Deferred::Enqueue(parts),
        ));
    }

    fn apply_heartbeat(&mut self, value: &str, now: Now) {
        if let Ok(secs) = value.parse::<u64>()
            && secs > 0
        {
            self.heartbeat_interval = Duration::from_secs(secs);
            if self.next_heartbeat.is_some() {
                self.next_heartbeat = Some(now.mono + self.heartbeat_interval);
            }
        }
    }

    /// Starts a log upload: `Uploading` after half a second, when the runner uploads the
    /// file to `location` (its outcome then reports `Uploaded` or the failure); with the
    /// `fail` fault the upload is never made and the failure reported.
    fn start_log(
        &mut self,
        action: &'static str,
        request_id: Option<i64>,
        location: &str,
        file_name: &str,
        fault: Option<OperationFault>,
        now: Now,
    ) {
        let failure = if action == "DiagnosticsStatusNotification" {
            "UploadFailed"
        } else {
            "UploadFailure"
        };
        let steps: &[&'static str] = if fault == Some(OperationFault::Fail) {
            self.log_upload = None;
            &["Uploading", failure]
        } else {
            self.log_upload = Some(Upload {
                url: location.to_owned(),
                file_name: file_name.to_owned(),
                body: self.log_file(now).into_bytes(),
                multipart: self.version().family() == Family::V16,
            });
            &["Uploading"]
        };
        self.start_activity(ActivityKind::Log, action, request_id, steps, now);
    }

    /// The log file a station uploads: what it is, what it runs, what its connectors do.
    pub(crate) fn log_file(&self, now: Now) -> String {
        let mut text = format!(
            "{} station={} vendor={} model={} firmware={} protocol={}\n",
            now.rfc3339(),
            self.cfg.id,
            self.cfg.vendor,
            self.cfg.model,
            self.cfg.firmware_version,
            self.version().subprotocol(),
        );
        for evse in &self.evses {
            text.push_str(&format!(
                "evse={} connectors={:?} transaction={}\n",
                evse.id,
                evse.connectors,
                evse.tx
                    .as_ref()
                    .and_then(|t| t.id.as_deref())
                    .unwrap_or("none"),
            ));
        }
        text
    }

    /// Downloads and installs the image at `location`: the statuses a second apart, a
    /// reboot into the new version (the file name without its last extension:
    /// `acme-2.1.bin` installs `acme-2.1`, so a test can expect it), then `Installed`. `fail` stops at `DownloadFailed`; `quiet` sends none of
    /// the reports.
    fn start_update(
        &mut self,
        action: &'static str,
        request_id: Option<i64>,
        location: &str,
        fault: Option<OperationFault>,
        now: Now,
    ) {
        // The update it replaces (AcceptedCanceled) reports and reboots no more.
        self.deferred.retain(|(_, d)| {
            !matches!(
                d,
                Deferred::Progress(ActivityKind::Firmware, _) | Deferred::FirmwareReboot(_)
            )
        });
        let signed =
            action != "FirmwareStatusNotification" || self.version().family() == Family::V2;
        let steps: &[&'static str] = match (fault, signed) {
            (Some(OperationFault::Fail), _) => &["Downloading", "DownloadFailed"],
            (_, false) => &["Downloading", "Downloaded", "Installing"],
            (_, true) => &[
                "Downloading",
                "Downloaded",
                "SignatureVerified",
                "Installing",
                "InstallRebooting",
            ],
        };
        self.start_activity(ActivityKind::Firmware, action, request_id, steps, now);
        self.firmware.quiet = fault == Some(OperationFault::Quiet);
        if fault == Some(OperationFault::Fail) {
            return;
        }
        let version = location
            .rsplit('/')
            .next()
            .map(|file| file.rsplit_once('.').map_or(file, |(stem, _)| stem))
            .filter(|v| !v.is_empty())
            .unwrap_or("updated")
            .chars()
            .take(50)
            .collect::<String>();
        let slot =
            |n: usize| now.mono + Duration::from_millis(500 + 1000 * u64::try_from(n).unwrap_or(0));
        self.deferred
            .push((slot(steps.len()), Deferred::FirmwareReboot(version)));
        self.deferred.push((
            slot(steps.len() + 1),
            Deferred::Progress(ActivityKind::Firmware, "Installed"),
        ));
    }

    fn start_activity(
        &mut self,
        kind: ActivityKind,
        action: &'static str,
        request_id: Option<i64>,
        steps: &[&'static str],
        now: Now,
    ) {
        let activity = Activity {
            status: "Idle",
            request_id,
            action,
            running: true,
            quiet: false,
        };
        match kind {
            ActivityKind::Firmware => self.firmware = activity,
            ActivityKind::Log => self.log = activity,
        }
        for (n, status) in steps.iter().enumerate() {
            let at = now.mono + Duration::from_millis(500 + 1000 * u64::try_from(n).unwrap_or(0));
            self.deferred.push((at, Deferred::Progress(kind, status)));
        }
    }

    /// An activity reached `status`: record it and report it.
    pub(crate) fn progress(&mut self, kind: ActivityKind, status: &'static str) {
        let activity = match kind {
            ActivityKind::Firmware => &mut self.firmware,
            ActivityKind::Log => &mut self.log,
        };
        activity.status = status;
        activity.running = !matches!(
            status,
            "Installed"
                | "Uploaded"
                | "UploadFailed"
                | "UploadFailure"
                | "DownloadFailed"
                | "InstallationFailed"
        );
        let (action, request_id) = (activity.action, activity.request_id);
        if activity.quiet {
            return;
        }
        // 1.6 core notifications have no requestId.
        let payload = match action {
            "DiagnosticsStatusNotification" => json!({"status": status}),
            "FirmwareStatusNotification" if self.version().family() == Family::V16 => {
                json!({"status": status})
            }
            _ => crate::messages::activity_status(status, request_id),
        };
        self.send(action, payload, Purpose::Other);
    }
}
