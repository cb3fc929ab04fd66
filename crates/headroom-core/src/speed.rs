//! Speed model: decode and prefill tokens per second as a function of context depth, for a
//! model on a machine, and the timeout arithmetic built on it (time to first token, the largest
//! prompt a timeout allows, the timeout a context window needs).
//!
//! The physics follows ../shared/reference/memory-anchors.md §5.6–5.7:
//! - decode reads, per token, every dense weight, the routed experts' share of the expert weights
//!   (`n_expert_used / n_expert`), shared experts in full, the KV cache up to the current depth
//!   (capped by each layer's sliding window) and any recurrent state, over effective bandwidth;
//! - prefill costs `2 × active parameters` FLOPs per token plus attention that grows with depth
//!   (`2 × heads × (key + value width) × min(depth, window)` per layer), over effective compute,
//!   never faster than the memory-bound floor of reading the touched weights once per micro-batch;
//! - layers split across devices add their times; weights left in host memory are copied to the
//!   GPU once per micro-batch during prefill (llama.cpp's op offload), over the host link.
//!
//! Effective bandwidth and compute come from efficiency factors fitted per device class and
//! backend on ../shared/truth/measured-throughput.csv ([`efficiency`], [`fit`]); a user's own
//! measurement ([`measured`]) overrides the prediction.

pub mod efficiency;
pub mod fit;
pub mod measured;

use crate::hardware::{Hardware, MemoryKind};
use crate::memory::{ContextSettings, ModelWeights, TensorRole};
use crate::quant::TensorType;
use crate::spec::{AttentionKind, ModelSpec};

pub use efficiency::{Backend, DeviceClass, EfficiencyFactors, WeightFormat};
pub use measured::{Measurement, MeasurementError};

/// llama.cpp's default micro-batch for prefill (`n_ubatch` = 512, `common/common.h`).
pub const DEFAULT_UBATCH_TOKENS: u64 = 512;

/// PCIe 4.0 x16, one direction: 32 GB/s (glennklockwood.com/garden/processors/A100: "32+32 GB/s
/// PCIe Gen4"), used to copy host-resident weights to a discrete GPU when no link is catalogued.
pub const DEFAULT_HOST_LINK_BYTES_PER_SECOND: f64 = 32e9;

/// Dual-channel DDR5-5600: 2 channels × 8 bytes × 5600 MT/s = 89.6 GB/s (bus arithmetic, JEDEC
/// DDR5 channel width), assumed for the host of a discrete machine whose RAM bandwidth is unknown.
pub const DEFAULT_HOST_BANDWIDTH_BYTES_PER_SECOND: f64 = 89.6e9;

/// Model load read speed when nothing else is known: 2 GB/s, a conservative NVMe sequential read
/// (PCIe 3.0 x4 drives read ~3.5 GB/s; page-cache hits are far faster). An assumption, stated in
/// every output that uses it; pass `--load-read-speed` to change it.
pub const DEFAULT_LOAD_BYTES_PER_SECOND: f64 = 2e9;

/// What one block (layer) costs per token.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LayerTraffic {
    /// All weight bytes of the block (experts included): what sits on its device.
    pub weight_bytes: u64,
    /// Weight bytes one decoded token reads: dense tensors, shared experts, routed experts' share.
    pub read_bytes: f64,
    /// Weight bytes a prefill micro-batch touches (all experts: a 512-token batch routes to nearly
    /// every expert).
    pub prefill_touched_bytes: u64,
    /// KV-cache bytes per cached token of this layer (K + V at the cache type).
    pub kv_bytes_per_token: u64,
    /// Sliding window (or chunk) of the layer; `None` = full attention.
    pub window_tokens: Option<u64>,
    /// Attention FLOPs per (query token, cached token) pair: `2 × heads × (key + value width)`.
    pub attention_flops_per_pair: u64,
}

/// A model reduced to what speed depends on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelProfile {
    /// Display name.
    pub name: String,
    /// Weight bytes llama.cpp loads (NextN / MTP blocks past `n_layer` are left out).
    pub weight_bytes: u64,
    /// Weight bytes in the file that llama.cpp does not load (NextN / MTP blocks).
    pub unloaded_bytes: u64,
    /// Weights outside the blocks read per token (output head; the input embedding reads one row).
    pub outside_read_bytes: u64,
    /// Weights outside the blocks (embeddings, output, norms).
    pub outside_weight_bytes: u64,
    /// Per block.
    pub layers: Vec<LayerTraffic>,
    /// Parameters touched per token (routed experts' share only).
    pub active_parameters: u64,
    /// All parameters.
    pub total_parameters: u64,
    /// Recurrent state bytes per sequence (read and written every token).
    pub recurrent_state_bytes: u64,
    /// Hidden size, for the activations passed between devices.
    pub embedding_length: u64,
    /// How the weights are stored (from the file type; `any` when unknown).
    pub weight_format: WeightFormat,
}

