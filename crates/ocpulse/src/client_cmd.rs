//! `ocpulse trigger`, `ocpulse stations`, `ocpulse jobs`: the common operations from a
//! terminal, against a running server's HTTP API (with `--token`/`OCPULSE_TOKEN` when it
//! requires one). Human-readable by default, the API's own
//! JSON with `--json` (for scripts; a list is read whole by following `next` and printed as
//! one page, `{"items": [...], "next": null}`). An API error is shown as its code and
//! message and the command exits non-zero.

use std::fmt::Write as _;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// Where the server is and how to print.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// The server's base URL.
    #[arg(
        long,
        env = "OCPULSE_SERVER",
        default_value = "http://127.0.0.1:8180",
        global = true
    )]
    pub server: String,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// The API bearer token (`ocpulse token create`), sent as `Authorization: Bearer`.
    #[arg(long, env = "OCPULSE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

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

/// `ocpulse stations`.
#[derive(Debug, clap::Args)]
pub struct StationsArgs {
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse jobs`.
#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    /// What to do (default: list the jobs).
    #[command(subcommand)]
    pub action: Option<JobsAction>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse jobs ...`.
#[derive(Debug, clap::Subcommand)]
pub enum JobsAction {
    /// List jobs, newest first.
    List,
    /// One job with its per-station results.
    Show {
        /// The job id.
        id: String,
        /// Only the stations that did not succeed.
        #[arg(long)]
        failed: bool,
    },
    /// Trigger a message on many stations and wait for the job to end.
    Create {
        /// The message wanted, e.g. StatusNotification.
        message: String,
        /// Every known station (with the filters below, those that match).
        #[arg(long)]
        all: bool,
        /// These stations (repeat the flag).
        #[arg(long = "station")]
        stations: Vec<String>,
        /// Only stations of this protocol (ocpp1.6, ocpp2.0.1).
        #[arg(long)]
        protocol: Option<String>,
        /// Only connected (or disconnected) stations.
        #[arg(long)]
        connection: Option<String>,
        /// Only stations with a connector in this status (e.g. Charging).
        #[arg(long)]
        connector_status: Option<String>,
        /// Triggers in flight at once.
        #[arg(long)]
        concurrency: Option<u32>,
        /// Station starts per second.
        #[arg(long)]
        rate: Option<f64>,
        /// Retries per station after silence or an error.
        #[arg(long)]
        retries: Option<u32>,
        /// How long each station's trigger may take, in milliseconds.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
        /// Do not wait: print the job id at once.
        #[arg(long)]
        no_wait: bool,
    },
    /// Cancel a running job.
    Cancel {
        /// The job id.
        id: String,
    },
}

/// Sends one API request; an API error becomes an error with its code and message.
async fn call(
    client: &ClientArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let url = format!("{}{path}", client.server.trim_end_matches('/'));
    let http = reqwest::Client::new();
    let mut request = http
        .request(method, &url)
        .header("x-requested-by", "ocpulse-cli");
    if let Some(token) = &client.token {
        request = request.bearer_auth(token.trim());
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| {
        format!(
            "cannot reach the ocpulse server at {} (--server)",
            client.server
        )
    })?;
    let status = response.status();
    let text = response.text().await.context("reading the answer")?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_client_error() || status.is_server_error() {
        let code = value["error"].as_str().unwrap_or("error");
        let message = value["message"].as_str().unwrap_or("");
        if client.json {
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        bail!("{} {code}: {message}", status.as_u16());
    }
    Ok(value)
}

/// Reads a whole list, page by page: every list answers `{"items": [...], "next": cursor}`
/// and the next page is asked with `after=<next>` until `next` is null.
async fn list_all(client: &ClientArgs, path: &str) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page_path = match &after {
            None => format!("{path}?limit=1000"),
            Some(a) => format!("{path}?limit=1000&after={}", encode(a)),
        };
        let mut page = call(client, reqwest::Method::GET, &page_path, None).await?;
        match page["items"].take() {
            Value::Array(more) => items.extend(more),
            other => bail!("{path} did not answer a page of items: {other}"),
        }
        match page["next"].take() {
            Value::String(next) => after = Some(next),
            _ => return Ok(items),
        }
    }
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Lays out rows under a header, each column as wide as its widest cell.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let mut l = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            let _ = write!(l, "{cell:<w$}  ");
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row.clone());
    }
    out
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
    let answer = call(&args.client, reqwest::Method::POST, &path, Some(body)).await?;
    if args.client.json {
        return print_json(&answer);
    }
    println!(
        "{} {} → {} {} ({}, {} ms, trigger {})",
        answer["stationId"].as_str().unwrap_or(&args.station),
        answer["sent"]["action"]
            .as_str()
            .unwrap_or("TriggerMessage"),
        text(&answer["status"]),
        text(&answer["outcome"]),
        text(&answer["protocol"]),
        text(&answer["elapsedMs"]),
        text(&answer["triggerId"]),
    );
    if let Some(note) = answer["note"].as_str() {
        println!("note: {note}");
    }
    for m in answer["messages"].as_array().into_iter().flatten() {
        println!(
            "{} {} {}",
            text(&m["receivedAt"]),
            text(&m["action"]),
            serde_json::to_string(&m["payload"])?
        );
    }
    if answer["complete"] == json!(false) {
        println!("(incomplete: the deadline cut the fan-out short)");
    }
    Ok(())
}

