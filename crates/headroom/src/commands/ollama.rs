//! `headroom ollama`: the local Ollama store and server log, read for real.
//!
//! `list` shows, per model, the trained context (GGUF blob), the configured `num_ctx` (params
//! layer), the context a request really gets on this server version, and flags where a tag or a
//! setting caps the model below what it supports. `log` summarises a server log.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use headroom_ollama::context::{ContextQuery, EffectiveContext, Endpoint, effective_context};
use headroom_ollama::log::{Event, EventKind, LogEvents};
use headroom_ollama::store::{ModelStore, Platform, resolve_models_dir, trained_context_length};
use headroom_ollama::{OllamaHost, ServerEnvironment, Version};
use serde::Serialize;

use crate::ollama_api::OllamaClient;
use crate::output::print_json;

/// `headroom ollama …`.
#[derive(Debug, Args)]
pub struct OllamaArgs {
    #[command(subcommand)]
    command: OllamaCommand,
}

#[derive(Debug, Subcommand)]
enum OllamaCommand {
    /// Every local model: trained context, configured num_ctx, effective context, and caps.
    List(ListArgs),
    /// Summarise an Ollama server log: truncations, overflows, loads, OOM, slow requests.
    Log(LogArgs),
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The Ollama server version to compute the effective context for (default: ask the server;
    /// given, the command does not contact the server).
    #[arg(long, value_name = "VERSION")]
    server_version: Option<String>,
    /// Total GPU memory the server sees, in GiB (sets the v0.15.5+ default context tier).
    #[arg(long, value_name = "GIB")]
    vram_gib: Option<f64>,
    /// Ollama server address (default: OLLAMA_HOST, else 127.0.0.1:11434).
    #[arg(long, value_name = "URL")]
    host: Option<String>,
    /// Read the models from the server (/api/tags, /api/show verbose) instead of the local store.
    #[arg(long)]
    from_server: bool,
    /// The models directory (tests; default: OLLAMA_MODELS or the platform default).
    #[arg(long, hide = true, value_name = "DIR")]
    models_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct LogArgs {
    /// The server log (journalctl output, server.log, or `ollama serve` stderr).
    file: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Report requests that ran at least this long (your client's timeout), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    timeout: f64,
}

/// Runs `headroom ollama`.
pub fn run(args: OllamaArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        OllamaCommand::List(args) => list(args),
        OllamaCommand::Log(args) => log(args),
    }
}

#[derive(Debug, Serialize)]
struct ModelRow {
    name: String,
    size_bytes: u64,
    architecture: Option<String>,
    trained_context_tokens: Option<u64>,
    num_ctx: Option<u64>,
    tag_context_tokens: Option<u64>,
    family: Option<String>,
    loaded_context_tokens: Option<u64>,
    effective: Option<EffectiveContext>,
    flags: Vec<String>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct ListReport {
    models_dir: PathBuf,
    server_version: Option<String>,
    version_note: Option<String>,
    vram_note: Option<String>,
    /// Where the OLLAMA_* settings came from.
    environment_note: &'static str,
    models: Vec<ModelRow>,
}

fn environment_map() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(name, _)| name.starts_with("OLLAMA_"))
        .collect()
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let variables = environment_map();
    let environment = ServerEnvironment::from_map(&variables);
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from);
    let models_dir = match args.models_dir {
        Some(directory) => directory,
        None => resolve_models_dir(
            variables.get("OLLAMA_MODELS").map(String::as_str),
            home.as_deref(),
            Platform::current(),
        )
        .context("cannot tell where Ollama keeps its models: set OLLAMA_MODELS")?,
    };
    let store = ModelStore::new(&models_dir);

