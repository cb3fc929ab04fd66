//! `headroom inspect PATH`: the truth about a model from its GGUF header.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use headroom_core::spec::{AttentionKind, ModelSpec};
use headroom_gguf::{Array, GgufFile, Value, file_type_name};
use serde::Serialize;

use crate::output;

/// Arguments of `headroom inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// A GGUF file (a header-only or truncated download is fine).
    path: PathBuf,
    /// Print everything as JSON.
    #[arg(long)]
    json: bool,
    /// Dump every metadata key (long arrays summarised unless --full).
    #[arg(long)]
    metadata: bool,
    /// With --metadata: print long arrays in full.
    #[arg(long, requires = "metadata")]
    full: bool,
    /// List every tensor info: name, dimensions, type, data offset and size.
    #[arg(long, conflicts_with = "metadata")]
    tensors: bool,
}

#[derive(Debug, Serialize)]
struct TensorRow<'a> {
    name: &'a str,
    dimensions: &'a [u64],
    #[serde(rename = "type")]
    ggml_type: String,
    offset: u64,
    absolute_offset: u64,
    bytes: Option<u64>,
}

/// A value that is the same for every layer, or differs per layer.
#[derive(Debug, Serialize, PartialEq)]
#[serde(untagged)]
enum PerLayer {
    Uniform(u64),
    Layers(Vec<u64>),
}

impl PerLayer {
    fn describe(&self) -> String {
        match self {
            PerLayer::Uniform(value) => value.to_string(),
            PerLayer::Layers(values) => describe_runs(values),
        }
    }
}

/// "4 (layers 0-5), 0 (layers 6-7)": runs of equal values.
fn describe_runs(values: &[u64]) -> String {
    let mut runs: Vec<String> = Vec::new();
    let mut start = 0;
    for index in 1..=values.len() {
        if index == values.len() || values[index] != values[start] {
            let layers = if index - 1 == start {
                format!("layer {start}")
            } else {
                format!("layers {start}-{}", index - 1)
            };
            runs.push(format!("{} ({layers})", values[start]));
            start = index;
        }
    }
    runs.join(", ")
}

#[derive(Debug, Serialize)]
struct Report {
    path: String,
    gguf_version: u32,
    byte_order: headroom_gguf::ByteOrder,
    architecture: Option<String>,
    name: Option<String>,
    file_type: Option<String>,
    parameters: u64,
    active_parameters: Option<u64>,
    weight_bytes: u64,
    bits_per_weight: Option<f64>,
    tensor_count: usize,
    type_mix: Vec<headroom_gguf::TypeShare>,
    unknown_tensor_types: Vec<(String, u32)>,
    context_length: Option<u64>,
    layers: Option<u64>,
    embedding_length: Option<u64>,
    attention_heads: Option<PerLayer>,
    kv_heads: Option<PerLayer>,
    key_length: Option<u64>,
    value_length: Option<u64>,
    /// Sliding-window layers' head widths where they differ in kind (Gemma 4:
    /// `attention.key_length_swa` / `value_length_swa`).
    #[serde(skip_serializing_if = "Option::is_none")]
    key_length_swa: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_length_swa: Option<u64>,
    sliding_window: Option<u64>,
    sliding_window_pattern: Option<serde_json::Value>,
    experts: Option<u64>,
    experts_used: Option<u64>,
    /// `context_length` is convert_hf_to_gguf's 2^20 placeholder (models without RoPE).
    context_length_placeholder: bool,
    /// Layers grouped by what they attend with (from headroom's model spec).
    layer_kinds: Vec<LayerKind>,
    /// Why the layer kinds are missing, when the spec could not be built.
    spec_note: Option<String>,
    rope: serde_json::Map<String, serde_json::Value>,
    tokenizer_model: Option<String>,
    tokenizer_pre: Option<String>,
    vocabulary_size: Option<usize>,
    data_offset: u64,
    data_bytes: Option<u64>,
    file_size: Option<u64>,
    data_complete: Option<bool>,
    lossy_strings: u64,
}

