//! File formats. Each store only deals with syntax: it parses bytes into
//! documents ([`Branch`]es) and emits documents back; the `sops` block is a
//! branch like any other and is converted by [`metadata_serde`].

pub mod binary;
pub mod dotenv;
pub mod flatten;
pub mod ini;
pub mod json;
pub mod metadata_serde;
mod raw_text;
pub mod yaml;

#[cfg(test)]
mod tests;

use std::path::Path;

use crate::metadata::Metadata;
use crate::tree::{Branch, Item, Value};

/// A file format sops knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML (`.yaml`, `.yml`), possibly several documents.
    Yaml,
    /// JSON (`.json`).
    Json,
    /// dotenv (`.env`): `KEY=value` lines.
    Dotenv,
    /// INI (`.ini`): sections of `key = value`.
    Ini,
    /// Any other file, kept as one opaque value under `data`.
    Binary,
}

impl Format {
    /// `--input-type`/`--output-type` names; `None` for anything else
    /// (sops then silently falls back to the file extension).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => return None,
        })
    }

    /// The format for a file name: `.yaml`/`.yml`, `.json`, `.env`, `.ini`,
    /// anything else (or no name) is binary.
    pub fn for_path(path: &Path) -> Self {
        let name = path.to_string_lossy();
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else if name.ends_with(".json") {
            Format::Json
        } else if name.ends_with(".env") {
            Format::Dotenv
        } else if name.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// The name `--input-type` and `--output-type` take (`yaml`, `json` …).
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }

    /// True if a top-level key `key` of a document would collide with the
    /// metadata of an encrypted file of this format: `sops` (YAML, JSON,
    /// binary; an INI section), any `sops_…` key in dotenv, where the
    /// metadata is flattened to such keys. `sops set` refuses those: sops
    /// 3.11 writes them and the file can no longer be read.
    pub fn is_metadata_key(self, key: &str) -> bool {
        match self {
            Format::Dotenv => key.starts_with("sops_"),
            Format::Yaml | Format::Json | Format::Ini | Format::Binary => key == "sops",
        }
    }

    /// The store for this format, with the default [`StoreLimits`].
    // Hidden: the store is the crate's plumbing (for the workspace's binaries).
    #[doc(hidden)]
    pub fn store(self) -> Result<Box<dyn Store>, StoreError> {
        self.store_with(&StoreLimits::default())
    }

    /// The store for this format with the given parsing limits (the formats
    /// without nesting, dotenv, INI and binary, have none to apply).
    // Hidden: the store is the crate's plumbing (for the workspace's binaries).
    #[doc(hidden)]
    pub fn store_with(self, limits: &StoreLimits) -> Result<Box<dyn Store>, StoreError> {
        match self {
            Format::Yaml => Ok(Box::new(yaml::YamlStore {
                limits: *limits,
                ..yaml::YamlStore::default()
            })),
            Format::Json => Ok(Box::new(json::JsonStore {
                limits: *limits,
                ..json::JsonStore::default()
            })),
            Format::Binary => Ok(Box::new(binary::BinaryStore::default())),
            Format::Dotenv => Ok(Box::new(dotenv::DotenvStore)),
            Format::Ini => Ok(Box::new(ini::IniStore)),
        }
    }
}

/// True if `bytes` (a whole file, or its head and tail) hold the MAC line
/// of a `sops` block in one of the text formats: `mac`, then (after an
/// optional closing quote and blanks) `:` or `=`, blanks, and a value that
/// reads as `ENC[`: `mac: ENC[` (YAML), `"mac": "ENC[` or `"mac":"ENC["`
/// (JSON), `sops_mac=ENC[` (dotenv), `mac    = ENC[` (INI, whose `=` sops
/// aligns), the value possibly quoted and, in double quotes, written with
/// escapes (`"\x45NC[`, `"\u0045NC[`), which sops' parsers read as the
/// same MAC. One pass over the bytes; a cheap pre-check, the store's
/// `load_encrypted` decides.
pub fn looks_like_sops_file(bytes: &[u8]) -> bool {
    const KEY: &[u8] = b"mac";
    bytes
        .windows(KEY.len())
        .enumerate()
        .any(|(i, w)| w == KEY && mac_value_follows(&bytes[i + KEY.len()..]))
}

