//! `ocpulse config check`: reads the settings `ocpulse serve` would start with (flags,
//! `OCPULSE_*` environment, `--config` file, defaults), refuses what `serve` would refuse,
//! and prints each effective value with where it came from, secrets redacted. The output is
//! itself a valid config file.

use clap::ArgAction;
use clap::parser::ValueSource;

use crate::config_file::{Parsed, serve_command};

/// `ocpulse config ...`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// The `config` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigAction {
    /// Check the settings `ocpulse serve` would start with (the same options, environment
    /// and `--config` file) and print them; exits non-zero on an unknown key or a bad value.
    Check(Box<crate::serve_args::ServeArgs>),
    /// Stations' configuration through a running server: read, show, history, profiles,
    /// set-profile, drift, apply.
    #[command(flatten)]
    Station(crate::client_cmd::StationConfigAction),
}

/// Runs `config check` on the parsed command line (see `config_file::parse`).
pub fn run(parsed: &Parsed, args: &crate::serve_args::ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    config.check_exposure()?;
    let Some(matches) = &parsed.serve else {
        anyhow::bail!("config check: no settings were parsed");
    };
    crate::stdout::text(&effective(parsed, matches));
    // The settings whose default depends on the listener: say what they come to.
    crate::stdout::line(&format!(
        "# in force: auto-register = {}, require-token = {}, authorization = {} ({})",
        config.security.auto_register,
        config.security.require_token,
        config.authorization,
        if config.listen.ip().is_loopback() {
            "loopback listener: development mode unless switched off"
        } else {
            "non-loopback listener: tokens, registered stations and id tokens required"
        }
    ));
    Ok(())
}

/// Every setting as a TOML line with its source as a comment.
fn effective(parsed: &Parsed, matches: &clap::ArgMatches) -> String {
    let mut out = String::from(
        "# The settings `ocpulse serve` starts with (flag > environment > file > default).\n",
    );
    match &parsed.file {
        Some(file) => out.push_str(&format!("# config file: {}\n", file.display())),
        None => out.push_str("# no config file (--config or OCPULSE_CONFIG)\n"),
    }
    let cmd = serve_command(&["config", "check"]);
    for arg in cmd.get_arguments() {
        let Some(key) = arg.get_long() else { continue };
        if key == "config" || key == "help" {
            continue;
        }
        let id = arg.get_id().as_str();
        let source = if parsed.from_file.contains(key) {
            "file".to_owned()
        } else {
            match matches.value_source(id) {
                Some(ValueSource::CommandLine) => "flag".to_owned(),
                Some(ValueSource::EnvVariable) => arg
                    .get_env()
                    .map(|e| format!("env {}", e.to_string_lossy()))
                    .unwrap_or_else(|| "env".into()),
                Some(ValueSource::DefaultValue) => "default".to_owned(),
                _ => "not set".to_owned(),
            }
        };
        let raw: Vec<String> = matches
            .get_raw(id)
            .into_iter()
            .flatten()
            .map(|v| v.to_string_lossy().into_owned())
            .map(|v| {
                if arg.is_hide_env_values_set() {
                    redact(&v)
                } else {
                    v
                }
            })
            .collect();
        let value = match arg.get_action() {
            ArgAction::SetTrue => Some(raw.first().is_some_and(|v| v == "true").to_string()),
            ArgAction::Append if raw.is_empty() => None,
            ArgAction::Append => Some(format!(
                "[{}]",
                raw.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", ")
            )),
            _ => raw.first().map(|v| quote_unless_number(v)),
        };
        match value {
            Some(v) => out.push_str(&format!("{key} = {v}  # {source}\n")),
            None => out.push_str(&format!("# {key}: not set\n")),
        }
    }
    out
}

fn quote(v: &str) -> String {
    toml::Value::String(v.to_owned()).to_string()
}

fn quote_unless_number(v: &str) -> String {
    if v.parse::<i64>().is_ok() {
        v.to_owned()
    } else {
        quote(v)
    }
}

/// A URL's password replaced (`postgres://user:REDACTED@host/db`); anything else that
/// is secret but not a URL is hidden whole.
fn redact(v: &str) -> String {
    let Some((scheme, rest)) = v.split_once("://") else {
        return "REDACTED".into();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:REDACTED@{host}"),
            None => v.to_owned(),
        },
        None => v.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            super::redact("postgres://ops:s3cret@db:5432/ocpulse"),
            "postgres://ops:REDACTED@db:5432/ocpulse"
        );
        assert_eq!(
            super::redact("postgres://ops@db/ocpulse"),
            "postgres://ops@db/ocpulse"
        );
        assert_eq!(super::redact("s3cret"), "REDACTED");
    }
}
