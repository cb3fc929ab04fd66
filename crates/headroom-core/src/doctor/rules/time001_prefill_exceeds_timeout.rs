//! TIME001 prefill-exceeds-timeout: reading the prompt takes longer than the client waits.
//!
//! What it checks: the largest prompt seen divided by the prefill rate (measured from
//! Ollama's `prompt_eval_count / prompt_eval_duration` of real requests when the client
//! recorded them, else headroom's speed model for the catalog machine, else a rate stated in
//! client.toml), against the client's timeout, both for the window in force today and for the
//! window the fix would give; and request lines in the log that ended exactly at the timeout
//! (`[GIN] … | 500 | 5m0s | …`).
//!
//! Why it matters: the whole prompt is read before the first token comes back (the story's
//! 30B model read about 400 tokens per second on a 64 GB Mac: 146,760 tokens take six minutes). When that takes longer than the client's timeout,
//! the client disconnects, retries the same prompt and fails again: the failures repeat
//! exactly at the timeout, with no crash and no error in the model. Widening the context makes
//! it worse, because the whole prompt is then read.
//!
//! Fix: set the client timeout above the prefill time with a margin (`headroom fix` computes
//! it: read time + 25%, rounded up to whole minutes, and writes it to client.toml), stream the
//! response if the client supports it, or send prompts that cannot be read in time to a faster
//! machine or a cloud model (`headroom plan`).

use crate::doctor::analysis::Analysis;
use crate::doctor::format;
use crate::doctor::{Finding, Severity};
use crate::fix::{TIMEOUT_MARGIN, target_context, timeout_target};

/// Runs the rule.
pub fn check(analysis: &Analysis<'_>) -> Vec<Finding> {
    let (Some(timeout), Some(rate), Some(prompt)) = (
        analysis.client_timeout_seconds(),
        analysis.prefill.as_ref(),
        analysis.largest_prompt(),
    ) else {
        return Vec::new();
    };
    // The model does not fit at all (MEM004): its speed is not the question.
    if analysis.memory.is_some() && target_context(analysis).is_none() {
        return Vec::new();
    }
    let rate_value = rate.tokens_per_second;
    if rate_value <= 0.0 {
        return Vec::new();
    }
    let today_window = analysis.num_ctx_tokens;
    let fixed_window = target_context(analysis).map_or(today_window, |target| {
        target.per_slot_tokens.max(today_window)
    });
    let today_tokens = prompt.value.min(today_window);
    let fixed_tokens = prompt.value.min(fixed_window);
    let today_seconds = today_tokens as f64 / rate_value;
    let fixed_seconds = fixed_tokens as f64 / rate_value;
    if today_seconds <= timeout && fixed_seconds <= timeout {
        return Vec::new();
    }
    let timed_out = analysis.timed_out_requests();
    let severity = if timed_out.is_empty() {
        Severity::Warning
    } else {
        Severity::Error
    };
    let mut evidence = Vec::new();
    if let Some(client_timeout) = analysis
        .facts
        .client
        .as_ref()
        .and_then(|client| client.timeout_seconds.as_ref())
    {
        evidence.push(client_timeout.evidence.clone());
    }
    evidence.extend(
        timed_out
            .iter()
            .take(5)
            .map(|request| request.evidence.clone()),
    );
    evidence.extend(rate.evidence.iter().cloned());
    let mut arithmetic = vec![format!("prefill rate: {}", rate.detail)];
    arithmetic.push(format!(
        "{} tokens ÷ {} = {} {} the client's {} timeout",
        format::tokens(fixed_tokens),
        format::rate(rate_value),
        format::seconds(fixed_seconds),
        if fixed_seconds > timeout { ">" } else { "≤" },
        format::seconds(timeout)
    ));
    if today_tokens != fixed_tokens {
        arithmetic.push(format!(
            "today the prompt is cut to {} tokens: {} ÷ {} = {} {} {}",
            format::tokens(today_tokens),
            format::tokens(today_tokens),
            format::rate(rate_value),
            format::seconds(today_seconds),
            if today_seconds > timeout { ">" } else { "≤" },
            format::seconds(timeout)
        ));
    }
    if !timed_out.is_empty() {
        arithmetic.push(format!(
            "{} request{} in the log ended at the timeout ({}), as a client giving up does",
            timed_out.len(),
            if timed_out.len() == 1 { "" } else { "s" },
            timed_out
                .iter()
                .take(5)
                .map(|request| request.evidence.location())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let readable = (timeout * rate_value) as u64;
    arithmetic.push(format!(
        "in {} the server reads at most {} × {} ≈ {} tokens",
        format::seconds(timeout),
        format::seconds(timeout),
        format::rate(rate_value),
        format::tokens(readable / 1000 * 1000)
    ));
    let mut fix = Vec::new();
    if let Some(needed) = timeout_target(analysis, fixed_window) {
        fix.push(format!(
            "set the client timeout to at least {} s: {} to read {} tokens + {:.0}% for the answer and for prefill slowing as the context fills (a judgment, not a measurement), rounded up to whole minutes",
            needed.recommended_seconds,
            format::seconds(needed.read_seconds),
            format::tokens(needed.prompt_tokens),
            TIMEOUT_MARGIN * 100.0
        ));
    }
    fix.push(
        "or stream the response, or send prompts that cannot be read in time to a faster machine or a cloud model (`headroom plan`)"
            .to_owned(),
    );
    vec![Finding {
        code: "TIME001",
        severity,
        title: format!(
            "Reading a {}-token prompt takes {} at {}; the client gives up after {}",
            format::tokens(fixed_tokens),
            format::seconds(fixed_seconds),
            format::rate(rate_value),
            format::seconds(timeout)
        ),
        verdict_clause: format!(
            "at {} {} needs {} to read, longer than the client's {} timeout",
            format::rate(rate_value),
            if analysis
                .truncations
                .iter()
                .any(|truncation| truncation.prompt_tokens == Some(fixed_tokens))
            {
                "each of them".to_owned()
            } else {
                format!("a {}-token prompt", format::tokens(fixed_tokens))
            },
            format::seconds(fixed_seconds)
                .split(" (")
                .next()
                .unwrap_or_default(),
            format::seconds(timeout)
                .split(" (")
                .next()
                .unwrap_or_default()
        ),
        evidence,
        arithmetic,
        fix,
        explains_requests: timed_out.len() as u64,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::rules::test_support::story;

    #[test]
    fn prefill_longer_than_the_timeout_is_an_error_when_requests_ended_there() {
        let facts = story();
        let findings = check(&Analysis::new(&facts));
        assert_eq!(findings.len(), 1);
        let finding = &findings[0];
        assert_eq!(finding.severity, Severity::Error);
        assert_eq!(finding.explains_requests, 3);
        assert!(finding.title.contains("367 s"), "{}", finding.title);
        assert!(finding.fix[0].contains("480 s"), "{:?}", finding.fix);
    }

    #[test]
    fn silent_when_the_timeout_is_long_enough() {
        let mut facts = story();
        if let Some(timeout) = facts
            .client
            .as_mut()
            .and_then(|client| client.timeout_seconds.as_mut())
        {
            timeout.value = 600.0;
        }
        assert!(check(&Analysis::new(&facts)).is_empty());
    }

    #[test]
    fn silent_without_a_rate() {
        let mut facts = story();
        if let Some(client) = facts.client.as_mut() {
            client.timings.clear();
        }
        assert!(check(&Analysis::new(&facts)).is_empty());
    }
}
