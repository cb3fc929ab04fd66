//! Property tests: memory never falls as context, parallel slots or KV precision rise.
//!
//! One real non-monotonicity of llama.cpp is modelled on purpose: once the f16 attention mask
//! grows past the logits buffer, ggml's best-fit allocator places the logits in the freed mask
//! block and the compute buffer drops by up to the logits size (truth rows llama-3.1-8b fitp,
//! 131072 → 262144 tokens: 438.8 → 398.5 MB). Totals are therefore checked with that allowance;
//! the KV cache is checked exactly.

#[cfg(test)]
mod common;

use headroom_core::memory::{ContextSettings, estimate};
use headroom_core::quant::TensorType;
use proptest::prelude::*;

/// KV types in rising precision (bytes per element: 0.5625, 0.625, 0.6875, 0.75, 1.0625, 2, 4).
const RISING_PRECISION: [TensorType; 7] = [
    TensorType::Q4_0,
    TensorType::Q4_1,
    TensorType::Q5_0,
    TensorType::Q5_1,
    TensorType::Q8_0,
    TensorType::F16,
    TensorType::F32,
];

const MODELS: [&str; 4] = [
    "llama-3.1-8b",
    "qwen3-8b",
    "gemma-3-12b",
    "qwen3-coder-30b-a3b",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn memory_never_falls_as_context_rises(
        model in 0usize..4,
        context in 1u64..300_000,
        extra in 1u64..100_000,
        parallel in 1u64..8,
        unified in any::<bool>(),
        flash in any::<bool>(),
    ) {
        let (spec, weights) = common::model_from_config(MODELS[model], "Q4_K_M");
        let mut settings = ContextSettings::llama_server(context, Some(parallel));
        settings.kv_unified = unified;
        settings.flash_attention = flash;
        let smaller = estimate(&spec, &weights, &settings, None).unwrap();
        let larger = estimate(&spec, &weights, &ContextSettings { context_tokens: context + extra, ..settings }, None).unwrap();
        prop_assert!(larger.kv.total_bytes() >= smaller.kv.total_bytes());
        let logits_allowance = 4 * spec.vocab_size * settings.outputs_max.min(settings.ubatch_tokens);
        prop_assert!(larger.total_bytes() + logits_allowance >= smaller.total_bytes());
    }

    #[test]
    fn memory_never_falls_as_ollama_slots_rise(
        model in 0usize..4,
        num_ctx in 256u64..140_000,
        parallel in 1u64..8,
        flash in any::<bool>(),
    ) {
        let (spec, weights) = common::model_from_config(MODELS[model], "Q4_K_M");
        let mut fewer = ContextSettings::ollama(num_ctx, parallel, 512);
        fewer.flash_attention = flash;
        let mut more = ContextSettings::ollama(num_ctx, parallel + 1, 512);
        more.flash_attention = flash;
        let fewer = estimate(&spec, &weights, &fewer, None).unwrap();
        let more = estimate(&spec, &weights, &more, None).unwrap();
        prop_assert!(more.kv.total_bytes() >= fewer.kv.total_bytes());
        prop_assert!(more.total_bytes() >= fewer.total_bytes());
    }

    #[test]
    fn memory_never_falls_as_kv_precision_rises(
        model in 0usize..4,
        context in 256u64..300_000,
        parallel in 1u64..8,
        lower in 0usize..6,
        step in 1usize..6,
    ) {
        let higher = (lower + step).min(RISING_PRECISION.len() - 1);
        let (spec, weights) = common::model_from_config(MODELS[model], "Q4_K_M");
        let settings = ContextSettings::llama_server(context, Some(parallel));
        let low = estimate(&spec, &weights, &settings.with_cache_type(RISING_PRECISION[lower]), None).unwrap();
        let high = estimate(&spec, &weights, &settings.with_cache_type(RISING_PRECISION[higher]), None).unwrap();
        prop_assert!(high.kv.total_bytes() >= low.kv.total_bytes());
        prop_assert!(high.total_bytes() >= low.total_bytes());
    }
}
