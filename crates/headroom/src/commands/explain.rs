//! `headroom explain CODE`: what a doctor rule checks, why it matters, and the fix (the rule
//! file's own documentation). Without a code, lists every rule.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use headroom_core::doctor::{RULES, rule};

/// Arguments of `headroom explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A finding code (CTX001) or rule name (context-below-trained); omit to list them.
    pub code: Option<String>,
}

/// Runs `headroom explain`.
pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match args.code {
        None => {
            for rule in RULES {
                let text = rule.explanation();
                let summary: Vec<&str> = text
                    .lines()
                    .take_while(|line| !line.trim().is_empty())
                    .map(str::trim)
                    .collect();
                writeln!(out, "{}", summary.join(" "))?;
            }
            writeln!(out, "\n`headroom explain CODE` prints one rule in full.")?;
        }
        Some(code) => {
            let Some(rule) = rule(&code) else {
                bail!(
                    "unknown code `{code}` (known: {})",
                    RULES
                        .iter()
                        .map(|rule| rule.code)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            write!(out, "{}", rule.explanation())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
