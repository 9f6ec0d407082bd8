//! The library's top-level error: wraps each module's error so callers (the
//! CLI, the Argo CD plugin) can map them to sops' exit codes with
//! [`Error::exit_code`].
//!
//! Messages follow one rule: a variant that carries a cause returns it from
//! `source()` and does not repeat it in its own text, so a chain printer
//! ([`chain`]) prints every cause once. Messages never contain plaintext.

use std::fmt;
use std::path::PathBuf;

use crate::exit_code;
use crate::keys::{KeyError, RecoveryError, WrapError};
use crate::ops::TreeError;
use crate::stores::StoreError;

/// Any failure of a high-level operation. Messages never contain plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A document could not be parsed or emitted; `path` names the file when known.
    #[error("{}", store_context(.path))]
    Store {
        path: Option<PathBuf>,
        #[source]
        source: StoreError,
    },
    #[error("could not read {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    /// No key service could wrap the data key for these master keys (one
    /// failure per key and service; sops' text).
    #[error("{}", crate::keys::wrapping_failures(.0))]
    WrapKeys(Vec<crate::keys::KeyFailure>),
    #[error("no key services provided, cannot update master keys")]
    NoKeyServices,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("could not split data key into parts for Shamir: {0}")]
    ShamirSplit(String),
    #[error("no master key was given to encrypt with")]
    NoKeys,
    /// The metadata's `version` is not a semantic version (sops 3.11 checks
    /// it before it decrypts anything, with these messages).
    #[error("{0}")]
    Version(String),
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
    /// A decrypted document does not fit the Rust type, or a value cannot
    /// be written as a sops document (feature `serde`).
    #[cfg(feature = "serde")]
    #[error(transparent)]
    Typed(#[from] crate::typed::TypedError),
}

/// The step of an atomic file write that failed. Its text reads as a verb
/// phrase before the file's path ("could not replace /x/secrets.yaml").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteStep {
    /// Opening the existing file for writing: the check of its permissions
    /// that sops' `os.Create` makes (a read-only file is refused).
    Open,
    /// Reading the mode of the file to replace, or creating the new file.
    Create,
    /// Creating the temporary file in the destination's directory.
    CreateTemporary,
    /// Writing and syncing the temporary file, or the file itself when it
    /// is written through.
    Write,
    /// Giving the temporary file the destination's mode.
    SetPermissions,
    /// Renaming the temporary file over the destination.
    Replace,
}

impl std::fmt::Display for WriteStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WriteStep::Open => "open for writing",
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
            WrapError::Keys(failures) => Error::WrapKeys(failures),
            WrapError::NoKeyServices => Error::NoKeyServices,
            WrapError::ShamirSplit(reason) => Error::ShamirSplit(reason),
        }
    }
}

fn store_context(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => "document".to_owned(),
    }
}

impl Error {
    /// sops' exit code for this failure (`cmd/sops/codes`).
    ///
    /// Where sops words a store failure by what it was doing (reading a
    /// plaintext input exits 2, emitting exits 4), only the caller knows the
    /// stage; this method answers for the library's own operations, which load
    /// encrypted files (sops exits 1 there, 92 for an empty file).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Store {
                source: StoreError::Empty,
                ..
            } => exit_code::NEED_AT_LEAST_ONE_DOCUMENT,
            Self::Store { .. } => exit_code::ERROR_GENERIC,
            Self::Io { .. } => exit_code::COULD_NOT_READ_INPUT_FILE,
            Self::Tree(e) => e.exit_code(),
            Self::Recovery(_) => exit_code::COULD_NOT_RETRIEVE_KEY,
            Self::AlreadyEncrypted => exit_code::FILE_ALREADY_ENCRYPTED,
            Self::Write { .. } => exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
            #[cfg(feature = "serde")]
            Self::Typed(_) => exit_code::ERROR_GENERIC,
            // sops 3.11: "Could not generate data key" exits with the generic code.
            Self::WrapKeys(_)
            | Self::NoKeyServices
            | Self::ShamirSplit(_)
            | Self::NoKeys
            | Self::Key(_)
            | Self::Version(_) => exit_code::ERROR_GENERIC,
        }
    }
}

impl TreeError {
    /// sops' exit code for a failure of the value walk.
    pub fn exit_code(&self) -> u8 {
        match self {
            // sops reports every MAC problem met while decrypting as a mismatch.
            Self::Mac(_) => exit_code::MAC_MISMATCH,
            Self::Decrypt { .. } | Self::NotEncrypted { .. } => exit_code::ERROR_DECRYPTING_TREE,
            Self::Encrypt { .. } | Self::CommentMatchesUnencryptedRegex { .. } => {
                exit_code::ERROR_ENCRYPTING_TREE
            }
        }
    }
}

/// Displays an error followed by each of its sources, joined with `": "`
/// (the form sops prints, and `anyhow`'s `{:#}`).
pub fn chain<'a>(err: &'a (dyn std::error::Error + 'static)) -> Chain<'a> {
    Chain(err)
}

/// See [`chain`].
#[derive(Clone, Copy)]
pub struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cipher::CipherError;
    use crate::mac::MacError;

    #[test]
    fn sources_are_printed_once() {
        let err = Error::from(TreeError::Decrypt {
            path: "'a'".into(),
            source: CipherError::Authentication,
        });
        let text = chain(&err).to_string();
        assert_eq!(text.matches("message authentication failed").count(), 1);
        assert!(text.starts_with("Could not decrypt value at 'a': "));

        let io = Error::Io {
            path: "x.yaml".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        };
        assert_eq!(io.to_string(), "could not read x.yaml");
        assert_eq!(chain(&io).to_string(), "could not read x.yaml: gone");
    }

    #[test]
    fn exit_codes_are_sops_codes() {
        assert_eq!(Error::AlreadyEncrypted.exit_code(), 203);
        assert_eq!(Error::NoKeys.exit_code(), 1);
        let empty = Error::Store {
            path: None,
            source: StoreError::Empty,
        };
        assert_eq!(empty.exit_code(), 92);
        let mac = Error::from(TreeError::Mac(MacError::BadLastModified));
        assert_eq!(mac.exit_code(), 51);
        let dec = Error::from(TreeError::NotEncrypted {
            path: "'a'".into(),
            kind: "string",
        });
        assert_eq!(dec.exit_code(), 25);
    }
}
