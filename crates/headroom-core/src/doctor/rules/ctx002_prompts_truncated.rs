//! CTX002 prompts-truncated: the server log shows prompts cut to fit the window, or refused.
//!
//! What it checks: Ollama's `truncating input prompt limit=… prompt=… keep=… new=…` lines
//! (Go runners v0.4–v0.29 and v0.30+), the ≤ v0.3 `input truncated` line, and the refusals
//! (`the prompt is longer than the context length…`, llama-server's `exceeds the available
//! context size`): how many, when, and by how much.
//!
//! Why it matters: truncation is silent. The request returns 200 OK, but the middle of the
//! prompt is gone (Ollama keeps the first `keep` tokens and the most recent ones), so an agent
//! loses its tool definitions or the files it was given and "acts dumb". A refusal fails the
//! request outright. It is an error while the current window is still smaller than those
//! prompts; once the configuration holds them, the old lines are reported as a note.
//!
//! Fix: give the model a window that holds the prompts (see CTX001, CTX003), or, when the
//! prompts are longer than the model was trained for, shorten them or send them to a model
//! with a longer context (`headroom plan`).

use crate::doctor::analysis::Analysis;
use crate::doctor::format;
use crate::doctor::{Finding, Severity};

/// Evidence lines quoted before "and N more".
const QUOTED_LINES: usize = 5;

/// Runs the rule.
pub fn check(analysis: &Analysis<'_>) -> Vec<Finding> {
    let truncations = &analysis.truncations;
    if truncations.is_empty() {
        return Vec::new();
    }
    let count = truncations.len() as u64;
    let rejected = truncations
        .iter()
        .filter(|truncation| truncation.rejected)
        .count();
    let largest = truncations
        .iter()
        .filter_map(|truncation| truncation.prompt_tokens)
        .max();
    let limit = truncations
        .iter()
        .filter_map(|truncation| truncation.limit_tokens)
        .min();
    let first = truncations
        .first()
        .and_then(|truncation| truncation.evidence.timestamp.clone());
    let last = truncations
        .last()
        .and_then(|truncation| truncation.evidence.timestamp.clone());
    let when = match (first, last) {
        (Some(first), Some(last)) if first != last && count > 1 => {
            format!(", {} to {}", short_time(&first), short_time(&last))
        }
        (Some(first), _) => format!(", at {}", short_time(&first)),
        _ => String::new(),
    };
    let resolved = largest.is_some_and(|largest| analysis.num_ctx_tokens >= largest);
    let beyond_training = largest
        .zip(analysis.trained_tokens)
        .is_some_and(|(largest, trained)| largest > trained);
    let severity = if resolved {
        Severity::Info
    } else {
        Severity::Error
    };
    let sizes = match (largest, limit) {
        (Some(largest), Some(limit)) => format!(
            " of up to {} tokens into a {}-token window",
            format::tokens(largest),
            format::tokens(limit)
        ),
        (None, Some(limit)) => format!(" into a {}-token window", format::tokens(limit)),
        _ => String::new(),
    };
    let verb = if rejected as u64 == count {
        "refused"
    } else if rejected == 0 {
        "cut"
    } else {
        "cut or refused"
    };
    let title = format!(
        "{count} prompt{}{sizes} {verb}{when}",
        if count == 1 { "" } else { "s" },
    );
    let mut arithmetic = Vec::new();
    for truncation in truncations.iter().take(QUOTED_LINES) {
        match (
            truncation.prompt_tokens,
            truncation.kept_tokens,
            truncation.rejected,
        ) {
            (Some(prompt), Some(kept), false) if prompt > kept => {
                let keep = truncation
                    .keep_tokens
                    .map(|keep| {
                        format!(
                            " (the first {} and the last {} kept)",
                            format::tokens(keep),
                            format::tokens(kept.saturating_sub(keep))
                        )
                    })
                    .unwrap_or_default();
                arithmetic.push(format!(
                    "{}: {} − {} = {} tokens dropped ({:.0}% of the prompt){keep}",
                    truncation.evidence.location(),
                    format::tokens(prompt),
                    format::tokens(kept),
                    format::tokens(prompt - kept),
                    (prompt - kept) as f64 * 100.0 / prompt as f64
                ));
            }
            (Some(prompt), _, true) => arithmetic.push(format!(
                "{}: {} tokens refused{}",
                truncation.evidence.location(),
                format::tokens(prompt),
                truncation
                    .limit_tokens
                    .map(|limit| format!(" (window {})", format::tokens(limit)))
                    .unwrap_or_default()
            )),
            _ => {}
        }
    }
    if truncations.len() > QUOTED_LINES {
        arithmetic.push(format!(
            "and {} more lines like these",
            truncations.len() - QUOTED_LINES
        ));
    }
    if resolved {
        arithmetic.push(format!(
            "the configuration now gives {} tokens per request, which holds these prompts: the lines predate it (or the server has not reloaded the model since)",
            format::tokens(analysis.num_ctx_tokens)
        ));
    }
    let mut fix = Vec::new();
    if beyond_training {
        if let (Some(largest), Some(trained)) = (largest, analysis.trained_tokens) {
            fix.push(format!(
                "the prompts ({} tokens) are longer than the model was trained for ({}): no setting fixes that; shorten them or route them to a longer-context model (`headroom plan`)",
                format::tokens(largest),
                format::tokens(trained)
            ));
        }
    } else if resolved {
        fix.push("nothing more: restart or reload the model so the new window is in effect, then watch the log for new truncation lines".to_owned());
    } else {
        fix.push("give the model a window that holds these prompts (see the context findings above); `headroom fix` writes it".to_owned());
    }
    let verdict_clause = match largest {
        Some(largest) => format!(
            "{count} prompt{} of {}{} tokens {} {verb}",
            if count == 1 { "" } else { "s" },
            if truncations
                .iter()
                .all(|truncation| truncation.prompt_tokens == Some(largest))
            {
                ""
            } else {
                "up to "
            },
            format::tokens(largest),
            if count == 1 { "was" } else { "were" }
        ),
        None => format!("{count} prompts were {verb}"),
    };
    vec![Finding {
        code: "CTX002",
        severity,
        title,
        verdict_clause,
        evidence: truncations
            .iter()
            .take(QUOTED_LINES)
            .map(|truncation| truncation.evidence.clone())
            .collect(),
        arithmetic,
        fix,
        explains_requests: count,
    }]
}

/// `2026-02-18T11:10:03.500+01:00` → `2026-02-18 11:10:03`; other forms unchanged.
fn short_time(timestamp: &str) -> String {
    match timestamp.split_once('T') {
        Some((date, time)) => {
            let time: String = time.chars().take(8).collect();
            format!("{date} {time}")
        }
        None => timestamp.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::rules::test_support::{story, with_modelfile_num_ctx};

    #[test]
    fn counts_the_truncations_and_their_size() {
        let facts = story();
        let findings = check(&Analysis::new(&facts));
        let finding = &findings[0];
        assert_eq!(finding.severity, Severity::Error);
        assert_eq!(finding.explains_requests, 3);
        assert!(
            finding
                .title
                .starts_with("3 prompts of up to 146,760 tokens into a 131,072-token window cut"),
            "{}",
            finding.title
        );
        assert!(
            finding.arithmetic[0].contains("15,688 tokens dropped"),
            "{:?}",
            finding.arithmetic
        );
    }

    #[test]
    fn a_window_that_now_holds_the_prompts_makes_it_a_note() {
        let facts = with_modelfile_num_ctx(story(), 262_144);
        let findings = check(&Analysis::new(&facts));
        assert_eq!(findings[0].severity, Severity::Info);
    }
}
