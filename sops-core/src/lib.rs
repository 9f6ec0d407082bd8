//! Read and write [SOPS](https://github.com/getsops/sops) files: values
//! encrypted with AES-256-GCM, keys in the clear, and a `sops` block holding
//! the data key wrapped for each master key. Files are interchangeable with
//! sops 3.11 in both directions.
//!
//! Layout: [`tree`] (documents with comments), [`cipher`] (the `ENC[…]`
//! value codec), [`mac`], [`metadata`] (the `sops` block), [`rules`]
//! (partial encryption), [`stores`] (file formats), [`keys`] (master keys),
//! [`ops`] (whole-tree and whole-file operations; [`ops::EncryptedFile`] to
//! change a file in place).
//!
//! ```
//! use sops_core::keys::{KeyContext, MasterKey, age::AgeKey};
//! use sops_core::ops::{self, DecryptOptions, EncryptOptions};
//! use sops_core::stores::Format;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A throwaway identity; real programs read SOPS_AGE_KEY_FILE and friends.
//! let identity = age::x25519::Identity::generate();
//! let recipient = identity.to_public().to_string();
//! let ctx = KeyContext::from_vars([("SOPS_AGE_KEY", identity.to_string().expose_secret().to_owned())]);
//! # use age::secrecy::ExposeSecret;
//!
//! let store = Format::Yaml.store()?;
//! let mut docs = store.load(b"user: admin\npassword: hunter2\n")?;
//! let keys: Vec<Box<dyn MasterKey>> = vec![Box::new(AgeKey::parse(&recipient)?)];
//! let metadata = ops::encrypt(&mut docs, &[keys], &ctx, &EncryptOptions::default())?;
//! let encrypted = store.emit_encrypted(&docs, &metadata)?;
//! assert!(String::from_utf8_lossy(&encrypted).contains("ENC[AES256_GCM,"));
//!
//! let plain = ops::decrypt(store.as_ref(), &encrypted, &ctx, &DecryptOptions::default())?;
//! assert_eq!(store.emit(&plain.docs, None)?, b"user: admin\npassword: hunter2\n");
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod cipher;
pub mod config;
pub mod data_key;
pub mod error;
pub mod exit_code;
pub mod keys;
pub mod mac;
pub mod metadata;
pub mod numfmt;
pub mod ops;
pub mod rules;
pub mod shamir;
pub mod shlex;
pub mod stores;
pub mod tree;

#[cfg(test)]
mod test_vectors;

#[cfg(feature = "age")]
pub use age;

pub use data_key::DataKey;
pub use error::Error;
pub use metadata::Metadata;
pub use stores::{Format, Store};
pub use tree::{Branch, Item, Value};
