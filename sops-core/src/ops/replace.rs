//! `replace`: a whole new plaintext for an encrypted file, under the same
//! data key, key groups and partial-encryption rules.
//!
//! The point is a quiet `git diff` after regenerating a secrets file from
//! a template or another tool: re-encrypting with `sops encrypt` gives
//! every value a new IV (and a new data key), so every line changes. Here
//! the file is decrypted first, which fills [`DecryptedFile`]'s IV stash;
//! [`DecryptedFile::encrypt`] then gives every value whose path, type and
//! plaintext are unchanged its old IV, hence its old ciphertext, as `set`
//! and `edit` already do. Only changed or added values (and the MAC and
//! `lastmodified`) get new ciphertext.

use zeroize::Zeroizing;

use crate::error::Error;
use crate::ops::DecryptedFile;
use crate::stores::{Store, StoreError};
use crate::tree::Branch;

impl DecryptedFile {
    /// Puts `docs`, a new plaintext for this file (as loaded with
    /// [`Store::load`]), in place of its documents, wiping the old ones.
    /// `store` is the store the file is written with: it decides what
    /// counts as the metadata's key.
    ///
    /// Returns `Ok(false)` and changes nothing when `docs` equals the
    /// current plaintext (values, order and comments): the caller can
    /// leave the file alone instead of rewriting its MAC. Refuses, changing
    /// nothing, documents that carry the metadata's top-level key
    /// ([`Error::AlreadyEncrypted`], as `encrypt` does: that is most often
    /// the encrypted file given twice) and an input without any document
    /// ([`StoreError::Empty`]).
    ///
    #[cfg_attr(feature = "internals", doc = "```")]
    #[cfg_attr(not(feature = "internals"), doc = "```ignore")]
    /// // (Runs with the `internals` feature.)
    /// # use sops_core::keys::{KeyContext, MasterKey, age::AgeKey};
    /// # use sops_core::ops::{self, DecryptOptions, EncryptOptions, EncryptedFile};
    /// # use sops_core::stores::Format;
    /// # use age::secrecy::ExposeSecret;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let identity = age::x25519::Identity::generate();
    /// # let recipient = identity.to_public().to_string();
    /// # let ctx = KeyContext::from_vars([("SOPS_AGE_KEY", identity.to_string().expose_secret().to_owned())]);
    /// # let store = Format::Yaml.store()?;
    /// # let docs = store.load(b"user: admin\npassword: hunter2\n")?;
    /// # let keys: Vec<Box<dyn MasterKey>> = vec![Box::new(AgeKey::parse(&recipient)?)];
    /// # let input = ops::encrypt(docs, &[keys], &ctx, &EncryptOptions::default())?.emit(store.as_ref())?;
    /// // `input` holds an encrypted YAML file; give it a new plaintext.
    /// let new_plaintext = store.load(b"user: admin\npassword: correct horse\nport: 22\n")?;
    /// let mut plain = EncryptedFile::open(store.as_ref(), &input)?.decrypt(&ctx, &DecryptOptions::default())?;
    /// assert!(plain.replace_plaintext(new_plaintext, store.as_ref())?);
    /// let output = plain.encrypt()?.emit(store.as_ref())?;
    /// // `user` kept its ciphertext; `password` and `port` are new.
    /// # let line = |b: &[u8], k: &str| String::from_utf8_lossy(b).lines().find(|l| l.starts_with(k)).map(str::to_owned);
    /// # assert_eq!(line(&input, "user:"), line(&output, "user:"));
    /// # assert_ne!(line(&input, "password:"), line(&output, "password:"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn replace_plaintext(
        &mut self,
        docs: Vec<Branch>,
        store: &dyn Store,
    ) -> Result<bool, Error> {
        // Wiped on every way out but the one that hands it over.
        let mut docs = Zeroizing::new(docs);
        if docs.is_empty() {
            return Err(Error::Store {
                path: None,
                source: StoreError::Empty,
            });
        }
        if store.looks_encrypted(&docs) {
            return Err(Error::AlreadyEncrypted);
        }
        if self.docs() == docs.as_slice() {
            return Ok(false);
        }
        self.replace_docs(std::mem::take(&mut *docs));
        Ok(true)
    }
}

#[cfg(all(test, feature = "age"))]
mod tests;
