//! INI store (sops-format §5.4), following the observable behaviour of the
//! go-ini library sops uses: sections are top-level entries (an implicit
//! `DEFAULT` first), values are strings, inline `#`/`;` start comments,
//! comments are attached to the key after them, and the metadata is a
//! flattened `[sops]` section.

use crate::metadata::Metadata;
use crate::stores::raw_text::{self, Text};
use crate::stores::{Format, Store, StoreError, flatten, metadata_serde};
use crate::tree::{Branch, Item, Value};

/// The INI store.
#[derive(Debug, Clone, Default)]
pub struct IniStore;

const DEFAULT_SECTION: &str = "DEFAULT";
const METADATA_SECTION: &str = "sops";

/// A parsed section before conversion to the sops tree.
struct Section {
    name: String,
    comment: Option<String>,
    /// Key, value, comment lines before the key plus its inline comment.
    keys: Vec<(String, String, Option<String>)>,
}

/// sops 3.11 (`stripCommentChar`) strips the leading run of the comment's
/// first character and spaces: `;` and spaces, or `#` and spaces, never
/// both, so `; #; x` reads back as `#; x`. A comment other markers or tabs
/// follow thus loses one layer per round trip, in sops too (its decrypt of
/// `k=;  \t#; x` gives `; #; x`, then `# ; x`, then `; x`).
fn strip_comment(text: &str) -> String {
    let Some(marker @ (';' | '#')) = text.chars().next() else {
        return text.to_owned();
    };
    text.trim_start_matches([marker, ' ']).to_owned()
}

fn syntax(line: usize, message: &str) -> StoreError {
    StoreError::Syntax {
        format: "ini",
        line,
        message: message.into(),
    }
}

/// Parses the text; bytes that are not UTF-8 (carried by `decoded`) may
/// only be in values, as sops 3.11 keeps them there.
fn parse(decoded: &Text<'_>) -> Result<Vec<Section>, StoreError> {
    let text: &str = &decoded.text;
    let not_utf8 = |n| syntax(n, "invalid UTF-8");
    let mut sections = vec![Section {
        name: DEFAULT_SECTION.into(),
        comment: None,
        keys: Vec::new(),
    }];
    let mut pending_comment: Vec<&str> = Vec::new();
    let lines: Vec<&str> = text.split('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let n = i + 1;
        let line = lines[i].trim_start().trim_end_matches('\r');
        i += 1;
        if line.is_empty() {
            continue;
        }
        if line.starts_with(';') || line.starts_with('#') {
            if decoded.has_raw(line) {
                return Err(not_utf8(n));
            }
            pending_comment.push(line);
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let close = rest
                .find(']')
                .ok_or_else(|| syntax(n, "unclosed section header"))?;
            let name = rest[..close].trim().to_owned();
            if decoded.has_raw(&name) {
                return Err(not_utf8(n));
            }
            if name.is_empty() {
                return Err(syntax(n, "empty section name"));
            }
            let comment = (!pending_comment.is_empty()).then(|| join_comment(&pending_comment));
            pending_comment.clear();
            if name == DEFAULT_SECTION {
                sections[0].comment = comment.or(sections[0].comment.take());
            } else {
                sections.push(Section {
                    name,
                    comment,
                    keys: Vec::new(),
                });
            }
            continue;
        }
        let (key, rest) =
            split_key(line).ok_or_else(|| syntax(n, "key-value delimiter not found"))?;
        if decoded.has_raw(&key) {
            return Err(not_utf8(n));
        }
        if key.is_empty() {
            return Err(syntax(n, "empty key name"));
        }
        let (value, inline) = if let Some(body) = rest.strip_prefix("\"\"\"") {
            // A triple-quoted value may span lines. go-ini (sops 3.11)
            // closes it at the last `"""` of a line (`strings.LastIndex`),
            // so a value may itself hold `"""`.
            let mut value = String::new();
            let mut body = body.to_owned();
            loop {
                if let Some(end) = body.rfind("\"\"\"") {
                    value.push_str(&body[..end]);
                    break;
                }
                value.push_str(&body);
                value.push('\n');
                let next = lines
                    .get(i)
                    .ok_or_else(|| syntax(n, "unclosed triple-quoted value"))?;
                body = next.trim_end_matches('\r').to_owned();
                i += 1;
            }
            (value, None)
        } else if let Some(body) = rest.strip_prefix('`') {
            // The last backtick closes, as for `"""`.
            match body.rfind('`') {
                Some(end) => (body[..end].to_owned(), None),
                None => (rest.to_owned(), None),
            }
        } else {
            let (value, inline) = match rest.find(['#', ';']) {
                Some(pos) => (&rest[..pos], Some(rest[pos..].to_owned())),
                None => (rest, None),
            };
            let value = value.trim();
            // go-ini (sops 3.11) removes surrounding quotes only when the
            // quote character appears exactly twice: `"a"b"` stays as it is.
            let unquoted = match value.as_bytes() {
                [q @ (b'"' | b'\''), .., last]
                    if last == q && value.bytes().filter(|b| b == q).count() == 2 =>
                {
                    &value[1..value.len() - 1]
                }
                _ => value,
            };
            (unquoted.to_owned(), inline)
        };
        if inline.as_deref().is_some_and(|c| decoded.has_raw(c)) {
            return Err(not_utf8(n));
        }
        let mut comment_lines: Vec<String> = pending_comment.drain(..).map(str::to_owned).collect();
        comment_lines.extend(inline);
        let comment = (!comment_lines.is_empty()).then(|| join_comment(&comment_lines));
        let section = sections
            .last_mut()
            .unwrap_or_else(|| unreachable!("DEFAULT always exists"));
        // A repeated key keeps its place and takes the last value.
        if let Some(existing) = section.keys.iter_mut().find(|(k, _, _)| *k == key) {
            existing.1 = value;
            if comment.is_some() {
                existing.2 = comment;
            }
        } else {
            section.keys.push((key, value, comment));
        }
    }
    Ok(sections)
}

