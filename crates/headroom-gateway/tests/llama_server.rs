//! End to end against a real llama.cpp `llama-server` (env HEADROOM_LLAMA_CPP_BIN; skipped only
//! with HEADROOM_SKIP_LLAMA_CPP=1) serving a tiny llama-architecture model written by
//! headroom-gguf's writer: seeded random F32 weights and the real Llama 3 BPE vocabulary copied
//! from shared/fixtures/gguf/ggml-vocab-llama-bpe.gguf.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(test)]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;
use headroom_gateway::config::Config;
use headroom_gateway::observe::stats;
use headroom_gateway::server::Seams;
use serde_json::{Value as Json, json};

/// Per-slot window the server is started with (`-c 2048 -np 1`).
const SERVER_CONTEXT_TOKENS: u64 = 2_048;

fn llama_cpp_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("HEADROOM_LLAMA_CPP_BIN") {
        return Some(PathBuf::from(dir));
    }
    if std::env::var("HEADROOM_SKIP_LLAMA_CPP").as_deref() == Ok("1") {
        eprintln!("SKIPPED: llama-server end-to-end test (HEADROOM_SKIP_LLAMA_CPP=1)");
        return None;
    }
    panic!(
        "HEADROOM_LLAMA_CPP_BIN is not set: point it at the llama.cpp bin directory that scripts/llama-cpp.sh prints, or set HEADROOM_SKIP_LLAMA_CPP=1 to skip this test"
    );
}

/// Kills the server this test started when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_in_front_of_real_llama_server() {
    let Some(bin) = llama_cpp_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny-llama.gguf");
    write_tiny_llama(&model);
    let port = free_port();
    let log = fs_err::File::create(dir.path().join("llama-server.log")).unwrap();
    let child = Command::new(bin.join("llama-server"))
        .arg("-m")
        .arg(&model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "-c",
            &SERVER_CONTEXT_TOKENS.to_string(),
            "-np",
            "1",
            "-t",
            "2",
            "--no-warmup",
        ])
        // The vocabulary file has no template; the built-in Llama 3 one needs the non-Jinja path
        // (with Jinja on, `--chat-template llama3` is taken as a literal template text).
        .args(["--no-jinja", "--chat-template", "llama3"])
        .stdout(Stdio::null())
        .stderr(log.into_parts().0)
        .spawn()
        .unwrap();
    let _server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let ready = eventually_async(|| async {
        let request = http::Request::get(format!("{base}/health"))
            .body(http_body_util::Full::default())
            .unwrap();
        matches!(client().request(request).await, Ok(response) if response.status() == 200)
    })
    .await;
    assert!(
        ready,
        "llama-server did not become healthy; log: {}",
        fs_err::read_to_string(dir.path().join("llama-server.log")).unwrap_or_default()
    );

    let cloud = start_fake(Flavor::OpenAi, "big", 0).await;
    let log_path = dir.path().join("decisions.jsonl");
    let text = format!(
        r#"
[server]
decision_log = {log_path:?}
[backends.llama]
kind = "llama-server"
urls = ["{base}"]
[backends.cloud]
kind = "openai"
urls = ["{cloud}/v1"]
[privacy]
allow_public_header = true
[[models]]
name = "tiny"
reserve_output_tokens = 16
[models.local]
backend = "llama"
model = "tiny-llama"
[[models.cloud]]
backend = "cloud"
model = "big"
context_window_tokens = 1000000
"#,
        cloud = cloud.url()
    );
    let config = Config::parse(
        &text,
        Path::new("llama.toml"),
        &std::collections::BTreeMap::new(),
    )
    .unwrap();
    let (gateway, _) = start_gateway(config, Seams::default()).await;

    // A short private request runs on llama-server; the gateway's count (llama-server's own
    // /apply-template + /tokenize) equals the prompt tokens llama-server reports evaluating.
    let body = json!({"model": "tiny", "stream": true, "max_tokens": 8, "stream_options": {"include_usage": true},
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Count the tokens of this sentence, please."}]});
    let (status, headers, answer) =
        call(gateway, "POST", "/v1/chat/completions", &[], Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(header(&headers, "x-headroom-route"), "local");
    assert!(answer.trim_end().ends_with("data: [DONE]"), "{answer}");
    let counted: u64 = header(&headers, "x-headroom-prompt-tokens")
        .parse()
        .unwrap();
    let usage_line = answer
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Json>(data).ok())
        .find(|chunk| chunk["usage"].is_object())
        .unwrap();
    assert_eq!(
        usage_line["usage"]["prompt_tokens"].as_u64(),
        Some(counted),
        "{answer}"
    );

    // Larger than the slot's fixed 2,048-token window: private → explained error, nothing leaves.
    let long = "hello ".repeat(3_000);
    let body =
        json!({"model": "tiny", "max_tokens": 8, "messages": [{"role": "user", "content": long}]});
    let (status, headers, error) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[],
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 400, "{error}");
    assert!(error.contains("loaded window (2,048 tokens"), "{error}");
    assert!(error.contains("context_length_exceeded"), "{error}");
    assert_eq!(header(&headers, "x-headroom-route"), "rejected");
    assert_eq!(cloud.chat_requests(), 0);

    // The same prompt marked public goes to the cloud target.
    let (status, headers, _) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[("x-headroom-privacy", "public")],
        Some(body),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-headroom-route"), "cloud");
    assert_eq!(cloud.chat_requests(), 1);

    eventually(|| {
        fs_err::read_to_string(&log_path)
            .map(|text| text.lines().count() >= 3)
            .unwrap_or(false)
    })
    .await;
    let summary = stats(&fs_err::read_to_string(&log_path).unwrap());
    assert_eq!(summary.routes["local"].requests, 1);
    assert_eq!(summary.routes["cloud"].requests, 1);
    assert_eq!(summary.routes["rejected"].requests, 1);
}
