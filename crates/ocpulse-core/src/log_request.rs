//! Log requests (GetDiagnostics in 1.6, GetLog in 1.6's security extension and 2.0.1):
//! the stored request, the payload sent to the station, and the request's status as the
//! fold of what the journal holds about it.
//!
//! The facts live in the journal: the CALL and its answer, the station's
//! DiagnosticsStatusNotification / LogStatusNotification, and the `LogUploaded` event the
//! upload endpoint journals. The stored [`LogRequest`] keeps what the server decided (the
//! token's hash, the requestId, the answer, the stored file) so a restart loses nothing;
//! [`LogRequest::view`] folds the station's notifications into the status shown. 1.6
//! DiagnosticsStatusNotification carries no requestId: it belongs to the station's latest
//! request made before it (a station uploads one diagnostics file at a time).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Millis;
use crate::journal::JournalEntry;

/// The `Doc` kind log requests are stored under.
pub const DOC_KIND: &str = "log_request";

/// The `EVENT` action journaled when a station's upload arrived and was stored.
pub const LOG_UPLOADED: &str = "LogUploaded";

/// The station messages that report a log upload's progress.
pub const STATUS_ACTIONS: [&str; 2] = ["DiagnosticsStatusNotification", "LogStatusNotification"];

/// The log types GetLog knows (2.0.1 `LogEnumType`, 1.6 security extension alike).
pub const LOG_TYPES: [&str; 2] = ["DiagnosticsLog", "SecurityLog"];

/// Which CALL asks the station for its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogCall {
    /// 1.6 core GetDiagnostics: `location`, answered with `fileName`; progress by
    /// DiagnosticsStatusNotification without requestId.
    GetDiagnostics,
    /// GetLog (2.0.1, 1.6 security extension): `log.remoteLocation`, `requestId`,
    /// answered with `status` and `filename`; progress by LogStatusNotification.
    GetLog,
}

impl LogCall {
    /// The OCPP action name.
    pub fn action(self) -> &'static str {
        match self {
            Self::GetDiagnostics => "GetDiagnostics",
            Self::GetLog => "GetLog",
        }
    }

    /// The notification that reports this call's progress.
    pub fn status_action(self) -> &'static str {
        match self {
            Self::GetDiagnostics => "DiagnosticsStatusNotification",
            Self::GetLog => "LogStatusNotification",
        }
    }

    /// The call for a station: GetLog for 2.x, and for 1.6 when a log type is asked for
    /// (only the security extension's GetLog has one); GetDiagnostics otherwise.
    pub fn for_station(v16: bool, log_type: Option<&str>) -> Self {
        if v16 && log_type.is_none() {
            Self::GetDiagnostics
        } else {
            Self::GetLog
        }
    }
}

/// What a caller asks for, already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogAsk {
    /// GetLog's `logType` (`DiagnosticsLog` when GetLog is sent without one).
    pub log_type: Option<String>,
    /// Oldest entry wanted (RFC 3339, as given).
    pub from: Option<String>,
    /// Latest entry wanted (RFC 3339, as given).
    pub to: Option<String>,
}

/// The CALL payload asking the station to upload to `location`.
pub fn payload(call: LogCall, ask: &LogAsk, location: &str, request_id: i64) -> Value {
    match call {
        LogCall::GetDiagnostics => {
            let mut p = json!({"location": location});
            if let Some(from) = &ask.from {
                p["startTime"] = json!(from);
            }
            if let Some(to) = &ask.to {
                p["stopTime"] = json!(to);
            }
            p
        }
        LogCall::GetLog => {
            let mut log = json!({"remoteLocation": location});
            if let Some(from) = &ask.from {
                log["oldestTimestamp"] = json!(from);
            }
            if let Some(to) = &ask.to {
                log["latestTimestamp"] = json!(to);
            }
            json!({
                "log": log,
                "logType": ask.log_type.as_deref().unwrap_or("DiagnosticsLog"),
                "requestId": request_id,
            })
        }
    }
}

