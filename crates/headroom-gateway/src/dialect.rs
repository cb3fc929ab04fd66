//! Wire formats: parses client requests (Ollama `/api/chat` and `/api/generate`, OpenAI
//! `/v1/chat/completions`, Anthropic `/v1/messages`) into [`ChatRequest`], writes backend requests
//! (Ollama native, OpenAI-compatible), decodes backend streams (NDJSON, SSE) into [`Event`]s and
//! encodes events back in the client's dialect, streaming or not.
//!
//! Shapes follow `shared/reference/peers-and-routing.md` §2 (Ollama `docs/api.md`, OpenAI chat
//! completions and SSE, Anthropic Messages streaming event types, Mistral `random_seed`).

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::chat::{ChatRequest, Dialect, Event, FinishReason, Message, Usage};
use crate::config::BackendKind;

/// A request body the gateway cannot read.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Not JSON.
    #[error("request body is not valid JSON at line {line}, column {column}: {source}")]
    Json {
        /// Line of the error.
        line: usize,
        /// Column of the error.
        column: usize,
        /// The parser error.
        #[source]
        source: serde_json::Error,
    },
    /// A field is missing or has the wrong type.
    #[error("request field {key}: {message}")]
    Field {
        /// Dotted key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn field_error(key: &str, message: &str) -> RequestError {
    RequestError::Field {
        key: key.to_string(),
        message: message.to_string(),
    }
}

fn parse_json(body: &[u8]) -> Result<Map<String, Value>, RequestError> {
    let value: Value = serde_json::from_slice(body).map_err(|source| RequestError::Json {
        line: source.line(),
        column: source.column(),
        source,
    })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(field_error("(body)", "must be a JSON object")),
    }
}

fn string_field(map: &Map<String, Value>, key: &str) -> Result<String, RequestError> {
    map.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| field_error(key, "must be a string"))
}

/// Joins text parts: a string, or an array of `{type: "text", text}` parts (OpenAI and
/// Anthropic); tool results contribute their text; images are not text and are skipped.
fn content_text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for part in parts {
                let text = match part.get("type").and_then(Value::as_str) {
                    Some("text") => part.get("text").and_then(Value::as_str).map(str::to_string),
                    Some("tool_result") => Some(content_text(part.get("content"))),
                    Some("tool_use") => part.get("input").map(Value::to_string),
                    _ => None,
                };
                if let Some(text) = text {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(&text);
                }
            }
            out
        }
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn messages(value: Option<&Value>, key: &str) -> Result<Vec<Message>, RequestError> {
    let list = value
        .and_then(Value::as_array)
        .ok_or_else(|| field_error(key, "must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        let role = item
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| field_error(&format!("{key}[{index}].role"), "must be a string"))?;
        let content = content_text(item.get("content"));
        let tool_calls = item
            .get("tool_calls")
            .and_then(Value::as_array)
            .map(|calls| openai_tool_calls(calls));
        let tool_call_id = item
            .get("tool_call_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        out.push(Message {
            role: role.to_string(),
            content,
            tool_calls,
            tool_call_id,
        });
    }
    Ok(out)
}

