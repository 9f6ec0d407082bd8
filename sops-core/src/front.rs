//! The front door: decrypt a file or bytes, encrypt a document for a set
//! of keys, and change values of an encrypted file in place.
//!
//! Why it looks like this:
//!
//! - **Two document types.** A [`PlainFile`] holds values in the clear and
//!   nothing else; a [`SopsFile`] holds values as the file stores them
//!   *and* the `sops` metadata, in one value. Each has its own `to_bytes`,
//!   so writing an encrypted file without its metadata (the old
//!   `store.emit_plain(&docs)` after `ops::encrypt`), or plaintext as if
//!   it were encrypted, cannot be written down:
//!
//!   ```compile_fail
//!   # fn f(file: sops_core::SopsFile) {
//!   // A SopsFile is not a PlainFile: there is no way to emit its
//!   // documents without their metadata.
//!   let _ = sops_core::PlainFile::to_bytes(&file);
//!   # }
//!   ```
//!
//!   ```compile_fail
//!   # fn f(plain: sops_core::PlainFile) {
//!   // Nor can plaintext be saved as if it were an encrypted file.
//!   let _ = sops_core::SopsFile::save(&plain, "secrets.yaml");
//!   # }
//!   ```
//!
//! - **Nothing half done.** Decryption either returns every value in the
//!   clear or only an error: the values decrypted before a failure (a
//!   tampered value, a MAC mismatch) are wiped, never handed back.
//!   Plaintext is wiped when its [`PlainFile`] or [`EditableFile`] is
//!   dropped, and their `Debug` never shows a value.
//! - **Keys as strings.** [`Recipients`] names master keys the way
//!   `.sops.yaml` and the command line do (an age recipient, a PGP
//!   fingerprint, a KMS ARN …), so a caller never builds the keystores'
//!   trait objects; they are resolved, and checked, when encrypting.
//! - **Explicit key material.** Every call that needs a key takes a
//!   [`KeyContext`]: build one from the environment
//!   ([`KeyContext::from_process_env`]) or by hand
//!   ([`KeyContext::builder`]); nothing here reads the environment.
//! - **One rule per file.** sops stores at most one partial-encryption
//!   rule in a file, so [`EncryptOptions`] keeps the last one set.

use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::Error;
use crate::keys::{KeyContext, KeyKind, KeySpec, MasterKey, master_key_from_spec};
use crate::metadata::PartialRule;
use crate::ops;
use crate::stores::Format;
use crate::tree::path::{Found, PathError, PathStep, lookup, parse_path};
use crate::tree::{Branch, Value};

/// Reads the encrypted file at `path` and decrypts it, choosing its format
/// from its name as sops does (`.yaml`/`.yml`, `.json`, `.env`, `.ini`,
/// anything else binary). The MAC is verified.
///
/// ```no_run
/// let ctx = sops_core::KeyContext::from_process_env();
/// let plain = sops_core::decrypt_file("secrets.enc.yaml", &ctx)?;
/// let password = plain.get(r#"["db"]["password"]"#)?;
/// # Ok::<(), sops_core::Error>(())
/// ```
pub fn decrypt_file(path: impl AsRef<Path>, ctx: &KeyContext) -> Result<PlainFile, Error> {
    SopsFile::open(path)?.decrypt(ctx)
}

/// Decrypts the bytes of an encrypted file of the given format, verifying
/// the MAC.
pub fn decrypt(input: &[u8], format: Format, ctx: &KeyContext) -> Result<PlainFile, Error> {
    SopsFile::parse(input, format)?.decrypt(ctx)
}

/// Encrypts a plaintext document for `recipients`: a new data key is
/// generated and wrapped for every key; values are encrypted as
/// `options`' rule says (by default all but keys ending in
/// `_unencrypted`). The result keeps `plain`'s format.
///
/// ```
/// # use age::secrecy::ExposeSecret;
/// use sops_core::{EncryptOptions, Format, KeyContext, PlainFile, Recipients};
///
/// let identity = age::x25519::Identity::generate();
/// let recipients = Recipients::new().age(identity.to_public().to_string());
/// let ctx = KeyContext::builder().age_identity("example", identity).build();
///
/// let plain = PlainFile::parse(b"user: admin\npassword: hunter2\n", Format::Yaml)?;
/// let encrypted = sops_core::encrypt(&plain, &recipients, &ctx, &EncryptOptions::new())?;
/// let text = String::from_utf8(encrypted.to_bytes()?).unwrap();
/// assert!(text.contains("password: ENC[AES256_GCM,"));
/// assert!(text.contains("sops:"));
/// # Ok::<(), sops_core::Error>(())
/// ```
pub fn encrypt(
    plain: &PlainFile,
    recipients: &Recipients,
    ctx: &KeyContext,
    options: &EncryptOptions,
) -> Result<SopsFile, Error> {
    let groups = recipients.master_keys()?;
    let opts = ops::EncryptOptions {
        rule: options.rule.clone(),
        mac_only_encrypted: options.mac_only_encrypted,
        shamir_threshold: recipients.threshold,
    };
    Ok(SopsFile {
        format: plain.format,
        inner: ops::encrypt(plain.docs.to_vec(), &groups, ctx, &opts)?,
    })
}

