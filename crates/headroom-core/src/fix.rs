//! What the doctor prescribes, computed from the analysis, and the careful writing of it: a
//! Modelfile with the right `num_ctx` (edited losslessly: every other line kept byte for
//! byte), an honest tag and the `ollama create` command, the client timeout with its margin,
//! server settings (slots, KV cache type). Writes are atomic (temp file + rename in the same
//! directory), keep a backup of what they replace, and refuse when the target changed since it
//! was read.

use std::io::Write;
use std::path::{Path, PathBuf};

use headroom_ollama::Modelfile;
use headroom_ollama::context::Endpoint;
use serde::Serialize;

use crate::doctor::Analysis;
use crate::doctor::analysis::KV_TYPES;
use crate::doctor::format;
use crate::quant::TensorType;

/// Margin added to the measured prefill time when a client timeout is set: the answer still
/// has to be generated after the prompt is read, and prefill slows as the context fills
/// (attention work grows with position; ../shared/truth/measured-throughput.csv shows
/// gpt-oss-20b on a DGX Spark at 4,506 tokens/s at depth 0 and 3,450 at depth 16,384). 25% is
/// a judgment, not a measurement; the report says so.
pub const TIMEOUT_MARGIN: f64 = 0.25;

/// Why a fix cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    /// The file changed between reading and writing.
    #[error(
        "{path}: changed since it was read; run the command again to prescribe from the new content"
    )]
    ChangedSinceRead {
        /// The file.
        path: PathBuf,
    },
    /// The backup name is taken.
    #[error("{path}: a backup with this name already exists; refusing to overwrite it")]
    BackupExists {
        /// The backup path.
        path: PathBuf,
    },
    /// A file appeared where a new one was to be created.
    #[error("{path}: exists, refusing to overwrite a file that was not read")]
    Exists {
        /// The path.
        path: PathBuf,
    },
    /// The Modelfile edit was refused.
    #[error("{path}: cannot set num_ctx")]
    Edit {
        /// The Modelfile.
        path: PathBuf,
        /// Why.
        #[source]
        source: headroom_ollama::modelfile::EditError,
    },
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The window to configure.
#[derive(Debug, Clone)]
pub struct ContextTarget {
    /// `num_ctx`: tokens per request.
    pub per_slot_tokens: u64,
    /// KV cache type that makes it fit.
    pub kv_type: TensorType,
    /// Slots assumed.
    pub parallel: u64,
    /// Smaller than wanted because memory does not hold more.
    pub limited_by_memory: bool,
    /// Why this number, in words.
    pub reason: String,
}

/// Slots to run: one when the client sends one request at a time (or says nothing), else the
/// configured count.
pub fn recommended_parallel(analysis: &Analysis<'_>) -> u64 {
    let client_parallel = analysis
        .facts
        .client
        .as_ref()
        .and_then(|client| client.parallel_requests.as_ref())
        .map(|parallel| parallel.value.max(1));
    match client_parallel {
        Some(requests) if requests >= analysis.parallel => analysis.parallel,
        _ => 1,
    }
}

