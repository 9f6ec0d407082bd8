//! dotenv store (sops-format §5.3): `KEY=value` lines and `#` comments, the
//! metadata as flattened `sops_…` lines sorted by key.

use crate::metadata::Metadata;
use crate::stores::{Format, Store, StoreError, flatten, metadata_serde, raw_text};
use crate::tree::{Branch, Item, Value};

/// The dotenv store.
#[derive(Debug, Clone, Default)]
pub struct DotenvStore;

const PREFIX: &str = "sops_";

/// sops' `\n` unescaping: each backslash-n pair becomes a newline.
fn unescape_newlines(s: &str) -> String {
    s.replace("\\n", "\n")
}

impl Store for DotenvStore {
    fn format(&self) -> Format {
        Format::Dotenv
    }

    fn load(&self, input: &[u8]) -> Result<Vec<Branch>, StoreError> {
        let invalid = |line| StoreError::Syntax {
            format: "dotenv",
            line,
            message: "invalid UTF-8".into(),
        };
        // sops 3.11 keeps bytes that are not UTF-8 in values (`raw_text`).
        let decoded = raw_text::decode(input).map_err(|at| invalid(line_of(input, at)))?;
        let mut branch = Branch::new();
        for (n, line) in decoded.text.split('\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                if decoded.has_raw(comment) {
                    return Err(invalid(n + 1));
                }
                branch.0.push(Item::Comment(comment.into()));
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(StoreError::Syntax {
                    format: "dotenv",
                    line: n + 1,
                    message: "invalid dotenv input line".into(),
                });
            };
            if decoded.has_raw(key) {
                return Err(invalid(n + 1));
            }
            branch.push(key, decoded.value(unescape_newlines(value)));
        }
        Ok(vec![branch])
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<(Vec<Branch>, Metadata), StoreError> {
        let mut docs = self.load(input)?;
        let doc = docs.first_mut().ok_or(StoreError::MetadataNotFound)?;
        let mut meta_pairs = Vec::new();
        doc.0.retain(|item| match item {
            Item::Entry(k, Value::Str(v)) if k.starts_with(PREFIX) => {
                meta_pairs.push((k[PREFIX.len()..].to_owned(), v.replace('\n', "\\n")));
                false
            }
            // Every `sops_` line is metadata, as in sops 3.11, whose JSON
            // step turns bytes that are not UTF-8 into U+FFFD (it writes
            // `unencrypted_suffix=_x\xff` back as `_x\u{FFFD}`).
            Item::Entry(k, Value::Bytes(v)) if k.starts_with(PREFIX) => {
                let text = String::from_utf8_lossy(v).replace('\n', "\\n");
                meta_pairs.push((k[PREFIX.len()..].to_owned(), text));
                false
            }
            _ => true,
        });
        if meta_pairs.is_empty() {
            return Err(StoreError::MetadataNotFound);
        }
        let meta = flatten::unflatten(meta_pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Ok((docs, metadata_serde::from_branch(&meta, Format::Dotenv)?))
    }

    fn emit_docs(&self, docs: &[Branch], metadata: Option<&Branch>) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        if let Some(doc) = docs.first() {
            for item in &doc.0 {
                match item {
                    Item::Comment(c) => {
                        out.push(b'#');
                        out.extend_from_slice(c.as_bytes());
                        out.push(b'\n');
                    }
                    Item::Entry(k, v) => {
                        out.extend_from_slice(k.as_bytes());
                        out.push(b'=');
                        write_value(&mut out, k, v)?;
                        out.push(b'\n');
                    }
                }
            }
        }
        if let Some(meta) = metadata {
            for (k, v) in flatten::flatten(meta) {
                out.extend_from_slice(PREFIX.as_bytes());
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                out.extend_from_slice(v.as_bytes());
                out.push(b'\n');
            }
        }
        Ok(out)
    }

    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, StoreError> {
        match value {
            Value::Str(s) => Ok(s.as_bytes().to_vec()),
            other => Err(StoreError::Emit(format!(
                "the dotenv store only supports emitting strings, got {}",
                other.kind_name()
            ))),
        }
    }

    fn looks_encrypted(&self, docs: &[Branch]) -> bool {
        docs.first()
            .is_some_and(|d| d.entries().any(|(k, _)| k.starts_with(PREFIX)))
    }
}

