//! Byte-level BPE as llama.cpp's `llm_tokenizer_bpe_session` runs it: pre-tokenize into words, map
//! bytes to the GPT-2 alphabet, merge the lowest-ranked adjacent pair first (ties: leftmost), and fall
//! back to single-byte tokens for pieces that are not in the vocabulary.
//!
//! Strings are interned once at load: every token text and every merge operand and result gets a
//! piece id, so a merge is a lookup of a `(left, right)` id pair instead of string concatenation.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use crate::interner::Interner;

use crate::TokenizerError;
use crate::pretokenize::{self, SplitText, Splitter};
use crate::unicode;

/// Words longer than this are not memoised (they are rare and would bloat the cache).
const CACHE_WORD_MAX_BYTES: usize = 64;
/// The word cache is cleared when it grows past this many entries, bounding memory on huge inputs.
const CACHE_MAX_ENTRIES: usize = 200_000;

#[derive(Debug)]
pub(crate) struct BpeModel {
    pub(crate) splitters: Vec<Splitter>,
    pub(crate) byte_encode: bool,
    ignore_merges: bool,
    /// `(left piece << 32 | right piece)` -> `(rank, merged piece)`.
    merges: FxHashMap<u64, (u32, u32)>,
    /// Piece of each byte's GPT-2 character (byte-encoded models).
    byte_pieces: [Option<u32>; 256],
}

#[derive(Clone, Copy)]
struct Symbol {
    start: u32,
    length: u32,
    piece: Option<u32>,
    previous: i32,
    next: i32,
}

impl BpeModel {
    pub(crate) fn new(
        splitters: Vec<Splitter>,
        byte_encode: bool,
        ignore_merges: bool,
        merge_lines: &[String],
        pieces: &mut Interner,
        tokens: &[String],
    ) -> Result<Self, TokenizerError> {
        let mut merges: FxHashMap<u64, (u32, u32)> = FxHashMap::default();
        merges.reserve(merge_lines.len());
        let mut joined = String::new();
        for (rank, line) in merge_lines.iter().enumerate() {
            // llama.cpp splits at the first space after the first byte (`word.find(' ', 1)`).
            let Some(split) = line
                .as_bytes()
                .iter()
                .skip(1)
                .position(|&byte| byte == b' ')
                .map(|index| index + 1)
            else {
                continue;
            };
            let (left, right) = (&line[..split], &line[split + 1..]);
            let left_piece = pieces.intern(tokens, left);
            let right_piece = pieces.intern(tokens, right);
            joined.clear();
            joined.push_str(left);
            joined.push_str(right);
            let merged = pieces.intern(tokens, &joined);
            let key = (u64::from(left_piece) << 32) | u64::from(right_piece);
            // `bpe_ranks.emplace` keeps the first rank of a duplicated pair.
            merges.entry(key).or_insert((rank as u32, merged));
        }
        let mut byte_pieces = [None; 256];
        let alphabet = unicode::byte_to_char();
        let mut buffer = [0u8; 4];
        for (byte, piece) in byte_pieces.iter_mut().enumerate() {
            *piece = pieces.get(tokens, alphabet[byte].encode_utf8(&mut buffer));
        }
        Ok(Self {
            splitters,
            byte_encode,
            ignore_merges,
            merges,
            byte_pieces,
        })
    }
}

/// A queued merge: `(rank, left index, right index, left piece, right piece)`, lowest first.
type QueuedPair = Reverse<(u32, u32, u32, u32, u32)>;

/// Per-encode scratch space, reused across words.
#[derive(Default)]
pub(crate) struct BpeScratch<'t> {
    symbols: Vec<Symbol>,
    heap: BinaryHeap<QueuedPair>,
    encoded: String,
    cache: FxHashMap<&'t str, Box<[u32]>>,
    word_ids: Vec<u32>,
}

/// Tokenizes one raw-text fragment (llama.cpp `llm_tokenizer_bpe_session::tokenize`).
pub(crate) fn encode_fragment<'t>(
    vocabulary: &crate::vocabulary::Vocabulary,
    model: &BpeModel,
    text: &'t str,
    scratch: &mut BpeScratch<'t>,
    output: &mut Vec<u32>,
) {
    let prepared = SplitText::new(text);
    let lengths = pretokenize::split(&prepared, &model.splitters);
    let mut word_starts_bytes = Vec::with_capacity(lengths.len() + 1);
    let mut byte_position = 0;
    let mut characters = text.char_indices();
    word_starts_bytes.push(0);
    for &length in &lengths {
        for _ in 0..length {
            if let Some((index, character)) = characters.next() {
                byte_position = index + character.len_utf8();
            }
        }
        word_starts_bytes.push(byte_position);
    }
    for window in word_starts_bytes.windows(2) {
        let word = &text[window[0]..window[1]];
        if word.is_empty() {
            continue;
        }
        if word.len() <= CACHE_WORD_MAX_BYTES {
            if let Some(ids) = scratch.cache.get(word) {
                output.extend_from_slice(ids);
                continue;
            }
            scratch.word_ids.clear();
            let mut word_ids = std::mem::take(&mut scratch.word_ids);
            encode_word(vocabulary, model, word, scratch, &mut word_ids);
            output.extend_from_slice(&word_ids);
            if scratch.cache.len() >= CACHE_MAX_ENTRIES {
                scratch.cache.clear();
            }
            scratch.cache.insert(word, word_ids.as_slice().into());
            scratch.word_ids = word_ids;
        } else {
            encode_word(vocabulary, model, word, scratch, output);
        }
    }
}

