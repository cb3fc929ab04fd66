//! A llama.cpp vocabulary built from `tokenizer.ggml.*` metadata: token texts, scores and attributes,
//! special ids, the add-BOS/EOS flags and the per-model quirks, all decided as llama.cpp's
//! `llama_vocab::impl::load` (`src/llama-vocab.cpp`) decides them.

use aho_corasick::AhoCorasick;

use crate::TokenizerError;
use crate::bpe::BpeModel;
use crate::interner::Interner;
use crate::pretokenize::Splitter;

/// Token attributes (llama.cpp `include/llama.h`, `enum llama_token_attr`).
pub(crate) mod attribute {
    pub(crate) const UNKNOWN: u32 = 1 << 0;
    pub(crate) const UNUSED: u32 = 1 << 1;
    pub(crate) const NORMAL: u32 = 1 << 2;
    pub(crate) const CONTROL: u32 = 1 << 3;
    pub(crate) const USER_DEFINED: u32 = 1 << 4;
    pub(crate) const BYTE: u32 = 1 << 5;
    pub(crate) const LSTRIP: u32 = 1 << 7;
    pub(crate) const RSTRIP: u32 = 1 << 8;
}

/// The raw `tokenizer.ggml.*` metadata a vocabulary is built from (decoupled from the GGUF reader so
/// the algorithms can be tested with small hand-made vocabularies).
#[derive(Debug, Default, Clone)]
pub(crate) struct RawVocabulary<'a> {
    pub(crate) model: String,
    pub(crate) pre: Option<String>,
    pub(crate) tokens: Vec<String>,
    pub(crate) token_types: Option<Vec<i64>>,
    pub(crate) scores: Option<Vec<f32>>,
    /// Borrowed: a 280K-entry merge list is parsed in place, never copied.
    pub(crate) merges: Option<&'a [String]>,
    /// `(metadata key, value)` for every `tokenizer.ggml.*_token_id` present.
    pub(crate) special_ids: Vec<(&'static str, u64)>,
    pub(crate) add_bos: Option<bool>,
    pub(crate) add_eos: Option<bool>,
    pub(crate) add_space_prefix: Option<bool>,
    pub(crate) normalizer_lowercase: Option<bool>,
    pub(crate) normalizer_strip_accents: Option<bool>,
    pub(crate) general_name: Option<String>,
    pub(crate) architecture: Option<String>,
}

/// The special-id metadata keys llama.cpp reads (`src/llama-arch.cpp`), in its order.
pub(crate) const SPECIAL_ID_KEYS: [&str; 17] = [
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.eom_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.seperator_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.mask_token_id",
    "tokenizer.ggml.fim_pre_token_id",
    "tokenizer.ggml.fim_suf_token_id",
    "tokenizer.ggml.fim_mid_token_id",
    "tokenizer.ggml.fim_pad_token_id",
    "tokenizer.ggml.fim_rep_token_id",
    "tokenizer.ggml.fim_sep_token_id",
    "tokenizer.ggml.prefix_token_id",
    "tokenizer.ggml.suffix_token_id",
    "tokenizer.ggml.middle_token_id",
];

/// Which llama.cpp tokenizer runs (`enum llama_vocab_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModelKind {
    /// `tokenizer.ggml.model = llama`: SentencePiece-style score merges with byte fallback.
    Spm,
    /// `gpt2` (and `gemma4`): byte-level BPE with a pre-tokenizer chosen by `tokenizer.ggml.pre`.
    Bpe,
    /// `bert`: WordPiece.
    Wpm,
}

/// Special ids after defaults and metadata (`special_*_id` in llama.cpp).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SpecialIds {
    pub(crate) bos: Option<u32>,
    pub(crate) eos: Option<u32>,
    pub(crate) eot: Option<u32>,
    pub(crate) eom: Option<u32>,
    pub(crate) unk: Option<u32>,
    pub(crate) sep: Option<u32>,
    pub(crate) pad: Option<u32>,
    pub(crate) mask: Option<u32>,
    pub(crate) fim_pre: Option<u32>,
    pub(crate) fim_suf: Option<u32>,
    pub(crate) fim_mid: Option<u32>,
    pub(crate) fim_pad: Option<u32>,
    pub(crate) fim_rep: Option<u32>,
    pub(crate) fim_sep: Option<u32>,
}

