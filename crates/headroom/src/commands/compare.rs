//! `headroom compare HW1 HW2 ...`: machines side by side — memory, bandwidth, compute, price,
//! backends — and, with `--model`, the model's fit and speed on each.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use headroom_core::quant::TensorType;

use super::plan::{MachineRow, decode_chart, machine_row, print_rows};
use super::speed::{find_machine, load_model};
use crate::charts;
use crate::output;

/// Arguments of `headroom compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Catalog machines (ids or aliases).
    pub hardware: Vec<String>,
    /// A model to estimate on each machine (catalog name, GGUF or config.json).
    #[arg(long)]
    pub model: Option<String>,
    /// Context window; default: the model's trained context.
    #[arg(long, short = 'c', value_parser = super::parse_tokens)]
    pub context: Option<u64>,
    /// File type for catalog models and configs.
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
struct Spec {
    id: String,
    name: String,
    kind: String,
    devices: u32,
    accelerator_memory_bytes: u64,
    bandwidth_bytes_per_second: u64,
    fp16_flops: Option<u64>,
    price_usd: Option<f64>,
    backends: Vec<String>,
    platforms: Vec<String>,
}

#[derive(serde::Serialize)]
struct CompareReport {
    machines: Vec<Spec>,
    model: Option<String>,
    context_tokens: Option<u64>,
    speed: Vec<MachineRow>,
}

/// Runs `headroom compare`.
pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    if args.hardware.len() < 2 {
        bail!("name at least two machines to compare");
    }
    let machines = args
        .hardware
        .iter()
        .map(|name| find_machine(name))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let specs: Vec<Spec> = machines
        .iter()
        .map(|hardware| Spec {
            id: hardware.id.clone(),
            name: hardware.name.clone(),
            kind: if hardware.is_unified() {
                "unified".into()
            } else {
                "discrete".into()
            },
            devices: hardware.device_count(),
            accelerator_memory_bytes: hardware.gpu_memory_bytes(None),
            bandwidth_bytes_per_second: hardware.bandwidth_bytes_per_second(),
            fp16_flops: hardware
                .devices
                .iter()
                .find_map(|device| device.fp16_flops.or(device.bf16_flops)),
            price_usd: hardware.price.as_ref().map(|price| price.usd),
            backends: hardware.backends.clone(),
            platforms: hardware.platforms.clone(),
        })
        .collect();
    let mut speed = Vec::new();
    let mut model_name = None;
    let mut context = None;
    if let Some(name) = &args.model {
        let model = load_model(name, &args.quant)?;
        let kv_type = TensorType::from_name(&args.kv_type)
            .with_context(|| format!("unknown --kv-type `{}`", args.kv_type))?;
        let context_tokens = args.context.unwrap_or(model.spec.context_length_trained);
        if let Some(note) = super::speed::context_placeholder_note(&model.spec, args.context) {
            eprintln!("note: {note}");
        }
        for hardware in &machines {
            speed.push(machine_row(&model, hardware, context_tokens, kv_type)?);
        }
        model_name = model.spec.name.clone();
        context = Some(context_tokens);
    }
    let report = CompareReport {
        machines: specs,
        model: model_name,
        context_tokens: context,
        speed,
    };
    if let Some(path) = &args.html {
        let rows: Vec<Vec<String>> = report
            .machines
            .iter()
            .map(|spec| {
                vec![
                    spec.id.clone(),
                    spec.kind.clone(),
                    output::bytes(spec.accelerator_memory_bytes),
                    format!("{:.0} GB/s", spec.bandwidth_bytes_per_second as f64 / 1e9),
                    spec.fp16_flops.map_or_else(
                        || "-".to_owned(),
                        |flops| format!("{:.0}", flops as f64 / 1e12),
                    ),
                    spec.price_usd
                        .map_or_else(|| "-".to_owned(), |price| format!("{price:.0}")),
                ]
            })
            .collect();
        let mut sections = vec![
            charts::Section {
                heading: "Bandwidth".into(),
                text: "Decode speed follows memory bandwidth.".into(),
                markup: charts::bar_chart(
                    "Memory bandwidth (GB/s)",
                    "GB/s",
                    &report
                        .machines
                        .iter()
                        .map(|spec| {
                            (
                                spec.id.clone(),
                                spec.bandwidth_bytes_per_second as f64 / 1e9,
                            )
                        })
                        .collect::<Vec<_>>(),
                ),
            },
            charts::Section {
                heading: "Machines".into(),
                text: String::new(),
                markup: charts::table(
                    &[
                        "machine",
                        "memory",
                        "accelerator memory",
                        "bandwidth",
                        "FP16 TFLOPS",
                        "USD",
                    ],
                    &rows,
                ),
            },
        ];
        if !report.speed.is_empty() {
            sections.push(charts::Section {
                heading: "Decode speed per machine".into(),
                text: report.model.clone().unwrap_or_default(),
                markup: decode_chart("Decode tokens/s", &report.speed),
            });
        }
        fs_err::write(path, charts::html_report("headroom compare", &sections))?;
    }
    if args.json {
        output::print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<44} {:>9} {:>3} {:>12} {:>10} {:>10} {:>8}  backends",
        "machine", "memory", "n", "accel mem", "GB/s", "FP16 TF", "USD"
    );
    for spec in &report.machines {
        println!(
            "{:<44} {:>9} {:>3} {:>12} {:>10.0} {:>10} {:>8}  {}",
            spec.id.chars().take(44).collect::<String>(),
            spec.kind,
            spec.devices,
            output::bytes(spec.accelerator_memory_bytes),
            spec.bandwidth_bytes_per_second as f64 / 1e9,
            spec.fp16_flops.map_or_else(
                || "-".to_owned(),
                |flops| format!("{:.0}", flops as f64 / 1e12)
            ),
            spec.price_usd
                .map_or_else(|| "-".to_owned(), |price| format!("{price:.0}")),
            spec.backends.join(", ")
        );
    }
    if !report.speed.is_empty() {
        println!();
        println!(
            "{} at {} tokens of context:",
            report.model.as_deref().unwrap_or("model"),
            output::count(report.context_tokens.unwrap_or(0))
        );
        print_rows(&report.speed)?;
    }
    Ok(ExitCode::SUCCESS)
}
