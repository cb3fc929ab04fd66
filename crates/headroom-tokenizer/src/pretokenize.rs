//! Pre-tokenization: splitting text into words before BPE, exactly as llama.cpp's
//! `unicode_regex_split` (`src/unicode.cpp`) does it for a given list of regular expressions.
//!
//! llama.cpp recognises a handful of expressions by their exact text and runs hand-written code for
//! them (GPT-2, Llama 3, Qwen2, Qwen3.5, Kimi-K2, AFMoE digits, newline runs); those are ported here
//! line by line. Every other expression runs through `std::regex` (ECMAScript) in llama.cpp, on a
//! "collapsed" text where each non-ASCII code point is replaced by one byte standing for its Unicode
//! category; [`EcmaRegex`] reproduces that collapse and translates the ECMAScript pattern to
//! `fancy_regex` with ASCII-only `\s`, `\d`, `\w` (what libstdc++ gives in the C locale).

use crate::TokenizerError;
use crate::unicode::{self, Flags};

const OUT_OF_RANGE: u32 = 0xFFFF_FFFF;

/// One split step, applied to the pieces produced by the previous step.
#[derive(Debug)]
pub(crate) enum Splitter {
    Gpt2,
    Llama3,
    Qwen2,
    Qwen35,
    KimiK2,
    Afmoe,
    Newlines,
    Regex(Box<EcmaRegex>),
}

impl Splitter {
    /// Chooses llama.cpp's hand-written splitter when the expression text is one it recognises
    /// (`unicode_regex_split_custom`), else the ECMAScript emulation.
    pub(crate) fn from_expression(expression: &str) -> Result<Self, TokenizerError> {
        Ok(match expression {
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)" => {
                Self::Gpt2
            }
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
            | "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" => {
                Self::Llama3
            }
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" => {
                Self::Qwen2
            }
            "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" => {
                Self::Qwen35
            }
            "\\p{Han}+" => Self::KimiK2,
            "\\p{AFMoE_digits}" | "\\d{1,3}(?=(?:\\d{3})*\\b)" => Self::Afmoe,
            "[^\\n]+|[\\n]+" => Self::Newlines,
            _ => Self::Regex(Box::new(EcmaRegex::new(expression)?)),
        })
    }
}

/// A text prepared for splitting: its code points (invalid UTF-8 cannot occur: input is `&str`),
/// their flags, and, when a regex step needs it, llama.cpp's collapsed text.
pub(crate) struct SplitText {
    pub(crate) code_points: Vec<u32>,
    flags: Vec<Flags>,
}

impl SplitText {
    pub(crate) fn new(text: &str) -> Self {
        let code_points: Vec<u32> = text.chars().map(u32::from).collect();
        let flags = code_points.iter().map(|&cpt| unicode::flags(cpt)).collect();
        Self { code_points, flags }
    }
}

/// Splits `text` with each splitter in turn and returns the word lengths in code points.
pub(crate) fn split(text: &SplitText, splitters: &[Splitter]) -> Vec<usize> {
    let mut offsets = vec![text.code_points.len()];
    let mut collapsed: Option<MappedText> = None;
    let mut wide: Option<MappedText> = None;
    for splitter in splitters {
        let next = match splitter {
            Splitter::Gpt2 => split_gpt2(text, &offsets),
            Splitter::Llama3 => split_llama3_like(text, &offsets, DigitRule::UpToThree),
            Splitter::Qwen2 => split_llama3_like(text, &offsets, DigitRule::One),
            Splitter::Qwen35 => split_qwen35(text, &offsets),
            Splitter::KimiK2 => split_kimi_k2(text, &offsets),
            Splitter::Afmoe => split_afmoe(text, &offsets),
            Splitter::Newlines => split_newlines(text, &offsets),
            Splitter::Regex(regex) => {
                let mapped = if regex.collapsed {
                    collapsed.get_or_insert_with(|| MappedText::collapsed(text))
                } else {
                    wide.get_or_insert_with(|| MappedText::wide(text))
                };
                regex.split(mapped, &offsets)
            }
        };
        // llama.cpp keeps the previous offsets when a custom splitter yields nothing (empty text).
        if !next.is_empty() {
            offsets = next;
        }
    }
    offsets
}

/// A view of one llama.cpp offset range with its out-of-range conventions.
struct Range<'a> {
    code_points: &'a [u32],
    flags: &'a [Flags],
    start: usize,
    end: usize,
}

