//! Exact token counts from a model's own vocabulary.
//!
//! [`Tokenizer::from_gguf`] rebuilds llama.cpp's tokenizer from a GGUF's `tokenizer.ggml.*`
//! metadata — byte-level BPE with the pre-tokenizer llama.cpp selects by `tokenizer.ggml.pre`,
//! SentencePiece-style (`llama`), WordPiece (`bert`), special tokens, add-BOS/EOS — with the
//! algorithms ported from llama.cpp `src/llama-vocab.cpp` and `src/unicode.cpp` so the ids are the
//! ones `llama-tokenize` prints. [`Tokenizer::from_tokenizer_json`] wraps the Hugging Face
//! `tokenizers` engine for a `tokenizer.json`. [`Tokenizer::count_chat`] renders messages through
//! the model's chat template first, so the count includes the template's own tokens.
//!
//! Which engine serves which family, and why:
//! - GGUF vocabularies (`gpt2`/`gemma4` BPE with every llama.cpp pre-tokenizer, `llama` SPM,
//!   `bert` WPM): ported llama.cpp code. The criterion is llama.cpp's ids, and several of its
//!   behaviours are its own rather than Hugging Face's: its Unicode tables (`unicode_data.rs` is
//!   transcribed from llama.cpp), its hand-written GPT-2/Llama 3/Qwen2 splitters, its `std::regex`
//!   emulation (category-collapsed text with ASCII-only `\s`), its special-token partition with
//!   LSTRIP/RSTRIP, its text-based control-token detection. The `tokenizers` crate cannot express
//!   those, and the port is also faster (see BENCHMARKS.md).
//! - `tokenizer.json`: the `tokenizers` crate (without onig; `fancy-regex`), the reference engine for
//!   that format.
//! - Not supported (error at load): `t5` (UGM), `rwkv`, `plamo2`, `hybriddna`, `whitespace` models
//!   and the `mmbert` pre-tokenizer.

mod bpe;
mod chat;
mod gguf;
mod go_template;
mod huggingface;
mod interner;
mod parallel;
mod pretokenize;
mod special;
mod spm;
mod unicode;
mod unicode_data;
mod vocabulary;
mod wpm;

use std::path::{Path, PathBuf};

pub use chat::{ChatMessage, ChatTemplate};

use crate::special::Fragment;
use crate::vocabulary::{ModelKind, Vocabulary};

