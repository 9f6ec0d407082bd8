//! IV re-use for unchanged values (sops-format §1.6): when a file is
//! decrypted and re-encrypted with the same data key (set, unset, edit),
//! every value whose (AAD, type, plaintext) is unchanged keeps its IV and
//! therefore its exact ciphertext, so a diff shows only what was edited.

use std::collections::HashMap;
use std::sync::Mutex;

use zeroize::Zeroize;

use crate::cipher::plaintext_bytes;
use crate::tree::Value;

/// The IVs of the values of one decrypted file. Keys hold plaintext, so
/// they are wiped on drop.
#[derive(Default)]
pub struct IvStash {
    map: Mutex<HashMap<Vec<u8>, [u8; 32]>>,
}

impl std::fmt::Debug for IvStash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IvStash { .. }")
    }
}

/// `aad \0 type \0 plaintext`: the memo key (the type matters: int 8080
/// and float 8080 are different values).
fn stash_key(aad: &str, value: &Value) -> Option<Vec<u8>> {
    let kind = value.sops_type()?;
    let plain = plaintext_bytes(value)?;
    let mut key = Vec::with_capacity(aad.len() + kind.len() + plain.len() + 2);
    key.extend_from_slice(aad.as_bytes());
    key.push(0);
    key.extend_from_slice(kind.as_bytes());
    key.push(0);
    key.extend_from_slice(&plain);
    Some(key)
}

impl IvStash {
    /// Records the IV a value was decrypted with (only sops' 32-byte IVs).
    pub fn remember(&self, aad: &str, value: &Value, iv: &[u8]) {
        let (Some(key), Ok(iv)) = (stash_key(aad, value), <[u8; 32]>::try_from(iv)) else {
            return;
        };
        if let Ok(mut map) = self.map.lock() {
            map.insert(key, iv);
        }
    }

    /// Adds `other`'s IVs for the values this stash does not know yet.
    pub fn absorb(&self, other: &IvStash) {
        if std::ptr::eq(self, other) {
            return;
        }
        let (Ok(mut mine), Ok(theirs)) = (self.map.lock(), other.map.lock()) else {
            return;
        };
        for (key, iv) in theirs.iter() {
            if !mine.contains_key(key) {
                mine.insert(key.clone(), *iv);
            }
        }
    }

    /// The IV to re-use for a value, if it was in the file unchanged.
    pub fn iv_for(&self, aad: &str, value: &Value) -> Option<[u8; 32]> {
        let mut key = stash_key(aad, value)?;
        let found = self.map.lock().ok()?.get(&key).copied();
        key.zeroize();
        found
    }
}

impl Drop for IvStash {
    fn drop(&mut self) {
        if let Ok(map) = self.map.get_mut() {
            for (mut key, _) in map.drain() {
                key.zeroize();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{decrypt_docs_stashing, reencrypt_docs};
    use crate::stores::Store;
    use crate::stores::yaml::YamlStore;
    use crate::test_vectors::{data_key, vector};

    /// Everything but `lastmodified` and `mac` stays byte-identical when an
    /// unchanged file is decrypted and re-encrypted; a changed value gets a
    /// new ciphertext.
    #[test]
    fn unchanged_values_keep_their_ciphertext() {
        let original = vector("yaml_comments.enc.yaml");
        let store = YamlStore::default();
        let (mut docs, mut meta) = store.load_encrypted(&original).unwrap();
        let key = data_key("yaml_comments");
        let stash = IvStash::default();
        decrypt_docs_stashing(&mut docs, &key, &meta, false, Some(&stash)).unwrap();
        let mut changed = docs.clone();
        reencrypt_docs(&mut docs, &key, &mut meta, Some(&stash)).unwrap();
        let out = String::from_utf8(store.emit_encrypted(&docs, &meta).unwrap()).unwrap();
        let original = String::from_utf8(original).unwrap();
        let differing: Vec<(&str, &str)> = out
            .lines()
            .zip(original.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(differing.len(), 2, "{differing:#?}");
        assert!(
            differing
                .iter()
                .all(|(a, _)| a.contains("lastmodified") || a.contains("mac:"))
        );

        let Some(crate::tree::Value::Map(app)) = changed[0].0.iter_mut().find_map(|i| match i {
            crate::tree::Item::Entry(k, v) if k == "app" => Some(v),
            _ => None,
        }) else {
            panic!("app")
        };
        for item in &mut app.0 {
            if let crate::tree::Item::Entry(k, v) = item
                && k == "password"
            {
                *v = Value::Str("changed".into());
            }
        }
        reencrypt_docs(&mut changed, &key, &mut meta, Some(&stash)).unwrap();
        let out2 = String::from_utf8(store.emit_encrypted(&changed, &meta).unwrap()).unwrap();
        let differing: Vec<&str> = out2
            .lines()
            .zip(original.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a)
            .collect();
        assert_eq!(differing.len(), 3, "{differing:#?}");
        assert!(
            differing
                .iter()
                .any(|l| l.trim_start().starts_with("password:"))
        );
    }
}
