//! MEM003 kv-cache-type: a smaller KV cache type would make the wanted window fit.
//!
//! What it checks: the window the prompts need (the trained length when prompts exceed the
//! configured window, or when the window is below the trained length) does not fit with the
//! configured KV cache type (f16 by default), but does with q8_0 (8.5 bits per value) or
//! q4_0 (4.5 bits).
//!
//! Why it matters: at long contexts the KV cache, not the weights, dominates memory. An 8-bit
//! cache takes 8.5 bits per value instead of 16 (q8_0 blocks: 34 bytes per 32 values,
//! `ggml/src/ggml-common.h`), which can turn "does not fit" into "fits"; it costs some
//! precision, so check the answers on your own task.
//!
//! Fix: set `OLLAMA_KV_CACHE_TYPE=q8_0` (or `q4_0`) and `OLLAMA_FLASH_ATTENTION=1` in the
//! server's environment (Ollama applies a quantized cache only with flash attention), restart
//! the server, then raise `num_ctx` (`headroom fix` writes both).

use crate::doctor::analysis::Analysis;
use crate::doctor::format;
use crate::doctor::{Finding, Severity};
use crate::fix::target_context;

/// Runs the rule.
pub fn check(analysis: &Analysis<'_>) -> Vec<Finding> {
    let (Some(memory), Some(target)) = (&analysis.memory, target_context(analysis)) else {
        return Vec::new();
    };
    if target.kv_type == analysis.kv_type {
        return Vec::new();
    }
    let needed =
        target.per_slot_tokens > analysis.num_ctx_tokens || !memory.configured.verdict.fits;
    if !needed {
        return Vec::new();
    }
    let current_fit = memory.largest_per_slot(analysis.kv_type, target.parallel == 1);
    let mut arithmetic = vec![format!(
        "with a {} KV cache the largest window that fits is {} tokens",
        analysis.kv_type.name(),
        current_fit.map_or("none".to_owned(), format::tokens)
    )];
    arithmetic.push(format!(
        "with {} it is {} tokens: {}",
        target.kv_type.name(),
        format::tokens(target.per_slot_tokens),
        target.reason
    ));
    let mut evidence = Vec::new();
    if let Some(variable) = analysis.facts.server.variable("OLLAMA_KV_CACHE_TYPE") {
        evidence.push(variable.evidence.clone());
    }
    if let Some(machine) = analysis.machine() {
        evidence.push(machine.evidence.clone());
    }
    vec![Finding {
        code: "MEM003",
        severity: Severity::Warning,
        title: format!(
            "A {} KV cache fits a {}-token window that {} does not",
            target.kv_type.name(),
            format::tokens(target.per_slot_tokens),
            analysis.kv_type.name()
        ),
        verdict_clause: format!(
            "a {} KV cache would let {} tokens fit",
            target.kv_type.name(),
            format::tokens(target.per_slot_tokens)
        ),
        evidence,
        arithmetic,
        fix: vec![format!(
            "set OLLAMA_KV_CACHE_TYPE={} and OLLAMA_FLASH_ATTENTION=1 in the server's environment, restart it, then set num_ctx {} (`headroom fix` writes it)",
            target.kv_type.name(),
            target.per_slot_tokens
        )],
        explains_requests: 0,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::rules::test_support::{small_machine, story};

    #[test]
    fn suggests_q8_0_when_f16_does_not_hold_the_trained_window() {
        // 48 GiB Mac: the GPU may use 36 GiB; 262,144 tokens need 41.6 GiB with f16, ~29.6 with q8_0.
        let facts = small_machine(story(), 48);
        let findings = check(&Analysis::new(&facts));
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0].title.starts_with("A q8_0 KV cache"),
            "{}",
            findings[0].title
        );
    }

    #[test]
    fn silent_when_f16_fits() {
        assert!(check(&Analysis::new(&story())).is_empty());
    }
}
