//! `headroom`: the truth about a local model, its memory and speed, and what to fix.
//!
//! This binary is thin glue: flags (clap), one module per command in `commands/`, and the
//! exit-code contract: 0 ok, 1 problems found, 2 error. A broken pipe is not an error.

mod charts;
mod commands;
mod ollama_api;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            if output::is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            output::print_error(&error);
            ExitCode::from(2)
        }
    }
}
