//! Encrypting and decrypting the values of documents, and the MAC.

use rayon::prelude::*;

use crate::cipher::{CipherError, ValueCipher, is_encrypted};
use crate::data_key::DataKey;
use crate::mac::{self, MacError, MacHasher};
use crate::metadata::Metadata;
use crate::ops::stash::IvStash;
use crate::ops::walk::{self, Slot, aad_in, effective_aad};
use crate::rules::Rules;
use crate::tree::{Branch, Value};

/// Errors of the value walk. They name the key path, never a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    #[error("Could not decrypt value at {path}")]
    Decrypt {
        path: String,
        #[source]
        source: CipherError,
    },
    #[error("Could not encrypt value at {path}")]
    Encrypt {
        path: String,
        #[source]
        source: CipherError,
    },
    #[error("value at {path} should be encrypted but is a {kind}")]
    NotEncrypted { path: String, kind: &'static str },
    #[error("Encrypted comment at {path} matches UnencryptedCommentRegex")]
    CommentMatchesUnencryptedRegex { path: String },
    #[error(transparent)]
    Mac(#[from] MacError),
}

fn display_path(aad: &str) -> String {
    let p = aad.trim_end_matches(':');
    if p.is_empty() {
        "the top level".into()
    } else {
        format!("'{p}'")
    }
}

/// Leaves below this count are processed on one thread (thread start-up
/// would cost more than it saves on small files).
const PARALLEL_THRESHOLD: usize = 2048;

fn for_each_leaf<F>(leaves: &mut [walk::Leaf<'_>], arena: &str, f: F) -> Result<(), TreeError>
where
    F: Fn(&mut walk::Leaf<'_>, &str) -> Result<(), TreeError> + Sync + Send,
{
    if leaves.len() < PARALLEL_THRESHOLD {
        leaves.iter_mut().try_for_each(|leaf| {
            let aad = aad_in(arena, leaf);
            f(leaf, aad)
        })
    } else {
        leaves
            .par_iter_mut()
            .with_min_len(256)
            .try_for_each(|leaf| {
                let aad = aad_in(arena, leaf);
                f(leaf, aad)
            })
    }
}

/// The MAC over the plaintext leaves in document order: every value, or with
/// `mac_only_encrypted` only those the rules encrypt.
fn compute_mac(leaves: &[walk::Leaf<'_>], mac_only_encrypted: bool) -> String {
    let mut hasher = MacHasher::new(mac_only_encrypted);
    for leaf in leaves {
        if let Slot::Value(v) = &leaf.slot
            && (leaf.encrypted || !mac_only_encrypted)
        {
            hasher.update(v);
        }
    }
    hasher.finish_hex()
}

/// Encrypts every leaf the file's rule selects, computes the MAC over the
/// plaintext, and sets `meta.last_modified` (now, UTC, seconds) and `meta.mac`.
pub fn encrypt_docs(
    docs: &mut [Branch],
    key: &DataKey,
    meta: &mut Metadata,
) -> Result<(), TreeError> {
    reencrypt_docs(docs, key, meta, None)
}

/// As [`encrypt_docs`], re-using the IV of every value that is unchanged
/// since it was decrypted into `stash` (set, unset, edit: minimal diffs).
pub fn reencrypt_docs(
    docs: &mut [Branch],
    key: &DataKey,
    meta: &mut Metadata,
    stash: Option<&IvStash>,
) -> Result<(), TreeError> {
    let rules = Rules::new(&meta.effective_rule());
    let cipher = ValueCipher::new(key);
    let mut leaves = walk::leaves(docs, &rules);
    let mac_hex = compute_mac(&leaves.leaves, meta.mac_only_encrypted);
    let unencrypted_comment_regex = rules.unencrypted_comment_regex();
    let (list, arena) = leaves.split();
    for_each_leaf(list, arena, |leaf, aad| {
        if !leaf.encrypted {
            return Ok(());
        }
        let aad = effective_aad(aad);
        let err = |source| TreeError::Encrypt {
            path: display_path(aad),
            source,
        };
        match &mut leaf.slot {
            Slot::MapComment(text) => {
                if text.is_empty() {
                    return Ok(());
                }
                let iv = stash.and_then(|st| st.iv_for(aad, &Value::Comment(text.to_string())));
                let enc = cipher.encrypt_bytes(text.as_bytes(), "comment", aad, iv);
                if unencrypted_comment_regex.is_some_and(|r| r.is_match(&enc)) {
                    return Err(TreeError::CommentMatchesUnencryptedRegex {
                        path: display_path(aad),
                    });
                }
                **text = enc;
            }
            Slot::Value(v) => {
                let empty = match &**v {
                    Value::Str(s) | Value::Comment(s) => s.is_empty(),
                    Value::Bytes(b) => b.is_empty(),
                    _ => false,
                };
                if empty {
                    return Ok(());
                }
                let iv = stash.and_then(|st| st.iv_for(aad, v));
                let enc = cipher.encrypt_value(v, aad, iv).map_err(err)?;
                if matches!(**v, Value::Comment(_))
                    && unencrypted_comment_regex.is_some_and(|r| r.is_match(&enc))
                {
                    return Err(TreeError::CommentMatchesUnencryptedRegex {
                        path: display_path(aad),
                    });
                }
                **v = Value::Str(enc);
            }
        }
        Ok(())
    })?;
    meta.last_modified = crate::tree::time::now_rfc3339_seconds();
    meta.mac = mac::encrypt_mac(&cipher, &mac_hex, &meta.last_modified)?;
    Ok(())
}

/// Decrypts every leaf the file's rule says is encrypted and verifies the
/// MAC unless `ignore_mac`. On error the documents may be partly decrypted:
/// callers must drop them.
pub fn decrypt_docs(
    docs: &mut [Branch],
    key: &DataKey,
    meta: &Metadata,
    ignore_mac: bool,
) -> Result<(), TreeError> {
    decrypt_docs_stashing(docs, key, meta, ignore_mac, None)
}

/// As [`decrypt_docs`], recording the IV of every value in `stash` so that
/// a later [`reencrypt_docs`] keeps unchanged values byte-identical.
pub fn decrypt_docs_stashing(
    docs: &mut [Branch],
    key: &DataKey,
    meta: &Metadata,
    ignore_mac: bool,
    stash: Option<&IvStash>,
) -> Result<(), TreeError> {
    let rules = Rules::new(&meta.effective_rule());
    let cipher = ValueCipher::new(key);
    let mut leaves = walk::leaves(docs, &rules);
    let (list, arena) = leaves.split();
    for_each_leaf(list, arena, |leaf, aad| {
        if !leaf.encrypted {
            return Ok(());
        }
        let aad = effective_aad(aad);
        match &mut leaf.slot {
            Slot::MapComment(text) => {
                // sops keeps a comment that fails to decrypt as a clear comment.
                if is_encrypted(text)
                    && let Ok((Value::Comment(plain), iv)) = cipher.decrypt_value_with_iv(text, aad)
                {
                    if let Some(st) = stash {
                        st.remember(aad, &Value::Comment(plain.clone()), &iv);
                    }
                    **text = plain;
                }
            }
            Slot::Value(v) => match &**v {
                Value::Str(s) => {
                    if !s.is_empty() {
                        let (plain, iv) =
                            cipher.decrypt_value_with_iv(s, aad).map_err(|source| {
                                TreeError::Decrypt {
                                    path: display_path(aad),
                                    source,
                                }
                            })?;
                        if let Some(st) = stash {
                            st.remember(aad, &plain, &iv);
                        }
                        **v = plain;
                    }
                }
                // A comment inside a sequence is either clear (it stays) or
                // `#ENC[…]`: a mapping's first comment written before its
                // `- ` reads back at the sequence's level, and sops 3.11
                // decrypts it there too, keeping it clear if that fails,
                // as for comments in a mapping.
                Value::Comment(text) => {
                    if is_encrypted(text)
                        && let Ok((Value::Comment(plain), iv)) =
                            cipher.decrypt_value_with_iv(text, aad)
                    {
                        if let Some(st) = stash {
                            st.remember(aad, &Value::Comment(plain.clone()), &iv);
                        }
                        **v = Value::Comment(plain);
                    }
                }
                other => {
                    return Err(TreeError::NotEncrypted {
                        path: display_path(aad),
                        kind: other.kind_name(),
                    });
                }
            },
        }
        Ok(())
    })?;
    if ignore_mac {
        return Ok(());
    }
    let mac_hex = compute_mac(&leaves.leaves, meta.mac_only_encrypted);
    mac::verify_mac(&cipher, &meta.mac, &meta.last_modified, &mac_hex)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::PartialRule;
    use crate::stores::Format;

    /// Found by the `store_yaml` fuzz target (`e:\n- r: #\n` did not round
    /// trip): a comment at the start of a mapping that is a sequence item
    /// is written before the item's `- `, so the encrypted file holds
    /// `#ENC[…]` at the sequence's level, where decryption left it
    /// encrypted. sops 3.11 decrypts it (checked with the reference on
    /// `e:\n- r: 1 # c\n`, which it prints as `e:\n    # c\n    - r: 1\n`).
    #[test]
    fn fuzz_store_yaml_encrypted_comment_before_sequence_item_decrypts() {
        let store = Format::Yaml.store().unwrap();
        let mut docs = store.load(b"e:\n- r: 1 # c\n").unwrap();
        let key = DataKey::generate();
        let mut meta = Metadata {
            key_groups: Vec::new(),
            shamir_threshold: 0,
            last_modified: String::new(),
            mac: String::new(),
            rule: Some(PartialRule::default_rule()),
            mac_only_encrypted: false,
            version: "3.11.0".into(),
        };
        encrypt_docs(&mut docs, &key, &mut meta).unwrap();
        let encrypted = store.emit_encrypted(&docs, &meta).unwrap();
        assert!(
            String::from_utf8_lossy(&encrypted).starts_with("e:\n    #ENC[AES256_GCM,"),
            "{}",
            String::from_utf8_lossy(&encrypted)
        );
        let (mut docs, meta) = store.load_encrypted(&encrypted).unwrap();
        decrypt_docs(&mut docs, &key, &meta, false).unwrap();
        let plain = store.emit(&docs, None).unwrap();
        assert_eq!(String::from_utf8_lossy(&plain), "e:\n    # c\n    - r: 1\n");
    }
}
