//! Exact token counts in the gateway: a local model whose config names its GGUF is counted with
//! that vocabulary and its chat template, the count the server will see; a model without one
//! falls back (the counter says it cannot count).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use headroom_gateway::chat::{ChatRequest, Message};
use headroom_gateway::config::Config;
use headroom_gateway::seams::{CountMethod, TokenCounter};
use headroom_gateway::vocabulary::VocabularyCounter;
use headroom_tokenizer::{ChatMessage, Tokenizer};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/gguf")
        .join(name)
}

fn config(gguf: &Path) -> (Config, std::path::PathBuf) {
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:11435"

[backends.local]
kind = "ollama"
urls = ["http://127.0.0.1:11434"]

[[models]]
name = "qwen"
[models.local]
backend = "local"
model = "qwen2:7b"
gguf = "{}"
max_num_ctx_tokens = 32768

[[models]]
name = "other"
[models.local]
backend = "local"
model = "unknown-model:1b"
max_num_ctx_tokens = 8192
"#,
        gguf.display()
    );
    let path = std::env::temp_dir().join("headroom-vocabulary-test.toml");
    let config = Config::parse(&text, &path, &BTreeMap::<String, String>::new()).unwrap();
    (config, path)
}

fn request(model: &str, text: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![
            Message {
                role: "system".into(),
                content: "You are terse.".into(),
                tool_calls: None,
                tool_call_id: None,
            },
            Message {
                role: "user".into(),
                content: text.into(),
                tool_calls: None,
                tool_call_id: None,
            },
        ],
        stream: false,
        max_output_tokens: None,
        temperature: None,
        top_p: None,
        stop: Vec::new(),
        seed: None,
        include_usage: false,
        tools: None,
    }
}

#[test]
fn counts_with_the_models_own_vocabulary_and_template() {
    let gguf = fixture("ggml-vocab-qwen2.gguf");
    let (config, path) = config(&gguf);
    let counter = VocabularyCounter::new(&config, &path);
    let text = "fn main() {\n    println!(\"¿Qué tal? 世界\");\n}\n".repeat(50);
    let count = counter
        .count("qwen2:7b", &request("qwen", &text))
        .expect("the fixture has a chat template");
    assert_eq!(count.method, CountMethod::Exact);
    assert_eq!(count.tokens, count.upper_bound_tokens);
    // The same count as rendering the template and tokenizing directly.
    let tokenizer = Tokenizer::from_gguf_path(&gguf).unwrap();
    let expected = tokenizer
        .count_chat(
            &[
                ChatMessage::new("system", "You are terse."),
                ChatMessage::new("user", text.as_str()),
            ],
            true,
        )
        .unwrap();
    assert_eq!(count.tokens, expected as u64);
    // The template's own tokens are counted: more than the two texts alone.
    let bare = tokenizer.count("You are terse.") + tokenizer.count(&text);
    assert!(count.tokens as usize > bare, "{} <= {bare}", count.tokens);
}

#[test]
fn models_without_a_vocabulary_fall_back() {
    let (config, path) = config(&fixture("ggml-vocab-qwen2.gguf"));
    let counter = VocabularyCounter::new(&config, &path);
    assert!(
        counter
            .count("unknown-model:1b", &request("other", "hello"))
            .is_none()
    );
}
