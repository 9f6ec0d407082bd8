//! A serde `Serializer` that builds a document [`Value`]: integers become
//! sops ints (i64), floats floats, `None` and `()` null, strings and chars
//! strings, byte buffers bytes, structs and maps mappings (in field order),
//! sequences and tuples sequences, enums as serde_yaml writes them (a unit
//! variant is its name, a variant with data a mapping of one entry).
//!
//! A partly built value is wiped when serialization fails halfway: every
//! container under construction wipes what it holds when dropped.

use serde::ser::{self, Error as _, Serialize};
use zeroize::Zeroize;

use super::error::TypedError;
use crate::tree::{Branch, Item, Value};

/// Serializes `value` into a tree value.
pub(crate) fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, TypedError> {
    value.serialize(ValueSer)
}

pub(crate) struct ValueSer;

fn out_of_range(what: &str) -> TypedError {
    TypedError::new(format!(
        "{what} out of the range of a sops int (a signed 64-bit integer)"
    ))
    .serializing()
}

impl ser::Serializer for ValueSer {
    type Ok = Value;
    type Error = TypedError;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = VariantSer<SeqSer>;
    type SerializeMap = MapSer;
    type SerializeStruct = MapSer;
    type SerializeStructVariant = VariantSer<MapSer>;

    fn serialize_bool(self, v: bool) -> Result<Value, TypedError> {
        Ok(Value::Bool(v))
    }

    fn serialize_i8(self, v: i8) -> Result<Value, TypedError> {
        Ok(Value::Int(v.into()))
    }

    fn serialize_i16(self, v: i16) -> Result<Value, TypedError> {
        Ok(Value::Int(v.into()))
    }

    fn serialize_i32(self, v: i32) -> Result<Value, TypedError> {
        Ok(Value::Int(v.into()))
    }

    fn serialize_i64(self, v: i64) -> Result<Value, TypedError> {
        Ok(Value::Int(v))
    }

