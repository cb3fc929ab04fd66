//! The published test vectors of ../shared/reference/memory-anchors.md §7 and §1.4–1.6, from
//! configs, plus the rules around them (refusals, padding, bad input).

use headroom_core::memory::fit::{Machine, largest_context};
use headroom_core::memory::{ContextSettings, Estimator, MemoryError, ModelWeights, estimate};
use headroom_core::quant::{FileType, TensorType};
use headroom_core::spec::{
    AttentionKind, Metadata, MetadataValue, ModelSpec, SpecError, metadata_from_config,
};
use headroom_core::tensors::quantized_tensors;
use serde_json::json;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

#[cfg(test)]
mod common;

#[cfg(test)]
mod helpers {
    use super::*;

    pub fn kv_bytes(config: &serde_json::Value, settings: &ContextSettings) -> u64 {
        let spec = ModelSpec::from_config(config).unwrap();
        let weights = ModelWeights::approximate(0);
        estimate(&spec, &weights, settings, Some(0))
            .unwrap()
            .kv
            .total_bytes()
    }

    /// A config from tests/fixtures/configs/conformance/.
    pub fn conformance_config(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/tests/fixtures/configs/conformance/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap()
    }

    pub fn deepseek_v3() -> serde_json::Value {
        // https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json (sizing fields).
        json!({
            "architectures": ["DeepseekV3ForCausalLM"], "first_k_dense_replace": 3, "hidden_size": 7168,
            "intermediate_size": 18432, "kv_lora_rank": 512, "max_position_embeddings": 163840,
            "moe_intermediate_size": 2048, "n_routed_experts": 256, "n_shared_experts": 1,
            "num_attention_heads": 128, "num_experts_per_tok": 8, "num_hidden_layers": 61,
            "num_key_value_heads": 128, "num_nextn_predict_layers": 1, "q_lora_rank": 1536,
            "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "rms_norm_eps": 1e-06, "scoring_func": "sigmoid",
            "tie_word_embeddings": false, "v_head_dim": 128, "vocab_size": 129280
        })
    }
}

use helpers::{conformance_config, deepseek_v3, kv_bytes};

#[test]
fn llama_3_1_8b_kv_per_type_at_8192() {
    let config = common::config("llama-3.1-8b");
    let settings = ContextSettings::llama_server(8192, Some(1));
    // 1.000 / 0.531 / 0.281 GiB: 128 / 68 / 36 KiB per token.
    assert_eq!(kv_bytes(&config, &settings), GIB);
    assert_eq!(
        kv_bytes(&config, &settings.with_cache_type(TensorType::Q8_0)),
        8192 * 68 * 1024
    );
    assert_eq!(
        kv_bytes(&config, &settings.with_cache_type(TensorType::Q4_0)),
        8192 * 36 * 1024
    );
}

#[test]
fn qwen3_30b_kv_at_40960_and_4096() {
    let config = common::config("qwen3-coder-30b-a3b");
    assert_eq!(
        kv_bytes(&config, &ContextSettings::llama_server(40960, Some(1))),
        3840 * MIB
    );
    assert_eq!(
        kv_bytes(&config, &ContextSettings::llama_server(4096, Some(1))),
        384 * MIB
    );
}

#[test]
fn deepseek_v3_mla_caches_576_wide_k_only() {
    let spec = ModelSpec::from_config(&deepseek_v3()).unwrap();
    assert_eq!(
        spec.layer_count(),
        61,
        "the NextN block is not a main layer"
    );
    assert_eq!(spec.nextn_layer_count, 1);
    assert!(
        spec.layers
            .iter()
            .all(|layer| layer.attention == AttentionKind::Mla)
    );
    // 61 layers × 576 × 2 bytes = 70,272 B/token; 2196 MiB at 32768 (published llama.cpp log).
    let bytes = kv_bytes(
        &deepseek_v3(),
        &ContextSettings::llama_server(32768, Some(1)),
    );
    assert_eq!(bytes, 61 * 576 * 2 * 32768);
    assert_eq!(bytes / MIB, 2196);
    // type_v is irrelevant for MLA: only K is cached.
    let settings = ContextSettings::llama_server(32768, Some(1)).with_cache_type(TensorType::Q8_0);
    assert_eq!(kv_bytes(&deepseek_v3(), &settings), 61 * 612 * 32768);
}

