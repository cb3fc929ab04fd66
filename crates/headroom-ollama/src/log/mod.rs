//! Ollama server logs as typed events: prompt truncation, context overflow errors, model loads
//! and their memory figures, out-of-memory and context step-downs, unloads, HTTP requests.
//!
//! Accepted forms: `ollama serve` stderr, `server.log` (macOS, Windows; CRLF included) and
//! journalctl output (`Feb 18 11:15:03 host ollama[1234]: ...`, also `-o short-iso`), in every
//! runner era: the C++ ext_server of v0.3 and earlier (JSON lines), the Go runners of
//! v0.4–v0.29 (slog text `time=… level=… msg=…`), and the llama-server era from v0.30 (Ollama's
//! slog lines plus llama.cpp's own lines). The exact strings and where they come from are listed
//! on each [`EventKind`] variant.
//!
//! Speed and memory: [`LogEvents`] reads the input in 1 MiB blocks, finds candidate lines with
//! an Aho-Corasick search over the block (not line by line) and counts line breaks with
//! `memchr`; only lines holding a needle are parsed, and only by the part of the classifier
//! that needle belongs to. Events are produced lazily, one per `next()`, so memory stays
//! bounded by the block size (a line longer than a block is cut there and its rest read as a
//! new line).

mod fields;
mod parse;

use std::io::{self, BufRead};

use aho_corasick::{AhoCorasick, MatchKind};
use serde::Serialize;

pub use fields::{field, parse_human_bytes};
pub use parse::parse_line;
use parse::{Group, group_of, parse_candidate};

/// Longest line kept whole; longer lines are cut (a multi-GB line must not exhaust memory).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Bytes read per block.
const BLOCK_BYTES: usize = 1 << 20;

/// The field layout of a `truncating input prompt` line, which changed between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TruncationLayout {
    /// ≤ v0.3.x C++ ext_server: JSON `"msg":"input truncated"` with `n_ctx, n_keep, n_left,
    /// n_shift, n_erase` (`llm/ext_server/server.cpp`).
    CppRunner,
    /// v0.4.0–v0.4.6 Go runner: `limit prompt numKeep` (`llama/runner/runner.go`).
    NumKeep,
    /// v0.4.7–v0.29 Go runners and v0.30+ `llm/llama_server.go`: `limit prompt keep new`.
    KeepNew,
}

/// Where a model's memory figure was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryKind {
    /// Weights (`model weights`, llama.cpp `model buffer size`).
    Weights,
    /// KV cache (`kv cache`, llama.cpp `KV buffer size`, `KV self size`, `llama_kv_cache: size`).
    KvCache,
    /// Compute graph (`compute graph`, llama.cpp `compute buffer size`).
    Compute,
    /// Total (`total memory`).
    Total,
}

