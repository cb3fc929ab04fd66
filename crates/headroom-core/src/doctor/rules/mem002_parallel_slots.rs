//! MEM002 parallel-slots: parallel slots multiply the KV cache (or divide the window).
//!
//! What it checks: `OLLAMA_NUM_PARALLEL` (or the `Parallel:`/`--parallel` of the load line
//! in the log) above 1: Ollama allocates the whole `num_ctx` once per slot
//! (`KvSize = num_ctx × parallel`), so memory grows with the slot count. It reports when one
//! slot would fit but the configured slots do not, or when the client never sends that many
//! requests at once. On runners that share one `--ctx-size` between slots (llama-server
//! `-c N -np P`), each request gets N ÷ P.
//!
//! Why it matters: four slots of a 64K window reserve a 256K KV cache. It pushes layers to
//! the CPU or fails the load, for concurrency a single agent never uses.
//!
//! Fix: `OLLAMA_NUM_PARALLEL=1` (or the number of requests the client really sends at once)
//! in the server's environment, then restart the server.

use crate::doctor::analysis::Analysis;
use crate::doctor::format;
use crate::doctor::{Finding, Severity};

/// Runs the rule.
pub fn check(analysis: &Analysis<'_>) -> Vec<Finding> {
    let parallel = analysis.parallel;
    if parallel <= 1 {
        return Vec::new();
    }
    let client_parallel = analysis
        .facts
        .client
        .as_ref()
        .and_then(|client| client.parallel_requests.as_ref());
    let unused = client_parallel.is_some_and(|requests| requests.value < parallel);
    let memory = analysis.memory.as_ref().zip(analysis.machine());
    let single_fits = memory.is_some_and(|(memory, _)| {
        memory
            .largest_per_slot(analysis.kv_type, true)
            .is_some_and(|fit| fit >= analysis.num_ctx_tokens)
    });
    let configured_fits = memory.is_none_or(|(memory, _)| memory.configured.verdict.fits);
    let severity = if !configured_fits && single_fits {
        Severity::Error
    } else if unused {
        Severity::Warning
    } else {
        return Vec::new();
    };
    let mut evidence = Vec::new();
    if let Some(variable) = analysis.facts.server.variable("OLLAMA_NUM_PARALLEL") {
        evidence.push(variable.evidence.clone());
    }
    if let Some(observed) = &analysis.observed {
        evidence.push(observed.evidence.clone());
    }
    evidence.extend(analysis.partial_offload.iter().take(3).cloned());
    evidence.extend(analysis.out_of_memory.iter().take(3).cloned());
    if let Some(requests) = client_parallel {
        evidence.push(requests.evidence.clone());
    }
    let mut arithmetic = vec![format!(
        "{} slots × {} tokens = {} tokens of KV cache",
        parallel,
        format::tokens(analysis.num_ctx_tokens),
        format::tokens(parallel * analysis.num_ctx_tokens)
    )];
    if let Some((memory, machine)) = memory {
        arithmetic.push(memory.configured.sum_line());
        arithmetic.push(memory.configured.fit_line(machine));
        if let Some(fit) = memory.largest_per_slot(analysis.kv_type, true) {
            arithmetic.push(format!(
                "with 1 slot the largest window that fits is {} tokens",
                format::tokens(fit)
            ));
        }
    }
    if let Some(requests) = client_parallel {
        arithmetic.push(format!(
            "the client sends {} request{} at a time",
            requests.value,
            if requests.value == 1 { "" } else { "s" }
        ));
    }
    let slots = client_parallel.map_or(1, |requests| requests.value.clamp(1, parallel));
    vec![Finding {
        code: "MEM002",
        severity,
        title: format!(
            "{parallel} parallel slots reserve {} × the KV cache of a {}-token window",
            parallel,
            format::tokens(analysis.num_ctx_tokens)
        ),
        verdict_clause: format!(
            "OLLAMA_NUM_PARALLEL={parallel} reserves the {}-token window's memory {parallel} times",
            format::tokens(analysis.num_ctx_tokens)
        ),
        evidence,
        arithmetic,
        fix: vec![format!(
            "set OLLAMA_NUM_PARALLEL={slots} in the server's environment and restart it (`headroom fix` lists it)"
        )],
        explains_requests: (analysis.partial_offload.len() + analysis.out_of_memory.len()) as u64,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::rules::test_support::{parallel_slots, story};

    #[test]
    fn fires_when_one_slot_would_fit_but_four_do_not() {
        let facts = parallel_slots();
        let findings = check(&Analysis::new(&facts));
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Error);
        assert!(findings[0].fix[0].contains("OLLAMA_NUM_PARALLEL=1"));
    }

    #[test]
    fn silent_with_one_slot() {
        assert!(check(&Analysis::new(&story())).is_empty());
    }
}
