//! `ocpulse config read|show|history|profiles|drift|apply`: stations' configuration
//! (docs/configuration-verification.md): read it, set desired profiles, find the drift
//! and correct it, each with one command.

use anyhow::bail;
use serde_json::{Value, json};

use super::crud::{CrudAction, Resource, read_body, show};
use super::http::{ClientArgs, encode};
use super::output::{cell, json as print_json, print_table};

const PROFILES: Resource = Resource {
    path: "/api/v1/config/profiles",
    id: "profileId",
    columns: &[
        ("PROFILE", "/profileId"),
        ("NAME", "/name"),
        ("PROTOCOL", "/protocol"),
        ("SELECTOR", "/selector"),
        ("SETTINGS", "/settings"),
    ],
};

/// The station-configuration subcommands of `ocpulse config`.
#[derive(Debug, clap::Subcommand)]
pub enum StationConfigAction {
    /// Read a station's configuration now (everything, or `--key`s) and store it.
    Read {
        /// The station id.
        station: String,
        /// Only this key (repeatable; 2.x keys are Component.Variable).
        #[arg(long = "key")]
        keys: Vec<String>,
        /// How long the read may take, in ms.
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// Server and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The latest stored configuration of a station, and its drift per profile.
    Show {
        /// The station id.
        station: String,
        /// Server and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Every stored snapshot of a station, newest first.
    History {
        /// The station id.
        station: String,
        /// Server and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Desired configuration profiles: list, show, put (a JSON body with `protocol`,
    /// `selector`, `settings`), delete.
    Profiles {
        /// What to do (default: list).
        #[command(subcommand)]
        action: Option<ProfilesAction>,
        /// Server and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Set a profile for every station of a version (or `--station`s): `ocpulse config
    /// set-profile fleet --protocol ocpp1.6 HeartbeatInterval=300`.
    SetProfile {
        /// The profile id.
        id: String,
        /// Its version: ocpp1.6 or ocpp2.0.1.
        #[arg(long)]
        protocol: String,
        /// Only these stations (repeatable); every station of the version otherwise.
        #[arg(long = "station")]
        stations: Vec<String>,
        /// KEY=VALUE settings.
        #[arg(required = true)]
        settings: Vec<String>,
        /// Server and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The fleet against its profiles; `--check` reads the stations first.
    Drift {
        /// Only this profile.
        #[arg(long)]
        profile: Option<String>,
        /// Only this station.
        #[arg(long)]
        station: Option<String>,
        /// Read each station's profile keys now instead of comparing stored snapshots.
        #[arg(long)]
        check: bool,
        /// Server and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Apply a profile to the stations it applies to (read, set what drifts, read back).
    Apply {
        /// The profile id.
        profile: String,
        /// Only these stations (repeatable).
        #[arg(long = "station")]
        stations: Vec<String>,
        /// Start the job and print its id without waiting.
        #[arg(long)]
        no_wait: bool,
        /// Server and output.
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `ocpulse config profiles ...`.
#[derive(Debug, clap::Subcommand)]
pub enum ProfilesAction {
    /// List them (the default).
    List,
    /// One, with every field.
    Show {
        /// Its id.
        id: String,
    },
    /// Create or replace one from the API's JSON body.
    Put {
        /// Its id.
        id: String,
        /// The body: JSON text, `@FILE` for a file, or `-` for stdin.
        #[arg(long)]
        body: String,
    },
    /// Delete one.
    Delete {
        /// Its id.
        id: String,
    },
}

/// Runs one station-configuration subcommand.
pub async fn station_config(action: StationConfigAction) -> anyhow::Result<()> {
    match action {
        StationConfigAction::Read {
            station,
            keys,
            timeout_ms,
            client,
        } => {
            let mut body = json!({});
            if !keys.is_empty() {
                body["keys"] = json!(keys);
            }
            if let Some(t) = timeout_ms {
                body["timeoutMs"] = json!(t);
            }
            let snap = client
                .post(
                    &format!("/api/v1/stations/{}/configuration/read", encode(&station)),
                    Some(body),
                )
                .await?;
            print_snapshot(&client, &snap)
        }
        StationConfigAction::Show { station, client } => {
            let view = client
                .get(&format!(
                    "/api/v1/stations/{}/configuration",
                    encode(&station)
                ))
                .await?;
            if client.json {
                return print_json(&view);
            }
            print_snapshot(&client, &view["latest"])?;
            print_drift(
                view["drift"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            );
            Ok(())
        }
        StationConfigAction::History { station, client } => {
            let view = client
                .get(&format!(
                    "/api/v1/stations/{}/configuration/history",
                    encode(&station)
                ))
                .await?;
            if client.json {
                return print_json(&view);
            }
            let rows: Vec<Vec<String>> = view["snapshots"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    vec![
                        cell(&s["readAt"]),
                        cell(&s["source"]),
                        cell(&s["complete"]),
                        s["entries"].as_object().map_or(0, |e| e.len()).to_string(),
                    ]
                })
                .collect();
            print_table(&["READ AT", "SOURCE", "COMPLETE", "KEYS"], &rows);
            Ok(())
        }
        StationConfigAction::Profiles { action, client } => {
            let crud = match action.unwrap_or(ProfilesAction::List) {
                ProfilesAction::List => CrudAction::List,
                ProfilesAction::Show { id } => CrudAction::Show { id },
                ProfilesAction::Delete { id } => CrudAction::Delete { id },
                ProfilesAction::Put { id, body } => {
                    let item = client.put(&PROFILES.item(&id), read_body(&body)?).await?;
                    return show(&client, &item);
                }
            };
            PROFILES.run(&client, crud).await
        }
        StationConfigAction::SetProfile {
            id,
            protocol,
            stations,
            settings,
            client,
        } => {
            let mut map = serde_json::Map::new();
            for s in &settings {
                let Some((k, v)) = s.split_once('=') else {
                    bail!("a setting is KEY=VALUE, got {s:?}");
                };
                map.insert(k.to_owned(), json!(v));
            }
            let selector = if stations.is_empty() {
                json!({"all": true})
            } else {
                json!({"stationIds": stations})
            };
            let profile = client
                .put(
                    &format!("/api/v1/config/profiles/{}", encode(&id)),
                    json!({"protocol": protocol, "selector": selector, "settings": map}),
                )
                .await?;
            show(&client, &profile)
        }
        StationConfigAction::Drift {
            profile,
            station,
            check,
            client,
        } => {
            let report = if check {
                let mut body = json!({});
                if let Some(p) = &profile {
                    body["profile"] = json!(p);
                }
                if let Some(s) = &station {
                    body["stationId"] = json!(s);
                }
                client
                    .post("/api/v1/config/drift/check", Some(body))
                    .await?
            } else {
                let mut query = Vec::new();
                if let Some(p) = &profile {
                    query.push(format!("profile={}", encode(p)));
                }
                if let Some(s) = &station {
                    query.push(format!("station={}", encode(s)));
                }
                let q = if query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", query.join("&"))
                };
                client.get(&format!("/api/v1/config/drift{q}")).await?
            };
            if client.json {
                return print_json(&report);
            }
            print_drift(
                report["stations"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            );
            Ok(())
        }
        StationConfigAction::Apply {
            profile,
            stations,
            no_wait,
            client,
        } => {
            let mut body = json!({"profile": profile, "wait": !no_wait});
            if !stations.is_empty() {
                body["stationIds"] = json!(stations);
            }
            let job = client.post("/api/v1/config/apply", Some(body)).await?;
            if client.json {
                return print_json(&job);
            }
            if no_wait {
                crate::stdout::line(&format!("started {}", cell(&job["jobId"])));
                return Ok(());
            }
            let mut rows = Vec::new();
            for s in job["stations"].as_array().into_iter().flatten() {
                let results = s["results"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                if results.is_empty() {
                    rows.push(vec![
                        cell(&s["stationId"]),
                        cell(&s["outcome"]),
                        String::new(),
                        String::new(),
                        cell(&s["error"]),
                    ]);
                }
                for r in results {
                    rows.push(vec![
                        cell(&s["stationId"]),
                        cell(&s["outcome"]),
                        cell(&r["key"]),
                        cell(&r["value"]),
                        cell(&r["status"]),
                    ]);
                }
            }
            print_table(&["STATION", "OUTCOME", "KEY", "VALUE", "STATUS"], &rows);
            Ok(())
        }
    }
}

fn print_snapshot(client: &ClientArgs, snap: &Value) -> anyhow::Result<()> {
    if client.json {
        return print_json(snap);
    }
    crate::stdout::line(&format!(
        "{} {} read {} by {}",
        cell(&snap["stationId"]),
        cell(&snap["protocol"]),
        cell(&snap["readAt"]),
        cell(&snap["source"])
    ));
    let rows: Vec<Vec<String>> = snap["entries"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, e)| vec![k.clone(), cell(&e["value"]), cell(&e["readonly"])])
        .collect();
    print_table(&["KEY", "VALUE", "READONLY"], &rows);
    Ok(())
}

fn print_drift(items: &[Value]) {
    let mut rows = Vec::new();
    for d in items {
        let drifting = d["items"].as_array().map(Vec::as_slice).unwrap_or_default();
        let base = || {
            vec![
                cell(&d["stationId"]),
                cell(&d["profileId"]),
                cell(&d["standing"]),
            ]
        };
        if drifting.is_empty() {
            let mut row = base();
            row.extend([
                String::new(),
                String::new(),
                String::new(),
                cell(&d["readError"]),
            ]);
            rows.push(row);
        }
        for i in drifting {
            let mut row = base();
            row.extend([
                cell(&i["key"]),
                cell(&i["desired"]),
                cell(&i["actual"]),
                cell(&i["kind"]),
            ]);
            rows.push(row);
        }
    }
    print_table(
        &[
            "STATION", "PROFILE", "STANDING", "KEY", "DESIRED", "ACTUAL", "KIND",
        ],
        &rows,
    );
}