/// A value as sops' dotenv (and INI) writer formats it: floats in Go `G`
/// form with `.0` when integral, `<nil>` for null; containers are an error
/// naming the key.
pub fn scalar_text(
    key: &str,
    value: &Value,
) -> Result<std::borrow::Cow<'static, [u8]>, StoreError> {
    use std::borrow::Cow;
    Ok(match value {
        Value::Str(s) => Cow::Owned(s.replace('\n', "\\n").into_bytes()),
        // sops 3.11 writes every value with its newlines escaped, bytes
        // that are not UTF-8 included (Go strings are bytes).
        Value::Bytes(b) => Cow::Owned(escape_newlines(b)),
        Value::Int(i) => Cow::Owned(i.to_string().into_bytes()),
        Value::Float(f) => {
            let mut s = crate::numfmt::format_upper_g(*f);
            if s.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                s.push_str(".0");
            }
            Cow::Owned(s.into_bytes())
        }
        Value::Bool(b) => Cow::Owned(b.to_string().into_bytes()),
        Value::Time(t) => Cow::Owned(t.without_fraction().into_bytes()),
        Value::Null => Cow::Borrowed(b"<nil>"),
        Value::Comment(c) => Cow::Owned(c.text.clone().into_bytes()),
        Value::Map(_) | Value::Seq(_) => {
            return Err(StoreError::Emit(format!(
                "cannot use complex value in dotenv file; offending key {key}"
            )));
        }
    })
}

/// `\n` for each newline, the bytes around it as they are.
fn escape_newlines(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if b == b'\n' {
            out.extend_from_slice(b"\\n");
        } else {
            out.push(b);
        }
    }
    out
}

fn write_value(out: &mut Vec<u8>, key: &str, value: &Value) -> Result<(), StoreError> {
    out.extend_from_slice(&scalar_text(key, value)?);
    Ok(())
}

