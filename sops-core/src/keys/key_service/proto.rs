//! The messages of sops' `keyservice/keyservice.proto`, written by hand
//! with prost's derive (no protoc, no build script). They mirror that file
//! field for field; it has no `package`, so the methods are
//! `/KeyService/Encrypt` and `/KeyService/Decrypt`. The `Key` messages of
//! the keystores that carry one string (PGP, GCP KMS, age, HuaweiCloud KMS)
//! or three (Azure Key Vault, Vault) share one Rust type per shape: on the
//! wire only field numbers and types count.
//!
//! [`to_key`] and [`to_entry`] convert between a metadata entry and a
//! `Key` through one table ([`KEY_MESSAGES`]) keyed by the entry's field
//! names, so that a keystore's conversion is one line of data.

use std::collections::HashMap;
use std::fmt;

use zeroize::Zeroize;

use crate::keys::KeyKind;
use crate::metadata::KeyEntry;
use crate::tree::{Branch, Value};

pub(crate) const ENCRYPT_PATH: &str = "/KeyService/Encrypt";
pub(crate) const DECRYPT_PATH: &str = "/KeyService/Decrypt";

/// `message Key { oneof key_type { … } }`
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Key {
    #[prost(oneof = "KeyType", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub key_type: Option<KeyType>,
}

// The variant names are the proto's field names (`kms_key` …).
#[derive(Clone, PartialEq, prost::Oneof)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum KeyType {
    #[prost(message, tag = "1")]
    KmsKey(KmsKey),
    #[prost(message, tag = "2")]
    PgpKey(OneString),
    #[prost(message, tag = "3")]
    GcpKmsKey(OneString),
    #[prost(message, tag = "4")]
    AzureKeyvaultKey(ThreeStrings),
    #[prost(message, tag = "5")]
    VaultKey(ThreeStrings),
    #[prost(message, tag = "6")]
    AgeKey(OneString),
    #[prost(message, tag = "7")]
    HckmsKey(OneString),
}

/// `KmsKey { string arn = 1; string role = 2; map<string, string> context = 3; string aws_profile = 4; }`
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct KmsKey {
    #[prost(string, tag = "1")]
    pub arn: String,
    #[prost(string, tag = "2")]
    pub role: String,
    #[prost(map = "string, string", tag = "3")]
    pub context: HashMap<String, String>,
    #[prost(string, tag = "4")]
    pub aws_profile: String,
}

/// `PgpKey { fingerprint = 1 }`, `GcpKmsKey { resource_id = 1 }`,
/// `AgeKey { recipient = 1 }`, `HckmsKey { key_id = 1 }`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct OneString {
    #[prost(string, tag = "1")]
    pub f1: String,
}

/// `AzureKeyVaultKey { vault_url = 1, name = 2, version = 3 }`,
/// `VaultKey { vault_address = 1, engine_path = 2, key_name = 3 }`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ThreeStrings {
    #[prost(string, tag = "1")]
    pub f1: String,
    #[prost(string, tag = "2")]
    pub f2: String,
    #[prost(string, tag = "3")]
    pub f3: String,
}

/// `EncryptRequest { Key key = 1; bytes plaintext = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct EncryptRequest {
    #[prost(message, optional, tag = "1")]
    pub key: Option<Key>,
    #[prost(bytes = "vec", tag = "2")]
    pub plaintext: Vec<u8>,
}

/// `EncryptResponse { bytes ciphertext = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct EncryptResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext: Vec<u8>,
}

/// `DecryptRequest { Key key = 1; bytes ciphertext = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct DecryptRequest {
    #[prost(message, optional, tag = "1")]
    pub key: Option<Key>,
    #[prost(bytes = "vec", tag = "2")]
    pub ciphertext: Vec<u8>,
}

/// `DecryptResponse { bytes plaintext = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub(crate) struct DecryptResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub plaintext: Vec<u8>,
}

// The two messages that carry a data key (or a Shamir share) never print
// it and wipe it when dropped.
impl fmt::Debug for EncryptRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptRequest")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for DecryptResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptResponse").finish_non_exhaustive()
    }
}

impl Drop for EncryptRequest {
    fn drop(&mut self) {
        self.plaintext.zeroize();
    }
}

impl Drop for DecryptResponse {
    fn drop(&mut self) {
        self.plaintext.zeroize();
    }
}

