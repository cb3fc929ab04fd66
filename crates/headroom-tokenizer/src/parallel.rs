//! Multi-threaded counting for large inputs.
//!
//! The text is partitioned into special tokens and raw fragments exactly as `encode` does; each raw
//! fragment is then cut at *safe boundaries*: just after a `\n` that follows an ASCII
//! non-whitespace byte and precedes an ASCII letter or digit. At such a point every llama.cpp
//! pre-tokenizer ends a word (the newline is its own whitespace run of length one, or the tail of
//! a punctuation run, or isolated by a `[\r\n]` split) and the next word starts fresh, so BPE never
//! merges across it; WordPiece splits on whitespace anyway; SentencePiece merges cannot cross it
//! when no vocabulary entry contains a newline next to other characters (checked per vocabulary;
//! otherwise SentencePiece text is counted on one thread). Chunks are counted on scoped threads and
//! summed. `count_parallel_equals_count` in the tests checks the equality on every fixture.

use crate::special::Fragment;
use crate::vocabulary::{ModelKind, Vocabulary};
use crate::{bpe, spm, wpm};

/// Below this many bytes a fragment is not worth splitting.
const MINIMUM_CHUNK_BYTES: usize = 64 * 1024;

fn is_ascii_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// Is byte offset `position` a safe place to cut (see module docs)?
pub(crate) fn is_safe_boundary(bytes: &[u8], position: usize) -> bool {
    position >= 2
        && position < bytes.len()
        && bytes[position - 1] == b'\n'
        && bytes[position - 2].is_ascii()
        && !is_ascii_space(bytes[position - 2])
        && bytes[position].is_ascii_alphanumeric()
}

/// Cuts `text` into chunks of roughly `target` bytes at safe boundaries.
pub(crate) fn chunks(text: &str, target: usize) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let mut cut = start + target;
        if cut >= bytes.len() {
            pieces.push(&text[start..]);
            break;
        }
        while cut < bytes.len() && !is_safe_boundary(bytes, cut) {
            cut += 1;
        }
        pieces.push(&text[start..cut]);
        start = cut;
    }
    pieces
}

/// Counts one chunk; `scratch` (and its word cache) is reused across the chunks of one thread.
fn count_chunk<'t>(
    vocabulary: &Vocabulary,
    chunk: &'t str,
    scratch: &mut bpe::BpeScratch<'t>,
    output: &mut Vec<u32>,
) -> usize {
    output.clear();
    match vocabulary.kind {
        ModelKind::Spm => {
            // Smaller pieces keep SentencePiece's merge queue small (as `encode` does).
            for piece in chunks(chunk, crate::SPM_CHUNK_BYTES) {
                spm::encode_fragment(vocabulary, piece, output);
            }
        }
        ModelKind::Wpm => wpm::encode_fragment(vocabulary, chunk, output),
        ModelKind::Bpe => {
            if let Some(model) = &vocabulary.bpe {
                bpe::encode_fragment(vocabulary, model, chunk, scratch, output);
            }
        }
    }
    output.len()
}

pub(crate) fn count_parallel(vocabulary: &Vocabulary, text: &str, threads: usize) -> usize {
    count_parallel_with(vocabulary, text, threads, None)
}