/// A loaded vocabulary with everything `encode` needs.
#[derive(Debug)]
pub(crate) struct Vocabulary {
    pub(crate) kind: ModelKind,
    pub(crate) pre: String,
    pub(crate) tokens: Vec<String>,
    pub(crate) scores: Vec<f32>,
    pub(crate) attributes: Vec<u32>,
    /// Text to id; for BPE also every merge string (ids `>= tokens.len()` are not tokens).
    pub(crate) pieces: Interner,
    pub(crate) ids: SpecialIds,
    pub(crate) add_bos: bool,
    pub(crate) add_eos: bool,
    pub(crate) add_space_prefix: bool,
    pub(crate) escape_whitespaces: bool,
    pub(crate) normalizer_lowercase: bool,
    pub(crate) normalizer_strip_accents: bool,
    pub(crate) max_token_length_bytes: usize,
    /// llama.cpp `cache_special_tokens`: control, user-defined and unknown tokens, longest first.
    pub(crate) special_tokens: Vec<u32>,
    /// Finds which special tokens occur at all, so partitioning only scans for those.
    pub(crate) special_finder: Option<AhoCorasick>,
    pub(crate) bpe: Option<BpeModel>,
    /// No token joins a newline with other characters, so SentencePiece merges never cross a
    /// newline and SPM text may be cut at `parallel::is_safe_boundary` points.
    pub(crate) spm_newline_isolated: bool,
}

impl Vocabulary {
    /// llama.cpp `text_to_token`.
    #[inline]
    pub(crate) fn text_to_token(&self, text: &str) -> Option<u32> {
        let id = self.pieces.get(&self.tokens, text)?;
        (id < self.tokens.len() as u32).then_some(id)
    }

    pub(crate) fn is_gemma4_like(&self) -> bool {
        self.pre == "gemma4"
    }

