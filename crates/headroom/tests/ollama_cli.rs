//! End to end: `headroom ollama list` on a store laid out as Ollama lays it out, and
//! `headroom ollama log` on the fixture logs; stdout and exit codes are snapshotted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use headroom_gguf::{GgmlType, GgufWriter, TensorData, Value};
use serde_json::json;
use sha2::{Digest, Sha256};

fn blob(root: &Path, media: &str, bytes: &[u8]) -> serde_json::Value {
    let hex = format!("{:x}", Sha256::digest(bytes));
    fs_err::create_dir_all(root.join("blobs")).unwrap();
    fs_err::write(root.join("blobs").join(format!("sha256-{hex}")), bytes).unwrap();
    json!({ "mediaType": media, "digest": format!("sha256:{hex}"), "size": bytes.len() })
}

fn add_model(
    root: &Path,
    name: [&str; 4],
    family: &str,
    trained: u32,
    params: Option<serde_json::Value>,
) {
    let mut gguf = Vec::new();
    GgufWriter::new()
        .metadata("general.architecture", Value::String(family.into()))
        .metadata(format!("{family}.context_length"), Value::U32(trained))
        .tensor(
            "token_embd.weight",
            &[32, 4],
            GgmlType::F16,
            TensorData::Zeros,
        )
        .write_to(&mut gguf)
        .unwrap();
    let mut layers = vec![blob(root, "application/vnd.ollama.image.model", &gguf)];
    if let Some(params) = params {
        layers.push(blob(
            root,
            "application/vnd.ollama.image.params",
            params.to_string().as_bytes(),
        ));
    }
    let config =
        json!({ "model_format": "gguf", "model_family": family, "model_families": [family] });
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": blob(root, "application/vnd.docker.container.image.v1+json", config.to_string().as_bytes()),
        "layers": layers,
    });
    let [host, namespace, model, tag] = name;
    let directory = root
        .join("manifests")
        .join(host)
        .join(namespace)
        .join(model);
    fs_err::create_dir_all(&directory).unwrap();
    fs_err::write(directory.join(tag), manifest.to_string()).unwrap();
}

fn store() -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path();
    add_model(
        root,
        ["registry.ollama.ai", "library", "qwen3-coder", "v-128k"],
        "qwen3moe",
        262_144,
        Some(json!({"num_ctx": 131072})),
    );
    add_model(
        root,
        ["registry.ollama.ai", "library", "qwen3-coder", "30b"],
        "qwen3moe",
        262_144,
        None,
    );
    add_model(
        root,
        ["registry.ollama.ai", "library", "llama3.1", "latest"],
        "llama",
        131_072,
        Some(json!({"stop": ["<|eot_id|>"]})),
    );
    directory
}

fn headroom() -> Command {
    let mut command = Command::cargo_bin("headroom").unwrap();
    for (name, _) in std::env::vars() {
        if name.starts_with("OLLAMA_") {
            command.env_remove(name);
        }
    }
    command
}

fn log_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../headroom-ollama/tests/fixtures/logs")
        .join(name)
}

/// Replaces the temporary directory in output so snapshots are stable.
fn stable(text: &str, root: &Path) -> String {
    text.replace(&root.display().to_string(), "[MODELS]")
}

#[test]
fn list_shows_trained_configured_effective_and_caps() {
    let directory = store();
    let output = headroom()
        .args([
            "ollama",
            "list",
            "--server-version",
            "0.15.5",
            "--vram-gib",
            "48",
            "--models-dir",
        ])
        .arg(directory.path())
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    insta::assert_snapshot!(stable(
        &String::from_utf8_lossy(&output.stdout),
        directory.path()
    ));
}

