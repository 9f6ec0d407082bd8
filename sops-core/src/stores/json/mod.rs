//! JSON store (sops-format §5.2): an order- and duplicate-preserving parser
//! into the tree (`parse`) and a writer reproducing Go `encoding/json` +
//! `json.Indent` (`emit`). The binary store reuses both for its envelope.
//!
//! One deliberate difference from sops 3.11: integers that fit an i64 are
//! read as [`Value::Int`] (sops 3.13.2 does the same), so `9007199254740993`
//! survives; 3.11 reads every number as a float64 and prints
//! `9007199254740992`. Both versions decrypt files of the other.

pub(crate) mod emit;
pub(crate) mod parse;

#[cfg(test)]
mod tests;

use crate::metadata::Metadata;
use crate::stores::{DocumentEmitter, Format, Store, StoreError, StoreLimits, metadata_serde};
use crate::tree::{Branch, Item, Value};

use self::emit::Writer;
use self::parse::{Mode, Parsed};

/// The JSON store. `indent`: `None` = one tab per level (sops default), else
/// N spaces (0 = no indentation, still one member per line). Of `limits`
/// only `max_depth` applies (JSON has no aliases).
#[derive(Debug, Clone, Default)]
pub struct JsonStore {
    pub indent: Option<usize>,
    pub limits: StoreLimits,
}

/// sops 3.11's message for a numeric `version` (files of SOPS 1.x).
const SOPS1_VERSION: &str = "SOPS versions higher than 2.0.10 can not automatically decrypt JSON files created with SOPS 1.x. In order to be able to decrypt this file, you can either edit it manually and make sure the JSON value under `sops -> version` is a string and not a number, or you can rotate the file's key with any version of SOPS between 2.0 and 2.0.10 using `sops -r your_file.json`";

impl JsonStore {
    fn indent_unit(&self) -> Vec<u8> {
        match self.indent {
            None => b"\t".to_vec(),
            Some(n) => vec![b' '; n],
        }
    }

    /// The document `root` (plus `"sops": meta` as last member), indented,
    /// with a trailing newline.
    pub(crate) fn emit_document(
        &self,
        root: &Branch,
        metadata: Option<&Branch>,
    ) -> Result<Vec<u8>, StoreError> {
        let unit = self.indent_unit();
        let mut size = emit::estimate_size(root, unit.len());
        if let Some(meta) = metadata {
            size += emit::estimate_size(meta, unit.len());
        }
        let mut w = Writer::new(&unit, size);
        w.document(root, metadata.map(|m| ("sops", m)))?;
        w.out.push(b'\n');
        Ok(w.out)
    }

    /// Parses an encrypted file as sops does (`json.Unmarshal` first): the
    /// whole input must be one JSON value, trailing text is an error.
    pub(crate) fn load_encrypted_json(
        &self,
        input: &[u8],
    ) -> Result<(Vec<Branch>, Metadata), StoreError> {
        let Parsed { mut branch, end } =
            parse::parse_object(input, Mode::Unmarshal, self.limits.max_depth)?;
        let rest = parse::skip_ws_from(input, end);
        if let Some(&c) = input.get(rest) {
            let message = format!(
                "invalid character {} after top-level value",
                parse::quote_byte(c)
            );
            return Err(parse::syntax_error(input, rest, message));
        }
        let meta = match branch.get("sops") {
            Some(Value::Map(b)) => {
                if let Some(Value::Int(_) | Value::Float(_)) = b.get("version") {
                    return Err(StoreError::Shape(SOPS1_VERSION.into()));
                }
                metadata_serde::from_branch(b, Format::Json)?
            }
            Some(Value::Null) | None => return Err(StoreError::MetadataNotFound),
            Some(_) => {
                return Err(StoreError::Metadata(
                    "the sops key does not hold a mapping".into(),
                ));
            }
        };
        branch.remove("sops");
        Ok((vec![branch], meta))
    }
}

impl Store for JsonStore {
    fn format(&self) -> Format {
        Format::Json
    }

    /// One document: the top-level object. Text after it is ignored (sops
    /// 3.11's plain load reads one value with `json.Decoder`).
    fn load(&self, input: &[u8]) -> Result<Vec<Branch>, StoreError> {
        Ok(vec![
            parse::parse_object(input, Mode::Token, self.limits.max_depth)?.branch,
        ])
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<(Vec<Branch>, Metadata), StoreError> {
        self.load_encrypted_json(input)
    }

    /// The `sops` member's object: sops writes it last.
    fn peek_metadata(&self, file: &mut std::fs::File) -> std::io::Result<Option<Metadata>> {
        const KEY: &[u8] = b"\"sops\":";
        let tail = crate::stores::read_tail(file, |tail, _| memchr::memmem::rfind(tail, KEY))?;
        let Some(tail) = tail else {
            return Ok(None);
        };
        let Ok(Parsed { branch, .. }) =
            parse::parse_object(&tail[KEY.len()..], Mode::Token, self.limits.max_depth)
        else {
            return Ok(None);
        };
        // (A numeric version is an error the usual way reports.)
        if let Some(Value::Int(_) | Value::Float(_)) = branch.get("version") {
            return Ok(None);
        }
        Ok(metadata_serde::from_branch(&branch, Format::Json).ok())
    }

    /// The whole text is read first (the parser needs it), then parsed
    /// and handed over member by member as it is parsed.
    fn visit_encrypted_file(
        &self,
        file: &mut std::fs::File,
        visit: &mut dyn FnMut(Vec<Item>) -> bool,
    ) -> std::io::Result<bool> {
        let input = crate::stores::read_whole(file)?;
        let mut visitor = parse::Visitor::new(visit);
        let parsed = parse::parse_object_visiting(&input, self.limits.max_depth, &mut visitor);
        let (Ok(Parsed { branch, end }), false) = (parsed, visitor.refused) else {
            return Ok(false);
        };
        // Text after the object: the usual way's error.
        if input.get(parse::skip_ws_from(&input, end)).is_some() {
            return Ok(false);
        }
        Ok(branch.0.is_empty() || visit(branch.0))
    }

    fn document_emitter(&self, capacity: usize) -> Option<Box<dyn DocumentEmitter>> {
        Some(Box::new(emit::DocumentRuns::new(self.indent_unit(), capacity)))
    }

    /// Writes the first document only (sops' JSON store has one object per
    /// file); no documents gives `{}`.
    fn emit_docs(&self, docs: &[Branch], metadata: Option<&Branch>) -> Result<Vec<u8>, StoreError> {
        let empty = Branch::new();
        self.emit_document(docs.first().unwrap_or(&empty), metadata)
    }

    /// The indented value without a trailing newline (`--extract`).
    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, StoreError> {
        let unit = self.indent_unit();
        let size = match value {
            Value::Map(b) => emit::estimate_size(b, unit.len()),
            _ => 64,
        };
        let mut w = Writer::new(&unit, size);
        w.value(value)?;
        Ok(w.out)
    }
}

impl DocumentEmitter for emit::DocumentRuns {
    fn write_items(&mut self, items: &[Item]) -> Result<(), StoreError> {
        emit::DocumentRuns::write_items(self, items)
    }

    fn into_text(self: Box<Self>) -> zeroize::Zeroizing<Box<[u8]>> {
        emit::DocumentRuns::into_text(*self)
    }
}
