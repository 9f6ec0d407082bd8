//! The error of the typed layer. Its whole point is what it leaves out:
//! serde's default messages quote the offending value ("invalid type:
//! string \"hunter2\", expected u32"), and a decrypted value is a secret,
//! so every message here names the key path and the expected and found
//! TYPES only.

use std::fmt::{self, Display};

use serde::de::{Expected, Unexpected};

/// One step of a key path: a mapping key (keys are not secret in sops) or
/// a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// Which way the value was going when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Deserialize,
    Serialize,
}

/// A value did not fit the Rust type (decrypting with
/// [`from_slice`](crate::from_slice)), or a Rust value has no place in a
/// sops document (encrypting with [`to_vec`](crate::to_vec)).
///
/// The message names the key path (`["db"]["port"]`) and the expected and
/// found types, never the value: serde's own messages, which quote it, are
/// replaced, and a message written by a `Deserialize` implementation is
/// withheld if it contains the text of any value of the document.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # use age::secrecy::ExposeSecret;
/// # use sops_core::{KeyContext, Recipients};
/// # let identity = age::x25519::Identity::generate();
/// # let keys = Recipients::new().age(identity.to_public().to_string());
/// # let ctx = KeyContext::builder()
/// #     .age_identity_text("doc", identity.to_string().expose_secret())
/// #     .build();
/// use std::collections::BTreeMap;
/// use sops_core::Format;
///
/// let doc = BTreeMap::from([("port", "hunter2")]);
/// let encrypted = sops_core::to_vec(&doc, Format::Yaml, &keys)?;
///
/// #[derive(serde::Deserialize, Debug)]
/// struct Config {
///     #[allow(dead_code)]
///     port: u16,
/// }
/// let err = sops_core::from_slice::<Config>(&encrypted, Format::Yaml, &ctx).unwrap_err();
/// let text = err.to_string();
/// assert!(text.contains(r#"["port"]"#), "{text}");
/// assert!(!text.contains("hunter2"), "{text}");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedError {
    direction: Direction,
    /// Outermost first.
    path: Vec<Segment>,
    /// The path has been set (the root's path is empty too).
    located: bool,
    message: String,
    /// Written by code outside this module (`Error::custom`): it may quote
    /// a value, so it is checked against the document before it is shown.
    custom: bool,
}

impl TypedError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            direction: Direction::Deserialize,
            path: Vec::new(),
            located: false,
            message: message.into(),
            custom: false,
        }
    }

    pub(crate) fn serializing(mut self) -> Self {
        self.direction = Direction::Serialize;
        self
    }

    /// The key path of the value that failed, as sops' `--extract` takes
    /// it (`["db"]["hosts"][0]`); empty for the document itself.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for segment in &self.path {
            match segment {
                Segment::Key(key) => {
                    out.push_str("[\"");
                    for c in key.chars() {
                        if matches!(c, '"' | '\\') {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push_str("\"]");
                }
                Segment::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        out
    }

    /// Sets the path, unless a deeper frame has set it already (the
    /// innermost frame knows best where the failure was).
    pub(crate) fn locate(mut self, path: impl FnOnce() -> Vec<Segment>) -> Self {
        if !self.located {
            self.located = true;
            self.path = path();
        }
        self
    }

    /// Serializing: errors bubble up from the leaf, so each frame puts its
    /// own step in front.
    pub(crate) fn under_key(mut self, key: &str) -> Self {
        self.path.insert(0, Segment::Key(key.to_owned()));
        self
    }

    /// See [`TypedError::under_key`].
    pub(crate) fn under_index(mut self, index: usize) -> Self {
        self.path.insert(0, Segment::Index(index));
        self
    }

    /// Withholds a message written outside this module if `leaks` says it
    /// contains a value.
    pub(crate) fn scrub(mut self, leaks: impl FnOnce(&str) -> bool) -> Self {
        if self.custom && leaks(&self.message) {
            self.message =
                "the value was rejected (the message is withheld: it contains a value)".into();
            self.custom = false;
        }
        self
    }
}

impl Display for TypedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.direction {
            Direction::Deserialize => "could not deserialize",
            Direction::Serialize => "could not serialize",
        };
        if self.path.is_empty() {
            write!(f, "{verb} the document: {}", self.message)
        } else {
            write!(f, "{verb} {}: {}", self.path(), self.message)
        }
    }
}

impl std::error::Error for TypedError {}

/// The kind of an unexpected value, without the value.
fn kind(unexp: &Unexpected<'_>) -> &'static str {
    match unexp {
        Unexpected::Bool(_) => "a boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "an integer",
        Unexpected::Float(_) => "a float",
        Unexpected::Char(_) => "a character",
        Unexpected::Str(_) => "a string",
        Unexpected::Bytes(_) => "bytes",
        Unexpected::Unit => "null",
        Unexpected::Option => "an optional value",
        Unexpected::NewtypeStruct => "a newtype struct",
        Unexpected::Seq => "a sequence",
        Unexpected::Map => "a mapping",
        Unexpected::Enum => "an enum",
        Unexpected::UnitVariant => "a unit variant",
        Unexpected::NewtypeVariant => "a newtype variant",
        Unexpected::TupleVariant => "a tuple variant",
        Unexpected::StructVariant => "a struct variant",
        // A free-form description; it could be anything.
        Unexpected::Other(_) => "another kind of value",
    }
}

fn one_of(names: &'static [&'static str]) -> String {
    if names.is_empty() {
        return "there are none".to_owned();
    }
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("expected one of {}", quoted.join(", "))
}

impl serde::de::Error for TypedError {
    fn custom<T: Display>(msg: T) -> Self {
        Self {
            custom: true,
            ..Self::new(msg.to_string())
        }
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Self::new(format!(
            "invalid type: expected {exp}, found {}",
            kind(&unexp)
        ))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Self::new(format!(
            "invalid value: expected {exp}, found {} that does not fit",
            kind(&unexp)
        ))
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        Self::new(format!("invalid length {len}, expected {exp}"))
    }

    // The variant name comes from the document's value: left out.
    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(format!("unknown variant, {}", one_of(expected)))
    }

    // A field name is a key, and keys are in the clear in a sops file.
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::new(format!("unknown field `{field}`, {}", one_of(expected)))
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(format!("missing field `{field}`"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::new(format!("duplicate field `{field}`"))
    }
}

impl serde::ser::Error for TypedError {
    fn custom<T: Display>(msg: T) -> Self {
        Self {
            custom: true,
            ..Self::new(msg.to_string()).serializing()
        }
    }
}
