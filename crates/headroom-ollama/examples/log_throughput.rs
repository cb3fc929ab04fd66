//! Throughput of the Ollama log parser, for BENCHMARKS.md.
//!
//! `log_throughput generate PATH MEGABYTES [FILLER]` writes a log made of the fixture logs
//! repeated (every era's line forms; nine in ten lines are events: a worst case), with FILLER
//! ordinary non-event server lines after each fixture line (9 gives a log where one line in
//! ten is an event, closer to a real DEBUG log);
//! `log_throughput parse PATH` streams it through `LogEvents` and prints MB/s.

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use headroom_ollama::log::LogEvents;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.as_slice() {
        [command, path, megabytes] if command == "generate" => {
            generate(Path::new(path), megabytes.parse()?, 0)
        }
        [command, path, megabytes, filler] if command == "generate" => {
            generate(Path::new(path), megabytes.parse()?, filler.parse()?)
        }
        [command, path] if command == "parse" => parse(Path::new(path)),
        _ => Err("usage: log_throughput generate PATH MEGABYTES [FILLER] | parse PATH".into()),
    }
}

/// Ordinary lines of a DEBUG-level server log that carry no event.
const FILLER: &[&str] = &[
    r#"time=2026-02-18T11:10:03.600+01:00 level=DEBUG source=sched.go:612 msg="context for request finished" runner.name=registry.ollama.ai/library/qwen3-coder:30b runner.size="19.8 GiB" runner.vram="19.8 GiB" runner.parallel=1"#,
    r#"time=2026-02-18T11:10:03.601+01:00 level=DEBUG source=server.go:1471 msg="completion request" images=0 prompt=5012 format="""#,
    r#"time=2026-02-18T11:10:03.602+01:00 level=DEBUG source=cache.go:104 msg="loading cache slot" id=0 cache=812 prompt=902 used=812 remaining=90"#,
    "llama_model_loader: - kv  12:                    qwen3moe.expert_count u32              = 128",
    "print_info: model type       = 30B.A3B",
    r#"time=2026-02-18T11:10:03.604+01:00 level=INFO source=types.go:130 msg="inference compute" id=0 library=metal variant="" compute="" driver=0.0 name=Metal total="48.0 GiB" available="48.0 GiB""#,
    "load: special tokens cache size = 26",
    r#"time=2026-02-18T11:10:03.605+01:00 level=DEBUG source=ggml.go:155 msg="key not found" key=general.alignment default=32"#,
];

fn generate(path: &Path, megabytes: u64, filler: usize) -> Result<(), Box<dyn std::error::Error>> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs");
    let mut corpus = Vec::new();
    let mut names: Vec<_> = fs_err::read_dir(&directory)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "log"))
        .collect();
    names.sort();
    let mut ordinary = FILLER.iter().cycle();
    for name in names {
        for line in String::from_utf8_lossy(&fs_err::read(name)?).lines() {
            corpus.extend_from_slice(line.as_bytes());
            corpus.push(b'\n');
            for line in ordinary.by_ref().take(filler) {
                corpus.extend_from_slice(line.as_bytes());
                corpus.push(b'\n');
            }
        }
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
