//! The `ocpulse` command.

/// mimalloc: faster than glibc's allocator on the per-frame allocations of a busy server,
/// and it gives freed memory back, so an idle fleet's RSS reflects what it holds.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use ocpulse::cli::Command;

/// Transparent huge pages off for this process, unless `MIMALLOC_ALLOW_THP` asks for them.
/// mimalloc marks its arenas `MADV_HUGEPAGE`, so a process that only grows a little still
/// faults in (and zeroes) 2 MiB at a time: measured with `ocpulse bench --only job` on this
/// project's 2-core machine, huge pages cost 16.8 KB RSS per idle station at 1,000 stations
/// against 12.0 without, and 10,000 stations took 2.0-2.5 s to connect and boot against
/// 1.6-1.75 s (zeroing huge pages was 5% of the server's CPU while the fleet grew), with no
/// gain in trigger throughput. The flag is the process's, so it also covers what was mapped
/// before `main`.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none()
        && let Err(e) = rustix::thread::disable_transparent_huge_pages(true)
    {
        eprintln!("warning: cannot turn transparent huge pages off: {e}");
    }
}

fn main() -> std::process::ExitCode {
    without_huge_pages();
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
    // Parsed first: the log's format is an option (and may come from the config file).
    let parsed = ocpulse::config_file::parse()?;
    ocpulse::logging::init(parsed.cli.log_format)?;
    match parsed.cli.command {
        Command::Serve(args) => {
            let config = args.config()?;
            let listener = ocpulse::server::bind(config.listen)
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
            ocpulse::server::serve(config, listener, ocpulse::shutdown_signal()).await
        }
        Command::Trigger(args) => ocpulse::client_cmd::trigger(args).await,
        Command::Call(args) => ocpulse::client_cmd::call(args).await,
        Command::Calls(args) => ocpulse::client_cmd::calls(args).await,
        Command::Reset(args) => ocpulse::client_cmd::reset(args).await,
        Command::ChangeAvailability(args) => ocpulse::client_cmd::change_availability(args).await,
        Command::Unlock(args) => ocpulse::client_cmd::unlock(args).await,
        Command::ClearCache(args) => ocpulse::client_cmd::clear_cache(args).await,
        Command::Stations(args) => ocpulse::client_cmd::stations(args).await,
        Command::Sessions(args) => ocpulse::client_cmd::sessions(args).await,
        Command::Jobs(args) => ocpulse::client_cmd::jobs(args).await,
        Command::Schedules(args) => ocpulse::client_cmd::schedules(args).await,
        Command::Freshness(args) => ocpulse::client_cmd::freshness(args).await,
        Command::AlertRules(args) => ocpulse::client_cmd::alert_rules(args).await,
        Command::Alerts(args) => ocpulse::client_cmd::alerts(args).await,
        Command::Logs(args) => ocpulse::client_cmd::logs(args).await,
        Command::Firmware(args) => ocpulse::client_cmd::firmware(args).await,
        Command::Webhooks(args) => ocpulse::client_cmd::webhooks(args).await,
        Command::IdTokens(args) => ocpulse::client_cmd::id_tokens(args).await,
        Command::Reports(args) => ocpulse::client_cmd::reports(args).await,
        Command::Export(args) => ocpulse::client_cmd::export(args).await,
        Command::Token(args) => ocpulse::token_cmd::run(args).await,
        Command::Backup(args) => ocpulse::backup_cmd::backup(args).await,
        Command::Restore(args) => ocpulse::backup_cmd::restore(args).await,
        Command::Sim(args) => ocpulse::sim_cmd::run(args).await,
        Command::Demo(args) => ocpulse::demo_cmd::run(args).await,
        Command::Config(ocpulse::config_cmd::ConfigArgs {
            action: ocpulse::config_cmd::ConfigAction::Check(ref args),
        }) => ocpulse::config_cmd::run(&parsed, args),
        Command::Config(ocpulse::config_cmd::ConfigArgs {
            action: ocpulse::config_cmd::ConfigAction::Station(action),
        }) => ocpulse::client_cmd::station_config(action).await,
        Command::Completions(args) => {
            ocpulse::completions_cmd::run(&args);
            Ok(())
        }
        Command::Bench(args) => ocpulse::bench_cmd::bench(args).await,
        Command::BenchNullServer(args) => ocpulse::bench_cmd::null_server(args).await,
        Command::BenchFleet(args) => ocpulse::bench_cmd::fleet(args).await,
    }
}
