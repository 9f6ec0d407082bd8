//! The `sops` metadata block as a plain data structure. Conversion from and
//! to the tree lives in [`crate::stores::metadata_serde`]; the data key is
//! never stored here (it travels alongside).

use crate::tree::Branch;

/// The version we write into files. It must be a real sops version that the
/// reference parses as semver (≥ 3.3.0, else it runs its legacy KMS fix-up),
/// and the one whose rules our output follows.
pub const SOPS_VERSION: &str = "3.11.0";

/// The keystore of a master key, in the order sops 3.11 writes flat lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Kms,
    GcpKms,
    Hckms,
    AzureKv,
    HcVault,
    Age,
    Pgp,
}

impl KeyKind {
    /// All kinds, in the order of the flat lists under `sops:` (pgp comes
    /// after `mac` in the file; the serializer handles that).
    pub const ALL: [KeyKind; 7] = [
        KeyKind::Kms,
        KeyKind::GcpKms,
        KeyKind::Hckms,
        KeyKind::AzureKv,
        KeyKind::HcVault,
        KeyKind::Age,
        KeyKind::Pgp,
    ];

    /// The field name under `sops:` and in key groups.
    pub fn metadata_name(self) -> &'static str {
        match self {
            KeyKind::Kms => "kms",
            KeyKind::GcpKms => "gcp_kms",
            KeyKind::Hckms => "hckms",
            KeyKind::AzureKv => "azure_kv",
            KeyKind::HcVault => "hc_vault",
            KeyKind::Age => "age",
            KeyKind::Pgp => "pgp",
        }
    }

    pub fn from_metadata_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.metadata_name() == name)
    }

    /// The field that identifies a key of this kind in its entry.
    pub fn id_field(self) -> &'static str {
        match self {
            KeyKind::Kms => "arn",
            KeyKind::GcpKms => "resource_id",
            KeyKind::Hckms => "key_id",
            KeyKind::AzureKv => "vault_url",
            KeyKind::HcVault => "vault_address",
            KeyKind::Age => "recipient",
            KeyKind::Pgp => "fp",
        }
    }
}

/// One master-key entry: its kind and its fields in file order. Entries of
/// keystores we do not implement are kept verbatim so rewriting a file never
/// drops a key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyEntry {
    pub kind: KeyKind,
    pub fields: Branch,
}

impl KeyEntry {
    /// A string field of the entry.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(|v| v.as_str())
    }

    /// The encrypted data key (or Shamir share).
    pub fn enc(&self) -> Option<&str> {
        self.field("enc")
    }

    /// A human-readable identity (recipient, fingerprint, ARN …) for messages.
    pub fn identifier(&self) -> String {
        let main = self.field(self.kind.id_field()).unwrap_or("<unknown>");
        match self.kind {
            KeyKind::AzureKv => format!(
                "{main}/keys/{}/{}",
                self.field("name").unwrap_or(""),
                self.field("version").unwrap_or("")
            ),
            KeyKind::HcVault => format!(
                "{main}/v1/{}/keys/{}",
                self.field("engine_path").unwrap_or(""),
                self.field("key_name").unwrap_or("")
            ),
            _ => main.to_owned(),
        }
    }
}

/// All master keys that wrap the same secret (the data key, or one Shamir share).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyGroup(pub Vec<KeyEntry>);

/// The partial-encryption rule stored in a file; at most one per file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartialRule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(String),
    EncryptedRegex(String),
    UnencryptedCommentRegex(String),
    EncryptedCommentRegex(String),
}

impl PartialRule {
    /// sops' default when a file names no rule.
    pub fn default_rule() -> Self {
        PartialRule::UnencryptedSuffix("_unencrypted".into())
    }

    /// The metadata field name and its value.
    pub fn field(&self) -> (&'static str, &str) {
        match self {
            PartialRule::UnencryptedSuffix(s) => ("unencrypted_suffix", s),
            PartialRule::EncryptedSuffix(s) => ("encrypted_suffix", s),
            PartialRule::UnencryptedRegex(s) => ("unencrypted_regex", s),
            PartialRule::EncryptedRegex(s) => ("encrypted_regex", s),
            PartialRule::UnencryptedCommentRegex(s) => ("unencrypted_comment_regex", s),
            PartialRule::EncryptedCommentRegex(s) => ("encrypted_comment_regex", s),
        }
    }

    /// The rule for a metadata field name.
    pub fn from_field(name: &str, value: String) -> Option<Self> {
        Some(match name {
            "unencrypted_suffix" => PartialRule::UnencryptedSuffix(value),
            "encrypted_suffix" => PartialRule::EncryptedSuffix(value),
            "unencrypted_regex" => PartialRule::UnencryptedRegex(value),
            "encrypted_regex" => PartialRule::EncryptedRegex(value),
            "unencrypted_comment_regex" => PartialRule::UnencryptedCommentRegex(value),
            "encrypted_comment_regex" => PartialRule::EncryptedCommentRegex(value),
            _ => return None,
        })
    }

    /// The metadata field names, in the order sops writes them.
    pub const FIELDS: [&'static str; 6] = [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ];
}

/// The `sops` block of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub key_groups: Vec<KeyGroup>,
    /// 0 when not set (one group).
    pub shamir_threshold: usize,
    /// RFC 3339 text as stored.
    pub last_modified: String,
    /// The encrypted MAC (`ENC[…]`), empty if absent.
    pub mac: String,
    /// `None` only for binary files; sops writes the default suffix otherwise.
    pub rule: Option<PartialRule>,
    pub mac_only_encrypted: bool,
    pub version: String,
}

impl Metadata {
    /// The rule that applies on decryption: the stored one or sops' default.
    pub fn effective_rule(&self) -> PartialRule {
        self.rule.clone().unwrap_or_else(PartialRule::default_rule)
    }

    /// Every master key of every group.
    pub fn all_keys(&self) -> impl Iterator<Item = &KeyEntry> {
        self.key_groups.iter().flat_map(|g| g.0.iter())
    }

    /// How many key groups must be unwrapped to recover the data key: the
    /// stored threshold, or every group when none is stored.
    pub fn effective_threshold(&self) -> usize {
        Self::threshold_for(self.key_groups.len(), self.shamir_threshold)
    }

    /// sops' one threshold rule: a threshold of 0 (none given) means every
    /// one of the `groups` key groups.
    pub fn threshold_for(groups: usize, threshold: usize) -> usize {
        if threshold == 0 { groups } else { threshold }
    }

    /// The `shamir_threshold` to store for `groups` key groups when
    /// `threshold` was asked for: none for a single group (there is nothing
    /// to split), else [`Metadata::threshold_for`].
    pub fn stored_threshold(groups: usize, threshold: usize) -> usize {
        if groups <= 1 {
            0
        } else {
            Self::threshold_for(groups, threshold)
        }
    }
}