impl Range<'_> {
    #[inline]
    fn cpt(&self, position: usize) -> u32 {
        if self.start <= position && position < self.end {
            self.code_points[position]
        } else {
            OUT_OF_RANGE
        }
    }
    #[inline]
    fn flags(&self, position: usize) -> Flags {
        if self.start <= position && position < self.end {
            self.flags[position]
        } else {
            Flags::default()
        }
    }
}

/// llama.cpp's `_add_token`: emits the piece since the previous end, returns its length.
struct Emitter<'a> {
    out: &'a mut Vec<usize>,
    previous_end: usize,
}

impl Emitter<'_> {
    #[inline]
    fn add(&mut self, end: usize) -> usize {
        let length = end - self.previous_end;
        if length > 0 {
            self.out.push(length);
        }
        self.previous_end = end;
        length
    }
}

fn ranges(offsets: &[usize]) -> impl Iterator<Item = (usize, usize)> + '_ {
    offsets.iter().scan(0usize, |start, &length| {
        let range = (*start, *start + length);
        *start += length;
        Some(range)
    })
}

fn is_contraction_letter(cpt: u32) -> bool {
    cpt == 's' as u32 || cpt == 't' as u32 || cpt == 'm' as u32 || cpt == 'd' as u32
}

fn is_contraction_pair(first: u32, second: u32) -> bool {
    // 're, 've, 'll
    matches!((first, second), (0x72, 0x65) | (0x76, 0x65) | (0x6C, 0x6C))
}

const APOSTROPHE: u32 = '\'' as u32;
const SPACE: u32 = ' ' as u32;
const CARRIAGE_RETURN: u32 = '\r' as u32;
const NEWLINE: u32 = '\n' as u32;

