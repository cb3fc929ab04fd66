//! The built-in model catalog: published Hugging Face `config.json` values of popular open models
//! (`data/models.toml`) and the hosted models requests can be routed to (`data/cloud-models.toml`).
//!
//! Both files are embedded at build time and parsed on first use. A test parses them, so a broken
//! file cannot ship; at run time a parse failure is still reported as a [`CatalogError`], never a panic.
//! Model configs keep the upstream key names verbatim so `ModelSpec::from_hf_config` can read them
//! exactly as it reads a `config.json` from disk.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// Embedded model catalog, `crates/headroom-core/data/models.toml`.
pub const MODELS_TOML: &str = include_str!("../data/models.toml");
/// Embedded cloud model catalog, `crates/headroom-core/data/cloud-models.toml`.
pub const CLOUD_MODELS_TOML: &str = include_str!("../data/cloud-models.toml");

const MODELS_FILE: &str = "data/models.toml";
const CLOUD_MODELS_FILE: &str = "data/cloud-models.toml";

/// Why a catalog file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The TOML did not parse or did not match the schema.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// Catalog file, relative to the crate.
        file: &'static str,
        /// 1-based line of the error (0 when the parser gave no position).
        line: usize,
        /// 1-based column of the error (0 when the parser gave no position).
        column: usize,
        /// The parser's message.
        message: String,
        /// The underlying parser error.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// An entry is well-formed TOML but breaks a catalog rule (duplicate id, ambiguous alias, ...).
    #[error("{file}: entry `{id}`: {problem}")]
    Invalid {
        /// Catalog file, relative to the crate.
        file: &'static str,
        /// The `id` of the offending entry.
        id: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl CatalogError {
    /// Builds a [`CatalogError::Parse`] with the line and column of the parser's byte span.
    pub(crate) fn from_toml(file: &'static str, text: &str, source: toml::de::Error) -> Self {
        let (line, column) = source
            .span()
            .map(|span| line_column(text, span.start))
            .unwrap_or((0, 0));
        CatalogError::Parse {
            file,
            line,
            column,
            message: source.message().to_owned(),
            source: Box::new(source),
        }
    }
}

/// 1-based line and column of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.chars().count(), |newline| {
            before.get(newline + 1..).unwrap_or("").chars().count()
        })
        + 1;
    (line, column)
}

/// Where a catalog figure was read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSource {
    /// What the source backs (`config` for the HF `config.json`).
    pub what: String,
    /// The upstream page the values describe (the Hugging Face `config.json` URL for `config`).
    pub url: String,
    /// The stored copy that was actually read (commit-pinned repository path or page URL).
    pub retrieved_from: String,
    /// `official`, `verbatim-copy`, `copy`, `derivative` or `test-fixture`.
    pub provenance: String,
    /// Retrieval date, `YYYY-MM-DD`.
    pub retrieved: String,
}

/// A parameter count with the page it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterCount {
    /// Number of parameters.
    pub count: u64,
    /// Where the figure is published (model card).
    pub source: String,
}

/// One open model of the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogModel {
    /// Stable kebab-case id, e.g. `qwen3-coder-30b-a3b`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Model family, e.g. `qwen3-coder`.
    pub family: String,
    /// Hugging Face repository the config describes, `owner/name`.
    pub hf_repo: String,
    /// Other names that resolve to this model: Ollama `name:tag`s, HF repository names.
    pub aliases: Vec<String>,
    /// Sources of the config values.
    pub sources: Vec<ModelSource>,
    /// Total parameters, where a model card publishes them.
    pub parameters_total: Option<ParameterCount>,
    /// Parameters active per token (mixture-of-experts models), where published.
    pub parameters_active: Option<ParameterCount>,
    /// The Hugging Face `config.json` as JSON, keys and values verbatim (nulls restored).
    pub config: serde_json::Value,
    /// Set when the published file omits keys that take a library's defaults (e.g.
    /// `transformers Gemma3TextConfig`); a reader must apply those defaults for absent keys.
    pub config_defaults: Option<String>,
    /// Caveats: how llama.cpp/Ollama differ from the HF values, provenance doubts.
    pub notes: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModelCatalog {
    models: Vec<RawModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    id: String,
    name: String,
    family: String,
    hf_repo: String,
    #[serde(default)]
    aliases: Vec<String>,
    notes: Option<String>,
    parameters_total: Option<u64>,
    parameters_total_source: Option<String>,
    parameters_active: Option<u64>,
    parameters_active_source: Option<String>,
    #[serde(default)]
    config_null_keys: Vec<String>,
    config_defaults: Option<String>,
    sources: Vec<ModelSource>,
    config: toml::Table,
}

