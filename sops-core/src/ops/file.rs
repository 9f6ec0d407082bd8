//! Whole-file operations: the library's main entry points.

use std::fmt;
use std::path::Path;

use zeroize::{Zeroize, Zeroizing};

use crate::data_key::DataKey;
use crate::error::Error;
use crate::keys::{KeyContext, MasterKey, recover_data_key, wrap_data_key};
use crate::metadata::{Metadata, PartialRule, SOPS_VERSION};
use crate::ops::{EncryptedFile, decrypt_docs, encrypt_docs};
use crate::stores::{DocumentEmitter, Format, Store};
use crate::tree::Branch;

/// Options for decryption.
#[derive(Debug, Clone, Default)]
pub struct DecryptOptions {
    /// Skip MAC verification (`--ignore-mac`).
    pub ignore_mac: bool,
    /// Key types to try first (`--decryption-order`); empty = `age,pgp`.
    pub decryption_order: Vec<String>,
}

/// A decrypted file: its documents and the metadata it carried.
///
/// The documents are plaintext: they are wiped when this is dropped, and
/// its `Debug` shows only their number. Take them out with
/// [`Decrypted::into_docs`], which hands the wiping over to the caller.
pub struct Decrypted {
    pub docs: Vec<Branch>,
    pub metadata: Metadata,
}

impl Decrypted {
    /// The documents, wrapped so that they are still wiped when dropped.
    pub fn into_docs(mut self) -> Zeroizing<Vec<Branch>> {
        Zeroizing::new(std::mem::take(&mut self.docs))
    }
}

impl Drop for Decrypted {
    fn drop(&mut self) {
        self.docs.zeroize();
    }
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field(
                "docs",
                &format_args!("<{} redacted documents>", self.docs.len()),
            )
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Decrypts an encrypted file's bytes, verifying the MAC unless told not to.
pub fn decrypt(
    store: &dyn Store,
    input: &[u8],
    ctx: &KeyContext,
    opts: &DecryptOptions,
) -> Result<Decrypted, Error> {
    let (docs, metadata) = store
        .load_encrypted(input)
        .map_err(|source| Error::Store { path: None, source })?;
    decrypt_loaded(docs, metadata, ctx, opts)
}

/// Decrypts documents already loaded with [`Store::load_encrypted`] (lets a
/// caller free the input bytes before the values are decrypted). On error
/// the partly decrypted documents are wiped.
pub fn decrypt_loaded(
    docs: Vec<Branch>,
    metadata: Metadata,
    ctx: &KeyContext,
    opts: &DecryptOptions,
) -> Result<Decrypted, Error> {
    decrypt_loaded_with(docs, metadata, opts, |meta| {
        Ok(recover_data_key(meta, ctx, &opts.decryption_order)?)
    })
}

/// [`decrypt_loaded`] with the data key from `key`.
fn decrypt_loaded_with(
    docs: Vec<Branch>,
    metadata: Metadata,
    opts: &DecryptOptions,
    key: impl FnOnce(&Metadata) -> Result<DataKey, Error>,
) -> Result<Decrypted, Error> {
    crate::metadata::check_version(&metadata.version).map_err(Error::Version)?;
    let key = key(&metadata)?;
    let mut docs = Zeroizing::new(docs);
    decrypt_docs(&mut docs, &key, &metadata, opts.ignore_mac)?;
    // `Decrypted` wipes them from here on.
    let docs = std::mem::take(&mut *docs);
    Ok(Decrypted { docs, metadata })
}

/// Decrypts an open encrypted file (`path` names it in errors). Where its
/// store can (YAML, JSON) and the file is large (2 MiB or more), the
/// metadata is read first from the file's end, and the values are
/// decrypted as the file is read, so that the tree never holds the whole
/// file's ciphertext: a 20 MB file then needs a quarter less memory. The
/// metadata found first is checked against the one the whole file holds;
/// when they differ, or the file is not of that shape, or anything fails
/// on the way, the file is read again and decrypted the usual way
/// ([`Store::load_encrypted_file`], [`decrypt_loaded`]), which reports
/// errors as sops does (a file's syntax before its keys); the data key
/// recovered first is used again if the metadata is the same. Errors:
/// [`Error::Io`] reading, [`Error::Store`] parsing, the others decrypting.
pub fn decrypt_open_file(
    store: &dyn Store,
    file: &mut std::fs::File,
    path: &Path,
    ctx: &KeyContext,
    opts: &DecryptOptions,
) -> Result<Decrypted, Error> {
    match open_file(store, file, path, ctx, opts, false)? {
        Plaintext::Docs(decrypted) => Ok(decrypted),
        Plaintext::Text(..) => unreachable!("a text is only written when asked for"),
    }
}

/// [`decrypt_open_file`], giving the plaintext as `store` emits it
/// ([`Store::emit_plain`]) where the file is decrypted as it is read and
/// the store can write a document run by run: each run is written once it
/// is decrypted, and no tree ever holds the file's plaintext either
/// (about a quarter less time and memory for a 20 MB YAML file).
/// Elsewhere, the documents.
pub fn decrypt_open_file_to_text(
    store: &dyn Store,
    file: &mut std::fs::File,
    path: &Path,
    ctx: &KeyContext,
    opts: &DecryptOptions,
) -> Result<Plaintext, Error> {
    open_file(store, file, path, ctx, opts, true)
}

/// What [`decrypt_open_file_to_text`] gives.
pub enum Plaintext {
    /// The documents (decrypted the usual way).
    Docs(Decrypted),
    /// The documents' text (wiped when dropped) and the metadata.
    Text(Zeroizing<Box<[u8]>>, Metadata),
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Docs(decrypted) => f.debug_tuple("Docs").field(decrypted).finish(),
            Self::Text(text, metadata) => f
                .debug_tuple("Text")
                .field(&format_args!("<{} redacted bytes>", text.len()))
                .field(metadata)
                .finish(),
        }
    }
}

