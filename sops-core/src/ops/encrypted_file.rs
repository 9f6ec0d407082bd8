//! One file's workflow, the sequence behind `set`, `unset`, `edit`,
//! `rotate`, `updatekeys` and `groups`: open an encrypted file, recover its
//! data key, decrypt its values keeping their IVs, change them, re-encrypt
//! (unchanged values keep their exact ciphertext) and save atomically.
//!
//! Two types mark the two states, so that plaintext can't be emitted as if
//! it were encrypted: [`EncryptedFile`] (values encrypted; the key groups
//! can be re-wrapped without touching a value) and [`DecryptedFile`]
//! (values in the clear, with the data key and the IV stash that
//! [`DecryptedFile::encrypt`] needs).

use std::fmt;
use std::path::Path;

use zeroize::{Zeroize, Zeroizing};

use crate::data_key::DataKey;
use crate::error::Error;
use crate::keys::{KeyContext, MasterKey, recover_data_key, wrap_data_key};
use crate::metadata::Metadata;
use crate::ops::file::{DecryptOptions, EncryptOptions, new_metadata};
use crate::ops::stash::IvStash;
use crate::ops::write::write_file_atomically;
use crate::ops::{decrypt_docs_stashing, reencrypt_docs};
use crate::stores::Store;
use crate::tree::path::{PathError, PathStep};
use crate::tree::{Branch, Value};

/// A sops file as loaded: its documents (values encrypted, as in the file)
/// and its metadata.
///
#[cfg_attr(feature = "internals", doc = "```")]
#[cfg_attr(not(feature = "internals"), doc = "```ignore")]
/// // (Runs with the `internals` feature.)
/// # use sops_core::keys::{KeyContext, MasterKey, age::AgeKey};
/// # use sops_core::ops::{self, DecryptOptions, EncryptOptions, EncryptedFile};
/// # use sops_core::stores::Format;
/// # use sops_core::tree::path::parse_path;
/// # use sops_core::Value;
/// # use age::secrecy::ExposeSecret;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let identity = age::x25519::Identity::generate();
/// # let recipient = identity.to_public().to_string();
/// # let ctx = KeyContext::from_vars([("SOPS_AGE_KEY", identity.to_string().expose_secret().to_owned())]);
/// # let store = Format::Yaml.store()?;
/// # let docs = store.load(b"user: admin\npassword: hunter2\n")?;
/// # let keys: Vec<Box<dyn MasterKey>> = vec![Box::new(AgeKey::parse(&recipient)?)];
/// # let input = ops::encrypt(docs, &[keys], &ctx, &EncryptOptions::default())?.emit(store.as_ref())?;
/// // `input` holds an encrypted YAML file; change one value in it.
/// let file = EncryptedFile::open(store.as_ref(), &input)?;
/// let mut plain = file.decrypt(&ctx, &DecryptOptions::default())?;
/// plain.set(&parse_path(r#"["password"]"#)?, Value::Str("correct horse".into()))?;
/// let output = plain.encrypt()?.emit(store.as_ref())?;
/// // `user` kept its ciphertext: only `password`, the MAC and the date differ.
/// # let line = |b: &[u8], k: &str| String::from_utf8_lossy(b).lines().find(|l| l.starts_with(k)).map(str::to_owned);
/// # assert_eq!(line(&input, "user:"), line(&output, "user:"));
/// # assert_ne!(line(&input, "password:"), line(&output, "password:"));
/// # Ok(())
/// # }
/// ```
pub struct EncryptedFile {
    docs: Vec<Branch>,
    metadata: Metadata,
}

impl EncryptedFile {
    /// Parses an encrypted file's bytes with `store`.
    pub fn open(store: &dyn Store, input: &[u8]) -> Result<Self, Error> {
        let (docs, metadata) = store
            .load_encrypted(input)
            .map_err(|source| Error::Store { path: None, source })?;
        Ok(Self { docs, metadata })
    }

    /// Reads and parses the encrypted file at `path`; errors name the path.
    pub fn open_path(store: &dyn Store, path: &Path) -> Result<Self, Error> {
        let input = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let (docs, metadata) = store
            .load_encrypted(&input)
            .map_err(|source| Error::Store {
                path: Some(path.to_path_buf()),
                source,
            })?;
        Ok(Self { docs, metadata })
    }

    /// A file from documents and metadata loaded elsewhere (e.g. with
    /// [`Store::load_encrypted`]).
    pub fn from_parts(docs: Vec<Branch>, metadata: Metadata) -> Self {
        Self { docs, metadata }
    }

    /// The documents and the metadata.
    pub fn into_parts(self) -> (Vec<Branch>, Metadata) {
        (self.docs, self.metadata)
    }