/// A comment's lines as one text; go-ini (sops 3.11) trims the white space
/// around the whole (`strings.TrimSpace`), so `; note  ` reads as `; note`.
fn join_comment<S: std::borrow::Borrow<str>>(lines: &[S]) -> String {
    lines.join("\n").trim().to_owned()
}

/// Splits `key = value` at the first `=` or `:`; keys may be quoted with
/// `"` or a backtick.
fn split_key(line: &str) -> Option<(String, &str)> {
    if let Some(q) = line.chars().next().filter(|c| *c == '"' || *c == '`') {
        let body = &line[1..];
        let end = body.find(q)?;
        // Trimmed like a bare key (go-ini, sops 3.11: `` ` k ` `` is `k`).
        let key = body[..end].trim().to_owned();
        let rest = body[end + 1..].trim_start();
        let rest = rest.strip_prefix(['=', ':'])?;
        return Some((key, rest.trim_start()));
    }
    let pos = line.find(['=', ':'])?;
    Some((line[..pos].trim().to_owned(), line[pos + 1..].trim_start()))
}

impl Store for IniStore {
    fn format(&self) -> Format {
        Format::Ini
    }

    fn load(&self, input: &[u8]) -> Result<Vec<Branch>, StoreError> {
        // go-ini (sops 3.11) skips a UTF-8 byte order mark.
        let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        let decoded = raw_text::decode(input).map_err(|at| {
            let line = input[..at].iter().filter(|b| **b == b'\n').count() + 1;
            syntax(line, "invalid UTF-8")
        })?;
        let mut root = Branch::new();
        for section in parse(&decoded)? {
            let mut b = Branch::new();
            if let Some(c) = section.comment {
                b.0.push(Item::Comment(strip_comment(&c).into()));
            }
            for (key, value, comment) in section.keys {
                b.push(key, decoded.value(value));
                if let Some(c) = comment {
                    b.0.push(Item::Comment(strip_comment(&c).into()));
                }
            }
            root.push(section.name, Value::Map(b));
        }
        Ok(vec![root])
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<(Vec<Branch>, Metadata), StoreError> {
        let mut docs = self.load(input)?;
        let root = docs.first_mut().ok_or(StoreError::MetadataNotFound)?;
        let Some(Value::Map(section)) = root.remove(METADATA_SECTION) else {
            return Err(StoreError::MetadataNotFound);
        };
        let pairs: Vec<(&str, &str)> = section
            .entries()
            .filter_map(|(k, v)| Some((k, v.as_str()?)))
            .collect();
        let meta = flatten::unflatten(pairs);
        Ok((docs, metadata_serde::from_branch(&meta, Format::Ini)?))
    }

    fn emit_docs(&self, docs: &[Branch], metadata: Option<&Branch>) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        let mut first = true;
        for doc in docs {
            for item in &doc.0 {
                let Item::Entry(name, value) = item else {
                    continue;
                };
                let Value::Map(section) = value else {
                    return Err(StoreError::Emit(
                        "Section values should always be TreeBranches".into(),
                    ));
                };
                write_section(&mut out, name, section, &mut first)?;
            }
        }
        if let Some(meta) = metadata {
            let mut section = Branch::new();
            for (k, v) in flatten::flatten(meta) {
                section.push(k, Value::Str(v));
            }
            write_section(&mut out, METADATA_SECTION, &section, &mut first)?;
        }
        Ok(out)
    }

    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, StoreError> {
        match value {
            Value::Str(s) => Ok(s.as_bytes().to_vec()),
            other => Err(StoreError::Emit(format!(
                "the ini store cannot emit a single {}",
                other.kind_name()
            ))),
        }
    }

