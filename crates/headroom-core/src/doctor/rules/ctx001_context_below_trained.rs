//! CTX001 context-below-trained: the configured context is below the model's trained length,
//! and prompts need more.
//!
//! What it checks: the window Ollama gives each request (from the Modelfile's
//! `PARAMETER num_ctx`, the request's `options.num_ctx`, `OLLAMA_CONTEXT_LENGTH` or the
//! server default, in Ollama's precedence) against the length the model was trained for
//! (`<arch>.context_length` in the GGUF header), and the largest prompt seen (log, client).
//!
//! Why it matters: a size written into a tag or a Modelfile on the day of installation
//! (`v-128k`) silently becomes a hard ceiling. Ollama cuts every longer prompt (or refuses it)
//! although the model could read it whole, and the failure looks like a hardware or model
//! problem. It is an error when prompts longer than the window were seen, a note otherwise.
//!
//! Fix: set `PARAMETER num_ctx` to the trained length (or the largest that fits memory),
//! create the model under a tag that names the real window (`ollama create
//! qwen3-coder:30b-262k -f Modelfile`) and point the client at it. `headroom fix DIR` writes
//! the Modelfile and prints the command.

use crate::doctor::analysis::Analysis;
use crate::doctor::format;
use crate::doctor::{Evidence, Finding, Severity};
use crate::fix::{honest_tag, target_context};

