//! Tree paths as `--extract` and `set` take them: `["a"][0]["b"]`.

use zeroize::Zeroize;

use crate::tree::{Branch, Item, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// A mapping key: `["key"]`.
    Key(String),
    /// A sequence index: `[0]`.
    Index(i64),
}

/// A path that could not be parsed or does not exist in the tree. Messages
/// follow sops; they name path components, never values.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    #[error("component {0} doesn't end with ]")]
    /// A component without its closing `]`.
    Unterminated(String),
    #[error("strconv.Atoi: parsing {0:?}: invalid syntax")]
    /// An unquoted component that is not an integer.
    BadIndex(String),
    #[error("component ['{0}'] not found")]
    /// A key the mapping does not hold.
    KeyNotFound(String),
    #[error("component [{0}] is integer, but tree part is not a slice")]
    /// An index where the document holds no sequence.
    NotASlice(i64),
    #[error("component [{0}] accesses out of bounds")]
    /// An index past the end of the sequence.
    OutOfBounds(i64),
    #[error("component ['{0}'] is a key, but tree part is not a mapping")]
    /// A key where the document holds no mapping.
    NotAMapping(String),
    #[error("Key not found: {0}")]
    /// `unset` of a key the mapping does not hold.
    UnsetKeyNotFound(String),
    #[error("Index {0} out of bounds")]
    /// `unset` of an index past the end of the sequence.
    UnsetIndexOutOfBounds(i64),
    #[error("Unsupported type: {kind} for item '{item}'")]
    /// `unset` through a value that is neither a mapping nor a sequence.
    UnsetUnsupportedType {
        /// The kind of value in the way.
        kind: &'static str,
        /// The component.
        item: String,
    },
    /// `set` with an empty path (sops 3.11 panics).
    #[error("the path is empty: it must name at least one key, such as [\"key\"]")]
    SetEmptyPath,
    /// `set` with an index where the file has a mapping (sops 3.11
    /// silently changes nothing).
    #[error("cannot set [{index}]: the value at that place is a {kind}, not a sequence")]
    SetIndexOnNonSequence {
        /// The index.
        index: i64,
        /// The kind of value at that place.
        kind: &'static str,
    },
    /// `set` with a key where the file has a sequence (sops 3.11 panics).
    #[error("cannot set ['{key}']: the value at that place is a {kind}, not a mapping")]
    SetKeyOnNonMapping {
        /// The key.
        key: String,
        /// The kind of value at that place.
        kind: &'static str,
    },
}

/// Parses sops' path syntax exactly as sops does (naively): split on `[`,
/// each piece must end with `]`; quoted pieces are keys (first and last
/// character dropped, no escapes), others decimal integers.
pub fn parse_path(text: &str) -> Result<Vec<PathStep>, PathError> {
    let mut steps = Vec::new();
    for piece in text.split('[').filter(|p| !p.is_empty()) {
        let inner = piece
            .strip_suffix(']')
            .ok_or_else(|| PathError::Unterminated(piece.to_owned()))?;
        if inner.starts_with('"') || inner.starts_with('\'') {
            let mut chars = inner.chars();
            chars.next();
            chars.next_back();
            steps.push(PathStep::Key(chars.as_str().to_owned()));
        } else {
            let index = crate::numfmt::parse_go_int(inner)
                .ok_or_else(|| PathError::BadIndex(inner.to_owned()))?;
            steps.push(PathStep::Index(index));
        }
    }
    Ok(steps)
}

/// What a path points at.
#[derive(Debug, Clone, Copy)]
pub enum Found<'a> {
    /// The path was empty: the whole document.
    Document(&'a Branch),
    /// A value inside the document.
    Value(&'a Value),
}

/// Follows a path from a document's root.
pub fn lookup<'a>(doc: &'a Branch, steps: &[PathStep]) -> Result<Found<'a>, PathError> {
    let mut current = Found::Document(doc);
    for step in steps {
        let next = match (current, step) {
            (Found::Document(b) | Found::Value(Value::Map(b)), PathStep::Key(k)) => {
                b.0.iter()
                    .find_map(|item| match item {
                        Item::Entry(key, v) if key == k => Some(v),
                        _ => None,
                    })
                    .ok_or_else(|| PathError::KeyNotFound(k.clone()))?
            }
            (Found::Value(Value::Seq(items)), PathStep::Index(i)) => {
                let idx = usize::try_from(*i).map_err(|_| PathError::OutOfBounds(*i))?;
                items.get(idx).ok_or(PathError::OutOfBounds(*i))?
            }
            (_, PathStep::Index(i)) => return Err(PathError::NotASlice(*i)),
            (_, PathStep::Key(k)) => return Err(PathError::NotAMapping(k.clone())),
        };
        current = Found::Value(next);
    }
    Ok(current)
}