/// The window the doctor prescribes: the trained length when it fits memory (with the
/// configured KV type, else the first lower-precision type that makes it fit), else the
/// largest that fits. On `/v1` with a `num_ctx` the client asked for, that number (capped at
/// the trained length).
pub fn target_context(analysis: &Analysis<'_>) -> Option<ContextTarget> {
    let need = analysis.largest_prompt().map(|prompt| prompt.value);
    let ceiling = analysis
        .trained_tokens
        .or_else(|| need.map(|tokens| (tokens + tokens / 4).div_ceil(4096) * 4096))?;
    let client_num_ctx = analysis
        .facts
        .client
        .as_ref()
        .and_then(|client| client.num_ctx.as_ref())
        .map(|num_ctx| num_ctx.value);
    let (wanted, why) = match client_num_ctx {
        Some(requested) if analysis.endpoint == Endpoint::OpenAiCompatible => (
            requested.min(ceiling),
            format!(
                "the {} tokens the client asks for",
                format::tokens(requested.min(ceiling))
            ),
        ),
        _ if analysis.trained_tokens.is_some() => (
            ceiling,
            format!("the trained length, {} tokens", format::tokens(ceiling)),
        ),
        _ => (
            ceiling,
            format!(
                "the largest prompt seen plus 25%, rounded up to 4,096: {} tokens",
                format::tokens(ceiling)
            ),
        ),
    };
    let parallel = recommended_parallel(analysis);
    let Some(memory) = &analysis.memory else {
        return Some(ContextTarget {
            per_slot_tokens: wanted,
            kv_type: analysis.kv_type,
            parallel,
            limited_by_memory: false,
            reason: format!("{why} (memory not checked: no model header or machine)"),
        });
    };
    let single = parallel == 1;
    let start = KV_TYPES
        .iter()
        .position(|kv| *kv == analysis.kv_type)
        .unwrap_or(0);
    for kv in &KV_TYPES[start..] {
        if memory
            .largest_per_slot(*kv, single)
            .is_some_and(|fit| fit >= wanted / 256 * 256)
        {
            return Some(ContextTarget {
                per_slot_tokens: wanted,
                kv_type: *kv,
                parallel,
                limited_by_memory: false,
                reason: if *kv == analysis.kv_type {
                    format!("{why}; it fits in memory")
                } else {
                    format!("{why}; it fits with a {} KV cache", kv.name())
                },
            });
        }
    }
    // Nothing holds the wanted window: the largest that fits, preferring precision on ties.
    let best = KV_TYPES[start..]
        .iter()
        .enumerate()
        .filter_map(|(index, kv)| Some((memory.largest_per_slot(*kv, single)?, *kv, index)))
        .max_by(|left, right| left.0.cmp(&right.0).then(right.2.cmp(&left.2)))?;
    Some(ContextTarget {
        per_slot_tokens: best.0,
        kv_type: best.1,
        parallel,
        limited_by_memory: true,
        reason: format!(
            "{why} does not fit; {} tokens is the largest that does (KV cache {})",
            format::tokens(best.0),
            best.1.name()
        ),
    })
}

/// The client timeout to set.
#[derive(Debug, Clone, Serialize)]
pub struct TimeoutTarget {
    /// The prompt it is sized for (the largest seen, cut to the window).
    pub prompt_tokens: u64,
    /// Prefill rate used.
    pub tokens_per_second: f64,
    /// Seconds to read the prompt.
    pub read_seconds: f64,
    /// Recommended timeout: read time + [`TIMEOUT_MARGIN`], rounded up to whole minutes.
    pub recommended_seconds: u64,
}

/// The timeout for the largest prompt seen in a window of `window_tokens`.
pub fn timeout_target(analysis: &Analysis<'_>, window_tokens: u64) -> Option<TimeoutTarget> {
    let rate = analysis.prefill.as_ref()?.tokens_per_second;
    if rate <= 0.0 {
        return None;
    }
    let prompt_tokens = analysis.largest_prompt()?.value.min(window_tokens);
    let read_seconds = prompt_tokens as f64 / rate;
    let with_margin = read_seconds * (1.0 + TIMEOUT_MARGIN);
    let recommended_seconds = ((with_margin / 60.0).ceil() as u64).max(1) * 60;
    Some(TimeoutTarget {
        prompt_tokens,
        tokens_per_second: rate,
        read_seconds,
        recommended_seconds,
    })
}

