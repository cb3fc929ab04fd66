//! The writer: header, metadata, tensor infos, alignment padding, and a data region that is
//! either real bytes or a sparse hole, so tests can build files of any model's shape (tens of
//! gigabytes) at no disk cost.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::GgufError;
use crate::ggml_type::GgmlType;
use crate::reader::{DEFAULT_ALIGNMENT, MAGIC, MAX_DIMENSIONS};
use crate::value::{Array, Value};

/// What a tensor's data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TensorData {
    /// All zero bytes. Written as a sparse hole by [`GgufWriter::write_to_path`].
    Zeros,
    /// These exact bytes (their length must equal the tensor's byte size).
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
struct PendingTensor {
    name: String,
    dimensions: Vec<u64>,
    ggml_type: GgmlType,
    data: TensorData,
}

/// Builds a GGUF file (version 3, little-endian).
#[derive(Debug, Clone, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    tensors: Vec<PendingTensor>,
}

struct Layout {
    header: Vec<u8>,
    data_offset: u64,
    /// (offset within data region, size) per tensor.
    spans: Vec<(u64, u64)>,
    data_bytes: u64,
}

impl GgufWriter {
    /// An empty file.
    pub fn new() -> GgufWriter {
        GgufWriter::default()
    }

    /// Adds (or replaces) a metadata entry. Order of first insertion is kept.
    pub fn metadata(mut self, key: impl Into<String>, value: Value) -> GgufWriter {
        let key = key.into();
        match self
            .metadata
            .iter_mut()
            .find(|(existing, _)| *existing == key)
        {
            Some(entry) => entry.1 = value,
            None => self.metadata.push((key, value)),
        }
        self
    }

    /// Adds a tensor with dimensions in ggml order (`ne[0]` first).
    pub fn tensor(
        mut self,
        name: impl Into<String>,
        dimensions: &[u64],
        ggml_type: GgmlType,
        data: TensorData,
    ) -> GgufWriter {
        self.tensors.push(PendingTensor {
            name: name.into(),
            dimensions: dimensions.to_vec(),
            ggml_type,
            data,
        });
        self
    }

    fn alignment(&self) -> Result<u64, GgufError> {
        match self
            .metadata
            .iter()
            .find(|(key, _)| key == "general.alignment")
        {
            None => Ok(DEFAULT_ALIGNMENT),
            Some((_, Value::U32(v))) if *v != 0 && v.is_power_of_two() => Ok(u64::from(*v)),
            Some((_, other)) => Err(GgufError::Write(format!(
                "general.alignment must be a non-zero power of two uint32, got {other:?}"
            ))),
        }
    }

