//! Test doubles on 127.0.0.1 built from the documented wire formats: a fake Ollama (native
//! `/api/chat` NDJSON, `/api/ps`, `/api/show`, `/api/version`) and a fake OpenAI-compatible cloud
//! (`/v1/chat/completions` SSE), each counting what reaches it; plus a client and a gateway
//! launcher.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use headroom_gateway::chat::ChatRequest;
use headroom_gateway::config::Config;
use headroom_gateway::seams::{TokenCount, TokenCounter};
use headroom_gateway::server::{Gateway, Seams, serve};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How a fake answers chat requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    /// Two text chunks and a final object.
    Normal,
    /// One text chunk, then the connection breaks.
    DieMidStream,
    /// Waits this long before the first byte.
    SlowFirstByte(Duration),
    /// A chunk every 20 ms until the reader goes away.
    Endless,
    /// Answers with this HTTP status and an error body.
    Status(u16),
    /// Reports a `prompt_eval_count` of num_ctx / 2 + 2 (Ollama's silent truncation, ollama#17427).
    SilentTruncation,
    /// Answers with a tool call (`read` with `{"path":"a.rs"}`): whole on Ollama, in two
    /// argument fragments on OpenAI-compatible servers.
    ToolCall,
}

/// Wire format of a fake.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Flavor {
    /// Ollama native API.
    Ollama,
    /// OpenAI-compatible (Mistral, Gemini's compatibility endpoint).
    OpenAi,
}

/// Shared state of a fake: what it received and how to behave.
pub struct FakeState {
    pub flavor: Flavor,
    pub behaviour: Mutex<Behaviour>,
    pub chat_requests: AtomicUsize,
    pub bodies: Mutex<Vec<Value>>,
    pub cancelled: AtomicBool,
    pub loaded_context_tokens: AtomicU64,
    pub model: String,
}

/// A running fake server.
pub struct Fake {
    pub address: SocketAddr,
    pub state: Arc<FakeState>,
}

impl Fake {
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn chat_requests(&self) -> usize {
        self.state.chat_requests.load(Ordering::SeqCst)
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.state.behaviour.lock().unwrap() = behaviour;
    }

    pub fn last_body(&self) -> Value {
        self.state
            .bodies
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    }
}

struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(context)
            .map(|item| item.map(|result| result.map(Frame::data)))
    }
}

type FakeBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn words(body: &Value) -> u64 {
    body["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .map(|message| {
                    message["content"]
                        .as_str()
                        .unwrap_or("")
                        .split_whitespace()
                        .count() as u64
                })
                .sum()
        })
        .unwrap_or(0)
}

fn chunk(flavor: Flavor, text: &str) -> Bytes {
    match flavor {
        Flavor::Ollama => Bytes::from(format!(
            "{}\n",
            json!({"model": "m", "created_at": "2026-11-26T00:00:00Z", "message": {"role": "assistant", "content": text}, "done": false})
        )),
        Flavor::OpenAi => Bytes::from(format!(
            "data: {}\n\n",
            json!({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        )),
    }
}

fn tool_call(flavor: Flavor) -> Bytes {
    match flavor {
        Flavor::Ollama => Bytes::from(format!(
            "{}\n",
            json!({"model": "m", "created_at": "2026-11-26T00:00:00Z", "done": false, "message": {"role": "assistant", "content": "",
                "tool_calls": [{"function": {"name": "read", "arguments": {"path": "a.rs"}}}]}})
        )),
        Flavor::OpenAi => Bytes::from(format!(
            "data: {}\n\ndata: {}\n\ndata: {}\n\n",
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_abc", "type": "function",
                "function": {"name": "read", "arguments": "{\"pa"}}]}, "finish_reason": null}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "th\":\"a.rs\"}"}}]}, "finish_reason": null}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        )),
    }
}

