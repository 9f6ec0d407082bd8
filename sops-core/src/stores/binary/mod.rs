//! Binary store (sops-format §5.5, upstream `BinaryStore` in
//! `stores/json/store.go`): the whole plaintext file is the single value of
//! key `data`, kept as raw bytes (not base64, not required to be UTF-8);
//! the encrypted form is a JSON envelope written and read by the JSON store.

use crate::metadata::Metadata;
use crate::stores::json::JsonStore;
use crate::stores::{Format, Store, StoreError};
use crate::tree::{Branch, Item, Value};

/// The binary store. `indent` is the JSON envelope's indentation
/// (`stores.json_binary.indent`): `None` = tab, else N spaces.
#[derive(Debug, Clone, Default)]
pub struct BinaryStore {
    pub indent: Option<usize>,
}

fn emit_error(what: &str) -> StoreError {
    StoreError::Emit(format!("error emitting binary store: {what}"))
}

impl BinaryStore {
    fn envelope(&self) -> JsonStore {
        JsonStore {
            indent: self.indent,
            ..JsonStore::default()
        }
    }
}

impl Store for BinaryStore {
    fn format(&self) -> Format {
        Format::Binary
    }

    /// One document `{data: <the whole input>}`: a string when the input is
    /// UTF-8, else the raw bytes.
    fn load(&self, input: &[u8]) -> Result<Vec<Branch>, StoreError> {
        let data = match std::str::from_utf8(input) {
            Ok(s) => Value::Str(s.to_owned()),
            Err(_) => Value::Bytes(input.to_vec()),
        };
        Ok(vec![Branch(vec![Item::Entry("data".into(), data)])])
    }

    /// The JSON envelope, read as the JSON store reads an encrypted file.
    fn load_encrypted(&self, input: &[u8]) -> Result<(Vec<Branch>, Metadata), StoreError> {
        self.envelope().load_encrypted_json(input)
    }

    /// With metadata: the JSON envelope. Without: the bytes of the first
    /// top-level `data` entry, exactly (sops 3.11 `EmitPlainFile`).
    fn emit_docs(&self, docs: &[Branch], metadata: Option<&Branch>) -> Result<Vec<u8>, StoreError> {
        if metadata.is_some() {
            return self.envelope().emit_docs(docs, metadata);
        }
        let [doc] = docs else {
            return Err(emit_error("there must be exactly one tree branch"));
        };
        match doc.get("data") {
            Some(Value::Str(s)) => Ok(s.as_bytes().to_vec()),
            Some(Value::Bytes(b)) => Ok(b.clone()),
            Some(_) => Err(emit_error(
                "'data' key in tree does not have a string value",
            )),
            None => Err(emit_error("no binary data found in tree")),
        }
    }

    fn emit_value(&self, _value: &Value) -> Result<Vec<u8>, StoreError> {
        Err(StoreError::Emit(
            "Binary files are not structured and extracting a single value is not possible".into(),
        ))
    }
}

#[cfg(test)]
mod tests;
