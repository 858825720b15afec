//! `ocpulse freshness`: freshness targets, data kept no older than a maximum age
//! (docs/schedules.md).

use super::crud::{CrudAction, Resource};
use super::http::ClientArgs;

const TARGETS: Resource = Resource {
    path: "/api/v1/freshness",
    id: "targetId",
    columns: &[
        ("TARGET", "/targetId"),
        ("NAME", "/name"),
        ("DATA", "/data"),
        ("MAX AGE S", "/maxAgeSeconds"),
        ("CHARGING ONLY", "/onlyWhileCharging"),
        ("REFRESHES", "/refreshes"),
        ("OK", "/succeeded"),
        ("FAILED", "/failed"),
    ],
};

/// `ocpulse freshness`.
#[derive(Debug, clap::Args)]
pub struct FreshnessArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<CrudAction>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse freshness [list|show|create|delete]`.
pub async fn freshness(args: FreshnessArgs) -> anyhow::Result<()> {
    let action = args.action.unwrap_or(CrudAction::List);
    TARGETS.run(&args.client, action).await
}
