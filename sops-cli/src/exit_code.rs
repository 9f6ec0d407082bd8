//! The one place that maps library errors onto sops' exit codes and message
//! texts. The codes themselves are sops-core's ([`sops_core::exit_code`],
//! re-exported here), shared with the Argo CD plugin; what stays here is the
//! wording that depends on what the command was doing (loading a plaintext
//! file, loading an encrypted one, emitting).

use std::fmt;

use sops_core::Error;
use sops_core::error::chain;
use sops_core::ops::TreeError;
use sops_core::stores::{Format, StoreError};

pub use sops_core::exit_code::*;

/// An error to print on stderr, with the exit code sops uses for it.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
    /// What to try next, printed after the message as `hint: …` lines.
    pub hints: Vec<String>,
}

impl CliError {
    /// An error with the hint its exit code always deserves ([`code_hint`]).
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hints: code_hint(code).map(str::to_owned).into_iter().collect(),
        }
    }

    /// Replaces the hints with `hint` (when there is one).
    pub fn with_hint(mut self, hint: Option<impl Into<String>>) -> Self {
        if let Some(hint) = hint {
            self.hints = vec![hint.into()];
        }
        self
    }
}

/// The message, then one `hint: ` line per hint.
impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for hint in &self.hints {
            write!(f, "\n{HINT_PREFIX}{hint}")?;
        }
        Ok(())
    }
}

/// How a hint line starts (the tests strip these lines to compare the
/// rest with the reference's stderr).
pub const HINT_PREFIX: &str = "hint: ";

/// The hint of the exit codes that mean one thing wherever they are used.
pub fn code_hint(code: u8) -> Option<&'static str> {
    Some(match code {
        ERROR_INVALID_KMS_ENCRYPTION_CONTEXT_FORMAT => {
            "the encryption context is a comma-separated list of key:value pairs"
        }
        ERROR_INVALID_SET_FORMAT | INVALID_TREE_PATH_FORMAT => {
            "a tree path is a list of indexes such as '[\"key\"][0]': keys quoted, list \
             positions as numbers; a --set value is JSON, so a string is quoted too"
        }
        NO_EDITOR_FOUND => "set SOPS_EDITOR or EDITOR to your editor's command",
        DUPLICATE_DECRYPTION_KEY_TYPE => {
            "name each key type once in --decryption-order or SOPS_DECRYPTION_ORDER"
        }
        _ => return None,
    })
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
    store_error_text(stage, err, file).with_hint(err.hint())
}

fn store_error_text(stage: Stage, err: &StoreError, file: Option<&std::path::Path>) -> CliError {
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

/// Maps a library error (from decrypting or encrypting) to sops' code and
/// text. The code is the library's ([`Error::exit_code`]) except for store
/// errors, whose code depends on the stage; the text is composed from the
/// error chain so that each cause is printed once.
pub fn library_error(err: Error, stage_format: Format) -> CliError {
    let hint = err.hint();
    let mut out = library_error_text(err, stage_format).with_hint(hint);
    if out.code == COULD_NOT_RETRIEVE_KEY {
        out.hints
            .push("`sops doctor FILE` shows each key of the file and why it failed".into());
    }
    out
}

fn library_error_text(err: Error, stage_format: Format) -> CliError {
    let code = err.exit_code();
    match err {
        Error::Store { source, .. } => store_error(Stage::LoadEncrypted(stage_format), &source),
        Error::Recovery(e) => CliError::new(code, e.to_string()),
        Error::Tree(TreeError::Mac(e)) => CliError::new(code, chain(&e).to_string()),
        Error::Tree(e @ (TreeError::Decrypt { .. } | TreeError::NotEncrypted { .. })) => {
            CliError::new(code, format!("Error decrypting tree: {}", chain(&e)))
        }
        Error::Tree(e) => CliError::new(code, format!("Error encrypting tree: {}", chain(&e))),
        e @ (Error::WrapKeys(_) | Error::NoKeyServices) => {
            CliError::new(code, format!("Could not generate data key: [{e}]"))
        }
        e @ Error::ShamirSplit(_) => {
            CliError::new(code, format!("Could not generate data key: [{e}]"))
        }
        Error::NoKeys => CliError::new(
            code,
            "Could not generate data key: [empty key group provided]",
        ),
        e => CliError::new(code, chain(&e).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_follow_the_message_on_their_own_lines() {
        let err = CliError::new(
            DUPLICATE_DECRYPTION_KEY_TYPE,
            "Duplicate decryption key type: age",
        );
        assert_eq!(
            err.to_string(),
            "Duplicate decryption key type: age\nhint: name each key type once in \
             --decryption-order or SOPS_DECRYPTION_ORDER"
        );
        let plain = CliError::new(ERROR_GENERIC, "x").with_hint(None::<&str>);
        assert_eq!(plain.to_string(), "x");
        let mac = library_error(
            Error::from(TreeError::Mac(sops_core::mac::MacError::BadLastModified)),
            Format::Yaml,
        );
        assert_eq!(mac.code, MAC_MISMATCH);
        assert_eq!(mac.message, "invalid lastmodified timestamp");
        assert_eq!(mac.hints.len(), 1);
    }
}
