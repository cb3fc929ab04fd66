//! The gateway's TOML configuration: listener, backends, models and aliases, privacy rules,
//! deadlines. Parsing, validation and secret resolution live here; nothing else reads the file.
//!
//! Secrets (API keys, access and client tokens) are read only from the environment or from a
//! file named in the config, never from the TOML itself, and are held in [`Secret`], whose
//! `Debug` never prints the value.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Retries per request and backend before the first byte (`retries`).
const MAX_RETRIES: u32 = 10;

/// Where the gateway listens unless the config says otherwise: loopback only, one port above
/// Ollama's default 11434 (Ollama `envconfig/config.go`, `OLLAMA_HOST` default `127.0.0.1:11434`)
/// so both can run on one machine.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:11435";

/// Tokens reserved for the answer when neither the request (`max_tokens`, `num_predict`) nor the
/// model entry says how long the answer may be.
pub const DEFAULT_RESERVE_OUTPUT_TOKENS: u64 = 4_096;

/// Calibrated bytes per token for the estimator (central value). Measured with llama.cpp
/// `llama-tokenize` over Rust code, English Markdown and a Cargo.lock, with the qwen2, llama-bpe,
/// deepseek-coder and llama-spm vocabularies in `shared/fixtures/gguf`: ratios from 1.81 (hashes)
/// to 4.48 (code, llama-bpe); prose 2.88 to 3.54 (`scripts/gateway-calibrate.sh` prints the table).
pub const DEFAULT_ESTIMATE_BYTES_PER_TOKEN: f64 = 3.0;

/// The fewest bytes per token seen in that calibration (1.81, deepseek-coder on a Cargo.lock full
/// of hashes), rounded down: the estimator's upper bound divides by this.
pub const DEFAULT_WORST_BYTES_PER_TOKEN: f64 = 1.75;

/// An error in the configuration: which file, where, and what.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config")]
    Read(#[source] std::io::Error),
    /// The TOML did not parse or did not match the schema (the message names line and column).
    #[error("{path}: {source}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The TOML error, with its span.
        #[source]
        source: toml::de::Error,
    },
    /// A value parsed but makes no sense.
    #[error("{path}: {key}: {message}")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The key, as a dotted path (`backends.mistral.urls`).
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A secret named by the config could not be resolved.
    #[error("{path}: {key}: {message}")]
    Secret {
        /// The config file.
        path: PathBuf,
        /// The key naming the secret (`backends.mistral.api_key_env`).
        key: String,
        /// What is missing (never the value).
        message: String,
    },
}

/// A secret value (API key or token). `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it upstream or compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in time independent of where the first difference is.
    pub fn matches(&self, candidate: &str) -> bool {
        let left = self.0.as_bytes();
        let right = candidate.as_bytes();
        if left.len() != right.len() {
            return false;
        }
        left.iter()
            .zip(right)
            .fold(0u8, |accumulator, (a, b)| accumulator | (a ^ b))
            == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Secret(<redacted>)")
    }
}

/// Where a secret comes from: an environment variable or a file (first line, trimmed).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Environment variable holding the secret.
    #[serde(default, rename = "env")]
    pub env: Option<String>,
    /// File holding the secret.
    #[serde(default, rename = "file")]
    pub file: Option<PathBuf>,
}