fn is_routed_expert(name: &str) -> bool {
    // llama.cpp names routed expert tensors `blk.N.ffn_{gate,up,down}_exps.weight` (and
    // `_exps.bias`); shared experts are `_shexp` and count as dense.
    name.contains("_exps.")
}

fn attention_window(kind: AttentionKind) -> Option<u64> {
    match kind {
        AttentionKind::SlidingWindow { window_tokens } => Some(window_tokens),
        AttentionKind::Chunked { chunk_tokens } => Some(chunk_tokens),
        _ => None,
    }
}

impl ModelProfile {
    /// Builds the profile from a spec and its weights, with the KV cache in `kv_type` (K and V).
    pub fn new(spec: &ModelSpec, weights: &ModelWeights, kv_type: TensorType) -> ModelProfile {
        let layer_count = spec.layer_count();
        let expert_fraction = spec
            .experts
            .filter(|experts| experts.count > 0)
            .map_or(1.0, |experts| experts.used as f64 / experts.count as f64);
        let mut layers: Vec<LayerTraffic> = spec
            .layers
            .iter()
            .map(|layer| {
                let key = kv_type.row_bytes(layer.key_width()).unwrap_or(0);
                let value = kv_type.row_bytes(layer.value_width()).unwrap_or(0);
                let (query_width, value_width) = match (layer.attention, spec.mla) {
                    // MLA with the absorbed matrices llama.cpp uses for decode: each head attends
                    // over the 576-wide latent (kv_lora_rank + rope) and reads back kv_lora_rank.
                    (AttentionKind::Mla, Some(mla)) => {
                        (mla.kv_lora_rank + mla.rope_dim, mla.kv_lora_rank)
                    }
                    _ => (layer.key_head_dim, layer.value_head_dim),
                };
                let attends = layer.has_kv
                    || matches!(
                        layer.attention,
                        AttentionKind::Full
                            | AttentionKind::Mla
                            | AttentionKind::SlidingWindow { .. }
                            | AttentionKind::Chunked { .. }
                    );
                LayerTraffic {
                    weight_bytes: 0,
                    read_bytes: 0.0,
                    prefill_touched_bytes: 0,
                    kv_bytes_per_token: if layer.has_kv { key + value } else { 0 },
                    window_tokens: attention_window(layer.attention),
                    attention_flops_per_pair: if attends {
                        2 * layer.query_heads * (query_width + value_width)
                    } else {
                        0
                    },
                }
            })
            .collect();
        let mut outside_weight_bytes = 0u64;
        let mut outside_read_bytes = 0u64;
        let mut skipped_bytes = 0u64;
        if weights.tensors.is_empty() {
            // Approximate weights: spread over layers; the routed share from the parameter counts.
            let read_fraction = spec
                .parameters
                .filter(|counts| counts.total > 0)
                .map_or(1.0, |counts| counts.active as f64 / counts.total as f64);
            let per_layer = weights.total_bytes.checked_div(layer_count).unwrap_or(0);
            for layer in &mut layers {
                layer.weight_bytes = per_layer;
                layer.read_bytes = per_layer as f64 * read_fraction;
                layer.prefill_touched_bytes = per_layer;
            }
            outside_weight_bytes = weights.total_bytes - per_layer * layer_count;
            outside_read_bytes = outside_weight_bytes;
        } else {
            for tensor in &weights.tensors {
                match tensor.role {
                    TensorRole::Layer(index) => {
                        // NextN / MTP blocks (past n_layer) are not loaded without speculative
                        // MTP decoding (the loader skips them; memory.rs does the same).
                        let Some(layer) = layers.get_mut(index as usize) else {
                            skipped_bytes += tensor.bytes;
                            continue;
                        };
                        layer.weight_bytes += tensor.bytes;
                        layer.prefill_touched_bytes += tensor.bytes;
                        layer.read_bytes += if is_routed_expert(&tensor.name) {
                            tensor.bytes as f64 * expert_fraction
                        } else {
                            tensor.bytes as f64
                        };
                    }
                    TensorRole::Input => {
                        outside_weight_bytes += tensor.bytes;
                        // One embedding row per token, unless the output head reads the same
                        // matrix (tied embeddings): then the whole matrix, once.
                        if weights.tied_embeddings {
                            outside_read_bytes += tensor.bytes;
                        }
                    }
                    TensorRole::Output | TensorRole::Other => {
                        outside_weight_bytes += tensor.bytes;
                        outside_read_bytes += tensor.bytes;
                    }
                }
            }
        }
        let (total_parameters, active_parameters) = match spec.parameters {
            Some(counts) => (counts.total, counts.active),
            None => crate::tensors::model_tensors(spec)
                .map(|tensors| {
                    let counts = crate::tensors::parameter_counts(spec, &tensors);
                    (counts.total, counts.active)
                })
                // Unknown layout: assume ~4.5 bits per weight (Q4_K_M's average is about 4.9).
                .unwrap_or_else(|_| {
                    let total = weights.total_bytes * 16 / 9;
                    (total, (total as f64 * expert_fraction) as u64)
                }),
        };
        let recurrent_state_bytes = crate::memory::estimate(
            spec,
            weights,
            &ContextSettings::llama_server(256, Some(1)),
            None,
        )
        .map_or(0, |estimate| estimate.kv.recurrent_bytes);
        ModelProfile {
            name: spec
                .name
                .clone()
                .unwrap_or_else(|| spec.architecture.clone()),
            weight_bytes: weights.total_bytes - skipped_bytes,
            unloaded_bytes: skipped_bytes,
            outside_read_bytes,
            outside_weight_bytes,
            layers,
            active_parameters,
            total_parameters,
            recurrent_state_bytes,
            embedding_length: spec.embedding_length,
            weight_format: spec
                .file_type
                .map_or(WeightFormat::Any, WeightFormat::of_file_type),
        }
    }

