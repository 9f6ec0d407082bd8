//! The age keystore's implementation (behind the `age` feature): the
//! master key and the unwrapping of its stanzas.

use std::fmt;
use std::io::{Read, Write};

use age::{plugin, ssh, x25519};
use base64::Engine;
use zeroize::Zeroizing;

use super::KIND;
use super::identities::AgeIdentities;
use super::plugins::{PluginCallbacks, one_line, plugin_resolve_error};
use super::pq::{self, PqRecipient};
use crate::keys::{KeyContext, KeyError, KeyKind, MasterKey};
use crate::metadata::KeyEntry;
use crate::tree::{Branch, Value};

const ARMOR_BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
const ARMOR_END: &str = "-----END AGE ENCRYPTED FILE-----";
const ARMOR_COLUMNS: usize = 64;

/// Upper bound on what an `enc` may decrypt to (a data key is 32 bytes, a
/// Shamir share 33); anything larger is not ours.
const MAX_SECRET_LEN: u64 = 1024;

/// sops' text when identities were found but none could unwrap the file key.
const NO_MATCH: &str =
    "identity did not match any of the recipients: incorrect identity for recipient block";
const READER_FAILED: &str = "failed to create reader for decrypting sops data key with age";

/// An age recipient as stored in `sops.age[].recipient`.
#[derive(Clone)]
pub struct AgeKey {
    recipient: String,
    /// The recipient parsed, or why it does not parse: a key read from a
    /// file's metadata may hold anything there, which only matters when it
    /// encrypts (sops 3.11 decrypts with the identities alone).
    parsed: Result<Recipient, String>,
}

#[derive(Clone)]
enum Recipient {
    X25519(x25519::Recipient),
    Ssh(Box<ssh::Recipient>),
    Plugin(plugin::Recipient),
    Tag(age::tag::Recipient),
    TagPq(Box<age::tagpq::Recipient>),
    /// Hybrid post-quantum (`age1pq1…`, sops 3.12 / age 1.3).
    Pq(Box<PqRecipient>),
}

impl fmt::Debug for AgeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgeKey")
            .field("recipient", &self.recipient)
            .finish()
    }
}

impl AgeKey {
    /// Parses a recipient string (trimmed): `age1…` X25519, `age1pq1…`
    /// hybrid post-quantum, `age1<plugin>1…` plugin recipients,
    /// `age1tag1…`/`age1tagpq1…`, or an `ssh-ed25519` /
    /// `ssh-rsa` public key (a trailing comment is allowed).
    pub fn parse(recipient: &str) -> Result<Self, KeyError> {
        let recipient = recipient.trim();
        let invalid = |reason: String| KeyError::Invalid {
            identifier: recipient.to_owned(),
            reason,
        };
        let parsed = if recipient.starts_with(pq::RECIPIENT_PREFIX) {
            recipient
                .parse::<PqRecipient>()
                .map(|r| Recipient::Pq(Box::new(r)))
                .map_err(|e| {
                    // sops 3.12's prefix (the same as for X25519 keys).
                    invalid(format!(
                        "failed to parse input as Bech32-encoded age public key: {e}"
                    ))
                })?
        } else if recipient.starts_with("age1tagpq1") {
            recipient
                .parse::<age::tagpq::Recipient>()
                .map(|r| Recipient::TagPq(Box::new(r)))
                .map_err(|e| {
                    invalid(format!("failed to parse input as age tagpq recipient: {e}"))
                })?
        } else if recipient.starts_with("age1tag1") {
            recipient
                .parse::<age::tag::Recipient>()
                .map(Recipient::Tag)
                .map_err(|e| invalid(format!("failed to parse input as age tag recipient: {e}")))?
        } else if recipient.starts_with("age1") && recipient.matches('1').count() > 1 {
            recipient
                .parse::<plugin::Recipient>()
                .map(Recipient::Plugin)
                .map_err(|e| {
                    invalid(format!(
                        "failed to parse input as age key from age plugin: {e}"
                    ))
                })?
        } else if recipient.starts_with("age1") {
            recipient
                .parse::<x25519::Recipient>()
                .map(Recipient::X25519)
                .map_err(|e| {
                    invalid(format!(
                        "failed to parse input as Bech32-encoded age public key: {e}"
                    ))
                })?
        } else if recipient.starts_with("ssh-") {
            recipient
                .parse::<ssh::Recipient>()
                .map(|r| Recipient::Ssh(Box::new(r)))
                .map_err(|e| {
                    let why = match e {
                        ssh::ParseRecipientKeyError::Invalid(why) => why.to_owned(),
                        ssh::ParseRecipientKeyError::RsaModulusTooLarge => {
                            "RSA modulus too large".to_owned()
                        }
                        ssh::ParseRecipientKeyError::RsaModulusTooSmall => {
                            "RSA keys must be at least 2048 bits".to_owned()
                        }
                        ssh::ParseRecipientKeyError::Unsupported(kind) => {
                            format!("unsupported SSH key type {kind}")
                        }
                        _ => "not a supported SSH public key".to_owned(),
                    };
                    invalid(format!(
                        "failed to parse input as age-ssh public key: {why}"
                    ))
                })?
        } else {
            return Err(invalid(
                "failed to parse input, unknown recipient type".to_owned(),
            ));
        };
        Ok(Self {
            recipient: recipient.to_owned(),
            parsed: Ok(parsed),
        })
    }

