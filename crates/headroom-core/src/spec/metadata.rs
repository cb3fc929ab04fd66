//! A GGUF-shaped key/value view that both sources feed: GGUF headers (keys as stored) and
//! Hugging Face configs (keys as `convert_hf_to_gguf.py` would write them). The spec builder reads
//! only this, so both paths share every rule.

use indexmap::IndexMap;

use super::SpecError;

/// One metadata value, reduced to what sizing needs (string arrays keep only their length: the
/// tokenizer's 150k-entry token list matters only as the vocabulary size).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum MetadataValue {
    /// Any integer type.
    Integer(i64),
    /// f32 or f64.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// UTF-8 string.
    String(String),
    /// Integer array (per-layer head counts, feed-forward lengths).
    IntegerArray(Vec<i64>),
    /// Float array.
    FloatArray(Vec<f64>),
    /// Boolean array (per-layer sliding-window pattern).
    BoolArray(Vec<bool>),
    /// A string array, by length only.
    StringArrayLength(u64),
    /// Anything else (nested arrays), by length only.
    OtherArrayLength(u64),
}

impl MetadataValue {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            MetadataValue::Integer(_) => "integer",
            MetadataValue::Float(_) => "float",
            MetadataValue::Bool(_) => "bool",
            MetadataValue::String(_) => "string",
            MetadataValue::IntegerArray(_) => "integer array",
            MetadataValue::FloatArray(_) => "float array",
            MetadataValue::BoolArray(_) => "bool array",
            MetadataValue::StringArrayLength(_) => "string array",
            MetadataValue::OtherArrayLength(_) => "array",
        }
    }
}

/// Metadata keyed as in GGUF (`qwen3moe.attention.head_count_kv`), in insertion order.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Metadata {
    entries: IndexMap<String, MetadataValue>,
}

impl Metadata {
    /// An empty map.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// Sets `key` (replacing an earlier value).
    pub fn insert(&mut self, key: impl Into<String>, value: MetadataValue) {
        self.entries.insert(key.into(), value);
    }

    /// The raw value.
    pub fn get(&self, key: &str) -> Option<&MetadataValue> {
        self.entries.get(key)
    }

    /// All entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MetadataValue)> {
        self.entries
            .iter()
            .map(|(key, value)| (key.as_str(), value))
    }

    fn mismatch(key: &str, expected: &'static str, value: &MetadataValue) -> SpecError {
        SpecError::TypeMismatch {
            key: key.to_owned(),
            expected,
            found: value.type_name(),
        }
    }

    /// A non-negative integer, or `None` when absent.
    pub fn u64_opt(&self, key: &str) -> Result<Option<u64>, SpecError> {
        match self.entries.get(key) {
            None => Ok(None),
            Some(MetadataValue::Integer(value)) => {
                u64::try_from(*value)
                    .map(Some)
                    .map_err(|_| SpecError::InvalidValue {
                        key: key.to_owned(),
                        reason: format!("negative value {value}"),
                    })
            }
            Some(other) => Err(Self::mismatch(key, "non-negative integer", other)),
        }
    }

    /// A required non-negative integer.
    pub fn u64_required(&self, key: &str) -> Result<u64, SpecError> {
        self.u64_opt(key)?.ok_or_else(|| SpecError::MissingKey {
            key: key.to_owned(),
        })
    }

    /// A number (integer or float), or `None` when absent.
    pub fn f64_opt(&self, key: &str) -> Result<Option<f64>, SpecError> {
        match self.entries.get(key) {
            None => Ok(None),
            Some(MetadataValue::Integer(value)) => Ok(Some(*value as f64)),
            Some(MetadataValue::Float(value)) => Ok(Some(*value)),
            Some(other) => Err(Self::mismatch(key, "number", other)),
        }
    }

    /// A string, or `None` when absent.
    pub fn str_opt(&self, key: &str) -> Result<Option<&str>, SpecError> {
        match self.entries.get(key) {
            None => Ok(None),
            Some(MetadataValue::String(value)) => Ok(Some(value)),
            Some(other) => Err(Self::mismatch(key, "string", other)),
        }
    }

    /// A boolean, or `None` when absent.
    pub fn bool_opt(&self, key: &str) -> Result<Option<bool>, SpecError> {
        match self.entries.get(key) {
            None => Ok(None),
            Some(MetadataValue::Bool(value)) => Ok(Some(*value)),
            Some(other) => Err(Self::mismatch(key, "bool", other)),
        }
    }

    /// A per-layer integer: either one scalar for every layer or an array of `layer_count`
    /// values (`llama_model_loader::get_key_or_arr`). `None` when absent.
    pub fn per_layer_opt(
        &self,
        key: &str,
        layer_count: u64,
    ) -> Result<Option<Vec<u64>>, SpecError> {
        match self.entries.get(key) {
            None => Ok(None),
            Some(MetadataValue::Integer(_)) => {
                let value = self.u64_required(key)?;
                Ok(Some(vec![value; checked_layer_count(key, layer_count)?]))
            }
            Some(MetadataValue::IntegerArray(values)) => {
                if values.len() as u64 != layer_count {
                    return Err(SpecError::LayerArrayLength {
                        key: key.to_owned(),
                        expected: layer_count,
                        found: values.len() as u64,
                    });
                }
                values
                    .iter()
                    .map(|&value| {
                        u64::try_from(value).map_err(|_| SpecError::InvalidValue {
                            key: key.to_owned(),
                            reason: format!("negative value {value}"),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
            }
            Some(other) => Err(Self::mismatch(key, "integer or integer array", other)),
        }
    }

    /// Length of an array value (string arrays included), or `None` when absent.
    pub fn array_length(&self, key: &str) -> Option<u64> {
        match self.entries.get(key)? {
            MetadataValue::IntegerArray(values) => Some(values.len() as u64),
            MetadataValue::FloatArray(values) => Some(values.len() as u64),
            MetadataValue::BoolArray(values) => Some(values.len() as u64),
            MetadataValue::StringArrayLength(length) | MetadataValue::OtherArrayLength(length) => {
                Some(*length)
            }
            _ => None,
        }
    }
}

/// Upper bound on layers a model may declare: no published model has more than a few hundred
/// blocks; the cap keeps a corrupt header from making us allocate per-layer vectors by an
/// untrusted count.
pub const MAX_LAYERS: u64 = 4096;

fn checked_layer_count(key: &str, layer_count: u64) -> Result<usize, SpecError> {
    if layer_count > MAX_LAYERS {
        return Err(SpecError::InvalidValue {
            key: key.to_owned(),
            reason: format!("{layer_count} layers is more than the {MAX_LAYERS} headroom accepts"),
        });
    }
    usize::try_from(layer_count).map_err(|_| SpecError::InvalidValue {
        key: key.to_owned(),
        reason: "layer count does not fit in memory".to_owned(),
    })
}
