//! Facts for the rule tests, built in code: catalog models laid out as Q4_K_M files, machines,
//! Modelfiles, short logs in Ollama v0.15.5's format, and client descriptions.

use std::collections::BTreeMap;

use headroom_ollama::api::Timings;
use headroom_ollama::context::Endpoint;
use headroom_ollama::log::parse_log;
use headroom_ollama::{Modelfile, ServerEnvironment, Version};

use crate::doctor::Evidence;
use crate::doctor::bundle::modelfile_facts;
use crate::doctor::facts::{ClientFacts, Facts, Located, LogFacts, MachineFacts, ModelFacts};
use crate::memory::ModelWeights;
use crate::memory::fit::Machine;
use crate::quant::FileType;
use crate::spec::ModelSpec;
use crate::tensors::quantized_tensors;

const GIB: u64 = 1024 * 1024 * 1024;

fn here(key: &str) -> Evidence {
    Evidence::key("test", Some(1), key, key)
}

/// A catalog model as a Q4_K_M file.
pub(crate) fn model(id: &str) -> ModelFacts {
    let catalog = crate::catalog::find(id).unwrap();
    let spec = ModelSpec::from_config(&catalog.config).unwrap();
    let tensors = quantized_tensors(&spec, FileType::from_name("Q4_K_M").unwrap()).unwrap();
    ModelFacts {
        weights: ModelWeights::from_plan(&tensors),
        spec,
        source: format!("{id}.gguf"),
        header_only: true,
    }
}

/// Unified memory with macOS's default GPU share.
pub(crate) fn unified(gib: u64) -> MachineFacts {
    let total = gib * GIB;
    MachineFacts {
        name: format!("{gib} GiB Mac"),
        catalog_id: None,
        machine: Machine::unified(total, crate::hardware::macos_default_gpu_share_bytes(total)),
        evidence: here("memory_gib"),
        gpu_share_note: None,
    }
}

/// A discrete GPU.
pub(crate) fn discrete(gpu_gib: u64, system_gib: u64) -> MachineFacts {
    MachineFacts {
        name: format!("{gpu_gib} GiB GPU"),
        catalog_id: None,
        machine: Machine::discrete(gpu_gib * GIB, system_gib * GIB),
        evidence: here("gpu_memory_gib"),
        gpu_share_note: None,
    }
}

pub(crate) fn log(text: &str) -> LogFacts {
    let events = parse_log(text);
    let lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index as u64 + 1, line.to_owned()))
        .collect();
    LogFacts {
        path: "server.log".to_owned(),
        events,
        lines,
    }
}

fn client(model: &str, api: Endpoint) -> ClientFacts {
    ClientFacts {
        path: "client.toml".to_owned(),
        model: Some(Located::new(model.to_owned(), here("model"))),
        api: Located::new(api, here("api")),
        timeout_seconds: None,
        num_ctx: None,
        parallel_requests: Some(Located::new(1, here("parallel_requests"))),
        typical_prompt_tokens: None,
        observed_prompt_tokens: Vec::new(),
        timings: Vec::new(),
        prefill_tokens_per_second: None,
    }
}

fn timing(tokens: u64, nanoseconds: u64) -> Located<Timings> {
    Located::new(
        Timings {
            prompt_eval_count: Some(tokens),
            prompt_eval_duration: Some(nanoseconds),
            ..Timings::default()
        },
        here("timings"),
    )
}

fn environment(pairs: &[(&str, &str)]) -> ServerEnvironment {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    ServerEnvironment::from_map(&map)
}

const STORY_LOG: &str = r#"time=2026-02-18T09:12:01.000+01:00 level=INFO source=routes.go:1554 msg="Listening on 127.0.0.1:11434 (version 0.15.5)"
time=2026-02-18T09:14:10.000+01:00 level=INFO source=server.go:1171 msg=load request="{Operation:commit LoraPath:[] Parallel:1 BatchSize:512 FlashAttention:true KvSize:131072 KvCacheType: NumThreads:12 GPULayers:49[ID:0 Layers:49(0..48)] MultiUserCache:false ProjectorPath: MainGPU:0 UseMmap:true}"
time=2026-02-18T11:10:02.000+01:00 level=WARN source=runner.go:187 msg="truncating input prompt" limit=131072 prompt=146760 keep=5 new=131072
[GIN] 2026/02/18 - 11:15:02 | 500 |          5m0s |       127.0.0.1 | POST     "/api/chat"
time=2026-02-18T11:15:04.000+01:00 level=WARN source=runner.go:187 msg="truncating input prompt" limit=131072 prompt=146760 keep=5 new=131072
[GIN] 2026/02/18 - 11:20:04 | 500 |          5m0s |       127.0.0.1 | POST     "/api/chat"
time=2026-02-18T11:20:06.000+01:00 level=WARN source=runner.go:187 msg="truncating input prompt" limit=131072 prompt=146760 keep=5 new=131072
[GIN] 2026/02/18 - 11:25:06 | 500 |          5m0s |       127.0.0.1 | POST     "/api/chat"
"#;

/// The story: Qwen3-Coder 30B-A3B capped at 131,072 on a 64 GiB Mac, three 146,760-token
/// prompts cut and timed out at 300 s, prefill 400 tokens/s.
pub(crate) fn story() -> Facts {
    let mut client = client("qwen3-coder:30b-v-128k", Endpoint::Native);
    client.timeout_seconds = Some(Located::new(300.0, here("timeout_seconds")));
    client.timings = vec![
        timing(92_160, 230_400_000_000),
        timing(64_512, 161_280_000_000),
    ];
    let modelfile = Modelfile::parse(
        "FROM qwen3-coder:30b\nPARAMETER num_ctx 131072\nPARAMETER temperature 0.7\n",
    )
    .unwrap();
    Facts {
        origin: "story".to_owned(),
        model: Some(model("qwen3-coder-30b-a3b")),
        modelfile: Some(modelfile_facts("Modelfile".to_owned(), modelfile)),
        server: crate::doctor::facts::ServerFacts {
            version: Some(Located::new(Version::new(0, 15, 5), here("version"))),
            environment: Some(environment(&[])),
            variables: Vec::new(),
        },
        log: Some(log(STORY_LOG)),
        client: Some(client),
        machine: Some(unified(64)),
        ..Facts::default()
    }
}

