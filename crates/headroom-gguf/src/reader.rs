//! The header reader: magic, version, metadata, tensor infos. It never reads tensor data.
//!
//! Layout: GGUF specification (llama.cpp `ggml/docs/gguf.md`), versions 2 and 3 (64-bit counts
//! and lengths). Every count is checked against the bytes left in the file before anything is
//! allocated; with a reader of unknown length, vectors grow only as bytes actually arrive.

use std::io::{self, Read};

use indexmap::IndexMap;

use crate::error::{GgufError, Location};
use crate::file::{ByteOrder, GgufFile, TensorInfo};
use crate::ggml_type::GgmlType;
use crate::value::{Array, Value, ValueType};

/// `GGUF` in file order.
pub(crate) const MAGIC: [u8; 4] = *b"GGUF";

/// Alignment when `general.alignment` is absent (`GGUF_DEFAULT_ALIGNMENT` in gguf.h).
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// `GGML_MAX_DIMS` in ggml.h.
pub const MAX_DIMENSIONS: u32 = 4;

/// Deepest array nesting accepted. The specification sets none; real files nest at most once.
pub const MAX_NESTING: usize = 8;

/// The smallest tensor info: name length (8), dimension count (4), type (4), offset (8).
const MINIMUM_TENSOR_INFO_BYTES: u64 = 24;

/// The smallest metadata entry: key length (8) and value type (4), with an empty key and a
/// one-byte value.
const MINIMUM_ENTRY_BYTES: u64 = 13;

/// Elements read per chunk when a numeric array's bytes cannot be checked up front.
const CHUNK_ELEMENTS: u64 = 1 << 16;

struct Reader<R> {
    inner: R,
    offset: u64,
    /// Bytes left in the file after `offset`, when the file size is known.
    remaining: Option<u64>,
    order: ByteOrder,
    location: Location,
    /// Strings that were not valid UTF-8 and were decoded with replacement characters.
    lossy_strings: u64,
}

impl<R: Read> Reader<R> {
    fn truncated(&self, needed: u64) -> GgufError {
        GgufError::Truncated {
            offset: self.offset,
            location: self.location.clone(),
            needed,
        }
    }

