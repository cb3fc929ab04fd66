//! `headroom fix BUNDLE_DIR`: writes what the doctor prescribes. Dry run by default (prints
//! the diffs and commands); `--write` writes atomically with a backup of every file it
//! replaces and refuses when a file changed since it was read.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Args;
use headroom_core::doctor::Analysis;
use headroom_core::doctor::bundle::read_bundle;
use std::time::Duration;

use headroom_core::fix::{
    FileChange, Prescription, create_request, prescribe, unified_diff, write_change,
};

use crate::ollama_api::OllamaClient;
use crate::output;

/// Arguments of `headroom fix`.
#[derive(Debug, Args)]
pub struct FixArgs {
    /// The bundle directory the doctor examined.
    pub bundle: PathBuf,
    /// Write the files (default: print what would change).
    #[arg(long)]
    pub write: bool,
    /// Create the model through the Ollama API (`/api/create`).
    #[arg(long)]
    pub apply: bool,
    /// With --apply: the Ollama server (default: OLLAMA_HOST, else http://127.0.0.1:11434).
    #[arg(long, value_name = "URL")]
    pub host: Option<String>,
    /// Print the prescription as JSON.
    #[arg(long)]
    pub json: bool,
    /// Backup suffix instead of the current UTC time (for reproducible runs).
    #[arg(long, hide = true)]
    pub stamp: Option<String>,
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time (civil date from days, Howard Hinnant's algorithm).
fn utc_stamp(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

fn print_change(out: &mut impl Write, change: &FileChange) -> std::io::Result<()> {
    let label = change.path.display().to_string();
    match &change.original {
        Some(original) => write!(
            out,
            "{}",
            unified_diff(original, &change.text, &label, &format!("{label} (fixed)"))
        ),
        None => {
            writeln!(out, "new file {label}:")?;
            for line in change.text.lines() {
                writeln!(out, "+{line}")?;
            }
            Ok(())
        }
    }
}

fn print_prescription(out: &mut impl Write, prescription: &Prescription) -> std::io::Result<()> {
    if prescription.is_empty() {
        writeln!(
            out,
            "Nothing to fix: the doctor found nothing a setting can change."
        )?;
        for note in &prescription.notes {
            writeln!(out, "note: {note}")?;
        }
        return Ok(());
    }
    if let (Some(num_ctx), Some(reason)) = (prescription.num_ctx, &prescription.num_ctx_reason) {
        writeln!(out, "num_ctx {num_ctx}: {reason}")?;
    }
    if let Some(modelfile) = &prescription.modelfile {
        writeln!(out)?;
        print_change(out, modelfile)?;
    }
    if let Some(client) = &prescription.client_file {
        writeln!(out)?;
        print_change(out, client)?;
    }
    if !prescription.client.is_empty() {
        writeln!(out, "\nclient:")?;
        for change in &prescription.client {
            writeln!(
                out,
                "  {} = {} (was {}): {}",
                change.key,
                change.to,
                change.from.as_deref().unwrap_or("unset"),
                change.why
            )?;
        }
    }
    if !prescription.server.is_empty() {
        writeln!(
            out,
            "\nserver environment (set it where the server starts, then restart it):"
        )?;
        for change in &prescription.server {
            writeln!(out, "  {}={}  — {}", change.key, change.to, change.why)?;
        }
        let pairs: Vec<String> = prescription
            .server
            .iter()
            .map(|change| format!("{}={}", change.key, change.to))
            .collect();
        writeln!(
            out,
            "  macOS app: launchctl setenv for each ({}) and restart Ollama",
            pairs.join(" ")
        )?;
        writeln!(
            out,
            "  Linux service: `sudo systemctl edit ollama`, add Environment=\"…\" lines, then `sudo systemctl restart ollama`"
        )?;
    }
    if let Some(command) = &prescription.create_command {
        writeln!(out, "\nthen create the model:\n  {command}")?;
    }
    for note in &prescription.notes {
        writeln!(out, "\nnote: {note}")?;
    }
    Ok(())
}

/// Creates the prescribed model through `/api/create`.
fn apply(args: &FixArgs, prescription: &Prescription, out: &mut impl Write) -> anyhow::Result<()> {
    let (Some(change), Some(tag)) = (&prescription.modelfile, &prescription.tag) else {
        writeln!(
            out,
            "--apply: no model to create (the Modelfile needs no change)"
        )?;
        return Ok(());
    };
    let modelfile = headroom_ollama::Modelfile::parse(&change.text)
        .context("the fixed Modelfile does not parse")?;
    let body = create_request(&modelfile, tag).map_err(anyhow::Error::msg)?;
    let variables: std::collections::BTreeMap<String, String> = std::env::vars()
        .filter(|(name, _)| name.starts_with("OLLAMA_"))
        .collect();
    let host = args.host.as_deref().map_or_else(
        || headroom_ollama::ServerEnvironment::from_map(&variables).host,
        headroom_ollama::OllamaHost::parse,
    );
    // Creating from a local model copies no weights; a minute is ample.
    let client = OllamaClient::new(&host, Duration::from_secs(2), Duration::from_secs(60));
    let reply = client
        .create(&body)
        .with_context(|| format!("creating {tag} through {}/api/create", client.base_url()))?;
    let status = reply["status"].as_str().unwrap_or("(no status)");
    writeln!(
        out,
        "created {tag} through {}/api/create: {status}",
        client.base_url()
    )?;
    if status != "success" {
        bail!("/api/create answered `{status}`, not success");
    }
    Ok(())
}

/// Runs `headroom fix`.
pub fn run(args: FixArgs) -> anyhow::Result<ExitCode> {
    let facts = read_bundle(&args.bundle)
        .with_context(|| format!("reading the bundle {}", args.bundle.display()))?;
    let analysis = Analysis::new(&facts);
    let prescription = prescribe(&analysis, &args.bundle)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        output::print_json(&prescription)?;
    } else {
        print_prescription(&mut out, &prescription)?;
    }
    if args.apply {
        apply(&args, &prescription, &mut out)?;
    }
    if !args.write {
        if !prescription.is_empty() && !args.json {
            writeln!(
                out,
                "\nDry run: nothing was written. Run again with --write to write the files (backups are kept)."
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let stamp = args.stamp.clone().unwrap_or_else(|| {
        utc_stamp(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |duration| duration.as_secs()),
        )
    });
    for change in prescription
        .modelfile
        .iter()
        .chain(prescription.client_file.iter())
    {
        let written = write_change(change, &stamp)?;
        match &written.backup {
            Some(backup) => writeln!(
                out,
                "wrote {} (the old file is kept as {})",
                written.path.display(),
                backup.display()
            )?,
            None => writeln!(out, "wrote {} (new file)", written.path.display())?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        // 2026-02-18 11:15:00 UTC.
        assert_eq!(utc_stamp(1_771_413_300), "20260218T111500Z");
    }
}
