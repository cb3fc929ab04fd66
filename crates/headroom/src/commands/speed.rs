//! `headroom speed MODEL --hardware NAME`: decode and prefill tokens/s at the context depths
//! people use, the time to prefill the whole window, and the timeout arithmetic (time to first
//! token, the largest prompt a timeout allows, the timeout a prompt needs). Also the model and
//! machine loading that `plan` and `compare` share.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use headroom_core::hardware::{self, GpuShare, Hardware, HardwareBuilder};
use headroom_core::memory::fit::Machine;
use headroom_core::memory::{ContextSettings, Estimator, ModelWeights};
use headroom_core::quant::{FileType, TensorType};
use headroom_core::spec::ModelSpec;
use headroom_core::speed::measured::{Phase, parse_measurements};
use headroom_core::speed::{
    self, Backend, DeviceClass, MachineModel, ModelProfile, PrefillTimer, SpeedEstimate,
    SpeedModel, TimeoutReport,
};

use crate::charts;
use crate::output;

/// A model ready for estimates.
pub struct LoadedModel {
    /// Spec.
    pub spec: ModelSpec,
    /// Weights.
    pub weights: ModelWeights,
    /// Where it came from.
    pub source: String,
}

/// The note owed when no `--context` was given and the model's context is convert_hf_to_gguf's
/// 2^20 placeholder (models without RoPE): llama.cpp would use it, but it is no trained window.
pub fn context_placeholder_note(spec: &ModelSpec, context: Option<u64>) -> Option<String> {
    (context.is_none() && spec.context_is_converter_placeholder()).then(|| {
        format!(
            "no --context given: llama.cpp would use the GGUF's context_length of {}, the placeholder convert_hf_to_gguf writes for {} models (no RoPE) whatever window they were trained for; pass --context for the window you will run",
            crate::output::count(spec.context_length_trained),
            spec.architecture
        )
    })
}

/// Loads MODEL: a catalog name (`qwen3-coder-30b-a3b`, `qwen3-coder:30b`), a GGUF file, or a
/// Hugging Face config.json (or its directory). Configs and catalog models are laid out at `quant`.
pub fn load_model(name: &str, quant: &str) -> anyhow::Result<LoadedModel> {
    let file_type =
        || FileType::from_name(quant).with_context(|| format!("unknown --quant `{quant}`"));
    let path = Path::new(name);
    if !path.exists() {
        let Some(model) = headroom_core::catalog::find(name) else {
            let suggestions = headroom_core::catalog::suggest(name);
            bail!(
                "`{name}` is neither a file nor a catalog model{}",
                if suggestions.is_empty() {
                    String::new()
                } else {
                    format!(" (did you mean {}?)", suggestions.join(", "))
                }
            );
        };
        let file_type = file_type()?;
        let (mut spec, weights) = speed::fit::catalog_model(&model.id, file_type, None, None)
            .with_context(|| {
                format!(
                    "catalog model `{}`: no tensor layout for its architecture and no parameter count; give a GGUF file",
                    model.id
                )
            })?;
        // The planned file's type: the speed model picks its weight-format factors from it.
        spec.file_type = Some(file_type);
        return Ok(LoadedModel {
            spec,
            weights,
            source: format!("catalog {} as {file_type}", model.id),
        });
    }
    let path: PathBuf = if path.is_dir() {
        path.join("config.json")
    } else {
        path.to_path_buf()
    };
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
        return Ok(LoadedModel {
            weights: ModelWeights::from_gguf(&file),
            spec,
            source: format!("GGUF {}", path.display()),
        });
    }
    let text = fs_err::read_to_string(&path)?;
    let config: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is neither a GGUF file nor JSON", path.display()))?;
    let mut spec =
        ModelSpec::from_config(&config).with_context(|| format!("reading {}", path.display()))?;
    let file_type = file_type()?;
    let tensors = headroom_core::tensors::quantized_tensors(&spec, file_type)
        .with_context(|| format!("{}: cannot lay out the tensors", path.display()))?;
    spec.parameters = Some(headroom_core::tensors::parameter_counts(&spec, &tensors));
    spec.file_type = Some(file_type);
    Ok(LoadedModel {
        weights: ModelWeights::from_plan(&tensors),
        spec,
        source: format!("config {} as {file_type}", path.display()),
    })
}

