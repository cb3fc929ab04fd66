//! Times loading a GGUF vocabulary and tokenizing a corpus (single-threaded `encode`, and
//! `count_parallel`), printing one JSON line. Used by `scripts/tokenizer-bench.sh`.
//!
//! usage: cargo run --release -p headroom-tokenizer --example bench -- VOCAB.gguf CORPUS THREADS

use std::time::Instant;

use headroom_tokenizer::Tokenizer;

/// CPU time of the calling thread (Linux `/proc/thread-self/schedstat`, first field, ns): robust
/// against other processes competing for the cores, unlike wall time.
fn thread_cpu_seconds() -> f64 {
    fs_err::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| {
            text.split_whitespace()
                .next()
                .and_then(|field| field.parse::<u64>().ok())
        })
        .map_or(f64::NAN, |nanoseconds| nanoseconds as f64 / 1e9)
}

/// Best wall time and best thread CPU time over `runs` runs.
fn best_seconds(runs: usize, mut work: impl FnMut() -> usize) -> (f64, f64, usize) {
    let mut best_wall = f64::INFINITY;
    let mut best_cpu = f64::INFINITY;
    let mut result = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let cpu_start = thread_cpu_seconds();
        result = work();
        best_cpu = best_cpu.min(thread_cpu_seconds() - cpu_start);
        best_wall = best_wall.min(start.elapsed().as_secs_f64());
    }
    (best_wall, best_cpu, result)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, vocabulary, corpus, threads] = args.as_slice() else {
        return Err("usage: bench VOCAB.gguf CORPUS THREADS".into());
    };
    let threads: usize = threads.parse()?;
    let text = fs_err::read_to_string(corpus)?;
    // Load time: header read + tokenizer build, median of 5 (the first run also pays for
    // the page cache and the one-time Unicode table).
    let mut load_seconds = Vec::new();
    let mut load_cpu_seconds = Vec::new();
    let mut tokenizer = None;
    for _ in 0..5 {
        let start = Instant::now();
        let cpu_start = thread_cpu_seconds();
        let file = headroom_gguf::GgufFile::open(vocabulary)?;
        tokenizer = Some(Tokenizer::from_gguf(&file)?);
        load_cpu_seconds.push(thread_cpu_seconds() - cpu_start);
        load_seconds.push(start.elapsed().as_secs_f64());
    }
    let first_load_seconds = load_seconds[0];
    load_seconds.sort_by(f64::total_cmp);
    load_cpu_seconds.sort_by(f64::total_cmp);
    let tokenizer = tokenizer.ok_or("no tokenizer")?;
    let (encode_seconds, encode_cpu_seconds, tokens) =
        best_seconds(3, || tokenizer.encode(&text, false, true).len());
    let (parallel_seconds, _, parallel_tokens) =
        best_seconds(3, || tokenizer.count_parallel(&text, threads));
    println!(
        "{{\"vocabulary\":{:?},\"bytes\":{},\"tokens\":{},\"first_load_ms\":{:.1},\"median_load_ms\":{:.1},\"median_load_cpu_ms\":{:.1},\"encode_seconds\":{:.4},\"encode_cpu_seconds\":{:.4},\"encode_mb_per_second\":{:.2},\"threads\":{},\"count_parallel_seconds\":{:.4},\"count_parallel_tokens\":{}}}",
        vocabulary,
        text.len(),
        tokens,
        first_load_ms(first_load_seconds),
        load_seconds[2] * 1000.0,
        load_cpu_seconds[2] * 1000.0,
        encode_seconds,
        encode_cpu_seconds,
        text.len() as f64 / encode_seconds / 1e6,
        threads,
        parallel_seconds,
        parallel_tokens
    );
    Ok(())
}

fn first_load_ms(seconds: f64) -> f64 {
    seconds * 1000.0
}
