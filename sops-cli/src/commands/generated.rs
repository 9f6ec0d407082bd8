//! `sops completion SHELL` and `sops man`: text generated from the clap
//! definitions, so they cannot drift from what the binary accepts.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionArgs, CompletionShell, ManArgs};
use crate::exit_code::{self as code, CliError};

/// The program name completions are registered for.
const BIN: &str = "sops";

pub fn completion(args: &CompletionArgs) -> Result<(), CliError> {
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
        CompletionShell::PowerShell => Shell::PowerShell,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut script);
    write_stdout(&script)
}

pub fn man(args: &ManArgs) -> Result<(), CliError> {
    let failed = |what: String, e: std::io::Error| {
        CliError::new(code::ERROR_GENERIC, format!("{what}: {e}"))
    };
    match &args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| failed(format!("could not create {}", dir.display()), e))?;
            clap_mangen::generate_to(man_command(), dir)
                .map_err(|e| failed(format!("could not write the pages to {}", dir.display()), e))
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(man_command())
                .render(&mut page)
                .map_err(|e| failed("could not render the page".to_owned(), e))?;
            write_stdout(&page)
        }
    }
}

/// The command as the pages show it: the NAME line already says "sops -",
/// and the title carries our version.
fn man_command() -> clap::Command {
    let cmd = Cli::command().version(env!("CARGO_PKG_VERSION"));
    let about = cmd.get_about().map(|a| {
        let text = a.to_string();
        text.strip_prefix("sops - ").unwrap_or(&text).to_owned()
    });
    match about {
        Some(about) => cmd.about(about),
        None => cmd,
    }
}

/// A closed pipe (`sops man | head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new(
            code::ERROR_GENERIC,
            format!("could not write to stdout: {e}"),
        )),
    }
}
