//! The `sops` binary: parse arguments, run a command from `sops_core`, map
//! errors to sops' exit codes. Everything about file formats and keys lives
//! in the library.

#![forbid(unsafe_code)]

mod cli;
mod commands;
mod exit_code;
mod progress;

use std::process::ExitCode;

use clap::CommandFactory;

use cli::{Cli, Command};
use commands::decrypt::DecryptRequest;
use commands::encrypt::EncryptRequest;
use exit_code::CliError;

/// The sops version we are compatible with, and ours.
const VERSION_LINE: &str = concat!("sops 3.11.0 (sops-rs ", env!("CARGO_PKG_VERSION"), ")");

fn main() -> ExitCode {
    let cli = match parse_args(std::env::args().collect()) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => 1,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("{e}");
            }
            ExitCode::from(e.code)
        }
    }
}

/// The command line as [`Cli`]. The whole clap tree (every subcommand and
/// flag) costs more to build than a small file costs to decrypt, so the
/// common `sops decrypt …` and `sops encrypt …` are parsed first by a tree
/// holding the root and that one subcommand ([`one_subcommand`]); whatever
/// it does not accept (help, errors, other forms) is parsed again by the
/// whole tree, which alone decides every message.
fn parse_args(args: Vec<String>) -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    if let Some(command) = one_subcommand(&args)
        && let Ok(mut matches) = command.try_get_matches_from(&args)
        && let Ok(cli) = Cli::from_arg_matches_mut(&mut matches)
    {
        return Ok(cli);
    }
    let command = Cli::command();
    let args = cli::normalize_single_dash_flags(args, &command);
    let mut matches = command.try_get_matches_from(args)?;
    Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut Cli::command()))
}

/// The root flags and the one subcommand `args[1]` names, when it is
/// `decrypt` or `encrypt` and no argument is a single-dash long flag (which
/// [`cli::normalize_single_dash_flags`] rewrites by the names of every
/// subcommand's flags): built as `Cli::command()` builds them, so a command
/// line it accepts means the same as under the whole tree (pinned by
/// `one_subcommand_parses_as_the_whole_tree`).
fn one_subcommand(args: &[String]) -> Option<clap::Command> {
    use clap::Args;
    let sub = match args.get(1).map(String::as_str) {
        Some("decrypt") => cli::DecryptArgs::augment_args(clap::Command::new("decrypt")),
        Some("encrypt") => cli::EncryptArgs::augment_args(clap::Command::new("encrypt")),
        _ => return None,
    };
    let single_dash_word = |a: &String| {
        a.strip_prefix('-')
            .is_some_and(|rest| !rest.starts_with('-') && rest.len() > 1)
    };
    if args[2..]
        .iter()
        .take_while(|a| *a != "--")
        .any(single_dash_word)
    {
        return None;
    }
    let root = clap::Command::new("sops").disable_version_flag(true);
    Some(cli::RootArgs::augment_args(root.subcommand(sub)))
}

fn warn_extra_args(extra: &[String]) {
    if extra.is_empty() {
        return;
    }
    eprintln!("More than one positional argument provided. Only the first one will be used!");
    if let Some(flag) = extra.iter().find(|a| a.starts_with('-')) {
        eprintln!(
            "Note that one of the ignored positional argument is \"{flag}\", which looks like a flag. Flags must always be provided before the first positional argument!"
        );
    }
}

