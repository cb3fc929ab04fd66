//! `headroom memory MODEL`: what llama.cpp will allocate for a model, component by component,
//! whether it fits a machine with how much left, and the largest context that fits per KV type.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use headroom_core::hardware::{GpuShare, macos_default_gpu_share_bytes};
use headroom_core::memory::fit::{ContextFit, FitVerdict, Limit, Machine, largest_context};
use headroom_core::memory::{
    ContextSettings, Estimator, MemoryEstimate, ModelWeights, WeightsSource,
};
use headroom_core::quant::{FileType, TensorType};
use headroom_core::spec::ModelSpec;
use headroom_core::tensors::quantized_tensors;

use crate::output;

/// Flash attention on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// How the model is launched (decides slots, unified KV and batch sizes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Runner {
    /// `llama-server -c CONTEXT -np PARALLEL` (split KV, one slot each).
    LlamaServer,
    /// Ollama v0.30+: `llama-server -c CONTEXT×PARALLEL -np PARALLEL -b 512 -ub 512`; CONTEXT is num_ctx.
    Ollama,
    /// `llama-fit-params` / llama-bench defaults (logits reserved for the whole micro-batch).
    FitParams,
}

/// Arguments of `headroom memory`.
#[derive(Debug, Args)]
pub struct MemoryArgs {
    /// A GGUF file, a Hugging Face config.json (or its directory), or a catalog model name.
    pub model: PathBuf,
    /// Context in tokens (per slot for --runner ollama); default: the model's trained context.
    #[arg(long, short = 'c', value_parser = super::parse_tokens)]
    pub context: Option<u64>,
    /// KV cache type for K and V: f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl.
    #[arg(long, default_value = "f16")]
    pub kv_type: String,
    /// Parallel sequences (slots), or `auto` for llama-server's automatic 4 slots with a unified KV cache.
    #[arg(long, short = 'p', default_value = "1")]
    pub parallel: String,
    /// One KV pool shared by all slots (`--kv-unified`); `--parallel auto` implies it.
    #[arg(long)]
    pub kv_unified: bool,
    /// Full-size sliding-window cache (`--swa-full`).
    #[arg(long)]
    pub swa_full: bool,
    /// Weights read into memory instead of mapped from the file (llama.cpp's `--no-mmap`): a
    /// tensor llama.cpp duplicates on the host then costs twice (Gemma 3n/4 run on the CPU).
    #[arg(long)]
    pub no_mmap: bool,
    /// Free memory to keep per device (default 1 GiB, llama.cpp's --fit-target; Ollama reserves 457 MiB, 512 MiB on Metal).
    #[arg(long, value_parser = parse_size)]
    pub margin: Option<u64>,
    /// Flash attention (llama.cpp's `auto` enables it on CUDA and Metal).
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub flash_attention: Switch,
    /// Layers offloaded to the GPU (`-ngl`); default: all.
    #[arg(long)]
    pub gpu_layers: Option<u64>,
    /// Launch profile.
    #[arg(long, value_enum, default_value_t = Runner::LlamaServer)]
    pub runner: Runner,
    /// File type for a config.json (llama-quantize name), e.g. Q4_K_M, Q8_0, F16.
    #[arg(long, default_value = "Q4_K_M")]
    pub quant: String,
    /// System memory, e.g. 64GiB (with --unified: the whole unified pool).
    #[arg(long, value_parser = parse_size)]
    pub memory: Option<u64>,
    /// Memory is unified (Apple silicon): the GPU may wire only its share of --memory.
    #[arg(long, requires = "memory")]
    pub unified: bool,
    /// Unified only: the GPU's wired limit (`sysctl iogpu.wired_limit_mb`), e.g. 56GiB.
    #[arg(long, value_parser = parse_size)]
    pub gpu_share: Option<u64>,
    /// Discrete GPU memory, e.g. 24GiB.
    #[arg(long, value_parser = parse_size, conflicts_with = "unified")]
    pub gpu_memory: Option<u64>,
    /// A machine from the hardware catalog (e.g. mac-mini-m4-pro-64gb, rtx-4090); --memory sets
    /// its system RAM when the catalog does not know it, --gpu-share its wired limit.
    #[arg(long, conflicts_with_all = ["unified", "gpu_memory"])]
    pub hardware: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

const KIB: f64 = 1024.0;
const MIB: f64 = KIB * 1024.0;
const GIB: f64 = MIB * 1024.0;

/// Parses `64GiB`, `64G`, `65536MiB`, `48000MB`, or a byte count.
fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|character: char| !(character.is_ascii_digit() || character == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 64GiB"))?;
    let multiplier = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => KIB,
        "m" | "mib" => MIB,
        "g" | "gib" => GIB,
        "t" | "tib" => GIB * 1024.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use GiB, MiB, GB, MB)"
            ));
        }
    };
    Ok((value * multiplier) as u64)
}

