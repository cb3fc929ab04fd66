//! Ollama's Modelfiles, model store, server configuration, logs and API types.
//!
//! Everything here is synchronous and free of any HTTP stack: the CLI crate owns the network
//! client and uses the serde types of [`api`]. Every rule that mirrors Ollama behaviour names
//! the Ollama source file and version range it was read from.

pub mod api;
pub mod config;
pub mod context;
pub mod duration;
pub mod log;
pub mod modelfile;
pub mod name;
pub mod store;
pub mod version;

pub use config::{OllamaHost, ServerEnvironment};
pub use context::{
    ContextQuery, ContextReason, ContextRule, EffectiveContext, Endpoint, effective_context,
};
pub use modelfile::{Instruction, Modelfile, ModelfileError};
pub use name::ModelName;
pub use store::{ModelStore, StoreError};
pub use version::{Version, VersionRange};