    pub(crate) fn build(raw: RawVocabulary<'_>) -> Result<Self, TokenizerError> {
        let RawVocabulary {
            model,
            pre,
            tokens,
            token_types,
            scores,
            merges,
            special_ids,
            add_bos: add_bos_key,
            add_eos: add_eos_key,
            add_space_prefix: add_space_prefix_key,
            normalizer_lowercase,
            normalizer_strip_accents,
            general_name,
            architecture,
        } = raw;
        let token_count = tokens.len();
        let mut ids = SpecialIds::default();
        let mut add_bos;
        let mut add_eos = false;
        let mut add_space_prefix = false;
        let mut escape_whitespaces = false;
        let mut ignore_merges = false;
        let mut byte_encode = true;
        let mut pre_name = pre.clone().unwrap_or_default();
        let kind = match model.as_str() {
            "llama" => {
                // Defaults from llama.cpp `load`, SPM branch.
                ids.bos = Some(1);
                ids.eos = Some(2);
                ids.unk = Some(0);
                ModelKind::Spm
            }
            "bert" => {
                ids.bos = Some(101);
                ids.unk = Some(100);
                ids.sep = Some(102);
                ids.pad = Some(0);
                ids.mask = Some(103);
                ModelKind::Wpm
            }
            "gpt2" => {
                ids.bos = Some(11);
                ids.eos = Some(11);
                ModelKind::Bpe
            }
            "gemma4" => {
                pre_name = "gemma4".to_owned();
                ModelKind::Bpe
            }
            other => {
                return Err(TokenizerError::UnsupportedModel {
                    model: other.to_owned(),
                });
            }
        };
        let mut splitters = Vec::new();
        match kind {
            ModelKind::Bpe => {
                let flags = bpe_pre_flags(&pre_name)?;
                ignore_merges = flags.ignore_merges;
                add_bos = flags.add_bos;
                escape_whitespaces = flags.escape_whitespaces;
                if flags.no_bos {
                    ids.bos = None;
                }
                let (expressions, encode_bytes) = pre_expressions(flags.pre_type);
                byte_encode = encode_bytes;
                for expression in expressions {
                    splitters.push(Splitter::from_expression(expression)?);
                }
            }
            ModelKind::Spm => {
                add_space_prefix = true;
                add_bos = true;
            }
            ModelKind::Wpm => {
                add_bos = true;
            }
        }
        if let Some(value) = add_space_prefix_key {
            add_space_prefix = value;
        }

        if token_count == 0 {
            return Err(TokenizerError::EmptyVocabulary);
        }
        let mut scores_out = vec![0.0f32; token_count];
        if let Some(scores) = scores {
            if scores.len() < token_count {
                return Err(TokenizerError::ArrayTooShort {
                    key: "tokenizer.ggml.scores",
                    length: scores.len(),
                    tokens: token_count,
                });
            }
            scores_out.copy_from_slice(&scores[..token_count]);
        }
        let mut attributes = vec![attribute::NORMAL; token_count];
        if let Some(types) = &token_types {
            if types.len() < token_count {
                return Err(TokenizerError::ArrayTooShort {
                    key: "tokenizer.ggml.token_type",
                    length: types.len(),
                    tokens: token_count,
                });
            }
            for (attr, &token_type) in attributes.iter_mut().zip(types) {
                // llama.cpp `LLAMA_TOKEN_TYPE_*` -> `LLAMA_TOKEN_ATTR_*`; undefined types become 0.
                *attr = match token_type {
                    1 => attribute::NORMAL,
                    2 => attribute::UNKNOWN,
                    3 => attribute::CONTROL,
                    4 => attribute::USER_DEFINED,
                    5 => attribute::UNUSED,
                    6 => attribute::BYTE,
                    _ => 0,
                };
            }
        }
        let mut tokens = tokens;
        let mut pieces =
            Interner::with_capacity(token_count + merges.map_or(0, <[String]>::len) / 4);
        let mut max_token_length_bytes = 0;
        for (id, text) in tokens.iter_mut().enumerate() {
            if text.is_empty() {
                // llama.cpp renames empty tokens so they can never match.
                *text = format!("[EMPTY_{id}]");
            }
            max_token_length_bytes = max_token_length_bytes.max(text.len());
        }
        for id in 0..token_count as u32 {
            pieces.insert_token(&tokens, id);
        }

        // Special ids from metadata: out-of-range values keep the default (llama.cpp warns).
        for (key, value) in special_ids {
            let Ok(value) = u32::try_from(value) else {
                continue;
            };
            if value as usize >= token_count {
                continue;
            }
            let slot = match key {
                "tokenizer.ggml.bos_token_id" => &mut ids.bos,
                "tokenizer.ggml.eos_token_id" => &mut ids.eos,
                "tokenizer.ggml.eot_token_id" => &mut ids.eot,
                "tokenizer.ggml.eom_token_id" => &mut ids.eom,
                "tokenizer.ggml.unknown_token_id" => &mut ids.unk,
                "tokenizer.ggml.seperator_token_id" => &mut ids.sep,
                "tokenizer.ggml.padding_token_id" => &mut ids.pad,
                "tokenizer.ggml.mask_token_id" => &mut ids.mask,
                "tokenizer.ggml.fim_pre_token_id" | "tokenizer.ggml.prefix_token_id" => {
                    &mut ids.fim_pre
                }
                "tokenizer.ggml.fim_suf_token_id" | "tokenizer.ggml.suffix_token_id" => {
                    &mut ids.fim_suf
                }
                "tokenizer.ggml.fim_mid_token_id" | "tokenizer.ggml.middle_token_id" => {
                    &mut ids.fim_mid
                }
                "tokenizer.ggml.fim_pad_token_id" => &mut ids.fim_pad,
                "tokenizer.ggml.fim_rep_token_id" => &mut ids.fim_rep,
                "tokenizer.ggml.fim_sep_token_id" => &mut ids.fim_sep,
                _ => continue,
            };
            *slot = Some(value);
        }
        for slot in [
            &mut ids.bos,
            &mut ids.eos,
            &mut ids.unk,
            &mut ids.sep,
            &mut ids.pad,
            &mut ids.mask,
        ] {
            if slot.is_some_and(|id| id as usize >= token_count) {
                *slot = None;
            }
        }
        if let Some(value) = add_bos_key {
            add_bos = value;
        }
        if let Some(value) = add_eos_key {
            add_eos = value;
        }
        if pre_name == "gemma4" && kind == ModelKind::Bpe && !add_bos {
            // llama.cpp forces BOS for Gemma 4 (llama.cpp PR 21500).
            add_bos = true;
        }
        // llama.cpp `normalizer_options` defaults to lowercase; the whitespace pre-tokenizer turns it off.
        let lowercase =
            normalizer_lowercase.unwrap_or(!(kind == ModelKind::Bpe && pre_name == "whitespace"));
        let strip_accents = normalizer_strip_accents.unwrap_or(lowercase);
        mark_detected_specials(&tokens, &mut attributes, &mut ids, &pieces);

        let mut special_tokens: Vec<u32> = (0..token_count as u32)
            .filter(|&id| {
                attributes[id as usize]
                    & (attribute::CONTROL | attribute::USER_DEFINED | attribute::UNKNOWN)
                    != 0
            })
            .collect();
        // llama.cpp uses an unstable std::sort by length; ties keep id order here.
        special_tokens.sort_by(|&a, &b| tokens[b as usize].len().cmp(&tokens[a as usize].len()));

        apply_model_attributes(
            &pre_name,
            general_name.as_deref(),
            architecture.as_deref(),
            &tokens,
            &pieces,
            &special_tokens,
            &mut attributes,
        );

        let special_finder = if special_tokens.is_empty() {
            None
        } else {
            AhoCorasick::new(
                special_tokens
                    .iter()
                    .map(|&id| tokens[id as usize].as_bytes()),
            )
            .ok()
        };
        let bpe = match kind {
            ModelKind::Bpe => {
                let merges = merges.ok_or(TokenizerError::MissingKey {
                    key: "tokenizer.ggml.merges",
                })?;
                Some(BpeModel::new(
                    splitters,
                    byte_encode,
                    ignore_merges,
                    merges,
                    &mut pieces,
                    &tokens,
                )?)
            }
            _ => None,
        };
        crate::unicode::warm_up();
        let spm_newline_isolated = tokens
            .iter()
            .all(|token| token == "\n" || !token.contains('\n'));
        Ok(Self {
            kind,
            pre: pre_name,
            tokens,
            scores: scores_out,
            attributes,
            pieces,
            ids,
            add_bos,
            add_eos,
            add_space_prefix,
            escape_whitespaces,
            normalizer_lowercase: lowercase,
            normalizer_strip_accents: strip_accents,
            max_token_length_bytes,
            special_tokens,
            special_finder,
            bpe,
            spm_newline_isolated,
        })
    }
}

