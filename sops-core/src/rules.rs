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
    Regex::new(&translate_go_regex(pattern)).ok()
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
}