/// The whole file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    backends: BTreeMap<String, RawBackend>,
    #[serde(default)]
    models: Vec<RawModel>,
    #[serde(default)]
    privacy: RawPrivacy,
    #[serde(default)]
    clients: Vec<RawClient>,
    machine: Option<crate::memory_fit::MachineConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    access_token_env: Option<String>,
    access_token_file: Option<PathBuf>,
    decision_log: Option<PathBuf>,
    #[serde(default)]
    log_prompt_text: bool,
    default_deadline_seconds: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    kind: BackendKind,
    urls: Vec<String>,
    local: Option<bool>,
    api_key_env: Option<String>,
    api_key_file: Option<PathBuf>,
    connect_timeout_seconds: Option<f64>,
    first_byte_timeout_seconds: Option<f64>,
    idle_timeout_seconds: Option<f64>,
    retries: Option<u32>,
    health_check_seconds: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    public_aliases: Vec<String>,
    reserve_output_tokens: Option<u64>,
    deadline_seconds: Option<f64>,
    local: Option<RawLocalTarget>,
    #[serde(default)]
    cloud: Vec<RawCloudTarget>,
    estimate_bytes_per_token: Option<f64>,
    worst_bytes_per_token: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocalTarget {
    backend: String,
    model: String,
    training_context_tokens: Option<u64>,
    max_num_ctx_tokens: Option<u64>,
    prefill_tokens_per_second: Option<f64>,
    gguf: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloudTarget {
    backend: String,
    model: String,
    context_window_tokens: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrivacy {
    #[serde(default)]
    allow_public_header: bool,
    #[serde(default)]
    public_project_paths: Vec<PathBuf>,
    #[serde(default)]
    private_project_paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    name: String,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    privacy: PrivacyMark,
}

/// What kind of server a backend is; decides the wire format and whether it can be local.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// Ollama, through its native `/api/chat` (per-request `num_ctx`, `truncate: false`).
    Ollama,
    /// llama.cpp `llama-server` (`/props`, `/slots`, `/tokenize`, `/v1/chat/completions`).
    LlamaServer,
    /// Any OpenAI-compatible server (vLLM, LM Studio); the URL includes the `/v1` prefix.
    Openai,
    /// Mistral's API (`https://api.mistral.ai/v1`, docs.mistral.ai quickstart).
    Mistral,
    /// Gemini's OpenAI-compatible endpoint
    /// (`https://generativelanguage.googleapis.com/v1beta/openai`, ai.google.dev OpenAI compatibility).
    Gemini,
}

impl BackendKind {
    /// Whether the backend speaks Ollama's native API (else OpenAI chat completions).
    pub fn is_ollama(self) -> bool {
        self == Self::Ollama
    }

    /// Hosted services can never be declared local.
    fn always_cloud(self) -> bool {
        matches!(self, Self::Mistral | Self::Gemini)
    }

    fn default_local(self) -> bool {
        matches!(self, Self::Ollama | Self::LlamaServer)
    }
}

/// A privacy mark a rule can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PrivacyMark {
    /// May only run on a local backend.
    Private,
    /// May leave the machine.
    Public,
}

/// The validated configuration the gateway runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listener and logging.
    pub server: ServerConfig,
    /// Backends by name.
    pub backends: BTreeMap<String, Backend>,
    /// Models clients can ask for.
    pub models: Vec<Model>,
    /// Privacy rules.
    pub privacy: PrivacyConfig,
    /// Clients known by token.
    pub clients: Vec<Client>,
    /// The machine local backends run on (enables the memory fit check).
    pub machine: Option<crate::memory_fit::MachineConfig>,
}

/// Listener and logging settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind; loopback unless the operator passes an explicit flag.
    pub listen: SocketAddr,
    /// Token every request must carry (`Authorization: Bearer` or `x-api-key`); required off loopback.
    pub access_token: Option<Secret>,
    /// JSON-lines decision log.
    pub decision_log: Option<PathBuf>,
    /// Whether the decision log may contain prompt text (off by default).
    pub log_prompt_text: bool,
    /// Deadline for the first token when neither the request nor the model sets one.
    pub default_deadline_seconds: Option<f64>,
}

/// One backend (a pool of one or more hosts of the same kind).
#[derive(Debug, Clone)]
pub struct Backend {
    /// Name in the config.
    pub name: String,
    /// Wire format.
    pub kind: BackendKind,
    /// Base URLs, one per host of the pool.
    pub urls: Vec<http::Uri>,
    /// Whether prompts sent here stay on machines the operator controls.
    pub local: bool,
    /// Bearer token sent upstream.
    pub api_key: Option<Secret>,
    /// TCP connect limit.
    pub connect_timeout_seconds: f64,
    /// Limit for the upstream's first body byte (None: the request's deadline, else none).
    pub first_byte_timeout_seconds: Option<f64>,
    /// Limit between two body chunks once streaming.
    pub idle_timeout_seconds: f64,
    /// Extra attempts on this backend before the next candidate (before the first byte only).
    pub retries: u32,
    /// Health probe period.
    pub health_check_seconds: f64,
}

/// A model clients can name, with where it may run.
#[derive(Debug, Clone)]
pub struct Model {
    /// Canonical name.
    pub name: String,
    /// Other names that resolve here without changing privacy.
    pub aliases: Vec<String>,
    /// Names that resolve here and mark the request public.
    pub public_aliases: Vec<String>,
    /// Tokens kept free for the answer.
    pub reserve_output_tokens: u64,
    /// Default first-token deadline for this model.
    pub deadline_seconds: Option<f64>,
    /// The local target, if any.
    pub local: Option<LocalTarget>,
    /// Cloud targets, any order (the router picks the smallest window that holds the request).
    pub cloud: Vec<CloudTarget>,
    /// Estimator calibration: central bytes per token.
    pub estimate_bytes_per_token: f64,
    /// Estimator calibration: fewest bytes per token expected (upper bound on tokens).
    pub worst_bytes_per_token: f64,
}