/// An honest tag: the base model name plus the window it is configured for
/// (`qwen3-coder:30b` + 262,144 → `qwen3-coder:30b-262k`). A size label already in the tag
/// (`v-128k`, `128k`) is replaced, not stacked.
pub fn honest_tag(base: &str, tokens: u64) -> String {
    let (name, tag) = base.split_once(':').unwrap_or((base, "latest"));
    let mut parts: Vec<&str> = tag.split('-').collect();
    let is_size = |part: &str| {
        part.strip_suffix(['k', 'K'])
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
    };
    while parts.last().is_some_and(|part| is_size(part)) {
        parts.pop();
        if parts.last() == Some(&"v") {
            parts.pop();
        }
    }
    let size = format::tag_size(tokens);
    let kept = parts.join("-");
    if kept.is_empty() || kept == "latest" {
        format!("{name}:{size}")
    } else {
        format!("{name}:{kept}-{size}")
    }
}

/// True when a FROM value names a model (not a path or a blob).
fn is_model_name(from: &str) -> bool {
    !(from.starts_with('/')
        || from.starts_with('.')
        || from.starts_with('~')
        || from.contains('\\')
        || from.contains("sha256")
        || from.ends_with(".gguf"))
}

/// One setting to change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The key (`timeout_seconds`, `OLLAMA_NUM_PARALLEL`).
    pub key: String,
    /// The current value, when set.
    pub from: Option<String>,
    /// The value to set.
    pub to: String,
    /// Why, with the arithmetic.
    pub why: String,
}

/// A file to write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileChange {
    /// Where.
    pub path: PathBuf,
    /// The content read (None: a new file).
    pub original: Option<String>,
    /// The content to write.
    pub text: String,
}

/// Everything the fix writes and prints.
#[derive(Debug, Clone, Serialize)]
pub struct Prescription {
    /// The window, with why.
    pub num_ctx: Option<u64>,
    /// Why that window.
    pub num_ctx_reason: Option<String>,
    /// The Modelfile to write.
    pub modelfile: Option<FileChange>,
    /// The tag to create.
    pub tag: Option<String>,
    /// `ollama create TAG -f PATH`.
    pub create_command: Option<String>,
    /// Client settings (also written to client.toml when the bundle has one).
    pub client: Vec<Change>,
    /// The rewritten client.toml.
    pub client_file: Option<FileChange>,
    /// Server environment.
    pub server: Vec<Change>,
    /// Anything else to say (what no setting can fix).
    pub notes: Vec<String>,
}

impl Prescription {
    /// True when nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.modelfile.is_none()
            && self.client.is_empty()
            && self.server.is_empty()
            && self.client_file.is_none()
    }
}

