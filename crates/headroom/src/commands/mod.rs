//! The command line: one module per command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod gateway;
mod inspect;
pub mod memory;
mod stats;

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
    /// What llama.cpp allocates for a model, whether it fits, and the largest context that does.
    Memory(memory::MemoryArgs),
    /// Route requests local or cloud by size, privacy and predicted latency.
    Gateway(gateway::Args),
    /// Local/cloud split of a gateway decision log, and why.
    Stats(stats::Args),
}

/// Runs the parsed command line; the exit code says whether problems were found.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Memory(args) => memory::run(args),
        Command::Gateway(args) => gateway::run(args),
        Command::Stats(args) => stats::run(args),
    }
}
