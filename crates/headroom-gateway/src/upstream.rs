//! Talking to backends: one pooled HTTP/1 client per backend, host pools with health state,
//! probes of what a local server has loaded (Ollama `/api/ps` and `/api/show`, llama-server
//! `/slots` and `/props`), exact counts through llama-server `/apply-template` + `/tokenize`,
//! and the default [`LocalCapacity`] built from those probes and the config.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::chat::ChatRequest;
use crate::config::{Backend, BackendKind, Config};
use crate::seams::{LocalCapacity, LocalWindow};

/// The connector: plain HTTP, plus HTTPS (rustls, Mozilla roots) with the `tls` feature.
#[cfg(feature = "tls")]
pub type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
/// The connector: plain HTTP only (built without the `tls` feature).
#[cfg(not(feature = "tls"))]
pub type Connector = HttpConnector;

/// The HTTP client type used upstream.
pub type HttpClient = Client<Connector, Full<Bytes>>;

#[cfg(feature = "tls")]
fn connector(http: HttpConnector) -> Result<Connector, String> {
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|error| error.to_string())?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}

#[cfg(not(feature = "tls"))]
fn connector(http: HttpConnector) -> Result<Connector, String> {
    Ok(http)
}

/// Largest error or probe body read from a backend.
pub const MAX_SMALL_BODY_BYTES: usize = 1024 * 1024;

/// A cloud backend that failed is skipped for this long (LiteLLM's default cooldown is 5 s,
/// docs.litellm.ai `/docs/routing`; a longer one suits paid APIs that fail for minutes).
pub const CLOUD_COOLDOWN_SECONDS: u64 = 30;

/// Why an upstream call failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The URL could not be built.
    #[error("backend {backend}: bad URL {url}")]
    Url {
        /// Backend name.
        backend: String,
        /// The URL text.
        url: String,
    },
    /// The TLS client could not be set up.
    #[error("backend {backend}: cannot set up TLS: {message}")]
    Tls {
        /// Backend name.
        backend: String,
        /// The rustls error.
        message: String,
    },
    /// HTTPS needs TLS support, which this build leaves out.
    #[error(
        "backend {backend}: https URLs need a TLS-enabled build (this one speaks plain HTTP only)"
    )]
    NoTls {
        /// Backend name.
        backend: String,
    },
    /// Connect or transport error.
    #[error("backend {backend} ({url}): {source}: {causes}")]
    Transport {
        /// Backend name.
        backend: String,
        /// The URL.
        url: String,
        /// The causes under the client error (connection refused, certificate rejected), in words.
        causes: String,
        /// The client error.
        #[source]
        source: Box<hyper_util::client::legacy::Error>,
    },
    /// No answer in time.
    #[error("backend {backend} ({url}): no response within {seconds:.0} s")]
    Timeout {
        /// Backend name.
        backend: String,
        /// The URL.
        url: String,
        /// The limit.
        seconds: f64,
    },
    /// Non-success status.
    #[error("backend {backend} ({url}) answered {status}: {message}")]
    Status {
        /// Backend name.
        backend: String,
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Body text (truncated), never the request.
        message: String,
    },
    /// A body could not be read or parsed.
    #[error("backend {backend} ({url}): bad body: {message}")]
    Body {
        /// Backend name.
        backend: String,
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// One host of a backend pool.
#[derive(Debug)]
pub struct Host {
    /// Base URL.
    pub url: Uri,
    healthy: AtomicBool,
    failed_at_seconds: AtomicU64,
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |duration| duration.as_secs())
}

impl Host {
    /// Whether the host is usable now: local hosts follow health checks; any host that failed
    /// recently is skipped until the cooldown passes.
    pub fn is_healthy(&self) -> bool {
        let failed = self.failed_at_seconds.load(Ordering::Relaxed);
        self.healthy.load(Ordering::Relaxed)
            && (failed == 0 || unix_seconds() >= failed + CLOUD_COOLDOWN_SECONDS)
    }

    /// Records a health-check result.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
        if healthy {
            self.failed_at_seconds.store(0, Ordering::Relaxed);
        }
    }

    /// Records a failed request (passive health).
    pub fn mark_failed(&self) {
        self.failed_at_seconds
            .store(unix_seconds().max(1), Ordering::Relaxed);
    }
}

