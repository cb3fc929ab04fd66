//! The doctor: reads what an Ollama setup is made of (Modelfile, model header, server log,
//! client description, machine), applies one rule per failure mode, and reports findings with
//! their evidence, the arithmetic in plain numbers and the fix, ordered by how much of the
//! failure each explains, under a verdict a tired person can act on.
//!
//! Layout: [`facts`] holds the inputs with where each was read, [`bundle`] reads a directory
//! into facts, [`analysis`] derives the numbers every rule shares (effective context, memory
//! at the configured and the trained context, prefill rate), [`rules`] holds one file per rule
//! (its `//!` doc is what `headroom explain CODE` prints), [`verdict`] writes the first lines.

pub mod analysis;
pub mod bundle;
pub mod facts;
pub mod format;
pub mod rules;
pub mod verdict;

use serde::Serialize;

pub use analysis::Analysis;
pub use facts::Facts;
pub use rules::{RULES, Rule, rule};
pub use verdict::Verdict;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; not a problem (does not change the exit code).
    Info,
    /// Will cause failures under the stated load, or costs time or memory for nothing.
    Warning,
    /// Causes the failures the evidence shows.
    Error,
}

impl Severity {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Where a fact was read: a file with a line or key, or a server endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// File path (as given) or endpoint (`GET /api/ps`).
    pub file: String,
    /// 1-based line, when the fact is on one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Config key (`timeout_seconds`, `PARAMETER num_ctx`, `OLLAMA_NUM_PARALLEL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The line's timestamp, for log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The line or value as written.
    pub text: String,
}

impl Evidence {
    /// A line of a file.
    pub fn line(file: impl Into<String>, line: u64, text: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: Some(line),
            text: text.into(),
            ..Self::default()
        }
    }

    /// A key of a config file, on a line when known.
    pub fn key(
        file: impl Into<String>,
        line: Option<u64>,
        key: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            line,
            key: Some(key.into()),
            text: text.into(),
            ..Self::default()
        }
    }

    /// `file:line` (or just the file).
    pub fn location(&self) -> String {
        match self.line {
            Some(line) => format!("{}:{line}", self.file),
            None => self.file.clone(),
        }
    }
}

/// One problem (or note) with its proof and its fix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable code (`CTX001`); `headroom explain CODE` prints the rule.
    pub code: &'static str,
    /// How bad.
    pub severity: Severity,
    /// One line: what is wrong, with the key numbers.
    pub title: String,
    /// A clause for the verdict ("the context is capped at 131,072 by the Modelfile").
    pub verdict_clause: String,
    /// The lines, keys and files that show it.
    pub evidence: Vec<Evidence>,
    /// The arithmetic, one step per line, in plain numbers with units.
    pub arithmetic: Vec<String>,
    /// What to change.
    pub fix: Vec<String>,
    /// How many failed or damaged requests this explains (orders the findings).
    pub explains_requests: u64,
}

/// The whole diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was examined.
    pub origin: String,
    /// The first lines.
    pub verdict: Verdict,
    /// Problems, most explanatory first.
    pub findings: Vec<Finding>,
    /// Notes that are not problems.
    pub notes: Vec<Finding>,
    /// Checks that passed, with their numbers.
    pub checks: Vec<String>,
    /// What could not be checked and why (missing inputs).
    pub not_checked: Vec<String>,
    /// What was read.
    pub inputs: Vec<String>,
    /// Inputs that were unreadable or ignored.
    pub warnings: Vec<String>,
}

impl Report {
    /// True when a finding of warning or error severity exists (exit code 1).
    pub fn has_problems(&self) -> bool {
        !self.findings.is_empty()
    }
}

/// Runs every rule over the facts.
pub fn diagnose(facts: &Facts) -> Report {
    let analysis = Analysis::new(facts);
    let mut all: Vec<(usize, Finding)> = Vec::new();
    for (priority, rule) in RULES.iter().enumerate() {
        for finding in (rule.check)(&analysis) {
            all.push((priority, finding));
        }
    }
    // Most explanatory first: severity, then requests explained, then the rule order (root
    // causes are listed before their symptoms in RULES).
    all.sort_by(|(left_priority, left), (right_priority, right)| {
        right
            .severity
            .cmp(&left.severity)
            .then(right.explains_requests.cmp(&left.explains_requests))
            .then(left_priority.cmp(right_priority))
    });
    let (findings, notes): (Vec<Finding>, Vec<Finding>) = all
        .into_iter()
        .map(|(_, finding)| finding)
        .partition(|finding| finding.severity > Severity::Info);
    let verdict = verdict::verdict(&analysis, &findings);
    Report {
        origin: facts.origin.clone(),
        verdict,
        findings,
        notes,
        checks: analysis.checks(),
        not_checked: analysis.not_checked(),
        inputs: analysis.inputs(),
        warnings: facts.warnings.clone(),
    }
}
