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
//!   * a layer: five `n_embd` rows (embedding inputs, residual stream, norm, and a hole the
//!     allocator leaves) plus the layer's own temporaries as ggml's best-fit allocator places
//!     them: `3·n_ff` for a gated FFN; for a MoE layer `3·n_used·n_ff_exp`, plus the down outputs
//!     `n_used·n_embd` when they do not fit the freed up/gate block (without a gate, Nemotron-H:
//!     up and the down outputs); for a Mamba-2 layer the input projection, the convolution input
//!     and output, and the scan output when it does not fit the convolution input's block;
//!   * the output: logits `4·n_outputs·n_vocab` plus `20·n_ubatch·n_embd`, where
//!     `n_outputs = min(n_outputs_max, n_ubatch)` (llama-server: n_parallel; llama-fit-params and
//!     llama-bench: n_batch). When the logits fit in the freed full-attention mask block, ggml's
//!     best-fit allocator puts them there and they add nothing;
//!   * without flash attention, the attention scores `KQ = 4·cells·n_ubatch·n_head` plus
//!     `4·n_ubatch·(3·n_embd + 3·q_width + 2·kv_width)` (+ `2·n_embd` for Gemma's post-norms).
//!
//! The layer phase was read off llama.cpp's allocator with `GGML_ALLOCATOR_DEBUG` (sdist
//! 11434.0.0, n_outputs_max = 1, ctx 8192, flash attention): it reproduces llama-server's
//! reservation to 0.03 MiB for MiniMax-M2.5, Nemotron 3 Nano and Super, Nemotron-H 56B,
//! Gemma 4 26B-A4B and 31B, GLM-4.5-Air, Qwen3.5, Qwen3-Coder, gpt-oss, Mixtral, DeepSeek-V2-Lite,
//! Qwen2.5, Gemma 2, LFM2 and Mistral Small (Qwen3-Next −2%, Llama 4 −8%: its experts see a
//! repeated input, not modelled). Every truth row is within 5% (see tests/truth.rs). CUDA and
//! Metal reserve different temporaries, so the figure is labelled approximate for GPU backends.

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

    // Layer phase: the residual stream, its norm and the embedding inputs (five `n_embd` rows,
    // one of them a hole the allocator left) under the widest layer's own temporaries.
    let layer_peak = spec
        .layers
        .iter()
        .map(|layer| layer_peak_bytes(spec, settings, layer, tokens))
        .max()
        .unwrap_or(0);
    let layer_phase = 4 * tokens * 5 * embedding + layer_peak;

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

/// Whether the FFN has no gate: Nemotron-H's MLPs and experts use squared ReLU on `up` alone.
fn ffn_has_gate(spec: &ModelSpec) -> bool {
    !matches!(spec.architecture.as_str(), "nemotron_h" | "nemotron_h_moe")
}

/// Bytes of one layer's temporaries at its peak, above the residual stream, for a ubatch of
/// `tokens`, as ggml's allocator places them (`ggml/src/ggml-alloc.c`): each new tensor takes the
/// best-fitting freed block, else the end of the buffer; unary ops, `SQR`, `ADD` and `MUL` reuse
/// their single-use input in place, so the peak is what is live, holes included, when the
/// layer's last large tensor lands.
fn layer_peak_bytes(
    spec: &ModelSpec,
    settings: &ContextSettings,
    layer: &crate::spec::LayerSpec,
    tokens: u64,
) -> u64 {
    if layer.attention == AttentionKind::Recurrent
        && matches!(spec.architecture.as_str(), "nemotron_h" | "nemotron_h_moe")
        && let Some(recurrent) = &spec.recurrent
    {
        return mamba2_peak_bytes(recurrent, settings, tokens);
    }
    // Other recurrent layers keep their former budget: none beyond the FFN width.
    4 * tokens * ffn_width_elements(spec, layer)
}

/// Per-token f32 elements live at a layer's FFN peak (`build_ffn`, `build_moe_ffn`).
fn ffn_width_elements(spec: &ModelSpec, layer: &crate::spec::LayerSpec) -> u64 {
    let embedding = spec.embedding_length;
    let gated = ffn_has_gate(spec);
    match (layer.has_experts, spec.experts) {
        (true, Some(experts)) => {
            // F: one `[n_ff_exp, n_used]` row; E: the down outputs `[n_embd, n_used]` (the
            // latent width for LatentMoE), which the weighting `MUL` then overwrites in place.
            let expert_embedding = if experts.latent_size > 0 {
                experts.latent_size
            } else {
                embedding
            };
            let activated = experts.used * experts.feed_forward_length;
            let down = experts.used * expert_embedding;
            if gated {
                // up and gate (or the merged gate_up), then the GLU output at the end; up and
                // gate are freed before the down matmul allocates, so E lands in their 2F
                // block when it fits, and after the GLU output when it does not.
                3 * activated + if down > 2 * activated { down } else { 0 }
            } else {
                // up, with relu and its square in place, is the down matmul's input: both live.
                activated + down
            }
        }
        _ if layer.feed_forward_length == 0 => 0,
        // Dense: up, gate and the GLU output; down (n_embd) lands in the freed up/gate block.
        _ if gated => 3 * layer.feed_forward_length,
        _ => layer.feed_forward_length + embedding,
    }
}

/// A Mamba-2 layer's peak (`llm_build_mamba_base::build_mamba2_layer`): the input projection
/// `zxBCdt` `[2·d_inner + 2·n_group·d_state + n_head, T]` stays live (z and dt are views of it),
/// the convolution input `conv_x` `[d_conv − 1 + T/n_seqs, d_xBC, n_seqs]` and its output `xBC`
/// `[d_xBC, T]` follow; then `ssm_scan` writes y and the final states
/// (`T·d_inner + K·d_state·d_inner·n_seqs`), in conv_x's freed block when it fits, else at the end.
fn mamba2_peak_bytes(
    recurrent: &crate::spec::RecurrentSpec,
    settings: &ContextSettings,
    tokens: u64,
) -> u64 {
    let sequences = settings.parallel_sequences.max(1);
    let inner = recurrent.inner_size;
    let group_state = 2 * recurrent.group_count * recurrent.state_size;
    let projection = 2 * inner + group_state + recurrent.time_step_rank;
    let conv_width = inner + group_state;
    let conv_input =
        4 * conv_width * (tokens + sequences * recurrent.conv_kernel.saturating_sub(1));
    let snapshots = 1 + settings.rollback_snapshots;
    let scan = 4 * (tokens * inner + snapshots * recurrent.state_size * inner * sequences);
    4 * tokens * (projection + conv_width) + conv_input + if scan > conv_input { scan } else { 0 }
}

/// Host output buffer: logits for `max(n_outputs, n_seq_max)` rows, f32
/// (`llama_context::output_reserve`, reserved for n_seq_max rows at context creation).
pub fn output_bytes(spec: &ModelSpec, settings: &ContextSettings) -> u64 {
    4 * spec.vocab_size * settings.parallel_sequences.max(1)
}
