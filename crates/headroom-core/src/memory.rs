//! Memory per component as llama.cpp allocates it: weights (exact from tensor infos or from a
//! model-shaped tensor plan), KV cache and recurrent state, output and compute buffers, and
//! which device each part lands on with `--gpu-layers`.
//!
//! Launch profiles follow the runners: llama-server (`tools/server/server.cpp`: `-np` auto → 4
//! slots with a unified KV), llama-fit-params (`n_outputs_max = n_batch`) and Ollama v0.30+
//! (`llama-server -c num_ctx×np -np np -b num_batch -ub num_batch`, Ollama `llm/server.go`), as
//! summarised in ../shared/reference/memory-anchors.md §1.1 and §3.

pub mod compute;
pub mod fit;
pub mod kv;

use crate::quant::TensorType;
use crate::spec::ModelSpec;

pub use kv::{CacheLayout, KvBreakdown, pad_context};

/// Why an estimate cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// llama.cpp refuses a quantized V cache without flash attention (llama-context.cpp:
    /// "quantized V cache was requested, but this requires Flash Attention").
    #[error(
        "a quantized V cache ({value_type}) requires flash attention; llama.cpp refuses to create this context"
    )]
    QuantizedValueNeedsFlashAttention {
        /// The V type requested.
        value_type: TensorType,
    },
    /// The type is not one of llama.cpp's cache types (`common/arg.cpp` `kv_cache_types`).
    #[error(
        "{tensor_type} is not a KV cache type llama.cpp accepts (f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1)"
    )]
    UnsupportedCacheType {
        /// The type.
        tensor_type: TensorType,
    },
    /// A cache row is not a whole number of blocks of the type.
    #[error("a KV row of {width} elements is not a whole number of {tensor_type} blocks")]
    UnalignedCacheRow {
        /// The type.
        tensor_type: TensorType,
        /// Row width.
        width: u64,
    },
    /// At least one parallel sequence is needed.
    #[error("parallel sequences must be at least 1")]
    NoSequences,
}

/// KV cache types llama.cpp accepts (`common/arg.cpp` `kv_cache_types`).
pub const CACHE_TYPES: [TensorType; 9] = [
    TensorType::F32,
    TensorType::F16,
    TensorType::Bf16,
    TensorType::Q8_0,
    TensorType::Q4_0,
    TensorType::Q4_1,
    TensorType::Iq4_Nl,
    TensorType::Q5_0,
    TensorType::Q5_1,
];

/// llama.cpp's default logical batch (`common/common.h` `n_batch = 2048`).
pub const DEFAULT_BATCH_TOKENS: u64 = 2048;
/// llama.cpp's default micro-batch (`common/common.h` `n_ubatch = 512`).
pub const DEFAULT_UBATCH_TOKENS: u64 = 512;
/// llama-server's automatic slot count (`tools/server/server.cpp`: "n_parallel is set to auto, using n_parallel = 4 and kv_unified = true").
pub const LLAMA_SERVER_AUTO_SLOTS: u64 = 4;

/// Context creation parameters that decide memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ContextSettings {
    /// Requested `n_ctx` (total over all sequences); 0 = the trained context.
    pub context_tokens: u64,
    /// `n_seq_max` (parallel slots).
    pub parallel_sequences: u64,
    /// One KV stream shared by all sequences (`--kv-unified`).
    pub kv_unified: bool,
    /// `--cache-type-k`.
    pub key_type: TensorType,
    /// `--cache-type-v`.
    pub value_type: TensorType,
    /// `--flash-attn`.
    pub flash_attention: bool,
    /// `n_batch`.
    pub batch_tokens: u64,
    /// `n_ubatch`.
    pub ubatch_tokens: u64,
    /// `n_outputs_max` reserved in the worst-case graph.
    pub outputs_max: u64,
    /// `--swa-full`.
    pub swa_full: bool,
    /// `n_rs_seq` recurrent rollback snapshots (0 unless speculative decoding).
    pub rollback_snapshots: u64,
    /// Host weights mapped from the file (llama-server's default; `--no-mmap` turns it off).
    /// Only changes what a second host copy of one file tensor costs: mapped, both copies read
    /// the same pages (Gemma 3n/4's tied output kept on the host, see `loads_output_before_input`).
    pub mmap: bool,
}

