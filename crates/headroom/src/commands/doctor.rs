//! `headroom doctor [BUNDLE_DIR]`: diagnoses an Ollama setup from a bundle directory
//! (Modelfile, GGUF header, server log, client.toml, machine.toml; see examples/README.md) and
//! prints the verdict first, then the findings with evidence, arithmetic and fix. Exit code 1
//! when problems are found, 0 when healthy, 2 on error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use headroom_core::doctor::bundle::read_bundle;
use headroom_core::doctor::{Evidence, Finding, Report, diagnose};

use crate::output;

/// Arguments of `headroom doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// A bundle directory (any of: Modelfile, *.gguf, *.log, client.toml, machine.toml).
    pub bundle: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Widest text line printed (the verdict is wrapped to it).
const WIDTH: usize = 100;
/// Evidence lines longer than this are cut (log lines can be kilobytes).
const EVIDENCE_CHARACTERS: usize = 170;

/// Reads the bundle and diagnoses it.
pub fn report_for(bundle: &std::path::Path) -> anyhow::Result<Report> {
    let facts =
        read_bundle(bundle).with_context(|| format!("reading the bundle {}", bundle.display()))?;
    Ok(diagnose(&facts))
}

/// Runs `headroom doctor`.
pub fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let Some(bundle) = &args.bundle else {
        bail!(
            "live diagnosis (no BUNDLE_DIR) is not built yet: collect the Modelfile (`ollama show --modelfile NAME`), the server log and a client.toml into a directory and run `headroom doctor DIR` (see examples/README.md)"
        );
    };
    let report = report_for(bundle)?;
    if args.json {
        output::print_json(&report)?;
    } else {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        write!(out, "{}", render(&report))?;
        out.flush()?;
    }
    Ok(if report.has_problems() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Word-wraps `text` to `width`, each line prefixed by `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn evidence_line(evidence: &Evidence) -> String {
    let mut text = evidence.text.trim().to_owned();
    if text.chars().count() > EVIDENCE_CHARACTERS {
        text = text
            .chars()
            .take(EVIDENCE_CHARACTERS - 1)
            .collect::<String>()
            + "…";
    }
    format!("{}  {text}", evidence.location())
}

fn render_finding(out: &mut String, number: usize, finding: &Finding) {
    out.push_str(&format!(
        "{number}. {} [{}] {}\n",
        finding.code,
        finding.severity.name(),
        finding.title
    ));
    if !finding.evidence.is_empty() {
        out.push_str("   evidence:\n");
        for evidence in &finding.evidence {
            out.push_str(&format!("     {}\n", evidence_line(evidence)));
        }
    }
    if !finding.arithmetic.is_empty() {
        out.push_str("   arithmetic:\n");
        for line in &finding.arithmetic {
            out.push_str(&format!("     {line}\n"));
        }
    }
    if !finding.fix.is_empty() {
        out.push_str("   fix:\n");
        for line in &finding.fix {
            out.push_str(&format!("     {line}\n"));
        }
    }
    out.push('\n');
}

/// The text report.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(&wrap(&report.verdict.text, WIDTH, ""));
    out.push('\n');
    for (index, finding) in report.findings.iter().enumerate() {
        render_finding(&mut out, index + 1, finding);
    }
    if !report.notes.is_empty() {
        out.push_str("Notes (not problems):\n");
        for note in &report.notes {
            out.push_str(&format!("  {} {}\n", note.code, note.title));
            for line in &note.arithmetic {
                out.push_str(&format!("     {line}\n"));
            }
        }
        out.push('\n');
    }
    if !report.checks.is_empty() {
        out.push_str("Checked and fine:\n");
        for check in &report.checks {
            out.push_str(&format!("  - {check}\n"));
        }
        out.push('\n');
    }
    if !report.not_checked.is_empty() {
        out.push_str("Not checked:\n");
        for missing in &report.not_checked {
            out.push_str(&format!("  - {missing}\n"));
        }
        out.push('\n');
    }
    out.push_str("Read:\n");
    for input in &report.inputs {
        out.push_str(&format!("  - {input}\n"));
    }
    if let Some(first) = report.findings.first() {
        out.push_str(&format!(
            "\nMemory is in GiB (2^30 bytes). The KV cache holds what the model has read of the prompt and grows\nwith the context. `headroom explain {}` says what a finding checks, why it matters, and the fix.\n",
            first.code
        ));
    }
    out
}
