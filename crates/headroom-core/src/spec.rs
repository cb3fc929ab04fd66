//! `ModelSpec`: one description of a model's architecture, per layer where layers differ, built
//! the way llama.cpp reads it (`src/llama-model.cpp`, `src/models/<arch>.cpp::load_arch_hparams`,
//! `src/llama-hparams.cpp`), from GGUF metadata or from a Hugging Face `config.json` (converted to
//! the keys `convert_hf_to_gguf.py` writes, then read by the same code).

mod config;
mod gguf;
mod metadata;

use crate::quant::FileType;

pub use config::metadata_from_config;
pub use metadata::{MAX_LAYERS, Metadata, MetadataValue};

/// Why a model description could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A key llama.cpp requires is absent.
    #[error("metadata key `{key}` is missing")]
    MissingKey {
        /// The key (`llama.block_count`).
        key: String,
    },
    /// A key has the wrong type.
    #[error("metadata key `{key}` should be {expected}, found {found}")]
    TypeMismatch {
        /// The key.
        key: String,
        /// What llama.cpp reads.
        expected: &'static str,
        /// What the file holds.
        found: &'static str,
    },
    /// A key's value cannot describe a model.
    #[error("metadata key `{key}` is invalid: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A per-layer array has the wrong length.
    #[error("metadata key `{key}` has {found} per-layer values, expected {expected}")]
    LayerArrayLength {
        /// The key.
        key: String,
        /// `block_count`.
        expected: u64,
        /// Array length.
        found: u64,
    },
    /// headroom does not model this architecture.
    #[error("architecture `{architecture}` is not supported (supported: {supported})")]
    UnsupportedArchitecture {
        /// `general.architecture` or the config's `architectures[0]` / `model_type`.
        architecture: String,
        /// The list we support.
        supported: String,
    },
    /// A config.json field is missing or malformed.
    #[error("config.json field `{field}` {reason}")]
    Config {
        /// The field path (`text_config.hidden_size`).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// The attention a layer performs, which decides what it caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AttentionKind {
    /// Full causal attention: caches every context cell.
    Full,
    /// Sliding-window attention: caches `window + n_ubatch` cells (iSWA cache).
    SlidingWindow {
        /// `attention.sliding_window`.
        window_tokens: u64,
    },
    /// Chunked attention (Llama 4): sized like sliding window in llama.cpp's iSWA cache.
    Chunked {
        /// Chunk size.
        chunk_tokens: u64,
    },
    /// Multi-head latent attention (DeepSeek V2/V3, Kimi K2): only the latent K row is cached.
    Mla,
    /// A recurrent/state-space layer (Mamba, gated delta net, short conv, RWKV): fixed-size state.
    Recurrent,
    /// No attention and no state (an MLP-only block).
    None,
}

/// One layer's shape as far as memory is concerned.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LayerSpec {
    /// What the layer attends with.
    pub attention: AttentionKind,
    /// Query heads (`attention.head_count`, per layer).
    pub query_heads: u64,
    /// KV heads (`attention.head_count_kv`, per layer; 0 for recurrent layers of hybrids).
    pub kv_heads: u64,
    /// Cached key width per head (`attention.key_length`, or `key_length_swa` on SWA layers).
    pub key_head_dim: u64,
    /// Cached value width per head (`attention.value_length`, or `value_length_swa`).
    pub value_head_dim: u64,
    /// Dense feed-forward width (`feed_forward_length`, per layer; 0 when the FFN is all experts).
    pub feed_forward_length: u64,
    /// The FFN of this layer is a mixture of experts.
    pub has_experts: bool,
    /// The layer owns KV cells (false for recurrent, MLP-only and shared-KV layers).
    pub has_kv: bool,
}

impl LayerSpec {
    /// K width in elements per cell (`n_embd_k_gqa(il)`).
    pub fn key_width(&self) -> u64 {
        self.key_head_dim * self.kv_heads
    }

    /// V width in elements per cell (`n_embd_v_gqa(il)`); 0 for MLA, where V is a view of K.
    pub fn value_width(&self) -> u64 {
        if self.attention == AttentionKind::Mla {
            0
        } else {
            self.value_head_dim * self.kv_heads
        }
    }
}

