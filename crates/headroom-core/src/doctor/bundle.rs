//! Reads a bundle directory into [`Facts`]: any of a Modelfile (`Modelfile` or `*.Modelfile`),
//! the model's GGUF (or its header alone, `*.gguf`), the Ollama server log (`*.log`), the
//! client description (`client.toml`) and the machine (`machine.toml`). The formats are
//! documented in examples/README.md. Every value keeps the file and line it came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use headroom_gguf::GgufFile;
use headroom_ollama::api::Timings;
use headroom_ollama::context::Endpoint;
use headroom_ollama::log::{EventKind, parse_log};
use headroom_ollama::{Modelfile, ServerEnvironment, Version};
use serde::Deserialize;
use toml::Spanned;

use crate::hardware::{self, MemoryKind, macos_default_gpu_share_bytes};
use crate::memory::ModelWeights;
use crate::memory::fit::Machine;
use crate::spec::ModelSpec;

use super::Evidence;
use super::facts::{
    ClientFacts, Facts, Located, LogFacts, MachineFacts, ModelFacts, ModelfileFacts, ServerFacts,
};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Largest log read whole (bigger logs: keep the last part that fits).
pub const MAX_LOG_BYTES: u64 = 256 * 1024 * 1024;

/// Why a bundle could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The path is not a directory.
    #[error("{}: not a directory (a bundle is a directory holding any of Modelfile, *.gguf, *.log, client.toml, machine.toml)", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// None of the known files is there.
    #[error("{}: no Modelfile, *.gguf, *.log, client.toml or machine.toml found", path.display())]
    Empty {
        /// The directory.
        path: PathBuf,
    },
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A Modelfile does not parse.
    #[error("{}: {source}", path.display())]
    Modelfile {
        /// The file.
        path: PathBuf,
        /// The parser's error (with line and column).
        #[source]
        source: headroom_ollama::ModelfileError,
    },
    /// A GGUF header does not read.
    #[error("{}: cannot read the GGUF header", path.display())]
    Gguf {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: headroom_gguf::GgufError,
    },
    /// The GGUF header does not describe a model headroom can size.
    #[error("{}: cannot describe the model", path.display())]
    Spec {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: crate::spec::SpecError,
    },
    /// A TOML file does not parse or has a wrong field.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A value is out of its range.
    #[error("{}:{line}: `{key}`: {message}", path.display())]
    Value {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |index| before.len() - index - 1)
        + 1;
    (line, column)
}

fn toml_error(path: &Path, text: &str, error: &toml::de::Error) -> BundleError {
    let (line, column) = error
        .span()
        .map_or((0, 0), |span| line_column(text, span.start));
    BundleError::Toml {
        path: path.to_path_buf(),
        line,
        column,
        message: error.message().to_owned(),
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// `client.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    model: Option<Spanned<String>>,
    api: Option<Spanned<String>>,
    timeout_seconds: Option<Spanned<f64>>,
    num_ctx: Option<Spanned<u64>>,
    parallel_requests: Option<Spanned<u64>>,
    typical_prompt_tokens: Option<Spanned<u64>>,
    observed_prompt_tokens: Option<Spanned<Vec<u64>>>,
    prefill_tokens_per_second: Option<Spanned<f64>>,
    #[serde(default)]
    timings: Vec<Spanned<Timings>>,
    server: Option<ServerSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    version: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<toml::Value>>,
}

/// `machine.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MachineFile {
    catalog: Option<Spanned<String>>,
    name: Option<String>,
    kind: Option<Spanned<String>>,
    memory_gib: Option<Spanned<f64>>,
    gpu_memory_gib: Option<Spanned<f64>>,
    gpu_share_gib: Option<Spanned<f64>>,
    system_memory_gib: Option<Spanned<f64>>,
}

