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
                branch.0.push(Item::Comment(comment.to_owned()));
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
            _ => true,
        });
        if meta_pairs.is_empty() {
            return Err(StoreError::MetadataNotFound);
        }
        let meta = flatten::unflatten(meta_pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Ok((docs, metadata_serde::from_branch(&meta, Format::Dotenv)?))
    }

    fn emit(&self, docs: &[Branch], metadata: Option<&Branch>) -> Result<Vec<u8>, StoreError> {
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
        Value::Bytes(b) => Cow::Owned(b.clone()),
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
        Value::Comment(c) => Cow::Owned(c.clone().into_bytes()),
        Value::Map(_) | Value::Seq(_) => {
            return Err(StoreError::Emit(format!(
                "cannot use complex value in dotenv file; offending key {key}"
            )));
        }
    })
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
                DotenvStore.emit(&docs, None).unwrap(),
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
                DotenvStore.emit(&docs, None).unwrap(),
                vector(&format!("{case}.decrypted.env")),
                "{case}"
            );
        }
    }

    #[test]
    fn bad_line_names_its_number() {
        let err = DotenvStore.load(b"A=1\nno equals sign\n").unwrap_err();
        assert!(matches!(err, StoreError::Syntax { line: 2, .. }), "{err}");
    }
}