/// A hosted model that requests can be routed to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudModel {
    /// Stable id, e.g. `devstral-2512`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Provider, e.g. `mistral`, `anthropic`.
    pub provider: String,
    /// The model name the provider's API expects.
    pub api_model: String,
    /// Other names that resolve to this model.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Context window in tokens.
    pub context_window_tokens: u64,
    /// Largest completion in tokens, where published.
    pub max_output_tokens: Option<u64>,
    /// Price of input tokens, USD per million, where published.
    pub input_usd_per_million_tokens: Option<f64>,
    /// Price of output tokens, USD per million, where published.
    pub output_usd_per_million_tokens: Option<f64>,
    /// OpenAI-compatible base URL, where a source shows one.
    pub openai_base_url: Option<String>,
    /// What is not certain about the figures.
    pub uncertain: Option<String>,
    /// Pages the figures come from.
    pub sources: Vec<CloudSource>,
}

/// Source of a cloud model's figures.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudSource {
    /// Page URL.
    pub url: String,
    /// What the page says (quoted figures).
    pub note: String,
    /// Retrieval date, `YYYY-MM-DD`.
    pub retrieved: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloudCatalog {
    cloud_models: Vec<CloudModel>,
}

static MODELS: LazyLock<Result<Vec<CatalogModel>, CatalogError>> =
    LazyLock::new(|| parse_models(MODELS_TOML));
static CLOUD_MODELS: LazyLock<Result<Vec<CloudModel>, CatalogError>> =
    LazyLock::new(|| parse_cloud_models(CLOUD_MODELS_TOML));

/// The open-model catalog, or why it failed to load.
pub fn try_models() -> Result<&'static [CatalogModel], &'static CatalogError> {
    MODELS.as_deref()
}

/// The open-model catalog. Empty only if the embedded file failed to load, which the crate's
/// tests rule out; call [`try_models`] to see the error.
pub fn models() -> &'static [CatalogModel] {
    try_models().unwrap_or(&[])
}

/// The cloud-model catalog, or why it failed to load.
pub fn try_cloud_models() -> Result<&'static [CloudModel], &'static CatalogError> {
    CLOUD_MODELS.as_deref()
}

/// The cloud-model catalog (empty only if the embedded file failed to load; see [`try_cloud_models`]).
pub fn cloud_models() -> &'static [CloudModel] {
    try_cloud_models().unwrap_or(&[])
}

/// Parses a model catalog in the `data/models.toml` schema and checks its rules.
pub fn parse_models(text: &str) -> Result<Vec<CatalogModel>, CatalogError> {
    let raw: RawModelCatalog =
        toml::from_str(text).map_err(|error| CatalogError::from_toml(MODELS_FILE, text, error))?;
    let mut models = Vec::with_capacity(raw.models.len());
    for entry in raw.models {
        models.push(convert_model(entry)?);
    }
    check_names_unique(
        MODELS_FILE,
        models
            .iter()
            .map(|model| (model.id.as_str(), model_names(model).collect())),
    )?;
    Ok(models)
}

