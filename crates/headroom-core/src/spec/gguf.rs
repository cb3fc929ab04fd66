//! GGUF headers (`headroom_gguf::GgufFile`) to the shared metadata view and back (for writing
//! model-shaped test files).

use headroom_gguf::{Array, GgufFile, Value};

use super::{Metadata, MetadataValue, ModelSpec, SpecError};

fn array_value(array: &Array) -> MetadataValue {
    match array {
        Array::String(values) => MetadataValue::StringArrayLength(values.len() as u64),
        Array::Array(values) => MetadataValue::OtherArrayLength(values.len() as u64),
        Array::Bool(values) => MetadataValue::BoolArray(values.clone()),
        Array::F32(values) => {
            MetadataValue::FloatArray(values.iter().map(|&value| f64::from(value)).collect())
        }
        Array::F64(values) => MetadataValue::FloatArray(values.clone()),
        other => match other.to_i64_vec() {
            Some(values) => MetadataValue::IntegerArray(values),
            None => MetadataValue::OtherArrayLength(other.len() as u64),
        },
    }
}

fn scalar_value(value: &Value) -> MetadataValue {
    match value {
        Value::Bool(flag) => MetadataValue::Bool(*flag),
        Value::String(text) => MetadataValue::String(text.clone()),
        Value::F32(number) => MetadataValue::Float(f64::from(*number)),
        Value::F64(number) => MetadataValue::Float(*number),
        Value::Array(array) => array_value(array),
        other => match other.as_i64() {
            Some(number) => MetadataValue::Integer(number),
            // u64 above i64::MAX: no sizing key holds such a value; keep it saturated.
            None => MetadataValue::Integer(i64::MAX),
        },
    }
}

impl Metadata {
    /// Every key of a GGUF header (string arrays by length only).
    pub fn from_gguf(file: &GgufFile) -> Metadata {
        let mut metadata = Metadata::new();
        for (key, value) in &file.metadata {
            metadata.insert(key.clone(), scalar_value(value));
        }
        metadata
    }

    /// The GGUF values to write for this metadata (string arrays, stored by length, are skipped).
    pub fn to_gguf_values(&self) -> Vec<(String, Value)> {
        self.iter()
            .filter_map(|(key, value)| {
                let converted = match value {
                    MetadataValue::Integer(number) => match u32::try_from(*number) {
                        Ok(small) => Value::U32(small),
                        Err(_) => Value::I64(*number),
                    },
                    MetadataValue::Float(number) => Value::F32(*number as f32),
                    MetadataValue::Bool(flag) => Value::Bool(*flag),
                    MetadataValue::String(text) => Value::String(text.clone()),
                    MetadataValue::IntegerArray(values) => Value::Array(Array::I32(
                        values
                            .iter()
                            .map(|&number| i32::try_from(number).unwrap_or(i32::MAX))
                            .collect(),
                    )),
                    MetadataValue::FloatArray(values) => Value::Array(Array::F32(
                        values.iter().map(|&number| number as f32).collect(),
                    )),
                    MetadataValue::BoolArray(values) => Value::Array(Array::Bool(values.clone())),
                    MetadataValue::StringArrayLength(_) | MetadataValue::OtherArrayLength(_) => {
                        return None;
                    }
                };
                Some((key.to_owned(), converted))
            })
            .collect()
    }
}

impl ModelSpec {
    /// Builds the spec from a GGUF header: metadata as llama.cpp reads it, tied embeddings from the
    /// absence of `output.weight`, parameter counts from the tensor infos.
    pub fn from_gguf(file: &GgufFile) -> Result<ModelSpec, SpecError> {
        let mut spec = ModelSpec::from_metadata(&Metadata::from_gguf(file))?;
        spec.tied_embeddings = Some(file.tensor("output.weight").is_none());
        let total: u64 = file
            .tensors
            .iter()
            .filter_map(|tensor| tensor.element_count())
            .sum();
        let expert: u64 = file
            .tensors
            .iter()
            .filter(|tensor| tensor.name.contains("_exps."))
            .filter_map(|tensor| tensor.element_count())
            .sum();
        let active = match spec.experts {
            Some(experts) if experts.count > 0 => {
                total - expert + expert / experts.count * experts.used
            }
            _ => total,
        };
        spec.parameters = Some(super::ParameterCounts { total, active });
        Ok(spec)
    }
}