/// The llama.cpp pre-tokenizer types (`enum llama_vocab_pre_type`) this crate distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PreType {
    Default,
    Llama3,
    Jais2,
    DeepseekLlm,
    Deepseek3Llm,
    Spark25,
    Youtu,
    DeepseekCoder,
    Falcon,
    Starcoder,
    Gpt2,
    Qwen2,
    Qwen35,
    Poro,
    ChatGlm4,
    Viking,
    Tekken,
    Chameleon,
    Gpt4o,
    GraniteEmbedMulti,
    TinyAya,
    KimiK2,
    SuperBpe,
    BailingMoe,
    SeedCoder,
    Ufakzeka,
    Grok2,
    Afmoe,
    Laguna,
    ExaoneMoe,
    Gemma4,
    MiniCpm5,
    Whitespace,
}

struct PreFlags {
    pre_type: PreType,
    ignore_merges: bool,
    add_bos: bool,
    escape_whitespaces: bool,
    no_bos: bool,
}

/// llama.cpp `load`: `tokenizer.ggml.pre` -> pre-tokenizer type and flags (BPE branch).
fn bpe_pre_flags(pre: &str) -> Result<PreFlags, TokenizerError> {
    let mut flags = PreFlags {
        pre_type: PreType::Default,
        ignore_merges: false,
        add_bos: false,
        escape_whitespaces: false,
        no_bos: false,
    };
    flags.pre_type = match pre {
        "" | "default" => PreType::Default,
        "minicpm5" => {
            flags.ignore_merges = true;
            PreType::MiniCpm5
        }
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" | "jina-v5-nano" => {
            flags.ignore_merges = true;
            flags.add_bos = true;
            PreType::Llama3
        }
        "deepseek-llm" => PreType::DeepseekLlm,
        "deepseek-coder" => PreType::DeepseekCoder,
        "deepseek-v3" | "hunyuan-dense" | "hy_v4" | "joyai-llm" => PreType::Deepseek3Llm,
        "spark2_5" => PreType::Spark25,
        "youtu" => {
            flags.ignore_merges = true;
            PreType::Youtu
        }
        "falcon" => PreType::Falcon,
        "mpt" | "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es"
        | "jina-v2-de" | "a.x-4.0" | "mellum" | "modern-bert" | "jina-v1-en" | "jina-v2-code"
        | "roberta-bpe" | "olmo" | "jais" | "exaone4" | "trillion" | "granite-docling" => {
            PreType::Gpt2
        }
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b"
        | "mellum2" => PreType::Starcoder,
        "jais-2" => PreType::Jais2,
        "gemma4" | "granite-embed-multi-311m" | "sarvam-moe" => {
            flags.escape_whitespaces = true;
            PreType::Gemma4
        }
        // MMBERT adds a metaspace word split after the newline split (llama.cpp `tokenize`); not ported.
        "mmbert" => {
            return Err(TokenizerError::UnsupportedPreTokenizer {
                pre: pre.to_owned(),
            });
        }
        "whitespace" => PreType::Whitespace,
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "megrez" | "stablelm2" | "hunyuan"
        | "solar-open" => PreType::Qwen2,
        "qwen35" => PreType::Qwen35,
        "dbrx" | "smaug-bpe" => PreType::Llama3,
        "poro-chat" | "bloom" | "gpt3-finnish" => PreType::Poro,
        "chatglm-bpe" => {
            flags.no_bos = true;
            PreType::ChatGlm4
        }
        "glm4" | "glm5" => {
            flags.no_bos = true;
            flags.ignore_merges = true;
            PreType::ChatGlm4
        }
        "viking" => PreType::Viking,
        "tekken" => {
            flags.ignore_merges = true;
            flags.add_bos = true;
            PreType::Tekken
        }
        "chameleon" => {
            flags.add_bos = true;
            PreType::Chameleon
        }
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => PreType::Gpt4o,
        "granite-embed-multi-97m" => {
            flags.ignore_merges = true;
            PreType::GraniteEmbedMulti
        }
        "tiny_aya" | "cohere2moe" => PreType::TinyAya,
        "superbpe" => PreType::SuperBpe,
        "bailingmoe" | "bailingmoe2" | "llada-moe" => PreType::BailingMoe,
        "seed-coder" => PreType::SeedCoder,
        "kimi-k2" => PreType::KimiK2,
        "ufakzeka" => PreType::Ufakzeka,
        "grok-2" => PreType::Grok2,
        "afmoe" => PreType::Afmoe,
        "laguna" => PreType::Laguna,
        "exaone-moe" => PreType::ExaoneMoe,
        other => {
            return Err(TokenizerError::UnknownPreTokenizer {
                pre: other.to_owned(),
            });
        }
    };
    Ok(flags)
}

