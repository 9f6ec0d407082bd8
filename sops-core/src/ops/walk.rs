//! One traversal shared by encryption and decryption: it visits every leaf
//! in document order, computes its AAD (the mapping keys from the root, each
//! followed by `:`) and the partial-encryption decision, and hands back a
//! flat list of mutable leaf slots. Crypto then runs over that list (in
//! parallel) and the MAC over it in order.

use crate::rules::{LeafContext, Rules};
use crate::tree::{Branch, Comment, Item, Value};

/// Where a leaf lives.
pub enum Slot<'a> {
    /// A mapping value or a sequence element (a sequence element may be a
    /// [`Value::Comment`]).
    Value(&'a mut Value),
    /// A comment item in a mapping.
    MapComment(&'a mut Comment),
}

/// A leaf with its AAD (a range of the [`Leaves`]' AAD arena) and decision.
pub struct Leaf<'a> {
    pub slot: Slot<'a>,
    aad: (u32, u32),
    /// The rules say this leaf is (to be) encrypted.
    pub encrypted: bool,
}

/// All leaves of a set of documents.
#[derive(Default)]
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

/// Takes the leaves collected so far; `false` stops the walk.
type Sink<'s, 'a> = &'s mut dyn FnMut(&mut Leaves<'a>) -> bool;

struct Walker<'r, 'a, 's> {
    rules: &'r Rules,
    path: String,
    out: Leaves<'a>,
    /// Where every `batch` leaves go (then `out` starts again empty);
    /// without one, `out` collects them all.
    sink: Option<(usize, Sink<'s, 'a>)>,
    stopped: bool,
}

impl<'r, 'a, 's> Walker<'r, 'a, 's> {
    fn new(rules: &'r Rules, sink: Option<(usize, Sink<'s, 'a>)>) -> Self {
        Self {
            rules,
            path: String::new(),
            out: Leaves::default(),
            sink,
            stopped: false,
        }
    }

    fn push(&mut self, slot: Slot<'a>, encrypted: bool) {
        let start = self.out.aad_arena.len() as u32;
        self.out.aad_arena.push_str(&self.path);
        let end = self.out.aad_arena.len() as u32;
        self.out.leaves.push(Leaf {
            slot,
            aad: (start, end),
            encrypted,
        });
        if let Some((batch, sink)) = &mut self.sink
            && self.out.leaves.len() >= *batch
        {
            self.stopped = !sink(&mut self.out);
            self.out.leaves.clear();
            self.out.aad_arena.clear();
        }
    }

    /// `path_matched`: a key on the path to this container matched.
    /// `comments_matched`: a comment of an enclosing level's run matched.
    fn branch(&mut self, branch: &'a mut Branch, path_matched: bool, comments_matched: bool) {
        self.items(&mut branch.0, path_matched, comments_matched);
    }

