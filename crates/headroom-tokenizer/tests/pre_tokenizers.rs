//! Every pre-tokenizer llama.cpp selects by `tokenizer.ggml.pre`, checked against the real
//! `llama-tokenize`: the GPT-2 fixture vocabulary is rewritten with each `tokenizer.ggml.pre` value
//! (so llama.cpp and headroom both split with that pre-tokenizer and merge with GPT-2's merges) and a
//! mixed text (source code and multilingual/emoji text from the corpus) must give identical ids.
//! This covers the families that have no fixture vocabulary of their own (qwen35, starcoder,
//! command-r, deepseek-llm, tekken, gpt-4o, kimi-k2, ...). Needs `HEADROOM_LLAMA_CPP_BIN`; skip rule
//! as in `llama_cpp.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

#[path = "support/corpus.rs"]
#[allow(dead_code)]
mod corpus;

use std::path::PathBuf;
use std::process::Command;

use headroom_gguf::{GgufFile, GgufWriter, Value};
use headroom_tokenizer::Tokenizer;

/// `tokenizer.ggml.pre` values of llama.cpp 11434.0.0 (`src/llama-vocab.cpp`, `load`), BPE branch;
/// `mmbert` is left out (not ported: construction fails with `UnsupportedPreTokenizer`), and so is
/// `whitespace`, which llama.cpp pairs with its `whitespace` tokenizer model (with GPT-2's model
/// `llama-tokenize` aborts, so there is nothing to compare).
const PRE: &[&str] = &[
    "default",
    "minicpm5",
    "llama3",
    "llama-bpe",
    "falcon3",
    "deepseek-llm",
    "deepseek-coder",
    "deepseek-v3",
    "spark2_5",
    "youtu",
    "falcon",
    "mpt",
    "starcoder",
    "gpt-2",
    "phi-2",
    "jais-2",
    "gemma4",
    "sarvam-moe",
    "roberta-bpe",
    "refact",
    "command-r",
    "qwen2",
    "qwen35",
    "stablelm2",
    "olmo",
    "dbrx",
    "smaug-bpe",
    "poro-chat",
    "chatglm-bpe",
    "glm4",
    "viking",
    "jais",
    "tekken",
    "smollm",
    "codeshell",
    "bloom",
    "gpt3-finnish",
    "exaone",
    "exaone4",
    "exaone-moe",
    "chameleon",
    "minerva-7b",
    "megrez",
    "gpt-4o",
    "llama4",
    "granite-embed-multi-97m",
    "tiny_aya",
    "superbpe",
    "trillion",
    "granite-docling",
    "bailingmoe",
    "seed-coder",
    "hunyuan",
    "hunyuan-dense",
    "kimi-k2",
    "ufakzeka",
    "grok-2",
    "afmoe",
    "laguna",
    "minimax-m2",
    "solar-open",
    "mellum2",
];

#[test]
fn every_pre_tokenizer_matches_llama_tokenize() {
    let Some(bin) = std::env::var_os("HEADROOM_LLAMA_CPP_BIN").map(PathBuf::from) else {
        if std::env::var("HEADROOM_SKIP_LLAMA_CPP").as_deref() == Ok("1") {
            eprintln!(
                "SKIPPED: every_pre_tokenizer_matches_llama_tokenize (HEADROOM_SKIP_LLAMA_CPP=1)"
            );
            return;
        }
        panic!("HEADROOM_LLAMA_CPP_BIN is not set (or set HEADROOM_SKIP_LLAMA_CPP=1 to skip)");
    };
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/gguf/ggml-vocab-gpt-2.gguf");
    let file = GgufFile::open(&base).unwrap();
    let directory = tempfile::tempdir().unwrap();
    // About 24 kB: some Python source, then multilingual text (llama.cpp's std::regex paths are slow).
    let (source, _) = corpus::source_text();
    let unicode = corpus::unicode_text();
    let cut = |text: &str, bytes: usize| {
        let mut end = bytes.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text[..end].to_owned()
    };
    let text = format!("{}{}", cut(&source, 12_000), cut(&unicode, 12_000));
    let text_path = directory.path().join("text.txt");
    fs_err::write(&text_path, &text).unwrap();
    let mut failures = Vec::new();
    for pre in PRE {
        let mut writer = GgufWriter::new();
        for (key, value) in &file.metadata {
            writer = writer.metadata(key.clone(), value.clone());
        }
        writer = writer.metadata("tokenizer.ggml.pre", Value::String((*pre).to_owned()));
        let vocabulary = directory.path().join(format!("{pre}.gguf"));
        writer.write_to_path(&vocabulary).unwrap();
        let output = Command::new(bin.join("llama-tokenize"))
            .arg("-m")
            .arg(&vocabulary)
            .arg("-f")
            .arg(&text_path)
            .args(["--ids", "--log-disable", "--no-escape", "--no-bos"])
            .output()
            .unwrap();
        if !output.status.success() {
            failures.push(format!(
                "{pre}: llama-tokenize failed: {}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ));
            continue;
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .rev()
            .find(|line| line.starts_with('['))
            .unwrap_or("[]");
        let expected: Vec<u32> = line
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .filter(|id| !id.trim().is_empty())
            .map(|id| id.trim().parse().unwrap())
            .collect();
        let tokenizer = match Tokenizer::from_gguf_path(&vocabulary) {
            Ok(tokenizer) => tokenizer,
            Err(error) => {
                failures.push(format!("{pre}: headroom cannot load: {error}"));
                continue;
            }
        };
        let ids = tokenizer.encode(&text, false, true);
        if ids != expected {
            let first = ids
                .iter()
                .zip(&expected)
                .position(|(a, b)| a != b)
                .unwrap_or(ids.len().min(expected.len()));
            failures.push(format!(
                "{pre}: {} ids vs llama.cpp {}; first difference at {first}: ours {:?} llama.cpp {:?}",
                ids.len(),
                expected.len(),
                &ids[first.saturating_sub(2)..(first + 4).min(ids.len())],
                &expected[first.saturating_sub(2)..(first + 4).min(expected.len())]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} pre-tokenizers differ:\n{}",
        failures.len(),
        PRE.len(),
        failures.join("\n")
    );
}