/// Reads a bundle directory.
pub fn read_bundle(directory: &Path) -> Result<Facts, BundleError> {
    if !directory.is_dir() {
        return Err(BundleError::NotADirectory {
            path: directory.to_path_buf(),
        });
    }
    let mut entries: Vec<PathBuf> = fs_err::read_dir(directory)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    entries.sort();
    let name_of = |path: &Path| {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut facts = Facts {
        origin: display(directory),
        ..Facts::default()
    };
    let client_path = directory.join("client.toml");
    if client_path.is_file() {
        read_client(&client_path, &mut facts)?;
    }
    let machine_path = directory.join("machine.toml");
    if machine_path.is_file() {
        facts.machine = Some(read_machine(&machine_path)?);
    }
    let modelfiles: Vec<&PathBuf> = entries
        .iter()
        .filter(|path| {
            let name = name_of(path);
            name == "Modelfile" || name.ends_with(".Modelfile")
        })
        .collect();
    let chosen = choose_modelfile(&modelfiles, facts.model_name(), &name_of);
    if modelfiles.len() > 1 {
        facts.warnings.push(format!(
            "{} Modelfiles; using {} (name a Modelfile after the client's model, `name_tag.Modelfile`, to choose)",
            modelfiles.len(),
            chosen.map(|path| display(path)).unwrap_or_default()
        ));
    }
    if let Some(path) = chosen {
        facts.modelfile = Some(read_modelfile(path)?);
    }
    if let Some(path) = entries
        .iter()
        .find(|path| name_of(path).to_ascii_lowercase().ends_with(".gguf"))
    {
        facts.model = Some(read_model(path)?);
    }
    let logs: Vec<&PathBuf> = entries
        .iter()
        .filter(|path| name_of(path).ends_with(".log"))
        .collect();
    if let Some(path) = logs.first() {
        read_log(path, &mut facts)?;
        if logs.len() > 1 {
            facts.warnings.push(format!(
                "{} logs; only {} was read",
                logs.len(),
                display(path)
            ));
        }
    }
    if facts.modelfile.is_none()
        && facts.model.is_none()
        && facts.log.is_none()
        && facts.client.is_none()
        && facts.machine.is_none()
    {
        return Err(BundleError::Empty {
            path: directory.to_path_buf(),
        });
    }
    Ok(facts)
}

fn choose_modelfile<'a>(
    modelfiles: &[&'a PathBuf],
    model_name: Option<&str>,
    name_of: &dyn Fn(&Path) -> String,
) -> Option<&'a PathBuf> {
    if modelfiles.len() <= 1 {
        return modelfiles.first().copied();
    }
    if let Some(model) = model_name {
        let wanted = format!("{}.Modelfile", model.replace([':', '/'], "_"));
        if let Some(path) = modelfiles.iter().find(|path| name_of(path) == wanted) {
            return Some(path);
        }
    }
    modelfiles
        .iter()
        .find(|path| name_of(path) == "Modelfile")
        .or(modelfiles.first())
        .copied()
}