/// Machine flags shared by `speed`, `plan` and `compare`.
#[derive(Debug, Args, Clone)]
pub struct MachineArgs {
    /// A machine of the hardware catalog (id or alias, e.g. `mac-64gb`, `dgx-spark`, `rtx-4090`).
    #[arg(long)]
    pub hardware: Option<String>,
    /// Your own machine as a TOML file (the schema of one `[[hardware]]` catalog entry).
    #[arg(long, conflicts_with = "hardware")]
    pub machine: Option<PathBuf>,
    /// Your machine's accelerator memory (unified: the whole pool), e.g. 64GiB.
    #[arg(long, conflicts_with_all = ["hardware", "machine"])]
    pub memory: Option<String>,
    /// Your accelerator's memory bandwidth, e.g. 273GB/s.
    #[arg(long, requires = "memory")]
    pub bandwidth: Option<String>,
    /// Unified memory (Apple silicon, Strix Halo, DGX Spark).
    #[arg(long, requires = "memory")]
    pub unified: bool,
    /// System RAM of a discrete-GPU machine, e.g. 64GiB.
    #[arg(long, requires = "memory")]
    pub system_memory: Option<String>,
    /// Backend whose efficiency applies (cuda, metal, rocm, vulkan = Mesa RADV, vulkan-amdvlk, cpu);
    /// default: the machine's first.
    #[arg(long)]
    pub backend: Option<String>,
    /// Device class for efficiency (nvidia-discrete, nvidia-datacenter, nvidia-unified,
    /// apple-silicon, amd-unified, amd-discrete, cpu); default: from the machine.
    #[arg(long)]
    pub device_class: Option<String>,
    /// macOS GPU wired limit in MiB (`sysctl iogpu.wired_limit_mb`).
    #[arg(long)]
    pub wired_limit_mb: Option<u64>,
}

/// Resolves the machine named by the flags.
pub fn machine_from(args: &MachineArgs) -> anyhow::Result<Option<Hardware>> {
    if let Some(name) = &args.hardware {
        return find_machine(name).map(Some);
    }
    if let Some(path) = &args.machine {
        let text = fs_err::read_to_string(path)?;
        return Hardware::from_toml_str(&text)
            .with_context(|| format!("reading machine file {}", path.display()))
            .map(Some);
    }
    if let Some(memory) = &args.memory {
        let mut builder = HardwareBuilder::from_flags(
            memory,
            args.bandwidth.as_deref(),
            args.system_memory.as_deref(),
            args.unified,
        )?;
        if args.unified {
            builder = builder.gpu_share(GpuShare::MacosDefault);
        }
        let hardware = builder.build()?;
        if hardware.bandwidth_bytes_per_second() == 0 {
            bail!("--bandwidth is needed for a speed estimate (e.g. --bandwidth 273GB/s)");
        }
        return Ok(Some(hardware));
    }
    Ok(None)
}

/// A catalog machine by id or alias, with suggestions.
pub fn find_machine(name: &str) -> anyhow::Result<Hardware> {
    match hardware::find_hardware(name) {
        Some(found) => Ok(found.clone()),
        None => {
            let suggestions = hardware::suggest(name);
            bail!(
                "`{name}` is not in the hardware catalog{}; describe your own machine with --memory/--bandwidth or --machine FILE",
                if suggestions.is_empty() {
                    String::new()
                } else {
                    format!(" (did you mean {}?)", suggestions.join(", "))
                }
            )
        }
    }
}

/// The speed model's view of a machine, honouring --backend/--device-class/--wired-limit-mb.
pub fn machine_model(hardware: &Hardware, args: &MachineArgs) -> anyhow::Result<MachineModel> {
    let backend = args
        .backend
        .as_deref()
        .map(|name| {
            Backend::from_name(name).with_context(|| {
                format!(
                    "unknown --backend `{name}` (cuda, metal, rocm, vulkan, vulkan-amdvlk, cpu)"
                )
            })
        })
        .transpose()?;
    let class = args
        .device_class
        .as_deref()
        .map(|name| {
            DeviceClass::from_name(name).with_context(|| format!("unknown --device-class `{name}`"))
        })
        .transpose()?;
    if hardware
        .devices
        .iter()
        .any(|device| device.bandwidth_bytes_per_second == 0)
    {
        bail!(
            "machine `{}` has a device without a memory bandwidth: speed needs it (bandwidth_bytes_per_second, or --bandwidth)",
            hardware.id
        );
    }
    Ok(MachineModel::new(
        hardware,
        backend,
        class,
        args.wired_limit_mb,
    ))
}

