//! Efficiency factors by device class and backend (`data/efficiency.toml`), fitted on
//! ../shared/truth/measured-throughput.csv by `cargo run -p headroom-core --example speed_fit --
//! --write` (see [`super::fit`]). The file records the fit's provenance and errors.

use std::fmt;
use std::sync::LazyLock;

use crate::hardware::{Hardware, MemoryKind};

/// Embedded efficiency factors, `crates/headroom-core/data/efficiency.toml`.
pub const EFFICIENCY_TOML: &str = include_str!("../../data/efficiency.toml");

/// Kinds of device that share an efficiency.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceClass {
    /// NVIDIA GPU with its own VRAM.
    NvidiaDiscrete,
    /// NVIDIA data-centre GPU with HBM (A100, H100, H200): llama.cpp reaches a smaller share of
    /// its bandwidth than on GDDR cards (fitted separately because the measured rows say so).
    NvidiaDatacenter,
    /// NVIDIA GPU on unified LPDDR (DGX Spark GB10, Jetson).
    NvidiaUnified,
    /// Apple silicon GPU.
    AppleSilicon,
    /// AMD APU on unified LPDDR (Ryzen AI Max / Strix Halo).
    AmdUnified,
    /// AMD GPU with its own VRAM.
    AmdDiscrete,
    /// CPU only.
    Cpu,
    /// Every class (the global fit, a fallback).
    Any,
}

impl DeviceClass {
    /// Every concrete class.
    pub const ALL: [DeviceClass; 7] = [
        DeviceClass::NvidiaDiscrete,
        DeviceClass::NvidiaDatacenter,
        DeviceClass::NvidiaUnified,
        DeviceClass::AppleSilicon,
        DeviceClass::AmdUnified,
        DeviceClass::AmdDiscrete,
        DeviceClass::Cpu,
    ];

    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            DeviceClass::NvidiaDiscrete => "nvidia-discrete",
            DeviceClass::NvidiaDatacenter => "nvidia-datacenter",
            DeviceClass::NvidiaUnified => "nvidia-unified",
            DeviceClass::AppleSilicon => "apple-silicon",
            DeviceClass::AmdUnified => "amd-unified",
            DeviceClass::AmdDiscrete => "amd-discrete",
            DeviceClass::Cpu => "cpu",
            DeviceClass::Any => "any",
        }
    }

    /// Parses a name.
    pub fn from_name(name: &str) -> Option<DeviceClass> {
        DeviceClass::ALL
            .into_iter()
            .chain([DeviceClass::Any])
            .find(|class| class.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The class of a machine, from its device names and memory kind.
    pub fn of(hardware: &Hardware) -> DeviceClass {
        let names: String = hardware
            .devices
            .iter()
            .map(|device| device.name.to_ascii_lowercase())
            .chain(hardware.chip.iter().map(|chip| chip.to_ascii_lowercase()))
            .collect::<Vec<_>>()
            .join(" ");
        let unified = hardware.kind == MemoryKind::Unified;
        if names.contains("apple") {
            DeviceClass::AppleSilicon
        } else if names.contains("nvidia") || names.contains("rtx") || names.contains("gb10") {
            if unified {
                DeviceClass::NvidiaUnified
            } else if ["a100", "h100", "h200", "b200", "gh200"]
                .iter()
                .any(|part| names.contains(part))
            {
                DeviceClass::NvidiaDatacenter
            } else {
                DeviceClass::NvidiaDiscrete
            }
        } else if names.contains("amd") || names.contains("radeon") || names.contains("instinct") {
            if unified {
                DeviceClass::AmdUnified
            } else {
                DeviceClass::AmdDiscrete
            }
        } else if names.contains("raspberry") || names.contains("cortex") || names.contains("cpu") {
            DeviceClass::Cpu
        } else if unified {
            // A user's unified machine without a vendor: most such machines are Macs.
            DeviceClass::AppleSilicon
        } else {
            DeviceClass::NvidiaDiscrete
        }
    }

    /// What prefill compute is measured against in this class.
    pub fn prefill_basis(self) -> PrefillBasis {
        match self {
            DeviceClass::NvidiaDiscrete
            | DeviceClass::NvidiaDatacenter
            | DeviceClass::AmdUnified
            | DeviceClass::AmdDiscrete => PrefillBasis::Flops,
            _ => PrefillBasis::Bandwidth,
        }
    }
}

impl fmt::Display for DeviceClass {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// What the prefill efficiencies multiply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefillBasis {
    /// The device's dense FP16 FLOP/s (catalog figure).
    Flops,
    /// Its memory bandwidth in bytes/s: for classes whose FP16 rate is unpublished (Apple, the
    /// DGX Spark's FP16) the efficiencies are then "useful FLOP per byte/s of bandwidth".
    Bandwidth,
}

/// llama.cpp backends.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// CUDA.
    Cuda,
    /// Metal.
    Metal,
    /// ROCm / HIP.
    Rocm,
    /// Vulkan (Mesa's RADV on AMD, or any driver not named).
    Vulkan,
    /// Vulkan on AMD's AMDVLK driver: on the same GPU, model and depth, RADV prefills a median
    /// 1.6× (up to 10.6×) as fast in the measured pairs, so it is its own backend.
    #[serde(rename = "vulkan-amdvlk")]
    VulkanAmdvlk,
    /// CPU.
    Cpu,
    /// Any backend (fallback entry).
    Any,
}

