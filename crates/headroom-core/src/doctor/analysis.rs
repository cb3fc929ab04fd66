//! The numbers every rule shares, derived once from the facts: the context Ollama really gives
//! a request (with the rule chain that decided it), what the log shows was loaded, memory at
//! the configured and at the trained context on the machine, the largest context per KV cache
//! type, the prompt sizes seen, the prefill rate and where it was measured, and the HTTP
//! requests of the log.

use headroom_ollama::context::{ContextQuery, EffectiveContext, Endpoint, effective_context};
use headroom_ollama::log::EventKind;
use headroom_ollama::{ServerEnvironment, Version};

use crate::memory::fit::{ContextFit, FitVerdict, largest_context};
use crate::memory::{ContextSettings, Estimator, MemoryEstimate};
use crate::quant::TensorType;

use super::Evidence;
use super::facts::{Facts, Located, MachineFacts};
use super::format;

/// Ollama's default `num_batch` (`api/types.go DefaultOptions`: NumBatch 512).
pub const OLLAMA_NUM_BATCH: u64 = 512;

/// The version whose rules apply when the server's version is unknown: v0.15.5 (3 Feb 2026,
/// the VRAM-tiered default context; ../shared/reference/peers-and-routing.md §2.2).
pub const ASSUMED_VERSION: Version = Version::new(0, 15, 5);

/// Prompts shorter than this are left out of a measured prefill rate: short prompts are
/// dominated by fixed costs and prefix-cache hits, and say little about long ones.
pub const MIN_RATE_PROMPT_TOKENS: u64 = 1000;

/// The KV cache types the doctor tries, most precise first (Ollama accepts f16, q8_0 and
/// q4_0 in `OLLAMA_KV_CACHE_TYPE`; memory-anchors.md §3.3).
pub const KV_TYPES: [TensorType; 3] = [TensorType::F16, TensorType::Q8_0, TensorType::Q4_0];

/// What the log shows the runner was started with.
#[derive(Debug, Clone)]
pub struct ObservedLoad {
    /// KV cells over all slots (`KvSize`, `--ctx-size`).
    pub context_tokens: u64,
    /// Slots.
    pub parallel: u64,
    /// KV cache type, when given (empty = f16).
    pub kv_cache_type: Option<String>,
    /// The line.
    pub evidence: Evidence,
}

impl ObservedLoad {
    /// The window one request gets.
    pub fn per_slot_tokens(&self) -> u64 {
        self.context_tokens / self.parallel.max(1)
    }
}

/// A prompt cut or refused, from the log.
#[derive(Debug, Clone)]
pub struct Truncation {
    /// Tokens the prompt had.
    pub prompt_tokens: Option<u64>,
    /// The window it had to fit.
    pub limit_tokens: Option<u64>,
    /// Tokens kept (truncation) — `None` for a refusal.
    pub kept_tokens: Option<u64>,
    /// Head tokens always kept (`keep`).
    pub keep_tokens: Option<u64>,
    /// Refused instead of cut.
    pub rejected: bool,
    /// The line.
    pub evidence: Evidence,
}

/// An HTTP request line of the log (GIN).
#[derive(Debug, Clone)]
pub struct Request {
    /// Status.
    pub status: u16,
    /// Latency in seconds (whole seconds above a minute: gin prints Go durations so).
    pub latency_seconds: Option<f64>,
    /// Path.
    pub path: String,
    /// The line.
    pub evidence: Evidence,
}

/// Where a prefill rate comes from, most trusted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateSource {
    /// Ollama's `prompt_eval_count / prompt_eval_duration` of real requests.
    ApiTimings,
    /// headroom's speed model for the catalog machine (a prediction, not a measurement).
    SpeedModel,
    /// A rate the user wrote in client.toml.
    Declared,
}