/// llama.cpp `unicode_regex_split_custom_gpt2`.
fn split_gpt2(text: &SplitText, offsets: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len());
    for (start, end) in ranges(offsets) {
        let range = Range {
            code_points: &text.code_points,
            flags: &text.flags,
            start,
            end,
        };
        let mut emit = Emitter {
            out: &mut out,
            previous_end: start,
        };
        let mut position = start;
        while position < end {
            let cpt = range.cpt(position);
            let flags = range.flags(position);
            if cpt == APOSTROPHE && position + 1 < end {
                let next = range.cpt(position + 1);
                if is_contraction_letter(next) {
                    position += emit.add(position + 2);
                    continue;
                }
                if position + 2 < end && is_contraction_pair(next, range.cpt(position + 2)) {
                    position += emit.add(position + 3);
                    continue;
                }
            }
            let mut flags2 = if cpt == SPACE {
                range.flags(position + 1)
            } else {
                flags
            };
            if flags2.is_letter() {
                position += usize::from(cpt == SPACE);
                while flags2.is_letter() {
                    position += 1;
                    flags2 = range.flags(position);
                }
                emit.add(position);
                continue;
            }
            if flags2.is_number() {
                position += usize::from(cpt == SPACE);
                while flags2.is_number() {
                    position += 1;
                    flags2 = range.flags(position);
                }
                emit.add(position);
                continue;
            }
            if !(flags2.is_whitespace() || flags2.is_letter() || flags2.is_number())
                && flags2.is_defined()
            {
                position += usize::from(cpt == SPACE);
                while !(flags2.is_whitespace() || flags2.is_letter() || flags2.is_number())
                    && flags2.is_defined()
                {
                    position += 1;
                    flags2 = range.flags(position);
                }
                emit.add(position);
                continue;
            }
            let mut whitespace_count = 0;
            while range.flags(position + whitespace_count).is_whitespace() {
                whitespace_count += 1;
            }
            if whitespace_count > 1 && range.cpt(position + whitespace_count) != OUT_OF_RANGE {
                position += whitespace_count - 1;
                emit.add(position);
                continue;
            }
            if whitespace_count > 0 {
                position += whitespace_count;
                emit.add(position);
                continue;
            }
            position += 1;
            emit.add(position);
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DigitRule {
    /// `\p{N}{1,3}` (Llama 3).
    UpToThree,
    /// `\p{N}` (Qwen2).
    One,
}

/// Shared tail of the Llama 3 / Qwen2 / Qwen3.5 / Kimi splitters: punctuation run with trailing
/// newlines, `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`, and the single-character fallback.
/// Returns the new position. `accent_is_word` adds `\p{M}` to the excluded classes (Qwen3.5).
#[inline]
fn llama3_tail(
    range: &Range<'_>,
    emit: &mut Emitter<'_>,
    mut position: usize,
    accent_is_word: bool,
    check_flags2_defined: bool,
) -> usize {
    let cpt = range.cpt(position);
    let flags = range.flags(position);
    let word = |flags: Flags| {
        flags.is_whitespace()
            || flags.is_letter()
            || flags.is_number()
            || (accent_is_word && flags.is_accent_mark())
    };
    let mut flags2 = if cpt == SPACE {
        range.flags(position + 1)
    } else {
        flags
    };
    let defined = if check_flags2_defined {
        flags2.is_defined()
    } else {
        flags.is_defined()
    };
    if !word(flags2) && defined {
        position += usize::from(cpt == SPACE);
        while !word(flags2) && flags2.is_defined() {
            position += 1;
            flags2 = range.flags(position);
        }
        let mut cpt2 = range.cpt(position);
        while cpt2 == CARRIAGE_RETURN || cpt2 == NEWLINE {
            position += 1;
            cpt2 = range.cpt(position);
        }
        emit.add(position);
        return position;
    }
    let mut whitespace_count = 0;
    let mut last_end_of_newline = 0;
    while range.flags(position + whitespace_count).is_whitespace() {
        let cpt2 = range.cpt(position + whitespace_count);
        if cpt2 == CARRIAGE_RETURN || cpt2 == NEWLINE {
            last_end_of_newline = position + whitespace_count + 1;
        }
        whitespace_count += 1;
    }
    if last_end_of_newline > 0 {
        position = last_end_of_newline;
        emit.add(position);
        return position;
    }
    if whitespace_count > 1 && range.cpt(position + whitespace_count) != OUT_OF_RANGE {
        position += whitespace_count - 1;
        emit.add(position);
        return position;
    }
    if whitespace_count > 0 {
        position += whitespace_count;
        emit.add(position);
        return position;
    }
    position += 1;
    emit.add(position);
    position
}

/// Case-insensitive contractions `(?i:'s|'t|'re|'ve|'m|'ll|'d)`; returns the new position if matched.
#[inline]
fn contraction_case_insensitive(
    range: &Range<'_>,
    emit: &mut Emitter<'_>,
    position: usize,
) -> Option<usize> {
    if range.cpt(position) == APOSTROPHE && position + 1 < range.end {
        let next = unicode::to_lower(range.cpt(position + 1));
        if is_contraction_letter(next) {
            return Some(position + emit.add(position + 2));
        }
        if position + 2 < range.end {
            let next_next = unicode::to_lower(range.cpt(position + 2));
            if is_contraction_pair(next, next_next) {
                return Some(position + emit.add(position + 3));
            }
        }
    }
    None
}

/// llama.cpp `unicode_regex_split_custom_llama3` and `unicode_regex_split_custom_qwen2`.
fn split_llama3_like(text: &SplitText, offsets: &[usize], digits: DigitRule) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len());
    for (start, end) in ranges(offsets) {
        let range = Range {
            code_points: &text.code_points,
            flags: &text.flags,
            start,
            end,
        };
        let mut emit = Emitter {
            out: &mut out,
            previous_end: start,
        };
        let mut position = start;
        while position < end {
            if let Some(next) = contraction_case_insensitive(&range, &mut emit, position) {
                position = next;
                continue;
            }
            let cpt = range.cpt(position);
            let flags = range.flags(position);
            if !(cpt == CARRIAGE_RETURN || cpt == NEWLINE || flags.is_number())
                && (flags.is_letter() || range.flags(position + 1).is_letter())
            {
                position += 1;
                while range.flags(position).is_letter() {
                    position += 1;
                }
                emit.add(position);
                continue;
            }
            if flags.is_number() {
                match digits {
                    DigitRule::UpToThree => {
                        let mut first = position;
                        while range.flags(position).is_number() {
                            position += 1;
                            if position - first >= 3 {
                                emit.add(position);
                                first = position;
                            }
                        }
                        emit.add(position);
                    }
                    DigitRule::One => {
                        position += 1;
                        emit.add(position);
                    }
                }
                continue;
            }
            position = llama3_tail(&range, &mut emit, position, false, false);
        }
    }
    out
}

/// llama.cpp `unicode_regex_split_custom_qwen35`: Qwen2 with `\p{M}` joining letter runs.
fn split_qwen35(text: &SplitText, offsets: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len());
    for (start, end) in ranges(offsets) {
        let range = Range {
            code_points: &text.code_points,
            flags: &text.flags,
            start,
            end,
        };
        let mut emit = Emitter {
            out: &mut out,
            previous_end: start,
        };
        let mut position = start;
        while position < end {
            if let Some(next) = contraction_case_insensitive(&range, &mut emit, position) {
                position = next;
                continue;
            }
            let cpt = range.cpt(position);
            let flags = range.flags(position);
            if !(cpt == CARRIAGE_RETURN || cpt == NEWLINE || flags.is_number()) {
                let next = range.flags(position + 1);
                if flags.is_letter()
                    || flags.is_accent_mark()
                    || next.is_accent_mark()
                    || next.is_letter()
                {
                    position += 1;
                    while range.flags(position).is_letter()
                        || range.flags(position).is_accent_mark()
                    {
                        position += 1;
                    }
                    emit.add(position);
                    continue;
                }
            }
            if flags.is_number() {
                position += 1;
                emit.add(position);
                continue;
            }
            position = llama3_tail(&range, &mut emit, position, true, false);
        }
    }
    out
}