/// Computes the prescription. `directory` is where new files go (the bundle; the current
/// directory for a live server).
pub fn prescribe(analysis: &Analysis<'_>, directory: &Path) -> Result<Prescription, FixError> {
    let facts = analysis.facts;
    let mut prescription = Prescription {
        num_ctx: None,
        num_ctx_reason: None,
        modelfile: None,
        tag: None,
        create_command: None,
        client: Vec::new(),
        client_file: None,
        server: Vec::new(),
        notes: Vec::new(),
    };
    let target = target_context(analysis);
    let mut window = analysis.num_ctx_tokens;
    if let Some(target) = &target {
        let openai_request = analysis.endpoint == Endpoint::OpenAiCompatible
            && facts
                .client
                .as_ref()
                .is_some_and(|client| client.num_ctx.is_some())
            && facts
                .modelfile
                .as_ref()
                .and_then(|modelfile| modelfile.num_ctx.as_ref())
                .is_none_or(|num_ctx| num_ctx.value != target.per_slot_tokens);
        // Raise the window only when prompts need more (a smaller window chosen on purpose is
        // left alone); lower it when it does not fit.
        let prompts_need_more = analysis
            .largest_prompt()
            .is_some_and(|prompt| prompt.value > analysis.num_ctx_tokens);
        let changes_window = openai_request
            || (target.per_slot_tokens > analysis.num_ctx_tokens && prompts_need_more)
            || target.per_slot_tokens < analysis.num_ctx_tokens;
        if changes_window {
            window = target.per_slot_tokens;
            prescription.num_ctx = Some(target.per_slot_tokens);
            prescription.num_ctx_reason = Some(target.reason.clone());
            let value = target.per_slot_tokens.to_string();
            let (path, original, mut modelfile) = match &facts.modelfile {
                Some(existing) => (
                    PathBuf::from(&existing.path),
                    Some(existing.modelfile.text().to_owned()),
                    existing.modelfile.clone(),
                ),
                None => {
                    let from = facts.model_name().unwrap_or("MODEL");
                    let path = directory.join("Modelfile");
                    let modelfile = Modelfile::parse(&format!("FROM {from}\n"))
                        .map_err(|_| FixError::Exists { path: path.clone() })?;
                    (path, None, modelfile)
                }
            };
            modelfile
                .set_parameter("num_ctx", &value)
                .map_err(|source| FixError::Edit {
                    path: path.clone(),
                    source,
                })?;
            let base = modelfile
                .from()
                .filter(|from| is_model_name(from))
                .or(facts.model_name())
                .unwrap_or("model")
                .to_owned();
            let tag = honest_tag(&base, target.per_slot_tokens);
            prescription.create_command =
                Some(format!("ollama create {tag} -f {}", path.display()));
            prescription.tag = Some(tag.clone());
            prescription.modelfile = Some(FileChange {
                path,
                original,
                text: modelfile.text().to_owned(),
            });
            if let Some(model) = facts
                .client
                .as_ref()
                .and_then(|client| client.model.as_ref())
                && model.value != tag
            {
                prescription.client.push(Change {
                    key: "model".to_owned(),
                    from: Some(model.value.clone()),
                    to: tag.clone(),
                    why: format!(
                        "request the model created with num_ctx {value}; the tag says the window it really has"
                    ),
                });
            }
        }
        if target.kv_type != analysis.kv_type {
            prescription.server.push(Change {
                key: "OLLAMA_KV_CACHE_TYPE".to_owned(),
                from: analysis.environment.kv_cache_type.clone(),
                to: target.kv_type.name().to_owned(),
                why: format!(
                    "the {} window fits only with a {} KV cache",
                    format::tokens(target.per_slot_tokens),
                    target.kv_type.name()
                ),
            });
            if analysis.environment.flash_attention != Some(true) {
                prescription.server.push(Change {
                    key: "OLLAMA_FLASH_ATTENTION".to_owned(),
                    from: analysis.environment.flash_attention.map(|on| on.to_string()),
                    to: "1".to_owned(),
                    why: "a quantized KV cache needs flash attention (llama.cpp refuses a quantized V cache without it)".to_owned(),
                });
            }
        }
        if target.parallel != analysis.parallel {
            prescription.server.push(Change {
                key: "OLLAMA_NUM_PARALLEL".to_owned(),
                from: Some(analysis.parallel.to_string()),
                to: target.parallel.to_string(),
                why: format!(
                    "each slot allocates the whole window's KV cache; the client sends {} request{} at a time",
                    target.parallel,
                    if target.parallel == 1 { "" } else { "s" }
                ),
            });
        }
        if target.limited_by_memory {
            prescription.notes.push(format!(
                "{}; prompts longer than that need more memory or another model: `headroom plan`",
                target.reason
            ));
        }
    }
    if let (Some(timeout), Some(client)) = (analysis.client_timeout_seconds(), &facts.client)
        && let Some(needed) = timeout_target(analysis, window)
        && needed.read_seconds * (1.0 + TIMEOUT_MARGIN) > timeout
    {
        prescription.client.push(Change {
            key: "timeout_seconds".to_owned(),
            from: Some(format!("{timeout}")),
            to: needed.recommended_seconds.to_string(),
            why: format!(
                "{} tokens ÷ {} = {} to read the prompt, + {:.0}% for the answer and for prefill slowing as the context fills (a judgment, not a measurement), rounded up to whole minutes",
                format::tokens(needed.prompt_tokens),
                format::rate(needed.tokens_per_second),
                format::seconds(needed.read_seconds),
                TIMEOUT_MARGIN * 100.0
            ),
        });
        let _ = client;
    }
    if let Some(client) = &facts.client
        && (!prescription.client.is_empty() || !prescription.server.is_empty())
    {
        let path = PathBuf::from(&client.path);
        let original = fs_err::read_to_string(&path).unwrap_or_default();
        let mut text = original.clone();
        for change in &prescription.server {
            text = set_toml_table_key(
                &text,
                "server.env",
                &change.key,
                &format!("\"{}\"", change.to),
            );
        }
        for change in &prescription.client {
            let value = if change.key == "model" {
                format!("\"{}\"", change.to)
            } else {
                change.to.clone()
            };
            text = set_toml_top_level(&text, &change.key, &value);
        }
        if text != original {
            prescription.client_file = Some(FileChange {
                path,
                original: Some(original),
                text,
            });
        }
    }
    Ok(prescription)
}