/// How the CALL ended, as stored with the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallEnded {
    /// `Accepted`, `Rejected`, `AcceptedCanceled` (GetLog's status; GetDiagnostics has
    /// none and counts as `Accepted`), or the failure's code: `station_timeout`,
    /// `station_call_error`, `station_disconnected`, `invalid_station_response`.
    pub status: String,
    /// The file name the station announced (`fileName` / `filename`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// What went wrong, for a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// When.
    pub at: Millis,
}

impl CallEnded {
    /// Reads the station's CALLRESULT.
    pub fn answered(call: LogCall, response: &Value, at: Millis) -> Self {
        let text = |k: &str| response.get(k).and_then(Value::as_str).map(str::to_owned);
        match call {
            LogCall::GetDiagnostics => Self {
                status: "Accepted".into(),
                file_name: text("fileName"),
                detail: None,
                at,
            },
            LogCall::GetLog => Self {
                status: text("status").unwrap_or_else(|| "Accepted".into()),
                file_name: text("filename"),
                detail: None,
                at,
            },
        }
    }

    /// Whether the station took the request.
    pub fn accepted(&self) -> bool {
        matches!(self.status.as_str(), "Accepted" | "AcceptedCanceled")
    }
}

/// The file the station uploaded, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredFile {
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lower-case hex.
    pub sha256: String,
    /// The content type it was sent with (the part's, for multipart).
    pub content_type: String,
    /// The file name the station gave (multipart `filename`, else the announced one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// When it arrived.
    pub at: Millis,
}

/// A log request as stored (`Doc` kind [`DOC_KIND`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRequest {
    /// Its id (time-ordered).
    pub id: String,
    /// The station asked.
    pub station_id: String,
    /// The station's version when asked (`ocpp1.6`, `ocpp2.0.1`, ...).
    pub protocol: String,
    /// The CALL sent.
    pub call: LogCall,
    /// GetLog's log type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_type: Option<String>,
    /// GetLog's requestId (LogStatusNotification names it).
    pub request_id: i64,
    /// The SHA-256 (hex) of the one-time upload token; the token itself is never stored.
    pub token_hash: String,
    /// The upload URL handed to the station, without its token.
    pub location_base: String,
    /// When the request was made.
    pub created_at: Millis,
    /// The upload URL is refused after this.
    pub expires_at: Millis,
    /// The API token that asked, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// How the CALL ended (absent while it is in flight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<CallEnded>,
    /// The uploaded file, once it arrived (the token is spent then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<StoredFile>,
}

/// Where a log request stands, as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// Sent; the station has not answered yet.
    Requested,
    /// The station accepted; no progress reported yet.
    Accepted,
    /// The station reports it is uploading.
    Uploading,
    /// The file arrived and is stored: it can be downloaded.
    Received,
    /// The station says it uploaded, but no file arrived here.
    UploadedElsewhere,
    /// The station reported a failed upload (or the upload URL expired unused).
    Failed,
    /// The station refused the request.
    Rejected,
    /// The CALL failed: no answer, a CALLERROR, a disconnect.
    Error,
}

impl Status {
    /// Every status, as named in the API.
    pub const ALL: [&'static str; 8] = [
        "requested",
        "accepted",
        "uploading",
        "received",
        "uploadedElsewhere",
        "failed",
        "rejected",
        "error",
    ];

    /// Whether nothing more will change it (a `wait` ends here).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Requested | Self::Accepted | Self::Uploading)
    }

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Accepted => "accepted",
            Self::Uploading => "uploading",
            Self::Received => "received",
            Self::UploadedElsewhere => "uploadedElsewhere",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::Error => "error",
        }
    }
}

/// One progress notification the station sent about the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The station's status (`Uploading`, `Uploaded`, `UploadFailed`, `UploadFailure`, ...).
    pub status: String,
    /// When it arrived.
    pub at: Millis,
    /// Its journal `seq`.
    pub seq: i64,
}

/// A request with its progress folded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Where it stands.
    pub status: Status,
    /// The station's notifications about it, oldest first.
    pub progress: Vec<Progress>,
}

