//! Master keys: the keystores that wrap the data key.
//!
//! Each keystore lives in its own folder: its [`KeystoreSpec`] (what the
//! file format, `.sops.yaml` and the CLI know about it) always, and its
//! [`MasterKey`] implementation behind its cargo feature. [`KEYSTORES`]
//! lists them once; everything else iterates over that list. Key
//! material and settings come in through an explicit [`KeyContext`] (built
//! by the CLI from the process environment, by the Argo CD plugin from the
//! sidecar's own settings, by tests from literals), never from environment
//! reads inside a key.

pub mod age;
pub mod aws_kms;
pub mod azure_kv;
pub mod gcp_kms;
pub mod hc_vault;
pub mod hckms;
pub mod keystore;
pub mod pgp;
mod recovery;
mod registry;

use std::fmt;

use zeroize::Zeroizing;

use crate::metadata::KeyEntry;

pub use keystore::{KeyKind, KeySpec, KeystoreSpec};
pub use recovery::{KeyFailure, RecoveryError, recover_data_key};
pub use registry::{FromEntry, FromSpec, KEYSTORES, Keystore, keystores_by};

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

/// Where a key context reads variables from: the process environment, or a
/// fixed map (tests, the Argo CD plugin).
pub type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Decides whether a master key may be used at all (see
/// [`KeyContext::with_key_filter`]).
pub type KeyFilter = dyn Fn(&KeyEntry) -> bool + Send + Sync;

/// Everything keystores may use to find key material, resolved once.
pub struct KeyContext {
    env: Box<EnvLookup>,
    filter: Option<Box<KeyFilter>>,
    /// See [`KeyContext::with_age_recipient_binding`].
    bind_age_recipients: bool,
    #[cfg(feature = "age")]
    age: std::sync::OnceLock<age::AgeIdentities>,
}

impl KeyContext {
    /// A context reading the given variables; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            env: Box::new(move |k| lookup(k).filter(|v| !v.is_empty())),
            filter: None,
            bind_age_recipients: false,
            #[cfg(feature = "age")]
            age: std::sync::OnceLock::new(),
        }
    }

    /// A context reading the process environment.
    pub fn from_process_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// A context from a fixed list of variables (nothing else is visible).
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: std::collections::HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from_lookup(move |k| map.get(k).cloned())
    }

    /// Restricts which master keys may be used, e.g. an operator's
    /// allow-list (the Argo CD plugin). [`recover_data_key`] asks the filter
    /// about every entry of every key group before the entry's master key is
    /// even built: an entry for which `allow` returns false is never asked
    /// to decrypt (no identity is tried, no KMS or Vault call is made) and is
    /// recorded as a [`KeyFailure`] with [`KeyError::SkippedByPolicy`]. Shamir
    /// thresholds apply unchanged to the keys that remain. Encryption is not
    /// filtered. Without a filter (the default) every key is allowed.
    pub fn with_key_filter(
        mut self,
        allow: impl Fn(&KeyEntry) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.filter = Some(Box::new(allow));
        self
    }

    /// Uses an age identity only for the recipient it belongs to. sops tries
    /// every identity it holds on every age entry, so the `recipient` written
    /// in a file's metadata is only a label; a caller that makes decisions
    /// on that label (an allow-list) needs it to be true. With binding on, an
    /// X25519 identity is tried only on the entry whose recipient is its own
    /// public key; SSH identities only on `ssh-` recipients and plugin
    /// identities only on their plugin's recipients (their public keys are
    /// not derivable here, so for them the binding is by kind only).
    pub fn with_age_recipient_binding(mut self) -> Self {
        self.bind_age_recipients = true;
        self
    }

    /// True when age identities are bound to their recipients.
    pub fn binds_age_recipients(&self) -> bool {
        self.bind_age_recipients
    }

    /// True if the key filter (if any) allows `entry`.
    pub fn allows(&self, entry: &KeyEntry) -> bool {
        self.filter.as_ref().is_none_or(|allow| allow(entry))
    }

    /// A variable of the context's environment (`None` if unset or empty).
    pub fn var(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// The age identities, loaded on first use from every source sops reads.
    #[cfg(feature = "age")]
    pub fn age_identities(&self) -> &age::AgeIdentities {
        self.age.get_or_init(|| age::AgeIdentities::load(self))
    }
}

impl fmt::Debug for KeyContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyContext { .. }")
    }
}