/// Documents in the clear: a file to encrypt, or what decryption gave.
///
/// A YAML file may hold several documents; the value methods
/// ([`get`](PlainFile::get), [`set`](PlainFile::set),
/// [`remove`](PlainFile::remove)) work on the first, as `sops set` does.
/// Paths use sops' syntax: `["key"][0]["nested"]`.
///
/// The values are wiped when this is dropped; `Debug` shows only how many
/// documents there are.
pub struct PlainFile {
    format: Format,
    docs: Zeroizing<Vec<Branch>>,
}

impl PlainFile {
    /// Parses plaintext bytes of `format`. Input that already carries sops
    /// metadata is refused ([`Error::AlreadyEncrypted`]), as `sops encrypt`
    /// refuses it.
    pub fn parse(input: &[u8], format: Format) -> Result<Self, Error> {
        let store = format.store().map_err(Error::store)?;
        let docs = Zeroizing::new(store.load(input).map_err(Error::store)?);
        if store.looks_encrypted(&docs) {
            return Err(Error::AlreadyEncrypted);
        }
        Ok(Self { format, docs })
    }

    /// Documents built in code, to be written as `format`.
    ///
    /// ```
    /// use sops_core::{Branch, Format, PlainFile, Value};
    ///
    /// let mut doc = Branch::new();
    /// doc.push("token", Value::Str("s3cr3t".into()));
    /// let plain = PlainFile::from_documents(vec![doc], Format::Json);
    /// assert_eq!(&plain.to_bytes()?[..], b"{\n\t\"token\": \"s3cr3t\"\n}\n");
    /// # Ok::<(), sops_core::Error>(())
    /// ```
    pub fn from_documents(docs: Vec<Branch>, format: Format) -> Self {
        Self {
            format,
            docs: Zeroizing::new(docs),
        }
    }

    /// The format the documents are written in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The documents.
    pub fn documents(&self) -> &[Branch] {
        &self.docs
    }

    /// The documents, to change in place.
    pub fn documents_mut(&mut self) -> &mut Vec<Branch> {
        &mut self.docs
    }

    /// The documents, still wiped when dropped.
    pub fn into_documents(mut self) -> Zeroizing<Vec<Branch>> {
        Zeroizing::new(std::mem::take(&mut *self.docs))
    }

    /// The value at `path` in the first document.
    pub fn get(&self, path: &str) -> Result<&Value, Error> {
        value_at(self.docs.first(), &parse_path(path)?)
    }

    /// Sets the value at `path` in the first document, creating missing
    /// keys as `sops set` does; false if it already held that value.
    pub fn set(&mut self, path: &str, value: Value) -> Result<bool, Error> {
        let steps = parse_path(path)?;
        if self.docs.is_empty() {
            self.docs.push(Branch::new());
        }
        Ok(crate::tree::path::set(&mut self.docs[0], &steps, value)?)
    }

    /// Removes the value at `path` from the first document.
    pub fn remove(&mut self, path: &str) -> Result<(), Error> {
        let steps = parse_path(path)?;
        let doc = self
            .docs
            .first_mut()
            .ok_or_else(|| Error::Path(PathError::UnsetKeyNotFound(path.to_owned())))?;
        Ok(crate::tree::path::unset(doc, &steps)?)
    }

    /// The plaintext bytes, in the file's format (wiped when dropped).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.to_bytes_as(self.format)
    }

    /// The plaintext bytes in another format (YAML to JSON, …).
    pub fn to_bytes_as(&self, format: Format) -> Result<Zeroizing<Vec<u8>>, Error> {
        let store = format.store().map_err(Error::store)?;
        Ok(Zeroizing::new(
            store.emit_plain(&self.docs).map_err(Error::store)?,
        ))
    }
}

