//! Encrypting and decrypting the values of documents, and the MAC.

use rayon::prelude::*;
use zeroize::Zeroize;

use crate::cipher::{CipherError, ValueCipher, is_encrypted};
use crate::data_key::DataKey;
use crate::mac::{self, MacError, MacHasher};
use crate::metadata::Metadata;
use crate::ops::stash::IvStash;
use crate::ops::walk::{self, Slot, aad_in, effective_aad};
use crate::rules::Rules;
use crate::tree::{Branch, Comment, Item, Value};

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
    /// sops 3.13.2's text (#2227; 3.11 panics here). `path` is not in
    /// the text, as in sops; `kind` is the Go type sops names.
    #[error("Error walking tree: Expected encrypted value as string, but got {kind}")]
    NotEncrypted { path: String, kind: &'static str },
    #[error("Encrypted comment at {path} matches UnencryptedCommentRegex")]
    CommentMatchesUnencryptedRegex { path: String },
    #[error(transparent)]
    Mac(#[from] MacError),
}

/// The Go type (`%T`) sops 3.13 names for a clear value where it expects
/// an encrypted string.
fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Bool(_) => "bool",
        Value::Time(_) => "time.Time",
        Value::Bytes(_) => "[]uint8",
        Value::Null => "<nil>",
        Value::Seq(_) => "[]interface {}",
        Value::Map(_) => "sops.TreeBranch",
        Value::Str(_) => "string",
        Value::Comment(_) => "sops.Comment",
    }
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