/// A backend at run time: its config, client and hosts.
#[derive(Debug)]
pub struct BackendRuntime {
    /// Config.
    pub config: Backend,
    /// Hosts of the pool.
    pub hosts: Vec<Host>,
    client: Result<HttpClient, String>,
    next: AtomicUsize,
}

impl BackendRuntime {
    /// Builds the runtime for a backend.
    pub fn new(config: &Backend) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs_f64(
            config.connect_timeout_seconds,
        )));
        let client = connector(http).map(|connector| {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector)
        });
        let hosts = config
            .urls
            .iter()
            .map(|url| Host {
                url: url.clone(),
                healthy: AtomicBool::new(true),
                failed_at_seconds: AtomicU64::new(0),
            })
            .collect();
        Self {
            config: config.clone(),
            hosts,
            client,
            next: AtomicUsize::new(0),
        }
    }

    /// Whether any host is usable.
    pub fn is_healthy(&self) -> bool {
        self.hosts.iter().any(Host::is_healthy)
    }

    /// Hosts in the order to try them: healthy first, rotating so load spreads over the pool.
    pub fn hosts_in_order(&self) -> Vec<usize> {
        let count = self.hosts.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count.max(1);
        let mut order: Vec<usize> = (0..count).map(|offset| (start + offset) % count).collect();
        order.sort_by_key(|&index| !self.hosts[index].is_healthy());
        order
    }

    /// The chat endpoint path for this backend kind.
    pub fn chat_path(&self) -> &'static str {
        match self.config.kind {
            BackendKind::Ollama => "/api/chat",
            BackendKind::LlamaServer => "/v1/chat/completions",
            BackendKind::Openai | BackendKind::Mistral | BackendKind::Gemini => "/chat/completions",
        }
    }

    fn endpoint(&self, host: usize, path: &str) -> Result<Uri, UpstreamError> {
        let base = &self.hosts[host].url;
        let scheme = base.scheme_str().unwrap_or("http");
        if scheme == "https" && !cfg!(feature = "tls") {
            return Err(UpstreamError::NoTls {
                backend: self.config.name.clone(),
            });
        }
        let authority = base
            .authority()
            .map(|authority| authority.as_str())
            .unwrap_or_default();
        let prefix = base.path().trim_end_matches('/');
        let text = format!("{scheme}://{authority}{prefix}{path}");
        text.parse().map_err(|_| UpstreamError::Url {
            backend: self.config.name.clone(),
            url: text,
        })
    }

    /// Sends a request; returns the response head once it arrives (body still streaming).
    pub async fn send(
        &self,
        host: usize,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        timeout_seconds: f64,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let client = self.client.as_ref().map_err(|message| UpstreamError::Tls {
            backend: self.config.name.clone(),
            message: message.clone(),
        })?;
        let uri = self.endpoint(host, path)?;
        let url = uri.to_string();
        let mut builder = Request::builder().method(method).uri(uri);
        if body.is_some() {
            builder = builder.header(http::header::CONTENT_TYPE, "application/json");
        }
        if let Some(key) = &self.config.api_key {
            builder = builder.header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", key.expose()),
            );
        }
        let request = builder
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|_| UpstreamError::Url {
                backend: self.config.name.clone(),
                url: url.clone(),
            })?;
        let response = tokio::time::timeout(
            Duration::from_secs_f64(timeout_seconds),
            client.request(request),
        )
        .await
        .map_err(|_| UpstreamError::Timeout {
            backend: self.config.name.clone(),
            url: url.clone(),
            seconds: timeout_seconds,
        })?
        .map_err(|source| UpstreamError::Transport {
            backend: self.config.name.clone(),
            url: url.clone(),
            causes: causes(&source),
            source: Box::new(source),
        })?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let bytes = read_small(response.into_body()).await.unwrap_or_default();
            let message = error_message(&bytes);
            return Err(UpstreamError::Status {
                backend: self.config.name.clone(),
                url,
                status,
                message,
            });
        }
        Ok(response)
    }

    /// Sends a request and reads a small JSON answer.
    pub async fn json(
        &self,
        host: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
        timeout_seconds: f64,
    ) -> Result<Value, UpstreamError> {
        let response = self
            .send(
                host,
                method,
                path,
                body.map(|body| Bytes::from(body.to_string())),
                timeout_seconds,
            )
            .await?;
        let url = path.to_string();
        let bytes = tokio::time::timeout(
            Duration::from_secs_f64(timeout_seconds),
            read_small(response.into_body()),
        )
        .await
        .map_err(|_| UpstreamError::Timeout {
            backend: self.config.name.clone(),
            url: url.clone(),
            seconds: timeout_seconds,
        })?
        .map_err(|message| UpstreamError::Body {
            backend: self.config.name.clone(),
            url: url.clone(),
            message,
        })?;
        serde_json::from_slice(&bytes).map_err(|error| UpstreamError::Body {
            backend: self.config.name.clone(),
            url,
            message: error.to_string(),
        })
    }
}