impl Backend {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cuda => "cuda",
            Backend::Metal => "metal",
            Backend::Rocm => "rocm",
            Backend::Vulkan => "vulkan",
            Backend::VulkanAmdvlk => "vulkan-amdvlk",
            Backend::Cpu => "cpu",
            Backend::Any => "any",
        }
    }

    /// Parses a name as the catalog or llama.cpp writes it (`CUDA`, `ROCm`, `HIP`, `Metal`…).
    pub fn from_name(name: &str) -> Option<Backend> {
        let lower = name.to_ascii_lowercase();
        if lower.contains("cuda") {
            Some(Backend::Cuda)
        } else if lower.contains("metal") {
            Some(Backend::Metal)
        } else if lower.contains("rocm") || lower.contains("hip") {
            Some(Backend::Rocm)
        } else if lower.contains("amdvlk") {
            Some(Backend::VulkanAmdvlk)
        } else if lower.contains("vulkan") || lower.contains("radv") {
            Some(Backend::Vulkan)
        } else if lower.trim() == "cpu" {
            Some(Backend::Cpu)
        } else if lower.trim() == "any" {
            Some(Backend::Any)
        } else {
            None
        }
    }

    /// The machine's first listed backend, or the usual one for its class.
    pub fn default_for(hardware: &Hardware, class: DeviceClass) -> Backend {
        hardware
            .backends
            .iter()
            .find_map(|name| Backend::from_name(name))
            .unwrap_or(match class {
                DeviceClass::NvidiaDiscrete
                | DeviceClass::NvidiaDatacenter
                | DeviceClass::NvidiaUnified => Backend::Cuda,
                DeviceClass::AppleSilicon => Backend::Metal,
                DeviceClass::AmdUnified => Backend::Vulkan,
                DeviceClass::AmdDiscrete => Backend::Rocm,
                DeviceClass::Cpu | DeviceClass::Any => Backend::Cpu,
            })
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// How a model's weights are stored, as far as speed cares: llama.cpp runs 16-bit float weights
/// through other kernels than block-quantized ones (BF16 especially differs by backend), so the
/// fit may give them their own entry.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum WeightFormat {
    /// Block-quantized (Q4_K, Q8_0, MXFP4, IQ…): the usual case.
    Quantized,
    /// Mostly IEEE half precision.
    F16,
    /// Mostly bfloat16.
    Bf16,
    /// Any format (an entry that applies to all).
    #[default]
    Any,
}

