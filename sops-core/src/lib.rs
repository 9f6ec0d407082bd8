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
#![deny(missing_docs)]

/// Declares modules that are the workspace's own plumbing: `pub` (and
/// hidden from the docs) with the unstable `internals` feature, which only
/// the workspace's binaries, fuzz targets and benches turn on; `pub(crate)`
/// otherwise, so that a library user sees only the front door.
///
/// Without `internals`, the items of these modules that only the binaries
/// call are unused, hence the `allow`. It hides nothing the `internals`
/// build does not check: there these items are `pub`, which the dead-code
/// lint never reports, and private items are checked in both builds alike
/// (clippy runs with and without the feature).
macro_rules! internal_mods {
    ($($(#[$attr:meta])* $name:ident;)*) => {
        $(
            $(#[$attr])*
            #[cfg(feature = "internals")]
            #[doc(hidden)]
            pub mod $name;
            $(#[$attr])*
            #[cfg(not(feature = "internals"))]
            #[allow(dead_code, unused_imports)]
            pub(crate) mod $name;
        )*
    };
}

internal_mods! {
    cipher;
    data_key;
    keys;
    mac;
    metadata;
    numfmt;
    ops;
    rules;
    shamir;
    shlex;
    stores;
}

// Only the binaries use these (batch runs over many files, `.sops.yaml`,
// the merge driver, `publish`): without `internals` they are not built.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod batch;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod config;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod merge;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod parallel;
#[cfg(all(feature = "internals", feature = "publish"))]
#[doc(hidden)]
pub mod publish;

pub mod error;
pub mod exit_code;
mod front;
pub mod tree;

#[cfg(test)]
mod test_vectors;

#[cfg(feature = "age")]
pub use age;

#[cfg(feature = "internals")]
#[doc(hidden)]
pub use data_key::DataKey;
#[cfg(not(feature = "internals"))]
#[allow(unused_imports)]
pub(crate) use data_key::DataKey;
pub use error::Error;
pub use front::{
    EditableFile, EncryptOptions, PlainFile, Recipients, SopsFile, decrypt, decrypt_file, encrypt,
};
pub use keys::{KeyContext, KeyContextBuilder};
#[cfg(feature = "internals")]
#[doc(hidden)]
pub use metadata::Metadata;
#[cfg(not(feature = "internals"))]
#[allow(unused_imports)]
pub(crate) use metadata::Metadata;
pub use stores::Format;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub use stores::Store;
#[cfg(not(feature = "internals"))]
#[allow(unused_imports)]
pub(crate) use stores::Store;
pub use tree::{Branch, Comment, Item, Value};
