//! `ocpulse call STATION ACTION [PAYLOAD]` (any CSMS call, docs/calls.md), `ocpulse calls
//! list|get` (call records), and the typed station operations `ocpulse reset`,
//! `change-availability`, `unlock`, `clear-cache` (docs/station-ops.md). A call that the
//! station did not answer with a CALLRESULT fails the command (the API's 502/504).

use anyhow::bail;
use serde_json::{Value, json};

use super::crud::{Resource, show};
use super::http::{ClientArgs, encode};
use super::output::{cell, colour, json as print_json, paint};

const CALLS: Resource = Resource {
    path: "/api/v1/calls",
    id: "id",
    columns: &[
        ("CALL", "/id"),
        ("STATION", "/stationId"),
        ("ACTION", "/calls/0/action"),
        ("STATUS", "/calls/0/status"),
        ("OUTCOME", "/outcome"),
        ("BY", "/requestedBy"),
        ("CREATED", "/createdAt"),
    ],
};

/// `ocpulse call`.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The station id.
    pub station: String,
    /// A CSMS-initiated action of the station's version (GetConfiguration, SetVariables,
    /// Reset, DataTransfer, ...).
    pub action: String,
    /// The payload as JSON (default `{}`), checked against the official schema first.
    pub payload: Option<String>,
    /// How long the station has to answer, in milliseconds (default: the server's).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Do not wait: print the call's record id at once (`ocpulse calls get ID` later).
    #[arg(long)]
    pub no_wait: bool,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse call STATION ACTION [PAYLOAD]`.
pub async fn call(args: CallArgs) -> anyhow::Result<()> {
    let payload: Value = match &args.payload {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "PAYLOAD must be a JSON object, e.g. '{{\"key\": [\"HeartbeatInterval\"]}}': {e}"
            )
        })?,
        None => json!({}),
    };
    let mut body = json!({"action": args.action, "payload": payload});
    if let Some(ms) = args.timeout_ms {
        body["timeoutMs"] = json!(ms);
    }
    if args.no_wait {
        body["wait"] = json!(false);
    }
    let path = format!("/api/v1/stations/{}/calls", encode(&args.station));
    let answer = args.client.post(&path, Some(body)).await?;
    if args.client.json {
        return print_json(&answer);
    }
    if args.no_wait {
        let id = cell(&answer["id"]);
        crate::stdout::line(&format!(
            "call {id} sent to {}: {}; `ocpulse calls get {id}` shows how it ended",
            args.station,
            cell(&answer["outcome"])
        ));
        return Ok(());
    }
    print_answer(&answer);
    Ok(())
}

/// An answer (of `/calls` or a station operation) as lines: the call and the station's
/// status, any translation note, the response, and the StatusNotifications that followed.
fn describe(answer: &Value, colour: bool) -> Vec<String> {
    let status = answer["status"].as_str().unwrap_or("answered");
    let mut lines = vec![format!(
        "{} {} → {} ({}, {} ms, call {})",
        cell(&answer["stationId"]),
        cell(&answer["action"]),
        paint(status, colour),
        cell(&answer["protocol"]),
        cell(&answer["elapsedMs"]),
        cell(&answer["callId"]),
    )];
    if let Some(note) = answer["note"].as_str() {
        lines.push(format!("note: {note}"));
    }
    lines.push(format!(
        "sent {}",
        serde_json::to_string(&answer["request"]).unwrap_or_default()
    ));
    lines.push(format!(
        "response {}",
        serde_json::to_string(&answer["response"]).unwrap_or_default()
    ));
    if let Some(followed) = answer["statusNotifications"].as_array() {
        if followed.is_empty() {
            lines.push("no StatusNotification followed".into());
        }
        for s in followed {
            lines.push(format!(
                "{} StatusNotification {}",
                cell(&s["receivedAt"]),
                serde_json::to_string(&s["payload"]).unwrap_or_default()
            ));
        }
    }
    lines
}

fn print_answer(answer: &Value) {
    for line in describe(answer, colour()) {
        crate::stdout::line(&line);
    }
}

/// `ocpulse calls`.
#[derive(Debug, clap::Args)]
pub struct CallsArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<CallsAction>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse calls ...`.
#[derive(Debug, clap::Subcommand)]
pub enum CallsAction {
    /// List call records, newest first.
    List {
        /// Only this station's.
        #[arg(long)]
        station: Option<String>,
        /// Only those with this outcome (Completed, CallError, StationTimeout, ...).
        #[arg(long)]
        outcome: Option<String>,
    },
    /// One call record: what was sent (secrets redacted), the station's answer, how it ended.
    Get {
        /// The call id (`callId` of an answer).
        id: String,
    },
}

