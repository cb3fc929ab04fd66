//! The hardware catalog (`data/hardware.toml`): machines and accelerators with a source for every
//! figure, the user's own machine (a machine file or command-line flags), the share of unified
//! memory an Apple GPU may use, and byte-size parsing and printing (`64GiB`, `400GB/s`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::catalog::{
    CatalogError, check_names_unique, line_column, normalize_name, suggest_among,
};

/// Embedded hardware catalog, `crates/headroom-core/data/hardware.toml`.
pub const HARDWARE_TOML: &str = include_str!("../data/hardware.toml");
const HARDWARE_FILE: &str = "data/hardware.toml";

/// Bytes in a KiB, MiB, GiB, TiB.
const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// Largest unified-memory size that gets the smaller default GPU share on macOS.
///
/// llama.cpp's Metal backend prints the device's `recommendedMaxWorkingSetSize`; logged values:
/// 32 GiB M1/M2 Max -> 21845.34 MiB = 2/3 (ollama/ollama#434, ggml-org/llama.cpp#2011),
/// 96 GiB M2 Max -> 73728.00 MiB = 3/4 (ggml-org/llama.cpp#3213), 64 GiB M2 Max users hit the
/// limit "around 47GB" ~ 3/4 (ggml-org/llama.cpp#1870). The exact switch point between 32 and 64 GiB
/// is not in those logs; 36 GiB is the widely reported threshold (uncertain).
pub const MACOS_SMALL_SHARE_MAX_BYTES: u64 = 36 * GIB;

/// What kind of memory the accelerator works from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryKind {
    /// CPU and GPU share one pool (Apple silicon, DGX Spark, Strix Halo, Raspberry Pi).
    Unified,
    /// The accelerator has its own VRAM; system RAM is separate.
    Discrete,
}

/// How much of a unified pool the accelerator may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum GpuShare {
    /// macOS's default wired limit (see [`macos_default_gpu_share_bytes`]); raise it with
    /// `sudo sysctl iogpu.wired_limit_mb=N`.
    #[serde(rename = "macos-default")]
    MacosDefault,
    /// All of the device memory.
    #[serde(rename = "all")]
    #[default]
    All,
}

/// A source page a catalog figure cites (`[sources.KEY]` in the data file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRef {
    /// URL, or a project file path.
    pub url: String,
    /// What the page says.
    pub note: Option<String>,
}

/// An Apple silicon chip (or other chip family): bandwidth and memory options.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chip {
    /// Stable id, e.g. `apple-m4-pro`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Memory bandwidth, bytes per second.
    pub bandwidth_bytes_per_second: u64,
    /// Source key of the bandwidth.
    pub bandwidth_source: String,
    /// Memory options in GiB (empty where not sourced).
    #[serde(default)]
    pub memory_options_gib: Vec<u64>,
    /// Source key of the memory options.
    pub memory_options_source: Option<String>,
    /// What is not certain.
    pub uncertain: Option<String>,
}

/// One kind of accelerator in a machine (`count` identical devices).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Device name.
    pub name: String,
    /// How many identical devices (GPUs, or linked machines for unified systems).
    #[serde(default = "one")]
    pub count: u32,
    /// Memory of one device, bytes (VRAM, or the unified pool).
    pub memory_bytes: u64,
    /// Source key of `memory_bytes`.
    pub memory_source: Option<String>,
    /// Memory bandwidth of one device, bytes per second.
    pub bandwidth_bytes_per_second: u64,
    /// Source key of the bandwidth.
    pub bandwidth_source: Option<String>,
    /// Dense FP16 tensor FLOP/s of one device.
    pub fp16_flops: Option<u64>,
    /// Source key of `fp16_flops`.
    pub fp16_flops_source: Option<String>,
    /// Dense BF16 tensor FLOP/s.
    pub bf16_flops: Option<u64>,
    /// Source key of `bf16_flops`.
    pub bf16_flops_source: Option<String>,
    /// Dense INT8 tensor OP/s.
    pub int8_flops: Option<u64>,
    /// Source key of `int8_flops`.
    pub int8_flops_source: Option<String>,
    /// Dense FP8 tensor FLOP/s.
    pub fp8_flops: Option<u64>,
    /// Source key of `fp8_flops`.
    pub fp8_flops_source: Option<String>,
    /// Dense FP4 tensor FLOP/s.
    pub fp4_flops: Option<u64>,
    /// Source key of `fp4_flops`.
    pub fp4_flops_source: Option<String>,
}

