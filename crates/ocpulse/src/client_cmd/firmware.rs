//! `ocpulse firmware`: start a staged firmware rollout, follow it, list, show and cancel
//! rollouts (docs/firmware.md).

use std::time::Duration;

use anyhow::bail;
use serde_json::{Value, json};

use super::crud::Resource;
use super::http::{ClientArgs, encode};
use super::output::{cell, counts, json as print_json, outcome, print_table};

const ROLLOUTS: Resource = Resource {
    path: "/api/v1/firmware/rollouts",
    id: "id",
    columns: &[
        ("ROLLOUT", "/id"),
        ("STAGE", "/stage"),
        ("LOCATION", "/location"),
        ("INSTALLED", "/counts/installed"),
        ("FAILED", "/counts/failed"),
        ("UPDATING", "/counts/updating"),
        ("PENDING", "/counts/pending"),
        ("CREATED", "/createdAt"),
    ],
};

/// `ocpulse firmware`.
#[derive(Debug, clap::Args)]
pub struct FirmwareArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<FirmwareAction>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse firmware ...`.
#[derive(Debug, clap::Subcommand)]
pub enum FirmwareAction {
    /// Roll an image out: the canary share first, a wait, then the rest.
    Rollout(Box<RolloutArgs>),
    /// List rollouts, newest first.
    List,
    /// One rollout with each station's progress.
    Show {
        /// The rollout id.
        id: String,
        /// Follow it until every station has ended; fail unless it completed.
        #[arg(long)]
        wait: bool,
    },
    /// Stop sending it (stations already updating are followed to their end).
    Cancel {
        /// The rollout id.
        id: String,
    },
}

/// `ocpulse firmware rollout`.
#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// Where stations download it (http, https, ftp or ftps URL).
    location: String,
    /// These stations (comma-separated); default: every station.
    #[arg(long, value_delimiter = ',')]
    stations: Vec<String>,
    /// Only stations of this version (1.6, 2.0.1, ...).
    #[arg(long)]
    protocol: Option<String>,
    /// Only stations of this vendor.
    #[arg(long)]
    vendor: Option<String>,
    /// Only stations of this model.
    #[arg(long)]
    model: Option<String>,
    /// The version the image carries (a boot reporting it proves the install).
    #[arg(long)]
    firmware_version: Option<String>,
    /// Percent updated first (default 10).
    #[arg(long)]
    canary_percent: Option<u64>,
    /// Seconds to wait after the canary before the rest (default 300).
    #[arg(long)]
    canary_wait: Option<u64>,
    /// Halt above this percent of failed stations (default 20).
    #[arg(long)]
    max_failure_percent: Option<u64>,
    /// Stations updating at once (default 50).
    #[arg(long)]
    concurrency: Option<u64>,
    /// Seconds a station has to install (default 3600).
    #[arg(long)]
    install_timeout: Option<u64>,
    /// Seconds of silence before a station is asked for its status (default 300).
    #[arg(long)]
    quiet_after: Option<u64>,
    /// When to download (RFC 3339).
    #[arg(long)]
    retrieve_at: Option<String>,
    /// PEM file of the signing certificate (a signed update; with --signature).
    #[arg(long, requires = "signature")]
    signing_certificate: Option<std::path::PathBuf>,
    /// Base64 signature of the image.
    #[arg(long, requires = "signing_certificate")]
    signature: Option<String>,
    /// Follow it until every station has ended; fail unless it completed.
    #[arg(long)]
    wait: bool,
}

/// `ocpulse firmware [rollout|list|show|cancel]`.
pub async fn firmware(args: FirmwareArgs) -> anyhow::Result<()> {
    let c = &args.client;
    match args.action.unwrap_or(FirmwareAction::List) {
        FirmwareAction::Rollout(rollout) => {
            let RolloutArgs {
                location,
                stations,
                protocol,
                vendor,
                model,
                firmware_version,
                canary_percent,
                canary_wait,
                max_failure_percent,
                concurrency,
                install_timeout,
                quiet_after,
                retrieve_at,
                signing_certificate,
                signature,
                wait,
            } = *rollout;
            let mut selector = json!({});
            if stations.is_empty() && protocol.is_none() && vendor.is_none() && model.is_none() {
                selector["all"] = json!(true);
            }
            if !stations.is_empty() {
                selector["stationIds"] = json!(stations);
            }
            for (k, v) in [("protocol", protocol), ("vendor", vendor), ("model", model)] {
                if let Some(v) = v {
                    selector[k] = json!(v);
                }
            }
            let mut body = json!({"location": location, "selector": selector});
            for (k, v) in [
                ("canaryPercent", canary_percent),
                ("canaryWaitSecs", canary_wait),
                ("maxFailurePercent", max_failure_percent),
                ("concurrency", concurrency),
                ("installTimeoutSecs", install_timeout),
                ("quietAfterSecs", quiet_after),
            ] {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            for (k, v) in [
                ("firmwareVersion", firmware_version),
                ("retrieveAt", retrieve_at),
                ("signature", signature),
            ] {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            if let Some(path) = signing_certificate {
                body["signingCertificate"] = json!(
                    std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
                );
            }
            let rollout = c.post(ROLLOUTS.path, Some(body)).await?;
            let id = rollout["id"].as_str().unwrap_or_default().to_owned();
            if wait {
                return follow(c, &id).await;
            }
            show(c, &rollout)
        }
        FirmwareAction::List => ROLLOUTS.list(c, "").await,
        FirmwareAction::Show { id, wait: true } => follow(c, &id).await,
        FirmwareAction::Show { id, wait: false } => show(c, &c.get(&ROLLOUTS.item(&id)).await?),
        FirmwareAction::Cancel { id } => {
            let path = format!("{}/cancel", ROLLOUTS.item(&id));
            show(c, &c.post(&path, None).await?)
        }
    }
}

/// Prints each change of the rollout's stage and counts until it finished, then the
/// stations; fails unless it completed with none failed.
async fn follow(c: &ClientArgs, id: &str) -> anyhow::Result<()> {
    let path = format!("{}/{}", ROLLOUTS.path, encode(id));
    let mut last = Value::Null;
    loop {
        let r = c.get(&path).await?;
        let now = json!([r["stage"], r["counts"]]);
        if now != last && !c.json {
            crate::stdout::line(&format!(
                "{}  {}",
                outcome(r["stage"].as_str().unwrap_or("?")),
                counts(&r)
            ));
        }
        last = now;
        if r["finished"] == json!(true) {
            show(c, &r)?;
            if r["stage"] != "completed" || r["counts"]["failed"].as_u64().unwrap_or(0) > 0 {
                bail!(
                    "rollout {id} ended {}{}",
                    cell(&r["stage"]),
                    r["reason"]
                        .as_str()
                        .map(|w| format!(": {w}"))
                        .unwrap_or_default()
                );
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn show(c: &ClientArgs, r: &Value) -> anyhow::Result<()> {
    if c.json {
        return print_json(r);
    }
    crate::stdout::line(&format!(
        "rollout {}  {}  {}",
        cell(&r["id"]),
        outcome(r["stage"].as_str().unwrap_or("?")),
        counts(r)
    ));
    crate::stdout::line(&format!("image {}", cell(&r["location"])));
    if let Some(why) = r["reason"].as_str() {
        crate::stdout::line(&format!("reason: {why}"));
    }
    let rows: Vec<Vec<String>> = r["stations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            vec![
                cell(&s["stationId"]),
                if s["canary"] == json!(true) {
                    "yes".into()
                } else {
                    String::new()
                },
                outcome(s["phase"].as_str().unwrap_or("?")),
                cell(&s["status"]),
                cell(&s["triggers"]),
                cell(&s["error"]),
            ]
        })
        .collect();
    if !rows.is_empty() {
        crate::stdout::line("");
        print_table(
            &[
                "STATION",
                "CANARY",
                "PHASE",
                "LAST STATUS",
                "ASKED",
                "ERROR",
            ],
            &rows,
        );
    }
    Ok(())
}
