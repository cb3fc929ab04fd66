//! The HTTP server: ingress routes in three dialects, the per-request pipeline (parse, count,
//! classify, decide, try targets until one sends its first byte, stream the rest through), the
//! reloadable configuration generation (arc-swap: in-flight requests keep the generation they
//! started with), health probes, and the listener policy (loopback unless explicitly allowed
//! with an access token).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::chat::{ChatRequest, Dialect, Event, FinishReason, Usage};
use crate::config::{BackendKind, Config, PrivacyMark};
use crate::decision::{CloudOption, LocalOption, Plan, RouteInput, Target, decide};
use crate::dialect::{
    StreamDecoder, StreamEncoder, backend_body, complete_body, error_body, parse_request,
    rfc3339_now,
};
use crate::observe::{DecisionLog, DecisionRecord, Metrics};
use crate::privacy::{PRIVACY_HEADER, PROJECT_HEADER, PrivacyFacts, classify};
use crate::seams::{
    EstimateCounter, LearnedPrefill, LocalCapacity, PrefillPredictor, TokenCount, TokenCounter,
};
use crate::secrets::find_secret;
use crate::upstream::{
    BackendRuntime, ConfiguredCapacity, ProbeCache, UpstreamError, llama_server_count, probe_local,
};

/// Largest request body accepted: a 1,048,576-token prompt is about 4 MiB of text at the
/// calibrated 3 to 4 bytes per token; 64 MiB leaves room for images and tool schemas.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// Header a client uses to state its own deadline for the first token, in seconds.
pub const DEADLINE_HEADER: &str = "x-headroom-deadline-seconds";

/// Response header: `local`, `cloud` or `rejected`.
pub const ROUTE_HEADER: &str = "x-headroom-route";
/// Response header: the stable reason code.
pub const REASON_HEADER: &str = "x-headroom-reason";

/// Used when neither config nor request gives a first-byte limit: the OpenAI SDK's default
/// total timeout is 600 s (peers-and-routing.md §2.3).
pub const DEFAULT_FIRST_BYTE_SECONDS: f64 = 600.0;

type ResponseBody = BoxBody<Bytes, Infallible>;

/// Implementations plugged into the seams; defaults are honest stand-ins (see [`crate::seams`]).
pub struct Seams {
    /// Exact token counter (headroom-tokenizer); `None`: llama-server `/tokenize`, else the estimate.
    pub token_counter: Option<Arc<dyn TokenCounter>>,
    /// Local capacity (headroom-core memory fit); `None`: probes plus config `max_num_ctx_tokens`.
    pub capacity: Option<Arc<dyn LocalCapacity>>,
    /// Prefill predictor; the default learns an EWMA from backend timings.
    pub prefill: Arc<dyn PrefillPredictor>,
}

impl Default for Seams {
    fn default() -> Self {
        Self {
            token_counter: None,
            capacity: None,
            prefill: Arc::new(LearnedPrefill::default()),
        }
    }
}

/// One configuration generation with its backends.
pub struct Generation {
    /// The config.
    pub config: Arc<Config>,
    /// Backends by name.
    pub backends: BTreeMap<String, Arc<BackendRuntime>>,
    capacity: Arc<dyn LocalCapacity>,
    /// Warnings from building it (a memory fit that could not be computed).
    pub notes: Vec<String>,
}

/// The running gateway: the current generation plus state that outlives reloads.
pub struct Gateway {
    generation: ArcSwap<Generation>,
    seams: Seams,
    probes: Arc<ProbeCache>,
    metrics: Metrics,
    log: ArcSwap<DecisionLog>,
    log_path: std::sync::Mutex<Option<std::path::PathBuf>>,
    sequence: AtomicU64,
}

/// The listener would be reachable from other machines without the safeguards.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Non-loopback address without the explicit flag.
    #[error(
        "refusing to listen on {address}: it is not a loopback address; pass --allow-remote (and set server.access_token_env) to expose the gateway"
    )]
    NotLoopback {
        /// The address.
        address: SocketAddr,
    },
    /// Non-loopback address without an access token.
    #[error(
        "refusing to listen on {address} without an access token: set server.access_token_env or server.access_token_file"
    )]
    NoToken {
        /// The address.
        address: SocketAddr,
    },
}