    fn fill(&mut self, buffer: &mut [u8]) -> Result<(), GgufError> {
        let wanted = buffer.len() as u64;
        if let Some(remaining) = self.remaining
            && remaining < wanted
        {
            return Err(GgufError::Truncated {
                offset: self.offset + remaining,
                location: self.location.clone(),
                needed: wanted - remaining,
            });
        }
        let mut filled = 0;
        while filled < buffer.len() {
            match self.inner.read(&mut buffer[filled..]) {
                Ok(0) => {
                    self.offset += filled as u64;
                    return Err(self.truncated(wanted - filled as u64));
                }
                Ok(count) => filled += count,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(GgufError::Io {
                        offset: self.offset + filled as u64,
                        location: self.location.clone(),
                        source,
                    });
                }
            }
        }
        self.offset += wanted;
        if let Some(remaining) = self.remaining.as_mut() {
            *remaining -= wanted;
        }
        Ok(())
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let mut buffer = [0u8; N];
        self.fill(&mut buffer)?;
        if self.order == ByteOrder::BigEndian {
            buffer.reverse();
        }
        Ok(buffer)
    }

    fn u8(&mut self) -> Result<u8, GgufError> {
        Ok(self.bytes::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, GgufError> {
        Ok(u16::from_le_bytes(self.bytes()?))
    }
    fn u32(&mut self) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }

    /// Rejects `count` items of at least `item_bytes` each when the file cannot hold them.
    fn check_count(
        &self,
        what: &'static str,
        count: u64,
        item_bytes: u64,
    ) -> Result<(), GgufError> {
        if let Some(remaining) = self.remaining {
            let needed = count.checked_mul(item_bytes);
            if needed.is_none_or(|needed| needed > remaining) {
                return Err(GgufError::CountTooLarge {
                    offset: self.offset.saturating_sub(8),
                    location: self.location.clone(),
                    what,
                    count,
                    available: remaining,
                });
            }
        }
        Ok(())
    }

    /// Capacity to reserve for `count` items: all of them when the file size vouched for the
    /// count, else a bounded first chunk.
    fn capacity(&self, count: u64) -> usize {
        let bounded = if self.remaining.is_some() {
            count
        } else {
            count.min(CHUNK_ELEMENTS)
        };
        usize::try_from(bounded).unwrap_or(0)
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let length = self.u64()?;
        self.check_count("string length", length, 1)?;
        let mut buffer = Vec::with_capacity(self.capacity(length));
        let start = self.offset;
        let read = (&mut self.inner)
            .take(length)
            .read_to_end(&mut buffer)
            .map_err(|source| GgufError::Io {
                offset: start,
                location: self.location.clone(),
                source,
            })? as u64;
        self.offset += read;
        if let Some(remaining) = self.remaining.as_mut() {
            *remaining = remaining.saturating_sub(read);
        }
        if read < length {
            return Err(self.truncated(length - read));
        }
        Ok(match String::from_utf8(buffer) {
            Ok(text) => text,
            Err(error) => {
                self.lossy_strings += 1;
                String::from_utf8_lossy(error.as_bytes()).into_owned()
            }
        })
    }

    fn value_type(&mut self) -> Result<ValueType, GgufError> {
        let offset = self.offset;
        let id = self.u32()?;
        ValueType::from_id(id).ok_or_else(|| GgufError::UnknownValueType {
            offset,
            location: self.location.clone(),
            id,
        })
    }

    fn value(&mut self, value_type: ValueType) -> Result<Value, GgufError> {
        Ok(match value_type {
            ValueType::U8 => Value::U8(self.u8()?),
            ValueType::I8 => Value::I8(self.u8()? as i8),
            ValueType::U16 => Value::U16(self.u16()?),
            ValueType::I16 => Value::I16(self.u16()? as i16),
            ValueType::U32 => Value::U32(self.u32()?),
            ValueType::I32 => Value::I32(self.u32()? as i32),
            ValueType::F32 => Value::F32(f32::from_bits(self.u32()?)),
            ValueType::Bool => Value::Bool(self.u8()? != 0),
            ValueType::String => Value::String(self.string()?),
            ValueType::Array => Value::Array(self.array(1)?),
            ValueType::U64 => Value::U64(self.u64()?),
            ValueType::I64 => Value::I64(self.u64()? as i64),
            ValueType::F64 => Value::F64(f64::from_bits(self.u64()?)),
        })
    }

    /// Reads `count` fixed-size elements with `convert`, bounded allocation.
    fn numbers<T, const N: usize>(
        &mut self,
        count: u64,
        convert: fn([u8; N]) -> T,
    ) -> Result<Vec<T>, GgufError> {
        let mut items = Vec::with_capacity(self.capacity(count));
        for _ in 0..count {
            items.push(convert(self.bytes::<N>()?));
        }
        Ok(items)
    }

    fn array(&mut self, depth: usize) -> Result<Array, GgufError> {
        if depth > MAX_NESTING {
            return Err(GgufError::NestingTooDeep {
                offset: self.offset,
                location: self.location.clone(),
                limit: MAX_NESTING,
            });
        }
        let element_type = self.value_type()?;
        let count = self.u64()?;
        self.check_count("array length", count, element_type.minimum_bytes())?;
        Ok(match element_type {
            ValueType::U8 => Array::U8(self.numbers(count, |b: [u8; 1]| b[0])?),
            ValueType::I8 => Array::I8(self.numbers(count, |b: [u8; 1]| b[0] as i8)?),
            ValueType::U16 => Array::U16(self.numbers(count, u16::from_le_bytes)?),
            ValueType::I16 => Array::I16(self.numbers(count, i16::from_le_bytes)?),
            ValueType::U32 => Array::U32(self.numbers(count, u32::from_le_bytes)?),
            ValueType::I32 => Array::I32(self.numbers(count, i32::from_le_bytes)?),
            ValueType::F32 => Array::F32(self.numbers(count, f32::from_le_bytes)?),
            ValueType::Bool => Array::Bool(self.numbers(count, |b: [u8; 1]| b[0] != 0)?),
            ValueType::U64 => Array::U64(self.numbers(count, u64::from_le_bytes)?),
            ValueType::I64 => Array::I64(self.numbers(count, i64::from_le_bytes)?),
            ValueType::F64 => Array::F64(self.numbers(count, f64::from_le_bytes)?),
            ValueType::String => {
                let mut items = Vec::with_capacity(self.capacity(count));
                for _ in 0..count {
                    items.push(self.string()?);
                }
                Array::String(items)
            }
            ValueType::Array => {
                let mut items = Vec::with_capacity(self.capacity(count));
                for _ in 0..count {
                    items.push(self.array(depth + 1)?);
                }
                Array::Array(items)
            }
        })
    }
}