impl fmt::Debug for PlainFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainFile")
            .field("format", &self.format)
            .field("documents", &self.docs.len())
            .finish()
    }
}

/// An encrypted file as sops writes it: its documents (values encrypted,
/// or in the clear where the file's rule leaves them) and its `sops`
/// metadata, which [`SopsFile::to_bytes`] always writes with them.
pub struct SopsFile {
    format: Format,
    inner: ops::EncryptedFile,
}

impl SopsFile {
    /// Parses an encrypted file's bytes.
    pub fn parse(input: &[u8], format: Format) -> Result<Self, Error> {
        let store = format.store().map_err(Error::store)?;
        Ok(Self {
            format,
            inner: ops::EncryptedFile::open(store.as_ref(), input)?,
        })
    }

    /// Reads the encrypted file at `path`, its format chosen from its name
    /// as sops does. Errors name the path.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let format = Format::for_path(path);
        let store = format.store().map_err(|source| Error::Store {
            path: Some(path.to_path_buf()),
            source,
        })?;
        Ok(Self {
            format,
            inner: ops::EncryptedFile::open_path(store.as_ref(), path)?,
        })
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Recovers the data key with `ctx` and decrypts every value,
    /// verifying the MAC. On error nothing decrypted is kept.
    pub fn decrypt(&self, ctx: &KeyContext) -> Result<PlainFile, Error> {
        let (docs, metadata) = (self.inner.docs().to_vec(), self.inner.metadata().clone());
        let decrypted = ops::decrypt_loaded(docs, metadata, ctx, &ops::DecryptOptions::default())?;
        Ok(PlainFile {
            format: self.format,
            docs: decrypted.into_docs(),
        })
    }

    /// Decrypts the file to change some of its values, keeping the
    /// ciphertext of the others (see [`EditableFile`]). `path` is where
    /// [`EditableFile::save`] writes.
    fn edit(self, ctx: &KeyContext, path: PathBuf) -> Result<EditableFile, Error> {
        let inner = self.inner.decrypt(ctx, &ops::DecryptOptions::default())?;
        Ok(EditableFile {
            path,
            format: self.format,
            inner,
        })
    }

    /// The file's bytes, metadata included.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let store = self.format.store().map_err(Error::store)?;
        self.inner.emit(store.as_ref())
    }

    /// Writes the file to `path`, replacing it atomically: on error the
    /// old file is unchanged.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let store = self.format.store().map_err(Error::store)?;
        self.inner.save(store.as_ref(), path.as_ref())
    }
}

impl fmt::Debug for SopsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SopsFile")
            .field("format", &self.format)
            .field("file", &self.inner)
            .finish()
    }
}

/// An encrypted file opened for changes: `sops set` and `sops unset` as a
/// library call. Values you do not change keep their exact ciphertext
/// when the file is saved (the same IV under the same data key), so a
/// diff of the file shows only what changed (plus the MAC and
/// `lastmodified`).
///
/// ```
/// # use age::secrecy::ExposeSecret;
/// use sops_core::{EditableFile, EncryptOptions, Format, KeyContext, PlainFile, Recipients, Value};
///
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("secrets.yaml");
/// # let identity = age::x25519::Identity::generate();
/// # let recipients = Recipients::new().age(identity.to_public().to_string());
/// # let ctx = KeyContext::builder().age_identity("example", identity).build();
/// # let plain = PlainFile::parse(b"user: admin\npassword: hunter2\n", Format::Yaml)?;
/// # sops_core::encrypt(&plain, &recipients, &ctx, &EncryptOptions::new())?.save(&path)?;
/// // `path` names an encrypted YAML file.
/// let mut file = EditableFile::open(&path, &ctx)?;
/// assert_eq!(file.get(r#"["user"]"#)?, &Value::Str("admin".into()));
/// file.set(r#"["password"]"#, Value::Str("correct horse".into()))?;
/// file.save()?;
///
/// let plain = sops_core::decrypt_file(&path, &ctx)?;
/// assert_eq!(&plain.to_bytes()?[..], b"user: admin\npassword: correct horse\n");
/// # Ok::<(), sops_core::Error>(())
/// ```
pub struct EditableFile {
    path: PathBuf,
    format: Format,
    inner: ops::DecryptedFile,
}

