//! Read and write [SOPS](https://github.com/getsops/sops) files: values
//! encrypted with AES-256-GCM, keys in the clear, and a `sops` block holding
//! the data key wrapped for each master key. Files are interchangeable with
//! sops 3.11 in both directions.
//!
//! Layout: [`tree`] (documents with comments), [`cipher`] (the `ENC[…]`
//! value codec), [`mac`], [`metadata`] (the `sops` block), [`rules`]
//! (partial encryption), [`stores`] (file formats), [`keys`] (master keys),
//! [`ops`] (whole-tree and whole-file operations; [`ops::EncryptedFile`] to
//! change a file in place), [`exit_code`] (sops' exit codes, from
//! [`Error::exit_code`]).
//!
//! ```
//! use age::secrecy::ExposeSecret;
//! use sops_core::Value;
//! use sops_core::keys::{KeyContext, MasterKey, age::AgeKey};
//! use sops_core::ops::{self, DecryptOptions, EncryptOptions, EncryptedFile};
//! use sops_core::stores::Format;
//! use sops_core::tree::path::parse_path;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Key material is passed in: here a throwaway identity given explicitly;
//! // `KeyContext::from_process_env()` reads it where sops does
//! // (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, GNUPGHOME …).
//! let identity = age::x25519::Identity::generate();
//! let recipient = identity.to_public().to_string();
//! let ctx = KeyContext::builder()
//!     .age_identity_text("example identity", identity.to_string().expose_secret())
//!     .build();
//!
//! // A new file, encrypted for one age recipient.
//! let store = Format::Yaml.store()?;
//! let mut docs = store.load(b"user: admin\npassword: hunter2\n")?;
//! let keys: Vec<Box<dyn MasterKey>> = vec![Box::new(AgeKey::parse(&recipient)?)];
//! let metadata = ops::encrypt(&mut docs, &[keys], &ctx, &EncryptOptions::default())?;
//! let encrypted = store.emit_encrypted(&docs, &metadata)?;
//! assert!(String::from_utf8_lossy(&encrypted).contains("ENC[AES256_GCM,"));
//!
//! // Change one value; the others keep their ciphertext (`save` instead of
//! // `emit` replaces a file atomically).
//! let file = EncryptedFile::open(store.as_ref(), &encrypted)?;
//! let mut plain = file.decrypt(&ctx, &DecryptOptions::default())?;
//! plain.set(&parse_path(r#"["password"]"#)?, Value::Str("correct horse".into()))?;
//! let changed = plain.encrypt()?.emit(store.as_ref())?;
//!
//! let plain = ops::decrypt(store.as_ref(), &changed, &ctx, &DecryptOptions::default())?;
//! assert_eq!(store.emit(&plain.docs, None)?, b"user: admin\npassword: correct horse\n");
//!
//! // Errors carry sops' exit codes: without an identity, 128.
//! let no_keys = KeyContext::builder().build();
//! let err = ops::decrypt(store.as_ref(), &changed, &no_keys, &DecryptOptions::default())
//!     .unwrap_err();
//! assert_eq!(err.exit_code(), sops_core::exit_code::COULD_NOT_RETRIEVE_KEY);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod batch;
pub mod cipher;
pub mod config;
pub mod data_key;
pub mod error;
pub mod exit_code;
pub mod keys;
pub mod mac;
pub mod merge;
pub mod metadata;
pub mod numfmt;
pub mod ops;
pub mod parallel;
#[cfg(feature = "publish")]
pub mod publish;
pub mod rules;
pub mod shamir;
pub mod shlex;
pub mod stores;
pub mod tree;
#[cfg(feature = "serde")]
pub mod typed;

#[cfg(test)]
mod test_vectors;

#[cfg(feature = "age")]
pub use age;

pub use data_key::DataKey;
pub use error::Error;
pub use metadata::Metadata;
pub use stores::{Format, Store};
pub use tree::{Branch, Item, Value};
#[cfg(feature = "serde")]
pub use typed::{from_path, from_slice, from_slice_documents, to_vec, to_vec_with_context};
