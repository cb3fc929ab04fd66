//! A read GGUF header: metadata, tensor infos, and what follows from them (sizes, totals).

use std::io::BufReader;
use std::path::Path;

use indexmap::IndexMap;

use crate::error::{GgufError, MetadataError};
use crate::ggml_type::GgmlType;
use crate::reader::read_header;
use crate::value::{Array, Value};

/// Byte order of the numbers in a file. GGUF is little-endian unless written for a big-endian host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ByteOrder {
    /// The normal case.
    LittleEndian,
    /// Written by `convert_hf_to_gguf.py --bigendian`.
    BigEndian,
}

/// One tensor info: name, shape (ggml order: fastest-varying dimension first), type, and the
/// offset of its data within the data region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions, `ne[0]` first.
    pub dimensions: Vec<u64>,
    /// Storage type.
    pub ggml_type: GgmlType,
    /// Offset from the start of the data region.
    pub offset: u64,
}

impl TensorInfo {
    /// Product of the dimensions; `None` on overflow. A tensor with no dimensions is a scalar.
    pub fn element_count(&self) -> Option<u64> {
        self.dimensions
            .iter()
            .try_fold(1u64, |product, &dimension| product.checked_mul(dimension))
    }

    /// Bytes of data, as `ggml_nbytes` computes it for a contiguous tensor. `None` for unknown
    /// types.
    pub fn byte_size(&self) -> Option<u64> {
        self.ggml_type.row_bytes(self.element_count()?)
    }
}

/// A GGUF file's header, read completely.
#[derive(Debug, Clone)]
pub struct GgufFile {
    /// Format version (2 or 3).
    pub version: u32,
    /// Byte order of the file.
    pub byte_order: ByteOrder,
    /// Every metadata entry, in file order.
    pub metadata: IndexMap<String, Value>,
    /// Every tensor info, in file order.
    pub tensors: Vec<TensorInfo>,
    /// Data alignment (`general.alignment`, default 32).
    pub alignment: u64,
    /// Bytes of the header proper (magic through the last tensor info).
    pub header_bytes: u64,
    /// Where the data region starts: the header end rounded up to the alignment.
    pub data_offset: u64,
    /// Size of the file, when read from a file or given.
    pub file_size: Option<u64>,
    /// Strings that were not valid UTF-8 (decoded with U+FFFD replacement characters).
    pub lossy_strings: u64,
}

/// Totals for one tensor type in a file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TypeShare {
    /// The type (name).
    #[serde(serialize_with = "serialize_type")]
    pub ggml_type: GgmlType,
    /// Number of tensors of this type.
    pub tensors: u64,
    /// Elements (parameters) stored in this type.
    pub elements: u64,
    /// Bytes, when the type is known.
    pub bytes: Option<u64>,
}

fn serialize_type<S: serde::Serializer>(
    ggml_type: &GgmlType,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&ggml_type.name())
}

