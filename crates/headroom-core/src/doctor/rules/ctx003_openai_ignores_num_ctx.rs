//! CTX003 openai-ignores-num-ctx: the client sets `num_ctx` on Ollama's OpenAI-compatible
//! `/v1` API, which drops it.
//!
//! What it checks: a client on `/v1/chat/completions` (client.toml `api = "openai"`, or
//! `/v1/` request lines in the log) that sends a context size, against the window the model
//! really gets (the Modelfile's `num_ctx`, `OLLAMA_CONTEXT_LENGTH` or the server default).
//!
//! Why it matters: Ollama's `openai/openai.go` maps only stop, max_tokens, temperature, seed,
//! the penalties and top_p into options, never `num_ctx`; extra fields in the body are ignored.
//! The client believes it asked for 32,768 tokens and gets the default (4,096 on many servers),
//! so long prompts are cut silently.
//!
//! Fix: put the window in the model: a Modelfile with `PARAMETER num_ctx N` created under its
//! own tag (`ollama create qwen3:8b-32k -f Modelfile`) that the client requests; or set
//! `OLLAMA_CONTEXT_LENGTH` for the whole server; or move the client to the native `/api/chat`.

use headroom_ollama::context::Endpoint;

use crate::doctor::analysis::Analysis;
use crate::doctor::format;
use crate::doctor::{Finding, Severity};
use crate::fix::honest_tag;

/// Runs the rule.
pub fn check(analysis: &Analysis<'_>) -> Vec<Finding> {
    let Some(client) = &analysis.facts.client else {
        return Vec::new();
    };
    if analysis.endpoint != Endpoint::OpenAiCompatible {
        return Vec::new();
    }
    let Some(requested) = &client.num_ctx else {
        return Vec::new();
    };
    let window = analysis.num_ctx_tokens;
    if requested.value == window {
        return Vec::new();
    }
    let cut = analysis
        .truncations
        .iter()
        .filter(|truncation| truncation.limit_tokens == Some(window))
        .count() as u64;
    let over = analysis
        .largest_prompt()
        .is_some_and(|prompt| prompt.value > window);
    let severity = if cut > 0 || (over && requested.value > window) {
        Severity::Error
    } else {
        Severity::Warning
    };
    let mut evidence = vec![client.api.evidence.clone(), requested.evidence.clone()];
    if let Some(request) = analysis
        .requests
        .iter()
        .find(|request| request.path.starts_with("/v1/"))
    {
        evidence.push(request.evidence.clone());
    }
    if let Some(observed) = &analysis.observed {
        evidence.push(observed.evidence.clone());
    }
    let mut arithmetic = vec![
        format!(
            "asked: {} tokens (options.num_ctx on /v1: dropped by openai/openai.go)",
            format::tokens(requested.value)
        ),
        format!(
            "got: {} tokens — how Ollama v{} decided: {}",
            format::tokens(window),
            analysis.version,
            analysis
                .effective
                .reasons
                .iter()
                .map(|reason| reason.detail.as_str())
                .collect::<Vec<_>>()
                .join(" → ")
        ),
    ];
    if let Some(prompt) = analysis
        .largest_prompt()
        .filter(|prompt| prompt.value > window)
    {
        arithmetic.push(format!(
            "largest prompt seen: {} tokens, {} more than the {} it got",
            format::tokens(prompt.value),
            format::tokens(prompt.value - window),
            format::tokens(window)
        ));
    }
    let wanted = analysis
        .trained_tokens
        .map_or(requested.value, |trained| requested.value.min(trained));
    let base = analysis.facts.model_name().unwrap_or("model");
    let tag = honest_tag(base, wanted);
    let fix = vec![
        format!(
            "put the window in the model: a Modelfile `FROM {base}` + `PARAMETER num_ctx {wanted}`, then `ollama create {tag} -f Modelfile`, and have the client request `{tag}` (`headroom fix` writes it)"
        ),
        format!(
            "or set OLLAMA_CONTEXT_LENGTH={wanted} in the server's environment (every model gets it), or switch the client to the native /api/chat, which honours options.num_ctx"
        ),
    ];
    vec![Finding {
        code: "CTX003",
        severity,
        title: format!(
            "The client asks for {} tokens on /v1, which ignores num_ctx: requests get {}",
            format::tokens(requested.value),
            format::tokens(window)
        ),
        verdict_clause: format!(
            "your client asks for {} tokens through the OpenAI-compatible /v1 API, which ignores that setting, so requests get {}",
            format::tokens(requested.value),
            format::tokens(window)
        ),
        evidence,
        arithmetic,
        fix,
        explains_requests: cut,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::rules::test_support::openai_client;

    #[test]
    fn fires_when_a_v1_client_sets_num_ctx() {
        let facts = openai_client();
        let findings = check(&Analysis::new(&facts));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Error);
        assert!(
            findings[0].title.contains("requests get 4,096"),
            "{}",
            findings[0].title
        );
        assert!(
            findings[0].fix[0].contains("qwen3:8b-32k"),
            "{:?}",
            findings[0].fix
        );
    }

    #[test]
    fn silent_on_the_native_api() {
        let mut facts = openai_client();
        if let Some(client) = facts.client.as_mut() {
            client.api.value = Endpoint::Native;
        }
        assert!(check(&Analysis::new(&facts)).is_empty());
    }
}
