//! A serde `Deserializer` over a decrypted [`Value`]: values keep the types
//! sops gave them (int, float, bool, null, string, time), and a Rust type
//! that asks for another one gets an error naming the path and both types.

use serde::de::{
    self, DeserializeSeed, EnumAccess, Error as _, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use zeroize::Zeroizing;

use super::error::{Segment, TypedError};
use crate::tree::{Item, Value};

/// How leaves are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// YAML, JSON, binary: a value is of the type sops gave it.
    Typed,
    /// dotenv, INI: every value is a string in the file, so a string is
    /// also read as a number or a boolean when the Rust type wants one,
    /// and a number or boolean (written by another tool) as a string.
    Flat,
}

/// Where a value sits, as a list linked through the callers' frames (no
/// allocation unless an error needs the path).
#[derive(Clone, Copy)]
pub(crate) enum Path<'p> {
    Root,
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl Path<'_> {
    fn segments(&self) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut at = self;
        loop {
            match at {
                Path::Root => break,
                Path::Key(parent, key) => {
                    out.push(Segment::Key((*key).to_owned()));
                    at = parent;
                }
                Path::Index(parent, i) => {
                    out.push(Segment::Index(*i));
                    at = parent;
                }
            }
        }
        out.reverse();
        out
    }
}

/// Deserializes `T` from one decrypted document. A message written by a
/// `Deserialize` implementation (`Error::custom`) is withheld if it
/// contains the text of any value of the document.
pub(crate) fn from_value<T: de::DeserializeOwned>(
    value: &Value,
    mode: Mode,
) -> Result<T, TypedError> {
    T::deserialize(ValueDe {
        value,
        path: Path::Root,
        mode,
    })
    .map_err(|e| e.scrub(|message| leaks(message, value)))
}

/// True if `message` contains the text of a leaf of `value`.
fn leaks(message: &str, value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(_) => false,
        Value::Int(n) => message.contains(&*Zeroizing::new(n.to_string())),
        Value::Float(f) => message.contains(&*Zeroizing::new(f.to_string())),
        Value::Time(t) => message.contains(t.as_str()),
        Value::Str(s) => !s.is_empty() && message.contains(s.as_str()),
        Value::Comment(c) => !c.is_empty() && message.contains(c.as_str()),
        Value::Bytes(b) => {
            let text = Zeroizing::new(String::from_utf8_lossy(b).into_owned());
            !text.is_empty() && message.contains(text.as_str())
        }
        Value::Seq(items) => items.iter().any(|v| leaks(message, v)),
        Value::Map(branch) => branch.entries().any(|(_, v)| leaks(message, v)),
    }
}

struct ValueDe<'de, 'p> {
    value: &'de Value,
    path: Path<'p>,
    mode: Mode,
}

