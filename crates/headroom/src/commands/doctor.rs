//! `headroom doctor [BUNDLE_DIR]`: diagnoses an Ollama setup from a bundle directory
//! (Modelfile, GGUF header, server log, client.toml, machine.toml; see examples/README.md) and
//! or from a live server (`/api/version`, `/api/ps`, `/api/show` verbose, the model store,
//! the server log at the platform's path, the environment), and prints the verdict first, then the findings with evidence, arithmetic and fix. Exit code 1
//! when problems are found, 0 when healthy, 2 on error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use headroom_core::doctor::bundle::{
    modelfile_facts, read_bundle, read_client, read_log, read_machine,
};
use headroom_core::doctor::facts::{Located, ModelFacts, RunningFacts};
use headroom_core::doctor::{Evidence, Facts, Finding, Report, diagnose};
use headroom_core::memory::ModelWeights;
use headroom_core::spec::ModelSpec;
use headroom_ollama::store::{Platform, resolve_models_dir};
use headroom_ollama::{ModelStore, Modelfile, OllamaHost, ServerEnvironment, Version};

use crate::ollama_api::OllamaClient;
use crate::output;

/// Arguments of `headroom doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// A bundle directory (any of: Modelfile, *.gguf, *.log, client.toml, machine.toml).
    pub bundle: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Live: the Ollama server (default: OLLAMA_HOST, else http://127.0.0.1:11434).
    #[arg(long, value_name = "URL")]
    pub host: Option<String>,
    /// Live: the model to diagnose (default: the client's, else the one loaded now).
    #[arg(long)]
    pub model: Option<String>,
    /// Live: the server log (default: the platform's path, when it exists).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Live: a client.toml describing the client (format: examples/README.md).
    #[arg(long, value_name = "FILE")]
    pub client: Option<PathBuf>,
    /// Live: a machine.toml describing the machine.
    #[arg(long, value_name = "FILE")]
    pub machine: Option<PathBuf>,
    /// Live: the model store (default: OLLAMA_MODELS, else ~/.ollama/models).
    #[arg(long, hide = true, value_name = "DIR")]
    pub models: Option<PathBuf>,
}

/// The server log's default path: `~/.ollama/logs/server.log` (macOS app),
/// `%LOCALAPPDATA%\Ollama\server.log` (Windows); Linux services log to the journal
/// (`journalctl -u ollama > server.log`, then `--log server.log`).
fn default_log_path() -> Option<PathBuf> {
    if cfg!(windows) {
        std::env::var_os("LOCALAPPDATA")
            .map(|base| PathBuf::from(base).join("Ollama").join("server.log"))
    } else {
        std::env::var_os("HOME").map(|home| {
            PathBuf::from(home)
                .join(".ollama")
                .join("logs")
                .join("server.log")
        })
    }
}

/// Gathers the facts from a running server, its store and log, and the optional files.
fn live_facts(args: &DoctorArgs) -> anyhow::Result<Facts> {
    let variables: BTreeMap<String, String> = std::env::vars()
        .filter(|(name, _)| name.starts_with("OLLAMA_"))
        .collect();
    let shell_environment = ServerEnvironment::from_map(&variables);
    let host = args
        .host
        .as_deref()
        .map_or_else(|| shell_environment.host.clone(), OllamaHost::parse);
    let client = OllamaClient::new(&host, Duration::from_secs(2), Duration::from_secs(30));
    let mut facts = Facts {
        origin: client.base_url(),
        ..Facts::default()
    };
    if let Some(path) = &args.client {
        read_client(path, &mut facts)?;
    }
    if let Some(path) = &args.machine {
        facts.machine = Some(read_machine(path)?);
    }
    let version = client.version()?;
    let log_path = args
        .log
        .clone()
        .or_else(|| default_log_path().filter(|path| path.is_file()));
    if let Some(path) = &log_path {
        read_log(path, &mut facts)?;
    }
    match version.version.parse::<Version>() {
        Ok(parsed) => {
            facts.server.version = Some(Located::new(
                parsed,
                Evidence::key("GET /api/version", None, "version", version.version.clone()),
            ));
        }
        Err(_) => facts.warnings.push(format!(
            "server version `{}` not understood",
            version.version
        )),
    }
    if facts.server.environment.is_none() {
        facts.server.variables = variables
            .iter()
            .map(|(name, value)| {
                Located::new(
                    (name.clone(), value.clone()),
                    Evidence::key(
                        "environment of this shell",
                        None,
                        name.clone(),
                        format!("{name}={value}"),
                    ),
                )
            })
            .collect();
        facts.server.environment = Some(shell_environment);
    }
    let running = client.ps()?;
    facts.running = running
        .models
        .iter()
        .map(|model| RunningFacts {
            name: model.name.clone(),
            context_length: model.context_length,
            size_bytes: model.size,
            size_vram_bytes: model.size_vram,
        })
        .collect();
    let model = args
        .model
        .clone()
        .or_else(|| facts.model_name().map(str::to_owned))
        .or_else(|| running.models.first().map(|model| model.name.clone()))
        .context("no model is loaded and none was named: pass --model NAME (or a client.toml with `model`)")?;
    facts.requested_model = Some(model.clone());
    let show = client.show(&model)?;
    let shown = format!("POST /api/show {model}");
    match Modelfile::parse(&show.modelfile) {
        Ok(modelfile) => facts.modelfile = Some(modelfile_facts(shown.clone(), modelfile)),
        Err(error) => facts
            .warnings
            .push(format!("{shown}: the modelfile does not parse: {error}")),
    }
    if let Some(trained) = show.trained_context_length() {
        facts.trained_context_tokens = Some(Located::new(
            trained,
            Evidence::key(
                shown.clone(),
                None,
                "model_info context_length",
                trained.to_string(),
            ),
        ));
    }
    let store_dir = args.models.clone().or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        resolve_models_dir(
            variables.get("OLLAMA_MODELS").map(String::as_str),
            home.as_deref(),
            Platform::current(),
        )
    });
    if let Some(directory) = store_dir {
        let store = ModelStore::new(directory);
        match store
            .model(&model)
            .and_then(|stored| store.open_gguf(&stored))
        {
            Ok(file) => match ModelSpec::from_gguf(&file) {
                Ok(spec) => {
                    facts.model = Some(ModelFacts {
                        weights: ModelWeights::from_gguf(&file),
                        spec,
                        source: format!("{} (model store)", store.root().display()),
                        header_only: false,
                    });
                }
                Err(error) => facts.warnings.push(format!("{model}: {error}")),
            },
            Err(error) => facts.warnings.push(format!(
                "{model}: not read from the store ({error}); memory is not checked"
            )),
        }
    }
    Ok(facts)
}