/// After a `mac` key: what [`looks_like_sops_file`] looks for.
fn mac_value_follows(rest: &[u8]) -> bool {
    let blanks = |mut i: usize| {
        while matches!(rest.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(matches!(rest.first(), Some(b'"' | b'\'')));
    i = blanks(i);
    if !matches!(rest.get(i), Some(b':' | b'=')) {
        return false;
    }
    i = blanks(i + 1);
    let quote = rest.get(i).copied().filter(|q| matches!(q, b'"' | b'\''));
    if quote.is_some() {
        i += 1;
    }
    for &expected in b"ENC[" {
        let (c, len) = match (quote, rest.get(i..)) {
            (Some(b'"'), Some(text)) => match escaped_char(text) {
                Some(decoded) => decoded,
                None => return false,
            },
            (_, Some([c, ..])) => (u32::from(*c), 1),
            _ => return false,
        };
        if c != u32::from(expected) {
            return false;
        }
        i += len;
    }
    true
}

/// The first character of double-quoted text and its length in bytes,
/// reading the escapes YAML and JSON share for any character (`\xHH`,
/// `\uHHHH`, `\UHHHHHHHH`); other escapes give the escaped byte itself.
fn escaped_char(text: &[u8]) -> Option<(u32, usize)> {
    let (&first, rest) = text.split_first()?;
    if first != b'\\' {
        return Some((u32::from(first), 1));
    }
    let (&kind, rest) = rest.split_first()?;
    let digits = match kind {
        b'x' => 2,
        b'u' => 4,
        b'U' => 8,
        _ => return Some((u32::from(kind), 2)),
    };
    let hex = std::str::from_utf8(rest.get(..digits)?).ok()?;
    let value = u32::from_str_radix(hex, 16).ok()?;
    Some((value, 2 + digits))
}

/// Default nesting limit of the YAML and JSON stores: mappings and
/// sequences inside each other, the document's root counting as one.
///
/// sops 3.11 refuses deeper input only at 10 000 levels (go-yaml v3: "yaml:
/// exceeded max depth of 10000"; Go's `encoding/json`: "exceeded max
/// depth"), where it relies on Go's growable stacks. The tree's derived
/// `Clone`, `Drop` and `PartialEq`, the value walk and the YAML emitter
/// recurse once per level; measured on a 2 MiB thread (rayon's workers, test
/// threads) in a debug build, cloning a nested mapping overflows at about
/// 1 500 levels, the walk at about 5 000, dropping at about 8 700. 1 000
/// leaves room for the callers' own frames, and no real file comes near it
/// (serde_json's default limit is 128, Kubernetes objects nest about 20 deep).
pub const DEFAULT_MAX_DEPTH: usize = 1_000;

/// Default fixed part of the YAML alias budget (see [`StoreLimits`]).
pub const DEFAULT_MAX_ALIAS_NODES: usize = 100_000;

/// Default proportional part of the YAML alias budget (see [`StoreLimits`]).
pub const DEFAULT_ALIAS_NODES_PER_NODE: usize = 10;

/// Default fixed part of the YAML alias byte budget (see [`StoreLimits`]).
pub const DEFAULT_MAX_ALIAS_BYTES: usize = 64 * 1024 * 1024;

/// Default proportional part of the YAML alias byte budget (see [`StoreLimits`]).
pub const DEFAULT_ALIAS_BYTES_PER_INPUT_BYTE: usize = 16;

/// What parsing one input may build. The defaults are what the CLI uses; a
/// service parsing untrusted files (the Argo CD plugin) sets stricter ones
/// and passes them to [`Format::store_with`]. Build one with
/// `StoreLimits { max_depth: 100, ..StoreLimits::default() }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// YAML and JSON: most mappings and sequences nested inside each other,
    /// the root counting as one (`a: [1]` is 2 deep); a value copied by a
    /// YAML alias counts at the depth where it is pasted. Deeper input is
    /// [`StoreError::TooDeep`]. Values above [`DEFAULT_MAX_DEPTH`] are
    /// accepted but risk stack overflows on small thread stacks.
    pub max_depth: usize,
    /// YAML: aliases may expand to at most `max_alias_nodes` nodes plus
    /// `alias_nodes_per_node` per node actually written in the file, for the
    /// whole input ("billion laughs" guard; go-yaml v3 uses a similar
    /// size-dependent allowance). More is [`StoreError::ExcessiveAliasing`].
    pub max_alias_nodes: usize,
    /// YAML: see `max_alias_nodes`; 0 makes `max_alias_nodes` a fixed cap.
    pub alias_nodes_per_node: usize,
    /// YAML: aliases may add at most `max_alias_bytes` bytes of text
    /// (strings, mapping keys, comments, binary data) plus
    /// `alias_bytes_per_input_byte` per byte of the input, for the whole
    /// input. The node budget alone lets a few hundred aliases of one large
    /// scalar expand a 1 MB file to hundreds of megabytes. More is
    /// [`StoreError::AliasExpansionTooLarge`]. sops 3.11 has no such limit.
    pub max_alias_bytes: usize,
    /// YAML: see `max_alias_bytes`; 0 makes `max_alias_bytes` a fixed cap.
    pub alias_bytes_per_input_byte: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_depth: DEFAULT_MAX_DEPTH,
            max_alias_nodes: DEFAULT_MAX_ALIAS_NODES,
            alias_nodes_per_node: DEFAULT_ALIAS_NODES_PER_NODE,
            max_alias_bytes: DEFAULT_MAX_ALIAS_BYTES,
            alias_bytes_per_input_byte: DEFAULT_ALIAS_BYTES_PER_INPUT_BYTE,
        }
    }
}