/// Mixture-of-experts shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ExpertSpec {
    /// `expert_count`.
    pub count: u64,
    /// `expert_used_count` (experts per token).
    pub used: u64,
    /// `expert_shared_count`.
    pub shared: u64,
    /// `expert_feed_forward_length` (width of one expert).
    pub feed_forward_length: u64,
    /// `expert_shared_feed_forward_length` (0 when the shared expert uses `feed_forward_length`).
    pub shared_feed_forward_length: u64,
    /// `leading_dense_block_count`: the first layers use a dense FFN.
    pub leading_dense_blocks: u64,
    /// `moe_latent_size` (Nemotron-H LatentMoE): routed experts read and write this width instead
    /// of `embedding_length`, through a per-layer down/up projection; 0 when not latent.
    pub latent_size: u64,
}

/// Multi-head latent attention dimensions (DeepSeek V2/V3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MlaSpec {
    /// `attention.q_lora_rank` (0 for lite models).
    pub query_lora_rank: u64,
    /// `attention.kv_lora_rank`.
    pub kv_lora_rank: u64,
    /// `attention.key_length_mla` (nope + rope per head).
    pub key_head_dim: u64,
    /// `attention.value_length_mla`.
    pub value_head_dim: u64,
    /// `rope.dimension_count` (the rope part of the key).
    pub rope_dim: u64,
}

/// Rotary position embedding settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RopeSpec {
    /// `rope.freq_base`.
    pub freq_base: Option<f64>,
    /// `rope.dimension_count`.
    pub dimension_count: Option<u64>,
    /// `rope.scaling.type` (`linear`, `yarn`, …).
    pub scaling_type: Option<String>,
    /// `rope.scaling.factor`.
    pub scaling_factor: Option<f64>,
    /// `rope.scaling.original_context_length`.
    pub original_context_length: Option<u64>,
}

/// Recurrent (state-space / linear-attention / short-conv) state dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RecurrentSpec {
    /// `ssm.conv_kernel`.
    pub conv_kernel: u64,
    /// `ssm.inner_size`.
    pub inner_size: u64,
    /// `ssm.state_size`.
    pub state_size: u64,
    /// `ssm.group_count`.
    pub group_count: u64,
    /// `ssm.time_step_rank`.
    pub time_step_rank: u64,
    /// `shortconv.l_cache` (LFM2).
    pub short_conv_cache: u64,
    /// `wkv.head_size` (RWKV).
    pub rwkv_head_size: u64,
    /// `token_shift_count` (RWKV).
    pub token_shift_count: u64,
    /// Row width of the conv state in f32 elements (`llama_hparams::n_embd_r`).
    pub conv_state_width: u64,
    /// Row width of the SSM state in f32 elements (`llama_hparams::n_embd_s`).
    pub ssm_state_width: u64,
}

/// Parameter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ParameterCounts {
    /// Every weight.
    pub total: u64,
    /// Weights touched per token (all but the unused experts).
    pub active: u64,
}

/// One model's architecture as llama.cpp sizes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelSpec {
    /// llama.cpp architecture name (`qwen3moe`, `gpt-oss`, `deepseek2`).
    pub architecture: String,
    /// `general.name` when present.
    pub name: Option<String>,
    /// Hidden size (`embedding_length`).
    pub embedding_length: u64,
    /// Query heads of layer 0 (`attention.head_count`).
    pub head_count: u64,
    /// The main (non-NextN) layers.
    pub layers: Vec<LayerSpec>,
    /// NextN / multi-token-prediction blocks counted in `block_count` but not cached by the main context.
    pub nextn_layer_count: u64,
    /// Layers that reuse an earlier layer's KV (`attention.shared_kv_layers`, Gemma 3n/4).
    pub shared_kv_layer_count: u64,
    /// Width of the per-layer token embeddings (`embedding_length_per_layer_input`, Gemma 3n/4
    /// E-models); 0 when the model has none.
    pub per_layer_input_length: u64,
    /// Experts, when the model is a mixture of experts.
    pub experts: Option<ExpertSpec>,
    /// MLA dimensions, when the model uses latent attention.
    pub mla: Option<MlaSpec>,
    /// Recurrent state dimensions, when some layers are recurrent.
    pub recurrent: Option<RecurrentSpec>,
    /// Vocabulary size (`vocab_size` or the tokenizer's token count).
    pub vocab_size: u64,
    /// Trained context (`context_length`).
    pub context_length_trained: u64,
    /// Sliding window of SWA layers, when any.
    pub sliding_window_tokens: Option<u64>,
    /// Rotary embedding settings.
    pub rope: RopeSpec,
    /// Output projection shares the token embedding (no `output.weight`). `None` when unknown.
    pub tied_embeddings: Option<bool>,
    /// The file type (`general.file_type`), when the source says.
    pub file_type: Option<FileType>,
    /// Parameter counts, when known (from tensors or a catalog).
    pub parameters: Option<ParameterCounts>,
    /// Experts are gated with a sigmoid and a learned score bias (`expert_gating_func` = 2,
    /// DeepSeek V3 / GLM-4.5): adds an `exp_probs_b` tensor per MoE layer.
    pub expert_gating_sigmoid: bool,
    /// Config only (GGUF files list their tensors): Q/K/V projections carry biases
    /// (`attention_bias`, GLM-4.5), for the tensor layout.
    pub attention_bias: bool,
    /// Config only: per-head Q/K norms (`use_qk_norm`, GLM-4.5), for the tensor layout.
    pub attention_qk_norm: bool,
    /// Config only: full-attention layers take V from the K projection (`attention_k_eq_v`,
    /// Gemma 4), so they have no `attn_v` tensor; the cache still holds K and V.
    pub attention_k_eq_v: bool,
}