/// llama.cpp `unicode_regex_split_custom_kimi_k2`.
fn split_kimi_k2(text: &SplitText, offsets: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len());
    for (start, end) in ranges(offsets) {
        let range = Range {
            code_points: &text.code_points,
            flags: &text.flags,
            start,
            end,
        };
        let mut emit = Emitter {
            out: &mut out,
            previous_end: start,
        };
        let mut position = start;
        let letter_not_han = |range: &Range<'_>, position: usize| {
            range.flags(position).is_letter() && !unicode::is_han(range.cpt(position))
        };
        while position < end {
            let cpt = range.cpt(position);
            let flags = range.flags(position);
            if unicode::is_han(cpt) {
                while unicode::is_han(range.cpt(position)) {
                    position += 1;
                }
                emit.add(position);
                continue;
            }
            let leading_candidate = !(cpt == CARRIAGE_RETURN
                || cpt == NEWLINE
                || flags.is_letter()
                || flags.is_number());
            let is_letter_pattern = (flags.is_letter() && !unicode::is_han(cpt))
                || (leading_candidate && letter_not_han(&range, position + 1));
            if is_letter_pattern {
                let mut has_leading_char = false;
                if leading_candidate {
                    has_leading_char = true;
                    position += 1;
                }
                let mut has_letters = false;
                while letter_not_han(&range, position) {
                    has_letters = true;
                    position += 1;
                }
                if has_letters || (!has_leading_char && letter_not_han(&range, position)) {
                    if !has_letters {
                        position += 1;
                    }
                    while letter_not_han(&range, position) {
                        position += 1;
                    }
                    if range.cpt(position) == APOSTROPHE && position + 1 < end {
                        let next = unicode::to_lower(range.cpt(position + 1));
                        if is_contraction_letter(next) {
                            position += 2;
                        } else if position + 2 < end
                            && is_contraction_pair(next, unicode::to_lower(range.cpt(position + 2)))
                        {
                            position += 3;
                        }
                    }
                    emit.add(position);
                    continue;
                } else if has_leading_char {
                    position -= 1;
                }
            }
            if flags.is_number() {
                let mut first = position;
                while range.flags(position).is_number() {
                    position += 1;
                    if position - first >= 3 {
                        emit.add(position);
                        first = position;
                    }
                }
                emit.add(position);
                continue;
            }
            position = llama3_tail(&range, &mut emit, position, false, true);
        }
    }
    out
}

/// llama.cpp `unicode_regex_split_custom_afmoe`: digit runs split into a 1–2 digit head and threes.
fn split_afmoe(text: &SplitText, offsets: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len());
    for (start, end) in ranges(offsets) {
        let range = Range {
            code_points: &text.code_points,
            flags: &text.flags,
            start,
            end,
        };
        let mut emit = Emitter {
            out: &mut out,
            previous_end: start,
        };
        let mut position = start;
        while position < end {
            if range.flags(position).is_number() {
                let digit_start = position;
                let mut digit_count = 0;
                while range.flags(position).is_number() && position < end {
                    digit_count += 1;
                    position += 1;
                }
                let remainder = digit_count % 3;
                let mut current = digit_start;
                if remainder > 0 {
                    emit.add(current + remainder);
                    current += remainder;
                }
                while current < digit_start + digit_count {
                    emit.add(current + 3);
                    current += 3;
                }
                continue;
            }
            position += 1;
        }
        if emit.previous_end < end {
            emit.add(end);
        }
    }
    out
}

/// llama.cpp `unicode_regex_split_custom_newlines`: runs of newlines and runs of anything else.
fn split_newlines(text: &SplitText, offsets: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len());
    for (start, end) in ranges(offsets) {
        let mut position = start;
        while position < end {
            let is_newline = text.code_points[position] == NEWLINE;
            let run_start = position;
            while position < end && (text.code_points[position] == NEWLINE) == is_newline {
                position += 1;
            }
            out.push(position - run_start);
        }
    }
    out
}

