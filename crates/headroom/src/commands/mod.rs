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
