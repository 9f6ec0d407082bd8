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
        /// The file, when known.
        path: Option<PathBuf>,
        #[source]
        /// What the store reported.
        source: StoreError,
    },
    #[error("could not read {}", .path.display())]
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        #[source]
        /// The cause.
        source: std::io::Error,
    },
    #[error(transparent)]
    /// Encrypting or decrypting the values failed (a value that does not decrypt, a MAC mismatch).
    Tree(#[from] TreeError),
    #[error(transparent)]
    /// No master key could give the data key (sops exits 128).
    Recovery(#[from] RecoveryError),
    /// No key service could wrap the data key for these master keys (one
    /// failure per key and service; sops' text).
    #[error("{}", crate::keys::wrapping_failures(.0))]
    WrapKeys(Vec<crate::keys::KeyFailure>),
    #[error("no key services provided, cannot update master keys")]
    /// Every key service was turned off, so nothing could wrap the data key.
    NoKeyServices,
    #[error(transparent)]
    /// A master key could not be built or used (a malformed recipient, a keystore not built in).
    Key(#[from] KeyError),
    #[error("could not split data key into parts for Shamir: {0}")]
    /// The data key could not be split into Shamir shares (the cause's text).
    ShamirSplit(String),
    #[error("no master key was given to encrypt with")]
    /// Encrypting needs at least one master key.
    NoKeys,
    /// The metadata's `version` is not a semantic version (sops 3.11 checks
    /// it before it decrypts anything, with these messages).
    #[error("{0}")]
    Version(String),
    #[error("the file already contains a top-level sops entry")]
    /// The plaintext to encrypt already holds sops metadata.
    AlreadyEncrypted,
    /// Writing a file failed at `step`; the file at `path` is unchanged
    /// (the write goes to a temporary file renamed over it).
    #[error("could not {step} {}", .path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The step that failed.
        step: WriteStep,
        #[source]
        /// The cause.
        source: std::io::Error,
    },
    /// A value path that does not parse or does not fit the document.
    #[error(transparent)]
    Path(#[from] crate::tree::path::PathError),
    /// A value path into the file's `sops` metadata, which only the
    /// library itself writes.
    #[error("the path names the file's sops metadata, which cannot be set")]
    MetadataPath,
    /// A decrypted document does not fit the Rust type, or a value cannot
    /// be written as a sops document (feature `serde`).
    #[cfg(feature = "serde")]
    #[error(transparent)]
    Typed(#[from] crate::typed::error::TypedError),
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
    /// A store failure with no file to name.
    pub(crate) fn store(source: StoreError) -> Self {
        Error::Store { path: None, source }
    }

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
            | Self::Version(_)
            | Self::MetadataPath => exit_code::ERROR_GENERIC,
            Self::Path(
                crate::tree::path::PathError::Unterminated(_)
                | crate::tree::path::PathError::BadIndex(_),
            ) => exit_code::INVALID_TREE_PATH_FORMAT,
            Self::Path(_) => exit_code::ERROR_GENERIC,
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

// ---------------------------------------------------------------------------
// Hints: what to try next after a failure. The knowledge lives here, once,
// so the `sops` binary, the Argo CD plugin and library users give the same
// advice. A hint is fixed text naming commands, flags and environment
// variables: it never contains a value, a path or a key of the document
// (the error's own text names the file and the key path).

/// The hint for an I/O failure of kind `kind` while reading (`writing` false)
/// or writing a file; `None` when the error's text says all there is.
pub fn io_hint(kind: std::io::ErrorKind, writing: bool) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    Some(match (kind, writing) {
        (K::NotFound, false) => "check the file's path (it is relative to the current directory)",
        (K::NotFound, true) => "the directory to write into does not exist: create it first",
        (K::PermissionDenied, false) => {
            "this user may not read the file: check its permissions and those of its directories"
        }
        (K::PermissionDenied | K::ReadOnlyFilesystem, true) => {
            "this user may not write there (a read-only file is refused, as sops refuses it): \
             change the file's or directory's permissions, or write elsewhere with --output"
        }
        (K::IsADirectory, _) => "name a file, not a directory",
        (K::StorageFull, true) => "the disk is full: free some space and run the command again",
        _ => return None,
    })
}

impl Error {
    /// What to try next, when there is a useful next step. Never contains
    /// a value (nor a path or key of the document).
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Store { source, .. } => source.hint().map(str::to_owned),
            Self::Io { source, .. } => io_hint(source.kind(), false).map(str::to_owned),
            Self::Tree(e) => e.hint().map(str::to_owned),
            Self::Recovery(e) => e.hint(),
            Self::WrapKeys(failures) => Some(format!(
                "every master key must exist and the credentials in use must be allowed to \
                 encrypt with it; {}",
                credentials_hint(failures.iter().map(|f| f.identifier.as_str()))
            )),
            Self::NoKeyServices => Some(
                "enable the local key service (--enable-local-keyservice) or name a running one \
                 with --keyservice"
                    .to_owned(),
            ),
            Self::Key(e) => e.hint().map(str::to_owned),
            Self::ShamirSplit(_) => Some(
                "the Shamir threshold must be at least 1 and at most the number of key groups: \
                 change --shamir-secret-sharing-threshold or shamir_threshold in .sops.yaml"
                    .to_owned(),
            ),
            Self::NoKeys => Some(NO_KEYS_HINT.to_owned()),
            Self::Version(_) => Some(
                "the file's sops.version was edited by hand: restore it from version control"
                    .to_owned(),
            ),
            Self::AlreadyEncrypted => Some(ALREADY_ENCRYPTED_HINT.to_owned()),
            Self::Write { source, .. } => io_hint(source.kind(), true).map(str::to_owned),
            Self::Path(_) => Some(PATH_HINT.to_owned()),
            #[cfg(feature = "serde")]
            Self::Typed(_) => Some(
                "the Rust type and the document disagree at the path named: change the type \
                 (an Option for a value that may be missing or null) or the document"
                    .to_owned(),
            ),
            Self::MetadataPath => Some(
                "the sops block is written by sops itself: change keys with `sops updatekeys` \
                 or `sops rotate`"
                    .to_owned(),
            ),
        }
    }
}

/// For a value path that does not parse or does not fit the document.
pub const PATH_HINT: &str = "a tree path is a list of indexes such as '[\"key\"][0]': keys \
     quoted, list positions as numbers";

/// For a key service that could not be reached.
pub const KEY_SERVICE_HINT: &str = "a key service could not be reached: start it, or check the \
     address given to --keyservice (--enable-local-keyservice uses the local one)";

/// For a new file that has no keys (no creation rule, no key flag).
pub const NO_KEYS_HINT: &str = "add a creation rule whose path_regex matches the file to \
     .sops.yaml, or name keys with --age, --pgp, --kms, --gcp-kms, --azure-kv, \
     --hc-vault-transit or --hckms";

/// For an attempt to encrypt a file that is already encrypted.
pub const ALREADY_ENCRYPTED_HINT: &str = "`sops decrypt FILE` shows an encrypted file, `sops edit FILE` changes it, \
     `sops updatekeys FILE` gives it the keys of .sops.yaml";

impl StoreError {
    /// What to try next, when there is a useful next step (no value ever).
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Syntax { .. } | Self::TooDeep { .. } => Some(
                "fix the document at that line; if the file is not in the format its name \
                 suggests, name the format with --input-type",
            ),
            Self::Shape(_) => Some(
                "if the file is not in the format its name suggests, name the format with \
                 --input-type",
            ),
            Self::MetadataNotFound => Some(
                "the file is not encrypted with sops (or its sops block was removed): \
                 `sops encrypt` encrypts a plain file; --input-type names the format if the \
                 file's name suggests another",
            ),
            Self::Metadata(_) => {
                Some("the file's sops block was edited by hand: restore it from version control")
            }
            Self::Emit(_) => Some("--output-type chooses a format that can hold this document"),
            Self::Unsupported(_) => Some(
                "choose a supported format with --input-type or --output-type: yaml, json, \
                 dotenv, ini or binary",
            ),
            Self::ExcessiveAliasing { .. } | Self::AliasExpansionTooLarge { .. } => Some(
                "write the repeated parts out instead of using YAML aliases, or split the file",
            ),
            Self::Empty => None,
        }
    }
}