/// `f` on every leaf, on the thread pool for many leaves unless
/// `parallel` is false (a caller that is itself one of two busy threads).
fn for_each_leaf<F>(
    leaves: &mut [walk::Leaf<'_>],
    arena: &str,
    parallel: bool,
    f: F,
) -> Result<(), TreeError>
where
    F: Fn(&mut walk::Leaf<'_>, &str) -> Result<(), TreeError> + Sync + Send,
{
    // One thread or many give the same documents (each leaf is handled on
    // its own), so mutants of this comparison are equivalent; with several
    // failing leaves only which error is reported could differ.
    if !parallel || leaves.len() < PARALLEL_THRESHOLD {
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
    hash_leaves(&mut hasher, leaves, mac_only_encrypted);
    hasher.finish_hex()
}

/// Adds leaves (plaintext, in document order) to the MAC.
fn hash_leaves(hasher: &mut MacHasher, leaves: &[walk::Leaf<'_>], mac_only_encrypted: bool) {
    for leaf in leaves {
        if let Slot::Value(v) = &leaf.slot
            && (leaf.encrypted || !mac_only_encrypted)
        {
            hasher.update(v);
        }
    }
}

/// Decryption walks the leaves this many at a time (above
/// [`PARALLEL_THRESHOLD`], so a large file's batches run in parallel).
const DECRYPT_BATCH: usize = 16 * 1024;

/// sops turns each value it hashes into the MAC into bytes before anything
/// else, and Go refuses a time whose offset is a day or more: the walk then
/// fails, when decrypting even with `--ignore-mac`. `err` wraps the failure
/// as the operation's error (encrypting or decrypting).
fn check_times(
    leaves: &[walk::Leaf<'_>],
    arena: &str,
    mac_only_encrypted: bool,
    err: impl Fn(String, CipherError) -> TreeError,
) -> Result<(), TreeError> {
    for leaf in leaves {
        if let Slot::Value(v) = &leaf.slot
            && let Value::Time(t) = &**v
            && (leaf.encrypted || !mac_only_encrypted)
            && !t.zone_hour_in_range()
        {
            let path = display_path(effective_aad(aad_in(arena, leaf)));
            return Err(err(path, CipherError::TimeZoneOutOfRange));
        }
    }
    Ok(())
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
    let (list, arena) = leaves.split();
    check_times(list, arena, meta.mac_only_encrypted, |path, source| {
        TreeError::Encrypt { path, source }
    })?;
    let mac_hex = compute_mac(list, meta.mac_only_encrypted);
    let unencrypted_comment_regex = rules.unencrypted_comment_regex();
    for_each_leaf(list, arena, true, |leaf, aad| {
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
                let iv =
                    stash.and_then(|st| st.iv_for(aad, &Value::Comment(Comment::new(&***text))));
                let enc = cipher.encrypt_bytes(text.as_bytes(), "comment", aad, iv);
                if unencrypted_comment_regex.is_some_and(|r| r.is_match(&enc)) {
                    return Err(TreeError::CommentMatchesUnencryptedRegex {
                        path: display_path(aad),
                    });
                }
                // sops 3.13 keeps an inline comment inline when it encrypts
                // it (only the text changes).
                // The replaced plaintext is wiped, not just freed.
                std::mem::replace(&mut text.text, enc).zeroize();
            }
            Slot::Value(v) => {
                let empty = match &**v {
                    Value::Str(s) => s.is_empty(),
                    Value::Comment(c) => c.is_empty(),
                    Value::Bytes(b) => b.is_empty(),
                    _ => false,
                };
                if empty {
                    // sops 3.11 encrypts "" to "" and gives a sequence the
                    // string back, so an empty comment there (`- x #`)
                    // becomes an empty string item.
                    if matches!(**v, Value::Comment(_)) {
                        **v = Value::Str(String::new());
                    }
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
                std::mem::replace(&mut **v, Value::Str(enc)).zeroize();
            }
        }
        Ok(())
    })?;
    meta.last_modified = crate::tree::time::now_rfc3339_seconds();
    meta.mac = mac::encrypt_mac(&cipher, &mac_hex, &meta.last_modified)?;
    Ok(())
}

/// Decrypts every leaf the file's rule says is encrypted and verifies the
/// MAC unless `ignore_mac`. On error the documents are wiped (emptied):
/// what was decrypted before the failure is never handed back.
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
    let result = decrypt_in_place(docs, key, meta, ignore_mac, stash);
    if result.is_err() {
        // Here rather than in each caller: a caller that forgets would
        // keep plaintext (the values before the failing one, or all of
        // them on a MAC mismatch) in a tree that looks encrypted.
        docs.iter_mut().for_each(Zeroize::zeroize);
    }
    result
}

/// [`decrypt_docs_stashing`] without the wiping on error.
fn decrypt_in_place(
    docs: &mut [Branch],
    key: &DataKey,
    meta: &Metadata,
    ignore_mac: bool,
    stash: Option<&IvStash>,
) -> Result<(), TreeError> {
    let rules = Rules::new(&meta.effective_rule());
    let cipher = ValueCipher::new(key);
    let mut hasher = MacHasher::new(meta.mac_only_encrypted);
    walk::in_batches(docs, &rules, DECRYPT_BATCH, |leaves| {
        let (list, arena) = leaves.split();
        decrypt_leaves(list, arena, &cipher, meta.mac_only_encrypted, stash, true)?;
        if !ignore_mac {
            hash_leaves(&mut hasher, list, meta.mac_only_encrypted);
        }
        Ok::<(), TreeError>(())
    })?;
    if ignore_mac {
        return Ok(());
    }
    mac::verify_mac(&cipher, &meta.mac, &meta.last_modified, &hasher.finish_hex())?;
    Ok(())
}

/// Decrypts one document's top-level items run by run, as a reader
/// finishes them, so that the tree never holds the whole file's
/// ciphertext (see `ops::decrypt_open_file`). The runs must come in
/// order, each but the last ending with an entry (see
/// [`walk::items_in_batches`]); the document's `sops` entry is skipped,
/// and anything after it is refused (the tree is then decrypted the usual
/// way, where `sops` is removed first). Values are
/// decrypted into their own buffers: [`compact_strings`] then gives back
/// the room the ciphertext took.
pub(crate) struct RunDecryptor {
    rules: Rules,
    cipher: ValueCipher,
    hasher: Option<MacHasher>,
    mac_only_encrypted: bool,
    saw_sops: bool,
}

impl RunDecryptor {
    /// Verifies the MAC in [`RunDecryptor::finish`] unless `ignore_mac`.
    pub(crate) fn new(key: &DataKey, meta: &Metadata, ignore_mac: bool) -> Self {
        Self {
            rules: Rules::new(&meta.effective_rule()),
            cipher: ValueCipher::new(key),
            hasher: (!ignore_mac).then(|| MacHasher::new(meta.mac_only_encrypted)),
            mac_only_encrypted: meta.mac_only_encrypted,
            saw_sops: false,
        }
    }

    /// Decrypts one run in place. `Ok(false)`: something follows the
    /// `sops` entry (sops writes it last; a comment after it could take a
    /// rule's match from a comment before it, as they would meet once it
    /// is removed); nothing was decrypted.
    pub(crate) fn run(&mut self, items: &mut [Item]) -> Result<bool, TreeError> {
        let sops_at = items
            .iter()
            .position(|i| matches!(i, Item::Entry(k, _) if k == "sops"));
        match sops_at {
            _ if self.saw_sops && !items.is_empty() => Ok(false),
            Some(at) if at + 1 != items.len() => Ok(false),
            Some(at) => {
                self.saw_sops = true;
                self.decrypt_items(&mut items[..at])?;
                Ok(true)
            }
            None => {
                self.decrypt_items(items)?;
                Ok(true)
            }
        }
    }

    fn decrypt_items(&mut self, items: &mut [Item]) -> Result<(), TreeError> {
        let (cipher, hasher, mac_only) = (&self.cipher, &mut self.hasher, self.mac_only_encrypted);
        walk::items_in_batches(items, &self.rules, DECRYPT_BATCH, |leaves| {
            let (list, arena) = leaves.split();
            // On the thread that decrypts while another reads the file.
            decrypt_leaves(list, arena, cipher, mac_only, None, false)?;
            if let Some(h) = hasher.as_mut() {
                hash_leaves(h, list, mac_only);
            }
            Ok(())
        })
    }

    /// Verifies the MAC of every run decrypted (unless told not to).
    pub(crate) fn finish(self, meta: &Metadata) -> Result<(), TreeError> {
        if let Some(h) = self.hasher {
            mac::verify_mac(&self.cipher, &meta.mac, &meta.last_modified, &h.finish_hex())?;
        }
        Ok(())
    }
}

/// Copies every string of `items` that has room to spare (a value
/// decrypted into its ciphertext's buffer) into a buffer of its size, and
/// wipes and frees the old one, which then holds the next ciphertext read.
/// (Shrinking in place left small pieces that the allocator spent a tenth
/// of a large decryption sorting out. This runs on the thread that
/// allocated them: freeing them from another thread made the two wait for
/// each other's allocator lock.)
pub(crate) fn compact_strings(items: &mut [Item]) {
    fn value(v: &mut Value) {
        match v {
            Value::Str(s) if s.capacity() > s.len() => {
                let fitted = s.as_str().to_owned();
                std::mem::replace(s, fitted).zeroize();
            }
            Value::Map(b) => compact_strings(&mut b.0),
            Value::Seq(items) => items.iter_mut().for_each(value),
            _ => {}
        }
    }
    for item in items {
        if let Item::Entry(_, v) = item {
            value(v);
        }
    }
}

/// Decrypts the leaves of one batch in place.
fn decrypt_leaves(
    list: &mut [walk::Leaf<'_>],
    arena: &str,
    cipher: &ValueCipher,
    mac_only_encrypted: bool,
    stash: Option<&IvStash>,
    parallel: bool,
) -> Result<(), TreeError> {
    check_times(list, arena, mac_only_encrypted, |path, source| {
        TreeError::Decrypt { path, source }
    })?;
    for_each_leaf(list, arena, parallel, |leaf, aad| {
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
                    // A decrypted comment is not inline (`plain` is a new
                    // comment), as in sops 3.13.2, whose cipher returns a
                    // fresh `Comment`: only comments left in the clear keep
                    // their place at the end of the line.
                    **text = plain;
                }
            }
            Slot::Value(v) => match &mut **v {
                Value::Str(s) => {
                    if !s.is_empty() {
                        let err = |source| TreeError::Decrypt {
                            path: display_path(aad),
                            source,
                        };
                        // Without a stash the IV is not needed (no copy of
                        // it), and a string decrypts into its own buffer.
                        let plain = match stash {
                            Some(st) => {
                                let (plain, iv) =
                                    cipher.decrypt_value_with_iv(s, aad).map_err(err)?;
                                st.remember(aad, &plain, &iv);
                                Some(plain)
                            }
                            None => cipher.decrypt_in_place(s, aad).map_err(err)?,
                        };
                        if let Some(plain) = plain {
                            **v = plain;
                        }
                    }
                }
                // A comment inside a sequence is either clear (it stays) or
                // `#ENC[…]`: a mapping's first comment written before its
                // `- ` reads back at the sequence's level, and sops 3.11
                // decrypts it there too, keeping it clear if that fails,
                // as for comments in a mapping.
                // sops 3.11 decrypts "" to the string "", which replaces
                // an empty comment in a sequence (mappings keep comments).
                Value::Comment(text) if text.is_empty() => **v = Value::Str(String::new()),
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
                        kind: go_type_name(other),
                    });
                }
            },
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    //! Added for issue 10 so that each mutant `cargo mutants` makes of this
    //! file fails one of sops-core's own tests.

    use super::*;
    use crate::metadata::{PartialRule, SOPS_VERSION};
    use crate::stores::Format;

    fn key() -> DataKey {
        DataKey::from_slice(&[3; 32]).unwrap()
    }

    fn meta(rule: PartialRule, mac_only_encrypted: bool) -> Metadata {
        Metadata {
            key_groups: Vec::new(),
            shamir_threshold: 0,
            last_modified: String::new(),
            mac: String::new(),
            rule: Some(rule),
            mac_only_encrypted,
            version: SOPS_VERSION.to_owned(),
        }
    }

    /// Replaces the value of `key` in place (the MAC depends on the order).
    fn set(b: &mut Branch, key: &str, value: Value) {
        for item in &mut b.0 {
            if let crate::tree::Item::Entry(k, v) = item
                && k == key
            {
                *v = value.clone();
            }
        }
    }

    /// A failure after some values are decrypted (a value that does not
    /// decrypt, or the MAC) leaves no plaintext in the documents.
    #[test]
    fn decrypt_failure_wipes_what_was_decrypted() {
        let mut doc = Branch::new();
        doc.push("first", Value::Str("hunter2".into()));
        doc.push("second", Value::Str("correct horse".into()));
        let mut m = meta(PartialRule::default_rule(), false);
        let mut docs = vec![doc];
        encrypt_docs(&mut docs, &key(), &mut m).unwrap();
        let encrypted = docs.clone();

        // The second value does not decrypt (its ciphertext is another
        // key's): the first was decrypted already.
        let Some(Value::Str(first)) = docs[0].get("first").cloned() else {
            panic!("first is not encrypted");
        };
        set(&mut docs[0], "second", Value::Str(first));
        assert!(decrypt_docs(&mut docs, &key(), &m, false).is_err());
        assert_eq!(docs, vec![Branch::new()]);

        // A MAC mismatch fails after every value is decrypted.
        let mut docs = encrypted;
        m.mac = crate::mac::encrypt_mac(&ValueCipher::new(&key()), &"00".repeat(64), &m.last_modified)
            .unwrap();
        assert!(decrypt_docs(&mut docs, &key(), &m, false).is_err());
        assert_eq!(docs, vec![Branch::new()]);
    }

    /// A file of several decryption batches (run in parallel) decrypts to
    /// what was encrypted, with the MAC over all of them.
    #[test]
    fn values_of_several_batches_decrypt_and_are_all_in_the_mac() {
        let n = DECRYPT_BATCH * 2 + 5;
        let mut doc = Branch::new();
        for i in 0..n {
            doc.push(format!("k{i}"), Value::Str(format!("v{i}")));
        }
        let plain = vec![doc];
        let mut m = meta(PartialRule::default_rule(), false);
        let mut docs = plain.clone();
        encrypt_docs(&mut docs, &key(), &mut m).unwrap();
        let encrypted = docs.clone();
        decrypt_docs(&mut docs, &key(), &m, false).unwrap();
        assert_eq!(docs, plain);

        // The last value replaced by another one encrypted under its path
        // (so it decrypts): the MAC no longer matches.
        let mut docs = encrypted;
        let last = format!("k{}", n - 1);
        let mut other = Branch::new();
        other.push(last.clone(), Value::Str("changed".into()));
        let mut other = vec![other];
        let mut m2 = meta(PartialRule::default_rule(), false);
        encrypt_docs(&mut other, &key(), &mut m2).unwrap();
        set(&mut docs[0], &last, other[0].get(&last).unwrap().clone());
        let e = decrypt_docs(&mut docs, &key(), &m, false).unwrap_err();
        assert!(matches!(e, TreeError::Mac(_)), "{e}");
        assert_eq!(docs, vec![Branch::new()]);
    }

    #[test]
    fn m10_paths_in_messages() {
        assert_eq!(display_path(""), "the top level");
        assert_eq!(display_path("a:b:"), "'a:b'");
    }

    #[test]
    fn m10_empty_values_stay_clear_and_others_round_trip() {
        let mut doc = Branch::new();
        doc.push("empty", Value::Str(String::new()));
        doc.push("n", Value::Int(1));
        doc.push("clear_unencrypted", Value::Int(2));
        let original = doc.clone();
        let mut m = meta(PartialRule::default_rule(), false);
        let mut docs = vec![doc];
        encrypt_docs(&mut docs, &key(), &mut m).unwrap();
        assert_eq!(docs[0].get("empty"), Some(&Value::Str(String::new())));
        assert!(matches!(docs[0].get("n"), Some(Value::Str(s)) if is_encrypted(s)));
        assert_eq!(docs[0].get("clear_unencrypted"), Some(&Value::Int(2)));
        assert!(is_encrypted(&m.mac));
        decrypt_docs(&mut docs, &key(), &m, false).unwrap();
        assert_eq!(docs[0].get("n"), Some(&Value::Int(1)));
        assert_eq!(docs[0], original);
        // Empty binary data is not encrypted either.
        let mut doc = Branch::new();
        doc.push("bytes", Value::Bytes(Vec::new()));
        let mut docs = vec![doc];
        encrypt_docs(&mut docs, &key(), &mut m).unwrap();
        assert_eq!(docs[0].get("bytes"), Some(&Value::Bytes(Vec::new())));
    }

    /// With `mac_only_encrypted` a clear value is outside the MAC; without,
    /// changing it fails the MAC.
    #[test]
    fn m10_the_mac_covers_clear_values_unless_mac_only_encrypted() {
        for only in [false, true] {
            let mut doc = Branch::new();
            doc.push("secret", Value::Str("s".into()));
            doc.push("note_unencrypted", Value::Str("n".into()));
            let mut m = meta(PartialRule::default_rule(), only);
            let mut docs = vec![doc];
            encrypt_docs(&mut docs, &key(), &mut m).unwrap();
            let mut changed = docs.clone();
            set(
                &mut changed[0],
                "note_unencrypted",
                Value::Str("other".into()),
            );
            let result = decrypt_docs(&mut changed, &key(), &m, false);
            assert_eq!(result.is_ok(), only, "mac_only_encrypted: {only}");
            // A changed encrypted value fails either way.
            let mut swapped = docs.clone();
            let enc = ValueCipher::new(&key())
                .encrypt_value(&Value::Str("t".into()), "secret:", None)
                .unwrap();
            set(&mut swapped[0], "secret", Value::Str(enc));
            assert!(matches!(
                decrypt_docs(&mut swapped.clone(), &key(), &m, false),
                Err(TreeError::Mac(MacError::Mismatch { .. }))
            ));
            assert!(decrypt_docs(&mut swapped, &key(), &m, true).is_ok());
        }
    }

    #[test]
    fn m10_decrypt_names_the_path_that_failed() {
        let mut doc = Branch::new();
        doc.push(
            "a",
            Value::Str("ENC[AES256_GCM,data:AQ==,iv:Ag==,tag:Aw==,type:str]".into()),
        );
        let m = meta(PartialRule::default_rule(), false);
        let err = decrypt_docs(&mut [doc], &key(), &m, true).unwrap_err();
        assert_eq!(err.to_string(), "Could not decrypt value at 'a'");
        let mut doc = Branch::new();
        doc.push("a", Value::Int(1));
        let err = decrypt_docs(&mut [doc], &key(), &m, true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Error walking tree: Expected encrypted value as string, but got int"
        );
    }

    /// issue 10: YAML loads `2001-12-14T21:59:43+24:00` as a time, as
    /// go-yaml does, but sops 3.11 cannot turn it into bytes: encrypting
    /// fails (exit 23), and so does decrypting a file that holds it in the
    /// clear (exit 25, even with `--ignore-mac`), unless the value is
    /// outside the MAC (`mac_only_encrypted`). Checked with the reference.
    #[test]
    fn r10_times_offset_by_a_day_or_more_are_refused() {
        let store = Format::Yaml.store().unwrap();
        for (name, refused_when_mac_only) in [("a", true), ("a_unencrypted", false)] {
            let yaml = format!("b: x\n{name}: 2001-12-14T21:59:43+24:00\n");
            for only in [false, true] {
                let mut docs = store.load(yaml.as_bytes()).unwrap();
                let mut m = meta(PartialRule::default_rule(), only);
                let result = encrypt_docs(&mut docs, &key(), &mut m);
                if only && !refused_when_mac_only {
                    result.unwrap();
                    decrypt_docs(&mut docs, &key(), &m, false).unwrap();
                    assert_eq!(store.emit_plain(&docs).unwrap(), yaml.as_bytes());
                    continue;
                }
                let err = result.unwrap_err();
                assert!(
                    matches!(
                        &err,
                        TreeError::Encrypt { path, source: CipherError::TimeZoneOutOfRange }
                            if *path == format!("'{name}'")
                    ),
                    "{err:?}"
                );
                assert_eq!(err.exit_code(), crate::exit_code::ERROR_ENCRYPTING_TREE);
            }
        }
        // A file holding such a time in the clear under the MAC.
        let mut docs = store
            .load(b"b: x\na_unencrypted: 2001-12-14T21:59:43-24:00\n")
            .unwrap();
        let mut m = meta(PartialRule::default_rule(), true);
        encrypt_docs(&mut docs, &key(), &mut m).unwrap();
        m.mac_only_encrypted = false;
        for ignore_mac in [false, true] {
            let err = decrypt_docs(&mut docs.clone(), &key(), &m, ignore_mac).unwrap_err();
            assert!(
                matches!(
                    &err,
                    TreeError::Decrypt { path, source: CipherError::TimeZoneOutOfRange }
                        if path == "'a_unencrypted'"
                ),
                "{err:?}"
            );
            assert_eq!(err.exit_code(), crate::exit_code::ERROR_DECRYPTING_TREE);
        }
    }

    /// Found by the `store_yaml` fuzz target (`e:\n- r: #\n` did not round
    /// trip): a comment at the start of a mapping that is a sequence item
    /// is written before the item's `- ` (sops 3.11), so the encrypted file
    /// holds `#ENC[…]` at the sequence's level, where decryption left it
    /// encrypted. sops 3.11 decrypts it (checked with the reference on
    /// `e:\n- r: 1 # c\n`, which it prints as `e:\n    # c\n    - r: 1\n`).
    /// We write that comment at the end of its line (sops 3.13), and read
    /// both forms.
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
        let text = String::from_utf8(encrypted).unwrap();
        assert!(text.starts_with("e:\n    - r: ENC[AES256_GCM,"), "{text}");
        let (line, rest) = text["e:\n".len()..].split_once('\n').unwrap();
        let (item, comment) = line.split_once(" #ENC[").unwrap();
        assert!(comment.ends_with(",type:comment]"), "{text}");
        let hoisted = format!("e:\n    #ENC[{comment}\n{item}\n{rest}");
        for form in [text, hoisted] {
            let (mut docs, meta) = store.load_encrypted(form.as_bytes()).unwrap();
            decrypt_docs(&mut docs, &key, &meta, false).unwrap();
            let plain = store.emit_plain(&docs).unwrap();
            let plain = String::from_utf8(plain).unwrap();
            assert_eq!(plain, "e:\n    # c\n    - r: 1\n", "{form}");
        }
    }
}