    /// The same model with its weights rescaled to a file of `total_bytes` (a file whose size is
    /// known but whose per-tensor types are not, like a measured row of another quantization).
    pub fn scaled_to(&self, total_bytes: u64) -> ModelProfile {
        let file_bytes = self.weight_bytes + self.unloaded_bytes;
        if file_bytes == 0 {
            return self.clone();
        }
        let scale = total_bytes as f64 / file_bytes as f64;
        let mut scaled = self.clone();
        scaled.weight_bytes = (self.weight_bytes as f64 * scale) as u64;
        scaled.unloaded_bytes = total_bytes - scaled.weight_bytes.min(total_bytes);
        scaled.outside_read_bytes = (self.outside_read_bytes as f64 * scale) as u64;
        scaled.outside_weight_bytes = (self.outside_weight_bytes as f64 * scale) as u64;
        for layer in &mut scaled.layers {
            layer.weight_bytes = (layer.weight_bytes as f64 * scale) as u64;
            layer.prefill_touched_bytes = (layer.prefill_touched_bytes as f64 * scale) as u64;
            layer.read_bytes *= scale;
        }
        scaled
    }

    /// Weight bytes one decoded token reads.
    pub fn weight_read_bytes_per_token(&self) -> f64 {
        self.outside_read_bytes as f64 + self.layers.iter().map(|l| l.read_bytes).sum::<f64>()
    }

    /// KV bytes one decoded token reads at `depth_tokens` (each layer capped by its window).
    pub fn kv_read_bytes(&self, depth_tokens: u64) -> f64 {
        self.layers
            .iter()
            .map(|layer| {
                let cells = layer
                    .window_tokens
                    .map_or(depth_tokens, |window| depth_tokens.min(window));
                layer.kv_bytes_per_token as f64 * cells as f64
            })
            .sum()
    }

    /// Attention FLOPs for the query tokens at positions `start..start + count` (each attends
    /// to every earlier position, capped by its layer's window).
    pub fn attention_flops(&self, start_tokens: u64, count_tokens: u64) -> f64 {
        let start = start_tokens as f64;
        let end = start + count_tokens as f64;
        self.layers
            .iter()
            .filter(|layer| layer.attention_flops_per_pair > 0)
            .map(|layer| {
                let pairs = match layer.window_tokens {
                    None => (end * end - start * start) / 2.0,
                    Some(window) => {
                        let window = window as f64;
                        // ∫ min(p, w) dp over [start, end].
                        let ramp_end = end.min(window);
                        let ramp = if start < ramp_end {
                            (ramp_end * ramp_end - start * start) / 2.0
                        } else {
                            0.0
                        };
                        let flat = (end - start.max(window)).max(0.0) * window;
                        ramp + flat
                    }
                };
                pairs * layer.attention_flops_per_pair as f64
            })
            .sum()
    }

    /// A mixture-of-experts model (fewer active than total parameters).
    pub fn is_mixture_of_experts(&self) -> bool {
        self.active_parameters < self.total_parameters
    }

    /// Matrix-multiply FLOPs per token: `2 × active parameters`.
    pub fn weight_flops_per_token(&self) -> f64 {
        2.0 * self.active_parameters as f64
    }
}

/// How the model's blocks are placed on the machine.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Placement {
    /// Blocks per accelerator (one entry per accelerator; linked machines count as accelerators).
    pub device_layers: Vec<u64>,
    /// Blocks left in host memory, run by the CPU.
    pub host_layers: u64,
    /// Weight bytes left in host memory.
    pub host_weight_bytes: u64,
    /// The weights do not fit even with host memory.
    pub does_not_fit: bool,
}

/// One accelerator's speed figures after efficiency.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DeviceRates {
    /// Peak memory bandwidth, bytes/s.
    pub bandwidth_bytes_per_second: f64,
    /// Reference compute for prefill (FP16 FLOP/s, or a bandwidth-derived stand-in), FLOP/s.
    pub compute_reference_flops: f64,
    /// The compute reference is derived from bandwidth (no FP16 figure known).
    pub compute_from_bandwidth: bool,
}