/// The facts with the Modelfile's num_ctx set to `tokens`.
pub(crate) fn with_modelfile_num_ctx(mut facts: Facts, tokens: u64) -> Facts {
    if let Some(modelfile) = facts.modelfile.take() {
        let mut edited = modelfile.modelfile.clone();
        edited
            .set_parameter("num_ctx", &tokens.to_string())
            .unwrap();
        facts.modelfile = Some(modelfile_facts(modelfile.path, edited));
    }
    facts
}

/// The facts on a smaller Mac.
pub(crate) fn small_machine(mut facts: Facts, gib: u64) -> Facts {
    facts.machine = Some(unified(gib));
    facts
}

/// A /v1 client asking for 32,768 tokens from qwen3:8b on Ollama 0.12.3 (default 4,096).
pub(crate) fn openai_client() -> Facts {
    let mut client = client("qwen3:8b", Endpoint::OpenAiCompatible);
    client.num_ctx = Some(Located::new(32_768, here("num_ctx")));
    Facts {
        origin: "openai".to_owned(),
        model: Some(model("qwen3-8b")),
        server: crate::doctor::facts::ServerFacts {
            version: Some(Located::new(Version::new(0, 12, 3), here("version"))),
            environment: Some(environment(&[])),
            variables: Vec::new(),
        },
        log: Some(log(
            r#"time=2025-10-02T14:03:11.000-04:00 level=WARN source=runner.go:159 msg="truncating input prompt" limit=4096 prompt=14906 keep=4 new=4096
[GIN] 2025/10/02 - 14:03:19 | 200 |  8.12345678s |       127.0.0.1 | POST     "/v1/chat/completions"
"#,
        )),
        client: Some(client),
        machine: Some(discrete(24, 64)),
        ..Facts::default()
    }
}

/// Llama 3.1 8B with num_ctx 65,536 and four slots on a 24 GiB GPU.
pub(crate) fn parallel_slots() -> Facts {
    let modelfile = Modelfile::parse("FROM llama3.1:8b\nPARAMETER num_ctx 65536\n").unwrap();
    Facts {
        origin: "parallel".to_owned(),
        model: Some(model("llama-3.1-8b")),
        modelfile: Some(modelfile_facts("Modelfile".to_owned(), modelfile)),
        server: crate::doctor::facts::ServerFacts {
            version: Some(Located::new(Version::new(0, 15, 5), here("version"))),
            environment: Some(environment(&[("OLLAMA_NUM_PARALLEL", "4")])),
            variables: Vec::new(),
        },
        client: Some(client("llama3.1:8b", Endpoint::Native)),
        machine: Some(discrete(24, 64)),
        ..Facts::default()
    }
}

/// Llama 3.3 70B on a 32 GiB Mac.
pub(crate) fn does_not_fit() -> Facts {
    Facts {
        origin: "too-big".to_owned(),
        model: Some(model("llama-3.3-70b")),
        server: crate::doctor::facts::ServerFacts {
            version: Some(Located::new(Version::new(0, 15, 5), here("version"))),
            environment: Some(environment(&[])),
            variables: Vec::new(),
        },
        client: Some(client("llama3.3:70b", Endpoint::Native)),
        machine: Some(unified(32)),
        ..Facts::default()
    }
}

/// The story's model loaded three times in one morning.
pub(crate) fn reloading() -> Facts {
    let mut facts = with_modelfile_num_ctx(story(), 262_144);
    facts.log = Some(log(
        r#"time=2026-02-18T09:14:10.000+01:00 level=INFO source=server.go:1171 msg=load request="{Operation:commit LoraPath:[] Parallel:1 BatchSize:512 FlashAttention:true KvSize:262144 KvCacheType: NumThreads:12 GPULayers:49[ID:0 Layers:49(0..48)] MultiUserCache:false ProjectorPath: MainGPU:0 UseMmap:true}"
time=2026-02-18T09:14:16.000+01:00 level=INFO source=server.go:1390 msg="llama runner started in 6.02 seconds"
time=2026-02-18T09:40:00.000+01:00 level=INFO source=server.go:1171 msg=load request="{Operation:commit LoraPath:[] Parallel:1 BatchSize:512 FlashAttention:true KvSize:262144 KvCacheType: NumThreads:12 GPULayers:49[ID:0 Layers:49(0..48)] MultiUserCache:false ProjectorPath: MainGPU:0 UseMmap:true}"
time=2026-02-18T09:40:06.000+01:00 level=INFO source=server.go:1390 msg="llama runner started in 6.10 seconds"
time=2026-02-18T10:20:00.000+01:00 level=INFO source=server.go:1171 msg=load request="{Operation:commit LoraPath:[] Parallel:1 BatchSize:512 FlashAttention:true KvSize:262144 KvCacheType: NumThreads:12 GPULayers:49[ID:0 Layers:49(0..48)] MultiUserCache:false ProjectorPath: MainGPU:0 UseMmap:true}"
time=2026-02-18T10:20:06.000+01:00 level=INFO source=server.go:1390 msg="llama runner started in 5.98 seconds"
"#,
    ));
    facts
}