/// Checks the listener policy: loopback by default; anything else needs the flag AND a token.
pub fn check_listen(config: &Config, allow_remote: bool) -> Result<(), ListenError> {
    let address = config.server.listen;
    if address.ip().is_loopback() {
        return Ok(());
    }
    if !allow_remote {
        return Err(ListenError::NotLoopback { address });
    }
    if config.server.access_token.is_none() {
        return Err(ListenError::NoToken { address });
    }
    Ok(())
}

impl Gateway {
    /// Builds a gateway from a config.
    pub fn new(config: Config, seams: Seams) -> std::io::Result<Arc<Self>> {
        let probes = Arc::new(ProbeCache::default());
        let log = DecisionLog::open(config.server.decision_log.as_deref())?;
        let log_path = config.server.decision_log.clone();
        let generation = Self::generation(config, &seams, &probes);
        Ok(Arc::new(Self {
            generation: ArcSwap::from_pointee(generation),
            seams,
            probes,
            metrics: Metrics::default(),
            log: ArcSwap::from_pointee(log),
            log_path: std::sync::Mutex::new(log_path),
            sequence: AtomicU64::new(0),
        }))
    }

    fn generation(config: Config, seams: &Seams, probes: &Arc<ProbeCache>) -> Generation {
        let config = Arc::new(config);
        let backends = config
            .backends
            .iter()
            .map(|(name, backend)| (name.clone(), Arc::new(BackendRuntime::new(backend))))
            .collect();
        let mut notes = Vec::new();
        let capacity: Arc<dyn LocalCapacity> = match &seams.capacity {
            Some(capacity) => capacity.clone(),
            None => {
                let configured = ConfiguredCapacity::new(config.clone(), probes.clone());
                notes.clone_from(&configured.notes);
                Arc::new(configured)
            }
        };
        Generation {
            config,
            backends,
            capacity,
            notes,
        }
    }

    /// Swaps in a new config; requests in flight finish on the old one, connections stay open.
    pub fn reload(&self, config: Config) -> std::io::Result<()> {
        if let Ok(mut path) = self.log_path.lock()
            && *path != config.server.decision_log
        {
            self.log.store(Arc::new(DecisionLog::open(
                config.server.decision_log.as_deref(),
            )?));
            path.clone_from(&config.server.decision_log);
        }
        self.generation.store(Arc::new(Self::generation(
            config,
            &self.seams,
            &self.probes,
        )));
        Ok(())
    }

    /// The current config.
    pub fn config(&self) -> Arc<Config> {
        self.generation.load().config.clone()
    }

    /// Warnings about the current config generation, for the operator.
    pub fn notes(&self) -> Vec<String> {
        self.generation.load().notes.clone()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Probes every local backend host once (loaded window, health).
    pub async fn probe_once(&self) {
        let generation = self.generation.load_full();
        for (name, runtime) in &generation.backends {
            if !runtime.config.local {
                continue;
            }
            let models: Vec<String> = generation
                .config
                .models
                .iter()
                .filter_map(|model| model.local.as_ref())
                .filter(|local| &local.backend == name)
                .map(|local| local.model.clone())
                .collect();
            for host in 0..runtime.hosts.len() {
                let healthy = probe_local(runtime, host, &models, &self.probes).await;
                runtime.hosts[host].set_healthy(healthy);
            }
        }
    }

    /// Probes local backends forever at the shortest configured period.
    pub async fn health_loop(self: Arc<Self>) {
        loop {
            self.probe_once().await;
            let period = self
                .generation
                .load()
                .config
                .backends
                .values()
                .filter(|backend| backend.local)
                .map(|backend| backend.health_check_seconds)
                .fold(f64::INFINITY, f64::min);
            let period = if period.is_finite() { period } else { 10.0 };
            tokio::time::sleep(Duration::from_secs_f64(period)).await;
        }
    }
}

/// Serves connections until `shutdown` resolves.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let gateway = gateway.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |request| {
                            let gateway = gateway.clone();
                            async move { Ok::<_, Infallible>(handle(gateway, request).await) }
                        });
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                    });
                }
                // Out of file descriptors and similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            () = &mut shutdown => break,
        }
    }
}

fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into()).boxed()
}