fn one() -> u32 {
    1
}

/// A link between devices or machines.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// Link name, e.g. `PCIe Gen4 x16`.
    pub name: String,
    /// `pcie`, `nvlink` or `network`.
    pub kind: String,
    /// Bandwidth per direction, bytes per second.
    pub bandwidth_bytes_per_second: u64,
    /// Source key.
    pub source: Option<String>,
    /// Details.
    pub note: Option<String>,
}

/// System RAM of a discrete-GPU machine.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemMemory {
    /// Size, bytes.
    pub bytes: u64,
    /// Source key of the size.
    pub source: Option<String>,
    /// Bandwidth, bytes per second.
    pub bandwidth_bytes_per_second: Option<u64>,
    /// Source key of the bandwidth.
    pub bandwidth_source: Option<String>,
}

/// A price with its date and source.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// US dollars.
    pub usd: f64,
    /// When the price applied (`YYYY-MM` or `YYYY`).
    pub date: String,
    /// Source key.
    pub source: Option<String>,
    /// What the price covers.
    pub note: Option<String>,
}

/// A machine: its accelerators, memory, links, price, platforms and backends.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hardware {
    /// Stable id, e.g. `mac-mini-m4-pro-64gb`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Other names that resolve to this machine.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Unified or discrete memory.
    pub kind: MemoryKind,
    /// Operating systems (`macOS`, `Linux`, `Windows`).
    #[serde(default)]
    pub platforms: Vec<String>,
    /// llama.cpp backends (`Metal`, `CUDA`, `ROCm`, `Vulkan`, `CPU`).
    #[serde(default)]
    pub backends: Vec<String>,
    /// Share of a unified pool the accelerator may use.
    #[serde(default)]
    pub gpu_share: GpuShare,
    /// Chip id in [`chips`], for Apple machines.
    pub chip: Option<String>,
    /// Remarks.
    pub notes: Option<String>,
    /// What is not certain about the figures.
    pub uncertain: Option<String>,
    /// Accelerators.
    pub devices: Vec<Device>,
    /// Links between devices or machines.
    #[serde(default)]
    pub links: Vec<Link>,
    /// Price.
    pub price: Option<Price>,
    /// System RAM, for discrete machines where known.
    pub system_memory: Option<SystemMemory>,
}

impl Hardware {
    /// True when CPU and accelerator share one memory pool.
    pub fn is_unified(&self) -> bool {
        self.kind == MemoryKind::Unified
    }

    /// Sum of all devices' memory, bytes.
    pub fn total_device_memory_bytes(&self) -> u64 {
        self.devices
            .iter()
            .map(|device| u64::from(device.count).saturating_mul(device.memory_bytes))
            .fold(0, u64::saturating_add)
    }

    /// Memory the accelerators may use, bytes: the VRAM sum for discrete machines; for unified
    /// machines the whole pool, or on macOS the default GPU share unless `wired_limit_mb` (the value
    /// of `sudo sysctl iogpu.wired_limit_mb=N`, MiB; 0 means "default") overrides it.
    pub fn gpu_memory_bytes(&self, wired_limit_mb: Option<u64>) -> u64 {
        let total = self.total_device_memory_bytes();
        if self.kind == MemoryKind::Discrete || self.gpu_share == GpuShare::All {
            return total;
        }
        match wired_limit_mb {
            Some(limit) if limit > 0 => limit.saturating_mul(MIB).min(total),
            _ => macos_default_gpu_share_bytes(total),
        }
    }

    /// System memory, bytes: the unified pool, or the system RAM of a discrete machine when known.
    pub fn system_memory_bytes(&self) -> Option<u64> {
        match self.kind {
            MemoryKind::Unified => Some(self.total_device_memory_bytes()),
            MemoryKind::Discrete => self.system_memory.as_ref().map(|memory| memory.bytes),
        }
    }

