//! Corpus comparison against the real `llama-tokenize` (llama.cpp 11434.0.0): for every fixture
//! vocabulary and every corpus file (real source code and text from this machine plus generated
//! Unicode-heavy text, see `support/corpus.rs`), the ids must be identical.
//!
//! `llama-tokenize -m VOCAB -f FILE --ids --log-disable --no-escape --no-bos` reads the file
//! verbatim, adds no BOS/EOS and parses special tokens (its default), i.e. `encode(text, false, true)`.
//! Needs `HEADROOM_LLAMA_CPP_BIN` (the directory holding `llama-tokenize`); without it the test
//! fails unless `HEADROOM_SKIP_LLAMA_CPP=1`, in which case it says it was skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

#[path = "support/corpus.rs"]
mod corpus;

use std::path::PathBuf;
use std::process::Command;

use headroom_tokenizer::Tokenizer;

fn llama_cpp_bin() -> Option<PathBuf> {
    match std::env::var_os("HEADROOM_LLAMA_CPP_BIN") {
        Some(directory) => Some(PathBuf::from(directory)),
        None if std::env::var("HEADROOM_SKIP_LLAMA_CPP").as_deref() == Ok("1") => None,
        None => panic!(
            "HEADROOM_LLAMA_CPP_BIN is not set: point it at the llama.cpp bin directory \
             (scripts/llama-cpp.sh prints it), or set HEADROOM_SKIP_LLAMA_CPP=1 to skip this test"
        ),
    }
}

fn vocabularies() -> Vec<PathBuf> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/gguf");
    assert!(
        directory.is_dir(),
        "fixture directory {} is missing",
        directory.display()
    );
    let mut paths: Vec<PathBuf> = fs_err::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "gguf")
        })
        .collect();
    paths.sort();
    paths
}

fn parse_ids(output: &str) -> Vec<u32> {
    let line = output
        .lines()
        .rev()
        .find(|line| line.starts_with('['))
        .unwrap_or_else(|| panic!("no id list in llama-tokenize output: {output:?}"));
    line.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .filter(|id| !id.trim().is_empty())
        .map(|id| id.trim().parse().unwrap())
        .collect()
}

#[test]
fn corpus_ids_equal_llama_tokenize() {
    let Some(bin) = llama_cpp_bin() else {
        eprintln!(
            "SKIPPED: corpus_ids_equal_llama_tokenize (HEADROOM_SKIP_LLAMA_CPP=1, HEADROOM_LLAMA_CPP_BIN unset)"
        );
        return;
    };
    let executable = bin.join("llama-tokenize");
    assert!(
        executable.is_file(),
        "{} does not exist",
        executable.display()
    );
    let directory =
        std::env::temp_dir().join(format!("headroom-tokenizer-corpus-{}", std::process::id()));
    let files = corpus::write_corpus(&directory).unwrap();
    let mut failures = Vec::new();
    let mut compared_tokens = 0usize;
    for vocabulary in vocabularies() {
        let tokenizer = Tokenizer::from_gguf_path(&vocabulary).unwrap();
        for file in &files {
            let output = Command::new(&executable)
                .arg("-m")
                .arg(&vocabulary)
                .arg("-f")
                .arg(file)
                .args(["--ids", "--log-disable", "--no-escape", "--no-bos"])
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "llama-tokenize failed on {}: {}",
                file.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            let expected = parse_ids(&String::from_utf8_lossy(&output.stdout));
            let text = fs_err::read_to_string(file).unwrap();
            let ids = tokenizer.encode(&text, false, true);
            compared_tokens += expected.len();
            if ids != expected {
                let first = ids
                    .iter()
                    .zip(&expected)
                    .position(|(a, b)| a != b)
                    .unwrap_or(ids.len().min(expected.len()));
                let context_start = first.saturating_sub(3);
                let show = |list: &[u32]| {
                    list[context_start.min(list.len())..(first + 5).min(list.len())].to_vec()
                };
                let piece = |list: &[u32]| {
                    list[context_start.min(list.len())..(first + 5).min(list.len())]
                        .iter()
                        .map(|&id| {
                            String::from_utf8_lossy(
                                &tokenizer.token_to_piece(id).unwrap_or_default(),
                            )
                            .into_owned()
                        })
                        .collect::<Vec<_>>()
                };
                failures.push(format!(
                    "{} on {}: {} ids vs llama.cpp {}; first difference at {first}: ours {:?} {:?}, llama.cpp {:?} {:?}",
                    vocabulary.file_name().unwrap().to_string_lossy(),
                    file.file_name().unwrap().to_string_lossy(),
                    ids.len(),
                    expected.len(),
                    show(&ids),
                    piece(&ids),
                    show(&expected),
                    piece(&expected),
                ));
            }
        }
    }
    let _ = fs_err::remove_dir_all(&directory);
    eprintln!(
        "compared {compared_tokens} llama.cpp tokens over {} files",
        files.len()
    );
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
