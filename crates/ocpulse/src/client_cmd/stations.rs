//! `ocpulse stations`: the known stations, connected or not, with their connectors.

use serde_json::{Value, json};

use super::http::{ClientArgs, list_all};
use super::output::{cell, json as print_json, outcome, table};

/// `ocpulse stations`.
#[derive(Debug, clap::Args)]
pub struct StationsArgs {
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse stations`.
pub async fn stations(args: StationsArgs) -> anyhow::Result<()> {
    let list = list_all(&args.client, "/api/v1/stations").await?;
    if args.client.json {
        return print_json(&json!({"items": list, "next": null}));
    }
    let rows: Vec<Vec<String>> = list.iter().map(row).collect();
    crate::stdout::text(&table(
        &[
            "STATION",
            "CONNECTION",
            "PROTOCOL",
            "VENDOR/MODEL",
            "FIRMWARE",
            "LAST SEEN",
            "CONNECTORS",
        ],
        &rows,
    ));
    crate::stdout::line(&format!("{} stations", rows.len()));
    Ok(())
}

fn row(s: &Value) -> Vec<String> {
    let connectors = s["connectors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let id = match c["evseId"].as_i64() {
                Some(e) => format!("{e}/{}", cell(&c["connectorId"])),
                None => cell(&c["connectorId"]),
            };
            format!("{id}:{}", cell(&c["status"]))
        })
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        cell(&s["id"]),
        outcome(if s["connected"] == json!(true) {
            "connected"
        } else {
            "offline"
        }),
        cell(&s["protocol"]),
        format!(
            "{} {}",
            cell(&s["boot"]["vendor"]),
            cell(&s["boot"]["model"])
        ),
        cell(&s["boot"]["firmwareVersion"]),
        cell(&s["lastSeen"]),
        if connectors.is_empty() {
            "-".into()
        } else {
            connectors
        },
    ]
}
