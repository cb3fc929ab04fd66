//! One log line to one event: strip the journal prefix, find the timestamp, classify.

use super::fields::{field, field_u64, parse_human_bytes};
use super::{EventKind, MemoryKind, TruncationLayout};
use crate::duration::parse_go_duration_seconds;

/// Substring test: candidates by `memchr` on the needle's first byte, then a compare. Lines
/// are short, so this beats building a substring searcher per call.
fn has(haystack: &str, needle: &str) -> bool {
    find(haystack, needle).is_some()
}

/// Byte offset of a substring (see [`has`]).
fn find(haystack: &str, needle: &str) -> Option<usize> {
    let haystack = haystack.as_bytes();
    let needle = needle.as_bytes();
    let (&first, rest) = needle.split_first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    memchr::memchr_iter(first, &haystack[..=last_start])
        .find(|&start| &haystack[start + 1..start + needle.len()] == rest)
}

/// Longest message kept in an event.
const MAX_MESSAGE_CHARS: usize = 300;

/// Parses one line into its timestamp and event; `None` for lines that say nothing we track.
pub fn parse_line(line: &str) -> Option<(Option<String>, EventKind)> {
    parse_candidate(line, None)
}

/// Which part of the classifier a needle belongs to: when the scanner already knows the
/// leftmost needle of a line, only that part runs (the leftmost needle decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    Truncation,
    TooLong,
    Messages,
    Reduced,
    TooLarge,
    DefaultContext,
    Runner,
    Load,
    Fits,
    Offload,
    Layers,
    Memory,
    Buffer,
    KvSummary,
    Parameter,
    Started,
    Listening,
    OutOfMemory,
    Unload,
    Gin,
}

/// The group of a needle of [`super::NEEDLES`].
pub(crate) fn group_of(needle: &str) -> Group {
    match needle {
        "[GIN]" => Group::Gin,
        "truncating input prompt" | "input truncated" => Group::Truncation,
        "prompt is longer than the context length"
        | "input length exceeds the context length"
        | "exceeds the available context size"
        | "is larger than the max context size" => Group::TooLong,
        "truncating input messages" | "truncating native chat messages" => Group::Messages,
        "reducing automatic context" => Group::Reduced,
        "requested context size too large" => Group::TooLarge,
        "vram-based default context" => Group::DefaultContext,
        "starting llama server" | "starting llama-server" => Group::Runner,
        "msg=load " => Group::Load,
        "new model will fit" => Group::Fits,
        "msg=offload " | "msg=\"offload to " => Group::Offload,
        "layers to GPU" => Group::Layers,
        "msg=\"model weights\""
        | "msg=\"kv cache\""
        | "msg=\"compute graph\""
        | "msg=\"total memory\"" => Group::Memory,
        "buffer size =" => Group::Buffer,
        "KV self size" | "kv_cache: size =" | "kv_cache_unified: size =" => Group::KvSummary,
        ": n_ctx" | ": n_batch" | ": n_ubatch" | ": n_seq_max" | ": flash_attn" => Group::Parameter,
        "started in" => Group::Started,
        "Listening on" => Group::Listening,
        "unload completed" | "unloading" | "expiring to unload" | ", evicting"
        | "evicting all other" => Group::Unload,
        _ => Group::OutOfMemory,
    }
}

/// Parses a line the scanner flagged; `group` (from the leftmost needle) narrows the work.
pub(crate) fn parse_candidate(
    line: &str,
    group: Option<Group>,
) -> Option<(Option<String>, EventKind)> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (journal_time, payload) = strip_journal_prefix(line);
    let gin = if group.is_none_or(|group| group == Group::Gin) {
        find(payload, "[GIN]")
    } else {
        None
    };
    if let Some(index) = gin {
        let (time, kind) = parse_gin(&payload[index..])?;
        return Some((time.or(journal_time), kind));
    }
    let timestamp = if payload.starts_with("time=") {
        field(payload, "time").map(|time| time.into_owned())
    } else if payload.starts_with('{') {
        json_number(payload, "timestamp").map(|seconds| seconds.to_string())
    } else {
        None
    }
    .or(journal_time);
    let kind = match group {
        Some(group) => classify(payload, Some(group)).or_else(|| classify(payload, None)),
        None => classify(payload, None),
    }?;
    Some((timestamp, kind))
}

