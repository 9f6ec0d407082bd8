//! One traversal shared by encryption and decryption: it visits every leaf
//! in document order, computes its AAD (the mapping keys from the root, each
//! followed by `:`) and the partial-encryption decision, and hands back a
//! flat list of mutable leaf slots. Crypto then runs over that list (in
//! parallel) and the MAC over it in order.

use crate::rules::{LeafContext, Rules};
use crate::tree::{Branch, Item, Value};

/// Where a leaf lives.
pub enum Slot<'a> {
    /// A mapping value or a sequence element (a sequence element may be a
    /// [`Value::Comment`]).
    Value(&'a mut Value),
    /// The text of a comment item in a mapping.
    MapComment(&'a mut String),
}

/// A leaf with its AAD (a range of the [`Leaves`]' AAD arena) and decision.
pub struct Leaf<'a> {
    pub slot: Slot<'a>,
    aad: (u32, u32),
    /// The rules say this leaf is (to be) encrypted.
    pub encrypted: bool,
}

/// All leaves of a set of documents.
pub struct Leaves<'a> {
    pub leaves: Vec<Leaf<'a>>,
    aad_arena: String,
}

impl<'a> Leaves<'a> {
    /// The AAD of a leaf.
    pub fn aad(&self, leaf: &Leaf<'_>) -> &str {
        &self.aad_arena[leaf.aad.0 as usize..leaf.aad.1 as usize]
    }

    /// Splits into the leaves and a function to get their AAD (for parallel use).
    pub fn split(&mut self) -> (&mut [Leaf<'a>], &str) {
        (&mut self.leaves, &self.aad_arena)
    }
}

/// The AAD of a leaf given the arena (see [`Leaves::split`]).
pub fn aad_in<'s>(arena: &'s str, leaf: &Leaf<'_>) -> &'s str {
    &arena[leaf.aad.0 as usize..leaf.aad.1 as usize]
}

struct Walker<'r, 'a> {
    rules: &'r Rules,
    path: String,
    out: Leaves<'a>,
}

impl<'a> Walker<'_, 'a> {
    fn push(&mut self, slot: Slot<'a>, encrypted: bool) {
        let start = self.out.aad_arena.len() as u32;
        self.out.aad_arena.push_str(&self.path);
        let end = self.out.aad_arena.len() as u32;
        self.out.leaves.push(Leaf {
            slot,
            aad: (start, end),
            encrypted,
        });
    }

    /// `path_matched`: a key on the path to this container matched.
    /// `comments_matched`: a comment of an enclosing level's run matched.
    fn branch(&mut self, branch: &'a mut Branch, path_matched: bool, comments_matched: bool) {
        let mut run_matched = false;
        for item in &mut branch.0 {
            match item {
                Item::Comment(text) => {
                    let self_matched =
                        self.rules.uses_comments() && self.rules.comment_matches(text);
                    let ctx = LeafContext {
                        path_matched,
                        comments_matched: comments_matched || run_matched,
                        self_matched,
                    };
                    let enc = self.rules.encrypts(ctx);
                    self.push(Slot::MapComment(text), enc);
                    run_matched |= self_matched;
                }
                Item::Entry(key, value) => {
                    let len = self.path.len();
                    self.path.push_str(key);
                    self.path.push(':');
                    let matched = path_matched || self.rules.key_matches(key);
                    self.value(value, matched, comments_matched || run_matched);
                    self.path.truncate(len);
                    run_matched = false;
                }
            }
        }
    }

    fn value(&mut self, value: &'a mut Value, path_matched: bool, comments_matched: bool) {
        match value {
            Value::Map(b) => self.branch(b, path_matched, comments_matched),
            Value::Seq(items) => {
                let mut run_matched = false;
                for item in items {
                    if let Value::Comment(text) = item {
                        let self_matched =
                            self.rules.uses_comments() && self.rules.comment_matches(text);
                        let ctx = LeafContext {
                            path_matched,
                            comments_matched: comments_matched || run_matched,
                            self_matched,
                        };
                        let enc = self.rules.encrypts(ctx);
                        self.push(Slot::Value(item), enc);
                        run_matched |= self_matched;
                    } else {
                        self.value(item, path_matched, comments_matched || run_matched);
                        run_matched = false;
                    }
                }
            }
            Value::Null => {}
            _ => {
                let ctx = LeafContext {
                    path_matched,
                    comments_matched,
                    self_matched: false,
                };
                let enc = self.rules.encrypts(ctx);
                self.push(Slot::Value(value), enc);
            }
        }
    }
}

/// Collects the leaves of all documents (each document starts with an empty path).
pub fn leaves<'a>(docs: &'a mut [Branch], rules: &Rules) -> Leaves<'a> {
    let mut w = Walker {
        rules,
        path: String::new(),
        out: Leaves {
            leaves: Vec::new(),
            aad_arena: String::new(),
        },
    };
    for doc in docs {
        w.branch(doc, false, false);
    }
    w.out
}

/// The AAD of a comment at top level, `":"` (an empty path joined plus `:`),
/// differs from the arena form (empty): sops builds `join(path, ":") + ":"`.
/// Since each pushed key already ends with `:`, only the empty path needs
/// the fix-up, done here.
pub fn effective_aad(aad: &str) -> &str {
    if aad.is_empty() { ":" } else { aad }
}
