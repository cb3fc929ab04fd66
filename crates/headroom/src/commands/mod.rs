//! The command line: one module per command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Count tokens exactly with a model's own tokenizer.
    Tokens(tokens::TokensArgs),
}

/// Runs the parsed command line; the exit code says whether problems were found.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Tokens(args) => tokens::run(args),
    }
}
