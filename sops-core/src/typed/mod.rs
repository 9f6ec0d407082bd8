//! Decrypt straight into a serde type, encrypt a serde value (feature
//! `serde`): [`from_path`], [`from_slice`], [`from_slice_documents`],
//! [`to_vec`], [`to_vec_with_context`], all re-exported at the crate root.
//!
//! The document is decrypted (MAC verified) into the library's tree and
//! read by a serde `Deserializer` over that tree: no text is parsed twice
//! and nothing goes through `serde_json`.
//!
//! # Types
//!
//! Values keep the types sops gives them, and a Rust type must match:
//!
//! | in the file | sops type | Rust types |
//! |---|---|---|
//! | YAML/JSON integer | `int` (i64) | any integer type that holds it, `f32`/`f64` |
//! | YAML/JSON float | `float` | `f32`, `f64` |
//! | `true`/`false` | `bool` | `bool` |
//! | `null`, `~` | null | `Option<T>` (`None`), `()` |
//! | string | `str` | `String`, `char` (one character), enums (unit variants) |
//! | YAML timestamp | `time` | `String` (RFC 3339, as sops writes it) |
//! | mapping | | structs, maps (keys are strings; integer and boolean keys are read from them), enums with data (one entry) |
//! | sequence | | `Vec`, tuples, arrays, sets |
//!
//! A quoted `"42"` in YAML is a string and does not read as `u32`. In
//! dotenv and INI files every value is a string (sops reads them so), so
//! there a string reads as a number or boolean when the Rust type asks for
//! one, and structs are flat: a dotenv file is one struct of scalars, an
//! INI file a struct of sections, each a struct of scalars. A binary file
//! is its `data`: read it as `String` or `Vec<u8>`.
//!
//! YAML comments are skipped. A YAML file holding several documents is
//! read with [`from_slice_documents`]; [`from_slice`] and [`from_path`]
//! expect exactly one.
//!
//! # Secrets
//!
//! The value returned is the caller's to protect (`zeroize`'s `Zeroizing`
//! or `secrecy` in the struct). The decrypted tree and the tree a value is
//! serialized into are wiped before these functions return, on error too.
//! Errors ([`TypedError`]) name the key path and types, never a value.

mod de;
pub(crate) mod error;
mod ser;

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::{Zeroize, Zeroizing};

pub use error::TypedError;

use crate::Error;
use crate::front::{PlainFile, Recipients};
use crate::keys::KeyContext;
use crate::ops::{self, DecryptOptions};
use crate::stores::Format;
use crate::tree::{Branch, Item, Value};
use de::Mode;

/// Reads and decrypts the file at `path` into a `T`, choosing its format
/// from the file name as sops does ([`Format::for_path`]: `.yaml`/`.yml`,
/// `.json`, `.env`, `.ini`, anything else binary). The MAC is verified.
///
/// See [`from_slice`] for the types and errors.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use age::secrecy::ExposeSecret;
/// # use sops_core::{KeyContext, Recipients};
/// # let identity = age::x25519::Identity::generate();
/// # let keys = Recipients::new().age(identity.to_public().to_string());
/// # let ctx = KeyContext::builder()
/// #     .age_identity_text("doc", identity.to_string().expose_secret())
/// #     .build();
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("db.env");
/// # let plain = std::collections::BTreeMap::from([("DB_USER", "admin"), ("DB_PORT", "5432")]);
/// # std::fs::write(&path, sops_core::to_vec(&plain, sops_core::Format::Dotenv, &keys)?)?;
/// #[derive(serde::Deserialize)]
/// #[allow(non_snake_case)]
/// struct Db {
///     DB_USER: String,
///     // dotenv values are strings; this one is read as a number.
///     DB_PORT: u16,
/// }
/// let db: Db = sops_core::from_path(&path, &ctx)?;
/// assert_eq!((db.DB_USER.as_str(), db.DB_PORT), ("admin", 5432));
/// # Ok(())
/// # }
/// ```
pub fn from_path<T: DeserializeOwned>(
    path: impl AsRef<Path>,
    ctx: &KeyContext,
) -> Result<T, Error> {
    let path = path.as_ref();
    let input = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    from_slice(&input, Format::for_path(path), ctx).map_err(|e| match e {
        Error::Store { path: None, source } => Error::Store {
            path: Some(path.to_path_buf()),
            source,
        },
        other => other,
    })
}

