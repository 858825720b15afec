//! `ocpulse jobs`: list, show, create or cancel bulk trigger jobs. `create` starts the job
//! without making the API wait, then follows it (`?results=none`, a progress bar on a
//! terminal) and prints it when it ends; `--no-wait` prints only the new job's id.

use std::io::IsTerminal as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::http::{ClientArgs, encode, list_all};
use super::output::{cell, counts, json as print_json, outcome, print_table};

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
    Create(Box<CreateArgs>),
    /// Cancel a running job.
    Cancel {
        /// The job id.
        id: String,
    },
}

/// `ocpulse jobs create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The message wanted, e.g. StatusNotification.
    pub message: String,
    /// Every known station (with the filters below, those that match).
    #[arg(long)]
    pub all: bool,
    /// These stations (repeat the flag).
    #[arg(long = "station")]
    pub stations: Vec<String>,
    /// Only stations of this protocol: 1.6, 2.0.1 or 2.1 (or ocpp1.6, ocpp2.0.1, ocpp2.1).
    #[arg(long, value_parser = crate::sim_cmd::parse_protocol)]
    pub protocol: Option<ocpp_rpc::ProtocolVersion>,
    /// Only connected (or disconnected) stations.
    #[arg(long, value_parser = ["connected", "disconnected"])]
    pub connection: Option<String>,
    /// Only stations with a connector in this status (e.g. Charging, Faulted, Available;
    /// the server refuses a status no OCPP version has).
    #[arg(long)]
    pub connector_status: Option<String>,
    /// Triggers in flight at once.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Station starts per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Retries per station after silence or an error.
    #[arg(long)]
    pub retries: Option<u32>,
    /// How long each station's trigger may take, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Do not wait: print only the new job's id.
    #[arg(long)]
    pub no_wait: bool,
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
                        cell(&j["jobId"]),
                        outcome(&cell(&j["status"])),
                        cell(&j["trigger"]["requestedMessage"]),
                        cell(&j["total"]),
                        counts(j),
                        cell(&j["createdAt"]),
                        cell(&j["requestedBy"]),
                    ]
                })
                .collect();
            print_table(
                &[
                    "JOB", "STATUS", "MESSAGE", "STATIONS", "OUTCOMES", "CREATED", "BY",
                ],
                &rows,
            );
        }
        JobsAction::Show { id, failed } => {
            let q = if failed { "?results=failed" } else { "" };
            let job = c
                .get(&format!("/api/v1/trigger-jobs/{}{q}", encode(&id)))
                .await?;
            if c.json {
                return print_json(&job);
            }
            print_job(&job);
        }
        JobsAction::Create(create) => return create_job(c, *create).await,
        JobsAction::Cancel { id } => {
            let job = c
                .post(
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

/// The API body of `jobs create`.
fn body(a: &CreateArgs) -> Value {
    let mut selector = json!({});
    if a.all {
        selector["all"] = json!(true);
    }
    if !a.stations.is_empty() {
        selector["stationIds"] = json!(a.stations);
    }
    if let Some(p) = a.protocol {
        selector["protocol"] = json!(p.subprotocol());
    }
    if let Some(v) = &a.connection {
        selector["connection"] = json!(v);
    }
    if let Some(v) = &a.connector_status {
        selector["connectorStatus"] = json!(v);
    }
    let mut body = json!({
        "selector": selector,
        "trigger": {"requestedMessage": a.message, "timeoutMs": a.timeout_ms},
        "wait": false,
    });
    if let Some(n) = a.concurrency {
        body["concurrency"] = json!(n);
    }
    if let Some(r) = a.rate {
        body["ratePerSecond"] = json!(r);
    }
    if let Some(r) = a.retries {
        body["retries"] = json!(r);
    }
    body
}

async fn create_job(c: &ClientArgs, a: CreateArgs) -> anyhow::Result<()> {
    let started = c.post("/api/v1/trigger-jobs", Some(body(&a))).await?;
    let Some(id) = started["jobId"].as_str().map(str::to_owned) else {
        anyhow::bail!("the server answered no jobId: {started}");
    };
    if a.no_wait {
        return if c.json {
            print_json(&started)
        } else {
            crate::stdout::line(&id);
            Ok(())
        };
    }
    follow(c, &id).await?;
    let job = c
        .get(&format!("/api/v1/trigger-jobs/{}", encode(&id)))
        .await?;
    if c.json {
        return print_json(&job);
    }
    print_job(&job);
    Ok(())
}

/// Polls the job until it is no longer running, with a progress bar while it runs when
/// stderr is a terminal; nothing is drawn elsewhere.
async fn follow(c: &ClientArgs, id: &str) -> anyhow::Result<()> {
    let path = format!("/api/v1/trigger-jobs/{}?results=none", encode(id));
    let mut bar: Option<indicatif::ProgressBar> = None;
    loop {
        let job = c.get(&path).await?;
        let total = job["total"].as_u64().unwrap_or(0);
        let open: u64 = ["Pending", "Running"]
            .iter()
            .map(|k| job["counts"][k].as_u64().unwrap_or(0))
            .sum();
        let running = job["status"] == "running";
        if bar.is_none() && running && std::io::stderr().is_terminal() {
            bar = Some(progress_bar(id, total));
        }
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(total.saturating_sub(open));
            bar.set_message(counts(&job));
            if !running {
                bar.finish_and_clear();
            }
        }
        if !running {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A bar on stderr (stdout stays the result) that shows stations done of the total.
fn progress_bar(id: &str, total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} job {prefix} [{bar:20}] {pos}/{len} stations {elapsed} {wide_msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(id.chars().take(12).collect::<String>());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn print_job(job: &Value) {
    crate::stdout::line(&format!(
        "job {} ({}): {}, {} stations in {} ms: {}",
        cell(&job["jobId"]),
        job["name"].as_str().unwrap_or("unnamed"),
        outcome(&cell(&job["status"])),
        cell(&job["total"]),
        cell(&job["elapsedMs"]),
        counts(job),
    ));
    let rows: Vec<Vec<String>> = job["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            vec![
                cell(&r["stationId"]),
                outcome(&cell(&r["outcome"])),
                cell(&r["attempts"]),
                cell(&r["elapsedMs"]),
                r["detail"].as_str().unwrap_or("").to_owned(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        crate::stdout::text(&super::output::table(
            &["STATION", "OUTCOME", "ATTEMPTS", "MS", "DETAIL"],
            &rows,
        ));
    }
}
