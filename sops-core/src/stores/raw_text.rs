//! Line-based text (dotenv, INI) that may hold bytes that are not UTF-8.
//!
//! sops 3.11 keeps such bytes in the values of these formats (Go strings
//! are bytes), encrypts them as `type:str` and writes them back as they
//! were. The parsers here work on `str`, so each byte that is not part of
//! valid UTF-8 is carried through parsing as one code point of the last 256
//! of Unicode's private use plane 16 (`U+10FF00 + byte`) and turned back
//! into the byte in [`into_value`]. Input that is valid UTF-8 is parsed as
//! it is; input that holds both invalid bytes and those code points cannot
//! be told apart and is refused.

use std::borrow::Cow;

use crate::tree::Value;

const BASE: u32 = 0x10_FF00;

fn is_raw(c: char) -> bool {
    // BASE + 0xFF is char::MAX, so any upper bound at or above it (the
    // mutant `BASE * 0xFF`) selects the same code points.
    (BASE..=BASE + 0xFF).contains(&u32::from(c))
}

/// Decoded input: the text, and whether it carries invalid bytes (only
/// then are the carrier code points read back as bytes).
pub(crate) struct Text<'a> {
    pub text: Cow<'a, str>,
    carries: bool,
}

/// The input as text, with invalid bytes carried as code points; `Err` with
/// the offset of the first invalid byte when that would be ambiguous.
pub(crate) fn decode(input: &[u8]) -> Result<Text<'_>, usize> {
    let first_bad = match std::str::from_utf8(input) {
        Ok(text) => {
            return Ok(Text {
                text: Cow::Borrowed(text),
                carries: false,
            });
        }
        Err(e) => e.valid_up_to(),
    };
    let mut text = String::with_capacity(input.len() + 8);
    for chunk in input.utf8_chunks() {
        if chunk.valid().chars().any(is_raw) {
            return Err(first_bad);
        }
        text.push_str(chunk.valid());
        for &b in chunk.invalid() {
            text.push(char::from_u32(BASE + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
    }
    Ok(Text {
        text: Cow::Owned(text),
        carries: true,
    })
}

impl Text<'_> {
    /// True if `s` (a part of this text) holds bytes that are not UTF-8;
    /// keys, section names and comments must not.
    pub(crate) fn has_raw(&self, s: &str) -> bool {
        self.carries && s.chars().any(is_raw)
    }

    /// A value (a part of this text): a string, or the original bytes when
    /// they are not UTF-8.
    pub(crate) fn value(&self, s: String) -> Value {
        if !self.has_raw(&s) {
            return Value::Str(s);
        }
        let mut bytes = Vec::with_capacity(s.len());
        let mut buf = [0u8; 4];
        for c in s.chars() {
            if is_raw(c) {
                // In range by `is_raw`: the low byte is the original byte
                // (BASE's low byte is 0, so `+ BASE` would truncate alike).
                bytes.push((u32::from(c) - BASE) as u8);
            } else {
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
        Value::Bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_survive_and_valid_text_is_unchanged() {
        let valid = decode(b"a=b\n").unwrap();
        assert!(matches!(valid.text, Cow::Borrowed("a=b\n")));
        let t = decode(b"a=b\xff\xfe\xc3\n").unwrap();
        let (key, value) = t.text.split_once('=').unwrap();
        assert!(!t.has_raw(key));
        assert_eq!(
            t.value(value.trim_end().to_owned()),
            Value::Bytes(b"b\xff\xfe\xc3".to_vec())
        );
        assert_eq!(t.value("plain".into()), Value::Str("plain".into()));
        // The carrier code points themselves next to invalid bytes: refused.
        let mut mixed = "\u{10FF41}".as_bytes().to_vec();
        mixed.push(0xff);
        assert!(matches!(decode(&mixed), Err(4)));
        // In valid UTF-8 they are ordinary text.
        let alone = decode("k=\u{10FF41}".as_bytes()).unwrap();
        assert_eq!(
            alone.value("\u{10FF41}".into()),
            Value::Str("\u{10FF41}".into())
        );
    }
}
