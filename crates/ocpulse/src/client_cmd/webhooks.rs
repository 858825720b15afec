//! `ocpulse webhooks`: where alert events are delivered, signed, and each webhook's
//! delivery log (docs/alerts.md).

use super::crud::{CrudAction, Resource, list_table};
use super::http::ClientArgs;

const WEBHOOKS: Resource = Resource {
    path: "/api/v1/webhooks",
    id: "id",
    columns: &[
        ("WEBHOOK", "/id"),
        ("URL", "/url"),
        ("EVENTS", "/events"),
        ("SECRET", "/secretHint"),
        ("CREATED", "/createdAt"),
    ],
};

/// The columns of a delivery log (its path is the webhook's).
const DELIVERY_COLUMNS: &[(&str, &str)] = &[
    ("DELIVERY", "/id"),
    ("EVENT", "/event"),
    ("STATUS", "/status"),
    ("ALERT", "/alertId"),
    ("CREATED", "/createdAt"),
    ("COMPLETED", "/completedAt"),
    ("NOTE", "/note"),
];

/// `ocpulse webhooks`.
#[derive(Debug, clap::Args)]
pub struct WebhooksArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<WebhooksAction>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse webhooks ...`.
#[derive(Debug, clap::Subcommand)]
pub enum WebhooksAction {
    /// List, show, create or delete webhooks.
    #[command(flatten)]
    Crud(CrudAction),
    /// A webhook's delivery log, newest first.
    Deliveries {
        /// The webhook id.
        id: String,
    },
}

/// `ocpulse webhooks [list|show|create|delete|deliveries]`.
pub async fn webhooks(args: WebhooksArgs) -> anyhow::Result<()> {
    let c = &args.client;
    match args
        .action
        .unwrap_or(WebhooksAction::Crud(CrudAction::List))
    {
        WebhooksAction::Crud(action) => WEBHOOKS.run(c, action).await,
        WebhooksAction::Deliveries { id } => {
            let path = format!("{}/deliveries", WEBHOOKS.item(&id));
            list_table(c, &path, DELIVERY_COLUMNS).await
        }
    }
}
