//! `ocpulse schedules`: recurring trigger jobs (docs/schedules.md).

use super::crud::{CrudAction, ReplaceAction, Resource};
use super::http::ClientArgs;

const SCHEDULES: Resource = Resource {
    path: "/api/v1/schedules",
    id: "scheduleId",
    columns: &[
        ("SCHEDULE", "/scheduleId"),
        ("NAME", "/name"),
        ("ENABLED", "/enabled"),
        ("MESSAGE", "/trigger/requestedMessage"),
        ("EVERY S", "/everySeconds"),
        ("RUNS", "/runs"),
        ("NEXT RUN", "/nextRunAt"),
    ],
};

/// `ocpulse schedules`.
#[derive(Debug, clap::Args)]
pub struct SchedulesArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<ReplaceAction>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse schedules [list|show|create|replace|delete]`.
pub async fn schedules(args: SchedulesArgs) -> anyhow::Result<()> {
    let action = args.action.unwrap_or(ReplaceAction::Crud(CrudAction::List));
    SCHEDULES.run_replaceable(&args.client, action).await
}
