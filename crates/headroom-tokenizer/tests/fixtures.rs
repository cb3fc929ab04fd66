//! llama.cpp's own tokenizer test vectors (`tests/test-tokenizer-0.cpp` format): for every
//! vocabulary in `shared/fixtures/gguf`, each case of `VOCAB.gguf.inp` (cases separated by
//! `\n__ggml_vocab_test__\n`) must encode to the ids on the matching line of `VOCAB.gguf.out`,
//! tokenized as that test does it: `add_special = false`, `parse_special = false`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::path::PathBuf;

use headroom_tokenizer::Tokenizer;

fn fixture_directory() -> PathBuf {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/gguf");
    assert!(
        directory.is_dir(),
        "fixture directory {} is missing: the exactness tests need llama.cpp's vocabularies there",
        directory.display()
    );
    directory
}

fn vocabularies() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs_err::read_dir(fixture_directory())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "gguf")
        })
        .collect();
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no .gguf vocabularies in the fixture directory"
    );
    paths
}

fn cases(path: &std::path::Path) -> Vec<(String, Vec<u32>)> {
    let input = fs_err::read_to_string(format!("{}.inp", path.display())).unwrap();
    let output = fs_err::read_to_string(format!("{}.out", path.display())).unwrap();
    // test-tokenizer-0.cpp's loop: a separator at the very end does not start another case.
    let separator = "\n__ggml_vocab_test__\n";
    let mut texts: Vec<&str> = Vec::new();
    let mut position = 0;
    while position < input.len() {
        match input[position..].find(separator) {
            Some(found) => {
                texts.push(&input[position..position + found]);
                position += found + separator.len();
            }
            None => {
                texts.push(&input[position..]);
                break;
            }
        }
    }
    let expected: Vec<Vec<u32>> = output
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|id| id.parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        texts.len(),
        expected.len(),
        "{}: .inp and .out disagree on the number of cases",
        path.display()
    );
    texts.into_iter().map(str::to_owned).zip(expected).collect()
}

#[test]
fn every_fixture_case_matches_llama_cpp_ids() {
    let mut failures = Vec::new();
    let mut total = 0;
    for path in vocabularies() {
        let tokenizer = Tokenizer::from_gguf_path(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        for (text, expected) in cases(&path) {
            total += 1;
            let ids = tokenizer.encode(&text, false, false);
            if ids != expected {
                failures.push(format!(
                    "{}: {text:?}\n  expected {expected:?}\n  got      {ids:?}",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn count_parallel_equals_count_on_fixture_text() {
    // Fixture cases glued into a larger text with many newline boundaries, counted both ways.
    for path in vocabularies() {
        let tokenizer = Tokenizer::from_gguf_path(&path).unwrap();
        let mut text = String::new();
        for round in 0..40 {
            for (case, _) in cases(&path) {
                text.push_str(&case);
                text.push_str(if round % 2 == 0 {
                    "\nline\n"
                } else {
                    "  \n\nx\n"
                });
            }
        }
        let sequential = tokenizer.count(&text);
        for threads in [1, 2, 3, 8] {
            assert_eq!(
                tokenizer.count_parallel(&text, threads),
                sequential,
                "{} threads={threads}",
                path.display()
            );
        }
    }
}
