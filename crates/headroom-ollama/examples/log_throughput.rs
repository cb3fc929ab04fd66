//! Throughput of the Ollama log parser, for BENCHMARKS.md.
//!
//! `log_throughput generate PATH MEGABYTES` writes a log made of the fixture logs repeated
//! (every era's line forms, most lines being events: a worst case for the parser);
//! `log_throughput parse PATH` streams it through `LogEvents` and prints MB/s.

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use headroom_ollama::log::LogEvents;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.as_slice() {
        [command, path, megabytes] if command == "generate" => {
            generate(Path::new(path), megabytes.parse()?)
        }
        [command, path] if command == "parse" => parse(Path::new(path)),
        _ => Err("usage: log_throughput generate PATH MEGABYTES | parse PATH".into()),
    }
}

fn generate(path: &Path, megabytes: u64) -> Result<(), Box<dyn std::error::Error>> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs");
    let mut corpus = Vec::new();
    let mut names: Vec<_> = fs_err::read_dir(&directory)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "log"))
        .collect();
    names.sort();
    for name in names {
        corpus.extend(fs_err::read(name)?);
    }
    let target = megabytes * 1_000_000;
    let mut writer = BufWriter::new(fs_err::File::create(path)?);
    let mut written = 0u64;
    while written < target {
        writer.write_all(&corpus)?;
        written += corpus.len() as u64;
    }
    writer.flush()?;
    println!("wrote {written} bytes to {}", path.display());
    Ok(())
}

fn parse(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let file = fs_err::File::open(path)?;
    let events = LogEvents::new(BufReader::with_capacity(1 << 20, file))?;
    let mut count = 0u64;
    let mut last_line = 0u64;
    let mut events = events;
    for event in events.by_ref() {
        let event = event?;
        count += 1;
        last_line = event.line;
    }
    let bytes = events.bytes_read();
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{bytes} bytes, {count} events (last on line {last_line}) in {seconds:.3} s = {:.0} MB/s",
        bytes as f64 / 1e6 / seconds
    );
    Ok(())
}