/// journalctl `short` (`Feb 18 11:15:03 host ollama[1234]: …`) and `short-iso`
/// (`2026-02-18T11:15:03+0000 host ollama[1234]: …`) prefixes.
fn strip_journal_prefix(line: &str) -> (Option<String>, &str) {
    let starts_like_time = line
        .as_bytes()
        .first()
        .is_some_and(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit());
    if !starts_like_time || line.starts_with("[GIN]") {
        return (None, line);
    }
    let window = &line[..line.len().min(200)];
    let Some(close) = find(window, "]: ") else {
        return (None, line);
    };
    let Some(open) = window[..close].rfind('[') else {
        return (None, line);
    };
    let pid = &window[open + 1..close];
    if pid.is_empty() || !pid.bytes().all(|byte| byte.is_ascii_digit()) {
        return (None, line);
    }
    let prefix = &line[..open];
    // timestamp, host and identifier: at least two spaces before the identifier.
    let Some(identifier_start) = prefix.rfind(' ') else {
        return (None, line);
    };
    let before_identifier = &prefix[..identifier_start];
    let Some(host_start) = before_identifier.rfind(' ') else {
        return (None, line);
    };
    let time = before_identifier[..host_start].trim().to_owned();
    (Some(time), &line[close + 3..])
}

/// `[GIN] 2026/02/18 - 11:15:03 | 500 |  5m0s |  127.0.0.1 | POST  "/api/chat"`, with or
/// without gin's ANSI colours.
fn parse_gin(line: &str) -> Option<(Option<String>, EventKind)> {
    let plain;
    let line = if line.contains('\u{1b}') {
        plain = strip_ansi(line);
        plain.as_str()
    } else {
        line
    };
    let mut parts = line.split('|');
    let time = parts.next()?.trim_start_matches("[GIN]").trim();
    let status: u16 = parts.next()?.trim().parse().ok()?;
    let latency_seconds = parse_go_duration_seconds(parts.next()?.trim());
    let client = parts.next()?.trim().to_owned();
    let request = parts.next()?.trim();
    let (method, path) = request.split_once(' ').unwrap_or((request, ""));
    let path = path.trim();
    let path = path
        .strip_prefix('"')
        .and_then(|path| path.strip_suffix('"'))
        .unwrap_or(path);
    Some((
        (!time.is_empty()).then(|| time.to_owned()),
        EventKind::Request {
            status,
            latency_seconds,
            client,
            method: method.trim().to_owned(),
            path: path.to_owned(),
        },
    ))
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut characters = line.chars();
    while let Some(character) = characters.next() {
        if character == '\u{1b}' {
            for inner in characters.by_ref() {
                if inner.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(character);
        }
    }
    out
}

/// An unsigned number after `"key":` in a JSON line (the C++ runner's log lines).
fn json_number(line: &str, key: &str) -> Option<u64> {
    let needle = format!("\"{key}\":");
    let start = line.find(&needle)? + needle.len();
    let rest = line[start..].trim_start();
    let end = rest
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The number in `(N tokens)` right after `marker`.
fn tokens_after(line: &str, marker: &str) -> Option<u64> {
    let start = line.find(marker)? + marker.len();
    let rest = line[start..].trim_start().strip_prefix('(')?;
    let end = rest.find(' ')?;
    rest[..end].parse().ok()
}

fn message(payload: &str) -> String {
    let text = field(payload, "msg").map_or_else(
        || payload.trim().to_owned(),
        |message| match field(payload, "error") {
            Some(error) => format!("{message}: {error}"),
            None => message.into_owned(),
        },
    );
    if text.chars().count() > MAX_MESSAGE_CHARS {
        text.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…"
    } else {
        text
    }
}

const OUT_OF_MEMORY: &[&str] = &[
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
];

const UNLOAD: &[&str] = &[
    "unload completed",
    "unloading",
    "expiring to unload",
    ", evicting",
    "evicting all other",
];

fn classify(payload: &str, group: Option<Group>) -> Option<EventKind> {
    let may = |wanted: Group| group.is_none_or(|group| group == wanted);
    if may(Group::Truncation) && has(payload, "truncating input prompt") {
        let prompt_tokens = field_u64(payload, "prompt");
        let new_tokens = field_u64(payload, "new");
        let (layout, keep_tokens) = match field_u64(payload, "numKeep") {
            Some(keep) => (TruncationLayout::NumKeep, Some(keep)),
            None => (TruncationLayout::KeepNew, field_u64(payload, "keep")),
        };
        return Some(EventKind::PromptTruncated {
            layout,
            limit_tokens: field_u64(payload, "limit"),
            prompt_tokens,
            keep_tokens,
            new_tokens,
            dropped_tokens: prompt_tokens
                .zip(new_tokens)
                .map(|(prompt, new)| prompt.saturating_sub(new)),
        });
    }
    if may(Group::Truncation)
        && payload.starts_with('{')
        && has(payload, "\"msg\":\"input truncated\"")
    {
        return Some(EventKind::PromptTruncated {
            layout: TruncationLayout::CppRunner,
            limit_tokens: json_number(payload, "n_ctx"),
            prompt_tokens: None,
            keep_tokens: json_number(payload, "n_keep"),
            new_tokens: None,
            dropped_tokens: json_number(payload, "n_erase"),
        });
    }
    if may(Group::TooLong) && has(payload, "exceeds the available context size") {
        return Some(EventKind::PromptTooLong {
            prompt_tokens: tokens_after(payload, "request"),
            context_tokens: tokens_after(payload, "available context size"),
            message: "exceeds the available context size".to_owned(),
        });
    }
    if may(Group::TooLong) && has(payload, "is larger than the max context size") {
        return Some(EventKind::PromptTooLong {
            prompt_tokens: tokens_after(payload, "input"),
            context_tokens: tokens_after(payload, "max context size"),
            message: "is larger than the max context size".to_owned(),
        });
    }
    for text in [
        "the prompt is longer than the context length",
        "the input length exceeds the context length",
    ] {
        if may(Group::TooLong) && has(payload, text) {
            return Some(EventKind::PromptTooLong {
                prompt_tokens: None,
                context_tokens: None,
                message: text.to_owned(),
            });
        }
    }
    if may(Group::Messages)
        && (has(payload, "truncating input messages")
            || has(payload, "truncating native chat messages"))
    {
        return Some(EventKind::MessagesTruncated {
            kept_messages: field_u64(payload, "truncated"),
        });
    }
    if may(Group::Reduced) && has(payload, "reducing automatic context") {
        return Some(EventKind::ContextReduced {
            old_num_ctx: field_u64(payload, "old_num_ctx"),
            new_num_ctx: field_u64(payload, "new_num_ctx"),
        });
    }
    if may(Group::TooLarge) && has(payload, "requested context size too large") {
        return Some(EventKind::ContextTooLargeForModel {
            num_ctx: field_u64(payload, "num_ctx"),
            trained_tokens: field_u64(payload, "n_ctx_train"),
        });
    }
    if may(Group::DefaultContext) && has(payload, "vram-based default context") {
        return Some(EventKind::DefaultContext {
            total_vram_bytes: field(payload, "total_vram")
                .and_then(|text| parse_human_bytes(&text)),
            default_num_ctx: field_u64(payload, "default_num_ctx"),
        });
    }
    if may(Group::Runner)
        && (has(payload, "starting llama server") || has(payload, "starting llama-server"))
    {
        return Some(runner_command(payload));
    }
    if may(Group::Load) && has(payload, "msg=load ") && has(payload, "request=") {
        let request = field(payload, "request").unwrap_or_default();
        return Some(EventKind::LoadRequest {
            operation: struct_field(&request, "Operation").map(str::to_owned),
            context_tokens: struct_field(&request, "KvSize").and_then(|value| value.parse().ok()),
            parallel: struct_field(&request, "Parallel").and_then(|value| value.parse().ok()),
            batch_tokens: struct_field(&request, "BatchSize").and_then(|value| value.parse().ok()),
            flash_attention: struct_field(&request, "FlashAttention").map(str::to_owned),
            kv_cache_type: struct_field(&request, "KvCacheType").map(str::to_owned),
        });
    }
    if may(Group::Fits) && has(payload, "new model will fit") {
        return Some(EventKind::ModelFits {
            parallel: field_u64(payload, "parallel"),
            required_bytes: field(payload, "required").and_then(|text| parse_human_bytes(&text)),
        });
    }
    if may(Group::Offload) && (has(payload, "msg=offload ") || has(payload, "msg=\"offload to ")) {
        let bytes = |key: &str| field(payload, key).and_then(|text| parse_human_bytes(&text));
        return Some(EventKind::OffloadPlan {
            library: field(payload, "library")
                .or_else(|| {
                    field(payload, "msg").filter(|message| message.starts_with("offload to "))
                })
                .map(|text| text.trim_start_matches("offload to ").to_owned()),
            layers_model: field_u64(payload, "layers.model"),
            layers_offload: field_u64(payload, "layers.offload"),
            required_full_bytes: bytes("memory.required.full"),
            required_kv_bytes: bytes("memory.required.kv"),
        });
    }
    if may(Group::Layers)
        && let Some(index) = find(payload, "offloaded ")
        && has(payload, "layers to GPU")
    {
        let rest = &payload[index + "offloaded ".len()..];
        let counts = rest.split(' ').next()?;
        let (offloaded, total) = counts.split_once('/')?;
        return Some(EventKind::LayersOffloaded {
            offloaded: offloaded.parse().ok()?,
            total: total.parse().ok()?,
        });
    }
    for (text, memory) in [
        ("msg=\"model weights\"", MemoryKind::Weights),
        ("msg=\"kv cache\"", MemoryKind::KvCache),
        ("msg=\"compute graph\"", MemoryKind::Compute),
        ("msg=\"total memory\"", MemoryKind::Total),
    ] {
        if may(Group::Memory) && has(payload, text) {
            return Some(EventKind::Memory {
                memory,
                device: field(payload, "device")
                    .or_else(|| field(payload, "buffer"))
                    .map(|text| text.into_owned()),
                bytes: parse_human_bytes(&field(payload, "size")?)?,
            });
        }
    }
    if may(Group::Buffer)
        && let Some(index) = find(payload, "buffer size =")
    {
        let before: Vec<&str> = payload[..index].split_whitespace().collect();
        let (memory, device_at) = match before.last().copied() {
            Some("KV") => (MemoryKind::KvCache, 2),
            Some("compute") => (MemoryKind::Compute, 2),
            Some("model") => (MemoryKind::Weights, 2),
            // 2024 builds: `llm_load_tensors:      CUDA0 buffer size = …` (weights).
            Some(_) if payload.trim_start().starts_with("llm_load_tensors:") => {
                (MemoryKind::Weights, 1)
            }
            _ => return None,
        };
        let device = before
            .len()
            .checked_sub(device_at)
            .filter(|at| *at > 0)
            .map(|at| before[at].to_owned());
        return Some(EventKind::Memory {
            memory,
            device,
            bytes: parse_human_bytes(payload[index + "buffer size =".len()..].trim())?,
        });
    }
    if may(Group::KvSummary)
        && let Some(index) = find(payload, "KV self size")
    {
        let rest = payload[index + "KV self size".len()..]
            .trim_start()
            .strip_prefix('=')?;
        return Some(kv_summary(rest));
    }
    if may(Group::KvSummary)
        && let Some(index) =
            find(payload, "kv_cache: size =").or_else(|| find(payload, "kv_cache_unified: size ="))
    {
        let rest = &payload[index..];
        let rest = &rest[rest.find('=')? + 1..];
        return Some(kv_summary(rest));
    }
    if may(Group::Parameter)
        && let Some(kind) = context_parameter(payload)
    {
        return Some(kind);
    }
    if may(Group::Started)
        && let Some(index) = find(payload, "started in")
    {
        let rest = payload[index + "started in".len()..].trim_start();
        let seconds = rest
            .split(' ')
            .next()
            .and_then(|number| number.parse().ok());
        if has(payload, "runner started") || has(payload, "llama-server started") {
            return Some(EventKind::RunnerStarted { seconds });
        }
    }
    if may(Group::Listening)
        && let Some(index) = find(payload, "Listening on ")
    {
        let rest = payload[index + "Listening on ".len()..].trim_end_matches('"');
        let (address, version) = match rest.split_once(" (version ") {
            Some((address, version)) => (address, Some(version.trim_end_matches(')').to_owned())),
            None => (rest, None),
        };
        return Some(EventKind::ServerStarted {
            address: Some(address.to_owned()),
            version,
        });
    }
    if may(Group::OutOfMemory) && OUT_OF_MEMORY.iter().any(|text| has(payload, text)) {
        return Some(EventKind::OutOfMemory {
            message: message(payload),
        });
    }
    if may(Group::Unload)
        && UNLOAD.iter().any(|text| has(payload, text))
        && !has(payload, "evicting cache slot")
    {
        return Some(EventKind::Unload {
            message: message(payload),
        });
    }
    None
}

/// `Key:value` inside Go's `%+v` of a struct (`{Operation:commit Parallel:1 …}`).
fn struct_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("{key}:");
    let mut from = 0;
    while let Some(found) = text[from..].find(&needle) {
        let start = from + found;
        from = start + needle.len();
        let boundary = start == 0 || matches!(text.as_bytes()[start - 1], b' ' | b'{');
        if !boundary {
            continue;
        }
        let rest = &text[from..];
        let end = rest.find([' ', '}']).unwrap_or(rest.len());
        return Some(&rest[..end]);
    }
    None
}

fn runner_command(payload: &str) -> EventKind {
    let command = field(payload, "cmd").unwrap_or_default();
    let words: Vec<&str> = command.split_whitespace().collect();
    let llama_server = has(payload, "starting llama-server");
    let value_of = |names: &[&str]| {
        words
            .iter()
            .position(|word| names.contains(word))
            .and_then(|index| words.get(index + 1).copied())
    };
    let number = |names: &[&str]| value_of(names).and_then(|value| value.parse::<u64>().ok());
    let flash_attention = if llama_server {
        value_of(&["--flash-attn", "-fa"]).map(str::to_owned)
    } else {
        words.contains(&"--flash-attn").then(|| "on".to_owned())
    };
    EventKind::RunnerStarting {
        context_tokens: number(&["--ctx-size", "-c"]),
        parallel: number(&["--parallel", "-np"]),
        batch_tokens: number(&["--batch-size", "-b"]),
        ubatch_tokens: number(&["--ubatch-size", "-ub"]),
        gpu_layers: value_of(&["--n-gpu-layers", "-ngl"]).and_then(|value| value.parse().ok()),
        flash_attention,
        kv_cache_type: value_of(&["--kv-cache-type", "--cache-type-k", "-ctk"]).map(str::to_owned),
        llama_server,
    }
}

fn kv_summary(rest: &str) -> EventKind {
    let bytes = parse_human_bytes(rest.split([',', '(']).next().unwrap_or_default()).unwrap_or(0);
    let cells = rest
        .find('(')
        .and_then(|open| rest[open + 1..].split_whitespace().next())
        .and_then(|number| number.parse().ok());
    let type_after = |marker: &str| {
        let start = rest.find(marker)? + marker.len();
        let end = rest[start..].find(')')?;
        Some(rest[start..start + end].to_owned())
    };
    EventKind::KvCacheSummary {
        bytes,
        cells,
        key_type: type_after("K ("),
        value_type: type_after("V ("),
    }
}

/// llama.cpp `func: key = value` context lines.
fn context_parameter(payload: &str) -> Option<EventKind> {
    let index = find(payload, ": n_").or_else(|| find(payload, ": flash_attn"))?;
    let rest = &payload[index + 2..];
    let (key, value) = rest.split_once('=')?;
    let key = key.trim();
    let value = value.trim();
    if key == "flash_attn" {
        return Some(EventKind::FlashAttention {
            value: value.to_owned(),
        });
    }
    if !matches!(
        key,
        "n_ctx" | "n_ctx_seq" | "n_ctx_per_seq" | "n_batch" | "n_ubatch" | "n_seq_max"
    ) {
        return None;
    }
    Some(EventKind::ContextParameter {
        key: key.to_owned(),
        value: value.parse().ok()?,
    })
}
