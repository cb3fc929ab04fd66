//! `headroom gateway`: runs the routing gateway (local or cloud per request, by exact size,
//! privacy and predicted time to first token) with a TOML config.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use headroom_gateway::run::{RunOptions, run_blocking};
use headroom_gateway::server::Seams;

/// Run the routing gateway (Ollama, OpenAI and Anthropic APIs in; local and cloud backends out).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Gateway config (TOML); see examples/gateway/story.toml.
    #[arg(
        long,
        env = "HEADROOM_GATEWAY_CONFIG",
        default_value = "headroom-gateway.toml"
    )]
    config: PathBuf,
    /// Address to listen on, overriding server.listen.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Allow a non-loopback address; the config must then name an access token.
    #[arg(long)]
    allow_remote: bool,
}

/// Runs until Ctrl-C.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = RunOptions {
        config_path: args.config.clone(),
        listen: args.listen,
        allow_remote: args.allow_remote,
    };
    run_blocking(options, Seams::default())
        .with_context(|| format!("gateway with config {}", args.config.display()))?;
    Ok(ExitCode::SUCCESS)
}
