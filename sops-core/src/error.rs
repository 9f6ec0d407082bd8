//! The library's top-level error: wraps each module's error so callers (the
//! CLI) can map them to sops' exit codes.

use std::path::PathBuf;

use crate::keys::{KeyError, RecoveryError};
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
}

fn path_prefix(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!("{}: ", p.display()))
        .unwrap_or_default()
}
