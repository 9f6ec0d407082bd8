//! The library's top-level error: wraps each module's error so callers (the
//! CLI) can map them to sops' exit codes.

use std::path::PathBuf;

use crate::keys::{KeyError, RecoveryError, WrapError};
use crate::ops::TreeError;
use crate::stores::StoreError;

/// Any failure of a high-level operation. Messages never contain plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input could not be parsed; `path` names the file when known.
    #[error("{}{source}", path_prefix(.path))]
    Store {
        path: Option<PathBuf>,
        #[source]
        source: StoreError,
    },
    #[error("could not read {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    #[error("could not encrypt the data key with {identifier}: {source}")]
    WrapKey {
        identifier: String,
        #[source]
        source: KeyError,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("could not split data key into parts for Shamir: {0}")]
    ShamirSplit(String),
    #[error("no master key was given to encrypt with")]
    NoKeys,
    #[error("the file already contains a top-level sops entry")]
    AlreadyEncrypted,
    /// Writing a file failed at `step`; the file at `path` is unchanged
    /// (see [`crate::ops::write_file_atomically`]).
    #[error("could not {step} {}", .path.display())]
    Write {
        path: PathBuf,
        step: WriteStep,
        #[source]
        source: std::io::Error,
    },
}

/// The step of an atomic file write that failed. Its text reads as a verb
/// phrase before the file's path ("could not replace /x/secrets.yaml").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteStep {
    /// Reading the mode of the file to replace, or creating the new file.
    Create,
    /// Creating the temporary file in the destination's directory.
    CreateTemporary,
    /// Writing and syncing the temporary file.
    Write,
    /// Giving the temporary file the destination's mode.
    SetPermissions,
    /// Renaming the temporary file over the destination.
    Replace,
}

impl std::fmt::Display for WriteStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WriteStep::Create => "create",
            WriteStep::CreateTemporary => "create a temporary file next to",
            WriteStep::Write => "write",
            WriteStep::SetPermissions => "set permissions of",
            WriteStep::Replace => "replace",
        })
    }
}

/// The two ways wrapping fails keep their variants of [`Error`].
impl From<WrapError> for Error {
    fn from(e: WrapError) -> Self {
        match e {
            WrapError::Key { identifier, source } => Error::WrapKey { identifier, source },
            WrapError::ShamirSplit(reason) => Error::ShamirSplit(reason),
        }
    }
}

fn path_prefix(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!("{}: ", p.display()))
        .unwrap_or_default()
}