/// Decrypts an encrypted file's bytes, in `format`, into a `T`. The MAC is
/// verified.
///
/// Fails as decryption does ([`Error::exit_code`] gives sops' code: 51 for
/// a MAC mismatch, 128 when no key could decrypt), with
/// [`Error::Typed`] when the document does not fit `T`, or holds more than
/// one YAML document (see [`from_slice_documents`]).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use age::secrecy::ExposeSecret;
/// use sops_core::Format;
/// use sops_core::{KeyContext, Recipients};
///
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct Config {
///     user: String,
///     password: String,
///     port: u16,
///     replicas: Option<u32>,
/// }
///
/// let identity = age::x25519::Identity::generate();
/// let keys = Recipients::new().age(identity.to_public().to_string());
/// let config = Config {
///     user: "admin".into(),
///     password: "hunter2".into(),
///     port: 5432,
///     replicas: None,
/// };
/// let encrypted = sops_core::to_vec(&config, Format::Yaml, &keys)?;
///
/// let ctx = KeyContext::builder()
///     .age_identity_text("example", identity.to_string().expose_secret())
///     .build();
/// let back: Config = sops_core::from_slice(&encrypted, Format::Yaml, &ctx)?;
/// assert_eq!(back, config);
/// # Ok(())
/// # }
/// ```
pub fn from_slice<T: DeserializeOwned>(
    input: &[u8],
    format: Format,
    ctx: &KeyContext,
) -> Result<T, Error> {
    let mut docs = decrypt(input, format, ctx)?;
    if docs.len() != 1 {
        return Err(TypedError::new(format!(
            "expected one document, found {} (read them with from_slice_documents)",
            docs.len()
        ))
        .into());
    }
    Ok(deserialize_document(&mut docs[0], format)?)
}

/// As [`from_slice`], for a YAML file of several documents (`---`): one
/// `T` per document, in order. Other formats hold one document.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use age::secrecy::ExposeSecret;
/// # use sops_core::{KeyContext, Recipients};
/// # use sops_core::{EncryptOptions, Format, PlainFile};
/// # let identity = age::x25519::Identity::generate();
/// # let keys = Recipients::new().age(identity.to_public().to_string());
/// # let ctx = KeyContext::builder()
/// #     .age_identity_text("doc", identity.to_string().expose_secret())
/// #     .build();
/// # let plain = PlainFile::parse(b"name: a\n---\nname: b\n", Format::Yaml)?;
/// # let encrypted = sops_core::encrypt(&plain, &keys, &ctx, &EncryptOptions::new())?.to_bytes()?;
/// #[derive(serde::Deserialize)]
/// struct Named {
///     name: String,
/// }
/// let all: Vec<Named> = sops_core::from_slice_documents(&encrypted, Format::Yaml, &ctx)?;
/// assert_eq!(all.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
/// # Ok(())
/// # }
/// ```
pub fn from_slice_documents<T: DeserializeOwned>(
    input: &[u8],
    format: Format,
    ctx: &KeyContext,
) -> Result<Vec<T>, Error> {
    let mut docs = decrypt(input, format, ctx)?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs.iter_mut() {
        out.push(deserialize_document(doc, format)?);
    }
    Ok(out)
}

/// Encrypts a `Serialize` value as a new file of `format` for the key
/// groups (one group: every key wraps the data key; several: Shamir
/// shares, all needed), with sops' defaults (every value encrypted except
/// under keys ending in `_unencrypted`). Returns the file's bytes, which
/// sops decrypts to the same values.
///
/// The keys are wrapped with an empty [`KeyContext`]: enough for age
/// recipients; PGP and cloud keys that need a keyring, credentials or
/// endpoints take [`to_vec_with_context`].
///
/// The value must be a struct or map for YAML and JSON (a document is a
/// mapping), a flat struct or map of scalars for dotenv (`None` fields are
/// left out, numbers and booleans written as strings, as sops reads them
/// back), a struct or map of such flat sections for INI, and a string or
/// bytes for binary. Integers must fit an i64 (sops' `int`). The top-level
/// key `sops` (in dotenv any `sops_…` key) is refused: the metadata goes
/// there.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::collections::BTreeMap;
/// use sops_core::Format;
/// use sops_core::Recipients;
///
/// let recipient = age::x25519::Identity::generate().to_public().to_string();
/// let keys = Recipients::new().age(recipient);
/// let secrets = BTreeMap::from([("token", "s3cr3t"), ("region_unencrypted", "eu-west-1")]);
/// let file = String::from_utf8(sops_core::to_vec(&secrets, Format::Yaml, &keys)?)?;
/// assert!(file.contains("token: ENC[AES256_GCM,"));
/// assert!(file.contains("region_unencrypted: eu-west-1"));
/// assert!(!file.contains("s3cr3t"));
/// # Ok(())
/// # }
/// ```
pub fn to_vec<T: Serialize + ?Sized>(
    value: &T,
    format: Format,
    recipients: &Recipients,
) -> Result<Vec<u8>, Error> {
    to_vec_with_context(value, format, recipients, &KeyContext::builder().build())
}

/// As [`to_vec`], wrapping the data key with the keyrings, credentials and
/// endpoints of `ctx`.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use sops_core::Format;
/// use sops_core::{KeyContext, Recipients};
///
/// let ctx = KeyContext::builder().build();
/// let recipient = age::x25519::Identity::generate().to_public().to_string();
/// let keys = Recipients::new().age(recipient);
/// let file = sops_core::to_vec_with_context(
///     &std::collections::BTreeMap::from([("a", 1)]),
///     Format::Json,
///     &keys,
///     &ctx,
/// )?;
/// assert!(String::from_utf8(file)?.contains("ENC[AES256_GCM,"));
/// # Ok(())
/// # }
/// ```
pub fn to_vec_with_context<T: Serialize + ?Sized>(
    value: &T,
    format: Format,
    recipients: &Recipients,
    ctx: &KeyContext,
) -> Result<Vec<u8>, Error> {
    let value = Zeroizing::new(ser::to_value(value)?);
    // PlainFile wipes the documents when it is dropped, on error too.
    let plain = PlainFile::from_documents(vec![document(value, format)?], format);
    crate::front::encrypt(&plain, recipients, ctx, &crate::EncryptOptions::new())?.to_bytes()
}

fn decrypt(
    input: &[u8],
    format: Format,
    ctx: &KeyContext,
) -> Result<Zeroizing<Vec<Branch>>, Error> {
    let store = format
        .store()
        .map_err(|source| Error::Store { path: None, source })?;
    Ok(ops::decrypt(store.as_ref(), input, ctx, &DecryptOptions::default())?.into_docs())
}

/// Reads one decrypted document; the document is moved into a wiping
/// wrapper (the caller's vector still wipes what is left).
fn deserialize_document<T: DeserializeOwned>(
    doc: &mut Branch,
    format: Format,
) -> Result<T, TypedError> {
    let doc = std::mem::take(doc);
    let (root, mode) = match format {
        Format::Yaml | Format::Json => (Value::Map(doc), Mode::Typed),
        Format::Dotenv | Format::Ini => (Value::Map(doc), Mode::Flat),
        Format::Binary => {
            let mut doc = doc;
            let data = match doc.remove("data") {
                // Read as bytes, so that `Vec<u8>` takes it as well as `String`.
                Some(Value::Str(s)) => Value::Bytes(s.into_bytes()),
                Some(other) => other,
                None => Value::Null,
            };
            doc.zeroize();
            (data, Mode::Typed)
        }
    };
    let root = Zeroizing::new(root);
    de::from_value(&root, mode)
}

/// The document a serialized value becomes in `format`, or why it cannot.
fn document(mut value: Zeroizing<Value>, format: Format) -> Result<Branch, TypedError> {
    let found = value.kind_name();
    let refuse = |message: String| TypedError::new(message).serializing();
    let mut doc = match (format, &mut *value) {
        (Format::Binary, Value::Str(_) | Value::Bytes(_)) => {
            return Ok(Branch(vec![Item::Entry(
                "data".into(),
                std::mem::replace(&mut *value, Value::Null),
            )]));
        }
        // `Vec<u8>` serializes as a sequence of small integers.
        (Format::Binary, Value::Seq(items)) => {
            let bytes: Option<Vec<u8>> = items
                .iter()
                .map(|v| match v {
                    Value::Int(n) => u8::try_from(*n).ok(),
                    _ => None,
                })
                .collect();
            let Some(bytes) = bytes else {
                return Err(refuse(
                    "the binary format takes a string or bytes, found a sequence that is not bytes"
                        .into(),
                ));
            };
            return Ok(Branch(vec![Item::Entry(
                "data".into(),
                Value::Bytes(bytes),
            )]));
        }
        (Format::Binary, _) => {
            return Err(refuse(format!(
                "the binary format takes a string or bytes, found {found}"
            )));
        }
        (_, Value::Map(branch)) => std::mem::take(branch),
        (_, _) => {
            return Err(refuse(format!(
                "a {} document is a mapping (a struct or a map), found {found}",
                format.name()
            )));
        }
    };
    // Errors from here on drop `doc` unwiped otherwise.
    let checked = shape(&mut doc, format);
    if let Err(e) = checked {
        doc.zeroize();
        return Err(e);
    }
    Ok(doc)
}

/// Checks the keys and, for the flat formats, the shape of a document, and
/// writes the flat formats' scalars as the strings sops reads back.
fn shape(doc: &mut Branch, format: Format) -> Result<(), TypedError> {
    for (key, _) in doc.entries() {
        if format.is_metadata_key(key) {
            return Err(TypedError::new(format!(
                "the top-level key is reserved for the sops metadata in a {} file",
                format.name()
            ))
            .serializing()
            .under_key(key));
        }
    }
    match format {
        Format::Dotenv => flat(doc, "dotenv"),
        Format::Ini => {
            for item in &mut doc.0 {
                if let Item::Entry(name, value) = item {
                    let Value::Map(section) = value else {
                        return Err(TypedError::new(format!(
                            "an INI file is a mapping of sections (mappings), found {}",
                            value.kind_name()
                        ))
                        .serializing()
                        .under_key(name));
                    };
                    flat(section, "INI").map_err(|e| e.under_key(name))?;
                }
            }
            Ok(())
        }
        Format::Yaml | Format::Json | Format::Binary => Ok(()),
    }
}

/// A flat mapping of strings: numbers and booleans become their text,
/// null entries are left out, containers are refused.
fn flat(branch: &mut Branch, format: &str) -> Result<(), TypedError> {
    let mut result = Ok(());
    branch.0.retain_mut(|item| {
        let Item::Entry(key, value) = item else {
            return true;
        };
        let text = match value {
            Value::Null => {
                return false;
            }
            Value::Str(_) | Value::Bytes(_) => return true,
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            // Rust's shortest text that reads back as the same float.
            Value::Float(f) => f.to_string(),
            Value::Time(t) => t.as_str().to_owned(),
            Value::Seq(_) | Value::Map(_) | Value::Comment(_) => {
                if result.is_ok() {
                    result = Err(TypedError::new(format!(
                        "a {format} value is a string, number or boolean, found {}",
                        value.kind_name()
                    ))
                    .serializing()
                    .under_key(key));
                }
                return true;
            }
        };
        std::mem::replace(value, Value::Str(text)).zeroize();
        true
    });
    result
}