/// Why a tokenizer could not be built or a template not rendered.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A GGUF metadata key is missing or has the wrong type.
    #[error("GGUF tokenizer metadata: {source}")]
    Metadata {
        /// The typed getter's error (names the key).
        #[from]
        source: headroom_gguf::MetadataError,
    },
    /// A key the tokenizer model needs is absent.
    #[error("metadata key '{key}' is missing")]
    MissingKey {
        /// The key.
        key: &'static str,
    },
    /// A per-token array is shorter than `tokenizer.ggml.tokens`.
    #[error("metadata key '{key}' has {length} entries for {tokens} tokens")]
    ArrayTooShort {
        /// The key.
        key: &'static str,
        /// Entries in the array.
        length: usize,
        /// Entries in `tokenizer.ggml.tokens`.
        tokens: usize,
    },
    /// `tokenizer.ggml.tokens` is empty.
    #[error("metadata key 'tokenizer.ggml.tokens' is empty")]
    EmptyVocabulary,
    /// `tokenizer.ggml.model` names a tokenizer this crate does not implement.
    #[error(
        "tokenizer.ggml.model '{model}' is not supported (supported: llama, gpt2, gemma4, bert)"
    )]
    UnsupportedModel {
        /// The value of `tokenizer.ggml.model`.
        model: String,
    },
    /// `tokenizer.ggml.pre` names a pre-tokenizer llama.cpp (11434.0.0) does not know.
    #[error("tokenizer.ggml.pre '{pre}' is not a pre-tokenizer llama.cpp knows")]
    UnknownPreTokenizer {
        /// The value of `tokenizer.ggml.pre`.
        pre: String,
    },
    /// `tokenizer.ggml.pre` names a pre-tokenizer llama.cpp knows but this crate has not ported.
    #[error("tokenizer.ggml.pre '{pre}' is not supported yet")]
    UnsupportedPreTokenizer {
        /// The value of `tokenizer.ggml.pre`.
        pre: String,
    },
    /// A pre-tokenizer expression could not be translated.
    #[error("pre-tokenizer pattern {pattern:?}: {reason}")]
    UnsupportedPattern {
        /// llama.cpp's expression.
        pattern: String,
        /// Why it failed.
        reason: String,
    },
    /// Reading a file failed (the error names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Reading a GGUF file failed.
    #[error(transparent)]
    Gguf(#[from] headroom_gguf::GgufError),
    /// A `tokenizer.json` could not be loaded.
    #[error("{path}: not a usable tokenizer.json: {source}")]
    TokenizerJson {
        /// The file.
        path: PathBuf,
        /// The `tokenizers` crate's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The model has no chat template.
    #[error("the model has no chat template (no 'tokenizer.chat_template' key)")]
    NoChatTemplate,
    /// The chat template failed to parse or render.
    #[error("chat template: {source}")]
    Template {
        /// The template engine's error (with its line).
        #[from]
        source: minijinja::Error,
    },
    /// An Ollama (Go text/template) template uses something this crate does not support.
    #[error("Ollama template, byte {offset}: {message}")]
    GoTemplate {
        /// Byte offset in the template.
        offset: usize,
        /// What is wrong or unsupported.
        message: String,
    },
}

/// Which engine serves a tokenizer.
#[derive(Debug)]
enum Engine {
    /// llama.cpp's algorithms on a GGUF vocabulary (ported).
    Llama(Box<Vocabulary>),
    /// The Hugging Face `tokenizers` crate on a `tokenizer.json`.
    HuggingFace(Box<huggingface::HuggingFaceTokenizer>),
}

/// A tokenizer that reproduces a model's own token ids.
#[derive(Debug)]
pub struct Tokenizer {
    engine: Engine,
    chat_template: Option<String>,
}

impl Tokenizer {
    /// Builds the tokenizer llama.cpp would build from this GGUF's `tokenizer.ggml.*` metadata.
    pub fn from_gguf(file: &headroom_gguf::GgufFile) -> Result<Tokenizer, TokenizerError> {
        let raw = gguf::raw_vocabulary(file)?;
        let vocabulary = Vocabulary::build(raw)?;
        Ok(Tokenizer {
            engine: Engine::Llama(Box::new(vocabulary)),
            chat_template: gguf::chat_template(file)?,
        })
    }

    /// Opens a GGUF file (header only) and builds its tokenizer.
    pub fn from_gguf_path(path: impl AsRef<Path>) -> Result<Tokenizer, TokenizerError> {
        let file = headroom_gguf::GgufFile::open(path.as_ref())?;
        Self::from_gguf(&file)
    }

    /// Loads a Hugging Face `tokenizer.json` (served by the `tokenizers` crate). A
    /// `tokenizer_config.json` next to it, if present, provides the chat template.
    pub fn from_tokenizer_json(path: impl AsRef<Path>) -> Result<Tokenizer, TokenizerError> {
        let (tokenizer, chat_template) = huggingface::HuggingFaceTokenizer::open(path.as_ref())?;
        Ok(Tokenizer {
            engine: Engine::HuggingFace(Box::new(tokenizer)),
            chat_template,
        })
    }

    /// Token ids of `text`. `add_special` adds BOS/EOS as the model's flags say (llama.cpp
    /// `add_special`); `parse_special` matches control tokens written in the text (llama.cpp
    /// `parse_special`; user-defined tokens always match, as in llama.cpp). For a `tokenizer.json`,
    /// added tokens always match (the `tokenizers` crate has no switch for it).
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        match &self.engine {
            Engine::Llama(vocabulary) => encode_llama(vocabulary, text, add_special, parse_special),
            Engine::HuggingFace(tokenizer) => tokenizer.encode(text, add_special),
        }
    }

    /// The number of tokens llama.cpp's server counts for `text` sent as a prompt: its
    /// `tokenize_input_prompts(…, add_special = true, parse_special = true)`
    /// (`tools/server/server-context.cpp`), i.e. BOS/EOS per the model's flags, control tokens
    /// written in the text parsed as such. `llama-tokenize` differs only in adding EOS solely when
    /// the model also adds BOS.
    pub fn count(&self, text: &str) -> usize {
        self.encode(text, true, true).len()
    }

    /// [`Tokenizer::count`] on several threads: the text is cut only at newlines where no
    /// pre-tokenizer (or SentencePiece merge) ever joins across, so the result equals `count`.
    pub fn count_parallel(&self, text: &str, threads: usize) -> usize {
        match &self.engine {
            Engine::Llama(vocabulary) => parallel::count_parallel(vocabulary, text, threads.max(1)),
            Engine::HuggingFace(tokenizer) => tokenizer.encode(text, true).len(),
        }
    }

    /// The bytes a token stands for (llama.cpp `token_to_piece` with `special = true`); `None` for
    /// an id outside the vocabulary.
    pub fn token_to_piece(&self, id: u32) -> Option<Vec<u8>> {
        match &self.engine {
            Engine::Llama(vocabulary) => token_to_piece(vocabulary, id),
            Engine::HuggingFace(tokenizer) => tokenizer.token_to_piece(id),
        }
    }

    /// The number of entries in the vocabulary.
    pub fn vocabulary_size(&self) -> usize {
        match &self.engine {
            Engine::Llama(vocabulary) => vocabulary.tokens.len(),
            Engine::HuggingFace(tokenizer) => tokenizer.vocabulary_size(),
        }
    }

    /// Which engine and tokenizer family serve this model, for reports (`llama.cpp port: gpt2/qwen2`).
    pub fn description(&self) -> String {
        match &self.engine {
            Engine::Llama(vocabulary) => {
                let kind = match vocabulary.kind {
                    ModelKind::Spm => "llama (SentencePiece)".to_owned(),
                    ModelKind::Bpe => {
                        format!("gpt2 (byte-level BPE), pre-tokenizer '{}'", vocabulary.pre)
                    }
                    ModelKind::Wpm => "bert (WordPiece)".to_owned(),
                };
                format!("llama.cpp port: {kind}")
            }
            Engine::HuggingFace(_) => "Hugging Face tokenizers: tokenizer.json".to_owned(),
        }
    }

    /// The model's Jinja chat template, if it has one.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Replaces the chat template (for example with an Ollama template, see [`ChatTemplate`]).
    pub fn set_chat_template(&mut self, template: Option<String>) {
        self.chat_template = template;
    }

    /// Token count of `messages` rendered through the model's Jinja chat template, tokenized as
    /// llama.cpp's server tokenizes a rendered prompt (special tokens parsed, BOS per the model,
    /// a BOS the template already wrote not doubled).
    pub fn count_chat(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<usize, TokenizerError> {
        let source = self
            .chat_template
            .as_deref()
            .ok_or(TokenizerError::NoChatTemplate)?;
        self.count_chat_with(
            &ChatTemplate::Jinja(source.to_owned()),
            messages,
            add_generation_prompt,
        )
    }

    /// Like [`Tokenizer::count_chat`] with an explicit template (Jinja or Ollama's Go template).
    pub fn count_chat_with(
        &self,
        template: &ChatTemplate,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<usize, TokenizerError> {
        let (text, add_special) = self.render_chat(template, messages, add_generation_prompt)?;
        Ok(self.encode(&text, add_special, true).len())
    }

    /// Renders messages to the prompt text the server tokenizes; the flag says whether BOS/EOS
    /// still have to be added by the tokenizer.
    pub fn render_chat(
        &self,
        template: &ChatTemplate,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<(String, bool), TokenizerError> {
        let (bos, eos, add_bos, add_eos) = self.special_texts();
        chat::render(
            template,
            messages,
            add_generation_prompt,
            &bos,
            &eos,
            add_bos,
            add_eos,
        )
    }

    fn special_texts(&self) -> (String, String, bool, bool) {
        match &self.engine {
            Engine::Llama(vocabulary) => {
                let text = |id: Option<u32>| {
                    id.and_then(|id| vocabulary.tokens.get(id as usize))
                        .cloned()
                        .unwrap_or_default()
                };
                (
                    text(vocabulary.ids.bos),
                    text(vocabulary.ids.eos),
                    vocabulary.add_bos,
                    vocabulary.add_eos,
                )
            }
            Engine::HuggingFace(tokenizer) => tokenizer.special_texts(),
        }
    }
}

/// SentencePiece text is processed in pieces of about this many bytes (see `encode_llama`).
pub(crate) const SPM_CHUNK_BYTES: usize = 4096;

/// llama.cpp `llama_vocab::impl::tokenize`.
fn encode_llama(
    vocabulary: &Vocabulary,
    text: &str,
    add_special: bool,
    parse_special: bool,
) -> Vec<u32> {
    let fragments = special::partition(vocabulary, text, parse_special);
    let mut output = Vec::with_capacity(text.len() / 3 + 2);
    let mut scratch = bpe::BpeScratch::default();
    match vocabulary.kind {
        ModelKind::Spm => {
            if add_special && vocabulary.add_bos {
                output.extend(vocabulary.ids.bos);
            }
            let mut previous_special = true;
            for fragment in fragments {
                match fragment {
                    Fragment::Text { start, end } => {
                        let prepared = spm_text(vocabulary, &text[start..end], previous_special);
                        if vocabulary.spm_newline_isolated {
                            // SentencePiece's merge queue over a whole file is slow (one heap for
                            // millions of pairs); merges cannot cross a safe newline boundary in
                            // this vocabulary, so cutting there gives the same ids, faster.
                            for chunk in parallel::chunks(&prepared, SPM_CHUNK_BYTES) {
                                spm::encode_fragment(vocabulary, chunk, &mut output);
                            }
                        } else {
                            spm::encode_fragment(vocabulary, &prepared, &mut output);
                        }
                        previous_special = false;
                    }
                    Fragment::Token(id) => {
                        output.push(id);
                        previous_special = true;
                    }
                }
            }
            if add_special && vocabulary.add_eos {
                output.extend(vocabulary.ids.eos);
            }
        }
        ModelKind::Bpe => {
            if add_special && vocabulary.add_bos {
                output.extend(vocabulary.ids.bos);
            }
            let mut escaped: Vec<String> = Vec::new();
            if vocabulary.escape_whitespaces {
                escaped = fragments
                    .iter()
                    .map(|fragment| match fragment {
                        Fragment::Text { start, end } => {
                            text[*start..*end].replace(' ', "\u{2581}")
                        }
                        Fragment::Token(_) => String::new(),
                    })
                    .collect();
            }
            if let Some(model) = &vocabulary.bpe {
                for (index, fragment) in fragments.iter().enumerate() {
                    match *fragment {
                        Fragment::Text { start, end } => {
                            let piece = if vocabulary.escape_whitespaces {
                                escaped[index].as_str()
                            } else {
                                &text[start..end]
                            };
                            bpe::encode_fragment(
                                vocabulary,
                                model,
                                piece,
                                &mut scratch,
                                &mut output,
                            );
                        }
                        Fragment::Token(id) => output.push(id),
                    }
                }
            }
            if add_special && vocabulary.add_eos {
                output.extend(vocabulary.ids.eos);
            }
        }
        ModelKind::Wpm => {
            if add_special {
                output.extend(vocabulary.ids.bos);
            }
            for fragment in fragments {
                match fragment {
                    Fragment::Text { start, end } => {
                        wpm::encode_fragment(vocabulary, &text[start..end], &mut output)
                    }
                    Fragment::Token(id) => output.push(id),
                }
            }
            if add_special {
                output.extend(vocabulary.ids.sep);
            }
        }
    }
    output
}

/// The text llama.cpp's SPM session sees: a leading space after a special token (or at the start)
/// when `add_space_prefix`, and spaces escaped as `▁`.
fn spm_text(vocabulary: &Vocabulary, fragment: &str, previous_special: bool) -> String {
    let mut prepared = String::with_capacity(fragment.len() + 4);
    if vocabulary.add_space_prefix && previous_special {
        prepared.push(' ');
    }
    prepared.push_str(fragment);
    prepared.replace(' ', "\u{2581}")
}

/// llama.cpp `token_to_piece(token, special = true)` without the cache.
fn token_to_piece(vocabulary: &Vocabulary, id: u32) -> Option<Vec<u8>> {
    use crate::vocabulary::attribute;
    let text = vocabulary.tokens.get(id as usize)?;
    let attributes = vocabulary.attributes[id as usize];
    if attributes & (attribute::UNKNOWN | attribute::CONTROL | attribute::USER_DEFINED) != 0 {
        return Some(text.as_bytes().to_vec());
    }
    if attributes & attribute::NORMAL != 0 {
        return Some(match vocabulary.kind {
            ModelKind::Spm | ModelKind::Wpm => text.replace('\u{2581}', " ").into_bytes(),
            ModelKind::Bpe if vocabulary.escape_whitespaces => {
                text.replace('\u{2581}', " ").into_bytes()
            }
            ModelKind::Bpe => {
                let mut bytes = Vec::with_capacity(text.len());
                for character in text.chars() {
                    match unicode::char_to_byte(character) {
                        Some(byte) => bytes.push(byte),
                        None => bytes.extend_from_slice(character.to_string().as_bytes()),
                    }
                }
                bytes
            }
        });
    }
    if attributes & attribute::BYTE != 0 {
        let hex = text.get(3..5)?;
        return u8::from_str_radix(hex, 16).ok().map(|byte| vec![byte]);
    }
    Some(Vec::new())
}