impl ContextSettings {
    /// llama-server: explicit `-np N` gives split KV; `None` is the automatic 4 unified slots.
    /// `n_outputs_max` = n_parallel (`server_output_limits`).
    pub fn llama_server(context_tokens: u64, parallel: Option<u64>) -> ContextSettings {
        let (parallel_sequences, kv_unified) = match parallel {
            Some(count) => (count.max(1), false),
            None => (LLAMA_SERVER_AUTO_SLOTS, true),
        };
        ContextSettings {
            context_tokens,
            parallel_sequences,
            kv_unified,
            key_type: TensorType::F16,
            value_type: TensorType::F16,
            flash_attention: true,
            batch_tokens: DEFAULT_BATCH_TOKENS,
            ubatch_tokens: DEFAULT_UBATCH_TOKENS,
            outputs_max: parallel_sequences,
            // common_params::swa_full defaults to false (common/common.h).
            swa_full: false,
            rollback_snapshots: 0,
            // common_params: the model is memory-mapped unless --no-mmap.
            mmap: true,
        }
    }

    /// llama-fit-params / llama-bench: split KV, `n_outputs_max = n_batch`; its plan sums every
    /// tensor's allocation, a duplicated one twice (measured: Gemma 4 26B-A4B, tests/llama_cpp.rs).
    pub fn fit_params(context_tokens: u64, parallel: u64) -> ContextSettings {
        ContextSettings {
            outputs_max: DEFAULT_BATCH_TOKENS,
            mmap: false,
            ..ContextSettings::llama_server(context_tokens, Some(parallel))
        }
    }

    /// Ollama v0.30+: `llama-server -c num_ctx*np -np np -b num_batch -ub num_batch`.
    pub fn ollama(num_ctx: u64, num_parallel: u64, num_batch: u64) -> ContextSettings {
        let parallel = num_parallel.max(1);
        ContextSettings {
            batch_tokens: num_batch,
            ubatch_tokens: num_batch,
            // Ollama's llm/server.go turns mmap off for CPU loads ("For CPU loads we want the
            // memory to be allocated, not FS cache"), the only placement where `mmap` changes
            // an estimate here (a second host copy of one tensor).
            mmap: false,
            ..ContextSettings::llama_server(num_ctx.saturating_mul(parallel), Some(parallel))
        }
    }

    /// Sets both cache types.
    pub fn with_cache_type(self, cache_type: TensorType) -> ContextSettings {
        ContextSettings {
            key_type: cache_type,
            value_type: cache_type,
            ..self
        }
    }

    /// Checks what llama.cpp checks at context creation.
    pub fn validate(&self) -> Result<(), MemoryError> {
        for tensor_type in [self.key_type, self.value_type] {
            if !CACHE_TYPES.contains(&tensor_type) {
                return Err(MemoryError::UnsupportedCacheType { tensor_type });
            }
        }
        if self.value_type.is_quantized() && !self.flash_attention {
            return Err(MemoryError::QuantizedValueNeedsFlashAttention {
                value_type: self.value_type,
            });
        }
        if self.parallel_sequences == 0 {
            return Err(MemoryError::NoSequences);
        }
        Ok(())
    }
}

/// Where a weight tensor lives, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorRole {
    /// `token_embd`: always on the CPU ("very little benefit to offloading the input layer", llama-model.cpp).
    Input,
    /// `output`, `output_norm`: the first unit offloaded.
    Output,
    /// A repeating block's tensor.
    Layer(u64),
    /// Anything else (rope_freqs and similar small tensors): kept on the CPU.
    Other,
}

/// One weight tensor's bytes and role.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WeightTensor {
    /// GGUF name.
    pub name: String,
    /// Data bytes.
    pub bytes: u64,
    /// Placement role.
    pub role: TensorRole,
}