/// [`decrypt_open_file`] and, with `as_text`, [`decrypt_open_file_to_text`].
fn open_file(
    store: &dyn Store,
    file: &mut std::fs::File,
    path: &Path,
    ctx: &KeyContext,
    opts: &DecryptOptions,
    as_text: bool,
) -> Result<Plaintext, Error> {
    use std::io::{Seek as _, SeekFrom};
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut known = None;
    let size = file.metadata().map_err(io)?.len();
    if size >= DECRYPT_AS_READ_FROM
        && let Some(meta) = store.peek_metadata(file).map_err(io)?
        && crate::metadata::check_version(&meta.version).is_ok()
    {
        let key = recover_data_key(&meta, ctx, &opts.decryption_order);
        if let Ok(key) = &key {
            let text = as_text
                .then(|| store.document_emitter(usize::try_from(size).unwrap_or(0)))
                .flatten();
            if let Some(done) = decrypt_as_read(store, file, key, &meta, opts, text).map_err(io)? {
                return done;
            }
            file.seek(SeekFrom::Start(0)).map_err(io)?;
        }
        known = Some((meta, key));
    }
    let (docs, metadata) = store
        .load_encrypted_file(file)
        .map_err(io)?
        .map_err(|source| Error::Store { path: None, source })?;
    let decrypted = match known {
        Some((meta, key)) if meta == metadata => {
            decrypt_loaded_with(docs, metadata, opts, |_| Ok(key?))
        }
        _ => decrypt_loaded(docs, metadata, ctx, opts),
    };
    decrypted.map(Plaintext::Docs)
}

/// From this size on [`decrypt_open_file`] decrypts a file as it is read:
/// a smaller one is a single run, with no memory to save and a thread to
/// start. (Tests decrypt every file that way.)
#[cfg(not(test))]
const DECRYPT_AS_READ_FROM: u64 = 2 * 1024 * 1024;
#[cfg(test)]
const DECRYPT_AS_READ_FROM: u64 = 1;