/// The chain of causes below an error, joined: hyper's own message ("client error (Connect)")
/// says nothing about a refused connection or a rejected certificate.
fn causes(error: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cause = error.source();
    while let Some(inner) = cause {
        out.push(inner.to_string());
        cause = inner.source();
    }
    out.join(": ")
}

async fn read_small(body: Incoming) -> Result<Bytes, String> {
    Limited::new(body, MAX_SMALL_BODY_BYTES)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|error| error.to_string())
}

/// The message inside an error body (`{"error": "..."}` or `{"error": {"message": ...}}`), else the text.
pub fn error_message(bytes: &[u8]) -> String {
    let text = match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => match value.get("error") {
            Some(Value::String(message)) => message.clone(),
            Some(error) => error
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| error.to_string(), str::to_string),
            None => value.to_string(),
        },
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    };
    text.chars().take(500).collect()
}

/// What probes learned about one local model.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Probed {
    /// Loaded window (`/api/ps` `context_length`; llama-server per-slot `n_ctx`).
    pub loaded_context_tokens: Option<u64>,
    /// Training window (`/api/show` `model_info["<arch>.context_length"]`; llama-server `/props` `n_ctx_train`).
    pub training_context_tokens: Option<u64>,
}

/// Probe results by (backend, model).
#[derive(Debug, Default)]
pub struct ProbeCache {
    entries: RwLock<HashMap<(String, String), Probed>>,
}

impl ProbeCache {
    /// Stores a probe result.
    pub fn set(&self, backend: &str, model: &str, probed: Probed) {
        if let Ok(mut entries) = self.entries.write() {
            entries.insert((backend.to_string(), model.to_string()), probed);
        }
    }

    /// Reads a probe result.
    pub fn get(&self, backend: &str, model: &str) -> Probed {
        self.entries
            .read()
            .ok()
            .and_then(|entries| {
                entries
                    .get(&(backend.to_string(), model.to_string()))
                    .copied()
            })
            .unwrap_or_default()
    }
}

/// The default [`LocalCapacity`]: probes for the loaded and training windows, the config's
/// `max_num_ctx_tokens` for memory (until headroom-core's fit check is plugged in).
///
/// With a `[machine]` table, local Ollama targets without `max_num_ctx_tokens` get the largest
/// window headroom-core's memory model fits on that machine, read from the model's GGUF.
#[derive(Debug)]
pub struct ConfiguredCapacity {
    config: Arc<Config>,
    probes: Arc<ProbeCache>,
    memory: HashMap<(String, String), crate::memory_fit::MemoryFit>,
    /// Why a memory fit could not be computed, per target (for the operator).
    pub notes: Vec<String>,
}

