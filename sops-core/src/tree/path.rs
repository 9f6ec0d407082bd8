//! Tree paths as `--extract` and `set` take them: `["a"][0]["b"]`.

use crate::tree::{Branch, Item, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(i64),
}

/// A path that could not be parsed or does not exist in the tree. Messages
/// follow sops; they name path components, never values.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    #[error("component {0} doesn't end with ]")]
    Unterminated(String),
    #[error("strconv.Atoi: parsing {0:?}: invalid syntax")]
    BadIndex(String),
    #[error("component ['{0}'] not found")]
    KeyNotFound(String),
    #[error("component [{0}] is integer, but tree part is not a slice")]
    NotASlice(i64),
    #[error("component [{0}] accesses out of bounds")]
    OutOfBounds(i64),
    #[error("component ['{0}'] is a key, but tree part is not a mapping")]
    NotAMapping(String),
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
