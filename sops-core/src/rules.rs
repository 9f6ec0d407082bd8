//! Which leaves get encrypted: the partial-encryption rules of sops-format
//! §4.3, compiled once per file.
//!
//! The tree walk (in [`crate::ops::walk`]) tracks two facts per leaf and asks
//! [`Rules::encrypts`]: whether any key on its path matched a key rule, and
//! whether a comment of its comment stack matched a comment rule.

use regex::Regex;

use crate::metadata::PartialRule;

/// A compiled partial-encryption rule.
#[derive(Debug, Clone)]
pub struct Rules {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    // `None`: the pattern does not compile, and sops' behaviour for that is
    // "never matches" (it does not reject the rule).
    UnencryptedRegex(Option<Regex>),
    EncryptedRegex(Option<Regex>),
    UnencryptedCommentRegex(Option<Regex>),
    EncryptedCommentRegex(Option<Regex>),
}

/// What the walk knows about one leaf.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeafContext {
    /// A key on the leaf's path (for a comment: its container's path) matched
    /// the key rule.
    pub path_matched: bool,
    /// A comment of the comment stack matched the comment rule, not counting
    /// the leaf itself.
    pub comments_matched: bool,
    /// The leaf is a comment that itself matches the comment rule.
    pub self_matched: bool,
}

impl Rules {
    pub fn new(rule: &PartialRule) -> Self {
        let kind = match rule {
            PartialRule::UnencryptedSuffix(s) => Kind::UnencryptedSuffix(s.clone()),
            PartialRule::EncryptedSuffix(s) => Kind::EncryptedSuffix(s.clone()),
            PartialRule::UnencryptedRegex(r) => Kind::UnencryptedRegex(compile_go_regex(r)),
            PartialRule::EncryptedRegex(r) => Kind::EncryptedRegex(compile_go_regex(r)),
            PartialRule::UnencryptedCommentRegex(r) => {
                Kind::UnencryptedCommentRegex(compile_go_regex(r))
            }
            PartialRule::EncryptedCommentRegex(r) => {
                Kind::EncryptedCommentRegex(compile_go_regex(r))
            }
        };
        Self { kind }
    }

    /// Whether a mapping key matches the key rule (suffix or key regex).
    pub fn key_matches(&self, key: &str) -> bool {
        match &self.kind {
            Kind::UnencryptedSuffix(s) | Kind::EncryptedSuffix(s) => key.ends_with(s.as_str()),
            Kind::UnencryptedRegex(r) | Kind::EncryptedRegex(r) => {
                r.as_ref().is_some_and(|r| r.is_match(key))
            }
            Kind::UnencryptedCommentRegex(_) | Kind::EncryptedCommentRegex(_) => false,
        }
    }

    /// Whether a comment's text matches the comment rule.
    pub fn comment_matches(&self, text: &str) -> bool {
        match &self.kind {
            Kind::UnencryptedCommentRegex(r) | Kind::EncryptedCommentRegex(r) => {
                r.as_ref().is_some_and(|r| r.is_match(text))
            }
            _ => false,
        }
    }

    /// Whether this rule looks at comments at all (saves work in the walk).
    pub fn uses_comments(&self) -> bool {
        matches!(
            self.kind,
            Kind::UnencryptedCommentRegex(_) | Kind::EncryptedCommentRegex(_)
        )
    }

    /// The decision for one leaf.
    pub fn encrypts(&self, leaf: LeafContext) -> bool {
        match &self.kind {
            Kind::UnencryptedSuffix(_) | Kind::UnencryptedRegex(_) => !leaf.path_matched,
            Kind::EncryptedSuffix(_) | Kind::EncryptedRegex(_) => leaf.path_matched,
            Kind::UnencryptedCommentRegex(_) => !(leaf.comments_matched || leaf.self_matched),
            Kind::EncryptedCommentRegex(_) => leaf.comments_matched,
        }
    }