    /// Memory bandwidth of one accelerator, bytes per second (the slowest device kind when they
    /// differ).
    pub fn bandwidth_bytes_per_second(&self) -> u64 {
        self.devices
            .iter()
            .map(|device| device.bandwidth_bytes_per_second)
            .min()
            .unwrap_or(0)
    }

    /// Number of accelerators (GPUs, or linked machines).
    pub fn device_count(&self) -> u32 {
        self.devices.iter().map(|device| device.count).sum()
    }

    /// Parses a user's machine file: the same schema as one `[[hardware]]` entry of the catalog,
    /// written at top level. Sources are optional in a user's file.
    pub fn from_toml_str(text: &str) -> Result<Hardware, HardwareError> {
        let hardware: Hardware = toml::from_str(text).map_err(|source| {
            let (line, column) = source
                .span()
                .map(|span| line_column(text, span.start))
                .unwrap_or((0, 0));
            HardwareError::Parse {
                line,
                column,
                message: source.message().to_owned(),
                source: Box::new(source),
            }
        })?;
        check_shape(&hardware).map_err(|problem| HardwareError::Invalid {
            id: hardware.id.clone(),
            problem,
        })?;
        Ok(hardware)
    }
}

/// macOS's default GPU share of `total_bytes` of unified memory (`recommendedMaxWorkingSetSize`):
/// 2/3 up to [`MACOS_SMALL_SHARE_MAX_BYTES`], 3/4 above (see that constant for the evidence).
pub fn macos_default_gpu_share_bytes(total_bytes: u64) -> u64 {
    let (numerator, denominator) = if total_bytes <= MACOS_SMALL_SHARE_MAX_BYTES {
        (2u128, 3u128)
    } else {
        (3, 4)
    };
    u64::try_from(u128::from(total_bytes) * numerator / denominator).unwrap_or(u64::MAX)
}

