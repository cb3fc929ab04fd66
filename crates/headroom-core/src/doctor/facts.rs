//! What the doctor knows before it judges: the inputs of a bundle directory or a live server,
//! each value with where it was read (file, line, key), so every finding can cite its evidence.
//! Gathering is done elsewhere ([`super::bundle`] for directories, the CLI for a live server);
//! this module only holds the data.

use headroom_ollama::api::Timings;
use headroom_ollama::context::Endpoint;
use headroom_ollama::log::Event;
use headroom_ollama::{Modelfile, ServerEnvironment, Version};
use serde::Serialize;

use crate::memory::ModelWeights;
use crate::memory::fit::Machine;
use crate::spec::ModelSpec;

use super::Evidence;

/// A value with the place it was read from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it was read.
    pub evidence: Evidence,
}

impl<T> Located<T> {
    /// A value read at `evidence`.
    pub fn new(value: T, evidence: Evidence) -> Self {
        Self { value, evidence }
    }
}

/// The model's own description: its GGUF header (from a bundle file or the Ollama store).
#[derive(Debug, Clone)]
pub struct ModelFacts {
    /// Architecture, layers, trained context.
    pub spec: ModelSpec,
    /// Weight bytes per tensor (exact from the header's tensor infos).
    pub weights: ModelWeights,
    /// Where it was read (a file path or `ollama store`).
    pub source: String,
    /// The file holds the header only (tensor data absent), as a header extract does.
    pub header_only: bool,
}

/// The Modelfile the model was created from (or `ollama show --modelfile`).
#[derive(Debug, Clone)]
pub struct ModelfileFacts {
    /// File path as shown to the user.
    pub path: String,
    /// The parsed file (kept whole for a lossless edit).
    pub modelfile: Modelfile,
    /// `PARAMETER num_ctx` with its line.
    pub num_ctx: Option<Located<u64>>,
}

/// How the Ollama server runs.
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    /// Its version (log `Listening on … (version X)`, client.toml, or `/api/version`).
    pub version: Option<Located<Version>>,
    /// Its `OLLAMA_*` settings.
    pub environment: Option<ServerEnvironment>,
    /// Each variable as written, with where (for evidence).
    pub variables: Vec<Located<(String, String)>>,
}

impl ServerFacts {
    /// Where a variable was set, if it was.
    pub fn variable(&self, name: &str) -> Option<&Located<(String, String)>> {
        self.variables
            .iter()
            .find(|variable| variable.value.0 == name)
    }
}

/// A server log as typed events.
#[derive(Debug, Clone)]
pub struct LogFacts {
    /// File path as shown.
    pub path: String,
    /// Events in file order.
    pub events: Vec<Event>,
    /// The raw text of each event's line, by line number (for quoting evidence).
    pub lines: std::collections::BTreeMap<u64, String>,
}

/// What the client (the agent or app calling Ollama) does: `client.toml`.
#[derive(Debug, Clone)]
pub struct ClientFacts {
    /// File path as shown.
    pub path: String,
    /// The model name the client requests.
    pub model: Option<Located<String>>,
    /// Native API or `/v1`.
    pub api: Located<Endpoint>,
    /// The client's request timeout.
    pub timeout_seconds: Option<Located<f64>>,
    /// `options.num_ctx` the client sends with each request.
    pub num_ctx: Option<Located<u64>>,
    /// Requests the client sends at once.
    pub parallel_requests: Option<Located<u64>>,
    /// A typical prompt, in tokens.
    pub typical_prompt_tokens: Option<Located<u64>>,
    /// Prompt sizes the client measured, in tokens.
    pub observed_prompt_tokens: Vec<Located<u64>>,
    /// Final-response timings of earlier requests (Ollama API fields, durations in ns).
    pub timings: Vec<Located<Timings>>,
    /// A prefill rate the user states (lowest trust: used only without measurements).
    pub prefill_tokens_per_second: Option<Located<f64>>,
}

/// The machine Ollama runs on.
#[derive(Debug, Clone)]
pub struct MachineFacts {
    /// Display name (catalog name or "64 GiB unified memory").
    pub name: String,
    /// Catalog id, when the machine came from the catalog.
    pub catalog_id: Option<String>,
    /// Memory as the fit check sees it.
    pub machine: Machine,
    /// Where the figures came from.
    pub evidence: Evidence,
    /// How the GPU share was decided (unified memory), for the arithmetic.
    pub gpu_share_note: Option<String>,
}

/// A model the live server has loaded (`/api/ps`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunningFacts {
    /// Name.
    pub name: String,
    /// Loaded context (`context_length`, v0.9.7+).
    pub context_length: Option<u64>,
    /// Total bytes.
    pub size_bytes: u64,
    /// Bytes on the GPU.
    pub size_vram_bytes: u64,
}

/// Everything the doctor read.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// What was examined: a directory, or a server URL.
    pub origin: String,
    /// The model, from its GGUF header.
    pub model: Option<ModelFacts>,
    /// The Modelfile of the model the client uses.
    pub modelfile: Option<ModelfileFacts>,
    /// The server.
    pub server: ServerFacts,
    /// The server log.
    pub log: Option<LogFacts>,
    /// The client.
    pub client: Option<ClientFacts>,
    /// The machine.
    pub machine: Option<MachineFacts>,
    /// Loaded models (live only).
    pub running: Vec<RunningFacts>,
    /// The trained context when no GGUF header was read (e.g. `/api/show` `model_info`).
    pub trained_context_tokens: Option<Located<u64>>,
    /// The model asked about (live: `--model` or the loaded one), when no client names it.
    pub requested_model: Option<String>,
    /// Inputs that were present but unreadable or ignored, with why.
    pub warnings: Vec<String>,
}

impl Facts {
    /// The model name the client requests, else the Modelfile's FROM.
    pub fn model_name(&self) -> Option<&str> {
        self.client
            .as_ref()
            .and_then(|client| client.model.as_ref())
            .map(|model| model.value.as_str())
            .or(self.requested_model.as_deref())
            .or_else(|| {
                self.modelfile
                    .as_ref()
                    .and_then(|modelfile| modelfile.modelfile.from())
            })
    }
}
