use std::collections::BTreeMap;

use super::*;

fn environment(pairs: &[(&str, &str)]) -> ServerEnvironment {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    ServerEnvironment::from_map(&map)
}

fn query<'a>(version: &'a Version, environment: &'a ServerEnvironment) -> ContextQuery<'a> {
    ContextQuery {
        version,
        endpoint: Endpoint::Native,
        request_num_ctx: None,
        modelfile_num_ctx: None,
        environment,
        total_vram_bytes: None,
        gpu_count: 1,
        model_family: None,
        vision: false,
        trained_context_tokens: None,
        load_failed_out_of_memory: false,
    }
}

fn version(text: &str) -> Version {
    text.parse().unwrap()
}

fn rules(result: &EffectiveContext) -> Vec<ContextRule> {
    result.reasons.iter().map(|reason| reason.rule).collect()
}

#[test]
fn default_is_2048_until_0_6_6_and_4096_from_0_6_7() {
    let env = environment(&[]);
    for (text, expected) in [
        ("0.3.0", 2048),
        ("0.5.12", 2048),
        ("0.6.6", 2048),
        ("0.6.7", 4096),
        ("0.15.4", 4096),
    ] {
        let v = version(text);
        assert_eq!(
            effective_context(&query(&v, &env)).num_ctx_tokens,
            expected,
            "{text}"
        );
    }
}

#[test]
fn default_is_vram_tiered_from_0_15_5() {
    let env = environment(&[]);
    let v = version("0.15.5");
    for (vram_gib, expected) in [
        (None, 4096),
        (Some(8), 4096),
        (Some(23), 32768),
        (Some(46), 32768),
        (Some(47), 262_144),
        (Some(80), 262_144),
    ] {
        let mut q = query(&v, &env);
        q.total_vram_bytes = vram_gib.map(|gib: u64| gib * GIB);
        assert_eq!(
            effective_context(&q).num_ctx_tokens,
            expected,
            "{vram_gib:?}"
        );
    }
}

#[test]
fn gpu_overhead_is_subtracted_per_gpu_before_the_tier() {
    let env = environment(&[("OLLAMA_GPU_OVERHEAD", &(GIB).to_string())]);
    let v = version("0.20.0");
    let mut q = query(&v, &env);
    q.total_vram_bytes = Some(48 * GIB);
    q.gpu_count = 2;
    assert_eq!(effective_context(&q).num_ctx_tokens, 32768);
}

#[test]
fn precedence_is_request_then_modelfile_then_environment_then_default() {
    let env = environment(&[("OLLAMA_CONTEXT_LENGTH", "16384")]);
    let v = version("0.12.0");
    let mut q = query(&v, &env);
    assert_eq!(effective_context(&q).num_ctx_tokens, 16384);
    q.modelfile_num_ctx = Some(131_072);
    assert_eq!(effective_context(&q).num_ctx_tokens, 131_072);
    q.request_num_ctx = Some(8192);
    let result = effective_context(&q);
    assert_eq!(result.num_ctx_tokens, 8192);
    assert!(!result.automatic);
    assert_eq!(
        rules(&result),
        vec![
            ContextRule::Default,
            ContextRule::EnvironmentContextLength,
            ContextRule::ModelfileNumCtx,
            ContextRule::RequestNumCtx,
            ContextRule::Parallel
        ]
    );
}

#[test]
fn environment_context_length_is_ignored_before_0_5_13() {
    let env = environment(&[("OLLAMA_CONTEXT_LENGTH", "16384")]);
    let v = version("0.5.7");
    let result = effective_context(&query(&v, &env));
    assert_eq!(result.num_ctx_tokens, 2048);
    assert!(rules(&result).contains(&ContextRule::EnvironmentIgnored));
}

#[test]
fn openai_endpoint_ignores_request_num_ctx() {
    let env = environment(&[]);
    let v = version("0.15.5");
    let mut q = query(&v, &env);
    q.endpoint = Endpoint::OpenAiCompatible;
    q.request_num_ctx = Some(200_000);
    q.modelfile_num_ctx = Some(131_072);
    let result = effective_context(&q);
    assert_eq!(result.num_ctx_tokens, 131_072);
    assert!(rules(&result).contains(&ContextRule::OpenAiIgnoresNumCtx));
}

