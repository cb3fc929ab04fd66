//! `headroom inspect` end to end: output on a real fixture, and hostile files rejected with exit
//! code 2 and a message naming the byte offset and the key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/gguf")
        .join(name)
}

fn headroom() -> Command {
    Command::cargo_bin("headroom").unwrap()
}

#[test]
fn inspect_prints_the_vocabulary_facts() {
    let output = headroom()
        .arg("inspect")
        .arg(fixture("ggml-vocab-qwen2.gguf"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    let text = text.lines().skip(1).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!(text);
}

#[test]
fn inspect_json_agrees_with_the_header() {
    let output = headroom()
        .args(["inspect", "--json"])
        .arg(fixture("ggml-vocab-llama-bpe.gguf"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["architecture"], "llama");
    assert_eq!(report["tokenizer_pre"], "llama-bpe");
    assert_eq!(report["vocabulary_size"], 128256);
    assert_eq!(report["data_complete"], true);
}

fn hostile(bytes: &[u8]) -> (Option<i32>, String) {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("hostile.gguf");
    fs_err::write(&path, bytes).unwrap();
    let output = headroom().arg("inspect").arg(&path).output().unwrap();
    assert!(output.stdout.is_empty(), "nothing may be printed on stdout");
    (
        output.status.code(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn header(tensors: u64, entries: u64) -> Vec<u8> {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_le_bytes());
    bytes.extend_from_slice(&tensors.to_le_bytes());
    bytes.extend_from_slice(&entries.to_le_bytes());
    bytes
}

fn key(bytes: &mut Vec<u8>, name: &str) {
    bytes.extend_from_slice(&(name.len() as u64).to_le_bytes());
    bytes.extend_from_slice(name.as_bytes());
}

#[test]
fn huge_array_count_exits_2_naming_offset_and_key() {
    let mut bytes = header(0, 1);
    key(&mut bytes, "tokenizer.ggml.tokens");
    bytes.extend_from_slice(&9u32.to_le_bytes());
    bytes.extend_from_slice(&8u32.to_le_bytes());
    bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
    let (code, stderr) = hostile(&bytes);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("byte offset 61"), "{stderr}");
    assert!(
        stderr.contains("metadata key 'tokenizer.ggml.tokens'"),
        "{stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
}

#[test]
fn truncated_string_exits_2() {
    let mut bytes = header(0, 1);
    key(&mut bytes, "general.name");
    bytes.extend_from_slice(&8u32.to_le_bytes());
    bytes.extend_from_slice(&100u64.to_le_bytes());
    bytes.extend_from_slice(b"Qwen3");
    let (code, stderr) = hostile(&bytes);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("metadata key 'general.name'") && stderr.contains("byte offset"),
        "{stderr}"
    );
}

#[test]
fn bad_alignment_exits_2() {
    let mut bytes = header(0, 1);
    key(&mut bytes, "general.alignment");
    bytes.extend_from_slice(&4u32.to_le_bytes());
    bytes.extend_from_slice(&48u32.to_le_bytes());
    let (code, stderr) = hostile(&bytes);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("invalid general.alignment 48") && stderr.contains("byte offset 53"),
        "{stderr}"
    );
}

#[test]
fn deep_nesting_exits_2() {
    let mut bytes = header(0, 1);
    key(&mut bytes, "nested");
    bytes.extend_from_slice(&9u32.to_le_bytes());
    for _ in 0..10_000 {
        bytes.extend_from_slice(&9u32.to_le_bytes());
        bytes.extend_from_slice(&1u64.to_le_bytes());
    }
    let (code, stderr) = hostile(&bytes);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("nested more than") && stderr.contains("metadata key 'nested'"),
        "{stderr}"
    );
}

#[test]
fn huge_tensor_count_exits_2() {
    let bytes = header(u64::MAX, 0);
    let (code, stderr) = hostile(&bytes);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("tensor count") && stderr.contains("byte offset"),
        "{stderr}"
    );
}

#[test]
fn missing_file_exits_2() {
    let output = headroom()
        .args(["inspect", "/nonexistent/model.gguf"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/model.gguf"));
}

/// Nemotron-H's converter writes context_length 2^20 for every hybrid without RoPE: inspect says
/// it is a placeholder (the 56B base model was trained on 8K) instead of calling it trained.
#[test]
fn inspect_names_the_converter_context_placeholder() {
    let header = headroom_core::headers::catalog_model_header(
        "nemotron-h-56b",
        headroom_core::quant::FileType::Q4_K_M,
    )
    .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("nemotron-h-56b.gguf");
    fs_err::write(&path, &header.bytes).unwrap();
    let output = headroom().arg("inspect").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("1,048,576 (convert_hf_to_gguf's placeholder"),
        "{text}"
    );
    let output = headroom()
        .args(["inspect", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["context_length"], 1 << 20);
    assert_eq!(report["context_length_placeholder"], true);
    // A model with RoPE keeps its trained context unqualified.
    let output = headroom()
        .args(["inspect", "--json"])
        .arg(fixture("ggml-vocab-qwen2.gguf"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["context_length_placeholder"], false);
}