impl EditableFile {
    /// Reads the encrypted file at `path` (format from its name) and
    /// decrypts it with `ctx`, verifying the MAC.
    pub fn open(path: impl AsRef<Path>, ctx: &KeyContext) -> Result<Self, Error> {
        let path = path.as_ref();
        SopsFile::open(path)?.edit(ctx, path.to_path_buf())
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The decrypted documents.
    pub fn documents(&self) -> &[Branch] {
        self.inner.docs()
    }

    /// The value at `path` (sops' syntax, `["a"][0]`) in the first document.
    pub fn get(&self, path: &str) -> Result<&Value, Error> {
        value_at(self.inner.docs().first(), &parse_path(path)?)
    }

    /// Sets the value at `path` in the first document (`sops set`),
    /// creating missing keys; false if it already held that value. A path
    /// into the file's metadata (`["sops"]`) is refused.
    pub fn set(&mut self, path: &str, value: Value) -> Result<bool, Error> {
        let steps = parse_path(path)?;
        if let Some(PathStep::Key(key)) = steps.first()
            && self.format.is_metadata_key(key)
        {
            return Err(Error::MetadataPath);
        }
        Ok(self.inner.set(&steps, value)?)
    }

    /// Removes the value at `path` from the first document (`sops unset`).
    pub fn remove(&mut self, path: &str) -> Result<(), Error> {
        Ok(self.inner.unset(&parse_path(path)?)?)
    }

    /// Encrypts the values again (unchanged ones keep their ciphertext),
    /// without writing anything.
    pub fn encrypt(self) -> Result<SopsFile, Error> {
        Ok(SopsFile {
            format: self.format,
            inner: self.inner.encrypt()?,
        })
    }

    /// Encrypts the values again and replaces the file it was opened from,
    /// atomically: on error the old file is unchanged.
    pub fn save(self) -> Result<(), Error> {
        let path = self.path.clone();
        self.encrypt()?.save(path)
    }
}

impl fmt::Debug for EditableFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EditableFile")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("file", &self.inner)
            .finish()
    }
}

/// The value a path names in `doc` (the first document; none reads as an
/// empty one).
fn value_at<'a>(doc: Option<&'a Branch>, steps: &[PathStep]) -> Result<&'a Value, Error> {
    static EMPTY: Branch = Branch(Vec::new());
    match lookup(doc.unwrap_or(&EMPTY), steps)? {
        Found::Value(v) => Ok(v),
        // An empty path names the whole document, not a value.
        Found::Document(_) => Err(Error::Path(PathError::SetEmptyPath)),
    }
}

/// The master keys a file is encrypted for, named as in `.sops.yaml` and
/// on the command line, in key groups, with an optional Shamir threshold.
///
/// Keys are added to the current (last) key group; [`Recipients::new_group`]
/// starts another. With one group, every key can decrypt the file alone.
/// With several, the data key is split with Shamir's scheme: any
/// `shamir_threshold` groups (every group when none is set) must each give
/// their share, from any one of their keys.
///
/// The strings are checked when encrypting: a malformed key, or a keystore
/// not built into this crate (its cargo feature is off), is an error then.
///
/// ```
/// use sops_core::Recipients;
///
/// // One key group: either key decrypts.
/// let team = Recipients::new()
///     .age("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
///     .pgp("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4");
///
/// // Two groups, both needed: an age key and a KMS key.
/// let split = Recipients::new()
///     .age("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
///     .new_group()
///     .aws_kms("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
///     .shamir_threshold(2);
/// # let _ = (team, split);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recipients {
    /// Per group: (metadata name of the keystore, the key as written).
    groups: Vec<Vec<(&'static str, String)>>,
    threshold: usize,
}

impl Recipients {
    /// No keys yet: one empty key group.
    pub fn new() -> Self {
        Self::default()
    }

    fn add(mut self, kind: &'static str, key: String) -> Self {
        match self.groups.last_mut() {
            Some(group) => group.push((kind, key)),
            None => self.groups.push(vec![(kind, key)]),
        }
        self
    }

    /// An age recipient (`age1…`, or an SSH public key).
    pub fn age(self, recipient: impl Into<String>) -> Self {
        self.add("age", recipient.into())
    }

    /// A PGP key by fingerprint (needs `gpg` when encrypting).
    pub fn pgp(self, fingerprint: impl Into<String>) -> Self {
        self.add("pgp", fingerprint.into())
    }

