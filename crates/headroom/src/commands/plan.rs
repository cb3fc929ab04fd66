//! `headroom plan MODEL [--context N] [--budget USD]`: every machine of the hardware catalog
//! ranked for one model at one context — fit and headroom, decode and prefill tokens/s, time to
//! prefill the whole window, price, and decode tokens/s per 1,000 USD.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use headroom_core::hardware::Hardware;
use headroom_core::quant::TensorType;
use headroom_core::speed::MachineModel;

use super::speed::{LoadedModel, fit_machine, load_model, memory_estimate, speed_model};
use crate::charts;
use crate::output;

/// One machine's figures for one model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MachineRow {
    /// Catalog id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Device class / backend.
    pub class_backend: String,
    /// Accelerator memory usable by the model, bytes.
    pub gpu_memory_bytes: u64,
    /// Peak bandwidth per accelerator, bytes/s.
    pub bandwidth_bytes_per_second: u64,
    /// Fits entirely on the accelerator(s) with llama.cpp's margin.
    pub fits: bool,
    /// Bytes left (negative: short).
    pub headroom_bytes: i64,
    /// Layers left in host memory by the speed model's placement.
    pub host_layers: u64,
    /// Decode tokens/s at an empty context.
    pub decode_empty_tokens_per_second: f64,
    /// Decode tokens/s with the window full.
    pub decode_full_tokens_per_second: f64,
    /// Prefill tokens/s at an empty context.
    pub prefill_empty_tokens_per_second: f64,
    /// Seconds to prefill the whole window.
    pub window_prefill_seconds: f64,
    /// Price, USD.
    pub price_usd: Option<f64>,
    /// Decode tokens/s (empty context) per 1,000 USD.
    pub decode_per_1000_usd: Option<f64>,
}

/// Figures of `model` at `context_tokens` on `hardware`.
pub fn machine_row(
    model: &LoadedModel,
    hardware: &Hardware,
    context_tokens: u64,
    kv_type: TensorType,
) -> anyhow::Result<MachineRow> {
    let machine = MachineModel::new(hardware, None, None, None);
    let class_backend = format!("{}/{}", machine.class, machine.backend);
    let speed = speed_model(model, machine, context_tokens, kv_type)?;
    let estimate = memory_estimate(model, context_tokens, kv_type)?;
    let verdict = fit_machine(hardware, None).verdict(&estimate);
    let decode_empty = speed.decode_tokens_per_second(0);
    let price = hardware.price.as_ref().map(|price| price.usd);
    Ok(MachineRow {
        id: hardware.id.clone(),
        name: hardware.name.clone(),
        class_backend,
        gpu_memory_bytes: hardware.gpu_memory_bytes(None),
        bandwidth_bytes_per_second: hardware.bandwidth_bytes_per_second(),
        fits: verdict.fits && !speed.placement.does_not_fit,
        headroom_bytes: verdict.headroom_bytes,
        host_layers: speed.placement.host_layers,
        decode_empty_tokens_per_second: decode_empty,
        decode_full_tokens_per_second: speed.decode_tokens_per_second(context_tokens),
        prefill_empty_tokens_per_second: speed.prefill_rate(0).0,
        window_prefill_seconds: speed.prefill_seconds(0, context_tokens),
        price_usd: price,
        decode_per_1000_usd: price
            .filter(|price| *price > 0.0)
            .map(|price| decode_empty / price * 1000.0),
    })
}

/// Signed bytes in GiB.
pub fn signed_gib(bytes: i64) -> String {
    format!("{:+.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Prints rows as a table.
pub fn print_rows(rows: &[MachineRow]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<44} {:>4} {:>11} {:>9} {:>9} {:>9} {:>10} {:>8} {:>10}",
        "machine",
        "fits",
        "headroom",
        "dec@0",
        "dec@full",
        "prefill",
        "window s",
        "USD",
        "dec/1kUSD"
    )?;
    for row in rows {
        writeln!(
            out,
            "{:<44} {:>4} {:>11} {:>9.1} {:>9.1} {:>9.0} {:>10.0} {:>8} {:>10}",
            row.id.chars().take(44).collect::<String>(),
            if row.fits { "yes" } else { "no" },
            signed_gib(row.headroom_bytes),
            row.decode_empty_tokens_per_second,
            row.decode_full_tokens_per_second,
            row.prefill_empty_tokens_per_second,
            row.window_prefill_seconds,
            row.price_usd
                .map_or_else(|| "-".to_owned(), |price| format!("{price:.0}")),
            row.decode_per_1000_usd
                .map_or_else(|| "-".to_owned(), |value| format!("{value:.1}")),
        )?;
    }
    writeln!(
        out,
        "dec@0 / dec@full: decode tokens/s at an empty / full window; prefill: tokens/s from empty; window s: seconds to prefill the whole window."
    )?;
    Ok(())
}