    /// The items of a mapping, or a run of them (see [`items_in_batches`]).
    fn items(&mut self, items: &'a mut [Item], path_matched: bool, comments_matched: bool) {
        let mut run_matched = false;
        for item in items {
            if self.stopped {
                return;
            }
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
                    if self.stopped {
                        return;
                    }
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
    let mut w = Walker::new(rules, None);
    for doc in docs {
        w.branch(doc, false, false);
    }
    w.out
}

/// Hands the leaves of all documents to `f` in document order, `batch` at
/// a time (none empty; the last may be smaller), so that one batch's leaf
/// list and AAD paths are held instead of the whole file's (about 70
/// bytes per value). Stops at `f`'s first error and returns it.
pub fn in_batches<'a, E>(
    docs: &'a mut [Branch],
    rules: &Rules,
    batch: usize,
    f: impl FnMut(&mut Leaves<'a>) -> Result<(), E>,
) -> Result<(), E> {
    walk_in_batches(rules, batch, f, |w| {
        for doc in docs {
            if w.stopped {
                break;
            }
            w.branch(doc, false, false);
        }
    })
}

/// [`in_batches`] over some of a document's top-level items: a run that a
/// reader has finished while the rest of the file is still being read.
/// Walking a document's items run by run gives its leaves in the order of
/// one walk as long as each run but the last ends with an entry (a comment
/// that selects what follows it only reaches the next entry).
pub fn items_in_batches<'a, E>(
    items: &'a mut [Item],
    rules: &Rules,
    batch: usize,
    f: impl FnMut(&mut Leaves<'a>) -> Result<(), E>,
) -> Result<(), E> {
    walk_in_batches(rules, batch, f, |w| w.items(items, false, false))
}

/// Runs `walk` with a walker that hands `f` every `batch` leaves, then
/// what is left; stops at `f`'s first error and returns it.
fn walk_in_batches<'a, E>(
    rules: &Rules,
    batch: usize,
    mut f: impl FnMut(&mut Leaves<'a>) -> Result<(), E>,
    walk: impl FnOnce(&mut Walker<'_, 'a, '_>),
) -> Result<(), E> {
    let mut result = Ok(());
    let mut sink = |leaves: &mut Leaves<'a>| match f(leaves) {
        Ok(()) => true,
        Err(e) => {
            result = Err(e);
            false
        }
    };
    let mut w = Walker::new(rules, Some((batch.max(1), &mut sink)));
    walk(&mut w);
    let (mut rest, stopped) = (std::mem::take(&mut w.out), w.stopped);
    drop(w);
    if !stopped && !rest.leaves.is_empty() {
        sink(&mut rest);
    }
    result
}

/// The AAD of a comment at top level, `":"` (an empty path joined plus `:`),
/// differs from the arena form (empty): sops builds `join(path, ":") + ":"`.
/// Since each pushed key already ends with `:`, only the empty path needs
/// the fix-up, done here.
pub fn effective_aad(aad: &str) -> &str {
    if aad.is_empty() { ":" } else { aad }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::PartialRule;

    fn c(s: &str) -> Item {
        Item::Comment(s.into())
    }

    fn e(k: &str, v: Value) -> Item {
        Item::Entry(k.into(), v)
    }

    fn map(items: Vec<Item>) -> Value {
        Value::Map(Branch(items))
    }

    /// What the walk hands back, as (leaf text, AAD as crypto sees it, encrypted).
    fn walk(docs: &mut [Branch], rule: PartialRule) -> Vec<(String, String, bool)> {
        let rules = Rules::new(&rule);
        let mut leaves = leaves(docs, &rules);
        let seen: Vec<_> = leaves.leaves.iter().map(|leaf| describe(&leaves, leaf)).collect();
        // The split view gives the same AADs.
        let (split, arena) = leaves.split();
        let split_aads: Vec<_> = split
            .iter()
            .map(|leaf| effective_aad(aad_in(arena, leaf)).to_owned())
            .collect();
        let aads: Vec<_> = seen.iter().map(|(_, a, _)| a.clone()).collect();
        assert_eq!(split_aads, aads);
        // In batches: the same leaves in the same order, none empty.
        for batch in [1, 2, 3, 1000] {
            let mut docs = docs.to_vec();
            let mut batched = Vec::new();
            in_batches(&mut docs, &rules, batch, |leaves| {
                assert!((1..=batch).contains(&leaves.leaves.len()));
                batched.extend(leaves.leaves.iter().map(|leaf| describe(leaves, leaf)));
                Ok::<(), ()>(())
            })
            .unwrap();
            assert_eq!(batched, seen, "in batches of {batch}");
        }
        seen
    }

    fn describe(leaves: &Leaves<'_>, leaf: &Leaf<'_>) -> (String, String, bool) {
        let text = match &leaf.slot {
            Slot::Value(Value::Int(i)) => i.to_string(),
            Slot::Value(Value::Bool(b)) => b.to_string(),
            Slot::Value(Value::Comment(t)) => format!("#{}", t.text),
            Slot::MapComment(t) => format!("#{}", t.text),
            Slot::Value(other) => format!("{other:?}"),
        };
        (text, effective_aad(leaves.aad(leaf)).to_owned(), leaf.encrypted)
    }

    /// The walk stops at the first batch that fails, with its error.
    #[test]
    fn in_batches_stops_at_the_first_error() {
        let mut docs = comment_docs();
        let rules = Rules::new(&PartialRule::default_rule());
        let mut calls = 0;
        let result = in_batches(&mut docs, &rules, 2, |_| {
            calls += 1;
            if calls == 2 { Err(calls) } else { Ok(()) }
        });
        assert_eq!(result, Err(2));
        assert_eq!(calls, 2);
    }

    /// The comment-rule example checked against sops 3.11 (encrypting it with
    /// `encrypted_comment_regex` / `unencrypted_comment_regex: "sops:enc"`
    /// in `.sops.yaml` and reading which values came out as `ENC[…]`).
    fn comment_docs() -> Vec<Branch> {
        vec![
            Branch(vec![
                c(" top plain"),
                e("a", Value::Int(1)),
                c(" sops:enc"),
                e("b", Value::Int(2)),
                c(" sops:enc"),
                c(" second"),
                e(
                    "c",
                    map(vec![
                        e("d", Value::Int(3)),
                        c(" inner"),
                        e("e", Value::Seq(vec![Value::Int(4), Value::Int(5)])),
                    ]),
                ),
                e("f", Value::Int(6)),
                e(
                    "g",
                    Value::Seq(vec![
                        Value::Int(7),
                        Value::Comment(" sops:enc".into()),
                        Value::Int(8),
                        Value::Int(9),
                    ]),
                ),
                // Null is not a leaf: sops neither encrypts nor hashes it.
                e("n", Value::Null),
            ]),
            // A second document starts again from an empty path.
            Branch(vec![e("z", Value::Bool(true))]),
        ]
    }

    const COMMENT_LEAVES: [(&str, &str); 16] = [
        ("# top plain", ":"),
        ("1", "a:"),
        ("# sops:enc", ":"),
        ("2", "b:"),
        ("# sops:enc", ":"),
        ("# second", ":"),
        ("3", "c:d:"),
        ("# inner", "c:"),
        ("4", "c:e:"),
        ("5", "c:e:"),
        ("6", "f:"),
        ("7", "g:"),
        ("# sops:enc", "g:"),
        ("8", "g:"),
        ("9", "g:"),
        ("true", "z:"),
    ];

    fn check(seen: &[(String, String, bool)], encrypted: [u8; 16]) {
        let want: Vec<_> = COMMENT_LEAVES
            .iter()
            .zip(encrypted)
            .map(|(&(t, a), enc)| (t.to_owned(), a.to_owned(), enc == 1))
            .collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn m10_encrypted_comment_regex_as_sops() {
        let mut docs = comment_docs();
        let seen = walk(
            &mut docs,
            PartialRule::EncryptedCommentRegex("sops:enc".into()),
        );
        check(&seen, [0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn m10_unencrypted_comment_regex_as_sops() {
        let mut docs = comment_docs();
        let seen = walk(
            &mut docs,
            PartialRule::UnencryptedCommentRegex("sops:enc".into()),
        );
        check(&seen, [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]);
    }

    #[test]
    fn m10_comment_that_does_not_match_changes_nothing() {
        let mut docs = vec![Branch(vec![
            c(" other"),
            e("a", Value::Int(1)),
            e(
                "s",
                Value::Seq(vec![Value::Comment(" other".into()), Value::Int(2)]),
            ),
        ])];
        let seen = walk(
            &mut docs,
            PartialRule::EncryptedCommentRegex("sops:enc".into()),
        );
        let enc: Vec<_> = seen.iter().map(|(_, _, enc)| *enc).collect();
        assert_eq!(enc, [false, false, false, false]);
    }

    /// Checked against sops 3.11 with `--encrypted-suffix _enc`: a matched
    /// key encrypts everything below it, comments included.
    #[test]
    fn m10_key_rule_covers_the_subtree() {
        let mut docs = vec![Branch(vec![
            c(" top"),
            e(
                "a_enc",
                map(vec![
                    c(" inner"),
                    e("x", Value::Int(1)),
                    e("y", Value::Seq(vec![Value::Int(2)])),
                ]),
            ),
            e("b", Value::Int(3)),
            e(
                "c",
                map(vec![e("d_enc", Value::Int(4)), e("e", Value::Int(5))]),
            ),
        ])];
        let seen = walk(&mut docs, PartialRule::EncryptedSuffix("_enc".into()));
        let want = [
            ("# top", ":", false),
            ("# inner", "a_enc:", true),
            ("1", "a_enc:x:", true),
            ("2", "a_enc:y:", true),
            ("3", "b:", false),
            ("4", "c:d_enc:", true),
            ("5", "c:e:", false),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|&(t, a, enc)| (t.to_owned(), a.to_owned(), enc))
            .collect();
        assert_eq!(seen, want);
    }

    /// Checked against sops 3.11: in a sequence, a comment after a matching
    /// one is encrypted too (`- ENC[…,type:comment]`).
    #[test]
    fn m10_second_comment_of_a_sequence_run() {
        let mut docs = vec![Branch(vec![e(
            "g",
            Value::Seq(vec![
                Value::Comment(" sops:enc".into()),
                Value::Comment(" second".into()),
                Value::Int(8),
                Value::Int(9),
            ]),
        )])];
        let seen = walk(
            &mut docs,
            PartialRule::EncryptedCommentRegex("sops:enc".into()),
        );
        let enc: Vec<_> = seen.iter().map(|(_, _, enc)| *enc).collect();
        assert_eq!(enc, [false, true, true, false]);
    }

    #[test]
    fn m10_effective_aad() {
        assert_eq!(effective_aad(""), ":");
        assert_eq!(effective_aad("a:b:"), "a:b:");
    }
}