/// Tool calls in OpenAI's shape from OpenAI's or Ollama's (Ollama's `arguments` is an object and
/// it has no ids; ids are made up as `call_<index>`).
pub fn openai_tool_calls(calls: &[Value]) -> Value {
    Value::Array(
        calls
            .iter()
            .enumerate()
            .map(|(index, call)| {
                let function = call.get("function").cloned().unwrap_or(Value::Null);
                let arguments = match function.get("arguments") {
                    Some(Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                    None => "{}".to_string(),
                };
                json!({
                    "id": call.get("id").and_then(Value::as_str).map_or_else(|| format!("call_{index}"), str::to_string),
                    "type": "function",
                    "function": {"name": function.get("name").cloned().unwrap_or(Value::Null), "arguments": arguments},
                })
            })
            .collect(),
    )
}

/// Tool calls in Ollama's shape (arguments as an object).
fn ollama_tool_calls(calls: &Value) -> Value {
    Value::Array(
        calls
            .as_array()
            .map(|calls| {
                calls
                    .iter()
                    .map(|call| {
                        let arguments = call["function"]["arguments"]
                            .as_str()
                            .and_then(|text| serde_json::from_str::<Value>(text).ok())
                            .unwrap_or_else(|| json!({}));
                        json!({"function": {"name": call["function"]["name"], "arguments": arguments}})
                    })
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// Anthropic content blocks of one message → canonical messages: `tool_result` blocks become
/// `tool` messages (before the rest, as OpenAI expects them right after the calls), `tool_use`
/// blocks become the assistant's tool calls.
fn anthropic_messages(value: Option<&Value>) -> Result<Vec<Message>, RequestError> {
    let list = value
        .and_then(Value::as_array)
        .ok_or_else(|| field_error("messages", "must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        let role = item
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| field_error(&format!("messages[{index}].role"), "must be a string"))?;
        let Some(parts) = item.get("content").and_then(Value::as_array) else {
            out.push(Message::text(role, content_text(item.get("content"))));
            continue;
        };
        let mut text = Vec::new();
        let mut calls = Vec::new();
        for part in parts {
            match part.get("type").and_then(Value::as_str) {
                Some("tool_result") => out.push(Message {
                    role: "tool".into(),
                    content: content_text(part.get("content")),
                    tool_calls: None,
                    tool_call_id: part.get("tool_use_id").and_then(Value::as_str).map(str::to_string),
                }),
                Some("tool_use") => calls.push(json!({
                    "id": part.get("id"), "type": "function",
                    "function": {"name": part.get("name"), "arguments": part.get("input").map_or_else(|| "{}".to_string(), Value::to_string)},
                })),
                Some("text") => text.push(part.get("text").and_then(Value::as_str).unwrap_or_default().to_string()),
                _ => {}
            }
        }
        if !text.is_empty() || !calls.is_empty() {
            out.push(Message {
                role: role.to_string(),
                content: text.join("\n"),
                tool_calls: (!calls.is_empty()).then_some(Value::Array(calls)),
                tool_call_id: None,
            });
        }
    }
    Ok(out)
}

fn stop_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(stop)) => vec![stop.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Parses a client request in `dialect`.
pub fn parse_request(dialect: Dialect, body: &[u8]) -> Result<ChatRequest, RequestError> {
    let map = parse_json(body)?;
    let model = string_field(&map, "model")?;
    match dialect {
        Dialect::OpenAi => Ok(ChatRequest {
            model,
            messages: messages(map.get("messages"), "messages")?,
            // OpenAI's default is not streaming.
            stream: map.get("stream").and_then(Value::as_bool).unwrap_or(false),
            max_output_tokens: map
                .get("max_completion_tokens")
                .or_else(|| map.get("max_tokens"))
                .and_then(Value::as_u64),
            temperature: map.get("temperature").and_then(Value::as_f64),
            top_p: map.get("top_p").and_then(Value::as_f64),
            stop: stop_list(map.get("stop")),
            seed: map.get("seed").and_then(Value::as_i64),
            include_usage: map
                .get("stream_options")
                .and_then(|options| options.get("include_usage"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            tools: map.get("tools").filter(|tools| !tools.is_null()).cloned(),
        }),
        Dialect::OllamaChat | Dialect::OllamaGenerate => {
            let options = map.get("options");
            let option = |key: &str| options.and_then(|options| options.get(key));
            let messages = if dialect == Dialect::OllamaChat {
                messages(map.get("messages"), "messages")?
            } else {
                let mut list = Vec::with_capacity(2);
                if let Some(system) = map.get("system").and_then(Value::as_str) {
                    list.push(Message::text("system", system));
                }
                list.push(Message::text(
                    "user",
                    map.get("prompt")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                ));
                list
            };
            Ok(ChatRequest {
                model,
                messages,
                // Ollama streams unless told not to (`docs/api.md`).
                stream: map.get("stream").and_then(Value::as_bool).unwrap_or(true),
                max_output_tokens: option("num_predict").and_then(Value::as_u64),
                temperature: option("temperature").and_then(Value::as_f64),
                top_p: option("top_p").and_then(Value::as_f64),
                stop: stop_list(option("stop")),
                seed: option("seed").and_then(Value::as_i64),
                include_usage: false,
                tools: map.get("tools").filter(|tools| !tools.is_null()).cloned(),
            })
        }
        Dialect::Anthropic => {
            let mut list = Vec::new();
            if let Some(system) = map.get("system") {
                list.push(Message::text("system", content_text(Some(system))));
            }
            list.extend(anthropic_messages(map.get("messages"))?);
            let tools = map.get("tools").and_then(Value::as_array).map(|tools| {
                // Anthropic `{name, description, input_schema}` → OpenAI function tools.
                Value::Array(
                    tools
                        .iter()
                        .map(|tool| {
                            json!({"type": "function", "function": {
                                "name": tool.get("name"),
                                "description": tool.get("description"),
                                "parameters": tool.get("input_schema"),
                            }})
                        })
                        .collect(),
                )
            });
            Ok(ChatRequest {
                model,
                messages: list,
                stream: map.get("stream").and_then(Value::as_bool).unwrap_or(false),
                max_output_tokens: map.get("max_tokens").and_then(Value::as_u64),
                temperature: map.get("temperature").and_then(Value::as_f64),
                top_p: map.get("top_p").and_then(Value::as_f64),
                stop: stop_list(map.get("stop_sequences")),
                seed: None,
                include_usage: false,
                tools,
            })
        }
    }
}

fn messages_json(kind: BackendKind, request: &ChatRequest) -> Value {
    Value::Array(
        request
            .messages
            .iter()
            .map(|message| {
                let mut object = json!({"role": message.role, "content": message.content});
                if let Some(calls) = &message.tool_calls {
                    object["tool_calls"] = if kind.is_ollama() {
                        ollama_tool_calls(calls)
                    } else {
                        calls.clone()
                    };
                }
                if let Some(id) = &message.tool_call_id
                    && !kind.is_ollama()
                {
                    object["tool_call_id"] = json!(id);
                }
                object
            })
            .collect(),
    )
}

/// The body sent upstream. Always a stream, so failover can wait for the first byte and the
/// answer flows through without buffering; non-streaming clients get it gathered.
pub fn backend_body(
    kind: BackendKind,
    model: &str,
    request: &ChatRequest,
    num_ctx: Option<u64>,
) -> Bytes {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), messages_json(kind, request));
    body.insert("stream".into(), json!(true));
    if let Some(tools) = &request.tools {
        body.insert("tools".into(), tools.clone());
    }
    if kind.is_ollama() {
        let mut options = Map::new();
        if let Some(num_ctx) = num_ctx {
            options.insert("num_ctx".into(), json!(num_ctx));
        }
        if let Some(max) = request.max_output_tokens {
            options.insert("num_predict".into(), json!(max));
        }
        if let Some(temperature) = request.temperature {
            options.insert("temperature".into(), json!(temperature));
        }
        if let Some(top_p) = request.top_p {
            options.insert("top_p".into(), json!(top_p));
        }
        if !request.stop.is_empty() {
            options.insert("stop".into(), json!(request.stop));
        }
        if let Some(seed) = request.seed {
            options.insert("seed".into(), json!(seed));
        }
        body.insert("options".into(), Value::Object(options));
        // An over-long prompt becomes an error instead of a silent cut (Ollama docs PR #17944).
        body.insert("truncate".into(), json!(false));
    } else {
        if let Some(max) = request.max_output_tokens {
            body.insert("max_tokens".into(), json!(max));
        }
        if let Some(temperature) = request.temperature {
            body.insert("temperature".into(), json!(temperature));
        }
        if let Some(top_p) = request.top_p {
            body.insert("top_p".into(), json!(top_p));
        }
        if !request.stop.is_empty() {
            body.insert("stop".into(), json!(request.stop));
        }
        if let Some(seed) = request.seed {
            // Mistral names it `random_seed` (docs.mistral.ai API reference).
            let key = if kind == BackendKind::Mistral {
                "random_seed"
            } else {
                "seed"
            };
            body.insert(key.into(), json!(seed));
        }
        if kind != BackendKind::Mistral {
            // Usage in the last chunk; Mistral sends usage without being asked.
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    Bytes::from(Value::Object(body).to_string())
}

/// Splits a byte stream into lines and turns them into events (NDJSON from Ollama, SSE from
/// OpenAI-compatible servers). Holds at most one partial line.
#[derive(Debug)]
pub struct StreamDecoder {
    ollama: bool,
    partial: Vec<u8>,
    finish: Option<FinishReason>,
    usage: Usage,
    done: bool,
    /// OpenAI streams send tool calls in fragments; they are assembled here by index.
    calls: Vec<Value>,
}

/// A line longer than this is not a plausible chunk; the stream is treated as broken.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

impl StreamDecoder {
    /// A decoder for a backend kind.
    pub fn new(kind: BackendKind) -> Self {
        Self {
            ollama: kind.is_ollama(),
            partial: Vec::new(),
            finish: None,
            usage: Usage::default(),
            done: false,
            calls: Vec::new(),
        }
    }

    /// Whether the final event was decoded.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds bytes; returns the events completed by them.
    pub fn feed(&mut self, chunk: &[u8], events: &mut Vec<Event>) {
        let mut rest = chunk;
        while let Some(newline) = rest.iter().position(|&byte| byte == b'\n') {
            let (line, tail) = rest.split_at(newline);
            rest = &tail[1..];
            if self.partial.is_empty() {
                self.line(line, events);
            } else {
                self.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial);
                self.line(&whole, events);
            }
        }
        if self.partial.len() + rest.len() > MAX_LINE_BYTES {
            self.partial.clear();
            events.push(Event::Error(format!(
                "backend sent a line longer than {MAX_LINE_BYTES} bytes"
            )));
            self.done = true;
            return;
        }
        self.partial.extend_from_slice(rest);
    }

    /// The stream ended: decode a last unterminated line, then report whether it was complete.
    pub fn finish(&mut self, events: &mut Vec<Event>) {
        if !self.partial.is_empty() {
            let whole = std::mem::take(&mut self.partial);
            self.line(&whole, events);
        }
        if !self.done {
            // OpenAI streams may end with finish_reason and no [DONE]; that is complete.
            if let Some(finish) = self.finish.take() {
                self.done = true;
                self.flush_calls(events);
                events.push(Event::Done {
                    finish,
                    usage: self.usage,
                });
            } else {
                self.done = true;
                events.push(Event::Error(
                    "backend closed the stream before the answer was complete".into(),
                ));
            }
        }
    }

    fn line(&mut self, line: &[u8], events: &mut Vec<Event>) {
        if self.done {
            return;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if self.ollama {
            if line.iter().all(u8::is_ascii_whitespace) {
                return;
            }
            self.ollama_object(line, events);
        } else {
            let Some(data) = line.strip_prefix(b"data:") else {
                return;
            };
            let data = data.strip_prefix(b" ").unwrap_or(data);
            if data == b"[DONE]" {
                self.done = true;
                self.flush_calls(events);
                events.push(Event::Done {
                    finish: self.finish.unwrap_or(FinishReason::Stop),
                    usage: self.usage,
                });
                return;
            }
            self.openai_chunk(data, events);
        }
    }

    fn flush_calls(&mut self, events: &mut Vec<Event>) {
        if !self.calls.is_empty() {
            events.push(Event::ToolCalls(std::mem::take(&mut self.calls)));
        }
    }

    /// Adds one streamed fragment (`{index, id?, function: {name?, arguments?}}`).
    fn add_call_fragment(&mut self, fragment: &Value) {
        let index = fragment
            .get("index")
            .and_then(Value::as_u64)
            .map_or(self.calls.len(), |index| index as usize);
        // Indexes come from the backend: never grow the list by more than one per fragment.
        let index = index.min(self.calls.len());
        if index == self.calls.len() {
            self.calls
                .push(json!({"id": format!("call_{index}"), "type": "function",
                "function": {"name": "", "arguments": ""}}));
        }
        let call = &mut self.calls[index];
        if let Some(id) = fragment.get("id").and_then(Value::as_str) {
            call["id"] = json!(id);
        }
        if let Some(function) = fragment.get("function") {
            for key in ["name", "arguments"] {
                if let Some(piece) = function.get(key).and_then(Value::as_str) {
                    let joined = format!(
                        "{}{piece}",
                        call["function"][key].as_str().unwrap_or_default()
                    );
                    call["function"][key] = json!(joined);
                }
            }
        }
    }

    fn ollama_object(&mut self, line: &[u8], events: &mut Vec<Event>) {
        let Ok(value) = serde_json::from_slice::<Value>(line) else {
            self.done = true;
            events.push(Event::Error("backend sent a line that is not JSON".into()));
            return;
        };
        if let Some(error) = value.get("error") {
            self.done = true;
            events.push(Event::Error(
                error
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_string),
            ));
            return;
        }
        let text = value
            .get("message")
            .and_then(|message| message.get("content"))
            .or_else(|| value.get("response"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(calls) = value
            .get("message")
            .and_then(|message| message.get("tool_calls"))
            .and_then(Value::as_array)
            .filter(|calls| !calls.is_empty())
            && let Value::Array(calls) = openai_tool_calls(calls)
        {
            events.push(Event::ToolCalls(calls));
        }
        if !text.is_empty() {
            events.push(Event::Text(text.to_string()));
        }
        if value.get("done").and_then(Value::as_bool) == Some(true) {
            self.done = true;
            let nanoseconds = value.get("prompt_eval_duration").and_then(Value::as_f64);
            events.push(Event::Done {
                finish: FinishReason::parse(
                    value
                        .get("done_reason")
                        .and_then(Value::as_str)
                        .unwrap_or("stop"),
                ),
                usage: Usage {
                    prompt_tokens: value.get("prompt_eval_count").and_then(Value::as_u64),
                    completion_tokens: value.get("eval_count").and_then(Value::as_u64),
                    // Ollama durations are nanoseconds (`docs/api.md`).
                    prompt_seconds: nanoseconds.map(|ns| ns / 1e9),
                },
            });
        }
    }

    fn openai_chunk(&mut self, data: &[u8], events: &mut Vec<Event>) {
        let Ok(value) = serde_json::from_slice::<Value>(data) else {
            self.done = true;
            events.push(Event::Error(
                "backend sent an SSE event that is not JSON".into(),
            ));
            return;
        };
        if let Some(error) = value.get("error") {
            self.done = true;
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| error.to_string(), str::to_string);
            events.push(Event::Error(message));
            return;
        }
        if let Some(choice) = value
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|choices| choices.first())
        {
            if let Some(text) = choice
                .get("delta")
                .and_then(|delta| delta.get("content"))
                .and_then(Value::as_str)
                && !text.is_empty()
            {
                events.push(Event::Text(text.to_string()));
            }
            if let Some(fragments) = choice
                .get("delta")
                .and_then(|delta| delta.get("tool_calls"))
                .and_then(Value::as_array)
            {
                for fragment in fragments {
                    self.add_call_fragment(fragment);
                }
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish = Some(FinishReason::parse(reason));
                // The calls are complete once the choice finishes.
                self.flush_calls(events);
            }
        }
        if let Some(usage) = value.get("usage").filter(|usage| !usage.is_null()) {
            self.usage.prompt_tokens = usage.get("prompt_tokens").and_then(Value::as_u64);
            self.usage.completion_tokens = usage.get("completion_tokens").and_then(Value::as_u64);
        }
        // llama-server adds its own timings (tools/server README, `timings.prompt_n`, `prompt_ms`).
        if let Some(timings) = value.get("timings") {
            if let Some(prompt_ms) = timings.get("prompt_ms").and_then(Value::as_f64) {
                self.usage.prompt_seconds = Some(prompt_ms / 1000.0);
            }
            if self.usage.prompt_tokens.is_none() {
                self.usage.prompt_tokens = timings.get("prompt_n").and_then(Value::as_u64);
            }
        }
    }
}

/// Writes events in the client's dialect, as a stream.
#[derive(Debug)]
pub struct StreamEncoder {
    dialect: Dialect,
    model: String,
    id: String,
    created_seconds: u64,
    include_usage: bool,
    started: bool,
    prompt_tokens_hint: u64,
    /// Anthropic: the open text block's index, and the next block index.
    text_block: Option<usize>,
    next_block: usize,
    saw_tool_calls: bool,
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |duration| duration.as_secs())
}

/// RFC 3339 UTC timestamp for Ollama's `created_at`, without a date library.
pub fn rfc3339_now() -> String {
    let seconds = now_seconds();
    let days = seconds / 86_400;
    let time = seconds % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm, public domain).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        time / 3600,
        (time / 60) % 60,
        time % 60
    )
}

impl StreamEncoder {
    /// An encoder for one response.
    pub fn new(
        dialect: Dialect,
        model: &str,
        request_id: &str,
        include_usage: bool,
        prompt_tokens_hint: u64,
    ) -> Self {
        Self {
            dialect,
            model: model.to_string(),
            id: request_id.to_string(),
            created_seconds: now_seconds(),
            include_usage,
            started: false,
            prompt_tokens_hint,
            text_block: None,
            next_block: 0,
            saw_tool_calls: false,
        }
    }

    /// The content type of the stream.
    pub fn content_type(&self) -> &'static str {
        match self.dialect {
            Dialect::OllamaChat | Dialect::OllamaGenerate => "application/x-ndjson",
            Dialect::OpenAi | Dialect::Anthropic => "text/event-stream",
        }
    }

    fn sse(out: &mut Vec<u8>, event: Option<&str>, data: &Value) {
        if let Some(event) = event {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(event.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(data.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    fn openai_chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        let mut chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created_seconds,
            "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        match self.dialect {
            Dialect::OpenAi => {
                let chunk = self.openai_chunk(json!({"role": "assistant", "content": ""}), None);
                Self::sse(out, None, &chunk);
            }
            Dialect::Anthropic => {
                let start = json!({"type": "message_start", "message": {
                    "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": self.prompt_tokens_hint, "output_tokens": 0}}});
                Self::sse(out, Some("message_start"), &start);
                self.open_text_block(out);
            }
            Dialect::OllamaChat | Dialect::OllamaGenerate => {}
        }
    }

    fn open_text_block(&mut self, out: &mut Vec<u8>) -> usize {
        if let Some(index) = self.text_block {
            return index;
        }
        let index = self.next_block;
        self.next_block += 1;
        self.text_block = Some(index);
        let block = json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}});
        Self::sse(out, Some("content_block_start"), &block);
        index
    }

    fn close_text_block(&mut self, out: &mut Vec<u8>) {
        if let Some(index) = self.text_block.take() {
            Self::sse(
                out,
                Some("content_block_stop"),
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    fn tool_calls(&mut self, calls: &[Value], out: &mut Vec<u8>) {
        self.saw_tool_calls = true;
        match self.dialect {
            Dialect::OpenAi => {
                let fragments: Vec<Value> = calls
                    .iter()
                    .enumerate()
                    .map(|(index, call)| {
                        json!({"index": index, "id": call["id"], "type": "function", "function": call["function"]})
                    })
                    .collect();
                let chunk = self.openai_chunk(json!({"tool_calls": fragments}), None);
                Self::sse(out, None, &chunk);
            }
            Dialect::OllamaChat => self.ndjson(
                out,
                json!({"role": "assistant", "content": "", "tool_calls": ollama_tool_calls(&Value::Array(calls.to_vec()))}),
                false,
                None,
            ),
            // `/api/generate` has no tool calls.
            Dialect::OllamaGenerate => {}
            Dialect::Anthropic => {
                self.close_text_block(out);
                for call in calls {
                    let index = self.next_block;
                    self.next_block += 1;
                    Self::sse(
                        out,
                        Some("content_block_start"),
                        &json!({"type": "content_block_start", "index": index, "content_block": {
                            "type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": {}}}),
                    );
                    Self::sse(
                        out,
                        Some("content_block_delta"),
                        &json!({"type": "content_block_delta", "index": index, "delta": {
                            "type": "input_json_delta", "partial_json": call["function"]["arguments"]}}),
                    );
                    Self::sse(out, Some("content_block_stop"), &json!({"type": "content_block_stop", "index": index}));
                }
            }
        }
    }

    /// Appends the encoding of one event.
    pub fn encode(&mut self, event: &Event, out: &mut Vec<u8>) {
        let finish_override = self.saw_tool_calls.then_some(FinishReason::ToolCalls);
        match event {
            Event::ToolCalls(calls) => {
                self.start(out);
                self.tool_calls(calls, out);
            }
            Event::Text(text) => {
                self.start(out);
                match self.dialect {
                    Dialect::OllamaChat => self.ndjson(
                        out,
                        json!({"role": "assistant", "content": text}),
                        false,
                        None,
                    ),
                    Dialect::OllamaGenerate => self.ndjson_generate(out, text, false, None),
                    Dialect::OpenAi => {
                        let chunk = self.openai_chunk(json!({"content": text}), None);
                        Self::sse(out, None, &chunk);
                    }
                    Dialect::Anthropic => {
                        let index = self.open_text_block(out);
                        Self::sse(
                            out,
                            Some("content_block_delta"),
                            &json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}),
                        );
                    }
                }
            }
            Event::Done { finish, usage } => {
                self.start(out);
                let finish = &finish_override.unwrap_or(*finish);
                match self.dialect {
                    Dialect::OllamaChat => {
                        self.ndjson(
                            out,
                            json!({"role": "assistant", "content": ""}),
                            true,
                            Some((*finish, *usage)),
                        );
                    }
                    Dialect::OllamaGenerate => {
                        self.ndjson_generate(out, "", true, Some((*finish, *usage)))
                    }
                    Dialect::OpenAi => {
                        let chunk = self.openai_chunk(json!({}), Some(finish.openai()));
                        Self::sse(out, None, &chunk);
                        if self.include_usage {
                            let mut chunk = self.openai_chunk(json!({}), None);
                            chunk["choices"] = json!([]);
                            chunk["usage"] = openai_usage(usage);
                            Self::sse(out, None, &chunk);
                        }
                        out.extend_from_slice(b"data: [DONE]\n\n");
                    }
                    Dialect::Anthropic => {
                        self.close_text_block(out);
                        Self::sse(
                            out,
                            Some("message_delta"),
                            &json!({"type": "message_delta",
                                "delta": {"stop_reason": finish.anthropic(), "stop_sequence": null},
                                "usage": {"output_tokens": usage.completion_tokens.unwrap_or(0)}}),
                        );
                        Self::sse(out, Some("message_stop"), &json!({"type": "message_stop"}));
                    }
                }
            }
            Event::Error(message) => match self.dialect {
                Dialect::OllamaChat | Dialect::OllamaGenerate => {
                    out.extend_from_slice(json!({"error": message}).to_string().as_bytes());
                    out.push(b'\n');
                }
                Dialect::OpenAi => Self::sse(
                    out,
                    None,
                    &json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": null}}),
                ),
                Dialect::Anthropic => Self::sse(
                    out,
                    Some("error"),
                    &json!({"type": "error", "error": {"type": "api_error", "message": message}}),
                ),
            },
        }
    }

    fn ndjson(
        &self,
        out: &mut Vec<u8>,
        message: Value,
        done: bool,
        end: Option<(FinishReason, Usage)>,
    ) {
        let mut object = json!({"model": self.model, "created_at": rfc3339_now(), "message": message, "done": done});
        if let Some((finish, usage)) = end {
            ollama_metrics(&mut object, finish, &usage);
        }
        out.extend_from_slice(object.to_string().as_bytes());
        out.push(b'\n');
    }

    fn ndjson_generate(
        &self,
        out: &mut Vec<u8>,
        text: &str,
        done: bool,
        end: Option<(FinishReason, Usage)>,
    ) {
        let mut object = json!({"model": self.model, "created_at": rfc3339_now(), "response": text, "done": done});
        if let Some((finish, usage)) = end {
            ollama_metrics(&mut object, finish, &usage);
        }
        out.extend_from_slice(object.to_string().as_bytes());
        out.push(b'\n');
    }
}

fn ollama_metrics(object: &mut Value, finish: FinishReason, usage: &Usage) {
    object["done_reason"] = json!(match finish {
        FinishReason::Length => "length",
        _ => "stop",
    });
    if let Some(prompt) = usage.prompt_tokens {
        object["prompt_eval_count"] = json!(prompt);
    }
    if let Some(seconds) = usage.prompt_seconds {
        object["prompt_eval_duration"] = json!((seconds * 1e9) as u64);
    }
    if let Some(completion) = usage.completion_tokens {
        object["eval_count"] = json!(completion);
    }
}

fn openai_usage(usage: &Usage) -> Value {
    let prompt = usage.prompt_tokens.unwrap_or(0);
    let completion = usage.completion_tokens.unwrap_or(0);
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

/// A whole (non-streaming) answer in the client's dialect.
pub fn complete_body(
    dialect: Dialect,
    model: &str,
    request_id: &str,
    text: &str,
    tool_calls: &[Value],
    finish: FinishReason,
    usage: &Usage,
) -> Value {
    let finish = if tool_calls.is_empty() {
        finish
    } else {
        FinishReason::ToolCalls
    };
    let calls = Value::Array(tool_calls.to_vec());
    match dialect {
        Dialect::OllamaChat => {
            let mut message = json!({"role": "assistant", "content": text});
            if !tool_calls.is_empty() {
                message["tool_calls"] = ollama_tool_calls(&calls);
            }
            let mut object = json!({"model": model, "created_at": rfc3339_now(), "message": message, "done": true});
            ollama_metrics(&mut object, finish, usage);
            object
        }
        Dialect::OllamaGenerate => {
            let mut object = json!({"model": model, "created_at": rfc3339_now(), "response": text, "done": true});
            ollama_metrics(&mut object, finish, usage);
            object
        }
        Dialect::OpenAi => {
            let mut message = json!({"role": "assistant", "content": text});
            if !tool_calls.is_empty() {
                message["tool_calls"] = calls;
            }
            json!({
                "id": request_id, "object": "chat.completion", "created": now_seconds(), "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish.openai()}],
                "usage": openai_usage(usage),
            })
        }
        Dialect::Anthropic => {
            let mut content = Vec::with_capacity(1 + tool_calls.len());
            if !text.is_empty() || tool_calls.is_empty() {
                content.push(json!({"type": "text", "text": text}));
            }
            for call in tool_calls {
                let input = call["function"]["arguments"]
                    .as_str()
                    .and_then(|arguments| serde_json::from_str::<Value>(arguments).ok())
                    .unwrap_or_else(|| json!({}));
                content.push(json!({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input}));
            }
            json!({
                "id": request_id, "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": finish.anthropic(), "stop_sequence": null,
                "usage": {"input_tokens": usage.prompt_tokens.unwrap_or(0), "output_tokens": usage.completion_tokens.unwrap_or(0)},
            })
        }
    }
}

/// An error body in the client's dialect. `code` is the gateway's stable code; for size limits
/// OpenAI clients also get `context_length_exceeded`, which their SDKs recognise.
pub fn error_body(dialect: Dialect, code: &str, message: &str, status: u16) -> Value {
    match dialect {
        Dialect::OllamaChat | Dialect::OllamaGenerate => json!({"error": message}),
        Dialect::OpenAi => {
            let openai_code = if code.contains("window") {
                "context_length_exceeded"
            } else {
                code
            };
            let kind = if status >= 500 {
                "server_error"
            } else {
                "invalid_request_error"
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": openai_code}})
        }
        Dialect::Anthropic => {
            let kind = if status >= 500 {
                "api_error"
            } else {
                "invalid_request_error"
            };
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openai_with_parts_and_usage_option() {
        let body = br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},
            "messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"x"}}]}],
            "max_tokens":5,"stop":"END"}"#;
        let request = parse_request(Dialect::OpenAi, body).unwrap();
        assert!(request.stream && request.include_usage);
        assert_eq!(request.messages[1].content, "hi");
        assert_eq!(request.max_output_tokens, Some(5));
        assert_eq!(request.stop, vec!["END"]);
    }

    #[test]
    fn ollama_streams_by_default_and_generate_becomes_messages() {
        let request = parse_request(
            Dialect::OllamaGenerate,
            br#"{"model":"m","prompt":"p","system":"s","options":{"num_predict":7}}"#,
        )
        .unwrap();
        assert!(request.stream);
        assert_eq!(request.messages.len(), 2);
        assert_eq!(request.max_output_tokens, Some(7));
    }

    #[test]
    fn parses_anthropic_system_blocks_and_tools() {
        let body = br#"{"model":"m","max_tokens":100,"system":[{"type":"text","text":"sys"}],
            "messages":[{"role":"user","content":[{"type":"text","text":"q"}]}],
            "tools":[{"name":"read","description":"d","input_schema":{"type":"object"}}]}"#;
        let request = parse_request(Dialect::Anthropic, body).unwrap();
        assert_eq!(request.messages[0].content, "sys");
        assert_eq!(request.tools.unwrap()[0]["function"]["name"], "read");
    }

    #[test]
    fn bad_json_names_line_and_column() {
        let error = parse_request(Dialect::OpenAi, b"{\n  \"model\": }")
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
        let error = parse_request(Dialect::OpenAi, br#"{"messages":[]}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("model"), "{error}");
    }

    #[test]
    fn ollama_backend_body_sets_num_ctx_and_truncate_false() {
        let request = parse_request(
            Dialect::OpenAi,
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"seed":3}"#,
        )
        .unwrap();
        let body: Value = serde_json::from_slice(&backend_body(
            BackendKind::Ollama,
            "qwen",
            &request,
            Some(28_672),
        ))
        .unwrap();
        assert_eq!(body["options"]["num_ctx"], 28_672);
        assert_eq!(body["truncate"], false);
        assert_eq!(body["stream"], true);
        let body: Value = serde_json::from_slice(&backend_body(
            BackendKind::Mistral,
            "devstral",
            &request,
            None,
        ))
        .unwrap();
        assert_eq!(body["random_seed"], 3);
        assert!(body.get("stream_options").is_none());
        let body: Value =
            serde_json::from_slice(&backend_body(BackendKind::Gemini, "g", &request, None))
                .unwrap();
        assert_eq!(body["stream_options"]["include_usage"], true);
    }

    #[test]
    fn decodes_ndjson_split_across_chunks() {
        let mut decoder = StreamDecoder::new(BackendKind::Ollama);
        let mut events = Vec::new();
        decoder.feed(
            b"{\"message\":{\"content\":\"He\"},\"done\":false}\n{\"message\":{\"con",
            &mut events,
        );
        decoder.feed(b"tent\":\"llo\"},\"done\":false}\n{\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":12,\"prompt_eval_duration\":2000000000,\"eval_count\":2}\n", &mut events);
        assert_eq!(events[0], Event::Text("He".into()));
        assert_eq!(events[1], Event::Text("llo".into()));
        assert_eq!(
            events[2],
            Event::Done {
                finish: FinishReason::Stop,
                usage: Usage {
                    prompt_tokens: Some(12),
                    completion_tokens: Some(2),
                    prompt_seconds: Some(2.0)
                }
            }
        );
    }

    #[test]
    fn decodes_sse_with_usage_and_done() {
        let mut decoder = StreamDecoder::new(BackendKind::Openai);
        let mut events = Vec::new();
        decoder.feed(b": keep-alive\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n", &mut events);
        decoder.feed(b"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\r\n\r\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n", &mut events);
        assert_eq!(events.len(), 2);
        assert!(matches!(
            events[1],
            Event::Done {
                finish: FinishReason::Length,
                usage: Usage {
                    prompt_tokens: Some(9),
                    ..
                }
            }
        ));
    }

    #[test]
    fn truncated_stream_is_an_error_not_a_silent_end() {
        let mut decoder = StreamDecoder::new(BackendKind::Ollama);
        let mut events = Vec::new();
        decoder.feed(
            b"{\"message\":{\"content\":\"He\"},\"done\":false}\n",
            &mut events,
        );
        decoder.finish(&mut events);
        assert!(matches!(events.last(), Some(Event::Error(_))));
    }

    #[test]
    fn ollama_error_line_is_an_error_event() {
        let mut decoder = StreamDecoder::new(BackendKind::Ollama);
        let mut events = Vec::new();
        decoder.feed(
            b"{\"error\":\"the prompt is longer than the context length\"}\n",
            &mut events,
        );
        assert_eq!(
            events,
            vec![Event::Error(
                "the prompt is longer than the context length".into()
            )]
        );
    }

    #[test]
    fn openai_stream_encoding_ends_with_usage_then_done() {
        let mut encoder = StreamEncoder::new(Dialect::OpenAi, "m", "id1", true, 0);
        let mut out = Vec::new();
        encoder.encode(&Event::Text("Hi".into()), &mut out);
        encoder.encode(
            &Event::Done {
                finish: FinishReason::Stop,
                usage: Usage {
                    prompt_tokens: Some(3),
                    completion_tokens: Some(1),
                    prompt_seconds: None,
                },
            },
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        let events: Vec<&str> = text
            .split("\n\n")
            .filter(|event| !event.is_empty())
            .collect();
        assert_eq!(events.len(), 5, "{text}");
        assert!(events[3].contains("\"choices\":[]") && events[3].contains("\"total_tokens\":4"));
        assert_eq!(events[4], "data: [DONE]");
    }

    #[test]
    fn anthropic_stream_has_the_event_sequence() {
        let mut encoder = StreamEncoder::new(Dialect::Anthropic, "m", "msg_1", false, 10);
        let mut out = Vec::new();
        encoder.encode(&Event::Text("Hi".into()), &mut out);
        encoder.encode(
            &Event::Done {
                finish: FinishReason::Stop,
                usage: Usage::default(),
            },
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        let names: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("event: "))
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
    }

    #[test]
    fn ollama_tool_calls_become_openai_calls_with_string_arguments() {
        let mut decoder = StreamDecoder::new(BackendKind::Ollama);
        let mut events = Vec::new();
        decoder.feed(
            b"{\"message\":{\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"read\",\"arguments\":{\"path\":\"a.rs\"}}}]},\"done\":false}\n",
            &mut events,
        );
        let Event::ToolCalls(calls) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(calls[0]["id"], "call_0");
        assert_eq!(calls[0]["function"]["arguments"], "{\"path\":\"a.rs\"}");
    }

    #[test]
    fn openai_tool_call_fragments_are_assembled_before_done() {
        let mut decoder = StreamDecoder::new(BackendKind::Openai);
        let mut events = Vec::new();
        decoder.feed(
            concat!(
                "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"read\",\"arguments\":\"{\\\"pa\"}}]}}]}\n\n",
                "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"th\\\":1}\"}}]}}]}\n\n",
                "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n",
            )
            .as_bytes(),
            &mut events,
        );
        let Event::ToolCalls(calls) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(calls[0]["id"], "c1");
        assert_eq!(calls[0]["function"]["arguments"], "{\"path\":1}");
        assert!(matches!(
            events[1],
            Event::Done {
                finish: FinishReason::ToolCalls,
                ..
            }
        ));
    }

    #[test]
    fn anthropic_stream_turns_tool_calls_into_tool_use_blocks() {
        let mut encoder = StreamEncoder::new(Dialect::Anthropic, "m", "msg_1", false, 0);
        let mut out = Vec::new();
        encoder.encode(&Event::Text("Reading.".into()), &mut out);
        let call = json!({"id": "c1", "type": "function", "function": {"name": "read", "arguments": "{\"path\":1}"}});
        encoder.encode(&Event::ToolCalls(vec![call]), &mut out);
        encoder.encode(
            &Event::Done {
                finish: FinishReason::Stop,
                usage: Usage::default(),
            },
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("\"type\":\"tool_use\"") && text.contains("\"index\":1"),
            "{text}"
        );
        assert!(
            text.contains("\"partial_json\":\"{\\\"path\\\":1}\""),
            "{text}"
        );
        assert!(text.contains("\"stop_reason\":\"tool_use\""), "{text}");
        assert_eq!(text.matches("content_block_stop").count(), 4, "{text}");
    }

    #[test]
    fn anthropic_tool_results_become_tool_messages_and_reach_ollama_as_objects() {
        let body = br#"{"model":"m","max_tokens":10,"messages":[
            {"role":"user","content":"read a.rs"},
            {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"read","input":{"path":"a.rs"}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"fn main() {}"}]}]}"#;
        let request = parse_request(Dialect::Anthropic, body).unwrap();
        assert_eq!(
            request.messages[1].tool_calls.as_ref().unwrap()[0]["function"]["arguments"],
            "{\"path\":\"a.rs\"}"
        );
        assert_eq!(request.messages[2].role, "tool");
        assert_eq!(request.messages[2].tool_call_id.as_deref(), Some("t1"));
        let ollama: Value =
            serde_json::from_slice(&backend_body(BackendKind::Ollama, "q", &request, None))
                .unwrap();
        assert_eq!(
            ollama["messages"][1]["tool_calls"][0]["function"]["arguments"]["path"],
            "a.rs"
        );
        let openai: Value =
            serde_json::from_slice(&backend_body(BackendKind::Openai, "q", &request, None))
                .unwrap();
        assert_eq!(openai["messages"][2]["tool_call_id"], "t1");
    }

    #[test]
    fn timestamp_is_rfc3339() {
        let stamp = rfc3339_now();
        assert_eq!(stamp.len(), 20);
        assert!(stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T');
    }
}
