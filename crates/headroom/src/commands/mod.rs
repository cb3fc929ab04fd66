//! The command line: one module per command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod inspect;
pub mod memory;
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
    /// What llama.cpp allocates for a model, whether it fits, and the largest context that does.
    Memory(memory::MemoryArgs),
    /// Count tokens exactly with a model's own tokenizer.
    Tokens(tokens::TokensArgs),
}

/// Runs the parsed command line; the exit code says whether problems were found.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Memory(args) => memory::run(args),
        Command::Tokens(args) => tokens::run(args),
    }
}