fn per_layer(file: &GgufFile, key: &str) -> Option<PerLayer> {
    match file.get(key)? {
        Value::Array(array) => {
            let values = array.to_u64_vec()?;
            match values.first() {
                Some(&first) if values.iter().all(|&v| v == first) => {
                    Some(PerLayer::Uniform(first))
                }
                _ => Some(PerLayer::Layers(values)),
            }
        }
        other => other.as_u64().map(PerLayer::Uniform),
    }
}

#[derive(Debug, Serialize)]
struct LayerKind {
    kind: String,
    count: usize,
    layers: String,
}

/// "full attention: 8 layers (5, 11, 17, ...)": layers grouped by attention kind, in order of
/// first appearance.
fn layer_kinds(spec: &ModelSpec) -> Vec<LayerKind> {
    let mut kinds: Vec<(String, Vec<usize>)> = Vec::new();
    for (index, layer) in spec.layers.iter().enumerate() {
        let kind = match layer.attention {
            AttentionKind::Full => "full attention".to_string(),
            AttentionKind::SlidingWindow { window_tokens } => {
                format!("sliding window ({window_tokens} tokens)")
            }
            AttentionKind::Chunked { chunk_tokens } => {
                format!("chunked attention ({chunk_tokens} tokens)")
            }
            AttentionKind::Mla => "latent attention (MLA)".to_string(),
            AttentionKind::Recurrent => "recurrent state".to_string(),
            AttentionKind::None => "no attention".to_string(),
        };
        match kinds.iter_mut().find(|(existing, _)| *existing == kind) {
            Some((_, layers)) => layers.push(index),
            None => kinds.push((kind, vec![index])),
        }
    }
    kinds
        .into_iter()
        .map(|(kind, layers)| LayerKind {
            kind,
            count: layers.len(),
            layers: describe_indices(&layers),
        })
        .collect()
}

/// "0-47" or "5, 11, 17": consecutive runs collapsed.
fn describe_indices(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut start = 0;
    for position in 1..=indices.len() {
        if position == indices.len() || indices[position] != indices[position - 1] + 1 {
            parts.push(if position - 1 == start {
                indices[start].to_string()
            } else {
                format!("{}-{}", indices[start], indices[position - 1])
            });
            start = position;
        }
    }
    parts.join(", ")
}

fn build(path: &std::path::Path, file: &GgufFile) -> Report {
    let architecture = file.architecture().ok().map(str::to_string);
    let arch = architecture.clone().unwrap_or_default();
    let key = |suffix: &str| format!("{arch}.{suffix}");
    let u64_of = |suffix: &str| file.get_u64(&key(suffix)).ok();
    let experts = u64_of("expert_count");
    let experts_used = u64_of("expert_used_count");
    let spec = ModelSpec::from_gguf(file);
    let rope_prefix = key("rope.");
    let rope = file
        .metadata
        .iter()
        .filter(|(name, _)| name.starts_with(&rope_prefix))
        .filter_map(|(name, value)| {
            Some((
                name[rope_prefix.len()..].to_string(),
                serde_json::to_value(value).ok()?,
            ))
        })
        .collect();
    Report {
        path: path.display().to_string(),
        gguf_version: file.version,
        byte_order: file.byte_order,
        name: file.get_str("general.name").ok().map(str::to_string),
        file_type: file
            .get_u64("general.file_type")
            .ok()
            .map(|id| file_type_name(id).map_or_else(|| format!("unknown ({id})"), str::to_string)),
        parameters: file.parameter_count(),
        active_parameters: spec
            .as_ref()
            .ok()
            .and_then(|spec| spec.parameters)
            .filter(|counts| counts.active != counts.total)
            .map(|counts| counts.active),
        layer_kinds: spec.as_ref().map(layer_kinds).unwrap_or_default(),
        context_length_placeholder: spec
            .as_ref()
            .is_ok_and(ModelSpec::context_is_converter_placeholder),
        spec_note: spec.as_ref().err().map(ToString::to_string),
        weight_bytes: file.weight_bytes(),
        bits_per_weight: file.bits_per_weight(),
        tensor_count: file.tensors.len(),
        type_mix: file.type_mix(),
        unknown_tensor_types: file.unknown_types(),
        context_length: u64_of("context_length"),
        layers: u64_of("block_count"),
        embedding_length: u64_of("embedding_length"),
        attention_heads: per_layer(file, &key("attention.head_count")),
        kv_heads: per_layer(file, &key("attention.head_count_kv")),
        key_length: u64_of("attention.key_length"),
        value_length: u64_of("attention.value_length"),
        key_length_swa: u64_of("attention.key_length_swa"),
        value_length_swa: u64_of("attention.value_length_swa"),
        sliding_window: u64_of("attention.sliding_window"),
        sliding_window_pattern: file
            .get(&key("attention.sliding_window_pattern"))
            .and_then(|value| serde_json::to_value(value).ok()),
        experts,
        experts_used,
        rope,
        tokenizer_model: file
            .get_str("tokenizer.ggml.model")
            .ok()
            .map(str::to_string),
        tokenizer_pre: file.get_str("tokenizer.ggml.pre").ok().map(str::to_string),
        vocabulary_size: file.get_array("tokenizer.ggml.tokens").ok().map(Array::len),
        data_offset: file.data_offset,
        data_bytes: file.data_bytes(),
        file_size: file.file_size,
        data_complete: file.data_complete(),
        lossy_strings: file.lossy_strings,
        architecture,
    }
}