impl TreeError {
    /// What to try next, when there is a useful next step (no value ever).
    pub fn hint(&self) -> Option<&'static str> {
        use crate::mac::MacError;
        match self {
            Self::Mac(MacError::Mismatch { .. }) => Some(
                "the file was changed outside sops (a hand edit, or a merge of two versions): \
                 revert that change, or merge with `sops merge-driver`; --ignore-mac reads the \
                 file anyway but skips the integrity check, so a tampered value would go unnoticed",
            ),
            Self::Mac(MacError::CannotDecrypt(_)) => Some(
                "the MAC was encrypted with another data key (a sops block or value copied from \
                 another file?): restore the file from version control; --ignore-mac skips the \
                 integrity check",
            ),
            Self::Mac(MacError::BadLastModified) => Some(
                "the file's sops.lastmodified was edited by hand: restore it from version control",
            ),
            Self::Decrypt {
                source: crate::cipher::CipherError::Format,
                ..
            } => Some(
                "the value at that path is not an ENC[…] value (a hand edit?): restore it from \
                 version control, or set it again with `sops set` or `sops edit`",
            ),
            Self::Decrypt { .. } => Some(
                "the value's ciphertext was edited, or copied from another file or key path \
                 (values are bound to both): set the value again with `sops set` or `sops edit`",
            ),
            Self::NotEncrypted { .. } => Some(
                "a value the file's rules say is encrypted is not a sops value (a hand edit?): \
                 restore it from version control, or set it again with `sops set`",
            ),
            Self::CommentMatchesUnencryptedRegex { .. } => Some(
                "change the comment, or the unencrypted_comment_regex of the file's creation rule",
            ),
            Self::Encrypt { .. } => None,
        }
    }
}