/// A machine and how the speed model sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MachineModel {
    /// Hardware id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Device class used for efficiency.
    pub class: DeviceClass,
    /// Backend.
    pub backend: Backend,
    /// Memory usable by each accelerator, bytes.
    pub device_memory_bytes: Vec<u64>,
    /// Per accelerator rates.
    pub device_rates: Vec<DeviceRates>,
    /// Host memory bandwidth, bytes/s (unified: the same pool).
    pub host_bandwidth_bytes_per_second: f64,
    /// The host bandwidth is an assumption.
    pub host_bandwidth_assumed: bool,
    /// Host memory the weights may spill to, bytes.
    pub host_memory_bytes: u64,
    /// Link used to copy host weights to the accelerator, bytes/s.
    pub host_link_bytes_per_second: f64,
    /// Link between accelerators (or machines), bytes/s, when there are several.
    pub device_link_bytes_per_second: Option<f64>,
    /// Unified memory.
    pub unified: bool,
}

impl MachineModel {
    /// Describes `hardware` for the speed model. `backend` overrides the machine's first backend;
    /// `wired_limit_mb` is the macOS GPU wired limit (see [`Hardware::gpu_memory_bytes`]).
    pub fn new(
        hardware: &Hardware,
        backend: Option<Backend>,
        class: Option<DeviceClass>,
        wired_limit_mb: Option<u64>,
    ) -> MachineModel {
        let class = class.unwrap_or_else(|| DeviceClass::of(hardware));
        let backend = backend.unwrap_or_else(|| Backend::default_for(hardware, class));
        let factors = efficiency::factors();
        let unified = hardware.kind == MemoryKind::Unified;
        let gpu_memory = hardware.gpu_memory_bytes(wired_limit_mb);
        let device_count = hardware.device_count().max(1);
        let mut device_memory_bytes = Vec::new();
        let mut device_rates = Vec::new();
        for device in &hardware.devices {
            let flops = device.fp16_flops.or(device.bf16_flops);
            let bandwidth = device.bandwidth_bytes_per_second as f64;
            let (compute, from_bandwidth) = match flops {
                Some(flops) if class.prefill_basis() == efficiency::PrefillBasis::Flops => {
                    (flops as f64, false)
                }
                _ => (bandwidth * factors.flops_per_bandwidth(class), true),
            };
            for _ in 0..device.count {
                device_rates.push(DeviceRates {
                    bandwidth_bytes_per_second: bandwidth,
                    compute_reference_flops: compute,
                    compute_from_bandwidth: from_bandwidth,
                });
                // Unified: the GPU share of the pool, split over the devices (linked machines).
                device_memory_bytes.push(if unified {
                    gpu_memory / u64::from(device_count)
                } else {
                    device.memory_bytes
                });
            }
        }
        let (host_bandwidth, host_assumed) = if unified {
            (hardware.bandwidth_bytes_per_second() as f64, false)
        } else {
            match hardware
                .system_memory
                .as_ref()
                .and_then(|memory| memory.bandwidth_bytes_per_second)
            {
                Some(bandwidth) => (bandwidth as f64, false),
                None => (DEFAULT_HOST_BANDWIDTH_BYTES_PER_SECOND, true),
            }
        };
        let host_memory_bytes = if unified {
            hardware
                .total_device_memory_bytes()
                .saturating_sub(gpu_memory)
        } else {
            hardware.system_memory_bytes().unwrap_or(0)
        };
        let link = |kinds: &[&str]| {
            hardware
                .links
                .iter()
                .find(|link| {
                    kinds
                        .iter()
                        .any(|kind| link.kind.eq_ignore_ascii_case(kind))
                })
                .map(|link| link.bandwidth_bytes_per_second as f64)
        };
        let host_link = link(&["pcie"]).unwrap_or(DEFAULT_HOST_LINK_BYTES_PER_SECOND);
        let device_link = (device_rates.len() > 1)
            .then(|| link(&["nvlink", "network", "infinity-fabric", "pcie"]))
            .flatten()
            .or((device_rates.len() > 1).then_some(host_link));
        MachineModel {
            id: hardware.id.clone(),
            name: hardware.name.clone(),
            class,
            backend,
            device_memory_bytes,
            device_rates,
            host_bandwidth_bytes_per_second: host_bandwidth,
            host_bandwidth_assumed: host_assumed && !unified,
            host_memory_bytes,
            host_link_bytes_per_second: host_link,
            device_link_bytes_per_second: device_link,
            unified,
        }
    }