/// Architectures headroom models, as llama.cpp names them.
pub const SUPPORTED_ARCHITECTURES: [&str; 28] = [
    "llama",
    "mistral3",
    "qwen2",
    "qwen2moe",
    "qwen3",
    "qwen3moe",
    "qwen3next",
    "qwen35",
    "qwen35moe",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma4",
    "gpt-oss",
    "deepseek2",
    "glm4",
    "glm4moe",
    "phi3",
    "command-r",
    "cohere2",
    "granite",
    "granitehybrid",
    "lfm2",
    "llama4",
    "mamba2",
    "minimax-m2",
    "nemotron_h",
    "nemotron_h_moe",
];

impl ModelSpec {
    /// Builds the spec from GGUF-keyed metadata, reading each key as llama.cpp does for the architecture.
    pub fn from_metadata(metadata: &Metadata) -> Result<ModelSpec, SpecError> {
        let architecture = metadata
            .str_opt("general.architecture")?
            .ok_or_else(|| SpecError::MissingKey {
                key: "general.architecture".to_owned(),
            })?
            .to_owned();
        if !SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
            return Err(SpecError::UnsupportedArchitecture {
                architecture,
                supported: SUPPORTED_ARCHITECTURES.join(", "),
            });
        }
        let arch = architecture.as_str();
        let key = |suffix: &str| format!("{arch}.{suffix}");

        let embedding_length = metadata.u64_required(&key("embedding_length"))?;
        let block_count = metadata.u64_required(&key("block_count"))?;
        if block_count == 0 || block_count > MAX_LAYERS {
            return Err(SpecError::InvalidValue {
                key: key("block_count"),
                reason: format!("{block_count} is outside 1..={MAX_LAYERS}"),
            });
        }
        let context_length_trained = metadata.u64_required(&key("context_length"))?;
        let nextn_layer_count = metadata.u64_opt(&key("nextn_predict_layers"))?.unwrap_or(0);
        if nextn_layer_count >= block_count {
            return Err(SpecError::InvalidValue {
                key: key("nextn_predict_layers"),
                reason: format!("{nextn_layer_count} NextN layers of {block_count} blocks"),
            });
        }
        let layer_count = block_count - nextn_layer_count;

        // llama_model_base::load_hparams: head_count and head_count_kv are per-layer (scalar or array).
        let head_counts = metadata
            .per_layer_opt(&key("attention.head_count"), block_count)?
            .unwrap_or_else(|| vec![0; block_count as usize]);
        let head_count = head_counts.first().copied().unwrap_or(0);
        let kv_head_counts =
            match metadata.per_layer_opt(&key("attention.head_count_kv"), block_count)? {
                Some(values) => values,
                None => head_counts.clone(),
            };
        let feed_forward = metadata
            .per_layer_opt(&key("feed_forward_length"), block_count)?
            .unwrap_or_else(|| vec![0; block_count as usize]);
        // n_embd_head_k defaults to n_embd / n_head (llama_model_base::load_hparams).
        let default_head_dim = embedding_length.checked_div(head_count).unwrap_or(0);
        let key_length = metadata
            .u64_opt(&key("attention.key_length"))?
            .unwrap_or(default_head_dim);
        let value_length = metadata
            .u64_opt(&key("attention.value_length"))?
            .unwrap_or(default_head_dim);
        let key_length_swa = metadata
            .u64_opt(&key("attention.key_length_swa"))?
            .unwrap_or(key_length);
        let value_length_swa = metadata
            .u64_opt(&key("attention.value_length_swa"))?
            .unwrap_or(value_length);

