//! LOAD001 model-reloads: the model is unloaded and loaded again between requests.
//!
//! What it checks: more than one model load in the server log (`load request` commit lines,
//! `starting llama server` lines), with the unload or eviction lines between them and the
//! load times (`llama runner started in X seconds`), against `OLLAMA_KEEP_ALIVE`.
//!
//! Why it matters: every reload reads the weights again and throws away the prompt cache, so
//! the next request pays the load time plus a full prefill of its prompt. With agents that
//! pause longer than the keep-alive (5 minutes by default), or two models that do not fit
//! together, this happens on almost every request and looks like random slowness or timeouts.
//!
//! Fix: keep the model loaded (`OLLAMA_KEEP_ALIVE=30m`, or `-1` for ever, in the server's
//! environment; or `keep_alive` in the requests); when another model evicts it, run one model
//! at a time or give the server memory for both (`OLLAMA_MAX_LOADED_MODELS`).

use crate::doctor::analysis::Analysis;
use crate::doctor::format;
use crate::doctor::{Finding, Severity};

/// Runs the rule.
pub fn check(analysis: &Analysis<'_>) -> Vec<Finding> {
    if analysis.loads.len() < 2 {
        return Vec::new();
    }
    let reloads = analysis.loads.len() as u64 - 1;
    let total_load_seconds: f64 = analysis
        .load_seconds
        .iter()
        .skip(1)
        .map(|load| load.value)
        .sum();
    let evictions = analysis
        .unloads
        .iter()
        .filter(|unload| unload.text.contains("evict"))
        .count();
    let mut evidence: Vec<_> = analysis.loads.iter().take(5).cloned().collect();
    evidence.extend(analysis.unloads.iter().take(5).cloned());
    let keep_alive = match analysis.environment.keep_alive_seconds {
        Some(seconds) => format::seconds(seconds),
        None => "for ever".to_owned(),
    };
    let mut arithmetic = vec![format!(
        "{} loads in the log = {reloads} reload{}; keep-alive: {keep_alive}",
        analysis.loads.len(),
        if reloads == 1 { "" } else { "s" }
    )];
    if total_load_seconds > 0.0 {
        arithmetic.push(format!(
            "the reloads took {} in all, before any prompt was read",
            format::seconds(total_load_seconds)
        ));
    }
    if evictions > 0 {
        arithmetic.push(format!(
            "{evictions} eviction line{}: another model needed the memory",
            if evictions == 1 { "" } else { "s" }
        ));
    }
    let mut fix = vec!["set OLLAMA_KEEP_ALIVE=30m (or -1) in the server's environment, or send `keep_alive` with the requests".to_owned()];
    if evictions > 0 {
        fix.push("run one model at a time, or give the server room for both (OLLAMA_MAX_LOADED_MODELS, `headroom memory` for each)".to_owned());
    }
    vec![Finding {
        code: "LOAD001",
        severity: Severity::Warning,
        title: format!(
            "The model was loaded {} times: {reloads} reload{} between requests",
            analysis.loads.len(),
            if reloads == 1 { "" } else { "s" }
        ),
        verdict_clause: format!(
            "the model was reloaded {reloads} time{} between requests",
            if reloads == 1 { "" } else { "s" }
        ),
        evidence,
        arithmetic,
        fix,
        explains_requests: reloads,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::rules::test_support::{reloading, story};

    #[test]
    fn counts_reloads() {
        let facts = reloading();
        let findings = check(&Analysis::new(&facts));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].explains_requests, 2);
    }

    #[test]
    fn silent_with_one_load() {
        assert!(check(&Analysis::new(&story())).is_empty());
    }
}
