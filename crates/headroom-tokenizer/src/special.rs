//! Special-token partitioning, as llama.cpp's `tokenizer_st_partition` does it: each special token
//! in turn (longest first) is cut out of the remaining raw text, honouring its LSTRIP/RSTRIP
//! attributes; control and unknown tokens only when `parse_special` is set.

use crate::vocabulary::{Vocabulary, attribute};

/// A piece of the input after partitioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fragment {
    /// Raw text: byte range `start..end` of the input.
    Text { start: usize, end: usize },
    /// A special token matched verbatim.
    Token(u32),
}

/// C `isspace` in the "C" locale, which llama.cpp uses for LSTRIP/RSTRIP.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

pub(crate) fn partition(vocabulary: &Vocabulary, text: &str, parse_special: bool) -> Vec<Fragment> {
    let mut fragments = Vec::new();
    if text.is_empty() {
        return fragments;
    }
    fragments.push(Fragment::Text {
        start: 0,
        end: text.len(),
    });
    let Some(finder) = &vocabulary.special_finder else {
        return fragments;
    };
    // One pass finds which special tokens occur at all; only those are partitioned, in llama.cpp's
    // order, so the result is the same as trying every special token.
    let mut present = vec![false; vocabulary.special_tokens.len()];
    let mut any = false;
    for found in finder.find_overlapping_iter(text.as_bytes()) {
        present[found.pattern().as_usize()] = true;
        any = true;
    }
    if !any {
        return fragments;
    }
    let bytes = text.as_bytes();
    for (index, &id) in vocabulary.special_tokens.iter().enumerate() {
        if !present[index] {
            continue;
        }
        let attributes = vocabulary.attributes[id as usize];
        if !parse_special && attributes & (attribute::CONTROL | attribute::UNKNOWN) != 0 {
            continue;
        }
        let needle = vocabulary.tokens[id as usize].as_bytes();
        let finder = memchr::memmem::Finder::new(needle);
        let mut next = Vec::with_capacity(fragments.len() + 2);
        for fragment in fragments {
            let Fragment::Text { start, end } = fragment else {
                next.push(fragment);
                continue;
            };
            let mut base = start;
            loop {
                let Some(found) = finder.find(&bytes[base..end]) else {
                    if base < end {
                        next.push(Fragment::Text { start: base, end });
                    }
                    break;
                };
                let match_start = base + found;
                let mut left_end = match_start;
                if attributes & attribute::LSTRIP != 0 {
                    while left_end > base && is_c_space(bytes[left_end - 1]) {
                        left_end -= 1;
                    }
                }
                if left_end > base {
                    next.push(Fragment::Text {
                        start: base,
                        end: left_end,
                    });
                }
                next.push(Fragment::Token(id));
                let mut right_start = match_start + needle.len();
                if right_start >= end {
                    break;
                }
                if attributes & attribute::RSTRIP != 0 {
                    while right_start < end && is_c_space(bytes[right_start]) {
                        right_start += 1;
                    }
                }
                if right_start >= end {
                    break;
                }
                base = right_start;
            }
        }
        fragments = next;
    }
    fragments
}