const LLAMA3: &str = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GPT2: &str = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const QWEN2: &str = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/// llama.cpp `llm_tokenizer_bpe` constructor: the expressions per pre-tokenizer type, verbatim,
/// and whether words are GPT-2 byte-encoded.
fn pre_expressions(pre_type: PreType) -> (Vec<&'static str>, bool) {
    let expressions: Vec<&'static str> = match pre_type {
        PreType::Llama3 | PreType::ChatGlm4 => vec![LLAMA3],
        PreType::Jais2 => vec![
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
        ],
        PreType::DeepseekLlm => vec![
            "[\r\n]",
            "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
            "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
            "\\s+$",
            "[一-龥ࠀ-一가-퟿]+",
            "\\p{N}+",
        ],
        PreType::Deepseek3Llm => vec![
            "\\p{N}{1,3}",
            "[一-龥぀-ゟ゠-ヿ]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
        ],
        PreType::Spark25 => vec![
            "\\p{N}{1,3}",
            "[一-龥぀-ゟ゠-ヿ]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
            "\\p{N}",
        ],
        PreType::Youtu => vec![
            "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
            "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        PreType::DeepseekCoder => vec![
            "[\r\n]",
            "\\s?\\p{L}+",
            "\\s?\\p{P}+",
            "[一-龥ࠀ-一가-퟿]+",
            "\\p{N}",
        ],
        PreType::Falcon => vec!["[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]"],
        PreType::Starcoder => vec!["\\p{N}", GPT2],
        PreType::Gpt2 => vec![GPT2],
        PreType::Qwen2 | PreType::Grok2 => vec![QWEN2],
        PreType::Qwen35 => vec![
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        PreType::Poro => vec![" ?[^(\\s|.,!?…。，、।۔،)]+"],
        PreType::Viking => vec![" ?[^(\\s|.,!?…。，、।۔،)]+", "\\p{N}"],
        PreType::Tekken => vec![
            "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        PreType::Chameleon => vec![
            "<sentinel:[0-9]+>",
            "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
            "([\\t\\n]|    |  )",
            "\\p{N}",
            "[\\p{P}!-/:-@\\[-`{-~]",
            GPT2,
        ],
        PreType::Gpt4o => vec![
            "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        PreType::GraniteEmbedMulti => vec![
            "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        PreType::TinyAya => vec![
            "\\d{1,3}(?=(?:\\d{3})*\\b)",
            "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        PreType::KimiK2 => vec!["\\p{Han}+"],
        PreType::SuperBpe => vec!["\\p{N}+", "(?=(\\d{3})+(?!\\d))"],
        PreType::BailingMoe => vec![
            "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
        ],
        PreType::SeedCoder => vec![
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        PreType::Ufakzeka => vec![
            "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        PreType::Afmoe => vec![
            "\\p{AFMoE_digits}",
            "[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        PreType::Laguna => vec!["[^\\n]+|[\\n]+", QWEN2],
        PreType::ExaoneMoe => vec![
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
        ],
        PreType::Gemma4 => return (vec!["[^\\n]+|[\\n]+"], false),
        PreType::MiniCpm5 => vec![
            "\\p{N}{1,3}",
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        ],
        PreType::Whitespace => return (vec!["\\S+"], false),
        PreType::Default => vec![
            "[\\p{P}\\$\\+<=>\\^~\\|]+",
            GPT2,
            "\\p{N}+",
            "[0-9][0-9][0-9]",
        ],
    };
    (expressions, true)
}

/// llama.cpp's text-based detection of EOT/EOM/FIM/EOG tokens, which promotes them to control
/// tokens (and so changes which texts `parse_special` matches), plus the gpt-oss, o200k and Gemma 4
/// attribute fixes. llama.cpp walks an unordered map; where several texts of one list exist and the
/// id is not in the metadata, the lowest id is taken here.
fn mark_detected_specials(
    tokens: &[String],
    attributes: &mut [u32],
    ids: &mut SpecialIds,
    pieces: &Interner,
) {
    let lookup = |text: &str| {
        pieces
            .get(tokens, text)
            .filter(|&id| (id as usize) < tokens.len())
    };
    let detect = |slot: &mut Option<u32>, texts: &[&str], attributes: &mut [u32]| {
        if slot.is_some() {
            return;
        }
        if let Some(id) = texts.iter().filter_map(|text| lookup(text)).min() {
            *slot = Some(id);
            attributes[id as usize] |= attribute::CONTROL;
        }
    };
    detect(
        &mut ids.eot,
        &[
            "<|eot_id|>",
            "<|im_end|>",
            "<|end|>",
            "<end_of_turn>",
            "<|endoftext|>",
            "<|end_of_text|>",
            "<EOT>",
            "_<EOT>",
            "[EOT]",
            "<｜end▁of▁sentence｜>",
            "<end_of_utterance>",
        ],
        attributes,
    );
    detect(&mut ids.eom, &["<|eom_id|>"], attributes);
    detect(
        &mut ids.fim_pre,
        &[
            "<|fim_prefix|>",
            "<fim-prefix>",
            "<fim_prefix>",
            "<｜fim▁begin｜>",
            "<PRE>",
            "▁<PRE>",
            "<|code_prefix|>",
            "<|prefix|>",
        ],
        attributes,
    );
    detect(
        &mut ids.fim_suf,
        &[
            "<|fim_suffix|>",
            "<fim-suffix>",
            "<fim_suffix>",
            "<｜fim▁hole｜>",
            "<SUF>",
            "▁<SUF>",
            "<|code_suffix|>",
            "<|suffix|>",
        ],
        attributes,
    );
    detect(
        &mut ids.fim_mid,
        &[
            "<|fim_middle|>",
            "<fim-middle>",
            "<fim_middle>",
            "<｜fim▁end｜>",
            "<MID>",
            "▁<MID>",
            "<|code_middle|>",
            "<|middle|>",
        ],
        attributes,
    );
    detect(
        &mut ids.fim_pad,
        &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
        attributes,
    );
    detect(
        &mut ids.fim_rep,
        &[
            "<|fim_repo|>",
            "<|repo_name|>",
            "<fim-repo>",
            "<REPO>",
            "<reponame>",
        ],
        attributes,
    );
    detect(&mut ids.fim_sep, &["<|file_sep|>"], attributes);

    let mut end_of_generation: Vec<u32> = [ids.fim_pad, ids.fim_rep, ids.fim_sep]
        .into_iter()
        .flatten()
        .collect();
    const EOG_TEXTS: [&str; 22] = [
        "<|eot_id|>",
        "<|im_end|>",
        "<|end|>",
        "<|return|>",
        "<|call|>",
        "<|flush|>",
        "<|calls|>",
        "<end_of_turn>",
        "<|endoftext|>",
        "</s>",
        "<|eom_id|>",
        "<EOT>",
        "_<EOT>",
        "[EOT]",
        "[EOS]",
        "<|end_of_text|>",
        "<end_of_utterance>",
        "<eos>",
        "<turn|>",
        "<|tool_response>",
        "<｜end▁of▁sentence｜>",
        "[e~[",
    ];
    for text in EOG_TEXTS {
        if let Some(id) = lookup(text) {
            end_of_generation.push(id);
            attributes[id as usize] |= attribute::CONTROL;
        }
    }
    for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
        if let Some(id) = lookup(text) {
            attributes[id as usize] = attribute::USER_DEFINED;
        }
    }
    end_of_generation.extend([ids.eos, ids.eot, ids.eom].into_iter().flatten());
    let has = |text: &str| {
        end_of_generation
            .iter()
            .any(|&id| tokens.get(id as usize).is_some_and(|t| t == text))
    };
    if (has("<|return|>") && has("<|call|>") && has("<|end|>"))
        || (has("<|calls|>") && has("<|flush|>") && has("<|end|>"))
    {
        for &id in &end_of_generation {
            if tokens[id as usize] == "<|end|>" {
                attributes[id as usize] = attribute::USER_DEFINED;
            }
        }
    }
    if (has("<|tool_response>") || has("<|plamo:eos|>")) && has("</s>") {
        for &id in &end_of_generation {
            if tokens[id as usize] == "</s>" {
                attributes[id as usize] = attribute::NORMAL;
            }
        }
    }
}

/// llama.cpp's per-model LSTRIP/RSTRIP attributes (end of `load`).
fn apply_model_attributes(
    pre: &str,
    general_name: Option<&str>,
    architecture: Option<&str>,
    tokens: &[String],
    pieces: &Interner,
    special_tokens: &[u32],
    attributes: &mut [u32],
) {
    let lookup = |text: &str| {
        pieces
            .get(tokens, text)
            .filter(|&id| (id as usize) < tokens.len())
    };
    let name = general_name.unwrap_or_default().to_ascii_lowercase();
    let architecture = architecture.unwrap_or_default();
    if ["jina-v2-de", "jina-v2-es", "jina-v2-code", "mmbert"]
        .iter()
        .any(|key| pre.contains(key))
        || ["nomic-bert-moe", "jina-bert-v3"]
            .iter()
            .any(|key| architecture.contains(key))
    {
        if let Some(id) = lookup("<mask>") {
            attributes[id as usize] |= attribute::LSTRIP;
        }
    } else if name.contains("phi-3") || name.contains("phi3") {
        for &id in special_tokens {
            attributes[id as usize] |= attribute::RSTRIP;
        }
        if let Some(id) = lookup("</s>") {
            attributes[id as usize] |= attribute::RSTRIP;
        }
        for text in ["<unk>", "<s>", "<|endoftext|>"] {
            if let Some(id) = lookup(text) {
                attributes[id as usize] &= !attribute::RSTRIP;
            }
        }
    } else if name.contains("modern-bert")
        && let Some(id) = lookup("[MASK]")
    {
        attributes[id as usize] |= attribute::LSTRIP;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `tokenizer.ggml.pre` value llama.cpp 11434.0.0 accepts for BPE vocabularies.
    const KNOWN_PRE: &[&str] = &[
        "default",
        "minicpm5",
        "llama3",
        "llama-v3",
        "llama-bpe",
        "falcon3",
        "falcon-h1",
        "pixtral",
        "midm-2.0",
        "lfm2",
        "jina-v5-nano",
        "deepseek-llm",
        "deepseek-coder",
        "deepseek-v3",
        "spark2_5",
        "youtu",
        "falcon",
        "mpt",
        "starcoder",
        "gpt-2",
        "phi-2",
        "jina-es",
        "jina-de",
        "gigachat",
        "jina-v2-es",
        "jina-v2-de",
        "a.x-4.0",
        "mellum",
        "modern-bert",
        "jais-2",
        "gemma4",
        "granite-embed-multi-311m",
        "sarvam-moe",
        "jina-v1-en",
        "jina-v2-code",
        "roberta-bpe",
        "whitespace",
        "refact",
        "command-r",
        "qwen2",
        "deepseek-r1-qwen",
        "kormo",
        "f2llmv2",
        "qwen35",
        "stablelm2",
        "olmo",
        "dbrx",
        "smaug-bpe",
        "poro-chat",
        "chatglm-bpe",
        "glm4",
        "glm5",
        "viking",
        "jais",
        "tekken",
        "smollm",
        "codeshell",
        "bloom",
        "gpt3-finnish",
        "exaone",
        "exaone4",
        "exaone-moe",
        "chameleon",
        "minerva-7b",
        "megrez",
        "gpt-4o",
        "llama4",
        "kanana2",
        "talkie",
        "granite-embed-multi-97m",
        "tiny_aya",
        "cohere2moe",
        "superbpe",
        "trillion",
        "granite-docling",
        "bailingmoe",
        "bailingmoe2",
        "llada-moe",
        "seed-coder",
        "hunyuan",
        "hunyuan-dense",
        "hy_v4",
        "joyai-llm",
        "kimi-k2",
        "ufakzeka",
        "grok-2",
        "afmoe",
        "laguna",
        "minimax-m2",
        "solar-open",
        "mellum2",
    ];

    #[test]
    fn every_llama_cpp_pre_tokenizer_builds_its_splitters() {
        for pre in KNOWN_PRE {
            let flags = bpe_pre_flags(pre).unwrap_or_else(|error| panic!("{pre}: {error}"));
            let (expressions, _) = pre_expressions(flags.pre_type);
            for expression in expressions {
                let splitter = Splitter::from_expression(expression)
                    .unwrap_or_else(|error| panic!("{pre}: {error}"));
                let text = crate::pretokenize::SplitText::new(
                    "Hello  world's 1234 ñandú 中文 🦙!\n\n  x\r\n",
                );
                let lengths = crate::pretokenize::split(&text, std::slice::from_ref(&splitter));
                assert_eq!(
                    lengths.iter().sum::<usize>(),
                    text.code_points.len(),
                    "{pre}: {expression}"
                );
            }
        }
    }

    #[test]
    fn unknown_and_unported_pre_tokenizers_are_errors() {
        assert!(matches!(
            bpe_pre_flags("no-such-pre"),
            Err(TokenizerError::UnknownPreTokenizer { .. })
        ));
        assert!(matches!(
            bpe_pre_flags("mmbert"),
            Err(TokenizerError::UnsupportedPreTokenizer { .. })
        ));
    }
}