/// Prompt tokens per second.
#[derive(Debug, Clone)]
pub struct PrefillRate {
    /// Tokens per second.
    pub tokens_per_second: f64,
    /// Where it comes from.
    pub source: RateSource,
    /// How it was computed, in words and numbers.
    pub detail: String,
    /// The measurements.
    pub evidence: Vec<Evidence>,
}

/// Memory for one context on the machine.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Window per request.
    pub per_slot_tokens: u64,
    /// Slots.
    pub parallel: u64,
    /// KV type.
    pub kv_type: TensorType,
    /// The estimate.
    pub estimate: MemoryEstimate,
    /// Fit on the machine.
    pub verdict: FitVerdict,
}

impl Scenario {
    /// Weights, KV and buffers summed, as one line of arithmetic.
    pub fn sum_line(&self) -> String {
        let estimate = &self.estimate;
        let slots = if self.parallel > 1 {
            format!(" × {} slots", self.parallel)
        } else {
            String::new()
        };
        format!(
            "{} tokens{slots}: weights {} + KV cache {} ({}) + buffers {} = {}",
            format::tokens(self.per_slot_tokens),
            format::bytes(estimate.weights.total_bytes()),
            format::bytes(estimate.kv.total_bytes()),
            self.kv_type.name(),
            format::bytes(estimate.compute_bytes + estimate.output_bytes),
            format::bytes(estimate.total_bytes())
        )
    }

    /// Against the machine, as one line.
    pub fn fit_line(&self, machine: &MachineFacts) -> String {
        let verdict = &self.verdict;
        let capacity = if machine.machine.unified {
            format!(
                "the {} the GPU may use of {} unified memory",
                format::bytes(machine.machine.gpu_share_bytes),
                format::bytes(machine.machine.system_memory_bytes)
            )
        } else if machine.machine.gpu_memory_bytes > 0 {
            format!(
                "{} of GPU memory",
                format::bytes(verdict.gpu_capacity_bytes)
            )
        } else {
            format!(
                "{} of system memory",
                format::bytes(verdict.host_capacity_bytes)
            )
        };
        if verdict.fits {
            format!(
                "{} on the GPU side vs {capacity}: fits, {} to spare after llama.cpp's {} safety margin",
                format::bytes(verdict.gpu_needed_bytes),
                format::signed_bytes(verdict.headroom_bytes),
                format::bytes(machine.machine.margin_bytes)
            )
        } else {
            format!(
                "{} on the GPU side vs {capacity}: does not fit, short by {} (with llama.cpp's {} margin)",
                format::bytes(verdict.gpu_needed_bytes),
                format::bytes(verdict.headroom_bytes.unsigned_abs()),
                format::bytes(machine.machine.margin_bytes)
            )
        }
    }
}

/// Memory at the configured and the trained context, and the largest that fits.
#[derive(Debug, Clone)]
pub struct MemoryView {
    /// At the configured context and slots.
    pub configured: Scenario,
    /// At the trained context, same slots and KV type.
    pub trained: Option<Scenario>,
    /// At the trained context with one slot.
    pub trained_single: Option<Scenario>,
    /// Largest total context per KV type with the configured slots (f16, q8_0, q4_0).
    pub largest: Vec<ContextFit>,
    /// Largest context per KV type with one slot.
    pub largest_single: Vec<ContextFit>,
}

impl MemoryView {
    /// The largest window per request that fits with `kv_type` and `parallel` slots (per
    /// slot, a multiple of 256).
    pub fn largest_per_slot(&self, kv_type: TensorType, single: bool) -> Option<u64> {
        let (fits, parallel) = if single {
            (&self.largest_single, 1)
        } else {
            (&self.largest, self.configured.parallel.max(1))
        };
        let fit = fits.iter().find(|fit| fit.cache_type == kv_type)?;
        let per_slot = fit.context_tokens? / parallel;
        Some(per_slot / 256 * 256)
    }
}

