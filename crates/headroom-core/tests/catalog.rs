//! Tests of the embedded model, cloud and hardware catalogs: they parse, every figure has a source,
//! names are unambiguous, configs are self-consistent and agree with measured llama.cpp truth, and
//! the machine/size helpers behave.

use std::path::PathBuf;

use headroom_core::catalog::{self, CatalogError};
use headroom_core::hardware::{
    self, GpuShare, Hardware, HardwareBuilder, HardwareError, MemoryKind, SizeError,
    format_bytes_binary, macos_default_gpu_share_bytes, parse_bandwidth, parse_bytes,
};
use serde_json::Value;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn text_config(config: &Value) -> &Value {
    config.get("text_config").unwrap_or(config)
}

fn uint(config: &Value, key: &str) -> Option<u64> {
    text_config(config).get(key).and_then(Value::as_u64)
}

// ---------------------------------------------------------------- parsing and sources ---

#[test]
fn model_catalog_parses_with_at_least_45_models() {
    let models = catalog::try_models().expect("embedded models.toml parses");
    assert!(models.len() >= 45, "only {} models", models.len());
}

#[test]
fn cloud_catalog_parses() {
    let models = catalog::try_cloud_models().expect("embedded cloud-models.toml parses");
    assert!(models.len() >= 5);
}

#[test]
fn hardware_catalog_parses() {
    let catalog = hardware::try_catalog().expect("embedded hardware.toml parses");
    assert!(catalog.hardware.len() >= 30);
    assert!(catalog.chips.len() >= 12);
}

#[test]
fn every_model_config_names_its_hugging_face_file_and_the_copy_read() {
    const PROVENANCES: [&str; 5] = [
        "official",
        "verbatim-copy",
        "copy",
        "derivative",
        "test-fixture",
    ];
    for model in catalog::models() {
        let config_source = model
            .sources
            .iter()
            .find(|source| source.what == "config")
            .unwrap_or_else(|| panic!("{}: no config source", model.id));
        assert_eq!(
            config_source.url,
            format!(
                "https://huggingface.co/{}/blob/main/config.json",
                model.hf_repo
            ),
            "{}",
            model.id
        );
        assert!(
            !config_source.retrieved_from.trim().is_empty(),
            "{}",
            model.id
        );
        assert!(
            PROVENANCES.contains(&config_source.provenance.as_str()),
            "{}: provenance {}",
            model.id,
            config_source.provenance
        );
        for count in [&model.parameters_total, &model.parameters_active]
            .into_iter()
            .flatten()
        {
            assert!(!count.source.trim().is_empty(), "{}", model.id);
        }
    }
}

#[test]
fn every_cloud_figure_has_a_dated_source() {
    for model in catalog::cloud_models() {
        assert!(!model.sources.is_empty(), "{}", model.id);
        for source in &model.sources {
            assert!(source.url.starts_with("https://"), "{}", model.id);
            assert_eq!(source.retrieved.len(), 10, "{}: date", model.id);
        }
    }
}

#[test]
fn hardware_figure_without_source_is_rejected() {
    let text = r#"
[sources.a]
url = "https://example.org"
[[chips]]
id = "c"
name = "C"
bandwidth_bytes_per_second = 1
bandwidth_source = "a"
[[hardware]]
id = "m"
name = "M"
kind = "discrete"
[[hardware.devices]]
name = "d"
memory_bytes = 1
memory_source = "a"
bandwidth_bytes_per_second = 1
bandwidth_source = "a"
fp16_flops = 5
"#;
    let error = hardware::parse_hardware_catalog(text)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        error.as_deref(),
        Some("data/hardware.toml: entry `m`: fp16_flops has no source")
    );
    let unknown = text.replace(
        "fp16_flops = 5",
        "fp16_flops = 5\nfp16_flops_source = \"b\"",
    );
    let error = hardware::parse_hardware_catalog(&unknown)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        error.as_deref(),
        Some("data/hardware.toml: entry `m`: fp16_flops cites unknown source `b`")
    );
}

// ---------------------------------------------------------------- names ---

#[test]
fn every_model_alias_finds_its_own_model() {
    for model in catalog::models() {
        for name in std::iter::once(&model.id).chain(&model.aliases) {
            let found = catalog::find(name).map(|found| found.id.as_str());
            assert_eq!(found, Some(model.id.as_str()), "alias {name}");
        }
    }
}

