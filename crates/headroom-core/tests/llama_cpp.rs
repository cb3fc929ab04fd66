//! Conformance with real llama.cpp: writes model-shaped GGUF files (sparse zero weights, tensor
//! list from `tensors.rs`, tokenizer from the shared vocab fixtures padded to the model's vocab)
//! and compares headroom's numbers with what `llama-fit-params --fit-print on -v` allocates
//! (its `llama_kv_cache`, `llama_memory_recurrent`, `model buffer`, `output buffer` and
//! `compute buffer` log lines, printed in MiB with two decimals).
//!
//! Needs env `HEADROOM_LLAMA_CPP_BIN` (the directory holding `llama-fit-params`, built by
//! `scripts/llama-cpp.sh`); without it the test fails unless `HEADROOM_SKIP_LLAMA_CPP=1`, in which
//! case it says it was skipped.

#[cfg(test)]
mod common;

#[cfg(test)]
mod harness {
    use super::common;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use headroom_core::memory::{ContextSettings, ModelWeights, estimate};
    use headroom_core::quant::{FileType, TensorType};
    use headroom_core::spec::{ModelSpec, metadata_from_config};
    use headroom_core::tensors::{gguf_writer, quantized_tensors};
    use headroom_gguf::{Array, GgufFile, Value};

    pub const MIB: f64 = 1024.0 * 1024.0;

    /// The llama.cpp tools directory, or `None` when the caller asked to skip.
    pub fn llama_cpp_bin() -> Option<PathBuf> {
        match std::env::var_os("HEADROOM_LLAMA_CPP_BIN") {
            Some(directory) => {
                let directory = PathBuf::from(directory);
                assert!(
                    directory.join("llama-fit-params").is_file(),
                    "HEADROOM_LLAMA_CPP_BIN={} holds no llama-fit-params (run scripts/llama-cpp.sh)",
                    directory.display()
                );
                Some(directory)
            }
            None if std::env::var("HEADROOM_SKIP_LLAMA_CPP").as_deref() == Ok("1") => {
                eprintln!(
                    "SKIPPED: llama.cpp conformance (HEADROOM_SKIP_LLAMA_CPP=1, HEADROOM_LLAMA_CPP_BIN unset)"
                );
                None
            }
            None => panic!(
                "set HEADROOM_LLAMA_CPP_BIN to the llama.cpp tools directory (scripts/llama-cpp.sh prints it), \
                 or HEADROOM_SKIP_LLAMA_CPP=1 to skip this test"
            ),
        }
    }

    /// Tokenizer keys from a vocab fixture, the token arrays padded or cut to `vocab` entries and
    /// special ids kept inside the vocabulary (llama.cpp sizes token_embd by the token count).
    fn tokenizer_metadata(vocab: u64) -> Vec<(String, Value)> {
        let fixture = common::shared_dir().join("fixtures/gguf/ggml-vocab-qwen2.gguf");
        let file = GgufFile::open(&fixture).expect("vocab fixture");
        let length = vocab as usize;
        let mut entries = Vec::new();
        for (key, value) in &file.metadata {
            if !key.starts_with("tokenizer.") || key == "tokenizer.chat_template" {
                continue;
            }
            let value = match (key.as_str(), value) {
                ("tokenizer.ggml.tokens", Value::Array(Array::String(tokens))) => {
                    let mut tokens = tokens.clone();
                    tokens.truncate(length);
                    let start = tokens.len();
                    tokens.extend((start..length).map(|index| format!("<|headroom_pad_{index}|>")));
                    Value::Array(Array::String(tokens))
                }
                ("tokenizer.ggml.token_type", Value::Array(Array::I32(types))) => {
                    let mut types = types.clone();
                    types.resize(length, 3);
                    Value::Array(Array::I32(types))
                }
                (name, other) if name.ends_with("_token_id") => {
                    let id = other.as_u64().unwrap_or(0);
                    Value::U32(if id < vocab { id as u32 } else { 0 })
                }
                (_, other) => other.clone(),
            };
            entries.push((key.clone(), value));
        }
        entries
    }