/// Runs `headroom inspect`.
pub fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let file = GgufFile::open(&args.path).context("cannot read the GGUF header")?;
    if args.metadata {
        return print_metadata(&file, args.json, args.full);
    }
    if args.tensors {
        return print_tensors(&file, args.json);
    }
    let report = build(&args.path, &file);
    if args.json {
        output::print_json(&report)?;
    } else {
        print_report(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &Report) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut line = |label: &str, value: String| writeln!(out, "{label:<22} {value}");
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".to_string());
    line("file", report.path.clone())?;
    line("architecture", or_dash(report.architecture.clone()))?;
    line("name", or_dash(report.name.clone()))?;
    let mut parameters = output::count(report.parameters);
    if let Some(active) = report.active_parameters {
        parameters.push_str(&format!(
            " total, {} active per token",
            output::count(active)
        ));
    }
    line("parameters", parameters)?;
    line("file type", or_dash(report.file_type.clone()))?;
    line(
        "weights",
        format!(
            "{} in {} tensors{}",
            output::bytes(report.weight_bytes),
            report.tensor_count,
            report
                .bits_per_weight
                .map(|bpw| format!(", {bpw:.2} bits per weight"))
                .unwrap_or_default()
        ),
    )?;
    for share in report.type_mix.iter().take(8) {
        line(
            "",
            format!(
                "{:<8} {:>5} tensors {:>14}",
                share.ggml_type.name(),
                share.tensors,
                share
                    .bytes
                    .map_or_else(|| "size unknown".to_string(), output::bytes)
            ),
        )?;
    }
    for (tensor, id) in &report.unknown_tensor_types {
        line(
            "unknown type",
            format!("tensor '{tensor}' has type id {id} (size unknown)"),
        )?;
    }
    line(
        "trained context",
        match report.context_length {
            Some(context) if report.context_length_placeholder => format!(
                "{} (convert_hf_to_gguf's placeholder for models without RoPE, not a trained window; llama.cpp uses it when no context is given)",
                output::count(context)
            ),
            other => or_dash(other.map(output::count)),
        },
    )?;
    line("layers", or_dash(report.layers.map(|v| v.to_string())))?;
    line(
        "embedding",
        or_dash(report.embedding_length.map(|v| v.to_string())),
    )?;
    line(
        "attention heads",
        or_dash(report.attention_heads.as_ref().map(PerLayer::describe)),
    )?;
    line(
        "KV heads",
        or_dash(report.kv_heads.as_ref().map(PerLayer::describe)),
    )?;
    line(
        "head dims (K, V)",
        match (report.key_length, report.value_length) {
            (None, None) => "-".to_string(),
            (k, v) => format!(
                "{}, {}",
                or_dash(k.map(|x| x.to_string())),
                or_dash(v.map(|x| x.to_string()))
            ),
        },
    )?;
    if report.key_length_swa.is_some() || report.value_length_swa.is_some() {
        line(
            "head dims, SWA",
            format!(
                "{}, {}",
                or_dash(report.key_length_swa.map(|x| x.to_string())),
                or_dash(report.value_length_swa.map(|x| x.to_string()))
            ),
        )?;
    }
    if let Some(window) = report.sliding_window {
        let pattern = report
            .sliding_window_pattern
            .as_ref()
            .map(|p| format!(", pattern {p}"))
            .unwrap_or_default();
        line("sliding window", format!("{window} tokens{pattern}"))?;
    }
    for kind in &report.layer_kinds {
        line(
            "layers by attention",
            format!("{}: {} ({})", kind.kind, kind.count, kind.layers),
        )?;
    }
    if let Some(note) = &report.spec_note {
        line("layer kinds", format!("unknown: {note}"))?;
    }
    if let Some(experts) = report.experts {
        line(
            "experts",
            format!(
                "{experts}, {} used per token",
                or_dash(report.experts_used.map(|v| v.to_string()))
            ),
        )?;
    }
    for (name, value) in &report.rope {
        line(&format!("rope {name}"), value.to_string())?;
    }
    line(
        "tokenizer",
        format!(
            "{} (pre {}), {} tokens",
            or_dash(report.tokenizer_model.clone()),
            or_dash(report.tokenizer_pre.clone()),
            or_dash(report.vocabulary_size.map(|v| output::count(v as u64)))
        ),
    )?;
    line(
        "tensor data",
        match report.data_complete {
            Some(true) => "complete".to_string(),
            Some(false) => format!(
                "incomplete: the file has {} of the {} the tensors need (header-only or truncated)",
                output::bytes(report.file_size.unwrap_or(0)),
                output::bytes(report.data_offset + report.data_bytes.unwrap_or(0))
            ),
            None => "unknown (a tensor has a type of unknown size)".to_string(),
        },
    )?;
    if report.lossy_strings > 0 {
        line(
            "warning",
            format!("{} strings were not valid UTF-8", report.lossy_strings),
        )?;
    }
    Ok(())
}

