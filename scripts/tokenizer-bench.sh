#!/usr/bin/env bash
# Tokenizer speed: headroom vs llama.cpp's llama-tokenize vs the Python `tokenizers` package, on the
# same corpus (Python stdlib sources + generated Unicode text), in one run.
#
# usage: HEADROOM_LLAMA_CPP_BIN=/path/to/llama.cpp/bin scripts/tokenizer-bench.sh [THREADS]
# needs: python3 with `gguf` and `tokenizers` (pip install gguf tokenizers)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${HEADROOM_LLAMA_CPP_BIN:?set HEADROOM_LLAMA_CPP_BIN to the directory holding llama-tokenize}"
threads="${1:-$(nproc)}"
cargo build --quiet --release -p headroom-tokenizer --examples
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
target/release/examples/corpus "$work/corpus.txt"
python3 scripts/tokenizer-bench.py "$HEADROOM_LLAMA_CPP_BIN" "$work/corpus.txt" "$threads" ../shared/fixtures/gguf
