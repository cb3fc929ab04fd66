//! Regenerates the header-only GGUF files of the example bundles in `examples/`:
//! `cargo run -p headroom --example make-example-headers`.
//!
//! Each header is built from the model catalog's Hugging Face config (converted to GGUF keys
//! as convert_hf_to_gguf writes them) and the Q4_K_M tensor plan (llama-quantize's type rules),
//! then written with headroom's GGUF writer: header and tensor infos only, no tensor data, and
//! no tokenizer arrays (they would add megabytes and nothing the doctor reads; the vocabulary
//! size is kept as `<arch>.vocab_size`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use headroom_core::catalog;
use headroom_core::quant::FileType;
use headroom_core::spec::{ModelSpec, metadata_from_config};
use headroom_core::tensors::{gguf_writer, quantized_tensors};
use headroom_gguf::Value;

/// (bundle directory, catalog id, file name).
const HEADERS: &[(&str, &str, &str)] = &[
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

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn main() -> anyhow::Result<()> {
    let file_type = FileType::Q4_K_M;
    for (bundle, id, file_name) in HEADERS {
        let model = catalog::find(id).with_context(|| format!("{id} is not in the catalog"))?;
        let converted = metadata_from_config(&model.config)
            .with_context(|| format!("converting the {id} config"))?;
        let spec = ModelSpec::from_config(&model.config)?;
        let tensors = quantized_tensors(&spec, file_type)?;
        let file_type_id = file_type
            .gguf_id()
            .with_context(|| format!("no general.file_type id for {}", file_type.name()))?;
        let writer = gguf_writer(&converted.metadata, &tensors)?
            .metadata("general.name", Value::String(model.name.clone()))
            .metadata(
                "general.file_type",
                Value::U32(u32::try_from(file_type_id)?),
            );
        let directory = examples_dir().join(bundle);
        if !directory.is_dir() {
            bail!("{} does not exist", directory.display());
        }
        let path = directory.join(file_name);
        let mut bytes = Vec::new();
        writer.write_header_to(&mut bytes)?;
        fs_err::write(&path, &bytes)?;
        println!(
            "{}: {} ({} tensors, {} header bytes)",
            path.display(),
            model.name,
            tensors.len(),
            bytes.len()
        );
    }
    Ok(())
}
