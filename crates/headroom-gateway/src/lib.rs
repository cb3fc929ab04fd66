//! headroom's HTTP gateway: routes each LLM request to a local backend or a cloud model by its
//! size in tokens, its privacy and the predicted local time to first token, in front of the
//! clients people already use (Ollama, OpenAI and Anthropic dialects).
//!
//! Layout:
//! - [`config`]: the TOML file (backends, models and aliases, privacy rules, deadlines); secrets
//!   only from the environment or files.
//! - [`secrets`] and [`privacy`]: fail-closed classification (private unless a rule says public;
//!   a prompt carrying a secret is private whatever the rules say).
//! - [`seams`]: the traits other headroom crates plug into — [`seams::TokenCounter`] (exact
//!   counts), [`seams::LocalCapacity`] (loaded window, memory fit), [`seams::PrefillPredictor`]
//!   (learned prefill rate) — with honest defaults.
//! - [`memory_fit`]: headroom-core's memory model behind the default capacity (largest `num_ctx`
//!   from the model's GGUF and a `[machine]` table).
//! - [`decision`]: the routing decision, a pure function.
//! - [`chat`] and [`dialect`]: the gateway's own request and event types, and every wire format.
//! - [`upstream`]: backend pools, probes (`/api/ps`, `/api/show`, `/slots`, `/props`), llama-server
//!   `/tokenize` counts.
//! - [`server`]: the HTTP server and per-request pipeline; [`run`]: the process (reload on SIGHUP
//!   or file change); [`observe`]: decision log, Prometheus metrics, `stats`.
//!
//! - [`vocabulary`]: exact token counts with each local model's own tokenizer and chat template.
//!
//! [`run::run`] installs the [`vocabulary::VocabularyCounter`] when the [`server::Seams`] it is
//! given has no token counter; the memory fit comes from the config's `[machine]` table.

pub mod chat;
pub mod config;
pub mod decision;
pub mod dialect;
pub mod memory_fit;
pub mod observe;
pub mod privacy;
pub mod run;
pub mod seams;
pub mod secrets;
pub mod server;
pub mod upstream;
pub mod vocabulary;
