#!/usr/bin/env bash
# Header parsing: headroom against the reference reader (PyPI `gguf`), side by side in one run.
#   parse: read the whole header (every key, every array element, every tensor info);
#   dump:  the same, then print all of it as JSON.
# Needs hyperfine (Debian package) and .venv from scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
python="${HEADROOM_PYTHON:-.venv/bin/python}"
file="${1:-../shared/fixtures/gguf/ggml-vocab-qwen2.gguf}"
hyperfine --warmup 2 --runs 10 --export-markdown /dev/stdout \
  -n "headroom parse" "target/release/headroom inspect $file" \
  -n "gguf-py parse" "$python -c 'import sys; from gguf import GGUFReader; GGUFReader(sys.argv[1])' $file" \
  -n "headroom dump" "target/release/headroom inspect --metadata --json $file" \
  -n "gguf-py dump" "$python scripts/gguf_reference.py $file"
echo
echo "peak memory (max RSS, KiB):"
/usr/bin/time -f "%M  headroom parse" target/release/headroom inspect "$file" >/dev/null
/usr/bin/time -f "%M  gguf-py parse" "$python" -c 'import sys; from gguf import GGUFReader; GGUFReader(sys.argv[1])' "$file"