/// Everything the rules read.
#[derive(Debug, Clone)]
pub struct Analysis<'a> {
    /// The inputs.
    pub facts: &'a Facts,
    /// The server version (or [`ASSUMED_VERSION`]).
    pub version: Version,
    /// False when the version was assumed.
    pub version_known: bool,
    /// The server's settings (defaults when unknown).
    pub environment: ServerEnvironment,
    /// The API the client uses.
    pub endpoint: Endpoint,
    /// The trained context, when known.
    pub trained_tokens: Option<u64>,
    /// What Ollama computes from the files.
    pub effective: EffectiveContext,
    /// What the log shows was loaded.
    pub observed: Option<ObservedLoad>,
    /// The window per request the doctor judges (the effective one; the log's when no file
    /// sets it).
    pub num_ctx_tokens: u64,
    /// Slots.
    pub parallel: u64,
    /// Where `num_ctx_tokens` comes from.
    pub num_ctx_evidence: Option<Evidence>,
    /// KV type.
    pub kv_type: TensorType,
    /// Flash attention assumed on.
    pub flash_attention: bool,
    /// Memory, when the model and the machine are known.
    pub memory: Option<MemoryView>,
    /// Prompt sizes seen (log truncations and refusals, client measurements), largest first.
    pub prompt_sizes: Vec<Located<u64>>,
    /// Prefill rate.
    pub prefill: Option<PrefillRate>,
    /// GIN request lines.
    pub requests: Vec<Request>,
    /// Truncated or refused prompts.
    pub truncations: Vec<Truncation>,
    /// Model loads seen in the log.
    pub loads: Vec<Evidence>,
    /// Load times (`llama runner started in X seconds`), with the line.
    pub load_seconds: Vec<Located<f64>>,
    /// Unload and eviction lines.
    pub unloads: Vec<Evidence>,
    /// Out-of-memory lines.
    pub out_of_memory: Vec<Evidence>,
    /// Offload lines showing fewer layers on the GPU than the model has.
    pub partial_offload: Vec<Evidence>,
}

fn log_evidence(facts: &Facts, line: u64, timestamp: Option<&String>) -> Evidence {
    let Some(log) = &facts.log else {
        return Evidence::default();
    };
    Evidence {
        file: log.path.clone(),
        line: Some(line),
        key: None,
        timestamp: timestamp.cloned(),
        text: log.lines.get(&line).cloned().unwrap_or_default(),
    }
}