fn line_of(input: &[u8], offset: usize) -> usize {
    input[..offset.min(input.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::{data_key, vector};

    #[test]
    fn plain_round_trips_like_sops() {
        for case in ["dotenv", "dotenv_quirks"] {
            let docs = DotenvStore
                .load(&vector(&format!("{case}.plain.env")))
                .unwrap();
            assert_eq!(
                DotenvStore.emit_plain(&docs).unwrap(),
                vector(&format!("{case}.decrypted.env")),
                "{case}"
            );
        }
    }

    #[test]
    fn encrypted_vectors_re_emit_and_decrypt() {
        for case in ["dotenv", "dotenv_quirks", "key_groups"] {
            let enc = vector(&format!("{case}.enc.env"));
            let (mut docs, meta) = DotenvStore.load_encrypted(&enc).unwrap();
            assert_eq!(
                DotenvStore.emit_encrypted(&docs, &meta).unwrap(),
                enc,
                "{case} re-emit"
            );
            if case == "key_groups" {
                continue; // needs the age keys; covered by CLI tests
            }
            crate::ops::decrypt_docs(&mut docs, &data_key(case), &meta, false).unwrap();
            assert_eq!(
                DotenvStore.emit_plain(&docs).unwrap(),
                vector(&format!("{case}.decrypted.env")),
                "{case}"
            );
        }
    }

    /// Found by the store_dotenv fuzz target: a value holding bytes that
    /// are not UTF-8 and an escaped newline was written with a raw newline,
    /// a line that does not load. sops 3.11 escapes newlines in every value:
    /// its decrypt of this file, encrypted by itself, gives these bytes.
    #[test]
    fn fuzz_store_dotenv_bytes_keep_newlines_escaped() {
        let input = b"A=x\xff\\ny\nB=\xfe plain\n";
        let docs = DotenvStore.load(input).unwrap();
        assert_eq!(docs[0].get("A"), Some(&Value::Bytes(b"x\xff\ny".to_vec())));
        assert_eq!(DotenvStore.emit_plain(&docs).unwrap(), input);
    }

    /// The same finding's `sops_` line: every `sops_` line is metadata,
    /// bytes that are not UTF-8 included (we kept such a line as data). sops
    /// 3.11 reads them as U+FFFD: given `sops_unencrypted_suffix=
    /// _unencrypted\xff`, `sops set` writes `_unencrypted\u{FFFD}` back.
    #[test]
    fn fuzz_store_dotenv_sops_lines_with_bytes_are_metadata() {
        let mut enc = vector("dotenv.enc.env");
        let at = enc
            .windows(13)
            .position(|w| w == b"\nsops_unencry")
            .unwrap();
        let end = at + 1 + enc[at + 1..].iter().position(|b| *b == b'\n').unwrap();
        enc.splice(end..end, *b"\xff");
        enc.extend_from_slice(b"sops_other=\xfe\\n\nDATA=\xfd\n");
        let (docs, meta) = DotenvStore.load_encrypted(&enc).unwrap();
        assert!(!DotenvStore.looks_encrypted(&docs));
        // Only `sops_` lines: other bytes stay data.
        assert_eq!(docs[0].get("DATA"), Some(&Value::Bytes(vec![0xfd])));
        assert_eq!(
            meta.rule,
            Some(crate::metadata::PartialRule::UnencryptedSuffix(
                "_unencrypted\u{FFFD}".into()
            ))
        );
        let out = DotenvStore.emit_encrypted(&docs, &meta).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("\nsops_unencrypted_suffix=_unencrypted\u{FFFD}\n"));
        assert!(!text.contains("sops_other"));
    }

    #[test]
    fn m10_bytes_in_a_comment_or_key_name_their_line() {
        for (input, line) in [(&b"A=1\n#c\xff\n"[..], 2), (&b"A=1\nB=2\nK\xff=v\n"[..], 3)] {
            let err = DotenvStore.load(input).unwrap_err();
            assert!(
                matches!(err, StoreError::Syntax { line: l, .. } if l == line),
                "{err}"
            );
        }
    }

    #[test]
    fn m10_undecodable_input_names_its_line() {
        // A carrier code point of `raw_text` next to a byte that is not
        // UTF-8 cannot be told apart from it: refused, at the bad byte.
        let mut input = b"A=1\nB=2\nC=".to_vec();
        input.extend_from_slice("\u{10FF41}".as_bytes());
        input.push(0xff);
        let err = DotenvStore.load(&input).unwrap_err();
        assert!(matches!(err, StoreError::Syntax { line: 3, .. }), "{err}");
    }

    #[test]
    fn m10_whole_floats_get_a_fraction() {
        let docs = [Branch(vec![
            Item::Entry("a".into(), Value::Float(1.0)),
            Item::Entry("b".into(), Value::Float(-2.0)),
            Item::Entry("c".into(), Value::Float(1.5)),
        ])];
        let out = DotenvStore.emit_plain(&docs).unwrap();
        assert_eq!(out, b"a=1.0\nb=-2.0\nc=1.5\n");
    }

    #[test]
    fn m10_emit_value_writes_strings_only() {
        let out = DotenvStore.emit_value(&Value::Str("a\nb".into())).unwrap();
        assert_eq!(out, b"a\nb");
        assert!(DotenvStore.emit_value(&Value::Int(1)).is_err());
    }

    #[test]
    fn m10_looks_encrypted_by_a_sops_line() {
        let docs = DotenvStore.load(b"A=1\nsops_mac=x\n").unwrap();
        assert!(DotenvStore.looks_encrypted(&docs));
        let docs = DotenvStore.load(b"A=1\nsops=x\n").unwrap();
        assert!(!DotenvStore.looks_encrypted(&docs));
    }

    #[test]
    fn bad_line_names_its_number() {
        let err = DotenvStore.load(b"A=1\nno equals sign\n").unwrap_err();
        assert!(matches!(err, StoreError::Syntax { line: 2, .. }), "{err}");
    }
}