/// Reads a Modelfile.
pub fn read_modelfile(path: &Path) -> Result<ModelfileFacts, BundleError> {
    let bytes = fs_err::read(path)?;
    let modelfile = Modelfile::parse_bytes(&bytes).map_err(|source| BundleError::Modelfile {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(modelfile_facts(display(path), modelfile))
}

/// Facts from a parsed Modelfile shown as `path`.
pub fn modelfile_facts(path: String, modelfile: Modelfile) -> ModelfileFacts {
    let num_ctx = modelfile
        .commands()
        .iter()
        .rev()
        .find(|command| command.parameter.as_deref() == Some("num_ctx"))
        .and_then(|command| {
            let value = command.value.trim().parse::<u64>().ok()?;
            let line_text = modelfile
                .text()
                .get(command.line_span.clone())
                .unwrap_or_default()
                .trim_end()
                .to_owned();
            Some(Located::new(
                value,
                Evidence::key(
                    path.clone(),
                    Some(command.position.line as u64),
                    "PARAMETER num_ctx",
                    line_text,
                ),
            ))
        });
    ModelfileFacts {
        path,
        modelfile,
        num_ctx,
    }
}

/// Reads a GGUF file or header.
pub fn read_model(path: &Path) -> Result<ModelFacts, BundleError> {
    let file = GgufFile::open(path).map_err(|source| BundleError::Gguf {
        path: path.to_path_buf(),
        source,
    })?;
    let spec = ModelSpec::from_gguf(&file).map_err(|source| BundleError::Spec {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(ModelFacts {
        weights: ModelWeights::from_gguf(&file),
        spec,
        source: display(path),
        header_only: file.data_complete() == Some(false),
    })
}

/// Reads a server log into the facts (events, the version, the `server config` environment
/// when none is known yet).
pub fn read_log(path: &Path, facts: &mut Facts) -> Result<(), BundleError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = fs_err::File::open(path)?;
    let size = file.metadata()?.len();
    let mut skipped_lines = 0u64;
    let text = if size > MAX_LOG_BYTES {
        file.seek(SeekFrom::Start(size - MAX_LOG_BYTES))?;
        let mut bytes = Vec::new();
        file.take(MAX_LOG_BYTES).read_to_end(&mut bytes)?;
        let start = bytes
            .iter()
            .position(|byte| *byte == b'\n')
            .map_or(0, |index| index + 1);
        facts.warnings.push(format!(
            "{}: {} bytes; only the last {} MiB were read (line numbers count from there)",
            display(path),
            size,
            MAX_LOG_BYTES >> 20
        ));
        skipped_lines = 0;
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    } else {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let events = parse_log(&text);
    let wanted: std::collections::BTreeSet<u64> = events.iter().map(|event| event.line).collect();
    let mut lines = BTreeMap::new();
    let mut environment_line = None;
    for (index, line) in text.lines().enumerate() {
        let number = index as u64 + 1 + skipped_lines;
        if wanted.contains(&number) {
            lines.insert(number, line.trim_end_matches('\r').to_owned());
        }
        if line.contains("msg=\"server config\"") {
            environment_line = Some((number, line.trim_end_matches('\r').to_owned()));
        }
    }
    let path_text = display(path);
    // The version: the last `Listening on … (version X)` line.
    if facts.server.version.is_none()
        && let Some((event, version)) = events.iter().rev().find_map(|event| match &event.kind {
            EventKind::ServerStarted {
                version: Some(version),
                ..
            } => Some((event, version.clone())),
            _ => None,
        })
        && let Ok(parsed) = version.parse::<Version>()
    {
        facts.server.version = Some(Located::new(
            parsed,
            Evidence::line(
                path_text.clone(),
                event.line,
                lines.get(&event.line).cloned().unwrap_or_default(),
            ),
        ));
    }
    // The environment from `msg="server config" env="map[…]"` when client.toml gives none.
    if facts.server.environment.is_none()
        && let Some((number, line)) = environment_line
    {
        let variables = server_config_variables(&line);
        let located: Vec<Located<(String, String)>> = variables
            .iter()
            .map(|(name, value)| {
                Located::new(
                    (name.clone(), value.clone()),
                    Evidence {
                        file: path_text.clone(),
                        line: Some(number),
                        key: Some(name.clone()),
                        timestamp: None,
                        text: format!("{name}:{value}"),
                    },
                )
            })
            .collect();
        facts.server = ServerFacts {
            version: facts.server.version.take(),
            environment: Some(ServerEnvironment::from_map(&variables)),
            variables: located,
        };
    }
    facts.log = Some(LogFacts {
        path: path_text,
        events,
        lines,
    });
    Ok(())
}

/// The `OLLAMA_*` values of a `msg="server config" env="map[K:V K:V …]"` line (Ollama
/// `server/routes.go Serve` logs `envconfig.Values()`; a value may hold spaces inside `[…]`).
pub fn server_config_variables(line: &str) -> BTreeMap<String, String> {
    let mut variables = BTreeMap::new();
    let Some(start) = line.find("env=\"map[") else {
        return variables;
    };
    let body = &line[start + "env=\"map[".len()..];
    let body = body.rsplit_once("]\"").map_or(body, |(inside, _)| inside);
    let mut current: Option<(String, String)> = None;
    for word in body.split(' ') {
        let starts_variable = word.split_once(':').is_some_and(|(name, _)| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        });
        if starts_variable && let Some((name, value)) = word.split_once(':') {
            if let Some((name, value)) = current.take() {
                variables.insert(name, value);
            }
            current = Some((name.to_owned(), value.to_owned()));
        } else if let Some((_, value)) = current.as_mut() {
            value.push(' ');
            value.push_str(word);
        }
    }
    if let Some((name, value)) = current {
        variables.insert(name, value);
    }
    variables.retain(|name, value| name.starts_with("OLLAMA_") && !value.is_empty());
    variables
}

/// Reads a `client.toml` into the facts (client, and the `[server]` section).
pub fn read_client(path: &Path, facts: &mut Facts) -> Result<(), BundleError> {
    let text = fs_err::read_to_string(path)?;
    let file: ClientFile =
        toml::from_str(&text).map_err(|error| toml_error(path, &text, &error))?;
    let path_text = display(path);
    let line_of = |span: std::ops::Range<usize>| line_column(&text, span.start).0;
    let source_line = |line: usize| {
        text.lines()
            .nth(line - 1)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let located = |span: std::ops::Range<usize>, key: &str| {
        let line = line_of(span);
        Evidence::key(path_text.clone(), Some(line as u64), key, source_line(line))
    };
    let api = match &file.api {
        Some(api) => {
            let endpoint = match api.get_ref().as_str() {
                "native" => Endpoint::Native,
                "openai" | "v1" => Endpoint::OpenAiCompatible,
                other => {
                    return Err(BundleError::Value {
                        path: path.to_path_buf(),
                        line: line_of(api.span()),
                        key: "api".to_owned(),
                        message: format!("`{other}` is not \"native\" or \"openai\""),
                    });
                }
            };
            Located::new(endpoint, located(api.span(), "api"))
        }
        None => Located::new(
            Endpoint::Native,
            Evidence::key(
                path_text.clone(),
                None,
                "api",
                "api not given: native assumed",
            ),
        ),
    };
    if let Some(timeout) = &file.timeout_seconds
        && !(timeout.get_ref().is_finite() && *timeout.get_ref() > 0.0)
    {
        return Err(BundleError::Value {
            path: path.to_path_buf(),
            line: line_of(timeout.span()),
            key: "timeout_seconds".to_owned(),
            message: "must be a positive number of seconds".to_owned(),
        });
    }
    if let Some(rate) = &file.prefill_tokens_per_second
        && !(rate.get_ref().is_finite() && *rate.get_ref() > 0.0)
    {
        return Err(BundleError::Value {
            path: path.to_path_buf(),
            line: line_of(rate.span()),
            key: "prefill_tokens_per_second".to_owned(),
            message: "must be a positive rate".to_owned(),
        });
    }
    let take_u64 = |value: &Option<Spanned<u64>>, key: &str| {
        value
            .as_ref()
            .map(|value| Located::new(*value.get_ref(), located(value.span(), key)))
    };
    let observed = file
        .observed_prompt_tokens
        .as_ref()
        .map(|values| {
            let evidence = located(values.span(), "observed_prompt_tokens");
            values
                .get_ref()
                .iter()
                .map(|value| Located::new(*value, evidence.clone()))
                .collect()
        })
        .unwrap_or_default();
    let timings = file
        .timings
        .iter()
        .map(|timing| {
            let line = line_of(timing.span());
            let value = timing.get_ref().clone();
            let text = format!(
                "[[timings]] prompt_eval_count = {}, prompt_eval_duration = {} ns",
                value
                    .prompt_eval_count
                    .map_or("?".to_owned(), |count| count.to_string()),
                value
                    .prompt_eval_duration
                    .map_or("?".to_owned(), |duration| duration.to_string())
            );
            Located::new(
                value,
                Evidence::key(path_text.clone(), Some(line as u64), "timings", text),
            )
        })
        .collect();
    facts.client = Some(ClientFacts {
        path: path_text.clone(),
        model: file
            .model
            .as_ref()
            .map(|model| Located::new(model.get_ref().clone(), located(model.span(), "model"))),
        api,
        timeout_seconds: file.timeout_seconds.as_ref().map(|timeout| {
            Located::new(
                *timeout.get_ref(),
                located(timeout.span(), "timeout_seconds"),
            )
        }),
        num_ctx: take_u64(&file.num_ctx, "num_ctx"),
        parallel_requests: take_u64(&file.parallel_requests, "parallel_requests"),
        typical_prompt_tokens: take_u64(&file.typical_prompt_tokens, "typical_prompt_tokens"),
        observed_prompt_tokens: observed,
        timings,
        prefill_tokens_per_second: file.prefill_tokens_per_second.as_ref().map(|rate| {
            Located::new(
                *rate.get_ref(),
                located(rate.span(), "prefill_tokens_per_second"),
            )
        }),
    });
    if let Some(server) = &file.server {
        if let Some(version) = &server.version {
            let parsed = version
                .get_ref()
                .parse::<Version>()
                .map_err(|_| BundleError::Value {
                    path: path.to_path_buf(),
                    line: line_of(version.span()),
                    key: "server.version".to_owned(),
                    message: format!("`{}` is not a version like 0.15.5", version.get_ref()),
                })?;
            facts.server.version = Some(Located::new(
                parsed,
                located(version.span(), "server.version"),
            ));
        }
        if !server.env.is_empty() {
            let mut map = BTreeMap::new();
            let mut variables = Vec::new();
            for (name, value) in &server.env {
                let text_value = match value.get_ref() {
                    toml::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                map.insert(name.clone(), text_value.clone());
                variables.push(Located::new(
                    (name.clone(), text_value),
                    located(value.span(), name),
                ));
            }
            facts.server.environment = Some(ServerEnvironment::from_map(&map));
            facts.server.variables = variables;
        }
    }
    Ok(())
}

/// Reads a `machine.toml`.
pub fn read_machine(path: &Path) -> Result<MachineFacts, BundleError> {
    let text = fs_err::read_to_string(path)?;
    let file: MachineFile =
        toml::from_str(&text).map_err(|error| toml_error(path, &text, &error))?;
    let line_of = |span: std::ops::Range<usize>| line_column(&text, span.start).0;
    let bad = |span: std::ops::Range<usize>, key: &str, message: String| BundleError::Value {
        path: path.to_path_buf(),
        line: line_of(span),
        key: key.to_owned(),
        message,
    };
    let gib = |value: &Spanned<f64>, key: &str| -> Result<u64, BundleError> {
        let number = *value.get_ref();
        if number.is_finite() && number > 0.0 && number < 1e7 {
            Ok((number * GIB) as u64)
        } else {
            Err(bad(
                value.span(),
                key,
                "must be a positive size in GiB".to_owned(),
            ))
        }
    };
    let share_override = file
        .gpu_share_gib
        .as_ref()
        .map(|share| gib(share, "gpu_share_gib"))
        .transpose()?;
    // A wired limit above the memory there is would be reported and then silently clamped.
    let share_within = |total: u64| -> Result<(), BundleError> {
        match (&file.gpu_share_gib, share_override) {
            (Some(value), Some(share)) if share > total => Err(bad(
                value.span(),
                "gpu_share_gib",
                format!(
                    "{} is more than the machine's {} of unified memory",
                    super::format::bytes(share),
                    super::format::bytes(total)
                ),
            )),
            _ => Ok(()),
        }
    };
    if let Some(catalog) = &file.catalog {
        let name = catalog.get_ref();
        let hardware = hardware::find_hardware(name).ok_or_else(|| {
            let suggestions = hardware::suggest(name);
            bad(
                catalog.span(),
                "catalog",
                format!(
                    "`{name}` is not in the hardware catalog{}",
                    if suggestions.is_empty() {
                        String::new()
                    } else {
                        format!(" (did you mean {}?)", suggestions.join(", "))
                    }
                ),
            )
        })?;
        let line = line_of(catalog.span());
        let evidence = Evidence::key(
            display(path),
            Some(line as u64),
            "catalog",
            text.lines()
                .nth(line - 1)
                .unwrap_or_default()
                .trim()
                .to_owned(),
        );
        let total = hardware.total_device_memory_bytes();
        let (machine, note) = if hardware.kind == MemoryKind::Unified {
            share_within(total)?;
            let share = share_override.unwrap_or_else(|| hardware.gpu_memory_bytes(None));
            let note = if share_override.is_some() {
                format!(
                    "GPU share {} (gpu_share_gib in machine.toml)",
                    super::format::bytes(share)
                )
            } else if share == total {
                format!(
                    "the GPU may use all {} of unified memory",
                    super::format::bytes(total)
                )
            } else {
                format!(
                    "GPU share {} = macOS's default wired limit for {} (3/4 above 36 GiB, 2/3 below; `sudo sysctl iogpu.wired_limit_mb` raises it)",
                    super::format::bytes(share),
                    super::format::bytes(total)
                )
            };
            (Machine::unified(total, share), Some(note))
        } else {
            let system = match &file.system_memory_gib {
                Some(value) => gib(value, "system_memory_gib")?,
                None => hardware.system_memory_bytes().unwrap_or(u64::MAX / 4),
            };
            (Machine::discrete(total, system), None)
        };
        return Ok(MachineFacts {
            name: hardware.name.clone(),
            catalog_id: Some(hardware.id.clone()),
            machine,
            evidence,
            gpu_share_note: note,
        });
    }
    let memory = file.memory_gib.as_ref().ok_or_else(|| BundleError::Toml {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        message: "give `catalog = \"<hardware id>\"`, or `memory_gib` with `kind`".to_owned(),
    })?;
    let memory_bytes = gib(memory, "memory_gib")?;
    let kind = file
        .kind
        .as_ref()
        .map_or("unified", |kind| kind.get_ref().as_str());
    let line = line_of(memory.span());
    let evidence = Evidence::key(
        display(path),
        Some(line as u64),
        "memory_gib",
        text.lines()
            .nth(line - 1)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    );
    let (machine, note, name) = match kind {
        "unified" => {
            share_within(memory_bytes)?;
            let share =
                share_override.unwrap_or_else(|| macos_default_gpu_share_bytes(memory_bytes));
            let note = format!(
                "GPU share {} of {} unified memory ({})",
                super::format::bytes(share),
                super::format::bytes(memory_bytes),
                if share_override.is_some() {
                    "gpu_share_gib"
                } else {
                    "macOS default wired limit"
                }
            );
            (
                Machine::unified(memory_bytes, share),
                Some(note),
                format!("{} unified memory", super::format::bytes(memory_bytes)),
            )
        }
        "discrete" => {
            let gpu = file
                .gpu_memory_gib
                .as_ref()
                .map(|value| gib(value, "gpu_memory_gib"))
                .transpose()?
                .unwrap_or(0);
            (
                Machine::discrete(gpu, memory_bytes),
                None,
                format!(
                    "{} GPU + {} system memory",
                    super::format::bytes(gpu),
                    super::format::bytes(memory_bytes)
                ),
            )
        }
        other => {
            let span = file.kind.as_ref().map_or(0..0, Spanned::span);
            return Err(bad(
                span,
                "kind",
                format!("`{other}` is not \"unified\" or \"discrete\""),
            ));
        }
    };
    Ok(MachineFacts {
        name: file.name.unwrap_or(name),
        catalog_id: None,
        machine,
        evidence,
        gpu_share_note: note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_server_config_line() {
        let line = r#"time=2026-02-18T09:12:01.000+01:00 level=INFO source=routes.go:1331 msg="server config" env="map[HTTPS_PROXY: OLLAMA_CONTEXT_LENGTH:0 OLLAMA_KEEP_ALIVE:5m0s OLLAMA_NUM_PARALLEL:4 OLLAMA_ORIGINS:[http://localhost https://localhost] OLLAMA_KV_CACHE_TYPE:]""#;
        let variables = server_config_variables(line);
        assert_eq!(
            variables.get("OLLAMA_NUM_PARALLEL").map(String::as_str),
            Some("4")
        );
        assert_eq!(
            variables.get("OLLAMA_ORIGINS").map(String::as_str),
            Some("[http://localhost https://localhost]")
        );
        assert!(!variables.contains_key("OLLAMA_KV_CACHE_TYPE"));
    }

    #[test]
    fn a_bad_client_value_names_file_line_and_key() {
        let directory = tempfile::tempdir().unwrap();
        fs_err::write(
            directory.path().join("client.toml"),
            "model = \"x\"\napi = \"grpc\"\n",
        )
        .unwrap();
        let error = read_bundle(directory.path()).unwrap_err().to_string();
        assert!(
            error.ends_with("client.toml:2: `api`: `grpc` is not \"native\" or \"openai\""),
            "{error}"
        );
    }

    #[test]
    fn a_gpu_share_above_the_memory_names_file_line_and_key() {
        for (machine, line, total) in [
            (
                "kind = \"unified\"\nmemory_gib = 64\ngpu_share_gib = 100\n",
                3,
                "64.0 GiB",
            ),
            (
                "catalog = \"mac-mini-m4-pro-64gb\"\ngpu_share_gib = 70\n",
                2,
                "64.0 GiB",
            ),
        ] {
            let directory = tempfile::tempdir().unwrap();
            fs_err::write(directory.path().join("machine.toml"), machine).unwrap();
            let error = read_bundle(directory.path()).unwrap_err().to_string();
            assert!(
                error.contains(&format!("machine.toml:{line}: `gpu_share_gib`: "))
                    && error.ends_with(&format!(
                        "is more than the machine's {total} of unified memory"
                    )),
                "{error}"
            );
        }
        // At or under the memory is a wired limit like any other.
        let directory = tempfile::tempdir().unwrap();
        fs_err::write(
            directory.path().join("machine.toml"),
            "kind = \"unified\"\nmemory_gib = 64\ngpu_share_gib = 56\n",
        )
        .unwrap();
        assert!(read_bundle(directory.path()).is_ok());
    }

    #[test]
    fn an_unknown_field_is_an_error_with_its_position() {
        let directory = tempfile::tempdir().unwrap();
        fs_err::write(directory.path().join("client.toml"), "timeout = 300\n").unwrap();
        let error = read_bundle(directory.path()).unwrap_err().to_string();
        assert!(
            error.contains("client.toml:1:1: unknown field `timeout`"),
            "{error}"
        );
    }
}