/// Where the weight figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightsSource {
    /// GGUF tensor infos: exact.
    GgufTensors,
    /// A model-shaped tensor plan with llama-quantize's type rules: exact for files quantized
    /// without an imatrix or overrides.
    TensorPlan,
    /// Parameter count × bits per weight of the file type's default type: approximate.
    ParameterCount,
}

/// A model's weights.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModelWeights {
    /// Per-tensor bytes (empty for `ParameterCount`).
    pub tensors: Vec<WeightTensor>,
    /// Total bytes.
    pub total_bytes: u64,
    /// Provenance.
    pub source: WeightsSource,
    /// No `output.weight`: offloading the output duplicates `token_embd`.
    pub tied_embeddings: bool,
}

impl ModelWeights {
    /// Builds from (name, bytes) pairs, assigning roles from the names.
    pub fn from_tensors(
        tensors: impl IntoIterator<Item = (String, u64)>,
        source: WeightsSource,
    ) -> ModelWeights {
        let tensors: Vec<WeightTensor> = tensors
            .into_iter()
            .map(|(name, bytes)| {
                let role = role_of(&name);
                WeightTensor { name, bytes, role }
            })
            .collect();
        let total_bytes = tensors.iter().map(|tensor| tensor.bytes).sum();
        let tied_embeddings = !tensors.iter().any(|tensor| tensor.name == "output.weight");
        ModelWeights {
            tensors,
            total_bytes,
            source,
            tied_embeddings,
        }
    }

    /// An approximate total with no per-tensor detail (placed proportionally to layers).
    pub fn approximate(total_bytes: u64) -> ModelWeights {
        ModelWeights {
            tensors: Vec::new(),
            total_bytes,
            source: WeightsSource::ParameterCount,
            tied_embeddings: false,
        }
    }

    /// True when the figure is exact.
    pub fn is_exact(&self) -> bool {
        self.source != WeightsSource::ParameterCount
    }
}

fn role_of(name: &str) -> TensorRole {
    if name == "token_embd.weight" || name.starts_with("token_embd.") {
        TensorRole::Input
    } else if name.starts_with("output.") || name.starts_with("output_norm.") {
        TensorRole::Output
    } else if let Some(layer) = name
        .strip_prefix("blk.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|index| index.parse().ok())
    {
        TensorRole::Layer(layer)
    } else {
        TensorRole::Other
    }
}

/// Bytes split between the accelerator and the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeviceSplit {
    /// On the GPU (or the GPU share of unified memory).
    pub gpu_bytes: u64,
    /// In host RAM.
    pub host_bytes: u64,
}

impl DeviceSplit {
    /// Both together.
    pub fn total_bytes(&self) -> u64 {
        self.gpu_bytes + self.host_bytes
    }
}

/// The full breakdown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemoryEstimate {
    /// The settings estimated.
    pub settings: ContextSettings,
    /// Layers offloaded (`-ngl`, of `n_layer + 1` units).
    pub gpu_layers: u64,
    /// Weights by device (a tied output offloaded adds a copy of `token_embd` to the GPU).
    pub weights: DeviceSplit,
    /// Provenance of the weight figure.
    pub weights_source: WeightsSource,
    /// KV cache and recurrent state.
    pub kv: KvBreakdown,
    /// KV by device.
    pub kv_split: DeviceSplit,
    /// Host output buffer.
    pub output_bytes: u64,
    /// Compute buffer (model of llama.cpp's CPU reservation; approximate on GPU backends).
    pub compute_bytes: u64,
    /// Compute buffer by device.
    pub compute_split: DeviceSplit,
}

impl MemoryEstimate {
    /// Everything llama.cpp allocates, both devices.
    pub fn total_bytes(&self) -> u64 {
        self.weights.total_bytes() + self.kv.total_bytes() + self.output_bytes + self.compute_bytes
    }

    /// Bytes on the GPU.
    pub fn gpu_bytes(&self) -> u64 {
        self.weights.gpu_bytes + self.kv_split.gpu_bytes + self.compute_split.gpu_bytes
    }

