//! The context a request really gets from an Ollama server, computed the way the server does,
//! with the chain of rules that decided it (each with the Ollama versions it holds for and the
//! source file it was read from), so a doctor can explain the number.
//!
//! Sources (ollama/ollama, read at the tags named in each rule): `api/types.go DefaultOptions`,
//! `envconfig/config.go`, `server/routes.go` (`modelOptions`, `scheduleRunner`, `Serve`),
//! `server/sched.go` (`GetRunner`, `load`, `reduceAutoNumCtxForLoadOOM`), `llm/server.go`
//! (`NewLlamaServer`), `openai/openai.go`.

use serde::Serialize;

use crate::config::ServerEnvironment;
use crate::version::{Version, VersionRange};

const GIB: u64 = 1024 * 1024 * 1024;

/// Which API the request arrives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `/api/generate`, `/api/chat`: `options.num_ctx` is honoured.
    Native,
    /// The OpenAI-compatible `/v1/...`: `openai/openai.go` maps only stop, max_tokens,
    /// temperature, seed, penalties and top_p into options, never `num_ctx`.
    OpenAiCompatible,
}

/// The rule that decided one step of the computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextRule {
    /// The server default (fixed or VRAM tier).
    Default,
    /// `OLLAMA_CONTEXT_LENGTH` replaced the default.
    EnvironmentContextLength,
    /// `OLLAMA_CONTEXT_LENGTH` is set but this version does not read it.
    EnvironmentIgnored,
    /// `PARAMETER num_ctx` in the Modelfile (the params layer).
    ModelfileNumCtx,
    /// `options.num_ctx` in the request.
    RequestNumCtx,
    /// The request asked for `num_ctx` on `/v1`, which drops it.
    OpenAiIgnoresNumCtx,
    /// `GetRunner`: a context below 4 becomes 4.
    MinimumFour,
    /// `GetRunner`: vision models get at least 2048.
    VisionMinimum,
    /// `scheduleRunner`: gpt-oss (later also qwen3vl) get at least 8192.
    FamilyMinimum,
    /// v0.11.4–v0.15.4 skip that minimum in low-VRAM mode (< 20 GiB).
    LowVramSkipsFamilyMinimum,
    /// `NewLlamaServer`: num_ctx above the trained length is cut to it.
    CappedAtTrainedLength,
    /// Before v0.9.3 nothing caps num_ctx at the trained length.
    NotCapped,
    /// How many requests share the model, hence how many times num_ctx is allocated.
    Parallel,
    /// The architecture does not support parallel requests: forced to 1.
    ParallelForcedToOne,
    /// A failed load made the server retry with less (context tier or parallel 1).
    StepDownAfterOutOfMemory,
}

/// One step of the reason chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextReason {
    /// Which rule.
    pub rule: ContextRule,
    /// The Ollama versions this rule holds for.
    pub versions: VersionRange,
    /// Where in Ollama's source the rule lives.
    pub source: &'static str,
    /// What happened, in words, with the numbers.
    pub detail: String,
}

/// What the caller knows about the server, the model and the request.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextQuery<'a> {
    /// The server version (`/api/version`).
    pub version: &'a Version,
    /// Native API or `/v1`.
    pub endpoint: Endpoint,
    /// `options.num_ctx` of the request, if any.
    pub request_num_ctx: Option<u64>,
    /// `num_ctx` of the model's params layer (Modelfile `PARAMETER num_ctx`), if any.
    pub modelfile_num_ctx: Option<u64>,
    /// The server's environment.
    pub environment: &'a ServerEnvironment,
    /// Total VRAM of all GPUs the server sees, in bytes (before `OLLAMA_GPU_OVERHEAD`);
    /// `None` when unknown (treated as no GPU, as the server does when none is detected).
    pub total_vram_bytes: Option<u64>,
    /// How many GPUs that total covers (the overhead is subtracted once per GPU).
    pub gpu_count: u64,
    /// The model family from the config blob (`model_family`, e.g. `gptoss`, `qwen3moe`).
    pub model_family: Option<&'a str>,
    /// True for models with the vision capability.
    pub vision: bool,
    /// The trained context length (`<arch>.context_length` in the GGUF).
    pub trained_context_tokens: Option<u64>,
    /// True when the first load failed with an out-of-memory error.
    pub load_failed_out_of_memory: bool,
}