        let vocab_size = match metadata.u64_opt(&key("vocab_size"))? {
            Some(size) => size,
            None => metadata
                .array_length("tokenizer.ggml.tokens")
                .ok_or_else(|| SpecError::MissingKey {
                    key: format!("{arch}.vocab_size (or tokenizer.ggml.tokens)"),
                })?,
        };

        let expert_count = metadata.u64_opt(&key("expert_count"))?.unwrap_or(0);
        let experts = if expert_count > 0 {
            Some(ExpertSpec {
                count: expert_count,
                used: metadata.u64_opt(&key("expert_used_count"))?.unwrap_or(0),
                shared: metadata.u64_opt(&key("expert_shared_count"))?.unwrap_or(0),
                feed_forward_length: metadata
                    .u64_opt(&key("expert_feed_forward_length"))?
                    .unwrap_or(feed_forward.first().copied().unwrap_or(0)),
                shared_feed_forward_length: metadata
                    .u64_opt(&key("expert_shared_feed_forward_length"))?
                    .unwrap_or(0),
                leading_dense_blocks: metadata
                    .u64_opt(&key("leading_dense_block_count"))?
                    .unwrap_or(0),
                latent_size: metadata.u64_opt(&key("moe_latent_size"))?.unwrap_or(0),
            })
        } else {
            None
        };

        // Sliding-window pattern (load_swa_pattern / set_swa_pattern, per arch default period).
        let window = metadata.u64_opt(&key("attention.sliding_window"))?;
        let swa_layers = swa_layers(metadata, arch, layer_count, window)?;

        // Recurrent layers (per-arch rules in src/models/<arch>.cpp).
        let recurrent_layers = recurrent_layers(
            metadata,
            arch,
            block_count,
            layer_count,
            &kv_head_counts,
            &feed_forward,
        )?;
        let recurrent =
            if recurrent_layers.iter().any(|&is_recurrent| is_recurrent) || arch == "mamba2" {
                Some(recurrent_spec(metadata, arch, embedding_length)?)
            } else {
                None
            };

        // MLA: both *_length_mla keys present (llama_hparams::is_mla).
        let key_length_mla = metadata.u64_opt(&key("attention.key_length_mla"))?;
        let value_length_mla = metadata.u64_opt(&key("attention.value_length_mla"))?;
        let mla = match (key_length_mla, value_length_mla) {
            (Some(key_head_dim), Some(value_head_dim)) => Some(MlaSpec {
                query_lora_rank: metadata
                    .u64_opt(&key("attention.q_lora_rank"))?
                    .unwrap_or(0),
                kv_lora_rank: metadata
                    .u64_opt(&key("attention.kv_lora_rank"))?
                    .unwrap_or(0),
                key_head_dim,
                value_head_dim,
                rope_dim: metadata.u64_opt(&key("rope.dimension_count"))?.unwrap_or(0),
            }),
            _ => None,
        };

        // Gemma 3n/4: layers at and beyond block_count - shared_kv_layers reuse earlier KV.
        let shared_kv_layer_count = metadata
            .u64_opt(&key("attention.shared_kv_layers"))?
            .unwrap_or(0);
        let first_shared_layer = layer_count.saturating_sub(shared_kv_layer_count);
        let per_layer_input_length = metadata
            .u64_opt(&key("embedding_length_per_layer_input"))?
            .unwrap_or(0);
        if arch == "gemma4" {
            check_gemma4(
                metadata,
                layer_count,
                shared_kv_layer_count,
                [
                    (key_length, value_length),
                    (key_length_swa, value_length_swa),
                ],
            )?;
        }

