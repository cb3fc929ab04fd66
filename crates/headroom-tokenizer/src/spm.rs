//! SentencePiece-style tokenization as llama.cpp's `llm_tokenizer_spm_session` runs it: start from
//! UTF-8 characters, repeatedly merge the adjacent pair whose concatenation is the highest-scoring
//! token (ties: leftmost), then emit tokens, falling back to `<0xXX>` byte tokens.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::vocabulary::Vocabulary;

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    length: usize,
    previous: isize,
    next: isize,
}

/// llama.cpp `llm_bigram_spm` with its comparator: highest score first, then lowest left index.
struct Bigram {
    left: usize,
    right: usize,
    score: f32,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        // `l.score < r.score` means l is lower; equal scores: larger left is lower. Scores compare
        // with `<` as in C++ (so -0.0 == 0.0), never NaN-ordered differently from llama.cpp.
        if self.score < other.score {
            Ordering::Less
        } else if other.score < self.score {
            Ordering::Greater
        } else {
            other.left.cmp(&self.left)
        }
    }
}

/// llama.cpp `try_add_bigram`: queue the pair if its concatenation is a token.
fn try_add(
    vocabulary: &Vocabulary,
    text: &str,
    queue: &mut BinaryHeap<Bigram>,
    symbols: &[Symbol],
    left: isize,
    right: isize,
) {
    if left < 0 || right < 0 {
        return;
    }
    let (left, right) = (left as usize, right as usize);
    let start = symbols[left].start;
    let end = start + symbols[left].length + symbols[right].length;
    let Some(piece) = text.get(start..end) else {
        return;
    };
    let Some(id) = vocabulary.text_to_token(piece) else {
        return;
    };
    queue.push(Bigram {
        left,
        right,
        score: vocabulary.scores[id as usize],
        size: piece.len(),
    });
}

/// Tokenizes one prepared fragment (space prefix and `▁` escaping already applied).
pub(crate) fn encode_fragment(vocabulary: &Vocabulary, text: &str, output: &mut Vec<u32>) {
    let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
    for (start, character) in text.char_indices() {
        let index = symbols.len() as isize;
        symbols.push(Symbol {
            start,
            length: character.len_utf8(),
            previous: index - 1,
            next: index + 1,
        });
    }
    if let Some(last) = symbols.last_mut() {
        last.next = -1;
    }
    let mut queue: BinaryHeap<Bigram> = BinaryHeap::new();
    for index in 1..symbols.len() as isize {
        try_add(vocabulary, text, &mut queue, &symbols, index - 1, index);
    }
    while let Some(bigram) = queue.pop() {
        let (left, right) = (bigram.left, bigram.right);
        if symbols[left].length == 0
            || symbols[right].length == 0
            || symbols[left].length + symbols[right].length != bigram.size
        {
            continue;
        }
        symbols[left].length += symbols[right].length;
        symbols[right].length = 0;
        let right_next = symbols[right].next;
        symbols[left].next = right_next;
        if right_next >= 0 {
            symbols[right_next as usize].previous = left as isize;
        }
        let left_previous = symbols[left].previous;
        try_add(
            vocabulary,
            text,
            &mut queue,
            &symbols,
            left_previous,
            left as isize,
        );
        try_add(
            vocabulary,
            text,
            &mut queue,
            &symbols,
            left as isize,
            right_next,
        );
    }
    if symbols.is_empty() {
        return;
    }
    // llama.cpp `resegment`: a final symbol that is a token is emitted; otherwise llama.cpp looks it
    // up in `rev_merge`, whose keys are only texts that are tokens (`try_add_bigram` records a pair
    // only when its concatenation is a token), so that lookup can never succeed and the symbol —
    // necessarily a single character — falls back to byte tokens. `rev_merge` is therefore not kept.
    let mut index: isize = 0;
    while index != -1 {
        let symbol = symbols[index as usize];
        let piece = &text[symbol.start..symbol.start + symbol.length];
        match vocabulary.text_to_token(piece) {
            Some(id) => output.push(id),
            None => {
                for &byte in piece.as_bytes() {
                    if let Some(id) = byte_to_token(vocabulary, byte) {
                        output.push(id);
                    }
                }
            }
        }
        index = symbol.next;
    }
}

/// llama.cpp `byte_to_token` for SPM: `<0xXX>`, else the byte itself as a text.
pub(crate) fn byte_to_token(vocabulary: &Vocabulary, byte: u8) -> Option<u32> {
    vocabulary
        .text_to_token(&format!("<0x{byte:02X}>"))
        .or_else(|| {
            let single = [byte];
            std::str::from_utf8(&single)
                .ok()
                .and_then(|text| vocabulary.text_to_token(text))
        })
}
