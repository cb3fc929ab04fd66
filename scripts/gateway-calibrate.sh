#!/usr/bin/env bash
# Reproduces the bytes-per-token calibration behind the gateway's token estimator
# (crates/headroom-gateway/src/config.rs DEFAULT_ESTIMATE_BYTES_PER_TOKEN and
# DEFAULT_WORST_BYTES_PER_TOKEN): tokenizes three kinds of text with four real vocabularies using
# llama.cpp's llama-tokenize and prints bytes, tokens and bytes per token.
#
# Usage: HEADROOM_LLAMA_CPP_BIN=/path/to/llama.cpp/bin scripts/gateway-calibrate.sh
set -euo pipefail
bin="${HEADROOM_LLAMA_CPP_BIN:?set HEADROOM_LLAMA_CPP_BIN to the llama.cpp bin directory (scripts/llama-cpp.sh prints it)}"
root="$(cd "$(dirname "$0")/.." && pwd)"
fixtures="${HEADROOM_FIXTURES:-$root/../shared/fixtures/gguf}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Corpora: Rust code (this repository's gateway sources), English Markdown (the shared reference
# notes) and a lock file full of hashes (the worst case seen).
cat "$root"/crates/headroom-gateway/src/*.rs > "$work/all-code.txt"
head -c 60000 "$work/all-code.txt" > "$work/code.txt"
head -c 60000 "$root/../shared/reference/peers-and-routing.md" > "$work/prose.txt"
head -c 30000 "$root/Cargo.lock" > "$work/lockfile.txt"

printf '%-16s %-9s %8s %8s %15s\n' vocabulary text bytes tokens bytes_per_token
for vocabulary in qwen2 llama-bpe deepseek-coder llama-spm; do
  for text in code prose lockfile; do
    bytes=$(wc -c < "$work/$text.txt")
    tokens=$("$bin/llama-tokenize" -m "$fixtures/ggml-vocab-$vocabulary.gguf" -f "$work/$text.txt" \
      --ids --log-disable 2>/dev/null | tr ',' '\n' | wc -l)
    printf '%-16s %-9s %8d %8d %15.2f\n' "$vocabulary" "$text" "$bytes" "$tokens" \
      "$(echo "$bytes / $tokens" | bc -l)"
  done
done
