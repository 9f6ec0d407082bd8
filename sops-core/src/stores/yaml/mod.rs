//! YAML store (sops-format §5.1): parser events into the sops tree with
//! comments as items, and an emitter reproducing go-yaml v3's output.

use crate::stores::{Format, Store, StoreError};
use crate::tree::{Branch, Value};

/// The YAML store. `indent` is the emitter's indentation (sops default 4).
#[derive(Debug, Clone)]
pub struct YamlStore {
    pub indent: usize,
}

impl Default for YamlStore {
    fn default() -> Self {
        Self { indent: 4 }
    }
}

impl Store for YamlStore {
    fn format(&self) -> Format {
        Format::Yaml
    }

    fn load(&self, _input: &[u8]) -> Result<Vec<Branch>, StoreError> {
        Err(StoreError::Unsupported("yaml"))
    }

    fn emit(&self, _docs: &[Branch], _metadata: Option<&Branch>) -> Result<Vec<u8>, StoreError> {
        Err(StoreError::Unsupported("yaml"))
    }

    fn emit_value(&self, _value: &Value) -> Result<Vec<u8>, StoreError> {
        Err(StoreError::Unsupported("yaml"))
    }
}