/// Percent-encodes a station id for a URL path segment (or any query value).
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `ocpulse stations`.
pub async fn stations(args: StationsArgs) -> anyhow::Result<()> {
    let list = list_all(&args.client, "/api/v1/stations").await?;
    if args.client.json {
        return print_json(&json!({"items": list, "next": null}));
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            let connectors = s["connectors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let id = match c["evseId"].as_i64() {
                        Some(e) => format!("{e}/{}", text(&c["connectorId"])),
                        None => text(&c["connectorId"]),
                    };
                    format!("{id}:{}", text(&c["status"]))
                })
                .collect::<Vec<_>>()
                .join(" ");
            vec![
                text(&s["id"]),
                if s["connected"] == json!(true) {
                    "connected".into()
                } else {
                    "offline".into()
                },
                text(&s["protocol"]),
                format!(
                    "{} {}",
                    text(&s["boot"]["vendor"]),
                    text(&s["boot"]["model"])
                ),
                text(&s["boot"]["firmwareVersion"]),
                text(&s["lastSeen"]),
                if connectors.is_empty() {
                    "-".into()
                } else {
                    connectors
                },
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "STATION",
                "CONNECTION",
                "PROTOCOL",
                "VENDOR/MODEL",
                "FIRMWARE",
                "LAST SEEN",
                "CONNECTORS"
            ],
            &rows
        )
    );
    println!("{} stations", rows.len());
    Ok(())
}

fn counts(job: &Value) -> String {
    job["counts"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn print_job(job: &Value) {
    println!(
        "job {} ({}): {}, {} stations in {} ms: {}",
        text(&job["jobId"]),
        job["name"].as_str().unwrap_or("unnamed"),
        text(&job["status"]),
        text(&job["total"]),
        text(&job["elapsedMs"]),
        counts(job),
    );
    let rows: Vec<Vec<String>> = job["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            vec![
                text(&r["stationId"]),
                text(&r["outcome"]),
                text(&r["attempts"]),
                text(&r["elapsedMs"]),
                r["detail"].as_str().unwrap_or("").to_owned(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        print!(
            "{}",
            table(&["STATION", "OUTCOME", "ATTEMPTS", "MS", "DETAIL"], &rows)
        );
    }
}

/// `ocpulse jobs [list|show|create|cancel]`.
pub async fn jobs(args: JobsArgs) -> anyhow::Result<()> {
    let c = &args.client;
    match args.action.unwrap_or(JobsAction::List) {
        JobsAction::List => {
            let list = list_all(c, "/api/v1/trigger-jobs").await?;
            if c.json {
                return print_json(&json!({"items": list, "next": null}));
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|j| {
                    vec![
                        text(&j["jobId"]),
                        text(&j["status"]),
                        text(&j["trigger"]["requestedMessage"]),
                        text(&j["total"]),
                        counts(j),
                        text(&j["createdAt"]),
                        text(&j["requestedBy"]),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "JOB", "STATUS", "MESSAGE", "STATIONS", "OUTCOMES", "CREATED", "BY"
                    ],
                    &rows
                )
            );
        }
        JobsAction::Show { id, failed } => {
            let q = if failed { "?results=failed" } else { "" };
            let job = call(
                c,
                reqwest::Method::GET,
                &format!("/api/v1/trigger-jobs/{}{q}", encode(&id)),
                None,
            )
            .await?;
            if c.json {
                return print_json(&job);
            }
            print_job(&job);
        }
        JobsAction::Create {
            message,
            all,
            stations,
            protocol,
            connection,
            connector_status,
            concurrency,
            rate,
            retries,
            timeout_ms,
            no_wait,
        } => {
            let mut selector = json!({});
            if all {
                selector["all"] = json!(true);
            }
            if !stations.is_empty() {
                selector["stationIds"] = json!(stations);
            }
            for (k, v) in [
                ("protocol", protocol),
                ("connection", connection),
                ("connectorStatus", connector_status),
            ] {
                if let Some(v) = v {
                    selector[k] = json!(v);
                }
            }
            let mut body = json!({
                "selector": selector,
                "trigger": {"requestedMessage": message, "timeoutMs": timeout_ms},
                "wait": !no_wait,
                "waitTimeoutMs": 300_000,
            });
            if let Some(n) = concurrency {
                body["concurrency"] = json!(n);
            }
            if let Some(r) = rate {
                body["ratePerSecond"] = json!(r);
            }
            if let Some(r) = retries {
                body["retries"] = json!(r);
            }
            let job = call(c, reqwest::Method::POST, "/api/v1/trigger-jobs", Some(body)).await?;
            if c.json {
                return print_json(&job);
            }
            print_job(&job);
        }
        JobsAction::Cancel { id } => {
            let job = call(
                c,
                reqwest::Method::POST,
                &format!("/api/v1/trigger-jobs/{}/cancel", encode(&id)),
                None,
            )
            .await?;
            if c.json {
                return print_json(&job);
            }
            print_job(&job);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tables_align_columns_to_the_widest_cell() {
        let t = super::table(
            &["A", "BB"],
            &[vec!["xxx".into(), "y".into()], vec!["z".into(), "".into()]],
        );
        assert_eq!(t, "A    BB\nxxx  y\nz\n");
    }

    #[test]
    fn station_ids_are_encoded_for_the_path() {
        assert_eq!(super::encode("CP 1/ä"), "CP%201%2F%C3%A4");
        assert_eq!(super::encode("CP-1_a.b~"), "CP-1_a.b~");
    }
}
