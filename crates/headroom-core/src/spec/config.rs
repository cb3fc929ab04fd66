//! Hugging Face `config.json` to GGUF keys, as llama.cpp's `convert_hf_to_gguf.py` (and its
//! `conversion/<family>.py` model classes) write them, so that a config and the GGUF converted
//! from it produce the same `ModelSpec`.

use serde_json::Value;

use super::{Metadata, MetadataValue, SpecError};

/// The result of converting a config: the GGUF keys plus what GGUF only tells through tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertedConfig {
    /// Keys as convert_hf_to_gguf writes them.
    pub metadata: Metadata,
    /// `tie_word_embeddings`: no `output.weight` tensor is written.
    pub tied_embeddings: bool,
    /// Llama 3 rope scaling, written as a `rope_freqs` tensor rather than metadata.
    pub llama3_rope: bool,
    /// `attention_bias`: Q/K/V projections carry biases.
    pub attention_bias: bool,
    /// `use_qk_norm`: per-head Q/K norms.
    pub attention_qk_norm: bool,
    /// `attention_k_eq_v` (Gemma 4): full-attention layers have no V projection.
    pub attention_k_eq_v: bool,
}

/// HF `architectures[0]` to llama.cpp architecture (`conversion/__init__.py` table).
const ARCHITECTURE_NAMES: [(&str, &str); 36] = [
    ("LlamaForCausalLM", "llama"),
    ("MistralForCausalLM", "llama"),
    ("MixtralForCausalLM", "llama"),
    ("Mistral3ForConditionalGeneration", "mistral3"),
    ("Ministral3ForCausalLM", "mistral3"),
    ("Qwen2ForCausalLM", "qwen2"),
    ("Qwen2MoeForCausalLM", "qwen2moe"),
    ("Qwen3ForCausalLM", "qwen3"),
    ("Qwen3MoeForCausalLM", "qwen3moe"),
    ("Qwen3NextForCausalLM", "qwen3next"),
    // Qwen3.5 / Qwen3.6 (conversion/qwen.py Qwen3_5TextModel, Qwen3_5MoeTextModel): the
    // *ForConditionalGeneration configs wrap the language model in text_config; llama.cpp's text
    // GGUF leaves the vision tower out (it goes to a separate mmproj file), and so do we.
    ("Qwen3_5ForConditionalGeneration", "qwen35"),
    ("Qwen3_5ForCausalLM", "qwen35"),
    ("Qwen3_5MoeForConditionalGeneration", "qwen35moe"),
    ("Qwen3_5MoeForCausalLM", "qwen35moe"),
    ("GemmaForCausalLM", "gemma"),
    ("Gemma2ForCausalLM", "gemma2"),
    ("Gemma3ForCausalLM", "gemma3"),
    ("Gemma3ForConditionalGeneration", "gemma3"),
    ("Gemma4ForConditionalGeneration", "gemma4"),
    ("Gemma4ForCausalLM", "gemma4"),
    ("GptOssForCausalLM", "gpt-oss"),
    ("DeepseekV2ForCausalLM", "deepseek2"),
    ("DeepseekV3ForCausalLM", "deepseek2"),
    // GLM-4.7-Flash: conversion/glm.py Glm4MoeLiteModel is a DeepseekV2Model (MLA, MoE).
    ("Glm4MoeLiteForCausalLM", "deepseek2"),
    ("Glm4ForCausalLM", "glm4"),
    ("Glm4MoeForCausalLM", "glm4moe"),
    ("Phi3ForCausalLM", "phi3"),
    ("CohereForCausalLM", "command-r"),
    ("Cohere2ForCausalLM", "cohere2"),
    ("GraniteForCausalLM", "granite"),
    ("GraniteMoeHybridForCausalLM", "granitehybrid"),
    ("Lfm2ForCausalLM", "lfm2"),
    ("Llama4ForConditionalGeneration", "llama4"),
    ("Mamba2ForCausalLM", "mamba2"),
    ("MiniMaxM2ForCausalLM", "minimax-m2"),
    ("NemotronHForCausalLM", "nemotron_h"),
];

/// The rope settings of a config as conversion/base.py picks them: `rope_parameters` (its
/// `full_attention` entry when it has per-kind ones), else the older `rope_scaling`; with the
/// key they came from, for errors.
struct RopeSettings<'a> {
    map: Option<&'a serde_json::Map<String, Value>>,
    name: &'static str,
}