    /// The documents, values encrypted as in the file.
    pub fn docs(&self) -> &[Branch] {
        &self.docs
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Unwraps the data key from the key groups (`decryption_order` as
    /// [`DecryptOptions::decryption_order`]).
    pub fn recover_key(
        &self,
        ctx: &KeyContext,
        decryption_order: &[String],
    ) -> Result<DataKey, Error> {
        Ok(recover_data_key(&self.metadata, ctx, decryption_order)?)
    }

    /// Recovers the data key and decrypts every value, verifying the MAC
    /// unless `opts.ignore_mac`, and remembering each value's IV.
    pub fn decrypt(self, ctx: &KeyContext, opts: &DecryptOptions) -> Result<DecryptedFile, Error> {
        // sops 3.11 checks the version before it looks for a key.
        crate::metadata::check_version(&self.metadata.version).map_err(Error::Version)?;
        let key = self.recover_key(ctx, &opts.decryption_order)?;
        self.decrypt_with_key(key, opts.ignore_mac)
    }

    /// As [`EncryptedFile::decrypt`] with a data key already recovered. On
    /// error the partly decrypted documents are wiped and dropped.
    pub fn decrypt_with_key(self, key: DataKey, ignore_mac: bool) -> Result<DecryptedFile, Error> {
        crate::metadata::check_version(&self.metadata.version).map_err(Error::Version)?;
        let Self { docs, metadata } = self;
        // Wiped on every way out; `DecryptedFile` owns the wiping on success.
        let mut docs = Zeroizing::new(docs);
        let stash = IvStash::default();
        decrypt_docs_stashing(&mut docs, &key, &metadata, ignore_mac, Some(&stash))?;
        Ok(DecryptedFile {
            docs,
            metadata,
            key,
            stash,
        })
    }

    /// Wraps `key` (the file's data key, from
    /// [`EncryptedFile::recover_key`]) for new key groups and stores
    /// `threshold` as the file's `shamir_threshold` (0 = none stored, every
    /// group needed). Values, `lastmodified` and the MAC stay as they are
    /// (`updatekeys`, `groups add`/`delete`). Every group must have a key.
    pub fn set_key_groups(
        &mut self,
        key: &DataKey,
        groups: &[Vec<Box<dyn MasterKey>>],
        threshold: usize,
        ctx: &KeyContext,
    ) -> Result<(), Error> {
        self.metadata.key_groups = wrap_for_groups(key, groups, threshold, ctx)?;
        self.metadata.shamir_threshold = threshold;
        Ok(())
    }

    /// The file's bytes in `store`'s format.
    pub fn emit(&self, store: &dyn Store) -> Result<Vec<u8>, Error> {
        store
            .emit_encrypted(&self.docs, &self.metadata)
            .map_err(|source| Error::Store { path: None, source })
    }

    /// Emits the file and replaces `path` with it atomically (see
    /// [`write_file_atomically`]): on error the old file is unchanged.
    pub fn save(&self, store: &dyn Store, path: &Path) -> Result<(), Error> {
        let bytes = self.emit(store)?;
        write_file_atomically(path, &bytes)
    }
}

impl fmt::Debug for EncryptedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Partly encrypted files hold values in the clear: never print them.
        f.debug_struct("EncryptedFile")
            .field("documents", &self.docs.len())
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// An [`EncryptedFile`] with its values in the clear, holding the data key
/// and the IV of every value it was decrypted with, until
/// [`DecryptedFile::encrypt`]. Change the documents (and, for `edit
/// --show-master-keys`, the metadata) in between.
///
/// The documents are plaintext: they are wiped when this is dropped (as
/// [`crate::ops::Decrypted`]'s), when [`DecryptedFile::replace_docs`]
/// replaces them, and when [`DecryptedFile::encrypt`] fails; its `Debug`
/// shows only their number.
pub struct DecryptedFile {
    // `Zeroizing` rather than a `Drop` impl on the struct, so that
    // `encrypt` can still move the fields out.
    docs: Zeroizing<Vec<Branch>>,
    metadata: Metadata,
    key: DataKey,
    stash: IvStash,
}

impl DecryptedFile {
    /// A new file: plaintext documents and a new data key wrapped for
    /// `groups` (as [`crate::ops::encrypt`], which encrypts at once).
    pub fn create(
        docs: Vec<Branch>,
        groups: &[Vec<Box<dyn MasterKey>>],
        ctx: &KeyContext,
        opts: &EncryptOptions,
    ) -> Result<Self, Error> {
        let docs = Zeroizing::new(docs);
        let (key, metadata) = new_metadata(groups, ctx, opts)?;
        Ok(Self {
            docs,
            metadata,
            key,
            stash: IvStash::default(),
        })
    }

    /// The plaintext documents.
    pub fn docs(&self) -> &[Branch] {
        &self.docs
    }

    /// The plaintext documents, to change in place. To put other documents
    /// in their place, use [`DecryptedFile::replace_docs`], which wipes the
    /// old ones.
    pub fn docs_mut(&mut self) -> &mut Vec<Branch> {
        &mut self.docs
    }

    /// Replaces the plaintext documents (`edit`: what the editor saved),
    /// wiping the old ones.
    pub fn replace_docs(&mut self, docs: Vec<Branch>) {
        self.docs.zeroize();
        *self.docs = docs;
    }

    /// The first document, created empty if the file has none (as sops
    /// does when setting a value in an empty file).
    pub fn first_doc_mut(&mut self) -> &mut Branch {
        if self.docs.is_empty() {
            self.docs.push(Branch::new());
        }
        &mut self.docs[0]
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The metadata, to change. The key groups must keep wrapping this
    /// file's data key (use [`DecryptedFile::rotate`] to change them);
    /// `lastmodified` and the MAC are set again by
    /// [`DecryptedFile::encrypt`].
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Sets the value at `path` in the first document (`sops set`); false
    /// if it already held that value. A path that does not fit the tree is
    /// an error and changes nothing ([`crate::tree::path::set`]); the
    /// caller refuses paths into the metadata
    /// ([`crate::stores::Format::is_metadata_key`]).
    pub fn set(&mut self, path: &[PathStep], value: Value) -> Result<bool, PathError> {
        crate::tree::path::set(self.first_doc_mut(), path, value)
    }

    /// Removes the value at `path` from the first document (`sops unset`).
    pub fn unset(&mut self, path: &[PathStep]) -> Result<(), PathError> {
        crate::tree::path::unset(self.first_doc_mut(), path)
    }

    /// Replaces the data key with a new one wrapped for `groups` under the
    /// file's Shamir threshold (`sops rotate`); every value gets a new
    /// ciphertext on [`DecryptedFile::encrypt`]. Every group must have a key.
    pub fn rotate(
        &mut self,
        groups: &[Vec<Box<dyn MasterKey>>],
        ctx: &KeyContext,
    ) -> Result<(), Error> {
        let key = DataKey::generate();
        self.metadata.key_groups =
            wrap_for_groups(&key, groups, self.metadata.shamir_threshold, ctx)?;
        self.key = key;
        Ok(())
    }

    /// Whether `other` holds the same data key (compared in constant time):
    /// the merge driver's test for a key rotated on one side.
    pub fn same_data_key(&self, other: &DecryptedFile) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.key.expose().ct_eq(other.key.expose()))
    }

    /// Lets the values `other` held keep their ciphertext here too, as this
    /// file's own unchanged values do (the merge driver: a value taken from
    /// theirs keeps theirs' ciphertext). Only when both hold the same data
    /// key; the IVs are remembered per plaintext, so none is ever used for
    /// a different plaintext.
    pub fn adopt_ivs(&mut self, other: &DecryptedFile) {
        if self.same_data_key(other) {
            self.stash.absorb(&other.stash);
        }
    }

    /// Encrypts every value again with the file's data key; a value that is
    /// unchanged since decryption keeps its IV (and so, under the same data
    /// key, its exact ciphertext). Sets `lastmodified` and the MAC. On
    /// error the documents (partly plaintext) are wiped.
    pub fn encrypt(self) -> Result<EncryptedFile, Error> {
        let Self {
            mut docs,
            mut metadata,
            key,
            stash,
        } = self;
        reencrypt_docs(&mut docs, &key, &mut metadata, Some(&stash))?;
        // Encrypted now (values the rule leaves in the clear are not
        // secret): out of the wiping wrapper, which drops an empty vector.
        let docs = std::mem::take(&mut *docs);
        Ok(EncryptedFile { docs, metadata })
    }
}

impl fmt::Debug for DecryptedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptedFile")
            .field("documents", &self.docs.len())
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

/// [`wrap_data_key`] for key groups that must each have a master key (a
/// group without one could never be unwrapped).
fn wrap_for_groups(
    key: &DataKey,
    groups: &[Vec<Box<dyn MasterKey>>],
    threshold: usize,
    ctx: &KeyContext,
) -> Result<Vec<crate::metadata::KeyGroup>, Error> {
    if groups.is_empty() || groups.iter().any(Vec::is_empty) {
        return Err(Error::NoKeys);
    }
    Ok(wrap_data_key(key, groups, threshold, ctx)?)
}

#[cfg(all(test, feature = "age"))]
mod tests;