/// The part of [`decrypt_open_file`] that decrypts as the file is read:
/// one thread reads and parses it, another decrypts each run of top-level
/// items the reader hands over (and hashes it for the MAC) while the next
/// one is read, and hands it back to the reader. With `text`, the reader
/// writes each run it gets back and drops it (wiped); else it gives back
/// the room the run's ciphertext took, and the runs are put back together
/// in order. `Ok(None)`: not done this way (everything decrypted is
/// wiped), the file is to be read again. `meta`: the metadata found
/// first; the whole file's must be the same.
fn decrypt_as_read(
    store: &dyn Store,
    file: &mut std::fs::File,
    key: &DataKey,
    meta: &Metadata,
    opts: &DecryptOptions,
    text: Option<Box<dyn DocumentEmitter>>,
) -> std::io::Result<Option<Result<Plaintext, Error>>> {
    use crate::ops::crypt::RunDecryptor;
    use crate::tree::Item;
    let mut runs = RunDecryptor::new(key, meta, opts.ignore_mac);
    // One run may wait: the reader goes on while one is decrypted.
    let (to_worker, from_reader) = std::sync::mpsc::sync_channel::<Vec<Item>>(1);
    let (to_reader, from_worker) = std::sync::mpsc::channel::<Vec<Item>>();
    let mut done = match text {
        Some(emitter) => DecryptedRuns::Text(Some(emitter), Zeroizing::new(Branch::new())),
        None => DecryptedRuns::Tree(Vec::new()),
    };
    let (read, all_decrypted) = std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            for mut run in from_reader {
                let ok = matches!(runs.run(&mut run), Ok(true));
                // (The reader is there until this thread is joined.)
                let _ = to_reader.send(run);
                if !ok {
                    // Dropping the channel stops the reader.
                    return None;
                }
            }
            Some(runs)
        });
        let read = store.visit_encrypted_file(file, &mut |run| {
            from_worker.try_iter().for_each(|run| done.take(run));
            to_worker.send(run).is_ok()
        });
        drop(to_worker);
        let runs = worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (read, runs)
    });
    from_worker.try_iter().for_each(|run| done.take(run));
    let (Ok(true), Some(runs)) = (read.as_ref(), all_decrypted) else {
        return read.map(|_| None);
    };
    // The tree (or for a text, its `sops` entry) and its metadata are the
    // usual way's, so the same MAC error if any.
    let (mut doc, text) = match done {
        DecryptedRuns::Tree(runs) => (Zeroizing::new(Branch(runs.into_iter().flatten().collect())), None),
        DecryptedRuns::Text(Some(emitter), sops) => (sops, Some(emitter)),
        DecryptedRuns::Text(None, _) => return Ok(None),
    };
    match crate::stores::metadata_of(&doc, store.format()) {
        Some(metadata) if metadata == *meta => {
            if let Err(e) = runs.finish(meta) {
                return Ok(Some(Err(e.into())));
            }
            Ok(Some(Ok(match text {
                Some(emitter) => Plaintext::Text(emitter.into_text(), metadata),
                None => {
                    doc.remove("sops");
                    let docs = vec![std::mem::take(&mut *doc)];
                    Plaintext::Docs(Decrypted { docs, metadata })
                }
            })))
        }
        _ => Ok(None),
    }
}

/// Where [`decrypt_as_read`]'s reader puts the runs it gets back decrypted.
enum DecryptedRuns {
    /// Kept, to be put back together.
    Tree(Vec<Vec<crate::tree::Item>>),
    /// Written, and dropped; the `sops` entry (the last run's last item)
    /// is kept, for its metadata. `None` once a run could not be written
    /// (the usual way reports why).
    Text(Option<Box<dyn DocumentEmitter>>, Zeroizing<Branch>),
}

impl DecryptedRuns {
    fn take(&mut self, mut run: Vec<crate::tree::Item>) {
        use crate::tree::Item;
        match self {
            Self::Tree(runs) => {
                crate::ops::crypt::compact_strings(&mut run);
                runs.push(run);
            }
            Self::Text(emitter, sops) => {
                if matches!(run.last(), Some(Item::Entry(k, _)) if k == "sops") {
                    sops.0.extend(run.pop());
                }
                let run = Zeroizing::new(Branch(run));
                if let Some(writer) = emitter
                    && writer.write_items(&run.0).is_err()
                {
                    *emitter = None;
                }
            }
        }
    }
}

/// Decrypts an encrypted file's bytes into plaintext bytes of `out_format`
/// (the same format, or a conversion such as YAML to JSON). The result is
/// zeroized when dropped.
pub fn decrypt_to_bytes(
    input: &[u8],
    in_format: Format,
    out_format: Format,
    ctx: &KeyContext,
    opts: &DecryptOptions,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let store = in_format
        .store()
        .map_err(|source| Error::Store { path: None, source })?;
    let decrypted = decrypt(store.as_ref(), input, ctx, opts)?;
    let out_store = if out_format == in_format {
        store
    } else {
        out_format
            .store()
            .map_err(|source| Error::Store { path: None, source })?
    };
    let bytes = out_store
        .emit_plain(&decrypted.docs)
        .map_err(|source| Error::Store { path: None, source })?;
    Ok(Zeroizing::new(bytes))
}

