//! The process's log on stderr (stdout is for results: the simulator's and the benchmark's
//! reports, the client commands' tables).
//!
//! - `--log-format text|json` (`OCPULSE_LOG_FORMAT`): text for a person, one JSON object a
//!   line for a collector (fields flattened, the span's fields such as `station` under
//!   `span`).
//! - ANSI colour only when stderr is a terminal and `NO_COLOR` is unset: a log redirected to
//!   a file or a journal holds no escape codes.
//! - Repeated warnings and errors are rate-limited (`rate_limit`): at most one line per
//!   second per distinct message, the next one saying how many were suppressed, so a full
//!   disk refusing every station message cannot flood the log.
//! - A line that cannot be written (stderr a closed pipe) is dropped, never a panic.
//! - Every line about a station carries its id: the session driver runs in a `session`
//!   span with a `station` field (`ws/mod.rs`).

mod rate_limit;

use std::io::IsTerminal as _;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

pub use rate_limit::RateLimited;

#[cfg(test)]
mod tests;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// How long a distinct warning or error is not repeated.
pub const REPEAT_AFTER: Duration = Duration::from_secs(1);

/// Whether stderr takes colour: a terminal, and `NO_COLOR` unset or empty (no-color.org).
pub fn stderr_colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Installs the process's subscriber: `RUST_LOG` filters (`info` by default), `format`
/// writes, warnings and errors are rate-limited. Fails if one is installed already.
pub fn init(format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        // A log that cannot be written is dropped. The default reports it with eprintln!,
        // which panics when stderr is a closed pipe: in the task waiting for SIGTERM that
        // panic left the server running after its `| head` exited.
        .log_internal_errors(false);
    let result = match format {
        LogFormat::Text => builder
            .with_ansi(stderr_colour())
            .event_format(RateLimited::new(
                tracing_subscriber::fmt::format(),
                false,
                REPEAT_AFTER,
            ))
            .try_init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .event_format(RateLimited::new(
                tracing_subscriber::fmt::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
                true,
                REPEAT_AFTER,
            ))
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}
