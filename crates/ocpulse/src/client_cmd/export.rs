//! `ocpulse export journal|meter-values`: the API's CSV or JSON-lines export, streamed to
//! stdout or a file as it arrives (an export of any size holds one chunk in memory).

use std::io::Write as _;

use anyhow::Context as _;

use super::http::{ClientArgs, encode};

/// `ocpulse export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// What to export.
    #[command(subcommand)]
    pub what: ExportWhat,
    /// Only this station (default every station).
    #[arg(long, global = true)]
    pub station: Option<String>,
    /// Only entries at or after this RFC 3339 time.
    #[arg(long, global = true)]
    pub from: Option<String>,
    /// Only entries before this RFC 3339 time.
    #[arg(long, global = true)]
    pub to: Option<String>,
    /// csv or jsonl.
    #[arg(long, global = true, default_value = "csv", value_parser = ["csv", "jsonl"])]
    pub format: String,
    /// Write to this file instead of stdout.
    #[arg(long, short, global = true, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Server.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The exports.
#[derive(Debug, clap::Subcommand)]
pub enum ExportWhat {
    /// The journal: every frame, oldest first.
    Journal {
        /// Only these actions (comma-separated, e.g. StatusNotification,MeterValues).
        #[arg(long)]
        action: Option<String>,
    },
    /// The meter values, one row per sampled value.
    MeterValues {
        /// Only this 2.x EVSE or 1.6 connector (0 = the main meter).
        #[arg(long)]
        evse: Option<u32>,
        /// Only this measurand (e.g. Energy.Active.Import.Register).
        #[arg(long)]
        measurand: Option<String>,
    },
}

/// `ocpulse export ...`.
pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let (path, mut query) = match &args.what {
        ExportWhat::Journal { action } => {
            ("/api/v1/export/journal", vec![("action", action.clone())])
        }
        ExportWhat::MeterValues { evse, measurand } => (
            "/api/v1/export/meter-values",
            vec![
                ("evse", evse.map(|e| e.to_string())),
                ("measurand", measurand.clone()),
            ],
        ),
    };
    query.extend([
        ("station", args.station.clone()),
        ("from", args.from.clone()),
        ("to", args.to.clone()),
        ("format", Some(args.format.clone())),
    ]);
    let query: Vec<String> = query
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(&v))))
        .collect();
    let mut response = args
        .client
        .download(&format!("{path}?{}", query.join("&")))
        .await?;
    let mut file = match &args.output {
        Some(p) => Some(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => None,
    };
    while let Some(chunk) = response.chunk().await.context("reading the export")? {
        match &mut file {
            Some(f) => f.write_all(&chunk).context("writing the export")?,
            None => crate::stdout::bytes(&chunk),
        }
    }
    Ok(())
}