/// Runs the rule.
pub fn check(analysis: &Analysis<'_>) -> Vec<Finding> {
    let Some(trained) = analysis.trained_tokens else {
        return Vec::new();
    };
    let window = analysis.num_ctx_tokens;
    if window >= trained {
        return Vec::new();
    }
    // On /v1 with a num_ctx the client sets, CTX003 tells the cause.
    if analysis.endpoint == headroom_ollama::context::Endpoint::OpenAiCompatible
        && analysis
            .facts
            .client
            .as_ref()
            .and_then(|client| client.num_ctx.as_ref())
            .is_some_and(|requested| requested.value != window)
    {
        return Vec::new();
    }
    // Memory known and nothing fits: MEM004 says the hardware is the limit.
    if analysis.memory.is_some() && target_context(analysis).is_none() {
        return Vec::new();
    }
    let largest = analysis.largest_prompt();
    let over = largest.filter(|prompt| prompt.value > window);
    let severity = if over.is_some() {
        Severity::Error
    } else {
        Severity::Info
    };
    let source = match &analysis.num_ctx_evidence {
        Some(evidence) if evidence.key.as_deref() == Some("PARAMETER num_ctx") => {
            "by the Modelfile".to_owned()
        }
        Some(evidence) if evidence.key.as_deref() == Some("num_ctx") => {
            "by the client's num_ctx".to_owned()
        }
        Some(evidence) if evidence.key.as_deref() == Some("OLLAMA_CONTEXT_LENGTH") => {
            "by OLLAMA_CONTEXT_LENGTH".to_owned()
        }
        Some(_) => "as the server loaded it (log)".to_owned(),
        None => "by Ollama's default".to_owned(),
    };
    let mut evidence: Vec<Evidence> = analysis.num_ctx_evidence.iter().cloned().collect();
    if let Some(model) = &analysis.facts.model {
        evidence.push(Evidence::key(
            model.source.clone(),
            None,
            format!("{}.context_length", model.spec.architecture),
            format!("{}.context_length = {trained}", model.spec.architecture),
        ));
    }
    if let Some(observed) = &analysis.observed
        && analysis.num_ctx_evidence.as_ref() != Some(&observed.evidence)
    {
        evidence.push(observed.evidence.clone());
    }
    let mut arithmetic = vec![
        format!(
            "trained context: {} tokens; configured: {} tokens per request = {:.0}% of it",
            format::tokens(trained),
            format::tokens(window),
            window as f64 * 100.0 / trained as f64
        ),
        format!(
            "how Ollama v{} decided: {}",
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
    if let Some(model_name) = analysis.facts.model_name()
        && let Some((_, tag)) = model_name.split_once(':')
        && tag.contains(&format!("{}k", window / 1024))
    {
        arithmetic.push(format!(
            "the tag `{model_name}` names the window it was given ({}k = {} tokens), not what the model can read",
            window / 1024,
            format::tokens(window)
        ));
    }
    let explains = match over {
        Some(prompt) => {
            arithmetic.push(format!(
                "largest prompt seen: {} tokens = {} more than the window",
                format::tokens(prompt.value),
                format::tokens(prompt.value - window)
            ));
            analysis
                .truncations
                .iter()
                .filter(|truncation| truncation.limit_tokens.is_none_or(|limit| limit <= window))
                .count()
                .max(1) as u64
        }
        None => 0,
    };
    let mut fix = Vec::new();
    if let Some(target) = target_context(analysis)
        && target.per_slot_tokens > window
    {
        if let (Some(memory), Some(machine)) = (&analysis.memory, analysis.machine())
            && let Some(trained_scenario) = if target.parallel == 1 {
                &memory.trained_single
            } else {
                &memory.trained
            }
            && target.per_slot_tokens == trained
            && target.kv_type == analysis.kv_type
        {
            arithmetic.push(format!("memory at {}", trained_scenario.sum_line()));
            arithmetic.push(trained_scenario.fit_line(machine));
        }
        let base = analysis
            .facts
            .modelfile
            .as_ref()
            .and_then(|modelfile| modelfile.modelfile.from())
            .filter(|from| !from.starts_with('/') && !from.contains("sha256"))
            .or(analysis.facts.model_name())
            .unwrap_or("model");
        let tag = honest_tag(base, target.per_slot_tokens);
        fix.push(format!(
            "set `PARAMETER num_ctx {}` ({})",
            target.per_slot_tokens, target.reason
        ));
        fix.push(format!(
            "create it under an honest tag: `ollama create {tag} -f Modelfile`, and point the client at `{tag}`"
        ));
        fix.push(
            "`headroom fix` writes the Modelfile (dry run first; --write to apply)".to_owned(),
        );
    } else {
        fix.push(format!(
            "raise num_ctx towards {} where memory allows (`headroom memory` shows the largest context that fits)",
            format::tokens(trained)
        ));
    }
    let title = format!(
        "Context capped at {} tokens {source}; the model was trained for {}",
        format::tokens(window),
        format::tokens(trained)
    );
    let verdict_clause = format!(
        "the context is capped at {} tokens {source} although the model reads {}",
        format::tokens(window),
        format::tokens(trained)
    );
    vec![Finding {
        code: "CTX001",
        severity,
        title,
        verdict_clause,
        evidence,
        arithmetic,
        fix,
        explains_requests: explains,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::rules::test_support::{story, with_modelfile_num_ctx};

    #[test]
    fn fires_when_prompts_exceed_a_window_below_the_trained_length() {
        let facts = story();
        let analysis = Analysis::new(&facts);
        let findings = check(&analysis);
        assert_eq!(findings.len(), 1);
        let finding = &findings[0];
        assert_eq!(finding.severity, Severity::Error);
        assert!(finding.title.contains("131,072"), "{}", finding.title);
        assert!(finding.title.contains("262,144"), "{}", finding.title);
        assert!(
            finding
                .fix
                .iter()
                .any(|line| line.contains("qwen3-coder:30b-262k"))
        );
        assert_eq!(finding.explains_requests, 3);
    }

    #[test]
    fn silent_when_the_window_is_the_trained_length() {
        let facts = with_modelfile_num_ctx(story(), 262_144);
        assert!(check(&Analysis::new(&facts)).is_empty());
    }

    #[test]
    fn only_a_note_when_no_prompt_needs_more() {
        let mut facts = with_modelfile_num_ctx(story(), 200_000);
        facts.log = None;
        facts.client = None;
        let findings = check(&Analysis::new(&facts));
        assert_eq!(findings[0].severity, Severity::Info);
    }
}
