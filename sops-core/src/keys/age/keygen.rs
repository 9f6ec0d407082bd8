//! New age key pairs (`sops age-keygen`), in age-keygen's file format.

use std::fmt;

use zeroize::Zeroizing;

use super::pq::PqIdentity;
use age::secrecy::ExposeSecret;

/// A fresh age identity and its recipient. `Debug` shows the recipient
/// only.
pub struct AgeKeyPair {
    recipient: String,
    identity: Zeroizing<String>,
}

impl fmt::Debug for AgeKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgeKeyPair")
            .field("recipient", &self.recipient)
            .finish_non_exhaustive()
    }
}

/// Generates an identity from the OS RNG: hybrid post-quantum
/// (`AGE-SECRET-KEY-PQ-1…` / `age1pq1…`, age-keygen -pq) when
/// `post_quantum`, else X25519 (`AGE-SECRET-KEY-1…` / `age1…`).
pub fn generate_key_pair(post_quantum: bool) -> AgeKeyPair {
    if post_quantum {
        let identity = PqIdentity::generate();
        AgeKeyPair {
            recipient: identity.to_public().to_string(),
            identity: identity.to_secret_string(),
        }
    } else {
        let identity = age::x25519::Identity::generate();
        AgeKeyPair {
            recipient: identity.to_public().to_string(),
            identity: Zeroizing::new(identity.to_string().expose_secret().to_owned()),
        }
    }
}

impl AgeKeyPair {
    /// The public key (`age1…` / `age1pq1…`).
    pub fn recipient(&self) -> &str {
        &self.recipient
    }

    /// The secret key line.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The key file as age-keygen writes it: `# created: <created>`,
    /// `# public key: <recipient>`, the identity, each line ending in `\n`.
    pub fn key_file(&self, created: &str) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# created: {created}\n# public key: {}\n{}\n",
            self.recipient,
            self.identity.as_str()
        ))
    }
}