fn json_response(status: u16, value: &Value) -> Response<ResponseBody> {
    let mut response = Response::new(full(value.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn presented_token(headers: &HeaderMap) -> Option<&str> {
    header(headers, "authorization")
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .or_else(|| header(headers, "x-api-key"))
        .map(str::trim)
}

/// Handles one request.
pub async fn handle(gateway: Arc<Gateway>, request: Request<Incoming>) -> Response<ResponseBody> {
    let generation = gateway.generation.load_full();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let dialect = match path.as_str() {
        "/api/chat" => Some(Dialect::OllamaChat),
        "/api/generate" => Some(Dialect::OllamaGenerate),
        "/v1/chat/completions" => Some(Dialect::OpenAi),
        "/v1/messages" => Some(Dialect::Anthropic),
        _ => None,
    };
    let token = presented_token(&parts.headers);
    let client = token.and_then(|token| {
        generation
            .config
            .clients
            .iter()
            .find(|client| client.token.matches(token))
    });
    if let Some(access) = &generation.config.server.access_token {
        let allowed = token.is_some_and(|token| access.matches(token)) || client.is_some();
        if !allowed && path != "/" {
            let message = "missing or wrong access token (Authorization: Bearer or x-api-key)";
            return json_response(
                401,
                &error_body(
                    dialect.unwrap_or(Dialect::OllamaChat),
                    "unauthorized",
                    message,
                    401,
                ),
            );
        }
    }
    let client = client.map(|client| (client.name.clone(), client.privacy));
    match (&parts.method, path.as_str(), dialect) {
        (&Method::POST, _, Some(dialect)) => {
            chat(gateway, generation, dialect, parts, body, client).await
        }
        (&Method::GET | &Method::HEAD, "/", _) => {
            let mut response = Response::new(full("headroom gateway is running"));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain"),
            );
            response
        }
        (&Method::GET, "/health", _) => json_response(200, &json!({"status": "ok"})),
        (&Method::GET, "/metrics", _) => {
            let mut response = Response::new(full(gateway.metrics.render()));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            response
        }
        (&Method::GET | &Method::HEAD, "/api/version", _) => version(&generation).await,
        (&Method::GET, "/api/tags", _) => tags(&generation.config),
        (&Method::GET, "/v1/models", _) => models(&generation.config),
        (&Method::GET, "/api/ps", _) => ps(&generation).await,
        (&Method::POST, "/api/show", _) => show(&generation, body).await,
        _ => json_response(
            404,
            &json!({"error": format!("{} {} is not a route of the headroom gateway", parts.method, path)}),
        ),
    }
}

fn model_names(config: &Config) -> Vec<&str> {
    config
        .models
        .iter()
        .flat_map(|model| {
            std::iter::once(model.name.as_str())
                .chain(model.aliases.iter().map(String::as_str))
                .chain(model.public_aliases.iter().map(String::as_str))
        })
        .collect()
}

fn tags(config: &Config) -> Response<ResponseBody> {
    let now = rfc3339_now();
    let models: Vec<Value> = model_names(config)
        .into_iter()
        .map(|name| json!({"name": name, "model": name, "modified_at": now, "size": 0, "digest": "", "details": {}}))
        .collect();
    json_response(200, &json!({"models": models}))
}

fn models(config: &Config) -> Response<ResponseBody> {
    let data: Vec<Value> = model_names(config)
        .into_iter()
        .map(|name| json!({"id": name, "object": "model", "created": 0, "owned_by": "headroom"}))
        .collect();
    json_response(200, &json!({"object": "list", "data": data}))
}

fn local_ollama(generation: &Generation) -> Vec<&Arc<BackendRuntime>> {
    generation
        .backends
        .values()
        .filter(|runtime| runtime.config.local && runtime.config.kind.is_ollama())
        .collect()
}

async fn version(generation: &Generation) -> Response<ResponseBody> {
    for runtime in local_ollama(generation) {
        for host in runtime.hosts_in_order() {
            if let Ok(value) = runtime
                .json(host, Method::GET, "/api/version", None, 2.0)
                .await
            {
                return json_response(200, &value);
            }
        }
    }
    json_response(200, &json!({"version": env!("CARGO_PKG_VERSION")}))
}

async fn ps(generation: &Generation) -> Response<ResponseBody> {
    let mut loaded = Vec::new();
    for runtime in local_ollama(generation) {
        for host in 0..runtime.hosts.len() {
            if let Ok(value) = runtime.json(host, Method::GET, "/api/ps", None, 2.0).await
                && let Some(models) = value.get("models").and_then(Value::as_array)
            {
                loaded.extend(models.iter().cloned());
            }
        }
    }
    json_response(200, &json!({"models": loaded}))
}

async fn show(generation: &Generation, body: Incoming) -> Response<ResponseBody> {
    let bytes = Limited::new(body, 1024 * 1024)
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let name = value
        .get("model")
        .or_else(|| value.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some((index, _)) = generation.config.resolve_model(name) else {
        return json_response(404, &json!({"error": format!("model '{name}' not found")}));
    };
    let model = &generation.config.models[index];
    if let Some(local) = &model.local
        && let Some(runtime) = generation.backends.get(&local.backend)
        && runtime.config.kind.is_ollama()
    {
        for host in runtime.hosts_in_order() {
            if let Ok(value) = runtime
                .json(
                    host,
                    Method::POST,
                    "/api/show",
                    Some(json!({"model": local.model})),
                    5.0,
                )
                .await
            {
                return json_response(200, &value);
            }
        }
    }
    let largest = model
        .cloud
        .iter()
        .map(|cloud| cloud.context_window_tokens)
        .max()
        .unwrap_or(0);
    json_response(
        200,
        &json!({"modelfile": "", "parameters": "", "template": "", "details": {},
            "model_info": {"general.architecture": "headroom", "headroom.context_length": largest},
            "capabilities": ["completion"]}),
    )
}

fn deadline(headers: &HeaderMap, model: Option<f64>, server: Option<f64>) -> Option<f64> {
    header(headers, DEADLINE_HEADER)
        .and_then(|value| value.trim().parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
        .or(model)
        .or(server)
}

/// The backend evaluated clearly fewer tokens than were sent: Ollama truncated despite the
/// request (ollama#3839, #17427). Exact counts allow a 5 % template difference; estimates are
/// flagged below 60 % of the central value (the calibration's highest ratio, 4.48 bytes per
/// token, gives 67 % of the value the central 3.0 predicts, so honest prompts stay above 60 %).
pub fn looks_truncated(count: &TokenCount, evaluated_tokens: u64) -> bool {
    if count.tokens < 256 {
        return false;
    }
    if count.is_exact() {
        evaluated_tokens.saturating_mul(100) < count.tokens.saturating_mul(95)
    } else {
        evaluated_tokens.saturating_mul(10) < count.tokens.saturating_mul(6)
    }
}

/// Everything needed to log and learn when a response ends, however it ends.
struct Finisher {
    gateway: Arc<Gateway>,
    record: DecisionRecord,
    learn: Option<(String, String)>,
    count: TokenCount,
    finished: bool,
}

impl Drop for Finisher {
    /// A response dropped before it finished (the client left while a non-streaming answer was
    /// being gathered) is still logged and counted.
    fn drop(&mut self) {
        if !self.finished {
            self.complete("client-disconnected", Usage::default(), None);
        }
    }
}

impl Finisher {
    fn finish(mut self, outcome: &str, usage: Usage, error: Option<String>) {
        self.complete(outcome, usage, error);
    }

    fn complete(&mut self, outcome: &str, usage: Usage, error: Option<String>) {
        self.finished = true;
        self.record.outcome = outcome.to_string();
        self.record.backend_prompt_tokens = usage.prompt_tokens;
        self.record.completion_tokens = usage.completion_tokens;
        self.record.error = error;
        if let Some((backend, model)) = &self.learn
            && let Some(evaluated) = usage.prompt_tokens
        {
            self.record.truncated = looks_truncated(&self.count, evaluated);
            if let Some(seconds) = usage.prompt_seconds {
                self.gateway
                    .seams
                    .prefill
                    .observe(backend, model, evaluated, seconds);
            }
        }
        self.gateway.metrics.record(&self.record);
        self.gateway
            .log
            .load()
            .write(std::mem::take(&mut self.record));
    }
}

/// The response body of a streaming answer: pulls from the upstream body, translates, and
/// hands each piece on at once. Dropping it (the client left) drops the upstream body, which
/// closes that connection and so cancels the backend's work.
struct StreamBody {
    upstream: Option<Incoming>,
    decoder: StreamDecoder,
    encoder: StreamEncoder,
    out: Vec<u8>,
    idle: Pin<Box<tokio::time::Sleep>>,
    idle_seconds: f64,
    finisher: Option<Finisher>,
    usage: Usage,
    outcome: Option<(&'static str, Option<String>)>,
}

impl StreamBody {
    fn take_events(&mut self, events: Vec<Event>) {
        for event in events {
            if self.outcome.is_some() {
                break;
            }
            self.encoder.encode(&event, &mut self.out);
            match event {
                Event::Done { usage, .. } => {
                    self.usage = usage;
                    self.outcome = Some(("completed", None));
                }
                Event::Error(message) => self.outcome = Some(("upstream-error", Some(message))),
                Event::Text(_) | Event::ToolCalls(_) => {}
            }
        }
        if self.outcome.is_some() {
            self.upstream = None;
        }
    }
}

impl Body for StreamBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        loop {
            if !this.out.is_empty() {
                let bytes = Bytes::from(std::mem::take(&mut this.out));
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            if let Some((outcome, error)) = this.outcome.take() {
                if let Some(finisher) = this.finisher.take() {
                    finisher.finish(outcome, this.usage, error);
                }
                return Poll::Ready(None);
            }
            if this.finisher.is_none() {
                return Poll::Ready(None);
            }
            let Some(upstream) = this.upstream.as_mut() else {
                this.outcome = Some(("upstream-error", Some("backend stream ended".into())));
                continue;
            };
            let mut events = Vec::new();
            match Pin::new(upstream).poll_frame(context) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        this.decoder.feed(&data, &mut events);
                    }
                    let next =
                        tokio::time::Instant::now() + Duration::from_secs_f64(this.idle_seconds);
                    this.idle.as_mut().reset(next);
                }
                Poll::Ready(Some(Err(error))) => {
                    events.push(Event::Error(format!(
                        "backend connection failed mid-answer: {error}"
                    )));
                }
                Poll::Ready(None) => this.decoder.finish(&mut events),
                Poll::Pending => {
                    if this.idle.as_mut().poll(context).is_ready() {
                        events.push(Event::Error(format!(
                            "backend sent nothing for {:.0} s",
                            this.idle_seconds
                        )));
                    } else {
                        return Poll::Pending;
                    }
                }
            }
            this.take_events(events);
        }
    }
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        if let Some(finisher) = self.finisher.take() {
            let (outcome, error) = match self.outcome.take() {
                Some((outcome, error)) => (outcome, error),
                None => ("client-disconnected", None),
            };
            finisher.finish(outcome, self.usage, error);
        }
    }
}

