//! `headroom tokens`: exact token counts of files (or stdin) with a model's own tokenizer.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use headroom_tokenizer::Tokenizer;
use serde::Serialize;

/// Inputs at or above this size are counted on several threads.
const PARALLEL_THRESHOLD_BYTES: usize = 1 << 20;

/// Arguments of `headroom tokens`.
#[derive(Debug, clap::Args)]
pub struct TokensArgs {
    /// The model whose tokenizer counts: a GGUF file, a Hugging Face tokenizer.json, or an
    /// Ollama model name (`qwen3-coder:30b`) read from the local Ollama store.
    #[arg(long, short, value_name = "MODEL")]
    model: Option<PathBuf>,
    /// Ollama's model store (default: OLLAMA_MODELS, else the platform's default).
    #[arg(long, hide = true, value_name = "DIR")]
    models_dir: Option<PathBuf>,
    /// Files to count; `-` reads standard input.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Print the token ids of each input.
    #[arg(long)]
    ids: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Count the text alone, without the BOS/EOS tokens the model adds to a prompt.
    #[arg(long)]
    no_special: bool,
    /// Threads for large inputs (default: all available).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

#[derive(Debug, Serialize)]
struct FileCount {
    path: String,
    tokens: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    ids: Option<Vec<u32>>,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    tokenizer: String,
    files: Vec<FileCount>,
    total_tokens: usize,
}

/// An Ollama model name's GGUF from the store, opened header-only.
fn load_from_store(name: &str, models_dir: Option<&Path>) -> anyhow::Result<Tokenizer> {
    use headroom_ollama::store::{ModelStore, Platform, resolve_models_dir};
    let root = match models_dir {
        Some(directory) => directory.to_path_buf(),
        None => {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            resolve_models_dir(
                std::env::var("OLLAMA_MODELS").ok().as_deref(),
                home.as_deref(),
                Platform::current(),
            )
            .context("no Ollama model store found (set OLLAMA_MODELS)")?
        }
    };
    let store = ModelStore::new(&root);
    let model = store
        .model(name)
        .with_context(|| format!("{name} is neither a file nor a model in {}", root.display()))?;
    let file = store.open_gguf(&model)?;
    Tokenizer::from_gguf(&file).with_context(|| format!("cannot load the tokenizer of {name}"))
}

fn load_tokenizer(model: &Path, models_dir: Option<&Path>) -> anyhow::Result<Tokenizer> {
    if !model.exists()
        && let Some(name) = model.to_str()
        && !name.ends_with(".gguf")
        && !name.ends_with(".json")
    {
        return load_from_store(name, models_dir);
    }
    let is_json = model
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
    let tokenizer = if is_json {
        Tokenizer::from_tokenizer_json(model)
    } else {
        Tokenizer::from_gguf_path(model)
    };
    tokenizer.with_context(|| format!("cannot load a tokenizer from {}", model.display()))
}

fn read_input(path: &Path) -> anyhow::Result<String> {
    let bytes = if path == Path::new("-") {
        let mut buffer = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut buffer)
            .context("cannot read standard input")?;
        buffer
    } else {
        fs_err::read(path)?
    };
    String::from_utf8(bytes).map_err(|error| {
        let offset = error.utf8_error().valid_up_to();
        anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {offset})",
            path.display()
        )
    })
}

/// Runs `headroom tokens`.
pub fn run(args: TokensArgs) -> anyhow::Result<ExitCode> {
    let Some(model) = &args.model else {
        bail!(
            "no model given: pass --model MODEL (a GGUF file, a tokenizer.json or an Ollama model name)"
        );
    };
    let tokenizer = load_tokenizer(model, args.models_dir.as_deref())?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let mut files = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let text = read_input(path)?;
        let add_special = !args.no_special;
        let (tokens, ids) = if args.ids {
            let ids = tokenizer.encode(&text, add_special, true);
            (ids.len(), Some(ids))
        } else if add_special && text.len() >= PARALLEL_THRESHOLD_BYTES && threads > 1 {
            (tokenizer.count_parallel(&text, threads), None)
        } else {
            (tokenizer.encode(&text, add_special, true).len(), None)
        };
        files.push(FileCount {
            path: path.display().to_string(),
            tokens,
            ids,
        });
    }
    let total_tokens = files.iter().map(|file| file.tokens).sum();
    let report = Report {
        model: model.display().to_string(),
        tokenizer: tokenizer.description(),
        files,
        total_tokens,
    };
    if args.json {
        crate::output::print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut stdout = std::io::stdout().lock();
    for file in &report.files {
        if let Some(ids) = &file.ids {
            let list: Vec<String> = ids.iter().map(u32::to_string).collect();
            writeln!(stdout, "{}: [{}]", file.path, list.join(", "))?;
        }
    }
    let width = report.total_tokens.to_string().len().max(6);
    for file in &report.files {
        writeln!(stdout, "{:>width$}  {}", file.tokens, file.path)?;
    }
    if report.files.len() > 1 {
        writeln!(stdout, "{:>width$}  total", report.total_tokens)?;
    }
    Ok(ExitCode::SUCCESS)
}