impl WeightFormat {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            WeightFormat::Quantized => "quantized",
            WeightFormat::F16 => "f16",
            WeightFormat::Bf16 => "bf16",
            WeightFormat::Any => "any",
        }
    }

    /// The format of a llama.cpp file type (`general.file_type`); all-F32 files have no
    /// entry of their own (`any`).
    pub fn of_file_type(file_type: crate::quant::FileType) -> WeightFormat {
        match file_type {
            crate::quant::FileType::F16 => WeightFormat::F16,
            crate::quant::FileType::Bf16 => WeightFormat::Bf16,
            crate::quant::FileType::All_F32 => WeightFormat::Any,
            _ => WeightFormat::Quantized,
        }
    }

    fn is_any(&self) -> bool {
        *self == WeightFormat::Any
    }
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// One entry of the factors file.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EfficiencyFactors {
    /// Device class.
    pub class: DeviceClass,
    /// Backend.
    pub backend: Backend,
    /// Weight format the entry is for (`any` when omitted).
    #[serde(default, skip_serializing_if = "WeightFormat::is_any")]
    pub weights: WeightFormat,
    /// Share of peak bandwidth decode achieves.
    pub decode_bandwidth_efficiency: f64,
    /// Share of peak bandwidth the attention kernels reach reading the KV cache during decode.
    pub decode_kv_efficiency: f64,
    /// Fixed seconds per layer per decoded token (the layer's kernel launches and
    /// synchronisation): deep models pay it more often.
    pub decode_layer_overhead_seconds: f64,
    /// Useful share of the compute reference for the weight matrix multiplies of prefill.
    pub prefill_weight_efficiency: f64,
    /// Useful share of the compute reference for the weights of a mixture-of-experts model
    /// (grouped expert multiplies over few tokens each run less efficiently).
    pub prefill_moe_weight_efficiency: f64,
    /// Useful share of the compute reference for attention during prefill.
    pub prefill_attention_efficiency: f64,
    /// Measured rows the decode factors were fitted on (0 = not fitted: an assumption).
    pub decode_rows: u64,
    /// Measured rows the prefill factors were fitted on.
    pub prefill_rows: u64,
    /// Leave-one-out median relative decode error on those rows.
    #[serde(default)]
    pub decode_median_error: Option<f64>,
    /// Leave-one-out worst relative decode error.
    #[serde(default)]
    pub decode_worst_error: Option<f64>,
    /// Leave-one-out median relative prefill error.
    #[serde(default)]
    pub prefill_median_error: Option<f64>,
    /// Leave-one-out worst relative prefill error.
    #[serde(default)]
    pub prefill_worst_error: Option<f64>,
}

/// Provenance of the fit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// The command that regenerates the file.
    pub command: String,
    /// The measured data.
    pub truth: String,
    /// Rows in the truth file.
    pub truth_rows: u64,
    /// Rows usable for decode / prefill after the exclusions listed in `excluded`.
    pub decode_rows_used: u64,
    /// Rows used for prefill.
    pub prefill_rows_used: u64,
    /// Method.
    pub method: String,
    /// Why rows were left out, with counts.
    pub excluded: Vec<String>,
}

/// The factors file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EfficiencyTable {
    /// Provenance.
    pub provenance: Provenance,
    /// Entries.
    pub factors: Vec<EfficiencyFactors>,
}

/// The entries that may serve a class, backend and weight format, most specific first (the
/// table's lookup and the fit's leave-one-out predictions use the same order).
pub(crate) fn fallback_keys(
    class: DeviceClass,
    backend: Backend,
    weights: WeightFormat,
) -> [(DeviceClass, Backend, WeightFormat); 5] {
    [
        (class, backend, weights),
        (class, backend, WeightFormat::Any),
        (class, Backend::Any, WeightFormat::Any),
        (DeviceClass::Any, backend, WeightFormat::Any),
        (DeviceClass::Any, Backend::Any, WeightFormat::Any),
    ]
}

