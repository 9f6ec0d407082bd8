//! JSON store (sops-format §5.2): an order- and duplicate-preserving parser
//! into the tree and a writer reproducing Go encoding/json + json.Indent.

use crate::stores::{Format, Store, StoreError};
use crate::tree::{Branch, Value};

/// The JSON store. `indent`: `None` = one tab per level (sops default), else N spaces.
#[derive(Debug, Clone, Default)]
pub struct JsonStore {
    pub indent: Option<usize>,
}

impl Store for JsonStore {
    fn format(&self) -> Format {
        Format::Json
    }

    fn load(&self, _input: &[u8]) -> Result<Vec<Branch>, StoreError> {
        Err(StoreError::Unsupported("json"))
    }

    fn emit(&self, _docs: &[Branch], _metadata: Option<&Branch>) -> Result<Vec<u8>, StoreError> {
        Err(StoreError::Unsupported("json"))
    }

    fn emit_value(&self, _value: &Value) -> Result<Vec<u8>, StoreError> {
        Err(StoreError::Unsupported("json"))
    }
}
