//! Ollama's Modelfiles, model store, server configuration, logs and API types.