impl<'a> Analysis<'a> {
    /// Derives the shared numbers.
    pub fn new(facts: &'a Facts) -> Analysis<'a> {
        let (version, version_known) = match &facts.server.version {
            Some(version) => (version.value.clone(), true),
            None => (ASSUMED_VERSION, false),
        };
        let environment = facts
            .server
            .environment
            .clone()
            .unwrap_or_else(|| ServerEnvironment::from_map(&Default::default()));
        let endpoint = facts
            .client
            .as_ref()
            .map_or(Endpoint::Native, |client| client.api.value);
        // A converter placeholder (2^20 for models without RoPE) is no window to recommend, from
        // the file or from the log's n_ctx_train.
        let placeholder = facts
            .model
            .as_ref()
            .is_some_and(|model| model.spec.context_is_converter_placeholder());
        let trained_tokens = facts
            .model
            .as_ref()
            .filter(|_| !placeholder)
            .map(|model| model.spec.context_length_trained)
            .filter(|tokens| *tokens > 0)
            .or_else(|| facts.trained_context_tokens.as_ref().map(|t| t.value));

        // The log.
        let mut observed = None;
        let mut truncations = Vec::new();
        let mut requests = Vec::new();
        let mut loads = Vec::new();
        let mut unloads = Vec::new();
        let mut load_seconds = Vec::new();
        let mut out_of_memory = Vec::new();
        let mut partial_offload = Vec::new();
        let mut trained_from_log = None;
        if let Some(log) = &facts.log {
            for event in &log.events {
                let evidence = || log_evidence(facts, event.line, event.timestamp.as_ref());
                match &event.kind {
                    // fit/alloc/commit repeat for one load; commit is the load.
                    EventKind::LoadRequest {
                        operation,
                        context_tokens: Some(context_tokens),
                        parallel,
                        kv_cache_type,
                        ..
                    } if operation.as_deref().is_none_or(|op| op == "commit") => {
                        loads.push(evidence());
                        observed = Some(ObservedLoad {
                            context_tokens: *context_tokens,
                            parallel: parallel.unwrap_or(1),
                            kv_cache_type: kv_cache_type.clone().filter(|t| !t.is_empty()),
                            evidence: evidence(),
                        });
                    }
                    EventKind::RunnerStarting {
                        context_tokens: Some(context_tokens),
                        parallel,
                        kv_cache_type,
                        ..
                    } => {
                        loads.push(evidence());
                        observed = Some(ObservedLoad {
                            context_tokens: *context_tokens,
                            parallel: parallel.unwrap_or(1),
                            kv_cache_type: kv_cache_type.clone(),
                            evidence: evidence(),
                        });
                    }
                    EventKind::PromptTruncated {
                        limit_tokens,
                        prompt_tokens,
                        new_tokens,
                        keep_tokens,
                        ..
                    } => truncations.push(Truncation {
                        prompt_tokens: *prompt_tokens,
                        limit_tokens: *limit_tokens,
                        kept_tokens: new_tokens.or(*limit_tokens),
                        keep_tokens: *keep_tokens,
                        rejected: false,
                        evidence: evidence(),
                    }),
                    EventKind::PromptTooLong {
                        prompt_tokens,
                        context_tokens,
                        ..
                    } => truncations.push(Truncation {
                        prompt_tokens: *prompt_tokens,
                        limit_tokens: *context_tokens,
                        kept_tokens: None,
                        keep_tokens: None,
                        rejected: true,
                        evidence: evidence(),
                    }),
                    EventKind::Request {
                        status,
                        latency_seconds,
                        path,
                        ..
                    } => requests.push(Request {
                        status: *status,
                        latency_seconds: *latency_seconds,
                        path: path.clone(),
                        evidence: evidence(),
                    }),
                    EventKind::Unload { .. } => unloads.push(evidence()),
                    EventKind::RunnerStarted {
                        seconds: Some(seconds),
                    } => load_seconds.push(Located::new(*seconds, evidence())),
                    EventKind::OutOfMemory { .. } => out_of_memory.push(evidence()),
                    EventKind::LayersOffloaded { offloaded, total } if offloaded < total => {
                        partial_offload.push(evidence());
                    }
                    EventKind::ContextTooLargeForModel {
                        trained_tokens: Some(trained),
                        ..
                    } => trained_from_log = Some(*trained),
                    _ => {}
                }
            }
        }
        let trained_tokens = trained_tokens.or(trained_from_log.filter(|_| !placeholder));

        // What Ollama computes from the files.
        let modelfile_num_ctx = facts
            .modelfile
            .as_ref()
            .and_then(|modelfile| modelfile.num_ctx.as_ref())
            .map(|num_ctx| num_ctx.value);
        let request_num_ctx = facts
            .client
            .as_ref()
            .and_then(|client| client.num_ctx.as_ref())
            .map(|num_ctx| num_ctx.value);
        let total_vram_bytes = facts.machine.as_ref().and_then(|machine| {
            let machine = &machine.machine;
            if machine.unified {
                Some(machine.gpu_share_bytes)
            } else if machine.gpu_memory_bytes > 0 {
                Some(machine.gpu_memory_bytes)
            } else {
                None
            }
        });
        let family = facts
            .model
            .as_ref()
            .map(|model| model.spec.architecture.as_str());
        let effective = effective_context(&ContextQuery {
            version: &version,
            endpoint,
            request_num_ctx,
            modelfile_num_ctx,
            environment: &environment,
            total_vram_bytes,
            gpu_count: 1,
            model_family: family,
            vision: false,
            trained_context_tokens: trained_tokens,
            load_failed_out_of_memory: !out_of_memory.is_empty() && version.at_least(0, 30, 0),
        });

        // The files say it, unless nothing sets it and the log shows what was loaded.
        let honoured_request = request_num_ctx.is_some() && endpoint == Endpoint::Native;
        let set_by_files =
            modelfile_num_ctx.is_some() || honoured_request || environment.context_length > 0;
        let (num_ctx_tokens, num_ctx_evidence) = match (&observed, set_by_files) {
            (Some(observed), false) => {
                (observed.per_slot_tokens(), Some(observed.evidence.clone()))
            }
            _ => {
                let evidence = if let Some(num_ctx) = facts
                    .client
                    .as_ref()
                    .and_then(|client| client.num_ctx.as_ref())
                    .filter(|_| honoured_request)
                {
                    Some(num_ctx.evidence.clone())
                } else if let Some(num_ctx) = facts
                    .modelfile
                    .as_ref()
                    .and_then(|modelfile| modelfile.num_ctx.as_ref())
                {
                    Some(num_ctx.evidence.clone())
                } else {
                    facts
                        .server
                        .variable("OLLAMA_CONTEXT_LENGTH")
                        .map(|variable| variable.evidence.clone())
                };
                (effective.num_ctx_tokens, evidence)
            }
        };
        let parallel = match (&observed, environment.num_parallel) {
            (Some(observed), None) => observed.parallel.max(1),
            _ => effective.num_parallel.max(1),
        };
        let kv_type = environment
            .kv_cache_type
            .as_deref()
            .or(observed.as_ref().and_then(|o| o.kv_cache_type.as_deref()))
            .and_then(TensorType::from_name)
            .unwrap_or(TensorType::F16);
        let flash_attention = environment.flash_attention.unwrap_or(true);

        let memory = memory_view(
            facts,
            num_ctx_tokens,
            parallel,
            kv_type,
            flash_attention,
            trained_tokens,
        );

        // Prompt sizes.
        let mut prompt_sizes: Vec<Located<u64>> = truncations
            .iter()
            .filter_map(|truncation| {
                Some(Located::new(
                    truncation.prompt_tokens?,
                    truncation.evidence.clone(),
                ))
            })
            .collect();
        if let Some(client) = &facts.client {
            prompt_sizes.extend(client.observed_prompt_tokens.iter().cloned());
            prompt_sizes.extend(client.typical_prompt_tokens.iter().cloned());
            for timing in &client.timings {
                if let Some(count) = timing.value.prompt_eval_count {
                    prompt_sizes.push(Located::new(count, timing.evidence.clone()));
                }
            }
        }
        prompt_sizes.sort_by_key(|prompt| std::cmp::Reverse(prompt.value));

        let prefill = prefill_rate(facts).or_else(|| {
            let prompt = prompt_sizes.first().map(|prompt| prompt.value)?;
            predicted_prefill_rate(facts, prompt.min(num_ctx_tokens), kv_type)
        });
        let prefill = match (prefill, declared_rate(facts)) {
            (Some(rate), _) => Some(rate),
            (None, declared) => declared,
        };

        Analysis {
            facts,
            version,
            version_known,
            environment,
            endpoint,
            trained_tokens,
            effective,
            observed,
            num_ctx_tokens,
            parallel,
            num_ctx_evidence,
            kv_type,
            flash_attention,
            memory,
            prompt_sizes,
            prefill,
            requests,
            truncations,
            loads,
            load_seconds,
            unloads,
            out_of_memory,
            partial_offload,
        }
    }

    /// The largest prompt seen, with where.
    pub fn largest_prompt(&self) -> Option<&Located<u64>> {
        self.prompt_sizes.first()
    }

    /// Requests that ended at the client's timeout (within gin's whole-second rounding).
    pub fn timed_out_requests(&self) -> Vec<&Request> {
        let Some(timeout) = self.client_timeout_seconds() else {
            return Vec::new();
        };
        self.requests
            .iter()
            .filter(|request| {
                request.latency_seconds.is_some_and(|latency| {
                    // gin prints durations above a minute in whole seconds (`5m0s`).
                    latency >= timeout - 1.0 && latency <= timeout + 5.0
                })
            })
            .collect()
    }

    /// The client's timeout.
    pub fn client_timeout_seconds(&self) -> Option<f64> {
        self.facts
            .client
            .as_ref()
            .and_then(|client| client.timeout_seconds.as_ref())
            .map(|timeout| timeout.value)
    }

    /// The machine.
    pub fn machine(&self) -> Option<&MachineFacts> {
        self.facts.machine.as_ref()
    }

    /// The model's display name.
    pub fn model_label(&self) -> String {
        self.facts
            .model_name()
            .map(str::to_owned)
            .or_else(|| {
                self.facts
                    .model
                    .as_ref()
                    .and_then(|model| model.spec.name.clone())
            })
            .unwrap_or_else(|| "the model".to_owned())
    }

    /// Checks that passed, with their numbers.
    pub fn checks(&self) -> Vec<String> {
        let mut checks = Vec::new();
        if let (Some(memory), Some(machine)) = (&self.memory, self.machine()) {
            if memory.configured.verdict.fits {
                checks.push(format!(
                    "memory at the configured context: {}; {}",
                    memory.configured.sum_line(),
                    memory.configured.fit_line(machine)
                ));
            }
            if let Some(trained) = &memory.trained
                && trained.verdict.fits
                && trained.per_slot_tokens != memory.configured.per_slot_tokens
            {
                checks.push(format!(
                    "memory at the trained context: {}; {}",
                    trained.sum_line(),
                    trained.fit_line(machine)
                ));
            }
        }
        if let (Some(rate), Some(prompt), Some(timeout)) = (
            &self.prefill,
            self.largest_prompt(),
            self.client_timeout_seconds(),
        ) {
            let tokens = prompt.value.min(self.num_ctx_tokens);
            let seconds = tokens as f64 / rate.tokens_per_second;
            if seconds <= timeout {
                checks.push(format!(
                    "prefill: {} tokens ÷ {} = {}, within the client's {} timeout ({})",
                    format::tokens(tokens),
                    format::rate(rate.tokens_per_second),
                    format::seconds(seconds),
                    format::seconds(timeout),
                    match rate.source {
                        RateSource::ApiTimings => "rate measured from the API timings",
                        RateSource::SpeedModel => "rate predicted by the speed model, not measured",
                        RateSource::Declared => "rate as stated in client.toml",
                    }
                ));
            }
        }
        if self.parallel == 1 {
            checks.push("parallel slots: 1 (the KV cache is allocated once)".to_owned());
        }
        if self.facts.log.is_some() {
            if self.truncations.is_empty() {
                checks.push("no truncated or refused prompts in the log".to_owned());
            }
            if self.loads.len() == 1 && self.unloads.is_empty() {
                checks.push("the model was loaded once in the log, never unloaded".to_owned());
            }
            if self.out_of_memory.is_empty() && self.partial_offload.is_empty() {
                checks.push("no out-of-memory or partial-offload lines in the log".to_owned());
            }
        }
        if self.facts.client.is_some() && self.endpoint == Endpoint::Native {
            checks.push("the client uses the native API, which honours num_ctx".to_owned());
        }
        checks
    }

    /// What could not be checked, and which input would allow it.
    pub fn not_checked(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if self.facts.model.is_none() {
            missing.push(
                "memory: no GGUF header (add the model's .gguf, or its header, to the bundle)"
                    .to_owned(),
            );
        } else if self.facts.machine.is_none() {
            missing.push("memory against the machine: no machine.toml".to_owned());
        }
        if self.trained_tokens.is_none() {
            missing.push("the trained context: no GGUF header or model info".to_owned());
        }
        if self.facts.log.is_none() {
            missing.push("truncations, timeouts and reloads: no server log".to_owned());
        }
        match &self.facts.client {
            None => missing.push("the client's timeout and API: no client.toml".to_owned()),
            Some(client) => {
                if client.timeout_seconds.is_none() {
                    missing.push(
                        "prefill against the timeout: client.toml has no timeout_seconds"
                            .to_owned(),
                    );
                } else if self.prefill.is_none() {
                    missing.push("prefill against the timeout: no prefill rate (no [[timings]] in client.toml, no prefill_tokens_per_second, and no catalog machine or model header for the speed model)".to_owned());
                }
            }
        }
        if !self.version_known {
            missing.push(format!(
                "the Ollama version: not in the log or client.toml; v{ASSUMED_VERSION} rules assumed"
            ));
        }
        missing
    }

    /// What was read.
    pub fn inputs(&self) -> Vec<String> {
        let facts = self.facts;
        let mut inputs = Vec::new();
        if let Some(modelfile) = &facts.modelfile {
            inputs.push(format!("Modelfile: {}", modelfile.path));
        }
        if let Some(model) = &facts.model {
            let context = if model.spec.context_is_converter_placeholder() {
                format!(
                    "context_length {}, the converter's placeholder for models without RoPE",
                    format::tokens(model.spec.context_length_trained)
                )
            } else {
                format!(
                    "trained for {} tokens",
                    format::tokens(model.spec.context_length_trained)
                )
            };
            inputs.push(format!(
                "model: {} ({}{}, {context})",
                model.source,
                model.spec.architecture,
                if model.header_only {
                    ", header only"
                } else {
                    ""
                },
            ));
        }
        if let Some(log) = &facts.log {
            inputs.push(format!(
                "server log: {} ({} events)",
                log.path,
                log.events.len()
            ));
        }
        if let Some(client) = &facts.client {
            inputs.push(format!("client: {}", client.path));
        }
        if let Some(machine) = &facts.machine {
            inputs.push(format!(
                "machine: {} ({})",
                machine.name, machine.evidence.file
            ));
        }
        inputs.push(format!(
            "Ollama: v{}{}",
            self.version,
            if self.version_known { "" } else { " (assumed)" }
        ));
        inputs
    }
}

fn memory_view(
    facts: &Facts,
    num_ctx_tokens: u64,
    parallel: u64,
    kv_type: TensorType,
    flash_attention: bool,
    trained_tokens: Option<u64>,
) -> Option<MemoryView> {
    let model = facts.model.as_ref()?;
    let machine = &facts.machine.as_ref()?.machine;
    let estimator = Estimator::new(&model.spec, &model.weights, None);
    let settings_for = |per_slot: u64, slots: u64, kv: TensorType| {
        let mut settings =
            ContextSettings::ollama(per_slot, slots, OLLAMA_NUM_BATCH).with_cache_type(kv);
        settings.flash_attention = flash_attention || kv.is_quantized();
        settings
    };
    let scenario = |per_slot: u64, slots: u64, kv: TensorType| -> Option<Scenario> {
        let estimate = estimator
            .estimate(&settings_for(per_slot, slots, kv))
            .ok()?;
        let verdict = machine.verdict(&estimate);
        Some(Scenario {
            per_slot_tokens: per_slot,
            parallel: slots,
            kv_type: kv,
            estimate,
            verdict,
        })
    };
    let configured = scenario(num_ctx_tokens, parallel, kv_type)?;
    let trained = trained_tokens.and_then(|trained| scenario(trained, parallel, kv_type));
    let trained_single = trained_tokens.and_then(|trained| scenario(trained, 1, kv_type));
    let ceiling = trained_tokens.unwrap_or(num_ctx_tokens).max(num_ctx_tokens);
    let search = |slots: u64| -> Vec<ContextFit> {
        KV_TYPES
            .iter()
            .filter_map(|kv| {
                let base = ContextSettings {
                    context_tokens: 0,
                    ..settings_for(ceiling, slots, *kv)
                };
                largest_context(&estimator, machine, &base, *kv, ceiling * slots).ok()
            })
            .collect()
    };
    Some(MemoryView {
        configured,
        trained,
        trained_single,
        largest: search(parallel),
        largest_single: search(1),
    })
}

fn prefill_rate(facts: &Facts) -> Option<PrefillRate> {
    let client = facts.client.as_ref()?;
    let measured: Vec<_> = client
        .timings
        .iter()
        .filter_map(|timing| {
            let count = timing.value.prompt_eval_count?;
            let duration = timing.value.prompt_eval_duration?;
            (count >= MIN_RATE_PROMPT_TOKENS && duration > 0).then_some((count, duration, timing))
        })
        .collect();
    if !measured.is_empty() {
        let tokens: u64 = measured.iter().map(|(count, _, _)| count).sum();
        let nanoseconds: u64 = measured.iter().map(|(_, duration, _)| duration).sum();
        let seconds = nanoseconds as f64 / 1e9;
        let rate = tokens as f64 / seconds;
        return Some(PrefillRate {
            tokens_per_second: rate,
            source: RateSource::ApiTimings,
            detail: format!(
                "measured: {} prompt tokens in {:.1} s over {} request{} (prompt_eval_count / prompt_eval_duration) = {}",
                format::tokens(tokens),
                seconds,
                measured.len(),
                if measured.len() == 1 { "" } else { "s" },
                format::rate(rate)
            ),
            evidence: measured
                .iter()
                .map(|(_, _, timing)| timing.evidence.clone())
                .collect(),
        });
    }
    None
}

/// The rate the user stated in client.toml.
fn declared_rate(facts: &Facts) -> Option<PrefillRate> {
    let declared = facts.client.as_ref()?.prefill_tokens_per_second.as_ref()?;
    Some(PrefillRate {
        tokens_per_second: declared.value,
        source: RateSource::Declared,
        detail: format!(
            "stated in {} (not measured): {}",
            declared.evidence.file,
            format::rate(declared.value)
        ),
        evidence: vec![declared.evidence.clone()],
    })
}

/// The speed model's prefill rate for a `prompt_tokens` prompt on the catalog machine.
fn predicted_prefill_rate(
    facts: &Facts,
    prompt_tokens: u64,
    kv_type: TensorType,
) -> Option<PrefillRate> {
    use crate::speed::{MachineModel, ModelProfile, SpeedModel};
    let model = facts.model.as_ref()?;
    let machine = facts.machine.as_ref()?;
    let hardware = crate::hardware::find_hardware(machine.catalog_id.as_deref()?)?;
    if prompt_tokens == 0 {
        return None;
    }
    let wired_limit_mb = machine
        .machine
        .unified
        .then_some(machine.machine.gpu_share_bytes / (1024 * 1024));
    let profile = ModelProfile::new(&model.spec, &model.weights, kv_type);
    let machine_model = MachineModel::new(hardware, None, None, wired_limit_mb);
    let speed = SpeedModel::new(profile, machine_model, 0);
    let seconds = speed.prefill_seconds(0, prompt_tokens);
    if !(seconds.is_finite() && seconds > 0.0) {
        return None;
    }
    let rate = prompt_tokens as f64 / seconds;
    Some(PrefillRate {
        tokens_per_second: rate,
        source: RateSource::SpeedModel,
        detail: format!(
            "predicted, not measured: headroom's speed model gives {} for a {}-token prompt on a {} (record `[[timings]]` in client.toml to use a measurement)",
            format::rate(rate),
            format::tokens(prompt_tokens),
            machine.name
        ),
        evidence: vec![machine.evidence.clone()],
    })
}
