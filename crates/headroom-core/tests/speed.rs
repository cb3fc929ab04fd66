//! Speed model: the fitted factors are what the fit command writes, the fit meets its error
//! bars on the measured truth, and the model behaves physically (monotone in depth, MoE reads
//! only routed experts, windows cap the KV read, spilled layers cost time).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use headroom_core::hardware::{self, HardwareBuilder};
use headroom_core::quant::{FileType, TensorType};
use headroom_core::speed::efficiency::{self, DeviceClass};
use headroom_core::speed::fit::{self, catalog_model};
use headroom_core::speed::{MachineModel, ModelProfile, PrefillTimer, SpeedModel, timeout_report};

fn refit() -> fit::FitReport {
    let path = common::shared_dir().join("truth/measured-throughput.csv");
    let text = fs_err::read_to_string(&path).unwrap();
    let truth = fit::read_truth(&path.display().to_string(), &text).unwrap();
    fit::fit(&truth, "shared/truth/measured-throughput.csv")
}

#[test]
fn committed_factors_are_what_the_fit_writes() {
    let report = refit();
    let committed = efficiency::try_factors().expect("data/efficiency.toml parses");
    assert_eq!(
        &report.table,
        committed,
        "data/efficiency.toml is stale: run `{}`",
        fit::FIT_COMMAND
    );
}

#[test]
fn leave_one_out_decode_error_meets_the_median_target_overall() {
    let report = refit();
    let all = report.summaries.iter().find(|s| s.class == "all").unwrap();
    // Issue 6 targets: decode ±15 % median, prefill ±25 % median (worst-case figures are
    // reported in BENCHMARKS.md, not asserted: the truth file has known outliers).
    assert!(all.decode_median.unwrap() <= 0.15, "{all:?}");
    assert!(all.prefill_median.unwrap() <= 0.25, "{all:?}");
}

fn story_model() -> (
    headroom_core::spec::ModelSpec,
    headroom_core::memory::ModelWeights,
) {
    catalog_model("qwen3-coder-30b-a3b", FileType::Q4_K_M, None, None).unwrap()
}

fn story_speed() -> SpeedModel {
    let (spec, weights) = story_model();
    let profile = ModelProfile::new(&spec, &weights, TensorType::F16);
    let mac = hardware::find_hardware("mac-64gb").unwrap();
    SpeedModel::new(profile, MachineModel::new(mac, None, None, None), 0)
}

#[test]
fn moe_decode_reads_only_the_routed_experts() {
    let (spec, weights) = story_model();
    let profile = ModelProfile::new(&spec, &weights, TensorType::F16);
    let read = profile.weight_read_bytes_per_token();
    // 8 of 128 experts: far less than the file, more than the 3.3B active at ~4.5 bits.
    assert!(read < 0.15 * weights.total_bytes as f64, "{read}");
    assert!(read > 1.5e9, "{read}");
}

#[test]
fn decode_and_prefill_slow_down_with_depth() {
    let speed = story_speed();
    let mut previous = (f64::INFINITY, f64::INFINITY);
    for depth in [0, 4096, 32768, 131072] {
        let estimate = speed.at_depth(depth);
        assert!(estimate.decode_tokens_per_second < previous.0);
        assert!(estimate.prefill_tokens_per_second < previous.1);
        previous = (
            estimate.decode_tokens_per_second,
            estimate.prefill_tokens_per_second,
        );
    }
}

#[test]
fn decode_time_is_weights_plus_kv_plus_per_layer_overhead() {
    let mut speed = story_speed();
    speed.factors.decode_bandwidth_efficiency = 0.8;
    speed.factors.decode_kv_efficiency = 0.5;
    speed.factors.decode_layer_overhead_seconds = 1e-4;
    let bandwidth = speed.machine.device_rates[0].bandwidth_bytes_per_second;
    let profile = &speed.profile;
    let depth = 65_536;
    let expected = profile.weight_read_bytes_per_token() / (bandwidth * 0.8)
        + profile.kv_read_bytes(depth) / (bandwidth * 0.5)
        + profile.layers.len() as f64 * 1e-4;
    let actual = speed.decode_seconds_per_token(depth);
    assert!(
        (actual / expected - 1.0).abs() < 1e-12,
        "{actual} vs {expected}"
    );
    // The overhead is per layer: the same bytes in more blocks take longer.
    let mut profile = speed.profile.clone();
    let extra = profile.layers[0];
    profile.layers.push(extra);
    profile.layers[0].read_bytes = 0.0;
    profile.layers[0].kv_bytes_per_token = 0;
    let mut deeper = SpeedModel::new(profile, speed.machine.clone(), 0);
    deeper.factors = speed.factors;
    let extra_seconds = deeper.decode_seconds_per_token(0) - speed.decode_seconds_per_token(0);
    assert!((extra_seconds / 1e-4 - 1.0).abs() < 1e-6, "{extra_seconds}");
}