/// The text a `std::regex` step in llama.cpp actually sees, with byte offsets per code point.
pub(crate) struct MappedText {
    text: String,
    /// `byte_offsets[i]` is where code point `i` starts in `text`; one extra entry for the end.
    byte_offsets: Vec<usize>,
}

/// The stand-in characters for llama.cpp's collapsed category bytes (0xD0..0xD5 in llama.cpp):
/// U+00D0..U+00D5 here, so the collapsed text stays a Rust string. Patterns never use Unicode
/// classes after translation, so these letters are only ever matched literally.
const COLLAPSED_OTHER: char = '\u{D0}';
const COLLAPSED_NUMBER: char = '\u{D1}';
const COLLAPSED_LETTER: char = '\u{D2}';
const COLLAPSED_PUNCTUATION: char = '\u{D3}';
const COLLAPSED_ACCENT_MARK: char = '\u{D4}';
const COLLAPSED_SYMBOL: char = '\u{D5}';
/// llama.cpp replaces non-ASCII whitespace by a vertical tab so `std::regex` `\s` sees it.
const WHITESPACE_FALLBACK: char = '\u{0B}';

impl MappedText {
    fn build(text: &SplitText, map: impl Fn(u32, Flags) -> char) -> Self {
        let mut mapped = String::with_capacity(text.code_points.len() * 2);
        let mut byte_offsets = Vec::with_capacity(text.code_points.len() + 1);
        for (&cpt, &flags) in text.code_points.iter().zip(&text.flags) {
            byte_offsets.push(mapped.len());
            mapped.push(map(cpt, flags));
        }
        byte_offsets.push(mapped.len());
        Self {
            text: mapped,
            byte_offsets,
        }
    }

    /// llama.cpp's collapsed text (`text_collapsed` in `unicode_regex_split`).
    fn collapsed(text: &SplitText) -> Self {
        Self::build(text, |cpt, flags| {
            if cpt < 128 {
                return char::from(cpt as u8);
            }
            if flags.is_whitespace() {
                return WHITESPACE_FALLBACK;
            }
            match flags.category() {
                unicode::bits::NUMBER => COLLAPSED_NUMBER,
                unicode::bits::LETTER => COLLAPSED_LETTER,
                unicode::bits::PUNCTUATION => COLLAPSED_PUNCTUATION,
                unicode::bits::ACCENT_MARK => COLLAPSED_ACCENT_MARK,
                unicode::bits::SYMBOL => COLLAPSED_SYMBOL,
                _ => COLLAPSED_OTHER,
            }
        })
    }

    /// llama.cpp's wide text for patterns without Unicode categories (non-ASCII whitespace -> VT).
    fn wide(text: &SplitText) -> Self {
        Self::build(text, |cpt, flags| {
            if cpt > 0x7F && flags.is_whitespace() {
                WHITESPACE_FALLBACK
            } else {
                char::from_u32(cpt).unwrap_or('\u{FFFD}')
            }
        })
    }

    fn code_point_index(&self, byte_offset: usize) -> usize {
        self.byte_offsets
            .partition_point(|&offset| offset < byte_offset)
    }
}

/// An ECMAScript pattern from llama.cpp's table, translated for `fancy_regex`.
#[derive(Debug)]
pub(crate) struct EcmaRegex {
    regex: fancy_regex::Regex,
    collapsed: bool,
}

/// llama.cpp's `k_ucat_enum` keys: patterns containing one of these run on the collapsed text.
const CATEGORY_KEYS: [&str; 10] = [
    "\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}", "\\p{Lu}", "\\p{Ll}", "\\p{Lt}", "\\p{Lm}",
    "\\p{Lo}",
];

impl EcmaRegex {
    pub(crate) fn new(expression: &str) -> Result<Self, TokenizerError> {
        let collapsed = CATEGORY_KEYS.iter().any(|key| expression.contains(key));
        if collapsed && !expression.is_ascii() {
            // llama.cpp throws here too ("Regex includes both unicode categories and non-ASCII").
            return Err(TokenizerError::UnsupportedPattern {
                pattern: expression.to_owned(),
                reason: "Unicode categories mixed with non-ASCII characters (llama.cpp rejects this too)".to_owned(),
            });
        }
        let translated = translate(expression, collapsed).map_err(|reason| {
            TokenizerError::UnsupportedPattern {
                pattern: expression.to_owned(),
                reason,
            }
        })?;
        let regex = fancy_regex::RegexBuilder::new(&translated)
            .backtrack_limit(100_000_000)
            .build()
            .map_err(|error| TokenizerError::UnsupportedPattern {
                pattern: expression.to_owned(),
                reason: format!("translated pattern {translated:?} does not compile: {error}"),
            })?;
        Ok(Self { regex, collapsed })
    }