/// What one log line says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The prompt did not fit and its middle was dropped.
    /// v0.4.0+: `msg="truncating input prompt" limit=… prompt=… keep=… new=…`
    /// (`runner/llamarunner/runner.go`, `runner/ollamarunner/runner.go`, `llm/llama_server.go`);
    /// ≤ v0.3: JSON `"msg":"input truncated"`.
    PromptTruncated {
        /// Field layout (tells the era).
        layout: TruncationLayout,
        /// `limit` (Go) or `n_ctx` (C++): the context the prompt had to fit.
        limit_tokens: Option<u64>,
        /// `prompt`: tokens before truncation (absent in the C++ layout).
        prompt_tokens: Option<u64>,
        /// `keep`/`numKeep`/`n_keep`: head tokens always kept.
        keep_tokens: Option<u64>,
        /// `new`: tokens after truncation (v0.4.7+).
        new_tokens: Option<u64>,
        /// `n_erase` (C++) or `prompt - new`: tokens dropped.
        dropped_tokens: Option<u64>,
    },
    /// The request was refused because the prompt is longer than the context:
    /// v0.30+ `the prompt is longer than the context length currently available to the model`
    /// (HTTP 400, `llm/llama_server.go`), v0.4–v0.29 `the input length exceeds the context
    /// length` (runners), llama-server `request (N tokens) exceeds the available context size
    /// (M tokens)` and `input (N tokens) is larger than the max context size (M tokens)`
    /// (`tools/server/server-context.cpp`).
    PromptTooLong {
        /// Prompt tokens, where the line says.
        prompt_tokens: Option<u64>,
        /// Context tokens, where the line says.
        context_tokens: Option<u64>,
        /// Which message it was.
        message: String,
    },
    /// Chat history was cut to fit before tokenising (`server/prompt.go`, DEBUG level):
    /// `truncating input messages which exceed context length` `truncated=N`.
    MessagesTruncated {
        /// Messages kept.
        kept_messages: Option<u64>,
    },
    /// Ollama started a runner: `msg="starting llama server" cmd="… --ctx-size 8192
    /// --batch-size 512 --n-gpu-layers 33 --parallel 4 …"` (v0.1–v0.29, `llm/server.go`) or
    /// `msg="starting llama-server" cmd="… -c 16384 -np 4 -b 512 -ub 512 …"` (v0.30+,
    /// `llm/llama_server.go`). `context_tokens` is the total over all slots.
    RunnerStarting {
        /// `--ctx-size`/`-c`: KV cells over all slots.
        context_tokens: Option<u64>,
        /// `--parallel`/`-np`.
        parallel: Option<u64>,
        /// `--batch-size`/`-b`.
        batch_tokens: Option<u64>,
        /// `-ub` (v0.30+).
        ubatch_tokens: Option<u64>,
        /// `--n-gpu-layers`/`-ngl`.
        gpu_layers: Option<i64>,
        /// `--flash-attn` (flag before v0.30, `on|off|auto` after).
        flash_attention: Option<String>,
        /// `--kv-cache-type` or `--cache-type-k`.
        kv_cache_type: Option<String>,
        /// True for the v0.30+ llama-server command line.
        llama_server: bool,
    },
    /// The Go runner's load request (v0.12+ `msg=load request="{Operation:commit … Parallel:1
    /// BatchSize:512 FlashAttention:true KvSize:8192 KvCacheType:q8_0 …}"`, `llm/server.go`).
    LoadRequest {
        /// `Operation` (fit, alloc, commit).
        operation: Option<String>,
        /// `KvSize`: KV cells over all slots.
        context_tokens: Option<u64>,
        /// `Parallel`.
        parallel: Option<u64>,
        /// `BatchSize`.
        batch_tokens: Option<u64>,
        /// `FlashAttention`.
        flash_attention: Option<String>,
        /// `KvCacheType` (empty = f16).
        kv_cache_type: Option<String>,
    },
    /// v0.1–v0.11 scheduler fit: `msg="new model will fit in available VRAM…, loading"
    /// … parallel=4 … required="6.2 GiB"` (`server/sched.go`, later `llm/memory.go`).
    ModelFits {
        /// `parallel`.
        parallel: Option<u64>,
        /// `required` in bytes.
        required_bytes: Option<u64>,
    },
    /// v0.1–v0.12 offload plan: `msg=offload library=cuda layers.requested=-1
    /// layers.model=33 layers.offload=33 … memory.required.full="5.5 GiB" memory.required.kv=…`
    /// (`llm/memory.go`).
    OffloadPlan {
        /// `library`.
        library: Option<String>,
        /// `layers.model`.
        layers_model: Option<u64>,
        /// `layers.offload`.
        layers_offload: Option<u64>,
        /// `memory.required.full` in bytes.
        required_full_bytes: Option<u64>,
        /// `memory.required.kv` in bytes.
        required_kv_bytes: Option<u64>,
    },
    /// `offloaded X/Y layers to GPU` (llama.cpp `load_tensors`/`llm_load_tensors`, Ollama
    /// engine `ml/backend/ggml/ggml.go`).
    LayersOffloaded {
        /// Layers on the GPU.
        offloaded: u64,
        /// Offloadable layers (blocks + output).
        total: u64,
    },
    /// A memory figure of a load: Ollama's `model weights`/`kv cache`/`compute graph`/`total
    /// memory` (`ml/device.go`, v0.12+) or llama.cpp's buffer size lines.
    Memory {
        /// Which part.
        memory: MemoryKind,
        /// Device or buffer name (`CUDA0`, `CPU`, `Metal`…), when given.
        device: Option<String>,
        /// Size in bytes.
        bytes: u64,
    },
    /// llama.cpp context parameters: `llama_context: n_ctx = 8192`, `n_ctx_seq`/`n_ctx_per_seq`,
    /// `llama_new_context_with_model: n_ctx = …` (older), `n_batch`, `n_ubatch`.
    ContextParameter {
        /// The key (`n_ctx`, `n_ctx_seq`, `n_ctx_per_seq`, `n_batch`, `n_ubatch`, `n_seq_max`).
        key: String,
        /// Its value.
        value: u64,
    },
    /// llama.cpp `flash_attn = 0|1|auto|enabled|disabled`.
    FlashAttention {
        /// As printed.
        value: String,
    },
    /// llama.cpp KV cache summary: `llama_kv_cache: size = 1024.00 MiB (8192 cells, 32 layers,
    /// 1/1 seqs), K (f16): …` (also `llama_kv_cache_unified:`), or the older
    /// `KV self size = … MiB, K (f16): …`.
    KvCacheSummary {
        /// Total KV bytes.
        bytes: u64,
        /// Cells, when printed.
        cells: Option<u64>,
        /// K type.
        key_type: Option<String>,
        /// V type.
        value_type: Option<String>,
    },
    /// The runner is ready: `llama runner started in 3.02 seconds` (≤ v0.29) or
    /// `llama-server started in …` (v0.30+).
    RunnerStarted {
        /// Load time.
        seconds: Option<f64>,
    },
    /// The configured context is above the trained one (v0.9.3+ `llm/server.go`):
    /// `msg="requested context size too large for model" num_ctx=… n_ctx_train=…`.
    ContextTooLargeForModel {
        /// `num_ctx` asked.
        num_ctx: Option<u64>,
        /// `n_ctx_train`.
        trained_tokens: Option<u64>,
    },
    /// v0.15.5+: `msg="vram-based default context" total_vram="…" default_num_ctx=…`.
    DefaultContext {
        /// `total_vram` in bytes.
        total_vram_bytes: Option<u64>,
        /// `default_num_ctx`.
        default_num_ctx: Option<u64>,
    },
    /// Out of memory: Ollama's `llm/status.go` substrings (`out of memory`, `cudaMalloc
    /// failed`, `failed to allocate`, …) and `model requires more system memory (X) than is
    /// available (Y)` (v0.12+ `llm/server.go`).
    OutOfMemory {
        /// The line's message.
        message: String,
    },
    /// v0.30+: `llama-server load failed; reducing automatic context and retrying once`
    /// `old_num_ctx=… new_num_ctx=…` (`server/sched.go`).
    ContextReduced {
        /// `old_num_ctx`.
        old_num_ctx: Option<u64>,
        /// `new_num_ctx`.
        new_num_ctx: Option<u64>,
    },
    /// A model is unloaded or evicted (`server/sched.go`: `unloading`, `unload completed`,
    /// `expiring to unload`, `…, evicting`; mostly DEBUG level).
    Unload {
        /// The line's message.
        message: String,
    },
    /// `Listening on 127.0.0.1:11434 (version 0.15.5)` (`server/routes.go Serve`).
    ServerStarted {
        /// Address.
        address: Option<String>,
        /// Version.
        version: Option<String>,
    },
    /// A GIN request line: `[GIN] 2026/02/18 - 11:15:03 | 500 |  5m0s | 127.0.0.1 | POST
    /// "/api/chat"` (gin's default logger; latency is a Go duration).
    Request {
        /// HTTP status.
        status: u16,
        /// Latency in seconds.
        latency_seconds: Option<f64>,
        /// Client address.
        client: String,
        /// Method.
        method: String,
        /// Path.
        path: String,
    },
}

