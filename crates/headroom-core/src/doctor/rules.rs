//! The rule registry: one file per rule under `rules/`, each opening with a `//!` doc that
//! says what it checks, why it matters and the fix; that doc is embedded here and printed by
//! `headroom explain CODE`. The order of [`RULES`] puts root causes before their symptoms and
//! breaks ties when findings are sorted.

use super::{Analysis, Finding};

mod ctx001_context_below_trained;
mod ctx002_prompts_truncated;
mod ctx003_openai_ignores_num_ctx;
mod load001_model_reloads;
mod mem001_context_does_not_fit;
mod mem002_parallel_slots;
mod mem003_kv_cache_type;
mod mem004_hardware_limit;
mod time001_prefill_exceeds_timeout;

/// One rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable code.
    pub code: &'static str,
    /// Short kebab-case name.
    pub name: &'static str,
    /// The rule file's source (its `//!` lines are the explanation).
    source: &'static str,
    /// The check.
    pub check: fn(&Analysis<'_>) -> Vec<Finding>,
}

impl Rule {
    /// The rule's documentation: the `//!` lines at the top of its file.
    pub fn explanation(&self) -> String {
        let mut text = String::new();
        for line in self.source.lines() {
            let Some(doc) = line.strip_prefix("//!") else {
                break;
            };
            text.push_str(doc.strip_prefix(' ').unwrap_or(doc));
            text.push('\n');
        }
        text
    }
}

macro_rules! rule {
    ($module:ident, $code:literal, $name:literal) => {
        Rule {
            code: $code,
            name: $name,
            source: include_str!(concat!("rules/", stringify!($module), ".rs")),
            check: $module::check,
        }
    };
}

/// Every rule, root causes first.
pub const RULES: &[Rule] = &[
    rule!(
        ctx001_context_below_trained,
        "CTX001",
        "context-below-trained"
    ),
    rule!(
        ctx003_openai_ignores_num_ctx,
        "CTX003",
        "openai-ignores-num-ctx"
    ),
    rule!(mem004_hardware_limit, "MEM004", "hardware-limit"),
    rule!(
        mem001_context_does_not_fit,
        "MEM001",
        "context-does-not-fit"
    ),
    rule!(mem002_parallel_slots, "MEM002", "parallel-slots"),
    rule!(ctx002_prompts_truncated, "CTX002", "prompts-truncated"),
    rule!(
        time001_prefill_exceeds_timeout,
        "TIME001",
        "prefill-exceeds-timeout"
    ),
    rule!(mem003_kv_cache_type, "MEM003", "kv-cache-type"),
    rule!(load001_model_reloads, "LOAD001", "model-reloads"),
];

/// The rule with this code (case-insensitive) or name.
pub fn rule(code: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|rule| rule.code.eq_ignore_ascii_case(code) || rule.name == code)
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_explains_what_why_and_fix() {
        for rule in RULES {
            let text = rule.explanation();
            assert!(
                text.starts_with(rule.code),
                "{} doc starts with its code",
                rule.code
            );
            for section in ["Why it matters", "Fix"] {
                assert!(text.contains(section), "{} doc has `{section}`", rule.code);
            }
        }
    }

    #[test]
    fn codes_are_unique() {
        let mut codes: Vec<_> = RULES.iter().map(|rule| rule.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), RULES.len());
    }
}