/// An upstream answer whose first event has arrived: from here on, no failover.
struct Started {
    upstream: Incoming,
    decoder: StreamDecoder,
    first_events: Vec<Event>,
}

async fn start(
    runtime: &BackendRuntime,
    host: usize,
    body: Bytes,
    first_byte_seconds: f64,
) -> Result<Started, String> {
    let begun = Instant::now();
    let response = runtime
        .send(
            host,
            Method::POST,
            runtime.chat_path(),
            Some(body),
            first_byte_seconds,
        )
        .await
        .map_err(|error| {
            if !matches!(
                error,
                UpstreamError::Status {
                    status: 400..=499,
                    ..
                }
            ) {
                runtime.hosts[host].mark_failed();
            }
            error.to_string()
        })?;
    let mut upstream = response.into_body();
    let mut decoder = StreamDecoder::new(runtime.config.kind);
    let mut events = Vec::new();
    while events.is_empty() {
        let remaining = first_byte_seconds - begun.elapsed().as_secs_f64();
        let frame = tokio::time::timeout(
            Duration::from_secs_f64(remaining.max(0.0)),
            upstream.frame(),
        )
        .await;
        match frame {
            Err(_) => {
                runtime.hosts[host].mark_failed();
                return Err(format!(
                    "backend {} sent no answer within {first_byte_seconds:.0} s",
                    runtime.config.name
                ));
            }
            Ok(None) => decoder.finish(&mut events),
            Ok(Some(Err(error))) => {
                runtime.hosts[host].mark_failed();
                return Err(format!("backend {}: {error}", runtime.config.name));
            }
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    decoder.feed(&data, &mut events);
                }
            }
        }
    }
    if let Some(Event::Error(message)) = events.first() {
        return Err(format!("backend {}: {message}", runtime.config.name));
    }
    Ok(Started {
        upstream,
        decoder,
        first_events: events,
    })
}