/// One event with where it was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// 1-based line number in the input.
    pub line: u64,
    /// The timestamp as written on the line (`time=` value, GIN time, journal prefix, or the
    /// C++ runner's unix `timestamp`), when there is one.
    pub timestamp: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The needles that make a line worth parsing. Order matters only for overlapping needles at
/// the same position (leftmost-first).
pub(crate) const NEEDLES: &[&str] = &[
    "[GIN]",
    "truncating input prompt",
    "input truncated",
    "prompt is longer than the context length",
    "input length exceeds the context length",
    "exceeds the available context size",
    "is larger than the max context size",
    "truncating input messages",
    "truncating native chat messages",
    "starting llama server",
    "starting llama-server",
    "msg=load ",
    "new model will fit",
    "msg=offload ",
    "msg=\"offload to ",
    "layers to GPU",
    "msg=\"model weights\"",
    "msg=\"kv cache\"",
    "msg=\"compute graph\"",
    "msg=\"total memory\"",
    "buffer size =",
    "KV self size",
    "kv_cache: size =",
    "kv_cache_unified: size =",
    ": n_ctx",
    ": n_batch",
    ": n_ubatch",
    ": n_seq_max",
    ": flash_attn",
    "started in",
    "requested context size too large",
    "vram-based default context",
    "reducing automatic context",
    "out of memory",
    "out of device memory",
    "cudaMalloc failed",
    "hipMalloc failed",
    "failed to allocate",
    "allocation failed",
    "not enough memory",
    "insufficient memory",
    "ErrorOutOfDeviceMemory",
    "requires more system memory",
    "unload completed",
    "unloading",
    "expiring to unload",
    ", evicting",
    "evicting all other",
    "Listening on",
];