impl<'de> ValueDe<'de, '_> {
    fn at(&self, e: TypedError) -> TypedError {
        e.locate(|| self.path.segments())
    }

    fn unexpected(&self) -> Unexpected<'static> {
        // Placeholders: only the kind reaches the message.
        match self.value {
            Value::Null => Unexpected::Unit,
            Value::Bool(_) => Unexpected::Bool(false),
            Value::Int(_) => Unexpected::Signed(0),
            Value::Float(_) => Unexpected::Float(0.0),
            Value::Time(_) | Value::Str(_) | Value::Comment(_) => Unexpected::Str(""),
            Value::Bytes(_) => Unexpected::Bytes(b""),
            Value::Seq(_) => Unexpected::Seq,
            Value::Map(_) => Unexpected::Map,
        }
    }

    fn wrong_type(&self, exp: &dyn de::Expected) -> TypedError {
        self.at(TypedError::invalid_type(self.unexpected(), exp))
    }

    /// The string of a flat-format value that is not one in the tree
    /// (sops' dotenv/INI writer's text), wiped when dropped.
    fn flat_text(&self) -> Option<Zeroizing<String>> {
        if self.mode != Mode::Flat {
            return None;
        }
        match self.value {
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                let bytes = crate::stores::dotenv::scalar_text("", self.value).ok()?;
                Some(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()))
            }
            _ => None,
        }
    }

    /// A flat-format string read as a number or boolean.
    fn parse_flat<'v, V: Visitor<'v>>(
        &self,
        visitor: V,
        parse: impl FnOnce(&str, V) -> Option<Result<V::Value, TypedError>>,
    ) -> Result<V::Value, TypedError> {
        let Value::Str(s) = self.value else {
            return Err(self.wrong_type(&visitor));
        };
        if self.mode != Mode::Flat {
            return Err(self.wrong_type(&visitor));
        }
        let exp = Zeroizing::new(format!("{}", ExpectedOf(&visitor)));
        match parse(s, visitor) {
            Some(result) => result.map_err(|e| self.at(e)),
            None => Err(self.at(TypedError::new(format!(
                "invalid value: expected {}, found a string that does not read as one",
                exp.as_str()
            )))),
        }
    }

    fn int<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.value {
            Value::Int(n) => visitor.visit_i64(*n).map_err(|e| self.at(e)),
            _ => self.parse_flat(visitor, |s, v| {
                if let Ok(n) = s.parse::<i64>() {
                    Some(v.visit_i64(n))
                } else if let Ok(n) = s.parse::<u64>() {
                    Some(v.visit_u64(n))
                } else {
                    None
                }
            }),
        }
    }

    fn float<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.value {
            Value::Float(f) => visitor.visit_f64(*f).map_err(|e| self.at(e)),
            Value::Int(n) => visitor.visit_i64(*n).map_err(|e| self.at(e)),
            _ => self.parse_flat(visitor, |s, v| {
                s.parse::<f64>().ok().map(|f| v.visit_f64(f))
            }),
        }
    }

    fn string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        let result = match self.value {
            Value::Str(s) => visitor.visit_str(s),
            Value::Time(t) => visitor.visit_str(t.as_str()),
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => visitor.visit_str(s),
                Err(_) => return Err(self.wrong_type(&visitor)),
            },
            _ => match self.flat_text() {
                Some(text) => visitor.visit_str(&text),
                None => return Err(self.wrong_type(&visitor)),
            },
        };
        result.map_err(|e| self.at(e))
    }

    fn seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.value {
            Value::Seq(items) => {
                let mut access = Seq {
                    items: items.iter(),
                    index: 0,
                    path: self.path,
                    mode: self.mode,
                };
                let out = visitor.visit_seq(&mut access).map_err(|e| self.at(e))?;
                if access.items.any(|v| !matches!(v, Value::Comment(_))) {
                    return Err(self.at(TypedError::new(
                        "invalid length: the sequence has more elements than expected",
                    )));
                }
                Ok(out)
            }
            // `Vec<u8>` asks for a sequence of bytes.
            Value::Bytes(b) => {
                let mut access = de::value::SeqDeserializer::new(b.iter().copied());
                let out = visitor.visit_seq(&mut access).map_err(|e| self.at(e))?;
                access.end().map_err(|e| self.at(e))?;
                Ok(out)
            }
            _ => Err(self.wrong_type(&visitor)),
        }
    }

    fn map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.value {
            Value::Map(branch) => visitor
                .visit_map(Map {
                    items: branch.0.iter(),
                    value: None,
                    path: self.path,
                    mode: self.mode,
                })
                .map_err(|e| self.at(e)),
            _ => Err(self.wrong_type(&visitor)),
        }
    }
}

/// `Visitor::expecting` as a `Display`.
struct ExpectedOf<'a, V>(&'a V);

impl<'v, V: Visitor<'v>> std::fmt::Display for ExpectedOf<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.expecting(f)
    }
}

