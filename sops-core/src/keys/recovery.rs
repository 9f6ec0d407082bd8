//! Recovering the data key from the metadata's key groups, and the one error
//! that lists every group and key with its own failure (sops' most-read message).

use std::fmt;

use crate::data_key::DataKey;
use crate::keys::{KeyContext, KeyError, master_key_for};
use crate::metadata::{KeyKind, Metadata};

/// One key that was tried and why it failed.
#[derive(Debug, Clone)]
pub struct KeyFailure {
    pub identifier: String,
    pub error: KeyError,
}

/// No group (or too few groups for the Shamir threshold) could be unwrapped.
#[derive(Debug, Clone)]
pub struct RecoveryError {
    /// Per group: `Ok(())` if it succeeded, else the failures of its keys.
    pub groups: Vec<Result<(), Vec<KeyFailure>>>,
    pub threshold: usize,
    pub recovered: usize,
    /// Set when enough parts were found but they could not be combined.
    pub combine_error: Option<String>,
}

impl std::error::Error for RecoveryError {}

/// Word-wraps `text` at `width` columns (Go `wordwrap` style).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

impl fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = &self.combine_error {
            return write!(f, "could not get data key from shamir parts: {e}");
        }
        writeln!(
            f,
            "Failed to get the data key required to decrypt the SOPS file."
        )?;
        for (i, group) in self.groups.iter().enumerate() {
            writeln!(f)?;
            match group {
                Ok(()) => writeln!(f, "Group {i}: SUCCESS")?,
                Err(failures) => {
                    writeln!(f, "Group {i}: FAILED")?;
                    for (n, failure) in failures.iter().enumerate() {
                        if n > 0 {
                            writeln!(f, "  ")?;
                        }
                        writeln!(f, "  {}: FAILED", failure.identifier)?;
                        let text = failure.error.to_string();
                        for (j, line) in wrap(&text, 60).iter().enumerate() {
                            let lead = if j == 0 { "    - | " } else { "      | " };
                            writeln!(f, "{lead}{line}")?;
                        }
                    }
                }
            }
        }
        writeln!(f)?;
        let trailer = if self.threshold > 1 {
            format!(
                "Recovery failed because the file was encrypted with a Shamir threshold of {}, but only {} part(s) were successfully recovered, one for each successful key group. In order for SOPS to recover the file, at least {} groups have to be successful. In order for a group to be successful, decryption has to succeed with any of the keys in that key group.",
                self.threshold, self.recovered, self.threshold
            )
        } else {
            "Recovery failed because no master key was able to decrypt the file. In order for SOPS to recover the file, at least one key has to be successful, but none were.".to_owned()
        };
        write!(f, "{}", wrap(&trailer, 75).join("\n"))
    }
}

/// The try order inside a group: `order` first (type ids, default age then
/// pgp), the other kinds after in stored order.
fn sort_for_decryption(kinds: &[KeyKind], order: &[String]) -> Vec<usize> {
    let rank = |k: KeyKind| {
        order
            .iter()
            .position(|o| o == k.metadata_name())
            .unwrap_or(order.len())
    };
    let mut idx: Vec<usize> = (0..kinds.len()).collect();
    idx.sort_by_key(|&i| rank(kinds[i]));
    idx
}

/// Recovers the data key. `decryption_order` is sops' `--decryption-order`
/// (empty = the default `age,pgp`).
pub fn recover_data_key(
    meta: &Metadata,
    ctx: &KeyContext,
    decryption_order: &[String],
) -> Result<DataKey, RecoveryError> {
    let default_order = ["age".to_owned(), "pgp".to_owned()];
    let order = if decryption_order.is_empty() {
        &default_order[..]
    } else {
        decryption_order
    };
    let mut parts = Vec::new();
    let mut groups = Vec::new();
    for group in &meta.key_groups {
        let kinds: Vec<KeyKind> = group.0.iter().map(|e| e.kind).collect();
        let mut failures = Vec::new();
        let mut found = None;
        for i in sort_for_decryption(&kinds, order) {
            let entry = &group.0[i];
            let result = master_key_for(entry).and_then(|k| k.decrypt(entry, ctx));
            match result {
                Ok(secret) => {
                    found = Some(secret);
                    break;
                }
                Err(error) => failures.push(KeyFailure {
                    identifier: entry.identifier(),
                    error,
                }),
            }
        }
        match found {
            Some(secret) => {
                parts.push(secret);
                groups.push(Ok(()));
            }
            None => groups.push(Err(failures)),
        }
    }
    let failed = |recovered, threshold| RecoveryError {
        groups: groups.clone(),
        threshold,
        recovered,
        combine_error: None,
    };
    if meta.key_groups.len() <= 1 {
        return match parts.pop().and_then(|p| DataKey::from_slice(&p)) {
            Some(key) => Ok(key),
            None => Err(failed(0, 0)),
        };
    }
    let threshold = if meta.shamir_threshold == 0 {
        meta.key_groups.len()
    } else {
        meta.shamir_threshold
    };
    if parts.len() < threshold {
        return Err(failed(parts.len(), threshold));
    }
    crate::shamir::combine(&parts)
        .and_then(|k| DataKey::from_slice(&k).ok_or("combined secret is not 32 bytes".into()))
        .map_err(|e: String| RecoveryError {
            groups,
            threshold,
            recovered: parts.len(),
            combine_error: Some(e),
        })
}
