//! The memory side of [`crate::seams::LocalCapacity`] from headroom-core's memory model: the
//! largest `num_ctx` for which llama.cpp's allocation (weights, f16 KV cache, compute buffers,
//! as Ollama launches it: one slot, `num_batch` 512) still fits the machine, and the model's
//! trained window, both read from the model's GGUF header (a file path, or the Ollama store).

use std::path::{Path, PathBuf};

use headroom_core::memory::fit::{Machine, largest_context, macos_default_gpu_share_bytes};
use headroom_core::memory::{ContextSettings, Estimator, ModelWeights};
use headroom_core::quant::TensorType;
use headroom_core::spec::ModelSpec;
use headroom_gguf::GgufFile;
use headroom_ollama::store::ModelStore;

/// Ollama's `num_batch` default (`api/types.go` `DefaultOptions`).
pub const OLLAMA_NUM_BATCH: u64 = 512;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The machine the local backend runs on, as the config states it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineConfig {
    /// Unified memory (Apple silicon), GiB.
    pub unified_memory_gib: Option<f64>,
    /// The share of unified memory the GPU may wire, GiB (default: macOS's usual 2/3 or 3/4).
    pub gpu_share_gib: Option<f64>,
    /// Discrete GPU memory, GiB.
    pub gpu_memory_gib: Option<f64>,
    /// System RAM next to a discrete GPU, GiB.
    pub system_memory_gib: Option<f64>,
}

impl MachineConfig {
    /// headroom-core's machine, or `None` when the config says too little.
    pub fn machine(&self) -> Option<Machine> {
        let bytes = |gib: f64| (gib * GIB) as u64;
        if let Some(unified) = self.unified_memory_gib {
            let total = bytes(unified);
            let share = self
                .gpu_share_gib
                .map_or_else(|| macos_default_gpu_share_bytes(total), bytes);
            return Some(Machine::unified(total, share));
        }
        match (self.gpu_memory_gib, self.system_memory_gib) {
            (Some(gpu), system) => Some(Machine::discrete(bytes(gpu), system.map_or(0, bytes))),
            (None, Some(system)) => Some(Machine::cpu_only(bytes(system))),
            (None, None) => None,
        }
    }
}

/// What the memory model says about one local model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryFit {
    /// Trained window from the GGUF.
    pub training_context_tokens: u64,
    /// Largest `num_ctx` that fits with an f16 KV cache (multiple of 256); `None`: not even 256.
    pub largest_context_tokens: Option<u64>,
}

/// Where the model's GGUF is.
#[derive(Debug, Clone)]
pub enum GgufSource {
    /// A file.
    File(PathBuf),
    /// A model in an Ollama store (`~/.ollama/models`).
    OllamaStore {
        /// Store root.
        root: PathBuf,
        /// Model name (`qwen3-coder:30b`).
        name: String,
    },
}

/// Computes the fit; the error is a sentence naming the file or model.
pub fn memory_fit(source: &GgufSource, machine: &Machine) -> Result<MemoryFit, String> {
    let file = match source {
        GgufSource::File(path) => {
            GgufFile::open(path).map_err(|error| format!("{}: {error}", path.display()))?
        }
        GgufSource::OllamaStore { root, name } => {
            let store = ModelStore::new(root);
            let model = store.model(name).map_err(|error| error.to_string())?;
            store.open_gguf(&model).map_err(|error| error.to_string())?
        }
    };
    fit_file(&file, machine)
}

fn fit_file(file: &GgufFile, machine: &Machine) -> Result<MemoryFit, String> {
    let spec = ModelSpec::from_gguf(file).map_err(|error| error.to_string())?;
    let weights = ModelWeights::from_gguf(file);
    // All layers on the GPU, as Ollama places them when they fit.
    let estimator = Estimator::new(&spec, &weights, None);
    let base = ContextSettings::ollama(0, 1, OLLAMA_NUM_BATCH);
    let fit = largest_context(
        &estimator,
        machine,
        &base,
        TensorType::F16,
        spec.context_length_trained,
    )
    .map_err(|error| error.to_string())?;
    Ok(MemoryFit {
        training_context_tokens: spec.context_length_trained,
        largest_context_tokens: fit.context_tokens,
    })
}

/// The default Ollama store on this machine (`OLLAMA_MODELS`, else `~/.ollama/models`).
pub fn default_ollama_store() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    headroom_ollama::store::resolve_models_dir(
        std::env::var("OLLAMA_MODELS").ok().as_deref(),
        home.as_deref(),
        headroom_ollama::store::Platform::current(),
    )
}

/// Resolves a relative GGUF path against the config file's directory.
pub fn resolve(config_path: &Path, gguf: &Path) -> PathBuf {
    if gguf.is_absolute() {
        gguf.to_path_buf()
    } else {
        config_path
            .parent()
            .map_or_else(|| gguf.to_path_buf(), |parent| parent.join(gguf))
    }
}
