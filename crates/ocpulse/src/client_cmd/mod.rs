//! The API client commands (`ocpulse trigger`, `stations`, `jobs`, `schedules`,
//! `freshness`, `alert-rules`, `alerts`, `webhooks`, `reports`, `export`): the common
//! operations from a terminal, against a running server's HTTP API (with
//! `--token`/`OCPULSE_TOKEN` when it requires one). Tables by default, the API's own JSON
//! with `--json` (for scripts; a list is read whole by following `next` and printed as one
//! page, `{"items": [...], "next": null}`). An API error is shown as its code and message
//! and the command exits non-zero. One file per resource; `http` talks to the API,
//! `output` prints.

mod http;
mod jobs;
mod output;
mod stations;
mod trigger;

pub use http::ClientArgs;
pub use jobs::{JobsAction, JobsArgs, jobs};
pub(crate) use output::table;
pub use stations::{StationsArgs, stations};
pub use trigger::{TriggerArgs, trigger};
