//! The document tree, modelled on sops' `TreeBranch`/`TreeItem`.
//!
//! Order and comments are part of the format, so a mapping is an ordered list
//! of [`Item`]s in which a comment is an item of its own, and a sequence may
//! hold [`Value::Comment`] elements (sops keeps comments of a YAML sequence as
//! elements of that sequence, and after encryption they even show up as list
//! items).

pub mod path;
pub mod time;

pub use time::Time;
use zeroize::Zeroize;

/// One YAML document, or the whole of a JSON file: an ordered mapping.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Branch(pub Vec<Item>);

/// A comment: the text is what followed `#` (leading space kept). It
/// dereferences to that text.
///
/// `inline` marks a YAML comment that stood at the end of its value's
/// line (`key: value # c`, `- item # c`): sops 3.13 writes it back there,
/// where 3.11 wrote it on a line of its own above the entry. Its place in
/// the tree is the same either way (before the entry it belongs to).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Comment {
    /// What followed `#`.
    pub text: String,
    /// True if it stood at the end of its value's line.
    pub inline: bool,
}

impl Comment {
    /// A comment on a line of its own.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            inline: false,
        }
    }

    /// A comment at the end of its value's line.
    pub fn inline(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            inline: true,
        }
    }
}

impl std::ops::Deref for Comment {
    type Target = String;
    fn deref(&self) -> &String {
        &self.text
    }
}

impl std::ops::DerefMut for Comment {
    fn deref_mut(&mut self) -> &mut String {
        &mut self.text
    }
}

impl From<String> for Comment {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl From<&str> for Comment {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl PartialEq<str> for Comment {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Comment {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl Zeroize for Comment {
    fn zeroize(&mut self) {
        self.text.zeroize();
        self.inline = false;
    }
}

/// An entry of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A comment line.
    Comment(Comment),
    /// A key and its value.
    Entry(String, Value),
}

/// A value in the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or an empty value.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A YAML timestamp (sops types it `time`).
    Time(Time),
    /// A UTF-8 string.
    Str(String),
    /// A string that is not valid UTF-8 (binary files, YAML `!!binary`).
    /// sops writes it with `type:str`.
    Bytes(Vec<u8>),
    /// A sequence; may contain [`Value::Comment`] elements.
    Seq(Vec<Value>),
    /// A mapping.
    Map(Branch),
    /// A comment inside a sequence. Never appears as a mapping value.
    Comment(Comment),
}

impl Branch {
    /// An empty mapping.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The value of the first entry named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find_map(|item| match item {
            Item::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// Appends an entry.
    pub fn push(&mut self, key: impl Into<String>, value: Value) {
        self.0.push(Item::Entry(key.into(), value));
    }

    /// Removes every top-level entry named `key` and returns the first one's value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let mut found = None;
        let mut i = 0;
        while i < self.0.len() {
            if matches!(&self.0[i], Item::Entry(k, _) if k == key) {
                if let Item::Entry(_, v) = self.0.remove(i) {
                    found.get_or_insert(v);
                }
            } else {
                i += 1;
            }
        }
        found
    }

    /// Iterates over the key/value entries, skipping comments.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().filter_map(|item| match item {
            Item::Entry(k, v) => Some((k.as_str(), v)),
            Item::Comment(_) => None,
        })
    }
}

// Wiping a tree: every string and byte buffer is overwritten (its whole
// capacity) and emptied, numbers and booleans are zeroed, containers are
// wiped element by element and then emptied. Keys are wiped too (they are
// not secret in sops, but cost nothing extra). Trees do not wipe
// themselves on drop (a `Drop` on `Branch` would forbid moving items out
// of it everywhere); the owners of plaintext do, e.g. `ops::Decrypted`.
impl Zeroize for Value {
    fn zeroize(&mut self) {
        match self {
            Value::Null => {}
            Value::Bool(b) => b.zeroize(),
            Value::Int(n) => n.zeroize(),
            Value::Float(f) => f.zeroize(),
            Value::Time(t) => t.zeroize(),
            Value::Str(s) => s.zeroize(),
            Value::Comment(c) => c.zeroize(),
            Value::Bytes(b) => b.zeroize(),
            Value::Seq(items) => items.zeroize(),
            Value::Map(branch) => branch.zeroize(),
        }
    }
}

impl Zeroize for Item {
    fn zeroize(&mut self) {
        match self {
            Item::Comment(text) => text.zeroize(),
            Item::Entry(key, value) => {
                key.zeroize();
                value.zeroize();
            }
        }
    }
}

impl Zeroize for Branch {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl Value {
    /// The sops type name written in `type:` of an encrypted value.
    pub fn sops_type(&self) -> Option<&'static str> {
        Some(match self {
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Time(_) => "time",
            Value::Str(_) | Value::Bytes(_) => "str",
            Value::Comment(_) => "comment",
            Value::Null | Value::Seq(_) | Value::Map(_) => return None,
        })
    }

    /// A short name of the kind of value, for error messages (never the value).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Time(_) => "time",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
            Value::Comment(_) => "comment",
        }
    }

    /// The string content of a `Str`, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroize;

    use super::*;

    #[test]
    fn zeroize_empties_every_leaf() {
        let mut inner = Branch::new();
        inner.push("password", Value::Str("hunter2".into()));
        inner.0.push(Item::Comment(" note".into()));
        let mut doc = Branch::new();
        doc.push("db", Value::Map(inner));
        doc.push(
            "list",
            Value::Seq(vec![Value::Int(7), Value::Bytes(vec![1, 2, 3])]),
        );
        doc.push("flag", Value::Bool(true));
        let mut docs = vec![doc];
        docs.zeroize();
        assert!(docs.is_empty());

        let mut value = Value::Seq(vec![Value::Str("secret".into()), Value::Float(1.5)]);
        value.zeroize();
        assert_eq!(value, Value::Seq(Vec::new()));
        let mut number = Value::Int(42);
        number.zeroize();
        assert_eq!(number, Value::Int(0));
    }
}