/// Parses a cloud catalog in the `data/cloud-models.toml` schema and checks its rules.
pub fn parse_cloud_models(text: &str) -> Result<Vec<CloudModel>, CatalogError> {
    let raw: RawCloudCatalog = toml::from_str(text)
        .map_err(|error| CatalogError::from_toml(CLOUD_MODELS_FILE, text, error))?;
    for model in &raw.cloud_models {
        if model.sources.is_empty() {
            return Err(invalid(CLOUD_MODELS_FILE, &model.id, "no sources"));
        }
    }
    check_names_unique(
        CLOUD_MODELS_FILE,
        raw.cloud_models
            .iter()
            .map(|model| (model.id.as_str(), cloud_names(model).collect())),
    )?;
    Ok(raw.cloud_models)
}

fn invalid(file: &'static str, id: &str, problem: impl Into<String>) -> CatalogError {
    CatalogError::Invalid {
        file,
        id: id.to_owned(),
        problem: problem.into(),
    }
}

fn convert_model(raw: RawModel) -> Result<CatalogModel, CatalogError> {
    let id = raw.id;
    if !is_kebab_case(&id) {
        return Err(invalid(MODELS_FILE, &id, "id is not kebab-case"));
    }
    if raw.sources.is_empty() {
        return Err(invalid(MODELS_FILE, &id, "no sources"));
    }
    let parameters_total = sourced_count(
        &id,
        "parameters_total",
        raw.parameters_total,
        raw.parameters_total_source,
    )?;
    let parameters_active = sourced_count(
        &id,
        "parameters_active",
        raw.parameters_active,
        raw.parameters_active_source,
    )?;
    let mut config = toml_table_to_json(raw.config);
    for path in &raw.config_null_keys {
        restore_null(&mut config, path)
            .map_err(|problem| invalid(MODELS_FILE, &id, format!("config_null_keys: {problem}")))?;
    }
    Ok(CatalogModel {
        id,
        name: raw.name,
        family: raw.family,
        hf_repo: raw.hf_repo,
        aliases: raw.aliases,
        sources: raw.sources,
        parameters_total,
        parameters_active,
        config,
        config_defaults: raw.config_defaults,
        notes: raw.notes,
    })
}

fn sourced_count(
    id: &str,
    field: &str,
    count: Option<u64>,
    source: Option<String>,
) -> Result<Option<ParameterCount>, CatalogError> {
    match (count, source) {
        (None, None) => Ok(None),
        (Some(count), Some(source)) if !source.trim().is_empty() => {
            Ok(Some(ParameterCount { count, source }))
        }
        (Some(_), _) => Err(invalid(
            MODELS_FILE,
            id,
            format!("{field} has no {field}_source"),
        )),
        (None, Some(_)) => Err(invalid(
            MODELS_FILE,
            id,
            format!("{field}_source without {field}"),
        )),
    }
}

fn is_kebab_case(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && !id.ends_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

/// Converts a TOML table to JSON. TOML integers stay integers, floats stay floats, so the HF value
/// types survive (`rope_theta = 1000000` vs `1000000.0`).
fn toml_table_to_json(table: toml::Table) -> serde_json::Value {
    serde_json::Value::Object(
        table
            .into_iter()
            .map(|(key, value)| (key, toml_to_json(value)))
            .collect(),
    )
}

fn toml_to_json(value: toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(text) => serde_json::Value::String(text),
        toml::Value::Integer(number) => serde_json::Value::from(number),
        toml::Value::Float(number) => serde_json::Number::from_f64(number)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        toml::Value::Boolean(flag) => serde_json::Value::Bool(flag),
        toml::Value::Datetime(datetime) => serde_json::Value::String(datetime.to_string()),
        toml::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(toml_to_json).collect())
        }
        toml::Value::Table(table) => toml_table_to_json(table),
    }
}

