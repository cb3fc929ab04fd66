//! Header parsing speed on the largest fixtures (compared with the Python reference reader by
//! `scripts/bench-gguf.sh`, which runs both side by side).
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use headroom_gguf::GgufFile;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/gguf")
        .join(name)
}

fn read_header(criterion: &mut Criterion) {
    for name in ["ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf"] {
        let path = fixture(name);
        criterion.bench_function(&format!("open {name}"), |bencher| {
            bencher.iter(|| GgufFile::open(&path).map(|file| file.metadata.len()))
        });
    }
}

criterion_group!(benches, read_header);
criterion_main!(benches);
