//! Shared test helpers: the truth table, the shared/ directory, model configs.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use headroom_core::memory::ModelWeights;
use headroom_core::quant::FileType;
use headroom_core::spec::ModelSpec;
use headroom_core::tensors::quantized_tensors;

/// `$CARGO_MANIFEST_DIR/../../../shared`: CI checks shared/ out beside the repository clone.
pub fn shared_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    assert!(
        dir.join("truth/llamacpp-memory.csv").is_file(),
        "shared truth data not found at {} (expected shared/ beside the repository clone, \
         with truth/llamacpp-memory.csv)",
        dir.display()
    );
    dir
}

/// Parses RFC 4180 CSV (quoted fields with commas and doubled quotes).
pub fn parse_csv(text: &str) -> Vec<HashMap<String, String>> {
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(character) = chars.next() {
        match (quoted, character) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, other) => field.push(other),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\r') => {}
            (false, other) => field.push(other),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    let header = records.remove(0);
    records
        .into_iter()
        .filter(|row| row.len() > 1)
        .map(|row| header.iter().cloned().zip(row).collect())
        .collect()
}

/// Every row of the truth table.
pub fn truth_rows() -> Vec<HashMap<String, String>> {
    let path = shared_dir().join("truth/llamacpp-memory.csv");
    parse_csv(&fs_err::read_to_string(path).expect("read truth csv"))
}

/// The config fixture for a truth model name.
pub fn config(model: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/configs/{model}.json"));
    serde_json::from_str(&fs_err::read_to_string(path).expect("read config")).expect("parse config")
}

/// Spec and exact weights of a truth model from its config.
pub fn model_from_config(model: &str, quant: &str) -> (ModelSpec, ModelWeights) {
    let spec = ModelSpec::from_config(&config(model)).expect("spec from config");
    let file_type = FileType::from_name(quant).expect("file type");
    let tensors = quantized_tensors(&spec, file_type).expect("tensor plan");
    (spec, ModelWeights::from_plan(&tensors))
}
