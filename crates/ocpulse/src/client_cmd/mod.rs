//! The API client commands (`ocpulse trigger`, `call`, `calls`, `reset`,
//! `change-availability`, `unlock`, `clear-cache`, `stations`, `sessions`, `jobs`,
//! `schedules`, `freshness`, `logs`, `firmware`, `alert-rules`, `alerts`, `webhooks`, `id-tokens`, `reports`,
//! `export`): the common operations from a terminal, against a running server's HTTP API (with
//! `--token`/`OCPULSE_TOKEN` when it requires one). Tables by default, the API's own JSON
//! with `--json` (for scripts; a list is read whole by following `next` and printed as one
//! page, `{"items": [...], "next": null}`). An API error is shown as its code and message
//! and the command exits non-zero. One file per resource; `http` talks to the API,
//! `output` prints.

mod alert_rules;
mod alerts;
mod calls;
mod crud;
mod export;
mod firmware;
mod freshness;
mod http;
mod id_tokens;
mod jobs;
mod logs;
mod output;
mod reports;
mod schedules;
mod sessions;
mod station_config;
mod stations;
mod trigger;
mod webhooks;

pub use alert_rules::{AlertRulesArgs, alert_rules};
pub use alerts::{AlertsAction, AlertsArgs, alerts};
pub use calls::{
    AvailabilityArgs, CallArgs, CallsAction, CallsArgs, ClearCacheArgs, ResetArgs, UnlockArgs,
    call, calls, change_availability, clear_cache, reset, unlock,
};
pub use crud::{CrudAction, ReplaceAction};
pub use export::{ExportArgs, ExportWhat, export};
pub use firmware::{FirmwareAction, FirmwareArgs, firmware};
pub use freshness::{FreshnessArgs, freshness};
pub use http::ClientArgs;
pub use id_tokens::{IdTokensAction, IdTokensArgs, id_tokens};
pub use jobs::{CreateArgs, JobsAction, JobsArgs, jobs};
pub use logs::{LogsAction, LogsArgs, logs};
pub(crate) use output::table;
pub use reports::{Report, ReportsArgs, reports};
pub use schedules::{SchedulesArgs, schedules};
pub use sessions::{SessionsAction, SessionsArgs, sessions};
pub use station_config::{StationConfigAction, station_config};
pub use stations::{StationsArgs, stations};
pub use trigger::{TriggerArgs, trigger};
pub use webhooks::{WebhooksAction, WebhooksArgs, webhooks};