    /// Writes a model-shaped GGUF for `config` quantized as `file_type`.
    pub fn write_model(
        config: &serde_json::Value,
        file_type: FileType,
        path: &Path,
    ) -> (ModelSpec, ModelWeights) {
        let converted = metadata_from_config(config).expect("metadata");
        let spec = ModelSpec::from_config(config).expect("spec");
        let tensors = quantized_tensors(&spec, file_type).expect("plan");
        let mut writer = gguf_writer(&converted.metadata, &tensors).expect("writer");
        writer = writer.metadata(
            "general.file_type",
            Value::U32(
                file_type
                    .gguf_id()
                    .and_then(|id| u32::try_from(id).ok())
                    .expect("file type id"),
            ),
        );
        for (key, value) in tokenizer_metadata(spec.vocab_size) {
            writer = writer.metadata(key, value);
        }
        writer.write_to_path(path).expect("write gguf");
        let file = GgufFile::open(path).expect("read back");
        let spec = ModelSpec::from_gguf(&file).expect("spec from gguf");
        (spec, ModelWeights::from_gguf(&file))
    }

    /// What llama.cpp printed, in bytes (from MiB with two decimals).
    #[derive(Debug, Default)]
    pub struct Allocated {
        pub weights: f64,
        pub weight_rows: f64,
        pub kv: f64,
        pub recurrent: f64,
        pub output: f64,
        pub compute: f64,
        pub log: String,
    }

    fn mib_after(line: &str, marker: &str) -> Option<f64> {
        let rest = &line[line.find(marker)? + marker.len()..];
        let number: String = rest
            .trim_start()
            .chars()
            .take_while(|character| character.is_ascii_digit() || *character == '.')
            .collect();
        number.parse::<f64>().ok().map(|mib| mib * MIB)
    }

    /// The context flags both tools take: size, slots, cache types, flash attention.
    fn context_args(settings: &ContextSettings) -> [String; 10] {
        [
            "-c".to_owned(),
            settings.context_tokens.to_string(),
            "-np".to_owned(),
            settings.parallel_sequences.to_string(),
            "-ctk".to_owned(),
            settings.key_type.name().to_owned(),
            "-ctv".to_owned(),
            settings.value_type.name().to_owned(),
            "-fa".to_owned(),
            if settings.flash_attention {
                "on"
            } else {
                "off"
            }
            .to_owned(),
        ]
    }

    pub fn run_fit_params(bin: &Path, model: &Path, settings: &ContextSettings) -> Allocated {
        let mut command = Command::new(bin.join("llama-fit-params"));
        command
            .arg("-m")
            .arg(model)
            .args(context_args(settings))
            .args([
                "-b",
                &settings.batch_tokens.to_string(),
                "-ub",
                &settings.ubatch_tokens.to_string(),
            ])
            .args(["--fit-print", "on", "-v"]);
        if settings.kv_unified {
            command.arg("-kvu");
        }
        // llama.cpp logs through an asynchronous queue, and `llama-fit-params --fit-print on`
        // returns from main without flushing it after the estimate (tools/fit-params/
        // fit-params.cpp, sdist 11434.0.0): on a busy machine the tail of the log, breakdown
        // table included, can be lost at exit. Run again (at most 3 times) until the log is
        // complete; the comparison itself is unchanged.
        let mut log = String::new();
        for _ in 0..3 {
            let output = command.output().expect("run llama-fit-params");
            log = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            if log.contains("common_memory_breakdown_print: |   - ") {
                break;
            }
        }
        let mut allocated = Allocated::default();
        for line in log.lines() {
            if line.contains("llama_kv_cache: size =") {
                allocated.kv += mib_after(line, "size =").unwrap_or(0.0);
            } else if line.contains("llama_memory_recurrent: size =") {
                allocated.recurrent += mib_after(line, "size =").unwrap_or(0.0);
            } else if line.contains("common_memory_breakdown_print: |   - ") {
                // `| - Host | total = model + context + compute |`: under no_alloc the model
                // buffers print 0.00 MiB, so weights come from this table (whole MiB).
                if let Some(model) = line
                    .split('=')
                    .nth(1)
                    .and_then(|terms| terms.split('+').next())
                    .and_then(|term| term.trim().parse::<f64>().ok())
                {
                    allocated.weights += model * MIB;
                    allocated.weight_rows += 1.0;
                }
            } else if line.contains("output buffer size =") {
                allocated.output += mib_after(line, "output buffer size =").unwrap_or(0.0);
            } else if line.contains("compute buffer size =") {
                allocated.compute += mib_after(line, "compute buffer size =").unwrap_or(0.0);
            }
        }
        allocated.log = log;
        allocated
    }