#[test]
fn gpt_oss_20b_sliding_window_cache() {
    let config: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/configs/conformance/gpt-oss-20b.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let spec = ModelSpec::from_config(&config).unwrap();
    let weights = ModelWeights::approximate(0);
    let result = estimate(
        &spec,
        &weights,
        &ContextSettings::llama_server(131072, Some(1)),
        Some(0),
    )
    .unwrap();
    // 12 full layers × 8 × 64 × 2 × 2 B = 24 KiB/token → 3 GiB; 12 SWA layers × 768 cells = 18 MiB.
    assert_eq!(result.kv.full_layers, 12);
    assert_eq!(result.kv.key_bytes + result.kv.value_bytes, 3 * GIB);
    assert_eq!(result.kv.layout.swa_cells_per_stream, 768);
    assert_eq!(
        result.kv.swa_key_bytes + result.kv.swa_value_bytes,
        18 * MIB
    );
}

#[test]
fn gemma_3_27b_sliding_window_cache() {
    // https://huggingface.co/google/gemma-3-27b-it/blob/main/config.json (text_config sizing fields).
    let config = json!({
        "architectures": ["Gemma3ForConditionalGeneration"],
        "text_config": {"head_dim": 128, "hidden_size": 5376, "intermediate_size": 21504, "num_attention_heads": 32,
                        "num_hidden_layers": 62, "num_key_value_heads": 16, "sliding_window": 1024, "vocab_size": 262208}
    });
    let spec = ModelSpec::from_config(&config).unwrap();
    let result = estimate(
        &spec,
        &ModelWeights::approximate(0),
        &ContextSettings::llama_server(32768, Some(1)),
        Some(0),
    )
    .unwrap();
    // 10 full layers (il = 5, 11, …, 59) = 2.5 GiB + 52 SWA layers × 1536 cells = 624 MiB.
    assert_eq!(result.kv.full_layers, 10);
    assert_eq!(
        result.kv.key_bytes + result.kv.value_bytes,
        2 * GIB + GIB / 2
    );
    assert_eq!(
        result.kv.swa_key_bytes + result.kv.swa_value_bytes,
        624 * MIB
    );
}

#[test]
fn unified_kv_shares_the_window_across_sequences() {
    let config = common::config("gemma-3-12b");
    let mut settings = ContextSettings::llama_server(32768, None);
    assert!(settings.kv_unified);
    settings = settings.with_cache_type(TensorType::F16);
    let spec = ModelSpec::from_config(&config).unwrap();
    let result = estimate(&spec, &ModelWeights::approximate(0), &settings, Some(0)).unwrap();
    // ceil256(1024 × 4 + 512) = 4608 (truth row gemma-3-12b 32768 np=4 kvu=1).
    assert_eq!(result.kv.layout.swa_cells_per_stream, 4608);
    assert_eq!(result.kv.total_bytes(), 3_657_433_088);
}

#[test]
fn qwen3_next_charges_kv_only_on_its_attention_layers() {
    let config: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/configs/conformance/qwen3-next-80b-a3b.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let spec = ModelSpec::from_config(&config).unwrap();
    let weights = ModelWeights::approximate(0);
    let one = estimate(
        &spec,
        &weights,
        &ContextSettings::llama_server(262_144, Some(1)),
        Some(0),
    )
    .unwrap();
    assert_eq!(one.kv.full_layers, 12, "48 layers, every 4th is attention");
    assert_eq!(one.kv.recurrent_layers, 36);
    // 12 × 2 KV heads × 256 × 2 (K,V) × 2 B = 24 KiB per token.
    assert_eq!(one.kv.attention_bytes(), 262_144 * 24 * 1024);
    // Recurrent state: f32 rows of (3·(4096 + 2·16·128) + 128·4096) per layer and sequence, not context.
    let per_sequence = 36 * 4 * (3 * (4096 + 2 * 16 * 128) + 128 * 4096);
    assert_eq!(one.kv.recurrent_bytes, per_sequence);
    let short = estimate(
        &spec,
        &weights,
        &ContextSettings::llama_server(4096, Some(1)),
        Some(0),
    )
    .unwrap();
    assert_eq!(short.kv.recurrent_bytes, per_sequence);
    let four = estimate(
        &spec,
        &weights,
        &ContextSettings::llama_server(4096, Some(4)),
        Some(0),
    )
    .unwrap();
    assert_eq!(four.kv.recurrent_bytes, 4 * per_sequence);
}

