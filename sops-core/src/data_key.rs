//! The per-file 32-byte AES key. Zeroized on drop, redacted in `Debug`, not
//! `Clone`, so it cannot leak through logs or stray copies.

use std::fmt;

use rand::RngCore;
use zeroize::Zeroizing;

/// The data key of a sops file.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// Draws a new key from the OS random number generator.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// Wraps 32 bytes; `None` if `bytes` has another length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(array)))
    }

    /// The raw key bytes (what a master key wraps).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}
