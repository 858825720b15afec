//! The command line: `ocpulse serve` (its options in `serve_args.rs`, its config file in
//! `config_file.rs`), `ocpulse sim`, `ocpulse bench`, `ocpulse config check`, and the API
//! client commands (`client_cmd/`).

use clap::{Parser, Subcommand};

pub use crate::serve_args::ServeArgs;

/// ocpulse: an OCPP central system that makes TriggerMessage a first-class API.
#[derive(Debug, Parser)]
#[command(name = "ocpulse", version, about)]
pub struct Cli {
    /// How log lines on stderr are written: `text`, or `json` (one object a line).
    #[arg(
        long,
        global = true,
        env = "OCPULSE_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    pub log_format: crate::logging::LogFormat,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the CSMS: stations connect to ws://ADDR/ocpp/{stationId}, the API is under http://ADDR/api/v1.
    Serve(Box<ServeArgs>),
    /// Run simulated charging stations (1.6J or 2.0.1) against a CSMS until interrupted.
    Sim(crate::sim_cmd::SimArgs),
    /// A server on a temporary data directory with a simulated mixed fleet, and the dashboard's URL.
    Demo(crate::demo_cmd::DemoArgs),
    /// Benchmark ocpulse against peer CSMSs and a null server under the same load.
    Bench(crate::bench_cmd::BenchArgs),
    /// Trigger a message on a running server's station and print what the station sent.
    Trigger(crate::client_cmd::TriggerArgs),
    /// Send any CSMS call of the station's version and print its answer (docs/calls.md).
    Call(crate::client_cmd::CallArgs),
    /// List or show call records (every call, station operation and job call).
    Calls(crate::client_cmd::CallsArgs),
    /// Reset a station (Hard, Soft, Immediate, OnIdle: said in its version).
    Reset(crate::client_cmd::ResetArgs),
    /// Make a station, EVSE or connector operative or inoperative; print the status that followed.
    ChangeAvailability(crate::client_cmd::AvailabilityArgs),
    /// Unlock a connector.
    Unlock(crate::client_cmd::UnlockArgs),
    /// Clear a station's authorization cache.
    ClearCache(crate::client_cmd::ClearCacheArgs),
    /// List a running server's stations.
    Stations(crate::client_cmd::StationsArgs),
    /// List, show, start, stop or watch charging sessions.
    Sessions(crate::client_cmd::SessionsArgs),
    /// List, show, create or cancel a running server's bulk trigger jobs.
    Jobs(crate::client_cmd::JobsArgs),
    /// List, show, create, replace or delete a running server's schedules (recurring jobs).
    Schedules(crate::client_cmd::SchedulesArgs),
    /// Ask a station for its log; list, show and download uploaded logs.
    Logs(crate::client_cmd::LogsArgs),
    /// Roll firmware out in stages (canary, wait, rest); follow, list, show or cancel rollouts.
    Firmware(crate::client_cmd::FirmwareArgs),
    /// List, show, create or delete freshness targets.
    Freshness(crate::client_cmd::FreshnessArgs),
    /// List, show, create, replace or delete alert rules.
    AlertRules(crate::client_cmd::AlertRulesArgs),
    /// List, show or acknowledge alerts.
    Alerts(crate::client_cmd::AlertsArgs),
    /// List, show, create or delete webhooks, and read their delivery logs.
    Webhooks(crate::client_cmd::WebhooksArgs),
    /// List, show, set or delete the id tokens stations are answered from, and push them
    /// to a station as its local list (`tokens` for short; API tokens are `token`).
    #[command(visible_alias = "tokens")]
    IdTokens(crate::client_cmd::IdTokensArgs),
    /// The fleet, health and storage reports.
    Reports(crate::client_cmd::ReportsArgs),
    /// Export the journal or the meter values as CSV or JSON lines.
    Export(crate::client_cmd::ExportArgs),
    /// Create, list or revoke API tokens, offline in the server's store.
    Token(crate::token_cmd::TokenArgs),
    /// Copy the data directory's database to a file, while a server may be serving from it.
    Backup(crate::backup_cmd::BackupArgs),
    /// Put a backup in place in a data directory no server is running on.
    Restore(crate::backup_cmd::RestoreArgs),
    /// Check the settings `serve` would start with (`config check`) and print them.
    Config(crate::config_cmd::ConfigArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(crate::completions_cmd::CompletionsArgs),
    /// The benchmark's null server (answers every frame with the cheapest valid reply).
    #[command(hide = true)]
    BenchNullServer(crate::bench_cmd::NullServerArgs),
    /// A fleet of the cluster benchmark in a process of its own (one process holds
    /// ~20,000 sockets): connects, reports, holds until its stdin closes.
    #[command(hide = true)]
    BenchFleet(crate::bench_cmd::FleetArgs),
}
