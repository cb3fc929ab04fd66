//! `Tokenizer::from_tokenizer_json`: a Hugging Face `tokenizer.json` written from the GPT-2 fixture
//! vocabulary (its tokens and merges, GPT-2's ByteLevel pre-tokenizer) must give the same ids as
//! the GGUF path and llama.cpp's expected ids on the fixture cases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::path::PathBuf;

use headroom_tokenizer::{ChatMessage, Tokenizer};

fn fixture(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/gguf")
        .join(name);
    assert!(path.is_file(), "fixture {} is missing", path.display());
    path
}

fn write_tokenizer_json(directory: &std::path::Path) -> PathBuf {
    let file = headroom_gguf::GgufFile::open(fixture("ggml-vocab-gpt-2.gguf")).unwrap();
    let tokens = file
        .get_array("tokenizer.ggml.tokens")
        .unwrap()
        .as_strings()
        .unwrap();
    let merges = file
        .get_array("tokenizer.ggml.merges")
        .unwrap()
        .as_strings()
        .unwrap();
    let vocab: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| (token.clone(), serde_json::json!(id)))
        .collect();
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [{"id": 50256, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": merges}
    });
    let path = directory.join("tokenizer.json");
    fs_err::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    fs_err::write(
        directory.join("tokenizer_config.json"),
        r#"{"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "chat_template": "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"}"#,
    )
    .unwrap();
    path
}

#[test]
fn tokenizer_json_matches_gguf_on_plain_text() {
    let directory = tempfile::tempdir().unwrap();
    let json = Tokenizer::from_tokenizer_json(write_tokenizer_json(directory.path())).unwrap();
    let gguf = Tokenizer::from_gguf_path(fixture("ggml-vocab-gpt-2.gguf")).unwrap();
    for text in [
        "Hello world",
        " Hello World!",
        "   indented\n\n\tcode(x) = y + 1;",
        "I'm sure they'll see it's fine",
        "<|endoftext|> after",
        "1234567 numbers 3.14",
    ] {
        assert_eq!(
            json.encode(text, false, true),
            gguf.encode(text, false, true),
            "{text:?}"
        );
    }
    assert_eq!(json.token_to_piece(15496).unwrap(), b"Hello");
}

#[test]
fn tokenizer_config_chat_template_is_used() {
    let directory = tempfile::tempdir().unwrap();
    let json = Tokenizer::from_tokenizer_json(write_tokenizer_json(directory.path())).unwrap();
    let messages = [ChatMessage::new("user", "Hello world")];
    // "user: Hello world\nassistant:" is 8 GPT-2 tokens: user, :, ĠHello, Ġworld, Ċ, assistant, :.
    let expected = json
        .encode("user: Hello world\nassistant:", true, true)
        .len();
    assert_eq!(json.count_chat(&messages, true).unwrap(), expected);
    assert!(expected > 5);
}