/// Widest text line printed (the verdict is wrapped to it).
const WIDTH: usize = 100;
/// Evidence lines longer than this are cut (log lines can be kilobytes).
const EVIDENCE_CHARACTERS: usize = 170;

/// Reads the bundle and diagnoses it.
pub fn report_for(bundle: &std::path::Path) -> anyhow::Result<Report> {
    let facts =
        read_bundle(bundle).with_context(|| format!("reading the bundle {}", bundle.display()))?;
    Ok(diagnose(&facts))
}

/// Runs `headroom doctor`.
pub fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let report = match &args.bundle {
        Some(bundle) => report_for(bundle)?,
        None => diagnose(&live_facts(&args)?),
    };
    if args.json {
        output::print_json(&report)?;
    } else {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        write!(out, "{}", render(&report))?;
        out.flush()?;
    }
    Ok(if report.has_problems() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Word-wraps `text` to `width`, each line prefixed by `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn evidence_line(evidence: &Evidence) -> String {
    let mut text = evidence.text.trim().to_owned();
    if text.chars().count() > EVIDENCE_CHARACTERS {
        text = text
            .chars()
            .take(EVIDENCE_CHARACTERS - 1)
            .collect::<String>()
            + "…";
    }
    format!("{}  {text}", evidence.location())
}

fn render_finding(out: &mut String, number: usize, finding: &Finding) {
    out.push_str(&format!(
        "{number}. {} [{}] {}\n",
        finding.code,
        finding.severity.name(),
        finding.title
    ));
    if !finding.evidence.is_empty() {
        out.push_str("   evidence:\n");
        for evidence in &finding.evidence {
            out.push_str(&format!("     {}\n", evidence_line(evidence)));
        }
    }
    if !finding.arithmetic.is_empty() {
        out.push_str("   arithmetic:\n");
        for line in &finding.arithmetic {
            out.push_str(&format!("     {line}\n"));
        }
    }
    if !finding.fix.is_empty() {
        out.push_str("   fix:\n");
        for line in &finding.fix {
            out.push_str(&format!("     {line}\n"));
        }
    }
    out.push('\n');
}

/// The text report.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(&wrap(&report.verdict.text, WIDTH, ""));
    out.push('\n');
    for (index, finding) in report.findings.iter().enumerate() {
        render_finding(&mut out, index + 1, finding);
    }
    if !report.notes.is_empty() {
        out.push_str("Notes (not problems):\n");
        for note in &report.notes {
            out.push_str(&format!("  {} {}\n", note.code, note.title));
            for line in &note.arithmetic {
                out.push_str(&format!("     {line}\n"));
            }
        }
        out.push('\n');
    }
    if !report.checks.is_empty() {
        out.push_str("Checked and fine:\n");
        for check in &report.checks {
            out.push_str(&format!("  - {check}\n"));
        }
        out.push('\n');
    }
    if !report.not_checked.is_empty() {
        out.push_str("Not checked:\n");
        for missing in &report.not_checked {
            out.push_str(&format!("  - {missing}\n"));
        }
        out.push('\n');
    }
    for warning in &report.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    out.push_str("Read:\n");
    for input in &report.inputs {
        out.push_str(&format!("  - {input}\n"));
    }
    if let Some(first) = report.findings.first() {
        out.push_str(&format!(
            "\nMemory is in GiB (2^30 bytes). The KV cache holds what the model has read of the prompt and grows\nwith the context. `headroom explain {}` says what a finding checks, why it matters, and the fix.\n",
            first.code
        ));
    }
    out
}
