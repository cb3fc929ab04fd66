//! Model-shaped tensor layouts: the tensor names and ggml shapes `convert_hf_to_gguf.py` writes for
//! an architecture (llama.cpp `gguf-py/gguf/tensor_mapping.py` names, `src/models/<arch>.cpp`
//! `load_arch_tensors` shapes), with the converter's source types (f32 for norms, biases and
//! routers, f16 for the rest). Together with `quant::assign_types` this gives a quantized file's
//! exact weight bytes from a config, and the tensor list for writing model-shaped GGUFs in tests.

use crate::quant::{FileType, PlannedTensor, QuantContext, TensorType, assign_types};
use crate::spec::{ModelSpec, ParameterCounts};

/// Why no layout could be generated.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The architecture has no generated layout yet (a GGUF file still gives exact weights).
    #[error(
        "no tensor layout for architecture `{architecture}` (weights need a GGUF file or a catalog parameter count)"
    )]
    UnsupportedArchitecture {
        /// The architecture.
        architecture: String,
    },
    /// The spec does not say whether the output projection is tied to the embedding.
    #[error("the model spec does not say whether embeddings are tied")]
    UnknownTiedEmbeddings,
    /// A tensor's shape cannot be stored in the chosen type.
    #[error("tensor `{name}` with shape {shape:?} cannot be stored as {tensor_type}")]
    UnrepresentableShape {
        /// Tensor name.
        name: String,
        /// Its shape.
        shape: Vec<u64>,
        /// The type.
        tensor_type: TensorType,
    },
}

/// Architectures with a generated layout.
pub const LAYOUT_ARCHITECTURES: [&str; 11] = [
    "llama",
    "mistral3",
    "granite",
    "qwen2",
    "qwen3",
    "qwen3moe",
    "gemma",
    "gemma2",
    "gemma3",
    "phi3",
    "command-r",
];

struct Builder {
    tensors: Vec<PlannedTensor>,
}

impl Builder {
    fn push(&mut self, name: String, shape: &[u64]) {
        // convert_hf_to_gguf: 1-D tensors, norms and routers are f32; other weights f16 (MOSTLY_F16 output).
        let is_f32 =
            shape.len() <= 1 || name.ends_with("_norm.weight") || name.contains("ffn_gate_inp");
        let source_type = if is_f32 {
            TensorType::F32
        } else {
            TensorType::F16
        };
        self.tensors.push(PlannedTensor {
            name,
            shape: shape.to_vec(),
            source_type,
            tensor_type: source_type,
        });
    }
}

/// The unquantized tensor list (as convert_hf_to_gguf writes it with `--outtype f16`).
pub fn model_tensors(spec: &ModelSpec) -> Result<Vec<PlannedTensor>, LayoutError> {
    let arch = spec.architecture.as_str();
    if !LAYOUT_ARCHITECTURES.contains(&arch) {
        return Err(LayoutError::UnsupportedArchitecture {
            architecture: spec.architecture.clone(),
        });
    }
    let tied = spec
        .tied_embeddings
        .ok_or(LayoutError::UnknownTiedEmbeddings)?;
    let embedding = spec.embedding_length;
    let vocab = spec.vocab_size;
    let mut builder = Builder {
        tensors: Vec::new(),
    };
    builder.push("token_embd.weight".to_owned(), &[embedding, vocab]);
    builder.push("output_norm.weight".to_owned(), &[embedding]);
    if !tied {
        builder.push("output.weight".to_owned(), &[embedding, vocab]);
    }
    // Llama 3.x writes the llama3 rope scaling as a rope_freqs tensor (conversion/llama.py generate_extra_tensors).
    if spec.rope.scaling_type.as_deref() == Some("llama3") {
        let head_dim = spec.layers.first().map_or(0, |layer| layer.key_head_dim);
        builder.push("rope_freqs.weight".to_owned(), &[head_dim / 2]);
    }
    for (index, layer) in spec.layers.iter().enumerate() {
        let prefix = format!("blk.{index}");
        let query_width = layer.query_heads * layer.key_head_dim;
        let key_width = layer.kv_heads * layer.key_head_dim;
        let value_width = layer.kv_heads * layer.value_head_dim;
        builder.push(format!("{prefix}.attn_norm.weight"), &[embedding]);
        if arch == "phi3" {
            builder.push(
                format!("{prefix}.attn_qkv.weight"),
                &[embedding, query_width + key_width + value_width],
            );
        } else {
            builder.push(format!("{prefix}.attn_q.weight"), &[embedding, query_width]);
            builder.push(format!("{prefix}.attn_k.weight"), &[embedding, key_width]);
            builder.push(format!("{prefix}.attn_v.weight"), &[embedding, value_width]);
            if arch == "qwen2" {
                builder.push(format!("{prefix}.attn_q.bias"), &[query_width]);
                builder.push(format!("{prefix}.attn_k.bias"), &[key_width]);
                builder.push(format!("{prefix}.attn_v.bias"), &[value_width]);
            }
        }
        builder.push(
            format!("{prefix}.attn_output.weight"),
            &[query_width, embedding],
        );
        if matches!(arch, "qwen3" | "qwen3moe" | "gemma3") {
            builder.push(
                format!("{prefix}.attn_q_norm.weight"),
                &[layer.key_head_dim],
            );
            builder.push(
                format!("{prefix}.attn_k_norm.weight"),
                &[layer.key_head_dim],
            );
        }
        if matches!(arch, "gemma2" | "gemma3") {
            builder.push(format!("{prefix}.post_attention_norm.weight"), &[embedding]);
            builder.push(format!("{prefix}.post_ffw_norm.weight"), &[embedding]);
        }
        if arch != "command-r" {
            builder.push(format!("{prefix}.ffn_norm.weight"), &[embedding]);
        }
        match (layer.has_experts, spec.experts) {
            (true, Some(experts)) => {
                let width = experts.feed_forward_length;
                builder.push(
                    format!("{prefix}.ffn_gate_inp.weight"),
                    &[embedding, experts.count],
                );
                builder.push(
                    format!("{prefix}.ffn_gate_exps.weight"),
                    &[embedding, width, experts.count],
                );
                builder.push(
                    format!("{prefix}.ffn_up_exps.weight"),
                    &[embedding, width, experts.count],
                );
                builder.push(
                    format!("{prefix}.ffn_down_exps.weight"),
                    &[width, embedding, experts.count],
                );
            }
            _ => {
                let width = layer.feed_forward_length;
                if arch == "phi3" {
                    builder.push(format!("{prefix}.ffn_up.weight"), &[embedding, 2 * width]);
                } else {
                    builder.push(format!("{prefix}.ffn_gate.weight"), &[embedding, width]);
                    builder.push(format!("{prefix}.ffn_up.weight"), &[embedding, width]);
                }
                builder.push(format!("{prefix}.ffn_down.weight"), &[width, embedding]);
            }
        }
    }
    Ok(builder.tensors)
}