/// The memory the model needs at `context_tokens` (llama-server, one slot, `kv_type` cache):
/// (total bytes, KV bytes).
pub fn memory_bytes(
    model: &LoadedModel,
    context_tokens: u64,
    kv_type: TensorType,
) -> anyhow::Result<(u64, u64)> {
    let estimate = memory_estimate(model, context_tokens, kv_type)?;
    Ok((estimate.total_bytes(), estimate.kv.total_bytes()))
}

/// The full memory estimate at `context_tokens` (all layers offloaded).
pub fn memory_estimate(
    model: &LoadedModel,
    context_tokens: u64,
    kv_type: TensorType,
) -> anyhow::Result<headroom_core::memory::MemoryEstimate> {
    let settings = ContextSettings::llama_server(context_tokens, Some(1)).with_cache_type(kv_type);
    Ok(Estimator::new(&model.spec, &model.weights, None).estimate(&settings)?)
}

/// The memory-fit machine for a catalog machine.
pub fn fit_machine(hardware: &Hardware, wired_limit_mb: Option<u64>) -> Machine {
    if hardware.is_unified() {
        Machine::unified(
            hardware.total_device_memory_bytes(),
            hardware.gpu_memory_bytes(wired_limit_mb),
        )
    } else {
        // System RAM unknown (most catalog GPUs): only the GPU side is checked.
        Machine::discrete(
            hardware.total_device_memory_bytes(),
            hardware.system_memory_bytes().unwrap_or(u64::MAX / 4),
        )
    }
}

/// Builds the speed model for a model on a machine at a context (the KV cache and buffers at
/// that context are reserved on the accelerator before the weights are placed).
pub fn speed_model(
    model: &LoadedModel,
    machine: MachineModel,
    context_tokens: u64,
    kv_type: TensorType,
) -> anyhow::Result<SpeedModel> {
    let profile = ModelProfile::new(&model.spec, &model.weights, kv_type);
    let (total, _) = memory_bytes(model, context_tokens, kv_type)?;
    let reserve = total.saturating_sub(model.weights.total_bytes);
    Ok(SpeedModel::new(profile, machine, reserve))
}

/// Depths shown in tables: powers of two up to the context, plus the context.
pub fn depths(context_tokens: u64) -> Vec<u64> {
    let mut depths = vec![0u64];
    let mut depth = 4096u64;
    while depth < context_tokens {
        depths.push(depth);
        depth *= 2;
    }
    depths.push(context_tokens);
    depths
}

/// Arguments of `headroom speed`.
#[derive(Debug, Args)]
pub struct SpeedArgs {
    /// A catalog model, a GGUF file, or a Hugging Face config.json.
    pub model: String,
    #[command(flatten)]
    pub machine: MachineArgs,
    /// Context window (num_ctx / -c); default: the model's trained context.
    #[arg(long, short = 'c', value_parser = super::parse_tokens)]
    pub context: Option<u64>,
    /// Prompt tokens for the timeout arithmetic; default: the whole context.
    #[arg(long, value_parser = super::parse_tokens)]
    pub prompt_tokens: Option<u64>,
    /// Tokens already in the cache before the prompt (a reused prefix).
    #[arg(long, default_value_t = 0, value_parser = super::parse_tokens)]
    pub depth: u64,
    /// The client's timeout in seconds.
    #[arg(long, value_parser = super::parse_positive)]
    pub timeout: Option<f64>,
    /// Your measured prompt processing rate (tokens/s), taken as flat over the prompt.
    #[arg(long, value_parser = super::parse_positive)]
    pub prefill_rate: Option<f64>,
    /// Your measured generation rate (tokens/s).
    #[arg(long, value_parser = super::parse_positive)]
    pub decode_rate: Option<f64>,
    /// A file with your measurements: an Ollama response (JSON), llama-server / Ollama log
    /// timing lines, or llama-bench output.
    #[arg(long)]
    pub measured: Option<PathBuf>,
    /// Count the model load (weights read from disk) in the time to first token.
    #[arg(long)]
    pub not_loaded: bool,
    /// Read speed for the model load, e.g. 3GB/s (default 2 GB/s: a conservative NVMe read).
    #[arg(long)]
    pub load_read_speed: Option<String>,
    /// File type for catalog models and configs (llama-quantize name).
    #[arg(long, default_value = "Q4_K_M")]
    pub quant: String,
    /// KV cache type.
    #[arg(long, default_value = "f16")]
    pub kv_type: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Write a self-contained HTML report with charts to FILE.
    #[arg(long)]
    pub html: Option<PathBuf>,
}

