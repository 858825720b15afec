//! `ocpulse reports`: the fleet summary, station health (all, or one station) and the
//! store's size and retention (docs/reports.md).

use super::crud::{list_table, show};
use super::http::{ClientArgs, encode};

/// The columns of the health report.
const HEALTH_COLUMNS: &[(&str, &str)] = &[
    ("STATION", "/stationId"),
    ("PROTOCOL", "/protocol"),
    ("CONNECTED", "/connected"),
    ("UPTIME S", "/uptimeSeconds"),
    ("LAST SEEN", "/lastSeen"),
    ("TRIGGERS", "/triggers/total"),
    ("ACCEPTED", "/triggers/accepted"),
    ("TIMEOUTS", "/triggers/timeouts"),
    ("VIOLATIONS", "/violations"),
];

/// `ocpulse reports`.
#[derive(Debug, clap::Args)]
pub struct ReportsArgs {
    /// Which report.
    #[command(subcommand)]
    pub report: Report,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The reports.
#[derive(Debug, clap::Subcommand)]
pub enum Report {
    /// Stations by connection, protocol, vendor, model, firmware, connector status.
    Fleet,
    /// Each station's health (connection, uptime, triggers, violations), or one station's.
    Health {
        /// Only this station, with every field.
        station: Option<String>,
    },
    /// What the store holds and what retention does about it.
    Storage,
}

/// `ocpulse reports fleet|health [STATION]|storage`.
pub async fn reports(args: ReportsArgs) -> anyhow::Result<()> {
    let c = &args.client;
    match args.report {
        Report::Fleet => show(c, &c.get("/api/v1/reports/fleet").await?),
        Report::Health { station: None } => {
            list_table(c, "/api/v1/reports/health", HEALTH_COLUMNS).await
        }
        Report::Health { station: Some(id) } => show(
            c,
            &c.get(&format!("/api/v1/stations/{}/health", encode(&id)))
                .await?,
        ),
        Report::Storage => show(c, &c.get("/api/v1/reports/storage").await?),
    }
}
