//! GGUF reader and writer: the whole header, exactly, without touching tensor data.
//!
//! [`GgufFile::open`] reads magic, version, every metadata entry (all thirteen value types,
//! nested arrays included) and every tensor info, then stops: tensor data is never read, so a
//! 60 GB model costs a few megabytes of reads. Hostile input is an error naming the byte offset
//! and the key or tensor, never a panic, and no allocation is sized by a count the file has not
//! backed with bytes. [`GgufWriter`] builds files of any model's shape with a sparse data region.

mod error;
mod file;
mod file_type;
mod ggml_type;
mod reader;
mod value;
mod writer;

pub use error::{GgufError, Location, MetadataError};
pub use file::{ByteOrder, GgufFile, TensorInfo, TypeShare};
pub use file_type::{file_type_id, file_type_name};
pub use ggml_type::GgmlType;
pub use reader::{DEFAULT_ALIGNMENT, MAX_DIMENSIONS, MAX_NESTING};
pub use value::{Array, Value, ValueType};
pub use writer::{GgufWriter, TensorData};
