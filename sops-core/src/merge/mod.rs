//! Three-way merges of encrypted files: the logic behind `sops
//! merge-driver`, the git merge driver.
//!
//! [`merge_files`] decrypts base, ours and theirs, merges the plaintext
//! documents ([`tree::merge_documents`]) and the metadata, and encrypts
//! the result with the data key of the side that kept it (ours, unless
//! only theirs rotated it), so that every value that side already had
//! keeps its exact ciphertext ([`DecryptedFile::encrypt`]'s IV re-use)
//! and the MAC is new. The rules for the metadata:
//! - data key rotated on one side: that side's data key and key groups;
//!   rotated on both (to different keys): no merge, ours is kept;
//! - same data key everywhere: the key groups (with the Shamir threshold)
//!   changed on one side are that side's; changed on both, a single group
//!   is merged key by key (one added on either side is kept, one removed
//!   on either side is removed), several groups are not merged;
//! - the partial-encryption rule and `mac_only_encrypted`: one side's
//!   change wins; two different changes are not merged.
//!
//! "Not merged" is [`MergeOutcome::KeepOurs`] with the reason: git then
//! records a conflict with ours' file in place.

pub mod tree;

use std::fmt;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::keys::KeyContext;
use crate::metadata::{KeyEntry, KeyGroup, Metadata};
use crate::ops::{DecryptOptions, DecryptedFile, EncryptedFile};
use crate::stores::Store;
use crate::tree::Value;

pub use tree::{TreeMerge, TreeMergeError, merge_documents};

/// One of the three inputs of a merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Base,
    Ours,
    Theirs,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Base => "base",
            Side::Ours => "ours",
            Side::Theirs => "theirs",
        })
    }
}

/// A failure to read or write one of the files (which is untouched).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    #[error("could not load {side}")]
    Open {
        side: Side,
        #[source]
        source: Error,
    },
    #[error("could not decrypt {side}")]
    Decrypt {
        side: Side,
        #[source]
        source: Error,
    },
    #[error("could not encrypt the merged file")]
    Encrypt(#[source] Error),
}

impl MergeError {
    /// The library error underneath (for exit codes).
    pub fn into_source(self) -> Error {
        match self {
            MergeError::Open { source, .. }
            | MergeError::Decrypt { source, .. }
            | MergeError::Encrypt(source) => source,
        }
    }
}

/// What a merge produced.
#[derive(Debug)]
#[non_exhaustive]
pub enum MergeOutcome {
    /// One encrypted file. `conflicts` names the key paths whose value
    /// holds both sides between conflict markers (empty: a clean merge);
    /// `notes` say what was decided on the way (e.g. which side's key
    /// groups won), for the user.
    Merged {
        file: EncryptedFile,
        conflicts: Vec<String>,
        notes: Vec<String>,
    },
    /// The two sides cannot be put into one file: keep ours as it is and
    /// let the user resolve it; `reason` says why (no values in it).
    KeepOurs { reason: String },
}

/// Merges the encrypted files `ours` and `theirs` against their common
/// ancestor `base` (empty or blank bytes: none), all in `store`'s format.
/// Every side must be decryptable with `ctx`.
pub fn merge_files(
    store: &dyn Store,
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
    ctx: &KeyContext,
    opts: &DecryptOptions,
) -> Result<MergeOutcome, MergeError> {
    let open = |side: Side, bytes: &[u8]| {
        EncryptedFile::open(store, bytes).map_err(|source| MergeError::Open { side, source })
    };
    let base = if base.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(open(Side::Base, base)?)
    };
    let (ours, theirs) = (open(Side::Ours, ours)?, open(Side::Theirs, theirs)?);
    let decrypt = |side: Side, file: EncryptedFile| {
        file.decrypt(ctx, opts)
            .map_err(|source| MergeError::Decrypt { side, source })
    };
    let ours = decrypt(Side::Ours, ours)?;
    let theirs = decrypt(Side::Theirs, theirs)?;
    let base = base.map(|b| decrypt(Side::Base, b)).transpose()?;
    merge_decrypted(store, base.as_ref(), ours, theirs)
}