/// The result: per-request context, slots, KV cells, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectiveContext {
    /// Tokens one request can use (`num_ctx` after every rule).
    pub num_ctx_tokens: u64,
    /// Parallel slots; the KV cache is allocated for `num_ctx × parallel` tokens.
    pub num_parallel: u64,
    /// `num_ctx_tokens × num_parallel`: the context the runner allocates KV for.
    pub kv_cache_tokens: u64,
    /// True when num_ctx came from no explicit setting (the default), which is what allows the
    /// v0.30+ step-down after an out-of-memory load.
    pub automatic: bool,
    /// The rules that decided it, in the order the server applies them.
    pub reasons: Vec<ContextReason>,
}

const fn range(from: Option<(u64, u64, u64)>, through: Option<(u64, u64, u64)>) -> VersionRange {
    VersionRange { from, through }
}

/// Computes the effective context of a request.
pub fn effective_context(query: &ContextQuery<'_>) -> EffectiveContext {
    let version = query.version;
    let mut reasons = Vec::new();
    let usable_vram_bytes = query.total_vram_bytes.map_or(0, |total| {
        total.saturating_sub(
            query
                .environment
                .gpu_overhead_bytes
                .saturating_mul(query.gpu_count.max(1)),
        )
    });

    // 1. The default.
    let mut num_ctx = default_context(
        version,
        usable_vram_bytes,
        query.total_vram_bytes.is_some(),
        &mut reasons,
    );

    // 2. OLLAMA_CONTEXT_LENGTH replaces the default (v0.5.13+).
    let environment_length = query.environment.context_length;
    if environment_length > 0 {
        if version.at_least(0, 5, 13) {
            num_ctx = environment_length;
            reasons.push(ContextReason {
                rule: ContextRule::EnvironmentContextLength,
                versions: range(Some((0, 5, 13)), None),
                source: "envconfig/config.go ContextLength; api/types.go DefaultOptions",
                detail: format!("OLLAMA_CONTEXT_LENGTH={environment_length} replaces the default"),
            });
        } else {
            reasons.push(ContextReason {
                rule: ContextRule::EnvironmentIgnored,
                versions: range(None, Some((0, 5, 12))),
                source: "envconfig/config.go (OLLAMA_CONTEXT_LENGTH added in v0.5.13)",
                detail: format!(
                    "OLLAMA_CONTEXT_LENGTH={environment_length} is not read by v{version}"
                ),
            });
        }
    }
    let mut automatic = environment_length == 0 || !version.at_least(0, 5, 13);

    // 3. The Modelfile's params layer, then the request (modelOptions: FromMap twice).
    if let Some(modelfile) = query.modelfile_num_ctx {
        num_ctx = modelfile;
        automatic = false;
        reasons.push(ContextReason {
            rule: ContextRule::ModelfileNumCtx,
            versions: range(None, None),
            source: "server/routes.go modelOptions (opts.FromMap(model.Options))",
            detail: format!("the model's Modelfile sets PARAMETER num_ctx {modelfile}"),
        });
    }
    if let Some(requested) = query.request_num_ctx {
        match query.endpoint {
            Endpoint::Native => {
                num_ctx = requested;
                automatic = false;
                reasons.push(ContextReason {
                    rule: ContextRule::RequestNumCtx,
                    versions: range(None, None),
                    source: "server/routes.go modelOptions (opts.FromMap(requestOpts))",
                    detail: format!("the request sets options.num_ctx {requested}"),
                });
            }
            Endpoint::OpenAiCompatible => reasons.push(ContextReason {
                rule: ContextRule::OpenAiIgnoresNumCtx,
                versions: range(None, None),
                source: "openai/openai.go (fromChatRequest/fromCompleteRequest set no num_ctx)",
                detail: format!(
                    "num_ctx {requested} sent to /v1 is dropped; the model's setting applies"
                ),
            }),
        }
    }

    // 4. scheduleRunner: a minimum context for some families, over any setting.
    family_minimum(query, usable_vram_bytes, &mut num_ctx, &mut reasons);

    // 5. GetRunner: at least 4; vision models at least 2048.
    if num_ctx < 4 {
        num_ctx = 4;
        reasons.push(ContextReason {
            rule: ContextRule::MinimumFour,
            versions: range(Some((0, 1, 35)), None),
            source: "server/sched.go GetRunner",
            detail: "num_ctx below 4 is raised to 4".to_owned(),
        });
    }
    if query.vision && version.at_least(0, 11, 5) && num_ctx < 2048 {
        num_ctx = 2048;
        reasons.push(ContextReason {
            rule: ContextRule::VisionMinimum,
            versions: range(Some((0, 11, 5)), None),
            source: "server/sched.go GetRunner (multimodal models require at least 2048 context)",
            detail: "vision model: num_ctx raised to 2048".to_owned(),
        });
    }

    // 6. Parallel slots.
    let mut num_parallel = parallel(query, &mut reasons);

    // 7. Cap at the trained length (v0.9.3+, commit 10a8e04 "avoid context overflow").
    if let Some(trained) = query.trained_context_tokens.filter(|trained| *trained > 0)
        && num_ctx > trained
    {
        if version.at_least(0, 9, 3) {
            reasons.push(ContextReason {
                rule: ContextRule::CappedAtTrainedLength,
                versions: range(Some((0, 9, 3)), None),
                source: "llm/server.go NewLlamaServer (requested context size too large for model)",
                detail: format!(
                    "num_ctx {num_ctx} exceeds the trained length {trained}: cut to {trained}"
                ),
            });
            num_ctx = trained;
        } else {
            reasons.push(ContextReason {
                rule: ContextRule::NotCapped,
                versions: range(None, Some((0, 9, 2))),
                source: "llm/server.go NewLlamaServer (no check before v0.9.3)",
                detail: format!(
                    "num_ctx {num_ctx} exceeds the trained length {trained} and is not capped: positions past {trained} are outside training"
                ),
            });
        }
    }

    // 8. Step-down after an out-of-memory load.
    if query.load_failed_out_of_memory {
        step_down(
            query,
            automatic,
            &mut num_ctx,
            &mut num_parallel,
            &mut reasons,
        );
    }

    EffectiveContext {
        num_ctx_tokens: num_ctx,
        num_parallel,
        kv_cache_tokens: num_ctx.saturating_mul(num_parallel),
        automatic,
        reasons,
    }
}

