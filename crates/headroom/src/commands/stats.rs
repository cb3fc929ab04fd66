//! `headroom stats LOG`: the gateway's local/cloud split by requests and by tokens, and why,
//! from its JSON-lines decision log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Summarise a gateway decision log: local/cloud split by requests and tokens, and why.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The gateway's decision log (JSON lines).
    log: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Prints the summary.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = fs_err::read_to_string(&args.log).context("cannot read the decision log")?;
    let stats = headroom_gateway::observe::stats(&text);
    if args.json {
        crate::output::print_json(&stats)?;
    } else {
        use std::io::Write;
        write!(std::io::stdout().lock(), "{stats}")?;
    }
    Ok(ExitCode::SUCCESS)
}