fn print_tensors(file: &GgufFile, json: bool) -> anyhow::Result<ExitCode> {
    let rows: Vec<TensorRow<'_>> = file
        .tensors
        .iter()
        .map(|tensor| TensorRow {
            name: &tensor.name,
            dimensions: &tensor.dimensions,
            ggml_type: tensor.ggml_type.name(),
            offset: tensor.offset,
            absolute_offset: file.data_offset.saturating_add(tensor.offset),
            bytes: tensor.byte_size(),
        })
        .collect();
    if json {
        output::print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    for row in rows {
        let dimensions: Vec<String> = row.dimensions.iter().map(u64::to_string).collect();
        writeln!(
            out,
            "{:<40} {:<8} {:>24} {:>12}",
            row.name,
            row.ggml_type,
            dimensions.join(" x "),
            row.bytes.map_or_else(|| "?".to_string(), output::bytes)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_metadata(file: &GgufFile, json: bool, full: bool) -> anyhow::Result<ExitCode> {
    const SHOWN: usize = 8;
    if json {
        let map: serde_json::Map<String, serde_json::Value> = file
            .metadata
            .iter()
            .map(|(key, value)| {
                let typed = serde_json::json!({ "type": value.type_name(), "value": value });
                (key.clone(), typed)
            })
            .collect();
        output::print_json(&map)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    for (key, value) in &file.metadata {
        let text = match value {
            Value::Array(array) if !full && array.len() > SHOWN => {
                let head = serde_json::to_value(array)?;
                let items: Vec<String> = head
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .take(SHOWN)
                            .map(|item| item.to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                format!("[{}, ... {} more]", items.join(", "), array.len() - SHOWN)
            }
            other => serde_json::to_string(other)?,
        };
        writeln!(out, "{key} ({}) = {text}", value.type_name())?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_collapse_into_runs() {
        assert_eq!(describe_indices(&[0, 1, 2, 5, 11, 12]), "0-2, 5, 11-12");
    }

    #[test]
    fn runs_are_described_compactly() {
        assert_eq!(
            describe_runs(&[4, 4, 0, 0, 4]),
            "4 (layers 0-1), 0 (layers 2-3), 4 (layer 4)"
        );
    }
}
