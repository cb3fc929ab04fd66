//! Code point classification, case folding, NFD and the GPT-2 byte alphabet, exactly as llama.cpp's
//! `src/unicode.cpp` defines them (its tables live in `unicode_data.rs`, transcribed from llama.cpp,
//! so a Unicode version difference between Rust and llama.cpp can never change a token).

use std::sync::OnceLock;

use crate::unicode_data::{LOWERCASE, RANGES_FLAGS, RANGES_NFD, UPPERCASE_TARGETS, WHITESPACE};

/// Code points llama.cpp classifies (`MAX_CODEPOINTS` in llama.cpp `src/unicode-data.h`).
const MAX_CODEPOINTS: usize = 0x11_0000;

/// The flag bits of llama.cpp's `unicode_cpt_flags` (`src/unicode.h`).
pub(crate) mod bits {
    pub(crate) const UNDEFINED: u16 = 0x0001;
    pub(crate) const NUMBER: u16 = 0x0002;
    pub(crate) const LETTER: u16 = 0x0004;
    pub(crate) const ACCENT_MARK: u16 = 0x0010;
    pub(crate) const PUNCTUATION: u16 = 0x0020;
    pub(crate) const SYMBOL: u16 = 0x0040;
    pub(crate) const CONTROL: u16 = 0x0080;
    pub(crate) const MASK_CATEGORIES: u16 = 0x00FF;
    pub(crate) const WHITESPACE: u16 = 0x0100;
    pub(crate) const LOWERCASE: u16 = 0x0200;
    pub(crate) const UPPERCASE: u16 = 0x0400;
    pub(crate) const NFD: u16 = 0x0800;
}

/// One code point's flags; `Flags::default()` is llama.cpp's "out of range" value (all zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flags(pub(crate) u16);

impl Flags {
    pub(crate) fn is_number(self) -> bool {
        self.0 & bits::NUMBER != 0
    }
    pub(crate) fn is_letter(self) -> bool {
        self.0 & bits::LETTER != 0
    }
    pub(crate) fn is_accent_mark(self) -> bool {
        self.0 & bits::ACCENT_MARK != 0
    }
    pub(crate) fn is_punctuation(self) -> bool {
        self.0 & bits::PUNCTUATION != 0
    }
    pub(crate) fn is_symbol(self) -> bool {
        self.0 & bits::SYMBOL != 0
    }
    pub(crate) fn is_control(self) -> bool {
        self.0 & bits::CONTROL != 0
    }
    pub(crate) fn is_whitespace(self) -> bool {
        self.0 & bits::WHITESPACE != 0
    }
    /// llama.cpp's `as_uint() != 0`: false only outside the text being split.
    pub(crate) fn is_defined(self) -> bool {
        self.0 != 0
    }
    pub(crate) fn category(self) -> u16 {
        self.0 & bits::MASK_CATEGORIES
    }
}

fn table() -> &'static [u16] {
    static TABLE: OnceLock<Vec<u16>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // Built as llama.cpp's `unicode_cpt_flags_array()` builds it.
        let mut flags = vec![bits::UNDEFINED; MAX_CODEPOINTS];
        for pair in RANGES_FLAGS.windows(2) {
            let (start, value) = pair[0];
            let end = (pair[1].0 as usize).min(MAX_CODEPOINTS);
            if let Some(slice) = flags.get_mut(start as usize..end) {
                slice.fill(value);
            }
        }
        let mut set = |code_point: u32, bit: u16| {
            if let Some(entry) = flags.get_mut(code_point as usize) {
                *entry |= bit;
            }
        };
        for &code_point in WHITESPACE {
            set(code_point, bits::WHITESPACE);
        }
        for &(_, lower) in LOWERCASE {
            set(lower, bits::LOWERCASE);
        }
        for &upper in UPPERCASE_TARGETS {
            set(upper, bits::UPPERCASE);
        }
        for &(_, _, nfd) in RANGES_NFD {
            set(nfd, bits::NFD);
        }
        flags
    })
}

/// Forces the flag table to be built (part of loading a tokenizer, so the first encode is not slower).
pub(crate) fn warm_up() {
    let _ = table();
}

/// The flags of a code point (llama.cpp `unicode_cpt_flags_from_cpt`).
#[inline]
pub(crate) fn flags(code_point: u32) -> Flags {
    match table().get(code_point as usize) {
        Some(&value) => Flags(value),
        None => Flags(bits::UNDEFINED),
    }
}

/// llama.cpp `unicode_tolower`: its own lowercase table, not Rust's.
pub(crate) fn to_lower(code_point: u32) -> u32 {
    match LOWERCASE.binary_search_by_key(&code_point, |&(from, _)| from) {
        Ok(index) => LOWERCASE[index].1,
        Err(_) => code_point,
    }
}

/// llama.cpp `unicode_cpts_normalize_nfd` for one code point (first code point of the decomposition).
pub(crate) fn nfd(code_point: u32) -> u32 {
    let index = RANGES_NFD.partition_point(|&(first, _, _)| first <= code_point);
    match index.checked_sub(1).map(|index| RANGES_NFD[index]) {
        Some((first, last, nfd)) if first <= code_point && code_point <= last => nfd,
        _ => code_point,
    }
}

/// llama.cpp `unicode_cpt_is_han`.
pub(crate) fn is_han(code_point: u32) -> bool {
    matches!(code_point,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0x2CEB0..=0x2EBEF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// The GPT-2 byte-to-character alphabet (llama.cpp `unicode_byte_to_utf8_map`).
pub(crate) fn byte_to_char() -> &'static [char; 256] {
    static MAP: OnceLock<[char; 256]> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut map = ['\0'; 256];
        let mut assigned = [false; 256];
        for byte in (0x21..=0x7E).chain(0xA1..=0xAC).chain(0xAE..=0xFF) {
            map[byte] = char::from(byte as u8);
            assigned[byte] = true;
        }
        let mut next = 256u32;
        for byte in 0..256 {
            if !assigned[byte] {
                map[byte] = char::from_u32(next).unwrap_or('\u{FFFD}');
                next += 1;
            }
        }
        map
    })
}

/// The inverse of [`byte_to_char`]: a character of the GPT-2 alphabet back to its byte.
pub(crate) fn char_to_byte(character: char) -> Option<u8> {
    let code_point = character as u32;
    match code_point {
        0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF => Some(code_point as u8),
        256..=323 => byte_to_char()
            .iter()
            .position(|&mapped| mapped == character)
            .map(|index| index as u8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_letters_digits_and_space_have_llama_cpp_flags() {
        assert!(flags('a' as u32).is_letter());
        assert!(flags('7' as u32).is_number());
        assert!(flags(' ' as u32).is_whitespace());
        assert!(flags(0x3000).is_whitespace());
        assert!(flags(0x0301).is_accent_mark());
        assert!(!flags(0x10FFFF + 1).is_letter());
    }

    #[test]
    fn byte_alphabet_round_trips_all_bytes() {
        for byte in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char()[byte as usize]), Some(byte));
        }
        assert_eq!(byte_to_char()[b' ' as usize], 'Ġ');
        assert_eq!(byte_to_char()[b'\n' as usize], 'Ċ');
    }

    #[test]
    fn lowercase_and_nfd_use_llama_cpp_tables() {
        assert_eq!(to_lower('A' as u32), 'a' as u32);
        assert_eq!(nfd(0x00C9), 'E' as u32);
        assert_eq!(nfd('x' as u32), 'x' as u32);
    }
}
