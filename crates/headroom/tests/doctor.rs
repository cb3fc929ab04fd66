//! End to end: `headroom doctor` on every example bundle (snapshot of the report and the exit
//! code), `headroom explain`, and `headroom fix --write` on copies of the bundles: the written
//! Modelfile parses, sets num_ctx, keeps every other line, and the doctor's context findings
//! disappear.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn doctor(bundle: &str) -> (String, i32) {
    let output = Command::cargo_bin("headroom")
        .unwrap()
        .current_dir(workspace())
        .args(["doctor", bundle])
        .output()
        .unwrap();
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        String::from_utf8(output.stdout).unwrap(),
        output.status.code().unwrap(),
    )
}

macro_rules! bundle_test {
    ($name:ident, $bundle:literal, $code:expr) => {
        #[test]
        fn $name() {
            let (report, code) = doctor(concat!("examples/", $bundle));
            assert_eq!(code, $code, "{report}");
            insta::assert_snapshot!(
                concat!("doctor-", $bundle),
                format!("exit code: {code}\n\n{report}")
            );
        }
    };
}

bundle_test!(clarity_finds_the_three_layers, "clarity", 1);
bundle_test!(parallel_slots_exhaust_memory, "parallel-slots", 1);
bundle_test!(a_model_that_does_not_fit, "does-not-fit", 1);
bundle_test!(a_v1_client_loses_its_num_ctx, "openai-v1", 1);
bundle_test!(a_healthy_setup_exits_zero, "healthy", 0);

#[test]
fn clarity_has_the_story_numbers() {
    let (report, _) = doctor("examples/clarity");
    let verdict = report.split("\n\n").next().unwrap();
    assert!(verdict.starts_with("Your hardware is fine."), "{verdict}");
    for needle in [
        "Context capped at 131,072 tokens by the Modelfile; the model was trained for 262,144",
        "3 prompts of up to 146,760 tokens into a 131,072-token window cut",
        "146,760 tokens ÷ 400 tokens/s = 367 s",
        "> the client's 300 s (5 min) timeout",
        "KV cache 24.0 GiB",
        "the 48.0 GiB the GPU may use of 64.0 GiB unified memory: fits",
    ] {
        assert!(report.contains(needle), "missing `{needle}` in\n{report}");
    }
}

