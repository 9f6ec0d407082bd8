//! File formats. Each store only deals with syntax: it parses bytes into
//! documents ([`Branch`]es) and emits documents back; the `sops` block is a
//! branch like any other and is converted by [`metadata_serde`].

pub mod dotenv;
pub mod flatten;
pub mod ini;
pub mod json;
pub mod metadata_serde;
pub mod yaml;

use std::path::Path;

use crate::metadata::Metadata;
use crate::tree::{Branch, Value};

/// A file format sops knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
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

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }

    /// The store for this format.
    pub fn store(self) -> Result<Box<dyn Store>, StoreError> {
        match self {
            Format::Yaml => Ok(Box::new(yaml::YamlStore::default())),
            Format::Json => Ok(Box::new(json::JsonStore::default())),
            Format::Dotenv | Format::Ini | Format::Binary => {
                Err(StoreError::Unsupported(self.name()))
            }
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
}

/// One file format.
///
/// `load` parses every document, keeping a top-level `sops` key if there is
/// one; `emit` writes documents and, when `metadata` is given, appends it as
/// the last key `sops` of every document (the form of an encrypted file).
/// Stores whose metadata is not a nested `sops` key (dotenv, INI) override
/// [`load_encrypted`](Store::load_encrypted) and [`emit`](Store::emit).
pub trait Store: Send + Sync {
    fn format(&self) -> Format;

    /// Parses plaintext or encrypted input into documents.
    fn load(&self, input: &[u8]) -> Result<Vec<Branch>, StoreError>;

    /// Emits documents; `metadata` is the `sops` block of an encrypted file.
    fn emit(&self, docs: &[Branch], metadata: Option<&Branch>) -> Result<Vec<u8>, StoreError>;

    /// Emits a single value (for `--extract` of a non-mapping, non-string value).
    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, StoreError>;

    /// Parses an encrypted file: documents without the `sops` key, and the
    /// metadata from the first document.
    fn load_encrypted(&self, input: &[u8]) -> Result<(Vec<Branch>, Metadata), StoreError> {
        let mut docs = self.load(input)?;
        let meta = match docs.first().and_then(|d| d.get("sops")) {
            Some(Value::Map(b)) => metadata_serde::from_branch(b)?,
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

    /// Emits an encrypted file.
    fn emit_encrypted(&self, docs: &[Branch], meta: &Metadata) -> Result<Vec<u8>, StoreError> {
        let style = match self.format() {
            Format::Json | Format::Binary => metadata_serde::EmptyListStyle::Null,
            _ => metadata_serde::EmptyListStyle::EmptySeq,
        };
        self.emit(docs, Some(&metadata_serde::to_branch(meta, style)))
    }

    /// True if the plaintext already looks encrypted (sops' exit 203 check):
    /// a top-level `sops` key in the first document.
    fn looks_encrypted(&self, docs: &[Branch]) -> bool {
        docs.first().is_some_and(|d| d.get("sops").is_some())
    }
}