#[test]
fn no_fitted_entry_reads_faster_than_peak_bandwidth() {
    // A decode efficiency above 1 would claim more than the memory's peak: a broken fit (for
    // instance a per-layer overhead traded against bandwidth), not a fast machine.
    for entry in &efficiency::factors().factors {
        for (what, value) in [
            ("weights", entry.decode_bandwidth_efficiency),
            ("kv", entry.decode_kv_efficiency),
        ] {
            assert!(
                value > 0.0 && value <= 1.0,
                "{}/{}: decode {what} efficiency {value}",
                entry.class,
                entry.backend
            );
        }
        assert!(entry.decode_layer_overhead_seconds >= 0.0);
    }
}

#[test]
fn sliding_window_caps_the_kv_read() {
    let (spec, weights) = catalog_model("gemma-2-9b", FileType::Q4_K_M, None, None).unwrap();
    let profile = ModelProfile::new(&spec, &weights, TensorType::F16);
    let full_layers: u64 = profile
        .layers
        .iter()
        .filter(|layer| layer.window_tokens.is_none())
        .map(|layer| layer.kv_bytes_per_token)
        .sum();
    let growth = profile.kv_read_bytes(8192 + 4096) - profile.kv_read_bytes(8192);
    // Past the 4,096 window only the full-attention layers keep growing.
    assert_eq!(growth, (full_layers * 4096) as f64);
}

#[test]
fn layers_that_spill_to_host_memory_cost_time() {
    let (spec, weights) = story_model();
    let profile = ModelProfile::new(&spec, &weights, TensorType::F16);
    let build = |memory_gib: u64| {
        let hardware = HardwareBuilder::new("test gpu")
            .memory_bytes(memory_gib << 30)
            .bandwidth_bytes_per_second(1_000_000_000_000)
            .system_memory_bytes(128 << 30)
            .build()
            .unwrap();
        SpeedModel::new(
            profile.clone(),
            MachineModel::new(&hardware, None, Some(DeviceClass::NvidiaDiscrete), None),
            0,
        )
    };
    let roomy = build(48);
    let tight = build(8);
    assert_eq!(roomy.placement.host_layers, 0);
    assert!(tight.placement.host_layers > 0);
    assert!(tight.decode_tokens_per_second(0) < roomy.decode_tokens_per_second(0) / 2.0);
    // Prefill pays for copying host weights to the GPU each micro-batch.
    assert!(tight.prefill_seconds(0, 4096) > roomy.prefill_seconds(0, 4096));
}

#[test]
fn two_gpus_split_the_layers() {
    let (spec, weights) = story_model();
    let profile = ModelProfile::new(&spec, &weights, TensorType::F16);
    let pair = hardware::find_hardware("threadripper-2x-rx-7900-xtx").unwrap();
    let speed = SpeedModel::new(profile, MachineModel::new(pair, None, None, None), 0);
    assert_eq!(speed.placement.device_layers.len(), 2);
    assert!(
        speed
            .placement
            .device_layers
            .iter()
            .all(|&layers| layers > 0)
    );
    assert_eq!(speed.placement.device_layers.iter().sum::<u64>(), 48);
}

#[test]
fn story_timeout_arithmetic_at_a_measured_400_tokens_per_second() {
    let speed = story_speed();
    let timer = PrefillTimer::measured(&speed, 400.0, None, 0, "--prefill-rate 400".into());
    let report = timeout_report(&speed, &timer, 146_760, 0, 0.0, Some(300.0));
    // 146,760 / 400 = 366.9 s: over six minutes, so a 300 s timeout fails.
    assert!(report.prefill_seconds > 360.0 && report.prefill_seconds < 370.0);
    assert_eq!(report.fits_timeout, Some(false));
    assert!(report.needed_timeout_seconds >= report.time_to_first_token_seconds);
    let largest = report.largest_prompt_tokens.unwrap();
    // 300 s × 400 tokens/s, less one decode step.
    assert!((119_000..=120_000).contains(&largest), "{largest}");
}