    /// llama.cpp `unicode_regex_split_stl`: matches and the gaps between them become pieces.
    fn split(&self, mapped: &MappedText, offsets: &[usize]) -> Vec<usize> {
        let mut out = Vec::with_capacity(offsets.len());
        for (start, end) in ranges(offsets) {
            let byte_start = mapped.byte_offsets[start];
            let byte_end = mapped.byte_offsets[end];
            let haystack = &mapped.text[byte_start..byte_end];
            let mut previous = start;
            for found in self.regex.find_iter(haystack) {
                // A pattern that fails at run time (backtrack limit) leaves the rest unmatched,
                // which still yields a valid split; llama.cpp would throw instead.
                let Ok(found) = found else { break };
                let match_start = mapped.code_point_index(byte_start + found.start());
                let match_end = mapped.code_point_index(byte_start + found.end());
                if match_start > previous {
                    out.push(match_start - previous);
                }
                out.push(match_end - match_start);
                previous = match_end;
            }
            if previous < end {
                out.push(end - previous);
            }
        }
        out
    }
}

/// ASCII members of each collapsed category (llama.cpp `k_ucat_map`) plus its stand-in character.
fn category_items(name: &str) -> Option<String> {
    let (marker, ranges): (char, &[(u8, u8)]) = match name {
        "N" => (COLLAPSED_NUMBER, &[(0x30, 0x39)]),
        "L" | "Lu" | "Ll" | "Lt" | "Lm" | "Lo" => (COLLAPSED_LETTER, &[(0x41, 0x5A), (0x61, 0x7A)]),
        "P" => (
            COLLAPSED_PUNCTUATION,
            &[
                (0x21, 0x23),
                (0x25, 0x2A),
                (0x2C, 0x2F),
                (0x3A, 0x3B),
                (0x3F, 0x40),
                (0x5B, 0x5D),
                (0x5F, 0x5F),
                (0x7B, 0x7B),
                (0x7D, 0x7D),
            ],
        ),
        "M" => (COLLAPSED_ACCENT_MARK, &[]),
        "S" => (
            COLLAPSED_SYMBOL,
            &[
                (0x24, 0x24),
                (0x2B, 0x2B),
                (0x3C, 0x3E),
                (0x5E, 0x5E),
                (0x60, 0x60),
                (0x7C, 0x7C),
                (0x7E, 0x7E),
            ],
        ),
        _ => return None,
    };
    let mut items = hex(marker as u32);
    for &(first, last) in ranges {
        items.push_str(&hex(u32::from(first)));
        if last != first {
            items.push('-');
            items.push_str(&hex(u32::from(last)));
        }
    }
    Some(items)
}

fn hex(code_point: u32) -> String {
    format!("\\x{{{code_point:X}}}")
}

/// libstdc++ `std::regex` class escapes in the C locale, as `fancy_regex` class items.
const SPACE_ITEMS: &str = "\\x{9}-\\x{D}\\x{20}";
const DIGIT_ITEMS: &str = "\\x{30}-\\x{39}";
const WORD_ITEMS: &str = "\\x{30}-\\x{39}\\x{41}-\\x{5A}\\x{5F}\\x{61}-\\x{7A}";

enum ClassAtom {
    Char(u32),
    Items(String),
}

