//! The three-way merge of plaintext documents, key path by key path.
//!
//! Rules (the README's merge-driver section repeats them for users):
//! - a mapping is merged entry by entry, an entry being named by its key
//!   (and, for the rare duplicate key, its occurrence); the comments above
//!   an entry travel with it;
//! - a value changed on one side only takes that side's value; changed on
//!   both sides to the same value, that value; two different changes, or a
//!   change on one side and a removal on the other, are a conflict;
//! - two mappings are merged recursively; two sequences element by element
//!   when base, ours and theirs have the same length, else (both changed)
//!   the whole sequence is one conflict, because matching elements of
//!   lists that grew or shrank differently is guesswork;
//! - key order: ours', unless only theirs reordered the keys they share
//!   with the base; an entry added on one side goes after the entry that
//!   precedes it on that side (and after the other side's additions there);
//! - comments changed on both sides are kept from both (ours first): they
//!   hold no value, and keeping both loses nothing, so they never conflict.
//!
//! A conflicting value becomes a string with git's markers around both
//! sides, rendered by the caller (in the file's own syntax), so that the
//! merged document is still a document that can be encrypted and opened
//! with `sops edit`.

use std::collections::HashSet;

use zeroize::Zeroizing;

use crate::tree::{Branch, Comment, Item, Value};

/// The first line of a conflict string.
pub const OURS_MARKER: &str = "<<<<<<< ours";
/// The line between the two sides of a conflict string.
pub const SEPARATOR: &str = "=======";
/// The last line of a conflict string.
pub const THEIRS_MARKER: &str = ">>>>>>> theirs";

/// Merged documents and the paths (sops' `["key"][0]` form) of the values
/// that conflicted. The documents are plaintext: the caller wipes them.
pub struct TreeMerge {
    pub docs: Vec<Branch>,
    pub conflicts: Vec<String>,
}

impl std::fmt::Debug for TreeMerge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeMerge")
            .field("documents", &self.docs.len())
            .field("conflicts", &self.conflicts)
            .finish()
    }
}

/// Documents that cannot be merged into one file with markers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeMergeError {
    /// Both sides changed the number of documents of a multi-document file
    /// differently: there is no key path to put markers at.
    #[error(
        "both sides changed the number of documents differently (base {base}, ours {ours}, theirs {theirs})"
    )]
    DocumentCount {
        base: usize,
        ours: usize,
        theirs: usize,
    },
}

/// Merges `ours` and `theirs` against their common ancestor `base` (empty
/// when there is none, e.g. a file added on both sides). `render` writes
/// one side of a conflicting value as text.
pub fn merge_documents(
    base: &[Branch],
    ours: &[Branch],
    theirs: &[Branch],
    render: &dyn Fn(&Value) -> String,
) -> Result<TreeMerge, TreeMergeError> {
    let mut merger = Merger {
        render,
        conflicts: Vec::new(),
    };
    let docs = if ours == theirs || base == theirs {
        ours.to_vec()
    } else if base == ours {
        theirs.to_vec()
    } else if ours.len() == theirs.len() && (base.is_empty() || base.len() == ours.len()) {
        ours.iter()
            .zip(theirs)
            .enumerate()
            .map(|(i, (o, t))| merger.branch(base.get(i), o, t, &mut Vec::new()))
            .collect()
    } else {
        return Err(TreeMergeError::DocumentCount {
            base: base.len(),
            ours: ours.len(),
            theirs: theirs.len(),
        });
    };
    Ok(TreeMerge {
        docs,
        conflicts: merger.conflicts,
    })
}

/// One step of a path, in sops' `--extract` syntax (`["key"]`, `[0]`).
fn key_step(key: &str) -> String {
    format!("[\"{}\"]", key.replace('\\', "\\\\").replace('"', "\\\""))
}

/// An entry name: the key and which occurrence of it (0 but for
/// duplicates, which some formats allow).
type EntryId<'a> = (&'a str, usize);

/// An entry with the comments above it; `id` is `None` for the comments
/// after the last entry.
struct Unit<'a> {
    comments: Vec<&'a Comment>,
    id: Option<EntryId<'a>>,
    value: Option<&'a Value>,
}

fn units(branch: &Branch) -> Vec<Unit<'_>> {
    let mut out = Vec::new();
    let mut comments = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for item in &branch.0 {
        match item {
            Item::Comment(c) => comments.push(c),
            Item::Entry(k, v) => {
                let nth = seen.iter().filter(|s| **s == k.as_str()).count();
                seen.push(k);
                out.push(Unit {
                    comments: std::mem::take(&mut comments),
                    id: Some((k.as_str(), nth)),
                    value: Some(v),
                });
            }
        }
    }
    out.push(Unit {
        comments,
        id: None,
        value: None,
    });
    out
}

fn comments<'a>(u: Option<&Unit<'a>>) -> Vec<&'a Comment> {
    u.map(|u| u.comments.clone()).unwrap_or_default()
}

fn value<'a>(u: Option<&Unit<'a>>) -> Option<&'a Value> {
    u.and_then(|u| u.value)
}

/// The comments after the last entry.
fn tail<'a>(u: &[Unit<'a>]) -> Vec<&'a Comment> {
    comments(u.last())
}

fn find<'u, 'a>(units: &'u [Unit<'a>], id: EntryId<'_>) -> Option<&'u Unit<'a>> {
    units.iter().find(|u| u.id == Some(id))
}

fn ids<'a>(units: &[Unit<'a>]) -> Vec<EntryId<'a>> {
    units.iter().filter_map(|u| u.id).collect()
}

