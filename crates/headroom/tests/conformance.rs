//! Conformance with the reference GGUF reader (the `gguf` package on PyPI): for every fixture
//! and for files made by headroom's writer, metadata and tensor infos equal what it returns.
//!
//! The reference reader runs through `scripts/gguf_reference.py` with the Python named by
//! HEADROOM_PYTHON (set by scripts/test.sh to a virtual environment holding `gguf`), else
//! `python3`. Without the package the test fails, unless HEADROOM_SKIP_PYTHON=1 says to skip it,
//! in which case it prints that it skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use headroom_gguf::{Array, GgmlType, GgufWriter, TensorData, Value};
use serde_json::Value as Json;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> Option<String> {
    let python = std::env::var("HEADROOM_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let has_gguf = Command::new(&python)
        .args(["-c", "import gguf"])
        .status()
        .is_ok_and(|status| status.success());
    if has_gguf {
        return Some(python);
    }
    if std::env::var("HEADROOM_SKIP_PYTHON").as_deref() == Ok("1") {
        eprintln!(
            "SKIPPED: the reference reader (python gguf) is not installed; HEADROOM_SKIP_PYTHON=1"
        );
        return None;
    }
    panic!(
        "the reference reader is missing: run scripts/test.sh, or set HEADROOM_PYTHON to a python with `gguf` installed"
    );
}

fn reference(python: &str, path: &Path) -> Json {
    let output = Command::new(python)
        .arg(repository().join("scripts/gguf_reference.py"))
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn headroom(args: &[&str], path: &Path) -> Json {
    let output = assert_cmd::Command::cargo_bin("headroom")
        .unwrap()
        .arg("inspect")
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Equal values; float32 compared after rounding both sides to f32 (the reference prints the
/// f64 widening, headroom the shortest f32 form).
fn same(ours: &Json, theirs: &Json, float32: bool) -> bool {
    match (ours, theirs) {
        (Json::Number(a), Json::Number(b)) if float32 => {
            a.as_f64().map(|x| x as f32) == b.as_f64().map(|x| x as f32)
        }
        (Json::Number(a), Json::Number(b)) => {
            a.as_i64()
                .zip(b.as_i64())
                .map_or(a.as_f64() == b.as_f64(), |(x, y)| x == y)
                && a.as_u64() == b.as_u64()
        }
        (Json::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y, float32))
        }
        (a, b) => a == b,
    }
}

fn compare(python: &str, path: &Path) {
    let theirs = reference(python, path);
    let ours = headroom(&["--metadata", "--json"], path);
    let their_metadata = theirs["metadata"].as_object().unwrap();
    let our_metadata = ours.as_object().unwrap();
    let their_keys: Vec<&String> = their_metadata.keys().collect();
    let our_keys: Vec<&String> = our_metadata.keys().collect();
    assert_eq!(
        our_keys,
        their_keys,
        "{}: keys or their order differ",
        path.display()
    );
    for (key, theirs) in their_metadata {
        let ours = &our_metadata[key];
        assert_eq!(
            ours["type"],
            theirs["type"],
            "{}: type of {key}",
            path.display()
        );
        let float32 = theirs["type"].as_str().unwrap().contains("float32");
        assert!(
            same(&ours["value"], &theirs["value"], float32),
            "{}: value of {key}",
            path.display()
        );
    }
    let our_tensors = headroom(&["--tensors", "--json"], path);
    let our_tensors = our_tensors.as_array().unwrap();
    let their_tensors = theirs["tensors"].as_array().unwrap();
    assert_eq!(our_tensors.len(), their_tensors.len());
    for (ours, theirs) in our_tensors.iter().zip(their_tensors) {
        assert_eq!(ours["name"], theirs["name"]);
        assert_eq!(
            ours["dimensions"], theirs["dimensions"],
            "{}",
            theirs["name"]
        );
        assert_eq!(ours["type"], theirs["type"], "{}", theirs["name"]);
        assert_eq!(
            ours["absolute_offset"], theirs["absolute_offset"],
            "{}",
            theirs["name"]
        );
    }
}

#[test]
fn every_fixture_matches_the_reference_reader() {
    let Some(python) = python() else { return };
    let fixtures = repository().join("../shared/fixtures/gguf");
    let mut compared = 0;
    for entry in fs_err::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "gguf") {
            compare(&python, &path);
            compared += 1;
        }
    }
    assert_eq!(
        compared,
        8,
        "expected the 8 vocabulary fixtures in {}",
        fixtures.display()
    );
}

#[test]
fn written_files_match_the_reference_reader() {
    let Some(python) = python() else { return };
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("model.gguf");
    let mut writer = GgufWriter::new()
        .metadata("general.architecture", Value::String("qwen3moe".into()))
        .metadata("general.alignment", Value::U32(64))
        .metadata("qwen3moe.context_length", Value::U32(262144))
        .metadata("qwen3moe.rope.freq_base", Value::F32(10_000_000.0))
        .metadata("test.epsilon", Value::F32(1e-6))
        .metadata("test.f64", Value::F64(-2.5))
        .metadata("test.i8", Value::I8(-3))
        .metadata("test.i16", Value::I16(-300))
        .metadata("test.u16", Value::U16(60000))
        .metadata("test.i64", Value::I64(-1 << 40))
        .metadata("test.u64", Value::U64(1 << 50))
        .metadata("test.bool", Value::Bool(true))
        .metadata("test.kv_heads", Value::Array(Array::I32(vec![4, 0, 4, 0])))
        .metadata("test.floats", Value::Array(Array::F32(vec![0.5, -1.25])))
        .metadata(
            "test.words",
            Value::Array(Array::String(vec![
                "Ġhello".into(),
                "世界".into(),
                String::new(),
            ])),
        );
    for (index, ggml_type) in [
        GgmlType::Q4_K,
        GgmlType::Q6_K,
        GgmlType::Q8_0,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::MXFP4,
        GgmlType::IQ4_XS,
    ]
    .into_iter()
    .enumerate()
    {
        writer = writer.tensor(
            format!("blk.{index}.ffn_up_exps.weight"),
            &[2048, 768, 128],
            ggml_type,
            TensorData::Zeros,
        );
    }
    writer = writer.tensor(
        "output_norm.weight",
        &[2048],
        GgmlType::F32,
        TensorData::Bytes(vec![0; 2048 * 4]),
    );
    writer.write_to_path(&path).unwrap();
    compare(&python, &path);
}