/// The tensor list with the types llama-quantize gives each tensor for `file_type`.
pub fn quantized_tensors(
    spec: &ModelSpec,
    file_type: FileType,
) -> Result<Vec<PlannedTensor>, LayoutError> {
    let mut tensors = model_tensors(spec)?;
    let first = spec.layers.first();
    let kv_heads = first.map_or(1, |layer| layer.kv_heads.max(1));
    let context = QuantContext {
        layer_count: spec.block_count(),
        expert_count: spec.experts.map_or(0, |experts| experts.count),
        grouped_query_factor: spec.head_count / kv_heads,
        is_falcon: spec.architecture == "falcon",
        // llama_model_llama::load_arch_hparams: 80 layers => LLM_TYPE_70B.
        is_70b: spec.architecture == "llama" && spec.layer_count() == 80,
    };
    assign_types(&mut tensors, file_type, context);
    for tensor in &tensors {
        if tensor.bytes().is_none() {
            return Err(LayoutError::UnrepresentableShape {
                name: tensor.name.clone(),
                shape: tensor.shape.clone(),
                tensor_type: tensor.tensor_type,
            });
        }
    }
    Ok(tensors)
}

/// Total and active parameters from a tensor list (active = all but the unused experts' share).
pub fn parameter_counts(spec: &ModelSpec, tensors: &[PlannedTensor]) -> ParameterCounts {
    let total: u64 = tensors.iter().map(PlannedTensor::element_count).sum();
    let expert_elements: u64 = tensors
        .iter()
        .filter(|tensor| tensor.name.contains("_exps."))
        .map(PlannedTensor::element_count)
        .sum();
    let active = match spec.experts {
        Some(experts) if experts.count > 0 => {
            total - expert_elements + expert_elements / experts.count * experts.used
        }
        _ => total,
    };
    ParameterCounts { total, active }
}

/// A writer for a model-shaped GGUF: the metadata plus every planned tensor as sparse zeros.
pub fn gguf_writer(
    metadata: &crate::spec::Metadata,
    tensors: &[PlannedTensor],
) -> Result<headroom_gguf::GgufWriter, LayoutError> {
    let mut writer = headroom_gguf::GgufWriter::new();
    for (key, value) in metadata.to_gguf_values() {
        writer = writer.metadata(key, value);
    }
    for tensor in tensors {
        let ggml_type =
            headroom_gguf::GgmlType::from_name(tensor.tensor_type.name()).ok_or_else(|| {
                LayoutError::UnrepresentableShape {
                    name: tensor.name.clone(),
                    shape: tensor.shape.clone(),
                    tensor_type: tensor.tensor_type,
                }
            })?;
        writer = writer.tensor(
            tensor.name.clone(),
            &tensor.shape,
            ggml_type,
            headroom_gguf::TensorData::Zeros,
        );
    }
    Ok(writer)
}