        let is_nemotron_h = matches!(arch, "nemotron_h" | "nemotron_h_moe");
        let moe_step = metadata
            .u64_opt(&key("interleave_moe_layer_step"))?
            .unwrap_or(0);
        let mut layers = Vec::with_capacity(layer_count as usize);
        for index in 0..layer_count as usize {
            let is_swa = swa_layers.get(index).copied().unwrap_or(false);
            let is_recurrent = recurrent_layers.get(index).copied().unwrap_or(false);
            let kv_heads = kv_head_counts.get(index).copied().unwrap_or(0);
            let attention = if is_recurrent {
                AttentionKind::Recurrent
            } else if kv_heads == 0
                && (head_counts.get(index).copied().unwrap_or(0) == 0 || is_nemotron_h)
            {
                // Nemotron-H MLP/MoE blocks have no attention (head_count is one scalar there).
                AttentionKind::None
            } else if mla.is_some() {
                AttentionKind::Mla
            } else if is_swa {
                // llama4 hard-codes its chunk to 8192 tokens (src/models/llama4.cpp).
                let window_tokens = if arch == "llama4" {
                    8192
                } else {
                    window.unwrap_or(0)
                };
                if arch == "llama4" {
                    AttentionKind::Chunked {
                        chunk_tokens: window_tokens,
                    }
                } else {
                    AttentionKind::SlidingWindow { window_tokens }
                }
            } else {
                AttentionKind::Full
            };
            let (key_head_dim, value_head_dim) = if is_swa {
                (key_length_swa, value_length_swa)
            } else {
                (key_length, value_length)
            };
            // interleave_moe_layer_step (Llama 4): layer il is MoE iff (il + 1) % step == 0.
            // Nemotron-H: only the MLP blocks (feed_forward_length > 0) hold the experts.
            let has_experts = experts.is_some_and(|spec| index as u64 >= spec.leading_dense_blocks)
                && (!is_nemotron_h || feed_forward.get(index).copied().unwrap_or(0) > 0)
                && arch != "lfm2"
                && (moe_step == 0 || (index as u64 + 1).is_multiple_of(moe_step));
            let has_kv = matches!(
                attention,
                AttentionKind::Full
                    | AttentionKind::SlidingWindow { .. }
                    | AttentionKind::Chunked { .. }
                    | AttentionKind::Mla
            ) && (index as u64) < first_shared_layer
                && kv_heads > 0;
            layers.push(LayerSpec {
                attention,
                query_heads: head_counts.get(index).copied().unwrap_or(0),
                kv_heads,
                key_head_dim,
                value_head_dim,
                feed_forward_length: feed_forward.get(index).copied().unwrap_or(0),
                has_experts,
                has_kv,
            });
        }

        let rope = RopeSpec {
            freq_base: metadata.f64_opt(&key("rope.freq_base"))?,
            dimension_count: metadata.u64_opt(&key("rope.dimension_count"))?,
            scaling_type: metadata
                .str_opt(&key("rope.scaling.type"))?
                .map(str::to_owned),
            scaling_factor: metadata.f64_opt(&key("rope.scaling.factor"))?,
            original_context_length: metadata
                .u64_opt(&key("rope.scaling.original_context_length"))?,
        };
        let file_type = metadata
            .u64_opt("general.file_type")?
            .and_then(FileType::from_gguf_id);
        // llama.cpp src/models/deepseek2.cpp: a deepseek2 file without the key gates with softmax,
        // except GLM-4.7-Flash (47 or 48 blocks, 154,880 tokens), which gates with sigmoid.
        let expert_gating_sigmoid = match metadata.u64_opt(&key("expert_gating_func"))? {
            Some(function) => function == 2,
            None => arch == "deepseek2" && matches!(block_count, 47 | 48) && vocab_size == 154_880,
        };
        let sliding_window_tokens = if swa_layers.iter().any(|&is_swa| is_swa) {
            if arch == "llama4" { Some(8192) } else { window }
        } else {
            None
        };

