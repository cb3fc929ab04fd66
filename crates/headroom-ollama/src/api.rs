//! Serde types for the Ollama HTTP API responses headroom reads, as documented in `docs/api.md`
//! and declared in `api/types.go` (ollama/ollama v0.33.0-rc2). Unknown fields are ignored and
//! optional ones default, so older and newer servers both decode.
//!
//! The HTTP client itself lives in the CLI crate; this crate has no network code.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /api/version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionResponse {
    /// `"0.15.5"`, `"0.12.0-rc1"`.
    pub version: String,
}

/// `details` of a model (`api.ModelDetails`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelDetails {
    /// Parent model, if any.
    #[serde(default)]
    pub parent_model: String,
    /// `gguf`.
    #[serde(default)]
    pub format: String,
    /// Family (`qwen3moe`).
    #[serde(default)]
    pub family: String,
    /// Families.
    #[serde(default)]
    pub families: Option<Vec<String>>,
    /// `30.5B`.
    #[serde(default)]
    pub parameter_size: String,
    /// `Q4_K_M`.
    #[serde(default)]
    pub quantization_level: String,
}

/// One model of `GET /api/tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagsModel {
    /// `qwen3-coder:30b`.
    pub name: String,
    /// Same as `name` on current servers.
    #[serde(default)]
    pub model: String,
    /// RFC 3339 time.
    #[serde(default)]
    pub modified_at: String,
    /// Sum of the manifest's layer sizes in bytes.
    #[serde(default)]
    pub size: u64,
    /// Manifest digest (hex).
    #[serde(default)]
    pub digest: String,
    /// Details.
    #[serde(default)]
    pub details: ModelDetails,
}

/// `GET /api/tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagsResponse {
    /// Local models.
    #[serde(default)]
    pub models: Vec<TagsModel>,
}

/// `POST /api/show` request. Send `verbose: true`: without it the server replaces every array
/// longer than 5 elements in `model_info` by `[]` (`server/routes.go GetModelInfo`), which
/// wipes per-layer arrays such as `head_count_kv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowRequest {
    /// Model name.
    pub model: String,
    /// Ask for full arrays and the tensor list.
    pub verbose: bool,
}

impl ShowRequest {
    /// A verbose request for `model`.
    pub fn verbose(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            verbose: true,
        }
    }
}

/// A tensor of `/api/show` (verbose only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowTensor {
    /// Name.
    pub name: String,
    /// ggml type name (`Q4_K`).
    #[serde(rename = "type")]
    pub tensor_type: String,
    /// Dimensions.
    #[serde(default)]
    pub shape: Vec<u64>,
}

/// A message of `/api/show` (`messages`, from MESSAGE lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowMessage {
    /// `system`, `user`, `assistant`.
    pub role: String,
    /// Text.
    #[serde(default)]
    pub content: String,
}

/// `POST /api/show` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShowResponse {
    /// License text.
    #[serde(default)]
    pub license: String,
    /// The Modelfile as `ollama show --modelfile` prints it.
    #[serde(default)]
    pub modelfile: String,
    /// Parameters, one `name value` line each (`%-30s %#v`).
    #[serde(default)]
    pub parameters: String,
    /// Template.
    #[serde(default)]
    pub template: String,
    /// System prompt.
    #[serde(default)]
    pub system: String,
    /// Built-in renderer.
    #[serde(default)]
    pub renderer: Option<String>,
    /// Built-in parser.
    #[serde(default)]
    pub parser: Option<String>,
    /// Details.
    #[serde(default)]
    pub details: ModelDetails,
    /// MESSAGE history.
    #[serde(default)]
    pub messages: Option<Vec<ShowMessage>>,
    /// GGUF metadata (all keys except `general.name` and `tokenizer.chat_template`).
    #[serde(default)]
    pub model_info: BTreeMap<String, serde_json::Value>,
    /// Projector metadata.
    #[serde(default)]
    pub projector_info: Option<BTreeMap<String, serde_json::Value>>,
    /// Tensors (verbose).
    #[serde(default)]
    pub tensors: Option<Vec<ShowTensor>>,
    /// Capabilities.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// RFC 3339 time.
    #[serde(default)]
    pub modified_at: String,
    /// Minimum Ollama version.
    #[serde(default)]
    pub requires: Option<String>,
}