    /// Places blocks: the output head and the last blocks first, each accelerator taking its
    /// share of the blocks in proportion to its free memory (llama.cpp's default `--split-mode
    /// layer` split), the rest in host memory. `reserve_bytes` per accelerator is kept for the KV
    /// cache and compute buffers.
    pub fn place(&self, profile: &ModelProfile, reserve_bytes: &[u64]) -> Placement {
        let count = self.device_memory_bytes.len();
        let mut free: Vec<u64> = (0..count)
            .map(|index| {
                self.device_memory_bytes[index]
                    .saturating_sub(reserve_bytes.get(index).copied().unwrap_or(0))
            })
            .collect();
        if let Some(last) = free.last_mut() {
            *last = last.saturating_sub(profile.outside_weight_bytes);
        }
        let total_free: u128 = free.iter().map(|&bytes| u128::from(bytes)).sum();
        let layer_count = profile.layers.len() as u64;
        let mut device_layers = vec![0u64; count];
        let mut remaining = profile.layers.iter().rev().peekable();
        for index in (0..count).rev() {
            let target = if count == 1 || total_free == 0 {
                layer_count
            } else {
                (u128::from(layer_count) * u128::from(free[index])).div_ceil(total_free) as u64
            };
            while device_layers[index] < target {
                match remaining.peek() {
                    Some(layer) if free[index] >= layer.weight_bytes => {
                        free[index] -= layer.weight_bytes;
                        device_layers[index] += 1;
                        remaining.next();
                    }
                    _ => break,
                }
            }
        }
        let mut host_layers = 0u64;
        let mut host_weight_bytes = 0u64;
        for layer in remaining {
            host_layers += 1;
            host_weight_bytes += layer.weight_bytes;
        }
        let does_not_fit = host_weight_bytes > self.host_memory_bytes;
        Placement {
            device_layers,
            host_layers,
            host_weight_bytes,
            does_not_fit,
        }
    }
}

/// Where a rate came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RateSource {
    /// The speed model with fitted efficiency factors.
    Model {
        /// The efficiency entry used (`class/backend`, or a fallback).
        factors: String,
    },
    /// The user's measurement, scaled to the asked depth by the model's depth curve.
    Measured {
        /// What was measured (`--prefill-rate 400`, a log line, llama-bench).
        what: String,
        /// Tokens/s as measured.
        measured_tokens_per_second: f64,
    },
}

/// Decode and prefill predictions at one depth.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpeedEstimate {
    /// Context depth (tokens already in the cache).
    pub depth_tokens: u64,
    /// Generated tokens per second at this depth.
    pub decode_tokens_per_second: f64,
    /// Bytes read per generated token (weights + KV + state).
    pub decode_bytes_per_token: f64,
    /// Prompt tokens per second for a micro-batch starting at this depth.
    pub prefill_tokens_per_second: f64,
    /// Prefill is limited by memory bandwidth (the small-batch floor), not compute.
    pub prefill_memory_bound: bool,
}

/// The speed model for one model on one machine.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SpeedModel {
    /// The model.
    pub profile: ModelProfile,
    /// The machine.
    pub machine: MachineModel,
    /// Block placement.
    pub placement: Placement,
    /// Efficiency factors applied to the accelerators.
    pub factors: EfficiencyFactors,
    /// The efficiency entry's name.
    pub factors_name: String,
    /// Micro-batch size for prefill.
    pub ubatch_tokens: u64,
    /// Notes on assumptions made.
    pub notes: Vec<String>,
}

impl SpeedModel {
    /// Builds the model: places the blocks (keeping `reserve_bytes` on the last accelerator for
    /// KV cache and buffers) and looks up efficiency for the machine's class and backend.
    pub fn new(profile: ModelProfile, machine: MachineModel, reserve_bytes: u64) -> SpeedModel {
        let mut reserve = vec![0u64; machine.device_memory_bytes.len()];
        // KV and buffers spread like the layers; a simple even split is close enough here.
        let count = reserve.len().max(1) as u64;
        for value in &mut reserve {
            *value = reserve_bytes / count;
        }
        let placement = machine.place(&profile, &reserve);
        let (factors_name, factors) =
            efficiency::factors().lookup(machine.class, machine.backend, profile.weight_format);
        let mut notes = Vec::new();
        if placement.host_layers > 0 {
            notes.push(format!(
                "{} of {} layers do not fit the accelerator and run from host memory",
                placement.host_layers,
                profile.layers.len()
            ));
            if machine.host_bandwidth_assumed {
                notes.push(format!(
                    "host RAM bandwidth unknown: assumed {:.1} GB/s (dual-channel DDR5-5600)",
                    DEFAULT_HOST_BANDWIDTH_BYTES_PER_SECOND / 1e9
                ));
            }
        }
        if machine
            .device_rates
            .iter()
            .any(|rate| rate.compute_from_bandwidth)
        {
            notes.push(format!(
                "no FP16 FLOP/s figure used for this machine: prefill compute scales with bandwidth ({} class ratio fitted on measured rows)",
                machine.class
            ));
        }
        SpeedModel {
            profile,
            machine,
            placement,
            factors,
            factors_name,
            ubatch_tokens: DEFAULT_UBATCH_TOKENS,
            notes,
        }
    }

    /// Per-device share of the blocks: (fraction of layers on each accelerator, fraction on host).
    fn shares(&self) -> (Vec<f64>, f64) {
        let total = self.profile.layers.len().max(1) as f64;
        let devices = self
            .placement
            .device_layers
            .iter()
            .map(|&layers| layers as f64 / total)
            .collect();
        (devices, self.placement.host_layers as f64 / total)
    }

