//! WordPiece as llama.cpp's `llm_tokenizer_wpm_session` runs it (BERT-style vocabularies): normalise
//! (llama.cpp's lowercase and first-code-point NFD), split on whitespace and punctuation, then match
//! the longest vocabulary entry greedily within each word prefixed with `▁`.

use crate::unicode;
use crate::vocabulary::Vocabulary;

/// llama.cpp `preprocess`: words after normalisation.
fn preprocess(vocabulary: &Vocabulary, text: &str) -> Vec<String> {
    let mut words: Vec<String> = vec![String::new()];
    for character in text.chars() {
        let mut code_point = u32::from(character);
        if vocabulary.normalizer_strip_accents {
            code_point = unicode::nfd(code_point);
        }
        let flags = unicode::flags(code_point);
        if flags.is_whitespace() {
            if words.last().is_some_and(|word| !word.is_empty()) {
                words.push(String::new());
            }
            continue;
        }
        if code_point == 0 || code_point == 0xFFFD || flags.is_control() {
            continue;
        }
        if vocabulary.normalizer_strip_accents && flags.is_accent_mark() {
            continue;
        }
        let mapped = if vocabulary.normalizer_lowercase {
            unicode::to_lower(code_point)
        } else {
            code_point
        };
        let mapped = char::from_u32(mapped).unwrap_or('\u{FFFD}');
        if flags.is_punctuation()
            || (code_point < 0x7F && flags.is_symbol())
            || is_chinese_char(code_point)
        {
            if words.last().is_some_and(|word| !word.is_empty()) {
                words.push(String::new());
            }
            if let Some(last) = words.last_mut() {
                *last = mapped.to_string();
            }
            words.push(String::new());
        } else if let Some(last) = words.last_mut() {
            last.push(mapped);
        }
    }
    if words.last().is_some_and(String::is_empty) {
        words.pop();
    }
    words
}

/// llama.cpp `is_chinese_char` (including its 0x2B920 lower bound, copied from HF's Rust code).
fn is_chinese_char(code_point: u32) -> bool {
    matches!(code_point,
        0x04E00..=0x09FFF
        | 0x03400..=0x04DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF
        | 0x0F900..=0x0FAFF
        | 0x2F800..=0x2FA1F)
}

pub(crate) fn encode_fragment(vocabulary: &Vocabulary, text: &str, output: &mut Vec<u32>) {
    for word in preprocess(vocabulary, text) {
        if word.is_empty() {
            continue;
        }
        let prefixed = format!("\u{2581}{word}");
        let bytes = prefixed.as_bytes();
        let length = bytes.len();
        let current = output.len();
        let mut index = 0;
        while index < length {
            let mut matched = false;
            let mut end = length.min(index + vocabulary.max_token_length_bytes + 1);
            while end > index {
                if let Some(id) = std::str::from_utf8(&bytes[index..end])
                    .ok()
                    .and_then(|piece| vocabulary.text_to_token(piece))
                {
                    output.push(id);
                    matched = true;
                    index = end - 1;
                    break;
                }
                end -= 1;
            }
            if !matched {
                output.truncate(current);
                break;
            }
            index += 1;
        }
        if output.len() == current
            && let Some(unknown) = vocabulary.ids.unk
        {
            output.push(unknown);
        }
    }
}