impl ConfiguredCapacity {
    /// Combines a config generation with the probe cache; computes memory fits (reads GGUF headers).
    pub fn new(config: Arc<Config>, probes: Arc<ProbeCache>) -> Self {
        use crate::memory_fit::{GgufSource, default_ollama_store, memory_fit};
        let mut memory = HashMap::new();
        let mut notes = Vec::new();
        let machine = config
            .machine
            .as_ref()
            .and_then(|machine| machine.machine());
        if let Some(machine) = machine {
            for local in config
                .models
                .iter()
                .filter_map(|model| model.local.as_ref())
            {
                let ollama = config
                    .backends
                    .get(&local.backend)
                    .is_some_and(|backend| backend.kind.is_ollama());
                if local.max_num_ctx_tokens.is_some() || !ollama {
                    continue;
                }
                let source = match (&local.gguf, default_ollama_store()) {
                    (Some(file), _) => GgufSource::File(file.clone()),
                    (None, Some(root)) => GgufSource::OllamaStore {
                        root,
                        name: local.model.clone(),
                    },
                    (None, None) => {
                        notes.push(format!(
                            "{}: no gguf path and no Ollama store found",
                            local.model
                        ));
                        continue;
                    }
                };
                match memory_fit(&source, &machine) {
                    Ok(fit) => {
                        memory.insert((local.backend.clone(), local.model.clone()), fit);
                    }
                    Err(error) => {
                        notes.push(format!("{}: memory fit unavailable: {error}", local.model))
                    }
                }
            }
        }
        Self {
            config,
            probes,
            memory,
            notes,
        }
    }
}

impl LocalCapacity for ConfiguredCapacity {
    fn window(&self, backend: &str, model: &str) -> LocalWindow {
        let probed = self.probes.get(backend, model);
        let target = self
            .config
            .models
            .iter()
            .filter_map(|entry| entry.local.as_ref())
            .find(|local| local.backend == backend && local.model == model);
        let adjustable = self
            .config
            .backends
            .get(backend)
            .is_some_and(|backend| backend.kind.is_ollama());
        let fit = self.memory.get(&(backend.to_string(), model.to_string()));
        let declared = target
            .and_then(|target| target.max_num_ctx_tokens)
            .or_else(|| fit.and_then(|fit| fit.largest_context_tokens));
        LocalWindow {
            // A server whose window is fixed at launch (llama-server, vLLM) and could not be
            // probed: the operator's declared window is what it runs with.
            loaded_context_tokens: probed.loaded_context_tokens.or(if adjustable {
                None
            } else {
                declared
            }),
            training_context_tokens: target
                .and_then(|target| target.training_context_tokens)
                .or(fit.map(|fit| fit.training_context_tokens))
                .or(probed.training_context_tokens),
            memory_max_context_tokens: declared,
            adjustable,
        }
    }
}

/// Ollama names a model `name:tag`; a bare name means `:latest`.
fn same_ollama_model(left: &str, right: &str) -> bool {
    let normal = |name: &str| {
        if name.contains(':') {
            name.to_string()
        } else {
            format!("{name}:latest")
        }
    };
    normal(left) == normal(right)
}

/// Probes one host of a local backend for the given models; returns whether it answered.
pub async fn probe_local(
    runtime: &BackendRuntime,
    host: usize,
    models: &[String],
    cache: &ProbeCache,
) -> bool {
    let name = &runtime.config.name;
    let timeout = runtime.config.connect_timeout_seconds.max(2.0);
    match runtime.config.kind {
        BackendKind::Ollama => {
            // `/api/ps` and `/api/show` never load a model (probing must not load one: llama-swap lesson).
            let Ok(ps) = runtime
                .json(host, Method::GET, "/api/ps", None, timeout)
                .await
            else {
                return false;
            };
            for model in models {
                let mut probed = cache.get(name, model);
                probed.loaded_context_tokens = ps
                    .get("models")
                    .and_then(Value::as_array)
                    .and_then(|loaded| {
                        loaded.iter().find(|entry| {
                            ["name", "model"].iter().any(|key| {
                                entry
                                    .get(*key)
                                    .and_then(Value::as_str)
                                    .is_some_and(|value| same_ollama_model(value, model))
                            })
                        })
                    })
                    .and_then(|entry| entry.get("context_length"))
                    .and_then(Value::as_u64);
                if probed.training_context_tokens.is_none()
                    && let Ok(show) = runtime
                        .json(
                            host,
                            Method::POST,
                            "/api/show",
                            Some(json!({"model": model})),
                            timeout,
                        )
                        .await
                {
                    probed.training_context_tokens = show
                        .get("model_info")
                        .and_then(Value::as_object)
                        .and_then(|info| {
                            info.iter()
                                .find(|(key, _)| key.ends_with(".context_length"))
                                .and_then(|(_, value)| value.as_u64())
                        });
                }
                cache.set(name, model, probed);
            }
            true
        }
        BackendKind::LlamaServer => {
            // Per-slot window: `/slots` `n_ctx` (the total `-c` is shared by `-np` slots, llama.cpp#11681).
            let slots = runtime
                .json(host, Method::GET, "/slots", None, timeout)
                .await;
            let props = runtime
                .json(host, Method::GET, "/props", None, timeout)
                .await;
            if slots.is_err() && props.is_err() {
                return false;
            }
            let slot_window = slots.ok().and_then(|slots| {
                slots.as_array().and_then(|slots| {
                    slots
                        .iter()
                        .filter_map(|slot| slot.get("n_ctx").and_then(Value::as_u64))
                        .min()
                })
            });
            let props_window = props.as_ref().ok().and_then(|props| {
                props
                    .get("default_generation_settings")
                    .and_then(|settings| settings.get("n_ctx"))
                    .and_then(Value::as_u64)
            });
            let training = props.as_ref().ok().and_then(|props| {
                props
                    .get("model_info")
                    .and_then(|info| info.get("n_ctx_train"))
                    .and_then(Value::as_u64)
            });
            for model in models {
                cache.set(
                    name,
                    model,
                    Probed {
                        loaded_context_tokens: slot_window.or(props_window),
                        training_context_tokens: training,
                    },
                );
            }
            true
        }
        BackendKind::Openai | BackendKind::Mistral | BackendKind::Gemini => runtime
            .json(host, Method::GET, "/models", None, timeout)
            .await
            .is_ok(),
    }
}