    /// Bytes in host RAM.
    pub fn host_bytes(&self) -> u64 {
        self.weights.host_bytes
            + self.kv_split.host_bytes
            + self.compute_split.host_bytes
            + self.output_bytes
    }
}

/// Offload choice: `None` = all layers (`-ngl -1`), `Some(k)` = `-ngl k`.
pub type GpuLayers = Option<u64>;

/// Weight bytes per device for `-ngl`.
fn place_weights(spec: &ModelSpec, weights: &ModelWeights, offloaded_units: u64) -> DeviceSplit {
    let layer_count = spec.layer_count();
    // llama-model.cpp: i_gpu_start = n_layer + 1 - ngl; blocks il >= i_gpu_start go to the GPU.
    let first_gpu_layer = (layer_count + 1).saturating_sub(offloaded_units);
    let output_on_gpu = offloaded_units >= 1;
    if weights.tensors.is_empty() {
        // Approximate weights: spread evenly over layers.
        let gpu_layers = layer_count.saturating_sub(first_gpu_layer);
        let gpu_bytes = if layer_count == 0 {
            0
        } else {
            (weights.total_bytes as u128 * gpu_layers as u128 / layer_count as u128) as u64
        };
        return DeviceSplit {
            gpu_bytes,
            host_bytes: weights.total_bytes - gpu_bytes,
        };
    }
    let mut split = DeviceSplit::default();
    for tensor in &weights.tensors {
        let on_gpu = match tensor.role {
            TensorRole::Input | TensorRole::Other => false,
            TensorRole::Output => output_on_gpu,
            // NextN / MTP blocks sit past n_layer and are not loaded unless speculative MTP
            // decoding asks for them (common/common.h `load_mtp = false`; the loader marks
            // them TENSOR_SKIP).
            TensorRole::Layer(layer) if layer >= layer_count => continue,
            TensorRole::Layer(layer) => layer >= first_gpu_layer,
        };
        if on_gpu {
            split.gpu_bytes += tensor.bytes;
        } else {
            split.host_bytes += tensor.bytes;
        }
        // Tied embeddings: the output layer reads token_embd, duplicated onto the output device.
        // (A second host copy, Gemma 3n/4 without offload, depends on mmap: `host_duplicate_bytes`.)
        if tensor.role == TensorRole::Input && weights.tied_embeddings && output_on_gpu {
            split.gpu_bytes += tensor.bytes;
        }
    }
    split
}

/// Gemma 3n and Gemma 4 create the tied output (a duplicate of token_embd) before token_embd
/// itself (`load_arch_tensors` in src/models/gemma3n.cpp, gemma4.cpp), so `create_tensor` finds no
/// tensor to reuse and token_embd is allocated twice even when both land on the host
/// (src/llama-model-loader.cpp, TENSOR_DUPLICATED).
fn loads_output_before_input(spec: &ModelSpec) -> bool {
    matches!(spec.architecture.as_str(), "gemma3n" | "gemma4")
}

/// The second host copy of token_embd that Gemma 3n/4 get when their output stays on the host:
/// a real allocation without mmap; with mmap both tensors map the same file pages (measured:
/// llama-server maps it once, llama-fit-params counts it twice; tests/llama_cpp.rs).
fn host_duplicate_bytes(
    spec: &ModelSpec,
    weights: &ModelWeights,
    settings: &ContextSettings,
    offloaded_units: u64,
) -> u64 {
    if settings.mmap
        || offloaded_units >= 1
        || !weights.tied_embeddings
        || !loads_output_before_input(spec)
    {
        return 0;
    }
    weights
        .tensors
        .iter()
        .filter(|tensor| tensor.role == TensorRole::Input)
        .map(|tensor| tensor.bytes)
        .sum()
}

/// Estimates every component for one set of settings.
pub fn estimate(
    spec: &ModelSpec,
    weights: &ModelWeights,
    settings: &ContextSettings,
    gpu_layers: GpuLayers,
) -> Result<MemoryEstimate, MemoryError> {
    settings.validate()?;
    let units = spec.layer_count() + 1;
    let offloaded_units = gpu_layers.map_or(units, |count| count.min(units));
    let weight_split = place_weights(spec, weights, offloaded_units);
    estimate_with_weights(spec, weights, weight_split, settings, offloaded_units)
}

