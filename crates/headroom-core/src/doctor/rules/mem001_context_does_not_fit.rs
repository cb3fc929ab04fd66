//! MEM001 context-does-not-fit: the configured context does not fit in the memory the GPU
//! may use.
//!
//! What it checks: weights + KV cache + compute and output buffers at the configured window
//! and slots (as llama.cpp allocates them), against the GPU's memory (a discrete card) or the
//! share of unified memory the GPU may wire (Apple silicon: about 3/4 of RAM above 36 GiB by
//! default), keeping llama.cpp's 1 GiB margin; and out-of-memory or partial-offload lines in
//! the log. Left to MEM002 when one slot would fit and to MEM004 when nothing useful fits.
//!
//! Why it matters: when the KV cache does not fit, Ollama moves layers to the CPU (much
//! slower: "offloaded 20/49 layers") or the load fails; on Apple silicon the GPU share, not the
//! RAM size, is the limit.
//!
//! Fix: lower `num_ctx` to the largest that fits, or use an 8-bit KV cache
//! (`OLLAMA_KV_CACHE_TYPE=q8_0` with `OLLAMA_FLASH_ATTENTION=1`), or on macOS raise the GPU's
//! wired limit (`sudo sysctl iogpu.wired_limit_mb=N`) when the pool has room.

use crate::doctor::analysis::Analysis;
use crate::doctor::format;
use crate::doctor::{Finding, Severity};
use crate::fix::target_context;

/// Runs the rule.
pub fn check(analysis: &Analysis<'_>) -> Vec<Finding> {
    let (Some(memory), Some(machine)) = (&analysis.memory, analysis.machine()) else {
        return Vec::new();
    };
    let configured = &memory.configured;
    if configured.verdict.fits {
        return Vec::new();
    }
    // One slot would fit: MEM002 explains it.
    if analysis.parallel > 1
        && memory
            .largest_per_slot(analysis.kv_type, true)
            .is_some_and(|fit| fit >= analysis.num_ctx_tokens)
    {
        return Vec::new();
    }
    let target = target_context(analysis);
    // Nothing useful fits: MEM004 says so.
    if target
        .as_ref()
        .is_none_or(|target| target.per_slot_tokens < 4096)
    {
        return Vec::new();
    }
    let severity = Severity::Error;
    let mut evidence: Vec<_> = analysis.num_ctx_evidence.iter().cloned().collect();
    evidence.extend(analysis.partial_offload.iter().take(3).cloned());
    evidence.extend(analysis.out_of_memory.iter().take(3).cloned());
    evidence.push(machine.evidence.clone());
    let mut arithmetic = vec![configured.sum_line(), configured.fit_line(machine)];
    if let Some(note) = &machine.gpu_share_note {
        arithmetic.push(note.clone());
    }
    let mut fix = Vec::new();
    if let Some(target) = &target {
        arithmetic.push(format!(
            "largest window that fits: {} tokens with a {} KV cache",
            format::tokens(target.per_slot_tokens),
            target.kv_type.name()
        ));
        fix.push(format!(
            "set `PARAMETER num_ctx {}`{} (`headroom fix` writes it)",
            target.per_slot_tokens,
            if target.kv_type == analysis.kv_type {
                String::new()
            } else {
                format!(
                    " with OLLAMA_KV_CACHE_TYPE={} and OLLAMA_FLASH_ATTENTION=1",
                    target.kv_type.name()
                )
            }
        ));
    }
    if configured.verdict.gpu_share_is_the_limit {
        let megabytes = (configured.verdict.gpu_needed_bytes + machine.machine.margin_bytes)
            .div_ceil(1024 * 1024)
            + 1024;
        fix.push(format!(
            "or let the GPU wire more of the unified memory: `sudo sysctl iogpu.wired_limit_mb={megabytes}` (resets at reboot)"
        ));
    }
    vec![Finding {
        code: "MEM001",
        severity,
        title: format!(
            "{} tokens need {} but the GPU may use {}",
            format::tokens(analysis.num_ctx_tokens),
            format::bytes(configured.verdict.gpu_needed_bytes),
            format::bytes(configured.verdict.gpu_capacity_bytes)
        ),
        verdict_clause: format!(
            "the configured {}-token window does not fit in the memory the GPU may use",
            format::tokens(analysis.num_ctx_tokens)
        ),
        evidence,
        arithmetic,
        fix,
        explains_requests: (analysis.partial_offload.len() + analysis.out_of_memory.len()) as u64,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::rules::test_support::{small_machine, story, with_modelfile_num_ctx};

    #[test]
    fn fires_when_the_window_does_not_fit_the_gpu_share() {
        // 262,144 tokens (41.6 GiB) on a 48 GiB Mac: the GPU may use 32 GiB.
        let facts = small_machine(with_modelfile_num_ctx(story(), 262_144), 48);
        let findings = check(&Analysis::new(&facts));
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0].fix[0].contains("num_ctx"),
            "{:?}",
            findings[0].fix
        );
    }

    #[test]
    fn silent_when_it_fits() {
        let facts = story();
        assert!(check(&Analysis::new(&facts)).is_empty());
    }
}