/// The server's default num_ctx for a version and the usable VRAM.
fn default_context(
    version: &Version,
    usable_vram_bytes: u64,
    vram_known: bool,
    reasons: &mut Vec<ContextReason>,
) -> u64 {
    if version.at_least(0, 15, 5) {
        // server/routes.go Serve (v0.15.5+, commit 0334ffa): thresholds 47/23 GiB, deliberately
        // 1 GiB under 48/24 "to account for small differences in the exact value".
        let tier = if usable_vram_bytes >= 47 * GIB {
            262_144
        } else if usable_vram_bytes >= 23 * GIB {
            32_768
        } else {
            4_096
        };
        let vram = if vram_known {
            format!(
                "{:.1} GiB of VRAM after OLLAMA_GPU_OVERHEAD",
                usable_vram_bytes as f64 / GIB as f64
            )
        } else {
            "no VRAM figure given (as with no GPU detected)".to_owned()
        };
        reasons.push(ContextReason {
            rule: ContextRule::Default,
            versions: range(Some((0, 15, 5)), None),
            source: "server/routes.go Serve (vram-based default context)",
            detail: format!("VRAM-tiered default {tier} (>= 47 GiB: 262144, >= 23 GiB: 32768, else 4096) for {vram}"),
        });
        tier
    } else if version.at_least(0, 6, 7) {
        reasons.push(ContextReason {
            rule: ContextRule::Default,
            versions: range(Some((0, 6, 7)), Some((0, 15, 4))),
            source: "envconfig/config.go ContextLength default 4096 (commit 44b466e)",
            detail: "default 4096".to_owned(),
        });
        4_096
    } else if version.at_least(0, 5, 13) {
        reasons.push(ContextReason {
            rule: ContextRule::Default,
            versions: range(Some((0, 5, 13)), Some((0, 6, 6))),
            source: "envconfig/config.go ContextLength default 2048",
            detail: "default 2048".to_owned(),
        });
        2_048
    } else {
        reasons.push(ContextReason {
            rule: ContextRule::Default,
            versions: range(None, Some((0, 5, 12))),
            source: "api/types.go DefaultOptions (NumCtx: 2048)",
            detail: "default 2048".to_owned(),
        });
        2_048
    }
}