#[test]
fn list_json_carries_the_reason_chain() {
    let directory = store();
    let output = headroom()
        .args([
            "ollama",
            "list",
            "--json",
            "--server-version",
            "0.6.7",
            "--models-dir",
        ])
        .arg(directory.path())
        .env("OLLAMA_NUM_PARALLEL", "2")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let qwen = report["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == "qwen3-coder:v-128k")
        .unwrap();
    assert_eq!(qwen["effective"]["num_ctx_tokens"], 131072);
    assert_eq!(qwen["effective"]["kv_cache_tokens"], 262144);
    let rules: Vec<&str> = qwen["effective"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reason| reason["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, vec!["default", "modelfile_num_ctx", "parallel"]);
    insta::assert_snapshot!(stable(
        &String::from_utf8_lossy(&output.stdout),
        directory.path()
    ));
}

#[test]
fn list_with_a_bad_version_is_an_error() {
    let directory = store();
    headroom()
        .args([
            "ollama",
            "list",
            "--server-version",
            "latest",
            "--models-dir",
        ])
        .arg(directory.path())
        .assert()
        .code(2);
}

#[test]
fn log_summarises_the_story() {
    let output = headroom()
        .args(["ollama", "log", "--timeout", "300"])
        .arg(log_fixture("story-qwen3-coder.log"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout)
        .replace(&log_fixture("").display().to_string(), "[LOGS]/");
    insta::assert_snapshot!(text);
}

#[test]
fn log_json_reports_worst_overflow_and_slow_requests() {
    let output = headroom()
        .args(["ollama", "log", "--json", "--timeout", "60"])
        .arg(log_fixture("v0.30-llama-server-journalctl.log"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["worst_overflow"]["prompt_tokens"], 40000);
    assert_eq!(report["worst_overflow"]["over_tokens"], 40000 - 16386);
    assert_eq!(report["kinds"]["context_reduced"]["count"], 1);
    let loads: Vec<(u64, &str)> = report["loads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|load| {
            (
                load["per_request_tokens"].as_u64().unwrap(),
                load["kv_cache_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(loads, vec![(262_144, "q8_0"), (32_768, "q8_0")]);
    assert_eq!(report["slow_requests"].as_array().unwrap().len(), 0);
}

#[test]
fn log_of_a_missing_file_names_it_and_exits_2() {
    let output = headroom()
        .args(["ollama", "log", "/nonexistent/server.log"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/server.log"));
}

/// A fake Ollama on 127.0.0.1 answering by path with the documented replies.
fn fake_ollama() -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../headroom-ollama/tests/fixtures/api");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let file = match request_line.split_whitespace().nth(1).unwrap_or_default() {
                "/api/version" => "version.json",
                "/api/tags" => "tags.json",
                "/api/ps" => "ps.json",
                "/api/show" => "show-llava-not-verbose.json",
                _ => "missing",
            };
            let reply = fs_err::read(fixtures.join(file))
                .unwrap_or_else(|_| b"{\"error\":\"not found\"}".to_vec());
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                reply.len()
            )
            .unwrap();
            stream.write_all(&reply).unwrap();
        }
    });
    address
}

#[test]
fn list_from_server_uses_tags_and_verbose_show() {
    let address = fake_ollama();
    let output = headroom()
        .args([
            "ollama",
            "list",
            "--json",
            "--from-server",
            "--host",
            &address,
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["server_version"], "0.5.1");
    let names: Vec<&str> = report["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["deepseek-r1:latest", "llama3.2:latest"]);
    assert_eq!(report["models"][0]["trained_context_tokens"], 8192);
    // v0.5.1 default 2048 and auto parallel 4 (OLLAMA_NUM_PARALLEL unset).
    assert_eq!(report["models"][0]["effective"]["num_ctx_tokens"], 2048);
    assert_eq!(report["models"][0]["effective"]["kv_cache_tokens"], 8192);
}

#[test]
fn list_without_a_server_says_so_and_still_lists() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let directory = store();
    let output = headroom()
        .args(["ollama", "list", "--host", &address, "--models-dir"])
        .arg(directory.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(&format!("no Ollama server answered at http://{address}")),
        "{text}"
    );
    assert!(text.contains("qwen3-coder:v-128k"), "{text}");
}

#[test]
fn list_notes_when_the_vram_tier_is_unknown() {
    let directory = store();
    let output = headroom()
        .args([
            "ollama",
            "list",
            "--server-version",
            "0.15.5",
            "--models-dir",
        ])
        .arg(directory.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("note: the default context of Ollama 0.15.5+ depends on VRAM"),
        "{text}"
    );
    assert!(text.contains("server default gives 4K of 128K"), "{text}");
}
