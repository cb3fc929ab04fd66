//! Fits the efficiency factors on ../shared/truth/measured-throughput.csv and measures the
//! speed model's error on it.
//!
//! Method: every usable row becomes a model (catalog architecture scaled to the row's file size,
//! or the row's own parameter counts at depth 0) on a machine (catalog bandwidth and FP16
//! figures, every layer on the accelerator as llama-bench `-ngl 99` ran). With unit efficiencies
//! the model gives, for a decoded token, the bandwidth time of its weight and state reads `t_w`
//! and of its KV-cache reads `t_kv` and its block count `L`, and for a prefill batch the compute
//! times of the weights `t_w` and of attention `t_a`. The fit solves, by least squares on
//! relative error, `1/tg = (t_w + r·t_kv) / e_decode + L·o` (`r`: the KV read scale over the
//! weight read scale, identified per device class and per backend from their deep-context rows,
//! else inherited, the global value being the median of the classes; `o`: the per-layer
//! overhead of a token, kernel launches and synchronisation; `e_decode` at most 1, peak
//! bandwidth) and `n/pp = t_w / e_weights + t_a / e_attention` per group (device class ×
//! backend, and × weight format where a backend's rows mix block-quantized, F16 and BF16 files,
//! which run different kernels), with fallbacks for small groups (fewer than 4 rows: overhead and
//! the attention/weights ratio come from the parent, up to the global fit). Errors are reported
//! leave-one-out: each row is predicted by factors refitted without it (every level of the
//! hierarchy refitted), through the full model (the memory-bound prefill floor included).

use std::collections::BTreeMap;

use super::efficiency::{
    Backend, DeviceClass, EfficiencyFactors, EfficiencyTable, Provenance, WeightFormat,
    fallback_keys,
};
use super::{MachineModel, ModelProfile, SpeedModel};
use crate::hardware::{GpuShare, HardwareBuilder};
use crate::memory::ModelWeights;
use crate::quant::{FileType, TensorType};
use crate::spec::ModelSpec;

/// The mapping file, `crates/headroom-core/data/speed-truth-map.toml`.
pub const TRUTH_MAP_TOML: &str = include_str!("../../data/speed-truth-map.toml");

/// The command that regenerates `data/efficiency.toml` and the BENCHMARKS.md table.
pub const FIT_COMMAND: &str = "cargo run -p headroom-core --example speed_fit -- --write";

/// Fewer rows than this in a group: overhead and attention ratio come from the parent.
const MIN_GROUP_ROWS_FOR_TWO_PARAMETERS: usize = 4;