    /// Seconds to decode one token at `depth_tokens`.
    pub fn decode_seconds_per_token(&self, depth_tokens: u64) -> f64 {
        let weights = self.profile.weight_read_bytes_per_token();
        let kv = self.profile.kv_read_bytes(depth_tokens);
        let state = 2.0 * self.profile.recurrent_state_bytes as f64;
        let (device_shares, host_share) = self.shares();
        let outside = self.profile.outside_read_bytes as f64;
        // Weight and state bytes stream at the matrix-vector kernels' efficiency; the KV cache at
        // the attention kernels'.
        let block_bytes = weights - outside + state;
        let efficiency = self.factors.decode_bandwidth_efficiency;
        let kv_efficiency = self.factors.decode_kv_efficiency;
        let mut seconds =
            self.factors.decode_layer_overhead_seconds * self.profile.layers.len() as f64;
        let last = device_shares.len().saturating_sub(1);
        for (index, (share, rates)) in device_shares
            .iter()
            .zip(&self.machine.device_rates)
            .enumerate()
        {
            let mut bytes = block_bytes * share;
            if index == last {
                bytes += outside;
            }
            seconds += bytes / (rates.bandwidth_bytes_per_second * efficiency)
                + kv * share / (rates.bandwidth_bytes_per_second * kv_efficiency);
        }
        if device_shares.is_empty() {
            seconds += outside / (self.machine.host_bandwidth_bytes_per_second * efficiency);
        }
        if host_share > 0.0 {
            let cpu = efficiency::factors().cpu();
            seconds += host_share
                * (block_bytes / cpu.decode_bandwidth_efficiency + kv / cpu.decode_kv_efficiency)
                / self.machine.host_bandwidth_bytes_per_second;
        }
        // Activations cross each device boundary once per token (pipeline split).
        if let Some(link) = self.machine.device_link_bytes_per_second {
            let crossings = self
                .placement
                .device_layers
                .iter()
                .filter(|&&l| l > 0)
                .count();
            let bytes = 4.0 * self.profile.embedding_length as f64;
            seconds += crossings.saturating_sub(1) as f64 * bytes / link;
        }
        seconds
    }

    /// Decode tokens/s at `depth_tokens`.
    pub fn decode_tokens_per_second(&self, depth_tokens: u64) -> f64 {
        1.0 / self.decode_seconds_per_token(depth_tokens)
    }

    /// Seconds to prefill `count_tokens` prompt tokens that start at `start_tokens` of depth.
    pub fn prefill_seconds(&self, start_tokens: u64, count_tokens: u64) -> f64 {
        if count_tokens == 0 {
            return 0.0;
        }
        let (device_shares, host_share) = self.shares();
        let accelerated: f64 = device_shares.iter().sum();
        let compute_share = if accelerated > 0.0 { 1.0 } else { 0.0 };
        // Discrete: with op offload the accelerator runs every layer (host layers' weights are
        // copied in, below). Unified: the accelerator runs only its own layers.
        let weight_flops = self.profile.weight_flops_per_token() * count_tokens as f64;
        let attention_flops = self.profile.attention_flops(start_tokens, count_tokens);
        let weight_efficiency = if self.profile.is_mixture_of_experts() {
            self.factors.prefill_moe_weight_efficiency
        } else {
            self.factors.prefill_weight_efficiency
        };
        let mut compute_seconds = 0.0;
        if compute_share > 0.0 {
            // Devices run their layers in sequence (pipeline): time adds per device share.
            let total_share: f64 = accelerated.max(f64::MIN_POSITIVE);
            for (share, rates) in device_shares.iter().zip(&self.machine.device_rates) {
                let fraction = if self.machine.unified {
                    *share
                } else {
                    share / total_share
                };
                compute_seconds += fraction
                    * (weight_flops / weight_efficiency
                        + attention_flops / self.factors.prefill_attention_efficiency)
                    / rates.compute_reference_flops;
            }
        } else {
            // CPU only: llama.cpp's CPU backend; the decode bandwidth bound per ubatch applies.
            // bandwidth stands in for compute (the `cpu` entry's prefill efficiencies are FLOP
            // per byte of bandwidth).
            let cpu = efficiency::factors().cpu();
            let cpu_weight_efficiency = if self.profile.is_mixture_of_experts() {
                cpu.prefill_moe_weight_efficiency
            } else {
                cpu.prefill_weight_efficiency
            };
            compute_seconds = (weight_flops / cpu_weight_efficiency
                + attention_flops / cpu.prefill_attention_efficiency)
                / self.machine.host_bandwidth_bytes_per_second;
        }
        let ubatches = count_tokens.div_ceil(self.ubatch_tokens) as f64;
        // The memory-bound floor: every touched weight is read once per micro-batch.
        let touched: f64 = self
            .profile
            .layers
            .iter()
            .map(|layer| layer.prefill_touched_bytes as f64)
            .sum::<f64>()
            + self.profile.outside_read_bytes as f64;
        let bandwidth = self
            .machine
            .device_rates
            .first()
            .map_or(self.machine.host_bandwidth_bytes_per_second, |rate| {
                rate.bandwidth_bytes_per_second
            });
        let floor_seconds = ubatches * (touched * (1.0 - host_share))
            / (bandwidth * self.factors.decode_bandwidth_efficiency);
        // Host-resident layers: a discrete GPU copies their weights in once per micro-batch
        // (llama.cpp's op offload); on unified memory there is no copy, the CPU runs them.
        let host_seconds = if host_share > 0.0 && accelerated > 0.0 {
            if self.machine.unified {
                let cpu = efficiency::factors().cpu();
                host_share
                    * (weight_flops / cpu.prefill_weight_efficiency
                        + attention_flops / cpu.prefill_attention_efficiency)
                    / self.machine.host_bandwidth_bytes_per_second
            } else {
                ubatches * self.placement.host_weight_bytes as f64
                    / self.machine.host_link_bytes_per_second
            }
        } else {
            0.0
        };
        compute_seconds.max(floor_seconds) + host_seconds
    }