#[test]
fn largest_prompt_is_the_boundary_of_the_timeout() {
    let speed = story_speed();
    let timer = PrefillTimer::model(&speed);
    let largest = headroom_core::speed::largest_prompt(&speed, &timer, 0, 0.0, 300.0);
    let first = |tokens| {
        timeout_report(&speed, &timer, tokens, 0, 0.0, Some(300.0)).time_to_first_token_seconds
    };
    assert!(first(largest) <= 300.0);
    assert!(first(largest + 1) > 300.0);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn speed_never_rises_with_depth(shallow in 0u64..200_000, extra in 1u64..60_000) {
            let speed = story_speed();
            let deep = shallow + extra;
            prop_assert!(speed.decode_tokens_per_second(deep) <= speed.decode_tokens_per_second(shallow));
            prop_assert!(speed.prefill_rate(deep).0 <= speed.prefill_rate(shallow).0);
        }

        #[test]
        fn a_longer_timeout_never_allows_a_shorter_prompt(timeout in 1.0f64..2000.0, more in 0.0f64..500.0) {
            let speed = story_speed();
            let timer = PrefillTimer::model(&speed);
            let short = headroom_core::speed::largest_prompt(&speed, &timer, 0, 0.0, timeout);
            let long = headroom_core::speed::largest_prompt(&speed, &timer, 0, 0.0, timeout + more);
            prop_assert!(long >= short);
        }

        #[test]
        fn measurement_parser_never_panics(text in "\\PC{0,200}") {
            let _ = headroom_core::speed::measured::parse_measurements(&text);
        }

        #[test]
        fn measurement_parser_survives_timing_shaped_noise(
            head in "(prompt )?eval time = ", number in "[0-9.]{0,8}", tail in "[ a-z/|±0-9.]{0,40}"
        ) {
            let _ = headroom_core::speed::measured::parse_measurements(&format!("{head}{number}{tail}"));
            let _ = headroom_core::speed::measured::parse_measurements(&format!("| m | pp{number} | {tail} ± 1 |"));
        }
    }
}

/// The tensor plans behind the fit reproduce the file sizes llama-bench printed for the truth
/// rows whose file is a plain llama-quantize (or converter) output: same model, same file type,
/// loaded bytes within the truth file's two-decimal rounding. Unsloth `UD-` mixes are not
/// llama-quantize's rules and are skipped; so is Google's Gemma 3 QAT release (its own
/// quantization pipeline, not llama-quantize's Q4_0 mix).
#[test]
fn catalog_tensor_plans_match_measured_file_sizes() {
    let path = common::shared_dir().join("truth/measured-throughput.csv");
    let text = fs_err::read_to_string(&path).unwrap();
    let models = [
        ("gpt-oss-20b", "gpt-oss-20b"),
        ("OpenAI gpt-oss 20B", "gpt-oss-20b"),
        ("gpt-oss-120b", "gpt-oss-120b"),
        ("OpenAI gpt-oss 120B", "gpt-oss-120b"),
        ("Qwen3-Coder-30B-A3B", "qwen3-coder-30b-a3b"),
        ("Qwen2.5-Coder-7B", "qwen2.5-7b"),
        ("GLM-4.7-Flash", "glm-4.7-flash"),
        ("Meta-Llama-3-8B", "llama-3.1-8b"),
        ("Meta-Llama-3-70B", "llama-3.1-70b"),
        ("Llama-2-7B", "llama-2-7b"),
        ("Llama-3.2-3B", "llama-3.2-3b"),
        ("Qwen3.6-35B-A3B", "qwen3.6-35b-a3b"),
        ("gemma-4-26B-A4B", "gemma-4-26b-a4b"),
        ("gemma-4-31B", "gemma-4-31b"),
    ];
    let mut lines = text.lines();
    let header = fit::csv_fields(lines.next().unwrap()).unwrap();
    let column = |name: &str| header.iter().position(|field| field == name).unwrap();
    let (model_column, quant_column, weights_column) =
        (column("model"), column("quant"), column("weights_gb"));
    let mut checked = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for (index, line) in lines.enumerate() {
        let fields = fit::csv_fields(line).unwrap();
        let (model, quant) = (&fields[model_column], &fields[quant_column]);
        let Some((_, id)) = models.iter().find(|(prefix, _)| model.starts_with(prefix)) else {
            continue;
        };
        let label = quant.split_whitespace().next().unwrap_or_default();
        let file_type = if label.eq_ignore_ascii_case("MXFP4") {
            FileType::Mxfp4_Moe
        } else if let Some(file_type) = FileType::from_name(label) {
            file_type
        } else {
            continue;
        };
        let Ok(gigabytes) = fields[weights_column].parse::<f64>() else {
            continue;
        };
        let (spec, weights) = catalog_model(id, file_type, None, None).unwrap();
        // llama-bench prints the loaded model's size: NextN / MTP blocks are skipped.
        let loaded = ModelProfile::new(&spec, &weights, TensorType::F16).weight_bytes;
        let error = loaded as f64 / (gigabytes * 1e9) - 1.0;
        // Two decimals of GB on files of 2 GB and more: at most 0.25 %.
        if error.abs() > 0.0025 {
            failures.push(format!(
                "line {}: {id} {label}: plan {:.3} GB, truth {gigabytes} GB ({:+.2} %)",
                index + 2,
                loaded as f64 / 1e9,
                error * 100.0
            ));
        }
        checked.insert((*id, label.to_owned()));
    }
    eprintln!(
        "checked {} model/file-type pairs: {checked:?}",
        checked.len()
    );
    assert!(checked.len() >= 12, "{checked:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
