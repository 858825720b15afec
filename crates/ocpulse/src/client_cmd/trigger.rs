//! `ocpulse trigger STATION MESSAGE`: one trigger, the outcome once with the station's own
//! answer and reason, then the messages it sent. The command fails (exit 1) unless the
//! trigger ended `Completed`, so a script can rely on the exit status.

use serde_json::{Value, json};

use super::http::{ClientArgs, encode};
use super::output::{cell, colour, json as print_json, paint};

/// `ocpulse trigger`.
#[derive(Debug, clap::Args)]
pub struct TriggerArgs {
    /// The station id.
    pub station: String,
    /// The message wanted (either version's name), e.g. StatusNotification, MeterValues,
    /// Heartbeat, BootNotification.
    pub message: String,
    /// 2.x-style target: the EVSE id.
    #[arg(long)]
    pub evse: Option<i64>,
    /// The connector (1.6: connectorId; with --evse: the connector within the EVSE).
    #[arg(long)]
    pub connector: Option<i64>,
    /// With MESSAGE `CustomTrigger` (OCPP 2.1 stations): the vendor trigger's name.
    #[arg(long)]
    pub custom_trigger: Option<String>,
    /// How long to wait for the station's message, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse trigger STATION MESSAGE`.
pub async fn trigger(args: TriggerArgs) -> anyhow::Result<()> {
    let mut body = json!({"requestedMessage": args.message, "timeoutMs": args.timeout_ms});
    match (args.evse, args.connector) {
        (Some(evse), connector) => {
            body["evse"] = json!({"id": evse});
            if let Some(c) = connector {
                body["evse"]["connectorId"] = json!(c);
            }
        }
        (None, Some(c)) => body["connectorId"] = json!(c),
        (None, None) => {}
    }
    if let Some(name) = args.custom_trigger {
        body["customTrigger"] = json!(name);
    }
    let path = format!("/api/v1/stations/{}/trigger", encode(&args.station));
    let answer = args.client.post(&path, Some(body)).await?;
    let ended = answer["outcome"].as_str().unwrap_or("unknown").to_owned();
    if args.client.json {
        print_json(&answer)?;
    } else {
        for line in describe(&answer, &args.station, colour()) {
            crate::stdout::line(&line);
        }
    }
    if ended != "Completed" {
        anyhow::bail!("the trigger ended {ended}, not Completed");
    }
    Ok(())
}

/// The answer as lines: the outcome once, the station's answer when it was not a plain
/// Accepted (with its reason), the API's detail and note, then each message.
fn describe(answer: &Value, station: &str, colour: bool) -> Vec<String> {
    let ended = answer["outcome"].as_str().unwrap_or("unknown");
    let mut lines = vec![format!(
        "{} {} → {} ({}, {} ms, trigger {})",
        answer["stationId"].as_str().unwrap_or(station),
        answer["sent"]["action"]
            .as_str()
            .unwrap_or("TriggerMessage"),
        paint(ended, colour),
        cell(&answer["protocol"]),
        cell(&answer["elapsedMs"]),
        cell(&answer["triggerId"]),
    )];
    let status = answer["status"].as_str();
    let info = &answer["statusInfo"];
    if status.is_some_and(|s| s != "Accepted") || !info.is_null() {
        let mut said = format!("station answered {}", status.unwrap_or("nothing"));
        if let Some(reason) = info["reasonCode"].as_str() {
            said.push_str(&format!(", reason {reason}"));
        }
        if let Some(more) = info["additionalInfo"].as_str() {
            said.push_str(&format!(": {more}"));
        }
        lines.push(said);
    }
    if let Some(detail) = answer["detail"].as_str() {
        lines.push(format!("detail: {detail}"));
    }
    if let Some(note) = answer["note"].as_str() {
        lines.push(format!("note: {note}"));
    }
    for m in answer["messages"].as_array().into_iter().flatten() {
        lines.push(format!(
            "{} {} {}",
            cell(&m["receivedAt"]),
            cell(&m["action"]),
            serde_json::to_string(&m["payload"]).unwrap_or_default()
        ));
    }
    if answer["complete"] == json!(false) && matches!(ended, "Completed" | "Partial") {
        lines.push("(incomplete: the deadline cut the fan-out short)".into());
    }
    lines
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_rejection_is_said_once_with_the_stations_reason() {
        let lines = super::describe(
            &json!({"stationId": "CS0001", "sent": {"action": "TriggerMessage"},
                "outcome": "Rejected", "status": "Rejected", "protocol": "ocpp2.0.1",
                "elapsedMs": 4, "triggerId": "t1", "complete": false, "messages": [],
                "statusInfo": {"reasonCode": "AlreadyAccepted"}}),
            "CS0001",
            false,
        );
        assert_eq!(
            lines,
            [
                "CS0001 TriggerMessage → Rejected (ocpp2.0.1, 4 ms, trigger t1)",
                "station answered Rejected, reason AlreadyAccepted",
            ]
        );
    }
}
