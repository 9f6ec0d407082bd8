//! `publish` destinations (sops' `publish` package): where `sops publish`
//! sends a file its `.sops.yaml` `destination_rules` match. S3 and GCS get
//! the encrypted file (re-encrypted first by the caller when the rule has a
//! `recreation_rule`); Vault KV gets the decrypted top-level values.
//!
//! Behind the `publish` feature: it brings the S3 client and reuses the
//! AWS and GCP credential plumbing of the `aws-kms` and `gcp-kms`
//! keystores (same credential chains, proxies, ring TLS and time-outs), so
//! it lives here rather than in the CLI. Which rule applies, and the
//! destination's address, are [`crate::config`]'s (no I/O there).
//!
//! The environment is read once into [`PublishEnv`]; credentials that the
//! keystores also use (AWS shared files, `GOOGLE_CREDENTIALS` …) come from
//! the [`KeyContext`].

mod gcs;
mod s3;
mod vault_kv;

use std::time::Duration;

use crate::config::Destination;
use crate::keys::KeyContext;
use crate::tree::Branch;

pub use gcs::Gcs;
pub use s3::S3;
pub use vault_kv::VaultKv;

/// The total time an upload may take (connecting is bounded by the
/// context's `SOPS_KMS_CONNECT_TIMEOUT`): a file is bigger than a data key.
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// Vault's default address when neither the rule nor `VAULT_ADDR` names one
/// (the Vault client's default, which sops shows in its prompt).
pub const VAULT_DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";

/// Why a publication failed. Messages name the destination, never a value
/// or a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The destination does not take this kind of content (sops'
    /// `NotImplementedError`).
    #[error("NotImplementedError: {0}")]
    Unsupported(&'static str),
    /// The upload was refused or could not be made.
    #[error("{target}: {message}")]
    Upload { target: String, message: String },
    /// Vault refused the write; the text is the Vault client's (sops'),
    /// which names the URL.
    #[error("{0}")]
    Vault(String),
    /// The decrypted values cannot be sent as JSON.
    #[error("{target}: {message}")]
    Content { target: String, message: String },
}

/// A destination (sops' `publish.Destination`).
pub trait Publisher {
    /// Stores an encrypted file's bytes as `name` under the destination
    /// (S3, GCS); Vault KV refuses with [`PublishError::Unsupported`].
    fn upload(&self, bytes: &[u8], name: &str) -> Result<(), PublishError>;

    /// Stores the decrypted top-level values of `docs` (all documents'
    /// keys in one map, later ones winning, comments left out) as secret
    /// `name` (Vault KV); S3 and GCS refuse with
    /// [`PublishError::Unsupported`].
    fn upload_decrypted(&self, docs: &[Branch], name: &str) -> Result<(), PublishError>;
}

/// What the destinations read from the environment, read once.
#[derive(Default)]
pub struct PublishEnv {
    /// `STORAGE_EMULATOR_HOST`: a GCS endpoint (`host:port` or a URL) used
    /// without credentials, as Google's Go client (sops') does.
    pub storage_emulator_host: Option<String>,
    /// `VAULT_ADDR`, used when a rule has no `vault_address`.
    pub vault_addr: Option<String>,
}

impl std::fmt::Debug for PublishEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishEnv")
            .field("storage_emulator_host", &self.storage_emulator_host)
            .field("vault_addr", &self.vault_addr)
            .finish()
    }
}

impl PublishEnv {
    /// From a variable lookup (the CLI passes `std::env::var`); empty
    /// values count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| var(name).filter(|v| !v.is_empty());
        Self {
            storage_emulator_host: get("STORAGE_EMULATOR_HOST"),
            vault_addr: get("VAULT_ADDR"),
        }
    }

    /// The process environment.
    pub fn from_process_env() -> Self {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// The Vault address for a rule's `vault_address` (empty: none).
    pub fn vault_address<'a>(&'a self, rule_address: &'a str) -> &'a str {
        if !rule_address.is_empty() {
            rule_address
        } else {
            self.vault_addr.as_deref().unwrap_or(VAULT_DEFAULT_ADDRESS)
        }
    }
}

/// The publisher for a destination.
pub fn publisher_for<'a>(
    destination: &Destination,
    env: &'a PublishEnv,
    ctx: &'a KeyContext,
) -> Box<dyn Publisher + 'a> {
    match destination {
        Destination::S3 { bucket, prefix } => Box::new(S3::new(bucket, prefix, ctx)),
        Destination::Gcs { bucket, prefix } => Box::new(Gcs::new(bucket, prefix, env, ctx)),
        Destination::VaultKv {
            address,
            path,
            mount,
            version,
        } => Box::new(VaultKv::new(
            env.vault_address(address),
            path,
            mount,
            *version,
            ctx,
        )),
    }
}

/// The decrypted top-level values of `docs` as one JSON object (sops'
/// `EmitAsMap`): every document's keys, a later one replacing an earlier
/// one, comments dropped.
pub fn decrypted_map(
    docs: &[Branch],
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut map = serde_json::Map::new();
    for doc in docs {
        for (k, v) in doc.entries() {
            map.insert(k.to_owned(), json_value(v)?);
        }
    }
    Ok(map)
}

fn json_value(v: &crate::tree::Value) -> Result<serde_json::Value, String> {
    use crate::tree::Value;
    Ok(match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .ok_or("a value is a float JSON cannot represent (NaN or infinite)")?,
        Value::Time(t) => serde_json::Value::String(t.as_str().to_owned()),
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::Bytes(b) => serde_json::Value::String(String::from_utf8_lossy(b).into_owned()),
        Value::Seq(items) => serde_json::Value::Array(
            items
                .iter()
                .filter(|i| !matches!(i, Value::Comment(_)))
                .map(json_value)
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(b) => serde_json::Value::Object(decrypted_map(std::slice::from_ref(b))?),
        Value::Comment(_) => serde_json::Value::Null,
    })
}

/// A failure's causes on one line (SDK errors nest several).
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    crate::keys::cloud::one_line(&crate::keys::cloud::chain(err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Value;

    #[test]
    fn decrypted_map_merges_documents_and_drops_comments() {
        let mut a = Branch::new();
        a.push("x", Value::Int(1));
        let mut nested = Branch::new();
        nested.push(
            "k",
            Value::Seq(vec![Value::Comment("c".into()), Value::Bool(true)]),
        );
        a.push("n", Value::Map(nested));
        let mut b = Branch::new();
        b.push("x", Value::Str("two".into()));
        let map = decrypted_map(&[a, b]).unwrap();
        assert_eq!(
            serde_json::Value::Object(map).to_string(),
            r#"{"x":"two","n":{"k":[true]}}"#
        );
    }

    #[test]
    fn env_is_read_once() {
        let env = PublishEnv::from_vars(|k| match k {
            "STORAGE_EMULATOR_HOST" => Some(String::new()),
            _ => None,
        });
        assert!(env.storage_emulator_host.is_none());
        assert_eq!(env.vault_address(""), VAULT_DEFAULT_ADDRESS);
        assert_eq!(env.vault_address("http://v:1"), "http://v:1");
    }
}
