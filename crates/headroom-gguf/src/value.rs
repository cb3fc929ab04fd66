//! Metadata values: the thirteen GGUF value types, with arrays stored typed (a 150,000-entry
//! vocabulary is one `Vec<String>`, not 150,000 boxed values).
//!
//! Type ids: GGUF specification, "gguf_metadata_value_type" (ggml/docs/gguf.md in llama.cpp).

use serde::ser::{Serialize, SerializeSeq, Serializer};

/// The type id of a metadata value, as stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    /// The type for a stored id; `None` for ids the specification does not define.
    pub fn from_id(id: u32) -> Option<ValueType> {
        Some(match id {
            0 => ValueType::U8,
            1 => ValueType::I8,
            2 => ValueType::U16,
            3 => ValueType::I16,
            4 => ValueType::U32,
            5 => ValueType::I32,
            6 => ValueType::F32,
            7 => ValueType::Bool,
            8 => ValueType::String,
            9 => ValueType::Array,
            10 => ValueType::U64,
            11 => ValueType::I64,
            12 => ValueType::F64,
            _ => return None,
        })
    }

    /// The stored id.
    pub fn id(self) -> u32 {
        match self {
            ValueType::U8 => 0,
            ValueType::I8 => 1,
            ValueType::U16 => 2,
            ValueType::I16 => 3,
            ValueType::U32 => 4,
            ValueType::I32 => 5,
            ValueType::F32 => 6,
            ValueType::Bool => 7,
            ValueType::String => 8,
            ValueType::Array => 9,
            ValueType::U64 => 10,
            ValueType::I64 => 11,
            ValueType::F64 => 12,
        }
    }

    /// The smallest number of bytes one value of this type occupies in a file. Used to reject
    /// counts that cannot fit in the bytes left before anything is allocated.
    pub fn minimum_bytes(self) -> u64 {
        match self {
            ValueType::U8 | ValueType::I8 | ValueType::Bool => 1,
            ValueType::U16 | ValueType::I16 => 2,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 4,
            ValueType::U64 | ValueType::I64 | ValueType::F64 => 8,
            // String: u64 length. Array: u32 element type + u64 count.
            ValueType::String => 8,
            ValueType::Array => 12,
        }
    }

    /// Lower-case name as the specification and the reference reader spell it (`uint32`).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::U8 => "uint8",
            ValueType::I8 => "int8",
            ValueType::U16 => "uint16",
            ValueType::I16 => "int16",
            ValueType::U32 => "uint32",
            ValueType::I32 => "int32",
            ValueType::F32 => "float32",
            ValueType::Bool => "bool",
            ValueType::String => "string",
            ValueType::Array => "array",
            ValueType::U64 => "uint64",
            ValueType::I64 => "int64",
            ValueType::F64 => "float64",
        }
    }
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Array),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// A metadata array: all elements share one type. Nested arrays keep their own element types.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(Vec<String>),
    Array(Vec<Array>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

impl Value {
    /// The stored type of this value.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    /// The type name (`uint32`, `array[string]`) for messages.
    pub fn type_name(&self) -> String {
        match self {
            Value::Array(array) => format!("array[{}]", array.element_type().name()),
            other => other.value_type().name().to_string(),
        }
    }

    /// Any integer value that is not negative, widened to u64.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any integer value that fits in i64.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => i64::try_from(v).ok(),
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v),
            _ => None,
        }
    }

    /// Any number (integers converted).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    /// The string, for string values.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// The boolean, for bool values.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(flag) => Some(flag),
            _ => None,
        }
    }

    /// The array, for array values.
    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Value::Array(array) => Some(array),
            _ => None,
        }
    }
}

