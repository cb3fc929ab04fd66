//! Header-only GGUF files shaped like a catalog model: what the example bundles in `examples/`
//! carry instead of multi-gigabyte downloads.
//!
//! The header is built from the catalog's Hugging Face config (converted to GGUF keys as
//! `convert_hf_to_gguf.py` writes them) and the tensor plan of a llama.cpp file type
//! (llama-quantize's type rules), then written with headroom's GGUF writer: metadata and tensor
//! infos only, no tensor data, and no tokenizer arrays (they would add megabytes and nothing the
//! doctor reads; the vocabulary size is kept as `<arch>.vocab_size`).

use headroom_gguf::Value;

use crate::quant::FileType;
use crate::spec::{ModelSpec, SpecError, metadata_from_config};
use crate::tensors::{LayoutError, gguf_writer, quantized_tensors};

/// The example bundles' headers, all Q4_K_M: (bundle directory under `examples/`, catalog id,
/// file name). `cargo run -p headroom --example make-example-headers` writes them.
pub const EXAMPLE_HEADERS: &[(&str, &str, &str)] = &[
    (
        "clarity",
        "qwen3-coder-30b-a3b",
        "Qwen3-Coder-30B-A3B-Instruct-Q4_K_M.header.gguf",
    ),
    (
        "parallel-slots",
        "llama-3.1-8b",
        "Llama-3.1-8B-Instruct-Q4_K_M.header.gguf",
    ),
    (
        "does-not-fit",
        "llama-3.3-70b",
        "Llama-3.3-70B-Instruct-Q4_K_M.header.gguf",
    ),
    ("openai-v1", "qwen3-8b", "Qwen3-8B-Q4_K_M.header.gguf"),
    ("healthy", "qwen3-8b", "Qwen3-8B-Q4_K_M.header.gguf"),
];

/// Why a header could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// The id is not in the catalog.
    #[error("`{0}` is not in the model catalog")]
    UnknownModel(String),
    /// The catalog config did not convert.
    #[error("converting the `{id}` config: {source}")]
    Config {
        /// Catalog id.
        id: String,
        /// Why.
        source: SpecError,
    },
    /// No tensor layout for the architecture, or a shape the type cannot hold.
    #[error("planning the `{id}` tensors: {source}")]
    Layout {
        /// Catalog id.
        id: String,
        /// Why.
        source: LayoutError,
    },
    /// The file type has no `general.file_type` id.
    #[error("{0} has no general.file_type id")]
    NoFileTypeId(String),
    /// The writer refused the layout.
    #[error("writing the header: {0}")]
    Write(#[from] headroom_gguf::GgufError),
}

/// A built header.
#[derive(Debug, Clone)]
pub struct ModelHeader {
    /// The catalog model's display name.
    pub name: String,
    /// Tensor infos in the header.
    pub tensor_count: usize,
    /// The header bytes (metadata and tensor infos, padded to the alignment).
    pub bytes: Vec<u8>,
}

/// The header of catalog model `id` quantized as `file_type`.
pub fn catalog_model_header(id: &str, file_type: FileType) -> Result<ModelHeader, HeaderError> {
    let model = crate::catalog::find(id).ok_or_else(|| HeaderError::UnknownModel(id.to_owned()))?;
    let config_error = |source| HeaderError::Config {
        id: id.to_owned(),
        source,
    };
    let layout_error = |source| HeaderError::Layout {
        id: id.to_owned(),
        source,
    };
    let converted = metadata_from_config(&model.config).map_err(config_error)?;
    let spec = ModelSpec::from_config(&model.config).map_err(config_error)?;
    let tensors = quantized_tensors(&spec, file_type).map_err(layout_error)?;
    let file_type_id = file_type
        .gguf_id()
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| HeaderError::NoFileTypeId(file_type.name().to_owned()))?;
    let writer = gguf_writer(&converted.metadata, &tensors)
        .map_err(layout_error)?
        .metadata("general.name", Value::String(model.name.clone()))
        .metadata("general.file_type", Value::U32(file_type_id));
    let mut bytes = Vec::new();
    writer.write_header_to(&mut bytes)?;
    Ok(ModelHeader {
        name: model.name.clone(),
        tensor_count: tensors.len(),
        bytes,
    })
}