    fn serialize_i128(self, v: i128) -> Result<Value, TypedError> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| out_of_range("an i128"))
    }

    fn serialize_u8(self, v: u8) -> Result<Value, TypedError> {
        Ok(Value::Int(v.into()))
    }

    fn serialize_u16(self, v: u16) -> Result<Value, TypedError> {
        Ok(Value::Int(v.into()))
    }

    fn serialize_u32(self, v: u32) -> Result<Value, TypedError> {
        Ok(Value::Int(v.into()))
    }

    fn serialize_u64(self, v: u64) -> Result<Value, TypedError> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| out_of_range("a u64"))
    }

    fn serialize_u128(self, v: u128) -> Result<Value, TypedError> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| out_of_range("a u128"))
    }

    fn serialize_f32(self, v: f32) -> Result<Value, TypedError> {
        Ok(Value::Float(v.into()))
    }

    fn serialize_f64(self, v: f64) -> Result<Value, TypedError> {
        Ok(Value::Float(v))
    }

    fn serialize_char(self, v: char) -> Result<Value, TypedError> {
        Ok(Value::Str(v.to_string()))
    }

    fn serialize_str(self, v: &str) -> Result<Value, TypedError> {
        Ok(Value::Str(v.to_owned()))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Value, TypedError> {
        Ok(Value::Bytes(v.to_vec()))
    }

    fn serialize_none(self) -> Result<Value, TypedError> {
        Ok(Value::Null)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, TypedError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Value, TypedError> {
        Ok(Value::Null)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, TypedError> {
        Ok(Value::Null)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, TypedError> {
        Ok(Value::Str(variant.to_owned()))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, TypedError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, TypedError> {
        let inner = value
            .serialize(ValueSer)
            .map_err(|e| e.under_key(variant))?;
        Ok(Value::Map(Branch(vec![Item::Entry(
            variant.to_owned(),
            inner,
        )])))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer, TypedError> {
        Ok(SeqSer {
            items: Vec::with_capacity(len.unwrap_or(0)),
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<SeqSer, TypedError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqSer, TypedError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSer<SeqSer>, TypedError> {
        Ok(VariantSer {
            variant,
            inner: self.serialize_seq(Some(len))?,
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<MapSer, TypedError> {
        Ok(MapSer {
            items: Vec::with_capacity(len.unwrap_or(0)),
            key: None,
        })
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<MapSer, TypedError> {
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSer<MapSer>, TypedError> {
        Ok(VariantSer {
            variant,
            inner: self.serialize_map(Some(len))?,
        })
    }
}

/// A sequence under construction.
pub(crate) struct SeqSer {
    items: Vec<Value>,
}

impl Drop for SeqSer {
    fn drop(&mut self) {
        self.items.zeroize();
    }
}

impl SeqSer {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TypedError> {
        let index = self.items.len();
        let v = value
            .serialize(ValueSer)
            .map_err(|e| e.under_index(index))?;
        self.items.push(v);
        Ok(())
    }

    fn finish(mut self) -> Value {
        Value::Seq(std::mem::take(&mut self.items))
    }
}

impl ser::SerializeSeq for SeqSer {
    type Ok = Value;
    type Error = TypedError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TypedError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, TypedError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = Value;
    type Error = TypedError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TypedError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, TypedError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Value;
    type Error = TypedError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TypedError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, TypedError> {
        Ok(self.finish())
    }
}

/// A mapping under construction.
pub(crate) struct MapSer {
    items: Vec<Item>,
    /// A key given by `serialize_key`, waiting for its value.
    key: Option<String>,
}

impl Drop for MapSer {
    fn drop(&mut self) {
        self.items.zeroize();
        self.key.zeroize();
    }
}

impl MapSer {
    fn entry<T: Serialize + ?Sized>(&mut self, key: String, value: &T) -> Result<(), TypedError> {
        let v = value.serialize(ValueSer).map_err(|e| e.under_key(&key))?;
        self.items.push(Item::Entry(key, v));
        Ok(())
    }

    fn finish(mut self) -> Value {
        Value::Map(Branch(std::mem::take(&mut self.items)))
    }
}

impl ser::SerializeMap for MapSer {
    type Ok = Value;
    type Error = TypedError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), TypedError> {
        self.key = Some(key.serialize(KeySer)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TypedError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| TypedError::custom("a map value was given before its key"))?;
        self.entry(key, value)
    }

    fn end(self) -> Result<Value, TypedError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for MapSer {
    type Ok = Value;
    type Error = TypedError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), TypedError> {
        self.entry(key.to_owned(), value)
    }

    fn end(self) -> Result<Value, TypedError> {
        Ok(self.finish())
    }
}

/// A tuple or struct variant: its data under its name.
pub(crate) struct VariantSer<S> {
    variant: &'static str,
    inner: S,
}

impl<S> VariantSer<S> {
    fn wrap(variant: &'static str, value: Value) -> Value {
        Value::Map(Branch(vec![Item::Entry(variant.to_owned(), value)]))
    }
}

impl ser::SerializeTupleVariant for VariantSer<SeqSer> {
    type Ok = Value;
    type Error = TypedError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), TypedError> {
        let variant = self.variant;
        self.inner.push(value).map_err(|e| e.under_key(variant))
    }

    fn end(self) -> Result<Value, TypedError> {
        Ok(Self::wrap(self.variant, self.inner.finish()))
    }
}

impl ser::SerializeStructVariant for VariantSer<MapSer> {
    type Ok = Value;
    type Error = TypedError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), TypedError> {
        let variant = self.variant;
        self.inner
            .entry(key.to_owned(), value)
            .map_err(|e| e.under_key(variant))
    }

    fn end(self) -> Result<Value, TypedError> {
        Ok(Self::wrap(self.variant, self.inner.finish()))
    }
}

/// A mapping key: sops keys are strings, so strings, chars, integers,
/// booleans and unit variants are accepted (the last three as their text,
/// as serde_json does) and anything else is an error.
struct KeySer;

fn bad_key(kind: &str) -> TypedError {
    TypedError::new(format!("a mapping key must be a string, found {kind}")).serializing()
}

impl ser::Serializer for KeySer {
    type Ok = String;
    type Error = TypedError;
    type SerializeSeq = ser::Impossible<String, TypedError>;
    type SerializeTuple = ser::Impossible<String, TypedError>;
    type SerializeTupleStruct = ser::Impossible<String, TypedError>;
    type SerializeTupleVariant = ser::Impossible<String, TypedError>;
    type SerializeMap = ser::Impossible<String, TypedError>;
    type SerializeStruct = ser::Impossible<String, TypedError>;
    type SerializeStructVariant = ser::Impossible<String, TypedError>;

    fn serialize_bool(self, v: bool) -> Result<String, TypedError> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, TypedError> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, TypedError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, TypedError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, TypedError> {
        Ok(v.to_string())
    }
    fn serialize_i128(self, v: i128) -> Result<String, TypedError> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, TypedError> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, TypedError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, TypedError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, TypedError> {
        Ok(v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<String, TypedError> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, _v: f32) -> Result<String, TypedError> {
        Err(bad_key("a float"))
    }
    fn serialize_f64(self, _v: f64) -> Result<String, TypedError> {
        Err(bad_key("a float"))
    }
    fn serialize_char(self, v: char) -> Result<String, TypedError> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, TypedError> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, TypedError> {
        Err(bad_key("bytes"))
    }
    fn serialize_none(self) -> Result<String, TypedError> {
        Err(bad_key("null"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<String, TypedError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, TypedError> {
        Err(bad_key("null"))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, TypedError> {
        Err(bad_key("a unit struct"))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, TypedError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, TypedError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, TypedError> {
        Err(bad_key("an enum variant with data"))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, TypedError> {
        Err(bad_key("a sequence"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, TypedError> {
        Err(bad_key("a tuple"))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, TypedError> {
        Err(bad_key("a tuple struct"))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, TypedError> {
        Err(bad_key("an enum variant with data"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, TypedError> {
        Err(bad_key("a mapping"))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, TypedError> {
        Err(bad_key("a struct"))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, TypedError> {
        Err(bad_key("an enum variant with data"))
    }
}