#[test]
fn every_hardware_alias_finds_its_own_machine() {
    for machine in hardware::hardware() {
        for name in std::iter::once(&machine.id).chain(&machine.aliases) {
            let found = hardware::find_hardware(name).map(|found| found.id.as_str());
            assert_eq!(found, Some(machine.id.as_str()), "alias {name}");
        }
    }
}

#[test]
fn finds_models_by_ollama_tag_repo_and_case() {
    let id = |name: &str| catalog::find(name).map(|model| model.id.as_str());
    assert_eq!(id("qwen3-coder:30b"), Some("qwen3-coder-30b-a3b"));
    assert_eq!(id("QWEN3-CODER:30B"), Some("qwen3-coder-30b-a3b"));
    assert_eq!(
        id("qwen3-coder:30b-a3b-q4_K_M"),
        Some("qwen3-coder-30b-a3b")
    );
    assert_eq!(
        id("Qwen/Qwen3-Coder-30B-A3B-Instruct"),
        Some("qwen3-coder-30b-a3b")
    );
    assert_eq!(
        id("hf.co/Qwen/Qwen3-Coder-30B-A3B-Instruct"),
        Some("qwen3-coder-30b-a3b")
    );
    assert_eq!(
        id("registry.ollama.ai/library/llama3.1:8b"),
        Some("llama-3.1-8b")
    );
    assert_eq!(id("gpt-oss:latest"), Some("gpt-oss-20b"));
    // The story's custom tag is not a published model: no guess.
    assert_eq!(id("qwen3-coder:v-128k"), None);
    assert_eq!(id(""), None);
}

#[test]
fn suggests_close_model_ids() {
    assert_eq!(
        catalog::suggest("qwen3-codr-30b-a3b").first(),
        Some(&"qwen3-coder-30b-a3b")
    );
    assert!(catalog::suggest("qwen3-coder").contains(&"qwen3-coder-30b-a3b"));
    assert!(catalog::suggest("zzzzzzzzzzzz").is_empty());
}

#[test]
fn finds_cloud_models() {
    let devstral = catalog::find_cloud("Devstral-2512").expect("devstral-2512");
    assert_eq!(devstral.context_window_tokens, 262_144);
    assert_eq!(
        catalog::find_cloud("claude-sonnet-4-5-20250929").map(|model| model.id.as_str()),
        Some("claude-sonnet-4.5")
    );
    assert_eq!(
        catalog::suggest_cloud("devstral-251").first(),
        Some(&"devstral-2512")
    );
}

#[test]
fn finds_hardware_with_spaces_and_case() {
    let id = |name: &str| hardware::find_hardware(name).map(|machine| machine.id.as_str());
    assert_eq!(id("Mac Mini M4 Pro 64GB"), Some("mac-mini-m4-pro-64gb"));
    assert_eq!(id("dgx_spark"), Some("dgx-spark"));
    assert_eq!(
        hardware::suggest("mac mini m4 pro 64").first(),
        Some(&"mac-mini-m4-pro-64gb")
    );
    assert_eq!(
        hardware::find_chip("apple-m4-max").map(|chip| chip.bandwidth_bytes_per_second),
        Some(546_000_000_000)
    );
}

// ---------------------------------------------------------------- coverage ---

#[test]
fn catalog_covers_the_models_the_project_names() {
    let required = [
        "qwen3-coder-30b-a3b",
        "qwen3-coder-480b-a35b",
        "qwen3-0.6b",
        "qwen3-1.7b",
        "qwen3-4b",
        "qwen3-8b",
        "qwen3-14b",
        "qwen3-32b",
        "qwen3-30b-a3b",
        "qwen3-235b-a22b",
        "qwen3-next-80b-a3b",
        "qwen2.5-coder-32b",
        "llama-3.1-8b",
        "llama-3.1-70b",
        "llama-3.1-405b",
        "llama-3.2-1b",
        "llama-3.2-3b",
        "llama-3.3-70b",
        "mistral-small-3.1-24b",
        "mistral-nemo-12b",
        "gpt-oss-20b",
        "gpt-oss-120b",
        "gemma-2-2b",
        "gemma-2-9b",
        "gemma-2-27b",
        "gemma-3-1b",
        "gemma-3-12b",
        "deepseek-v3",
        "deepseek-r1",
        "kimi-k2",
        "glm-4.5-air",
        "phi-4",
        "phi-4-mini",
        "lfm2-1.2b",
        "qwen2.5-7b",
        "mixtral-8x7b",
    ];
    for id in required {
        assert!(catalog::find(id).is_some(), "missing {id}");
    }
}

