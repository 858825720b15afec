//! `ocpulse logs`: ask a station for its log, list and show the requests, download an
//! uploaded file (docs/logs.md).

use std::io::Write as _;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use super::crud::{Resource, show};
use super::http::{ClientArgs, encode};

const LOGS: Resource = Resource {
    path: "/api/v1/logs",
    id: "id",
    columns: &[
        ("LOG", "/id"),
        ("STATION", "/stationId"),
        ("ACTION", "/action"),
        ("STATUS", "/status"),
        ("SIZE", "/file/size"),
        ("FILE", "/fileName"),
        ("CREATED", "/createdAt"),
    ],
};

/// The statuses after which nothing more will come, and which mean it did not work.
const FAILED: [&str; 4] = ["failed", "rejected", "error", "uploadedElsewhere"];

/// `ocpulse logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<LogsAction>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse logs ...`.
#[derive(Debug, clap::Subcommand)]
pub enum LogsAction {
    /// Ask a station to upload its log to this server (GetDiagnostics / GetLog).
    Request {
        /// The station id.
        station: String,
        /// DiagnosticsLog or SecurityLog (GetLog's logType).
        #[arg(long, value_parser = ["DiagnosticsLog", "SecurityLog"])]
        log_type: Option<String>,
        /// Oldest entry wanted (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Latest entry wanted (RFC 3339).
        #[arg(long)]
        to: Option<String>,
        /// Wait until the file arrives or the upload fails.
        #[arg(long)]
        wait: bool,
        /// Milliseconds for the station's answer (and, with --wait, for the whole upload).
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// With --wait: write the file here once it arrived (`-` for stdout).
        #[arg(long, short, value_name = "FILE", requires = "wait")]
        output: Option<String>,
    },
    /// List log requests, newest first.
    List {
        /// Only this station's.
        #[arg(long)]
        station: Option<String>,
        /// Only those in this status (received, failed, ...).
        #[arg(long)]
        status: Option<String>,
    },
    /// One request with its progress.
    Get {
        /// The log request id.
        id: String,
    },
    /// Download an uploaded file.
    Download {
        /// The log request id.
        id: String,
        /// Write it here (`-` or absent: stdout).
        #[arg(long, short, value_name = "FILE")]
        output: Option<String>,
    },
}

/// `ocpulse logs [request|list|get|download]`.
pub async fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let c = &args.client;
    let action = args.action.unwrap_or(LogsAction::List {
        station: None,
        status: None,
    });
    match action {
        LogsAction::Request {
            station,
            log_type,
            from,
            to,
            wait,
            timeout_ms,
            output,
        } => {
            let mut body = json!({});
            for (k, v) in [("logType", log_type), ("from", from), ("to", to)] {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            if wait {
                body["wait"] = json!(true);
            }
            if let Some(ms) = timeout_ms {
                body["timeoutMs"] = json!(ms);
            }
            let path = format!("/api/v1/stations/{}/logs", encode(&station));
            let item = c.post(&path, Some(body)).await?;
            let status = item["status"].as_str().unwrap_or_default().to_owned();
            match output {
                Some(out) if status == "received" => {
                    download(c, item["id"].as_str().unwrap_or_default(), Some(&out)).await?;
                }
                _ => show(c, &item)?,
            }
            check(&item, &status, wait)
        }
        LogsAction::List { station, status } => {
            let query: Vec<String> = [("station", station), ("status", status)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(&v))))
                .collect();
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            LOGS.list(c, &query).await
        }
        LogsAction::Get { id } => show(c, &c.get(&LOGS.item(&id)).await?),
        LogsAction::Download { id, output } => download(c, &id, output.as_deref()).await,
    }
}

/// A request that failed, or that `--wait` saw end without its file, fails the command.
fn check(item: &Value, status: &str, wait: bool) -> anyhow::Result<()> {
    let id = item["id"].as_str().unwrap_or_default();
    if FAILED.contains(&status) {
        bail!("log request {id}: {status}");
    }
    if wait && status != "received" {
        bail!("log request {id}: still {status} when the wait ended (`ocpulse logs get {id}`)");
    }
    Ok(())
}

/// Writes the file of `id` to `output` (a path; `-` or `None`: stdout).
async fn download(c: &ClientArgs, id: &str, output: Option<&str>) -> anyhow::Result<()> {
    let mut response = c.download(&format!("{}/content", LOGS.item(id))).await?;
    let mut file = match output {
        Some(p) if p != "-" => {
            Some(std::fs::File::create(p).with_context(|| format!("cannot create {p}"))?)
        }
        _ => None,
    };
    while let Some(chunk) = response.chunk().await.context("reading the file")? {
        match &mut file {
            Some(f) => f.write_all(&chunk).context("writing the file")?,
            None => crate::stdout::bytes(&chunk),
        }
    }
    Ok(())
}