    /// The key of a metadata entry's `recipient`: as [`AgeKey::parse`], but
    /// a recipient that does not parse fails only when the key encrypts,
    /// as in sops 3.11, whose decryption never reads it (a truncated or
    /// hand-edited recipient still decrypts).
    pub(crate) fn from_stored(recipient: &str) -> Self {
        Self::parse(recipient).unwrap_or_else(|e| Self {
            recipient: recipient.trim().to_owned(),
            parsed: Err(match e {
                KeyError::Invalid { reason, .. } => reason,
                other => other.to_string(),
            }),
        })
    }

    /// The recipient as given (trimmed).
    pub fn recipient(&self) -> &str {
        &self.recipient
    }

    /// Encrypts `secret` to this recipient as a binary age file.
    fn encrypt_binary(&self, secret: &[u8]) -> Result<Vec<u8>, String> {
        let driver;
        let parsed = self.parsed.as_ref().map_err(Clone::clone)?;
        let recipient: &dyn age::Recipient = match parsed {
            Recipient::X25519(r) => r,
            Recipient::Ssh(r) => r.as_ref(),
            Recipient::Tag(r) => r,
            Recipient::TagPq(r) => r.as_ref(),
            Recipient::Pq(r) => r.as_ref(),
            Recipient::Plugin(r) => {
                driver = plugin::RecipientPluginV1::new(
                    r.plugin(),
                    std::slice::from_ref(r),
                    &[],
                    PluginCallbacks,
                )
                .map_err(|e| {
                    format!(
                        "failed to create writer for encrypting sops data key with age: {}",
                        plugin_resolve_error(r.plugin(), &e)
                    )
                })?;
                &driver
            }
        };
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(recipient)).map_err(|e| {
                format!(
                    "failed to create writer for encrypting sops data key with age: {}",
                    one_line(&e.to_string())
                )
            })?;
        let mut out = Vec::new();
        let mut writer = encryptor.wrap_output(&mut out).map_err(|e| {
            format!("failed to create writer for encrypting sops data key with age: {e}")
        })?;
        writer
            .write_all(secret)
            .map_err(|e| format!("failed to encrypt sops data key with age: {e}"))?;
        writer.finish().map_err(|e| {
            format!("failed to close writer for encrypting sops data key with age: {e}")
        })?;
        Ok(out)
    }
}

impl MasterKey for AgeKey {
    fn entry_template(&self) -> Option<KeyEntry> {
        let mut fields = Branch::new();
        fields.push("recipient", Value::Str(self.recipient.clone()));
        Some(KeyEntry { kind: KIND, fields })
    }

    fn kind(&self) -> KeyKind {
        KIND
    }

    fn identifier(&self) -> String {
        self.recipient.clone()
    }

    fn encrypt(&self, secret: &[u8], _ctx: &KeyContext) -> Result<KeyEntry, KeyError> {
        if let Err(reason) = &self.parsed {
            return Err(KeyError::Invalid {
                identifier: self.recipient.clone(),
                reason: reason.clone(),
            });
        }
        let file = self.encrypt_binary(secret).map_err(KeyError::Rejected)?;
        let mut fields = Branch::new();
        fields.push("recipient", Value::Str(self.recipient.clone()));
        fields.push("enc", Value::Str(armor(&file)));
        Ok(KeyEntry { kind: KIND, fields })
    }

    fn decrypt(&self, entry: &KeyEntry, ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let ids = ctx.age_identities_for(&self.recipient);
        if ids.is_empty() {
            return Err(KeyError::NoCredentials(
                ids.explain("failed to load age identities", &[]),
            ));
        }
        let bound_to = ctx
            .binds_age_recipients()
            .then_some(self.recipient.as_str());
        decrypt_with(&ids, bound_to, entry.enc().unwrap_or_default().as_bytes())
    }
}

/// Unwraps an age file (armored or binary) with `ids`.
fn decrypt_with(
    ids: &AgeIdentities,
    bound_to: Option<&str>,
    enc: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let drivers = ids.drivers(bound_to);
    let rejected = |why: &str| {
        KeyError::Rejected(ids.explain(&format!("{READER_FAILED}: {why}"), &drivers.errors))
    };
    let decryptor = age::Decryptor::new(age::armor::ArmoredReader::new(enc))
        .map_err(|e| rejected(&one_line(&e.to_string())))?;
    if drivers.is_empty() {
        return Err(rejected(NO_MATCH));
    }
    let reader = decryptor.decrypt(drivers.iter()).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => rejected(NO_MATCH),
        e => rejected(&one_line(&e.to_string())),
    })?;
    let mut secret = Zeroizing::new(Vec::with_capacity(64));
    reader
        .take(MAX_SECRET_LEN)
        .read_to_end(&mut secret)
        .map_err(|e| {
            KeyError::Rejected(format!(
                "failed to copy age decrypted data into bytes.Buffer: {}",
                one_line(&e.to_string())
            ))
        })?;
    Ok(secret)
}

/// ASCII armor exactly as sops (Go age) writes it: begin marker, standard
/// padded base64 in 64-column lines, end marker, each line ending in `\n`.
fn armor(file: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(file);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / ARMOR_COLUMNS + 80);
    out.push_str(ARMOR_BEGIN);
    out.push('\n');
    let mut rest = encoded.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(ARMOR_COLUMNS));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(ARMOR_END);
    out.push('\n');
    out
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
