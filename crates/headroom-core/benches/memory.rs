//! Speed of the estimator itself: a full breakdown (spec from config, tensor plan with
//! llama-quantize rules, every component) and the largest-context search.

#![allow(missing_docs)] // criterion_group! generates an undocumented public function

use criterion::{Criterion, criterion_group, criterion_main};
use headroom_core::hardware::macos_default_gpu_share_bytes;
use headroom_core::memory::fit::{Machine, largest_context};
use headroom_core::memory::{ContextSettings, Estimator, ModelWeights};
use headroom_core::quant::{FileType, TensorType};
use headroom_core::spec::ModelSpec;
use headroom_core::tensors::quantized_tensors;

const GIB: u64 = 1024 * 1024 * 1024;

fn qwen3_coder_config() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/configs/qwen3-coder-30b-a3b.json"
    );
    serde_json::from_str(&fs_err::read_to_string(path).unwrap_or_default()).unwrap_or_default()
}

fn benches(criterion: &mut Criterion) {
    let config = qwen3_coder_config();
    criterion.bench_function(
        "full breakdown qwen3-coder-30b-a3b Q4_K_M from the catalog config",
        |bencher| {
            bencher.iter(|| {
                let spec = ModelSpec::from_config(std::hint::black_box(&config)).ok()?;
                let tensors = quantized_tensors(&spec, FileType::Q4_K_M).ok()?;
                let weights = ModelWeights::from_plan(&tensors);
                let settings = ContextSettings::llama_server(262_144, Some(1));
                Estimator::new(&spec, &weights, None)
                    .estimate(&settings)
                    .ok()
            })
        },
    );
    let Ok(spec) = ModelSpec::from_config(&config) else {
        return;
    };
    let Ok(tensors) = quantized_tensors(&spec, FileType::Q4_K_M) else {
        return;
    };
    let weights = ModelWeights::from_plan(&tensors);
    let estimator = Estimator::new(&spec, &weights, None);
    let settings = ContextSettings::llama_server(262_144, Some(1));
    criterion.bench_function(
        "estimate qwen3-coder-30b-a3b (spec and weights ready)",
        |bencher| bencher.iter(|| estimator.estimate(std::hint::black_box(&settings)).ok()),
    );
    // 32 GiB Mac: the f16 context limit falls inside the range, so the search does its full work.
    let machine = Machine::unified(32 * GIB, macos_default_gpu_share_bytes(32 * GIB));
    criterion.bench_function(
        "largest context search qwen3-coder-30b-a3b f16 on 32 GiB unified",
        |bencher| {
            bencher.iter(|| {
                largest_context(&estimator, &machine, &settings, TensorType::F16, 262_144).ok()
            })
        },
    );
}

criterion_group!(memory, benches);
criterion_main!(memory);