/// Each keystore's `Key` message: the entry's metadata name and the entry
/// fields the message carries, in its field order (a field's number is its
/// position plus one); the oneof tag is the row's position plus one. kms'
/// `context` is the one map.
const KEY_MESSAGES: &[(&str, &[&str])] = &[
    ("kms", &["arn", "role", "context", "aws_profile"]),
    ("pgp", &["fp"]),
    ("gcp_kms", &["resource_id"]),
    ("azure_kv", &["vault_url", "name", "version"]),
    ("hc_vault", &["vault_address", "engine_path", "key_name"]),
    ("age", &["recipient"]),
    ("hckms", &["key_id"]),
];

/// The `Key` naming `entry`'s master key (`enc`, `created_at` and unknown
/// fields stay behind); `None` for a keystore the protocol has no message
/// for.
pub(crate) fn to_key(entry: &KeyEntry) -> Option<Key> {
    let tag = KEY_MESSAGES
        .iter()
        .position(|(name, _)| *name == entry.kind.metadata_name())?
        + 1;
    let names = KEY_MESSAGES[tag - 1].1;
    let s = |i: usize| entry.field(names[i]).unwrap_or_default().to_owned();
    let one = || OneString { f1: s(0) };
    let three = || ThreeStrings {
        f1: s(0),
        f2: s(1),
        f3: s(2),
    };
    let key_type = match tag {
        1 => KeyType::KmsKey(KmsKey {
            arn: s(0),
            role: s(1),
            context: match entry.fields.get(names[2]) {
                Some(Value::Map(pairs)) => pairs
                    .entries()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.to_owned(), v.to_owned())))
                    .collect(),
                _ => HashMap::new(),
            },
            aws_profile: s(3),
        }),
        2 => KeyType::PgpKey(one()),
        3 => KeyType::GcpKmsKey(one()),
        4 => KeyType::AzureKeyvaultKey(three()),
        5 => KeyType::VaultKey(three()),
        6 => KeyType::AgeKey(one()),
        _ => KeyType::HckmsKey(one()),
    };
    Some(Key {
        key_type: Some(key_type),
    })
}

/// The metadata entry (without `enc`) a `Key` names; `None` for a key of
/// no known type. Empty strings are left out, as a file would.
pub(crate) fn to_entry(key: &Key) -> Option<KeyEntry> {
    let (tag, strings, context): (usize, Vec<&str>, Option<&HashMap<String, String>>) =
        match key.key_type.as_ref()? {
            KeyType::KmsKey(k) => (
                1,
                vec![&k.arn, &k.role, "", &k.aws_profile],
                Some(&k.context),
            ),
            KeyType::PgpKey(k) => (2, vec![&k.f1], None),
            KeyType::GcpKmsKey(k) => (3, vec![&k.f1], None),
            KeyType::AzureKeyvaultKey(k) => (4, vec![&k.f1, &k.f2, &k.f3], None),
            KeyType::VaultKey(k) => (5, vec![&k.f1, &k.f2, &k.f3], None),
            KeyType::AgeKey(k) => (6, vec![&k.f1], None),
            KeyType::HckmsKey(k) => (7, vec![&k.f1], None),
        };
    let (kind_name, names) = KEY_MESSAGES[tag - 1];
    let kind = KeyKind::from_metadata_name(kind_name)?;
    let mut fields = Branch::new();
    for (name, value) in names.iter().zip(strings) {
        if *name == "context" {
            let mut pairs: Vec<_> = context.into_iter().flatten().collect();
            pairs.sort();
            if !pairs.is_empty() {
                let mut map = Branch::new();
                for (k, v) in pairs {
                    map.push(k.clone(), Value::Str(v.clone()));
                }
                fields.push("context", Value::Map(map));
            }
        } else if !value.is_empty() {
            fields.push(*name, Value::Str(value.to_owned()));
        }
    }
    Some(KeyEntry { kind, fields })
}

