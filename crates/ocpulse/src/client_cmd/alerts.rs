//! `ocpulse alerts`: the alerts the rules raised; list (filtered), show, acknowledge
//! (docs/alerts.md).

use serde_json::json;

use super::crud::{Resource, show};
use super::http::{ClientArgs, encode};

const ALERTS: Resource = Resource {
    path: "/api/v1/alerts",
    id: "id",
    columns: &[
        ("ALERT", "/id"),
        ("STATUS", "/status"),
        ("SEVERITY", "/severity"),
        ("RULE", "/ruleName"),
        ("STATION", "/stationId"),
        ("TARGET", "/target"),
        ("COUNT", "/count"),
        ("RAISED", "/raisedAt"),
    ],
};

/// `ocpulse alerts`.
#[derive(Debug, clap::Args)]
pub struct AlertsArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<AlertsAction>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse alerts ...`.
#[derive(Debug, clap::Subcommand)]
pub enum AlertsAction {
    /// List alerts, newest first.
    List {
        /// Only alerts in this state.
        #[arg(long, value_parser = ["open", "acknowledged", "resolved"])]
        status: Option<String>,
        /// Only this station's alerts.
        #[arg(long)]
        station: Option<String>,
        /// Only alerts of this rule id.
        #[arg(long)]
        rule: Option<String>,
    },
    /// One alert with its details.
    Show {
        /// The alert id.
        id: String,
    },
    /// Acknowledge an alert: someone is on it.
    Acknowledge {
        /// The alert id.
        id: String,
        /// Who is on it.
        #[arg(long)]
        by: Option<String>,
        /// A note for others.
        #[arg(long)]
        note: Option<String>,
    },
}

/// `ocpulse alerts [list|show|acknowledge]`.
pub async fn alerts(args: AlertsArgs) -> anyhow::Result<()> {
    let c = &args.client;
    let action = args.action.unwrap_or(AlertsAction::List {
        status: None,
        station: None,
        rule: None,
    });
    match action {
        AlertsAction::List {
            status,
            station,
            rule,
        } => {
            let query: Vec<String> = [("status", status), ("station", station), ("rule", rule)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(&v))))
                .collect();
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            ALERTS.list(c, &query).await
        }
        AlertsAction::Show { id } => show(c, &c.get(&ALERTS.item(&id)).await?),
        AlertsAction::Acknowledge { id, by, note } => {
            let mut body = json!({});
            if let Some(by) = by {
                body["by"] = json!(by);
            }
            if let Some(note) = note {
                body["note"] = json!(note);
            }
            let path = format!("{}/acknowledge", ALERTS.item(&id));
            show(c, &c.post(&path, Some(body)).await?)
        }
    }
}