fn matcher() -> io::Result<AhoCorasick> {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(NEEDLES)
        .map_err(io::Error::other)
}

/// A streaming iterator of events over any `BufRead`.
pub struct LogEvents<R> {
    reader: R,
    matcher: AhoCorasick,
    groups: Vec<Group>,
    buffer: Vec<u8>,
    /// `buffer[..complete]` holds whole lines being scanned.
    complete: usize,
    /// Scan position inside `buffer[..complete]`.
    position: usize,
    /// Line breaks before `counted_to` are already counted in `line`.
    counted_to: usize,
    /// Line number at `counted_to`.
    line: u64,
    finished: bool,
    /// Bytes consumed so far (for throughput reports).
    bytes_read: u64,
}

impl<R: BufRead> LogEvents<R> {
    /// Starts reading a log.
    pub fn new(reader: R) -> io::Result<Self> {
        Ok(Self {
            reader,
            matcher: matcher()?,
            groups: NEEDLES.iter().map(|needle| group_of(needle)).collect(),
            buffer: Vec::with_capacity(BLOCK_BYTES + 4096),
            complete: 0,
            position: 0,
            counted_to: 0,
            line: 1,
            finished: false,
            bytes_read: 0,
        })
    }

    /// Bytes read from the input so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Drops the scanned lines and reads the next block; false at the end of input.
    fn fill(&mut self) -> io::Result<bool> {
        self.line +=
            memchr::memchr_iter(b'\n', &self.buffer[self.counted_to..self.complete]).count() as u64;
        self.buffer.drain(..self.complete);
        self.complete = 0;
        self.position = 0;
        self.counted_to = 0;
        if self.finished {
            return Ok(false);
        }
        while self.buffer.len() < BLOCK_BYTES {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if available.is_empty() {
                self.finished = true;
                break;
            }
            let take = available.len().min(BLOCK_BYTES + 4096 - self.buffer.len());
            self.buffer.extend_from_slice(&available[..take]);
            self.reader.consume(take);
            self.bytes_read += take as u64;
        }
        self.complete = if self.finished {
            self.buffer.len()
        } else {
            match memchr::memrchr(b'\n', &self.buffer) {
                Some(last) => last + 1,
                // A line longer than a block: cut it here; its rest reads as a new line.
                None => self.buffer.len(),
            }
        };
        Ok(self.complete > 0 || !self.finished)
    }

    /// The next event in `buffer[position..complete]`, if any.
    fn scan_next(&mut self) -> Option<Event> {
        let end = self.complete;
        while self.position < end {
            let region = &self.buffer[..end];
            let found = self
                .matcher
                .find(aho_corasick::Input::new(region).span(self.position..end))?;
            let start = memchr::memrchr(b'\n', &region[self.position..found.start()])
                .map_or(self.position, |index| self.position + index + 1);
            let line_end = memchr::memchr(b'\n', &region[found.start()..])
                .map_or(end, |index| found.start() + index);
            self.line += memchr::memchr_iter(b'\n', &region[self.counted_to..start]).count() as u64;
            self.counted_to = start;
            self.position = line_end + 1;
            let text = &region[start..line_end.min(start + MAX_LINE_BYTES)];
            let text = match std::str::from_utf8(text) {
                Ok(text) => std::borrow::Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(text),
            };
            let group = self.groups.get(found.pattern().as_usize()).copied();
            if let Some((timestamp, kind)) = parse_candidate(&text, group) {
                return Some(Event {
                    line: self.line,
                    timestamp,
                    kind,
                });
            }
        }
        None
    }
}

impl<R: BufRead> Iterator for LogEvents<R> {
    type Item = io::Result<Event>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(event) = self.scan_next() {
                return Some(Ok(event));
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(error) => {
                    self.finished = true;
                    self.buffer.clear();
                    self.complete = 0;
                    self.position = 0;
                    self.counted_to = 0;
                    return Some(Err(error));
                }
            }
        }
    }
}

/// Parses a whole log held in memory (tests, small files).
pub fn parse_log(text: &str) -> Vec<Event> {
    match LogEvents::new(text.as_bytes()) {
        Ok(events) => events.filter_map(Result::ok).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