    let host = args
        .host
        .as_deref()
        .map_or_else(|| environment.host.clone(), OllamaHost::parse);
    let client = OllamaClient::new(&host, Duration::from_secs(1), Duration::from_secs(30));
    // --server-version keeps the command offline (and deterministic); otherwise ask the server.
    let mut server_answered = false;
    let (version, version_note) = match &args.server_version {
        Some(text) => (
            Some(
                text.parse::<Version>()
                    .with_context(|| format!("--server-version {text}"))?,
            ),
            None,
        ),
        None => match client.version() {
            Ok(reply) => {
                server_answered = true;
                match reply.version.parse::<Version>() {
                    // Builds without a release version report 0.0.0 (`version/version.go` default).
                    Ok(version) if version.triple() == (0, 0, 0) => (
                        None,
                        Some("the server is a development build (version 0.0.0); pass --server-version".to_owned()),
                    ),
                    Ok(version) => (Some(version), None),
                    Err(error) => (
                        None,
                        Some(format!("server version not understood: {error}")),
                    ),
                }
            }
            Err(error) => (
                None,
                Some(format!(
                    "{error:#}; pass --server-version to compute the effective context"
                )),
            ),
        },
    };

    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let vram_bytes = args
        .vram_gib
        .map(|gib| (gib.max(0.0) * 1024.0 * 1024.0 * 1024.0) as u64);
    let mut rows = Vec::new();
    if args.from_server {
        for model in client.tags()?.models {
            let show = client.show(&model.name)?;
            let family = (!show.details.family.is_empty()).then(|| show.details.family.clone());
            rows.push(ModelRow {
                name: model.name.clone(),
                size_bytes: model.size,
                architecture: show.architecture().map(str::to_owned),
                trained_context_tokens: show.trained_context_length(),
                num_ctx: show.parameter_num_ctx(),
                tag_context_tokens: model
                    .name
                    .rsplit_once(':')
                    .and_then(|(_, tag)| tag_context_tokens(tag)),
                family,
                loaded_context_tokens: None,
                effective: None,
                flags: Vec::new(),
                error: None,
            });
        }
    } else {
        for model in store.list()? {
            let mut row = ModelRow {
                name: model.name.display_shortest(),
                size_bytes: model.manifest.total_size_bytes(),
                architecture: None,
                trained_context_tokens: None,
                num_ctx: None,
                tag_context_tokens: tag_context_tokens(&model.name.tag),
                family: store
                    .config(&model)
                    .ok()
                    .map(|config| config.model_family)
                    .filter(|family| !family.is_empty()),
                loaded_context_tokens: None,
                effective: None,
                flags: Vec::new(),
                error: None,
            };
            match store.params_num_ctx(&model) {
                Ok(num_ctx) => row.num_ctx = num_ctx,
                Err(error) => row.error = Some(format!("{error:#}")),
            }
            match store.open_gguf(&model) {
                Ok(file) => {
                    row.architecture = file.architecture().ok().map(str::to_owned);
                    row.trained_context_tokens = trained_context_length(&file);
                }
                Err(error) => row.error = Some(format!("{error:#}")),
            }
            rows.push(row);
        }
    }
    // What is loaded right now, and with which context (/api/ps, v0.9.7+).
    if server_answered && let Ok(ps) = client.ps() {
        for loaded in ps.models {
            if let Some(row) = rows
                .iter_mut()
                .find(|row| row.name == loaded.name || row.name == loaded.model)
            {
                row.loaded_context_tokens = loaded.context_length;
            }
        }
    }
    for row in &mut rows {
        if let Some(version) = &version {
            let query = ContextQuery {
                version,
                endpoint: Endpoint::Native,
                request_num_ctx: None,
                modelfile_num_ctx: row.num_ctx,
                environment: &environment,
                total_vram_bytes: vram_bytes,
                gpu_count: 1,
                model_family: row.family.as_deref(),
                vision: false,
                trained_context_tokens: row.trained_context_tokens,
                load_failed_out_of_memory: false,
            };
            row.effective = Some(effective_context(&query));
        }
        row.flags = flags(row);
    }
    let vram_note = match (&version, args.vram_gib) {
        (Some(version), None) if version.at_least(0, 15, 5) => Some(
            "the default context of Ollama 0.15.5+ depends on VRAM; without --vram-gib it is computed as with no GPU (4096)"
                .to_owned(),
        ),
        _ => None,
    };
    let report = ListReport {
        models_dir,
        server_version: version.map(|version| version.to_string()),
        version_note,
        vram_note,
        environment_note: "OLLAMA_* variables of this shell; a service may run with others (its log's `server config` line shows them)",
        models: rows,
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_list(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The context a tag advertises: `v-128k`, `128k`, `32k-instruct` → 1024 × N tokens.
fn tag_context_tokens(tag: &str) -> Option<u64> {
    let lower = tag.to_ascii_lowercase();
    lower
        .split(|character: char| !character.is_ascii_alphanumeric())
        .find_map(|word| {
            let digits = word.strip_suffix('k')?;
            (!digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()))
                .then(|| digits.parse::<u64>().ok())
                .flatten()
        })
        .map(|thousands| thousands * 1024)
}

fn flags(row: &ModelRow) -> Vec<String> {
    let mut flags = Vec::new();
    let Some(trained) = row.trained_context_tokens else {
        return flags;
    };
    if let Some(tag) = row.tag_context_tokens
        && tag < trained
    {
        flags.push(format!(
            "tag advertises {}, model trained for {}",
            tokens(tag),
            tokens(trained)
        ));
    }
    if let Some(num_ctx) = row.num_ctx {
        if num_ctx < trained {
            flags.push(format!(
                "Modelfile num_ctx {} caps a {} model",
                tokens(num_ctx),
                tokens(trained)
            ));
        } else if num_ctx > trained {
            flags.push(format!(
                "Modelfile num_ctx {} exceeds the trained {}",
                tokens(num_ctx),
                tokens(trained)
            ));
        }
    }
    if let Some(effective) = &row.effective
        && effective.num_ctx_tokens < trained
        && row.num_ctx.is_none()
    {
        flags.push(format!(
            "server default gives {} of {}",
            tokens(effective.num_ctx_tokens),
            tokens(trained)
        ));
    }
    flags
}

fn tokens(count: u64) -> String {
    if count >= 1024 && count.is_multiple_of(1024) {
        format!("{}K", count / 1024)
    } else {
        count.to_string()
    }
}

fn print_list(report: &ListReport) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "models: {}", report.models_dir.display())?;
    match (&report.server_version, &report.version_note) {
        (Some(version), _) => writeln!(out, "server: Ollama {version}")?,
        (None, Some(note)) => writeln!(out, "server: unknown ({note})")?,
        (None, None) => {}
    }
    if let Some(note) = &report.vram_note {
        writeln!(out, "note: {note}")?;
    }
    let width = report
        .models
        .iter()
        .map(|row| row.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    writeln!(
        out,
        "{:width$}  {:>8}  {:>8}  {:>9}  {:>8}  FLAGS",
        "MODEL", "TRAINED", "NUM_CTX", "EFFECTIVE", "KV_CELLS"
    )?;
    let show = |value: Option<u64>| value.map_or_else(|| "-".to_owned(), tokens);
    for row in &report.models {
        let effective = row.effective.as_ref();
        writeln!(
            out,
            "{:width$}  {:>8}  {:>8}  {:>9}  {:>8}  {}",
            row.name,
            show(row.trained_context_tokens),
            show(row.num_ctx),
            show(effective.map(|effective| effective.num_ctx_tokens)),
            show(effective.map(|effective| effective.kv_cache_tokens)),
            row.flags.join("; ")
        )?;
        if let Some(error) = &row.error {
            writeln!(out, "{:width$}  error: {error}", "")?;
        }
    }
    Ok(())
}

#[derive(Debug, Default, Serialize)]
struct KindSummary {
    count: u64,
    first_line: u64,
    first_timestamp: Option<String>,
    last_line: u64,
    last_timestamp: Option<String>,
}

#[derive(Debug, Serialize)]
struct Overflow {
    line: u64,
    timestamp: Option<String>,
    prompt_tokens: u64,
    context_tokens: u64,
    over_tokens: u64,
}

#[derive(Debug, Serialize)]
struct SlowRequest {
    line: u64,
    timestamp: Option<String>,
    status: u16,
    latency_seconds: f64,
    method: String,
    path: String,
}

/// One model load as the log tells it (a runner start or a load request).
#[derive(Debug, Serialize)]
struct Load {
    line: u64,
    timestamp: Option<String>,
    /// KV cells over all slots (`--ctx-size`, `-c`, `KvSize`).
    context_tokens: Option<u64>,
    parallel: Option<u64>,
    /// Per-request context: `context_tokens / parallel`.
    per_request_tokens: Option<u64>,
    batch_tokens: Option<u64>,
    flash_attention: Option<String>,
    kv_cache_type: Option<String>,
}

#[derive(Debug, Serialize)]
struct LogReport {
    file: PathBuf,
    events: u64,
    kinds: BTreeMap<String, KindSummary>,
    loads: Vec<Load>,
    worst_overflow: Option<Overflow>,
    timeout_seconds: f64,
    slow_requests: Vec<SlowRequest>,
    server_errors: u64,
}

/// Slow requests listed in full; more are counted only.
const MAX_SLOW_REQUESTS: usize = 100;

fn kind_name(kind: &EventKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|value| {
            value
                .get("kind")
                .and_then(|kind| kind.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Loads listed in full; more are counted in `kinds` only.
const MAX_LOADS: usize = 100;

fn load_of(event: &Event) -> Option<Load> {
    let (context_tokens, parallel, batch_tokens, flash_attention, kv_cache_type) = match &event.kind
    {
        EventKind::RunnerStarting {
            context_tokens,
            parallel,
            batch_tokens,
            flash_attention,
            kv_cache_type,
            ..
        } => (
            *context_tokens,
            *parallel,
            *batch_tokens,
            flash_attention.clone(),
            kv_cache_type.clone(),
        ),
        // The `commit` request is the one that loads (fit and alloc only probe).
        EventKind::LoadRequest {
            operation,
            context_tokens,
            parallel,
            batch_tokens,
            flash_attention,
            kv_cache_type,
        } if operation
            .as_deref()
            .is_none_or(|operation| operation == "commit") =>
        {
            (
                *context_tokens,
                *parallel,
                *batch_tokens,
                flash_attention.clone(),
                kv_cache_type
                    .clone()
                    .filter(|kv_cache_type| !kv_cache_type.is_empty()),
            )
        }
        _ => return None,
    };
    Some(Load {
        line: event.line,
        timestamp: event.timestamp.clone(),
        context_tokens,
        parallel,
        per_request_tokens: context_tokens
            .zip(parallel)
            .and_then(|(context, parallel)| context.checked_div(parallel)),
        batch_tokens,
        flash_attention,
        kv_cache_type,
    })
}

fn overflow_of(event: &Event) -> Option<Overflow> {
    let (prompt, context) = match &event.kind {
        EventKind::PromptTruncated {
            limit_tokens: Some(limit),
            prompt_tokens: Some(prompt),
            ..
        } => (*prompt, *limit),
        EventKind::PromptTooLong {
            prompt_tokens: Some(prompt),
            context_tokens: Some(context),
            ..
        } => (*prompt, *context),
        _ => return None,
    };
    Some(Overflow {
        line: event.line,
        timestamp: event.timestamp.clone(),
        prompt_tokens: prompt,
        context_tokens: context,
        over_tokens: prompt.saturating_sub(context),
    })
}

fn log(args: LogArgs) -> anyhow::Result<ExitCode> {
    if !(args.timeout.is_finite() && args.timeout >= 0.0) {
        anyhow::bail!("--timeout {} is not a number of seconds", args.timeout);
    }
    let file = fs_err::File::open(&args.file)?;
    let events = LogEvents::new(BufReader::with_capacity(1 << 20, file))?;
    let mut report = LogReport {
        file: args.file.clone(),
        events: 0,
        kinds: BTreeMap::new(),
        loads: Vec::new(),
        worst_overflow: None,
        timeout_seconds: args.timeout,
        slow_requests: Vec::new(),
        server_errors: 0,
    };
    for event in events {
        let event = event.with_context(|| format!("reading {}", args.file.display()))?;
        report.events += 1;
        let summary = report.kinds.entry(kind_name(&event.kind)).or_default();
        if summary.count == 0 {
            summary.first_line = event.line;
            summary.first_timestamp = event.timestamp.clone();
        }
        summary.count += 1;
        summary.last_line = event.line;
        summary.last_timestamp = event.timestamp.clone();
        if let Some(load) = load_of(&event)
            && report.loads.len() < MAX_LOADS
        {
            report.loads.push(load);
        }
        if let Some(overflow) = overflow_of(&event)
            && report
                .worst_overflow
                .as_ref()
                .is_none_or(|worst| overflow.over_tokens > worst.over_tokens)
        {
            report.worst_overflow = Some(overflow);
        }
        if let EventKind::Request {
            status,
            latency_seconds: Some(latency),
            method,
            path,
            ..
        } = &event.kind
        {
            if *status >= 500 {
                report.server_errors += 1;
            }
            if *latency >= args.timeout && report.slow_requests.len() < MAX_SLOW_REQUESTS {
                report.slow_requests.push(SlowRequest {
                    line: event.line,
                    timestamp: event.timestamp.clone(),
                    status: *status,
                    latency_seconds: *latency,
                    method: method.clone(),
                    path: path.clone(),
                });
            }
        }
    }
    if args.json {
        print_json(&report)?;
    } else {
        print_log(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_log(report: &LogReport) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}: {} events", report.file.display(), report.events)?;
    let width = report
        .kinds
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(out, "{:width$}  {:>7}  FIRST  LAST", "KIND", "COUNT")?;
    let at = |line: u64, timestamp: &Option<String>| match timestamp {
        Some(timestamp) => format!("line {line} ({timestamp})"),
        None => format!("line {line}"),
    };
    for (kind, summary) in &report.kinds {
        writeln!(
            out,
            "{kind:width$}  {:>7}  {}  {}",
            summary.count,
            at(summary.first_line, &summary.first_timestamp),
            at(summary.last_line, &summary.last_timestamp)
        )?;
    }
    for load in &report.loads {
        let show =
            |value: Option<u64>| value.map_or_else(|| "?".to_owned(), |value| value.to_string());
        writeln!(
            out,
            "load at {}: context {} over {} slot(s) = {} per request, batch {}, flash attention {}, KV cache {}",
            at(load.line, &load.timestamp),
            show(load.context_tokens),
            show(load.parallel),
            show(load.per_request_tokens),
            show(load.batch_tokens),
            load.flash_attention.as_deref().unwrap_or("?"),
            load.kv_cache_type.as_deref().unwrap_or("f16")
        )?;
    }
    match &report.worst_overflow {
        Some(worst) => writeln!(
            out,
            "worst overflow: {} prompt tokens for a {}-token context ({} over) at {}",
            worst.prompt_tokens,
            worst.context_tokens,
            worst.over_tokens,
            at(worst.line, &worst.timestamp)
        )?,
        None => writeln!(out, "worst overflow: none logged")?,
    }
    writeln!(
        out,
        "requests >= {} s: {}; HTTP 5xx: {}",
        report.timeout_seconds,
        report.slow_requests.len(),
        report.server_errors
    )?;
    for request in &report.slow_requests {
        writeln!(
            out,
            "  {} {} {} {:.1} s at {}",
            request.status,
            request.method,
            request.path,
            request.latency_seconds,
            at(request.line, &request.timestamp)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_context_reads_k_suffixes() {
        assert_eq!(tag_context_tokens("v-128k"), Some(131_072));
        assert_eq!(tag_context_tokens("32k-instruct"), Some(32_768));
        assert_eq!(tag_context_tokens("30b"), None);
        assert_eq!(tag_context_tokens("latest"), None);
    }
}