#[test]
fn qwen3_5_charges_kv_on_attention_layers_and_leaves_the_mtp_block_out() {
    // (config, full layers, recurrent layers, KV bytes per token, recurrent bytes per sequence)
    let cases = [
        // 35B-A3B: 10 × 2 KV heads × 256 × 2 (K,V) × 2 B; 30 × f32 (3·(4096 + 2·16·128) + 128·4096).
        (
            "qwen3.5-35b-a3b",
            10,
            30,
            20 * 1024,
            30 * 4 * (3 * (4096 + 2 * 16 * 128) + 128 * 4096),
        ),
        // 27B: 16 × 4 × 256 × 2 × 2 B; 48 × f32 (3·(6144 + 2·16·128) + 128·6144).
        (
            "qwen3.5-27b",
            16,
            48,
            64 * 1024,
            48 * 4 * (3 * (6144 + 2 * 16 * 128) + 128 * 6144),
        ),
    ];
    for (name, full, recurrent, per_token, per_sequence) in cases {
        let spec = ModelSpec::from_config(&conformance_config(name)).unwrap();
        // mtp_num_hidden_layers = 1: convert_hf_to_gguf writes it as block 40/64, never cached.
        assert_eq!(spec.nextn_layer_count, 1, "{name}");
        let result = estimate(
            &spec,
            &ModelWeights::approximate(0),
            &ContextSettings::llama_server(262_144, Some(1)),
            Some(0),
        )
        .unwrap();
        assert_eq!(result.kv.full_layers, full, "{name}");
        assert_eq!(result.kv.recurrent_layers, recurrent, "{name}");
        assert_eq!(result.kv.attention_bytes(), 262_144 * per_token, "{name}");
        assert_eq!(result.kv.recurrent_bytes, per_sequence, "{name}");
    }
}

#[test]
fn qwen3_5_layout_splits_the_delta_net_projections_and_keeps_mtp_full_attention() {
    let spec = ModelSpec::from_config(&conformance_config("qwen3.5-27b")).unwrap();
    let tensors = quantized_tensors(&spec, FileType::Q4_K_M).unwrap();
    let shape = |name: &str| {
        tensors
            .iter()
            .find(|tensor| tensor.name == name)
            .map(|tensor| tensor.shape.clone())
    };
    // Q and K: 16 heads × 128; V: 48 heads × 128 (conversion/qwen.py, src/models/qwen35.cpp).
    assert_eq!(shape("blk.0.attn_qkv.weight"), Some(vec![5120, 10240]));
    assert_eq!(shape("blk.0.attn_gate.weight"), Some(vec![5120, 6144]));
    assert_eq!(shape("blk.0.ssm_beta.weight"), Some(vec![5120, 48]));
    assert_eq!(shape("blk.0.ssm_alpha.weight"), Some(vec![5120, 48]));
    assert_eq!(shape("blk.0.ssm_in.weight"), None);
    // Gated attention: Q carries the output gate, so it is twice 24 × 256 wide.
    assert_eq!(shape("blk.3.attn_q.weight"), Some(vec![5120, 12288]));
    assert_eq!(shape("blk.3.attn_qkv.weight"), None);
    // The MTP block (block 64) is a full-attention decoder block plus its NextN projections.
    assert_eq!(shape("blk.64.attn_q.weight"), Some(vec![5120, 12288]));
    assert_eq!(
        shape("blk.64.nextn.eh_proj.weight"),
        Some(vec![10240, 5120])
    );
    assert_eq!(shape("blk.64.ssm_conv1d.weight"), None);
    assert_eq!(shape("blk.64.ffn_norm.weight"), None);
}