/// Translates an ECMAScript pattern (as llama.cpp writes them) to `fancy_regex` syntax.
fn translate(pattern: &str, collapsed: bool) -> Result<String, String> {
    let characters: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut index = 0;
    while index < characters.len() {
        let character = characters[index];
        match character {
            '\\' => {
                let (atom, next) = escape(&characters, index, collapsed)?;
                index = next;
                match atom {
                    Escape::Atom(ClassAtom::Char(cpt)) => out.push_str(&hex(cpt)),
                    Escape::Atom(ClassAtom::Items(items)) => {
                        out.push('[');
                        out.push_str(&items);
                        out.push(']');
                    }
                    Escape::Negated(items) => {
                        out.push_str("[^");
                        out.push_str(&items);
                        out.push(']');
                    }
                    Escape::Verbatim(text) => out.push_str(&text),
                }
            }
            '[' => {
                index = class(&characters, index, collapsed, &mut out)?;
            }
            '.' => {
                out.push_str("[^\\x{A}\\x{D}\\x{2028}\\x{2029}]");
                index += 1;
            }
            '(' if characters.get(index + 1) == Some(&'?') => {
                // Group prefixes pass through: `(?:`, `(?=`, `(?!`, `(?<=`, `(?<!`.
                let prefix: String = match characters.get(index + 2) {
                    Some(&':') | Some(&'=') | Some(&'!') => {
                        characters[index..index + 3].iter().collect()
                    }
                    Some(&'<') if matches!(characters.get(index + 3), Some(&'=') | Some(&'!')) => {
                        characters[index..index + 4].iter().collect()
                    }
                    _ => return Err(format!("unsupported group syntax at {index}")),
                };
                index += prefix.chars().count();
                out.push_str(&prefix);
            }
            '(' | ')' | '|' | '*' | '+' | '?' | '^' | '$' => {
                out.push(character);
                index += 1;
            }
            '{' => {
                // A quantifier `{n}`, `{n,}`, `{n,m}`; anything else is a literal brace (Annex B).
                let rest: String = characters[index..]
                    .iter()
                    .take_while(|&&c| c != '}')
                    .collect();
                let body = rest.trim_start_matches('{');
                let is_quantifier = index + rest.chars().count() < characters.len()
                    && !body.is_empty()
                    && body.chars().all(|c| c.is_ascii_digit() || c == ',')
                    && body.chars().next().is_some_and(|c| c.is_ascii_digit());
                if is_quantifier {
                    out.push_str(&rest);
                    out.push('}');
                    index += rest.chars().count() + 1;
                } else {
                    out.push_str(&hex('{' as u32));
                    index += 1;
                }
            }
            _ => {
                if character.is_ascii_alphanumeric() {
                    out.push(character);
                } else {
                    out.push_str(&hex(character as u32));
                }
                index += 1;
            }
        }
    }
    Ok(out)
}

enum Escape {
    Atom(ClassAtom),
    Negated(String),
    Verbatim(String),
}

fn escape(characters: &[char], index: usize, collapsed: bool) -> Result<(Escape, usize), String> {
    let Some(&next) = characters.get(index + 1) else {
        return Err("pattern ends with a backslash".to_owned());
    };
    let simple = |cpt: u32| Ok((Escape::Atom(ClassAtom::Char(cpt)), index + 2));
    match next {
        's' => Ok((
            Escape::Atom(ClassAtom::Items(SPACE_ITEMS.to_owned())),
            index + 2,
        )),
        'S' => Ok((Escape::Negated(SPACE_ITEMS.to_owned()), index + 2)),
        'd' => Ok((
            Escape::Atom(ClassAtom::Items(DIGIT_ITEMS.to_owned())),
            index + 2,
        )),
        'D' => Ok((Escape::Negated(DIGIT_ITEMS.to_owned()), index + 2)),
        'w' => Ok((
            Escape::Atom(ClassAtom::Items(WORD_ITEMS.to_owned())),
            index + 2,
        )),
        'W' => Ok((Escape::Negated(WORD_ITEMS.to_owned()), index + 2)),
        'b' => Ok((Escape::Verbatim("(?-u:\\b)".to_owned()), index + 2)),
        'B' => Ok((Escape::Verbatim("(?-u:\\B)".to_owned()), index + 2)),
        'n' => simple(0x0A),
        'r' => simple(0x0D),
        't' => simple(0x09),
        'v' => simple(0x0B),
        'f' => simple(0x0C),
        '0' => simple(0x00),
        'x' => {
            let digits: String = characters.iter().skip(index + 2).take(2).collect();
            let value = u32::from_str_radix(&digits, 16)
                .map_err(|_| format!("bad \\x escape at {index}"))?;
            Ok((Escape::Atom(ClassAtom::Char(value)), index + 4))
        }
        'u' => {
            let digits: String = characters.iter().skip(index + 2).take(4).collect();
            let value = u32::from_str_radix(&digits, 16)
                .map_err(|_| format!("bad \\u escape at {index}"))?;
            Ok((Escape::Atom(ClassAtom::Char(value)), index + 6))
        }
        'p' => {
            let rest: String = characters
                .iter()
                .skip(index + 2)
                .take_while(|&&c| c != '}')
                .collect();
            let name = rest.trim_start_matches('{');
            let end = index + 2 + rest.chars().count() + 1;
            if !collapsed {
                return Err(format!("\\p{{{name}}} outside llama.cpp's category list"));
            }
            match category_items(name) {
                Some(items) => Ok((Escape::Atom(ClassAtom::Items(items)), end)),
                None => Err(format!("unsupported category \\p{{{name}}}")),
            }
        }
        other if other.is_ascii_alphanumeric() => Err(format!("unsupported escape \\{other}")),
        other => simple(other as u32),
    }
}

