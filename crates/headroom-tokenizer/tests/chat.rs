//! Chat-aware counts with the chat templates stored in the fixture GGUFs (Qwen2 and Phi-3).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::path::PathBuf;

use headroom_tokenizer::{ChatMessage, ChatTemplate, Tokenizer};

fn tokenizer(name: &str) -> Tokenizer {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/gguf")
        .join(name);
    assert!(path.is_file(), "fixture {} is missing", path.display());
    Tokenizer::from_gguf_path(path).unwrap()
}

#[test]
fn qwen2_template_adds_default_system_prompt_and_chatml_tokens() {
    let tokenizer = tokenizer("ggml-vocab-qwen2.gguf");
    let messages = [ChatMessage::new("user", "How many tokens is this?")];
    let template = ChatTemplate::Jinja(tokenizer.chat_template().unwrap().to_owned());
    let (text, add_special) = tokenizer.render_chat(&template, &messages, true).unwrap();
    assert_eq!(
        text,
        "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHow many tokens is this?<|im_end|>\n<|im_start|>assistant\n"
    );
    let count = tokenizer.count_chat(&messages, true).unwrap();
    assert_eq!(count, tokenizer.encode(&text, add_special, true).len());
    // The template's own tokens are counted: far more than the message alone.
    assert!(
        count
            >= tokenizer
                .encode("How many tokens is this?", false, false)
                .len()
                + 15,
        "{count}"
    );
    // <|im_start|> is one control token when parsed as special.
    let ids = tokenizer.encode(&text, add_special, true);
    assert_eq!(
        ids.iter()
            .filter(|&&id| tokenizer.token_to_piece(id).unwrap() == b"<|im_start|>")
            .count(),
        3
    );
}

#[test]
fn phi3_template_bos_is_not_doubled() {
    let tokenizer = tokenizer("ggml-vocab-phi-3.gguf");
    let messages = [
        ChatMessage::new("user", "Hi"),
        ChatMessage::new("assistant", "Hello!"),
    ];
    let template = ChatTemplate::Jinja(tokenizer.chat_template().unwrap().to_owned());
    let (text, _) = tokenizer.render_chat(&template, &messages, false).unwrap();
    // The template writes `{{ bos_token }}`; llama.cpp strips it because the tokenizer adds BOS.
    assert_eq!(text, "<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n");
    let ids = tokenizer.encode(&text, true, true);
    assert_eq!(ids.iter().filter(|&&id| id == 1).count(), 1, "{ids:?}");
}

#[test]
fn model_without_template_is_an_error() {
    let tokenizer = tokenizer("ggml-vocab-gpt-2.gguf");
    assert!(
        tokenizer
            .count_chat(&[ChatMessage::new("user", "x")], true)
            .is_err()
    );
}