fn family_minimum(
    query: &ContextQuery<'_>,
    usable_vram_bytes: u64,
    num_ctx: &mut u64,
    reasons: &mut Vec<ContextReason>,
) {
    let version = query.version;
    let Some(family) = query.model_family else {
        return;
    };
    let (families, versions): (&[&str], VersionRange) = if version.at_least(0, 15, 5) {
        return;
    } else if version.at_least(0, 12, 7) {
        (
            &["gptoss", "gpt-oss", "qwen3vl", "qwen3vlmoe"],
            range(Some((0, 12, 7)), Some((0, 15, 4))),
        )
    } else if version.at_least(0, 11, 0) {
        (&["gptoss"], range(Some((0, 11, 0)), Some((0, 12, 6))))
    } else {
        return;
    };
    if !families.contains(&family) {
        return;
    }
    // v0.11.4+: lowVRAMThreshold = 20 GiB (server/routes.go); below it the bump is skipped.
    if version.at_least(0, 11, 4) && usable_vram_bytes < 20 * GIB {
        reasons.push(ContextReason {
            rule: ContextRule::LowVramSkipsFamilyMinimum,
            versions: range(Some((0, 11, 4)), Some((0, 15, 4))),
            source: "server/routes.go (lowVRAMThreshold 20 GiB, entering low vram mode)",
            detail: format!("{family}: low VRAM mode (< 20 GiB), no 8192 minimum"),
        });
        return;
    }
    if *num_ctx < 8192 {
        *num_ctx = 8192;
        reasons.push(ContextReason {
            rule: ContextRule::FamilyMinimum,
            versions,
            source: "server/routes.go scheduleRunner (opts.NumCtx = max(opts.NumCtx, 8192))",
            detail: format!("{family}: num_ctx raised to 8192, over any setting"),
        });
    }
}

/// Families forced to one slot. `mllama` since v0.9.0 or earlier (`server/sched.go`, issue
/// 4165); the others as listed at v0.15.5 and v0.33.0-rc2.
const SINGLE_SLOT_FAMILIES: &[&str] = &[
    "mllama",
    "qwen3vl",
    "qwen3vlmoe",
    "qwen35",
    "qwen35moe",
    "qwen3next",
    "lfm2",
    "lfm2moe",
    "nemotron_h",
    "nemotron_h_moe",
    "nemotron_h_omni",
];