fn encode_word(
    vocabulary: &crate::vocabulary::Vocabulary,
    model: &BpeModel,
    word: &str,
    scratch: &mut BpeScratch<'_>,
    output: &mut Vec<u32>,
) {
    let alphabet = unicode::byte_to_char();
    // The word as llama.cpp holds it: GPT-2 byte-encoded, or raw UTF-8.
    scratch.encoded.clear();
    if model.byte_encode {
        for &byte in word.as_bytes() {
            scratch.encoded.push(alphabet[byte as usize]);
        }
    } else {
        scratch.encoded.push_str(word);
    }
    let encoded = scratch.encoded.as_str();
    let symbols = &mut scratch.symbols;
    symbols.clear();
    // `ignore_merges` models (Llama 3) take a whole word that is a token as is; Gemma 4 does the
    // same for newline runs (llama.cpp PR 21343).
    let whole_word_token = if model.ignore_merges
        || (vocabulary.is_gemma4_like() && word.bytes().all(|byte| byte == b'\n'))
    {
        vocabulary.text_to_token(encoded)
    } else {
        None
    };
    if let Some(id) = whole_word_token {
        output.push(id);
        return;
    }
    for (start, character) in encoded.char_indices() {
        let length = character.len_utf8();
        let piece = if model.byte_encode {
            crate::unicode::char_to_byte(character)
                .and_then(|byte| model.byte_pieces[byte as usize])
        } else {
            vocabulary
                .pieces
                .get(&vocabulary.tokens, &encoded[start..start + length])
        };
        let index = symbols.len() as i32;
        symbols.push(Symbol {
            start: start as u32,
            length: length as u32,
            piece,
            previous: index - 1,
            next: index + 1,
        });
    }
    if let Some(last) = symbols.last_mut() {
        last.next = -1;
    }
    let heap = &mut scratch.heap;
    heap.clear();
    let try_add = |heap: &mut BinaryHeap<QueuedPair>, symbols: &[Symbol], left: i32, right: i32| {
        if left < 0 || right < 0 {
            return;
        }
        let (Some(left_piece), Some(right_piece)) =
            (symbols[left as usize].piece, symbols[right as usize].piece)
        else {
            return;
        };
        let key = (u64::from(left_piece) << 32) | u64::from(right_piece);
        if let Some(&(rank, _)) = model.merges.get(&key) {
            heap.push(Reverse((
                rank,
                left as u32,
                right as u32,
                left_piece,
                right_piece,
            )));
        }
    };
    for index in 1..symbols.len() as i32 {
        try_add(heap, symbols, index - 1, index);
    }
    while let Some(Reverse((_, left, right, left_piece, right_piece))) = heap.pop() {
        let (left, right) = (left as usize, right as usize);
        if symbols[left].length == 0 || symbols[right].length == 0 {
            continue;
        }
        if symbols[left].piece != Some(left_piece) || symbols[right].piece != Some(right_piece) {
            // Outdated pair: one side has grown since it was queued.
            continue;
        }
        let key = (u64::from(left_piece) << 32) | u64::from(right_piece);
        let merged = model.merges.get(&key).map(|&(_, merged)| merged);
        symbols[left].length += symbols[right].length;
        symbols[left].piece = merged;
        symbols[right].length = 0;
        let right_next = symbols[right].next;
        symbols[left].next = right_next;
        if right_next >= 0 {
            symbols[right_next as usize].previous = left as i32;
        }
        let left_previous = symbols[left].previous;
        try_add(heap, symbols, left_previous, left as i32);
        try_add(heap, symbols, left as i32, right_next);
    }
    let token_count = vocabulary.tokens.len() as u32;
    for symbol in symbols.iter().filter(|symbol| symbol.length > 0) {
        match symbol.piece.filter(|&piece| piece < token_count) {
            Some(id) => output.push(id),
            None => {
                let text = &encoded[symbol.start as usize..(symbol.start + symbol.length) as usize];
                byte_fallback(vocabulary, model, text, output);
            }
        }
    }
}

/// llama.cpp's fallback for a final piece that is not a token: one token per byte of the piece's
/// text where such a token exists (`<0xXX>` tokens for raw UTF-8 models), silently skipping others.
fn byte_fallback(
    vocabulary: &crate::vocabulary::Vocabulary,
    model: &BpeModel,
    text: &str,
    output: &mut Vec<u32>,
) {
    for &byte in text.as_bytes() {
        let id = if model.byte_encode {
            // A single byte as a string: only ASCII bytes can be a (valid UTF-8) token text.
            if byte.is_ascii() {
                let single = [byte];
                std::str::from_utf8(&single)
                    .ok()
                    .and_then(|text| vocabulary.text_to_token(text))
            } else {
                None
            }
        } else {
            vocabulary.text_to_token(&format!("<0x{byte:02X}>"))
        };
        if let Some(id) = id {
            output.push(id);
        }
    }
}
