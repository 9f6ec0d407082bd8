//! The `sops` metadata block as a plain data structure. Conversion from and
//! to the tree lives in [`crate::stores::metadata_serde`]; the data key is
//! never stored here (it travels alongside).

use crate::keys::keystore::IdPart;
use crate::tree::{Branch, Value};

/// The version we write into files. It must be a real sops version that the
/// reference parses as semver (≥ 3.3.0, else it runs its legacy KMS fix-up),
/// and the one whose rules our output follows.
pub const SOPS_VERSION: &str = "3.11.0";

/// Checks a file's `version` as sops 3.11 does before it decrypts (its
/// legacy-KMS check compares it with 3.3.0 as a strict semantic version,
/// after dropping a leading `v`); the error is sops' message (blang/semver's
/// wording). `filestatus` does not check it.
pub fn check_version(version: &str) -> Result<(), String> {
    let v = version.strip_prefix('v').unwrap_or(version);
    if v.is_empty() {
        return Err("Version string empty".into());
    }
    let parts: Vec<&str> = v.splitn(3, '.').collect();
    let [major, minor, rest] = parts.as_slice() else {
        return Err("No Major.Minor.Patch elements found".into());
    };
    let number = |text: &str, lower: &str, upper: &str| -> Result<(), String> {
        if !text.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "Invalid character(s) found in {lower} number {text:?}"
            ));
        }
        if text.len() > 1 && text.starts_with('0') {
            return Err(format!(
                "{upper} number must not contain leading zeroes {text:?}"
            ));
        }
        text.parse::<u64>()
            .map(|_| ())
            .map_err(|_| format!("strconv.ParseUint: parsing {text:?}: invalid syntax"))
    };
    number(major, "major", "Major")?;
    number(minor, "minor", "Minor")?;
    let (rest, build) = match rest.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (*rest, None),
    };
    let (patch, pre) = match rest.split_once('-') {
        Some((p, pre)) => (p, Some(pre)),
        None => (rest, None),
    };
    number(patch, "patch", "Patch")?;
    let alnum = |s: &str| s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-');
    for id in pre.into_iter().flat_map(|p| p.split('.')) {
        if id.is_empty() {
            return Err("Prerelease is empty".into());
        }
        if id.bytes().all(|c| c.is_ascii_digit()) {
            if id.len() > 1 && id.starts_with('0') {
                return Err(format!(
                    "Numeric PreRelease version must not contain leading zeroes {id:?}"
                ));
            }
        } else if !alnum(id) {
            return Err(format!("Invalid character(s) found in prerelease {id:?}"));
        }
    }
    for id in build.into_iter().flat_map(|b| b.split('.')) {
        if id.is_empty() {
            return Err("Build meta data is empty".into());
        }
        if !alnum(id) {
            return Err(format!(
                "Invalid character(s) found in build meta data {id:?}"
            ));
        }
    }
    Ok(())
}