#[test]
fn story_qwen3_coder_tag_caps_below_trained_length() {
    // The story: qwen3-coder:v-128k sets num_ctx 131072; the model was trained for 262144.
    let env = environment(&[]);
    let v = version("0.15.5");
    let mut q = query(&v, &env);
    q.modelfile_num_ctx = Some(131_072);
    q.trained_context_tokens = Some(262_144);
    q.total_vram_bytes = Some(48 * GIB);
    let result = effective_context(&q);
    assert_eq!(result.num_ctx_tokens, 131_072);
    assert_eq!(result.kv_cache_tokens, 131_072);
}

#[test]
fn capped_at_trained_length_from_0_9_3_only() {
    let env = environment(&[]);
    let new = version("0.9.3");
    let mut q = query(&new, &env);
    q.request_num_ctx = Some(65536);
    q.trained_context_tokens = Some(32768);
    let result = effective_context(&q);
    assert_eq!(result.num_ctx_tokens, 32768);
    assert!(rules(&result).contains(&ContextRule::CappedAtTrainedLength));
    let old = version("0.9.2");
    q.version = &old;
    let result = effective_context(&q);
    assert_eq!(result.num_ctx_tokens, 65536);
    assert!(rules(&result).contains(&ContextRule::NotCapped));
}

#[test]
fn parallel_default_is_auto_before_0_10_and_one_after() {
    let env = environment(&[]);
    for (text, slots) in [
        ("0.1.32", 1),
        ("0.2.0", 4),
        ("0.6.6", 4),
        ("0.6.7", 2),
        ("0.9.6", 2),
        ("0.10.0", 1),
    ] {
        let v = version(text);
        let result = effective_context(&query(&v, &env));
        assert_eq!(result.num_parallel, slots, "{text}");
        assert_eq!(
            result.kv_cache_tokens,
            result.num_ctx_tokens * slots,
            "{text}"
        );
    }
    let env = environment(&[("OLLAMA_NUM_PARALLEL", "3")]);
    let v = version("0.12.0");
    assert_eq!(
        effective_context(&query(&v, &env)).kv_cache_tokens,
        4096 * 3
    );
}

#[test]
fn single_slot_families_are_forced_to_one() {
    let env = environment(&[("OLLAMA_NUM_PARALLEL", "4")]);
    let v = version("0.15.5");
    let mut q = query(&v, &env);
    q.model_family = Some("qwen3next");
    let result = effective_context(&q);
    assert_eq!(result.num_parallel, 1);
    assert!(rules(&result).contains(&ContextRule::ParallelForcedToOne));
}

#[test]
fn gpt_oss_minimum_and_low_vram_gate() {
    let env = environment(&[]);
    let v = version("0.11.0");
    let mut q = query(&v, &env);
    q.model_family = Some("gptoss");
    q.request_num_ctx = Some(2048);
    assert_eq!(effective_context(&q).num_ctx_tokens, 8192);
    let gated = version("0.11.4");
    q.version = &gated;
    q.total_vram_bytes = Some(16 * GIB);
    let result = effective_context(&q);
    assert_eq!(result.num_ctx_tokens, 2048);
    assert!(rules(&result).contains(&ContextRule::LowVramSkipsFamilyMinimum));
    q.total_vram_bytes = Some(24 * GIB);
    assert_eq!(effective_context(&q).num_ctx_tokens, 8192);
    let tiered = version("0.15.5");
    q.version = &tiered;
    assert_eq!(effective_context(&q).num_ctx_tokens, 2048);
}

#[test]
fn step_down_after_oom_only_for_automatic_context_from_0_30() {
    let env = environment(&[]);
    let v = version("0.30.0");
    let mut q = query(&v, &env);
    q.total_vram_bytes = Some(48 * GIB);
    q.load_failed_out_of_memory = true;
    let result = effective_context(&q);
    assert_eq!(result.num_ctx_tokens, 32768);
    assert!(rules(&result).contains(&ContextRule::StepDownAfterOutOfMemory));
    q.modelfile_num_ctx = Some(262_144);
    assert_eq!(effective_context(&q).num_ctx_tokens, 262_144);
}

#[test]
fn step_down_before_0_10_drops_auto_parallel_to_one() {
    let env = environment(&[]);
    let v = version("0.6.0");
    let mut q = query(&v, &env);
    q.load_failed_out_of_memory = true;
    let result = effective_context(&q);
    assert_eq!((result.num_parallel, result.kv_cache_tokens), (1, 2048));
}

#[test]
fn vision_models_get_at_least_2048() {
    let env = environment(&[]);
    let v = version("0.12.0");
    let mut q = query(&v, &env);
    q.vision = true;
    q.request_num_ctx = Some(512);
    assert_eq!(effective_context(&q).num_ctx_tokens, 2048);
}
