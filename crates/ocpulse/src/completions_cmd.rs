//! `ocpulse completions SHELL`: the shell completion script, generated from the same
//! definitions as the command line (clap_complete), so it never lags a new option.

use clap::CommandFactory as _;

/// `ocpulse completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

/// Prints the script on stdout (e.g. `ocpulse completions bash > /etc/bash_completion.d/ocpulse`).
pub fn run(args: &CompletionsArgs) {
    let mut cmd = crate::cli::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "ocpulse", &mut script);
    crate::stdout::text(&String::from_utf8_lossy(&script));
}