/// [`merge_files`] on files already decrypted.
pub fn merge_decrypted(
    store: &dyn Store,
    base: Option<&DecryptedFile>,
    ours: DecryptedFile,
    theirs: DecryptedFile,
) -> Result<MergeOutcome, MergeError> {
    let keep = |reason: &str| {
        Ok(MergeOutcome::KeepOurs {
            reason: reason.to_owned(),
        })
    };
    let (ours_rotated, theirs_rotated) = match base {
        Some(b) => (!b.same_data_key(&ours), !b.same_data_key(&theirs)),
        None => {
            let differ = !ours.same_data_key(&theirs);
            (differ, differ)
        }
    };
    if ours_rotated && theirs_rotated && !ours.same_data_key(&theirs) {
        return keep(if base.is_some() {
            "the data key was rotated on both sides: merge the values by hand (sops edit), then rotate again"
        } else {
            "the file was created on both sides with different data keys: merge the values by hand"
        });
    }
    let base_meta = base.map(DecryptedFile::metadata);
    let mut notes = Vec::new();
    let groups = if theirs_rotated && !ours_rotated {
        if groups_changed(base_meta, ours.metadata()) {
            notes.push(
                "theirs rotated the data key: its key groups win over ours' changes to them"
                    .to_owned(),
            );
        }
        (
            theirs.metadata().key_groups.clone(),
            theirs.metadata().shamir_threshold,
        )
    } else if ours_rotated && !theirs_rotated {
        if groups_changed(base_meta, theirs.metadata()) {
            notes.push(
                "ours rotated the data key: its key groups win over theirs' changes to them"
                    .to_owned(),
            );
        }
        (
            ours.metadata().key_groups.clone(),
            ours.metadata().shamir_threshold,
        )
    } else {
        match merge_key_groups(base_meta, ours.metadata(), theirs.metadata()) {
            Some(groups) => groups,
            None => {
                return keep(
                    "the key groups changed differently on both sides: merge them by hand (sops updatekeys or sops groups)",
                );
            }
        }
    };
    let Some(rule) = pick(
        base_meta.map(|m| &m.rule),
        &ours.metadata().rule,
        &theirs.metadata().rule,
    ) else {
        return keep("both sides changed the partial-encryption rule differently");
    };
    let Some(mac_only_encrypted) = pick(
        base_meta.map(|m| &m.mac_only_encrypted),
        &ours.metadata().mac_only_encrypted,
        &theirs.metadata().mac_only_encrypted,
    ) else {
        return keep("both sides changed mac_only_encrypted differently");
    };

    // A string as it is (JSON would quote it); anything else in the
    // file's own syntax.
    let render = |v: &Value| -> String {
        if let Value::Str(s) = v {
            return s.clone();
        }
        let bytes = Zeroizing::new(store.emit_value(v).unwrap_or_default());
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let empty = Vec::new();
    let merged = match merge_documents(
        base.map_or(&empty[..], DecryptedFile::docs),
        ours.docs(),
        theirs.docs(),
        &render,
    ) {
        Ok(m) => m,
        Err(e) => {
            return Ok(MergeOutcome::KeepOurs {
                reason: e.to_string(),
            });
        }
    };
    let TreeMerge { docs, conflicts } = merged;

    // The side whose data key the result keeps; the other lends the IVs
    // of its values when it holds the same key.
    let (mut result, other) = if theirs_rotated && !ours_rotated {
        (theirs, ours)
    } else {
        (ours, theirs)
    };
    result.adopt_ivs(&other);
    drop(other);
    result.replace_docs(docs);
    let meta = result.metadata_mut();
    (meta.key_groups, meta.shamir_threshold) = groups;
    meta.rule = rule;
    meta.mac_only_encrypted = mac_only_encrypted;
    let file = result.encrypt().map_err(MergeError::Encrypt)?;
    Ok(MergeOutcome::Merged {
        file,
        conflicts,
        notes,
    })
}

/// One side's change wins, the same change on both is taken once; `None`
/// for two different changes.
fn pick<T: PartialEq + Clone>(base: Option<&T>, ours: &T, theirs: &T) -> Option<T> {
    if ours == theirs || base == Some(theirs) {
        Some(ours.clone())
    } else if base == Some(ours) {
        Some(theirs.clone())
    } else {
        None
    }
}

/// A master key's name for comparisons: its keystore and identifier.
fn entry_id(e: &KeyEntry) -> (&'static str, String) {
    (e.kind.metadata_name(), e.identifier())
}

type GroupIds = (Vec<Vec<(&'static str, String)>>, usize);

fn group_ids(m: &Metadata) -> GroupIds {
    (
        m.key_groups
            .iter()
            .map(|g| g.0.iter().map(entry_id).collect())
            .collect(),
        m.shamir_threshold,
    )
}

fn groups_changed(base: Option<&Metadata>, side: &Metadata) -> bool {
    base.is_none_or(|b| group_ids(b) != group_ids(side))
}

/// The key groups and threshold of the merge when all three hold the same
/// data key (so every stored `enc` of a single group wraps that key and
/// can be taken as it is); `None` when both changed them and they are not
/// a single group on every side (Shamir shares of two different splits
/// cannot be mixed).
fn merge_key_groups(
    base: Option<&Metadata>,
    ours: &Metadata,
    theirs: &Metadata,
) -> Option<(Vec<KeyGroup>, usize)> {
    let take = |m: &Metadata| Some((m.key_groups.clone(), m.shamir_threshold));
    let (o, t) = (group_ids(ours), group_ids(theirs));
    if o == t || base.is_some_and(|b| group_ids(b) == t) {
        return take(ours);
    }
    if base.is_some_and(|b| group_ids(b) == o) {
        return take(theirs);
    }
    let single = |m: &Metadata| m.key_groups.len() == 1;
    if !(single(ours) && single(theirs) && base.is_none_or(single)) {
        return None;
    }
    let empty = KeyGroup::default();
    let b = base.map_or(&empty, |b| &b.key_groups[0]);
    let (o, t) = (&ours.key_groups[0], &theirs.key_groups[0]);
    let has = |g: &KeyGroup, e: &KeyEntry| g.0.iter().any(|x| entry_id(x) == entry_id(e));
    // Ours' keys but those theirs removed, then theirs' additions.
    let mut entries: Vec<KeyEntry> =
        o.0.iter()
            .filter(|e| !has(b, e) || has(t, e))
            .cloned()
            .collect();
    for e in &t.0 {
        if !has(b, e) && !entries.iter().any(|x| entry_id(x) == entry_id(e)) {
            entries.push(e.clone());
        }
    }
    if entries.is_empty() {
        return None;
    }
    Some((vec![KeyGroup(entries)], 0))
}

#[cfg(all(test, feature = "age"))]
mod tests;