impl GgufFile {
    /// Reads the header of the file at `path`. Tensor data is never read: a 60 GB model costs
    /// a few megabytes of reads.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let file = fs_err::File::open(path).map_err(|source| GgufError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let file_size = file
            .metadata()
            .map_err(|source| GgufError::Open {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        read_header(BufReader::with_capacity(1 << 16, file), Some(file_size))
            .map_err(|error| error.in_file(path))
    }

    /// Reads a header from any reader positioned at the start of a GGUF file. With
    /// `file_size` unknown, counts cannot be checked against the file, so allocation grows only
    /// with bytes actually read, and data completeness is unknown.
    pub fn read_from(
        reader: impl std::io::Read,
        file_size: Option<u64>,
    ) -> Result<GgufFile, GgufError> {
        read_header(reader, file_size)
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    fn require(&self, key: &str) -> Result<&Value, MetadataError> {
        self.metadata
            .get(key)
            .ok_or_else(|| MetadataError::MissingKey {
                key: key.to_string(),
            })
    }

    fn mismatch(key: &str, expected: &'static str, found: &Value) -> MetadataError {
        MetadataError::TypeMismatch {
            key: key.to_string(),
            expected,
            found: found.type_name(),
        }
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Result<&str, MetadataError> {
        let value = self.require(key)?;
        value
            .as_str()
            .ok_or_else(|| Self::mismatch(key, "string", value))
    }

    /// Any non-negative integer value.
    pub fn get_u64(&self, key: &str) -> Result<u64, MetadataError> {
        let value = self.require(key)?;
        value
            .as_u64()
            .ok_or_else(|| Self::mismatch(key, "non-negative integer", value))
    }

    /// Any numeric value, as f64.
    pub fn get_f64(&self, key: &str) -> Result<f64, MetadataError> {
        let value = self.require(key)?;
        value
            .as_f64()
            .ok_or_else(|| Self::mismatch(key, "number", value))
    }

    /// A boolean value.
    pub fn get_bool(&self, key: &str) -> Result<bool, MetadataError> {
        let value = self.require(key)?;
        value
            .as_bool()
            .ok_or_else(|| Self::mismatch(key, "bool", value))
    }

    /// An array value.
    pub fn get_array(&self, key: &str) -> Result<&Array, MetadataError> {
        let value = self.require(key)?;
        value
            .as_array()
            .ok_or_else(|| Self::mismatch(key, "array", value))
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Result<&str, MetadataError> {
        self.get_str("general.architecture")
    }

    /// The tensor info with this name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|tensor| tensor.name == name)
    }

    /// Bytes the data region must hold: the end of the last tensor's data. `None` when a tensor
    /// has a type whose size is unknown.
    pub fn data_bytes(&self) -> Option<u64> {
        self.tensors.iter().try_fold(0u64, |end, tensor| {
            Some(end.max(tensor.offset.checked_add(tensor.byte_size()?)?))
        })
    }

    /// Whether the file holds all tensor data (false for header-only or truncated files).
    /// `None` when the file size or a tensor's size is unknown.
    pub fn data_complete(&self) -> Option<bool> {
        let data_bytes = self.data_bytes()?;
        if data_bytes == 0 {
            // No tensor data to hold: vocabulary-only files end right after the header.
            return Some(true);
        }
        let needed = self.data_offset.checked_add(data_bytes)?;
        Some(self.file_size? >= needed)
    }

    /// Sum of the tensor data sizes (the weights), skipping tensors of unknown type.
    pub fn weight_bytes(&self) -> u64 {
        self.tensors
            .iter()
            .filter_map(TensorInfo::byte_size)
            .fold(0u64, u64::saturating_add)
    }

    /// Number of parameters: the elements of every tensor.
    pub fn parameter_count(&self) -> u64 {
        self.tensors
            .iter()
            .filter_map(TensorInfo::element_count)
            .fold(0u64, u64::saturating_add)
    }

    /// Average bits per weight over the tensors of known type.
    pub fn bits_per_weight(&self) -> Option<f64> {
        let (elements, bytes) = self
            .tensors
            .iter()
            .filter_map(|tensor| Some((tensor.element_count()?, tensor.byte_size()?)))
            .fold((0u64, 0u64), |(e, b), (te, tb)| {
                (e.saturating_add(te), b.saturating_add(tb))
            });
        (elements > 0).then(|| bytes as f64 * 8.0 / elements as f64)
    }

    /// Tensors, elements and bytes per type, largest share of bytes first.
    pub fn type_mix(&self) -> Vec<TypeShare> {
        let mut shares: IndexMap<GgmlType, TypeShare> = IndexMap::new();
        for tensor in &self.tensors {
            let share = shares.entry(tensor.ggml_type).or_insert(TypeShare {
                ggml_type: tensor.ggml_type,
                tensors: 0,
                elements: 0,
                bytes: Some(0),
            });
            share.tensors += 1;
            share.elements = share
                .elements
                .saturating_add(tensor.element_count().unwrap_or(0));
            share.bytes = match (share.bytes, tensor.byte_size()) {
                (Some(total), Some(size)) => Some(total.saturating_add(size)),
                _ => None,
            };
        }
        let mut shares: Vec<TypeShare> = shares.into_values().collect();
        shares.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(b.elements.cmp(&a.elements)));
        shares
    }

    /// Tensor types with unknown ids, for reporting.
    pub fn unknown_types(&self) -> Vec<(String, u32)> {
        self.tensors
            .iter()
            .filter_map(|tensor| match tensor.ggml_type {
                GgmlType::Unknown(id) => Some((tensor.name.clone(), id)),
                _ => None,
            })
            .collect()
    }
}