fn run(cli: &Cli) -> Result<(), CliError> {
    let root = &cli.root;
    if let Some(flags) = cli.command.as_ref().and_then(Command::keyservice) {
        commands::use_key_services(flags)?;
    }
    match &cli.command {
        Some(Command::Decrypt(args)) => {
            warn_extra_args(&args.extra);
            commands::decrypt::run(DecryptRequest {
                file: args.file.as_ref(),
                io: &args.io,
                extract: args.extract.as_deref(),
                ignore_mac: args.mac.ignore_mac,
                decryption_order: &args.order.decryption_order,
                // 3.13 reads `--indent` given before any subcommand (#2156).
                indent: root.indent,
                config: root.config.as_deref(),
            })
        }
        Some(Command::Encrypt(args)) => {
            warn_extra_args(&args.extra);
            commands::encrypt::run(EncryptRequest {
                encryption_context: args.encryption_context.as_deref(),
                ..EncryptRequest::subcommand_with_root(
                    args.file.as_ref(),
                    &args.io,
                    &args.keys,
                    &args.rules,
                    args.shamir.shamir_threshold,
                    root,
                )
            })
        }
        Some(Command::Edit(args)) => {
            warn_extra_args(&args.extra);
            let io = cli::IoFlags {
                types: args.types.clone(),
                ..cli::IoFlags::default()
            };
            commands::edit::run(commands::edit::EditRequest {
                encrypt: EncryptRequest {
                    encryption_context: args.encryption_context.as_deref(),
                    ..EncryptRequest::subcommand_with_root(
                        args.file.as_ref(),
                        &io,
                        &args.keys,
                        &args.rules,
                        args.shamir.shamir_threshold,
                        root,
                    )
                },
                ignore_mac: args.mac.ignore_mac,
                show_master_keys: args.show_master_keys,
                decryption_order: &args.order.decryption_order,
            })
        }
        Some(Command::Set(args)) => commands::set::run_set(args, root.indent),
        // Several paths are a many-file run, not extra arguments.
        Some(Command::Rotate(args)) => {
            commands::keys::run_rotate(args, root.indent, root.config.as_deref())
        }
        Some(Command::Groups(args)) => commands::keys::run_groups(args, root.indent),
        Some(Command::Updatekeys(args)) => {
            commands::keys::run_updatekeys(args, root.config.as_deref())
        }
        Some(Command::Unset(args)) => commands::set::run_unset(args, root.indent),
        Some(Command::Replace(args)) => commands::replace::run(args, root.indent),
        Some(Command::Filestatus(args)) if args.check => {
            commands::check::run(args, root.config.as_deref())
        }
        Some(Command::Filestatus(args)) => commands::set::run_filestatus(args),
        Some(Command::ExecEnv(args)) => child_status(commands::exec::run_exec_env(args)),
        Some(Command::ExecFile(args)) => {
            child_status(commands::exec::run_exec_file(args, root.indent))
        }
        Some(Command::Keyservice(args)) => commands::keyservice::run(args),
        Some(Command::AgeKeygen(args)) => commands::age_keygen::run(args),
        Some(Command::Completion(args)) => commands::generated::completion(args),
        Some(Command::Man(args)) => commands::generated::man(args),
        Some(Command::Doctor(args)) => commands::doctor::run(args, root.config.as_deref()),
        Some(Command::MergeDriver(args)) => {
            commands::merge_driver::run(args, root.config.as_deref())
        }
        Some(Command::Publish(args)) => {
            warn_extra_args(&args.extra);
            commands::publish::run(args, root.config.as_deref(), root.verbose)
        }
        None => run_root(cli),
    }
}

/// The legacy `--set '<path> <json>'`: split right after the first `] `.
fn legacy_set(file: &std::path::Path, spec: &str, root: &cli::RootArgs) -> Result<(), CliError> {
    // sops 3.11 checks the decryption order before it parses `--set`.
    commands::decryption_order(&root.order.decryption_order)?;
    let invalid = || CliError::new(exit_code::ERROR_INVALID_SET_FORMAT, "Invalid --set format");
    let split = spec.find("] ").ok_or_else(invalid)?;
    let (path_text, value_text) = (spec[..=split].trim_end(), &spec[split + 2..]);
    let steps = sops_core::tree::path::parse_path(path_text).map_err(|_| invalid())?;
    let value = commands::set::parse_set_value(value_text.as_bytes())?;
    let args = cli::InPlaceEditArgs {
        types: root.io.types.clone(),
        mac: root.mac.clone(),
        order: root.order.clone(),
        keyservice: root.keyservice.clone(),
    };
    commands::set::set_value(file, &steps, value, &args, false, root.indent)
}

/// The legacy form `sops [flags] FILE` (sops-cli.md §1.5).
/// exec-env/exec-file exit with their command's status.
fn child_status(result: Result<u8, CliError>) -> Result<(), CliError> {
    match result? {
        0 => Ok(()),
        n => Err(CliError::new(n, String::new())),
    }
}

