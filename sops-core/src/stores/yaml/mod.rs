//! YAML store (sops-format §5.1): parser events into the sops tree with
//! comments as items, and an emitter reproducing go-yaml v3's output.
//!
//! * `resolve`: plain-scalar typing as go-yaml v3 does it (null, bool,
//!   int, float, timestamp), shared by the loader and the emitter's quoting.
//! * `load`: streaming event consumer building the tree, with
//!   sops' comment placement, alias expansion under a budget, and the
//!   errors sops reports (duplicate and non-string keys, top-level shape).
//! * `emit`: the writer (indentation, string styles, comments).

mod emit;
mod load;
mod resolve;
#[cfg(test)]
mod tests;

use crate::metadata::Metadata;
use crate::stores::{DocumentEmitter, Format, Store, StoreError, StoreLimits};
use crate::tree::{Branch, Item, Value};

/// The YAML store. `indent` is the emitter's indentation (sops default 4;
/// go-yaml uses 2 for anything outside 2..=9, 0 means the default);
/// `limits` bound nesting and alias expansion while loading.
#[derive(Debug, Clone)]
pub struct YamlStore {
    pub indent: usize,
    pub limits: StoreLimits,
}

impl Default for YamlStore {
    fn default() -> Self {
        Self {
            indent: 4,
            limits: StoreLimits::default(),
        }
    }
}

/// A rough size of the emitted text, to allocate the output once
/// (`m10_emit_allocates_once`). A change that keeps it above the output
/// size (with `capacity`'s eighth) costs memory and nothing else, so such
/// mutants here and in `capacity` live on as equivalent.
fn estimate(docs: &[Branch]) -> usize {
    docs.iter().map(|d| estimate_items(&d.0, 0) + 4).sum()
}

/// [`estimate`] of a mapping's items at nesting `depth`.
fn estimate_items(items: &[Item], depth: usize) -> usize {
    fn value(v: &Value, depth: usize) -> usize {
        match v {
            Value::Map(b) => estimate_items(&b.0, depth + 1),
            Value::Seq(items) => items
                .iter()
                .map(|v| depth * 4 + 4 + value(v, depth + 1))
                .sum(),
            Value::Str(s) | Value::Comment(crate::tree::Comment { text: s, .. }) => s.len() + 2,
            Value::Bytes(b) => b.len() * 4 / 3 + 12,
            _ => 24,
        }
    }
    items
        .iter()
        .map(|i| match i {
            Item::Comment(c) => depth * 4 + c.len() + 2,
            Item::Entry(k, v) => depth * 4 + k.len() + 3 + value(v, depth),
        })
        .sum()
}

/// The output buffer `emit` allocates: the estimate, the metadata block
/// once per document, and an eighth more for what the estimate misses.
fn capacity(docs: &[Branch], metadata: Option<&Branch>) -> usize {
    let extra = metadata.map_or(0, |m| estimate(std::slice::from_ref(m)) + 8);
    let capacity = estimate(docs) + extra * docs.len();
    capacity + capacity / 8
}

/// The documents, separated as go-yaml separates them.
fn write_docs(e: &mut emit::Emitter<'_>, docs: &[Branch], metadata: Option<&Branch>) {
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            e.out.extend_from_slice(b"---\n");
        }
        e.document(doc, metadata);
    }
}

impl YamlStore {
    /// An encrypted file's documents and metadata from what `load` made of
    /// its text.
    fn encrypted_docs(
        &self,
        loaded: Result<Vec<Branch>, StoreError>,
    ) -> Result<(Vec<Branch>, Metadata), StoreError> {
        // sops 3.11 reads an encrypted file's metadata first
        // (`yaml.Unmarshal` into its `SopsFile`), which finds nothing in a
        // file without a document (empty, blank, only comments): "sops
        // metadata not found" (exit 1), not the plain load's errors.
        match loaded {
            Err(e) if load::is_no_document(&e) => Err(StoreError::MetadataNotFound),
            docs => crate::stores::split_sops_key(docs?, self.format()),
        }
    }
}

impl Store for YamlStore {
    fn format(&self) -> Format {
        Format::Yaml
    }

    fn load(&self, input: &[u8]) -> Result<Vec<Branch>, StoreError> {
        load::load(input, &self.limits)
    }

    fn load_encrypted(
        &self,
        input: &[u8],
    ) -> Result<(Vec<Branch>, Metadata), StoreError> {
        self.encrypted_docs(self.load(input))
    }

    fn load_encrypted_file(
        &self,
        file: &mut std::fs::File,
    ) -> std::io::Result<Result<(Vec<Branch>, Metadata), StoreError>> {
        Ok(self.encrypted_docs(load::load_file(file, &self.limits)?))
    }

    fn peek_metadata(&self, file: &mut std::fs::File) -> std::io::Result<Option<Metadata>> {
        // The last line that starts with `sops:`.
        let tail = crate::stores::read_tail(file, |tail, at_start| {
            memchr::memmem::rfind_iter(tail, b"sops:").find(|&at| {
                (at > 0 && tail[at - 1] == b'\n' || at == 0 && at_start)
                    && matches!(tail.get(at + 5), None | Some(b'\n' | b'\r' | b' '))
            })
        })?;
        let Some(tail) = tail.and_then(|tail| String::from_utf8(tail).ok()) else {
            return Ok(None);
        };
        let docs = load::load_fast(&tail, &self.limits);
        Ok(match docs.as_deref() {
            Some([doc]) => crate::stores::metadata_of(doc, self.format()),
            _ => None,
        })
    }

    fn visit_encrypted_file(
        &self,
        file: &mut std::fs::File,
        visit: &mut dyn FnMut(Vec<Item>) -> bool,
    ) -> std::io::Result<bool> {
        Ok(load::load_file_visiting(file, &self.limits, Some(visit))?.is_some())
    }

    fn document_emitter(&self, capacity: usize) -> Option<Box<dyn DocumentEmitter>> {
        Some(Box::new(emit::DocumentRuns::new(self.indent, capacity)))
    }

    fn emit_docs(&self, docs: &[Branch], metadata: Option<&Branch>) -> Result<Vec<u8>, StoreError> {
        let mut e = emit::Emitter::new(self.indent, capacity(docs, metadata));
        write_docs(&mut e, docs, metadata);
        Ok(e.out)
    }

    fn write_plain(
        &self,
        docs: &[Branch],
        w: &mut dyn std::io::Write,
    ) -> std::io::Result<Result<(), StoreError>> {
        let mut e = emit::Emitter::streaming(self.indent, w);
        write_docs(&mut e, docs, None);
        e.finish().map(Ok)
    }

    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, StoreError> {
        let mut e = emit::Emitter::new(self.indent, 256);
        e.value(value);
        Ok(e.out)
    }
}

impl DocumentEmitter for emit::DocumentRuns {
    fn write_items(&mut self, items: &[Item]) -> Result<(), StoreError> {
        emit::DocumentRuns::write_items(self, items);
        Ok(())
    }

    fn into_text(self: Box<Self>) -> zeroize::Zeroizing<Box<[u8]>> {
        emit::DocumentRuns::into_text(*self)
    }
}
