//! Shared by the unit tests: the files the reference sops 3.11 wrote, in
//! `testdata/vectors`, the data keys recorded in its `vectors.json`, and
//! throwaway age identities.

use crate::data_key::DataKey;
use crate::stores::Store;
use crate::stores::json::JsonStore;
use crate::tree::Value;

pub const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/vectors/");

/// The bytes of a vector file.
pub fn vector(name: &str) -> Vec<u8> {
    std::fs::read(format!("{VECTORS}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The data key of a case (cases with variants share one key).
pub fn data_key(case: &str) -> DataKey {
    let index = JsonStore::default()
        .load(&vector("vectors.json"))
        .unwrap()
        .remove(0);
    let Some(Value::Map(cases)) = index.get("cases") else {
        panic!("vectors.json has no cases")
    };
    let Some(Value::Map(case_map)) = cases.get(case) else {
        panic!("no case {case}")
    };
    let hex_key = match case_map.get("variants") {
        Some(Value::Map(variants)) => variants.entries().find_map(|(_, v)| match v {
            Value::Map(m) => m.get("data_key_hex").and_then(Value::as_str),
            _ => None,
        }),
        _ => case_map.get("data_key_hex").and_then(Value::as_str),
    }
    .unwrap_or_else(|| panic!("no data key for {case}"));
    DataKey::from_slice(&hex::decode(hex_key).unwrap()).unwrap()
}

/// A throwaway age identity, made at test time.
#[cfg(feature = "age")]
pub struct TestIdentity {
    pub secret: String,
    pub recipient: String,
}

#[cfg(feature = "age")]
impl TestIdentity {
    pub fn generate() -> Self {
        use ::age::secrecy::ExposeSecret;
        let id = ::age::x25519::Identity::generate();
        Self {
            secret: id.to_string().expose_secret().to_owned(),
            recipient: id.to_public().to_string(),
        }
    }

    /// The master key for this identity's recipient.
    pub fn key(&self) -> Box<dyn crate::keys::MasterKey> {
        Box::new(crate::keys::age::AgeKey::parse(&self.recipient).unwrap())
    }
}

/// A key context holding exactly `ids` (as `SOPS_AGE_KEY` would).
#[cfg(feature = "age")]
pub fn context_of(ids: &[&TestIdentity]) -> crate::keys::KeyContext {
    let text: Vec<&str> = ids.iter().map(|i| i.secret.as_str()).collect();
    crate::keys::KeyContext::from_vars([("SOPS_AGE_KEY", text.join("\n"))])
}

/// One key group with a key per identity.
#[cfg(feature = "age")]
pub fn group_of(ids: &[&TestIdentity]) -> Vec<Box<dyn crate::keys::MasterKey>> {
    ids.iter().map(|i| i.key()).collect()
}

/// The YAML `plain` encrypted for one key group of `ids` (a new data key).
#[cfg(feature = "age")]
pub fn encrypted_yaml(plain: &[u8], ids: &[&TestIdentity]) -> Vec<u8> {
    let store = crate::stores::yaml::YamlStore::default();
    let docs = store.load(plain).unwrap();
    crate::ops::encrypt(
        docs,
        &[group_of(ids)],
        &context_of(&[]),
        &crate::ops::EncryptOptions::default(),
    )
    .unwrap()
    .emit(&store)
    .unwrap()
}
