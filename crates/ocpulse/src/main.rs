//! The `ocpulse` command.

use clap::Parser;
use ocpulse::cli::{Cli, Command};
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
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
            let config = args.config();
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
            ocpulse::server::serve(config, listener, ocpulse::shutdown_signal()).await
        }
        Command::Sim(args) => ocpulse::sim_cmd::run(args).await,
        Command::Bench(args) => ocpulse::bench_cmd::bench(args).await,
        Command::BenchNullServer(args) => ocpulse::bench_cmd::null_server(args).await,
    }
}