/// Translates one bracket expression starting at `index`; returns the index after its `]`.
fn class(
    characters: &[char],
    index: usize,
    collapsed: bool,
    out: &mut String,
) -> Result<usize, String> {
    let mut position = index + 1;
    let negated = characters.get(position) == Some(&'^');
    if negated {
        position += 1;
    }
    let mut atoms: Vec<ClassAtom> = Vec::new();
    let mut first = true;
    loop {
        let Some(&character) = characters.get(position) else {
            return Err(format!("unterminated bracket expression at {index}"));
        };
        if character == ']' && !first {
            position += 1;
            break;
        }
        first = false;
        if character == '\\' {
            let (atom, next) = escape(characters, position, collapsed)?;
            position = next;
            match atom {
                Escape::Atom(atom) => atoms.push(atom),
                Escape::Negated(_) | Escape::Verbatim(_) => {
                    return Err("negated class escape inside a bracket expression".to_owned());
                }
            }
        } else if character == '[' && characters.get(position + 1) == Some(&':') {
            return Err("POSIX classes are not supported".to_owned());
        } else {
            atoms.push(ClassAtom::Char(character as u32));
            position += 1;
        }
        // Mark a literal '-' between two characters as a range by folding it now.
        if characters.get(position) == Some(&'-')
            && characters.get(position + 1).is_some_and(|&c| c != ']')
            && matches!(atoms.last(), Some(ClassAtom::Char(_)))
        {
            let low = match atoms.pop() {
                Some(ClassAtom::Char(low)) => low,
                _ => return Err("internal: range without start".to_owned()),
            };
            position += 1;
            let high = if characters.get(position) == Some(&'\\') {
                let (atom, next) = escape(characters, position, collapsed)?;
                position = next;
                match atom {
                    Escape::Atom(ClassAtom::Char(high)) => high,
                    _ => return Err("range ending in a class escape".to_owned()),
                }
            } else {
                let high = characters[position] as u32;
                position += 1;
                high
            };
            if high < low {
                return Err(format!("reversed range {low:X}-{high:X}"));
            }
            atoms.push(ClassAtom::Items(format!("{}-{}", hex(low), hex(high))));
        }
    }
    out.push('[');
    if negated {
        out.push('^');
    }
    for atom in atoms {
        match atom {
            ClassAtom::Char(cpt) => out.push_str(&hex(cpt)),
            ClassAtom::Items(items) => out.push_str(&items),
        }
    }
    out.push(']');
    Ok(position)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str, expressions: &[&str]) -> Vec<String> {
        let splitters: Vec<Splitter> = expressions
            .iter()
            .map(|e| Splitter::from_expression(e).unwrap())
            .collect();
        let prepared = SplitText::new(text);
        let lengths = split(&prepared, &splitters);
        let characters: Vec<char> = text.chars().collect();
        let mut start = 0;
        lengths
            .iter()
            .map(|&length| {
                let word: String = characters[start..start + length].iter().collect();
                start += length;
                word
            })
            .collect()
    }

    const GPT2: &str =
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

    #[test]
    fn gpt2_splitter_keeps_one_space_before_words() {
        assert_eq!(
            words("Hello  world's 123!!", &[GPT2]),
            ["Hello", " ", " world", "'s", " 123", "!!"]
        );
    }

    #[test]
    fn ecma_regex_matches_custom_gpt2_on_ascii() {
        // The same pattern with a trailing `|\s+` is not recognised as custom and goes through the
        // ECMAScript emulation: it must agree with the hand-written splitter on ordinary text.
        let emulated = format!("{GPT2}|\\s+");
        for text in ["Hello  world's 123!!", "  a\n\n b  ", "x = y + 1;\n\tz()"] {
            assert_eq!(words(text, &[GPT2]), words(text, &[&emulated]), "{text:?}");
        }
    }

    #[test]
    fn llama3_splits_digits_in_threes_and_keeps_newline_runs() {
        let llama3 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
        assert_eq!(
            words("1234567 ab\n\n  c", &[llama3]),
            ["123", "456", "7", " ab", "\n\n", " ", " c"]
        );
    }

    #[test]
    fn translation_uses_ascii_classes() {
        let translated = translate("\\s?\\p{L}+", true).unwrap();
        assert!(translated.contains("\\x{D2}"), "{translated}");
        assert!(translate("[\\p{P}\\$\\+<=>\\^~\\|]+", true).is_ok());
        assert!(translate("[^(\\s|.,!?…。，、।۔،)]+", false).is_ok());
    }
}
