//! Does it fit: a machine's memory (discrete GPU + system RAM, or unified memory with the share
//! its GPU may wire), the verdict with the headroom left, and the largest context that fits for a
//! cache type, found by binary search over multiples of 256 tokens (memory is monotone in context).

use crate::quant::TensorType;

use super::{ContextSettings, Estimator, MemoryError, MemoryEstimate, pad_context};

/// llama.cpp keeps this much free on every device when it fits parameters
/// (`common/common.h`: `fit_params_target = 1024 MiB` per device, `--fit-target`).
pub const LLAMA_CPP_FIT_MARGIN_BYTES: u64 = 1024 * 1024 * 1024;

/// A machine's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Machine {
    /// Discrete GPU memory (0 when there is none or memory is unified).
    pub gpu_memory_bytes: u64,
    /// System RAM (for unified memory: the whole pool).
    pub system_memory_bytes: u64,
    /// Unified memory (Apple silicon): GPU allocations come out of system memory.
    pub unified: bool,
    /// Unified only: the most the GPU may wire (macOS default share or `iogpu.wired_limit_mb`);
    /// Metal reports it as `recommendedMaxWorkingSetSize` and llama.cpp uses it as the device total
    /// (`ggml/src/ggml-metal/ggml-metal-device.m`).
    pub gpu_share_bytes: u64,
    /// Free space llama.cpp keeps on each device.
    pub margin_bytes: u64,
}

/// Which limit decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// Discrete GPU memory.
    GpuMemory,
    /// The unified-memory share the GPU may wire.
    GpuShare,
    /// System RAM.
    SystemMemory,
}

/// The verdict for one estimate on one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FitVerdict {
    /// Everything fits with the margin kept.
    pub fits: bool,
    /// GPU-side need.
    pub gpu_needed_bytes: u64,
    /// GPU-side capacity (discrete memory or the unified GPU share).
    pub gpu_capacity_bytes: u64,
    /// Host-side need (for unified memory: GPU + host, the whole pool).
    pub host_needed_bytes: u64,
    /// Host capacity.
    pub host_capacity_bytes: u64,
    /// Bytes left on the tightest side after the margin (negative: short by this much).
    pub headroom_bytes: i64,
    /// The tightest limit.
    pub limiting: Limit,
    /// Unified only: it would fit in the whole pool but not in the GPU's default share.
    pub gpu_share_is_the_limit: bool,
}

impl Machine {
    /// A discrete GPU plus system RAM.
    pub fn discrete(gpu_memory_bytes: u64, system_memory_bytes: u64) -> Machine {
        Machine {
            gpu_memory_bytes,
            system_memory_bytes,
            unified: false,
            gpu_share_bytes: 0,
            margin_bytes: LLAMA_CPP_FIT_MARGIN_BYTES,
        }
    }

    /// Unified memory with the share the GPU may wire.
    pub fn unified(total_bytes: u64, gpu_share_bytes: u64) -> Machine {
        Machine {
            gpu_memory_bytes: 0,
            system_memory_bytes: total_bytes,
            unified: true,
            gpu_share_bytes: gpu_share_bytes.min(total_bytes),
            margin_bytes: LLAMA_CPP_FIT_MARGIN_BYTES,
        }
    }

    /// System RAM only (CPU inference).
    pub fn cpu_only(system_memory_bytes: u64) -> Machine {
        Machine::discrete(0, system_memory_bytes)
    }