/// Errors from the hardware catalog, a machine file or machine flags.
#[derive(Debug, thiserror::Error)]
pub enum HardwareError {
    /// A machine file did not parse or did not match the schema.
    #[error("machine file:{line}:{column}: {message}")]
    Parse {
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// Parser message.
        message: String,
        /// Underlying error.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A machine description is inconsistent.
    #[error("machine `{id}`: {problem}")]
    Invalid {
        /// Machine id.
        id: String,
        /// What is wrong.
        problem: String,
    },
    /// A size or bandwidth flag did not parse.
    #[error("{flag}: {source}")]
    Flag {
        /// The flag, e.g. `--memory`.
        flag: &'static str,
        /// Why it did not parse.
        #[source]
        source: SizeError,
    },
    /// The catalog itself failed to load.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

fn check_shape(hardware: &Hardware) -> Result<(), String> {
    if hardware.devices.is_empty() {
        return Err("no devices".to_owned());
    }
    for device in &hardware.devices {
        if device.count == 0 {
            return Err(format!("device `{}` has count 0", device.name));
        }
        if device.memory_bytes == 0 {
            return Err(format!("device `{}` has no memory", device.name));
        }
    }
    if hardware.kind == MemoryKind::Unified && hardware.system_memory.is_some() {
        return Err(
            "a unified machine's system memory is its device memory; drop system_memory".to_owned(),
        );
    }
    if hardware.kind == MemoryKind::Discrete && hardware.gpu_share == GpuShare::MacosDefault {
        return Err("gpu_share macos-default applies to unified memory only".to_owned());
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHardwareCatalog {
    sources: BTreeMap<String, SourceRef>,
    chips: Vec<Chip>,
    hardware: Vec<Hardware>,
}

/// The parsed hardware catalog.
#[derive(Debug)]
pub struct HardwareCatalog {
    /// Source pages, by key.
    pub sources: BTreeMap<String, SourceRef>,
    /// Chip families.
    pub chips: Vec<Chip>,
    /// Machines.
    pub hardware: Vec<Hardware>,
}

static CATALOG: LazyLock<Result<HardwareCatalog, CatalogError>> =
    LazyLock::new(|| parse_hardware_catalog(HARDWARE_TOML));

/// The hardware catalog, or why it failed to load.
pub fn try_catalog() -> Result<&'static HardwareCatalog, &'static CatalogError> {
    CATALOG.as_ref()
}

/// Machines of the catalog (empty only if the embedded file failed to load; see [`try_catalog`]).
pub fn hardware() -> &'static [Hardware] {
    try_catalog().map_or(&[], |catalog| catalog.hardware.as_slice())
}

/// Chip families of the catalog.
pub fn chips() -> &'static [Chip] {
    try_catalog().map_or(&[], |catalog| catalog.chips.as_slice())
}

/// Parses a hardware catalog and checks that every figure cites a known source.
pub fn parse_hardware_catalog(text: &str) -> Result<HardwareCatalog, CatalogError> {
    let raw: RawHardwareCatalog = toml::from_str(text)
        .map_err(|error| CatalogError::from_toml(HARDWARE_FILE, text, error))?;
    let invalid = |id: &str, problem: String| CatalogError::Invalid {
        file: HARDWARE_FILE,
        id: id.to_owned(),
        problem,
    };
    let cites = |id: &str, figure: &str, source: Option<&String>| match source {
        None => Err(invalid(id, format!("{figure} has no source"))),
        Some(key) if raw.sources.contains_key(key) => Ok(()),
        Some(key) => Err(invalid(
            id,
            format!("{figure} cites unknown source `{key}`"),
        )),
    };
    for chip in &raw.chips {
        cites(&chip.id, "bandwidth", Some(&chip.bandwidth_source))?;
        if !chip.memory_options_gib.is_empty() {
            cites(
                &chip.id,
                "memory_options_gib",
                chip.memory_options_source.as_ref(),
            )?;
        }
    }
    for machine in &raw.hardware {
        let id = machine.id.as_str();
        check_shape(machine).map_err(|problem| invalid(id, problem))?;
        if let Some(chip) = &machine.chip
            && !raw.chips.iter().any(|known| &known.id == chip)
        {
            return Err(invalid(id, format!("unknown chip `{chip}`")));
        }
        for device in &machine.devices {
            cites(id, "memory_bytes", device.memory_source.as_ref())?;
            cites(id, "bandwidth", device.bandwidth_source.as_ref())?;
            let flops = [
                ("fp16_flops", device.fp16_flops, &device.fp16_flops_source),
                ("bf16_flops", device.bf16_flops, &device.bf16_flops_source),
                ("int8_flops", device.int8_flops, &device.int8_flops_source),
                ("fp8_flops", device.fp8_flops, &device.fp8_flops_source),
                ("fp4_flops", device.fp4_flops, &device.fp4_flops_source),
            ];
            for (figure, value, source) in flops {
                if value.is_some() {
                    cites(id, figure, source.as_ref())?;
                } else if source.is_some() {
                    return Err(invalid(id, format!("{figure}_source without {figure}")));
                }
            }
        }
        for link in &machine.links {
            cites(id, &format!("link `{}`", link.name), link.source.as_ref())?;
        }
        if let Some(price) = &machine.price {
            cites(id, "price", price.source.as_ref())?;
        }
        if let Some(memory) = &machine.system_memory {
            cites(id, "system_memory", memory.source.as_ref())?;
            if memory.bandwidth_bytes_per_second.is_some() {
                cites(
                    id,
                    "system_memory bandwidth",
                    memory.bandwidth_source.as_ref(),
                )?;
            }
        }
    }
    check_names_unique(
        HARDWARE_FILE,
        raw.hardware
            .iter()
            .map(|machine| (machine.id.as_str(), hardware_names(machine).collect())),
    )?;
    check_names_unique(
        HARDWARE_FILE,
        raw.chips
            .iter()
            .map(|chip| (chip.id.as_str(), vec![normalize_hardware_name(&chip.id)])),
    )?;
    Ok(HardwareCatalog {
        sources: raw.sources,
        chips: raw.chips,
        hardware: raw.hardware,
    })
}

/// Hardware names compare case-insensitively with spaces and underscores read as dashes.
fn normalize_hardware_name(name: &str) -> String {
    normalize_name(name)
        .split(|c: char| c.is_whitespace() || c == '_' || c == '-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

fn hardware_names(machine: &Hardware) -> impl Iterator<Item = String> + '_ {
    std::iter::once(machine.id.as_str())
        .chain(machine.aliases.iter().map(String::as_str))
        .map(normalize_hardware_name)
}

/// Finds a machine by id or alias (case-insensitive; spaces, `_` and `-` are equivalent).
pub fn find_hardware(name: &str) -> Option<&'static Hardware> {
    let key = normalize_hardware_name(name);
    hardware()
        .iter()
        .find(|machine| hardware_names(machine).any(|known| known == key))
}

/// Finds a chip family by id (`apple-m4-pro`).
pub fn find_chip(name: &str) -> Option<&'static Chip> {
    let key = normalize_hardware_name(name);
    chips().iter().find(|chip| chip.id == key)
}

/// Closest machine ids to `name`, best first, for a "did you mean" hint (at most 5).
pub fn suggest(name: &str) -> Vec<&'static str> {
    let query = normalize_hardware_name(name);
    suggest_among(
        &query,
        hardware()
            .iter()
            .map(|machine| (machine.id.as_str(), hardware_names(machine).collect())),
    )
}