    /// For `unencrypted_comment_regex`: the regex, so encryption can refuse a
    /// ciphertext that would match it (sops does).
    pub fn unencrypted_comment_regex(&self) -> Option<&Regex> {
        match &self.kind {
            Kind::UnencryptedCommentRegex(r) => r.as_ref(),
            _ => None,
        }
    }
}

/// Compiles a Go RE2 pattern with Go's semantics where they differ from the
/// `regex` crate's defaults: `\d \w \s \b` (and negations) are ASCII-only in
/// RE2. Returns `None` when the pattern is invalid.
pub fn compile_go_regex(pattern: &str) -> Option<Regex> {
    // A run over many files (the Argo CD plugin, `updatekeys`, `rotate`)
    // compiles the same few patterns again and again (each file carries its
    // `encrypted_regex`): about 150 000 instructions a time, 9% of a small
    // file's decryption there. The compiled regex is shared (a clone is a
    // reference count); the cache holds at most a few short patterns, so
    // hostile input cannot grow it (longer ones are compiled every time).
    const CACHED: usize = 16;
    const CACHED_LEN: usize = 256;
    static CACHE: std::sync::Mutex<Vec<(String, Option<Regex>)>> = std::sync::Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, compiled)) = cache.iter().find(|(p, _)| p == pattern) {
        return compiled.clone();
    }
    let compiled = Regex::new(&translate_go_regex(pattern)).ok();
    if cache.len() < CACHED && pattern.len() <= CACHED_LEN {
        cache.push((pattern.to_owned(), compiled.clone()));
    }
    compiled
}