/// Bytes in binary units.
fn format_bytes(bytes: u64) -> String {
    let value = bytes as f64;
    if value >= GIB {
        format!("{:.2} GiB", value / GIB)
    } else if value >= MIB {
        format!("{:.1} MiB", value / MIB)
    } else if value >= KIB {
        format!("{:.1} KiB", value / KIB)
    } else {
        format!("{bytes} B")
    }
}

fn format_signed(bytes: i64) -> String {
    if bytes < 0 {
        format!("-{}", format_bytes(bytes.unsigned_abs()))
    } else {
        format_bytes(bytes as u64)
    }
}

fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, character) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(character);
    }
    out
}

/// A loaded model: spec, weights and where they came from.
struct LoadedModel {
    spec: ModelSpec,
    weights: ModelWeights,
    source: String,
    file_type: Option<FileType>,
    notes: Vec<String>,
}

fn load_model(path: &Path, quant: &str) -> anyhow::Result<LoadedModel> {
    let path = if path.is_dir() {
        path.join("config.json")
    } else {
        path.to_path_buf()
    };
    if !path.exists() {
        let name = path.to_string_lossy();
        if let Some(model) = headroom_core::catalog::find(&name) {
            return load_catalog_model(model, quant);
        }
        let suggestions = headroom_core::catalog::suggest(&name);
        bail!(
            "{} is neither a file nor a catalog model{}",
            path.display(),
            if suggestions.is_empty() {
                " (MODEL is a GGUF file, a config.json or a catalog name)".to_owned()
            } else {
                format!(" (did you mean {}?)", suggestions.join(", "))
            }
        );
    }
    let mut magic = [0u8; 4];
    {
        use std::io::Read;
        let mut file = fs_err::File::open(&path)?;
        let _ = file.read(&mut magic)?;
    }
    if &magic == b"GGUF" {
        let file = headroom_gguf::GgufFile::open(&path)?;
        let spec = ModelSpec::from_gguf(&file)
            .with_context(|| format!("reading the model description in {}", path.display()))?;
        let unknown = file.unknown_types();
        if !unknown.is_empty() {
            bail!(
                "{}: tensors of unknown ggml types ({}) — their size cannot be known",
                path.display(),
                unknown
                    .iter()
                    .map(|(name, id)| format!("{name}: type {id}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let file_type = spec.file_type;
        return Ok(LoadedModel {
            weights: ModelWeights::from_gguf(&file),
            spec,
            source: format!("GGUF {}", path.display()),
            file_type,
            notes: Vec::new(),
        });
    }
    let text = fs_err::read_to_string(&path)?;
    let config: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is neither a GGUF file nor JSON", path.display()))?;
    let spec =
        ModelSpec::from_config(&config).with_context(|| format!("reading {}", path.display()))?;
    let file_type = parse_file_type(quant)?;
    let tensors = quantized_tensors(&spec, file_type).with_context(|| {
        format!(
            "{}: cannot lay out the {} tensors",
            path.display(),
            spec.architecture
        )
    })?;
    let mut spec = spec;
    spec.parameters = Some(headroom_core::tensors::parameter_counts(&spec, &tensors));
    spec.name = display_name(&config, &path);
    Ok(LoadedModel {
        weights: ModelWeights::from_plan(&tensors),
        spec,
        source: format!("config {} as {}", path.display(), file_type),
        file_type: Some(file_type),
        notes: Vec::new(),
    })
}

/// A catalog model: its published config.json, laid out and quantized like a GGUF of `quant`.
fn load_catalog_model(
    model: &headroom_core::catalog::CatalogModel,
    quant: &str,
) -> anyhow::Result<LoadedModel> {
    let file_type = parse_file_type(quant)?;
    let mut notes = Vec::new();
    let mut spec = ModelSpec::from_config(&model.config)
        .with_context(|| format!("catalog model {}: reading its config", model.id))?;
    spec.name = Some(model.name.clone());
    let weights = match quantized_tensors(&spec, file_type) {
        Ok(tensors) => {
            spec.parameters = Some(headroom_core::tensors::parameter_counts(&spec, &tensors));
            ModelWeights::from_plan(&tensors)
        }
        // No tensor layout for this architecture yet: parameters × bits per weight of the
        // file type's default tensor type, marked approximate.
        Err(error) => {
            notes.push(format!("weights approximate: {error}"));
            let total = model
                .parameters_total
                .as_ref()
                .map(|count| count.count)
                .with_context(|| {
                    format!(
                        "catalog model {} has no tensor layout and no parameter count",
                        model.id
                    )
                })?;
            let (block_elements, block_bytes) = file_type.default_type().block();
            spec.parameters = Some(headroom_core::spec::ParameterCounts {
                total,
                active: model
                    .parameters_active
                    .as_ref()
                    .map_or(total, |count| count.count),
            });
            ModelWeights::approximate(
                (total as u128 * block_bytes as u128 / block_elements as u128) as u64,
            )
        }
    };
    Ok(LoadedModel {
        spec,
        weights,
        source: format!("catalog {} ({}) as {}", model.id, model.hf_repo, file_type),
        file_type: Some(file_type),
        notes,
    })
}

fn parse_file_type(quant: &str) -> anyhow::Result<FileType> {
    FileType::from_name(quant).with_context(|| {
        format!(
            "unknown --quant `{quant}` (one of {})",
            FileType::ALL
                .iter()
                .map(|kind| kind.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// A config's model name: `_name_or_path`, else the file stem, else the directory name.
fn display_name(config: &serde_json::Value, path: &Path) -> Option<String> {
    if let Some(name) = config
        .get("_name_or_path")
        .and_then(serde_json::Value::as_str)
    {
        return Some(name.to_owned());
    }
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    if stem != "config" {
        return Some(stem);
    }
    path.canonicalize()
        .ok()?
        .parent()?
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
}

/// The machine described by the flags, and notes on where its figures come from.
fn machine_from(args: &MemoryArgs) -> anyhow::Result<Option<(Machine, Vec<String>)>> {
    let mut notes = Vec::new();
    let machine = if let Some(name) = &args.hardware {
        let hardware = headroom_core::hardware::find_hardware(name).with_context(|| {
            let suggestions = headroom_core::hardware::suggest(name);
            format!(
                "unknown --hardware `{name}`{}",
                if suggestions.is_empty() {
                    String::new()
                } else {
                    format!(" (did you mean {}?)", suggestions.join(", "))
                }
            )
        })?;
        let wired_limit_mb = args.gpu_share.map(|bytes| bytes / (1024 * 1024));
        let (machine, system) = Machine::from_hardware(hardware, wired_limit_mb);
        if let Some(share) = args.gpu_share
            && machine.unified
            && hardware.gpu_share == GpuShare::MacosDefault
            && share > machine.system_memory_bytes
        {
            bail!(
                "--gpu-share {} is more than the {} of unified memory of {}",
                format_bytes(share),
                format_bytes(machine.system_memory_bytes),
                hardware.name
            );
        }
        let machine = match (system, args.memory) {
            (_, Some(memory)) if !machine.unified => Machine {
                system_memory_bytes: memory,
                ..machine
            },
            (None, None) => {
                notes.push(format!(
                    "{}: system RAM unknown, not checked (pass --memory)",
                    hardware.name
                ));
                Machine {
                    system_memory_bytes: u64::MAX / 4,
                    ..machine
                }
            }
            _ => machine,
        };
        if machine.unified {
            notes.push(match (hardware.gpu_share, wired_limit_mb) {
                // DGX Spark, Strix Halo: the catalog gives the GPU the whole pool; the OS (GTT,
                // carve-out) may give it less, and a macOS wired limit does not apply.
                (GpuShare::All, limit) => format!(
                    "{}: GPU share {} = all of its unified memory, as the hardware catalog says for this machine (the OS may give the GPU less{})",
                    hardware.name,
                    format_bytes(machine.gpu_share_bytes),
                    if limit.is_some() {
                        "; --gpu-share is macOS's wired limit and is ignored here"
                    } else {
                        ""
                    }
                ),
                (GpuShare::MacosDefault, Some(limit)) => format!(
                    "{}: GPU share {} (iogpu.wired_limit_mb={limit})",
                    hardware.name,
                    format_bytes(machine.gpu_share_bytes)
                ),
                (GpuShare::MacosDefault, None) => format!(
                    "{}: GPU share {} = macOS default wired limit (recommendedMaxWorkingSetSize, see the hardware catalog; raise with iogpu.wired_limit_mb)",
                    hardware.name,
                    format_bytes(machine.gpu_share_bytes)
                ),
            });
        }
        machine
    } else {
        let Some(memory) = args.memory else {
            return Ok(None);
        };
        if args.unified {
            let share = match args.gpu_share {
                Some(share) if share > memory => bail!(
                    "--gpu-share {} is more than the {} of unified memory given with --memory",
                    format_bytes(share),
                    format_bytes(memory)
                ),
                Some(share) => {
                    notes.push(format!(
                        "GPU share {} (iogpu.wired_limit_mb given)",
                        format_bytes(share)
                    ));
                    share
                }
                None => {
                    let share = macos_default_gpu_share_bytes(memory);
                    notes.push(format!(
                        "GPU share {} = macOS default wired limit (2/3 of RAM up to 36 GiB, 3/4 above, from logged recommendedMaxWorkingSetSize values; the switch point is uncertain — set --gpu-share from `sysctl iogpu.wired_limit_mb` when you know it)",
                        format_bytes(share)
                    ));
                    share
                }
            };
            Machine::unified(memory, share)
        } else {
            Machine::discrete(args.gpu_memory.unwrap_or(0), memory)
        }
    };
    let machine = match args.margin {
        Some(margin_bytes) => Machine {
            margin_bytes,
            ..machine
        },
        None => machine,
    };
    Ok(Some((machine, notes)))
}

#[derive(serde::Serialize)]
struct Report<'a> {
    model: &'a ModelSpec,
    source: &'a str,
    file_type: Option<FileType>,
    runner: &'static str,
    estimate: &'a MemoryEstimate,
    kv_bytes_per_token: u64,
    total_bytes: u64,
    compute_is_approximate: bool,
    tied_output_copy: bool,
    machine: Option<Machine>,
    verdict: Option<FitVerdict>,
    largest_context: Vec<ContextFit>,
    warnings: Vec<String>,
}

/// Runs `headroom memory`.
pub fn run(args: MemoryArgs) -> anyhow::Result<ExitCode> {
    let model = load_model(&args.model, &args.quant)?;
    let kv_type = TensorType::from_name(&args.kv_type)
        .with_context(|| format!("unknown --kv-type `{}`", args.kv_type))?;
    let context = args.context.unwrap_or(model.spec.context_length_trained);
    let auto_slots = args.parallel.eq_ignore_ascii_case("auto");
    let parallel = if auto_slots {
        headroom_core::memory::LLAMA_SERVER_AUTO_SLOTS
    } else {
        args.parallel
            .parse::<u64>()
            .ok()
            .filter(|&count| count >= 1)
            .with_context(|| {
                format!(
                    "--parallel `{}` is not a positive number or `auto`",
                    args.parallel
                )
            })?
    };
    let mut settings = match args.runner {
        Runner::LlamaServer if auto_slots => ContextSettings::llama_server(context, None),
        Runner::LlamaServer => ContextSettings::llama_server(context, Some(parallel)),
        // Ollama's num_batch default is 512 (api/types.go DefaultOptions).
        Runner::Ollama => ContextSettings::ollama(context, parallel, 512),
        Runner::FitParams => ContextSettings::fit_params(context, parallel),
    };
    settings.flash_attention = args.flash_attention == Switch::On;
    settings.kv_unified |= args.kv_unified;
    settings.swa_full = args.swa_full;
    if args.no_mmap {
        settings.mmap = false;
    }
    settings = settings.with_cache_type(kv_type);
    settings.validate().with_context(|| {
        format!(
            "--kv-type {kv_type} with --flash-attention {}",
            if settings.flash_attention {
                "on"
            } else {
                "off"
            }
        )
    })?;

    // A machine with system RAM only runs on the CPU: nothing is offloaded unless asked.
    let cpu_only = args.memory.is_some()
        && !args.unified
        && args.gpu_memory.is_none()
        && args.hardware.is_none();
    let gpu_layers = args.gpu_layers.or(if cpu_only { Some(0) } else { None });
    let estimator = Estimator::new(&model.spec, &model.weights, gpu_layers);
    let estimate = estimator.estimate(&settings)?;
    let machine = machine_from(&args)?;
    let mut warnings = Vec::new();
    let runner = match args.runner {
        Runner::LlamaServer => "llama-server",
        Runner::Ollama => "ollama",
        Runner::FitParams => "llama-fit-params",
    };
    let per_slot = estimate.kv.layout.cells_per_stream;
    if model.spec.context_is_converter_placeholder() {
        // No trained window to compare with; say so when it would be used as the context.
        warnings.extend(super::speed::context_placeholder_note(
            &model.spec,
            args.context,
        ));
    } else if per_slot > model.spec.context_length_trained {
        warnings.push(format!(
            "{} tokens per sequence exceeds the trained context {} (llama.cpp warns: possible training context overflow)",
            thousands(per_slot),
            thousands(model.spec.context_length_trained)
        ));
    } else if per_slot < model.spec.context_length_trained && args.context.is_some() {
        warnings.push(format!(
            "{} tokens per sequence is below the trained {}: longer prompts are truncated or rejected",
            thousands(per_slot),
            thousands(model.spec.context_length_trained)
        ));
    }
    warnings.extend(model.notes.iter().cloned());
    let layer_count = model.spec.layer_count();
    let mtp_bytes: u64 = model
        .weights
        .tensors
        .iter()
        .filter(|tensor| matches!(tensor.role, headroom_core::memory::TensorRole::Layer(layer) if layer >= layer_count))
        .map(|tensor| tensor.bytes)
        .sum();
    if mtp_bytes > 0 {
        warnings.push(format!(
            "{} NextN/MTP block{} ({}) not counted: llama.cpp loads {} only for MTP speculative decoding",
            model.spec.nextn_layer_count,
            if model.spec.nextn_layer_count == 1 { "" } else { "s" },
            format_bytes(mtp_bytes),
            if model.spec.nextn_layer_count == 1 { "it" } else { "them" },
        ));
    }
    if !model.weights.is_exact() {
        warnings.push("weights are estimated from a parameter count, not exact".to_owned());
    }
    let verdict = machine
        .as_ref()
        .map(|(machine, _)| machine.verdict(&estimate));
    let mut fits = Vec::new();
    if let Some((machine, notes)) = &machine {
        warnings.extend(notes.iter().cloned());
        let ceiling = context.max(model.spec.context_length_trained)
            * if args.runner == Runner::Ollama {
                parallel
            } else {
                1
            };
        for cache_type in [TensorType::F16, TensorType::Q8_0, TensorType::Q4_0] {
            let base = ContextSettings {
                context_tokens: 0,
                ..settings
            };
            fits.push(largest_context(
                &estimator, machine, &base, cache_type, ceiling,
            )?);
        }
        if let Some(verdict) = verdict {
            if verdict.gpu_share_is_the_limit {
                warnings.push(format!(
                    "the GPU's share of unified memory ({}) is the limit, not the {} installed: raising iogpu.wired_limit_mb (e.g. `sudo sysctl iogpu.wired_limit_mb={}`) would let it fit",
                    format_bytes(verdict.gpu_capacity_bytes),
                    format_bytes(machine.system_memory_bytes),
                    (verdict.gpu_needed_bytes + machine.margin_bytes).div_ceil(1024 * 1024) + 1024
                ));
            } else if machine.unified
                && verdict.limiting == Limit::GpuShare
                && verdict.headroom_bytes >= 0
            {
                warnings.push(format!(
                    "the GPU's share of unified memory ({}) is the tighter limit, not the {} installed",
                    format_bytes(verdict.gpu_capacity_bytes),
                    format_bytes(machine.system_memory_bytes)
                ));
            }
        }
    }
    let report = Report {
        model: &model.spec,
        source: &model.source,
        file_type: model.file_type,
        runner,
        estimate: &estimate,
        kv_bytes_per_token: estimate.kv.full_bytes_per_cell(),
        total_bytes: estimate.total_bytes(),
        compute_is_approximate: true,
        tied_output_copy: model.weights.tied_embeddings && estimate.gpu_layers >= 1,
        machine: machine.as_ref().map(|(machine, _)| *machine),
        verdict,
        largest_context: fits,
        warnings,
    };
    if args.json {
        output::print_json(&report)?;
    } else {
        print_table(&report)?;
    }
    Ok(match verdict {
        Some(verdict) if !verdict.fits => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

fn print_table(report: &Report<'_>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let spec = report.model;
    let estimate = report.estimate;
    let settings = &estimate.settings;
    let layout = &estimate.kv.layout;
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| spec.architecture.clone());
    writeln!(out, "{name} ({}, {})", spec.architecture, report.source)?;
    if let Some(parameters) = spec.parameters {
        writeln!(
            out,
            "parameters: {:.2} B total, {:.2} B active per token",
            parameters.total as f64 / 1e9,
            parameters.active as f64 / 1e9
        )?;
    }
    let sequences = if settings.kv_unified {
        format!(
            "{} sequence{} sharing {} cells",
            settings.parallel_sequences,
            if settings.parallel_sequences == 1 {
                ""
            } else {
                "s"
            },
            thousands(layout.cells_per_stream)
        )
    } else {
        format!(
            "{} sequence{} × {} cells",
            layout.streams,
            if layout.streams == 1 { "" } else { "s" },
            thousands(layout.cells_per_stream)
        )
    };
    writeln!(
        out,
        "context: {} tokens ({sequences}), KV {}/{}, flash attention {}, {} layers of {} on the GPU, runner {}",
        thousands(layout.context_tokens),
        settings.key_type,
        settings.value_type,
        if settings.flash_attention {
            "on"
        } else {
            "off"
        },
        estimate.gpu_layers,
        spec.layer_count() + 1,
        report.runner
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<16} {:>12} {:>12} {:>12}  note",
        "component", "total", "GPU", "host"
    )?;
    let weights_note = match estimate.weights_source {
        WeightsSource::GgufTensors => "exact (GGUF tensor infos)",
        WeightsSource::TensorPlan => "exact (tensor layout + llama-quantize type rules)",
        WeightsSource::ParameterCount => "APPROXIMATE (parameters × bits per weight)",
    };
    let weights_note = if report.tied_output_copy {
        format!("{weights_note}; includes the GPU copy of token_embd for the tied output")
    } else {
        weights_note.to_owned()
    };
    writeln!(
        out,
        "{:<16} {:>12} {:>12} {:>12}  {weights_note}",
        "weights",
        format_bytes(estimate.weights.total_bytes()),
        format_bytes(estimate.weights.gpu_bytes),
        format_bytes(estimate.weights.host_bytes)
    )?;
    let kv = &estimate.kv;
    let mut kv_note = format!(
        "exact: {} full layer{} × {} cells",
        kv.full_layers,
        if kv.full_layers == 1 { "" } else { "s" },
        thousands(layout.cells_per_stream * layout.streams)
    );
    if kv.swa_layers > 0 {
        kv_note.push_str(&format!(
            " + {} sliding-window layers × {} cells",
            kv.swa_layers,
            thousands(layout.swa_cells_per_stream * layout.streams)
        ));
    }
    kv_note.push_str(&format!(
        ", {}/token in full-attention layers",
        format_bytes(report.kv_bytes_per_token)
    ));
    writeln!(
        out,
        "{:<16} {:>12} {:>12} {:>12}  {kv_note}",
        "KV cache",
        format_bytes(kv.attention_bytes()),
        format_bytes(kv.attention_gpu_bytes),
        format_bytes(kv.attention_bytes() - kv.attention_gpu_bytes),
    )?;
    if kv.recurrent_layers > 0 {
        writeln!(
            out,
            "{:<16} {:>12} {:>12} {:>12}  exact: {} recurrent layers, f32, grows with sequences not context",
            "recurrent state",
            format_bytes(kv.recurrent_bytes),
            format_bytes(kv.recurrent_gpu_bytes),
            format_bytes(kv.recurrent_bytes - kv.recurrent_gpu_bytes),
            kv.recurrent_layers
        )?;
    }
    writeln!(
        out,
        "{:<16} {:>12} {:>12} {:>12}  exact: logits for {} sequence(s)",
        "output buffer",
        format_bytes(estimate.output_bytes),
        format_bytes(0),
        format_bytes(estimate.output_bytes),
        settings.parallel_sequences
    )?;
    writeln!(
        out,
        "{:<16} {:>12} {:>12} {:>12}  APPROXIMATE: model of llama.cpp's CPU reservation (within 5% on the truth table); CUDA/Metal differ",
        "compute buffer",
        format_bytes(estimate.compute_bytes),
        format_bytes(estimate.compute_split.gpu_bytes),
        format_bytes(estimate.compute_split.host_bytes)
    )?;
    writeln!(
        out,
        "{:<16} {:>12} {:>12} {:>12}",
        "total",
        format_bytes(report.total_bytes),
        format_bytes(estimate.gpu_bytes()),
        format_bytes(estimate.host_bytes())
    )?;
    if let (Some(machine), Some(verdict)) = (&report.machine, &report.verdict) {
        writeln!(out)?;
        if machine.unified {
            writeln!(
                out,
                "machine: {} unified memory, GPU may wire {}; keeping {} free per device (llama.cpp --fit-target default 1 GiB)",
                format_bytes(machine.system_memory_bytes),
                format_bytes(machine.gpu_share_bytes),
                format_bytes(machine.margin_bytes)
            )?;
        } else {
            writeln!(
                out,
                "machine: {} GPU memory, {} system memory; keeping {} free per device (llama.cpp --fit-target default 1 GiB)",
                format_bytes(machine.gpu_memory_bytes),
                format_bytes(machine.system_memory_bytes),
                format_bytes(machine.margin_bytes)
            )?;
        }
        let limit = match verdict.limiting {
            Limit::GpuMemory => "GPU memory",
            Limit::GpuShare => "the GPU's share of unified memory",
            Limit::SystemMemory => "system memory",
        };
        if verdict.fits {
            writeln!(
                out,
                "verdict: FITS — {} left in {limit} after the margin",
                format_signed(verdict.headroom_bytes)
            )?;
        } else {
            writeln!(
                out,
                "verdict: DOES NOT FIT — {limit} is short by {} (margin included)",
                format_bytes(verdict.headroom_bytes.unsigned_abs())
            )?;
        }
        writeln!(
            out,
            "largest context that fits (same settings, multiples of 256, up to {}):",
            thousands(
                report
                    .largest_context
                    .first()
                    .map_or(0, |fit| fit.ceiling_tokens)
            )
        )?;
        for fit in &report.largest_context {
            let text = if fit.refused {
                "refused by llama.cpp without flash attention".to_owned()
            } else {
                match fit.context_tokens {
                    Some(tokens) if tokens == fit.ceiling_tokens => {
                        format!("{} tokens (the whole range)", thousands(tokens))
                    }
                    Some(tokens) => format!("{} tokens", thousands(tokens)),
                    None => "none (even 256 tokens does not fit)".to_owned(),
                }
            };
            writeln!(out, "  {:<6} {text}", fit.cache_type.name())?;
        }
    }
    for warning in &report.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_and_decimal_sizes() {
        assert_eq!(parse_size("64GiB"), Ok(64 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("64G"), Ok(64 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("48000MB"), Ok(48_000_000_000));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn formats_thousands() {
        assert_eq!(thousands(262_144), "262,144");
        assert_eq!(thousands(512), "512");
    }
}