/// Builds a [`Hardware`] for the user's own machine from command-line values
/// (`--memory 64GiB --bandwidth 400GB/s --unified`).
#[derive(Debug, Clone)]
pub struct HardwareBuilder {
    name: String,
    kind: MemoryKind,
    gpu_share: GpuShare,
    memory_bytes: Option<u64>,
    bandwidth_bytes_per_second: Option<u64>,
    system_memory_bytes: Option<u64>,
    device_count: u32,
}

impl HardwareBuilder {
    /// A discrete single-device machine named `name`; set memory before [`HardwareBuilder::build`].
    pub fn new(name: impl Into<String>) -> Self {
        HardwareBuilder {
            name: name.into(),
            kind: MemoryKind::Discrete,
            gpu_share: GpuShare::All,
            memory_bytes: None,
            bandwidth_bytes_per_second: None,
            system_memory_bytes: None,
            device_count: 1,
        }
    }

    /// Unified memory (the accelerator works from system RAM).
    pub fn unified(mut self, unified: bool) -> Self {
        self.kind = if unified {
            MemoryKind::Unified
        } else {
            MemoryKind::Discrete
        };
        self
    }

    /// The GPU share of a unified pool; the default is the whole pool, choose
    /// [`GpuShare::MacosDefault`] for a Mac.
    pub fn gpu_share(mut self, share: GpuShare) -> Self {
        self.gpu_share = share;
        self
    }

    /// Memory of one device (VRAM, or the unified pool), bytes.
    pub fn memory_bytes(mut self, bytes: u64) -> Self {
        self.memory_bytes = Some(bytes);
        self
    }

    /// Memory bandwidth of one device, bytes per second.
    pub fn bandwidth_bytes_per_second(mut self, bytes_per_second: u64) -> Self {
        self.bandwidth_bytes_per_second = Some(bytes_per_second);
        self
    }

    /// System RAM of a discrete machine, bytes.
    pub fn system_memory_bytes(mut self, bytes: u64) -> Self {
        self.system_memory_bytes = Some(bytes);
        self
    }

    /// Number of identical devices.
    pub fn device_count(mut self, count: u32) -> Self {
        self.device_count = count;
        self
    }

    /// Parses `--memory`, `--bandwidth` and `--system-memory` values (`64GiB`, `400GB/s`).
    pub fn from_flags(
        memory: &str,
        bandwidth: Option<&str>,
        system_memory: Option<&str>,
        unified: bool,
    ) -> Result<Self, HardwareError> {
        let mut builder = HardwareBuilder::new("user machine")
            .unified(unified)
            .memory_bytes(parse_bytes(memory).map_err(|source| HardwareError::Flag {
                flag: "--memory",
                source,
            })?);
        if let Some(bandwidth) = bandwidth {
            builder = builder.bandwidth_bytes_per_second(parse_bandwidth(bandwidth).map_err(
                |source| HardwareError::Flag {
                    flag: "--bandwidth",
                    source,
                },
            )?);
        }
        if let Some(system_memory) = system_memory {
            builder =
                builder.system_memory_bytes(parse_bytes(system_memory).map_err(|source| {
                    HardwareError::Flag {
                        flag: "--system-memory",
                        source,
                    }
                })?);
        }
        Ok(builder)
    }