/// The value a missing sub-path becomes: keys make single-entry mappings,
/// indices single-element lists (sops' `set`).
fn materialize(steps: &[PathStep], value: Value) -> Value {
    match steps.split_first() {
        None => value,
        Some((PathStep::Key(k), rest)) => {
            let mut b = Branch::new();
            b.push(k.clone(), materialize(rest, value));
            Value::Map(b)
        }
        Some((PathStep::Index(_), rest)) => Value::Seq(vec![materialize(rest, value)]),
    }
}

/// `sops set`: puts `value` at `steps` in `doc`, creating what is missing
/// as sops does (appending missing keys and out-of-range list items, and
/// replacing a scalar on the way). Returns whether anything changed
/// (type-sensitive comparison). A path that does not fit the tree (an
/// index where there is a mapping, a key where there is a sequence) or is
/// empty is an error and leaves `doc` as it was: sops 3.11 silently does
/// nothing for the first and panics for the others.
pub fn set(doc: &mut Branch, steps: &[PathStep], value: Value) -> Result<bool, PathError> {
    let mut value = Some(value);
    let result = if steps.is_empty() {
        Err(PathError::SetEmptyPath)
    } else {
        set_in_branch(doc, steps, &mut value)
    };
    // Not stored (an error): the plaintext is wiped here.
    if let Some(v) = value.take() {
        wipe(v);
    }
    result
}

/// `value` is taken out of its `Option` only where it is stored; errors
/// leave it there for [`set`] to wipe. Nothing in the tree changes before
/// the place to store it is found, so an error leaves the tree as it was.
fn set_in_branch(
    doc: &mut Branch,
    steps: &[PathStep],
    value: &mut Option<Value>,
) -> Result<bool, PathError> {
    let (k, rest) = match steps.split_first() {
        Some((PathStep::Key(k), rest)) => (k, rest),
        Some((PathStep::Index(i), _)) => {
            return Err(PathError::SetIndexOnNonSequence {
                index: *i,
                kind: "mapping",
            });
        }
        None => return Ok(false),
    };
    let existing = doc.0.iter_mut().find_map(|item| match item {
        Item::Entry(key, v) if key == k => Some(v),
        _ => None,
    });
    match existing {
        Some(slot) => set_in_value(slot, rest, value),
        None => {
            let Some(v) = value.take() else {
                return Ok(false);
            };
            doc.push(k.clone(), materialize(rest, v));
            Ok(true)
        }
    }
}

fn set_in_value(
    slot: &mut Value,
    steps: &[PathStep],
    value: &mut Option<Value>,
) -> Result<bool, PathError> {
    let Some((step, rest)) = steps.split_first() else {
        let Some(v) = value.take() else {
            return Ok(false);
        };
        let changed = !same_value(slot, &v);
        wipe(std::mem::replace(slot, v));
        return Ok(changed);
    };
    match (slot, step) {
        (Value::Map(b), PathStep::Key(_)) => set_in_branch(b, steps, value),
        (Value::Map(_), PathStep::Index(i)) => Err(PathError::SetIndexOnNonSequence {
            index: *i,
            kind: "mapping",
        }),
        (Value::Seq(_), PathStep::Key(k)) => Err(PathError::SetKeyOnNonMapping {
            key: k.clone(),
            kind: "sequence",
        }),
        (Value::Seq(items), PathStep::Index(i)) => {
            match usize::try_from(*i).ok().filter(|i| *i < items.len()) {
                Some(i) => set_in_value(&mut items[i], rest, value),
                None => {
                    let Some(v) = value.take() else {
                        return Ok(false);
                    };
                    items.push(materialize(rest, v));
                    Ok(true)
                }
            }
        }
        (scalar, _) => {
            let Some(v) = value.take() else {
                return Ok(false);
            };
            wipe(std::mem::replace(scalar, materialize(steps, v)));
            Ok(true)
        }
    }
}