/// Errors reading a factors file.
#[derive(Debug, thiserror::Error)]
pub enum EfficiencyError {
    /// TOML did not parse.
    #[error("data/efficiency.toml: {0}")]
    Parse(#[from] toml::de::Error),
    /// No global entry.
    #[error("data/efficiency.toml: no `class = \"any\"`, `backend = \"any\"` entry (the fallback)")]
    NoFallback,
}

/// Assumption used when the embedded file is unusable: decode at 70 % of bandwidth, the middle of
/// the 0.5–0.8 range in memory-anchors.md §5.6. Never used in a built binary (a test parses the
/// file); it only keeps a broken data file from panicking.
const ASSUMED: EfficiencyFactors = EfficiencyFactors {
    class: DeviceClass::Any,
    backend: Backend::Any,
    weights: WeightFormat::Any,
    decode_bandwidth_efficiency: 0.7,
    decode_kv_efficiency: 0.7,
    decode_layer_overhead_seconds: 0.0,
    prefill_weight_efficiency: 0.5,
    prefill_moe_weight_efficiency: 0.25,
    prefill_attention_efficiency: 0.25,
    decode_rows: 0,
    prefill_rows: 0,
    decode_median_error: None,
    decode_worst_error: None,
    prefill_median_error: None,
    prefill_worst_error: None,
};

impl EfficiencyTable {
    /// Parses a factors file.
    pub fn parse(text: &str) -> Result<EfficiencyTable, EfficiencyError> {
        let table: EfficiencyTable = toml::from_str(text)?;
        if !table
            .factors
            .iter()
            .any(|entry| entry.class == DeviceClass::Any && entry.backend == Backend::Any)
        {
            return Err(EfficiencyError::NoFallback);
        }
        Ok(table)
    }

    /// The entry for a class, backend and weight format: exact, then the class and backend for
    /// any format, then the class with any backend, then the backend in any class, then the
    /// global fit. Returns its name (`class/backend`, `/format` when the entry has one).
    pub fn lookup(
        &self,
        class: DeviceClass,
        backend: Backend,
        weights: WeightFormat,
    ) -> (String, EfficiencyFactors) {
        for (want_class, want_backend, want_weights) in fallback_keys(class, backend, weights) {
            if let Some(entry) = self.factors.iter().find(|entry| {
                entry.class == want_class
                    && entry.backend == want_backend
                    && entry.weights == want_weights
            }) {
                let name = if entry.weights == WeightFormat::Any {
                    format!("{}/{}", entry.class, entry.backend)
                } else {
                    format!("{}/{}/{}", entry.class, entry.backend, entry.weights)
                };
                return (name, *entry);
            }
        }
        ("assumed".to_owned(), ASSUMED)
    }

    /// The CPU entry (host layers, CPU-only machines).
    pub fn cpu(&self) -> EfficiencyFactors {
        self.lookup(DeviceClass::Cpu, Backend::Cpu, WeightFormat::Any)
            .1
    }

    /// FLOP/s per byte/s of bandwidth for a device of `class` without an FP16 figure: the median
    /// over the catalog's devices of that class that have both figures, or 1 (the bandwidth
    /// basis) when none do.
    pub fn flops_per_bandwidth(&self, class: DeviceClass) -> f64 {
        if class.prefill_basis() == PrefillBasis::Bandwidth {
            return 1.0;
        }
        let mut ratios: Vec<f64> = crate::hardware::hardware()
            .iter()
            .filter(|hardware| DeviceClass::of(hardware) == class)
            .flat_map(|hardware| hardware.devices.iter())
            .filter_map(|device| {
                let flops = device.fp16_flops.or(device.bf16_flops)?;
                (device.bandwidth_bytes_per_second > 0)
                    .then(|| flops as f64 / device.bandwidth_bytes_per_second as f64)
            })
            .collect();
        if ratios.is_empty() {
            return 1.0;
        }
        ratios.sort_by(f64::total_cmp);
        ratios[ratios.len() / 2]
    }
}

static TABLE: LazyLock<Result<EfficiencyTable, EfficiencyError>> =
    LazyLock::new(|| EfficiencyTable::parse(EFFICIENCY_TOML));

static EMPTY: LazyLock<EfficiencyTable> = LazyLock::new(|| EfficiencyTable {
    provenance: Provenance {
        command: String::new(),
        truth: String::new(),
        truth_rows: 0,
        decode_rows_used: 0,
        prefill_rows_used: 0,
        method: "assumed (data/efficiency.toml failed to load)".to_owned(),
        excluded: Vec::new(),
    },
    factors: Vec::new(),
});

/// The embedded table, or why it failed to load.
pub fn try_factors() -> Result<&'static EfficiencyTable, &'static EfficiencyError> {
    TABLE.as_ref()
}

/// The embedded table (an empty one, so lookups give the stated assumption, if it failed to
/// load; see [`try_factors`]).
pub fn factors() -> &'static EfficiencyTable {
    TABLE.as_ref().unwrap_or(&EMPTY)
}