/// The local place a model runs.
#[derive(Debug, Clone)]
pub struct LocalTarget {
    /// Backend name.
    pub backend: String,
    /// Model name on that backend.
    pub model: String,
    /// Training window, when the operator states it (otherwise probed via `/api/show`).
    pub training_context_tokens: Option<u64>,
    /// The largest `num_ctx` memory allows (from `headroom` memory), until the fit check is plugged in;
    /// for a backend whose window is fixed at launch and cannot be probed, its window.
    pub max_num_ctx_tokens: Option<u64>,
    /// Prior prefill rate used until the backend's own timings are learned.
    pub prefill_tokens_per_second: Option<f64>,
    /// The model's GGUF for the memory fit check (else looked up in the Ollama store by name).
    pub gguf: Option<PathBuf>,
}

/// A cloud place a model runs.
#[derive(Debug, Clone)]
pub struct CloudTarget {
    /// Backend name.
    pub backend: String,
    /// Model name on that backend.
    pub model: String,
    /// The provider's documented input window.
    pub context_window_tokens: u64,
}

/// Privacy rules; a request is private unless one of them marks it public.
#[derive(Debug, Clone, Default)]
pub struct PrivacyConfig {
    /// Whether `x-headroom-privacy: public` is honoured (`private` always is).
    pub allow_public_header: bool,
    /// Project paths (header `x-headroom-project`) whose requests are public.
    pub public_project_paths: Vec<PathBuf>,
    /// Project paths that stay private even under a public path or rule.
    pub private_project_paths: Vec<PathBuf>,
}

/// A client known by its token.
#[derive(Debug, Clone)]
pub struct Client {
    /// Name for logs.
    pub name: String,
    /// Its token.
    pub token: Secret,
    /// The privacy its requests get.
    pub privacy: PrivacyMark,
}

/// Looks secrets up; the environment in production, a map in tests.
pub trait SecretLookup {
    /// The value of an environment variable.
    fn env(&self, name: &str) -> Option<String>;
}

/// Reads the process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl SecretLookup for ProcessEnvironment {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl SecretLookup for BTreeMap<String, String> {
    fn env(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path, secrets: &dyn SecretLookup) -> Result<Self, ConfigError> {
        let text = fs_err::read_to_string(path).map_err(ConfigError::Read)?;
        Self::parse(&text, path, secrets)
    }

    /// Parses and validates config text; `path` is used in messages and to resolve relative files.
    pub fn parse(text: &str, path: &Path, secrets: &dyn SecretLookup) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        Validator { path, secrets }.validate(raw)
    }

    /// The model a client name resolves to, and whether the name was a public alias.
    pub fn resolve_model(&self, name: &str) -> Option<(usize, bool)> {
        self.models.iter().enumerate().find_map(|(index, model)| {
            if model.name == name || model.aliases.iter().any(|alias| alias == name) {
                Some((index, false))
            } else if model.public_aliases.iter().any(|alias| alias == name) {
                Some((index, true))
            } else {
                None
            }
        })
    }
}

struct Validator<'a> {
    path: &'a Path,
    secrets: &'a dyn SecretLookup,
}