/// Wipes a value that leaves a plaintext tree (replaced, removed, or not
/// stored): set and unset work on decrypted documents.
fn wipe(mut value: Value) {
    value.zeroize();
}

/// Deep, type-sensitive equality (float 1 and int 1 differ; NaN equals NaN).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits() || x == y,
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.0.len() == y.0.len()
                && x.0.iter().zip(&y.0).all(|(a, b)| match (a, b) {
                    (Item::Entry(ka, va), Item::Entry(kb, vb)) => ka == kb && same_value(va, vb),
                    (Item::Comment(a), Item::Comment(b)) => a == b,
                    _ => false,
                })
        }
        _ => a == b,
    }
}

/// `sops unset`: removes the mapping entry or list element at `steps`.
pub fn unset(doc: &mut Branch, steps: &[PathStep]) -> Result<(), PathError> {
    let Some((first, rest)) = steps.split_first() else {
        return Ok(());
    };
    let PathStep::Key(k) = first else {
        return Err(PathError::UnsetUnsupportedType {
            kind: "mapping",
            item: step_text(first),
        });
    };
    let pos = doc
        .0
        .iter()
        .position(|item| matches!(item, Item::Entry(key, _) if key == k))
        .ok_or_else(|| PathError::UnsetKeyNotFound(k.clone()))?;
    if rest.is_empty() {
        doc.0.remove(pos).zeroize();
        return Ok(());
    }
    let Item::Entry(_, value) = &mut doc.0[pos] else {
        return Ok(());
    };
    unset_in_value(value, rest)
}

fn unset_in_value(value: &mut Value, steps: &[PathStep]) -> Result<(), PathError> {
    let Some((step, rest)) = steps.split_first() else {
        return Ok(());
    };
    match (value, step) {
        (Value::Map(b), PathStep::Key(_)) => unset(b, steps),
        (Value::Seq(items), PathStep::Index(i)) => {
            let idx = usize::try_from(*i)
                .ok()
                .filter(|i| *i < items.len())
                .ok_or(PathError::UnsetIndexOutOfBounds(*i))?;
            if rest.is_empty() {
                items.remove(idx).zeroize();
                Ok(())
            } else {
                unset_in_value(&mut items[idx], rest)
            }
        }
        (other, step) => Err(PathError::UnsetUnsupportedType {
            kind: other.kind_name(),
            item: step_text(step),
        }),
    }
}

