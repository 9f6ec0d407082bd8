//! sops' exit codes (cmd/sops/codes in the reference) and the one place that
//! maps library errors onto them with sops' message texts.

use std::fmt;

use sops_core::Error;
use sops_core::ops::TreeError;
use sops_core::stores::{Format, StoreError};

pub const ERROR_GENERIC: u8 = 1;
pub const COULD_NOT_READ_INPUT_FILE: u8 = 2;
pub const COULD_NOT_WRITE_OUTPUT_FILE: u8 = 3;
pub const ERROR_DUMPING_TREE: u8 = 4;
pub const ERROR_INVALID_SET_FORMAT: u8 = 7;
pub const ERROR_CONFLICTING_PARAMETERS: u8 = 8;
pub const ERROR_ENCRYPTING_TREE: u8 = 23;
pub const ERROR_DECRYPTING_TREE: u8 = 25;
pub const MAC_MISMATCH: u8 = 51;
pub const INVALID_TREE_PATH_FORMAT: u8 = 91;
pub const NEED_AT_LEAST_ONE_DOCUMENT: u8 = 92;
pub const NO_FILE_SPECIFIED: u8 = 100;
pub const COULD_NOT_RETRIEVE_KEY: u8 = 128;
pub const FILE_ALREADY_ENCRYPTED: u8 = 203;

/// An error to print on stderr, with the exit code sops uses for it.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What the program was doing when a store failed (sops words each differently).
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    LoadPlain,
    LoadEncrypted(Format),
    Emit,
}

/// Maps a store error at a given stage to sops' code and text.
pub fn store_error(stage: Stage, err: &StoreError) -> CliError {
    store_error_in(stage, err, None)
}

/// As [`store_error`]; parse errors also name the input file when there is
/// one (sops names only the line).
pub fn store_error_in(stage: Stage, err: &StoreError, file: Option<&std::path::Path>) -> CliError {
    let text = match (file, err) {
        (Some(path), StoreError::Syntax { .. } | StoreError::Shape(_)) => {
            format!("{}: {err}", path.display())
        }
        _ => err.to_string(),
    };
    match (stage, err) {
        (_, StoreError::Empty) => CliError::new(NEED_AT_LEAST_ONE_DOCUMENT, text),
        (Stage::LoadPlain, _) => CliError::new(
            COULD_NOT_READ_INPUT_FILE,
            format!("Error unmarshalling file: {text}"),
        ),
        (Stage::LoadEncrypted(_), StoreError::MetadataNotFound) => {
            CliError::new(ERROR_GENERIC, text)
        }
        (Stage::LoadEncrypted(format), _) => CliError::new(
            ERROR_GENERIC,
            format!("Error unmarshalling input {}: {text}", format.name()),
        ),
        (Stage::Emit, _) => {
            CliError::new(ERROR_DUMPING_TREE, format!("Error dumping file: {text}"))
        }
    }
}

/// Maps a library error (from decrypting or encrypting) to sops' code and text.
pub fn library_error(err: Error, stage_format: Format) -> CliError {
    match err {
        Error::Store { source, .. } => store_error(Stage::LoadEncrypted(stage_format), &source),
        Error::Recovery(e) => CliError::new(COULD_NOT_RETRIEVE_KEY, e.to_string()),
        Error::Tree(TreeError::Mac(e)) => CliError::new(MAC_MISMATCH, e.to_string()),
        Error::Tree(e @ (TreeError::Decrypt { .. } | TreeError::NotEncrypted { .. })) => {
            CliError::new(ERROR_DECRYPTING_TREE, format!("Error decrypting tree: {e}"))
        }
        Error::Tree(e) => {
            CliError::new(ERROR_ENCRYPTING_TREE, format!("Error encrypting tree: {e}"))
        }
        Error::WrapKey { identifier, source } => CliError::new(
            ERROR_GENERIC,
            format!("Could not generate data key: [{identifier}: {source}]"),
        ),
        e @ Error::ShamirSplit(_) => {
            CliError::new(ERROR_GENERIC, format!("Could not generate data key: [{e}]"))
        }
        Error::NoKeys => CliError::new(
            ERROR_GENERIC,
            "Could not generate data key: [empty key group provided]",
        ),
        e => CliError::new(ERROR_GENERIC, e.to_string()),
    }
}