    /// Prefill tokens/s of one micro-batch at `depth_tokens`, and whether it is memory bound.
    pub fn prefill_rate(&self, depth_tokens: u64) -> (f64, bool) {
        let tokens = self.ubatch_tokens;
        let seconds = self.prefill_seconds(depth_tokens, tokens);
        let mut floor_only = self.clone();
        floor_only.factors.prefill_weight_efficiency = f64::INFINITY;
        floor_only.factors.prefill_moe_weight_efficiency = f64::INFINITY;
        floor_only.factors.prefill_attention_efficiency = f64::INFINITY;
        let floor = floor_only.prefill_seconds(depth_tokens, tokens);
        (tokens as f64 / seconds, floor >= seconds * 0.999)
    }

    /// Both rates at one depth.
    pub fn at_depth(&self, depth_tokens: u64) -> SpeedEstimate {
        let (prefill, memory_bound) = self.prefill_rate(depth_tokens);
        SpeedEstimate {
            depth_tokens,
            decode_tokens_per_second: self.decode_tokens_per_second(depth_tokens),
            decode_bytes_per_token: self.profile.weight_read_bytes_per_token()
                + self.profile.kv_read_bytes(depth_tokens)
                + 2.0 * self.profile.recurrent_state_bytes as f64,
            prefill_tokens_per_second: prefill,
            prefill_memory_bound: memory_bound,
        }
    }
}

/// A prefill-time source for the timeout arithmetic: the model, or a measured rate scaled by it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PrefillTimer {
    /// Multiplies the model's prefill time (1 = model; measured / predicted otherwise).
    pub scale: f64,
    /// Where the rate comes from.
    pub source: RateSource,
}

impl PrefillTimer {
    /// Uses the model as is.
    pub fn model(model: &SpeedModel) -> PrefillTimer {
        PrefillTimer {
            scale: 1.0,
            source: RateSource::Model {
                factors: model.factors_name.clone(),
            },
        }
    }

    /// Anchors the model to a measured prefill rate: `tokens_per_second` measured over
    /// `measured_tokens` prompt tokens from `measured_depth_tokens`. The depth curve stays the
    /// model's; only its level moves. With no measured length, the rate is taken as flat
    /// (the story's "~400 tokens/s") by measuring over the whole span asked later.
    pub fn measured(
        model: &SpeedModel,
        tokens_per_second: f64,
        measured_tokens: Option<u64>,
        measured_depth_tokens: u64,
        what: String,
    ) -> PrefillTimer {
        let scale = match measured_tokens {
            Some(tokens) if tokens > 0 => {
                let predicted = model.prefill_seconds(measured_depth_tokens, tokens);
                (tokens as f64 / tokens_per_second) / predicted
            }
            _ => f64::NAN,
        };
        PrefillTimer {
            scale,
            source: RateSource::Measured {
                what,
                measured_tokens_per_second: tokens_per_second,
            },
        }
    }

    /// Seconds to prefill `count` tokens from `start` of depth.
    pub fn seconds(&self, model: &SpeedModel, start_tokens: u64, count_tokens: u64) -> f64 {
        match (&self.source, self.scale.is_nan()) {
            (
                RateSource::Measured {
                    measured_tokens_per_second,
                    ..
                },
                true,
            ) => count_tokens as f64 / measured_tokens_per_second,
            _ => self.scale * model.prefill_seconds(start_tokens, count_tokens),
        }
    }
}

