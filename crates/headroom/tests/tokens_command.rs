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

/// An Ollama store in `root` holding `library/qwen2:7b` whose model layer is the qwen2 fixture,
/// laid out as Ollama lays it out (digest-named blob, JSON manifest).
fn ollama_store(root: &Path) {
    let gguf = fixture("ggml-vocab-qwen2.gguf");
    let output = std::process::Command::new("sha256sum")
        .arg(&gguf)
        .output()
        .unwrap();
    let digest = String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let size = fs_err::metadata(&gguf).unwrap().len();
    fs_err::create_dir_all(root.join("blobs")).unwrap();
    fs_err::copy(&gguf, root.join("blobs").join(format!("sha256-{digest}"))).unwrap();
    let manifests = root.join("manifests/registry.ollama.ai/library/qwen2");
    fs_err::create_dir_all(&manifests).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": format!("sha256:{digest}"), "size": size},
        "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": format!("sha256:{digest}"), "size": size}],
    });
    fs_err::write(manifests.join("7b"), manifest.to_string()).unwrap();
}

#[test]
fn counts_with_an_ollama_model_name() {
    let directory = workspace();
    let store = directory.path().join("models");
    ollama_store(&store);
    let count = |model: &str, extra: &[&str]| -> serde_json::Value {
        let output = headroom(directory.path())
            .args(["tokens", "--json", "--model", model])
            .args(extra)
            .arg("-")
            .write_stdin("Hola, ¿qué tal? 你好")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let by_file = count(fixture("ggml-vocab-qwen2.gguf").to_str().unwrap(), &[]);
    let by_name = count("qwen2:7b", &["--models-dir", store.to_str().unwrap()]);
    assert_eq!(by_file["total_tokens"], by_name["total_tokens"]);
    assert!(by_name["total_tokens"].as_u64().unwrap() > 0);
}
