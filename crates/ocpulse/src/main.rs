//! The `ocpulse` command.

use clap::Parser;

/// mimalloc: faster than glibc's allocator on the per-frame allocations of a busy server,
/// and it gives freed memory back, so an idle fleet's RSS reflects what it holds.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use ocpulse::cli::{Cli, Command};
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    ocpulse::install_tls_provider();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // A clear one-line message, not a backtrace: this is what an operator reads.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr) // stdout is for results (the sim's and bench's reports)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(args) => {
            let config = args.config()?;
            let listener = ocpulse::server::bind(config.listen)
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
            ocpulse::server::serve(config, listener, ocpulse::shutdown_signal()).await
        }
        Command::Trigger(args) => ocpulse::client_cmd::trigger(args).await,
        Command::Stations(args) => ocpulse::client_cmd::stations(args).await,
        Command::Jobs(args) => ocpulse::client_cmd::jobs(args).await,
        Command::Sim(args) => ocpulse::sim_cmd::run(args).await,
        Command::Bench(args) => ocpulse::bench_cmd::bench(args).await,
        Command::BenchNullServer(args) => ocpulse::bench_cmd::null_server(args).await,
    }
}