fn parallel(query: &ContextQuery<'_>, reasons: &mut Vec<ContextReason>) -> u64 {
    let version = query.version;
    let configured = query
        .environment
        .num_parallel
        .filter(|parallel| *parallel > 0);
    let mut slots = if !version.at_least(0, 2, 0) {
        reasons.push(ContextReason {
            rule: ContextRule::Parallel,
            versions: range(None, Some((0, 1, 99))),
            source: "server/sched.go (no parallel requests before v0.2.0)",
            detail: "one request at a time".to_owned(),
        });
        1
    } else if let Some(configured) = configured {
        reasons.push(ContextReason {
            rule: ContextRule::Parallel,
            versions: range(Some((0, 2, 0)), None),
            source: "envconfig/config.go NumParallel",
            detail: format!(
                "OLLAMA_NUM_PARALLEL={configured}: KV allocated for num_ctx × {configured}"
            ),
        });
        configured
    } else if version.at_least(0, 10, 0) {
        reasons.push(ContextReason {
            rule: ContextRule::Parallel,
            versions: range(Some((0, 10, 0)), None),
            source: "envconfig/config.go NumParallel default 1 (commit 20c3266)",
            detail: "OLLAMA_NUM_PARALLEL unset: 1 slot".to_owned(),
        });
        1
    } else {
        let (automatic, versions) = if version.at_least(0, 6, 7) {
            (2, range(Some((0, 6, 7)), Some((0, 9, 99))))
        } else {
            (4, range(Some((0, 2, 0)), Some((0, 6, 6))))
        };
        reasons.push(ContextReason {
            rule: ContextRule::Parallel,
            versions,
            source: "server/sched.go defaultParallel (OLLAMA_NUM_PARALLEL=0 means auto)",
            detail: format!(
                "OLLAMA_NUM_PARALLEL unset: auto tries {automatic} slots (KV for num_ctx × {automatic}), 1 if that does not fit"
            ),
        });
        automatic
    };
    if slots > 1
        && version.at_least(0, 9, 0)
        && let Some(family) = query
            .model_family
            .filter(|family| SINGLE_SLOT_FAMILIES.contains(family))
    {
        reasons.push(ContextReason {
            rule: ContextRule::ParallelForcedToOne,
            versions: range(Some((0, 9, 0)), None),
            source: "server/sched.go (model architecture does not currently support parallel requests)",
            detail: format!("{family} does not support parallel requests: 1 slot"),
        });
        slots = 1;
    }
    slots
}

fn step_down(
    query: &ContextQuery<'_>,
    automatic: bool,
    num_ctx: &mut u64,
    num_parallel: &mut u64,
    reasons: &mut Vec<ContextReason>,
) {
    let version = query.version;
    if version.at_least(0, 30, 0) {
        // reduceAutoNumCtxForLoadOOM: only an automatic num_ctx, next lower tier, once.
        let lower = if *num_ctx > 32_768 {
            Some(32_768)
        } else if *num_ctx > 4_096 {
            Some(4_096)
        } else {
            None
        };
        let versions = range(Some((0, 30, 0)), None);
        let source = "server/sched.go reduceAutoNumCtxForLoadOOM (reducing automatic context and retrying once)";
        match (automatic, lower) {
            (true, Some(lower)) => {
                reasons.push(ContextReason {
                    rule: ContextRule::StepDownAfterOutOfMemory,
                    versions,
                    source,
                    detail: format!("load ran out of memory: automatic num_ctx {num_ctx} retried once at {lower}"),
                });
                *num_ctx = lower;
            }
            (true, None) => reasons.push(ContextReason {
                rule: ContextRule::StepDownAfterOutOfMemory,
                versions,
                source,
                detail: format!(
                    "load ran out of memory at num_ctx {num_ctx}: no lower tier, the load fails"
                ),
            }),
            (false, _) => reasons.push(ContextReason {
                rule: ContextRule::StepDownAfterOutOfMemory,
                versions,
                source,
                detail: "load ran out of memory: num_ctx was set explicitly, so it is not reduced"
                    .to_owned(),
            }),
        }
    } else if version.at_least(0, 2, 0)
        && !version.at_least(0, 10, 0)
        && query
            .environment
            .num_parallel
            .is_none_or(|parallel| parallel == 0)
        && *num_parallel > 1
    {
        reasons.push(ContextReason {
            rule: ContextRule::StepDownAfterOutOfMemory,
            versions: range(Some((0, 2, 0)), Some((0, 9, 99))),
            source: "server/sched.go (numParallelToTry: defaultParallel, then 1)",
            detail: format!("{num_parallel} slots did not fit: retried with 1"),
        });
        *num_parallel = 1;
    } else {
        reasons.push(ContextReason {
            rule: ContextRule::StepDownAfterOutOfMemory,
            versions: range(None, Some((0, 29, 99))),
            source: "llm/server.go (layers are offloaded to CPU instead; context is kept)",
            detail: "this version does not reduce the context after a failed load".to_owned(),
        });
    }
}

#[cfg(test)]
mod tests;