    /// An AWS KMS key ARN, optionally `ARN+ROLE_ARN` as in `--kms`
    /// (cargo feature `aws-kms`).
    pub fn aws_kms(self, arn: impl Into<String>) -> Self {
        self.add("kms", arn.into())
    }

    /// A GCP KMS key resource ID (cargo feature `gcp-kms`).
    pub fn gcp_kms(self, resource_id: impl Into<String>) -> Self {
        self.add("gcp_kms", resource_id.into())
    }

    /// An Azure Key Vault key URL (cargo feature `azure-kv`).
    pub fn azure_kv(self, key_url: impl Into<String>) -> Self {
        self.add("azure_kv", key_url.into())
    }

    /// A HashiCorp Vault transit key URI (cargo feature `hc-vault`).
    pub fn hc_vault(self, transit_uri: impl Into<String>) -> Self {
        self.add("hc_vault", transit_uri.into())
    }

    /// A HuaweiCloud KMS key, `REGION:KEY_ID` (cargo feature `hckms`).
    pub fn hckms(self, key_id: impl Into<String>) -> Self {
        self.add("hckms", key_id.into())
    }

    /// Starts a new key group: the keys added next go there. Groups left
    /// empty are ignored.
    pub fn new_group(mut self) -> Self {
        if self.groups.last().is_some_and(|g| !g.is_empty()) {
            self.groups.push(Vec::new());
        }
        self
    }

    /// How many key groups must give their share to decrypt (Shamir); 0,
    /// the default, means every group.
    pub fn shamir_threshold(mut self, threshold: usize) -> Self {
        self.threshold = threshold;
        self
    }

    /// The keystores' master keys, group by group.
    fn master_keys(&self) -> Result<Vec<Vec<Box<dyn MasterKey>>>, Error> {
        self.groups
            .iter()
            .filter(|g| !g.is_empty())
            .map(|group| {
                group
                    .iter()
                    .map(|(kind, id)| {
                        let kind = KeyKind::from_metadata_name(kind)
                            .expect("every name in Recipients is a keystore's");
                        let spec = KeySpec {
                            kind,
                            id: id.clone(),
                            fields: Vec::new(),
                        };
                        Ok(master_key_from_spec(&spec)?)
                    })
                    .collect()
            })
            .collect()
    }
}

/// Options of [`encrypt`]: which values are encrypted.
///
/// By default every value is, except those under keys ending in
/// `_unencrypted` (sops' default). A file holds at most one rule: the last
/// one set wins.
///
/// ```
/// // Encrypt only `password`, `token` and anything below them.
/// let options = sops_core::EncryptOptions::new().encrypted_regex("^(password|token)$");
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
pub struct EncryptOptions {
    rule: Option<PartialRule>,
    mac_only_encrypted: bool,
}

impl EncryptOptions {
    /// sops' defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leave values in the clear under keys ending in `suffix`.
    pub fn unencrypted_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.rule = Some(PartialRule::UnencryptedSuffix(suffix.into()));
        self
    }

    /// Encrypt only values under keys ending in `suffix`.
    pub fn encrypted_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.rule = Some(PartialRule::EncryptedSuffix(suffix.into()));
        self
    }

    /// Leave values in the clear under keys matching `regex` (Go syntax,
    /// as sops).
    pub fn unencrypted_regex(mut self, regex: impl Into<String>) -> Self {
        self.rule = Some(PartialRule::UnencryptedRegex(regex.into()));
        self
    }

    /// Encrypt only values under keys matching `regex`.
    pub fn encrypted_regex(mut self, regex: impl Into<String>) -> Self {
        self.rule = Some(PartialRule::EncryptedRegex(regex.into()));
        self
    }

    /// Leave values in the clear under keys whose preceding comment
    /// matches `regex`.
    pub fn unencrypted_comment_regex(mut self, regex: impl Into<String>) -> Self {
        self.rule = Some(PartialRule::UnencryptedCommentRegex(regex.into()));
        self
    }

    /// Encrypt only values under keys whose preceding comment matches
    /// `regex`.
    pub fn encrypted_comment_regex(mut self, regex: impl Into<String>) -> Self {
        self.rule = Some(PartialRule::EncryptedCommentRegex(regex.into()));
        self
    }

    /// Compute the MAC over the encrypted values only (sops'
    /// `mac_only_encrypted`), so the clear ones can change without it.
    pub fn mac_only_encrypted(mut self, yes: bool) -> Self {
        self.mac_only_encrypted = yes;
        self
    }
}
