#!/usr/bin/env bash
# Runs a fuzz target with libFuzzer on stable Rust: coverage instrumentation through stable -C
# flags (what cargo-fuzz passes, minus the nightly-only AddressSanitizer; Rust code here has no
# `unsafe`, so panics, aborts, timeouts and oversized allocations are what there is to find).
#   scripts/fuzz.sh TARGET SECONDS      e.g. scripts/fuzz.sh gguf_header 600
# Seeds: the GGUF fixtures in ../shared/fixtures/gguf for gguf_header.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?target}"
seconds="${2:-60}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros.
triple="$(rustc -vV | sed -n "s/^host: //p")"
cargo build --release --manifest-path fuzz/Cargo.toml --bin "$target" --target "$triple"
corpus="fuzz/corpus/$target"
mkdir -p "$corpus" fuzz/artifacts
if [ "$target" = gguf_header ] && [ -d ../shared/fixtures/gguf ]; then
  cp -n ../shared/fixtures/gguf/*.gguf "$corpus/" 2>/dev/null || true
fi
if [ -d "fuzz/seeds/$target" ]; then cp -n fuzz/seeds/"$target"/* "$corpus/" 2>/dev/null || true; fi
"fuzz/target/$triple/release/$target" "$corpus" -max_total_time="$seconds" -rss_limit_mb=512 \
  -malloc_limit_mb=256 -max_len=65536 -timeout=5 -artifact_prefix=fuzz/artifacts/ -print_final_stats=1