    /// Compares one configuration; returns mismatch descriptions.
    pub fn compare(
        label: &str,
        spec: &ModelSpec,
        weights: &ModelWeights,
        settings: &ContextSettings,
        allocated: &Allocated,
        worst_compute: &mut f64,
    ) -> Vec<String> {
        let mut failures = Vec::new();
        let estimate = estimate(spec, weights, settings, Some(0)).expect("estimate");
        // MiB printed with two decimals: exact up to ±0.005 MiB per printed figure.
        let close = |ours: u64, theirs: f64, lines: f64| {
            (ours as f64 - theirs).abs() <= 0.0051 * MIB * lines
        };
        if allocated.weights == 0.0 {
            failures.push(format!(
                "{label}: llama.cpp printed no model buffer:\n{}",
                allocated.log
            ));
            return failures;
        }
        // The fit-params breakdown table truncates each buffer type's model figure to whole MiB;
        // llama-server prints model buffers with two decimals.
        let shortfall = estimate.weights.total_bytes() as f64 - allocated.weights;
        if !(-0.0051 * MIB * allocated.weight_rows..MIB * allocated.weight_rows)
            .contains(&shortfall)
        {
            failures.push(format!(
                "{label}: weights {} vs llama.cpp {:.0}",
                estimate.weights.total_bytes(),
                allocated.weights
            ));
        }
        if !close(estimate.kv.attention_bytes(), allocated.kv, 2.0) {
            failures.push(format!(
                "{label}: KV {} vs llama.cpp {:.0}",
                estimate.kv.attention_bytes(),
                allocated.kv
            ));
        }
        if !close(estimate.kv.recurrent_bytes, allocated.recurrent, 1.0) {
            failures.push(format!(
                "{label}: recurrent state {} vs llama.cpp {:.0}",
                estimate.kv.recurrent_bytes, allocated.recurrent
            ));
        }
        if !close(estimate.output_bytes, allocated.output, 1.0) {
            failures.push(format!(
                "{label}: output {} vs llama.cpp {:.0}",
                estimate.output_bytes, allocated.output
            ));
        }
        let error = (estimate.compute_bytes as f64 - allocated.compute) / allocated.compute;
        *worst_compute = worst_compute.max(error.abs());
        if error.abs() > 0.10 {
            failures.push(format!(
                "{label}: compute {} vs llama.cpp {:.0} ({:+.1}%)",
                estimate.compute_bytes,
                allocated.compute,
                error * 100.0
            ));
        }
        eprintln!(
            "{label}: KV {:.2} MiB (llama.cpp {:.2}), compute {:.2} MiB (llama.cpp {:.2}, {:+.1}%)",
            estimate.kv.total_bytes() as f64 / MIB,
            (allocated.kv + allocated.recurrent) / MIB,
            estimate.compute_bytes as f64 / MIB,
            allocated.compute / MIB,
            error * 100.0
        );
        failures
    }