/// Sets a top-level `key = value` in TOML text, keeping everything else (comments, order,
/// a trailing comment on the line); appends the key before the first table when absent.
pub fn set_toml_top_level(text: &str, key: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut done = false;
    let mut in_table = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            if !done {
                out.push_str(&format!("{key} = {value}\n"));
                done = true;
            }
            in_table = true;
        }
        if !in_table && !done {
            let mut words = trimmed.splitn(2, '=');
            let name = words.next().unwrap_or_default().trim();
            if name == key && words.next().is_some() {
                let indent = &line[..line.len() - trimmed.len()];
                let head = format!("{indent}{key} = {value}");
                // Keep a trailing comment at its column when the new value leaves room.
                let comment = line
                    .find(" #")
                    .map(|index| {
                        let hash = index + 1;
                        let spaces = if head.len() < hash {
                            hash - head.len()
                        } else {
                            1
                        };
                        format!(
                            "{}{}",
                            " ".repeat(spaces),
                            line[hash..].trim_end_matches(['\n', '\r'])
                        )
                    })
                    .unwrap_or_default();
                let newline = if line.ends_with('\n') { "\n" } else { "" };
                out.push_str(&format!("{head}{comment}{newline}"));
                done = true;
                continue;
            }
        }
        out.push_str(line);
    }
    if !done {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{key} = {value}\n"));
    }
    out
}

/// The `/api/create` request body for a Modelfile (`api/types.go CreateRequest`: `model`,
/// `from`, `parameters`, `system`, `template`, `license`, `messages`, `renderer`, `parser`,
/// `requires`). Refused when FROM is a file or blob (the API wants a model name or uploaded
/// blobs) or the Modelfile has ADAPTER or DRAFT lines.
pub fn create_request(modelfile: &Modelfile, tag: &str) -> Result<serde_json::Value, String> {
    use headroom_ollama::Instruction;
    use headroom_ollama::modelfile::ParameterValue;
    use serde_json::{Map, Value, json};
    let from = modelfile.from().ok_or("the Modelfile has no FROM line")?;
    if !is_model_name(from) {
        return Err(format!(
            "FROM `{from}` is a file, not a model name: run the `ollama create` command instead"
        ));
    }
    let mut body = Map::new();
    body.insert("model".to_owned(), json!(tag));
    body.insert("from".to_owned(), json!(from));
    let mut parameters = Map::new();
    for (name, value) in modelfile
        .typed_parameters()
        .map_err(|error| format!("a PARAMETER is not accepted: {error}"))?
    {
        let value = match value {
            ParameterValue::Integer(number) => json!(number),
            ParameterValue::Float(number) => json!(f64::from(number)),
            ParameterValue::Boolean(flag) => json!(flag),
            ParameterValue::StringList(values) => json!(values),
        };
        parameters.insert(name, value);
    }
    if !parameters.is_empty() {
        body.insert("parameters".to_owned(), Value::Object(parameters));
    }
    let mut licenses = Vec::new();
    let mut messages = Vec::new();
    for command in modelfile.commands() {
        match command.instruction {
            Instruction::System => {
                body.insert("system".to_owned(), json!(command.value));
            }
            Instruction::Template => {
                body.insert("template".to_owned(), json!(command.value));
            }
            Instruction::Renderer => {
                body.insert("renderer".to_owned(), json!(command.value));
            }
            Instruction::Parser => {
                body.insert("parser".to_owned(), json!(command.value));
            }
            Instruction::Requires => {
                body.insert("requires".to_owned(), json!(command.value));
            }
            Instruction::License => licenses.push(command.value.clone()),
            Instruction::Message => messages.push(json!({
                "role": command.role.map_or("user", |role| role.as_str()),
                "content": command.value,
            })),
            Instruction::Adapter | Instruction::Draft => {
                return Err(format!(
                    "{} lines need uploaded files: run the `ollama create` command instead",
                    command.instruction.keyword()
                ));
            }
            Instruction::From | Instruction::Parameter => {}
        }
    }
    if !licenses.is_empty() {
        body.insert("license".to_owned(), json!(licenses));
    }
    if !messages.is_empty() {
        body.insert("messages".to_owned(), Value::Array(messages));
    }
    Ok(Value::Object(body))
}