#[test]
fn qwen3_5_reads_recurrent_layer_flags_as_llama_cpp_does() {
    let converted = metadata_from_config(&conformance_config("qwen3.5-35b-a3b")).unwrap();
    let mut metadata = converted.metadata;
    // The converter writes layer_types as one flag per block, the MTP block false.
    assert_eq!(
        metadata
            .get("qwen35moe.attention.recurrent_layers")
            .and_then(|value| match value {
                MetadataValue::BoolArray(flags) => Some(flags.len()),
                _ => None,
            }),
        Some(41)
    );
    // Flags win over full_attention_interval (qwen35moe.cpp load_arch_hparams).
    let mut flags = vec![true; 41];
    flags[0] = false;
    flags[40] = false;
    metadata.insert(
        "qwen35moe.attention.recurrent_layers",
        MetadataValue::BoolArray(flags),
    );
    let spec = ModelSpec::from_metadata(&metadata).unwrap();
    assert_eq!(spec.layers[0].attention, AttentionKind::Full);
    assert_eq!(spec.layers[3].attention, AttentionKind::Recurrent);
    // One scalar flag stands for every block (get_key_or_arr).
    let mut scalar = metadata.clone();
    scalar.insert(
        "qwen35moe.attention.recurrent_layers",
        MetadataValue::Integer(0),
    );
    assert!(
        ModelSpec::from_metadata(&scalar)
            .unwrap()
            .layers
            .iter()
            .all(|layer| layer.attention == AttentionKind::Full)
    );
    // Wrong length and a zero interval are errors, not panics.
    metadata.insert(
        "qwen35moe.attention.recurrent_layers",
        MetadataValue::BoolArray(vec![true; 40]),
    );
    assert!(matches!(
        ModelSpec::from_metadata(&metadata),
        Err(SpecError::LayerArrayLength {
            expected: 41,
            found: 40,
            ..
        })
    ));
    metadata.insert(
        "qwen35moe.attention.recurrent_layers",
        MetadataValue::String("yes".to_owned()),
    );
    assert!(matches!(
        ModelSpec::from_metadata(&metadata),
        Err(SpecError::TypeMismatch { .. })
    ));
    // Files from converters that wrote no flags: every 4th layer is attention.
    let mut no_flags = Metadata::new();
    for (key, value) in scalar.iter() {
        if key != "qwen35moe.attention.recurrent_layers" {
            no_flags.insert(key, value.clone());
        }
    }
    let spec = ModelSpec::from_metadata(&no_flags).unwrap();
    assert_eq!(spec.layers[2].attention, AttentionKind::Recurrent);
    assert_eq!(spec.layers[3].attention, AttentionKind::Full);
    no_flags.insert(
        "qwen35moe.full_attention_interval",
        MetadataValue::Integer(0),
    );
    assert!(matches!(
        ModelSpec::from_metadata(&no_flags),
        Err(SpecError::InvalidValue { .. })
    ));
}

#[test]
fn qwen3_5_config_needs_a_layer_type_per_layer_and_gets_default_mrope_sections() {
    let mut config = conformance_config("qwen3.5-27b");
    let text = config.get_mut("text_config").unwrap();
    text.as_object_mut()
        .unwrap()
        .get_mut("rope_parameters")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("mrope_section");
    let converted = metadata_from_config(&config).unwrap();
    // _Qwen35MRopeMixin: llama.cpp requires the sections; [11, 11, 10, 0] when the config has none.
    assert_eq!(
        converted.metadata.get("qwen35.rope.dimension_sections"),
        Some(&MetadataValue::IntegerArray(vec![11, 11, 10, 0]))
    );
    assert_eq!(
        converted.metadata.get("qwen35.rope.dimension_count"),
        Some(&MetadataValue::Integer(64))
    );
    assert_eq!(
        converted.metadata.get("qwen35.rope.freq_base"),
        Some(&MetadataValue::Float(10_000_000.0))
    );
    config["text_config"]["layer_types"]
        .as_array_mut()
        .unwrap()
        .pop();
    assert!(matches!(
        ModelSpec::from_config(&config),
        Err(SpecError::Config { field, .. }) if field == "text_config.layer_types"
    ));
}