    /// Starts llama-server (no repack, no warm-up, so sparse weights stay unread) on `model`,
    /// waits until it listens, stops it, and returns what it logged: the server profile
    /// (`n_outputs_max` = slots), which llama-fit-params cannot show.
    pub fn run_server(
        bin: &Path,
        model: &Path,
        settings: &ContextSettings,
        log_path: &Path,
    ) -> Allocated {
        let log_file = fs_err::File::create(log_path).expect("server log");
        let port = 20_000 + std::process::id() % 20_000;
        let mut command = Command::new(bin.join("llama-server"));
        command
            .arg("-m")
            .arg(model)
            .args(context_args(settings))
            .args([
                "-nr",
                "--fit",
                "off",
                "--no-warmup",
                "-v",
                "--host",
                "127.0.0.1",
            ])
            .args(["--port", &port.to_string()])
            .stdout(log_file.file().try_clone().expect("clone log"))
            .stderr(log_file.into_file());
        let mut child = command.spawn().expect("start llama-server");
        let mut log = String::new();
        for _ in 0..600 {
            std::thread::sleep(std::time::Duration::from_millis(500));
            log = fs_err::read_to_string(log_path).unwrap_or_default();
            if log.contains("listening on")
                || log.contains("exiting due to")
                || child.try_wait().ok().flatten().is_some()
            {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let mut allocated = Allocated::default();
        for line in log.lines() {
            if line.contains("llama_kv_cache: size =") {
                allocated.kv += mib_after(line, "size =").unwrap_or(0.0);
            } else if line.contains("llama_memory_recurrent: size =") {
                allocated.recurrent += mib_after(line, "size =").unwrap_or(0.0);
            } else if line.contains("model buffer size =") {
                allocated.weights += mib_after(line, "model buffer size =").unwrap_or(0.0);
                allocated.weight_rows += 1.0;
            } else if line.contains("output buffer size =") {
                allocated.output += mib_after(line, "output buffer size =").unwrap_or(0.0);
            } else if line.contains("compute buffer size =") {
                allocated.compute += mib_after(line, "compute buffer size =").unwrap_or(0.0);
            }
        }
        allocated.log = log;
        allocated
    }

    pub fn settings(
        context: u64,
        parallel: u64,
        cache: TensorType,
        flash: bool,
    ) -> ContextSettings {
        let mut settings = ContextSettings::fit_params(context, parallel).with_cache_type(cache);
        settings.flash_attention = flash;
        settings
    }
}

use harness::*;
use headroom_core::quant::{FileType, TensorType};
use std::path::PathBuf;

/// Every architecture with a tensor layout, against llama.cpp itself.
#[test]
fn model_shaped_ggufs_match_llama_cpp() {
    let Some(bin) = llama_cpp_bin() else { return };
    // Sparse files: the data region is a hole, so 18 GB models cost no disk.
    let directory = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let cases: Vec<(String, serde_json::Value, FileType)> = common::conformance_configs();
    let mut failures = Vec::new();
    let mut worst_compute = 0f64;
    for (name, config, file_type) in &cases {
        let path = match std::env::var_os("HEADROOM_KEEP_CONFORMANCE_GGUF") {
            Some(keep) => PathBuf::from(keep).join(format!("{name}.gguf")),
            None => directory.path().join(format!("{name}.gguf")),
        };
        let (spec, weights) = write_model(config, *file_type, &path);
        let mut runs = vec![
            settings(4096, 1, TensorType::F16, true),
            settings(8192, 2, TensorType::Q8_0, true),
            settings(4096, 1, TensorType::F16, false),
        ];
        // Llama 4's 8192-token chunks only shrink the cache beyond 8192 + n_ubatch tokens.
        if name.starts_with("llama-4") {
            runs.push(settings(32768, 1, TensorType::F16, true));
        }
        for settings in runs {
            let label = format!(
                "{name} {file_type} ctx={} np={} kv={} fa={}",
                settings.context_tokens,
                settings.parallel_sequences,
                settings.key_type,
                settings.flash_attention
            );
            let allocated = run_fit_params(&bin, &path, &settings);
            failures.extend(compare(
                &label,
                &spec,
                &weights,
                &settings,
                &allocated,
                &mut worst_compute,
            ));
        }
    }
    eprintln!(
        "llama.cpp conformance: {} models, worst compute error {:.1}%",
        cases.len(),
        worst_compute * 100.0
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// llama-server's own reservation (n_outputs_max = slots, so the layer phase decides the compute
/// buffer): dense, MoE with a dense lead layer and MLA, SWA, a short-conv hybrid, a MoE whose
/// down outputs fit the freed up/gate block (MiniMax-M2) and one whose do not (Qwen3.5-35B-A3B),
/// the ungated and LatentMoE experts of Nemotron 3 Nano and Super, a Mamba-2 peak (Nemotron-H),
/// MLA with a query LoRA (GLM-4.7-Flash), and Gemma 4 26B-A4B, whose tied output is created before
/// token_embd: on the CPU llama-fit-params counts token_embd twice (the fit-params test above) and
/// llama-server, mapping the file, once.
#[test]
fn llama_server_profile_matches_llama_cpp() {
    let Some(bin) = llama_cpp_bin() else { return };
    let directory = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let mut failures = Vec::new();
    let mut worst_compute = 0f64;
    for name in [
        "lfm2-1.2b",
        "deepseek-v2-lite",
        "gemma-2-9b",
        "qwen2.5-coder-7b",
        "minimax-m2.5",
        "nemotron-3-nano-30b-a3b",
        "nemotron-3-super-120b-a12b",
        "nemotron-h-56b",
        "qwen3.5-35b-a3b",
        "glm-4.7-flash",
        "gemma-4-26b-a4b",
    ] {
        let (_, config, file_type) = common::conformance_configs()
            .into_iter()
            .find(|(case, _, _)| case == name)
            .expect("conformance config");
        let path = directory.path().join(format!("{name}.gguf"));
        let (spec, weights) = write_model(&config, file_type, &path);
        for flash in [true, false] {
            let settings = headroom_core::memory::ContextSettings {
                flash_attention: flash,
                ..headroom_core::memory::ContextSettings::llama_server(8192, Some(1))
            };
            let label = format!("llama-server {name} ctx=8192 np=1 fa={flash}");
            let allocated = run_server(
                &bin,
                &path,
                &settings,
                &directory.path().join(format!("{name}-{flash}.log")),
            );
            failures.extend(compare(
                &label,
                &spec,
                &weights,
                &settings,
                &allocated,
                &mut worst_compute,
            ));
        }
    }
    eprintln!(
        "llama-server conformance: worst compute error {:.1}%",
        worst_compute * 100.0
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
