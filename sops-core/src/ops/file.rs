//! Whole-file operations: the library's main entry points.

use std::fmt;
use std::path::Path;

use zeroize::{Zeroize, Zeroizing};

use crate::data_key::DataKey;
use crate::error::Error;
use crate::keys::{KeyContext, MasterKey, recover_data_key, wrap_data_key};
use crate::metadata::{Metadata, PartialRule, SOPS_VERSION};
use crate::ops::{EncryptedFile, decrypt_docs, encrypt_docs};
use crate::stores::{Format, Store};
use crate::tree::Branch;

/// Options for decryption.
#[derive(Debug, Clone, Default)]
pub struct DecryptOptions {
    /// Skip MAC verification (`--ignore-mac`).
    pub ignore_mac: bool,
    /// Key types to try first (`--decryption-order`); empty = `age,pgp`.
    pub decryption_order: Vec<String>,
}

/// A decrypted file: its documents and the metadata it carried.
///
/// The documents are plaintext: they are wiped when this is dropped, and
/// its `Debug` shows only their number. Take them out with
/// [`Decrypted::into_docs`], which hands the wiping over to the caller.
pub struct Decrypted {
    pub docs: Vec<Branch>,
    pub metadata: Metadata,
}

impl Decrypted {
    /// The documents, wrapped so that they are still wiped when dropped.
    pub fn into_docs(mut self) -> Zeroizing<Vec<Branch>> {
        Zeroizing::new(std::mem::take(&mut self.docs))
    }
}

impl Drop for Decrypted {
    fn drop(&mut self) {
        self.docs.zeroize();
    }
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field(
                "docs",
                &format_args!("<{} redacted documents>", self.docs.len()),
            )
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Decrypts an encrypted file's bytes, verifying the MAC unless told not to.
pub fn decrypt(
    store: &dyn Store,
    input: &[u8],
    ctx: &KeyContext,
    opts: &DecryptOptions,
) -> Result<Decrypted, Error> {
    let (docs, metadata) = store
        .load_encrypted(input)
        .map_err(|source| Error::Store { path: None, source })?;
    decrypt_loaded(docs, metadata, ctx, opts)
}

/// Decrypts documents already loaded with [`Store::load_encrypted`] (lets a
/// caller free the input bytes before the values are decrypted). On error
/// the partly decrypted documents are wiped.
pub fn decrypt_loaded(
    docs: Vec<Branch>,
    metadata: Metadata,
    ctx: &KeyContext,
    opts: &DecryptOptions,
) -> Result<Decrypted, Error> {
    crate::metadata::check_version(&metadata.version).map_err(Error::Version)?;
    let key = recover_data_key(&metadata, ctx, &opts.decryption_order)?;
    let mut docs = Zeroizing::new(docs);
    decrypt_docs(&mut docs, &key, &metadata, opts.ignore_mac)?;
    // `Decrypted` wipes them from here on.
    let docs = std::mem::take(&mut *docs);
    Ok(Decrypted { docs, metadata })
}

/// Decrypts an encrypted file's bytes into plaintext bytes of `out_format`
/// (the same format, or a conversion such as YAML to JSON). The result is
/// zeroized when dropped.
pub fn decrypt_to_bytes(
    input: &[u8],
    in_format: Format,
    out_format: Format,
    ctx: &KeyContext,
    opts: &DecryptOptions,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let store = in_format
        .store()
        .map_err(|source| Error::Store { path: None, source })?;
    let decrypted = decrypt(store.as_ref(), input, ctx, opts)?;
    let out_store = if out_format == in_format {
        store
    } else {
        out_format
            .store()
            .map_err(|source| Error::Store { path: None, source })?
    };
    let bytes = out_store
        .emit_plain(&decrypted.docs)
        .map_err(|source| Error::Store { path: None, source })?;
    Ok(Zeroizing::new(bytes))
}

/// Reads and decrypts a file, choosing its format from its name as sops
/// does, and returns the plaintext in the same format.
pub fn decrypt_file(path: &Path, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, Error> {
    let input = std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let format = Format::for_path(path);
    decrypt_to_bytes(&input, format, format, ctx, &DecryptOptions::default()).map_err(|e| match e {
        Error::Store { path: None, source } => Error::Store {
            path: Some(path.to_path_buf()),
            source,
        },
        other => other,
    })
}

/// Options for encrypting a new file.
#[derive(Debug, Default)]
pub struct EncryptOptions {
    /// The partial-encryption rule; `None` = sops' default `_unencrypted` suffix.
    pub rule: Option<PartialRule>,
    pub mac_only_encrypted: bool,
    /// Shamir threshold when there are several key groups (0 = all groups).
    pub shamir_threshold: usize,
}

/// Encrypts plaintext documents for the given key groups (one group = every
/// key wraps the data key; several = Shamir shares).
///
/// The documents are taken and come back only inside the
/// [`EncryptedFile`], with their metadata: encrypting in place and handing
/// back the metadata apart let callers emit the documents without it. On
/// error the documents (partly encrypted) are wiped.
pub fn encrypt(
    docs: Vec<Branch>,
    groups: &[Vec<Box<dyn MasterKey>>],
    ctx: &KeyContext,
    opts: &EncryptOptions,
) -> Result<EncryptedFile, Error> {
    let mut docs = Zeroizing::new(docs);
    let (key, mut metadata) = new_metadata(groups, ctx, opts)?;
    encrypt_docs(&mut docs, &key, &mut metadata)?;
    // Encrypted now: out of the wiping wrapper, which drops an empty vector.
    let docs = std::mem::take(&mut *docs);
    Ok(EncryptedFile::from_parts(docs, metadata))
}

/// A new data key wrapped for the key groups, and the metadata of a file
/// that has not been encrypted yet (no MAC; `encrypt_docs` fills it in).
pub fn new_metadata(
    groups: &[Vec<Box<dyn MasterKey>>],
    ctx: &KeyContext,
    opts: &EncryptOptions,
) -> Result<(DataKey, Metadata), Error> {
    if groups.iter().all(|g| g.is_empty()) {
        return Err(Error::NoKeys);
    }
    let key = DataKey::generate();
    let key_groups = wrap_data_key(&key, groups, opts.shamir_threshold, ctx)?;
    let metadata = Metadata {
        shamir_threshold: Metadata::stored_threshold(key_groups.len(), opts.shamir_threshold),
        key_groups,
        last_modified: String::new(),
        mac: String::new(),
        rule: Some(opts.rule.clone().unwrap_or_else(PartialRule::default_rule)),
        mac_only_encrypted: opts.mac_only_encrypted,
        version: SOPS_VERSION.to_owned(),
    };
    Ok((key, metadata))
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Value;

    #[test]
    fn decrypted_debug_hides_the_documents() {
        let mut doc = Branch::new();
        doc.push("password", Value::Str("hunter2".into()));
        let decrypted = Decrypted {
            docs: vec![doc],
            metadata: Metadata {
                key_groups: Vec::new(),
                shamir_threshold: 0,
                last_modified: String::new(),
                mac: String::new(),
                rule: None,
                mac_only_encrypted: false,
                version: SOPS_VERSION.to_owned(),
            },
        };
        let text = format!("{decrypted:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<1 redacted documents>"), "{text}");
        let docs = decrypted.into_docs();
        assert_eq!(docs[0].get("password"), Some(&Value::Str("hunter2".into())));
    }
}