fn run_root(cli: &Cli) -> Result<(), CliError> {
    let root = &cli.root;
    if root.version {
        println!("{VERSION_LINE}");
        return Ok(());
    }
    let Some(file) = root.file.as_ref() else {
        return Err(CliError::new(
            exit_code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        ));
    };
    warn_extra_args(&root.extra);
    commands::use_key_services(&root.keyservice)?;
    if root.verbose {
        eprintln!(
            "--verbose: this sops implementation has no debug logging yet; continuing without it"
        );
    }
    let modes = [root.encrypt, root.decrypt, root.rotate, root.set.is_some()];
    if modes.iter().filter(|m| **m).count() > 1 {
        eprintln!(
            "More than one command (--encrypt, --decrypt, --rotate, --set) has been specified. Only the changes made by the last one will be visible. Note that this behavior is deprecated and will cause an error eventually."
        );
    }
    if let Some(spec) = root.set.as_deref() {
        return legacy_set(file, spec, root);
    }
    if root.rotate {
        return commands::keys::rotate(commands::keys::RotateRequest {
            file: Some(file),
            io: &root.io,
            add_remove: &root.add_remove,
            ignore_mac: root.mac.ignore_mac,
            decryption_order: &root.order.decryption_order,
            subcommand: false,
            encryption_context: root.encryption_context.as_deref(),
            indent: root.indent,
        });
    }
    if root.decrypt {
        return commands::decrypt::run(DecryptRequest {
            file: Some(file),
            io: &root.io,
            extract: root.extract.as_deref(),
            ignore_mac: root.mac.ignore_mac,
            decryption_order: &root.order.decryption_order,
            indent: root.indent,
            config: root.config.as_deref(),
        });
    }
    if root.encrypt {
        return commands::encrypt::run(EncryptRequest::root(file, root));
    }
    commands::edit::run(commands::edit::EditRequest {
        encrypt: EncryptRequest::root(file, root),
        ignore_mac: root.mac.ignore_mac,
        show_master_keys: root.show_master_keys,
        decryption_order: &root.order.decryption_order,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Every argument, as clap shows it once the tree is built, without its
    /// display order: that depends on where the root's flags sit among the
    /// whole tree's, and only `--help`, which the whole tree always prints,
    /// uses it.
    fn shown_args(command: &clap::Command) -> Vec<String> {
        let display_order = regex::Regex::new(r"disp_ord: Some\(\d+\), ").unwrap();
        let mut args: Vec<String> = command
            .get_arguments()
            .map(|a| display_order.replace(&format!("{a:?}"), "").into_owned())
            .collect();
        args.sort();
        args
    }

    #[test]
    fn one_subcommand_parses_as_the_whole_tree() {
        let mut whole = Cli::command();
        whole.build();
        for name in ["decrypt", "encrypt"] {
            let mut one = one_subcommand(&argv(&["sops", name, "f.yaml"])).expect("fast path");
            one.build();
            assert_eq!(shown_args(&one), shown_args(&whole), "root of {name}");
            let whole_sub = whole.find_subcommand(name).expect("in the tree");
            let one_sub = one.find_subcommand(name).expect("in the fast tree");
            assert_eq!(shown_args(one_sub), shown_args(whole_sub), "{name}");
            // Besides `name`, only the `help` subcommand clap adds when it
            // builds any tree with subcommands.
            let others: Vec<_> = one
                .get_subcommands()
                .map(|s| s.get_name())
                .filter(|n| *n != name)
                .collect();
            assert_eq!(others, ["help"]);
            assert!(whole.find_subcommand("help").is_some());
        }
        let lines: &[&[&str]] = &[
            &["sops", "decrypt", "f.yaml"],
            &[
                "sops",
                "decrypt",
                "--extract",
                r#"["a"]"#,
                "--output-type",
                "json",
                "f.yaml",
                "x",
            ],
            &[
                "sops",
                "decrypt",
                "f.yaml",
                "--ignore-mac",
                "--decryption-order",
                "age,pgp",
            ],
            // Root-only flags after the subcommand: refused by both.
            &["sops", "decrypt", "f.yaml", "--indent", "2"],
            &["sops", "decrypt", "--input-type", "yaml", "-", "--", "-x"],
            &[
                "sops",
                "encrypt",
                "--age",
                "age1x",
                "--encrypted-regex",
                "^d",
                "-i",
                "f.yaml",
            ],
            &[
                "sops",
                "encrypt",
                "--shamir-secret-sharing-threshold",
                "2",
                "f.json",
            ],
        ];
        for line in lines {
            let args = argv(line);
            let one = one_subcommand(&args)
                .expect("fast path")
                .try_get_matches_from(&args);
            let whole = Cli::command().try_get_matches_from(&args);
            // A line one tree refuses, the other refuses too (parse_args then
            // lets the whole tree word the error).
            let (one, whole) = match (one, whole) {
                (Ok(one), Ok(whole)) => (one, whole),
                (Err(_), Err(_)) => continue,
                (one, whole) => panic!(
                    "{line:?}: the fast tree {} it, the whole tree {} it",
                    if one.is_ok() { "accepts" } else { "refuses" },
                    if whole.is_ok() { "accepts" } else { "refuses" },
                ),
            };
            let name = line[1];
            assert_eq!(
                one.subcommand_matches(name),
                whole.subcommand_matches(name),
                "{line:?}"
            );
            let ids = |m: &clap::ArgMatches| {
                m.ids()
                    .map(|id| {
                        (
                            id.to_string(),
                            m.get_raw(id.as_str())
                                .map(|v| v.map(|s| s.to_os_string()).collect::<Vec<_>>()),
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(ids(&one), ids(&whole), "{line:?}");
        }
    }

    #[test]
    fn other_command_lines_take_the_whole_tree() {
        for line in [
            &["sops", "-d", "f.yaml"][..],
            &["sops", "edit", "f.yaml"],
            &["sops", "decrypt", "-extract", "x", "f.yaml"],
            &["sops", "encrypt", "f.yaml", "-age", "x"],
            &["sops"],
        ] {
            assert!(one_subcommand(&argv(line)).is_none(), "{line:?}");
        }
    }
}