impl Array {
    /// The element type.
    pub fn element_type(&self) -> ValueType {
        match self {
            Array::U8(_) => ValueType::U8,
            Array::I8(_) => ValueType::I8,
            Array::U16(_) => ValueType::U16,
            Array::I16(_) => ValueType::I16,
            Array::U32(_) => ValueType::U32,
            Array::I32(_) => ValueType::I32,
            Array::F32(_) => ValueType::F32,
            Array::Bool(_) => ValueType::Bool,
            Array::String(_) => ValueType::String,
            Array::Array(_) => ValueType::Array,
            Array::U64(_) => ValueType::U64,
            Array::I64(_) => ValueType::I64,
            Array::F64(_) => ValueType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Array::U8(v) => v.len(),
            Array::I8(v) => v.len(),
            Array::U16(v) => v.len(),
            Array::I16(v) => v.len(),
            Array::U32(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::F32(v) => v.len(),
            Array::Bool(v) => v.len(),
            Array::String(v) => v.len(),
            Array::Array(v) => v.len(),
            Array::U64(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F64(v) => v.len(),
        }
    }

    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The strings, for string arrays.
    pub fn as_strings(&self) -> Option<&[String]> {
        match self {
            Array::String(v) => Some(v),
            _ => None,
        }
    }

    /// Integer arrays widened to i64 (u64 values above i64::MAX give `None`).
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        Some(match self {
            Array::U8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            Array::I8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            Array::U16(v) => v.iter().map(|&x| i64::from(x)).collect(),
            Array::I16(v) => v.iter().map(|&x| i64::from(x)).collect(),
            Array::U32(v) => v.iter().map(|&x| i64::from(x)).collect(),
            Array::I32(v) => v.iter().map(|&x| i64::from(x)).collect(),
            Array::I64(v) => v.clone(),
            Array::U64(v) => v
                .iter()
                .map(|&x| i64::try_from(x).ok())
                .collect::<Option<_>>()?,
            _ => return None,
        })
    }

    /// Integer arrays widened to u64 (any negative element gives `None`).
    pub fn to_u64_vec(&self) -> Option<Vec<u64>> {
        match self {
            Array::U64(v) => Some(v.clone()),
            other => other
                .to_i64_vec()?
                .into_iter()
                .map(|x| u64::try_from(x).ok())
                .collect(),
        }
    }

    /// Numeric arrays as f64 (booleans and strings give `None`).
    pub fn to_f64_vec(&self) -> Option<Vec<f64>> {
        match self {
            Array::F32(v) => Some(v.iter().map(|&x| f64::from(x)).collect()),
            Array::F64(v) => Some(v.clone()),
            other => Some(other.to_i64_vec()?.into_iter().map(|x| x as f64).collect()),
        }
    }
}

/// JSON form: plain numbers, strings, booleans and arrays, as the reference reader returns them.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::U8(v) => serializer.serialize_u8(*v),
            Value::I8(v) => serializer.serialize_i8(*v),
            Value::U16(v) => serializer.serialize_u16(*v),
            Value::I16(v) => serializer.serialize_i16(*v),
            Value::U32(v) => serializer.serialize_u32(*v),
            Value::I32(v) => serializer.serialize_i32(*v),
            Value::F32(v) => serializer.serialize_f32(*v),
            Value::Bool(v) => serializer.serialize_bool(*v),
            Value::String(v) => serializer.serialize_str(v),
            Value::Array(v) => v.serialize(serializer),
            Value::U64(v) => serializer.serialize_u64(*v),
            Value::I64(v) => serializer.serialize_i64(*v),
            Value::F64(v) => serializer.serialize_f64(*v),
        }
    }
}

impl Serialize for Array {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn all<S: Serializer, T: Serialize>(serializer: S, items: &[T]) -> Result<S::Ok, S::Error> {
            let mut sequence = serializer.serialize_seq(Some(items.len()))?;
            for item in items {
                sequence.serialize_element(item)?;
            }
            sequence.end()
        }
        match self {
            Array::U8(v) => all(serializer, v),
            Array::I8(v) => all(serializer, v),
            Array::U16(v) => all(serializer, v),
            Array::I16(v) => all(serializer, v),
            Array::U32(v) => all(serializer, v),
            Array::I32(v) => all(serializer, v),
            Array::F32(v) => all(serializer, v),
            Array::Bool(v) => all(serializer, v),
            Array::String(v) => all(serializer, v),
            Array::Array(v) => all(serializer, v),
            Array::U64(v) => all(serializer, v),
            Array::I64(v) => all(serializer, v),
            Array::F64(v) => all(serializer, v),
        }
    }
}