/// The statuses that say the station's upload failed or cannot happen.
const FAILURES: [&str; 5] = [
    "UploadFailed",
    "UploadFailure",
    "BadMessage",
    "NotSupportedOperation",
    "PermissionDenied",
];

impl LogRequest {
    /// Whether a notification belongs to this request: a LogStatusNotification by its
    /// requestId; a DiagnosticsStatusNotification by time, between this request and the
    /// station's next one (`next_created`).
    pub fn owns(&self, entry: &JournalEntry, next_created: Option<Millis>) -> bool {
        if entry.station_id != self.station_id
            || entry.frame_type != "CALL"
            || entry.direction != crate::Direction::In
        {
            return false;
        }
        match (self.call, entry.action.as_deref()) {
            (LogCall::GetLog, Some("LogStatusNotification")) => {
                serde_json::from_str::<Value>(&entry.payload)
                    .ok()
                    .and_then(|p| p.get("requestId").and_then(Value::as_i64))
                    == Some(self.request_id)
            }
            (LogCall::GetDiagnostics, Some("DiagnosticsStatusNotification")) => {
                entry.at >= self.created_at && next_created.is_none_or(|n| entry.at < n)
            }
            _ => false,
        }
    }

    /// The request's status at `now`, from what is stored and the station's notifications
    /// (`entries`: the station's status notifications since the request, oldest first;
    /// those of other requests are skipped).
    pub fn view(
        &self,
        entries: &[JournalEntry],
        next_created: Option<Millis>,
        now: Millis,
    ) -> View {
        let progress: Vec<Progress> = entries
            .iter()
            .filter(|e| self.owns(e, next_created))
            .filter_map(|e| {
                let p: Value = serde_json::from_str(&e.payload).ok()?;
                Some(Progress {
                    status: p.get("status")?.as_str()?.to_owned(),
                    at: e.at,
                    seq: e.seq,
                })
            })
            .collect();
        let status = self.status(progress.last().map(|p| p.status.as_str()), now);
        View { status, progress }
    }

    fn status(&self, last: Option<&str>, now: Millis) -> Status {
        if self.file.is_some() {
            return Status::Received;
        }
        let Some(answer) = &self.answer else {
            return Status::Requested;
        };
        if !answer.accepted() {
            return if answer.status == "Rejected" {
                Status::Rejected
            } else {
                Status::Error
            };
        }
        match last {
            Some(s) if FAILURES.contains(&s) => Status::Failed,
            Some("Uploaded") => Status::UploadedElsewhere,
            _ if now > self.expires_at => Status::Failed,
            Some("Uploading") => Status::Uploading,
            _ => Status::Accepted,
        }
    }

    /// Whether the upload URL still takes a file at `now`: not yet used, not expired,
    /// and not refused by the station.
    pub fn takes_upload(&self, now: Millis) -> bool {
        self.file.is_none()
            && now <= self.expires_at
            && self.answer.as_ref().is_none_or(CallEnded::accepted)
    }
}

