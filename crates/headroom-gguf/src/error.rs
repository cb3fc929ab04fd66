//! Errors of the reader and writer: each names the byte offset and the key or tensor it was in.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where in the header a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The fixed header: magic, version, counts.
    Header,
    /// The name of the metadata entry with this index (the key could not be read).
    KeyName {
        /// Zero-based index of the entry.
        index: u64,
    },
    /// The value of a metadata entry.
    Key(String),
    /// The name of the tensor info with this index (the name could not be read).
    TensorName {
        /// Zero-based index of the tensor info.
        index: u64,
    },
    /// A tensor info.
    Tensor(String),
}

impl fmt::Display for Location {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Header => write!(formatter, "the file header"),
            Location::KeyName { index } => write!(formatter, "the name of metadata entry #{index}"),
            Location::Key(key) => write!(formatter, "metadata key '{key}'"),
            Location::TensorName { index } => write!(formatter, "the name of tensor info #{index}"),
            Location::Tensor(name) => write!(formatter, "tensor '{name}'"),
        }
    }
}

/// A GGUF file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be opened or inspected.
    #[error("cannot open {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A problem inside a named file.
    #[error("{}: {source}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<GgufError>,
    },
    /// Reading failed for a reason other than the end of the data.
    #[error("read error at byte offset {offset} in {location}")]
    Io {
        /// Byte offset of the read.
        offset: u64,
        /// Where the reader was.
        location: Location,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The data ended inside the header.
    #[error("file ends at byte offset {offset} in {location}: {needed} more bytes needed")]
    Truncated {
        /// Where the data ended.
        offset: u64,
        /// Where the reader was.
        location: Location,
        /// Bytes the reader still needed.
        needed: u64,
    },
    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file: the first bytes are {found:02x?}, expected \"GGUF\" (47 47 55 46)")]
    BadMagic {
        /// The bytes found at offset 0.
        found: [u8; 4],
    },
    /// A version this reader does not read.
    #[error(
        "unsupported GGUF version {version} at byte offset 4 (headroom reads versions 2 and 3)"
    )]
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// A count or length larger than the bytes left in the file could hold.
    #[error(
        "{what} of {count} at byte offset {offset} in {location} cannot fit in the {available} bytes left in the file"
    )]
    CountTooLarge {
        /// Byte offset of the count.
        offset: u64,
        /// Where the reader was.
        location: Location,
        /// What was counted (`array length`, `string length`, `tensor count`).
        what: &'static str,
        /// The count found.
        count: u64,
        /// Bytes left after the count.
        available: u64,
    },
    /// A metadata value type id the specification does not define.
    #[error("unknown value type id {id} at byte offset {offset} in {location}")]
    UnknownValueType {
        /// Byte offset of the type id.
        offset: u64,
        /// Where the reader was.
        location: Location,
        /// The id found.
        id: u32,
    },
    /// Arrays nested deeper than the reader allows.
    #[error("arrays nested more than {limit} deep at byte offset {offset} in {location}")]
    NestingTooDeep {
        /// Byte offset of the innermost array.
        offset: u64,
        /// Where the reader was.
        location: Location,
        /// The nesting limit.
        limit: usize,
    },
    /// The same metadata key twice.
    #[error("duplicate metadata key '{key}' at byte offset {offset}")]
    DuplicateKey {
        /// Byte offset of the second occurrence.
        offset: u64,
        /// The key.
        key: String,
    },
    /// The same tensor name twice.
    #[error("duplicate tensor name '{name}' at byte offset {offset}")]
    DuplicateTensor {
        /// Byte offset of the second occurrence.
        offset: u64,
        /// The tensor name.
        name: String,
    },
    /// `general.alignment` is zero, not a power of two, or not a u32.
    #[error(
        "invalid general.alignment {value} at byte offset {offset}: must be a non-zero power of two (uint32)"
    )]
    BadAlignment {
        /// Byte offset of the value.
        offset: u64,
        /// The value found, as text.
        value: String,
    },
    /// A tensor with more dimensions than ggml supports.
    #[error(
        "tensor '{tensor}' at byte offset {offset} has {dimensions} dimensions; ggml allows at most {limit}"
    )]
    TooManyDimensions {
        /// Byte offset of the dimension count.
        offset: u64,
        /// The tensor name.
        tensor: String,
        /// The count found.
        dimensions: u32,
        /// GGML_MAX_DIMS.
        limit: u32,
    },
    /// A tensor whose element count or byte size overflows, or is not whole blocks of its type.
    #[error("tensor '{tensor}' at byte offset {offset}: {problem}")]
    BadTensorShape {
        /// Byte offset of the tensor info.
        offset: u64,
        /// The tensor name.
        tensor: String,
        /// What is wrong.
        problem: String,
    },
    /// A tensor's data offset is not a multiple of the alignment.
    #[error(
        "tensor '{tensor}' data offset {data_offset} is not a multiple of the alignment {alignment} (tensor info at byte offset {offset})"
    )]
    MisalignedTensor {
        /// Byte offset of the tensor info.
        offset: u64,
        /// The tensor name.
        tensor: String,
        /// The tensor's offset within the data region.
        data_offset: u64,
        /// The file's alignment.
        alignment: u64,
    },
    /// The writer was asked for something GGUF cannot hold.
    #[error("cannot write: {0}")]
    Write(String),
    /// Writing failed.
    #[error("write error")]
    WriteIo(#[source] io::Error),
}

impl GgufError {
    /// Wraps an error with the file it came from.
    pub fn in_file(self, path: impl Into<PathBuf>) -> GgufError {
        GgufError::InFile {
            path: path.into(),
            source: Box::new(self),
        }
    }
}

/// A typed metadata getter could not return what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// The key is not in the file.
    #[error("metadata key '{key}' is missing")]
    MissingKey {
        /// The key.
        key: String,
    },
    /// The key holds another type.
    #[error("metadata key '{key}' is {found}, expected {expected}")]
    TypeMismatch {
        /// The key.
        key: String,
        /// What the caller wanted.
        expected: &'static str,
        /// What the file holds.
        found: String,
    },
}