impl Validator<'_> {
    fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            key: key.into(),
            message: message.into(),
        }
    }

    fn relative(&self, file: &Path) -> PathBuf {
        if file.is_absolute() {
            return file.to_path_buf();
        }
        match self.path.parent() {
            Some(parent) => parent.join(file),
            None => file.to_path_buf(),
        }
    }

    fn secret(
        &self,
        key: &str,
        env: Option<&String>,
        file: Option<&PathBuf>,
    ) -> Result<Option<Secret>, ConfigError> {
        let error = |message: String| ConfigError::Secret {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        match (env, file) {
            (Some(_), Some(_)) => Err(error(
                "set either the _env or the _file key, not both".into(),
            )),
            (Some(name), None) => match self.secrets.env(name) {
                Some(value) if !value.trim().is_empty() => Ok(Some(Secret::new(value.trim()))),
                _ => Err(error(format!(
                    "environment variable {name} is unset or empty"
                ))),
            },
            (None, Some(file)) => {
                let file = self.relative(file);
                let text = fs_err::read_to_string(&file)
                    .map_err(|source| error(format!("cannot read secret file: {source}")))?;
                let value = text.lines().next().unwrap_or("").trim().to_string();
                if value.is_empty() {
                    return Err(error(format!("{} is empty", file.display())));
                }
                Ok(Some(Secret::new(value)))
            }
            (None, None) => Ok(None),
        }
    }

    fn positive(&self, key: &str, value: Option<f64>, default: f64) -> Result<f64, ConfigError> {
        let value = value.unwrap_or(default);
        if value.is_finite() && value > 0.0 {
            Ok(value)
        } else {
            Err(self.invalid(
                key,
                format!("must be a positive number of seconds, got {value}"),
            ))
        }
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let listen_text = raw.server.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            self.invalid(
                "server.listen",
                format!("{listen_text:?} is not an address like 127.0.0.1:11435"),
            )
        })?;
        if let Some(seconds) = raw.server.default_deadline_seconds {
            self.positive("server.default_deadline_seconds", Some(seconds), 1.0)?;
        }
        let server = ServerConfig {
            listen,
            access_token: self.secret(
                "server.access_token_env",
                raw.server.access_token_env.as_ref(),
                raw.server.access_token_file.as_ref(),
            )?,
            decision_log: raw
                .server
                .decision_log
                .as_deref()
                .map(|file| self.relative(file)),
            log_prompt_text: raw.server.log_prompt_text,
            default_deadline_seconds: raw.server.default_deadline_seconds,
        };

        let mut backends = BTreeMap::new();
        for (name, backend) in raw.backends {
            let key = format!("backends.{name}");
            if backend.urls.is_empty() {
                return Err(self.invalid(format!("{key}.urls"), "needs at least one URL"));
            }
            let mut urls = Vec::with_capacity(backend.urls.len());
            for (index, url) in backend.urls.iter().enumerate() {
                let uri: http::Uri = url.parse().map_err(|_| {
                    self.invalid(
                        format!("{key}.urls[{index}]"),
                        format!("{url:?} is not a URL"),
                    )
                })?;
                match uri.scheme_str() {
                    Some("http") | Some("https") => {}
                    _ => {
                        return Err(self.invalid(
                            format!("{key}.urls[{index}]"),
                            format!("{url:?} must start with http:// or https://"),
                        ));
                    }
                }
                if uri.host().is_none() {
                    return Err(self.invalid(
                        format!("{key}.urls[{index}]"),
                        format!("{url:?} has no host"),
                    ));
                }
                urls.push(uri);
            }
            let local = backend.local.unwrap_or(backend.kind.default_local());
            if local && backend.kind.always_cloud() {
                return Err(self.invalid(
                    format!("{key}.local"),
                    "a hosted service (mistral, gemini) cannot be declared local",
                ));
            }
            let api_key = self.secret(
                &format!("{key}.api_key_env"),
                backend.api_key_env.as_ref(),
                backend.api_key_file.as_ref(),
            )?;
            let first_byte_timeout_seconds = match backend.first_byte_timeout_seconds {
                Some(seconds) => Some(self.positive(
                    &format!("{key}.first_byte_timeout_seconds"),
                    Some(seconds),
                    1.0,
                )?),
                None => None,
            };
            backends.insert(
                name.clone(),
                Backend {
                    name: name.clone(),
                    kind: backend.kind,
                    urls,
                    local,
                    api_key,
                    connect_timeout_seconds: self.positive(
                        &format!("{key}.connect_timeout_seconds"),
                        backend.connect_timeout_seconds,
                        5.0,
                    )?,
                    first_byte_timeout_seconds,
                    idle_timeout_seconds: self.positive(
                        &format!("{key}.idle_timeout_seconds"),
                        backend.idle_timeout_seconds,
                        300.0,
                    )?,
                    retries: match backend.retries.unwrap_or(1) {
                        retries @ 0..=MAX_RETRIES => retries,
                        retries => {
                            return Err(self.invalid(
                                format!("{key}.retries"),
                                format!(
                                    "at most {MAX_RETRIES} (each retry is another paid request), got {retries}"
                                ),
                            ));
                        }
                    },
                    health_check_seconds: self.positive(
                        &format!("{key}.health_check_seconds"),
                        backend.health_check_seconds,
                        10.0,
                    )?,
                },
            );
        }

        let mut names = std::collections::BTreeSet::new();
        let mut models = Vec::with_capacity(raw.models.len());
        for (index, model) in raw.models.into_iter().enumerate() {
            let key = format!("models[{index}]");
            for name in std::iter::once(&model.name)
                .chain(&model.aliases)
                .chain(&model.public_aliases)
            {
                if name.is_empty() {
                    return Err(
                        self.invalid(key.clone(), "model names and aliases must not be empty")
                    );
                }
                if !names.insert(name.clone()) {
                    return Err(
                        self.invalid(key.clone(), format!("the name {name:?} is used twice"))
                    );
                }
            }
            if model.local.is_none() && model.cloud.is_empty() {
                return Err(self.invalid(key, "needs a local target or at least one cloud target"));
            }
            let local = match model.local {
                Some(local) => {
                    let backend = backends.get(&local.backend).ok_or_else(|| {
                        self.invalid(
                            format!("{key}.local.backend"),
                            format!("no backend named {:?}", local.backend),
                        )
                    })?;
                    if !backend.local {
                        return Err(self.invalid(
                            format!("{key}.local.backend"),
                            format!("backend {:?} is not local (set local = true on it if it runs on your machines)", local.backend),
                        ));
                    }
                    if let Some(rate) = local.prefill_tokens_per_second {
                        self.positive(
                            &format!("{key}.local.prefill_tokens_per_second"),
                            Some(rate),
                            1.0,
                        )?;
                    }
                    Some(LocalTarget {
                        backend: local.backend,
                        model: local.model,
                        training_context_tokens: local.training_context_tokens,
                        max_num_ctx_tokens: local.max_num_ctx_tokens,
                        prefill_tokens_per_second: local.prefill_tokens_per_second,
                        gguf: local.gguf.as_deref().map(|file| self.relative(file)),
                    })
                }
                None => None,
            };
            let mut cloud = Vec::with_capacity(model.cloud.len());
            for (cloud_index, target) in model.cloud.into_iter().enumerate() {
                let target_key = format!("{key}.cloud[{cloud_index}]");
                let backend = backends.get(&target.backend).ok_or_else(|| {
                    self.invalid(
                        format!("{target_key}.backend"),
                        format!("no backend named {:?}", target.backend),
                    )
                })?;
                if backend.local {
                    return Err(self.invalid(
                        format!("{target_key}.backend"),
                        format!(
                            "backend {:?} is local; list it under local, not cloud",
                            target.backend
                        ),
                    ));
                }
                if target.context_window_tokens == 0 {
                    return Err(self.invalid(
                        format!("{target_key}.context_window_tokens"),
                        "must be positive",
                    ));
                }
                cloud.push(CloudTarget {
                    backend: target.backend,
                    model: target.model,
                    context_window_tokens: target.context_window_tokens,
                });
            }
            let estimate = model
                .estimate_bytes_per_token
                .unwrap_or(DEFAULT_ESTIMATE_BYTES_PER_TOKEN);
            let worst = model
                .worst_bytes_per_token
                .unwrap_or(DEFAULT_WORST_BYTES_PER_TOKEN);
            if !(worst.is_finite() && worst >= 1.0 && estimate.is_finite() && estimate >= worst) {
                return Err(self.invalid(
                    key,
                    "need 1 <= worst_bytes_per_token <= estimate_bytes_per_token",
                ));
            }
            models.push(Model {
                name: model.name,
                aliases: model.aliases,
                public_aliases: model.public_aliases,
                reserve_output_tokens: model
                    .reserve_output_tokens
                    .unwrap_or(DEFAULT_RESERVE_OUTPUT_TOKENS),
                deadline_seconds: model.deadline_seconds,
                local,
                cloud,
                estimate_bytes_per_token: estimate,
                worst_bytes_per_token: worst,
            });
        }

        let mut clients = Vec::with_capacity(raw.clients.len());
        for (index, client) in raw.clients.into_iter().enumerate() {
            let key = format!("clients[{index}]");
            let token = self
                .secret(
                    &format!("{key}.token_env"),
                    client.token_env.as_ref(),
                    client.token_file.as_ref(),
                )?
                .ok_or_else(|| self.invalid(key.clone(), "needs token_env or token_file"))?;
            clients.push(Client {
                name: client.name,
                token,
                privacy: client.privacy,
            });
        }

        Ok(Config {
            server,
            backends,
            models,
            privacy: PrivacyConfig {
                allow_public_header: raw.privacy.allow_public_header,
                public_project_paths: raw.privacy.public_project_paths,
                private_project_paths: raw.privacy.private_project_paths,
            },
            clients,
            machine: raw.machine,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::parse(text, Path::new("/etc/headroom/gateway.toml"), &env)
    }

    const MINIMAL: &str = r#"
[backends.local]
kind = "ollama"
urls = ["http://127.0.0.1:11434"]

[[models]]
name = "qwen"
[models.local]
backend = "local"
model = "qwen3-coder:30b"
"#;

    #[test]
    fn defaults_to_loopback() {
        let config = parse(MINIMAL, &[]).unwrap();
        assert_eq!(config.server.listen.to_string(), DEFAULT_LISTEN);
        assert!(config.server.listen.ip().is_loopback());
        assert!(config.backends["local"].local);
    }

    #[test]
    fn story_example_parses() {
        let text = include_str!("../../../examples/gateway/story.toml");
        let config = parse(
            text,
            &[("MISTRAL_API_KEY", "m-key"), ("GEMINI_API_KEY", "g-key")],
        )
        .unwrap();
        assert_eq!(config.models[0].cloud.len(), 2);
        assert!(!config.backends["mistral"].local);
    }

    #[test]
    fn retries_above_ten_are_refused_not_clamped() {
        let with = |retries: u32| {
            MINIMAL.replace(
                "urls = [\"http://127.0.0.1:11434\"]",
                &format!("urls = [\"http://127.0.0.1:11434\"]\nretries = {retries}"),
            )
        };
        assert_eq!(parse(&with(10), &[]).unwrap().backends["local"].retries, 10);
        assert_eq!(parse(&with(0), &[]).unwrap().backends["local"].retries, 0);
        let error = parse(&with(11), &[]).unwrap_err().to_string();
        assert!(
            error.contains("backends.local.retries: at most 10") && error.ends_with("got 11"),
            "{error}"
        );
    }

    #[test]
    fn rejects_mistral_declared_local() {
        let text = r#"
[backends.m]
kind = "mistral"
urls = ["https://api.mistral.ai/v1"]
local = true
"#;
        let error = parse(text, &[]).unwrap_err().to_string();
        assert!(error.contains("backends.m.local"), "{error}");
    }

    #[test]
    fn rejects_cloud_backend_as_local_target() {
        let text = r#"
[backends.m]
kind = "openai"
urls = ["https://example.invalid/v1"]
[[models]]
name = "x"
[models.local]
backend = "m"
model = "x"
"#;
        let error = parse(text, &[]).unwrap_err().to_string();
        assert!(error.contains("models[0].local.backend"), "{error}");
    }

    #[test]
    fn missing_api_key_env_names_the_variable_not_a_value() {
        let text = r#"
[backends.m]
kind = "mistral"
urls = ["https://api.mistral.ai/v1"]
api_key_env = "MISTRAL_API_KEY"
"#;
        let error = parse(text, &[]).unwrap_err().to_string();
        assert!(error.contains("MISTRAL_API_KEY is unset"), "{error}");
    }

    #[test]
    fn secret_debug_is_redacted() {
        let text = r#"
[backends.m]
kind = "mistral"
urls = ["https://api.mistral.ai/v1"]
api_key_env = "K"
"#;
        let config = parse(text, &[("K", "sk-very-secret")]).unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("sk-very-secret"));
        assert_eq!(
            config.backends["m"].api_key.as_ref().unwrap().expose(),
            "sk-very-secret"
        );
    }

    #[test]
    fn unknown_key_reports_line() {
        let error = parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n", &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 3"), "{error}");
    }

    #[test]
    fn rejects_duplicate_alias() {
        let text = MINIMAL.replace(
            "name = \"qwen\"\n",
            "name = \"qwen\"\naliases = [\"qwen\"]\n",
        );
        let error = parse(&text, &[]).unwrap_err().to_string();
        assert!(error.contains("used twice"), "{error}");
    }

    #[test]
    fn resolves_public_alias() {
        let text = MINIMAL.replace(
            "name = \"qwen\"\n",
            "name = \"qwen\"\npublic_aliases = [\"qwen-public\"]\n",
        );
        let config = parse(&text, &[]).unwrap();
        assert_eq!(config.resolve_model("qwen-public"), Some((0, true)));
        assert_eq!(config.resolve_model("qwen"), Some((0, false)));
        assert_eq!(config.resolve_model("other"), None);
    }

    #[test]
    fn secret_match_is_exact() {
        let secret = Secret::new("abc");
        assert!(secret.matches("abc"));
        assert!(!secret.matches("abd"));
        assert!(!secret.matches("ab"));
    }
}