/// The server's name for a stored file: never anything a client sent.
pub fn stored_name(id: &str) -> String {
    format!("{id}.log")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Direction;

    fn request(call: LogCall) -> LogRequest {
        LogRequest {
            id: "l1".into(),
            station_id: "CP1".into(),
            protocol: "ocpp2.0.1".into(),
            call,
            log_type: None,
            request_id: 7,
            token_hash: "h".into(),
            location_base: "http://x/uploads/".into(),
            created_at: 1_000,
            expires_at: 100_000,
            requested_by: None,
            answer: None,
            file: None,
        }
    }

    fn note(action: &str, payload: Value, at: Millis) -> JournalEntry {
        JournalEntry {
            seq: at,
            station_id: "CP1".into(),
            direction: Direction::In,
            frame_type: "CALL",
            message_id: Some("m".into()),
            action: Some(action.into()),
            payload: payload.to_string(),
            at,
            violation: None,
            trigger_id: None,
        }
    }

    #[test]
    fn get_log_is_sent_for_2x_and_for_a_16_log_type_with_the_location_and_request_id() {
        assert_eq!(LogCall::for_station(true, None), LogCall::GetDiagnostics);
        assert_eq!(
            LogCall::for_station(true, Some("SecurityLog")),
            LogCall::GetLog
        );
        assert_eq!(LogCall::for_station(false, None), LogCall::GetLog);
        let ask = LogAsk {
            log_type: None,
            from: Some("2026-01-01T00:00:00Z".into()),
            to: None,
        };
        assert_eq!(
            payload(LogCall::GetLog, &ask, "http://h/u/t", 9),
            json!({"log": {"remoteLocation": "http://h/u/t", "oldestTimestamp": "2026-01-01T00:00:00Z"}, "logType": "DiagnosticsLog", "requestId": 9})
        );
        assert_eq!(
            payload(LogCall::GetDiagnostics, &ask, "http://h/u/t", 9),
            json!({"location": "http://h/u/t", "startTime": "2026-01-01T00:00:00Z"})
        );
    }

    #[test]
    fn progress_follows_the_request_id_and_a_file_makes_it_received() {
        let mut r = request(LogCall::GetLog);
        assert_eq!(r.view(&[], None, 2_000).status, Status::Requested);
        r.answer = Some(CallEnded::answered(
            LogCall::GetLog,
            &json!({"status": "Accepted", "filename": "a.log"}),
            1_100,
        ));
        assert_eq!(
            r.answer.as_ref().and_then(|a| a.file_name.as_deref()),
            Some("a.log")
        );
        let entries = [
            note(
                "LogStatusNotification",
                json!({"status": "Uploading", "requestId": 7}),
                1_200,
            ),
            note(
                "LogStatusNotification",
                json!({"status": "UploadFailure", "requestId": 8}),
                1_300,
            ),
        ];
        let v = r.view(&entries, None, 2_000);
        assert_eq!(v.status, Status::Uploading);
        assert_eq!(
            v.progress.len(),
            1,
            "another request's notification is not ours"
        );
        r.file = Some(StoredFile {
            size: 3,
            sha256: "x".into(),
            content_type: "text/plain".into(),
            file_name: None,
            at: 1_250,
        });
        assert_eq!(r.view(&entries, None, 2_000).status, Status::Received);
        assert!(!r.takes_upload(2_000), "the token is spent");
    }

    #[test]
    fn a_refusal_a_failure_and_an_expiry_are_final() {
        let mut r = request(LogCall::GetLog);
        r.answer = Some(CallEnded::answered(
            LogCall::GetLog,
            &json!({"status": "Rejected"}),
            1_100,
        ));
        assert_eq!(r.view(&[], None, 2_000).status, Status::Rejected);
        assert!(!r.takes_upload(2_000));
        r.answer = Some(CallEnded::answered(
            LogCall::GetLog,
            &json!({"status": "Accepted"}),
            1_100,
        ));
        let failed = [note(
            "LogStatusNotification",
            json!({"status": "UploadFailure", "requestId": 7}),
            1_200,
        )];
        assert_eq!(r.view(&failed, None, 2_000).status, Status::Failed);
        assert_eq!(r.view(&[], None, 200_000).status, Status::Failed, "expired");
        assert!(Status::Failed.is_final() && !Status::Uploading.is_final());
    }

    #[test]
    fn a_16_diagnostics_notification_belongs_to_the_latest_request_before_it() {
        let mut r = request(LogCall::GetDiagnostics);
        r.answer = Some(CallEnded::answered(
            LogCall::GetDiagnostics,
            &json!({"fileName": "d.log"}),
            1_100,
        ));
        let early = note(
            "DiagnosticsStatusNotification",
            json!({"status": "UploadFailed"}),
            900,
        );
        let ours = note(
            "DiagnosticsStatusNotification",
            json!({"status": "Uploading"}),
            1_500,
        );
        let next = note(
            "DiagnosticsStatusNotification",
            json!({"status": "UploadFailed"}),
            5_000,
        );
        let v = r.view(&[early, ours, next], Some(4_000), 6_000);
        assert_eq!(v.status, Status::Uploading);
        assert_eq!(v.progress.len(), 1);
    }
}