impl<'a> RopeSettings<'a> {
    fn of(fields: &Fields<'a>) -> Result<RopeSettings<'a>, SpecError> {
        let (value, name) = match fields.get("rope_parameters") {
            Some(value) => (Some(value), "rope_parameters"),
            None => (fields.get("rope_scaling"), "rope_scaling"),
        };
        let map = match value {
            None => None,
            Some(Value::Object(all)) => Some(match all.get("full_attention") {
                Some(Value::Object(full)) => full,
                _ => all,
            }),
            Some(_) => return Err(fields.error(name, "should be an object")),
        };
        Ok(RopeSettings { map, name })
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.map
            .and_then(|map| map.get(field))
            .filter(|value| !value.is_null())
    }

    fn number(&self, fields: &Fields<'_>, field: &str) -> Result<Option<f64>, SpecError> {
        self.get(field)
            .map(|value| {
                value.as_f64().ok_or_else(|| {
                    fields.error(&format!("{}.{field}", self.name), "should be a number")
                })
            })
            .transpose()
    }
}

/// RoPE as conversion/base.py writes it: the settings of [`RopeSettings`] with the top-level
/// `rope_theta` mirrored in; the GGUF scaling types are linear and yarn (each only with a factor;
/// yarn needs `original_max_position_embeddings`) and longrope (`su` too); `llama3` becomes a
/// rope_freqs tensor (conversion/llama.py), and any other type (`default`, `dynamic`, ...) writes
/// no scaling at all. Returns whether the Llama 3 rope_freqs tensor is needed.
fn generic_rope(
    fields: &Fields<'_>,
    key: &dyn Fn(&str) -> String,
    metadata: &mut Metadata,
) -> Result<bool, SpecError> {
    let settings = RopeSettings::of(fields)?;
    let mut theta = settings.number(fields, "rope_theta")?;
    for name in [
        "global_rope_theta",
        "rope_global_theta",
        "rope_theta_global",
        "rope_theta",
        "rotary_emb_base",
    ] {
        if theta.is_some() {
            break;
        }
        theta = fields.f64_opt(name)?;
    }
    if let Some(theta) = theta {
        metadata.insert(key("rope.freq_base"), MetadataValue::Float(theta));
    }
    let kind = settings
        .get("rope_type")
        .or_else(|| settings.get("type"))
        .and_then(Value::as_str);
    let scaling = |metadata: &mut Metadata, kind: &str| {
        metadata.insert(
            key("rope.scaling.type"),
            MetadataValue::String(kind.to_owned()),
        );
    };
    match (kind, settings.number(fields, "factor")?) {
        (Some("llama3"), _) => return Ok(true),
        (Some("linear"), Some(factor)) => {
            scaling(metadata, "linear");
            metadata.insert(key("rope.scaling.factor"), MetadataValue::Float(factor));
        }
        (Some("yarn"), Some(factor)) => {
            scaling(metadata, "yarn");
            metadata.insert(key("rope.scaling.factor"), MetadataValue::Float(factor));
            let original = match settings
                .get("original_max_position_embeddings")
                .and_then(Value::as_u64)
            {
                Some(original) => original,
                None => fields
                    .u64_opt("original_max_position_embeddings")?
                    .ok_or_else(|| {
                        fields.error(
                            &format!("{}.original_max_position_embeddings", settings.name),
                            "is missing (yarn needs it)",
                        )
                    })?,
            };
            metadata.insert(
                key("rope.scaling.original_context_length"),
                integer(original),
            );
        }
        (Some("longrope" | "su"), _) => scaling(metadata, "longrope"),
        _ => {}
    }
    Ok(false)
}

struct Fields<'a> {
    text: &'a Value,
    root: &'a Value,
    prefix: &'static str,
    defaults: &'a Value,
}

/// transformers' `Gemma3TextConfig` defaults, which Google's published Gemma 3 configs rely on
/// (they omit head counts, head_dim, vocab_size and max_position_embeddings):
/// `transformers/models/gemma3/configuration_gemma3.py`.
fn gemma3_text_defaults() -> Value {
    serde_json::json!({
        "vocab_size": 262_208,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "max_position_embeddings": 131_072,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1_000_000.0,
        "sliding_window": 4096,
        "tie_word_embeddings": true
    })
}

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.text
            .get(name)
            .filter(|value| !value.is_null())
            .or_else(|| self.root.get(name).filter(|value| !value.is_null()))
            .or_else(|| self.defaults.get(name))
    }

    fn error(&self, name: &str, reason: &str) -> SpecError {
        SpecError::Config {
            field: format!("{}{name}", self.prefix),
            reason: reason.to_owned(),
        }
    }

    fn u64_opt(&self, name: &str) -> Result<Option<u64>, SpecError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_u64()
                .or_else(|| {
                    value
                        .as_f64()
                        .filter(|number| number.fract() == 0.0 && *number >= 0.0)
                        .map(|number| number as u64)
                })
                .map(Some)
                .ok_or_else(|| self.error(name, "should be a non-negative integer")),
        }
    }

    fn u64_required(&self, name: &str) -> Result<u64, SpecError> {
        self.u64_opt(name)?
            .ok_or_else(|| self.error(name, "is missing"))
    }

    fn f64_opt(&self, name: &str) -> Result<Option<f64>, SpecError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.error(name, "should be a number")),
        }
    }

    fn strings(&self, name: &str) -> Result<Option<Vec<&'a str>>, SpecError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .ok_or_else(|| self.error(name, "should be an array of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.error(name, "should be an array of strings")),
        }
    }
}

/// Qwen3.5's rotary dimensions (conversion/qwen.py Qwen3NextModel and _Qwen35MRopeMixin), on
/// top of [`generic_rope`]: the rotated width from `partial_rotary_factor` (inside the rope
/// settings or at the top level) and `rope.dimension_sections`, which llama.cpp requires for
/// qwen35/qwen35moe.
fn qwen35_rope_dimensions(
    fields: &Fields<'_>,
    arch: &str,
    hidden: u64,
    heads: u64,
    metadata: &mut Metadata,
) -> Result<(), SpecError> {
    let key = |suffix: &str| format!("{arch}.{suffix}");
    let settings = RopeSettings::of(fields)?;
    let partial = settings
        .number(fields, "partial_rotary_factor")?
        .or(fields.f64_opt("partial_rotary_factor")?)
        .unwrap_or(0.25);
    let head_dim = match fields.u64_opt("head_dim")? {
        Some(head_dim) => head_dim,
        None => hidden
            .checked_div(heads)
            .ok_or_else(|| fields.error("num_attention_heads", "is missing or 0"))?,
    };
    // int(head_dim * partial_rotary_factor): Python truncates.
    let rope_dim = (head_dim as f64 * partial) as u64;
    metadata.insert(key("rope.dimension_count"), integer(rope_dim));
    // mrope_section padded with zeros to [time, height, width, extra]; [11, 11, 10, 0] when absent.
    let sections_error = || {
        fields.error(
            &format!("{}.mrope_section", settings.name),
            "should be an array of integers",
        )
    };
    let mut sections: Vec<i64> = match settings.get("mrope_section") {
        None => vec![11, 11, 10, 0],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_i64().ok_or_else(sections_error))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(sections_error()),
    };
    sections.resize(4, 0);
    metadata.insert(
        key("rope.dimension_sections"),
        MetadataValue::IntegerArray(sections),
    );
    Ok(())
}

