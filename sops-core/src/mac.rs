//! The MAC (sops-format §2): SHA-512 over the plaintext bytes of the leaves
//! in document order, as upper-case hex, stored encrypted with the
//! `lastmodified` string as AAD.

use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::cipher::{CipherError, ValueCipher};
use crate::tree::{Value, time};

/// SHA-256 of the ASCII string `sops`, fed first when `mac_only_encrypted`.
const MAC_ONLY_ENCRYPTED_PREFIX: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// MAC failures. The hex digests are not secret (they are in the file).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MacError {
    #[error("MAC mismatch. File has {file}, computed {computed}")]
    Mismatch { file: String, computed: String },
    #[error("Cannot decrypt MAC")]
    CannotDecrypt(#[source] CipherError),
    #[error("invalid lastmodified timestamp")]
    BadLastModified,
}

/// Accumulates the MAC over leaf values.
pub struct MacHasher {
    sha: Sha512,
}

impl MacHasher {
    pub fn new(mac_only_encrypted: bool) -> Self {
        let mut sha = Sha512::new();
        if mac_only_encrypted {
            sha.update(MAC_ONLY_ENCRYPTED_PREFIX);
        }
        Self { sha }
    }

    /// Feeds one leaf (no-op for null, containers and comments).
    pub fn update(&mut self, value: &Value) {
        if matches!(value, Value::Comment(_)) {
            return;
        }
        if let Some(bytes) = crate::cipher::plaintext_bytes(value) {
            self.sha.update(&bytes);
        }
    }

    /// The digest as upper-case hex.
    pub fn finish_hex(self) -> String {
        hex::encode_upper(self.sha.finalize())
    }
}

/// The AAD of the MAC: `lastmodified` re-formatted with second precision.
fn mac_aad(last_modified: &str) -> Result<String, MacError> {
    time::truncate_to_seconds(last_modified).ok_or(MacError::BadLastModified)
}

/// Encrypts a computed MAC for storage in `sops.mac`.
pub fn encrypt_mac(
    cipher: &ValueCipher,
    mac_hex: &str,
    last_modified: &str,
) -> Result<String, MacError> {
    let aad = mac_aad(last_modified)?;
    Ok(cipher.encrypt_bytes(mac_hex.as_bytes(), "str", &aad, None))
}

/// Checks the stored MAC against the computed one (case-sensitive, constant time).
pub fn verify_mac(
    cipher: &ValueCipher,
    stored: &str,
    last_modified: &str,
    computed: &str,
) -> Result<(), MacError> {
    if stored.is_empty() {
        return Err(MacError::Mismatch {
            file: "no MAC".into(),
            computed: computed.into(),
        });
    }
    let aad = mac_aad(last_modified)?;
    let Value::Str(file) = cipher
        .decrypt_value(stored, &aad)
        .map_err(MacError::CannotDecrypt)?
    else {
        return Err(MacError::CannotDecrypt(CipherError::Format));
    };
    if bool::from(file.as_bytes().ct_eq(computed.as_bytes())) {
        Ok(())
    } else {
        Err(MacError::Mismatch {
            file,
            computed: computed.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_sha256_of_sops() {
        use sha2::Sha256;
        assert_eq!(
            Sha256::digest(b"sops").as_slice(),
            MAC_ONLY_ENCRYPTED_PREFIX
        );
    }

    // Tests named m10_* were added for issue 10 so that each mutant
    // `cargo mutants` makes of this file fails one of sops-core's own tests.

    #[test]
    fn m10_mac_only_encrypted_hashes_the_prefix_first() {
        let mut plain = MacHasher::new(false);
        plain.update(&Value::Str("a".into()));
        assert_eq!(plain.finish_hex(), hex::encode_upper(Sha512::digest(b"a")));
        let mut only = MacHasher::new(true);
        only.update(&Value::Str("a".into()));
        let mut expected = MAC_ONLY_ENCRYPTED_PREFIX.to_vec();
        expected.push(b'a');
        assert_eq!(
            only.finish_hex(),
            hex::encode_upper(Sha512::digest(&expected))
        );
    }

    fn cipher() -> ValueCipher {
        ValueCipher::new(&crate::data_key::DataKey::from_slice(&[6; 32]).unwrap())
    }

    #[test]
    fn m10_the_mac_is_sealed_with_lastmodified_to_the_second() {
        let c = cipher();
        let stored = encrypt_mac(&c, "ABC", "2024-05-01T12:00:00.25+02:00").unwrap();
        assert_eq!(
            c.decrypt_value(&stored, "2024-05-01T12:00:00+02:00"),
            Ok(Value::Str("ABC".into()))
        );
        assert_eq!(
            verify_mac(&c, &stored, "2024-05-01T12:00:00.9+02:00", "ABC"),
            Ok(())
        );
        assert_eq!(
            encrypt_mac(&c, "ABC", "yesterday"),
            Err(MacError::BadLastModified)
        );
        assert_eq!(
            verify_mac(&c, &stored, "yesterday", "ABC"),
            Err(MacError::BadLastModified)
        );
    }

    #[test]
    fn m10_verify_refuses_every_other_mac() {
        let c = cipher();
        let lm = "2024-05-01T12:00:00Z";
        let stored = encrypt_mac(&c, "ABC", lm).unwrap();
        for computed in ["ABD", "abc", "AB", ""] {
            assert_eq!(
                verify_mac(&c, &stored, lm, computed),
                Err(MacError::Mismatch {
                    file: "ABC".into(),
                    computed: computed.into()
                })
            );
        }
        assert_eq!(
            verify_mac(&c, "", lm, "ABC"),
            Err(MacError::Mismatch {
                file: "no MAC".into(),
                computed: "ABC".into()
            })
        );
        assert_eq!(
            verify_mac(&c, &stored, "2024-05-01T12:00:01Z", "ABC"),
            Err(MacError::CannotDecrypt(CipherError::Authentication))
        );
        let not_a_string = c.encrypt_bytes(b"12", "int", lm, None);
        assert_eq!(
            verify_mac(&c, &not_a_string, lm, "12"),
            Err(MacError::CannotDecrypt(CipherError::Format))
        );
    }

    #[test]
    fn yaml_comments_vector() {
        // vectors.json: yaml_comments mac_plaintext.
        let mut h = MacHasher::new(false);
        for v in ["demo", "hunter2"] {
            h.update(&Value::Str(v.into()));
        }
        h.update(&Value::Int(8080));
        h.update(&Value::Float(0.75));
        h.update(&Value::Bool(true));
        h.update(&Value::Str(String::new()));
        h.update(&Value::Time(
            crate::tree::Time::parse_rfc3339("2024-05-01T12:00:00Z").unwrap(),
        ));
        h.update(&Value::Comment("ignored".into()));
        h.update(&Value::Null);
        h.update(&Value::Str("alpha".into()));
        h.update(&Value::Int(42));
        for v in ["v", "first line\nsecond line\n", "yes", "visible-in-clear"] {
            h.update(&Value::Str(v.into()));
        }
        assert_eq!(
            h.finish_hex(),
            "B3146377EBEE4986A055543D504C44963BFB882C8EED336B72ADC1A65656AE088C095DACB6881B179E8B2E8A0DF18EF2A08475276CCE619097A32185B7B41E41"
        );
    }
}