fn set_header(response: &mut Response<ResponseBody>, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

fn decision_headers(response: &mut Response<ResponseBody>, record: &DecisionRecord) {
    set_header(response, ROUTE_HEADER, &record.route);
    set_header(response, REASON_HEADER, &record.reason);
    set_header(response, "x-headroom-privacy", &record.privacy);
    set_header(
        response,
        "x-headroom-prompt-tokens",
        &record.prompt_tokens_upper_bound.to_string(),
    );
    if let Some(backend) = &record.backend {
        set_header(response, "x-headroom-backend", backend);
    }
    if let Some(num_ctx) = record.num_ctx {
        set_header(response, "x-headroom-num-ctx", &num_ctx.to_string());
    }
}

async fn count_tokens(
    gateway: &Gateway,
    generation: &Generation,
    model_index: usize,
    request: &ChatRequest,
) -> TokenCount {
    let model = &generation.config.models[model_index];
    let local = model.local.as_ref();
    if let (Some(counter), Some(local)) = (&gateway.seams.token_counter, local)
        && let Some(count) = counter.count(&local.model, request)
    {
        return count;
    }
    if let Some(runtime) = local.and_then(|local| generation.backends.get(&local.backend))
        && runtime.config.kind == BackendKind::LlamaServer
        && runtime.is_healthy()
        && let Some(tokens) = llama_server_count(runtime, request).await
    {
        return TokenCount::exact(tokens);
    }
    EstimateCounter {
        bytes_per_token: model.estimate_bytes_per_token,
        worst_bytes_per_token: model.worst_bytes_per_token,
    }
    .estimate(request)
}

async fn chat(
    gateway: Arc<Gateway>,
    generation: Arc<Generation>,
    dialect: Dialect,
    parts: Parts,
    body: Incoming,
    client: Option<(String, PrivacyMark)>,
) -> Response<ResponseBody> {
    let sequence = gateway.sequence.fetch_add(1, Ordering::Relaxed);
    let request_id = match dialect {
        Dialect::Anthropic => format!("msg_headroom{sequence}"),
        _ => format!("chatcmpl-headroom{sequence}"),
    };
    let bytes = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => {
            let message =
                format!("cannot read the request body (limit {MAX_REQUEST_BYTES} bytes): {error}");
            return json_response(400, &error_body(dialect, "bad_request", &message, 400));
        }
    };
    let request = match parse_request(dialect, &bytes) {
        Ok(request) => request,
        Err(error) => {
            return json_response(
                400,
                &error_body(dialect, "bad_request", &error.to_string(), 400),
            );
        }
    };
    let config = &generation.config;
    let Some((model_index, public_alias)) = config.resolve_model(&request.model) else {
        let message = format!(
            "model '{}' not found; the gateway serves: {}",
            request.model,
            model_names(config).join(", ")
        );
        return json_response(404, &error_body(dialect, "model_not_found", &message, 404));
    };
    let model = &config.models[model_index];

    let secret = request.texts().find_map(find_secret).or_else(|| {
        request
            .messages
            .iter()
            .filter_map(|message| message.tool_calls.as_ref())
            .find_map(|calls| find_secret(&calls.to_string()))
    });
    let facts = PrivacyFacts {
        client: client.as_ref().map(|(name, mark)| (name.as_str(), *mark)),
        header: header(&parts.headers, PRIVACY_HEADER),
        public_alias: public_alias.then_some(request.model.as_str()),
        project: header(&parts.headers, PROJECT_HEADER),
        secret,
    };
    let privacy = classify(&config.privacy, &facts);
    let count = count_tokens(&gateway, &generation, model_index, &request).await;
    let deadline_seconds = deadline(
        &parts.headers,
        model.deadline_seconds,
        config.server.default_deadline_seconds,
    );
    let reserve_output_tokens = request
        .max_output_tokens
        .unwrap_or(model.reserve_output_tokens);

    let local_option = model.local.as_ref().map(|local| LocalOption {
        backend: local.backend.clone(),
        model: local.model.clone(),
        window: generation.capacity.window(&local.backend, &local.model),
        prefill_tokens_per_second: gateway
            .seams
            .prefill
            .prefill_tokens_per_second(&local.backend, &local.model)
            .or(local.prefill_tokens_per_second),
        healthy: generation
            .backends
            .get(&local.backend)
            .is_some_and(|runtime| runtime.is_healthy()),
    });
    let clouds: Vec<CloudOption> = model
        .cloud
        .iter()
        .map(|cloud| CloudOption {
            backend: cloud.backend.clone(),
            model: cloud.model.clone(),
            context_window_tokens: cloud.context_window_tokens,
            healthy: generation
                .backends
                .get(&cloud.backend)
                .is_some_and(|runtime| runtime.is_healthy()),
        })
        .collect();
    let decision = decide(&RouteInput {
        model_name: &model.name,
        privacy: &privacy,
        count,
        reserve_output_tokens,
        deadline_seconds,
        local: local_option.as_ref(),
        clouds: &clouds,
    });

    let mut record = DecisionRecord {
        time_seconds: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |duration| duration.as_secs()),
        request_id: request_id.clone(),
        dialect: dialect.name().to_string(),
        model: request.model.clone(),
        privacy: match privacy.mark {
            PrivacyMark::Private => "private".into(),
            PrivacyMark::Public => "public".into(),
        },
        privacy_reason: privacy.reason.clone(),
        prompt_tokens: count.tokens,
        prompt_tokens_upper_bound: count.upper_bound_tokens,
        count_exact: count.is_exact(),
        deadline_seconds,
        prompt_text: config.server.log_prompt_text.then(|| {
            request
                .messages
                .iter()
                .map(|message| message.content.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        }),
        ..Default::default()
    };

    let plan: Plan = match decision {
        Ok(plan) => plan,
        Err(rejection) => {
            record.route = "rejected".into();
            record.reason = rejection.code.into();
            record.explanation = rejection.message.clone();
            record.status = rejection.status;
            record.outcome = "rejected".into();
            gateway.metrics.record(&record);
            let mut response = json_response(
                rejection.status,
                &error_body(
                    dialect,
                    rejection.code,
                    &rejection.message,
                    rejection.status,
                ),
            );
            decision_headers(&mut response, &record);
            gateway.log.load().write(record);
            return response;
        }
    };
    record.reason = plan.reason.into();
    record.explanation = plan.explanation.clone();
    record.predicted_local_seconds = plan.predicted_local_seconds;

    let mut failures = Vec::new();
    for target in &plan.targets {
        let (backend_name, upstream_model, num_ctx) = match *target {
            Target::Local { num_ctx, .. } => match &model.local {
                Some(local) => (&local.backend, &local.model, num_ctx),
                None => continue,
            },
            Target::Cloud { index } => match model.cloud.get(index) {
                Some(cloud) => (&cloud.backend, &cloud.model, None),
                None => continue,
            },
        };
        let Some(runtime) = generation.backends.get(backend_name) else {
            continue;
        };
        // Fail-closed, checked again where bytes leave: a private request never reaches a
        // backend that is not local, whatever the plan says.
        if !privacy.may_leave() && !runtime.config.local {
            continue;
        }
        let body = backend_body(runtime.config.kind, upstream_model, &request, num_ctx);
        let first_byte_seconds = runtime
            .config
            .first_byte_timeout_seconds
            .or(deadline_seconds)
            .unwrap_or(DEFAULT_FIRST_BYTE_SECONDS);
        let hosts = runtime.hosts_in_order();
        let tries = hosts.len().max(1 + runtime.config.retries as usize);
        for host in hosts.iter().cycle().take(tries).copied() {
            record.attempts += 1;
            match start(runtime, host, body.clone(), first_byte_seconds).await {
                Ok(started) => {
                    record.route = if runtime.config.local {
                        "local".into()
                    } else {
                        "cloud".into()
                    };
                    record.backend = Some(backend_name.clone());
                    record.upstream_model = Some(upstream_model.clone());
                    record.num_ctx = num_ctx;
                    record.status = 200;
                    if failures.is_empty() {
                        record.error = None;
                    } else {
                        record.reason = "failover".into();
                        record.explanation = format!(
                            "{}; earlier attempts failed: {}",
                            record.explanation,
                            failures.join("; ")
                        );
                    }
                    let finisher = Finisher {
                        gateway: gateway.clone(),
                        record: record.clone(),
                        learn: runtime
                            .config
                            .local
                            .then(|| (backend_name.clone(), upstream_model.clone())),
                        count,
                        finished: false,
                    };
                    return respond(
                        dialect,
                        &request,
                        &request_id,
                        started,
                        runtime.config.idle_timeout_seconds,
                        finisher,
                        &record,
                    )
                    .await;
                }
                Err(message) => failures.push(message),
            }
        }
    }
    record.route = plan
        .targets
        .first()
        .map_or("rejected", |target| {
            if target.is_local() { "local" } else { "cloud" }
        })
        .into();
    record.status = 502;
    record.outcome = "upstream-error".into();
    let message = format!(
        "every backend allowed for this request failed before answering: {}",
        failures.join("; ")
    );
    record.error = Some(message.clone());
    gateway.metrics.record(&record);
    let mut response = json_response(502, &error_body(dialect, "upstream_failed", &message, 502));
    decision_headers(&mut response, &record);
    gateway.log.load().write(record);
    response
}