/// The keystore of a master key: a handle to its spec (see
/// [`crate::keys::keystore`]); each keystore's folder exports its `KIND`.
pub use crate::keys::keystore::KeyKind;

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

    /// A human-readable identity (recipient, fingerprint, ARN, Azure key
    /// URL, Vault key URI …) for messages and policies, in the form the
    /// keystore's spec gives.
    pub fn identifier(&self) -> String {
        self.render(self.kind.spec().identifier)
    }

    /// The identifier without the parts that pin one version of the key
    /// ([`crate::keys::KeystoreSpec::version_parts`]), e.g. Azure Key
    /// Vault's `<vault_url>/keys/<name>`; `None` when the keystore's
    /// identifier names no version.
    pub fn unversioned_identifier(&self) -> Option<String> {
        let spec = self.kind.spec();
        let kept = spec.identifier.len().checked_sub(spec.version_parts)?;
        (spec.version_parts > 0).then(|| self.render(&spec.identifier[..kept]))
    }

    fn render(&self, parts: &[IdPart]) -> String {
        let mut out = String::new();
        for part in parts {
            match part {
                IdPart::Id => out.push_str(self.field(self.kind.id_field()).unwrap_or("<unknown>")),
                IdPart::Field(name) => out.push_str(self.field(name).unwrap_or("")),
                IdPart::Text(text) => out.push_str(text),
                IdPart::Prefixed { prefix, field } => {
                    if let Some(v) = self.field(field).filter(|v| !v.is_empty()) {
                        out.push_str(prefix);
                        out.push_str(v);
                    }
                }
                IdPart::MapThenField { map, last } => {
                    let mut pairs: Vec<(&str, String)> = match self.fields.get(map) {
                        Some(Value::Map(m)) => m
                            .entries()
                            .map(|(k, v)| {
                                (
                                    k,
                                    v.as_str().map_or_else(|| format!("{v:?}"), str::to_owned),
                                )
                            })
                            .collect(),
                        _ => Vec::new(),
                    };
                    pairs.sort();
                    let last = self.field(last).unwrap_or("");
                    if !pairs.is_empty() || !last.is_empty() {
                        out.push('|');
                        let joined: Vec<String> =
                            pairs.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                        out.push_str(&joined.join(","));
                    }
                    if !last.is_empty() {
                        out.push('|');
                        out.push_str(last);
                    }
                }
            }
        }
        out
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

#[cfg(test)]
mod tests {
    use super::*;

    /// issue 10: sops 3.11's answers for these versions (run against it).
    #[test]
    fn r10_versions_checked_as_sops_does() {
        for ok in [
            "3.11.0",
            "v3.1.0",
            "3.11.0-rc1",
            "3.1.0+b",
            "0.0.0",
            "1.2.3-a.1+x.y",
        ] {
            assert_eq!(check_version(ok), Ok(()), "{ok}");
        }
        for (bad, message) in [
            ("", "Version string empty"),
            ("3.11", "No Major.Minor.Patch elements found"),
            ("true", "No Major.Minor.Patch elements found"),
            (
                "3.011.0",
                "Minor number must not contain leading zeroes \"011\"",
            ),
            (
                "03.1.0",
                "Major number must not contain leading zeroes \"03\"",
            ),
            ("3.1.x", "Invalid character(s) found in patch number \"x\""),
            ("3.1.0-", "Prerelease is empty"),
            ("3.1.0-a..b", "Prerelease is empty"),
            (
                "3.1.0-01",
                "Numeric PreRelease version must not contain leading zeroes \"01\"",
            ),
        ] {
            assert_eq!(check_version(bad), Err(message.to_owned()), "{bad}");
        }
    }

    // Tests named m10_* were added for issue 10 so that each mutant
    // `cargo mutants` makes of this file fails one of sops-core's own tests.

    #[test]
    fn m10_prerelease_and_build_identifiers_checked_as_sops_does() {
        for ok in ["3.1.0-0", "3.1.0-a-b", "3.1.0-0a", "3.1.0+a-b.0"] {
            assert_eq!(check_version(ok), Ok(()), "{ok}");
        }
        for (bad, message) in [
            (
                "3.1.0-a_b",
                "Invalid character(s) found in prerelease \"a_b\"",
            ),
            ("3.1.0+", "Build meta data is empty"),
            (
                "3.1.0+a_b",
                "Invalid character(s) found in build meta data \"a_b\"",
            ),
            (
                "3.1.00",
                "Patch number must not contain leading zeroes \"00\"",
            ),
        ] {
            assert_eq!(check_version(bad), Err(message.to_owned()), "{bad}");
        }
    }

    fn entry(kind: KeyKind, fields: &[(&str, &str)]) -> KeyEntry {
        let mut b = Branch::new();
        for (k, v) in fields {
            b.push(*k, crate::tree::Value::Str((*v).to_owned()));
        }
        KeyEntry { kind, fields: b }
    }

    #[test]
    fn m10_entries_name_their_key() {
        use crate::keys::{age, azure_kv};
        let a = entry(age::KIND, &[("recipient", "age1x"), ("enc", "E")]);
        assert_eq!(a.field("recipient"), Some("age1x"));
        assert_eq!(a.field("other"), None);
        assert_eq!(a.enc(), Some("E"));
        assert_eq!(a.identifier(), "age1x");
        assert_eq!(a.unversioned_identifier(), None);
        let kv = entry(
            azure_kv::KIND,
            &[("vault_url", "https://v"), ("name", "n"), ("version", "1")],
        );
        assert_eq!(kv.enc(), None);
        assert_eq!(kv.identifier(), "https://v/keys/n/1");
        assert_eq!(
            kv.unversioned_identifier().as_deref(),
            Some("https://v/keys/n")
        );
    }

    #[test]
    fn m10_partial_rules_map_to_their_fields() {
        for name in PartialRule::FIELDS {
            let rule = PartialRule::from_field(name, "v".to_owned()).unwrap();
            assert_eq!(rule.field(), (name, "v"));
        }
        assert_eq!(PartialRule::from_field("other", "v".into()), None);
        assert_eq!(
            PartialRule::default_rule(),
            PartialRule::UnencryptedSuffix("_unencrypted".into())
        );
    }

    #[test]
    fn m10_thresholds_and_keys_of_a_file() {
        use crate::keys::age;
        let group = |ids: &[&str]| {
            KeyGroup(
                ids.iter()
                    .map(|r| entry(age::KIND, &[("recipient", r)]))
                    .collect(),
            )
        };
        let mut meta = Metadata {
            key_groups: vec![group(&["a", "b"]), group(&["c"]), group(&["d"])],
            shamir_threshold: 0,
            last_modified: String::new(),
            mac: String::new(),
            rule: None,
            mac_only_encrypted: false,
            version: SOPS_VERSION.into(),
        };
        let ids: Vec<String> = meta.all_keys().map(KeyEntry::identifier).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert_eq!(meta.effective_threshold(), 3);
        assert_eq!(meta.effective_rule(), PartialRule::default_rule());
        meta.shamir_threshold = 2;
        meta.rule = Some(PartialRule::EncryptedRegex("^x".into()));
        assert_eq!(meta.effective_threshold(), 2);
        assert_eq!(
            meta.effective_rule(),
            PartialRule::EncryptedRegex("^x".into())
        );
        assert_eq!(Metadata::threshold_for(3, 0), 3);
        assert_eq!(Metadata::threshold_for(3, 2), 2);
        assert_eq!(Metadata::stored_threshold(1, 2), 0);
        assert_eq!(Metadata::stored_threshold(0, 0), 0);
        assert_eq!(Metadata::stored_threshold(3, 0), 3);
        assert_eq!(Metadata::stored_threshold(3, 2), 2);
    }
}
