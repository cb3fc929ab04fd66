//! Model-shaped tensor layouts: the tensor names and ggml shapes `convert_hf_to_gguf.py` writes for
//! an architecture (llama.cpp `gguf-py/gguf/tensor_mapping.py` names, `src/models/<arch>.cpp`
//! `load_arch_tensors` shapes), with the converter's source types (f32 for norms, biases and
//! routers, f16 for the rest). Together with `quant::assign_types` this gives a quantized file's
//! exact weight bytes from a config, and the tensor list for writing model-shaped GGUFs in tests.

use crate::quant::{FileType, PlannedTensor, QuantContext, TensorType, assign_types};
use crate::spec::{AttentionKind, ModelSpec, ParameterCounts};

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
    /// The architecture has a layout, but not with this feature.
    #[error(
        "no tensor layout for `{architecture}` models with {feature} (weights need a GGUF file or a catalog parameter count)"
    )]
    UnsupportedFeature {
        /// The architecture.
        architecture: String,
        /// What the layout does not cover.
        feature: &'static str,
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
pub const LAYOUT_ARCHITECTURES: [&str; 25] = [
    "llama",
    "mistral3",
    "granite",
    "qwen2",
    "qwen3",
    "qwen3moe",
    "qwen2moe",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma4",
    "phi3",
    "command-r",
    "gpt-oss",
    "deepseek2",
    "lfm2",
    "qwen3next",
    "qwen35",
    "qwen35moe",
    "cohere2",
    "glm4moe",
    "llama4",
    "minimax-m2",
    "nemotron_h",
    "nemotron_h_moe",
];

struct Builder {
    tensors: Vec<PlannedTensor>,
}

impl Builder {
    fn push(&mut self, name: String, shape: &[u64]) {
        // convert_hf_to_gguf (conversion/base.py prepare_tensors): 1-D tensors, norms, routers,
        // conv kernels and anything not named `.weight` (biases, Mamba's ssm_a / ssm_d) are f32;
        // other weights f16 (`--outtype f16`).
        let is_f32 = shape.len() <= 1
            || name.ends_with("_norm.weight")
            || !name.ends_with(".weight")
            || name.contains("ffn_gate_inp")
            || name.contains("ssm_conv1d")
            || name.contains("shortconv.conv");
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

/// The unquantized tensor list (as convert_hf_to_gguf writes it with `--outtype f16`), in the
/// order llama.cpp's `load_arch_tensors` creates them.
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
    // LFM2 names its final norm token_embd_norm (llama-arch.cpp LLM_TENSOR_OUTPUT_NORM_LFM2).
    let output_norm = if arch == "lfm2" {
        "token_embd_norm.weight"
    } else {
        "output_norm.weight"
    };
    builder.push(output_norm.to_owned(), &[embedding]);
    if !tied {
        builder.push("output.weight".to_owned(), &[embedding, vocab]);
    }
    // Llama 3.x writes the llama3 rope scaling as a rope_freqs tensor (conversion/llama.py generate_extra_tensors).
    if spec.rope.scaling_type.as_deref() == Some("llama3") {
        let head_dim = spec.layers.first().map_or(0, |layer| layer.key_head_dim);
        builder.push("rope_freqs.weight".to_owned(), &[head_dim / 2]);
    }
    if arch == "gemma4" {
        gemma4_tensors(spec, &mut builder)?;
        return Ok(builder.tensors);
    }
    let is_delta_net_hybrid = matches!(arch, "qwen3next" | "qwen35" | "qwen35moe");
    let block_count = spec.block_count() as usize;
    for index in 0..block_count {
        // NextN blocks repeat the last layer's shape (plus their own projection tensors); the
        // gated delta net hybrids' MTP block is always full attention (load_block_mtp).
        let mut layer = spec.layers[index.min(spec.layers.len().saturating_sub(1))].clone();
        if index >= spec.layers.len() && is_delta_net_hybrid {
            layer.attention = AttentionKind::Full;
        }
        let prefix = format!("blk.{index}");
        if matches!(arch, "nemotron_h" | "nemotron_h_moe") {
            push_nemotron_h_block(&mut builder, spec, &layer, index, &prefix);
            continue;
        }
        let query_width = layer.query_heads * layer.key_head_dim;
        let key_width = layer.kv_heads * layer.key_head_dim;
        let value_width = layer.kv_heads * layer.value_head_dim;
        builder.push(format!("{prefix}.attn_norm.weight"), &[embedding]);
        match (arch, layer.attention) {
            ("lfm2", AttentionKind::Recurrent) => {
                let cache = spec
                    .recurrent
                    .map_or(3, |recurrent| recurrent.short_conv_cache);
                builder.push(
                    format!("{prefix}.shortconv.conv.weight"),
                    &[cache, embedding],
                );
                builder.push(
                    format!("{prefix}.shortconv.in_proj.weight"),
                    &[embedding, 3 * embedding],
                );
                builder.push(
                    format!("{prefix}.shortconv.out_proj.weight"),
                    &[embedding, embedding],
                );
            }
            ("qwen3next" | "qwen35" | "qwen35moe", AttentionKind::Recurrent) => {
                let recurrent = spec.recurrent.unwrap_or(crate::spec::RecurrentSpec {
                    conv_kernel: 0,
                    inner_size: 0,
                    state_size: 0,
                    group_count: 0,
                    time_step_rank: 0,
                    short_conv_cache: 0,
                    rwkv_head_size: 0,
                    token_shift_count: 0,
                    conv_state_width: 0,
                    ssm_state_width: 0,
                });
                // src/models/qwen3next.cpp, qwen35.cpp: head dims are ssm.state_size for K and V.
                let key_dim = recurrent.state_size * recurrent.group_count;
                let value_dim = recurrent.state_size * recurrent.time_step_rank;
                builder.push(format!("{prefix}.post_attention_norm.weight"), &[embedding]);
                // Qwen3.5 checkpoints store in_proj_qkv and in_proj_z apart; convert_hf_to_gguf
                // splits Qwen3-Next's fused in_proj_qkvz the same way (conversion/qwen.py
                // Qwen3NextModel.modify_tensors): attn_qkv and attn_gate. (llama.cpp still reads
                // the legacy fused ssm_in of older Qwen3-Next files; their headers say which.)
                builder.push(
                    format!("{prefix}.attn_qkv.weight"),
                    &[embedding, 2 * key_dim + value_dim],
                );
                builder.push(
                    format!("{prefix}.attn_gate.weight"),
                    &[embedding, value_dim],
                );
                builder.push(
                    format!("{prefix}.ssm_conv1d.weight"),
                    &[recurrent.conv_kernel, 2 * key_dim + value_dim],
                );
                builder.push(format!("{prefix}.ssm_dt.bias"), &[recurrent.time_step_rank]);
                builder.push(format!("{prefix}.ssm_a"), &[recurrent.time_step_rank]);
                if arch == "qwen3next" {
                    builder.push(
                        format!("{prefix}.ssm_ba.weight"),
                        &[embedding, 2 * recurrent.time_step_rank],
                    );
                } else {
                    // in_proj_b and in_proj_a: one row per value head each.
                    builder.push(
                        format!("{prefix}.ssm_beta.weight"),
                        &[embedding, recurrent.time_step_rank],
                    );
                    builder.push(
                        format!("{prefix}.ssm_alpha.weight"),
                        &[embedding, recurrent.time_step_rank],
                    );
                }
                builder.push(format!("{prefix}.ssm_norm.weight"), &[recurrent.state_size]);
                builder.push(format!("{prefix}.ssm_out.weight"), &[value_dim, embedding]);
            }
            ("deepseek2", _) => {
                let mla = spec.mla.unwrap_or(crate::spec::MlaSpec {
                    query_lora_rank: 0,
                    kv_lora_rank: 0,
                    key_head_dim: 0,
                    value_head_dim: 0,
                    rope_dim: 0,
                });
                let heads = layer.query_heads;
                let nope = mla.key_head_dim.saturating_sub(mla.rope_dim);
                if mla.query_lora_rank > 0 {
                    builder.push(
                        format!("{prefix}.attn_q_a_norm.weight"),
                        &[mla.query_lora_rank],
                    );
                }
                builder.push(
                    format!("{prefix}.attn_kv_a_norm.weight"),
                    &[mla.kv_lora_rank],
                );
                if mla.query_lora_rank > 0 {
                    builder.push(
                        format!("{prefix}.attn_q_a.weight"),
                        &[embedding, mla.query_lora_rank],
                    );
                    builder.push(
                        format!("{prefix}.attn_q_b.weight"),
                        &[mla.query_lora_rank, heads * mla.key_head_dim],
                    );
                } else {
                    builder.push(
                        format!("{prefix}.attn_q.weight"),
                        &[embedding, heads * mla.key_head_dim],
                    );
                }
                builder.push(
                    format!("{prefix}.attn_kv_a_mqa.weight"),
                    &[embedding, mla.kv_lora_rank + mla.rope_dim],
                );
                builder.push(
                    format!("{prefix}.attn_k_b.weight"),
                    &[nope, mla.kv_lora_rank, heads],
                );
                builder.push(
                    format!("{prefix}.attn_v_b.weight"),
                    &[mla.kv_lora_rank, mla.value_head_dim, heads],
                );
                builder.push(
                    format!("{prefix}.attn_output.weight"),
                    &[heads * mla.value_head_dim, embedding],
                );
            }
            _ => {
                // gpt-oss and the delta net hybrids gate attention output: their Q (query and
                // gate) is twice as wide.
                let query_rows = if is_delta_net_hybrid {
                    2 * query_width
                } else {
                    query_width
                };
                if arch == "phi3" {
                    builder.push(
                        format!("{prefix}.attn_qkv.weight"),
                        &[embedding, query_width + key_width + value_width],
                    );
                } else {
                    builder.push(format!("{prefix}.attn_q.weight"), &[embedding, query_rows]);
                    builder.push(format!("{prefix}.attn_k.weight"), &[embedding, key_width]);
                    builder.push(format!("{prefix}.attn_v.weight"), &[embedding, value_width]);
                    if matches!(arch, "qwen2" | "qwen2moe" | "gpt-oss") || spec.attention_bias {
                        builder.push(format!("{prefix}.attn_q.bias"), &[query_width]);
                        builder.push(format!("{prefix}.attn_k.bias"), &[key_width]);
                        builder.push(format!("{prefix}.attn_v.bias"), &[value_width]);
                    }
                }
                builder.push(
                    format!("{prefix}.attn_output.weight"),
                    &[query_width, embedding],
                );
                if arch == "gpt-oss" {
                    builder.push(format!("{prefix}.attn_output.bias"), &[embedding]);
                    builder.push(format!("{prefix}.attn_sinks.weight"), &[layer.query_heads]);
                }
                if arch == "minimax-m2" {
                    // src/models/minimax-m2.cpp: Q/K norms span all heads, not one head.
                    builder.push(format!("{prefix}.attn_q_norm.weight"), &[query_width]);
                    builder.push(format!("{prefix}.attn_k_norm.weight"), &[key_width]);
                } else if matches!(arch, "qwen3" | "qwen3moe" | "gemma3" | "lfm2")
                    || is_delta_net_hybrid
                    || (spec.attention_qk_norm && arch == "glm4moe")
                {
                    builder.push(
                        format!("{prefix}.attn_q_norm.weight"),
                        &[layer.key_head_dim],
                    );
                    builder.push(
                        format!("{prefix}.attn_k_norm.weight"),
                        &[layer.key_head_dim],
                    );
                }
                // These architectures name their pre-FFN norm post_attention_norm.
                if matches!(arch, "gpt-oss" | "glm4moe") || is_delta_net_hybrid {
                    builder.push(format!("{prefix}.post_attention_norm.weight"), &[embedding]);
                }
            }
        }
        if matches!(arch, "gemma2" | "gemma3") {
            builder.push(format!("{prefix}.post_attention_norm.weight"), &[embedding]);
            builder.push(format!("{prefix}.post_ffw_norm.weight"), &[embedding]);
        }
        if !matches!(arch, "command-r" | "cohere2" | "gpt-oss" | "glm4moe") && !is_delta_net_hybrid
        {
            builder.push(format!("{prefix}.ffn_norm.weight"), &[embedding]);
        }
        match (layer.has_experts, spec.experts) {
            (true, Some(experts)) => {
                let width = experts.feed_forward_length;
                builder.push(
                    format!("{prefix}.ffn_gate_inp.weight"),
                    &[embedding, experts.count],
                );
                if arch == "gpt-oss" {
                    builder.push(format!("{prefix}.ffn_gate_inp.bias"), &[experts.count]);
                }
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
                if arch == "gpt-oss" {
                    builder.push(
                        format!("{prefix}.ffn_gate_exps.bias"),
                        &[width, experts.count],
                    );
                    builder.push(
                        format!("{prefix}.ffn_up_exps.bias"),
                        &[width, experts.count],
                    );
                    builder.push(
                        format!("{prefix}.ffn_down_exps.bias"),
                        &[embedding, experts.count],
                    );
                }
                // MiniMax-M2 always loads the routing bias (src/models/minimax-m2.cpp).
                if (matches!(arch, "deepseek2" | "glm4moe") && spec.expert_gating_sigmoid)
                    || arch == "minimax-m2"
                {
                    builder.push(format!("{prefix}.exp_probs_b.bias"), &[experts.count]);
                }
                let shared_width = match arch {
                    "deepseek2" | "glm4moe" => width * experts.shared,
                    // Llama 4: one shared expert of the routed experts' width (src/models/llama4.cpp).
                    "llama4" => width,
                    _ => experts.shared_feed_forward_length,
                };
                if shared_width > 0 {
                    if matches!(arch, "qwen3next" | "qwen35moe" | "qwen2moe") {
                        builder.push(format!("{prefix}.ffn_gate_inp_shexp.weight"), &[embedding]);
                    }
                    builder.push(
                        format!("{prefix}.ffn_gate_shexp.weight"),
                        &[embedding, shared_width],
                    );
                    builder.push(
                        format!("{prefix}.ffn_up_shexp.weight"),
                        &[embedding, shared_width],
                    );
                    builder.push(
                        format!("{prefix}.ffn_down_shexp.weight"),
                        &[shared_width, embedding],
                    );
                }
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
        if index >= spec.layers.len() {
            // NextN / MTP block extras (src/models/deepseek2.cpp, glm4-moe.cpp, qwen35.cpp).
            builder.push(
                format!("{prefix}.nextn.eh_proj.weight"),
                &[2 * embedding, embedding],
            );
            builder.push(format!("{prefix}.nextn.enorm.weight"), &[embedding]);
            builder.push(format!("{prefix}.nextn.hnorm.weight"), &[embedding]);
            builder.push(
                format!("{prefix}.nextn.shared_head_norm.weight"),
                &[embedding],
            );
        }
    }
    Ok(builder.tensors)
}

/// Gemma 4's rope_freqs and blocks, as `Gemma4Model` (conversion/gemma.py) writes them and
/// `llama_model_gemma4::load_arch_tensors` (src/models/gemma4.cpp) reads them. Every layer has
/// Q/K norms, post-attention and post-FFN norms, a dense GELU FFN and a `layer_scalar`; MoE
/// layers add a router with its own scale, a fused gate/up expert tensor, per-expert output
/// scales and three more norms. With `attention_k_eq_v` the full-attention layers have no V
/// projection. The E-models' per-layer embeddings and KV-sharing layers are not covered.
fn gemma4_tensors(spec: &ModelSpec, builder: &mut Builder) -> Result<(), LayoutError> {
    let unsupported = |feature| LayoutError::UnsupportedFeature {
        architecture: spec.architecture.clone(),
        feature,
    };
    if spec.per_layer_input_length > 0 {
        return Err(unsupported("per-layer embeddings"));
    }
    if spec.shared_kv_layer_count > 0 {
        return Err(unsupported("KV-sharing layers"));
    }
    let embedding = spec.embedding_length;
    // Generated for the full-attention layers' proportional rope: one factor per rotary pair.
    let full_head_dim = spec
        .layers
        .iter()
        .find(|layer| layer.attention == AttentionKind::Full)
        .map_or(0, |layer| layer.key_head_dim);
    builder.push("rope_freqs.weight".to_owned(), &[full_head_dim / 2]);
    for (index, layer) in spec.layers.iter().enumerate() {
        let prefix = format!("blk.{index}");
        let head_dim = layer.key_head_dim;
        let query_width = layer.query_heads * head_dim;
        let kv_width = layer.kv_heads * head_dim;
        builder.push(format!("{prefix}.attn_norm.weight"), &[embedding]);
        builder.push(format!("{prefix}.attn_q.weight"), &[embedding, query_width]);
        builder.push(format!("{prefix}.attn_k.weight"), &[embedding, kv_width]);
        if !(spec.attention_k_eq_v && layer.attention == AttentionKind::Full) {
            builder.push(format!("{prefix}.attn_v.weight"), &[embedding, kv_width]);
        }
        builder.push(
            format!("{prefix}.attn_output.weight"),
            &[query_width, embedding],
        );
        builder.push(format!("{prefix}.attn_q_norm.weight"), &[head_dim]);
        builder.push(format!("{prefix}.attn_k_norm.weight"), &[head_dim]);
        builder.push(format!("{prefix}.post_attention_norm.weight"), &[embedding]);
        builder.push(format!("{prefix}.layer_output_scale.weight"), &[1]);
        let width = layer.feed_forward_length;
        builder.push(format!("{prefix}.ffn_norm.weight"), &[embedding]);
        builder.push(format!("{prefix}.ffn_gate.weight"), &[embedding, width]);
        builder.push(format!("{prefix}.ffn_up.weight"), &[embedding, width]);
        builder.push(format!("{prefix}.ffn_down.weight"), &[width, embedding]);
        builder.push(format!("{prefix}.post_ffw_norm.weight"), &[embedding]);
        if let (true, Some(experts)) = (layer.has_experts, spec.experts) {
            let expert_width = experts.feed_forward_length;
            builder.push(
                format!("{prefix}.ffn_gate_inp.weight"),
                &[embedding, experts.count],
            );
            builder.push(format!("{prefix}.ffn_gate_inp.scale"), &[embedding]);
            builder.push(format!("{prefix}.pre_ffw_norm_2.weight"), &[embedding]);
            builder.push(format!("{prefix}.post_ffw_norm_1.weight"), &[embedding]);
            builder.push(format!("{prefix}.post_ffw_norm_2.weight"), &[embedding]);
            builder.push(
                format!("{prefix}.ffn_gate_up_exps.weight"),
                &[embedding, 2 * expert_width, experts.count],
            );
            builder.push(
                format!("{prefix}.ffn_down_exps.weight"),
                &[expert_width, embedding, experts.count],
            );
            // router.per_expert_scale, written as the experts' output scale.
            builder.push(format!("{prefix}.ffn_down_exps.scale"), &[experts.count]);
        }
    }
    Ok(())
}

/// One Nemotron-H block (src/models/nemotron-h.cpp load_arch_tensors): a norm and one mixer —
/// Mamba-2, attention, a squared-ReLU MLP (up/down, no gate) or a MoE (up/down experts, in the
/// latent width when `moe_latent_size` is set, plus one shared expert). A trailing MTP block
/// folds attention and MoE together with the NextN projections.
fn push_nemotron_h_block(
    builder: &mut Builder,
    spec: &ModelSpec,
    layer: &crate::spec::LayerSpec,
    index: usize,
    prefix: &str,
) {
    let embedding = spec.embedding_length;
    let is_mtp = index >= spec.layers.len();
    if is_mtp {
        builder.push(format!("{prefix}.nextn.enorm.weight"), &[embedding]);
        builder.push(format!("{prefix}.nextn.hnorm.weight"), &[embedding]);
        builder.push(
            format!("{prefix}.nextn.eh_proj.weight"),
            &[2 * embedding, embedding],
        );
        builder.push(
            format!("{prefix}.nextn.shared_head_norm.weight"),
            &[embedding],
        );
    }
    builder.push(format!("{prefix}.attn_norm.weight"), &[embedding]);
    if !is_mtp && layer.attention == AttentionKind::Recurrent {
        let Some(recurrent) = spec.recurrent else {
            return;
        };
        let groups_state = 2 * recurrent.group_count * recurrent.state_size;
        let conv_width = recurrent.inner_size + groups_state;
        let heads = recurrent.time_step_rank;
        builder.push(
            format!("{prefix}.ssm_in.weight"),
            &[embedding, recurrent.inner_size + conv_width + heads],
        );
        builder.push(
            format!("{prefix}.ssm_conv1d.weight"),
            &[recurrent.conv_kernel, conv_width],
        );
        // Every published Nemotron-H config sets use_conv_bias = true.
        builder.push(format!("{prefix}.ssm_conv1d.bias"), &[conv_width]);
        builder.push(format!("{prefix}.ssm_dt.bias"), &[heads]);
        builder.push(format!("{prefix}.ssm_a"), &[1, heads]);
        builder.push(format!("{prefix}.ssm_d"), &[1, heads]);
        let groups = recurrent.group_count.max(1);
        builder.push(
            format!("{prefix}.ssm_norm.weight"),
            &[recurrent.inner_size / groups, groups],
        );
        builder.push(
            format!("{prefix}.ssm_out.weight"),
            &[recurrent.inner_size, embedding],
        );
        return;
    }
    if is_mtp || layer.has_kv {
        // The MTP block's attention has the trunk's attention shape (the converter gives it
        // the same head_count_kv); the spec keeps per-layer shapes for trunk layers only.
        let attention = if is_mtp {
            spec.layers
                .iter()
                .find(|candidate| candidate.has_kv)
                .unwrap_or(layer)
        } else {
            layer
        };
        let query_width = attention.query_heads * attention.key_head_dim;
        let key_width = attention.kv_heads * attention.key_head_dim;
        let value_width = attention.kv_heads * attention.value_head_dim;
        builder.push(format!("{prefix}.attn_q.weight"), &[embedding, query_width]);
        builder.push(format!("{prefix}.attn_k.weight"), &[embedding, key_width]);
        builder.push(format!("{prefix}.attn_v.weight"), &[embedding, value_width]);
        if spec.attention_bias {
            builder.push(format!("{prefix}.attn_q.bias"), &[query_width]);
            builder.push(format!("{prefix}.attn_k.bias"), &[key_width]);
            builder.push(format!("{prefix}.attn_v.bias"), &[value_width]);
            builder.push(format!("{prefix}.attn_output.bias"), &[embedding]);
        }
        builder.push(
            format!("{prefix}.attn_output.weight"),
            &[query_width, embedding],
        );
        if !is_mtp {
            return;
        }
    }
    match spec.experts {
        Some(experts) if is_mtp || layer.has_experts => {
            if is_mtp {
                builder.push(format!("{prefix}.post_attention_norm.weight"), &[embedding]);
            }
            let count = experts.count;
            let width = experts.feed_forward_length;
            builder.push(format!("{prefix}.ffn_gate_inp.weight"), &[embedding, count]);
            builder.push(format!("{prefix}.exp_probs_b.bias"), &[count]);
            let expert_embedding = if experts.latent_size > 0 {
                builder.push(
                    format!("{prefix}.ffn_latent_down.weight"),
                    &[embedding, experts.latent_size],
                );
                builder.push(
                    format!("{prefix}.ffn_latent_up.weight"),
                    &[experts.latent_size, embedding],
                );
                experts.latent_size
            } else {
                embedding
            };
            builder.push(
                format!("{prefix}.ffn_down_exps.weight"),
                &[width, expert_embedding, count],
            );
            builder.push(
                format!("{prefix}.ffn_up_exps.weight"),
                &[expert_embedding, width, count],
            );
            let shared = experts.shared_feed_forward_length;
            builder.push(
                format!("{prefix}.ffn_down_shexp.weight"),
                &[shared, embedding],
            );
            builder.push(
                format!("{prefix}.ffn_up_shexp.weight"),
                &[embedding, shared],
            );
        }
        _ if layer.feed_forward_length > 0 => {
            let width = layer.feed_forward_length;
            builder.push(format!("{prefix}.ffn_down.weight"), &[width, embedding]);
            builder.push(format!("{prefix}.ffn_up.weight"), &[embedding, width]);
        }
        _ => {}
    }
}

/// The tensor list with the types llama-quantize gives each tensor for `file_type`.
pub fn quantized_tensors(
    spec: &ModelSpec,
    file_type: FileType,
) -> Result<Vec<PlannedTensor>, LayoutError> {
    let mut tensors = model_tensors(spec)?;
    let first = spec.layers.first();
    let kv_heads = first.map_or(1, |layer| layer.kv_heads);
    let context = QuantContext {
        layer_count: spec.block_count(),
        expert_count: spec.experts.map_or(0, |experts| experts.count),
        // llama_hparams::n_gqa(0): 0 when layer 0 has no KV heads (a recurrent first layer).
        grouped_query_factor: spec.head_count.checked_div(kv_heads).unwrap_or(0),
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