        Ok(ModelSpec {
            architecture,
            name: metadata.str_opt("general.name")?.map(str::to_owned),
            embedding_length,
            head_count,
            layers,
            nextn_layer_count,
            shared_kv_layer_count,
            per_layer_input_length,
            experts,
            mla,
            recurrent,
            vocab_size,
            context_length_trained,
            sliding_window_tokens,
            rope,
            tied_embeddings: None,
            file_type,
            parameters: None,
            expert_gating_sigmoid,
            attention_bias: false,
            attention_qk_norm: false,
            attention_k_eq_v: false,
        })
    }

    /// Builds the spec from a Hugging Face `config.json`, through the GGUF keys convert_hf_to_gguf writes.
    pub fn from_config(config: &serde_json::Value) -> Result<ModelSpec, SpecError> {
        let converted = metadata_from_config(config)?;
        let mut spec = ModelSpec::from_metadata(&converted.metadata)?;
        spec.tied_embeddings = Some(converted.tied_embeddings);
        spec.attention_bias = converted.attention_bias;
        spec.attention_qk_norm = converted.attention_qk_norm;
        spec.attention_k_eq_v = converted.attention_k_eq_v;
        if converted.llama3_rope {
            spec.rope.scaling_type = Some("llama3".to_owned());
        }
        Ok(spec)
    }

    /// Whether `context_length` is the 2^20 that convert_hf_to_gguf writes for models without
    /// RoPE whatever window they were trained for (conversion/mamba.py, rwkv.py, and granite.py
    /// for hybrids without RoPE, which Nemotron-H inherits), rather than a trained window.
    /// llama.cpp still uses it as the context when none is given (`n_ctx = 0`).
    pub fn context_is_converter_placeholder(&self) -> bool {
        self.context_length_trained == 1 << 20
            && matches!(
                self.architecture.as_str(),
                "mamba"
                    | "mamba2"
                    | "granitehybrid"
                    | "nemotron_h"
                    | "nemotron_h_moe"
                    | "rwkv6"
                    | "rwkv6qwen2"
                    | "rwkv7"
                    | "arwkv7"
            )
    }

    /// Number of main layers (`n_layer`, NextN excluded).
    pub fn layer_count(&self) -> u64 {
        self.layers.len() as u64
    }

    /// Total blocks in the file (`block_count`, NextN included).
    pub fn block_count(&self) -> u64 {
        self.layer_count() + self.nextn_layer_count
    }

    /// KV-cache elements per token over the full-attention layers (K + V), for a quick per-token figure.
    pub fn full_attention_kv_elements_per_token(&self) -> u64 {
        self.layers
            .iter()
            .filter(|layer| {
                layer.has_kv && matches!(layer.attention, AttentionKind::Full | AttentionKind::Mla)
            })
            .map(|layer| layer.key_width() + layer.value_width())
            .sum()
    }
}

/// Which main layers use sliding-window (or chunked) attention.
fn swa_layers(
    metadata: &Metadata,
    arch: &str,
    layer_count: u64,
    window: Option<u64>,
) -> Result<Vec<bool>, SpecError> {
    let pattern_key = format!("{arch}.attention.sliding_window_pattern");
    // (default period, dense_first) per arch; None = no SWA unless an explicit bool array says so.
    let default_period: Option<u64> = match arch {
        "gemma2" => Some(2),
        // gemma3: SWA only when sliding_window is present and > 0 (src/models/gemma3.cpp).
        "gemma3" if window.unwrap_or(0) > 0 => Some(6),
        "gpt-oss" => Some(2),
        "cohere2" => Some(4),
        // llama4: chunked attention (n_swa forced to 8192) on 3 of every 4 layers unless the
        // GGUF sets sliding_window = 0 (src/models/llama4.cpp).
        "llama4" if window != Some(0) => Some(4),
        // lfm2: every attention layer is SWA when sliding_window > 0 (src/models/lfm2.cpp).
        "lfm2" if window.unwrap_or(0) > 0 => Some(0),
        // phi3: SWA deliberately disabled even when the GGUF has a window (src/models/phi3.cpp).
        _ => None,
    };
    let count = layer_count as usize;
    if arch == "gemma4" {
        return gemma4_swa_layers(metadata, &pattern_key, count);
    }
    if let Some(MetadataValue::BoolArray(values)) = metadata.get(&pattern_key)
        && (default_period.is_some() || arch == "granite")
    {
        {
            let mut pattern = values.clone();
            pattern.resize(count, false);
            return Ok(pattern);
        }
    }
    let Some(default) = default_period else {
        return Ok(vec![false; count]);
    };
    let period = metadata.u64_opt(&pattern_key)?.unwrap_or(default);
    Ok((0..layer_count)
        .map(|index| period == 0 || index % period < period - 1)
        .collect())
}