fn step_text(step: &PathStep) -> String {
    match step {
        PathStep::Key(k) => k.clone(),
        PathStep::Index(i) => i.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_sops() {
        assert_eq!(
            parse_path(r#"["a"][0]['b']"#).unwrap(),
            vec![
                PathStep::Key("a".into()),
                PathStep::Index(0),
                PathStep::Key("b".into())
            ]
        );
        assert_eq!(
            parse_path(r#"["a"]["b""#),
            Err(PathError::Unterminated("\"b\"".into()))
        );
        assert_eq!(parse_path("[x]"), Err(PathError::BadIndex("x".into())));
        assert!(parse_path("").unwrap().is_empty());
    }

    /// issue 10: an index where the tree has a mapping, a key where it has
    /// a sequence, and an empty path are errors that change nothing.
    #[test]
    fn r10_set_refuses_paths_that_do_not_fit() {
        let mut doc = Branch::new();
        doc.push("m", Value::Map(Branch::new()));
        doc.push(
            "l",
            Value::Seq(vec![Value::Int(1), Value::Map(Branch::new())]),
        );
        let before = doc.clone();
        let err =
            |doc: &mut Branch, p: &str| set(doc, &parse_path(p).unwrap(), Value::Null).unwrap_err();
        assert_eq!(
            err(&mut doc, "[0]").to_string(),
            "cannot set [0]: the value at that place is a mapping, not a sequence"
        );
        assert_eq!(
            err(&mut doc, r#"["m"][2]["x"]"#),
            PathError::SetIndexOnNonSequence {
                index: 2,
                kind: "mapping"
            }
        );
        assert_eq!(
            err(&mut doc, r#"["l"][1][0]"#),
            PathError::SetIndexOnNonSequence {
                index: 0,
                kind: "mapping"
            }
        );
        assert_eq!(
            err(&mut doc, r#"["l"]["k"]"#).to_string(),
            "cannot set ['k']: the value at that place is a sequence, not a mapping"
        );
        assert_eq!(err(&mut doc, ""), PathError::SetEmptyPath);
        assert_eq!(doc, before);
    }

    #[test]
    fn set_creates_and_replaces_like_sops() {
        let mut doc = Branch::new();
        doc.push("a", Value::Seq(vec![Value::Int(1)]));
        assert!(
            set(
                &mut doc,
                &parse_path(r#"["a"][0]"#).unwrap(),
                Value::Float(1.0)
            )
            .unwrap()
        );
        assert!(
            !set(
                &mut doc,
                &parse_path(r#"["a"][0]"#).unwrap(),
                Value::Float(1.0)
            )
            .unwrap()
        );
        assert!(
            set(
                &mut doc,
                &parse_path(r#"["a"][5]["k"]"#).unwrap(),
                Value::Bool(true)
            )
            .unwrap()
        );
        assert!(
            set(
                &mut doc,
                &parse_path(r#"["b"]["c"][0]"#).unwrap(),
                Value::Null
            )
            .unwrap()
        );
        let Some(Value::Seq(a)) = doc.get("a") else {
            panic!("a")
        };
        assert_eq!(a.len(), 2);
        assert!(matches!(&a[1], Value::Map(m) if m.get("k") == Some(&Value::Bool(true))));
        let Some(Value::Map(b)) = doc.get("b") else {
            panic!("b")
        };
        assert_eq!(b.get("c"), Some(&Value::Seq(vec![Value::Null])));
        // A scalar on the way is replaced.
        assert!(
            set(
                &mut doc,
                &parse_path(r#"["b"]["c"][0]["x"]"#).unwrap(),
                Value::Int(2)
            )
            .unwrap()
        );
    }

    #[test]
    fn unset_errors_like_sops() {
        let mut doc = Branch::new();
        doc.push("a", Value::Seq(vec![Value::Int(1), Value::Int(2)]));
        doc.push("s", Value::Int(3));
        unset(&mut doc, &parse_path(r#"["a"][0]"#).unwrap()).unwrap();
        assert_eq!(doc.get("a"), Some(&Value::Seq(vec![Value::Int(2)])));
        assert_eq!(
            unset(&mut doc, &parse_path(r#"["x"]"#).unwrap())
                .unwrap_err()
                .to_string(),
            "Key not found: x"
        );
        assert_eq!(
            unset(&mut doc, &parse_path(r#"["a"][4]"#).unwrap())
                .unwrap_err()
                .to_string(),
            "Index 4 out of bounds"
        );
        assert_eq!(
            unset(&mut doc, &parse_path(r#"["s"]["x"]"#).unwrap())
                .unwrap_err()
                .to_string(),
            "Unsupported type: int for item 'x'"
        );
        unset(&mut doc, &parse_path(r#"["s"]"#).unwrap()).unwrap();
        assert!(doc.get("s").is_none());
    }

    #[test]
    fn lookup_errors() {
        let mut doc = Branch::new();
        doc.push("a", Value::Seq(vec![Value::Int(1)]));
        assert!(matches!(
            lookup(&doc, &parse_path(r#"["a"][0]"#).unwrap()),
            Ok(Found::Value(Value::Int(1)))
        ));
        assert_eq!(
            lookup(&doc, &parse_path(r#"["b"]"#).unwrap()).unwrap_err(),
            PathError::KeyNotFound("b".into())
        );
        assert_eq!(
            lookup(&doc, &parse_path(r#"["a"][3]"#).unwrap()).unwrap_err(),
            PathError::OutOfBounds(3)
        );
        assert_eq!(
            lookup(&doc, &parse_path(r#"["a"][0][1]"#).unwrap()).unwrap_err(),
            PathError::NotASlice(1)
        );
    }
}