#[test]
fn json_report_carries_codes_and_evidence() {
    let output = Command::cargo_bin("headroom")
        .unwrap()
        .current_dir(workspace())
        .args(["doctor", "examples/clarity", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let codes: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["CTX001", "CTX002", "TIME001"]);
    assert_eq!(json["findings"][1]["evidence"][0]["line"], 24);
}

#[test]
fn explain_prints_the_rule_doc() {
    let output = Command::cargo_bin("headroom")
        .unwrap()
        .args(["explain", "ctx001"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("CTX001 context-below-trained"), "{text}");
    assert!(text.contains("Fix:"), "{text}");
    let unknown = Command::cargo_bin("headroom")
        .unwrap()
        .args(["explain", "NOPE1"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn a_missing_bundle_is_an_error_with_exit_code_2() {
    let output = Command::cargo_bin("headroom")
        .unwrap()
        .args(["doctor", "/nonexistent/bundle"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a directory"));
}

fn copy_bundle(name: &str) -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    for entry in fs_err::read_dir(workspace().join("examples").join(name)).unwrap() {
        let entry = entry.unwrap();
        fs_err::copy(entry.path(), directory.path().join(entry.file_name())).unwrap();
    }
    directory
}

fn run_in(directory: &Path, args: &[&str]) -> (String, i32) {
    let output = Command::cargo_bin("headroom")
        .unwrap()
        .args(args)
        .arg(directory)
        .output()
        .unwrap();
    (
        String::from_utf8(output.stdout).unwrap() + &String::from_utf8_lossy(&output.stderr),
        output.status.code().unwrap(),
    )
}

#[test]
fn fix_dry_run_writes_nothing() {
    let copy = copy_bundle("clarity");
    let before = fs_err::read_to_string(copy.path().join("Modelfile")).unwrap();
    let (out, code) = run_in(copy.path(), &["fix"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("+PARAMETER num_ctx 262144"), "{out}");
    assert!(out.contains("ollama create qwen3-coder:30b-262k"), "{out}");
    assert_eq!(
        fs_err::read_to_string(copy.path().join("Modelfile")).unwrap(),
        before
    );
}

#[test]
fn fix_round_trips_the_modelfile_and_clears_the_findings() {
    let copy = copy_bundle("clarity");
    let original = fs_err::read_to_string(copy.path().join("Modelfile")).unwrap();
    let (out, code) = run_in(
        copy.path(),
        &["fix", "--write", "--stamp", "20260218T120000Z"],
    );
    assert_eq!(code, 0, "{out}");
    let written = fs_err::read_to_string(copy.path().join("Modelfile")).unwrap();
    // It parses and sets what it should.
    let parsed = headroom_ollama::Modelfile::parse(&written).unwrap();
    assert_eq!(parsed.parameter("num_ctx"), Some("262144"));
    // Nothing else changed: the only differing line is num_ctx.
    let changed: Vec<(&str, &str)> = original
        .lines()
        .zip(written.lines())
        .filter(|(old, new)| old != new)
        .collect();
    assert_eq!(
        changed,
        [("PARAMETER num_ctx 131072", "PARAMETER num_ctx 262144")]
    );
    assert_eq!(original.lines().count(), written.lines().count());
    // The backup holds the original.
    let backup = copy.path().join("Modelfile.bak-20260218T120000Z");
    assert_eq!(fs_err::read_to_string(backup).unwrap(), original);
    // The doctor's findings are gone: only notes about the old log remain.
    let (report, code) = run_in(copy.path(), &["doctor"]);
    assert_eq!(code, 0, "{report}");
    for code in ["CTX001 [", "CTX002 [", "TIME001 ["] {
        assert!(!report.contains(code), "{code} still reported:\n{report}");
    }
    // A second --write with the same stamp refuses to overwrite the backup.
    let (out, code) = run_in(
        copy.path(),
        &["fix", "--write", "--stamp", "20260218T120000Z"],
    );
    assert_eq!(code, 0, "nothing left to fix: {out}");
}

#[test]
fn fix_writes_a_new_modelfile_for_a_v1_client() {
    let copy = copy_bundle("openai-v1");
    let (out, code) = run_in(
        copy.path(),
        &["fix", "--write", "--stamp", "20251002T140000Z"],
    );
    assert_eq!(code, 0, "{out}");
    let written = fs_err::read_to_string(copy.path().join("Modelfile")).unwrap();
    assert_eq!(written, "FROM qwen3:8b\nPARAMETER num_ctx 32768\n");
    let (report, code) = run_in(copy.path(), &["doctor"]);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("qwen3:8b-32k"), "{report}");
}

#[test]
fn fix_records_the_server_settings_and_clears_the_slot_finding() {
    let copy = copy_bundle("parallel-slots");
    let (out, code) = run_in(
        copy.path(),
        &["fix", "--write", "--stamp", "20260303T140000Z"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OLLAMA_NUM_PARALLEL=1"), "{out}");
    let client = fs_err::read_to_string(copy.path().join("client.toml")).unwrap();
    assert!(client.contains("OLLAMA_NUM_PARALLEL = \"1\""), "{client}");
    // The Modelfile needed no change, so none was written.
    assert!(!copy.path().join("Modelfile.bak-20260303T140000Z").exists());
    let (report, code) = run_in(copy.path(), &["doctor"]);
    assert_eq!(code, 0, "{report}");
    assert!(!report.contains("MEM002 ["), "{report}");
}

/// A Nemotron-H file carries the converter's 2^20 context placeholder: the doctor neither calls it
/// the trained window nor tells a Modelfile with num_ctx 8192 to raise it.
#[test]
fn a_converter_context_placeholder_is_no_window_to_recommend() {
    let directory = tempfile::tempdir().unwrap();
    let header = headroom_core::headers::catalog_model_header(
        "nemotron-h-56b",
        headroom_core::quant::FileType::Q4_K_M,
    )
    .unwrap();
    fs_err::write(
        directory.path().join("nemotron-h-56b.header.gguf"),
        &header.bytes,
    )
    .unwrap();
    fs_err::write(
        directory.path().join("Modelfile"),
        "FROM nemotron-h:56b\nPARAMETER num_ctx 8192\n",
    )
    .unwrap();
    let output = Command::cargo_bin("headroom")
        .unwrap()
        .arg("doctor")
        .arg(directory.path())
        .output()
        .unwrap();
    let report = String::from_utf8(output.stdout).unwrap();
    assert!(
        report.contains("context_length 1,048,576, the converter's placeholder"),
        "{report}"
    );
    assert!(!report.contains("trained for 1,048,576"), "{report}");
    assert!(!report.contains("num_ctx 1048576"), "{report}");
}