/// Time to first token and what a timeout allows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TimeoutReport {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Tokens already in the cache before the prompt (a reused prefix).
    pub depth_tokens: u64,
    /// Seconds to load the weights (0 when already loaded).
    pub load_seconds: f64,
    /// Seconds to prefill the prompt.
    pub prefill_seconds: f64,
    /// Seconds to the first generated token: load + prefill + one decode step.
    pub time_to_first_token_seconds: f64,
    /// Average prefill rate over the prompt.
    pub average_prefill_tokens_per_second: f64,
    /// The client timeout, when given.
    pub timeout_seconds: Option<f64>,
    /// The request finishes its prefill within the timeout.
    pub fits_timeout: Option<bool>,
    /// The largest prompt whose first token arrives within the timeout.
    pub largest_prompt_tokens: Option<u64>,
    /// The timeout this prompt needs, with the margin applied, rounded up to 10 s.
    pub needed_timeout_seconds: f64,
    /// Margin applied to the needed timeout (0.25 = 25 %).
    pub margin: f64,
    /// Where the prefill rate comes from.
    pub source: RateSource,
}

/// Margin added to a needed timeout: 25 %, for variance between runs and prompt-cache misses
/// (a judgement, not a measured figure).
pub const TIMEOUT_MARGIN: f64 = 0.25;

/// Seconds to load `weight_bytes` at `read_bytes_per_second`.
pub fn load_seconds(weight_bytes: u64, read_bytes_per_second: f64) -> f64 {
    weight_bytes as f64 / read_bytes_per_second
}

/// The timeout arithmetic for `prompt_tokens` at `depth_tokens`.
pub fn timeout_report(
    model: &SpeedModel,
    timer: &PrefillTimer,
    prompt_tokens: u64,
    depth_tokens: u64,
    load_seconds: f64,
    timeout_seconds: Option<f64>,
) -> TimeoutReport {
    let prefill = timer.seconds(model, depth_tokens, prompt_tokens);
    let first =
        load_seconds + prefill + model.decode_seconds_per_token(depth_tokens + prompt_tokens);
    let largest = timeout_seconds
        .map(|timeout| largest_prompt(model, timer, depth_tokens, load_seconds, timeout));
    let needed = first * (1.0 + TIMEOUT_MARGIN);
    TimeoutReport {
        prompt_tokens,
        depth_tokens,
        load_seconds,
        prefill_seconds: prefill,
        time_to_first_token_seconds: first,
        average_prefill_tokens_per_second: if prefill > 0.0 {
            prompt_tokens as f64 / prefill
        } else {
            0.0
        },
        timeout_seconds,
        fits_timeout: timeout_seconds.map(|timeout| first <= timeout),
        largest_prompt_tokens: largest,
        needed_timeout_seconds: (needed / 10.0).ceil() * 10.0,
        margin: TIMEOUT_MARGIN,
        source: timer.source.clone(),
    }
}

/// Largest prompt (tokens) whose first token arrives within `timeout_seconds` (binary search;
/// prefill time only grows with the prompt).
pub fn largest_prompt(
    model: &SpeedModel,
    timer: &PrefillTimer,
    depth_tokens: u64,
    load_seconds: f64,
    timeout_seconds: f64,
) -> u64 {
    let time = |tokens: u64| {
        load_seconds
            + timer.seconds(model, depth_tokens, tokens)
            + model.decode_seconds_per_token(depth_tokens + tokens)
    };
    if time(1) > timeout_seconds {
        return 0;
    }
    let mut low = 1u64;
    let mut high = 2u64;
    while time(high) <= timeout_seconds && high < (1 << 40) {
        low = high;
        high *= 2;
    }
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if time(middle) <= timeout_seconds {
            low = middle;
        } else {
            high = middle;
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(window: Option<u64>) -> LayerTraffic {
        LayerTraffic {
            weight_bytes: 100,
            read_bytes: 100.0,
            prefill_touched_bytes: 100,
            kv_bytes_per_token: 10,
            window_tokens: window,
            attention_flops_per_pair: 1,
        }
    }

    fn profile(layers: Vec<LayerTraffic>) -> ModelProfile {
        ModelProfile {
            name: "toy".into(),
            weight_bytes: 100 * layers.len() as u64,
            unloaded_bytes: 0,
            outside_read_bytes: 0,
            outside_weight_bytes: 0,
            layers,
            active_parameters: 1000,
            total_parameters: 1000,
            recurrent_state_bytes: 0,
            embedding_length: 8,
            weight_format: WeightFormat::Quantized,
        }
    }

    #[test]
    fn kv_read_is_capped_by_the_window() {
        let toy = profile(vec![layer(None), layer(Some(100))]);
        assert_eq!(toy.kv_read_bytes(50), 1000.0);
        assert_eq!(toy.kv_read_bytes(1000), 10_000.0 + 1000.0);
    }

    #[test]
    fn attention_flops_integrate_depth_and_window() {
        let full = profile(vec![layer(None)]);
        // ∫_0^10 p dp = 50.
        assert_eq!(full.attention_flops(0, 10), 50.0);
        // ∫_10^20 p dp = 150.
        assert_eq!(full.attention_flops(10, 10), 150.0);
        let windowed = profile(vec![layer(Some(5))]);
        // ∫_0^5 p dp + 5 × 5 = 12.5 + 25.
        assert_eq!(windowed.attention_flops(0, 10), 37.5);
    }
}