/// Reads a GGUF header from `reader`, which must be positioned at the start of the file.
/// `file_size`, when known, bounds every count and lets the result say whether the tensor data
/// is all there.
pub fn read_header<R: Read>(reader: R, file_size: Option<u64>) -> Result<GgufFile, GgufError> {
    let mut reader = Reader {
        inner: reader,
        offset: 0,
        remaining: file_size,
        order: ByteOrder::LittleEndian,
        location: Location::Header,
        lossy_strings: 0,
    };
    let magic: [u8; 4] = reader.bytes()?;
    if magic != MAGIC {
        return Err(GgufError::BadMagic { found: magic });
    }
    let mut version = reader.u32()?;
    // A big-endian file stores small versions as 0x0?000000: swap and read the rest swapped.
    if version & 0xFFFF == 0 && version != 0 {
        version = version.swap_bytes();
        reader.order = ByteOrder::BigEndian;
    }
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion { version });
    }
    let tensor_count = reader.u64()?;
    let entry_count = reader.u64()?;
    reader.check_count("metadata entry count", entry_count, MINIMUM_ENTRY_BYTES)?;

    let mut metadata: IndexMap<String, Value> =
        IndexMap::with_capacity(reader.capacity(entry_count));
    let mut alignment = DEFAULT_ALIGNMENT;
    for index in 0..entry_count {
        reader.location = Location::KeyName { index };
        let key_offset = reader.offset;
        let key = reader.string()?;
        reader.location = Location::Key(key.clone());
        if metadata.contains_key(&key) {
            return Err(GgufError::DuplicateKey {
                offset: key_offset,
                key,
            });
        }
        let value_type = reader.value_type()?;
        let value_offset = reader.offset;
        let value = reader.value(value_type)?;
        if key == "general.alignment" {
            alignment = match value {
                Value::U32(v) if v != 0 && v.is_power_of_two() => u64::from(v),
                ref other => {
                    return Err(GgufError::BadAlignment {
                        offset: value_offset,
                        value: format!(
                            "{} ({})",
                            serde_json::to_string(other).unwrap_or_default(),
                            other.type_name()
                        ),
                    });
                }
            };
        }
        metadata.insert(key, value);
    }

    reader.location = Location::Header;
    reader.check_count("tensor count", tensor_count, MINIMUM_TENSOR_INFO_BYTES)?;
    let mut tensors: Vec<TensorInfo> = Vec::with_capacity(reader.capacity(tensor_count));
    let mut names = std::collections::HashSet::with_capacity(reader.capacity(tensor_count));
    for index in 0..tensor_count {
        reader.location = Location::TensorName { index };
        let info_offset = reader.offset;
        let name = reader.string()?;
        reader.location = Location::Tensor(name.clone());
        if !names.insert(name.clone()) {
            return Err(GgufError::DuplicateTensor {
                offset: info_offset,
                name,
            });
        }
        let dimensions_offset = reader.offset;
        let dimension_count = reader.u32()?;
        if dimension_count > MAX_DIMENSIONS {
            return Err(GgufError::TooManyDimensions {
                offset: dimensions_offset,
                tensor: name,
                dimensions: dimension_count,
                limit: MAX_DIMENSIONS,
            });
        }
        let mut dimensions = Vec::with_capacity(dimension_count as usize);
        for _ in 0..dimension_count {
            dimensions.push(reader.u64()?);
        }
        let ggml_type = GgmlType::from_id(reader.u32()?);
        let data_offset = reader.u64()?;
        let tensor = TensorInfo {
            name,
            dimensions,
            ggml_type,
            offset: data_offset,
        };
        validate_tensor(&tensor, info_offset, alignment)?;
        tensors.push(tensor);
    }

    let header_end = reader.offset;
    let data_offset = header_end
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| GgufError::BadAlignment {
            offset: header_end,
            value: alignment.to_string(),
        })?;
    Ok(GgufFile {
        version,
        byte_order: reader.order,
        metadata,
        tensors,
        alignment,
        header_bytes: header_end,
        data_offset,
        file_size,
        lossy_strings: reader.lossy_strings,
    })
}

/// Checks what can be checked of one tensor info without the data: element count and byte size
/// fit in 64 bits (ggml uses int64), whole blocks, aligned offset.
fn validate_tensor(tensor: &TensorInfo, offset: u64, alignment: u64) -> Result<(), GgufError> {
    let bad = |problem: String| GgufError::BadTensorShape {
        offset,
        tensor: tensor.name.clone(),
        problem,
    };
    let elements = tensor
        .element_count()
        .filter(|&count| i64::try_from(count).is_ok())
        .ok_or_else(|| {
            bad(format!(
                "element count of dimensions {:?} overflows",
                tensor.dimensions
            ))
        })?;
    if let Some(block) = tensor.ggml_type.block_size() {
        let first = tensor.dimensions.first().copied().unwrap_or(1);
        if !first.is_multiple_of(block) {
            return Err(bad(format!(
                "first dimension {first} is not a multiple of the {} block size {block}",
                tensor.ggml_type
            )));
        }
        if tensor.ggml_type.row_bytes(elements).is_none() {
            return Err(bad(format!("byte size of {elements} elements overflows")));
        }
    }
    if !tensor.offset.is_multiple_of(alignment) {
        return Err(GgufError::MisalignedTensor {
            offset,
            tensor: tensor.name.clone(),
            data_offset: tensor.offset,
            alignment,
        });
    }
    if tensor
        .offset
        .checked_add(tensor.byte_size().unwrap_or(0))
        .is_none()
    {
        return Err(bad(format!(
            "data offset {} plus size overflows",
            tensor.offset
        )));
    }
    Ok(())
}
