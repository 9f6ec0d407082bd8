//! Read and write [SOPS](https://github.com/getsops/sops) files: values
//! encrypted with AES-256-GCM, keys in the clear, and a `sops` block holding
//! the data key wrapped for each master key (age, PGP, AWS/GCP KMS, Azure
//! Key Vault, HashiCorp Vault, HuaweiCloud KMS). Files are interchangeable
//! with sops 3.11 in both directions.
//!
//! # The front door
//!
//! - [`decrypt_file`] and [`decrypt`]: an encrypted file (format from its
//!   name, as sops picks it) or bytes (format given) to a [`PlainFile`].
//! - [`encrypt`]: a [`PlainFile`] to a [`SopsFile`] for a set of
//!   [`Recipients`], with [`EncryptOptions`] (which values to encrypt).
//! - [`EditableFile`]: open an encrypted file, get, set or remove values,
//!   save it; unchanged values keep their ciphertext.
//!
//! Every call that needs key material takes a [`KeyContext`]:
//! [`KeyContext::from_process_env`] reads it where the `sops` command does
//! (`SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY`, `GNUPGHOME`, cloud credentials …);
//! [`KeyContext::builder`] takes it explicitly.
//!
//! ```
//! use sops_core::{EditableFile, EncryptOptions, Format, KeyContext, PlainFile, Recipients, Value};
//!
//! # fn main() -> Result<(), sops_core::Error> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("secrets.yaml");
//! // A throwaway age identity, given explicitly.
//! let identity = age::x25519::Identity::generate();
//! let recipients = Recipients::new().age(identity.to_public().to_string());
//! let ctx = KeyContext::builder().age_identity("example", identity).build();
//!
//! // Encrypt a new file.
//! let plain = PlainFile::parse(b"user: admin\npassword: hunter2\n", Format::Yaml)?;
//! sops_core::encrypt(&plain, &recipients, &ctx, &EncryptOptions::new())?.save(&path)?;
//!
//! // Decrypt it.
//! let plain = sops_core::decrypt_file(&path, &ctx)?;
//! assert_eq!(plain.get(r#"["password"]"#)?, &Value::Str("hunter2".into()));
//!
//! // Change one value in place; `user` keeps its ciphertext.
//! let mut file = EditableFile::open(&path, &ctx)?;
//! file.set(r#"["password"]"#, Value::Str("correct horse".into()))?;
//! file.save()?;
//!
//! // Errors carry sops' exit codes: without an identity, 128.
//! let no_keys = KeyContext::builder().build();
//! let err = sops_core::decrypt_file(&path, &no_keys).unwrap_err();
//! assert_eq!(err.exit_code(), sops_core::exit_code::COULD_NOT_RETRIEVE_KEY);
//! # Ok(())
//! # }
//! ```
//!
//! Documents are [`tree`]s: a [`Branch`] is an ordered mapping of
//! [`Item`]s (entries and [`Comment`]s), values are [`Value`]s; paths
//! such as `["a"][0]["b"]` are parsed by [`tree::path::parse_path`].
//!
//! # Cargo features
//!
//! - `age` and `pgp` (default): those keystores.
//! - `aws-kms`, `gcp-kms`, `azure-kv`, `hc-vault`, `hckms`: cloud keystores
//!   (off by default: each brings its client dependencies).
//! - `keyservice`: sops' gRPC key service, client and server.
//! - `internals`: **unstable, for this workspace's own binaries, fuzz
//!   targets and benches only.** Makes the crate's plumbing public and
//!   hidden from these docs; it follows no semver promise.

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
#[cfg(feature = "serde")]
pub mod typed;

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
#[cfg(feature = "serde")]
pub use typed::{from_path, from_slice, from_slice_documents, to_vec, to_vec_with_context};