#[test]
fn hardware_covers_the_machines_the_project_names() {
    let required = [
        "dgx-spark",
        "dgx-spark-x2",
        "mac-studio-m2-ultra-64gb",
        "mac-studio-m2-ultra-128gb",
        "mac-studio-m2-ultra-192gb",
        "mac-studio-m3-ultra-96gb",
        "mac-studio-m3-ultra-256gb",
        "mac-studio-m3-ultra-512gb",
        "mac-mini-m4-16gb",
        "mac-mini-m4-24gb",
        "mac-mini-m4-32gb",
        "mac-mini-m4-pro-24gb",
        "mac-mini-m4-pro-48gb",
        "mac-mini-m4-pro-64gb",
        "macbook-pro-16-m4-max-128gb",
        "framework-desktop-ryzen-ai-max-395-64gb",
        "framework-desktop-ryzen-ai-max-395-128gb",
        "asus-rog-flow-z13-ryzen-ai-max-395-128gb",
        "threadripper-2x-rx-7900-xtx",
        "amd-mi300x",
        "raspberry-pi-5-8gb",
        "raspberry-pi-5-16gb",
        "rtx-3090",
        "rtx-4090",
        "rtx-5090",
        "rtx-pro-6000-blackwell",
        "a100-40gb",
        "a100-80gb-sxm",
        "h100-sxm",
        "h100-pcie",
        "h200",
        "l40s",
        "rx-7900-xtx",
    ];
    for id in required {
        assert!(hardware::find_hardware(id).is_some(), "missing {id}");
    }
    let chips = [
        "apple-m1",
        "apple-m1-pro",
        "apple-m1-max",
        "apple-m1-ultra",
        "apple-m2",
        "apple-m2-pro",
        "apple-m2-max",
        "apple-m2-ultra",
        "apple-m3",
        "apple-m3-pro",
        "apple-m3-max",
        "apple-m3-ultra",
        "apple-m4",
        "apple-m4-pro",
        "apple-m4-max",
    ];
    for id in chips {
        assert!(hardware::find_chip(id).is_some(), "missing chip {id}");
    }
}

// ---------------------------------------------------------------- self-consistency ---

#[test]
fn model_configs_are_self_consistent() {
    for model in catalog::models() {
        let config = &model.config;
        let layers = uint(config, "num_hidden_layers")
            .unwrap_or_else(|| panic!("{}: num_hidden_layers", model.id));
        assert!(layers > 0, "{}", model.id);
        let Some(heads) = uint(config, "num_attention_heads") else {
            // Only a file that declares it leans on library defaults may omit the head count.
            assert!(
                model.config_defaults.is_some(),
                "{}: num_attention_heads",
                model.id
            );
            continue;
        };
        if let Some(kv_heads) = uint(config, "num_key_value_heads") {
            assert!(
                kv_heads > 0 && heads.is_multiple_of(kv_heads),
                "{}: {heads} % {kv_heads}",
                model.id
            );
        }
        if let Some(layer_types) = text_config(config)
            .get("layer_types")
            .and_then(Value::as_array)
        {
            assert_eq!(
                layer_types.len() as u64,
                layers,
                "{}: layer_types",
                model.id
            );
        }
        if let (Some(total), Some(active)) = (&model.parameters_total, &model.parameters_active) {
            assert!(active.count <= total.count, "{}", model.id);
        }
        if let (Some(experts), Some(used)) = (
            uint(config, "num_experts")
                .or_else(|| uint(config, "num_local_experts"))
                .or_else(|| uint(config, "n_routed_experts")),
            uint(config, "num_experts_per_tok"),
        ) {
            assert!(used <= experts, "{}: {used} of {experts} experts", model.id);
        }
        assert!(
            uint(config, "vocab_size").is_some() || model.config_defaults.is_some(),
            "{}: vocab_size",
            model.id
        );
    }
}