/// Gemma 4 reads its per-layer pattern with a required `get_arr` (src/models/gemma4.cpp), which
/// takes bool or integer arrays (nonzero = sliding) of at most `LLAMA_MAX_LAYERS` entries
/// (src/llama-model-loader.cpp); layers beyond the array are full attention.
fn gemma4_swa_layers(
    metadata: &Metadata,
    pattern_key: &str,
    count: usize,
) -> Result<Vec<bool>, SpecError> {
    /// `LLAMA_MAX_LAYERS` (src/llama-hparams.h).
    const MAX_PATTERN_ENTRIES: usize = 512;
    let mut pattern: Vec<bool> = match metadata.get(pattern_key) {
        Some(MetadataValue::BoolArray(values)) => values.clone(),
        Some(MetadataValue::IntegerArray(values)) => {
            values.iter().map(|&value| value != 0).collect()
        }
        _ => {
            return Err(SpecError::MissingKey {
                key: format!("{pattern_key} (a per-layer array)"),
            });
        }
    };
    if pattern.len() > MAX_PATTERN_ENTRIES {
        return Err(SpecError::InvalidValue {
            key: pattern_key.to_owned(),
            reason: format!(
                "{} entries; llama.cpp accepts at most {MAX_PATTERN_ENTRIES}",
                pattern.len()
            ),
        });
    }
    pattern.resize(count, false);
    Ok(pattern)
}

/// What llama.cpp refuses when it loads a Gemma 4 model (`llama_model_gemma4::load_arch_hparams`
/// and `load_arch_tensors`, src/models/gemma4.cpp; the KV reuse callback in
/// `llama_model::create_memory`).
fn check_gemma4(
    metadata: &Metadata,
    layer_count: u64,
    shared_kv_layer_count: u64,
    head_widths: [(u64, u64); 2],
) -> Result<(), SpecError> {
    for suffix in [
        "attention.sliding_window",
        "embedding_length_per_layer_input",
        "attention.key_length_swa",
        "attention.value_length_swa",
        "attention.layer_norm_rms_epsilon",
    ] {
        if metadata.get(&format!("gemma4.{suffix}")).is_none() {
            return Err(SpecError::MissingKey {
                key: format!("gemma4.{suffix}"),
            });
        }
    }
    for ((key_length, value_length), value_key) in head_widths.into_iter().zip([
        "gemma4.attention.value_length",
        "gemma4.attention.value_length_swa",
    ]) {
        if key_length != value_length {
            return Err(SpecError::InvalidValue {
                key: value_key.to_owned(),
                reason: format!(
                    "{value_length} differs from the K head width {key_length}; Gemma 4 needs equal K and V head widths"
                ),
            });
        }
    }
    // The KV reuse callback asserts n_layer_kv_from_start >= 2.
    if layer_count.saturating_sub(shared_kv_layer_count) < 2 {
        return Err(SpecError::InvalidValue {
            key: "gemma4.attention.shared_kv_layers".to_owned(),
            reason: format!(
                "{shared_kv_layer_count} shared of {layer_count} layers leaves fewer than 2 layers with their own KV"
            ),
        });
    }
    Ok(())
}