/// `ocpulse calls [list|get]`.
pub async fn calls(args: CallsArgs) -> anyhow::Result<()> {
    let c = &args.client;
    match args.action.unwrap_or(CallsAction::List {
        station: None,
        outcome: None,
    }) {
        CallsAction::List { station, outcome } => {
            let query: Vec<String> = [("station", station), ("outcome", outcome)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(&v))))
                .collect();
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            CALLS.list(c, &query).await
        }
        CallsAction::Get { id } => show(c, &c.get(&CALLS.item(&id)).await?),
    }
}

/// `ocpulse reset`.
#[derive(Debug, clap::Args)]
pub struct ResetArgs {
    /// The station id.
    pub station: String,
    /// Hard, Soft, Immediate, OnIdle or ImmediateAndResume (translated to the station's
    /// version; docs/station-ops.md).
    pub r#type: String,
    /// 2.x only: reset this EVSE instead of the whole station.
    #[arg(long)]
    pub evse: Option<i64>,
    /// How long the station has to answer, in milliseconds.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse change-availability`.
#[derive(Debug, clap::Args)]
pub struct AvailabilityArgs {
    /// The station id.
    pub station: String,
    /// Make it operative.
    #[arg(
        long,
        conflicts_with = "inoperative",
        required_unless_present = "inoperative"
    )]
    pub operative: bool,
    /// Make it inoperative.
    #[arg(long)]
    pub inoperative: bool,
    /// A connector (alone: a 1.6 connector, 0 the whole station; with --evse: within it).
    #[arg(long)]
    pub connector: Option<i64>,
    /// A 2.x EVSE.
    #[arg(long)]
    pub evse: Option<i64>,
    /// How long to wait for the StatusNotification(s) after Accepted, in ms (0: none).
    #[arg(long)]
    pub follow_ms: Option<u64>,
    /// How long the station has to answer, in milliseconds.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse unlock`.
#[derive(Debug, clap::Args)]
pub struct UnlockArgs {
    /// The station id.
    pub station: String,
    /// The connector (alone: a 1.6 connector; with --evse: within it).
    #[arg(long)]
    pub connector: i64,
    /// A 2.x EVSE.
    #[arg(long)]
    pub evse: Option<i64>,
    /// How long the station has to answer, in milliseconds.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse clear-cache`.
#[derive(Debug, clap::Args)]
pub struct ClearCacheArgs {
    /// The station id.
    pub station: String,
    /// How long the station has to answer, in milliseconds.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Sends one station operation and prints the answer.
async fn op(c: &ClientArgs, station: &str, op: &str, mut body: Value) -> anyhow::Result<()> {
    if let Some(map) = body.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    let path = format!("/api/v1/stations/{}/{op}", encode(station));
    let answer = c.post(&path, Some(body)).await?;
    if c.json {
        return print_json(&answer);
    }
    print_answer(&answer);
    Ok(())
}

/// `ocpulse reset STATION TYPE`.
pub async fn reset(a: ResetArgs) -> anyhow::Result<()> {
    let body = json!({"type": a.r#type, "evseId": a.evse, "timeoutMs": a.timeout_ms});
    op(&a.client, &a.station, "reset", body).await
}

/// `ocpulse change-availability STATION --operative|--inoperative`.
pub async fn change_availability(a: AvailabilityArgs) -> anyhow::Result<()> {
    if a.operative == a.inoperative {
        bail!("say --operative or --inoperative");
    }
    let body = json!({"operative": a.operative, "connectorId": a.connector, "evseId": a.evse,
        "followMs": a.follow_ms, "timeoutMs": a.timeout_ms});
    op(&a.client, &a.station, "change-availability", body).await
}

/// `ocpulse unlock STATION --connector N`.
pub async fn unlock(a: UnlockArgs) -> anyhow::Result<()> {
    let body = json!({"connectorId": a.connector, "evseId": a.evse, "timeoutMs": a.timeout_ms});
    op(&a.client, &a.station, "unlock-connector", body).await
}

/// `ocpulse clear-cache STATION`.
pub async fn clear_cache(a: ClearCacheArgs) -> anyhow::Result<()> {
    op(
        &a.client,
        &a.station,
        "clear-cache",
        json!({"timeoutMs": a.timeout_ms}),
    )
    .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn an_answer_says_the_status_the_translation_and_what_followed() {
        let lines = super::describe(
            &json!({"stationId": "CS0001", "action": "ChangeAvailability", "status": "Accepted",
                "protocol": "ocpp2.0.1", "elapsedMs": 3, "callId": "c1",
                "note": "said evse {id: 1}", "request": {"operationalStatus": "Inoperative"},
                "response": {"status": "Accepted"},
                "statusNotifications": [{"receivedAt": "t", "payload": {"connectorStatus": "Unavailable"}}]}),
            false,
        );
        assert_eq!(
            lines,
            [
                "CS0001 ChangeAvailability → Accepted (ocpp2.0.1, 3 ms, call c1)",
                "note: said evse {id: 1}",
                "sent {\"operationalStatus\":\"Inoperative\"}",
                "response {\"status\":\"Accepted\"}",
                "t StatusNotification {\"connectorStatus\":\"Unavailable\"}",
            ]
        );
    }
}