async fn respond(
    dialect: Dialect,
    request: &ChatRequest,
    request_id: &str,
    started: Started,
    idle_seconds: f64,
    finisher: Finisher,
    record: &DecisionRecord,
) -> Response<ResponseBody> {
    if request.stream {
        let encoder = StreamEncoder::new(
            dialect,
            &request.model,
            request_id,
            request.include_usage,
            record.prompt_tokens,
        );
        let content_type = encoder.content_type();
        let mut stream = StreamBody {
            upstream: Some(started.upstream),
            decoder: started.decoder,
            encoder,
            out: Vec::new(),
            idle: Box::pin(tokio::time::sleep(Duration::from_secs_f64(idle_seconds))),
            idle_seconds,
            finisher: Some(finisher),
            usage: Usage::default(),
            outcome: None,
        };
        stream.take_events(started.first_events);
        let mut response = Response::new(BoxBody::new(stream));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
        decision_headers(&mut response, record);
        return response;
    }
    // Non-streaming client: gather the answer (it cannot be passed on before it is whole).
    let mut upstream = started.upstream;
    let mut decoder = started.decoder;
    let mut events = started.first_events;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    let mut ending: Option<(FinishReason, Usage)> = None;
    let mut failure: Option<String> = None;
    loop {
        for event in events.drain(..) {
            match event {
                Event::Text(piece) => text.push_str(&piece),
                Event::ToolCalls(calls) => tool_calls.extend(calls),
                Event::Done { finish, usage } => ending = Some((finish, usage)),
                Event::Error(message) => failure = Some(message),
            }
        }
        if ending.is_some() || failure.is_some() {
            break;
        }
        match tokio::time::timeout(Duration::from_secs_f64(idle_seconds), upstream.frame()).await {
            Err(_) => failure = Some(format!("backend sent nothing for {idle_seconds:.0} s")),
            Ok(None) => decoder.finish(&mut events),
            Ok(Some(Err(error))) => {
                failure = Some(format!("backend connection failed mid-answer: {error}"))
            }
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    decoder.feed(&data, &mut events);
                }
            }
        }
    }
    drop(upstream);
    match (ending, failure) {
        (Some((finish, usage)), _) => {
            let truncated = finisher.learn.is_some()
                && usage
                    .prompt_tokens
                    .is_some_and(|evaluated| looks_truncated(&finisher.count, evaluated));
            finisher.finish("completed", usage, None);
            let mut response = json_response(
                200,
                &complete_body(
                    dialect,
                    &request.model,
                    request_id,
                    &text,
                    &tool_calls,
                    finish,
                    &usage,
                ),
            );
            decision_headers(&mut response, record);
            if truncated {
                set_header(&mut response, "x-headroom-truncated", "true");
            }
            response
        }
        (None, failure) => {
            let message = failure.unwrap_or_else(|| "backend ended without an answer".into());
            finisher.finish("upstream-error", Usage::default(), Some(message.clone()));
            let mut response =
                json_response(502, &error_body(dialect, "upstream_failed", &message, 502));
            decision_headers(&mut response, record);
            response
        }
    }
}