/// Exact prompt tokens from llama-server: render the chat template, then tokenize with special
/// tokens (tools/server README: `/apply-template`, `/tokenize` with `add_special`).
pub async fn llama_server_count(runtime: &BackendRuntime, request: &ChatRequest) -> Option<u64> {
    let host = *runtime.hosts_in_order().first()?;
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|message| json!({"role": message.role, "content": message.content}))
        .collect();
    let timeout = runtime.config.connect_timeout_seconds.max(5.0);
    let rendered = runtime
        .json(
            host,
            Method::POST,
            "/apply-template",
            Some(json!({"messages": messages})),
            timeout,
        )
        .await
        .ok()?;
    let prompt = rendered.get("prompt")?.as_str()?.to_string();
    let tokens = runtime
        .json(
            host,
            Method::POST,
            "/tokenize",
            Some(json!({"content": prompt, "add_special": true})),
            timeout * 4.0,
        )
        .await
        .ok()?;
    tokens
        .get("tokens")?
        .as_array()
        .map(|tokens| tokens.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(url: &str) -> Backend {
        Backend {
            name: "cloud".into(),
            kind: BackendKind::Mistral,
            urls: vec![url.parse().unwrap()],
            local: false,
            api_key: None,
            connect_timeout_seconds: 2.0,
            first_byte_timeout_seconds: None,
            idle_timeout_seconds: 10.0,
            retries: 0,
            health_check_seconds: 10.0,
        }
    }

    /// Port 1 on loopback refuses connections: the request gets as far as connecting, so an
    /// https URL is accepted by a TLS build and refused with a clear error otherwise.
    #[tokio::test]
    async fn https_urls_need_the_tls_feature() {
        let runtime = BackendRuntime::new(&backend("https://127.0.0.1:1/v1"));
        let error = runtime
            .send(0, Method::GET, "/models", None, 5.0)
            .await
            .unwrap_err();
        if cfg!(feature = "tls") {
            assert!(matches!(error, UpstreamError::Transport { .. }), "{error}");
            assert!(
                error.to_string().contains("https://127.0.0.1:1/v1/models"),
                "{error}"
            );
        } else {
            assert!(matches!(error, UpstreamError::NoTls { .. }), "{error}");
        }
    }

    #[test]
    fn ollama_model_names_match_with_implicit_latest() {
        assert!(same_ollama_model("qwen3-coder", "qwen3-coder:latest"));
        assert!(same_ollama_model("qwen3-coder:30b", "qwen3-coder:30b"));
        assert!(!same_ollama_model("qwen3-coder:30b", "qwen3-coder"));
    }

    #[test]
    fn error_message_reads_both_shapes() {
        assert_eq!(
            error_message(br#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(
            error_message(br#"{"error":{"message":"too long","code":400}}"#),
            "too long"
        );
        assert_eq!(error_message(b"plain"), "plain");
    }
}