#[derive(serde::Serialize)]
struct SpeedReport {
    model: String,
    source: String,
    machine: String,
    machine_id: String,
    device_class: String,
    backend: String,
    efficiency: String,
    context_tokens: u64,
    weight_bytes: u64,
    active_parameters: u64,
    placement: speed::Placement,
    depths: Vec<SpeedEstimate>,
    whole_window_prefill_seconds: f64,
    /// The timeout a request filling the whole window needs (model prediction, with margin).
    whole_window_needed_timeout_seconds: f64,
    load_seconds: f64,
    load_assumption: Option<String>,
    predicted: TimeoutReport,
    measured: Option<TimeoutReport>,
    measured_decode_tokens_per_second: Option<f64>,
    notes: Vec<String>,
}

/// Runs `headroom speed`.
pub fn run(args: SpeedArgs) -> anyhow::Result<ExitCode> {
    let model = load_model(&args.model, &args.quant)?;
    let Some(hardware) = machine_from(&args.machine)? else {
        bail!("name a machine: --hardware NAME, --machine FILE, or --memory SIZE --bandwidth RATE");
    };
    let kv_type = TensorType::from_name(&args.kv_type)
        .with_context(|| format!("unknown --kv-type `{}`", args.kv_type))?;
    let context = args.context.unwrap_or(model.spec.context_length_trained);
    let machine = machine_model(&hardware, &args.machine)?;
    let speed = speed_model(&model, machine, context, kv_type)?;
    let mut notes = speed.notes.clone();
    notes.extend(context_placeholder_note(&model.spec, args.context));
    if speed.placement.does_not_fit {
        notes.push("the weights do not fit this machine's memory at all".to_owned());
    }
    let prompt_tokens = args.prompt_tokens.unwrap_or(context);
    if args.depth + prompt_tokens > context {
        notes.push(format!(
            "depth + prompt = {} tokens exceeds the {} context: llama.cpp/Ollama would truncate or refuse it",
            output::count(args.depth + prompt_tokens),
            output::count(context)
        ));
    }
    let (load_seconds, load_assumption) = if args.not_loaded {
        let (rate, assumption) = match &args.load_read_speed {
            Some(text) => (
                hardware::parse_bandwidth(text)
                    .with_context(|| format!("--load-read-speed `{text}`"))? as f64,
                format!("model load at {text} (given)"),
            ),
            None => (
                speed::DEFAULT_LOAD_BYTES_PER_SECOND,
                "model load at 2 GB/s (assumed NVMe read; page-cache hits are faster; set --load-read-speed)".to_owned(),
            ),
        };
        (
            speed::load_seconds(model.weights.total_bytes, rate),
            Some(assumption),
        )
    } else {
        (0.0, None)
    };
    // Measurements: flags first, then a file.
    let mut prefill_measured = args
        .prefill_rate
        .map(|rate| (rate, None, 0, format!("--prefill-rate {rate}")));
    let mut decode_measured = args.decode_rate;
    if let Some(path) = &args.measured {
        let text = fs_err::read_to_string(path)?;
        let found =
            parse_measurements(&text).with_context(|| format!("reading {}", path.display()))?;
        for measurement in found {
            match measurement.phase {
                Phase::Prefill if prefill_measured.is_none() => {
                    prefill_measured = Some((
                        measurement.tokens_per_second,
                        measurement.tokens,
                        measurement.depth_tokens,
                        format!("{} {}", path.display(), measurement.origin),
                    ));
                }
                Phase::Decode if decode_measured.is_none() => {
                    decode_measured = Some(measurement.tokens_per_second);
                }
                _ => {}
            }
        }
    }
    let model_timer = PrefillTimer::model(&speed);
    let predicted = speed::timeout_report(
        &speed,
        &model_timer,
        prompt_tokens,
        args.depth,
        load_seconds,
        args.timeout,
    );
    let measured = prefill_measured.map(|(rate, tokens, depth, what)| {
        let timer = PrefillTimer::measured(&speed, rate, tokens, depth, what);
        speed::timeout_report(
            &speed,
            &timer,
            prompt_tokens,
            args.depth,
            load_seconds,
            args.timeout,
        )
    });
    let report = SpeedReport {
        model: speed.profile.name.clone(),
        source: model.source.clone(),
        machine: hardware.name.clone(),
        machine_id: hardware.id.clone(),
        device_class: speed.machine.class.to_string(),
        backend: speed.machine.backend.to_string(),
        efficiency: speed.factors_name.clone(),
        context_tokens: context,
        weight_bytes: model.weights.total_bytes,
        active_parameters: speed.profile.active_parameters,
        placement: speed.placement.clone(),
        depths: depths(context)
            .into_iter()
            .map(|depth| speed.at_depth(depth))
            .collect(),
        whole_window_prefill_seconds: speed.prefill_seconds(0, context),
        whole_window_needed_timeout_seconds: speed::timeout_report(
            &speed,
            &model_timer,
            context,
            0,
            load_seconds,
            None,
        )
        .needed_timeout_seconds,
        load_seconds,
        load_assumption,
        predicted,
        measured,
        measured_decode_tokens_per_second: decode_measured,
        notes,
    };
    if let Some(path) = &args.html {
        write_html(path, &report, &model, &hardware, kv_type)?;
    }
    if args.json {
        output::print_json(&report)?;
    } else {
        print_report(&report)?;
    }
    // The timeout fails by the user's measurement if given, else by the prediction.
    let verdict = report
        .measured
        .as_ref()
        .unwrap_or(&report.predicted)
        .fits_timeout;
    Ok(if verdict == Some(false) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn seconds(value: f64) -> String {
    if value >= 120.0 {
        format!("{value:.0} s ({:.1} min)", value / 60.0)
    } else {
        format!("{value:.1} s")
    }
}

fn print_timeout(
    out: &mut impl std::io::Write,
    label: &str,
    report: &TimeoutReport,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{label}: {} prompt tokens{} at {:.0} tokens/s on average -> prefill {}, first token after {}",
        output::count(report.prompt_tokens),
        if report.depth_tokens > 0 {
            format!(" after {} cached", output::count(report.depth_tokens))
        } else {
            String::new()
        },
        report.average_prefill_tokens_per_second,
        seconds(report.prefill_seconds),
        seconds(report.time_to_first_token_seconds)
    )?;
    if let (Some(timeout), Some(fits)) = (report.timeout_seconds, report.fits_timeout) {
        writeln!(
            out,
            "  timeout {}: {}",
            seconds(timeout),
            if fits { "OK" } else { "FAILS" }
        )?;
        if let Some(largest) = report.largest_prompt_tokens {
            writeln!(
                out,
                "  largest prompt that gets its first token within {}: {} tokens",
                seconds(timeout),
                output::count(largest)
            )?;
        }
    }
    writeln!(
        out,
        "  timeout this prompt needs: {} (first token + {:.0}% margin, rounded up)",
        seconds(report.needed_timeout_seconds),
        report.margin * 100.0
    )
}

fn print_report(report: &SpeedReport) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "model     {} ({})", report.model, report.source)?;
    writeln!(
        out,
        "machine   {} [{}; {} / {}; efficiency {}]",
        report.machine, report.machine_id, report.device_class, report.backend, report.efficiency
    )?;
    writeln!(
        out,
        "weights   {} ({} active parameters); layers on accelerator(s) {:?}, in host memory {}",
        output::bytes(report.weight_bytes),
        output::count(report.active_parameters),
        report.placement.device_layers,
        report.placement.host_layers
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:>12}  {:>14}  {:>15}  {:>16}",
        "depth", "decode tok/s", "prefill tok/s", "bytes/token"
    )?;
    for estimate in &report.depths {
        writeln!(
            out,
            "{:>12}  {:>14.1}  {:>15.0}{}  {:>15}",
            output::count(estimate.depth_tokens),
            estimate.decode_tokens_per_second,
            estimate.prefill_tokens_per_second,
            if estimate.prefill_memory_bound {
                "*"
            } else {
                " "
            },
            output::bytes(estimate.decode_bytes_per_token as u64)
        )?;
    }
    if report
        .depths
        .iter()
        .any(|estimate| estimate.prefill_memory_bound)
    {
        writeln!(
            out,
            "  * memory-bound (reading the weights once per micro-batch)"
        )?;
    }
    writeln!(
        out,
        "prefilling the whole {}-token window from empty: {}",
        output::count(report.context_tokens),
        seconds(report.whole_window_prefill_seconds)
    )?;
    writeln!(
        out,
        "timeout a request filling the whole window needs: {} (model prediction + {:.0}% margin)",
        seconds(report.whole_window_needed_timeout_seconds),
        speed::TIMEOUT_MARGIN * 100.0
    )?;
    if let Some(assumption) = &report.load_assumption {
        writeln!(out, "load: {} ({assumption})", seconds(report.load_seconds))?;
    }
    writeln!(out)?;
    if let Some(measured) = &report.measured {
        print_timeout(&mut out, "measured rate", measured)?;
    }
    print_timeout(&mut out, "model prediction", &report.predicted)?;
    if let Some(rate) = report.measured_decode_tokens_per_second {
        writeln!(out, "measured decode: {rate:.1} tokens/s")?;
    }
    for note in &report.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