    /// The machine. Bandwidth left unset is 0 (unknown): speed estimates must ask for it.
    pub fn build(self) -> Result<Hardware, HardwareError> {
        let id = "user".to_owned();
        let memory_bytes = self.memory_bytes.ok_or_else(|| HardwareError::Invalid {
            id: id.clone(),
            problem: "memory size not given (--memory)".to_owned(),
        })?;
        if self.kind == MemoryKind::Unified && self.system_memory_bytes.is_some() {
            return Err(HardwareError::Invalid {
                id,
                problem: "--system-memory applies to discrete GPUs; a unified machine's memory is --memory".to_owned(),
            });
        }
        let hardware = Hardware {
            id,
            name: self.name,
            aliases: Vec::new(),
            kind: self.kind,
            platforms: Vec::new(),
            backends: Vec::new(),
            gpu_share: if self.kind == MemoryKind::Unified {
                self.gpu_share
            } else {
                GpuShare::All
            },
            chip: None,
            notes: None,
            uncertain: None,
            devices: vec![Device {
                name: "user device".to_owned(),
                count: self.device_count,
                memory_bytes,
                memory_source: None,
                bandwidth_bytes_per_second: self.bandwidth_bytes_per_second.unwrap_or(0),
                bandwidth_source: None,
                fp16_flops: None,
                fp16_flops_source: None,
                bf16_flops: None,
                bf16_flops_source: None,
                int8_flops: None,
                int8_flops_source: None,
                fp8_flops: None,
                fp8_flops_source: None,
                fp4_flops: None,
                fp4_flops_source: None,
            }],
            links: Vec::new(),
            price: None,
            system_memory: self.system_memory_bytes.map(|bytes| SystemMemory {
                bytes,
                source: None,
                bandwidth_bytes_per_second: None,
                bandwidth_source: None,
            }),
        };
        check_shape(&hardware).map_err(|problem| HardwareError::Invalid {
            id: hardware.id.clone(),
            problem,
        })?;
        Ok(hardware)
    }
}

/// Why a size like `64GiB` or `400GB/s` did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Nothing was given.
    #[error("empty size; write e.g. 64GiB (binary) or 64GB (decimal)")]
    Empty,
    /// The number part is not a non-negative decimal number.
    #[error("`{input}`: `{number}` is not a number; write e.g. 64GiB or 1.5TB")]
    InvalidNumber {
        /// The whole input.
        input: String,
        /// The part read as the number.
        number: String,
    },
    /// The unit is not one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB.
    #[error(
        "`{input}`: unknown unit `{unit}`; use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)"
    )]
    UnknownUnit {
        /// The whole input.
        input: String,
        /// The unit as written.
        unit: String,
    },
    /// A unit that reads as bits (`Gb`, `mb`).
    #[error(
        "`{input}`: `{unit}` reads as bits; give bytes with an upper-case B, e.g. 50GB/s for 400Gb/s"
    )]
    Bits {
        /// The whole input.
        input: String,
        /// The unit as written.
        unit: String,
    },
    /// A bandwidth without `/s`.
    #[error("`{input}`: a bandwidth needs a per-second unit, e.g. 400GB/s")]
    MissingPerSecond {
        /// The whole input.
        input: String,
    },
    /// The value does not fit in 64 bits of bytes.
    #[error("`{input}`: too large")]
    Overflow {
        /// The whole input.
        input: String,
    },
}