#[test]
fn nulls_in_hugging_face_configs_survive_the_toml_round_trip() {
    let qwen = catalog::find("qwen3-coder-30b-a3b").expect("qwen3-coder-30b-a3b");
    assert_eq!(qwen.config.get("rope_scaling"), Some(&Value::Null));
    assert_eq!(qwen.config.get("sliding_window"), Some(&Value::Null));
    // Integers stay integers, floats stay floats, as in config.json.
    assert_eq!(
        qwen.config.get("rope_theta"),
        Some(&serde_json::json!(10_000_000))
    );
    assert_eq!(
        qwen.config.get("rms_norm_eps"),
        Some(&serde_json::json!(1e-06))
    );
    let gemma = catalog::find("gemma-3-12b").expect("gemma-3-12b");
    assert_eq!(
        gemma.config.pointer("/text_config/attn_logit_softcapping"),
        Some(&Value::Null)
    );
}

#[test]
fn story_model_has_the_published_window_and_96_kib_per_token() {
    let model = catalog::find("qwen3-coder:30b").expect("story model");
    assert_eq!(
        uint(&model.config, "max_position_embeddings"),
        Some(262_144)
    );
    let per_token_bytes = 2
        * uint(&model.config, "num_hidden_layers").unwrap_or(0)
        * uint(&model.config, "num_key_value_heads").unwrap_or(0)
        * uint(&model.config, "head_dim").unwrap_or(0)
        * 2;
    assert_eq!(per_token_bytes, 96 * 1024);
    assert_eq!(per_token_bytes * 262_144, 24 * GIB);
}

// ---------------------------------------------------------------- truth CSV ---

/// `../shared/truth/llamacpp-memory.csv`, found by walking up from the crate.
fn truth_csv() -> Result<String, String> {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let candidate = dir.join("shared/truth/llamacpp-memory.csv");
        if candidate.is_file() {
            return fs_err::read_to_string(&candidate).map_err(|error| error.to_string());
        }
        if !dir.pop() {
            return Err(format!(
                "shared/truth/llamacpp-memory.csv not found above {}",
                env!("CARGO_MANIFEST_DIR")
            ));
        }
    }
}