/// Which main layers are recurrent.
fn recurrent_layers(
    metadata: &Metadata,
    arch: &str,
    block_count: u64,
    layer_count: u64,
    kv_head_counts: &[u64],
    feed_forward: &[u64],
) -> Result<Vec<bool>, SpecError> {
    let count = layer_count as usize;
    Ok(match arch {
        // Gated delta net hybrids (src/models/qwen3next.cpp, qwen35.cpp, qwen35moe.cpp):
        // `attention.recurrent_layers` (one flag, or one per block NextN included) when present,
        // else layer il < n_layer is recurrent iff (il + 1) % full_attention_interval != 0.
        "qwen3next" | "qwen35" | "qwen35moe" => {
            let flags_key = format!("{arch}.attention.recurrent_layers");
            match recurrent_flags(metadata, &flags_key, block_count)? {
                Some(mut flags) => {
                    flags.truncate(count);
                    flags
                }
                None => {
                    let interval_key = format!("{arch}.full_attention_interval");
                    let interval = metadata.u64_opt(&interval_key)?.unwrap_or(4);
                    if interval == 0 {
                        return Err(SpecError::InvalidValue {
                            key: interval_key,
                            reason: "0 (llama.cpp divides by it)".to_owned(),
                        });
                    }
                    (0..layer_count)
                        .map(|index| (index + 1) % interval != 0)
                        .collect()
                }
            }
        }
        // nemotron_h(_moe): recurrent iff head_count_kv and feed_forward_length are both 0
        // (src/models/nemotron-h.cpp load_arch_hparams).
        "nemotron_h" | "nemotron_h_moe" => kv_head_counts
            .iter()
            .zip(feed_forward)
            .take(count)
            .map(|(&heads, &width)| heads == 0 && width == 0)
            .collect(),
        // lfm2 and granitehybrid: a layer is recurrent iff its head_count_kv is 0.
        "lfm2" | "granitehybrid" => kv_head_counts
            .iter()
            .take(count)
            .map(|&heads| heads == 0)
            .collect(),
        "mamba2" => vec![true; count],
        _ => vec![false; count],
    })
}

/// A per-block flag as `llama_model_loader::get_key_or_arr` reads it into `is_recr_impl`: one
/// bool or integer for every block, or an array (bool or integer) of exactly `block_count`.
fn recurrent_flags(
    metadata: &Metadata,
    key: &str,
    block_count: u64,
) -> Result<Option<Vec<bool>>, SpecError> {
    let flags = match metadata.get(key) {
        None => return Ok(None),
        Some(MetadataValue::Bool(flag)) => vec![*flag; block_count as usize],
        Some(MetadataValue::Integer(value)) => vec![*value != 0; block_count as usize],
        Some(MetadataValue::BoolArray(values)) => values.clone(),
        Some(MetadataValue::IntegerArray(values)) => {
            values.iter().map(|&value| value != 0).collect()
        }
        Some(other) => {
            return Err(SpecError::TypeMismatch {
                key: key.to_owned(),
                expected: "bool, integer or an array of them",
                found: other.type_name(),
            });
        }
    };
    if flags.len() as u64 != block_count {
        return Err(SpecError::LayerArrayLength {
            key: key.to_owned(),
            expected: block_count,
            found: flags.len() as u64,
        });
    }
    Ok(Some(flags))
}

/// Recurrent state widths (`llama_hparams::n_embd_r` / `n_embd_s`).
fn recurrent_spec(
    metadata: &Metadata,
    arch: &str,
    embedding_length: u64,
) -> Result<RecurrentSpec, SpecError> {
    let key = |suffix: &str| format!("{arch}.{suffix}");
    let conv_kernel = metadata.u64_opt(&key("ssm.conv_kernel"))?.unwrap_or(0);
    let inner_size = metadata.u64_opt(&key("ssm.inner_size"))?.unwrap_or(0);
    let state_size = metadata.u64_opt(&key("ssm.state_size"))?.unwrap_or(0);
    let group_count = metadata.u64_opt(&key("ssm.group_count"))?.unwrap_or(0);
    let time_step_rank = metadata.u64_opt(&key("ssm.time_step_rank"))?.unwrap_or(0);
    let short_conv_cache = metadata.u64_opt(&key("shortconv.l_cache"))?.unwrap_or(0);
    let rwkv_head_size = metadata.u64_opt(&key("wkv.head_size"))?.unwrap_or(0);
    let token_shift_count = metadata.u64_opt(&key("token_shift_count"))?.unwrap_or(2);
    let (conv_state_width, ssm_state_width) = if rwkv_head_size != 0 {
        (
            token_shift_count * embedding_length,
            embedding_length * rwkv_head_size,
        )
    } else if short_conv_cache != 0 {
        (
            embedding_length * short_conv_cache.saturating_sub(1),
            state_size * inner_size,
        )
    } else {
        (
            conv_kernel.saturating_sub(1) * (inner_size + 2 * group_count * state_size),
            state_size * inner_size,
        )
    };
    Ok(RecurrentSpec {
        conv_kernel,
        inner_size,
        state_size,
        group_count,
        time_step_rank,
        short_conv_cache,
        rwkv_head_size,
        token_shift_count,
        conv_state_width,
        ssm_state_width,
    })
}
