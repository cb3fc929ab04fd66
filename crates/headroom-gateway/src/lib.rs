//! headroom's HTTP gateway: routes each LLM request to a local backend or a cloud model by its
//! exact size, its privacy and the predicted local time to first token, in front of the clients
//! people already use (Ollama, OpenAI and Anthropic dialects).
//!
//! Layout: [`config`] (TOML), [`secrets`] and [`privacy`] (fail-closed classification),
//! [`seams`] (token counting, local capacity, prefill prediction: the traits other headroom
//! crates plug into), [`decision`] (the pure routing function).

pub mod chat;
pub mod config;
pub mod decision;
pub mod dialect;
pub mod observe;
pub mod privacy;
pub mod run;
pub mod seams;
pub mod secrets;
pub mod server;
pub mod upstream;