/// Comments: one side's change wins; two changes are both kept.
fn merge_comments(base: &[&Comment], ours: &[&Comment], theirs: &[&Comment]) -> Vec<Comment> {
    let chosen: Vec<&Comment> = if ours == theirs || base == theirs {
        ours.to_vec()
    } else if base == ours {
        theirs.to_vec()
    } else {
        let mut both = ours.to_vec();
        both.extend(theirs.iter().filter(|c| !ours.contains(c)));
        both
    };
    chosen.into_iter().cloned().collect()
}

struct Merger<'r> {
    render: &'r dyn Fn(&Value) -> String,
    conflicts: Vec<String>,
}

impl Merger<'_> {
    fn branch(
        &mut self,
        base: Option<&Branch>,
        ours: &Branch,
        theirs: &Branch,
        path: &mut Vec<String>,
    ) -> Branch {
        let empty = Branch::new();
        let (b, o, t) = (units(base.unwrap_or(&empty)), units(ours), units(theirs));
        let order = entry_order(&ids(&b), &ids(&o), &ids(&t));
        let mut out = Branch::new();
        for id in order {
            let (bu, ou, tu) = (find(&b, id), find(&o, id), find(&t, id));
            path.push(key_step(id.0));
            let merged = match (value(bu), value(ou), value(tu)) {
                (b, Some(o), Some(t)) => Some(self.value(b, o, t, path)),
                (None, Some(v), None) | (None, None, Some(v)) => Some(v.clone()),
                (Some(b), Some(o), None) if b == o => None,
                (Some(b), None, Some(t)) if b == t => None,
                (Some(_), Some(o), None) => Some(self.conflict(Some(o), None, path)),
                (Some(_), None, Some(t)) => Some(self.conflict(None, Some(t), path)),
                (_, None, None) => None,
            };
            path.pop();
            if let Some(v) = merged {
                for c in merge_comments(&comments(bu), &comments(ou), &comments(tu)) {
                    out.0.push(Item::Comment(c));
                }
                out.0.push(Item::Entry(id.0.to_owned(), v));
            }
        }
        for c in merge_comments(&tail(&b), &tail(&o), &tail(&t)) {
            out.0.push(Item::Comment(c));
        }
        out
    }

    fn value(
        &mut self,
        base: Option<&Value>,
        ours: &Value,
        theirs: &Value,
        path: &mut Vec<String>,
    ) -> Value {
        if ours == theirs || base == Some(theirs) {
            return ours.clone();
        }
        if base == Some(ours) {
            return theirs.clone();
        }
        match (base, ours, theirs) {
            (None | Some(Value::Map(_)), Value::Map(o), Value::Map(t)) => {
                let b = match base {
                    Some(Value::Map(b)) => Some(b),
                    _ => None,
                };
                Value::Map(self.branch(b, o, t, path))
            }
            (Some(Value::Seq(b)), Value::Seq(o), Value::Seq(t))
                if b.len() == o.len() && o.len() == t.len() =>
            {
                let mut items = Vec::with_capacity(o.len());
                for (i, ((b, o), t)) in b.iter().zip(o).zip(t).enumerate() {
                    path.push(format!("[{i}]"));
                    items.push(self.value(Some(b), o, t, path));
                    path.pop();
                }
                Value::Seq(items)
            }
            _ => self.conflict(Some(ours), Some(theirs), path),
        }
    }

    /// A string holding both sides between git's markers; `None` is a side
    /// that removed the value.
    fn conflict(&mut self, ours: Option<&Value>, theirs: Option<&Value>, path: &[String]) -> Value {
        self.conflicts.push(path.concat());
        let side = |v: Option<&Value>| {
            let mut text = v.map(|v| (self.render)(v)).unwrap_or_default();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text
        };
        let label = |name: &str, v: Option<&Value>| {
            if v.is_some() {
                name.to_owned()
            } else {
                format!("{name} (deleted)")
            }
        };
        // The rendered sides are plaintext: wiped once copied.
        let (o, t) = (Zeroizing::new(side(ours)), Zeroizing::new(side(theirs)));
        let (ol, tl) = (label(OURS_MARKER, ours), label(THEIRS_MARKER, theirs));
        Value::Str(format!("{ol}\n{}{SEPARATOR}\n{}{tl}", *o, *t))
    }
}

/// The order of the merged entries (removed ones are dropped later): the
/// backbone is ours', or theirs' when only theirs reordered the entries
/// that all three share; entries only the other side has go after the
/// entry before them on that side.
fn entry_order<'a>(
    base: &[EntryId<'a>],
    ours: &[EntryId<'a>],
    theirs: &[EntryId<'a>],
) -> Vec<EntryId<'a>> {
    let shared: HashSet<EntryId<'a>> = base
        .iter()
        .filter(|id| ours.contains(id) && theirs.contains(id))
        .copied()
        .collect();
    let only_shared = |ids: &[EntryId<'a>]| -> Vec<EntryId<'a>> {
        ids.iter()
            .filter(|id| shared.contains(id))
            .copied()
            .collect()
    };
    let (b, o, t) = (only_shared(base), only_shared(ours), only_shared(theirs));
    let (backbone, other) = if o == b && t != b {
        (theirs, ours)
    } else {
        (ours, theirs)
    };
    let mut order: Vec<EntryId<'a>> = backbone.to_vec();
    for (i, id) in other.iter().enumerate() {
        if order.contains(id) {
            continue;
        }
        let mut at = other[..i]
            .iter()
            .rev()
            .find_map(|prev| order.iter().position(|x| x == prev))
            .map_or(0, |p| p + 1);
        // Past the backbone's own additions there: both sides' new entries
        // after the same one read as "ours, then theirs".
        while at < order.len() && !other.contains(&order[at]) {
            at += 1;
        }
        order.insert(at, *id);
    }
    order
}

#[cfg(test)]
mod tests;
