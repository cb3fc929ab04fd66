//! `tokenizer.json` through the Hugging Face `tokenizers` crate (the reference engine for that
//! format), plus the chat template and BOS/EOS settings from a neighbouring `tokenizer_config.json`.

use std::path::Path;

use crate::TokenizerError;

pub(crate) struct HuggingFaceTokenizer {
    inner: tokenizers::Tokenizer,
    bos: String,
    eos: String,
    add_bos: bool,
    add_eos: bool,
}

impl std::fmt::Debug for HuggingFaceTokenizer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HuggingFaceTokenizer")
            .field("vocabulary_size", &self.vocabulary_size())
            .finish()
    }
}

/// A `tokenizer_config.json` token entry: a string or `{"content": ...}`.
fn token_text(value: Option<&serde_json::Value>) -> String {
    match value {
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(serde_json::Value::Object(object)) => object
            .get("content")
            .and_then(|content| content.as_str())
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

impl HuggingFaceTokenizer {
    pub(crate) fn open(path: &Path) -> Result<(Self, Option<String>), TokenizerError> {
        let bytes = fs_err::read(path)?;
        let inner = tokenizers::Tokenizer::from_bytes(&bytes).map_err(|source| {
            TokenizerError::TokenizerJson {
                path: path.to_owned(),
                source,
            }
        })?;
        let mut tokenizer = Self {
            inner,
            bos: String::new(),
            eos: String::new(),
            add_bos: false,
            add_eos: false,
        };
        let mut chat_template = None;
        let config_path = path.with_file_name("tokenizer_config.json");
        if config_path.is_file() {
            let text = fs_err::read_to_string(&config_path)?;
            let config: serde_json::Value =
                serde_json::from_str(&text).map_err(|source| TokenizerError::TokenizerJson {
                    path: config_path.clone(),
                    source: Box::new(source),
                })?;
            tokenizer.bos = token_text(config.get("bos_token"));
            tokenizer.eos = token_text(config.get("eos_token"));
            tokenizer.add_bos = config
                .get("add_bos_token")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            tokenizer.add_eos = config
                .get("add_eos_token")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            chat_template = match config.get("chat_template") {
                Some(serde_json::Value::String(template)) => Some(template.clone()),
                // A list of named templates: take "default".
                Some(serde_json::Value::Array(list)) => list
                    .iter()
                    .find(|entry| {
                        entry.get("name").and_then(|name| name.as_str()) == Some("default")
                    })
                    .and_then(|entry| entry.get("template"))
                    .and_then(|template| template.as_str())
                    .map(str::to_owned),
                _ => None,
            };
        }
        Ok((tokenizer, chat_template))
    }

    pub(crate) fn encode(&self, text: &str, add_special: bool) -> Vec<u32> {
        // The tokenizers crate only fails on misconfigured pipelines (e.g. truncation errors);
        // none is configured here, so an error yields no ids rather than a panic.
        self.inner
            .encode(text, add_special)
            .map(|encoding| encoding.get_ids().to_vec())
            .unwrap_or_default()
    }

    pub(crate) fn token_to_piece(&self, id: u32) -> Option<Vec<u8>> {
        self.inner.id_to_token(id)?;
        self.inner.decode(&[id], false).ok().map(String::into_bytes)
    }

    pub(crate) fn vocabulary_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub(crate) fn special_texts(&self) -> (String, String, bool, bool) {
        (
            self.bos.clone(),
            self.eos.clone(),
            self.add_bos,
            self.add_eos,
        )
    }
}