macro_rules! ints {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
            self.int(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDe<'de, '_> {
    type Error = TypedError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        let result = match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(n) => visitor.visit_i64(*n),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Time(t) => visitor.visit_str(t.as_str()),
            Value::Str(s) => visitor.visit_str(s),
            Value::Bytes(b) => visitor.visit_bytes(b),
            Value::Seq(_) => return self.seq(visitor),
            Value::Map(_) => return self.map(visitor),
            Value::Comment(_) => return Err(self.wrong_type(&visitor)),
        };
        result.map_err(|e| self.at(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.value {
            Value::Bool(b) => visitor.visit_bool(*b).map_err(|e| self.at(e)),
            _ => self.parse_flat(visitor, |s, v| {
                s.parse::<bool>().ok().map(|b| v.visit_bool(b))
            }),
        }
    }

    ints! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.float(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.float(visitor)
    }

    // serde's `char` accepts a string of one character.
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.string(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        let result = match self.value {
            Value::Bytes(b) => visitor.visit_bytes(b),
            Value::Str(s) => visitor.visit_bytes(s.as_bytes()),
            Value::Seq(_) => return self.seq(visitor),
            _ => return Err(self.wrong_type(&visitor)),
        };
        result.map_err(|e| self.at(e))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.value {
            Value::Null => visitor.visit_none().map_err(|e| self.at(e)),
            _ => {
                let path = self.path;
                visitor
                    .visit_some(self)
                    .map_err(|e| e.locate(|| path.segments()))
            }
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.value {
            Value::Null => visitor.visit_unit().map_err(|e| self.at(e)),
            _ => Err(self.wrong_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        let path = self.path;
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.locate(|| path.segments()))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        self.seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        self.seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.map(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        self.map(visitor)
    }

    /// A unit variant is a string (`mode: fast`); a variant with data is a
    /// mapping of one entry (`mode: {limited: 3}`), as serde_yaml and
    /// serde_json write them.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        let (variant, value) = match self.value {
            Value::Str(s) => (s.as_str(), None),
            Value::Map(branch) => {
                let mut entries = branch.entries();
                match (entries.next(), entries.next()) {
                    (Some((k, v)), None) => (k, Some(v)),
                    _ => {
                        return Err(self.at(TypedError::new(
                            "invalid type: expected an enum as a mapping of exactly one entry",
                        )));
                    }
                }
            }
            _ => return Err(self.wrong_type(&visitor)),
        };
        visitor
            .visit_enum(Enum {
                variant,
                value,
                path: self.path,
                mode: self.mode,
            })
            .map_err(|e| self.at(e))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        visitor.visit_unit()
    }
}

struct Seq<'de, 'p> {
    items: std::slice::Iter<'de, Value>,
    index: usize,
    path: Path<'p>,
    mode: Mode,
}

impl<'de> SeqAccess<'de> for Seq<'de, '_> {
    type Error = TypedError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, TypedError> {
        // A comment between the elements of a YAML sequence is no element.
        let Some(value) = self
            .items
            .by_ref()
            .find(|v| !matches!(v, Value::Comment(_)))
        else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        let path = Path::Index(&self.path, index);
        // Located here as well as in the value's own frame: a
        // `deserialize_with` function fails after its value was read.
        seed.deserialize(ValueDe {
            value,
            path,
            mode: self.mode,
        })
        .map(Some)
        .map_err(|e| e.locate(|| path.segments()))
    }
}

struct Map<'de, 'p> {
    items: std::slice::Iter<'de, Item>,
    value: Option<(&'de str, &'de Value)>,
    path: Path<'p>,
    mode: Mode,
}

impl<'de> MapAccess<'de> for Map<'de, '_> {
    type Error = TypedError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TypedError> {
        for item in self.items.by_ref() {
            if let Item::Entry(key, value) = item {
                self.value = Some((key, value));
                return seed
                    .deserialize(Key(key))
                    .map(Some)
                    .map_err(|e| e.locate(|| Path::Key(&self.path, key).segments()));
            }
        }
        Ok(None)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, TypedError> {
        let Some((key, value)) = self.value.take() else {
            return Err(TypedError::new("a value was asked for before its key"));
        };
        let path = Path::Key(&self.path, key);
        seed.deserialize(ValueDe {
            value,
            path,
            mode: self.mode,
        })
        .map_err(|e| e.locate(|| path.segments()))
    }
}

/// A mapping key. Keys are strings in a sops tree; a Rust map with number
/// or boolean keys reads them from that string, as serde_json does.
struct Key<'de>(&'de str);

impl<'de> de::Deserializer<'de> for Key<'de> {
    type Error = TypedError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        visitor.visit_str(self.0)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.0.parse::<bool>() {
            Ok(b) => visitor.visit_bool(b),
            Err(_) => visitor.visit_str(self.0),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        key_int(self.0, visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        key_int(self.0, visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        key_int(self.0, visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        key_int(self.0, visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        key_int(self.0, visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        key_int(self.0, visitor)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        key_int(self.0, visitor)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        key_int(self.0, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        visitor.visit_enum(self.0.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i128 u128 f32 f64 char str string bytes byte_buf option unit unit_struct
        seq tuple tuple_struct map struct identifier ignored_any
    }
}

fn key_int<'de, V: Visitor<'de>>(key: &str, visitor: V) -> Result<V::Value, TypedError> {
    if let Ok(n) = key.parse::<i64>() {
        visitor.visit_i64(n)
    } else if let Ok(n) = key.parse::<u64>() {
        visitor.visit_u64(n)
    } else {
        visitor.visit_str(key)
    }
}

struct Enum<'de, 'p> {
    variant: &'de str,
    value: Option<&'de Value>,
    path: Path<'p>,
    mode: Mode,
}

impl<'de, 'p> EnumAccess<'de> for Enum<'de, 'p> {
    type Error = TypedError;
    type Variant = Variant<'de, 'p>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Variant<'de, 'p>), TypedError> {
        let tag = seed.deserialize(Key(self.variant))?;
        Ok((
            tag,
            Variant {
                variant: self.variant,
                value: self.value,
                path: self.path,
                mode: self.mode,
            },
        ))
    }
}

struct Variant<'de, 'p> {
    variant: &'de str,
    value: Option<&'de Value>,
    path: Path<'p>,
    mode: Mode,
}

impl<'de> Variant<'de, '_> {
    fn inner<T>(
        &self,
        what: &str,
        f: impl FnOnce(ValueDe<'de, '_>) -> Result<T, TypedError>,
    ) -> Result<T, TypedError> {
        match self.value {
            Some(value) => f(ValueDe {
                value,
                path: Path::Key(&self.path, self.variant),
                mode: self.mode,
            }),
            None => Err(TypedError::new(format!(
                "invalid type: expected {what}, found a unit variant"
            ))),
        }
    }
}

impl<'de> VariantAccess<'de> for Variant<'de, '_> {
    type Error = TypedError;

    fn unit_variant(self) -> Result<(), TypedError> {
        match self.value {
            None | Some(Value::Null) => Ok(()),
            Some(_) => Err(TypedError::new(
                "invalid type: expected a unit variant, found a variant with a value",
            )),
        }
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, TypedError> {
        self.inner("a newtype variant", |de| seed.deserialize(de))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        self.inner("a tuple variant", |de| de.seq(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        self.inner("a struct variant", |de| de.map(visitor))
    }
}