#[test]
fn lfm2_has_kv_on_its_attention_layers_only() {
    let config: serde_json::Value = serde_json::from_str(
        &fs_err::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/configs/conformance/lfm2-1.2b.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let spec = ModelSpec::from_config(&config).unwrap();
    let result = estimate(
        &spec,
        &ModelWeights::approximate(0),
        &ContextSettings::llama_server(4096, Some(1)),
        Some(0),
    )
    .unwrap();
    assert_eq!(result.kv.full_layers, 6);
    assert_eq!(result.kv.recurrent_layers, 10);
    assert_eq!(result.kv.attention_bytes(), 6 * 2 * 8 * 64 * 2 * 4096);
    // Short-conv state: n_embd × (l_cache − 1) f32 per layer (llama-hparams.cpp n_embd_r).
    assert_eq!(result.kv.recurrent_bytes, 10 * 4 * 2048 * 2);
}

#[test]
fn context_is_padded_to_256_and_split_per_sequence() {
    let config = common::config("llama-3.1-8b");
    let spec = ModelSpec::from_config(&config).unwrap();
    let weights = ModelWeights::approximate(0);
    let result = estimate(
        &spec,
        &weights,
        &ContextSettings::llama_server(1000, Some(1)),
        Some(0),
    )
    .unwrap();
    assert_eq!(result.kv.layout.cells_per_stream, 1024);
    let split = estimate(
        &spec,
        &weights,
        &ContextSettings::llama_server(5000, Some(3)),
        Some(0),
    )
    .unwrap();
    // n_ctx 5120 → per sequence ceil256(5120 / 3 = 1706) = 1792, × 3 streams.
    assert_eq!(split.kv.layout.cells_per_stream, 1792);
    assert_eq!(split.kv.layout.streams, 3);
    // Ollama: num_ctx 8192 × OLLAMA_NUM_PARALLEL 2 → -c 16384 -np 2, 8192 cells per slot.
    let ollama = estimate(
        &spec,
        &weights,
        &ContextSettings::ollama(8192, 2, 512),
        Some(0),
    )
    .unwrap();
    assert_eq!(ollama.kv.layout.cells_per_stream, 8192);
    assert_eq!(ollama.kv.total_bytes(), 2 * GIB);
}

#[test]
fn quantized_v_needs_flash_attention_but_quantized_k_does_not() {
    let spec = ModelSpec::from_config(&common::config("qwen3-8b")).unwrap();
    let weights = ModelWeights::approximate(0);
    let mut settings =
        ContextSettings::llama_server(4096, Some(1)).with_cache_type(TensorType::Q8_0);
    settings.flash_attention = false;
    assert!(matches!(
        estimate(&spec, &weights, &settings, None),
        Err(MemoryError::QuantizedValueNeedsFlashAttention {
            value_type: TensorType::Q8_0
        })
    ));
    settings.value_type = TensorType::F16;
    assert!(estimate(&spec, &weights, &settings, None).is_ok());
    settings.key_type = TensorType::Q6_K;
    assert!(matches!(
        estimate(&spec, &weights, &settings, None),
        Err(MemoryError::UnsupportedCacheType { .. })
    ));
}

#[test]
fn tied_output_offload_duplicates_token_embd_on_the_gpu() {
    let (spec, weights) = common::model_from_config("gemma-3-12b", "Q4_K_M");
    let token_embd = quantized_tensors(&spec, FileType::Q4_K_M)
        .unwrap()
        .iter()
        .find(|tensor| tensor.name == "token_embd.weight")
        .and_then(|tensor| tensor.bytes())
        .unwrap();
    let settings = ContextSettings::llama_server(4096, Some(1));
    let cpu = estimate(&spec, &weights, &settings, Some(0)).unwrap();
    let output_only = estimate(&spec, &weights, &settings, Some(1)).unwrap();
    assert_eq!(cpu.weights.gpu_bytes, 0);
    // -ngl 1 offloads only the output layer; tied, it reads a GPU copy of token_embd.
    assert_eq!(output_only.weights.gpu_bytes, token_embd + 4 * 3840);
    assert_eq!(
        output_only.weights.host_bytes,
        cpu.weights.host_bytes - 4 * 3840
    );
    assert_eq!(output_only.kv_split.gpu_bytes, 0);
    let all = estimate(&spec, &weights, &settings, None).unwrap();
    assert_eq!(
        all.weights.host_bytes, token_embd,
        "token_embd always stays on the CPU"
    );
    assert_eq!(all.kv_split.host_bytes, 0);
}

#[test]
fn largest_context_is_the_boundary() {
    let (spec, weights) = common::model_from_config("qwen3-coder-30b-a3b", "Q4_K_M");
    let estimator = Estimator::new(&spec, &weights, None);
    let machine = Machine::unified(32 * GIB, 24 * GIB);
    let base = ContextSettings::llama_server(0, Some(1));
    for cache_type in [TensorType::F16, TensorType::Q8_0, TensorType::Q4_0] {
        let fit = largest_context(&estimator, &machine, &base, cache_type, 262_144).unwrap();
        let tokens = fit.context_tokens.unwrap();
        assert_eq!(tokens % 256, 0);
        let at = |tokens: u64| {
            let settings = ContextSettings {
                context_tokens: tokens,
                ..base.with_cache_type(cache_type)
            };
            machine
                .verdict(&estimator.estimate(&settings).unwrap())
                .fits
        };
        assert!(at(tokens), "{cache_type}: {tokens} must fit");
        if tokens < 262_144 {
            assert!(
                !at(tokens + 256),
                "{cache_type}: {} must not fit",
                tokens + 256
            );
        }
        assert!(
            fit.evaluations <= 12,
            "{cache_type}: {} evaluations",
            fit.evaluations
        );
    }
}

#[test]
fn rejects_metadata_llama_cpp_would_reject() {
    let mut metadata = Metadata::new();
    metadata.insert(
        "general.architecture",
        MetadataValue::String("llama".to_owned()),
    );
    assert!(
        matches!(ModelSpec::from_metadata(&metadata), Err(SpecError::MissingKey { key }) if key == "llama.embedding_length")
    );
    metadata.insert(
        "llama.embedding_length",
        MetadataValue::String("4096".to_owned()),
    );
    assert!(matches!(
        ModelSpec::from_metadata(&metadata),
        Err(SpecError::TypeMismatch { key, .. }) if key == "llama.embedding_length"
    ));
    metadata.insert("llama.embedding_length", MetadataValue::Integer(4096));
    metadata.insert("llama.block_count", MetadataValue::Integer(1 << 40));
    assert!(
        matches!(ModelSpec::from_metadata(&metadata), Err(SpecError::InvalidValue { key, .. }) if key == "llama.block_count")
    );
    metadata.insert("llama.block_count", MetadataValue::Integer(2));
    metadata.insert("llama.context_length", MetadataValue::Integer(4096));
    metadata.insert(
        "llama.attention.head_count",
        MetadataValue::IntegerArray(vec![32, 32, 32]),
    );
    assert!(matches!(
        ModelSpec::from_metadata(&metadata),
        Err(SpecError::LayerArrayLength {
            expected: 2,
            found: 3,
            ..
        })
    ));
    let mut unknown = Metadata::new();
    unknown.insert(
        "general.architecture",
        MetadataValue::String("bert".to_owned()),
    );
    assert!(matches!(
        ModelSpec::from_metadata(&unknown),
        Err(SpecError::UnsupportedArchitecture { .. })
    ));
}

#[test]
fn rejects_configs_without_architecture_or_sizes() {
    assert!(
        matches!(ModelSpec::from_config(&json!({})), Err(SpecError::Config { field, .. }) if field == "architectures")
    );
    let missing = json!({"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2});
    assert!(
        matches!(ModelSpec::from_config(&missing), Err(SpecError::Config { field, .. }) if field == "hidden_size")
    );
}