fn translate_go_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    let mut class_depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let ascii_class = match n {
                    'd' => Some("0-9"),
                    'w' => Some("0-9A-Za-z_"),
                    's' => Some("\\t\\n\\f\\r "),
                    _ => None,
                };
                let negated_class = match n {
                    'D' => Some("0-9"),
                    'W' => Some("0-9A-Za-z_"),
                    'S' => Some("\\t\\n\\f\\r "),
                    _ => None,
                };
                if let Some(set) = ascii_class {
                    out.push('[');
                    out.push_str(set);
                    out.push(']');
                } else if let Some(set) = negated_class {
                    out.push_str("[^");
                    out.push_str(set);
                    out.push(']');
                } else if class_depth == 0 && (n == 'b' || n == 'B') {
                    out.push_str("(?-u:\\");
                    out.push(n);
                    out.push(')');
                } else {
                    out.push('\\');
                    out.push(n);
                }
            }
            // The class depth only decides how `\b`/`\B` are written, and
            // inside a class they are an error both in RE2 and in `regex`
            // (so mutants that lose track of the depth change nothing).
            '[' => {
                class_depth += 1;
                out.push('[');
                // A `]` right after `[` or `[^` is a literal in RE2.
                let rest = chars.as_str();
                if let Some(r) = rest.strip_prefix('^') {
                    out.push('^');
                    chars = r.chars();
                }
                if let Some(r) = chars.as_str().strip_prefix(']') {
                    out.push_str("\\]");
                    chars = r.chars();
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_regex_is_ascii() {
        let r = compile_go_regex(r"^\w+$").unwrap();
        assert!(r.is_match("abc_1"));
        assert!(!r.is_match("é"));
        let r = compile_go_regex(r"[\d]x").unwrap();
        assert!(r.is_match("1x"));
        assert!(!r.is_match("١x"));
        assert!(compile_go_regex("(").is_none());
        assert!(
            compile_go_regex(r"\bword\b")
                .unwrap()
                .is_match("a word here")
        );
    }

    #[test]
    fn invalid_regex_never_matches() {
        let enc = Rules::new(&PartialRule::EncryptedRegex("(".into()));
        assert!(!enc.key_matches("anything"));
        assert!(!enc.encrypts(LeafContext::default()));
        let unenc = Rules::new(&PartialRule::UnencryptedRegex("(".into()));
        assert!(unenc.encrypts(LeafContext::default()));
    }

    #[test]
    fn m10_perl_classes_are_ascii_as_in_re2() {
        let m = |p: &str, s: &str| compile_go_regex(p).unwrap().is_match(s);
        // RE2's \s is [\t\n\f\r ]: no vertical tab, no Unicode spaces.
        assert!(m(r"^\s$", " ") && m(r"^\s$", "\t"));
        assert!(!m(r"^\s$", "\u{b}") && !m(r"^\s$", "\u{a0}"));
        assert!(m(r"^\S$", "\u{a0}") && !m(r"^\S$", " "));
        assert!(m(r"^\D$", "١") && !m(r"^\D$", "7"));
        assert!(m(r"^\W$", "é") && !m(r"^\W$", "_"));
        assert!(m(r"^\d\w$", "7_"));
        // Other escapes pass through untouched (Unicode classes stay Unicode).
        assert!(m(r"^\pL\.$", "é.") && !m(r"^\pL\.$", "éx"));
    }

    #[test]
    fn m10_word_boundaries_are_ascii_as_in_re2() {
        let m = |p: &str, s: &str| compile_go_regex(p).unwrap().is_match(s);
        // `é` is not a word character for RE2, so there is a boundary before `x`.
        assert!(m(r"\bx", "éx"));
        assert!(!m(r"\Bx", "éx"));
        assert!(m(r"\Bx", "ax"));
        // After a class has closed, `\b` is a boundary again.
        assert!(m(r"[x]\b", "xé"));
        assert!(m(r"[^a]\b", "xé"));
        // `]` outside a class, and first in a class, is a literal.
        assert!(m(r"^a]$", "a]"));
        assert!(m(r"^[]a]+$", "]a]") && !m(r"^[]a]$", "b"));
        assert!(m(r"^[^]a]$", "b") && !m(r"^[^]a]$", "]"));
        // A trailing backslash is an error, as in RE2.
        assert!(compile_go_regex("a\\").is_none());
    }

    #[test]
    fn m10_rule_kinds() {
        let suffix = Rules::new(&PartialRule::UnencryptedSuffix("_u".into()));
        assert!(!suffix.uses_comments());
        assert!(suffix.key_matches("a_u") && !suffix.key_matches("a_u2"));
        assert!(!suffix.comment_matches("_u"));
        assert!(suffix.unencrypted_comment_regex().is_none());
        let regex = Rules::new(&PartialRule::EncryptedRegex("^s".into()));
        assert!(!regex.uses_comments());
        assert!(regex.key_matches("secret") && !regex.key_matches("a"));
        let unenc = Rules::new(&PartialRule::UnencryptedCommentRegex("keep".into()));
        assert!(unenc.uses_comments());
        assert!(!unenc.key_matches("keep"));
        assert!(unenc.comment_matches(" keep me") && !unenc.comment_matches(" other"));
        assert!(
            unenc
                .unencrypted_comment_regex()
                .is_some_and(|r| r.is_match("keep"))
        );
        let enc = Rules::new(&PartialRule::EncryptedCommentRegex("keep".into()));
        assert!(enc.uses_comments());
        assert!(enc.comment_matches("keep"));
        assert!(enc.unencrypted_comment_regex().is_none());
        // The decision table of sops-format §4.3.
        let ctx = |path_matched, comments_matched, self_matched| LeafContext {
            path_matched,
            comments_matched,
            self_matched,
        };
        assert!(!suffix.encrypts(ctx(true, false, false)));
        assert!(suffix.encrypts(ctx(false, true, true)));
        assert!(regex.encrypts(ctx(true, false, false)));
        assert!(!regex.encrypts(ctx(false, true, true)));
        assert!(unenc.encrypts(ctx(true, false, false)));
        assert!(!unenc.encrypts(ctx(false, true, false)));
        assert!(!unenc.encrypts(ctx(false, false, true)));
        assert!(enc.encrypts(ctx(false, true, false)));
        assert!(!enc.encrypts(ctx(true, false, true)));
    }
}
