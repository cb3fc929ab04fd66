//! KV cache and recurrent state, exactly as llama.cpp allocates them: `src/llama-context.cpp`
//! (context padding, streams), `src/llama-kv-cache.cpp` (per-layer K/V rows, V padding without
//! flash attention), `src/llama-kv-cache-iswa.cpp` (sliding-window cell count) and
//! `src/llama-memory-recurrent.cpp` (f32 state rows ∝ sequences, not context).

use crate::quant::TensorType;
use crate::spec::{AttentionKind, ModelSpec};

use super::{ContextSettings, MemoryError};

/// llama.cpp pads the context to a multiple of 256 (`GGML_PAD(n_ctx, 256)` in llama-context.cpp, PR 17046),
/// and the SWA cache likewise ("SWA cache is always padded to 256", llama.cpp issue 17037).
pub const CONTEXT_PADDING_TOKENS: u64 = 256;

/// Rounds up to the 256-token padding.
pub fn pad_context(tokens: u64) -> u64 {
    tokens
        .div_ceil(CONTEXT_PADDING_TOKENS)
        .saturating_mul(CONTEXT_PADDING_TOKENS)
}

/// How the context is laid out in cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CacheLayout {
    /// `n_ctx` after padding (total over streams).
    pub context_tokens: u64,
    /// `n_ctx_seq`: cells per stream of the full-attention cache.
    pub cells_per_stream: u64,
    /// Streams (1 when unified, else one per sequence).
    pub streams: u64,
    /// Cells per stream of the sliding-window cache (0 without SWA layers).
    pub swa_cells_per_stream: u64,
    /// Tokens in the worst-case micro-batch (`min(n_ctx, n_ubatch)`).
    pub ubatch_tokens: u64,
}

/// KV cache and recurrent state sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct KvBreakdown {
    /// Cell layout.
    pub layout: CacheLayout,
    /// Layers in the full-context cache.
    pub full_layers: u64,
    /// Layers in the sliding-window cache.
    pub swa_layers: u64,
    /// Recurrent layers.
    pub recurrent_layers: u64,
    /// K bytes of the full-context cache.
    pub key_bytes: u64,
    /// V bytes of the full-context cache.
    pub value_bytes: u64,
    /// K bytes of the SWA cache.
    pub swa_key_bytes: u64,
    /// V bytes of the SWA cache.
    pub swa_value_bytes: u64,
    /// Recurrent state bytes (conv + SSM rows, f32).
    pub recurrent_bytes: u64,
    /// Attention KV bytes of layers offloaded to the GPU (KV lives on its layer's device).
    pub attention_gpu_bytes: u64,
    /// Recurrent state bytes of layers offloaded to the GPU.
    pub recurrent_gpu_bytes: u64,
}

impl KvBreakdown {
    /// Attention KV bytes (full + SWA).
    pub fn attention_bytes(&self) -> u64 {
        self.key_bytes + self.value_bytes + self.swa_key_bytes + self.swa_value_bytes
    }

    /// Everything the memory module allocates (what llama.cpp reports as "context").
    pub fn total_bytes(&self) -> u64 {
        self.attention_bytes() + self.recurrent_bytes
    }

    /// Attention KV bytes per cell of the full-context cache, all layers (the "per token" figure).
    pub fn full_bytes_per_cell(&self) -> u64 {
        let cells = self.layout.cells_per_stream * self.layout.streams;
        (self.key_bytes + self.value_bytes)
            .checked_div(cells)
            .unwrap_or(0)
    }
}