fn last(flavor: Flavor, prompt_tokens: u64) -> Bytes {
    match flavor {
        Flavor::Ollama => Bytes::from(format!(
            "{}\n",
            json!({"model": "m", "created_at": "2026-11-26T00:00:00Z", "message": {"role": "assistant", "content": ""},
                "done": true, "done_reason": "stop", "prompt_eval_count": prompt_tokens,
                // 400 tokens/s, in nanoseconds as Ollama reports it.
                "prompt_eval_duration": prompt_tokens * 2_500_000, "eval_count": 2})
        )),
        Flavor::OpenAi => Bytes::from(format!(
            "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
            json!({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            json!({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 2, "total_tokens": prompt_tokens + 2}})
        )),
    }
}

async fn fake_handle(state: Arc<FakeState>, request: Request<Incoming>) -> Response<FakeBody> {
    let path = request.uri().path().to_string();
    let bytes = request
        .into_body()
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let reply = |status: u16, value: Value| {
        let mut response = Response::new(
            Full::new(Bytes::from(value.to_string()))
                .map_err(|never| match never {})
                .boxed(),
        );
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        response
    };
    let is_chat = matches!(path.as_str(), "/api/chat" | "/v1/chat/completions");
    if !is_chat {
        return match (state.flavor, path.as_str()) {
            (Flavor::Ollama, "/api/ps") => reply(
                200,
                json!({"models": [{"name": state.model, "model": state.model, "size": 1, "size_vram": 1,
                    "context_length": state.loaded_context_tokens.load(Ordering::SeqCst)}]}),
            ),
            (Flavor::Ollama, "/api/show") => reply(
                200,
                json!({"model_info": {"qwen3moe.context_length": 262_144}}),
            ),
            (Flavor::Ollama, "/api/version") => reply(200, json!({"version": "0.13.0"})),
            (Flavor::OpenAi, "/v1/models") => reply(200, json!({"object": "list", "data": []})),
            _ => reply(404, json!({"error": "not found"})),
        };
    }
    state.chat_requests.fetch_add(1, Ordering::SeqCst);
    state.bodies.lock().unwrap().push(body.clone());
    let behaviour = *state.behaviour.lock().unwrap();
    if let Behaviour::Status(status) = behaviour {
        return reply(status, json!({"error": "fake failure"}));
    }
    let num_ctx = body["options"]["num_ctx"].as_u64().unwrap_or(u64::MAX);
    let prompt_tokens = match behaviour {
        Behaviour::SilentTruncation => num_ctx / 2 + 2,
        _ => words(&body).min(num_ctx),
    };
    let (sender, receiver) = mpsc::channel(4);
    let flavor = state.flavor;
    let task_state = state.clone();
    tokio::spawn(async move {
        let send = |item| sender.send(item);
        match behaviour {
            Behaviour::SlowFirstByte(wait) => tokio::time::sleep(wait).await,
            Behaviour::Endless => loop {
                if send(Ok(chunk(flavor, "tick "))).await.is_err() {
                    task_state.cancelled.store(true, Ordering::SeqCst);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            },
            _ => {}
        }
        if behaviour == Behaviour::ToolCall {
            let _ = send(Ok(tool_call(flavor))).await;
            let _ = send(Ok(last(flavor, prompt_tokens))).await;
            return;
        }
        if send(Ok(chunk(flavor, "Hello"))).await.is_err() {
            task_state.cancelled.store(true, Ordering::SeqCst);
            return;
        }
        if behaviour == Behaviour::DieMidStream {
            // Let the first chunk reach the wire before the connection breaks.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = send(Err(std::io::Error::other("fake backend died"))).await;
            return;
        }
        let _ = send(Ok(chunk(flavor, " world"))).await;
        let _ = send(Ok(last(flavor, prompt_tokens))).await;
    });
    let mut response = Response::new(ChannelBody(receiver).boxed());
    let content_type = if flavor == Flavor::Ollama {
        "application/x-ndjson"
    } else {
        "text/event-stream"
    };
    response
        .headers_mut()
        .insert("content-type", content_type.parse().unwrap());
    response
}

/// Starts a fake on 127.0.0.1 with an ephemeral port.
pub async fn start_fake(flavor: Flavor, model: &str, loaded_context_tokens: u64) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let state = Arc::new(FakeState {
        flavor,
        behaviour: Mutex::new(Behaviour::Normal),
        chat_requests: AtomicUsize::new(0),
        bodies: Mutex::new(Vec::new()),
        cancelled: AtomicBool::new(false),
        loaded_context_tokens: AtomicU64::new(loaded_context_tokens),
        model: model.to_string(),
    });
    let server_state = state.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let state = server_state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(fake_handle(state, request).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Fake { address, state }
}

/// Counts whitespace-separated words: stands in for the model's tokenizer (headroom-tokenizer
/// plugs in through the same seam) so that acceptance prompts have exact, known sizes.
pub struct WordCounter;

impl TokenCounter for WordCounter {
    fn count(&self, _model: &str, request: &ChatRequest) -> Option<TokenCount> {
        let words: usize = request
            .messages
            .iter()
            .map(|message| message.content.split_whitespace().count())
            .sum();
        Some(TokenCount::exact(words as u64))
    }
}

/// Starts a gateway on 127.0.0.1 and probes its backends once.
pub async fn start_gateway(config: Config, seams: Seams) -> (SocketAddr, Arc<Gateway>) {
    let gateway = Gateway::new(config, seams).unwrap();
    gateway.probe_once().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(gateway.clone(), listener, std::future::pending()));
    (address, gateway)
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// Sends a request and returns the response head with the body still streaming.
pub async fn send(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Response<Incoming> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("http://{address}{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let body = body
        .map(|body| Bytes::from(body.to_string()))
        .unwrap_or_default();
    client()
        .request(builder.body(Full::new(body)).unwrap())
        .await
        .unwrap()
}

/// Sends a request and reads the whole answer.
pub async fn call(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, HeaderMap, String) {
    let response = send(address, method, path, headers, body).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// Polls an async condition for up to two minutes (a server starting up).
pub async fn eventually_async<F, Fut>(mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// A prompt of exactly `words` words.
pub fn prompt_of_words(words: usize) -> String {
    "tok ".repeat(words)
}

/// Polls a condition for up to ten seconds (the cancellation tests wait for a remote effect).
pub async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    condition()
}

const STORY: &str = include_str!("../../../../examples/gateway/story.toml");

pub struct Story {
    pub ollama: Fake,
    pub mistral: Fake,
    pub gemini: Fake,
    pub log: tempfile::TempDir,
}

impl Story {
    pub async fn start(loaded_context_tokens: u64) -> Self {
        Self {
            ollama: start_fake(Flavor::Ollama, "qwen3-coder:30b", loaded_context_tokens).await,
            mistral: start_fake(Flavor::OpenAi, "devstral-medium-latest", 0).await,
            gemini: start_fake(Flavor::OpenAi, "gemini-2.5-pro", 0).await,
            log: tempfile::tempdir().unwrap(),
        }
    }

    pub fn log_path(&self) -> std::path::PathBuf {
        self.log.path().join("decisions.jsonl")
    }

    /// The documented story config with its URLs pointed at the fakes; `edit` may change more.
    pub fn config(&self, edit: impl Fn(String) -> String) -> Config {
        let text = STORY
            .replace("http://127.0.0.1:11434", &self.ollama.url())
            .replace(
                "https://api.mistral.ai/v1",
                &format!("{}/v1", self.mistral.url()),
            )
            .replace(
                "https://generativelanguage.googleapis.com/v1beta/openai",
                &format!("{}/v1", self.gemini.url()),
            )
            .replace(
                "decision_log = \"decisions.jsonl\"",
                &format!("decision_log = {:?}", self.log_path()),
            );
        let env: BTreeMap<String, String> = [
            ("MISTRAL_API_KEY", "mistral-test-key"),
            ("GEMINI_API_KEY", "gemini-test-key"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
        Config::parse(&edit(text), Path::new("story.toml"), &env).unwrap()
    }

    pub fn cloud_requests(&self) -> usize {
        self.mistral.chat_requests() + self.gemini.chat_requests()
    }

    pub async fn log_lines(&self, expected: usize) -> String {
        let path = self.log_path();
        eventually(|| {
            fs_err::read_to_string(&path)
                .map(|text| text.lines().count() >= expected)
                .unwrap_or(false)
        })
        .await;
        fs_err::read_to_string(&path).unwrap()
    }
}

pub fn exact_seams() -> Seams {
    Seams {
        token_counter: Some(Arc::new(WordCounter)),
        ..Seams::default()
    }
}

pub fn openai_body(words: usize, stream: bool) -> Value {
    json!({"model": "qwen3-coder:30b", "stream": stream, "messages": [{"role": "user", "content": prompt_of_words(words)}]})
}

pub fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

const VOCAB: &str = "../../../shared/fixtures/gguf/ggml-vocab-llama-bpe.gguf";

use headroom_gguf::{GgmlType, GgufFile, GgufWriter, TensorData, Value as GgufValue};

/// xorshift64*: seeded, so the model is the same on every run.
struct Random(u64);

impl Random {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
        (bits as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
    }

    fn tensor(&mut self, elements: u64) -> TensorData {
        TensorData::Bytes(
            (0..elements)
                .flat_map(|_| self.next_f32().to_le_bytes())
                .collect(),
        )
    }
}

fn ones(elements: u64) -> TensorData {
    TensorData::Bytes((0..elements).flat_map(|_| 1.0f32.to_le_bytes()).collect())
}

/// A one-layer llama with a 64-wide embedding: tensor names and shapes as llama.cpp's
/// `LLM_ARCH_LLAMA` loads them (src/llama-arch.cpp, src/llama-model.cpp); output tied to the embedding.
pub fn write_tiny_llama(path: &Path) {
    let vocab = GgufFile::open(Path::new(env!("CARGO_MANIFEST_DIR")).join(VOCAB)).unwrap();
    let vocab_size = vocab.get_array("tokenizer.ggml.tokens").unwrap().len() as u64;
    let (embedding, feed_forward, heads) = (64u64, 128u64, 4u32);
    let mut writer = GgufWriter::new()
        .metadata("general.architecture", GgufValue::String("llama".into()))
        .metadata(
            "general.name",
            GgufValue::String("headroom-tiny-llama".into()),
        )
        .metadata("general.file_type", GgufValue::U32(0))
        .metadata("llama.block_count", GgufValue::U32(1))
        .metadata("llama.context_length", GgufValue::U32(4_096))
        .metadata("llama.embedding_length", GgufValue::U32(embedding as u32))
        .metadata(
            "llama.feed_forward_length",
            GgufValue::U32(feed_forward as u32),
        )
        .metadata("llama.attention.head_count", GgufValue::U32(heads))
        .metadata("llama.attention.head_count_kv", GgufValue::U32(heads))
        .metadata(
            "llama.rope.dimension_count",
            GgufValue::U32(embedding as u32 / heads),
        )
        .metadata("llama.rope.freq_base", GgufValue::F32(10_000.0))
        .metadata(
            "llama.attention.layer_norm_rms_epsilon",
            GgufValue::F32(1e-5),
        )
        .metadata("llama.vocab_size", GgufValue::U32(vocab_size as u32));
    for (key, value) in &vocab.metadata {
        if key.starts_with("tokenizer.") {
            writer = writer.metadata(key.clone(), value.clone());
        }
    }
    let mut random = Random(0x5EED_1234_ABCD_0001);
    writer = writer
        .tensor(
            "token_embd.weight",
            &[embedding, vocab_size],
            GgmlType::F32,
            random.tensor(embedding * vocab_size),
        )
        .tensor(
            "output_norm.weight",
            &[embedding],
            GgmlType::F32,
            ones(embedding),
        )
        .tensor(
            "blk.0.attn_norm.weight",
            &[embedding],
            GgmlType::F32,
            ones(embedding),
        )
        .tensor(
            "blk.0.ffn_norm.weight",
            &[embedding],
            GgmlType::F32,
            ones(embedding),
        );
    for name in ["attn_q", "attn_k", "attn_v", "attn_output"] {
        writer = writer.tensor(
            format!("blk.0.{name}.weight"),
            &[embedding, embedding],
            GgmlType::F32,
            random.tensor(embedding * embedding),
        );
    }
    writer = writer
        .tensor(
            "blk.0.ffn_gate.weight",
            &[embedding, feed_forward],
            GgmlType::F32,
            random.tensor(embedding * feed_forward),
        )
        .tensor(
            "blk.0.ffn_up.weight",
            &[embedding, feed_forward],
            GgmlType::F32,
            random.tensor(embedding * feed_forward),
        )
        .tensor(
            "blk.0.ffn_down.weight",
            &[feed_forward, embedding],
            GgmlType::F32,
            random.tensor(embedding * feed_forward),
        );
    writer.write_to_path(path).unwrap();
}