impl RecoveryError {
    /// What to try next: the identity or credentials that would let one of
    /// the failed keys decrypt (no value ever).
    pub fn hint(&self) -> Option<String> {
        if self.combine_error.is_some() {
            return Some(
                "the key groups' parts do not combine: the sops block was edited or mixed from \
                 two files; restore the file from version control"
                    .to_owned(),
            );
        }
        let failed = || {
            self.groups
                .iter()
                .filter_map(|g| g.as_ref().err())
                .flatten()
        };
        // A key service that cannot be reached fails every key it is asked
        // about, whatever the credentials (sops' gRPC status text).
        let unreachable = failed().any(|f| {
            let errors = match &f.error {
                KeyError::Services(errors) => errors.iter().collect(),
                one => vec![one],
            };
            errors
                .iter()
                .any(|e| e.to_string().contains("code = Unavailable"))
        });
        if unreachable {
            return Some(KEY_SERVICE_HINT.to_owned());
        }
        Some(credentials_hint(failed().map(|f| f.identifier.as_str())))
    }
}

impl KeyError {
    /// What to try next, when there is a useful next step (no value ever).
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { .. } => Some(
                "check the key's spelling: an age recipient starts with age1, a PGP key is its \
                 40-digit fingerprint, an AWS KMS key is an arn:aws:kms ARN, a GCP KMS key starts \
                 with projects/",
            ),
            Self::SkippedByPolicy => Some(
                "the key filter in use does not allow this key: re-encrypt the file for an \
                 allowed one",
            ),
            Self::Services(_)
            | Self::NoCredentials(_)
            | Self::Rejected(_)
            | Self::Unsupported(_) => None,
        }
    }
}

// `.sops.yaml` is read by the binaries only (the `internals` feature).
#[cfg(feature = "internals")]
impl crate::config::ConfigError {
    /// What to try next, when there is a useful next step (no value ever).
    pub fn hint(&self) -> Option<&'static str> {
        use crate::config::ConfigError as C;
        match self {
            C::Read { source, .. } => io_hint(source.kind(), false),
            C::Parse { .. } | C::Field { .. } => Some(
                "fix .sops.yaml at the place named (it is YAML: creation_rules is a list of \
                 mappings with path_regex and key fields); --config names another file",
            ),
            C::NoMatchingRule => Some(
                "add a creation rule whose path_regex matches the file to .sops.yaml (rules are \
                 tried in order, the first match wins), or name keys with --age, --pgp, --kms …",
            ),
            C::BadPathRegex { .. } => Some(
                "path_regex is a Go (RE2) regular expression: no look-around, no backreferences",
            ),
            C::NoMatchingDestination | C::NoDestination => Some(
                "add a destination_rules entry whose path_regex matches the file to .sops.yaml",
            ),
            C::SeveralDestinations => {
                Some("keep one of s3_bucket, gcs_bucket and vault_path in each destination rule")
            }
        }
    }
}