/// Errors of parsing and emitting. Messages never contain values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Malformed input; `line` is 1-based when known.
    #[error("{format}: line {line}: {message}")]
    Syntax {
        format: &'static str,
        line: usize,
        message: String,
    },
    /// Well-formed input of a shape sops cannot use (top-level list, …).
    #[error("{0}")]
    Shape(String),
    /// The input had no document at all.
    #[error("File cannot be completely empty, it must contain at least one document")]
    Empty,
    #[error("sops metadata not found")]
    MetadataNotFound,
    #[error("invalid sops metadata: {0}")]
    Metadata(String),
    /// A value this store cannot write.
    #[error("{0}")]
    Emit(String),
    #[error("the {0} format is not supported yet")]
    Unsupported(&'static str),
    /// Mappings and sequences nested deeper than
    /// [`StoreLimits::max_depth`] (go-yaml v3's wording).
    #[error("{format}: line {line}: exceeded max depth of {max_depth}")]
    TooDeep {
        format: &'static str,
        line: usize,
        max_depth: usize,
    },
    /// YAML aliases expanding to more nodes than the budget of
    /// [`StoreLimits`] allows (go-yaml v3's wording).
    #[error("yaml: document contains excessive aliasing")]
    ExcessiveAliasing {
        /// The budget at the point it was exceeded (fixed plus proportional part).
        budget: usize,
    },
    /// YAML aliases adding more bytes of text than the byte budget of
    /// [`StoreLimits`] allows (our own limit; sops 3.11 has none).
    #[error("yaml: aliases expand to more than {budget} bytes")]
    AliasExpansionTooLarge {
        /// The budget at the point it was exceeded (fixed plus proportional part).
        budget: usize,
    },
}

/// The metadata from the `sops` key of the first document, and the
/// documents without their `sops` key (the default
/// [`Store::load_encrypted`], after the documents are loaded).
pub fn split_sops_key(
    mut docs: Vec<Branch>,
    format: Format,
) -> Result<(Vec<Branch>, Metadata), StoreError> {
    let meta = match docs.first().and_then(|d| d.get("sops")) {
        Some(Value::Map(b)) => metadata_serde::from_branch(b, format)?,
        Some(_) => {
            return Err(StoreError::Metadata(
                "the sops key does not hold a mapping".into(),
            ));
        }
        None => return Err(StoreError::MetadataNotFound),
    };
    for doc in &mut docs {
        doc.remove("sops");
    }
    Ok((docs, meta))
}

/// The metadata `doc`'s `sops` key holds, if it reads as such (for
/// readers that check a hint, not for errors: see [`split_sops_key`]).
pub(crate) fn metadata_of(doc: &Branch, format: Format) -> Option<Metadata> {
    match doc.get("sops") {
        Some(Value::Map(b)) => metadata_serde::from_branch(b, format).ok(),
        _ => None,
    }
}

/// How much text a store's [`Store::visit_encrypted_file`] reads between
/// runs it hands over. Each run is a message to the decrypting thread and
/// a pass of the reader over the run it gets back; 1 MiB (about 8 000
/// values) keeps both rare and only a few runs' ciphertext in memory.
/// (Tests hand over runs more often, so that files of a megabyte have
/// many.)
#[cfg(not(test))]
pub(crate) const VISIT_EVERY: usize = 1024 * 1024;
#[cfg(test)]
pub(crate) const VISIT_EVERY: usize = 64 * 1024;

