//! Shell-style word splitting for `SOPS_AGE_KEY_CMD` and the editor command, with the rules of the
//! splitter sops uses (google/shlex): blanks separate words, `'…'` is
//! literal, `"…"` and unquoted text take `\x` as a literal `x`, and `#` at
//! the start of a word starts a comment that runs to the end of the line.
//! Nothing is expanded; the command runs without a shell.

/// Why a command line could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    UnclosedQuote,
    TrailingEscape,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SplitError::UnclosedQuote => "EOF found when expecting closing quote",
            SplitError::TrailingEscape => "EOF found after escape character",
        })
    }
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits `line` into words.
pub fn split(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut chars = line.chars();
    loop {
        // Between words: skip blanks and comments.
        let first = loop {
            match chars.next() {
                None => return Ok(words),
                Some(c) if is_blank(c) => {}
                Some('#') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some(c) => break c,
            }
        };
        let mut word = String::new();
        let mut next = Some(first);
        while let Some(c) = next {
            match c {
                c if is_blank(c) => break,
                '\\' => word.push(chars.next().ok_or(SplitError::TrailingEscape)?),
                '\'' => loop {
                    match chars.next() {
                        None => return Err(SplitError::UnclosedQuote),
                        Some('\'') => break,
                        Some(c) => word.push(c),
                    }
                },
                '"' => loop {
                    match chars.next() {
                        None => return Err(SplitError::UnclosedQuote),
                        Some('"') => break,
                        Some('\\') => word.push(chars.next().ok_or(SplitError::UnclosedQuote)?),
                        Some(c) => word.push(c),
                    }
                },
                c => word.push(c),
            }
            next = chars.next();
        }
        words.push(word);
    }
}