/// Sets the dotted `path` (e.g. `text_config.rope_scaling`) to JSON null. TOML has no null, so the
/// data file lists the HF keys whose value is null and they are restored here.
fn restore_null(config: &mut serde_json::Value, path: &str) -> Result<(), String> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else {
        return Err("empty path".to_owned());
    };
    let mut node = config;
    for part in parts {
        node = node
            .get_mut(part)
            .ok_or_else(|| format!("`{path}`: no table `{part}`"))?;
    }
    let object = node
        .as_object_mut()
        .ok_or_else(|| format!("`{path}`: parent is not a table"))?;
    if object.contains_key(last) {
        return Err(format!("`{path}` has a value and is also listed as null"));
    }
    object.insert(last.to_owned(), serde_json::Value::Null);
    Ok(())
}

/// Every name (id, alias, repository) must resolve to exactly one entry, compared the way
/// [`find`] compares names. `entries` yields each id with its normalized names.
pub(crate) fn check_names_unique<'a>(
    file: &'static str,
    entries: impl Iterator<Item = (&'a str, Vec<String>)>,
) -> Result<(), CatalogError> {
    let mut owner: HashMap<String, &str> = HashMap::new();
    for (id, names) in entries {
        for key in names {
            if key.is_empty() {
                return Err(invalid(file, id, "empty alias"));
            }
            match owner.get(&key) {
                Some(other) if *other != id => {
                    return Err(invalid(
                        file,
                        id,
                        format!("name `{key}` also names `{other}`"),
                    ));
                }
                _ => {
                    owner.insert(key, id);
                }
            }
        }
    }
    Ok(())
}

/// Lower-cases and strips registry prefixes: `registry.ollama.ai/library/qwen3:8b` -> `qwen3:8b`,
/// `hf.co/Qwen/Qwen3-8B` -> `qwen/qwen3-8b`.
pub(crate) fn normalize_name(name: &str) -> String {
    let mut name = name.trim().to_ascii_lowercase();
    for prefix in [
        "https://",
        "http://",
        "registry.ollama.ai/",
        "ollama.com/",
        "huggingface.co/",
        "hf.co/",
        "library/",
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            name = rest.to_owned();
        }
    }
    name
}

/// Finds a catalog model by id, alias, Hugging Face repository (with or without the owner), or an
/// Ollama `name:tag`. Case-insensitive. An Ollama tag with a quantization or variant suffix
/// (`qwen3-coder:30b-a3b-q4_K_M`) falls back to its shorter prefixes (`qwen3-coder:30b-a3b`,
/// `qwen3-coder:30b`); `name:latest` falls back to `name`.
pub fn find(name: &str) -> Option<&'static CatalogModel> {
    let key = normalize_name(name);
    if key.is_empty() {
        return None;
    }
    let exact = |candidate: &str| {
        models()
            .iter()
            .find(|model| model_names(model).any(|known| known == candidate))
    };
    if let Some(model) = exact(&key) {
        return Some(model);
    }
    let (base, tag) = key.split_once(':')?;
    if tag == "latest" {
        return exact(base);
    }
    let mut tag = tag;
    while let Some((shorter, _)) = tag.rsplit_once('-') {
        tag = shorter;
        if let Some(model) = exact(&format!("{base}:{tag}")) {
            return Some(model);
        }
    }
    None
}

/// All normalized names of a model: id, aliases, HF repository and its bare name.
fn model_names(model: &CatalogModel) -> impl Iterator<Item = String> + '_ {
    let repo_name = model
        .hf_repo
        .rsplit_once('/')
        .map(|(_, name)| name)
        .unwrap_or(&model.hf_repo);
    [model.id.as_str(), model.hf_repo.as_str(), repo_name]
        .into_iter()
        .chain(model.aliases.iter().map(String::as_str))
        .map(normalize_name)
}

/// All normalized names of a cloud model: id, API model name, aliases.
fn cloud_names(model: &CloudModel) -> impl Iterator<Item = String> + '_ {
    [model.id.as_str(), model.api_model.as_str()]
        .into_iter()
        .chain(model.aliases.iter().map(String::as_str))
        .map(normalize_name)
}