/// Sets `key = value` in the `[table]` of TOML text (a dotted name like `server.env`), keeping
/// everything else; adds the key at the end of the table, or the table at the end of the file.
pub fn set_toml_table_key(text: &str, table: &str, key: &str, value: &str) -> String {
    let header = format!("[{table}]");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(start) = lines.iter().position(|line| line.trim() == header) else {
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("\n{header}\n{key} = {value}\n"));
        return out;
    };
    let end = lines[start + 1..]
        .iter()
        .position(|line| line.trim_start().starts_with('['))
        .map_or(lines.len(), |offset| start + 1 + offset);
    let mut out = String::with_capacity(text.len() + 32);
    let mut done = false;
    for (index, line) in lines.iter().enumerate() {
        if index > start && index < end && !done {
            let name = line.split('=').next().unwrap_or_default().trim();
            if name == key && line.contains('=') {
                let rest = line
                    .split_once('#')
                    .map(|(_, comment)| format!("   #{}", comment.trim_end_matches(['\n', '\r'])));
                out.push_str(&format!("{key} = {value}{}\n", rest.unwrap_or_default()));
                done = true;
                continue;
            }
        }
        if index == end && !done {
            // Before the next table, after the table's last non-blank line.
            while out.ends_with("\n\n") {
                out.pop();
            }
            out.push_str(&format!("{key} = {value}\n\n"));
            done = true;
        }
        out.push_str(line);
    }
    if !done {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{key} = {value}\n"));
    }
    out
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Written {
    /// The file written.
    pub path: PathBuf,
    /// The backup of what it replaced.
    pub backup: Option<PathBuf>,
}

/// Writes `change` atomically: refuses when the file is not what was read, backs the old file
/// up to `NAME.bak-STAMP` (never overwriting a backup), writes a temp file in the same
/// directory and renames it over the target.
pub fn write_change(change: &FileChange, stamp: &str) -> Result<Written, FixError> {
    let path = &change.path;
    let current = match fs_err::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error.into()),
    };
    match (&change.original, &current) {
        (Some(original), Some(current)) if original == current => {}
        (None, None) => {}
        (None, Some(_)) => return Err(FixError::Exists { path: path.clone() }),
        _ => return Err(FixError::ChangedSinceRead { path: path.clone() }),
    }
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    let backup = match &current {
        Some(current) => {
            let backup = directory.join(format!("{name}.bak-{stamp}"));
            let mut file = fs_err::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&backup)
                .map_err(|error| {
                    if error.kind() == std::io::ErrorKind::AlreadyExists {
                        FixError::BackupExists {
                            path: backup.clone(),
                        }
                    } else {
                        FixError::Io(error)
                    }
                })?;
            file.write_all(current.as_bytes())?;
            file.sync_all()?;
            Some(backup)
        }
        None => None,
    };
    let temporary = directory.join(format!(".{name}.headroom-{}.tmp", std::process::id()));
    {
        let mut file = fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        file.write_all(change.text.as_bytes())?;
        file.sync_all()?;
    }
    // Last check before the rename: the file must still be what was read.
    let again = fs_err::read_to_string(path).ok();
    if again != current {
        let _ = fs_err::remove_file(&temporary);
        return Err(FixError::ChangedSinceRead { path: path.clone() });
    }
    fs_err::rename(&temporary, path)?;
    Ok(Written {
        path: path.clone(),
        backup,
    })
}

