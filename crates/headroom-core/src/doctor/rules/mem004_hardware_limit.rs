//! MEM004 hardware-limit: the machine really cannot hold what is asked, with any setting.
//!
//! What it checks: whether the window the prompts need (the largest prompt seen, else the
//! configured window, at least 4,096 tokens) fits with one slot and the smallest KV cache type
//! Ollama offers (q4_0); and whether the weights alone fit in the memory the GPU may use.
//!
//! Why it matters: this is the one case where configuration cannot help, and saying so saves
//! hours of tuning. Ollama will still run the model with layers on the CPU, many times slower,
//! or fail to load it.
//!
//! Fix: what lifts the limit is stated with numbers: a machine whose GPU may use at least the
//! memory shown, a smaller quantization of the model, a smaller model, or sending the long
//! prompts to a cloud model. `headroom plan` compares machines and routes.

use crate::doctor::analysis::{Analysis, KV_TYPES};
use crate::doctor::format;
use crate::doctor::{Finding, Severity};
use crate::quant::TensorType;

/// The smallest window worth running an assistant with (Ollama's long-standing default).
const MINIMUM_USEFUL_TOKENS: u64 = 4096;

/// Runs the rule.
pub fn check(analysis: &Analysis<'_>) -> Vec<Finding> {
    let (Some(memory), Some(machine), Some(model)) =
        (&analysis.memory, analysis.machine(), &analysis.facts.model)
    else {
        return Vec::new();
    };
    let need = analysis
        .largest_prompt()
        .map_or(analysis.num_ctx_tokens, |prompt| prompt.value)
        .max(MINIMUM_USEFUL_TOKENS)
        .min(analysis.trained_tokens.unwrap_or(u64::MAX));
    let best = KV_TYPES
        .iter()
        .filter_map(|kv| memory.largest_per_slot(*kv, true))
        .max()
        .unwrap_or(0);
    if best >= need {
        return Vec::new();
    }
    let weights = model.weights.total_bytes;
    let capacity = if machine.machine.unified {
        machine.machine.gpu_share_bytes
    } else if machine.machine.gpu_memory_bytes > 0 {
        machine.machine.gpu_memory_bytes
    } else {
        machine.machine.system_memory_bytes
    };
    let configured = &memory.configured;
    // GPU memory needed at the needed window with one slot and q8_0, from the estimate's
    // per-token KV cost.
    // Bytes per cached value from the ggml block sizes (q8_0: 34 bytes per 32 values, f16: 2
    // per value; `ggml/src/ggml-common.h`).
    let per_value = |kv: TensorType| kv.row_bytes(256).unwrap_or(512) as f64 / 256.0;
    let kv_per_token = configured.estimate.kv.full_bytes_per_cell() as f64
        * (per_value(TensorType::Q8_0) / per_value(configured.kv_type));
    let needed_bytes = weights as f64
        + kv_per_token * need as f64
        + (configured.estimate.compute_bytes + configured.estimate.output_bytes) as f64
        + machine.machine.margin_bytes as f64;
    let mut arithmetic = vec![format!(
        "weights alone: {} vs {} the GPU may use{}",
        format::bytes(weights),
        format::bytes(capacity),
        if weights + machine.machine.margin_bytes > capacity {
            " — the model itself does not fit"
        } else {
            ""
        }
    )];
    arithmetic.push(format!(
        "largest window that fits with any KV type and one slot: {} (needed: {} tokens)",
        if best == 0 {
            "none".to_owned()
        } else {
            format!("{} tokens", format::tokens(best))
        },
        format::tokens(need)
    ));
    arithmetic.push(format!(
        "{} tokens with a q8_0 KV cache need about {} including llama.cpp's {} margin",
        format::tokens(need),
        format::bytes(needed_bytes as u64),
        format::bytes(machine.machine.margin_bytes)
    ));
    let mut evidence = vec![machine.evidence.clone()];
    evidence.extend(analysis.partial_offload.iter().take(3).cloned());
    evidence.extend(analysis.out_of_memory.iter().take(3).cloned());
    let lift = format!(
        "what would lift it: a machine whose GPU may use at least {} (this one: {}), a smaller quantization or model, or sending these prompts to a cloud model — `headroom plan` compares them",
        format::bytes(needed_bytes as u64),
        format::bytes(capacity)
    );
    vec![Finding {
        code: "MEM004",
        severity: Severity::Error,
        title: format!(
            "{} does not fit this machine: {} of weights for {} the GPU may use",
            analysis.model_label(),
            format::bytes(weights),
            format::bytes(capacity)
        ),
        verdict_clause: format!(
            "`{}` needs about {} and the GPU may use {}, so no setting makes it fit",
            analysis.model_label(),
            format::bytes(needed_bytes as u64),
            format::bytes(capacity)
        ),
        evidence,
        arithmetic,
        fix: vec![lift],
        explains_requests: (analysis.partial_offload.len() + analysis.out_of_memory.len()).max(1)
            as u64,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::rules::test_support::{does_not_fit, story};

    #[test]
    fn says_the_hardware_is_the_limit_when_weights_exceed_the_gpu_share() {
        let facts = does_not_fit();
        let findings = check(&Analysis::new(&facts));
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].arithmetic[0].contains("the model itself does not fit"),
            "{:?}",
            findings[0].arithmetic
        );
        assert!(findings[0].fix[0].contains("headroom plan"));
    }

    #[test]
    fn silent_when_the_model_fits() {
        assert!(check(&Analysis::new(&story())).is_empty());
    }
}
