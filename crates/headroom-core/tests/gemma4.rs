//! Gemma 4 (`gemma4`): per-layer-kind KV shapes, the K=V full-attention layers, the dense FFN
//! beside the experts, the double token_embd, and the input llama.cpp refuses. The byte-level
//! agreement with llama.cpp itself is in tests/llama_cpp.rs (conformance/gemma-4-*.json).

use headroom_core::memory::{ContextSettings, ModelWeights, estimate};
use headroom_core::quant::FileType;
use headroom_core::spec::{
    AttentionKind, Metadata, MetadataValue, ModelSpec, SpecError, metadata_from_config,
};
use headroom_core::tensors::{LayoutError, model_tensors, quantized_tensors};
use serde_json::Value;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

#[cfg(test)]
fn config(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/configs/conformance/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn sliding_and_full_layers_take_their_own_heads_and_widths() {
    let spec = ModelSpec::from_config(&config("gemma-4-31b")).unwrap();
    assert_eq!(spec.architecture, "gemma4");
    assert_eq!(spec.layer_count(), 60);
    for (index, layer) in spec.layers.iter().enumerate() {
        let full = index % 6 == 5;
        let (kv_heads, head_dim) = if full { (4, 512) } else { (16, 256) };
        assert_eq!(layer.kv_heads, kv_heads, "layer {index}");
        assert_eq!(layer.key_head_dim, head_dim, "layer {index}");
        assert_eq!(layer.value_head_dim, head_dim, "layer {index}");
        assert_eq!(layer.query_heads, 32, "layer {index}");
        assert!(layer.has_kv);
        let expected = if full {
            AttentionKind::Full
        } else {
            AttentionKind::SlidingWindow {
                window_tokens: 1024,
            }
        };
        assert_eq!(layer.attention, expected, "layer {index}");
    }
    assert!(spec.experts.is_none());
    assert_eq!(spec.tied_embeddings, Some(true));
    assert!(spec.attention_k_eq_v);
    assert_eq!(spec.vocab_size, 262_144);
    assert_eq!(spec.context_length_trained, 262_144);
}

#[test]
fn k_eq_v_layers_still_cache_v_and_pad_it_without_flash_attention() {
    let spec = ModelSpec::from_config(&config("gemma-4-31b")).unwrap();
    let weights = ModelWeights::approximate(0);
    let mut settings = ContextSettings::llama_server(32768, Some(1));
    let result = estimate(&spec, &weights, &settings, Some(0)).unwrap();
    // 10 full layers × 4 heads × 512 × 2 B × 32768 cells = 1.25 GiB each for K and for V.
    assert_eq!(result.kv.full_layers, 10);
    assert_eq!(result.kv.key_bytes, 5 * GIB / 4);
    assert_eq!(result.kv.value_bytes, 5 * GIB / 4);
    // 50 SWA layers × 16 × 256 × 2 B × ceil256(1024 + 512) = 600 MiB each for K and for V.
    assert_eq!(result.kv.layout.swa_cells_per_stream, 1536);
    assert_eq!(result.kv.swa_key_bytes, 600 * MIB);
    assert_eq!(result.kv.swa_value_bytes, 600 * MIB);
    // Without flash attention every V row is as wide as the widest layer's (16 × 256).
    settings.flash_attention = false;
    let result = estimate(&spec, &weights, &settings, Some(0)).unwrap();
    assert_eq!(result.kv.key_bytes, 5 * GIB / 4);
    assert_eq!(result.kv.value_bytes, 5 * GIB / 2);
    assert_eq!(result.kv.swa_value_bytes, 600 * MIB);
}

#[test]
fn moe_layers_keep_a_dense_ffn_and_full_layers_have_no_v_projection() {
    let spec = ModelSpec::from_config(&config("gemma-4-26b-a4b")).unwrap();
    let experts = spec.experts.unwrap();
    assert_eq!((experts.count, experts.used), (128, 8));
    assert_eq!(experts.feed_forward_length, 704);
    assert!(
        spec.layers
            .iter()
            .all(|layer| layer.has_experts && layer.feed_forward_length == 2112)
    );
    let tensors = model_tensors(&spec).unwrap();
    assert_eq!(tensors.len(), 658);
    let has = |name: &str| tensors.iter().any(|tensor| tensor.name == name);
    assert!(has("blk.4.attn_v.weight"));
    assert!(!has("blk.5.attn_v.weight"));
    assert!(has("blk.5.ffn_gate.weight") && has("blk.5.ffn_gate_up_exps.weight"));
    assert!(!has("output.weight"));
    let rope_freqs = tensors
        .iter()
        .find(|tensor| tensor.name == "rope_freqs.weight")
        .unwrap();
    assert_eq!(rope_freqs.shape, vec![256]);
}

/// Without mmap (llama-fit-params' plan, `--no-mmap`) the host holds two token_embd copies; mapped
/// (llama-server's default) they share the file's pages. With the output offloaded the second copy
/// is on the GPU either way.
#[test]
fn token_embd_is_held_twice_without_offload_unless_mapped() {
    let spec = ModelSpec::from_config(&config("gemma-4-26b-a4b")).unwrap();
    let tensors = quantized_tensors(&spec, FileType::Q4_K_M).unwrap();
    let token_embd = tensors
        .iter()
        .find(|tensor| tensor.name == "token_embd.weight")
        .and_then(|tensor| tensor.bytes())
        .unwrap();
    let file_bytes: u64 = tensors.iter().filter_map(|tensor| tensor.bytes()).sum();
    let weights = ModelWeights::from_tensors(
        tensors
            .iter()
            .map(|tensor| (tensor.name.clone(), tensor.bytes().unwrap())),
        headroom_core::memory::WeightsSource::TensorPlan,
    );
    let settings = ContextSettings::fit_params(4096, 1);
    let cpu = estimate(&spec, &weights, &settings, Some(0)).unwrap();
    assert_eq!(cpu.weights.gpu_bytes, 0);
    assert_eq!(cpu.weights.host_bytes, file_bytes + token_embd);
    let mapped = ContextSettings::llama_server(4096, Some(1));
    let cpu = estimate(&spec, &weights, &mapped, Some(0)).unwrap();
    assert_eq!(cpu.weights.host_bytes, file_bytes);
    let all = estimate(&spec, &weights, &mapped, None).unwrap();
    assert_eq!(all.weights.host_bytes, token_embd + 4 * 256);
    assert_eq!(all.weights.total_bytes(), file_bytes + token_embd);
    let all = estimate(&spec, &weights, &settings, None).unwrap();
    // token_embd stays on the host, and so does rope_freqs (256 f32) in headroom's placement.
    assert_eq!(all.weights.host_bytes, token_embd + 4 * 256);
    assert_eq!(all.weights.total_bytes(), file_bytes + token_embd);
}

#[test]
fn e_model_features_have_no_generated_layout() {
    let mut config = config("gemma-4-31b");
    config["text_config"]["hidden_size_per_layer_input"] = Value::from(256);
    let spec = ModelSpec::from_config(&config).unwrap();
    assert_eq!(spec.per_layer_input_length, 256);
    assert!(matches!(
        model_tensors(&spec),
        Err(LayoutError::UnsupportedFeature { .. })
    ));
    config["text_config"]["hidden_size_per_layer_input"] = Value::from(0);
    config["text_config"]["num_kv_shared_layers"] = Value::from(20);
    let spec = ModelSpec::from_config(&config).unwrap();
    assert_eq!(spec.layers.iter().filter(|layer| layer.has_kv).count(), 40);
    assert!(matches!(
        model_tensors(&spec),
        Err(LayoutError::UnsupportedFeature { .. })
    ));
}

#[cfg(test)]
fn gguf_metadata() -> Metadata {
    metadata_from_config(&config("gemma-4-31b"))
        .unwrap()
        .metadata
}

#[test]
fn rejects_gguf_metadata_llama_cpp_refuses() {
    assert!(ModelSpec::from_metadata(&gguf_metadata()).is_ok());
    for key in [
        "gemma4.attention.sliding_window",
        "gemma4.attention.key_length_swa",
        "gemma4.embedding_length_per_layer_input",
    ] {
        let mut metadata = Metadata::new();
        for (name, value) in gguf_metadata().iter().filter(|(name, _)| *name != key) {
            metadata.insert(name, value.clone());
        }
        assert!(
            matches!(ModelSpec::from_metadata(&metadata), Err(SpecError::MissingKey { key: missing }) if missing == key),
            "{key}"
        );
    }
    let mut metadata = gguf_metadata();
    metadata.insert(
        "gemma4.attention.sliding_window_pattern",
        MetadataValue::Integer(6),
    );
    assert!(matches!(
        ModelSpec::from_metadata(&metadata),
        Err(SpecError::MissingKey { .. })
    ));
    let mut metadata = gguf_metadata();
    metadata.insert(
        "gemma4.attention.value_length_swa",
        MetadataValue::Integer(128),
    );
    assert!(matches!(
        ModelSpec::from_metadata(&metadata),
        Err(SpecError::InvalidValue { key, .. }) if key == "gemma4.attention.value_length_swa"
    ));
    let mut metadata = gguf_metadata();
    metadata.insert(
        "gemma4.attention.shared_kv_layers",
        MetadataValue::Integer(59),
    );
    assert!(matches!(
        ModelSpec::from_metadata(&metadata),
        Err(SpecError::InvalidValue { key, .. }) if key == "gemma4.attention.shared_kv_layers"
    ));
}

#[test]
fn rejects_configs_without_layer_kinds_or_full_attention_width() {
    let mut config = config("gemma-4-26b-a4b");
    config["text_config"]
        .as_object_mut()
        .unwrap()
        .remove("global_head_dim");
    assert!(matches!(
        ModelSpec::from_config(&config),
        Err(SpecError::Config { field, .. }) if field == "text_config.global_head_dim"
    ));
    let mut config = self::config("gemma-4-26b-a4b");
    config["text_config"]["layer_types"] = Value::Array(Vec::new());
    assert!(matches!(
        ModelSpec::from_config(&config),
        Err(SpecError::Config { field, .. }) if field == "text_config.layer_types"
    ));
}