/// A unified diff of two texts (line based), for the dry run.
pub fn unified_diff(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let (rows, columns) = (old_lines.len(), new_lines.len());
    // Modelfiles and client files are small; a quadratic LCS table is fine, but cap it.
    if rows.saturating_mul(columns) > 4_000_000 {
        return format!("--- {old_label}\n+++ {new_label}\n(files too large to diff)\n");
    }
    let mut table = vec![0u32; (rows + 1) * (columns + 1)];
    let at = |row: usize, column: usize| row * (columns + 1) + column;
    for row in (0..rows).rev() {
        for column in (0..columns).rev() {
            table[at(row, column)] = if old_lines[row] == new_lines[column] {
                table[at(row + 1, column + 1)] + 1
            } else {
                table[at(row + 1, column)].max(table[at(row, column + 1)])
            };
        }
    }
    let mut edits: Vec<(char, &str)> = Vec::new();
    let (mut row, mut column) = (0, 0);
    while row < rows || column < columns {
        if row < rows && column < columns && old_lines[row] == new_lines[column] {
            edits.push((' ', old_lines[row]));
            row += 1;
            column += 1;
        } else if row < rows
            && (column == columns || table[at(row + 1, column)] >= table[at(row, column + 1)])
        {
            edits.push(('-', old_lines[row]));
            row += 1;
        } else {
            edits.push(('+', new_lines[column]));
            column += 1;
        }
    }
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = edits
        .iter()
        .enumerate()
        .filter(|(_, (kind, _))| *kind != ' ')
        .map(|(index, _)| index)
        .collect();
    let mut index = 0;
    while index < changed.len() {
        let start = changed[index].saturating_sub(CONTEXT);
        let mut end = changed[index] + CONTEXT + 1;
        while index + 1 < changed.len() && changed[index + 1] <= end + CONTEXT {
            index += 1;
            end = changed[index] + CONTEXT + 1;
        }
        let end = end.min(edits.len());
        let old_start = edits[..start]
            .iter()
            .filter(|(kind, _)| *kind != '+')
            .count();
        let new_start = edits[..start]
            .iter()
            .filter(|(kind, _)| *kind != '-')
            .count();
        let old_count = edits[start..end]
            .iter()
            .filter(|(kind, _)| *kind != '+')
            .count();
        let new_count = edits[start..end]
            .iter()
            .filter(|(kind, _)| *kind != '-')
            .count();
        out.push_str(&format!(
            "@@ -{},{old_count} +{},{new_count} @@\n",
            old_start + 1,
            new_start + 1
        ));
        for (kind, line) in &edits[start..end] {
            out.push(*kind);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
        index += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honest_tag_replaces_the_size_label() {
        assert_eq!(
            honest_tag("qwen3-coder:30b-v-128k", 262_144),
            "qwen3-coder:30b-262k"
        );
        assert_eq!(
            honest_tag("qwen3-coder:30b", 262_144),
            "qwen3-coder:30b-262k"
        );
        assert_eq!(honest_tag("qwen3:8b", 32_768), "qwen3:8b-32k");
        assert_eq!(honest_tag("llama3.1", 65_536), "llama3.1:65k");
    }

    #[test]
    fn sets_a_top_level_toml_key_keeping_comments() {
        let text = "# agent\nmodel = \"a\"\ntimeout_seconds = 300 # five minutes\n\n[server]\nversion = \"0.15.5\"\n";
        let out = set_toml_top_level(text, "timeout_seconds", "480");
        assert_eq!(
            out,
            "# agent\nmodel = \"a\"\ntimeout_seconds = 480 # five minutes\n\n[server]\nversion = \"0.15.5\"\n"
        );
        let added = set_toml_top_level("a = 1\n[t]\nb = 2\n", "c", "3");
        assert_eq!(added, "a = 1\nc = 3\n[t]\nb = 2\n");
    }

    #[test]
    fn create_request_carries_every_instruction() {
        let modelfile = Modelfile::parse(
            "FROM qwen3-coder:30b\nPARAMETER num_ctx 262144\nPARAMETER temperature 0.7\nPARAMETER stop <|im_end|>\nSYSTEM \"\"\"Be careful.\"\"\"\n",
        )
        .unwrap();
        let body = create_request(&modelfile, "qwen3-coder:30b-262k").unwrap();
        assert_eq!(body["model"], "qwen3-coder:30b-262k");
        assert_eq!(body["from"], "qwen3-coder:30b");
        assert_eq!(body["parameters"]["num_ctx"], 262_144);
        assert_eq!(body["parameters"]["stop"][0], "<|im_end|>");
        assert_eq!(body["system"], "Be careful.");
        let blob = Modelfile::parse("FROM /models/blobs/sha256-abc\n").unwrap();
        assert!(create_request(&blob, "x").is_err());
    }

    #[test]
    fn sets_a_key_in_a_table() {
        let text =
            "a = 1\n\n[server.env]\nOLLAMA_NUM_PARALLEL = \"4\"   # guide\n\n[other]\nx = 1\n";
        assert_eq!(
            set_toml_table_key(text, "server.env", "OLLAMA_NUM_PARALLEL", "\"1\""),
            "a = 1\n\n[server.env]\nOLLAMA_NUM_PARALLEL = \"1\"   # guide\n\n[other]\nx = 1\n"
        );
        assert_eq!(
            set_toml_table_key(text, "server.env", "OLLAMA_KV_CACHE_TYPE", "\"q8_0\""),
            "a = 1\n\n[server.env]\nOLLAMA_NUM_PARALLEL = \"4\"   # guide\nOLLAMA_KV_CACHE_TYPE = \"q8_0\"\n\n[other]\nx = 1\n"
        );
        assert_eq!(
            set_toml_table_key("a = 1\n", "server.env", "K", "\"v\""),
            "a = 1\n\n[server.env]\nK = \"v\"\n"
        );
    }

    #[test]
    fn diff_shows_the_changed_line() {
        let diff = unified_diff("a\nb\nc\n", "a\nB\nc\n", "old", "new");
        assert_eq!(diff, "--- old\n+++ new\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
    }

    #[test]
    fn write_refuses_a_file_changed_since_read_and_keeps_a_backup() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("Modelfile");
        fs_err::write(&path, "FROM a\n").unwrap();
        let change = FileChange {
            path: path.clone(),
            original: Some("FROM b\n".to_owned()),
            text: "FROM c\n".to_owned(),
        };
        assert!(matches!(
            write_change(&change, "20260218T111500Z"),
            Err(FixError::ChangedSinceRead { .. })
        ));
        let change = FileChange {
            original: Some("FROM a\n".to_owned()),
            ..change
        };
        let written = write_change(&change, "20260218T111500Z").unwrap();
        assert_eq!(fs_err::read_to_string(&path).unwrap(), "FROM c\n");
        let backup = written.backup.unwrap();
        assert_eq!(fs_err::read_to_string(&backup).unwrap(), "FROM a\n");
        // The same stamp again: the backup name is taken, nothing is overwritten.
        let again = FileChange {
            original: Some("FROM c\n".to_owned()),
            text: "FROM d\n".to_owned(),
            ..change
        };
        assert!(matches!(
            write_change(&again, "20260218T111500Z"),
            Err(FixError::BackupExists { .. })
        ));
        assert_eq!(fs_err::read_to_string(&path).unwrap(), "FROM c\n");
    }
}