fn write_html(
    path: &Path,
    report: &SpeedReport,
    model: &LoadedModel,
    hardware: &Hardware,
    kv_type: TensorType,
) -> anyhow::Result<()> {
    let limit_gib = hardware.gpu_memory_bytes(None) as f64 / (1u64 << 30) as f64;
    let mut memory_points = Vec::new();
    for depth in depths(report.context_tokens) {
        let (total, _) = memory_bytes(model, depth.max(256), kv_type)?;
        memory_points.push((depth as f64, total as f64 / (1u64 << 30) as f64));
    }
    let memory_chart = charts::line_chart(
        &format!("Memory against context: {}", report.model),
        "context (tokens)",
        "GiB",
        &[charts::Series {
            label: format!("weights + KV ({kv_type}) + buffers"),
            points: memory_points,
        }],
        &[charts::Limit {
            label: format!("{} accelerator limit {limit_gib:.1} GiB", hardware.id),
            value: limit_gib,
        }],
    );
    let decode_chart = charts::line_chart(
        &format!("Speed against depth on {}", report.machine),
        "depth (tokens)",
        "tokens/s",
        &[
            charts::Series {
                label: "decode".into(),
                points: report
                    .depths
                    .iter()
                    .map(|estimate| {
                        (
                            estimate.depth_tokens as f64,
                            estimate.decode_tokens_per_second,
                        )
                    })
                    .collect(),
            },
            charts::Series {
                label: "prefill / 10".into(),
                points: report
                    .depths
                    .iter()
                    .map(|estimate| {
                        (
                            estimate.depth_tokens as f64,
                            estimate.prefill_tokens_per_second / 10.0,
                        )
                    })
                    .collect(),
            },
        ],
        &[],
    );
    let rows: Vec<Vec<String>> = report
        .depths
        .iter()
        .map(|estimate| {
            vec![
                output::count(estimate.depth_tokens),
                format!("{:.1}", estimate.decode_tokens_per_second),
                format!("{:.0}", estimate.prefill_tokens_per_second),
            ]
        })
        .collect();
    let mut sections = vec![
        charts::Section {
            heading: "Memory".into(),
            text: String::new(),
            markup: memory_chart,
        },
        charts::Section {
            heading: "Speed".into(),
            text: format!(
                "{} on {} ({} / {}).",
                report.model, report.machine, report.device_class, report.backend
            ),
            markup: format!(
                "{}{}",
                decode_chart,
                charts::table(&["depth", "decode tok/s", "prefill tok/s"], &rows)
            ),
        },
    ];
    let timeout_text = |label: &str, timeout: &TimeoutReport| {
        format!(
            "{label}: {} prompt tokens, first token after {:.0} s{}; needs a {:.0} s timeout.",
            output::count(timeout.prompt_tokens),
            timeout.time_to_first_token_seconds,
            match timeout.fits_timeout {
                Some(true) => " (within the timeout)".to_owned(),
                Some(false) => " (the timeout FAILS)".to_owned(),
                None => String::new(),
            },
            timeout.needed_timeout_seconds
        )
    };
    let mut text = timeout_text("Model prediction", &report.predicted);
    if let Some(measured) = &report.measured {
        text = format!("{} {}", timeout_text("Measured rate", measured), text);
    }
    sections.push(charts::Section {
        heading: "Timeout".into(),
        text,
        markup: String::new(),
    });
    fs_err::write(
        path,
        charts::html_report(
            &format!("headroom speed: {} on {}", report.model, report.machine),
            &sections,
        ),
    )?;
    Ok(())
}