/// Which identity or credentials would let one of the keys named by
/// `identifiers` work: one clause per keystore, guessed from the shape of
/// each identifier (the identifiers themselves are not repeated).
fn credentials_hint<'a>(identifiers: impl Iterator<Item = &'a str>) -> String {
    let mut clauses: Vec<&'static str> = Vec::new();
    for id in identifiers {
        let clause = keystore_credentials(id);
        if !clauses.contains(&clause) {
            clauses.push(clause);
        }
    }
    let mut text = String::from("supply the identity or credentials of one of the keys: ");
    text.push_str(&clauses.join("; "));
    text
}

fn keystore_credentials(id: &str) -> &'static str {
    let id = id.trim();
    if id.starts_with("age1") || id.starts_with("ssh-") {
        "age: SOPS_AGE_KEY_FILE or SOPS_AGE_KEY (an identity of one recipient), or an SSH key \
         in SOPS_AGE_SSH_PRIVATE_KEY_FILE"
    } else if id.starts_with("arn:") {
        "AWS KMS: AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, allowed to use \
         the key"
    } else if id.starts_with("projects/") {
        "GCP KMS: GOOGLE_APPLICATION_CREDENTIALS (or `gcloud auth application-default login`)"
    } else if id.contains(".vault.azure.") || id.contains(".vault.usgovcloudapi.") {
        "Azure Key Vault: AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET (or `az login`)"
    } else if id.starts_with("http://") || id.starts_with("https://") {
        "HashiCorp Vault: VAULT_TOKEN (or ~/.vault-token) and VAULT_ADDR"
    } else if id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        "PGP: import the secret key into gpg (GNUPGHOME selects the keyring)"
    } else if id.contains(':') {
        "HuaweiCloud KMS: HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK and HUAWEICLOUD_SDK_PROJECT_ID"
    } else {
        "see each key's reason above"
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

    #[test]
    fn hints_name_the_credentials_of_each_keystore_once() {
        let hint = credentials_hint(
            [
                "age1abc",
                "age1def",
                "arn:aws:kms:eu-west-1:1:key/x",
                "projects/p/locations/l/keyRings/r/cryptoKeys/k",
                "https://v.vault.azure.net/keys/k/1",
                "https://vault:8200/v1/transit/keys/k",
                "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4",
                "tr-west-1:0f1e",
            ]
            .into_iter(),
        );
        for var in [
            "SOPS_AGE_KEY_FILE",
            "AWS_PROFILE",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "AZURE_CLIENT_ID",
            "VAULT_TOKEN",
            "GNUPGHOME",
            "HUAWEICLOUD_SDK_AK",
        ] {
            assert_eq!(hint.matches(var).count(), 1, "{var}: {hint}");
        }
        // The identifiers themselves are in the error's text, not the hint.
        assert!(
            !hint.contains("age1abc") && !hint.contains("arn:aws"),
            "{hint}"
        );
    }

    #[test]
    fn mac_and_value_failures_hint_what_to_try() {
        use crate::mac::MacError;
        let mac = Error::from(TreeError::Mac(MacError::Mismatch {
            file: "a".into(),
            computed: "b".into(),
        }));
        assert!(mac.hint().unwrap().contains("--ignore-mac"));
        let clear = Error::from(TreeError::Decrypt {
            path: "'a'".into(),
            source: CipherError::Format,
        });
        assert!(clear.hint().unwrap().contains("not an ENC["));
        let edited = Error::from(TreeError::Decrypt {
            path: "'a'".into(),
            source: CipherError::Authentication,
        });
        assert!(edited.hint().unwrap().contains("sops set"));
        assert_eq!(
            Error::AlreadyEncrypted.hint().as_deref(),
            Some(ALREADY_ENCRYPTED_HINT)
        );
        let empty = Error::Store {
            path: None,
            source: StoreError::Empty,
        };
        assert_eq!(empty.hint(), None);
    }
}
