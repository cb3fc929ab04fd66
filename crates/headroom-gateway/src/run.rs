//! Running the gateway as a process: load the config, enforce the listener policy, bind,
//! probe backends, serve, and reload on SIGHUP or when the file changes (without dropping
//! connections), until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::{Config, ConfigError, ProcessEnvironment};
use crate::server::{Gateway, ListenError, Seams, check_listen, serve};

/// How often the config file's modification time is checked.
pub const CONFIG_POLL_SECONDS: u64 = 2;

/// What `headroom gateway` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The TOML config.
    pub config_path: PathBuf,
    /// Overrides `server.listen`.
    pub listen: Option<SocketAddr>,
    /// Allows a non-loopback address (an access token is still required).
    pub allow_remote: bool,
}

/// Why the gateway could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The config is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listener policy refused the address.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// An I/O step failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn load(options: &RunOptions) -> Result<Config, RunError> {
    let mut config = Config::load(&options.config_path, &ProcessEnvironment)?;
    if let Some(listen) = options.listen {
        config.server.listen = listen;
    }
    check_listen(&config, options.allow_remote)?;
    Ok(config)
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    fs_err::metadata(path)
        .ok()
        .and_then(|metadata| metadata.modified().ok())
}

fn reload(gateway: &Gateway, options: &RunOptions, why: &str) {
    match load(options) {
        Ok(config) => {
            if config.server.listen != gateway.config().server.listen {
                eprintln!(
                    "headroom gateway: server.listen changed; the new address takes effect after a restart"
                );
            }
            match gateway.reload(config) {
                Ok(()) => {
                    eprintln!(
                        "headroom gateway: reloaded {} ({why})",
                        options.config_path.display()
                    );
                    for note in gateway.notes() {
                        eprintln!("headroom gateway: warning: {note}");
                    }
                }
                Err(error) => {
                    eprintln!("headroom gateway: reload failed, keeping the old config: {error}")
                }
            }
        }
        Err(error) => eprintln!("headroom gateway: reload failed, keeping the old config: {error}"),
    }
}

async fn watch(gateway: Arc<Gateway>, options: RunOptions) {
    let mut last = modified(&options.config_path);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let signalled = async {
            match hangup.as_mut() {
                Some(signal) => signal.recv().await.is_some(),
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<bool>();
        tokio::select! {
            got = signalled => if got { reload(&gateway, &options, "SIGHUP") },
            () = tokio::time::sleep(Duration::from_secs(CONFIG_POLL_SECONDS)) => {
                let now = modified(&options.config_path);
                if now != last {
                    last = now;
                    reload(&gateway, &options, "file changed");
                }
            }
        }
    }
}

/// Runs the gateway until Ctrl-C, on its own tokio runtime.
pub fn run_blocking(options: RunOptions, seams: Seams) -> Result<(), RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| RunError::Io {
            context: "cannot start the async runtime".into(),
            source,
        })?;
    runtime.block_on(run(options, seams))
}

/// Runs the gateway until Ctrl-C.
pub async fn run(options: RunOptions, mut seams: Seams) -> Result<(), RunError> {
    let config = load(&options)?;
    if seams.token_counter.is_none() {
        // Exact counts from each local model's own vocabulary where its GGUF can be found; the
        // counter answers `None` for the others, which fall back to `/tokenize` or the estimate.
        seams.token_counter = Some(std::sync::Arc::new(
            crate::vocabulary::VocabularyCounter::new(&config, &options.config_path),
        ));
    }
    let address = config.server.listen;
    let summary = format!(
        "{} models, {} backends",
        config.models.len(),
        config.backends.len()
    );
    let gateway = Gateway::new(config, seams).map_err(|source| RunError::Io {
        context: "cannot open the decision log".into(),
        source,
    })?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| RunError::Io {
            context: format!("cannot listen on {address}"),
            source,
        })?;
    eprintln!("headroom gateway: listening on http://{address} ({summary})");
    for note in gateway.notes() {
        eprintln!("headroom gateway: warning: {note}");
    }
    tokio::spawn(gateway.clone().health_loop());
    tokio::spawn(watch(gateway.clone(), options));
    serve(gateway, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}