fn integer(value: u64) -> MetadataValue {
    MetadataValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

/// Nemotron-H (conversion/nemotron.py NemotronHModel over granite.py GraniteHybridModel): the
/// layer kinds of `hybrid_override_pattern` (`M` Mamba-2, `*` attention, `-` MLP, or `E` MoE in
/// the MoE variant; or the `layers_block_type` list) become per-layer `head_count_kv` (KV heads on
/// attention layers) and `feed_forward_length` (the MLP/expert width on MLP layers) arrays, with
/// zeros elsewhere: llama.cpp reads a layer with both zero as Mamba-2. An MTP block, when
/// converted, is appended as attention plus MoE. The Mamba keys are looked up as the converter's
/// `find_hparam` does (plain names, then `mamba_`-prefixed).
fn nemotron_h_metadata(
    fields: &Fields<'_>,
    arch: &str,
    main_layers: u64,
    nextn: u64,
    kv_heads: u64,
    metadata: &mut Metadata,
) -> Result<(), SpecError> {
    let key = |suffix: &str| format!("{arch}.{suffix}");
    let is_moe = arch == "nemotron_h_moe";
    let first = |names: &[&str]| -> Result<Option<u64>, SpecError> {
        let prefixed = names.iter().map(|name| format!("mamba_{name}"));
        for name in names.iter().map(|name| (*name).to_owned()).chain(prefixed) {
            if let Some(value) = fields.u64_opt(&name)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    };
    let required = |names: &[&str]| -> Result<u64, SpecError> {
        first(names)?.ok_or_else(|| fields.error(names[0], "is missing"))
    };

    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Mamba,
        Attention,
        Mlp,
    }
    let kinds: Vec<Kind> = match fields.get("hybrid_override_pattern") {
        Some(Value::String(pattern)) => pattern
            .chars()
            .map(|symbol| match symbol {
                'M' => Ok(Kind::Mamba),
                '*' => Ok(Kind::Attention),
                '-' if !is_moe => Ok(Kind::Mlp),
                'E' if is_moe => Ok(Kind::Mlp),
                other => Err(fields.error(
                    "hybrid_override_pattern",
                    &format!(
                        "has `{other}`, expected M, * or {}",
                        if is_moe {
                            "E (a MoE config)"
                        } else {
                            "- (a dense config)"
                        }
                    ),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(fields.error("hybrid_override_pattern", "should be a string")),
        None => fields
            .strings("layers_block_type")?
            .ok_or_else(|| fields.error("hybrid_override_pattern", "is missing"))?
            .iter()
            .map(|kind| match *kind {
                "mamba" | "linear_attention" => Ok(Kind::Mamba),
                "attention" | "full_attention" => Ok(Kind::Attention),
                "moe" => Ok(Kind::Mlp),
                other => Err(fields.error(
                    "layers_block_type",
                    &format!("has `{other}`, expected mamba, attention or moe"),
                )),
            })
            .collect::<Result<_, _>>()?,
    };
    if kinds.len() as u64 != main_layers {
        return Err(fields.error(
            "hybrid_override_pattern",
            &format!(
                "has {} layers, num_hidden_layers is {main_layers}",
                kinds.len()
            ),
        ));
    }
    let mlp_width = if is_moe {
        fields.u64_required("moe_intermediate_size")?
    } else {
        fields.u64_required("intermediate_size")?
    };
    let mut kv_counts: Vec<i64> = Vec::with_capacity(kinds.len() + nextn as usize);
    let mut widths: Vec<i64> = Vec::with_capacity(kinds.len() + nextn as usize);
    for kind in &kinds {
        kv_counts.push(if *kind == Kind::Attention {
            kv_heads as i64
        } else {
            0
        });
        widths.push(if *kind == Kind::Mlp {
            mlp_width as i64
        } else {
            0
        });
    }
    for _ in 0..nextn {
        kv_counts.push(kv_heads as i64);
        widths.push(mlp_width as i64);
    }
    metadata.insert(
        key("attention.head_count_kv"),
        MetadataValue::IntegerArray(kv_counts),
    );
    metadata.insert(
        key("feed_forward_length"),
        MetadataValue::IntegerArray(widths),
    );
    let head_dim = fields
        .u64_opt("head_dim")?
        .or(fields.u64_opt("attention_head_dim")?)
        .ok_or_else(|| fields.error("head_dim", "is missing (or attention_head_dim)"))?;
    metadata.insert(key("attention.key_length"), integer(head_dim));
    metadata.insert(key("attention.value_length"), integer(head_dim));

    // d_inner = num_heads x mamba_head_dim ("Don't use expand to calculate d_inner").
    let ssm_heads = required(&["n_heads", "num_heads"])?;
    let ssm_head_dim = fields.u64_required("mamba_head_dim")?;
    metadata.insert(
        key("ssm.conv_kernel"),
        integer(required(&["conv_kernel", "d_conv"])?),
    );
    metadata.insert(
        key("ssm.state_size"),
        integer(required(&[
            "state_size",
            "d_state",
            "state_dim",
            "ssm_state_size",
        ])?),
    );
    metadata.insert(
        key("ssm.group_count"),
        integer(required(&["n_groups", "num_groups"])?),
    );
    metadata.insert(key("ssm.inner_size"), integer(ssm_heads * ssm_head_dim));
    metadata.insert(key("ssm.time_step_rank"), integer(ssm_heads));

    if is_moe {
        metadata.insert(
            key("expert_shared_feed_forward_length"),
            integer(fields.u64_required("moe_shared_expert_intermediate_size")?),
        );
        // LatentMoE (Nemotron 3 Super): routed experts work in a narrower width.
        if let Some(latent) = fields.u64_opt("moe_latent_size")? {
            metadata.insert(key("moe_latent_size"), integer(latent));
        }
    }
    Ok(())
}

/// Converts a config.json to the GGUF metadata convert_hf_to_gguf would write.
pub fn metadata_from_config(config: &Value) -> Result<ConvertedConfig, SpecError> {
    let hf_architecture = config
        .get("architectures")
        .and_then(|list| list.get(0))
        .and_then(Value::as_str)
        .ok_or_else(|| SpecError::Config {
            field: "architectures".to_owned(),
            reason: "is missing (expected a list like [\"Qwen3MoeForCausalLM\"])".to_owned(),
        })?;
    let arch = ARCHITECTURE_NAMES
        .iter()
        .find(|(name, _)| *name == hf_architecture)
        .map(|(_, arch)| *arch)
        .ok_or_else(|| SpecError::UnsupportedArchitecture {
            architecture: hf_architecture.to_owned(),
            supported: ARCHITECTURE_NAMES
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    // conversion/nemotron.py NemotronHModel: a config with num_experts_per_tok is nemotron_h_moe.
    let arch = if arch == "nemotron_h"
        && config
            .get("num_experts_per_tok")
            .is_some_and(|value| !value.is_null())
    {
        "nemotron_h_moe"
    } else {
        arch
    };
    let is_nemotron_h = matches!(arch, "nemotron_h" | "nemotron_h_moe");
    // Multimodal wrappers keep the language model under text_config.
    let (text, prefix) = match config.get("text_config") {
        Some(text @ Value::Object(_)) => (text, "text_config."),
        _ => (config, ""),
    };
    let defaults = if arch == "gemma3" {
        gemma3_text_defaults()
    } else {
        Value::Null
    };
    let fields = Fields {
        text,
        root: config,
        prefix,
        defaults: &defaults,
    };
    let mut metadata = Metadata::new();
    let key = |suffix: &str| format!("{arch}.{suffix}");
    metadata.insert(
        "general.architecture",
        MetadataValue::String(arch.to_owned()),
    );

    let hidden = match fields.u64_opt("hidden_size")? {
        Some(hidden) => hidden,
        None => fields
            .u64_required("d_model")
            .map_err(|_| fields.error("hidden_size", "is missing"))?,
    };
    let main_layers = fields.u64_required("num_hidden_layers")?;
    let heads = fields.u64_opt("num_attention_heads")?.unwrap_or(0);
    let kv_heads = fields.u64_opt("num_key_value_heads")?.unwrap_or(heads);
    let nextn = match arch {
        "deepseek2" | "glm4moe" => fields.u64_opt("num_nextn_predict_layers")?.unwrap_or(0),
        // conversion/qwen.py _QwenMtpMixin: the MTP block is exported by default (unless
        // --no-mtp) as extra blocks past num_hidden_layers. Qwen3-Next's config does not say how
        // many (the converter counts mtp.* tensors), so only Qwen3.5 gets them from a config.
        "qwen35" | "qwen35moe" => fields.u64_opt("mtp_num_hidden_layers")?.unwrap_or(0),
        // NemotronHModel folds its one MTP head into a trailing block (it asserts exactly one).
        "nemotron_h_moe" => match fields.u64_opt("num_nextn_predict_layers")?.unwrap_or(0) {
            count @ (0 | 1) => count,
            _ => {
                return Err(fields.error(
                    "num_nextn_predict_layers",
                    "is above 1 (convert_hf_to_gguf supports one Nemotron-H MTP block)",
                ));
            }
        },
        _ => 0,
    };
    let block_count = main_layers + nextn;
    if nextn > 0 {
        metadata.insert(key("nextn_predict_layers"), integer(nextn));
    }
    // Gemma 3 (4B and up) declares no max_position_embeddings in text_config; transformers' default is 131072.
    let context = match fields.u64_opt("max_position_embeddings")? {
        Some(context) => context,
        None if arch == "gemma3" => 131_072,
        // Nemotron-H's converter ignores it (below).
        None if is_nemotron_h => 0,
        None => return Err(fields.error("max_position_embeddings", "is missing")),
    };
    // conversion/granite.py GraniteHybridModel (NemotronHModel's base): a hybrid without RoPE
    // gets context_length 2**20, overwriting max_position_embeddings.
    let context = if is_nemotron_h { 1 << 20 } else { context };
    metadata.insert(key("context_length"), integer(context));
    metadata.insert(key("embedding_length"), integer(hidden));
    metadata.insert(key("block_count"), integer(block_count));
    metadata.insert(key("attention.head_count"), integer(heads));

    // Llama 4: dense layers use intermediate_size_mlp, experts intermediate_size (conversion/llama.py Llama4Model).
    let mut feed_forward = match (arch, fields.u64_opt("intermediate_size_mlp")?) {
        ("llama4", Some(dense)) => dense,
        _ => fields.u64_opt("intermediate_size")?.unwrap_or(0),
    };
    if arch == "llama4" {
        let step = fields.u64_opt("interleave_moe_layer_step")?.unwrap_or(1);
        metadata.insert(key("interleave_moe_layer_step"), integer(step));
    }
    if arch == "lfm2" {
        // conversion/lfm2.py: block_auto_adjust_ff_dim shrinks block_ff_dim to 2/3, scales and rounds up.
        let mut width = fields.u64_opt("block_ff_dim")?.unwrap_or(feed_forward);
        if fields
            .get("block_auto_adjust_ff_dim")
            .and_then(Value::as_bool)
            .unwrap_or(false)
        {
            width = 2 * width / 3;
            if let Some(multiplier) = fields.f64_opt("block_ffn_dim_multiplier")? {
                width = (multiplier * width as f64) as u64;
            }
            let multiple = fields.u64_opt("block_multiple_of")?.unwrap_or(256).max(1);
            width = multiple * width.div_ceil(multiple);
        }
        feed_forward = width;
    }
    metadata.insert(key("feed_forward_length"), integer(feed_forward));

    if let Some(head_dim) = fields.u64_opt("head_dim")?
        && arch != "deepseek2"
    {
        {
            metadata.insert(key("attention.key_length"), integer(head_dim));
            metadata.insert(key("attention.value_length"), integer(head_dim));
        }
    }

    // Per-layer KV heads for hybrids: 0 marks a recurrent layer.
    match arch {
        "lfm2" => {
            let layer_types = fields
                .strings("layer_types")?
                .ok_or_else(|| fields.error("layer_types", "is missing"))?;
            let counts: Vec<i64> = layer_types
                .iter()
                .map(|kind| {
                    if *kind == "full_attention" {
                        kv_heads as i64
                    } else {
                        0
                    }
                })
                .collect();
            metadata.insert(
                key("attention.head_count_kv"),
                MetadataValue::IntegerArray(counts),
            );
            let cache = fields.u64_opt("conv_L_cache")?.unwrap_or(3);
            metadata.insert(key("shortconv.l_cache"), integer(cache));
        }
        "nemotron_h" | "nemotron_h_moe" => {
            nemotron_h_metadata(&fields, arch, main_layers, nextn, kv_heads, &mut metadata)?;
        }
        "granitehybrid" => {
            let layer_types = fields
                .strings("layer_types")?
                .ok_or_else(|| fields.error("layer_types", "is missing"))?;
            let counts: Vec<i64> = layer_types
                .iter()
                .map(|kind| {
                    if *kind == "attention" {
                        kv_heads as i64
                    } else {
                        0
                    }
                })
                .collect();
            metadata.insert(
                key("attention.head_count_kv"),
                MetadataValue::IntegerArray(counts),
            );
            let conv = fields.u64_opt("mamba_d_conv")?.unwrap_or(4);
            let expand = fields.u64_opt("mamba_expand")?.unwrap_or(2);
            let state = fields.u64_opt("mamba_d_state")?.unwrap_or(128);
            let groups = fields.u64_opt("mamba_n_groups")?.unwrap_or(1);
            let ssm_heads = fields.u64_opt("mamba_n_heads")?.unwrap_or(0);
            metadata.insert(key("ssm.conv_kernel"), integer(conv));
            metadata.insert(key("ssm.inner_size"), integer(expand * hidden));
            metadata.insert(key("ssm.state_size"), integer(state));
            metadata.insert(key("ssm.group_count"), integer(groups));
            metadata.insert(key("ssm.time_step_rank"), integer(ssm_heads));
        }
        _ => {
            metadata.insert(key("attention.head_count_kv"), integer(kv_heads));
        }
    }

    if matches!(arch, "qwen3next" | "qwen35" | "qwen35moe") {
        let value_heads = fields.u64_required("linear_num_value_heads")?;
        let value_dim = fields.u64_required("linear_value_head_dim")?;
        metadata.insert(
            key("ssm.conv_kernel"),
            integer(fields.u64_required("linear_conv_kernel_dim")?),
        );
        metadata.insert(
            key("ssm.state_size"),
            integer(fields.u64_required("linear_key_head_dim")?),
        );
        metadata.insert(key("ssm.inner_size"), integer(value_heads * value_dim));
        metadata.insert(
            key("ssm.group_count"),
            integer(fields.u64_required("linear_num_key_heads")?),
        );
        metadata.insert(key("ssm.time_step_rank"), integer(value_heads));
        // Qwen3NextModel.set_gguf_parameters: layer_types becomes the per-block recurrent flags
        // (NextN blocks are attention), written beside full_attention_interval.
        if let Some(layer_types) = fields.strings("layer_types")? {
            if layer_types.len() as u64 != main_layers {
                return Err(fields.error(
                    "layer_types",
                    &format!(
                        "has {} entries, expected num_hidden_layers ({main_layers})",
                        layer_types.len()
                    ),
                ));
            }
            let mut recurrent: Vec<bool> = layer_types
                .iter()
                .map(|kind| *kind == "linear_attention")
                .collect();
            recurrent.resize(block_count as usize, false);
            metadata.insert(
                key("attention.recurrent_layers"),
                MetadataValue::BoolArray(recurrent),
            );
        }
        let interval = fields.u64_opt("full_attention_interval")?.unwrap_or(4);
        metadata.insert(key("full_attention_interval"), integer(interval));
    }

    // Norm epsilons (conversion/base.py set_gguf_parameters); llama.cpp requires the one its
    // architecture uses. Gemma 3's text config leaves rms_norm_eps at transformers' default 1e-6;
    // conversion/deepseek.py DeepseekV2Model defaults it to 1e-6 too.
    match fields
        .f64_opt("rms_norm_eps")?
        .or(fields.f64_opt("norm_eps")?)
    {
        Some(epsilon) => metadata.insert(
            key("attention.layer_norm_rms_epsilon"),
            MetadataValue::Float(epsilon),
        ),
        None if matches!(arch, "gemma2" | "gemma3" | "deepseek2") => metadata.insert(
            key("attention.layer_norm_rms_epsilon"),
            MetadataValue::Float(1e-6),
        ),
        None => {}
    }
    if let Some(epsilon) = fields
        .f64_opt("layer_norm_eps")?
        .or(fields.f64_opt("layer_norm_epsilon")?)
    {
        metadata.insert(
            key("attention.layer_norm_epsilon"),
            MetadataValue::Float(epsilon),
        );
    }

    // Vocabulary: the converted tokenizer has config.vocab_size entries (padded where the config pads).
    let mut vocab = fields.u64_required("vocab_size")?;
    if is_nemotron_h {
        // NemotronHModel.set_vocab pads the vocabulary to a multiple of 8.
        vocab = vocab.div_ceil(8).saturating_mul(8);
    }
    metadata.insert(key("vocab_size"), integer(vocab));

    let llama3_rope = generic_rope(&fields, &key, &mut metadata)?;
    if matches!(arch, "qwen35" | "qwen35moe") {
        qwen35_rope_dimensions(&fields, arch, hidden, heads, &mut metadata)?;
    }

    // Sliding window: written by the gemma2/gemma3/gpt-oss/cohere2/lfm2 converters.
    if matches!(
        arch,
        "gemma2" | "gemma3" | "gpt-oss" | "cohere2" | "lfm2" | "llama4"
    ) {
        // Llama 4's converter writes no window (llama.cpp forces 8192-token chunks).
        let window = if arch == "llama4" {
            None
        } else {
            fields.u64_opt("sliding_window")?
        };
        if let Some(window) = window {
            metadata.insert(key("attention.sliding_window"), integer(window));
        }
        if matches!(arch, "gemma3" | "cohere2") {
            if let Some(layer_types) = fields.strings("layer_types")? {
                let pattern: Vec<bool> = layer_types
                    .iter()
                    .map(|kind| *kind == "sliding_attention")
                    .collect();
                metadata.insert(
                    key("attention.sliding_window_pattern"),
                    MetadataValue::BoolArray(pattern),
                );
            } else if let Some(period) =
                fields
                    .u64_opt("sliding_window_pattern")
                    .ok()
                    .flatten()
                    .or(fields
                        .u64_opt("sliding_window_pattern_period")
                        .ok()
                        .flatten())
            {
                metadata.insert(key("attention.sliding_window_pattern"), integer(period));
            }
        }
    }

    // Experts.
    let expert_count = fields
        .u64_opt("num_experts")?
        .or(fields.u64_opt("num_local_experts")?)
        .or(fields.u64_opt("n_routed_experts")?)
        .unwrap_or(0);
    if expert_count > 0 {
        metadata.insert(key("expert_count"), integer(expert_count));
        let used = fields
            .u64_opt("num_experts_per_tok")?
            .or(fields.u64_opt("experts_per_token")?)
            .unwrap_or(0);
        metadata.insert(key("expert_used_count"), integer(used));
        let expert_width = match arch {
            // gpt-oss experts are intermediate_size wide.
            "gpt-oss" => feed_forward,
            "llama4" => fields.u64_opt("intermediate_size")?.unwrap_or(feed_forward),
            _ => fields
                .u64_opt("moe_intermediate_size")?
                .unwrap_or(feed_forward),
        };
        metadata.insert(key("expert_feed_forward_length"), integer(expert_width));
        if let Some(shared) = fields.u64_opt("n_shared_experts")? {
            metadata.insert(key("expert_shared_count"), integer(shared));
        }
        if let Some(shared_width) = fields.u64_opt("shared_expert_intermediate_size")? {
            metadata.insert(
                key("expert_shared_feed_forward_length"),
                integer(shared_width),
            );
            if matches!(arch, "qwen3next" | "qwen35moe" | "qwen2moe") {
                metadata.insert(key("expert_shared_count"), integer(1));
            }
        }
        // expert_gating_func: 1 softmax, 2 sigmoid (llama-hparams.h LLAMA_EXPERT_GATING_FUNC_TYPE_*).
        // conversion/glm.py Glm4MoeModel always writes sigmoid.
        if arch == "glm4moe" {
            metadata.insert(key("expert_gating_func"), integer(2));
        }
        // conversion/base.py writes expert_gating_func only when the config names a scoring function
        // (GLM-4.7-Flash's does not: llama.cpp infers sigmoid from its shape, see ModelSpec).
        if matches!(arch, "deepseek2" | "minimax-m2")
            && let Some(function) = fields.get("scoring_func").and_then(Value::as_str)
        {
            metadata.insert(
                key("expert_gating_func"),
                integer(if function == "sigmoid" { 2 } else { 1 }),
            );
        }
        if let Some(dense) = fields.u64_opt("first_k_dense_replace")? {
            metadata.insert(key("leading_dense_block_count"), integer(dense));
        }
    }

    // MiniMax-M2 rotates only rotary_dim of each head (conversion/minimax.py MiniMaxM2Model).
    if arch == "minimax-m2"
        && let Some(rotary) = fields.u64_opt("rotary_dim")?
    {
        metadata.insert(key("rope.dimension_count"), integer(rotary));
    }

    // MLA (conversion/deepseek.py): cached as one KV head of kv_lora_rank + rope width.
    if arch == "deepseek2" {
        let kv_lora_rank = fields.u64_required("kv_lora_rank")?;
        let rope = fields.u64_required("qk_rope_head_dim")?;
        let nope = fields.u64_required("qk_nope_head_dim")?;
        let value = fields.u64_required("v_head_dim")?;
        if let Some(rank) = fields.u64_opt("q_lora_rank")? {
            metadata.insert(key("attention.q_lora_rank"), integer(rank));
        }
        metadata.insert(key("attention.kv_lora_rank"), integer(kv_lora_rank));
        metadata.insert(key("attention.head_count_kv"), integer(1));
        metadata.insert(key("attention.key_length"), integer(kv_lora_rank + rope));
        metadata.insert(key("attention.value_length"), integer(kv_lora_rank));
        metadata.insert(key("attention.key_length_mla"), integer(nope + rope));
        metadata.insert(key("attention.value_length_mla"), integer(value));
        metadata.insert(key("rope.dimension_count"), integer(rope));
    }

    if arch == "gemma4" {
        gemma4_keys(&fields, &mut metadata)?;
    }

    let tied_default = matches!(
        arch,
        "gemma" | "gemma2" | "gemma3" | "gemma4" | "command-r" | "cohere2"
    );
    let tied_embeddings = fields
        .get("tie_word_embeddings")
        .or_else(|| fields.get("tie_embedding"))
        .and_then(Value::as_bool)
        .unwrap_or(tied_default);
    let flag = |name: &str| fields.get(name).and_then(Value::as_bool).unwrap_or(false);
    Ok(ConvertedConfig {
        metadata,
        tied_embeddings,
        llama3_rope,
        attention_bias: flag("attention_bias"),
        attention_qk_norm: flag("use_qk_norm"),
        attention_k_eq_v: arch == "gemma4" && flag("attention_k_eq_v"),
    })
}

/// Gemma 4's keys, as `Gemma4Model.set_gguf_parameters` (conversion/gemma.py, over Gemma3Model
/// and TextModel) writes them: full-attention head width and KV heads in `key_length` and a
/// per-layer `head_count_kv`, sliding-window ones in `key_length_swa`, the layer kinds as a bool
/// array, the rope of each kind from `rope_parameters`, experts used from `top_k_experts`.
/// Overrides what the generic conversion wrote for the same keys.
fn gemma4_keys(fields: &Fields<'_>, metadata: &mut Metadata) -> Result<(), SpecError> {
    let key = |suffix: &str| format!("gemma4.{suffix}");
    let layers = fields.u64_required("num_hidden_layers")?;
    metadata.insert(
        key("attention.head_count"),
        integer(fields.u64_required("num_attention_heads")?),
    );
    let layer_types = fields
        .strings("layer_types")?
        .ok_or_else(|| fields.error("layer_types", "is missing"))?;
    if layer_types.len() as u64 != layers {
        return Err(fields.error(
            "layer_types",
            &format!("has {} entries for {layers} layers", layer_types.len()),
        ));
    }
    let sliding: Vec<bool> = layer_types
        .iter()
        .map(|kind| *kind == "sliding_attention")
        .collect();

    // per_layer_config stands in for global_head_dim / num_global_key_value_heads when those
    // are absent: the first full-attention layer's entry.
    let full_layer_value = |name: &str| -> Option<u64> {
        let Some(Value::Object(per_layer)) = fields.get("per_layer_config") else {
            return None;
        };
        let mut entries: Vec<(u64, &Value)> = per_layer
            .iter()
            .filter_map(|(index, entry)| Some((index.parse().ok()?, entry)))
            .collect();
        entries.sort_by_key(|(index, _)| *index);
        entries
            .into_iter()
            .filter(|(index, _)| sliding.get(*index as usize) == Some(&false))
            .find_map(|(_, entry)| entry.get(name).and_then(Value::as_u64))
    };
    let head_dim_swa = fields.u64_required("head_dim")?;
    let head_dim_full = match fields.u64_opt("global_head_dim")? {
        Some(width) => width,
        None => full_layer_value("head_dim")
            .ok_or_else(|| fields.error("global_head_dim", "is missing"))?,
    };
    metadata.insert(key("attention.key_length"), integer(head_dim_full));
    metadata.insert(key("attention.value_length"), integer(head_dim_full));
    metadata.insert(key("attention.key_length_swa"), integer(head_dim_swa));
    metadata.insert(key("attention.value_length_swa"), integer(head_dim_swa));

    let kv_heads_full = match fields.u64_opt("num_global_key_value_heads")? {
        Some(heads) => Some(heads),
        None => full_layer_value("num_key_value_heads"),
    };
    if let (Some(full), Some(swa)) = (kv_heads_full, fields.u64_opt("num_key_value_heads")?) {
        let counts = sliding
            .iter()
            .map(|&is_swa| i64::try_from(if is_swa { swa } else { full }).unwrap_or(i64::MAX))
            .collect();
        metadata.insert(
            key("attention.head_count_kv"),
            MetadataValue::IntegerArray(counts),
        );
    }

    metadata.insert(
        key("attention.sliding_window"),
        integer(fields.u64_required("sliding_window")?),
    );
    metadata.insert(
        key("attention.sliding_window_pattern"),
        MetadataValue::BoolArray(sliding),
    );
    // transformers' Gemma4TextConfig default: no layer shares KV.
    let shared = fields.u64_opt("num_kv_shared_layers")?.unwrap_or(0);
    if shared > layers {
        return Err(fields.error(
            "num_kv_shared_layers",
            &format!("is {shared}, more than the {layers} layers"),
        ));
    }
    metadata.insert(key("attention.shared_kv_layers"), integer(shared));
    let per_layer_input = fields.u64_opt("hidden_size_per_layer_input")?.unwrap_or(0);
    metadata.insert(
        key("embedding_length_per_layer_input"),
        integer(per_layer_input),
    );
    if metadata
        .get(&key("attention.layer_norm_rms_epsilon"))
        .is_none()
    {
        metadata.insert(
            key("attention.layer_norm_rms_epsilon"),
            MetadataValue::Float(1e-6),
        );
    }

    // use_double_wide_mlp: the KV-sharing layers have twice the FFN width.
    if fields.get("use_double_wide_mlp").and_then(Value::as_bool) == Some(true) {
        let width = fields.u64_required("intermediate_size")?;
        let widths = (0..layers)
            .map(|index| {
                let width = if index < layers - shared {
                    width
                } else {
                    2 * width
                };
                i64::try_from(width).unwrap_or(i64::MAX)
            })
            .collect();
        metadata.insert(
            key("feed_forward_length"),
            MetadataValue::IntegerArray(widths),
        );
    }
    if let Some(width) = fields
        .u64_opt("expert_intermediate_size")?
        .or(fields.u64_opt("moe_intermediate_size")?)
    {
        metadata.insert(key("expert_feed_forward_length"), integer(width));
    }
    if let Some(used) = fields.u64_opt("top_k_experts")? {
        metadata.insert(key("expert_used_count"), integer(used));
    }

    // The full-attention rope base is generic_rope's (rope_parameters.full_attention).
    if let Some(theta) = fields
        .get("rope_parameters")
        .and_then(|rope| rope.get("sliding_attention"))
        .and_then(|parameters| parameters.get("rope_theta"))
        .and_then(Value::as_f64)
    {
        metadata.insert(key("rope.freq_base_swa"), MetadataValue::Float(theta));
    }
    // "proportional" rope on full layers rotates the whole head (the unrotated part is in the
    // rope_freqs tensor); sliding layers rotate head_dim × the top-level partial_rotary_factor,
    // which Gemma 4 configs keep inside rope_parameters, so the converter's default 1.0 applies.
    metadata.insert(key("rope.dimension_count"), integer(head_dim_full));
    metadata.insert(key("rope.dimension_count_swa"), integer(head_dim_swa));
    if let Some(softcap) = fields.f64_opt("final_logit_softcapping")? {
        metadata.insert(
            key("final_logit_softcapping"),
            MetadataValue::Float(softcap),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{AttentionKind, ModelSpec};

    fn nemotron_h(pattern: &str, moe: bool) -> Value {
        let mut config = serde_json::json!({
            "architectures": ["NemotronHForCausalLM"],
            "hidden_size": 1024,
            "num_hidden_layers": pattern.len(),
            "hybrid_override_pattern": pattern,
            "num_attention_heads": 8,
            "num_key_value_heads": 2,
            "head_dim": 128,
            "intermediate_size": 4096,
            "mamba_num_heads": 32,
            "mamba_head_dim": 64,
            "n_groups": 8,
            "ssm_state_size": 128,
            "conv_kernel": 4,
            "layer_norm_epsilon": 1e-5,
            "vocab_size": 1001,
            "max_position_embeddings": 8192
        });
        if moe {
            for (name, value) in [
                ("n_routed_experts", 16),
                ("num_experts_per_tok", 2),
                ("moe_intermediate_size", 512),
                ("moe_shared_expert_intermediate_size", 1024),
                ("n_shared_experts", 1),
            ] {
                config[name] = serde_json::json!(value);
            }
        }
        config
    }

    #[test]
    fn nemotron_h_pattern_sets_each_layer_kind() {
        let spec = ModelSpec::from_config(&nemotron_h("M*-M", false)).expect("spec");
        assert_eq!(spec.architecture, "nemotron_h");
        let kinds: Vec<AttentionKind> = spec.layers.iter().map(|layer| layer.attention).collect();
        assert_eq!(
            kinds,
            [
                AttentionKind::Recurrent,
                AttentionKind::Full,
                AttentionKind::None,
                AttentionKind::Recurrent
            ]
        );
        assert_eq!(spec.layers[1].kv_heads, 2);
        assert_eq!(spec.layers[2].feed_forward_length, 4096);
        // GraniteHybridModel writes 2**20; NemotronHModel pads the vocabulary to 8.
        assert_eq!(spec.context_length_trained, 1 << 20);
        assert_eq!(spec.vocab_size, 1008);
        let recurrent = spec.recurrent.expect("recurrent");
        assert_eq!(recurrent.inner_size, 2048);
        assert_eq!(recurrent.conv_state_width, 3 * (2048 + 2 * 8 * 128));
        assert_eq!(recurrent.ssm_state_width, 128 * 2048);
    }

    #[test]
    fn nemotron_h_moe_puts_experts_on_moe_layers_only() {
        let spec = ModelSpec::from_config(&nemotron_h("ME*E", true)).expect("spec");
        assert_eq!(spec.architecture, "nemotron_h_moe");
        let experts: Vec<bool> = spec.layers.iter().map(|layer| layer.has_experts).collect();
        assert_eq!(experts, [false, true, false, true]);
        let shape = spec.experts.expect("experts");
        assert_eq!(
            (shape.feed_forward_length, shape.shared_feed_forward_length),
            (512, 1024)
        );
    }

    #[test]
    fn nemotron_h_rejects_unknown_pattern_symbols() {
        let error = metadata_from_config(&nemotron_h("M*E", false)).expect_err("dense E");
        assert!(
            matches!(&error, SpecError::Config { field, .. } if field == "hybrid_override_pattern"),
            "{error}"
        );
    }

    /// RoPE as conversion/base.py writes it: rope_parameters or rope_scaling, the theta inside
    /// or at the top level, scaling only for linear/yarn with a factor and longrope.
    #[test]
    fn rope_follows_the_converter() {
        let llama = |rope: serde_json::Value| {
            let mut config = serde_json::json!({
                "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
                "vocab_size": 100, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5
            });
            for (name, value) in rope.as_object().expect("object") {
                config[name] = value.clone();
            }
            metadata_from_config(&config).expect("converts").metadata
        };
        let float = |metadata: &Metadata, key: &str| match metadata.get(key) {
            Some(MetadataValue::Float(value)) => Some(*value),
            _ => None,
        };
        let text = |metadata: &Metadata, key: &str| match metadata.get(key) {
            Some(MetadataValue::String(value)) => Some(value.clone()),
            _ => None,
        };
        // LFM2 / Qwen3.5 style: rope_parameters with the theta inside, type "default": no scaling.
        let metadata = llama(serde_json::json!({
            "rope_parameters": {"rope_theta": 1_000_000.0, "rope_type": "default"}
        }));
        assert_eq!(float(&metadata, "llama.rope.freq_base"), Some(1e6));
        assert_eq!(metadata.get("llama.rope.scaling.type"), None);
        // Devstral 2 style: yarn inside rope_parameters.
        let metadata = llama(serde_json::json!({
            "rope_parameters": {"rope_theta": 1e8, "rope_type": "yarn", "factor": 48.0,
                                "original_max_position_embeddings": 8192}
        }));
        assert_eq!(float(&metadata, "llama.rope.freq_base"), Some(1e8));
        assert_eq!(
            text(&metadata, "llama.rope.scaling.type").as_deref(),
            Some("yarn")
        );
        assert_eq!(float(&metadata, "llama.rope.scaling.factor"), Some(48.0));
        assert_eq!(
            metadata.get("llama.rope.scaling.original_context_length"),
            Some(&MetadataValue::Integer(8192))
        );
        // Older rope_scaling with the top-level theta; `type` stands in for `rope_type`.
        let metadata = llama(serde_json::json!({
            "rope_theta": 10000.0, "rope_scaling": {"type": "linear", "factor": 8.0}
        }));
        assert_eq!(float(&metadata, "llama.rope.freq_base"), Some(1e4));
        assert_eq!(
            text(&metadata, "llama.rope.scaling.type").as_deref(),
            Some("linear")
        );
        // Types the converter does not write, and linear without a factor: no scaling keys.
        for rope in [
            serde_json::json!({"rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}),
            serde_json::json!({"rope_scaling": {"rope_type": "linear"}}),
        ] {
            let metadata = llama(rope);
            assert_eq!(metadata.get("llama.rope.scaling.type"), None);
            assert_eq!(metadata.get("llama.rope.scaling.factor"), None);
        }
        assert_eq!(
            text(
                &llama(serde_json::json!({"rope_scaling": {"type": "su"}})),
                "llama.rope.scaling.type"
            )
            .as_deref(),
            Some("longrope")
        );
    }

    #[test]
    fn nemotron_h_rejects_a_pattern_of_the_wrong_length() {
        let mut config = nemotron_h("M*-M", false);
        config["num_hidden_layers"] = serde_json::json!(5);
        let error = metadata_from_config(&config).expect_err("length");
        assert!(error.to_string().contains("has 4 layers"), "{error}");
    }
}