    /// Judges one estimate.
    pub fn verdict(&self, estimate: &MemoryEstimate) -> FitVerdict {
        let margin = self.margin_bytes as i64;
        if self.unified {
            let gpu_needed = estimate.gpu_bytes();
            let pool_needed = estimate.gpu_bytes() + estimate.host_bytes();
            let gpu_left = self.gpu_share_bytes as i64 - gpu_needed as i64 - margin;
            let pool_left = self.system_memory_bytes as i64 - pool_needed as i64 - margin;
            let (headroom, limiting) = if gpu_left <= pool_left {
                (gpu_left, Limit::GpuShare)
            } else {
                (pool_left, Limit::SystemMemory)
            };
            // Would the GPU part fit if the GPU could wire the whole pool?
            let whole_pool_gpu_left = self.system_memory_bytes as i64 - gpu_needed as i64 - margin;
            FitVerdict {
                fits: headroom >= 0,
                gpu_needed_bytes: gpu_needed,
                gpu_capacity_bytes: self.gpu_share_bytes,
                host_needed_bytes: pool_needed,
                host_capacity_bytes: self.system_memory_bytes,
                headroom_bytes: headroom,
                limiting,
                gpu_share_is_the_limit: gpu_left < 0 && whole_pool_gpu_left >= 0 && pool_left >= 0,
            }
        } else {
            let gpu_needed = estimate.gpu_bytes();
            let host_needed = estimate.host_bytes();
            let gpu_left = if gpu_needed == 0 {
                i64::MAX
            } else {
                self.gpu_memory_bytes as i64 - gpu_needed as i64 - margin
            };
            let host_left = self.system_memory_bytes as i64 - host_needed as i64 - margin;
            let (headroom, limiting) = if gpu_left <= host_left {
                (gpu_left, Limit::GpuMemory)
            } else {
                (host_left, Limit::SystemMemory)
            };
            FitVerdict {
                fits: headroom >= 0,
                gpu_needed_bytes: gpu_needed,
                gpu_capacity_bytes: self.gpu_memory_bytes,
                host_needed_bytes: host_needed,
                host_capacity_bytes: self.system_memory_bytes,
                headroom_bytes: headroom,
                limiting,
                gpu_share_is_the_limit: false,
            }
        }
    }
}

/// The largest context for one cache type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ContextFit {
    /// Cache type (K and V).
    pub cache_type: TensorType,
    /// Largest total context (multiple of 256) that fits, capped at the search ceiling; `None` if even 256 does not.
    pub context_tokens: Option<u64>,
    /// The ceiling searched (the trained context, or the requested one when larger).
    pub ceiling_tokens: u64,
    /// llama.cpp refuses this type with the settings (quantized V without flash attention).
    pub refused: bool,
    /// Settings estimated (how many estimates the search made).
    pub evaluations: u32,
}

/// Largest context (total over sequences, multiple of 256, ≤ `ceiling_tokens`) that fits, by binary search.
pub fn largest_context(
    estimator: &Estimator<'_>,
    machine: &Machine,
    base: &ContextSettings,
    cache_type: TensorType,
    ceiling_tokens: u64,
) -> Result<ContextFit, MemoryError> {
    let settings = base.with_cache_type(cache_type);
    let step = super::kv::CONTEXT_PADDING_TOKENS;
    let ceiling = pad_context(ceiling_tokens.max(step));
    let mut evaluations = 0u32;
    match settings.validate() {
        Err(MemoryError::QuantizedValueNeedsFlashAttention { .. }) => {
            return Ok(ContextFit {
                cache_type,
                context_tokens: None,
                ceiling_tokens: ceiling,
                refused: true,
                evaluations,
            });
        }
        Err(other) => return Err(other),
        Ok(()) => {}
    }
    // Each sequence needs at least 256 cells when split.
    let minimum = if settings.kv_unified {
        step
    } else {
        step * settings.parallel_sequences.max(1)
    };
    let mut fits = |tokens: u64| -> Result<bool, MemoryError> {
        evaluations += 1;
        let estimate = estimator.estimate(&ContextSettings {
            context_tokens: tokens,
            ..settings
        })?;
        Ok(machine.verdict(&estimate).fits)
    };
    if !fits(minimum)? {
        return Ok(ContextFit {
            cache_type,
            context_tokens: None,
            ceiling_tokens: ceiling,
            refused: false,
            evaluations,
        });
    }
    if fits(ceiling)? {
        return Ok(ContextFit {
            cache_type,
            context_tokens: Some(ceiling),
            ceiling_tokens: ceiling,
            refused: false,
            evaluations,
        });
    }
    // Invariant: fits(low * step) and !fits(high * step).
    let (mut low, mut high) = (minimum / step, ceiling / step);
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if fits(middle * step)? {
            low = middle;
        } else {
            high = middle;
        }
    }
    Ok(ContextFit {
        cache_type,
        context_tokens: Some(low * step),
        ceiling_tokens: ceiling,
        refused: false,
        evaluations,
    })
}

/// The share of unified memory macOS lets the GPU wire by default, used until the hardware
/// catalog supplies the measured figure: about 2/3 of RAM up to 36 GiB and 3/4 above.
/// (Commonly reported values of Metal's `recommendedMaxWorkingSetSize`; unverified here — pass
/// `iogpu.wired_limit_mb` explicitly when you know it.)
pub fn macos_default_gpu_share_bytes(total_bytes: u64) -> u64 {
    const GIB: u64 = 1024 * 1024 * 1024;
    if total_bytes > 36 * GIB {
        total_bytes / 4 * 3
    } else {
        total_bytes / 3 * 2
    }
}
