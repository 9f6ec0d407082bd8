//! Master keys: the keystores that wrap the data key.
//!
//! Each keystore lives in its own folder: its [`KeystoreSpec`] (what the
//! file format, `.sops.yaml` and the CLI know about it) always, and its
//! [`MasterKey`] implementation behind its cargo feature. [`KEYSTORES`]
//! lists them once (the `keystores!` line below); everything else iterates over that list. Key
//! material and settings come in through an explicit [`KeyContext`] (built
//! by the CLI from the process environment, by the Argo CD plugin from the
//! sidecar's own settings, by tests from literals), never from environment
//! reads inside a key.

#[cfg(any(
    feature = "aws-kms",
    feature = "gcp-kms",
    feature = "azure-kv",
    feature = "hc-vault",
    feature = "hckms",
    feature = "keyservice"
))]
pub(crate) mod cloud;
mod context;
#[cfg(any(
    feature = "azure-kv",
    feature = "hc-vault",
    feature = "hckms",
    feature = "publish"
))]
pub(crate) mod http;
pub mod key_service;
pub mod keystore;
mod registry;
mod secret_file;
mod wrapping;

/// Declares each keystore's folder as a module and lists its `KEYSTORE` in
/// [`KEYSTORES`], so that a new keystore is one name in the line below.
macro_rules! keystores {
    ($($name:ident),* $(,)?) => {
        $(pub mod $name;)*

        /// Every keystore sops knows. Entries of keystores without
        /// constructors (not built in, or their feature is off) are still
        /// read and written verbatim, so rewriting a file never drops a key.
        /// The order does not matter: each order sops uses is a rank in
        /// [`KeystoreSpec::order`].
        pub static KEYSTORES: &[&Keystore] = &[$(&$name::KEYSTORE),*];
    };
}

keystores![aws_kms, gcp_kms, hckms, azure_kv, hc_vault, age, pgp];

use std::fmt;

use zeroize::Zeroizing;

use crate::metadata::KeyEntry;

pub use context::{
    DEFAULT_KMS_CONNECT_TIMEOUT, DEFAULT_KMS_TIMEOUT, KeyContext, KeyContextBuilder, KeyFilter,
};
pub use key_service::KeyServiceAddr;
#[cfg(feature = "keyservice")]
pub use key_service::{KeyServiceServer, Prompt, ServeError};
pub use keystore::{KeyKind, KeySpec, KeystoreSpec};
pub use registry::{FromEntry, FromSpec, Keystore, built_in_keystores, keystores_by};
pub use secret_file::{SECRET_FILE_LIMIT, SecretFileError, read_secret_file};
pub(crate) use wrapping::unwrap_entry;
pub(crate) use wrapping::wrap_failures as wrapping_failures;
pub use wrapping::{KeyFailure, RecoveryError, WrapError, recover_data_key, wrap_data_key};

/// Why a master key could not wrap or unwrap.
///
/// `NoCredentials` means "not mine to try" (no identity or credentials for
/// this key were available); `Rejected` means it was tried and failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    #[error("{0}")]
    NoCredentials(String),
    #[error("{0}")]
    Rejected(String),
    #[error("{0} keys are not supported yet")]
    Unsupported(&'static str),
    #[error("invalid key {identifier}: {reason}")]
    Invalid { identifier: String, reason: String },
    /// The context's key filter (operator policy) does not allow this key,
    /// so it was never asked to decrypt.
    #[error("skipped by policy")]
    SkippedByPolicy,
    /// Every key service failed (or none was given): one error per
    /// service, in the order they were asked.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Services(Vec<KeyError>),
}

/// One master key: an identity (recipient, fingerprint, ARN …) and, once
/// encrypted, the wrapped secret.
pub trait MasterKey: fmt::Debug + Send + Sync {
    fn kind(&self) -> KeyKind;

    /// The identity shown in messages and used for de-duplication.
    fn identifier(&self) -> String;

    /// Wraps `secret` (the data key, or a Shamir share) for this key and
    /// returns the metadata entry to store.
    fn encrypt(&self, secret: &[u8], ctx: &KeyContext) -> Result<KeyEntry, KeyError>;

    /// Unwraps the secret stored in `entry`.
    fn decrypt(&self, entry: &KeyEntry, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError>;

    /// Completes a key named by a flag or a creation rule, as sops does
    /// when it loads one: an Azure Key Vault key named without a version
    /// gets the vault's current version (a call), so that its identifier
    /// (compared by `updatekeys` and `--rm-*`) is the one its entry will
    /// have. Nothing for the other keystores.
    fn prepare(&mut self, _ctx: &KeyContext) -> Result<(), KeyError> {
        Ok(())
    }

    /// The entry [`Self::encrypt`] would return, without `enc` (and
    /// without `created_at` unless the key keeps one): what names the key
    /// to a remote key service, which wraps the secret with its own
    /// credentials (sops' `KeyFromMasterKey`). `None` (the default) when
    /// the keystore cannot be named that way; its keys are then wrapped
    /// only by the local service.
    fn entry_template(&self) -> Option<KeyEntry> {
        None
    }
}

/// The master key able to handle a metadata entry, from its keystore's
/// constructor; `Unsupported` when the keystore is not built in.
pub fn master_key_for(entry: &KeyEntry) -> Result<Box<dyn MasterKey>, KeyError> {
    match entry.kind.keystore().and_then(|k| k.from_entry) {
        Some(build) => build(entry),
        None => Err(KeyError::Unsupported(entry.kind.metadata_name())),
    }
}

/// The master key a creation rule or a command-line flag names, from its
/// keystore's constructor; `Unsupported` when the keystore is not built in.
pub fn master_key_from_spec(spec: &KeySpec) -> Result<Box<dyn MasterKey>, KeyError> {
    match spec.kind.keystore().and_then(|k| k.from_spec) {
        Some(build) => build(spec),
        None => Err(KeyError::Unsupported(spec.kind.metadata_name())),
    }
}
