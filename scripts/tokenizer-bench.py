#!/usr/bin/env python3
"""Driver for scripts/tokenizer-bench.sh: times the three tokenizers on one corpus, prints a table.

All single-thread speeds are CPU time (user + system), best of 3, so that other processes on a
shared machine inflate them as little as possible; count_parallel is wall time (it is about using
more cores). llama-tokenize: CPU time of `llama-tokenize -m VOCAB -f CORPUS --ids --log-disable
--no-escape --no-bos` minus that of the same command on a one-byte file (process start + vocabulary
load). headroom: `examples/bench` (in-process; thread CPU time). Python `tokenizers`: a
`tokenizers.Tokenizer` rebuilt from the GGUF's tokens and merges with the model's original Hugging
Face pre-tokenizer regex (BPE vocabularies only), `encode` on the whole corpus (process CPU time).
"""
import resource
import json
import os
import subprocess
import sys
import tempfile
import time

bin_dir, corpus, threads, fixtures = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
VOCABS = ["qwen2", "llama-bpe", "gpt-2", "deepseek-coder", "falcon", "llama-spm", "phi-3", "bert-bge"]

# Original Hugging Face pre-tokenizer patterns (as quoted in llama.cpp src/llama-vocab.cpp comments).
HF_PATTERNS = {
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "llama-bpe": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "gpt-2": None,  # ByteLevel's built-in GPT-2 regex
}


def best(runs, function):
    times = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best_cpu(runs, function):
    """Best CPU time of `function` (its own CPU time plus its children's)."""
    times = []
    result = None
    for _ in range(runs):
        start = time.process_time() + children_cpu()
        result = function()
        times.append(time.process_time() + children_cpu() - start)
    return min(times), result


def llama_tokenize(vocab, path):
    command = [os.path.join(bin_dir, "llama-tokenize"), "-m", vocab, "-f", path, "--ids", "--log-disable", "--no-escape", "--no-bos"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def hf_tokenizer(vocab_path, name):
    from gguf import GGUFReader
    from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers

    reader = GGUFReader(vocab_path)
    field = reader.fields["tokenizer.ggml.tokens"]
    tokens = [bytes(field.parts[i]).decode("utf-8") for i in field.data]
    field = reader.fields["tokenizer.ggml.merges"]
    merges = [tuple(bytes(field.parts[i]).decode("utf-8").split(" ", 1)) for i in field.data]
    field = reader.fields["tokenizer.ggml.token_type"]
    types = [int(field.parts[i][0]) for i in field.data]
    vocab = {token: index for index, token in enumerate(tokens)}
    model = models.BPE(vocab=vocab, merges=merges, ignore_merges=(name == "llama-bpe"))
    tokenizer = Tokenizer(model)
    pattern = HF_PATTERNS[name]
    if pattern is None:
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    # Control (3) and user-defined (4) tokens match verbatim, like parse_special.
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, k in zip(tokens, types) if k in (3, 4)])
    return tokenizer


text = open(corpus, encoding="utf-8", newline="").read()
size = len(text.encode("utf-8"))
with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as tiny:
    tiny.write("a")
print(f"corpus: {size} bytes; threads for count_parallel: {threads}; cpu cores: {os.cpu_count()}")
print()
print("| vocabulary | tokens | llama-tokenize MB/s | headroom MB/s (1 thread) | headroom / llama.cpp | headroom count_parallel MB/s (wall) | Python tokenizers MB/s | headroom load ms (CPU, median; wall) |")
print("|---|---|---|---|---|---|---|---|")
for name in VOCABS:
    vocab = os.path.join(fixtures, f"ggml-vocab-{name}.gguf")
    full_seconds, output = best_cpu(3, lambda: llama_tokenize(vocab, corpus))
    load_seconds, _ = best_cpu(3, lambda: llama_tokenize(vocab, tiny.name))
    llama_tokens = output.count(",") + 1
    llama_seconds = max(full_seconds - load_seconds, 1e-9)
    ours = json.loads(subprocess.run(["target/release/examples/bench", vocab, corpus, str(threads)], check=True, capture_output=True, text=True).stdout)
    python_cell = "n/a (not BPE)"
    if name in HF_PATTERNS:
        tokenizer = hf_tokenizer(vocab, name)
        python_seconds, encoding = best_cpu(3, lambda: tokenizer.encode(text, add_special_tokens=False))
        agree = "same count" if len(encoding.ids) == ours["tokens"] else f"{len(encoding.ids)} tokens"
        python_cell = f"{size / python_seconds / 1e6:.2f} ({agree})"
    same = "" if llama_tokens == ours["tokens"] else f" (llama.cpp: {llama_tokens})"
    print(
        f"| {name} | {ours['tokens']}{same} | {size / llama_seconds / 1e6:.2f} | {size / ours['encode_cpu_seconds'] / 1e6:.2f} | "
        f"{llama_seconds / ours['encode_cpu_seconds']:.1f}x | {size / ours['count_parallel_seconds'] / 1e6:.2f} | {python_cell} | "
        f"{ours['median_load_cpu_ms']:.1f}; {ours['median_load_ms']:.1f} |"
    )
    sys.stdout.flush()
os.unlink(tiny.name)