fn estimate_with_weights(
    spec: &ModelSpec,
    weights: &ModelWeights,
    weight_split: DeviceSplit,
    settings: &ContextSettings,
    offloaded_units: u64,
) -> Result<MemoryEstimate, MemoryError> {
    let weight_split = DeviceSplit {
        host_bytes: weight_split.host_bytes
            + host_duplicate_bytes(spec, weights, settings, offloaded_units),
        ..weight_split
    };
    let layout = kv::layout(spec, settings);
    // i_gpu_start = n_layer + 1 - ngl (llama-model.cpp).
    let first_gpu_layer = (spec.layer_count() + 1).saturating_sub(offloaded_units);
    let kv = kv::kv_breakdown(spec, settings, layout, first_gpu_layer)?;
    let kv_gpu = kv.attention_gpu_bytes + kv.recurrent_gpu_bytes;
    let compute_bytes = compute::compute_bytes(spec, settings, &layout);
    let compute_split = if offloaded_units > 0 {
        DeviceSplit {
            gpu_bytes: compute_bytes,
            host_bytes: 0,
        }
    } else {
        DeviceSplit {
            gpu_bytes: 0,
            host_bytes: compute_bytes,
        }
    };
    Ok(MemoryEstimate {
        settings: *settings,
        gpu_layers: offloaded_units,
        weights: weight_split,
        weights_source: weights.source,
        kv,
        kv_split: DeviceSplit {
            gpu_bytes: kv_gpu,
            host_bytes: kv.total_bytes() - kv_gpu,
        },
        output_bytes: compute::output_bytes(spec, settings),
        compute_bytes,
        compute_split,
    })
}

/// A reusable estimator: weights are placed once, then contexts are cheap (the context search
/// evaluates ~10 contexts).
#[derive(Debug, Clone)]
pub struct Estimator<'a> {
    spec: &'a ModelSpec,
    weights: &'a ModelWeights,
    weight_split: DeviceSplit,
    offloaded_units: u64,
}

impl<'a> Estimator<'a> {
    /// Places the weights for `gpu_layers`.
    pub fn new(
        spec: &'a ModelSpec,
        weights: &'a ModelWeights,
        gpu_layers: GpuLayers,
    ) -> Estimator<'a> {
        let units = spec.layer_count() + 1;
        let offloaded_units = gpu_layers.map_or(units, |count| count.min(units));
        Estimator {
            spec,
            weights,
            weight_split: place_weights(spec, weights, offloaded_units),
            offloaded_units,
        }
    }

    /// The model.
    pub fn spec(&self) -> &ModelSpec {
        self.spec
    }

    /// Estimates for one set of settings.
    pub fn estimate(&self, settings: &ContextSettings) -> Result<MemoryEstimate, MemoryError> {
        settings.validate()?;
        estimate_with_weights(
            self.spec,
            self.weights,
            self.weight_split,
            settings,
            self.offloaded_units,
        )
    }
}

impl ModelWeights {
    /// Exact weights from GGUF tensor infos (tensors of unknown type count 0 and are reported by the reader).
    pub fn from_gguf(file: &headroom_gguf::GgufFile) -> ModelWeights {
        ModelWeights::from_tensors(
            file.tensors
                .iter()
                .map(|tensor| (tensor.name.clone(), tensor.byte_size().unwrap_or(0))),
            WeightsSource::GgufTensors,
        )
    }

    /// Exact weights from a model-shaped tensor plan.
    pub fn from_plan(tensors: &[crate::quant::PlannedTensor]) -> ModelWeights {
        ModelWeights::from_tensors(
            tensors
                .iter()
                .map(|tensor| (tensor.name.clone(), tensor.bytes().unwrap_or(0))),
            WeightsSource::TensorPlan,
        )
    }
}
