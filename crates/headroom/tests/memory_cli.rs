//! End to end: `headroom memory` on the truth models' configs and on a model-shaped GGUF.

use std::process::Command;

use assert_cmd::prelude::*;

const CONFIGS: &str = "../headroom-core/tests/fixtures/configs";

#[cfg(test)]
mod helpers {
    use super::*;

    pub fn headroom() -> Command {
        let mut command = Command::cargo_bin("headroom").unwrap();
        command.current_dir(env!("CARGO_MANIFEST_DIR"));
        command
    }

    pub fn run(arguments: &[&str]) -> (i32, String, String) {
        let output = headroom().args(arguments).output().unwrap();
        (
            output.status.code().unwrap(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    }
}

use helpers::run;

/// The story: Qwen3-Coder-30B-A3B at its trained 262,144 tokens, f16 cache, on a 64 GB Mac.
#[test]
fn qwen3_coder_at_262k_on_a_64_gb_mac() {
    let config = format!("{CONFIGS}/qwen3-coder-30b-a3b.json");
    let (code, stdout, stderr) = run(&[
        "memory",
        &config,
        "--context",
        "262144",
        "--memory",
        "64GiB",
        "--unified",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("KV cache            24.00 GiB"), "{stdout}");
    assert!(stdout.contains("96.0 KiB/token"), "{stdout}");
    assert!(stdout.contains("verdict: FITS"), "{stdout}");
    assert!(
        stdout.contains("GPU share 48.00 GiB = macOS default wired limit"),
        "{stdout}"
    );
    assert!(stdout.contains("APPROXIMATE"), "{stdout}");
    insta::assert_snapshot!(format!("exit {code}\n{stdout}"));
}

/// Q8_0 weights: the 64 GB pool would hold it, the GPU's default 48 GiB share does not.
#[test]
fn warns_when_the_default_gpu_share_is_the_limit() {
    let config = format!("{CONFIGS}/qwen3-coder-30b-a3b.json");
    let (code, stdout, stderr) = run(&[
        "memory",
        &config,
        "--quant",
        "Q8_0",
        "--memory",
        "64GiB",
        "--unified",
    ]);
    assert_eq!(code, 1, "does not fit => exit 1; {stderr}");
    assert!(stdout.contains("verdict: DOES NOT FIT"), "{stdout}");
    assert!(
        stdout.contains("is the limit, not the 64.00 GiB installed"),
        "{stdout}"
    );
    insta::assert_snapshot!(format!("exit {code}\n{stdout}"));
}

#[test]
fn raising_the_wired_limit_makes_it_fit() {
    let config = format!("{CONFIGS}/qwen3-coder-30b-a3b.json");
    let (code, stdout, _) = run(&[
        "memory",
        &config,
        "--quant",
        "Q8_0",
        "--memory",
        "64GiB",
        "--unified",
        "--gpu-share",
        "58GiB",
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("verdict: FITS"), "{stdout}");
}

#[test]
fn gemma_partial_offload_on_a_discrete_gpu() {
    let config = format!("{CONFIGS}/gemma-3-12b.json");
    let (code, stdout, stderr) = run(&[
        "memory",
        &config,
        "--context",
        "32768",
        "--gpu-memory",
        "12GiB",
        "--memory",
        "32GiB",
        "--gpu-layers",
        "30",
    ]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(format!("exit {code}\n{stdout}"));
}

#[test]
fn quantized_v_without_flash_attention_is_an_error() {
    let config = format!("{CONFIGS}/llama-3.1-8b.json");
    let (code, stdout, stderr) = run(&[
        "memory",
        &config,
        "--kv-type",
        "q8_0",
        "--flash-attention",
        "off",
    ]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("requires flash attention"), "{stderr}");
}

#[test]
fn missing_model_is_an_error_naming_the_path() {
    let (code, _, stderr) = run(&["memory", "no-such-model.gguf"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no-such-model.gguf is neither a file nor a catalog model"),
        "{stderr}"
    );
}

#[test]
fn json_output_carries_every_component() {
    let config = format!("{CONFIGS}/llama-3.1-8b.json");
    let (code, stdout, stderr) = run(&[
        "memory",
        &config,
        "--context",
        "8192",
        "--json",
        "--memory",
        "16GiB",
        "--gpu-memory",
        "8GiB",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    // Llama 3.1 8B: 8192 × 128 KiB = 1 GiB of f16 KV (memory-anchors §7).
    assert_eq!(
        report["estimate"]["kv"]["key_bytes"].as_u64().unwrap() * 2,
        1 << 30
    );
    assert_eq!(report["kv_bytes_per_token"], 131_072);
    assert_eq!(report["verdict"]["fits"], true);
    assert_eq!(report["largest_context"].as_array().unwrap().len(), 3);
    assert_eq!(report["compute_is_approximate"], true);
}

/// A model-shaped GGUF (sparse zeros) written with headroom's writer sizes like its config.
#[test]
fn gguf_file_sizes_like_its_config() {
    let config_path = format!("{}/{CONFIGS}/qwen3-8b.json", env!("CARGO_MANIFEST_DIR"));
    let config: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&config_path).unwrap()).unwrap();
    let converted = headroom_core::spec::metadata_from_config(&config).unwrap();
    let spec = headroom_core::spec::ModelSpec::from_config(&config).unwrap();
    let tensors =
        headroom_core::tensors::quantized_tensors(&spec, headroom_core::quant::FileType::Q4_K_M)
            .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("qwen3-8b-Q4_K_M.gguf");
    headroom_core::tensors::gguf_writer(&converted.metadata, &tensors)
        .unwrap()
        .write_to_path(&path)
        .unwrap();
    let path_text = path.to_string_lossy().into_owned();
    let (code, from_gguf, stderr) = run(&["memory", &path_text, "--context", "32768", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, from_config, _) = run(&["memory", &config_path, "--context", "32768", "--json"]);
    let gguf: serde_json::Value = serde_json::from_str(&from_gguf).unwrap();
    let config: serde_json::Value = serde_json::from_str(&from_config).unwrap();
    assert_eq!(gguf["estimate"]["kv"], config["estimate"]["kv"]);
    assert_eq!(gguf["estimate"]["weights"], config["estimate"]["weights"]);
    // Truth table: qwen3-8b Q4_K_M weights_bytes = 5021827072.
    let weights = &gguf["estimate"]["weights"];
    assert_eq!(
        weights["gpu_bytes"].as_u64().unwrap() + weights["host_bytes"].as_u64().unwrap(),
        5_021_827_072
    );
}

/// Without --gpu-memory the machine is CPU-only: everything sits in system RAM.
#[test]
fn system_memory_only_means_cpu_inference() {
    let config = format!("{CONFIGS}/qwen3-8b.json");
    let (code, stdout, stderr) = run(&[
        "memory",
        &config,
        "--context",
        "32768",
        "--memory",
        "16GiB",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["estimate"]["gpu_layers"], 0);
    assert_eq!(report["estimate"]["weights"]["gpu_bytes"], 0);
    assert_eq!(report["verdict"]["limiting"], "system_memory");
    assert_eq!(report["verdict"]["fits"], true);
}

/// A catalog machine whose GPU may use all of its unified memory (Strix Halo under Linux) is not
/// described with macOS's wired limit.
#[test]
fn a_linux_unified_machine_is_not_given_a_macos_wired_limit() {
    let (code, stdout, stderr) = run(&[
        "memory",
        "qwen3-coder:30b",
        "--context",
        "262144",
        "--hardware",
        "framework-desktop-ryzen-ai-max-395-128gb",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("GPU may wire 128.00 GiB"), "{stdout}");
    assert!(
        stdout.contains("GPU share 128.00 GiB = all of its unified memory"),
        "{stdout}"
    );
    assert!(!stdout.contains("macOS"), "{stdout}");
}

/// The story by name: the Ollama tag resolves through the model catalog, the Mac through the
/// hardware catalog (64 GB unified, default GPU share).
#[test]
fn catalog_model_on_catalog_hardware() {
    let (code, stdout, stderr) = run(&[
        "memory",
        "qwen3-coder:30b",
        "--context",
        "262144",
        "--hardware",
        "mac-mini-m4-pro-64gb",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("KV cache            24.00 GiB"), "{stdout}");
    assert!(stdout.contains("verdict: FITS"), "{stdout}");
    assert!(stdout.contains("GPU may wire 48.00 GiB"), "{stdout}");
    insta::assert_snapshot!(format!("exit {code}\n{stdout}"));
}

#[test]
fn unknown_names_suggest_catalog_entries() {
    let (code, _, stderr) = run(&["memory", "qwen3-codr:30b"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("neither a file nor a catalog model"),
        "{stderr}"
    );
    let config = format!("{CONFIGS}/qwen3-8b.json");
    let (code, _, stderr) = run(&["memory", &config, "--hardware", "mac-mini-m9"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unknown --hardware `mac-mini-m9`"),
        "{stderr}"
    );
}

/// Without --context, a Nemotron-H model is sized at the 2^20 its converter writes, as llama.cpp
/// would do; the warning says that this is a placeholder, and with --context there is no talk of
/// a "trained" window below it.
#[test]
fn converter_context_placeholder_is_named() {
    let (code, stdout, stderr) = run(&["memory", "nemotron-h-56b"]);
    assert_eq!(code, 0, "{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("1,048,576 tokens (1 sequence"), "{all}");
    assert!(
        all.contains("the placeholder convert_hf_to_gguf writes for nemotron_h models"),
        "{all}"
    );
    let (code, stdout, stderr) = run(&["memory", "nemotron-h-56b", "--context", "8192"]);
    assert_eq!(code, 0, "{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(!all.contains("trained"), "{all}");
    assert!(!all.contains("placeholder"), "{all}");
}

/// A GPU share above the unified memory there is would be reported and then clamped: it is an
/// input error instead, for flags and for a catalog Mac.
#[test]
fn a_gpu_share_above_the_memory_is_an_input_error() {
    for arguments in [
        &[
            "memory",
            "qwen3-8b",
            "--memory",
            "64GiB",
            "--unified",
            "--gpu-share",
            "100GiB",
        ][..],
        &[
            "memory",
            "qwen3-8b",
            "--hardware",
            "mac-mini-m4-pro-64gb",
            "--gpu-share",
            "100GiB",
        ][..],
    ] {
        let (code, stdout, stderr) = run(arguments);
        assert_eq!(code, 2, "{arguments:?}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains("--gpu-share 100.00 GiB is more than the 64.00 GiB"),
            "{stderr}"
        );
    }
}

/// Gemma 4 on the CPU: llama.cpp creates its tied output before token_embd, so the host holds two
/// token_embd tensors; mapped from the file (the default) they share pages, read in
/// (`--no-mmap`) they cost twice. Exactly token_embd's bytes apart.
#[test]
fn no_mmap_pays_for_gemma_4_s_second_host_token_embd() {
    let host = |extra: &[&str]| {
        let mut arguments = vec![
            "memory",
            "gemma-4-26b-a4b",
            "--context",
            "8192",
            "--gpu-layers",
            "0",
            "--json",
        ];
        arguments.extend_from_slice(extra);
        let (code, stdout, stderr) = run(&arguments);
        assert_eq!(code, 0, "{stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        report["estimate"]["weights"]["host_bytes"]
            .as_u64()
            .unwrap()
    };
    let mapped = host(&[]);
    let read = host(&["--no-mmap"]);
    // token_embd of gemma-4-26b-a4b at Q4_K_M: 262,144 × 2,816 in Q6_K (210 bytes per 256).
    assert_eq!(read - mapped, 262_144 * 2_816 / 256 * 210);
}