/// How `sops keyservice --prompt` describes a key (sops' texts; age keys
/// have none in sops 3.11: "Unknown key type").
pub(crate) fn describe(key: &Key) -> String {
    match &key.key_type {
        Some(KeyType::PgpKey(k)) => format!("PGP key with fingerprint {}", k.f1),
        Some(KeyType::KmsKey(k)) => format!("AWS KMS key with ARN {}", k.arn),
        Some(KeyType::GcpKmsKey(k)) => format!("GCP KMS key with resource ID {}", k.f1),
        Some(KeyType::AzureKeyvaultKey(k)) => {
            format!(
                "Azure Key Vault key with URL {}/keys/{}/{}",
                k.f1, k.f2, k.f3
            )
        }
        Some(KeyType::VaultKey(k)) => {
            format!(
                "Hashicorp Vault key with URI {}/v1/{}/keys/{}",
                k.f1, k.f2, k.f3
            )
        }
        Some(KeyType::HckmsKey(k)) => format!("HuaweiCloud KMS key with ID {}", k.f1),
        Some(KeyType::AgeKey(_)) | None => "Unknown key type".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::keys::KEYSTORES;

    fn entry(kind: &str, fields: &[(&str, &str)]) -> KeyEntry {
        let mut b = Branch::new();
        for (k, v) in fields {
            b.push(*k, Value::Str((*v).to_owned()));
        }
        KeyEntry {
            kind: KeyKind::from_metadata_name(kind).unwrap(),
            fields: b,
        }
    }

    #[test]
    fn every_keystore_has_a_message_and_its_fields_exist() {
        for ks in KEYSTORES {
            let spec = ks.spec();
            let (_, names) = KEY_MESSAGES
                .iter()
                .find(|(n, _)| *n == spec.name)
                .unwrap_or_else(|| panic!("{} has no Key message", spec.name));
            for name in *names {
                assert!(spec.fields.contains(name), "{}.{name}", spec.name);
            }
        }
    }

    /// Bytes as Go's protobuf writes them (field tag, length, value).
    #[test]
    fn the_wire_form_is_keyservice_proto() {
        let age = to_key(&entry("age", &[("recipient", "age1x"), ("enc", "E")])).unwrap();
        assert_eq!(age.encode_to_vec(), b"\x32\x07\x0a\x05age1x");
        let req = DecryptRequest {
            key: Some(age),
            ciphertext: b"E".to_vec(),
        };
        assert_eq!(
            req.encode_to_vec(),
            b"\x0a\x09\x32\x07\x0a\x05age1x\x12\x01E"
        );
        let hckms = to_key(&entry("hckms", &[("key_id", "r:k")])).unwrap();
        assert_eq!(hckms.encode_to_vec(), b"\x3a\x05\x0a\x03r:k");
        let vault = to_key(&entry(
            "hc_vault",
            &[
                ("vault_address", "a"),
                ("engine_path", "b"),
                ("key_name", "c"),
            ],
        ))
        .unwrap();
        assert_eq!(
            vault.encode_to_vec(),
            b"\x2a\x09\x0a\x01a\x12\x01b\x1a\x01c"
        );
    }

    #[test]
    fn entries_round_trip_through_keys() {
        let mut kms = entry(
            "kms",
            &[
                ("arn", "arn:aws:kms:r:1:key/k"),
                ("role", "arn:aws:iam::1:role/x"),
            ],
        );
        let mut ctx = Branch::new();
        ctx.push("b", Value::Str("2".into()));
        ctx.push("a", Value::Str("1".into()));
        kms.fields.push("context", Value::Map(ctx));
        kms.fields.push("aws_profile", Value::Str("p".into()));
        let cases = [
            kms,
            entry("pgp", &[("fp", "ABCD")]),
            entry("gcp_kms", &[("resource_id", "projects/p")]),
            entry(
                "azure_kv",
                &[("vault_url", "https://v"), ("name", "n"), ("version", "1")],
            ),
            entry(
                "hc_vault",
                &[
                    ("vault_address", "http://v"),
                    ("engine_path", "t"),
                    ("key_name", "k"),
                ],
            ),
            entry("age", &[("recipient", "age1x")]),
            entry("hckms", &[("key_id", "r:k")]),
        ];
        for e in cases {
            let key = to_key(&e).unwrap();
            let decoded = Key::decode(key.encode_to_vec().as_slice()).unwrap();
            let back = to_entry(&decoded).unwrap();
            assert_eq!(back.kind, e.kind);
            assert_eq!(back.identifier(), e.identifier());
        }
        assert_eq!(to_entry(&Key { key_type: None }), None);
    }

    #[test]
    fn prompts_describe_keys_as_sops() {
        let d = |kind, fields: &[(&str, &str)]| describe(&to_key(&entry(kind, fields)).unwrap());
        assert_eq!(d("pgp", &[("fp", "AB")]), "PGP key with fingerprint AB");
        assert_eq!(d("kms", &[("arn", "a")]), "AWS KMS key with ARN a");
        assert_eq!(
            d(
                "azure_kv",
                &[("vault_url", "u"), ("name", "n"), ("version", "v")]
            ),
            "Azure Key Vault key with URL u/keys/n/v"
        );
        assert_eq!(
            d(
                "hc_vault",
                &[
                    ("vault_address", "a"),
                    ("engine_path", "e"),
                    ("key_name", "k")
                ]
            ),
            "Hashicorp Vault key with URI a/v1/e/keys/k"
        );
        assert_eq!(d("age", &[("recipient", "r")]), "Unknown key type");
    }
}