/// Errors of the fit.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// The mapping file did not parse.
    #[error("data/speed-truth-map.toml: {0}")]
    Map(#[from] toml::de::Error),
    /// The CSV is malformed.
    #[error("{path}: line {line}: {problem}")]
    Csv {
        /// File.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// A mapping names a machine or model the catalog lacks.
    #[error("data/speed-truth-map.toml: `{name}` is not in the {catalog} catalog")]
    UnknownCatalogEntry {
        /// The id.
        name: String,
        /// Which catalog.
        catalog: &'static str,
    },
}

#[derive(Debug, serde::Deserialize)]
struct TruthMap {
    hardware: Vec<HardwareMapping>,
    model: Vec<ModelMapping>,
}

#[derive(Debug, serde::Deserialize)]
struct HardwareMapping {
    truth: String,
    hardware: Option<String>,
    chip: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct ModelMapping {
    truth: String,
    model: String,
}

/// One usable measurement.
#[derive(Debug, Clone)]
pub struct FitRow {
    /// 1-based CSV line.
    pub line: usize,
    /// Hardware as the CSV writes it.
    pub hardware: String,
    /// Model as the CSV writes it.
    pub model: String,
    /// Group.
    pub class: DeviceClass,
    /// Backend.
    pub backend: Backend,
    /// How the measured file stores its weights.
    pub weights: WeightFormat,
    /// The speed model with unit efficiencies (factors are set per evaluation).
    pub speed: SpeedModel,
    /// Measured decode tokens/s and the depth it ran at.
    pub decode: Option<(f64, u64)>,
    /// Measured prefill tokens/s, prompt tokens and starting depth.
    pub prefill: Option<(f64, u64, u64)>,
}

/// Rows read from the CSV, and the reasons others were left out.
#[derive(Debug, Clone)]
pub struct TruthRows {
    /// Usable rows.
    pub rows: Vec<FitRow>,
    /// Rows in the file.
    pub total_rows: u64,
    /// Reason -> count.
    pub excluded: BTreeMap<String, u64>,
}

/// Splits one CSV record (RFC 4180 quoting; records do not span lines in the truth files).
pub fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut characters = line.chars().peekable();
    while let Some(character) = characters.next() {
        match (quoted, character) {
            (true, '"') if characters.peek() == Some(&'"') => {
                field.push('"');
                characters.next();
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (_, other) => field.push(other),
        }
    }
    if quoted {
        return Err("unterminated quoted field".to_owned());
    }
    fields.push(field);
    Ok(fields)
}

fn number_after(text: &str, prefix: &str) -> Option<u64> {
    let start = text.find(prefix)? + prefix.len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The weight format a quantization label names: labels that are no llama.cpp file type
/// (Unsloth's dynamic `UD-Q4_K_XL` mixes and the like) are block-quantized too.
fn weight_format_of(quant: &str) -> WeightFormat {
    file_type_of(quant).map_or(WeightFormat::Quantized, WeightFormat::of_file_type)
}

fn file_type_of(quant: &str) -> Option<FileType> {
    let first = quant.split_whitespace().next()?;
    let name = first
        .trim_start_matches("UD-")
        .trim_start_matches("i1-")
        .trim_start_matches("ud-");
    if name.eq_ignore_ascii_case("MXFP4") {
        return Some(FileType::Mxfp4_Moe);
    }
    FileType::from_name(name)
}

/// Spec and weights of a catalog model at a file type: planned tensor by tensor where the
/// architecture's layout is known, otherwise `approximate_bytes` spread over the layers with the
/// catalog's parameter counts. `None` when the config does not parse (or no size is known).
pub fn catalog_model(
    id: &str,
    file_type: FileType,
    approximate_bytes: Option<u64>,
    fallback_parameters: Option<(u64, u64)>,
) -> Option<(ModelSpec, ModelWeights)> {
    let model = crate::catalog::find(id)?;
    let mut spec = ModelSpec::from_config(&model.config).ok()?;
    spec.name = Some(model.name.clone());
    if let Ok(tensors) = crate::tensors::quantized_tensors(&spec, file_type) {
        spec.parameters = Some(crate::tensors::parameter_counts(&spec, &tensors));
        return Some((spec, ModelWeights::from_plan(&tensors)));
    }
    let (total, active) = match &model.parameters_total {
        Some(total) => (
            total.count,
            model
                .parameters_active
                .as_ref()
                .map_or(total.count, |count| count.count),
        ),
        None => fallback_parameters?,
    };
    spec.parameters = Some(crate::spec::ParameterCounts { total, active });
    Some((spec, ModelWeights::approximate(approximate_bytes?)))
}

fn unit_factors(class: DeviceClass, backend: Backend) -> EfficiencyFactors {
    EfficiencyFactors {
        class,
        backend,
        weights: WeightFormat::Any,
        decode_bandwidth_efficiency: 1.0,
        decode_kv_efficiency: 1.0,
        decode_layer_overhead_seconds: 0.0,
        prefill_weight_efficiency: 1.0,
        prefill_moe_weight_efficiency: 1.0,
        prefill_attention_efficiency: 1.0,
        decode_rows: 0,
        prefill_rows: 0,
        decode_median_error: None,
        decode_worst_error: None,
        prefill_median_error: None,
        prefill_worst_error: None,
    }
}

/// Reads and maps the truth CSV.
pub fn read_truth(path: &str, text: &str) -> Result<TruthRows, FitError> {
    let map: TruthMap = toml::from_str(TRUTH_MAP_TOML)?;
    let mut lines = text.lines().enumerate();
    let header = lines
        .next()
        .map(|(_, line)| csv_fields(line))
        .transpose()
        .map_err(|problem| FitError::Csv {
            path: path.to_owned(),
            line: 1,
            problem,
        })?
        .unwrap_or_default();
    let column = |name: &str| {
        header
            .iter()
            .position(|field| field == name)
            .ok_or_else(|| FitError::Csv {
                path: path.to_owned(),
                line: 1,
                problem: format!("no `{name}` column"),
            })
    };
    let [
        hardware_column,
        backend_column,
        model_column,
        total_column,
        active_column,
        quant_column,
        weights_column,
        depth_column,
        pp_column,
        tg_column,
        notes_column,
    ] = [
        "hardware",
        "backend",
        "model",
        "params_total_b",
        "params_active_b",
        "quant",
        "weights_gb",
        "context_depth",
        "pp_tps",
        "tg_tps",
        "notes",
    ]
    .map(column);
    let columns = [
        hardware_column?,
        backend_column?,
        model_column?,
        total_column?,
        active_column?,
        quant_column?,
        weights_column?,
        depth_column?,
        pp_column?,
        tg_column?,
        notes_column?,
    ];
    let mut rows = Vec::new();
    let mut excluded: BTreeMap<String, u64> = BTreeMap::new();
    let mut total_rows = 0;
    let mut exclude = |reason: &str| *excluded.entry(reason.to_owned()).or_default() += 1;
    for (index, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        total_rows += 1;
        let line_number = index + 1;
        let fields = csv_fields(line).map_err(|problem| FitError::Csv {
            path: path.to_owned(),
            line: line_number,
            problem,
        })?;
        let field = |position: usize| -> &str {
            fields
                .get(columns[position])
                .map_or("", |value| value.as_str())
        };
        let number = |position: usize| -> Result<Option<f64>, FitError> {
            let text = field(position).trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<f64>().map(Some).map_err(|_| FitError::Csv {
                path: path.to_owned(),
                line: line_number,
                problem: format!(
                    "`{text}` in column {} is not a number",
                    header[columns[position]]
                ),
            })
        };
        let (hardware_name, backend_text, model_name, quant, notes) =
            (field(0), field(1), field(2), field(5), field(10));
        if notes.contains("batch=32") {
            exclude("aggregate throughput of 32 parallel sequences (not per user)");
            continue;
        }
        if backend_text.starts_with("Ollama") {
            exclude("Ollama rows: quantization not pinned, file size unknown");
            continue;
        }
        let Some(mapping) = map
            .hardware
            .iter()
            .find(|entry| entry.truth == hardware_name)
        else {
            exclude("hardware not in the catalog (bandwidth unsourced here)");
            continue;
        };
        let Some(backend) = Backend::from_name(backend_text) else {
            exclude("backend not recognised");
            continue;
        };
        let mut machine = match (&mapping.hardware, &mapping.chip) {
            (Some(id), _) => {
                let hardware = crate::hardware::find_hardware(id).ok_or_else(|| {
                    FitError::UnknownCatalogEntry {
                        name: id.clone(),
                        catalog: "hardware",
                    }
                })?;
                MachineModel::new(hardware, Some(backend), None, None)
            }
            (None, Some(id)) => {
                let chip = crate::hardware::find_chip(id).ok_or_else(|| {
                    FitError::UnknownCatalogEntry {
                        name: id.clone(),
                        catalog: "chip",
                    }
                })?;
                let hardware = HardwareBuilder::new(chip.name.clone())
                    .unified(true)
                    .gpu_share(GpuShare::All)
                    .memory_bytes(1 << 40)
                    .bandwidth_bytes_per_second(chip.bandwidth_bytes_per_second)
                    .build()
                    .map_err(|_| FitError::UnknownCatalogEntry {
                        name: id.clone(),
                        catalog: "chip",
                    })?;
                MachineModel::new(
                    &hardware,
                    Some(backend),
                    Some(DeviceClass::AppleSilicon),
                    None,
                )
            }
            (None, None) => {
                exclude("mapping names neither hardware nor chip");
                continue;
            }
        };
        // llama-bench ran every layer on the accelerator (-ngl 99): no spill in the fit.
        for bytes in &mut machine.device_memory_bytes {
            *bytes = u64::MAX / 8;
        }
        let depth = number(7)?.unwrap_or(0.0) as u64;
        let weights_bytes = number(6)?.map(|gigabytes| (gigabytes * 1e9) as u64);
        let model_mapping = map.model.iter().find(|entry| {
            model_name
                .to_ascii_lowercase()
                .starts_with(&entry.truth.to_ascii_lowercase())
        });
        let file_type = file_type_of(quant);
        let mut block_count_unknown = false;
        let profile = match model_mapping {
            Some(entry) => {
                let csv_parameters = match (number(3)?, number(4)?) {
                    (Some(total), Some(active)) => {
                        Some(((total * 1e9) as u64, (active * 1e9) as u64))
                    }
                    _ => None,
                };
                let Some((spec, weights)) = catalog_model(
                    &entry.model,
                    file_type.unwrap_or(FileType::Q4_K_M),
                    weights_bytes,
                    csv_parameters,
                ) else {
                    exclude(
                        "catalog model not readable (config unsupported, or no layout and no file size)",
                    );
                    continue;
                };
                let profile = ModelProfile::new(&spec, &weights, TensorType::F16);
                match (weights_bytes, file_type) {
                    (Some(bytes), _) => profile.scaled_to(bytes),
                    (None, Some(_)) => profile,
                    (None, None) => {
                        exclude("file size unknown and quantization not a llama.cpp file type");
                        continue;
                    }
                }
            }
            None => {
                if depth > 0 {
                    exclude("model architecture not in the catalog, row at depth > 0");
                    continue;
                }
                let (Some(bytes), Some(total), Some(active)) =
                    (weights_bytes, number(3)?, number(4)?)
                else {
                    exclude("model not in the catalog and file size or parameters unknown");
                    continue;
                };
                // Only a config gives the block count the per-layer decode overhead needs.
                block_count_unknown = true;
                generic_profile(model_name, bytes, total, active)
            }
        };
        let class = machine.class;
        let weights = weight_format_of(quant);
        let profile = ModelProfile {
            weight_format: weights,
            ..profile
        };
        let mut speed = SpeedModel::new(profile, machine, 0);
        speed.factors = unit_factors(class, backend);
        // llama-bench's -ub (default 512, common/common.h n_ubatch).
        speed.ubatch_tokens = number_after(backend_text, "-ub ").unwrap_or(512);
        let batched = backend_text.contains("batched-bench");
        let prompt_tokens = number_after(notes, "PP=")
            .filter(|_| batched)
            .or_else(|| number_after(notes, "pp"))
            .unwrap_or(512);
        let generated_tokens = number_after(notes, "tg").unwrap_or(128);
        // batched-bench: the prompt starts at 0 and generation follows it.
        let prefill_depth = if batched { 0 } else { depth };
        let decode_depth = if batched {
            prompt_tokens + generated_tokens / 2
        } else {
            depth + generated_tokens / 2
        };
        speed.ubatch_tokens = speed.ubatch_tokens.min(prompt_tokens).max(1);
        let mut decode = number(9)?.map(|rate| (rate, decode_depth));
        if decode.is_some() && block_count_unknown {
            // The per-layer decode overhead needs the block count.
            exclude("decode rate of a model outside the catalog (its block count is unknown)");
            decode = None;
        }
        let prefill = number(8)?.map(|rate| (rate, prompt_tokens, prefill_depth));
        if decode.is_none() && prefill.is_none() {
            exclude("no rate");
            continue;
        }
        rows.push(FitRow {
            line: line_number,
            hardware: hardware_name.to_owned(),
            model: model_name.to_owned(),
            class,
            backend,
            weights,
            speed,
            decode,
            prefill,
        });
    }
    Ok(TruthRows {
        rows,
        total_rows,
        excluded,
    })
}

/// A one-block stand-in for a model known only by its parameter counts and file size (good for
/// prefill at depth 0; its decode rows are left out, the block count being unknown).
fn generic_profile(
    name: &str,
    bytes: u64,
    total_billions: f64,
    active_billions: f64,
) -> ModelProfile {
    let fraction = if total_billions > 0.0 {
        active_billions / total_billions
    } else {
        1.0
    };
    ModelProfile {
        name: name.to_owned(),
        weight_bytes: bytes,
        unloaded_bytes: 0,
        outside_read_bytes: 0,
        outside_weight_bytes: 0,
        layers: vec![super::LayerTraffic {
            weight_bytes: bytes,
            read_bytes: bytes as f64 * fraction,
            prefill_touched_bytes: bytes,
            kv_bytes_per_token: 0,
            window_tokens: None,
            attention_flops_per_pair: 0,
        }],
        active_parameters: (active_billions * 1e9) as u64,
        total_parameters: (total_billions * 1e9) as u64,
        recurrent_state_bytes: 0,
        embedding_length: 0,
        weight_format: WeightFormat::Any,
    }
}

/// Unit-efficiency times of a row.
struct Features {
    /// Weight and state bandwidth seconds per token, KV-cache bandwidth seconds per token,
    /// layers, measured seconds per token.
    decode: Option<[f64; 4]>,
    /// (dense-model weight seconds, mixture-of-experts weight seconds, attention seconds,
    /// measured seconds) for the measured prompt.
    prefill: Option<[f64; 4]>,
}

fn features(row: &FitRow) -> Features {
    let decode = row.decode.map(|(rate, depth)| {
        let mut weights_only = row.speed.clone();
        weights_only.factors.decode_kv_efficiency = f64::INFINITY;
        let mut kv_only = row.speed.clone();
        kv_only.factors.decode_bandwidth_efficiency = f64::INFINITY;
        [
            weights_only.decode_seconds_per_token(depth),
            kv_only.decode_seconds_per_token(depth),
            row.speed.profile.layers.len() as f64,
            1.0 / rate,
        ]
    });
    let moe = row.speed.profile.is_mixture_of_experts();
    let prefill = row.prefill.map(|(rate, tokens, depth)| {
        let mut weights_only = row.speed.clone();
        weights_only.factors.prefill_attention_efficiency = f64::INFINITY;
        weights_only.factors.decode_bandwidth_efficiency = f64::INFINITY;
        weights_only.factors.decode_kv_efficiency = f64::INFINITY;
        let mut attention_only = row.speed.clone();
        attention_only.factors.prefill_weight_efficiency = f64::INFINITY;
        attention_only.factors.prefill_moe_weight_efficiency = f64::INFINITY;
        attention_only.factors.decode_bandwidth_efficiency = f64::INFINITY;
        attention_only.factors.decode_kv_efficiency = f64::INFINITY;
        let weights = weights_only.prefill_seconds(depth, tokens);
        [
            if moe { 0.0 } else { weights },
            if moe { weights } else { 0.0 },
            attention_only.prefill_seconds(depth, tokens),
            tokens as f64 / rate,
        ]
    });
    Features { decode, prefill }
}

/// Solves the weighted least squares Σ_i (Σ_j c_j·x_ij/t_i − 1)² for c (at most 4 unknowns,
/// Gaussian elimination with partial pivoting); `None` when singular.
fn least_squares(rows: &[(Vec<f64>, f64)]) -> Option<Vec<f64>> {
    let size = rows.first()?.0.len();
    let mut matrix = vec![vec![0.0; size + 1]; size];
    for (features, measured) in rows {
        let scaled: Vec<f64> = features.iter().map(|value| value / measured).collect();
        for row in 0..size {
            for column in 0..size {
                matrix[row][column] += scaled[row] * scaled[column];
            }
            matrix[row][size] += scaled[row];
        }
    }
    for pivot in 0..size {
        let best = (pivot..size)
            .max_by(|&a, &b| matrix[a][pivot].abs().total_cmp(&matrix[b][pivot].abs()))?;
        matrix.swap(pivot, best);
        let diagonal = matrix[pivot][pivot];
        if diagonal.abs() < 1e-300 {
            return None;
        }
        let pivot_row = matrix[pivot].clone();
        for (index, row) in matrix.iter_mut().enumerate() {
            if index != pivot {
                let factor = row[pivot] / diagonal;
                for (value, pivot_value) in row.iter_mut().zip(&pivot_row).skip(pivot) {
                    *value -= factor * pivot_value;
                }
            }
        }
    }
    let solution: Vec<f64> = (0..size)
        .map(|row| matrix[row][size] / matrix[row][row])
        .collect();
    solution
        .iter()
        .all(|value| value.is_finite())
        .then_some(solution)
}

/// Dimensionless ratios used when a group cannot identify a coefficient itself:
/// MoE weight scale / dense weight scale, attention scale / dense weight scale (scale = 1/efficiency),
/// and for decode, KV-cache read scale / weight read scale.
#[derive(Debug, Clone, Copy)]
struct Ratios {
    moe: f64,
    attention: f64,
    kv: f64,
}

#[derive(Debug, Clone, Copy)]
struct Coefficients {
    /// 1 / decode efficiency (weights).
    decode_scale: f64,
    /// 1 / decode efficiency reading the KV cache.
    kv_scale: f64,
    /// Seconds per layer per token.
    decode_overhead: f64,
    /// 1 / dense weight efficiency.
    dense_scale: f64,
    /// 1 / MoE weight efficiency.
    moe_scale: f64,
    /// 1 / attention efficiency.
    attention_scale: f64,
    /// Ratios this group identified itself (None = inherited): MoE, attention, KV.
    identified: (Option<f64>, Option<f64>, Option<f64>),
    decode_rows: usize,
    prefill_rows: usize,
}

impl Coefficients {
    fn ratios(&self, inherited: Ratios) -> Ratios {
        Ratios {
            moe: self.identified.0.unwrap_or(inherited.moe),
            attention: self.identified.1.unwrap_or(inherited.attention),
            kv: self.identified.2.unwrap_or(inherited.kv),
        }
    }
}

/// Rows whose KV-cache time is at least this share of their weight time inform the KV ratio.
const DEEP_DECODE_SHARE: f64 = 0.2;

/// The KV read scale over the weight read scale, when the rows identify it: at least 3 deep rows
/// and 5 in all, both scales positive.
fn decode_kv_ratio(decode: &[[f64; 4]]) -> Option<f64> {
    let deep = decode
        .iter()
        .filter(|row| row[1] >= DEEP_DECODE_SHARE * row[0])
        .count();
    if deep < 3 || decode.len() < 5 {
        return None;
    }
    let rows: Vec<(Vec<f64>, f64)> = decode
        .iter()
        .map(|row| (vec![row[0], row[1], row[2]], row[3]))
        .collect();
    let solution = least_squares(&rows)?;
    (solution[0] > 0.0 && solution[1] > 0.0 && solution[2] >= 0.0)
        .then(|| solution[1] / solution[0])
}

/// (weight scale, per-layer overhead) with the KV scale tied to the weight scale by `kv_ratio`.
fn fit_decode(
    decode: &[[f64; 4]],
    parent: Option<&Coefficients>,
    kv_ratio: f64,
) -> Option<(f64, f64)> {
    let bandwidth_time = |row: &[f64; 4]| row[0] + kv_ratio * row[1];
    if decode.len() >= MIN_GROUP_ROWS_FOR_TWO_PARAMETERS || parent.is_none() {
        let rows: Vec<(Vec<f64>, f64)> = decode
            .iter()
            .map(|row| (vec![bandwidth_time(row), row[2]], row[3]))
            .collect();
        if let Some(solution) = least_squares(&rows)
            && solution[0] > 0.0
            && solution[1] >= 0.0
        {
            if solution[0] >= 1.0 {
                return Some((solution[0], solution[1]));
            }
            // Faster than peak bandwidth: the rows cannot tell bandwidth from overhead (too
            // few block counts). Hold the efficiency at the physical bound and fit the overhead.
            let rows: Vec<(Vec<f64>, f64)> = decode
                .iter()
                .filter(|row| row[3] > bandwidth_time(row))
                .map(|row| (vec![row[2]], row[3] - bandwidth_time(row)))
                .collect();
            if let Some(overhead) = least_squares(&rows)
                && overhead[0] >= 0.0
            {
                return Some((1.0, overhead[0]));
            }
        }
    }
    // One parameter: the per-layer overhead is the parent's (or none).
    let overhead = parent.map_or(0.0, |parent| parent.decode_overhead);
    let rows: Vec<(Vec<f64>, f64)> = decode
        .iter()
        .filter(|row| row[3] > overhead * row[2])
        .map(|row| (vec![bandwidth_time(row)], row[3] - overhead * row[2]))
        .collect();
    match least_squares(&rows) {
        // Never faster than peak bandwidth (scale below 1), here either.
        Some(solution) if solution[0] > 0.0 => Some((solution[0].max(1.0), overhead)),
        _ => parent.map(|parent| (parent.decode_scale, parent.decode_overhead)),
    }
}

/// Fits (dense, moe, attention) scales; parameters a group cannot identify are tied to the
/// dense scale by `ratios`.
/// (dense, moe, attention) scales and the (moe, attention) ratios identified.
type PrefillFit = (f64, f64, f64, (Option<f64>, Option<f64>));

/// (measured, in-sample, leave-one-out) of one phase of one row.
type Triple = Option<(f64, f64, f64)>;

fn fit_prefill(prefill: &[[f64; 4]], ratios: Ratios) -> Option<PrefillFit> {
    let dense_rows = prefill.iter().filter(|row| row[0] > 0.0).count();
    let moe_rows = prefill.iter().filter(|row| row[1] > 0.0).count();
    let deep_rows = prefill
        .iter()
        .filter(|row| row[2] > 0.1 * (row[0] + row[1]))
        .count();
    let mut free = [
        dense_rows >= 2,
        moe_rows >= 2,
        deep_rows >= 3 && prefill.len() >= MIN_GROUP_ROWS_FOR_TWO_PARAMETERS,
    ];
    loop {
        // The anchor carries every tied parameter.
        let anchor_is_moe = !free[0] && free[1];
        // Tied scales as multiples of the anchor's scale.
        let to_anchor = |parameter: usize| -> f64 {
            let relative_to_dense = match parameter {
                0 => 1.0,
                1 => ratios.moe,
                _ => ratios.attention,
            };
            if anchor_is_moe {
                relative_to_dense / ratios.moe
            } else {
                relative_to_dense
            }
        };
        let anchor = usize::from(anchor_is_moe);
        let columns: Vec<usize> = (0..3)
            .filter(|&parameter| parameter == anchor || free[parameter])
            .collect();
        let rows: Vec<(Vec<f64>, f64)> = prefill
            .iter()
            .map(|row| {
                let features = columns
                    .iter()
                    .map(|&column| {
                        if column == anchor {
                            (0..3)
                                .filter(|&parameter| parameter == anchor || !free[parameter])
                                .map(|parameter| row[parameter] * to_anchor(parameter))
                                .sum()
                        } else {
                            row[column]
                        }
                    })
                    .collect();
                (features, row[3])
            })
            .collect();
        let solution = least_squares(&rows)?;
        if let Some(position) = columns
            .iter()
            .zip(&solution)
            .position(|(&column, &value)| column != anchor && value <= 0.0)
        {
            free[columns[position]] = false;
            continue;
        }
        let anchor_scale = solution[0];
        if anchor_scale <= 0.0 {
            return None;
        }
        let scale = |parameter: usize| {
            columns
                .iter()
                .position(|&column| column == parameter && column != anchor)
                .map_or(anchor_scale * to_anchor(parameter), |index| solution[index])
        };
        let (dense, moe, attention) = (scale(0), scale(1), scale(2));
        let identified = (
            (free[0] && free[1]).then(|| moe / dense),
            free[2].then(|| attention / dense),
        );
        return Some((dense, moe, attention, identified));
    }
}

/// An entry's key: device class, backend, weight format (`Any` where the entry covers all).
type GroupKey = (DeviceClass, Backend, WeightFormat);

/// Rows whose relative residual exceeds this many times the median (and 50 %) are left out of
/// a second, final fit: one bad row (the truth file's A100 SXM F16 prefill of 604 tokens/s
/// against 7,741 on the PCIe card) must not drag a whole class. Every row is still evaluated.
const OUTLIER_RESIDUAL_OVER_MEDIAN: f64 = 3.0;

fn trimmed<T: Copy>(rows: &[T], residual: impl Fn(&T) -> f64) -> Option<Vec<T>> {
    let residuals: Vec<f64> = rows.iter().map(&residual).collect();
    let threshold = (median(residuals.clone())? * OUTLIER_RESIDUAL_OVER_MEDIAN).max(0.5);
    let kept: Vec<T> = rows
        .iter()
        .zip(&residuals)
        .filter(|(_, value)| **value <= threshold)
        .map(|(row, _)| *row)
        .collect();
    (kept.len() < rows.len() && kept.len() >= 2).then_some(kept)
}

/// Fits one level. `identify_kv`: the level may identify its own KV ratio (classes and backend
/// groups do; the global fit takes the median of the classes', weight-format groups their
/// backend's).
fn fit_coefficients(
    rows: &[&Features],
    parent: Option<&Coefficients>,
    ratios: Ratios,
    identify_kv: bool,
) -> Option<Coefficients> {
    let decode: Vec<[f64; 4]> = rows.iter().filter_map(|f| f.decode).collect();
    let prefill: Vec<[f64; 4]> = rows.iter().filter_map(|f| f.prefill).collect();
    // One row cannot tell efficiency from noise: such a group takes its parent's entry.
    if decode.len() < 2 && prefill.len() < 2 {
        return None;
    }
    let kv_identified = if identify_kv {
        decode_kv_ratio(&decode)
    } else {
        None
    };
    let kv_ratio = kv_identified.unwrap_or(ratios.kv);
    let (mut decode_scale, mut decode_overhead) = fit_decode(&decode, parent, kv_ratio)?;
    if let Some(kept) = trimmed(&decode, |row| {
        ((decode_scale * (row[0] + kv_ratio * row[1]) + decode_overhead * row[2]) / row[3] - 1.0)
            .abs()
    }) && let Some(refit) = fit_decode(&kept, parent, kv_ratio)
    {
        (decode_scale, decode_overhead) = refit;
    }
    let mut prefill_fit = fit_prefill(&prefill, ratios);
    if let Some((dense, moe, attention, _)) = prefill_fit
        && let Some(kept) = trimmed(&prefill, |row| {
            ((dense * row[0] + moe * row[1] + attention * row[2]) / row[3] - 1.0).abs()
        })
        && let Some(refit) = fit_prefill(&kept, ratios)
    {
        prefill_fit = Some(refit);
    }
    let (dense_scale, moe_scale, attention_scale, (moe_ratio, attention_ratio)) = match prefill_fit
    {
        Some(fit) => fit,
        None => {
            let parent = parent?;
            (
                parent.dense_scale,
                parent.moe_scale,
                parent.attention_scale,
                (None, None),
            )
        }
    };
    Some(Coefficients {
        decode_scale,
        kv_scale: decode_scale * kv_ratio,
        decode_overhead,
        dense_scale,
        moe_scale,
        attention_scale,
        identified: (moe_ratio, attention_ratio, kv_identified),
        decode_rows: decode.len(),
        prefill_rows: prefill.len(),
    })
}

fn to_factors(key: GroupKey, coefficients: Coefficients) -> EfficiencyFactors {
    let (class, backend, weights) = key;
    EfficiencyFactors {
        class,
        backend,
        weights,
        decode_bandwidth_efficiency: round(1.0 / coefficients.decode_scale),
        decode_kv_efficiency: round(1.0 / coefficients.kv_scale),
        decode_layer_overhead_seconds: round(coefficients.decode_overhead),
        prefill_weight_efficiency: round(1.0 / coefficients.dense_scale),
        prefill_moe_weight_efficiency: round(1.0 / coefficients.moe_scale),
        prefill_attention_efficiency: round(1.0 / coefficients.attention_scale),
        decode_rows: coefficients.decode_rows as u64,
        prefill_rows: coefficients.prefill_rows as u64,
        decode_median_error: None,
        decode_worst_error: None,
        prefill_median_error: None,
        prefill_worst_error: None,
    }
}

/// Rounds to 4 significant digits, so the written file is stable and readable.
fn round(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let magnitude = value.abs().log10().floor() as i32;
    let factor = 10f64.powi(3 - magnitude);
    (value * factor).round() / factor
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// Fits the hierarchy global → class → (class, backend) over the rows `keep` allows.
///
/// Ratios a group cannot identify (MoE vs dense weights, attention vs weights) are the median
/// of the classes that do identify them; the global prefill entry is fitted on the classes whose
/// prefill basis is FLOP/s only (the bases do not mix).
fn fit_hierarchy(
    rows: &[FitRow],
    features: &[Features],
    keep: &dyn Fn(usize) -> bool,
) -> BTreeMap<GroupKey, Coefficients> {
    let mut fitted = BTreeMap::new();
    let select = |filter: &dyn Fn(&FitRow) -> bool| -> Vec<&Features> {
        rows.iter()
            .zip(features)
            .enumerate()
            .filter(|(index, (row, _))| keep(*index) && filter(row))
            .map(|(_, (_, features))| features)
            .collect()
    };
    let classes: std::collections::BTreeSet<DeviceClass> =
        rows.iter().map(|row| row.class).collect();
    let neutral = Ratios {
        moe: 1.0,
        attention: 1.0,
        kv: 1.0,
    };
    // Pass 1: the ratios classes identify on their own.
    let mut moe_ratios = Vec::new();
    let mut attention_ratios = Vec::new();
    let mut kv_ratios = Vec::new();
    for &class in &classes {
        if let Some(fit) = fit_coefficients(&select(&|row| row.class == class), None, neutral, true)
        {
            moe_ratios.extend(fit.identified.0);
            attention_ratios.extend(fit.identified.1);
            kv_ratios.extend(fit.identified.2);
        }
    }
    let global_ratios = Ratios {
        moe: median(moe_ratios).unwrap_or(1.0),
        attention: median(attention_ratios).unwrap_or(1.0),
        kv: median(kv_ratios).unwrap_or(1.0),
    };
    let Some(mut global) = fit_coefficients(&select(&|_| true), None, global_ratios, false) else {
        return fitted;
    };
    let flops_basis =
        select(&|row| row.class.prefill_basis() == super::efficiency::PrefillBasis::Flops);
    if let Some(flops_fit) = fit_coefficients(&flops_basis, None, global_ratios, false) {
        global.dense_scale = flops_fit.dense_scale;
        global.moe_scale = flops_fit.moe_scale;
        global.attention_scale = flops_fit.attention_scale;
        global.prefill_rows = flops_fit.prefill_rows;
    }
    fitted.insert((DeviceClass::Any, Backend::Any, WeightFormat::Any), global);
    for class in classes {
        let Some(class_fit) = fit_coefficients(
            &select(&|row| row.class == class),
            Some(&global),
            global_ratios,
            true,
        ) else {
            continue;
        };
        fitted.insert((class, Backend::Any, WeightFormat::Any), class_fit);
        let class_ratios = class_fit.ratios(global_ratios);
        let backends: std::collections::BTreeSet<Backend> = rows
            .iter()
            .filter(|row| row.class == class)
            .map(|row| row.backend)
            .collect();
        for backend in backends {
            let Some(group) = fit_coefficients(
                &select(&|row| row.class == class && row.backend == backend),
                Some(&class_fit),
                class_ratios,
                true,
            ) else {
                continue;
            };
            fitted.insert((class, backend, WeightFormat::Any), group);
            // Weight formats run different kernels: where a backend's rows mix them, each format
            // gets its own entry under the backend's.
            let formats: std::collections::BTreeSet<WeightFormat> = rows
                .iter()
                .filter(|row| row.class == class && row.backend == backend)
                .map(|row| row.weights)
                .collect();
            if formats.len() < 2 {
                continue;
            }
            let group_ratios = group.ratios(class_ratios);
            for weights in formats {
                if let Some(format_fit) = fit_coefficients(
                    &select(&|row| {
                        row.class == class && row.backend == backend && row.weights == weights
                    }),
                    Some(&group),
                    group_ratios,
                    false,
                ) {
                    fitted.insert((class, backend, weights), format_fit);
                }
            }
        }
    }
    fitted
}

/// One row's measured and predicted rates.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RowPrediction {
    /// CSV line.
    pub line: usize,
    /// Hardware.
    pub hardware: String,
    /// Model.
    pub model: String,
    /// Class.
    pub class: DeviceClass,
    /// Backend.
    pub backend: Backend,
    /// Weight format.
    pub weights: WeightFormat,
    /// (measured, in-sample prediction, leave-one-out prediction) decode tokens/s.
    pub decode: Option<(f64, f64, f64)>,
    /// Same for prefill.
    pub prefill: Option<(f64, f64, f64)>,
}

/// Error summary of one class (or all).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ErrorSummary {
    /// Class name (`all` for every row).
    pub class: String,
    /// Decode rows.
    pub decode_rows: usize,
    /// Median |relative error|, leave-one-out.
    pub decode_median: Option<f64>,
    /// Worst |relative error|, leave-one-out.
    pub decode_worst: Option<f64>,
    /// In-sample median, for comparison.
    pub decode_median_in_sample: Option<f64>,
    /// Prefill rows.
    pub prefill_rows: usize,
    /// Median, leave-one-out.
    pub prefill_median: Option<f64>,
    /// Worst, leave-one-out.
    pub prefill_worst: Option<f64>,
    /// In-sample median.
    pub prefill_median_in_sample: Option<f64>,
}

/// The fit's result.
#[derive(Debug, Clone)]
pub struct FitReport {
    /// The table to write.
    pub table: EfficiencyTable,
    /// Per-row predictions.
    pub rows: Vec<RowPrediction>,
    /// Per class and overall.
    pub summaries: Vec<ErrorSummary>,
}

fn predict(row: &FitRow, factors: EfficiencyFactors) -> (Option<f64>, Option<f64>) {
    let mut speed = row.speed.clone();
    speed.factors = factors;
    let decode = row
        .decode
        .map(|(_, depth)| speed.decode_tokens_per_second(depth));
    let prefill = row
        .prefill
        .map(|(_, tokens, depth)| tokens as f64 / speed.prefill_seconds(depth, tokens));
    (decode, prefill)
}

fn relative(predicted: f64, measured: f64) -> f64 {
    (predicted - measured).abs() / measured
}

fn median_and_worst(mut errors: Vec<f64>) -> (Option<f64>, Option<f64>) {
    if errors.is_empty() {
        return (None, None);
    }
    errors.sort_by(f64::total_cmp);
    let middle = errors.len() / 2;
    let median = if errors.len().is_multiple_of(2) {
        (errors[middle - 1] + errors[middle]) / 2.0
    } else {
        errors[middle]
    };
    (Some(median), errors.last().copied())
}

/// The CPU entry: not fitted (the truth file has no CPU-only llama.cpp rows). Decode at 60 % of
/// bandwidth (memory-anchors.md §5.6 range 0.5–0.8); prefill at 2 useful FLOP per byte/s of
/// bandwidth (an assumption: a Raspberry Pi 5's 17 GB/s gives ~34 GFLOP/s).
fn cpu_assumption() -> EfficiencyFactors {
    EfficiencyFactors {
        class: DeviceClass::Cpu,
        backend: Backend::Cpu,
        weights: WeightFormat::Any,
        decode_bandwidth_efficiency: 0.6,
        decode_kv_efficiency: 0.6,
        decode_layer_overhead_seconds: 0.0,
        prefill_weight_efficiency: 2.0,
        prefill_moe_weight_efficiency: 1.0,
        prefill_attention_efficiency: 1.0,
        decode_rows: 0,
        prefill_rows: 0,
        decode_median_error: None,
        decode_worst_error: None,
        prefill_median_error: None,
        prefill_worst_error: None,
    }
}

/// Fits and evaluates.
pub fn fit(truth: &TruthRows, truth_label: &str) -> FitReport {
    let rows = &truth.rows;
    let row_features: Vec<Features> = rows.iter().map(features).collect();
    let full = fit_hierarchy(rows, &row_features, &|_| true);
    let factors_of = |fits: &BTreeMap<GroupKey, Coefficients>, row: &FitRow| {
        fallback_keys(row.class, row.backend, row.weights)
            .into_iter()
            .find_map(|key| fits.get(&key).map(|c| to_factors(key, *c)))
    };
    let mut predictions = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let in_sample = factors_of(&full, row).map(|factors| predict(row, factors));
        let loo_fits = fit_hierarchy(rows, &row_features, &|other| other != index);
        let held_out = factors_of(&loo_fits, row).map(|factors| predict(row, factors));
        let combine = |measured: Option<f64>, fitted: Option<f64>, held: Option<f64>| {
            Some((measured?, fitted?, held?))
        };
        let (in_decode, in_prefill) = in_sample.unwrap_or((None, None));
        let (out_decode, out_prefill) = held_out.unwrap_or((None, None));
        predictions.push(RowPrediction {
            line: row.line,
            hardware: row.hardware.clone(),
            model: row.model.clone(),
            class: row.class,
            backend: row.backend,
            weights: row.weights,
            decode: combine(row.decode.map(|d| d.0), in_decode, out_decode),
            prefill: combine(row.prefill.map(|p| p.0), in_prefill, out_prefill),
        });
    }
    let summary = |label: String, filter: &dyn Fn(&RowPrediction) -> bool| {
        let chosen: Vec<&RowPrediction> = predictions.iter().filter(|p| filter(p)).collect();
        let errors = |pick: &dyn Fn(&RowPrediction) -> Triple, held: bool| {
            chosen
                .iter()
                .filter_map(|p| pick(p))
                .map(|(measured, fitted, out)| relative(if held { out } else { fitted }, measured))
                .collect::<Vec<f64>>()
        };
        let decode_out = errors(&|p| p.decode, true);
        let prefill_out = errors(&|p| p.prefill, true);
        let (decode_median, decode_worst) = median_and_worst(decode_out.clone());
        let (prefill_median, prefill_worst) = median_and_worst(prefill_out.clone());
        ErrorSummary {
            class: label,
            decode_rows: decode_out.len(),
            decode_median,
            decode_worst,
            decode_median_in_sample: median_and_worst(errors(&|p| p.decode, false)).0,
            prefill_rows: prefill_out.len(),
            prefill_median,
            prefill_worst,
            prefill_median_in_sample: median_and_worst(errors(&|p| p.prefill, false)).0,
        }
    };
    let mut summaries: Vec<ErrorSummary> = DeviceClass::ALL
        .into_iter()
        .filter(|class| predictions.iter().any(|p| p.class == *class))
        .map(|class| {
            summary(class.name().to_owned(), &|p: &RowPrediction| {
                p.class == class
            })
        })
        .collect();
    summaries.push(summary("all".to_owned(), &|_| true));
    let mut factors: Vec<EfficiencyFactors> = full
        .iter()
        .map(|(&key, &coefficients)| {
            let (class, backend, weights) = key;
            let mut entry = to_factors(key, coefficients);
            let group = |p: &RowPrediction| {
                (class == DeviceClass::Any || p.class == class)
                    && (backend == Backend::Any || p.backend == backend)
                    && (weights == WeightFormat::Any || p.weights == weights)
            };
            let held = |pick: &dyn Fn(&RowPrediction) -> Triple| {
                predictions
                    .iter()
                    .filter(|p| group(p))
                    .filter_map(pick)
                    .map(|(measured, _, out)| relative(out, measured))
                    .collect::<Vec<f64>>()
            };
            let (median, worst) = median_and_worst(held(&|p| p.decode));
            entry.decode_median_error = median.map(round);
            entry.decode_worst_error = worst.map(round);
            let (median, worst) = median_and_worst(held(&|p| p.prefill));
            entry.prefill_median_error = median.map(round);
            entry.prefill_worst_error = worst.map(round);
            entry
        })
        .collect();
    factors.push(cpu_assumption());
    let decode_rows_used = rows.iter().filter(|row| row.decode.is_some()).count() as u64;
    let prefill_rows_used = rows.iter().filter(|row| row.prefill.is_some()).count() as u64;
    let table = EfficiencyTable {
        provenance: Provenance {
            command: FIT_COMMAND.to_owned(),
            truth: truth_label.to_owned(),
            truth_rows: truth.total_rows,
            decode_rows_used,
            prefill_rows_used,
            method: "weighted least squares on relative error, per device class x backend (x weight format where a backend's rows mix formats) with class and global fallbacks (src/speed/fit.rs); decode = weight bytes / e + KV bytes / e_kv + layers x overhead, the KV/weight scale ratio identified per class and backend from deep-context rows, e capped at 1 (peak bandwidth); one trimmed refit leaves out rows whose residual exceeds 3x the median (and 50%); errors are leave-one-out (every level refitted without the row) over all rows, outliers included, through the full model; the cpu/cpu entry is an assumption (no CPU rows)".to_owned(),
            excluded: truth
                .excluded
                .iter()
                .map(|(reason, count)| format!("{count} rows: {reason}"))
                .collect(),
        },
        factors,
    };
    FitReport {
        table,
        rows: predictions,
        summaries,
    }
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{:.1}%", value * 100.0))
}

impl FitReport {
    /// `data/efficiency.toml` as the fit writes it.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        let body = toml::to_string(&self.table)?;
        Ok(format!(
            "# Speed-model efficiency factors, GENERATED by `{FIT_COMMAND}`\n# from {truth}; do not edit by hand (src/speed/fit.rs explains the method).\n# decode seconds per token = weight and state bytes / (bandwidth x decode_bandwidth_efficiency)\n#   + KV-cache bytes / (bandwidth x decode_kv_efficiency) + layers x decode_layer_overhead_seconds\n# prefill seconds = weight FLOPs / (reference x prefill_weight_efficiency, or prefill_moe_weight_efficiency for\n#   mixture-of-experts models) + attention FLOPs / (reference x prefill_attention_efficiency), never faster than\n#   reading the weights once per micro-batch; reference = dense FP16 FLOP/s for nvidia-discrete, nvidia-datacenter,\n#   amd-unified and amd-discrete, memory bandwidth in bytes/s for the other classes (their prefill efficiencies\n#   read as useful FLOP per byte/s of bandwidth: Apple and the DGX Spark publish no FP16 rate used here).\n# *_error fields: leave-one-out median / worst relative error over the rows of that entry.\n\n{body}",
            truth = self.table.provenance.truth
        ))
    }

    /// The markdown table for BENCHMARKS.md.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| device class | decode rows | decode median | decode worst | (in-sample median) | prefill rows | prefill median | prefill worst | (in-sample median) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for summary in &self.summaries {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                summary.class,
                summary.decode_rows,
                percent(summary.decode_median),
                percent(summary.decode_worst),
                percent(summary.decode_median_in_sample),
                summary.prefill_rows,
                percent(summary.prefill_median),
                percent(summary.prefill_worst),
                percent(summary.prefill_median_in_sample),
            ));
        }
        out
    }
}
