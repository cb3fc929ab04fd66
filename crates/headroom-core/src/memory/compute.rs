//! The compute (graph scratch) buffer and the output buffer.
//!
//! llama.cpp sizes the compute buffer by planning the worst-case prompt graph with ggml's
//! allocator (`llama_context::sched_reserve` / `graph_reserve`, `src/llama-graph.cpp`): there is
//! no closed formula, so this is a model of the dominant live tensors, calibrated on the CPU-backend
//! truth table (../shared/truth/llamacpp-memory.csv):
//!
//! * the attention masks live for the whole graph: `[cells, n_ubatch]`, f16 with flash attention
//!   and f32 without, one per cache (full and SWA);
//! * on top of them the peak is the largest of three phases:
//!   * a layer's FFN: `4·n_ubatch·(3·n_ff + 5·n_embd)`; for a MoE layer `3·n_ff` becomes
//!     `max(3·n_used·n_ff_exp, 2·n_used·n_embd + n_embd)` (gate/up/product, or the per-expert
//!     down outputs and their weighted copy);
//!   * the output: logits `4·n_outputs·n_vocab` plus `20·n_ubatch·n_embd`, where
//!     `n_outputs = min(n_outputs_max, n_ubatch)` (llama-server: n_parallel; llama-fit-params and
//!     llama-bench: n_batch). When the logits fit in the freed full-attention mask block, ggml's
//!     best-fit allocator puts them there and they add nothing;
//!   * without flash attention, the attention scores `KQ = 4·cells·n_ubatch·n_head` plus
//!     `4·n_ubatch·(3·n_embd + 3·q_width + 2·kv_width)` (+ `2·n_embd` for Gemma's post-norms).
//!
//! Fitted this way every truth row is within 5% (see tests/truth.rs), and llama-server's own
//! reservation for gpt-oss, DeepSeek-V2-Lite, Qwen2.5, Gemma 2, LFM2, Mistral Small and
//! Qwen3-Next model-shaped files was reproduced within a few percent (tests/llama_cpp.rs). CUDA and Metal reserve
//! different temporaries, so the figure is labelled approximate for GPU backends.

use crate::spec::{AttentionKind, ModelSpec};

use super::ContextSettings;
use super::kv::CacheLayout;

/// Compute-buffer bytes for the worst-case prompt graph (CPU backend model; approximate elsewhere).
pub fn compute_bytes(spec: &ModelSpec, settings: &ContextSettings, layout: &CacheLayout) -> u64 {
    let tokens = layout.ubatch_tokens;
    let outputs = settings.outputs_max.min(tokens).max(1);
    let embedding = spec.embedding_length;
    let mask_element_bytes = if settings.flash_attention { 2 } else { 4 };
    let has_full = spec.layers.iter().any(|layer| {
        layer.has_kv && matches!(layer.attention, AttentionKind::Full | AttentionKind::Mla)
    });
    let has_swa = layout.swa_cells_per_stream > 0;
    let full_mask = if has_full {
        mask_element_bytes * layout.cells_per_stream * tokens
    } else {
        0
    };
    let swa_mask = if has_swa {
        mask_element_bytes * layout.swa_cells_per_stream * tokens
    } else {
        0
    };

    // FFN phase: the widest layer. Nemotron-H's MLPs and experts have no gate (squared ReLU:
    // up, then relu and its square), so two rows of the FFN width are live, not three.
    let ffn_rows = if matches!(spec.architecture.as_str(), "nemotron_h" | "nemotron_h_moe") {
        2
    } else {
        3
    };
    let ffn_elements = spec
        .layers
        .iter()
        .map(|layer| match (layer.has_experts, spec.experts) {
            (true, Some(experts)) => {
                // build_moe_ffn: either up, gate and the activated product ([n_ff_exp, n_used]
                // each) are live, or the per-expert down outputs and their weighted copy
                // ([n_embd, n_used] each, the latent width for LatentMoE) plus one such row.
                let used = experts.used;
                let expert_embedding = if experts.latent_size > 0 {
                    experts.latent_size
                } else {
                    embedding
                };
                (ffn_rows * used * experts.feed_forward_length)
                    .max(2 * used * expert_embedding + expert_embedding)
            }
            _ => ffn_rows * layer.feed_forward_length,
        })
        .max()
        .unwrap_or(0);
    let layer_phase = 4 * tokens * (ffn_elements + 5 * embedding);

    let logits = 4 * outputs * spec.vocab_size;
    let output_rest = 20 * tokens * embedding;
    let output_phase = if logits <= full_mask.max(swa_mask) {
        output_rest
    } else {
        logits + output_rest
    };

    let attention_phase = if settings.flash_attention {
        0
    } else {
        let widest_cells = if has_full {
            layout.cells_per_stream
        } else {
            layout.swa_cells_per_stream
        };
        let (query_width, kv_width) = spec
            .layers
            .iter()
            .filter(|layer| layer.has_kv)
            .map(|layer| (layer.query_heads * layer.key_head_dim, layer.key_width()))
            .max()
            .unwrap_or((0, 0));
        let post_norms = if matches!(spec.architecture.as_str(), "gemma2" | "gemma3" | "gemma4") {
            2 * embedding
        } else {
            0
        };
        4 * widest_cells * tokens * spec.head_count
            + 4 * tokens * (3 * embedding + 3 * query_width + 2 * kv_width + post_norms)
    };
    full_mask + swa_mask + layer_phase.max(output_phase).max(attention_phase)
}

/// Host output buffer: logits for `max(n_outputs, n_seq_max)` rows, f32
/// (`llama_context::output_reserve`, reserved for n_seq_max rows at context creation).
pub fn output_bytes(spec: &ModelSpec, settings: &ContextSettings) -> u64 {
    4 * spec.vocab_size * settings.parallel_sequences.max(1)
}