    fn looks_encrypted(&self, docs: &[Branch]) -> bool {
        docs.first()
            .is_some_and(|d| d.get(METADATA_SECTION).is_some())
    }
}

/// go-ini's comment line layout: `; text`, or the text's own marker then a space.
fn push_comment_lines(out: &mut Vec<u8>, text: &str, trim: bool) {
    for line in text.split('\n') {
        let formatted = match line.chars().next() {
            Some(c @ ('#' | ';')) => format!("{c} {}", line[1..].trim()),
            _ if trim => format!("; {}", line.trim()),
            _ => format!("; {line}"),
        };
        out.extend_from_slice(formatted.as_bytes());
        out.push(b'\n');
    }
}

fn write_section(
    out: &mut Vec<u8>,
    name: &str,
    section: &Branch,
    first: &mut bool,
) -> Result<(), StoreError> {
    // Attach comments as go-ini does: before the first key to the section
    // (only the first such comment), after a key to that key (last wins).
    let mut section_comment: Option<&str> = None;
    let mut keys: Vec<(&str, &Value, Option<&str>)> = Vec::new();
    for item in &section.0 {
        match item {
            Item::Comment(c) => match keys.last_mut() {
                Some(last) => last.2 = Some(c),
                None => {
                    section_comment.get_or_insert(c);
                }
            },
            Item::Entry(k, v) => keys.push((k, v, None)),
        }
    }
    let is_default = name == DEFAULT_SECTION && *first;
    if is_default && keys.is_empty() {
        return Ok(());
    }
    if !*first {
        out.push(b'\n');
    }
    *first = false;
    if let Some(c) = section_comment {
        push_comment_lines(out, c, false);
    }
    if !is_default {
        out.push(b'[');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"]\n");
    }
    let rendered: Vec<(String, Vec<u8>, Option<&str>)> = keys
        .into_iter()
        .map(|(k, v, c)| Ok((quote_key(k), value_text(k, v)?, c)))
        .collect::<Result<_, StoreError>>()?;
    let width = rendered
        .iter()
        .map(|(k, _, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (key, value, comment) in rendered {
        if let Some(c) = comment {
            push_comment_lines(out, c, true);
        }
        out.extend_from_slice(key.as_bytes());
        out.extend(std::iter::repeat_n(b' ', width - key.chars().count()));
        out.extend_from_slice(b" = ");
        out.extend_from_slice(&quote_value(value));
        out.push(b'\n');
    }
    Ok(())
}

fn quote_key(key: &str) -> String {
    if key.contains(['"', '=', ':']) {
        format!("`{key}`")
    } else {
        key.to_owned()
    }
}

/// A value's text: strings and bytes as they are (INI writes newlines raw,
/// inside `"""…"""`), other scalars as the dotenv writer formats them.
fn value_text(key: &str, value: &Value) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::Str(s) => Ok(s.as_bytes().to_vec()),
        Value::Bytes(b) => Ok(b.clone()),
        other => Ok(crate::stores::dotenv::scalar_text(key, other)?.into_owned()),
    }
}

/// go-ini's value quoting. It works on bytes: sops 3.11 writes bytes that
/// are not UTF-8 back unchanged inside quotes too (`"  x\xff  "`).
fn quote_value(value: Vec<u8>) -> Vec<u8> {
    let has = |set: &[u8]| value.iter().any(|b| set.contains(b));
    let quote: &[u8] = if has(b"\n`") {
        b"\"\"\""
    } else if has(b"#;") {
        b"`"
    } else if is_padded(&value) {
        b"\""
    } else {
        return value;
    };
    [quote, &value, quote].concat()
}

/// Leading or trailing Unicode white space, as Go's `strings.TrimSpace`
/// sees it (a byte that is not UTF-8 is not space there either).
fn is_padded(value: &[u8]) -> bool {
    let text = String::from_utf8_lossy(value);
    text.trim() != text
}

#[cfg(test)]
mod tests;
