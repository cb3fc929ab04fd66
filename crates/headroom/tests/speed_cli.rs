//! `headroom speed`, `plan` and `compare` end to end: the story's timeout arithmetic on the
//! story's 64 GB Mac, JSON everywhere, exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use assert_cmd::Command;
use serde_json::Value;

fn headroom() -> Command {
    Command::cargo_bin("headroom").unwrap()
}

fn json(arguments: &[&str]) -> (Value, i32) {
    let output = headroom().args(arguments).arg("--json").output().unwrap();
    let value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "{error}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (value, output.status.code().unwrap())
}

#[test]
fn story_prompt_at_400_tokens_per_second_misses_a_300_second_timeout() {
    let (report, code) = json(&[
        "speed",
        "qwen3-coder-30b-a3b",
        "--hardware",
        "mac-64gb",
        "--context",
        "262144",
        "--prompt-tokens",
        "146760",
        "--timeout",
        "300",
        "--prefill-rate",
        "400",
    ]);
    assert_eq!(code, 1, "a failed timeout is a problem found");
    assert_eq!(report["machine_id"], "mac-mini-m4-pro-64gb");
    let measured = &report["measured"];
    let prefill = measured["prefill_seconds"].as_f64().unwrap();
    assert!(prefill > 360.0, "over six minutes: {prefill}");
    assert_eq!(measured["fits_timeout"], false);
    let needed = measured["needed_timeout_seconds"].as_f64().unwrap();
    assert!(needed > prefill && needed <= prefill * 1.3, "{needed}");
    let largest = measured["largest_prompt_tokens"].as_u64().unwrap();
    assert!((119_000..=120_000).contains(&largest), "{largest}");
    // The model's own prediction is reported beside the measurement.
    let predicted = &report["predicted"];
    assert!(
        predicted["average_prefill_tokens_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(predicted["needed_timeout_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn text_output_says_which_timeout_would_pass() {
    let output = headroom()
        .args([
            "speed",
            "qwen3-coder:30b",
            "--hardware",
            "mac-64gb",
            "--prompt-tokens",
            "146760",
            "--timeout",
            "300",
            "--prefill-rate",
            "400",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("timeout 300 s (5.0 min): FAILS"), "{text}");
    assert!(text.contains("timeout this prompt needs: 460 s"), "{text}");
}

#[test]
fn a_measured_ollama_response_overrides_the_prediction() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("response.json");
    fs_err::write(
        &path,
        r#"{"model":"qwen3-coder:30b","done":true,"prompt_eval_count":8000,"prompt_eval_duration":20000000000,"eval_count":100,"eval_duration":2500000000}"#,
    )
    .unwrap();
    let (report, _) = json(&[
        "speed",
        "qwen3-coder-30b-a3b",
        "--hardware",
        "mac-64gb",
        "--prompt-tokens",
        "8000",
        "--measured",
        path.to_str().unwrap(),
    ]);
    let measured = &report["measured"];
    // The measured 8,000 tokens took 20 s: the anchored model reproduces it.
    let prefill = measured["prefill_seconds"].as_f64().unwrap();
    assert!((prefill - 20.0).abs() < 0.01, "{prefill}");
    assert_eq!(report["measured_decode_tokens_per_second"], 40.0);
}

#[test]
fn plan_ranks_machines_that_fit_first_and_respects_the_budget() {
    let (report, code) = json(&[
        "plan",
        "qwen3-coder-30b-a3b",
        "--context",
        "32768",
        "--budget",
        "2500",
    ]);
    assert_eq!(code, 0);
    let machines = report["machines"].as_array().unwrap();
    assert!(!machines.is_empty());
    for machine in machines {
        assert!(machine["price_usd"].as_f64().unwrap() <= 2500.0);
    }
    let fits: Vec<bool> = machines
        .iter()
        .map(|m| m["fits"].as_bool().unwrap())
        .collect();
    let first_misfit = fits.iter().position(|fit| !fit).unwrap_or(fits.len());
    assert!(fits[first_misfit..].iter().all(|fit| !fit));
}

#[test]
fn compare_shows_the_story_machines_side_by_side() {
    let (report, _) = json(&[
        "compare",
        "dgx-spark",
        "mac-studio-m2-ultra-64gb",
        "framework-desktop-ryzen-ai-max-395-128gb",
        "amd-mi300x",
        "--model",
        "qwen3-32b",
        "--context",
        "32768",
    ]);
    let machines = report["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 4);
    assert_eq!(
        machines[0]["bandwidth_bytes_per_second"],
        273_000_000_000u64
    );
    let speed = report["speed"].as_array().unwrap();
    // A dense model's decode follows bandwidth: the M2 Ultra (800 GB/s) beats the Spark
    // (273 GB/s). (With ~3B active parameters the per-layer overhead weighs as much as the bytes,
    // so a small-expert MoE does not show this.)
    assert!(
        speed[1]["decode_empty_tokens_per_second"].as_f64().unwrap()
            > speed[0]["decode_empty_tokens_per_second"].as_f64().unwrap()
    );
}

#[test]
fn unknown_machine_is_an_error_with_a_hint() {
    headroom()
        .args(["speed", "qwen3-coder-30b-a3b", "--hardware", "no-such-box"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not in the hardware catalog"));
}

/// Without --context, speed, plan and compare size Nemotron-H at its converter's 2^20 placeholder
/// as llama.cpp would, and each says so; with --context, none does.
#[test]
fn a_converter_context_placeholder_is_noted() {
    let note = "the placeholder convert_hf_to_gguf writes for nemotron_h models";
    let (report, _) = json(&["speed", "nemotron-h-56b", "--hardware", "dgx-spark"]);
    let notes = report["notes"].to_string();
    assert!(notes.contains(note), "{notes}");
    for arguments in [
        &["plan", "nemotron-h-56b"][..],
        &[
            "compare",
            "dgx-spark",
            "rtx-4090",
            "--model",
            "nemotron-h-56b",
        ][..],
    ] {
        let output = headroom().args(arguments).output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(note), "{arguments:?}: {stderr}");
        let output = headroom()
            .args(arguments)
            .args(["--context", "8192"])
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(!stderr.contains("placeholder"), "{arguments:?}: {stderr}");
    }
    let (report, _) = json(&[
        "speed",
        "nemotron-h-56b",
        "--hardware",
        "dgx-spark",
        "--context",
        "8192",
    ]);
    assert!(!report["notes"].to_string().contains("placeholder"));
}

/// Bad numbers are refused with exit code 2 and the flag named, before any arithmetic: no "inf s"
/// from a zero rate, no context llama.cpp could not address (n_ctx is 32 bits).
#[test]
fn impossible_numbers_are_input_errors() {
    for (arguments, flag) in [
        (
            &[
                "speed",
                "qwen3-8b",
                "--hardware",
                "dgx-spark",
                "--prefill-rate",
                "0",
            ][..],
            "--prefill-rate",
        ),
        (
            &[
                "speed",
                "qwen3-8b",
                "--hardware",
                "dgx-spark",
                "--decode-rate",
                "inf",
            ][..],
            "--decode-rate",
        ),
        (
            &[
                "speed",
                "qwen3-8b",
                "--hardware",
                "dgx-spark",
                "--timeout",
                "0",
            ][..],
            "--timeout",
        ),
        (
            &[
                "speed",
                "qwen3-8b",
                "--hardware",
                "dgx-spark",
                "--depth",
                "5000000000",
            ][..],
            "--depth",
        ),
        (
            &[
                "speed",
                "qwen3-8b",
                "--hardware",
                "dgx-spark",
                "--context",
                "128k",
            ][..],
            "--context",
        ),
        (
            &["memory", "qwen3-8b", "--context", "1099511627776"][..],
            "--context",
        ),
        (
            &["plan", "qwen3-8b", "--context", "5000000000"][..],
            "--context",
        ),
        (
            &[
                "compare",
                "dgx-spark",
                "rtx-4090",
                "--model",
                "qwen3-8b",
                "--context",
                "5000000000",
            ][..],
            "--context",
        ),
    ] {
        let output = headroom().args(arguments).output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{arguments:?}: {stderr}");
        assert!(stderr.contains(flag), "{arguments:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{arguments:?}");
    }
}