/// Minimal RFC 4180 reader: quoted fields may hold commas and doubled quotes.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, _) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[test]
fn configs_agree_with_measured_llama_cpp_kv_layers_and_textbook_formula() {
    let rows = csv_rows(&truth_csv().expect("truth CSV"));
    let header = &rows[0];
    let column = |name: &str| {
        header
            .iter()
            .position(|field| field == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let (model_col, layers_col, swa_col, formula_col, ctx_col, kv_type_col, textbook_col) = (
        column("model"),
        column("kv_layers"),
        column("swa_layers"),
        column("textbook_formula"),
        column("n_ctx_actual"),
        column("kv_type"),
        column("textbook_kv_mib"),
    );
    let mut checked = std::collections::BTreeSet::new();
    for row in &rows[1..] {
        if row.len() != header.len() || row[layers_col].is_empty() {
            continue; // refused configurations carry no kv_layers
        }
        let name = &row[model_col];
        let model =
            catalog::find(name).unwrap_or_else(|| panic!("truth model {name} not in catalog"));
        let config = &model.config;
        // textbook_formula: "2*LAYERS*KV_HEADS*HEAD_DIM*BYTES*n_ctx (n_ctx=N)"
        let factors: Vec<&str> = row[formula_col]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .split('*')
            .collect();
        let factor = |index: usize| -> u64 {
            factors
                .get(index)
                .and_then(|f| f.parse().ok())
                .unwrap_or_else(|| panic!("{name}: formula {}", row[formula_col]))
        };
        let layers = uint(config, "num_hidden_layers").unwrap_or(0);
        let kv_heads = uint(config, "num_key_value_heads").unwrap_or(0);
        let head_dim = uint(config, "head_dim").unwrap_or_else(|| {
            uint(config, "hidden_size").unwrap_or(0)
                / uint(config, "num_attention_heads").unwrap_or(1)
        });
        assert_eq!(factor(1), layers, "{name}: layers");
        assert_eq!(factor(2), kv_heads, "{name}: kv heads");
        assert_eq!(factor(3), head_dim, "{name}: head dim");
        // Full-attention layers measured by llama.cpp plus its sliding-window layers = all layers.
        let kv_layers: u64 = row[layers_col].parse().expect("kv_layers");
        let swa_layers: u64 = row[swa_col].parse().unwrap_or(0);
        assert_eq!(
            kv_layers + swa_layers,
            layers,
            "{name}: kv_layers + swa_layers"
        );
        if let Some(pattern) = uint(config, "sliding_window_pattern") {
            // Gemma 3: layer il is sliding iff il % pattern < pattern - 1 (llama.cpp set_swa_pattern).
            let global = (0..layers).filter(|il| il % pattern == pattern - 1).count() as u64;
            assert_eq!(
                global, kv_layers,
                "{name}: global layers from sliding_window_pattern"
            );
        } else {
            assert_eq!(swa_layers, 0, "{name}: no sliding window in config");
        }
        if row[kv_type_col] == "f16" {
            let n_ctx: u64 = row[ctx_col].parse().expect("n_ctx_actual");
            let textbook_mib: f64 = row[textbook_col].parse().expect("textbook_kv_mib");
            let bytes = 2 * layers * kv_heads * head_dim * 2 * n_ctx;
            assert_eq!(
                bytes as f64 / MIB as f64,
                textbook_mib,
                "{name}: textbook MiB at {n_ctx}"
            );
        }
        checked.insert(name.clone());
    }
    let expected: std::collections::BTreeSet<String> = [
        "gemma-3-12b",
        "llama-3.1-8b",
        "qwen3-8b",
        "qwen3-coder-30b-a3b",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(checked, expected);
}

// ---------------------------------------------------------------- hardware helpers ---

#[test]
fn macos_default_share_matches_logged_recommended_max_working_set() {
    // ollama/ollama#434 and ggml-org/llama.cpp#2011: 32 GB Mac, recommendedMaxWorkingSetSize = 21845.34 MB.
    let share = macos_default_gpu_share_bytes(32 * GIB);
    assert_eq!(format!("{:.2}", share as f64 / MIB as f64), "21845.33");
    // ggml-org/llama.cpp#3213: 96 GB M2 Max, recommendedMaxWorkingSetSize = 73728.00 MB.
    assert_eq!(macos_default_gpu_share_bytes(96 * GIB), 73_728 * MIB);
}

#[test]
fn story_mac_gpu_share_defaults_to_three_quarters_and_obeys_wired_limit() {
    let mac = hardware::find_hardware("mac-64gb").expect("a 64 GB Mac");
    assert!(mac.is_unified());
    assert_eq!(mac.system_memory_bytes(), Some(64 * GIB));
    assert_eq!(mac.gpu_memory_bytes(None), 48 * GIB);
    assert_eq!(mac.gpu_memory_bytes(Some(57_344)), 56 * GIB);
    assert_eq!(
        mac.gpu_memory_bytes(Some(0)),
        48 * GIB,
        "0 restores the default"
    );
    assert_eq!(
        mac.gpu_memory_bytes(Some(1 << 30)),
        64 * GIB,
        "capped at RAM"
    );
    assert_eq!(mac.bandwidth_bytes_per_second(), 273_000_000_000);
}

#[test]
fn discrete_and_linked_machines_sum_their_devices() {
    let workstation = hardware::find_hardware("threadripper-2x-rx-7900-xtx").expect("workstation");
    assert!(!workstation.is_unified());
    assert_eq!(
        workstation.gpu_memory_bytes(Some(1)),
        48 * GIB,
        "wired limit is a macOS knob"
    );
    assert_eq!(workstation.system_memory_bytes(), None);
    let sparks = hardware::find_hardware("dgx-spark-x2").expect("two sparks");
    assert_eq!(sparks.gpu_memory_bytes(None), 256 * GIB);
    assert_eq!(sparks.device_count(), 2);
    assert_eq!(sparks.links[0].bandwidth_bytes_per_second, 25_000_000_000);
}

#[test]
fn reads_a_user_machine_file() {
    let text = r#"
id = "my-box"
name = "My box"
kind = "discrete"
backends = ["CUDA"]
[[devices]]
name = "RTX 3090"
count = 2
memory_bytes = 25769803776
bandwidth_bytes_per_second = 936000000000
[system_memory]
bytes = 137438953472
"#;
    let machine = Hardware::from_toml_str(text).expect("machine file");
    assert_eq!(machine.gpu_memory_bytes(None), 48 * GIB);
    assert_eq!(machine.system_memory_bytes(), Some(128 * GIB));
}

#[test]
fn machine_file_errors_name_the_line() {
    let error =
        Hardware::from_toml_str("id = \"x\"\nname = \"x\"\nkind = \"hybrid\"\ndevices = []\n")
            .err();
    match error {
        Some(HardwareError::Parse { line, .. }) => assert_eq!(line, 3),
        other => panic!("expected a parse error, got {other:?}"),
    }
    let error =
        Hardware::from_toml_str("id = \"x\"\nname = \"x\"\nkind = \"unified\"\ndevices = []\n")
            .err()
            .map(|e| e.to_string());
    assert_eq!(error.as_deref(), Some("machine `x`: no devices"));
}

#[test]
fn builds_a_machine_from_flags() {
    let mac = HardwareBuilder::from_flags("64GiB", Some("400GB/s"), None, true)
        .expect("flags")
        .gpu_share(GpuShare::MacosDefault)
        .build()
        .expect("machine");
    assert_eq!(mac.kind, MemoryKind::Unified);
    assert_eq!(mac.gpu_memory_bytes(None), 48 * GIB);
    assert_eq!(mac.bandwidth_bytes_per_second(), 400_000_000_000);
    let error = HardwareBuilder::from_flags("64G", None, None, true)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        error.as_deref(),
        Some(
            "--memory: `64G`: unknown unit `G`; use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)"
        )
    );
    let error = HardwareBuilder::from_flags("64GiB", None, Some("128GiB"), true)
        .and_then(HardwareBuilder::build)
        .err()
        .map(|e| e.to_string());
    assert!(
        error.is_some_and(|message| message.contains("--system-memory applies to discrete GPUs"))
    );
}

// ---------------------------------------------------------------- sizes ---

#[test]
fn parses_binary_and_decimal_sizes() {
    assert_eq!(parse_bytes("64GiB"), Ok(64 * GIB));
    assert_eq!(parse_bytes("64GB"), Ok(64_000_000_000));
    assert_eq!(parse_bytes("64 gib"), Ok(64 * GIB));
    assert_eq!(parse_bytes("512MiB"), Ok(512 * MIB));
    assert_eq!(parse_bytes("1.5TB"), Ok(1_500_000_000_000));
    assert_eq!(parse_bytes("4096"), Ok(4096));
}

#[test]
fn size_errors_say_what_is_wrong() {
    assert_eq!(parse_bytes(""), Err(SizeError::Empty));
    assert!(matches!(parse_bytes("64G"), Err(SizeError::UnknownUnit { unit, .. }) if unit == "G"));
    assert!(matches!(
        parse_bytes("GB"),
        Err(SizeError::InvalidNumber { .. })
    ));
    assert!(matches!(
        parse_bytes("-5GB"),
        Err(SizeError::InvalidNumber { .. })
    ));
    assert!(matches!(
        parse_bytes("99999999999TiB"),
        Err(SizeError::Overflow { .. })
    ));
}

#[test]
fn parses_bandwidths() {
    assert_eq!(parse_bandwidth("400GB/s"), Ok(400_000_000_000));
    assert_eq!(parse_bandwidth("1.8 TB/s"), Ok(1_800_000_000_000));
    assert_eq!(parse_bandwidth("819GBps"), Ok(819_000_000_000));
    assert_eq!(
        parse_bandwidth("400GB"),
        Err(SizeError::MissingPerSecond {
            input: "400GB".to_owned()
        })
    );
    assert!(
        matches!(parse_bandwidth("200Gb/s"), Err(SizeError::Bits { unit, .. }) if unit == "Gb"),
        "Gb/s is bits, not bytes"
    );
    assert_eq!(parse_bandwidth("273 gib/s"), Ok(273 * GIB));
}

#[test]
fn prints_memory_in_binary_units() {
    assert_eq!(format_bytes_binary(64 * GIB), "64.00 GiB");
    assert_eq!(format_bytes_binary(48 * GIB + 512 * MIB), "48.50 GiB");
    assert_eq!(format_bytes_binary(96 * 1024), "96.00 KiB");
}

#[test]
fn catalog_errors_keep_their_source() {
    let error = catalog::parse_models("models = 3").err();
    match error {
        Some(error @ CatalogError::Parse { .. }) => {
            assert!(std::error::Error::source(&error).is_some());
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}
