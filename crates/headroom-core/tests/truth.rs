//! Golden table: every row of ../shared/truth/llamacpp-memory.csv (what real llama.cpp allocated)
//! against headroom's estimate from the model's config.json. KV cache and weights must match to
//! the byte, compute buffers within 10%, totals within 2%; rows llama.cpp refused must be refused.

#[cfg(test)]
mod common;

use std::collections::HashMap;

use headroom_core::memory::{ContextSettings, MemoryError, ModelWeights, estimate};
use headroom_core::quant::FileType;
use headroom_core::quant::TensorType;
use headroom_core::spec::{Metadata, ModelSpec};
use headroom_core::tensors::{gguf_writer, model_tensors, quantized_tensors};

#[cfg(test)]
mod helpers {
    use super::*;

    pub const MIB: f64 = 1024.0 * 1024.0;

    pub fn number(row: &HashMap<String, String>, column: &str) -> u64 {
        row[column]
            .parse()
            .unwrap_or_else(|_| panic!("column {column} = {:?}", row[column]))
    }

    pub fn settings_for(row: &HashMap<String, String>) -> ContextSettings {
        let context = number(row, "n_ctx_requested");
        let parallel = number(row, "n_parallel");
        let kv_type = TensorType::from_name(&row["kv_type"]).expect("kv type");
        let mut settings = match row["profile"].as_str() {
            "fitp" => ContextSettings::fit_params(context, parallel),
            "server" => ContextSettings::llama_server(context, Some(parallel)),
            other => panic!("unknown profile {other}"),
        };
        settings.kv_unified = row["kv_unified"] == "1";
        settings.flash_attention = row["flash_attn"] == "on";
        settings.with_cache_type(kv_type)
    }
}

use helpers::{MIB, number, settings_for};

