//! End-to-end tests of `headroom tokens` (stdout and exit code snapshots).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn fixture(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/gguf")
        .join(name);
    assert!(path.is_file(), "fixture {} is missing", path.display());
    path
}

/// A scratch directory holding a copy of the GPT-2 vocabulary (so printed paths are relative) and
/// two small inputs.
fn workspace() -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    fs_err::copy(
        fixture("ggml-vocab-gpt-2.gguf"),
        directory.path().join("vocab.gguf"),
    )
    .unwrap();
    fs_err::write(directory.path().join("hello.txt"), "Hello world\n").unwrap();
    fs_err::write(
        directory.path().join("code.rs"),
        "fn main() {\n    println!(\"{}\", 1 + 2);\n}\n",
    )
    .unwrap();
    directory
}

fn headroom(directory: &Path) -> Command {
    let mut command = Command::cargo_bin("headroom").unwrap();
    command.current_dir(directory);
    command
}

fn run(directory: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut command = headroom(directory);
    command.args(args);
    if let Some(input) = stdin {
        command.write_stdin(input);
    }
    let output = command.output().unwrap();
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn counts_each_file_and_the_total() {
    let directory = workspace();
    insta::assert_snapshot!(run(
        directory.path(),
        &["tokens", "--model", "vocab.gguf", "hello.txt", "code.rs"],
        None
    ));
}

#[test]
fn prints_ids_for_stdin() {
    let directory = workspace();
    insta::assert_snapshot!(run(
        directory.path(),
        &["tokens", "--model", "vocab.gguf", "--ids", "-"],
        Some("Hello world")
    ));
}

#[test]
fn prints_json() {
    let directory = workspace();
    insta::assert_snapshot!(run(
        directory.path(),
        &[
            "tokens",
            "--model",
            "vocab.gguf",
            "--json",
            "--ids",
            "hello.txt"
        ],
        None
    ));
}

#[test]
fn missing_input_file_exits_2_naming_it() {
    let directory = workspace();
    insta::assert_snapshot!(run(
        directory.path(),
        &["tokens", "--model", "vocab.gguf", "absent.txt"],
        None
    ));
}

#[test]
fn non_utf8_input_exits_2_with_offset() {
    let directory = workspace();
    fs_err::write(directory.path().join("latin1.txt"), b"caf\xe9\n").unwrap();
    insta::assert_snapshot!(run(
        directory.path(),
        &["tokens", "--model", "vocab.gguf", "latin1.txt"],
        None
    ));
}

#[test]
fn a_model_that_is_not_gguf_exits_2() {
    let directory = workspace();
    insta::assert_snapshot!(run(
        directory.path(),
        &["tokens", "--model", "hello.txt", "code.rs"],
        None
    ));
}

#[test]
fn no_model_exits_2_with_a_hint() {
    let directory = workspace();
    insta::assert_snapshot!(run(directory.path(), &["tokens", "hello.txt"], None));
}