/// Reads and decrypts a file, choosing its format from its name as sops
/// does, and returns the plaintext in the same format.
pub fn decrypt_file(path: &Path, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, Error> {
    let input = std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let format = Format::for_path(path);
    decrypt_to_bytes(&input, format, format, ctx, &DecryptOptions::default()).map_err(|e| match e {
        Error::Store { path: None, source } => Error::Store {
            path: Some(path.to_path_buf()),
            source,
        },
        other => other,
    })
}

/// Options for encrypting a new file.
#[derive(Debug, Default)]
pub struct EncryptOptions {
    /// The partial-encryption rule; `None` = sops' default `_unencrypted` suffix.
    pub rule: Option<PartialRule>,
    pub mac_only_encrypted: bool,
    /// Shamir threshold when there are several key groups (0 = all groups).
    pub shamir_threshold: usize,
}

/// Encrypts plaintext documents for the given key groups (one group = every
/// key wraps the data key; several = Shamir shares).
///
/// The documents are taken and come back only inside the
/// [`EncryptedFile`], with their metadata: encrypting in place and handing
/// back the metadata apart let callers emit the documents without it. On
/// error the documents (partly encrypted) are wiped.
pub fn encrypt(
    docs: Vec<Branch>,
    groups: &[Vec<Box<dyn MasterKey>>],
    ctx: &KeyContext,
    opts: &EncryptOptions,
) -> Result<EncryptedFile, Error> {
    let mut docs = Zeroizing::new(docs);
    let (key, mut metadata) = new_metadata(groups, ctx, opts)?;
    encrypt_docs(&mut docs, &key, &mut metadata)?;
    // Encrypted now: out of the wiping wrapper, which drops an empty vector.
    let docs = std::mem::take(&mut *docs);
    Ok(EncryptedFile::from_parts(docs, metadata))
}

/// A new data key wrapped for the key groups, and the metadata of a file
/// that has not been encrypted yet (no MAC; `encrypt_docs` fills it in).
pub fn new_metadata(
    groups: &[Vec<Box<dyn MasterKey>>],
    ctx: &KeyContext,
    opts: &EncryptOptions,
) -> Result<(DataKey, Metadata), Error> {
    if groups.iter().all(|g| g.is_empty()) {
        return Err(Error::NoKeys);
    }
    let key = DataKey::generate();
    let key_groups = wrap_data_key(&key, groups, opts.shamir_threshold, ctx)?;
    let metadata = Metadata {
        shamir_threshold: Metadata::stored_threshold(key_groups.len(), opts.shamir_threshold),
        key_groups,
        last_modified: String::new(),
        mac: String::new(),
        rule: Some(opts.rule.clone().unwrap_or_else(PartialRule::default_rule)),
        mac_only_encrypted: opts.mac_only_encrypted,
        version: SOPS_VERSION.to_owned(),
    };
    Ok((key, metadata))
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Value;

    #[cfg(feature = "age")]
    mod open_file {
        use std::io::Write as _;

        use super::*;
        use crate::metadata::PartialRule;
        use crate::stores::yaml::YamlStore;
        use crate::test_vectors::{TestIdentity, context_of, group_of};

        /// `plain` encrypted for `id` under `rule`.
        fn encrypted(plain: &str, id: &TestIdentity, rule: Option<PartialRule>) -> Vec<u8> {
            let store = YamlStore::default();
            let opts = EncryptOptions {
                rule,
                ..Default::default()
            };
            let docs = store.load(plain.as_bytes()).unwrap();
            encrypt(docs, &[group_of(&[id])], &context_of(&[]), &opts)
                .unwrap()
                .emit(&store)
                .unwrap()
        }

        /// What decrypting `bytes` gives, as plaintext or an error's text.
        fn outcome(result: Result<Decrypted, Error>) -> Result<(Vec<u8>, Metadata), String> {
            match result {
                Ok(d) => Ok((YamlStore::default().emit_plain(&d.docs).unwrap(), d.metadata.clone())),
                Err(e) => Err(format!("{e:?}")),
            }
        }

        /// Decrypting `bytes` from an open file gives what decrypting them
        /// the usual way gives.
        fn same_as_usual(bytes: &[u8], ctx: &KeyContext) -> Result<(Vec<u8>, Metadata), String> {
            let mut tmp = tempfile::NamedTempFile::new().unwrap();
            tmp.write_all(bytes).unwrap();
            let mut file = std::fs::File::open(tmp.path()).unwrap();
            let store = YamlStore::default();
            let opts = DecryptOptions::default();
            let open = outcome(decrypt_open_file(&store, &mut file, tmp.path(), ctx, &opts));
            let usual = outcome(decrypt(&store, bytes, ctx, &opts));
            assert!(open == usual, "the two ways differ");
            let mut file = std::fs::File::open(tmp.path()).unwrap();
            let text = decrypt_open_file_to_text(&store, &mut file, tmp.path(), ctx, &opts);
            let text = match text {
                Ok(Plaintext::Text(text, metadata)) => Ok((text.to_vec(), metadata)),
                Ok(Plaintext::Docs(docs)) => outcome(Ok(docs)),
                Err(e) => outcome(Err(e)),
            };
            assert!(text == usual, "the text differs from the usual way's");
            open
        }

        /// Whether `bytes` decrypt to a text written as they are read.
        fn written_as_read(bytes: &[u8], ctx: &KeyContext) -> bool {
            let mut tmp = tempfile::NamedTempFile::new().unwrap();
            tmp.write_all(bytes).unwrap();
            let mut file = std::fs::File::open(tmp.path()).unwrap();
            let opts = DecryptOptions::default();
            let store = YamlStore::default();
            let text = decrypt_open_file_to_text(&store, &mut file, tmp.path(), ctx, &opts);
            matches!(text.unwrap(), Plaintext::Text(..))
        }

        /// Top-level entries enough for several pieces of the reader, with
        /// comments between them that a comment rule reads.
        fn large_plain() -> String {
            let mut text = String::from("# head\n");
            for i in 0..6000 {
                let marker = if i % 3 == 0 { "enc" } else { "clear" };
                text.push_str(&format!(
                    "# {marker} {i}\nkey{i}:\n    name: value {i}\n    list:\n        - {i}\n        - true\n"
                ));
            }
            text.push_str("# tail\n");
            text
        }

        #[test]
        fn a_large_file_decrypts_run_by_run_as_the_usual_way_does() {
            let id = TestIdentity::generate();
            let ctx = context_of(&[&id]);
            let rule = PartialRule::EncryptedCommentRegex("^ enc".into());
            let bytes = encrypted(&large_plain(), &id, Some(rule));
            assert!(bytes.len() > 2 * 512 * 1024, "{}", bytes.len());
            let (plain, _) = same_as_usual(&bytes, &ctx).unwrap();
            assert_eq!(String::from_utf8(plain).unwrap(), large_plain());

            // The runs: several, in order, every top-level item once.
            let mut tmp = tempfile::NamedTempFile::new().unwrap();
            tmp.write_all(&bytes).unwrap();
            let mut file = std::fs::File::open(tmp.path()).unwrap();
            let store = YamlStore::default();
            let meta = store.peek_metadata(&mut file).unwrap().unwrap();
            let mut runs = Vec::new();
            let mut visit = |run: Vec<crate::tree::Item>| {
                runs.push(run);
                true
            };
            assert!(store.visit_encrypted_file(&mut file, &mut visit).unwrap());
            assert!(runs.len() > 2, "{}", runs.len());
            let doc = Branch(runs.into_iter().flatten().collect());
            let loaded = crate::stores::split_sops_key(vec![doc.clone()], Format::Yaml).unwrap();
            assert_eq!(loaded.1, meta);
            let usual = store.load_encrypted(&bytes).unwrap();
            assert!(loaded.0 == usual.0, "the runs differ from the usual tree");
        }

        #[test]
        fn a_tampered_value_fails_as_the_usual_way_does() {
            let id = TestIdentity::generate();
            let ctx = context_of(&[&id]);
            let mut bytes = encrypted(&large_plain(), &id, None);
            // A value in the middle: its ciphertext's first byte changed.
            let at = bytes.len() / 2;
            // (Not a comment's: a comment that fails to decrypt stays as it is.)
            let value = b"name: ENC[AES256_GCM,data:";
            let data = at + memchr::memmem::find(&bytes[at..], value).unwrap() + value.len();
            bytes[data] = if bytes[data] == b'A' { b'B' } else { b'A' };
            let err = same_as_usual(&bytes, &ctx).map(|_| ()).unwrap_err();
            assert!(err.contains("Decrypt"), "{err}");
            // A value swapped with another fails the MAC.
            let text = String::from_utf8(encrypted(&large_plain(), &id, None)).unwrap();
            let values: Vec<&str> = text.lines().filter(|l| l.contains("name: ENC[")).collect();
            let swapped = text
                .replacen(values[10], "@@", 1)
                .replacen(values[5000], values[10], 1)
                .replacen("@@", values[5000], 1);
            let err = same_as_usual(swapped.as_bytes(), &ctx).map(|_| ()).unwrap_err();
            assert!(err.contains("Decrypt") || err.contains("Mac"), "{err}");
        }

        #[test]
        fn a_text_written_run_by_run_is_the_usual_text() {
            let id = TestIdentity::generate();
            let ctx = context_of(&[&id]);
            let bytes = encrypted(&large_plain(), &id, Some(PartialRule::EncryptedCommentRegex("^ enc".into())));
            assert!(written_as_read(&bytes, &ctx));
            // Comments before the `sops` entry; comments without an entry
            // (`{}`); several indents. (The reader gives up on line
            // comments: the YAML store's tests split those.)
            for (plain, indent) in [
                ("a: 1\nb: 2\n", 4),
                ("# top\nx:\n  - 1\n  - 2\nv:\n  z: 3\nw: 4\n# end\n", 2),
                ("# only\n{}\n", 4),
                ("{}\n", 7),
            ] {
                let bytes = encrypted(plain, &id, None);
                let mut tmp = tempfile::NamedTempFile::new().unwrap();
                tmp.write_all(&bytes).unwrap();
                let store = YamlStore {
                    indent,
                    ..YamlStore::default()
                };
                let opts = DecryptOptions::default();
                let mut file = std::fs::File::open(tmp.path()).unwrap();
                let text = decrypt_open_file_to_text(&store, &mut file, tmp.path(), &ctx, &opts);
                let Ok(Plaintext::Text(text, _)) = text else {
                    panic!("{plain:?} was not written as read:\n{}", String::from_utf8_lossy(&bytes));
                };
                let usual = decrypt(&store, &bytes, &ctx, &opts).unwrap();
                let usual = store.emit_plain(&usual.docs).unwrap();
                assert_eq!(String::from_utf8_lossy(&text), String::from_utf8_lossy(&usual), "{plain:?}");
            }
        }

        /// JSON: the same as the usual way, as a text or an error.
        #[test]
        fn a_large_json_file_decrypts_as_read_as_the_usual_way_does() {
            use crate::stores::json::JsonStore;
            let id = TestIdentity::generate();
            let ctx = context_of(&[&id]);
            let store = JsonStore::default();
            let mut plain = String::from("{");
            for i in 0..3000 {
                plain.push_str(&format!(
                    "\"key{i}\": {{\"name\": \"value {i} <&>\", \"list\": [{i}, true, null, 1.5, {{}}, []]}}, \"n{i}_unencrypted\": {i},"
                ));
            }
            plain.push_str("\"last\": {}}");
            let docs = store.load(plain.as_bytes()).unwrap();
            let bytes = encrypt(docs, &[group_of(&[&id])], &context_of(&[]), &EncryptOptions::default())
                .unwrap()
                .emit(&store)
                .unwrap();
            let opts = DecryptOptions::default();
            let outcome = |bytes: &[u8]| {
                let mut tmp = tempfile::NamedTempFile::new().unwrap();
                tmp.write_all(bytes).unwrap();
                let mut file = std::fs::File::open(tmp.path()).unwrap();
                let text = match decrypt_open_file_to_text(&store, &mut file, tmp.path(), &ctx, &opts) {
                    Ok(Plaintext::Text(text, _)) => Ok((true, text.to_vec())),
                    Ok(Plaintext::Docs(d)) => Ok((false, store.emit_plain(&d.docs).unwrap())),
                    Err(e) => Err(format!("{e:?}")),
                };
                let usual = decrypt(&store, bytes, &ctx, &opts)
                    .map(|d| store.emit_plain(&d.docs).unwrap())
                    .map_err(|e| format!("{e:?}"));
                assert_eq!(text.clone().map(|(_, t)| t), usual);
                text.map(|(as_read, _)| as_read)
            };
            assert_eq!(outcome(&bytes), Ok(true));
            // The reader hands over many runs.
            let mut tmp = tempfile::NamedTempFile::new().unwrap();
            tmp.write_all(&bytes).unwrap();
            let mut runs = 0;
            let mut visit = |_: Vec<crate::tree::Item>| {
                runs += 1;
                true
            };
            let mut file = std::fs::File::open(tmp.path()).unwrap();
            assert!(store.visit_encrypted_file(&mut file, &mut visit).unwrap());
            assert!(runs > 3, "{runs}");
            // A tampered value, text after the object, and a numeric version
            // go the usual way, with its errors.
            let text = String::from_utf8(bytes.clone()).unwrap();
            let at = text.find("ENC[AES256_GCM,data:").unwrap() + 20;
            let mut tampered = bytes.clone();
            tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
            assert!(outcome(&tampered).unwrap_err().contains("Decrypt"));
            assert!(outcome(format!("{text}x").as_bytes()).unwrap_err().contains("Store"));
            let old = text.replace("\"version\": \"3.11.0\"", "\"version\": 1");
            assert_ne!(old, text);
            assert!(outcome(old.as_bytes()).unwrap_err().contains("Store"));
        }

        #[test]
        fn other_shapes_are_read_again_the_usual_way() {
            let id = TestIdentity::generate();
            let ctx = context_of(&[&id]);
            let text = String::from_utf8(encrypted("a: 1\nb: two\n", &id, None)).unwrap();
            let at = text.find("sops:").unwrap();
            // The sops key first: a run with entries after it.
            let first = format!("{}{}", &text[at..], &text[..at]);
            let (plain, _) = same_as_usual(first.as_bytes(), &ctx).unwrap();
            assert_eq!(plain, b"a: 1\nb: two\n");
            // A comment after the sops key.
            let (plain, _) = same_as_usual(format!("{text}# after\n").as_bytes(), &ctx).unwrap();
            assert_eq!(plain, b"a: 1\nb: two\n# after\n");
            // A syntax error before the metadata: the parser's error.
            let broken = text.replacen("b: ", "b: [", 1);
            let err = same_as_usual(broken.as_bytes(), &ctx).map(|_| ()).unwrap_err();
            assert!(err.contains("Store"), "{err}");
            // Without the key: the key's error, the usual way's.
            let err = same_as_usual(text.as_bytes(), &context_of(&[])).map(|_| ()).unwrap_err();
            assert!(err.contains("Recovery"), "{err}");
            // Two documents.
            let two = String::from_utf8(encrypted("a: 1\n---\nb: 2\n", &id, None)).unwrap();
            let (plain, _) = same_as_usual(two.as_bytes(), &ctx).unwrap();
            assert_eq!(plain, b"a: 1\n---\nb: 2\n");
        }
    }

    #[test]
    fn decrypted_debug_hides_the_documents() {
        let mut doc = Branch::new();
        doc.push("password", Value::Str("hunter2".into()));
        let decrypted = Decrypted {
            docs: vec![doc],
            metadata: Metadata {
                key_groups: Vec::new(),
                shamir_threshold: 0,
                last_modified: String::new(),
                mac: String::new(),
                rule: None,
                mac_only_encrypted: false,
                version: SOPS_VERSION.to_owned(),
            },
        };
        let text = format!("{decrypted:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<1 redacted documents>"), "{text}");
        let plain = Zeroizing::new(b"password: hunter2\n".to_vec().into_boxed_slice());
        let text = format!("{:?}", Plaintext::Text(plain, decrypted.metadata.clone()));
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<18 redacted bytes>"), "{text}");
        let docs = decrypted.into_docs();
        assert_eq!(docs[0].get("password"), Some(&Value::Str("hunter2".into())));
    }
}