#[test]
fn every_truth_row_matches_llama_cpp() {
    let rows = common::truth_rows();
    assert!(
        rows.len() > 200,
        "truth table unexpectedly small: {} rows",
        rows.len()
    );
    let mut models: HashMap<(String, String), (ModelSpec, ModelWeights)> = HashMap::new();
    let (mut worst_compute, mut worst_total, mut checked, mut refused) = (0f64, 0f64, 0, 0);
    let mut failures = Vec::new();
    for row in &rows {
        let key = (row["model"].clone(), row["quant"].clone());
        let (spec, weights) = models
            .entry(key.clone())
            .or_insert_with(|| common::model_from_config(&key.0, &key.1));
        let settings = settings_for(row);
        let label = format!(
            "{} {} ctx={} np={} kv={} fa={} {} kvu={}",
            key.0,
            key.1,
            row["n_ctx_requested"],
            row["n_parallel"],
            row["kv_type"],
            row["flash_attn"],
            row["profile"],
            row["kv_unified"]
        );
        let result = estimate(spec, weights, &settings, Some(0));
        if row["notes"].starts_with("NOT SUPPORTED") {
            assert!(
                matches!(
                    result,
                    Err(MemoryError::QuantizedValueNeedsFlashAttention { .. })
                ),
                "{label}: llama.cpp refused this row, headroom gave {result:?}"
            );
            refused += 1;
            continue;
        }
        let estimate = result.unwrap_or_else(|error| panic!("{label}: {error}"));
        checked += 1;
        let truth_weights = number(row, "weights_bytes");
        let truth_kv = number(row, "kv_bytes_total");
        let truth_compute = number(row, "compute_bytes");
        let truth_output = (row["output_mib"].parse::<f64>().expect("output_mib") * MIB) as u64;
        let layout = estimate.kv.layout;
        let mut check = |ok: bool, what: String| {
            if !ok {
                failures.push(format!("{label}: {what}"));
            }
        };
        check(
            estimate.weights.total_bytes() == truth_weights,
            format!(
                "weights {} != {truth_weights}",
                estimate.weights.total_bytes()
            ),
        );
        check(
            estimate.kv.total_bytes() == truth_kv,
            format!("kv {} != {truth_kv}", estimate.kv.total_bytes()),
        );
        check(
            layout.cells_per_stream == number(row, "n_ctx_seq"),
            format!(
                "n_ctx_seq {} != {}",
                layout.cells_per_stream, row["n_ctx_seq"]
            ),
        );
        if !row["swa_cells"].is_empty() {
            check(
                layout.swa_cells_per_stream == number(row, "swa_cells"),
                format!(
                    "swa cells {} != {}",
                    layout.swa_cells_per_stream, row["swa_cells"]
                ),
            );
            check(
                estimate.kv.full_layers == number(row, "kv_layers"),
                format!(
                    "full layers {} != {}",
                    estimate.kv.full_layers, row["kv_layers"]
                ),
            );
            check(
                estimate.kv.swa_layers == number(row, "swa_layers"),
                format!(
                    "swa layers {} != {}",
                    estimate.kv.swa_layers, row["swa_layers"]
                ),
            );
        }
        // output_mib is printed with two decimals: compare within that rounding.
        check(
            (estimate.output_bytes as f64 - truth_output as f64).abs() <= 0.006 * MIB,
            format!("output {} != {truth_output}", estimate.output_bytes),
        );
        let compute_error =
            (estimate.compute_bytes as f64 - truth_compute as f64) / truth_compute as f64;
        worst_compute = worst_compute.max(compute_error.abs());
        check(
            compute_error.abs() <= 0.10,
            format!(
                "compute {} vs {truth_compute} ({:+.1}%)",
                estimate.compute_bytes,
                compute_error * 100.0
            ),
        );
        let truth_total = truth_weights + truth_kv + truth_compute + truth_output;
        let total_error = (estimate.total_bytes() as f64 - truth_total as f64) / truth_total as f64;
        worst_total = worst_total.max(total_error.abs());
        check(
            total_error.abs() <= 0.02,
            format!(
                "total {} vs {truth_total} ({:+.2}%)",
                estimate.total_bytes(),
                total_error * 100.0
            ),
        );
    }
    eprintln!(
        "truth: {checked} rows checked, {refused} refusals confirmed; max |error|: weights 0, kv 0, compute {:.2}%, total {:.3}%",
        worst_compute * 100.0,
        worst_total * 100.0
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The same model read from a GGUF header (written by headroom's writer from the config's
/// metadata and tensor plan, then parsed by the reader) sizes exactly as from the config.
#[test]
fn gguf_and_config_paths_agree_on_truth_models() {
    for (model, quant) in [
        ("llama-3.1-8b", "Q4_K_M"),
        ("qwen3-8b", "Q4_K_M"),
        ("gemma-3-12b", "Q4_K_M"),
        ("qwen3-coder-30b-a3b", "Q4_K_M"),
    ] {
        let config = common::config(model);
        let converted = headroom_core::spec::metadata_from_config(&config).expect("metadata");
        let (spec, weights) = common::model_from_config(model, quant);
        let tensors =
            quantized_tensors(&spec, FileType::from_name(quant).expect("ftype")).expect("plan");
        let mut header = Vec::new();
        gguf_writer(&converted.metadata, &tensors)
            .expect("writer")
            .write_header_to(&mut header)
            .expect("write header");
        let file = headroom_gguf::GgufFile::read_from(header.as_slice(), None).expect("read back");
        let from_gguf = ModelSpec::from_gguf(&file).expect("spec from gguf");
        let gguf_weights = ModelWeights::from_gguf(&file);
        assert_eq!(
            from_gguf.full_attention_kv_elements_per_token(),
            spec.full_attention_kv_elements_per_token(),
            "{model}: KV per token differs between GGUF and config"
        );
        assert_eq!(from_gguf.layers, spec.layers, "{model}: layers differ");
        assert_eq!(
            gguf_weights.total_bytes, weights.total_bytes,
            "{model}: weights differ"
        );
        let metadata_back = Metadata::from_gguf(&file);
        assert_eq!(
            ModelSpec::from_metadata(&metadata_back)
                .expect("spec")
                .vocab_size,
            spec.vocab_size
        );
        for kv_type in [TensorType::F16, TensorType::Q8_0] {
            let settings = ContextSettings::llama_server(32768, Some(1)).with_cache_type(kv_type);
            let a = estimate(&spec, &weights, &settings, None).expect("config estimate");
            let mut b =
                estimate(&from_gguf, &gguf_weights, &settings, None).expect("gguf estimate");
            assert_eq!(
                b.weights_source,
                headroom_core::memory::WeightsSource::GgufTensors
            );
            b.weights_source = a.weights_source;
            assert_eq!(a, b, "{model} {kv_type}: estimates differ");
        }
        // Parameter counts from the GGUF tensor infos equal those of the plan.
        let plan = model_tensors(&spec).expect("plan");
        let counts = headroom_core::tensors::parameter_counts(&spec, &plan);
        assert_eq!(
            from_gguf.parameters,
            Some(counts),
            "{model}: parameter counts"
        );
    }
}

/// The story's number: Qwen3-Coder-30B-A3B at 262,144 tokens with an f16 cache needs exactly
/// 24 GiB of KV cache, 96 KiB per token (48 layers × 4 KV heads × 128 × 2 (K,V) × 2 bytes).
#[test]
fn qwen3_coder_needs_24_gib_of_kv_at_262k() {
    let (spec, weights) = common::model_from_config("qwen3-coder-30b-a3b", "Q4_K_M");
    assert_eq!(spec.full_attention_kv_elements_per_token() * 2, 96 * 1024);
    let settings = ContextSettings::llama_server(262_144, Some(1));
    let estimate = estimate(&spec, &weights, &settings, None).expect("estimate");
    assert_eq!(estimate.kv.total_bytes(), 24 * 1024 * 1024 * 1024);
    assert_eq!(estimate.kv.total_bytes() / 262_144, 96 * 1024);
}