/// Finds a cloud model by id, API model name or alias, case-insensitively.
pub fn find_cloud(name: &str) -> Option<&'static CloudModel> {
    let key = normalize_name(name);
    cloud_models()
        .iter()
        .find(|model| cloud_names(model).any(|known| known == key))
}

/// Closest catalog model ids to `name`, best first, for a "did you mean" hint (at most 5).
pub fn suggest(name: &str) -> Vec<&'static str> {
    suggest_among(
        name,
        models().iter().map(|model| {
            let names: Vec<String> = model_names(model).collect();
            (model.id.as_str(), names)
        }),
    )
}

/// Closest cloud model ids to `name`, best first (at most 5).
pub fn suggest_cloud(name: &str) -> Vec<&'static str> {
    suggest_among(
        name,
        cloud_models()
            .iter()
            .map(|model| (model.id.as_str(), cloud_names(model).collect())),
    )
}

/// Ranks `(id, names)` candidates by their best name's distance to `query`. A name that contains
/// the query ranks first; otherwise the edit distance must be at most a third of the query's
/// length (at least 2), so unrelated names are not offered.
pub(crate) fn suggest_among<'a>(
    query: &str,
    candidates: impl Iterator<Item = (&'a str, Vec<String>)>,
) -> Vec<&'a str> {
    const MAX_SUGGESTIONS: usize = 5;
    let query = normalize_name(query);
    if query.is_empty() {
        return Vec::new();
    }
    let limit = (query.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = Vec::new();
    for (id, names) in candidates {
        let best = names
            .iter()
            .map(|name| {
                if name.contains(&query) {
                    0
                } else {
                    edit_distance(&query, name)
                }
            })
            .min();
        if let Some(distance) = best
            && distance <= limit
        {
            scored.push((distance, id));
        }
    }
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, id)| id)
        .collect()
}

/// Levenshtein distance over chars, two rows of memory.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("qwen3", "qwen3"), 0);
        assert_eq!(edit_distance("qwen3", "qwen2"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn rejects_parameter_count_without_source() {
        let text = r#"
[[models]]
id = "x"
name = "X"
family = "x"
hf_repo = "o/x"
parameters_total = 5
[[models.sources]]
what = "config"
url = "u"
retrieved_from = "r"
provenance = "official"
retrieved = "2026-11-26"
[models.config]
hidden_size = 1
"#;
        let error = parse_models(text).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("data/models.toml: entry `x`: parameters_total has no parameters_total_source")
        );
    }

    #[test]
    fn reports_line_and_column_of_bad_toml() {
        let error = parse_models("[[models]]\nid = \n").err();
        match error {
            Some(CatalogError::Parse { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn rejects_alias_shared_by_two_models() {
        let entry = |id: &str| {
            format!(
                "[[models]]\nid = \"{id}\"\nname = \"n\"\nfamily = \"f\"\nhf_repo = \"o/{id}\"\naliases = [\"Same\"]\n\
                 [[models.sources]]\nwhat = \"config\"\nurl = \"u\"\nretrieved_from = \"r\"\nprovenance = \"official\"\nretrieved = \"d\"\n\
                 [models.config]\nhidden_size = 1\n"
            )
        };
        let text = format!("{}{}", entry("a"), entry("b"));
        let error = parse_models(&text).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("data/models.toml: entry `b`: name `same` also names `a`")
        );
    }

    #[test]
    fn restores_nested_nulls() {
        let mut config = serde_json::json!({"text_config": {"a": 1}});
        assert_eq!(restore_null(&mut config, "text_config.b"), Ok(()));
        assert_eq!(
            config,
            serde_json::json!({"text_config": {"a": 1, "b": null}})
        );
        assert!(restore_null(&mut config, "missing.b").is_err());
        assert!(restore_null(&mut config, "text_config.a").is_err());
    }
}
