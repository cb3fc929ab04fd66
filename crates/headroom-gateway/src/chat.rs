//! The gateway's own request and stream-event types: every ingress dialect (Ollama, OpenAI,
//! Anthropic) parses into them and every backend dialect is written from them, so translation
//! is N + M codecs instead of N × M.

use serde_json::Value;

/// Which API a client speaks (decides how answers and errors are written back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Ollama `/api/chat`.
    OllamaChat,
    /// Ollama `/api/generate`.
    OllamaGenerate,
    /// OpenAI `/v1/chat/completions`.
    OpenAi,
    /// Anthropic `/v1/messages`.
    Anthropic,
}

impl Dialect {
    /// Stable name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::OllamaChat => "ollama-chat",
            Self::OllamaGenerate => "ollama-generate",
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text content (parts joined).
    pub content: String,
    /// Tool calls an assistant made, in OpenAI's shape (`[{id, type, function: {name, arguments}}]`,
    /// `arguments` a JSON string).
    pub tool_calls: Option<Value>,
    /// For a `tool` message: the call it answers.
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A plain text message.
    pub fn text(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.to_string(),
            content: content.into(),
            tool_calls: None,
            tool_call_id: None,
        }
    }
}

/// A chat request in the gateway's own form.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The model name the client asked for.
    pub model: String,
    /// The conversation, system messages first as sent.
    pub messages: Vec<Message>,
    /// Whether the client wants a stream.
    pub stream: bool,
    /// Answer length limit the client set.
    pub max_output_tokens: Option<u64>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Sampling seed.
    pub seed: Option<i64>,
    /// OpenAI `stream_options.include_usage`: send a final usage chunk.
    pub include_usage: bool,
    /// Tool definitions in OpenAI's shape, passed through (counted in the prompt size).
    pub tools: Option<Value>,
}

impl ChatRequest {
    /// Bytes of text the model will read (message contents and tool definitions): what the
    /// estimator counts.
    pub fn prompt_bytes(&self) -> u64 {
        let messages: usize = self
            .messages
            .iter()
            .map(|message| {
                message.content.len()
                    + message.role.len()
                    + message
                        .tool_calls
                        .as_ref()
                        .map_or(0, |calls| calls.to_string().len())
            })
            .sum();
        let tools = self
            .tools
            .as_ref()
            .map_or(0, |tools| tools.to_string().len());
        (messages + tools) as u64
    }

    /// Every piece of text in the prompt, for the secret scan.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.messages.iter().map(|message| message.content.as_str())
    }
}

/// Token usage as the backend reported it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Prompt tokens the backend evaluated (Ollama `prompt_eval_count`).
    pub prompt_tokens: Option<u64>,
    /// Answer tokens.
    pub completion_tokens: Option<u64>,
    /// Prefill time the backend measured (Ollama `prompt_eval_duration`, llama-server `timings.prompt_ms`).
    pub prompt_seconds: Option<f64>,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// Natural stop or stop sequence.
    Stop,
    /// Output limit (or, on Ollama, possibly the context).
    Length,
    /// The model called tools.
    ToolCalls,
}

impl FinishReason {
    /// OpenAI's spelling.
    pub fn openai(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
        }
    }

    /// Anthropic's spelling.
    pub fn anthropic(self) -> &'static str {
        match self {
            Self::Stop => "end_turn",
            Self::Length => "max_tokens",
            Self::ToolCalls => "tool_use",
        }
    }

    /// Parses OpenAI's or Ollama's spelling.
    pub fn parse(text: &str) -> Self {
        match text {
            "length" => Self::Length,
            "tool_calls" => Self::ToolCalls,
            _ => Self::Stop,
        }
    }
}

/// One event of an answer, independent of dialect.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// More answer text.
    Text(String),
    /// Complete tool calls, in OpenAI's shape (arguments as JSON strings).
    ToolCalls(Vec<Value>),
    /// The answer is complete.
    Done {
        /// Why it stopped.
        finish: FinishReason,
        /// Token counts and timings.
        usage: Usage,
    },
    /// The backend reported an error in the body.
    Error(String),
}
