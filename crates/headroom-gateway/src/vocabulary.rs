//! The exact side of [`crate::seams::TokenCounter`]: each local model's own vocabulary
//! (headroom-tokenizer over the model's GGUF), the prompt rendered through the chat template the
//! server renders with (Ollama's `TEMPLATE` layer when the model comes from an Ollama store, else
//! the GGUF's `tokenizer.chat_template`). Tokenizers load once per model, on first use.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use headroom_ollama::store::{ModelStore, media_type};
use headroom_tokenizer::{ChatMessage, ChatTemplate, Tokenizer};

use crate::chat::ChatRequest;
use crate::config::Config;
use crate::memory_fit::{default_ollama_store, resolve};
use crate::seams::{TokenCount, TokenCounter};

/// A loaded vocabulary with the template the server renders prompts with.
struct Vocabulary {
    tokenizer: Tokenizer,
    template: ChatTemplate,
}

/// Counts with each local model's own tokenizer; `None` (so the caller falls back to the
/// backend's `/tokenize` or the stated estimate) when a model's GGUF or template cannot be had.
pub struct VocabularyCounter {
    /// GGUF paths the config names, by local model name.
    files: HashMap<String, PathBuf>,
    store: Option<PathBuf>,
    loaded: Mutex<HashMap<String, Option<Arc<Vocabulary>>>>,
}

impl VocabularyCounter {
    /// A counter for the local models of `config` (`gguf` paths resolved against `config_path`),
    /// looking up the others in the default Ollama store.
    pub fn new(config: &Config, config_path: &std::path::Path) -> VocabularyCounter {
        let files = config
            .models
            .iter()
            .filter_map(|model| model.local.as_ref())
            .filter_map(|local| {
                Some((
                    local.model.clone(),
                    resolve(config_path, local.gguf.as_deref()?),
                ))
            })
            .collect();
        VocabularyCounter {
            files,
            store: default_ollama_store(),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    fn load(&self, model: &str) -> Option<Vocabulary> {
        if let Some(path) = self.files.get(model) {
            let tokenizer = Tokenizer::from_gguf_path(path).ok()?;
            let template = ChatTemplate::Jinja(tokenizer.chat_template()?.to_string());
            return Some(Vocabulary {
                tokenizer,
                template,
            });
        }
        let store = ModelStore::new(self.store.as_ref()?);
        let stored = store.model(model).ok()?;
        let tokenizer = Tokenizer::from_gguf(&store.open_gguf(&stored).ok()?).ok()?;
        // Ollama renders with the Modelfile's TEMPLATE layer, not the GGUF's Jinja template.
        let template = match store
            .layer_text(&stored, media_type::TEMPLATE)
            .ok()
            .flatten()
        {
            Some(text) => ChatTemplate::Ollama(text),
            None => ChatTemplate::Jinja(tokenizer.chat_template()?.to_string()),
        };
        Some(Vocabulary {
            tokenizer,
            template,
        })
    }

    fn vocabulary(&self, model: &str) -> Option<Arc<Vocabulary>> {
        let mut loaded = self.loaded.lock().ok()?;
        loaded
            .entry(model.to_string())
            .or_insert_with(|| self.load(model).map(Arc::new))
            .clone()
    }
}

impl TokenCounter for VocabularyCounter {
    fn count(&self, model: &str, request: &ChatRequest) -> Option<TokenCount> {
        let vocabulary = self.vocabulary(model)?;
        let messages: Vec<ChatMessage> = request
            .messages
            .iter()
            .map(|message| ChatMessage::new(message.role.clone(), message.content.clone()))
            .collect();
        let tokens = vocabulary
            .tokenizer
            .count_chat_with(&vocabulary.template, &messages, true)
            .ok()?;
        Some(TokenCount::exact(tokens as u64))
    }
}
