//! Writes the benchmark/comparison corpus (see `tests/support/corpus.rs`) as one file.
//!
//! usage: cargo run --release -p headroom-tokenizer --example corpus -- OUTPUT_FILE

#[path = "../tests/support/corpus.rs"]
#[allow(dead_code)]
mod corpus;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let output = std::env::args().nth(1).ok_or("usage: corpus OUTPUT_FILE")?;
    let (mut text, files) = corpus::source_text();
    text.push_str(&corpus::unicode_text());
    fs_err::write(&output, &text)?;
    eprintln!(
        "{output}: {} bytes ({} source files + generated Unicode text)",
        text.len(),
        files.len()
    );
    Ok(())
}