/// Cache layout for a model and settings.
pub fn layout(spec: &ModelSpec, settings: &ContextSettings) -> CacheLayout {
    let requested = if settings.context_tokens == 0 {
        // n_ctx = 0 means the trained context (llama-context.cpp).
        spec.context_length_trained
    } else {
        settings.context_tokens
    };
    let mut context_tokens = pad_context(requested.max(1));
    let sequences = settings.parallel_sequences.max(1);
    let (streams, cells_per_stream) = if settings.kv_unified {
        (1, context_tokens)
    } else {
        let per_stream = pad_context((context_tokens / sequences).max(1));
        context_tokens = per_stream * sequences;
        (sequences, per_stream)
    };
    let ubatch_tokens = context_tokens
        .min(settings.batch_tokens)
        .min(settings.ubatch_tokens)
        .max(1);
    let window = spec
        .layers
        .iter()
        .filter(|layer| layer.has_kv)
        .filter_map(|layer| match layer.attention {
            AttentionKind::SlidingWindow { window_tokens } => Some(window_tokens),
            AttentionKind::Chunked { chunk_tokens } => Some(chunk_tokens),
            _ => None,
        })
        .max();
    let swa_cells_per_stream = match window {
        None => 0,
        Some(_) if settings.swa_full => cells_per_stream,
        Some(window) => {
            let sequences_sharing = if settings.kv_unified { sequences } else { 1 };
            pad_context(cells_per_stream.min(window * sequences_sharing + ubatch_tokens))
        }
    };
    CacheLayout {
        context_tokens,
        cells_per_stream,
        streams,
        swa_cells_per_stream,
        ubatch_tokens,
    }
}

fn row_bytes(tensor_type: TensorType, width: u64) -> Result<u64, MemoryError> {
    tensor_type
        .row_bytes(width)
        .ok_or(MemoryError::UnalignedCacheRow { tensor_type, width })
}

/// KV cache and recurrent state bytes. Layers at or above `first_gpu_layer` are offloaded
/// (their cache lives on the GPU).
pub fn kv_breakdown(
    spec: &ModelSpec,
    settings: &ContextSettings,
    layout: CacheLayout,
    first_gpu_layer: u64,
) -> Result<KvBreakdown, MemoryError> {
    let is_swa = |attention: AttentionKind| {
        matches!(
            attention,
            AttentionKind::SlidingWindow { .. } | AttentionKind::Chunked { .. }
        )
    };
    // Without flash attention V is stored transposed and every layer's V is padded to the widest
    // V of the model, `n_embd_v_gqa_max()` over all layers, in the full and the SWA cache alike
    // (llama-kv-cache.cpp, "padding V cache to N"; Gemma 4's full layers have narrower V).
    let widest_value = spec
        .layers
        .iter()
        .map(|layer| layer.value_width())
        .max()
        .unwrap_or(0);
    let mut breakdown = KvBreakdown {
        layout,
        full_layers: 0,
        swa_layers: 0,
        recurrent_layers: 0,
        key_bytes: 0,
        value_bytes: 0,
        swa_key_bytes: 0,
        swa_value_bytes: 0,
        recurrent_bytes: 0,
        attention_gpu_bytes: 0,
        recurrent_gpu_bytes: 0,
    };
    let mut recurrent_gpu_layers = 0;
    for (index, layer) in spec.layers.iter().enumerate() {
        let on_gpu = index as u64 >= first_gpu_layer;
        if layer.attention == AttentionKind::Recurrent {
            breakdown.recurrent_layers += 1;
            recurrent_gpu_layers += u64::from(on_gpu);
            continue;
        }
        if !layer.has_kv {
            continue;
        }
        let swa = is_swa(layer.attention);
        let cells = if swa {
            layout.swa_cells_per_stream
        } else {
            layout.cells_per_stream
        } * layout.streams;
        let value_width = if layer.value_width() == 0 {
            0
        } else if settings.flash_attention {
            layer.value_width()
        } else {
            widest_value
        };
        let key = row_bytes(settings.key_type, layer.key_width())? * cells;
        let value = if value_width == 0 {
            0
        } else {
            row_bytes(settings.value_type, value_width)? * cells
        };
        if on_gpu {
            breakdown.attention_gpu_bytes += key + value;
        }
        if swa {
            breakdown.swa_layers += 1;
            breakdown.swa_key_bytes += key;
            breakdown.swa_value_bytes += value;
        } else {
            breakdown.full_layers += 1;
            breakdown.key_bytes += key;
            breakdown.value_bytes += value;
        }
    }
    if let Some(recurrent) = spec.recurrent {
        // rows = max(1, n_seq_max) * (1 + n_rs_seq); R and S are f32 (llama-memory-recurrent.cpp).
        let rows = settings.parallel_sequences.max(1) * (1 + settings.rollback_snapshots);
        let per_layer = 4 * (recurrent.conv_state_width + recurrent.ssm_state_width) * rows;
        breakdown.recurrent_bytes = per_layer * breakdown.recurrent_layers;
        breakdown.recurrent_gpu_bytes = per_layer * recurrent_gpu_layers;
    }
    Ok(breakdown)
}