/// The most of a file's end [`read_tail`] reads to find its `sops` key
/// (a metadata block with hundreds of keys fits many times over).
const TAIL_MAX: u64 = 4 << 20;

/// The end of `file` (a regular file) from where `find` finds the `sops`
/// key in it, where sops writes its metadata; `None` if it does not in
/// the last [`TAIL_MAX`] bytes. `find` is given a tail and whether it is
/// the whole file. The file is left at its start. What this finds is a
/// hint ([`Store::peek_metadata`]).
pub(crate) fn read_tail(
    file: &mut std::fs::File,
    find: impl Fn(&[u8], bool) -> Option<usize>,
) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(None);
    }
    let len = meta.len();
    let mut size = 64 * 1024;
    let found = loop {
        let n = size.min(len);
        file.seek(SeekFrom::Start(len - n))?;
        let mut tail = Vec::new();
        file.by_ref().take(n).read_to_end(&mut tail)?;
        let at_start = n == len;
        match find(&tail, at_start) {
            Some(at) => {
                tail.drain(..at);
                break Some(tail);
            }
            None if at_start || n >= TAIL_MAX => break None,
            None => size = n.saturating_mul(4),
        }
    };
    file.seek(SeekFrom::Start(0))?;
    Ok(found)
}

/// The rest of `file`, in a buffer wiped when dropped.
pub fn read_whole(file: &mut std::fs::File) -> std::io::Result<zeroize::Zeroizing<Vec<u8>>> {
    use std::io::Read as _;
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Makes room in `text` (plaintext, only ever appended to) for `room` more
/// bytes before a [`DocumentEmitter`] writes a run: grown here, the old
/// buffer is wiped (up to its length: the room past it never held text,
/// and wiping it would touch pages never used); grown by the `Vec` itself
/// while a run is written, its old copy would go back to the allocator
/// unwiped.
pub(crate) fn make_room_wiped(text: &mut Vec<u8>, room: usize) {
    if text.capacity() - text.len() >= room {
        return;
    }
    let mut grown = Vec::with_capacity((text.capacity() * 2).max(text.len() + room));
    grown.extend_from_slice(text);
    zeroize::Zeroize::zeroize(text.as_mut_slice());
    *text = grown;
}

/// One plaintext document's text, written run by run
/// ([`Store::document_emitter`]).
pub trait DocumentEmitter {
    /// Writes the next top-level items. An error is the one
    /// [`Store::emit_plain`] gives for them (a value the format cannot
    /// hold); nothing more can be written then.
    fn write_items(&mut self, items: &[Item]) -> Result<(), StoreError>;

    /// The text: what [`Store::emit_plain`] gives for the one document
    /// made of every item given, in order. (Dropped before, the text so far
    /// is wiped.)
    fn into_text(self: Box<Self>) -> zeroize::Zeroizing<Box<[u8]>>;
}

/// One file format.
///
/// `load` parses every document, keeping a top-level `sops` key if there is
/// one; `emit_docs` writes documents and, when `metadata` is given, appends
/// it as the last key `sops` of every document (the form of an encrypted
/// file). Stores whose metadata is not a nested `sops` key (dotenv, INI)
/// override [`load_encrypted`](Store::load_encrypted) and
/// [`emit_docs`](Store::emit_docs).
///
/// Callers say which file they write: [`emit_plain`](Store::emit_plain)
/// (plaintext, no metadata) or [`emit_encrypted`](Store::emit_encrypted)
/// (metadata required). There used to be one `emit(docs, Option<…>)`, and
/// `emit(&docs, None)` after encrypting wrote a file without its metadata.
pub trait Store: Send + Sync {
    fn format(&self) -> Format;

    /// Parses plaintext or encrypted input into documents.
    fn load(&self, input: &[u8]) -> Result<Vec<Branch>, StoreError>;

    /// Emits documents; `metadata` is the `sops` block of an encrypted file.
    /// The stores' hook: callers use [`Store::emit_plain`] or
    /// [`Store::emit_encrypted`].
    fn emit_docs(&self, docs: &[Branch], metadata: Option<&Branch>) -> Result<Vec<u8>, StoreError>;

    /// Emits plaintext documents (no metadata).
    fn emit_plain(&self, docs: &[Branch]) -> Result<Vec<u8>, StoreError> {
        self.emit_docs(docs, None)
    }

    /// Writes plaintext documents (what [`emit_plain`](Store::emit_plain)
    /// returns) to `w`. Stores that can write as they emit (YAML) hold a
    /// small buffer, wiped as it goes, instead of the whole text. The outer
    /// error is writing's, the inner one the store's (then nothing was
    /// written).
    fn write_plain(
        &self,
        docs: &[Branch],
        w: &mut dyn std::io::Write,
    ) -> std::io::Result<Result<(), StoreError>> {
        let bytes = match self.emit_plain(docs) {
            Ok(bytes) => zeroize::Zeroizing::new(bytes),
            Err(e) => return Ok(Err(e)),
        };
        w.write_all(&bytes)?;
        Ok(Ok(()))
    }

    /// Emits a single value (for `--extract` of a non-mapping, non-string value).
    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, StoreError>;

    /// Parses an encrypted file: documents without the `sops` key, and the
    /// metadata from the first document.
    fn load_encrypted(&self, input: &[u8]) -> Result<(Vec<Branch>, Metadata), StoreError> {
        split_sops_key(self.load(input)?, self.format())
    }

    /// [`load_encrypted`](Store::load_encrypted) of an open file. The outer
    /// error is reading's, the inner one the store's. Stores that can read
    /// a file piece by piece (YAML) keep only a window of its text next to
    /// the tree; the others read it whole.
    fn load_encrypted_file(
        &self,
        file: &mut std::fs::File,
    ) -> std::io::Result<Result<(Vec<Branch>, Metadata), StoreError>> {
        let bytes = read_whole(file)?;
        Ok(self.load_encrypted(&bytes))
    }

    /// The metadata of an open encrypted file, read from where sops writes
    /// it (the end) without the rest: `Ok(None)` when this store cannot,
    /// or did not find it there. A hint for
    /// [`visit_encrypted_file`](Store::visit_encrypted_file), whose caller
    /// checks it against the metadata the whole file holds.
    /// The file is left at its start.
    fn peek_metadata(&self, file: &mut std::fs::File) -> std::io::Result<Option<Metadata>> {
        let _ = file;
        Ok(None)
    }

    /// Reads an open encrypted file of one document and hands `visit` its
    /// top-level items (the `sops` entry among them) in runs, in order,
    /// as soon as each run has been read: decryption as the file is read,
    /// so that no tree ever holds all of its ciphertext. `Ok(true)`: every
    /// item was handed over. `Ok(false)`: this store cannot, the file is
    /// not of a shape it can do it for (several documents, say), `visit`
    /// refused a run (returned `false`), or the file is in error; what was
    /// read and not handed over is wiped, and the caller rewinds the file
    /// and loads it the usual way, which reports any error.
    fn visit_encrypted_file(
        &self,
        file: &mut std::fs::File,
        visit: &mut dyn FnMut(Vec<Item>) -> bool,
    ) -> std::io::Result<bool> {
        let _ = (file, visit);
        Ok(false)
    }

    /// An emitter of one plaintext document given in runs of its
    /// top-level items (as [`visit_encrypted_file`](Store::visit_encrypted_file)
    /// hands them over), for a text of about `capacity` bytes: each run is
    /// written as it comes, and the items can then go. `None`: this store
    /// cannot (it emits whole documents only).
    fn document_emitter(&self, capacity: usize) -> Option<Box<dyn DocumentEmitter>> {
        let _ = capacity;
        None
    }

    /// Emits an encrypted file.
    fn emit_encrypted(&self, docs: &[Branch], meta: &Metadata) -> Result<Vec<u8>, StoreError> {
        let style = match self.format() {
            Format::Json | Format::Binary => metadata_serde::EmptyListStyle::Null,
            _ => metadata_serde::EmptyListStyle::EmptySeq,
        };
        self.emit_docs(docs, Some(&metadata_serde::to_branch(meta, style)))
    }

    /// True if the plaintext already looks encrypted (sops' exit 203 check):
    /// a top-level `sops` key in the first document.
    fn looks_encrypted(&self, docs: &[Branch]) -> bool {
        docs.first().is_some_and(|d| d.get("sops").is_some())
    }
}
