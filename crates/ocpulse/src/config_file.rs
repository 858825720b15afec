//! The `--config FILE` of `ocpulse serve` (and `ocpulse config check`): a TOML file whose
//! keys are the long names of the `serve` options (`heartbeat-interval = 300`).
//!
//! Precedence is flag > environment (`OCPULSE_*`) > file > default. clap already puts a
//! flag before its environment variable before its default; the file is folded in by a
//! second parse: every file key whose option came from neither the command line nor the
//! environment is appended to the command line as `--key=value`. The file's values thus go
//! through the same parsers, ranges, `requires` and `conflicts_with` rules as flags, and the
//! file can hold exactly the options `serve` has, no more (an unknown key is an error that
//! lists the known ones), without a second list of settings to keep in step.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory as _, FromArgMatches as _};

use crate::cli::Cli;

/// Options that are not settings of the server and so have no place in the file.
const NOT_IN_FILE: [&str; 2] = ["config", "help"];

/// A parsed command line, with the config file folded in.
pub struct Parsed {
    /// The command to run.
    pub cli: Cli,
    /// For `serve` and `config check`: the options' matches after the file was folded in,
    /// which say where each value came from (`config check` prints it).
    pub serve: Option<ArgMatches>,
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    /// The keys whose value came from the file.
    pub from_file: BTreeSet<String>,
}

/// Parses the process's command line; clap's own errors (and `--help`) exit as usual,
/// an error in the config file is returned.
pub fn parse() -> anyhow::Result<Parsed> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let first = Cli::command().get_matches_from(argv.clone());
    fold(argv, first)
}

/// Parses `argv` (for tests): clap's errors are returned too.
pub fn try_parse_from(argv: Vec<OsString>) -> anyhow::Result<Parsed> {
    let first = Cli::command().try_get_matches_from(argv.clone())?;
    fold(argv, first)
}

/// The matches of the command that takes the `serve` options, and its path of names.
fn serve_matches(matches: &ArgMatches) -> Option<(&ArgMatches, &'static [&'static str])> {
    if let Some(m) = matches.subcommand_matches("serve") {
        return Some((m, &["serve"]));
    }
    let check = matches
        .subcommand_matches("config")?
        .subcommand_matches("check")?;
    Some((check, &["config", "check"]))
}

/// The `serve` options' definitions (under `path`).
pub(crate) fn serve_command(path: &[&str]) -> clap::Command {
    let mut cmd = Cli::command();
    cmd.build();
    for name in path {
        match cmd.find_subcommand(name) {
            Some(sub) => cmd = sub.clone(),
            None => break,
        }
    }
    cmd
}

fn fold(argv: Vec<OsString>, first: ArgMatches) -> anyhow::Result<Parsed> {
    let Some((serve, path)) = serve_matches(&first) else {
        return Ok(Parsed {
            cli: Cli::from_arg_matches(&first)?,
            serve: None,
            file: None,
            from_file: BTreeSet::new(),
        });
    };
    let file = serve.get_one::<PathBuf>("config").cloned();
    let mut from_file = BTreeSet::new();
    let mut argv = argv;
    if let Some(file) = &file {
        let cmd = serve_command(path);
        for (key, arg) in file_args(file, &cmd, serve)? {
            argv.extend(arg.into_iter().map(OsString::from));
            from_file.insert(key);
        }
    }
    let matches = Cli::command()
        .try_get_matches_from(argv)
        .map_err(|e| match &file {
            Some(file) => anyhow!(
                "{} (with the command line and environment): {}",
                file.display(),
                clap_message(&e)
            ),
            None => anyhow!("{}", clap_message(&e)),
        })?;
    let serve = serve_matches(&matches).map(|(m, _)| m.clone());
    Ok(Parsed {
        cli: Cli::from_arg_matches(&matches)?,
        serve,
        file,
        from_file,
    })
}

/// The file's settings that neither a flag nor the environment set, as command-line
/// arguments (key, arguments); an unknown key or a bad value is an error naming both.
fn file_args(
    file: &Path,
    cmd: &clap::Command,
    given: &ArgMatches,
) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the config file {}", file.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| anyhow!("{} is not valid TOML: {e}", file.display()))?;
    let mut out = Vec::new();
    for (key, value) in table {
        let Some(arg) = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && !NOT_IN_FILE.contains(&key.as_str()))
        else {
            bail!(
                "{}: unknown setting `{key}`; the settings are the long options of `ocpulse serve` without their dashes: {}",
                file.display(),
                settings(cmd).join(", ")
            );
        };
        if matches!(
            given.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let bad = |why: String| anyhow!("{}: `{key} = {value}`: {why}", file.display());
        let values = match (arg.get_action(), &value) {
            (ArgAction::SetTrue, toml::Value::Boolean(on)) => {
                out.push((
                    key.clone(),
                    if *on {
                        vec![format!("--{key}")]
                    } else {
                        vec![]
                    },
                ));
                continue;
            }
            (ArgAction::SetTrue, _) => return Err(bad("a switch: write true or false".into())),
            (ArgAction::Append, toml::Value::Array(items)) => items
                .iter()
                .map(|v| scalar(v).ok_or_else(|| bad("the list holds a table or a list".into())))
                .collect::<anyhow::Result<Vec<_>>>()?,
            (ArgAction::Append, v) => vec![scalar(v).ok_or_else(|| bad("give a list".into()))?],
            (_, v) => vec![scalar(v).ok_or_else(|| bad("give one value, not a list".into()))?],
        };
        let mut args = Vec::new();
        for v in values {
            check_value(arg, &v).map_err(bad)?;
            args.push(format!("--{key}={v}"));
        }
        out.push((key, args));
    }
    Ok(out)
}

/// Every key the file may hold.
pub(crate) fn settings(cmd: &clap::Command) -> Vec<&str> {
    cmd.get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| !NOT_IN_FILE.contains(l))
        .collect()
}

/// A TOML scalar as the text a flag would carry.
fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

/// Runs one value through its option's parser alone, so a bad value is reported as the
/// file's (and not as a clash with the other options).
fn check_value(arg: &clap::Arg, value: &str) -> Result<(), String> {
    let probe = clap::Command::new("ocpulse").no_binary_name(true).arg(
        clap::Arg::new("value")
            .action(ArgAction::Set)
            .allow_hyphen_values(true)
            .value_parser(arg.get_value_parser().clone()),
    );
    probe
        .try_get_matches_from([value])
        .map(drop)
        .map_err(|e| clap_message(&e))
}

/// clap's message without its `error: ` prefix and usage lines; for a value a parser
/// refused, the parser's own reason.
fn clap_message(e: &clap::Error) -> String {
    if let Some(source) = std::error::Error::source(e) {
        return source.to_string();
    }
    let rendered = e.render().to_string();
    let text: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let text = text.join(" ");
    text.strip_prefix("error: ").unwrap_or(&text).to_owned()
}

#[cfg(test)]
mod tests {
    /// The documented rule, kept for options added later: `--some-option` is also
    /// `OCPULSE_SOME_OPTION`.
    #[test]
    fn every_serve_option_is_also_an_environment_variable() {
        let cmd = super::serve_command(&["serve"]);
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if long == "help" {
                continue;
            }
            let want = format!("OCPULSE_{}", long.to_uppercase().replace('-', "_"));
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(want.as_str()),
                "--{long}"
            );
        }
    }
}
