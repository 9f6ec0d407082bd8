//! Nested metadata <-> flat keys for the dotenv and INI stores
//! (sops-format §4.2): nested maps add `__map_<key>`, lists `__list_<i>`;
//! strings have their newlines written as the two characters `\n`.

use std::collections::BTreeMap;

use crate::tree::{Branch, Item, Value};

/// Flattens the `sops` block into (key, value) pairs sorted by key bytes.
/// Null entries are left out (empty lists in key groups).
pub fn flatten(meta: &Branch) -> Vec<(String, String)> {
    let mut out = BTreeMap::new();
    for (key, value) in meta.entries() {
        flatten_value(key.to_owned(), value, &mut out);
    }
    out.into_iter().collect()
}

fn flatten_value(prefix: String, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Map(b) => {
            for (k, v) in b.entries() {
                flatten_value(format!("{prefix}__map_{k}"), v, out);
            }
        }
        Value::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_value(format!("{prefix}__list_{i}"), v, out);
            }
        }
        Value::Null | Value::Comment(_) => {}
        Value::Str(s) => {
            out.insert(prefix, s.replace('\n', "\\n"));
        }
        Value::Bool(b) => {
            out.insert(prefix, b.to_string());
        }
        Value::Int(i) => {
            out.insert(prefix, i.to_string());
        }
        Value::Float(f) => {
            out.insert(prefix, crate::numfmt::format_g(*f));
        }
        Value::Time(t) => {
            out.insert(prefix, t.as_str().to_owned());
        }
        Value::Bytes(b) => {
            out.insert(prefix, String::from_utf8_lossy(b).replace('\n', "\\n"));
        }
    }
}

/// A path step of a flattened key.
enum Step {
    Map(String),
    List(usize),
}

/// Splits `a__list_0__map_b` into `a`, [List(0), Map(b)]. A `__list_`
/// followed by something that is not a number is kept as part of the name.
fn split_key(key: &str) -> (String, Vec<Step>) {
    let mut steps = Vec::new();
    let mut rest = key;
    let first_end = next_marker(rest).unwrap_or(rest.len());
    let head = rest[..first_end].to_owned();
    rest = &rest[first_end..];
    while !rest.is_empty() {
        let (is_list, body) = if let Some(b) = rest.strip_prefix("__list_") {
            (true, b)
        } else if let Some(b) = rest.strip_prefix("__map_") {
            (false, b)
        } else {
            break;
        };
        let end = next_marker(body).unwrap_or(body.len());
        let name = &body[..end];
        if is_list {
            match name.parse() {
                Ok(i) => steps.push(Step::List(i)),
                Err(_) => steps.push(Step::Map(name.to_owned())),
            }
        } else {
            steps.push(Step::Map(name.to_owned()));
        }
        rest = &body[end..];
    }
    (head, steps)
}

fn next_marker(s: &str) -> Option<usize> {
    match (s.find("__list_"), s.find("__map_")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// An intermediate tree keeping list entries by index until the end.
enum Node {
    Leaf(String),
    Map(Vec<(String, Node)>),
    List(BTreeMap<usize, Node>),
}

impl Node {
    fn insert(&mut self, steps: &[Step], value: String) {
        let Some((step, rest)) = steps.split_first() else {
            *self = Node::Leaf(value);
            return;
        };
        match step {
            Step::Map(name) => {
                if !matches!(self, Node::Map(_)) {
                    *self = Node::Map(Vec::new());
                }
                let Node::Map(entries) = self else { return };
                let pos = entries
                    .iter()
                    .position(|(k, _)| k == name)
                    .unwrap_or_else(|| {
                        entries.push((name.clone(), Node::Map(Vec::new())));
                        entries.len() - 1
                    });
                entries[pos].1.insert(rest, value);
            }
            Step::List(i) => {
                if !matches!(self, Node::List(_)) {
                    *self = Node::List(BTreeMap::new());
                }
                let Node::List(items) = self else { return };
                items
                    .entry(*i)
                    .or_insert_with(|| Node::Map(Vec::new()))
                    .insert(rest, value);
            }
        }
    }

    fn into_value(self) -> Value {
        match self {
            Node::Leaf(s) => Value::Str(s),
            Node::Map(entries) => Value::Map(Branch(
                entries
                    .into_iter()
                    .map(|(k, n)| Item::Entry(k, n.into_value()))
                    .collect(),
            )),
            Node::List(items) => Value::Seq(items.into_values().map(Node::into_value).collect()),
        }
    }
}

/// Rebuilds the `sops` block from flat (key, value) pairs (keys without the
/// `sops_` prefix). Every `\n` two-character sequence becomes a newline.
pub fn unflatten<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Branch {
    let mut root = Node::Map(Vec::new());
    for (key, value) in pairs {
        let (head, mut steps) = split_key(key);
        steps.insert(0, Step::Map(head));
        root.insert(&steps, value.replace("\\n", "\n"));
    }
    match root.into_value() {
        Value::Map(b) => b,
        _ => Branch::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut entry = Branch::new();
        entry.push("recipient", Value::Str("age1x".into()));
        entry.push("enc", Value::Str("line1\nline2\n".into()));
        let mut group = Branch::new();
        group.push("age", Value::Seq(vec![Value::Map(entry)]));
        group.push("hc_vault", Value::Null);
        let mut meta = Branch::new();
        meta.push("key_groups", Value::Seq(vec![Value::Map(group)]));
        meta.push("shamir_threshold", Value::Int(2));
        meta.push("version", Value::Str("3.11.0".into()));
        let flat = flatten(&meta);
        assert_eq!(
            flat,
            vec![
                (
                    "key_groups__list_0__map_age__list_0__map_enc".to_owned(),
                    "line1\\nline2\\n".to_owned()
                ),
                (
                    "key_groups__list_0__map_age__list_0__map_recipient".to_owned(),
                    "age1x".to_owned()
                ),
                ("shamir_threshold".to_owned(), "2".to_owned()),
                ("version".to_owned(), "3.11.0".to_owned()),
            ]
        );
        let back = unflatten(flat.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let Some(Value::Seq(groups)) = back.get("key_groups") else {
            panic!("key_groups")
        };
        let Value::Map(g) = &groups[0] else {
            panic!("group")
        };
        let Some(Value::Seq(age)) = g.get("age") else {
            panic!("age")
        };
        let Value::Map(e) = &age[0] else {
            panic!("entry")
        };
        assert_eq!(e.get("enc"), Some(&Value::Str("line1\nline2\n".into())));
        assert_eq!(back.get("shamir_threshold"), Some(&Value::Str("2".into())));
    }
}
