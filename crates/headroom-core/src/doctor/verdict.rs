//! The first lines of the report: is the hardware the limit or not, what is wrong in one
//! sentence with the key numbers, and the one command to run.

use serde::Serialize;

use super::analysis::Analysis;
use super::format;
use super::{Finding, Severity};
use crate::fix::target_context;

/// Clauses taken from the findings (the rest are in the list below the verdict).
const CLAUSES: usize = 3;

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// No problems found.
    pub healthy: bool,
    /// Whether the hardware holds the wanted window (`None`: not checked).
    pub hardware_ok: Option<bool>,
    /// One or two sentences.
    pub text: String,
}

fn capitalize(text: &str) -> String {
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().collect::<String>() + characters.as_str(),
        None => String::new(),
    }
}

/// Writes the verdict.
pub fn verdict(analysis: &Analysis<'_>, findings: &[Finding]) -> Verdict {
    let hardware_limit = findings.iter().any(|finding| finding.code == "MEM004");
    let target = target_context(analysis);
    let (hardware_ok, hardware) = if hardware_limit {
        (
            Some(false),
            "Your hardware is the limit for this model.".to_owned(),
        )
    } else {
        match (&analysis.memory, &target) {
            (Some(_), Some(target)) if !target.limited_by_memory => {
                if target.kv_type == analysis.kv_type {
                    (Some(true), "Your hardware is fine.".to_owned())
                } else {
                    (
                        Some(true),
                        format!(
                            "Your hardware is fine with a {} KV cache.",
                            target.kv_type.name()
                        ),
                    )
                }
            }
            (Some(_), Some(target)) => (
                Some(false),
                format!(
                    "Your hardware holds at most {} tokens of this model.",
                    format::tokens(target.per_slot_tokens)
                ),
            ),
            _ => (None, String::new()),
        }
    };
    let problems: Vec<&Finding> = findings
        .iter()
        .filter(|finding| finding.severity > Severity::Info && finding.code != "MEM004")
        .collect();
    if findings.is_empty() {
        let mut text = "No problems found".to_owned();
        let mut facts = Vec::new();
        if let Some(trained) = analysis.trained_tokens
            && analysis.num_ctx_tokens >= trained
        {
            facts.push(format!(
                "{} gets its full {}-token window",
                analysis.model_label(),
                format::tokens(trained)
            ));
        } else {
            facts.push(format!(
                "{} gets a {}-token window",
                analysis.model_label(),
                format::tokens(analysis.num_ctx_tokens)
            ));
        }
        if let Some(memory) = &analysis.memory {
            facts.push(format!(
                "it needs {} of the {} the GPU may use",
                format::bytes(memory.configured.verdict.gpu_needed_bytes),
                format::bytes(memory.configured.verdict.gpu_capacity_bytes)
            ));
        }
        if let (Some(rate), Some(prompt), Some(timeout)) = (
            &analysis.prefill,
            analysis.largest_prompt(),
            analysis.client_timeout_seconds(),
        ) {
            let seconds = prompt.value.min(analysis.num_ctx_tokens) as f64 / rate.tokens_per_second;
            facts.push(format!(
                "the largest prompt seen ({} tokens) is read in {} of the client's {} timeout",
                format::tokens(prompt.value),
                format::seconds(seconds)
                    .split(" (")
                    .next()
                    .unwrap_or_default(),
                format::seconds(timeout)
                    .split(" (")
                    .next()
                    .unwrap_or_default()
            ));
        }
        text.push_str(": ");
        text.push_str(&facts.join(", "));
        text.push('.');
        return Verdict {
            healthy: true,
            hardware_ok,
            text: if hardware.is_empty() {
                text
            } else {
                format!("{hardware} {text}")
            },
        };
    }
    let mut clauses: Vec<String> = Vec::new();
    if hardware_limit
        && let Some(finding) = findings.iter().find(|finding| finding.code == "MEM004")
    {
        clauses.push(finding.verdict_clause.clone());
    }
    for finding in &problems {
        if clauses.len() >= CLAUSES {
            break;
        }
        clauses.push(finding.verdict_clause.clone());
    }
    let sentence = match clauses.len() {
        0 => String::new(),
        1 => format!("{}.", capitalize(&clauses[0])),
        _ => {
            let (last, rest) = clauses.split_last().unwrap_or((&clauses[0], &[]));
            format!("{}, and {last}.", capitalize(&rest.join("; ")))
        }
    };
    let fixable = findings.iter().any(|finding| {
        matches!(
            finding.code,
            "CTX001" | "CTX003" | "TIME001" | "MEM001" | "MEM002" | "MEM003"
        )
    });
    let action = if fixable && !hardware_limit {
        let origin = &analysis.facts.origin;
        let command = if origin.is_empty() || origin.starts_with("http") {
            "`headroom fix`".to_owned()
        } else {
            format!("`headroom fix {origin}`")
        };
        let mut what = Vec::new();
        let context_finding = findings
            .iter()
            .any(|finding| matches!(finding.code, "CTX001" | "CTX003" | "MEM001" | "MEM003"));
        if context_finding && let Some(target) = &target {
            let base = analysis
                .facts
                .modelfile
                .as_ref()
                .and_then(|modelfile| modelfile.modelfile.from())
                .filter(|from| !from.starts_with('/') && !from.contains("sha256"))
                .or(analysis.facts.model_name())
                .unwrap_or("model");
            what.push(format!(
                "a Modelfile with num_ctx {} (tag `{}`)",
                target.per_slot_tokens,
                crate::fix::honest_tag(base, target.per_slot_tokens)
            ));
        }
        if findings.iter().any(|finding| finding.code == "TIME001")
            && let Some(timeout) = crate::fix::timeout_target(
                analysis,
                target.as_ref().map_or(analysis.num_ctx_tokens, |target| {
                    target.per_slot_tokens.max(analysis.num_ctx_tokens)
                }),
            )
        {
            what.push(format!(
                "a {} s client timeout",
                timeout.recommended_seconds
            ));
        }
        if findings.iter().any(|finding| finding.code == "MEM002") {
            what.push(format!(
                "OLLAMA_NUM_PARALLEL={}",
                crate::fix::recommended_parallel(analysis)
            ));
        }
        if what.is_empty() {
            format!(" Run {command} to write the fix.")
        } else {
            format!(" Run {command} to write {}.", what.join(" and "))
        }
    } else if hardware_limit {
        " Run `headroom plan` to compare machines and cloud models.".to_owned()
    } else {
        String::new()
    };
    let text = [hardware, sentence]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        + &action;
    Verdict {
        healthy: false,
        hardware_ok,
        text,
    }
}
