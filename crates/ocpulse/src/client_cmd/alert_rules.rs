//! `ocpulse alert-rules`: the conditions that raise alerts (docs/alerts.md).

use super::crud::{CrudAction, ReplaceAction, Resource};
use super::http::ClientArgs;

const RULES: Resource = Resource {
    path: "/api/v1/alert-rules",
    id: "id",
    columns: &[
        ("RULE", "/id"),
        ("NAME", "/name"),
        ("SEVERITY", "/severity"),
        ("CONDITION", "/condition/kind"),
        ("STATIONS", "/stations"),
        ("UPDATED", "/updatedAt"),
    ],
};

/// `ocpulse alert-rules`.
#[derive(Debug, clap::Args)]
pub struct AlertRulesArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<ReplaceAction>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse alert-rules [list|show|create|replace|delete]`.
pub async fn alert_rules(args: AlertRulesArgs) -> anyhow::Result<()> {
    let action = args.action.unwrap_or(ReplaceAction::Crud(CrudAction::List));
    RULES.run_replaceable(&args.client, action).await
}