    fn layout(&self) -> Result<Layout, GgufError> {
        let alignment = self.alignment()?;
        let mut header = Vec::new();
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&3u32.to_le_bytes());
        header.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        header.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_string(&mut header, key);
            header.extend_from_slice(&value.value_type().id().to_le_bytes());
            put_value(&mut header, value);
        }
        let mut spans = Vec::with_capacity(self.tensors.len());
        let mut cursor = 0u64;
        let mut names = std::collections::HashSet::new();
        for tensor in &self.tensors {
            if !names.insert(tensor.name.as_str()) {
                return Err(GgufError::Write(format!(
                    "duplicate tensor name '{}'",
                    tensor.name
                )));
            }
            if tensor.dimensions.len() > MAX_DIMENSIONS as usize {
                return Err(GgufError::Write(format!(
                    "tensor '{}' has {} dimensions; ggml allows {MAX_DIMENSIONS}",
                    tensor.name,
                    tensor.dimensions.len()
                )));
            }
            let elements = tensor
                .dimensions
                .iter()
                .try_fold(1u64, |product, &d| product.checked_mul(d));
            let size = elements
                .and_then(|count| tensor.ggml_type.row_bytes(count))
                .ok_or_else(|| {
                    GgufError::Write(format!(
                        "tensor '{}' of type {} and dimensions {:?} has no whole-block byte size",
                        tensor.name, tensor.ggml_type, tensor.dimensions
                    ))
                })?;
            if let TensorData::Bytes(bytes) = &tensor.data
                && bytes.len() as u64 != size
            {
                return Err(GgufError::Write(format!(
                    "tensor '{}' needs {size} bytes of data, {} given",
                    tensor.name,
                    bytes.len()
                )));
            }
            put_string(&mut header, &tensor.name);
            header.extend_from_slice(&(tensor.dimensions.len() as u32).to_le_bytes());
            for dimension in &tensor.dimensions {
                header.extend_from_slice(&dimension.to_le_bytes());
            }
            header.extend_from_slice(&tensor.ggml_type.id().to_le_bytes());
            header.extend_from_slice(&cursor.to_le_bytes());
            spans.push((cursor, size));
            cursor = cursor
                .checked_add(size)
                .and_then(|end| end.checked_next_multiple_of(alignment))
                .ok_or_else(|| GgufError::Write("data region size overflows".to_string()))?;
        }
        let data_offset = (header.len() as u64).next_multiple_of(alignment);
        header.resize(data_offset as usize, 0);
        Ok(Layout {
            header,
            data_offset,
            spans,
            data_bytes: cursor,
        })
    }

    /// Writes the whole file to `writer`, zero tensors as real zero bytes. For small files.
    pub fn write_to(&self, mut writer: impl Write) -> Result<u64, GgufError> {
        let layout = self.layout()?;
        writer
            .write_all(&layout.header)
            .map_err(GgufError::WriteIo)?;
        let mut written = 0u64;
        let zeros = [0u8; 4096];
        for (tensor, &(offset, size)) in self.tensors.iter().zip(&layout.spans) {
            write_zeros(&mut writer, offset - written, &zeros)?;
            match &tensor.data {
                TensorData::Bytes(bytes) => writer.write_all(bytes).map_err(GgufError::WriteIo)?,
                TensorData::Zeros => write_zeros(&mut writer, size, &zeros)?,
            }
            written = offset + size;
        }
        write_zeros(&mut writer, layout.data_bytes - written, &zeros)?;
        Ok(layout.data_offset + layout.data_bytes)
    }

    /// Writes only the header (and its padding): a header-only file whose data is missing, as
    /// `headroom` must read when given just the start of a download.
    pub fn write_header_to(&self, mut writer: impl Write) -> Result<u64, GgufError> {
        let layout = self.layout()?;
        writer
            .write_all(&layout.header)
            .map_err(GgufError::WriteIo)?;
        Ok(layout.data_offset)
    }

    /// Writes the file at `path`; zero tensors become a sparse hole (the file is extended with
    /// `set_len`, which allocates no blocks on Linux and macOS file systems). Returns the size.
    pub fn write_to_path(&self, path: impl AsRef<Path>) -> Result<u64, GgufError> {
        let path = path.as_ref();
        let layout = self.layout()?;
        let wrap = |source: std::io::Error| GgufError::WriteIo(source).in_file(path);
        let mut file = fs_err::File::create(path).map_err(wrap)?;
        file.write_all(&layout.header).map_err(wrap)?;
        for (tensor, &(offset, _)) in self.tensors.iter().zip(&layout.spans) {
            if let TensorData::Bytes(bytes) = &tensor.data {
                file.seek(SeekFrom::Start(layout.data_offset + offset))
                    .map_err(wrap)?;
                file.write_all(bytes).map_err(wrap)?;
            }
        }
        let total = layout.data_offset + layout.data_bytes;
        file.set_len(total).map_err(wrap)?;
        file.sync_all().map_err(wrap)?;
        Ok(total)
    }
}

fn write_zeros(
    writer: &mut impl Write,
    mut count: u64,
    zeros: &[u8; 4096],
) -> Result<(), GgufError> {
    while count > 0 {
        let chunk = count.min(zeros.len() as u64) as usize;
        writer
            .write_all(&zeros[..chunk])
            .map_err(GgufError::WriteIo)?;
        count -= chunk as u64;
    }
    Ok(())
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(v) => put_string(out, v),
        Value::Array(v) => put_array(out, v),
        Value::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
    }
}

fn put_array(out: &mut Vec<u8>, array: &Array) {
    out.extend_from_slice(&array.element_type().id().to_le_bytes());
    out.extend_from_slice(&(array.len() as u64).to_le_bytes());
    macro_rules! numbers {
        ($items:expr) => {
            for item in $items {
                out.extend_from_slice(&item.to_le_bytes());
            }
        };
    }
    match array {
        Array::U8(items) => out.extend_from_slice(items),
        Array::I8(items) => numbers!(items),
        Array::U16(items) => numbers!(items),
        Array::I16(items) => numbers!(items),
        Array::U32(items) => numbers!(items),
        Array::I32(items) => numbers!(items),
        Array::F32(items) => numbers!(items),
        Array::Bool(items) => out.extend(items.iter().map(|&b| u8::from(b))),
        Array::String(items) => {
            for item in items {
                put_string(out, item);
            }
        }
        Array::Array(items) => {
            for item in items {
                put_array(out, item);
            }
        }
        Array::U64(items) => numbers!(items),
        Array::I64(items) => numbers!(items),
        Array::F64(items) => numbers!(items),
    }
}