impl ShowResponse {
    /// `general.architecture` from `model_info`.
    pub fn architecture(&self) -> Option<&str> {
        self.model_info.get("general.architecture")?.as_str()
    }

    /// `<arch>.context_length`: the trained context.
    pub fn trained_context_length(&self) -> Option<u64> {
        let architecture = self.architecture()?;
        self.model_info
            .get(&format!("{architecture}.context_length"))?
            .as_u64()
    }

    /// `num_ctx` from the `parameters` text, when the Modelfile sets it.
    pub fn parameter_num_ctx(&self) -> Option<u64> {
        self.parameters.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("num_ctx"))
                .then(|| words.next()?.parse().ok())
                .flatten()
        })
    }

    /// Keys of `model_info` whose value is an empty array: what a non-verbose request blanks.
    pub fn blanked_arrays(&self) -> Vec<&str> {
        self.model_info
            .iter()
            .filter(|(_, value)| value.as_array().is_some_and(Vec::is_empty))
            .map(|(key, _)| key.as_str())
            .collect()
    }
}

/// One loaded model of `GET /api/ps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningModel {
    /// Name.
    pub name: String,
    /// Model.
    #[serde(default)]
    pub model: String,
    /// Total bytes in use (weights, KV, compute).
    #[serde(default)]
    pub size: u64,
    /// Manifest digest.
    #[serde(default)]
    pub digest: String,
    /// Details.
    #[serde(default)]
    pub details: ModelDetails,
    /// When it unloads (RFC 3339).
    #[serde(default)]
    pub expires_at: String,
    /// Bytes in GPU memory (`size_vram == size` means 100% GPU).
    #[serde(default)]
    pub size_vram: u64,
    /// Loaded context (v0.9.7+; absent before).
    #[serde(default)]
    pub context_length: Option<u64>,
}

/// `GET /api/ps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsResponse {
    /// Loaded models.
    #[serde(default)]
    pub models: Vec<RunningModel>,
}

/// Timing fields of the final `/api/generate` or `/api/chat` response (durations in ns).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// Whole request.
    #[serde(default)]
    pub total_duration: Option<u64>,
    /// Model load.
    #[serde(default)]
    pub load_duration: Option<u64>,
    /// Prompt tokens evaluated (after any truncation: compare with the prompt you sent).
    #[serde(default)]
    pub prompt_eval_count: Option<u64>,
    /// Prompt evaluation time.
    #[serde(default)]
    pub prompt_eval_duration: Option<u64>,
    /// Generated tokens.
    #[serde(default)]
    pub eval_count: Option<u64>,
    /// Generation time.
    #[serde(default)]
    pub eval_duration: Option<u64>,
    /// `stop`, `length`, `load`…
    #[serde(default)]
    pub done_reason: Option<String>,
}

impl Timings {
    /// Prompt tokens per second, when both figures are present.
    pub fn prompt_tokens_per_second(&self) -> Option<f64> {
        rate(self.prompt_eval_count?, self.prompt_eval_duration?)
    }

    /// Generated tokens per second.
    pub fn eval_tokens_per_second(&self) -> Option<f64> {
        rate(self.eval_count?, self.eval_duration?)
    }
}

#[allow(clippy::cast_precision_loss)]
fn rate(count: u64, duration_nanoseconds: u64) -> Option<f64> {
    (duration_nanoseconds > 0).then(|| count as f64 / (duration_nanoseconds as f64 / 1e9))
}

/// An error body (`{"error": "…"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The message.
    pub error: String,
}
