//! The command line: one module per command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod compare;
pub mod doctor;
mod explain;
mod fix;
mod gateway;
mod inspect;
pub mod memory;
mod ollama;
pub mod plan;
pub mod speed;
mod stats;
mod tokens;

/// Why your local LLM fails, in arithmetic.
#[derive(Debug, Parser)]
#[command(name = "headroom", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The truth about a model, from its GGUF header.
    Inspect(inspect::InspectArgs),
    /// Why a local model fails: verdict, findings with evidence, arithmetic and the fix.
    Doctor(doctor::DoctorArgs),
    /// Write what the doctor prescribes (dry run unless --write).
    Fix(fix::FixArgs),
    /// What a doctor finding checks, why it matters, and the fix.
    Explain(explain::ExplainArgs),
    /// What llama.cpp allocates for a model, whether it fits, and the largest context that does.
    Memory(memory::MemoryArgs),
    /// Decode and prefill speed at depth on a machine, and the timeout arithmetic.
    Speed(Box<speed::SpeedArgs>),
    /// Rank the hardware catalog for a model: fit, headroom, speed, price.
    Plan(plan::PlanArgs),
    /// Machines side by side (and a model's speed on each with --model).
    Compare(compare::CompareArgs),
    /// Ollama's store and server log: trained vs configured vs effective context, log events.
    Ollama(ollama::OllamaArgs),
    /// Route requests local or cloud by size, privacy and predicted latency.
    Gateway(gateway::Args),
    /// Local/cloud split of a gateway decision log, and why.
    Stats(stats::Args),
    /// Count tokens exactly with a model's own tokenizer.
    Tokens(tokens::TokensArgs),
}

/// Runs the parsed command line; the exit code says whether problems were found.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Memory(args) => memory::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Fix(args) => fix::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Speed(args) => speed::run(*args),
        Command::Plan(args) => plan::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Ollama(args) => ollama::run(args),
        Command::Gateway(args) => gateway::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Tokens(args) => tokens::run(args),
    }
}

/// Parses a token count for `--context`, `--prompt-tokens` and `--depth`: llama.cpp counts
/// context cells in 32 bits (`llama_context_params.n_ctx` is a `uint32_t`), so a larger number is
/// a typing error, not a context anyone can run.
pub fn parse_tokens(text: &str) -> Result<u64, String> {
    let tokens: u64 =
        text.trim().replace('_', "").parse().map_err(|_| {
            format!("`{text}` is not a whole number of tokens (write 128K as 131072)")
        })?;
    if tokens > u64::from(u32::MAX) {
        return Err(format!(
            "{tokens} tokens is more than llama.cpp can address (its context is a 32-bit count, at most {})",
            u32::MAX
        ));
    }
    Ok(tokens)
}

/// Parses a positive, finite number (a rate in tokens/s, a timeout in seconds).
pub fn parse_positive(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        Ok(_) => Err(format!("`{text}` should be a positive number")),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_positive, parse_tokens};

    #[test]
    fn token_counts_stop_at_llama_cpp_s_32_bits() {
        assert_eq!(parse_tokens("262144"), Ok(262_144));
        assert_eq!(parse_tokens("262_144"), Ok(262_144));
        assert_eq!(parse_tokens("0"), Ok(0));
        assert_eq!(parse_tokens("4294967295"), Ok(4_294_967_295));
        assert!(parse_tokens("4294967296").unwrap_err().contains("32-bit"));
        assert!(
            parse_tokens("128k")
                .unwrap_err()
                .contains("not a whole number")
        );
    }

    #[test]
    fn rates_and_timeouts_are_positive_and_finite() {
        assert_eq!(parse_positive("400"), Ok(400.0));
        assert_eq!(parse_positive("0.5"), Ok(0.5));
        for bad in ["0", "-3", "inf", "NaN", "fast"] {
            assert!(parse_positive(bad).is_err(), "{bad}");
        }
    }
}
