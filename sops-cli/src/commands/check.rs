//! `sops filestatus --check [PATHS…]` (ours, for pre-commit): the files a
//! creation rule covers must be encrypted; the logic is
//! [`sops_core::batch::check_files`].

use std::path::{Path, PathBuf};

use sops_core::batch::{self, BlockState};
use sops_core::stores::Format;

use crate::cli::FilestatusArgs;
use crate::commands;
use crate::exit_code::{self as code, CliError};

pub fn run(args: &FilestatusArgs, config_flag: Option<&Path>) -> Result<(), CliError> {
    let Some(config) = commands::load_config(config_flag)? else {
        return Err(CliError::new(
            code::ERROR_GENERIC,
            "filestatus --check: config file not found",
        )
        .with_hint(Some(
            "the creation rules of .sops.yaml (searched for from the current directory \
             upwards) say which files must be encrypted: create one, or name it with --config",
        )));
    };
    let mut paths: Vec<PathBuf> = args
        .file
        .iter()
        .cloned()
        .chain(args.extra.iter().map(PathBuf::from))
        .collect();
    if paths.is_empty() {
        paths.push(PathBuf::from("."));
    }
    let format = args.input_type.as_deref().and_then(Format::from_name);
    let checked = batch::check_files(&paths, &config, format)
        .map_err(|e| CliError::new(code::ERROR_GENERIC, e.to_string()))?;
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut bad = 0;
    for (path, state) in &checked {
        let why = match state {
            BlockState::Valid => continue,
            BlockState::NotEncrypted => "not encrypted".to_owned(),
            BlockState::Invalid(reason) => reason.clone(),
            BlockState::Unreadable(reason) => format!("cannot be read: {reason}"),
            _ => "not a valid sops file".to_owned(),
        };
        bad += 1;
        // Paths as the user (or pre-commit) named them: relative to here.
        let shown = path.strip_prefix(&cwd).unwrap_or(path);
        println!("{}: {why}", shown.display());
    }
    if bad == 0 {
        return Ok(());
    }
    Err(CliError::new(
        code::ERROR_GENERIC,
        format!(
            "filestatus --check: {bad} of {} file(s) covered by the creation rules of {} are \
             not sops-encrypted",
            checked.len(),
            config.path.display()
        ),
    )
    .with_hint(Some(
        "encrypt each file listed on stdout with `sops encrypt --in-place FILE`, or narrow \
         the path_regex of the rule that covers it",
    )))
}
