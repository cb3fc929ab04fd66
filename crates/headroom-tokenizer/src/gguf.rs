//! Reading `tokenizer.ggml.*` (and the chat template) out of a parsed GGUF header.

use headroom_gguf::{Array, GgufFile, MetadataError, Value};

use crate::TokenizerError;
use crate::vocabulary::{RawVocabulary, SPECIAL_ID_KEYS};

fn metadata_error(error: MetadataError) -> TokenizerError {
    TokenizerError::Metadata { source: error }
}

fn optional_bool(file: &GgufFile, key: &str) -> Result<Option<bool>, TokenizerError> {
    match file.get(key) {
        None => Ok(None),
        Some(_) => file.get_bool(key).map(Some).map_err(metadata_error),
    }
}

fn optional_str(file: &GgufFile, key: &str) -> Result<Option<String>, TokenizerError> {
    match file.get(key) {
        None => Ok(None),
        Some(_) => file
            .get_str(key)
            .map(|text| Some(text.to_owned()))
            .map_err(metadata_error),
    }
}

fn type_mismatch(key: &str, expected: &'static str, found: &Array) -> TokenizerError {
    metadata_error(MetadataError::TypeMismatch {
        key: key.to_owned(),
        expected,
        found: format!("array of {}", found.element_type().name()),
    })
}

/// Collects the raw vocabulary metadata, with every type check naming its key.
pub(crate) fn raw_vocabulary(file: &GgufFile) -> Result<RawVocabulary<'_>, TokenizerError> {
    let model = file
        .get_str("tokenizer.ggml.model")
        .map_err(metadata_error)?
        .to_owned();
    let pre = optional_str(file, "tokenizer.ggml.pre")?;
    let key = "tokenizer.ggml.tokens";
    let tokens_array = file.get_array(key).map_err(metadata_error)?;
    let tokens = tokens_array
        .as_strings()
        .ok_or_else(|| type_mismatch(key, "array of string", tokens_array))?
        .to_vec();
    let token_types = match file.get("tokenizer.ggml.token_type") {
        None => None,
        Some(_) => {
            let key = "tokenizer.ggml.token_type";
            let array = file.get_array(key).map_err(metadata_error)?;
            Some(
                array
                    .to_i64_vec()
                    .ok_or_else(|| type_mismatch(key, "array of integers", array))?,
            )
        }
    };
    let scores = match file.get("tokenizer.ggml.scores") {
        None => None,
        Some(_) => {
            let key = "tokenizer.ggml.scores";
            let array = file.get_array(key).map_err(metadata_error)?;
            Some(match array {
                Array::F32(values) => values.clone(),
                // llama.cpp accepts INT32 scores and casts them to float.
                Array::I32(values) => values.iter().map(|&value| value as f32).collect(),
                other => return Err(type_mismatch(key, "array of f32 or i32", other)),
            })
        }
    };
    let merges = match file.get("tokenizer.ggml.merges") {
        None => None,
        Some(_) => {
            let key = "tokenizer.ggml.merges";
            let array = file.get_array(key).map_err(metadata_error)?;
            Some(
                array
                    .as_strings()
                    .ok_or_else(|| type_mismatch(key, "array of string", array))?,
            )
        }
    };
    let mut special_ids = Vec::new();
    for key in SPECIAL_ID_KEYS {
        if let Some(value) = file.get(key) {
            match value.as_u64() {
                Some(id) => special_ids.push((key, id)),
                // A negative id (some converters write -1) means "none": llama.cpp's unsigned read
                // yields a huge value that fails its range check, so the default stays.
                None if value.as_i64().is_some() => {}
                None => {
                    return Err(metadata_error(MetadataError::TypeMismatch {
                        key: key.to_owned(),
                        expected: "integer",
                        found: value.type_name(),
                    }));
                }
            }
        }
    }
    Ok(RawVocabulary {
        model,
        pre,
        tokens,
        token_types,
        scores,
        merges,
        special_ids,
        add_bos: optional_bool(file, "tokenizer.ggml.add_bos_token")?,
        add_eos: optional_bool(file, "tokenizer.ggml.add_eos_token")?,
        add_space_prefix: optional_bool(file, "tokenizer.ggml.add_space_prefix")?,
        normalizer_lowercase: optional_bool(file, "tokenizer.ggml.normalizer.lowercase")?,
        normalizer_strip_accents: optional_bool(file, "tokenizer.ggml.normalizer.strip_accents")?,
        general_name: match file.get("general.name") {
            Some(Value::String(name)) => Some(name.clone()),
            _ => None,
        },
        architecture: match file.get("general.architecture") {
            Some(Value::String(name)) => Some(name.clone()),
            _ => None,
        },
    })
}

/// `tokenizer.chat_template`, if the file has one.
pub(crate) fn chat_template(file: &GgufFile) -> Result<Option<String>, TokenizerError> {
    optional_str(file, "tokenizer.chat_template")
}