/// Parses a byte size: `64GiB` (binary), `64GB` (decimal), `1.5 TiB`, `512MiB`, `4096` (bytes).
/// Prefixes are case-insensitive (`64gib` works); `K`/`M`/`G`/`T` without `B` are refused as
/// ambiguous and `Gb`/`mb` (bits) are refused rather than read as bytes.
pub fn parse_bytes(text: &str) -> Result<u64, SizeError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(SizeError::Empty);
    }
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    if number.is_empty() {
        let end = unit.find(char::is_alphabetic).unwrap_or(unit.len());
        return Err(SizeError::InvalidNumber {
            input: text.to_owned(),
            number: unit.get(..end).unwrap_or(unit).to_owned(),
        });
    }
    let unit = unit.trim();
    // "Gb", "mb": a lower-case b after a decimal prefix conventionally means bits (network links
    // are quoted in Gb/s); refuse rather than silently read bits as bytes.
    if unit.len() == 2 && unit.ends_with('b') {
        return Err(SizeError::Bits {
            input: text.to_owned(),
            unit: unit.to_owned(),
        });
    }
    let multiplier = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => KIB,
        "mib" => MIB,
        "gib" => GIB,
        "tib" => TIB,
        _ => {
            return Err(SizeError::UnknownUnit {
                input: text.to_owned(),
                unit: unit.to_owned(),
            });
        }
    };
    scale(text, number, multiplier)
}

/// Parses a bandwidth in bytes per second: `400GB/s`, `1.8 TB/s`, `273 GiB/s`, `819GBps`.
pub fn parse_bandwidth(text: &str) -> Result<u64, SizeError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(SizeError::Empty);
    }
    let lower = trimmed.to_ascii_lowercase();
    // Both spellings of "per second" are two bytes long: "/s" and "ps".
    let size = if lower.ends_with("/s") || lower.ends_with("ps") {
        trimmed.get(..trimmed.len() - 2)
    } else {
        None
    };
    let Some(size) = size else {
        return Err(SizeError::MissingPerSecond {
            input: text.to_owned(),
        });
    };
    parse_bytes(size).map_err(|error| match error {
        SizeError::InvalidNumber { number, .. } => SizeError::InvalidNumber {
            input: text.to_owned(),
            number,
        },
        SizeError::UnknownUnit { unit, .. } => SizeError::UnknownUnit {
            input: text.to_owned(),
            unit,
        },
        SizeError::Overflow { .. } => SizeError::Overflow {
            input: text.to_owned(),
        },
        SizeError::Bits { unit, .. } => SizeError::Bits {
            input: text.to_owned(),
            unit,
        },
        other => other,
    })
}

/// `number` x `multiplier`, exact for integers, rounded to the nearest byte for fractions.
fn scale(input: &str, number: &str, multiplier: u64) -> Result<u64, SizeError> {
    let invalid = || SizeError::InvalidNumber {
        input: input.to_owned(),
        number: number.to_owned(),
    };
    let overflow = || SizeError::Overflow {
        input: input.to_owned(),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(invalid());
    }
    let whole_value: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| invalid())?
    };
    let mut total = whole_value
        .checked_mul(u128::from(multiplier))
        .ok_or_else(overflow)?;
    if !fraction.is_empty() {
        // Exact decimal arithmetic: fraction digits / 10^len x multiplier, rounded half up.
        let digits = fraction.len().min(18);
        let fraction_value: u128 = fraction
            .get(..digits)
            .unwrap_or("")
            .parse()
            .map_err(|_| invalid())?;
        let denominator = 10u128.pow(u32::try_from(digits).map_err(|_| invalid())?);
        let scaled = fraction_value * u128::from(multiplier);
        total = total
            .checked_add((scaled + denominator / 2) / denominator)
            .ok_or_else(overflow)?;
    }
    u64::try_from(total).map_err(|_| overflow())
}

/// Prints a byte count in binary units with two decimals: `64.00 GiB`, `512.00 MiB`, `100 B`.
pub fn format_bytes_binary(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(TIB, "TiB"), (GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size {
            // u64 -> f64 loses precision only above 2^53 bytes (8 PiB), far beyond any machine.
            let value = bytes as f64 / size as f64;
            return format!("{value:.2} {unit}");
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fractional_binary_sizes_exactly() {
        assert_eq!(parse_bytes("1.5GiB"), Ok(3 * GIB / 2));
        assert_eq!(parse_bytes(".5 KiB"), Ok(512));
    }

    #[test]
    fn refuses_two_decimal_points() {
        assert!(matches!(
            parse_bytes("1.2.3GB"),
            Err(SizeError::InvalidNumber { .. })
        ));
    }

    #[test]
    fn formats_small_counts_in_bytes() {
        assert_eq!(format_bytes_binary(100), "100 B");
        assert_eq!(format_bytes_binary(1536), "1.50 KiB");
    }
}