/// `count_parallel` with an optional fixed chunk size (tests use tiny chunks to cut everywhere).
pub(crate) fn count_parallel_with(
    vocabulary: &Vocabulary,
    text: &str,
    threads: usize,
    chunk_bytes: Option<usize>,
) -> usize {
    let fragments = crate::special::partition(vocabulary, text, true);
    let mut total = 0;
    // Prepared texts (SPM prefix and escaping, BPE escaping) must outlive the chunks borrowing them.
    let mut prepared: Vec<String> = Vec::new();
    let mut previous_special = true;
    for fragment in &fragments {
        match *fragment {
            Fragment::Token(_) => {
                total += 1;
                previous_special = true;
            }
            Fragment::Text { start, end } => {
                let raw = &text[start..end];
                let ready = match vocabulary.kind {
                    ModelKind::Spm => crate::spm_text(vocabulary, raw, previous_special),
                    ModelKind::Bpe if vocabulary.escape_whitespaces => raw.replace(' ', "\u{2581}"),
                    _ => raw.to_owned(),
                };
                previous_special = false;
                prepared.push(ready);
            }
        }
    }
    let splittable = vocabulary.kind != ModelKind::Spm || vocabulary.spm_newline_isolated;
    let total_bytes: usize = prepared.iter().map(String::len).sum();
    let target =
        chunk_bytes.unwrap_or_else(|| (total_bytes / (threads * 4)).max(MINIMUM_CHUNK_BYTES));
    let mut work: Vec<&str> = Vec::new();
    for piece in &prepared {
        if splittable && (threads > 1 || chunk_bytes.is_some()) {
            work.extend(chunks(piece, target));
        } else {
            work.push(piece);
        }
    }
    let sequential = || {
        let mut scratch = bpe::BpeScratch::default();
        let mut output = Vec::new();
        work.iter()
            .map(|chunk| count_chunk(vocabulary, chunk, &mut scratch, &mut output))
            .sum::<usize>()
    };
    let counted: usize = if threads <= 1 || work.len() <= 1 {
        sequential()
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let parallel: Option<usize> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads.min(work.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut scratch = bpe::BpeScratch::default();
                        let mut output = Vec::new();
                        let mut sum = 0;
                        loop {
                            let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(chunk) = work.get(index) else { break };
                            sum += count_chunk(vocabulary, chunk, &mut scratch, &mut output);
                        }
                        sum
                    })
                })
                .collect();
            handles.into_iter().map(|handle| handle.join().ok()).sum()
        });
        // A worker that panicked (a bug) must not lose its share: recount on this thread.
        parallel.unwrap_or_else(sequential)
    };
    total += counted;
    let add_bos = vocabulary.kind == ModelKind::Wpm || vocabulary.add_bos;
    let add_eos = if vocabulary.kind == ModelKind::Wpm {
        vocabulary.ids.sep.is_some()
    } else {
        vocabulary.add_eos
    };
    if add_bos && vocabulary.ids.bos.is_some() {
        total += 1;
    }
    if add_eos && (vocabulary.kind == ModelKind::Wpm || vocabulary.ids.eos.is_some()) {
        total += 1;
    }
    total
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn fixture(name: &str) -> Vocabulary {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/gguf")
            .join(name);
        let file = headroom_gguf::GgufFile::open(&path)
            .unwrap_or_else(|error| panic!("fixture {}: {error}", path.display()));
        Vocabulary::build(crate::gguf::raw_vocabulary(&file).unwrap()).unwrap()
    }

    fn vocabularies() -> &'static [Vocabulary] {
        static ALL: std::sync::OnceLock<Vec<Vocabulary>> = std::sync::OnceLock::new();
        ALL.get_or_init(|| {
            [
                "ggml-vocab-qwen2.gguf",
                "ggml-vocab-llama-bpe.gguf",
                "ggml-vocab-gpt-2.gguf",
                "ggml-vocab-deepseek-coder.gguf",
                "ggml-vocab-falcon.gguf",
                "ggml-vocab-llama-spm.gguf",
                "ggml-vocab-phi-3.gguf",
                "ggml-vocab-bert-bge.gguf",
            ]
            .iter()
            .map(|name| fixture(name))
            .collect()
        })
    }

    /// Pieces chosen to stress the boundary rule: newlines next to spaces, tabs, CR, punctuation,
    /// digits, letters, non-ASCII whitespace, combining marks, CJK, emoji and special-token text.
    const PIECES: &[&str] = &[
        "\n",
        "\n",
        " ",
        "  ",
        "\t",
        "\r\n",
        "a",
        "Z",
        "word",
        "1",
        "234",
        "é",
        "e\u{301}",
        "\u{3000}",
        "\u{a0}",
        "中文",
        "🦙",
        "'s",
        "'LL",
        "!",
        "...",
        "(",
        "\"",
        "<|endoftext|>",
        "<|im_start|>",
        "</s>",
        "▁",
        "x\n",
        "\n\n\n",
        " \n",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

        /// Cutting at every safe boundary (1-byte target chunks) never changes the count.
        #[test]
        fn count_parallel_equals_count(pieces in proptest::collection::vec(0..PIECES.len(), 0..80), chunk in 1usize..24) {
            let text: String = pieces.iter().map(|&index| PIECES[index]).collect();
            for vocabulary in vocabularies() {
                let sequential = crate::encode_llama(vocabulary, &text, true, true).len();
                prop_assert_eq!(count_parallel_with(vocabulary, &text, 3, Some(chunk)), sequential, "{} on {:?}", vocabulary.pre, text);
            }
        }
    }

    #[test]
    fn boundaries_are_only_after_a_lone_newline_before_ascii_alphanumerics() {
        let bytes = b"a\nb \n c\n\nd!\n1";
        let cuts: Vec<usize> = (0..bytes.len())
            .filter(|&position| is_safe_boundary(bytes, position))
            .collect();
        assert_eq!(cuts, vec![2, 12]);
    }
}