/// The decode bar chart over machines.
pub fn decode_chart(title: &str, rows: &[MachineRow]) -> String {
    charts::bar_chart(
        title,
        "decode tokens/s at an empty context",
        &rows
            .iter()
            .map(|row| (row.id.clone(), row.decode_empty_tokens_per_second))
            .collect::<Vec<_>>(),
    )
}

/// Arguments of `headroom plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// A catalog model, a GGUF file, or a Hugging Face config.json.
    pub model: String,
    /// Context window; default: the model's trained context.
    #[arg(long, short = 'c', value_parser = super::parse_tokens)]
    pub context: Option<u64>,
    /// Only machines with a catalogued price at or under this many USD.
    #[arg(long)]
    pub budget: Option<f64>,
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
struct PlanReport {
    model: String,
    source: String,
    context_tokens: u64,
    budget_usd: Option<f64>,
    left_out_without_price: Vec<String>,
    machines: Vec<MachineRow>,
}

/// Runs `headroom plan`.
pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let model = load_model(&args.model, &args.quant)?;
    let kv_type = TensorType::from_name(&args.kv_type)
        .with_context(|| format!("unknown --kv-type `{}`", args.kv_type))?;
    let context = args.context.unwrap_or(model.spec.context_length_trained);
    if let Some(note) = super::speed::context_placeholder_note(&model.spec, args.context) {
        eprintln!("note: {note}");
    }
    let mut rows = Vec::new();
    let mut left_out = Vec::new();
    for hardware in headroom_core::hardware::hardware() {
        if let Some(budget) = args.budget {
            match hardware.price.as_ref() {
                Some(price) if price.usd <= budget => {}
                Some(_) => continue,
                None => {
                    left_out.push(hardware.id.clone());
                    continue;
                }
            }
        }
        rows.push(machine_row(&model, hardware, context, kv_type)?);
    }
    // Fitting machines first, then by decode speed with the window full.
    rows.sort_by(|a, b| {
        b.fits.cmp(&a.fits).then(
            b.decode_full_tokens_per_second
                .total_cmp(&a.decode_full_tokens_per_second),
        )
    });
    let report = PlanReport {
        model: model
            .spec
            .name
            .clone()
            .unwrap_or_else(|| model.spec.architecture.clone()),
        source: model.source.clone(),
        context_tokens: context,
        budget_usd: args.budget,
        left_out_without_price: left_out,
        machines: rows,
    };
    if let Some(path) = &args.html {
        let table_rows: Vec<Vec<String>> = report
            .machines
            .iter()
            .map(|row| {
                vec![
                    row.id.clone(),
                    if row.fits { "yes" } else { "no" }.to_owned(),
                    signed_gib(row.headroom_bytes),
                    format!("{:.1}", row.decode_empty_tokens_per_second),
                    format!("{:.1}", row.decode_full_tokens_per_second),
                    format!("{:.0}", row.prefill_empty_tokens_per_second),
                    format!("{:.0}", row.window_prefill_seconds),
                    row.price_usd
                        .map_or_else(|| "-".to_owned(), |price| format!("{price:.0}")),
                ]
            })
            .collect();
        let fitting: Vec<MachineRow> = report
            .machines
            .iter()
            .filter(|row| row.fits)
            .cloned()
            .collect();
        let sections = vec![
            charts::Section {
                heading: "Decode speed per machine (machines that fit)".into(),
                text: format!(
                    "{} at a {}-token context.",
                    report.model,
                    output::count(context)
                ),
                markup: decode_chart("Decode tokens/s", &fitting),
            },
            charts::Section {
                heading: "Ranking".into(),
                text: String::new(),
                markup: charts::table(
                    &[
                        "machine",
                        "fits",
                        "headroom",
                        "decode@0",
                        "decode@full",
                        "prefill",
                        "window s",
                        "USD",
                    ],
                    &table_rows,
                ),
            },
        ];
        fs_err::write(
            path,
            charts::html_report(&format!("headroom plan: {}", report.model), &sections),
        )?;
    }
    if args.json {
        output::print_json(&report)?;
    } else {
        println!(
            "{} ({}) at {} tokens of context{}",
            report.model,
            report.source,
            output::count(context),
            args.budget
                .map_or_else(String::new, |budget| format!(", budget {budget:.0} USD"))
        );
        print_rows(&report.machines)?;
        if !report.left_out_without_price.is_empty() {
            println!(
                "left out (no catalogued price): {}",
                report.left_out_without_price.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
