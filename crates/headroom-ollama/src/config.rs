//! The server configuration Ollama reads from its environment, parsed from a map (never from
//! the process environment directly, so callers and tests decide what the server saw).
//!
//! Source: `envconfig/config.go` of ollama/ollama v0.33.0-rc2 (HEAD `fb30760`): `Var` trims
//! white space and then `"`/`'`; `Uint` falls back to the default on a parse error (with a
//! warning); `BoolWithDefault` treats an unparseable value as true; `KeepAlive` takes a Go
//! duration or whole seconds, negative meaning forever.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;

use serde::Serialize;

use crate::duration::parse_go_duration_seconds;
use crate::modelfile::parse_go_bool;

/// Ollama's default port (`envconfig.Host`).
pub const DEFAULT_PORT: u16 = 11434;

/// The address `OLLAMA_HOST` names, with Ollama's defaulting rules applied (`envconfig.Host`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OllamaHost {
    /// `http` unless the value says otherwise (`ollama.com` alone means https).
    pub scheme: String,
    /// Host name or IP address as Ollama normalises it; empty for a bare `:port`.
    pub host: String,
    /// Port: 11434 without a scheme, 80 for `http://`, 443 for `https://` when none is given.
    pub port: u16,
    /// Path prefix after the first `/` (without the slash), often empty.
    pub path: String,
}

impl OllamaHost {
    /// Parses an `OLLAMA_HOST` value exactly as `envconfig.Host()` does (v0.33.0-rc2). The
    /// empty string gives `http://127.0.0.1:11434`.
    pub fn parse(value: &str) -> Self {
        let value = trim_env_value(value);
        let (scheme, hostport, default_port) = match value.split_once("://") {
            None if value == "ollama.com" => ("https".to_owned(), "ollama.com:443", DEFAULT_PORT),
            None => ("http".to_owned(), value, DEFAULT_PORT),
            Some(("http", rest)) => ("http".to_owned(), rest, 80),
            Some(("https", rest)) => ("https".to_owned(), rest, 443),
            Some((scheme, rest)) => (scheme.to_owned(), rest, DEFAULT_PORT),
        };
        let (hostport, path) = hostport.split_once('/').unwrap_or((hostport, ""));
        let (host, port_text) = match split_host_port(hostport) {
            Some((host, port)) => (host.to_owned(), port.to_owned()),
            None => {
                let bracketless = hostport.trim_matches(['[', ']']);
                let host = if let Ok(address) = bracketless.parse::<IpAddr>() {
                    address.to_string()
                } else if !hostport.is_empty() {
                    hostport.to_owned()
                } else {
                    "127.0.0.1".to_owned()
                };
                (host, default_port.to_string())
            }
        };
        // strconv.ParseInt(port, 10, 32) with 0..=65535 accepted; anything else -> default.
        let port = port_text
            .parse::<i64>()
            .ok()
            .and_then(|port| u16::try_from(port).ok())
            .unwrap_or(default_port);
        Self {
            scheme,
            host,
            port,
            path: path.to_owned(),
        }
    }

    /// The address a client should connect to (`envconfig.ConnectableHost`): the unspecified
    /// bind addresses `0.0.0.0` and `::` become `127.0.0.1` and `::1`. An empty host (bare
    /// `:port`) is also made `127.0.0.1`, which is where Go's dialer goes for it.
    pub fn connectable(&self) -> Self {
        let mut host = self.clone();
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V4(address)) if address.is_unspecified() => host.host = "127.0.0.1".into(),
            Ok(IpAddr::V6(address)) if address.is_unspecified() => {
                host.host = Ipv6Addr::LOCALHOST.to_string();
            }
            Err(_) if self.host.is_empty() => host.host = "127.0.0.1".into(),
            _ => {}
        }
        host
    }

    /// `host:port`, with brackets around an IPv6 address (`net.JoinHostPort`).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The base URL, e.g. `http://127.0.0.1:11434` or `https://example.com:443/ollama`.
    pub fn base_url(&self) -> String {
        if self.path.is_empty() {
            format!("{}://{}", self.scheme, self.authority())
        } else {
            format!("{}://{}/{}", self.scheme, self.authority(), self.path)
        }
    }
}

/// Go's `net.SplitHostPort`: `host:port`, `[v6]:port`; `None` when there is no port part or
/// the host has unbracketed colons.
fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        if port.contains([':', '[', ']']) {
            return None;
        }
        return Some((host, port));
    }
    let (host, port) = hostport.rsplit_once(':')?;
    if host.contains(':') || host.contains(['[', ']']) || port.contains(['[', ']']) {
        return None;
    }
    Some((host, port))
}

/// `envconfig.Var`: trims white space, then surrounding `"` and `'` characters.
pub fn trim_env_value(value: &str) -> &str {
    value.trim().trim_matches(['"', '\''])
}

/// The OLLAMA_* settings that decide memory and context, as the server would read them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerEnvironment {
    /// `OLLAMA_CONTEXT_LENGTH` (v0.5.13+); 0 = unset (the default since v0.15.5).
    pub context_length: u64,
    /// `OLLAMA_NUM_PARALLEL`; `None` when unset (the default depends on the version).
    pub num_parallel: Option<u64>,
    /// `OLLAMA_KV_CACHE_TYPE`, lower-cased as `llm` does before use; `None` = f16.
    pub kv_cache_type: Option<String>,
    /// `OLLAMA_FLASH_ATTENTION`; `None` when unset (auto at v0.30+, off before).
    pub flash_attention: Option<bool>,
    /// `OLLAMA_MAX_LOADED_MODELS`; 0 = automatic.
    pub max_loaded_models: u64,
    /// `OLLAMA_KEEP_ALIVE` in seconds (default 300); `None` = forever (negative values).
    pub keep_alive_seconds: Option<f64>,
    /// `OLLAMA_GPU_OVERHEAD`: bytes reserved on each GPU (default 0).
    pub gpu_overhead_bytes: u64,
    /// `OLLAMA_MODELS`, when set.
    pub models: Option<PathBuf>,
    /// `OLLAMA_HOST` with Ollama's defaults applied.
    pub host: OllamaHost,
    /// Values the server would ignore, with the reason (it logs a warning and uses the default).
    pub warnings: Vec<String>,
}

impl ServerEnvironment {
    /// Reads the settings from a name -> value map (e.g. a copy of the process environment, or
    /// the `env=map[...]` of a `server config` log line).
    pub fn from_map(variables: &BTreeMap<String, String>) -> Self {
        let mut warnings = Vec::new();
        let get = |name: &str| {
            variables
                .get(name)
                .map(|value| trim_env_value(value))
                .filter(|value| !value.is_empty())
        };
        let mut unsigned = |name: &str, default: u64| match get(name) {
            None => None,
            Some(text) => match text.parse::<u64>() {
                Ok(value) => Some(value),
                Err(_) => {
                    warnings.push(format!(
                        "{name}={text:?} is not an unsigned integer; Ollama uses the default {default}"
                    ));
                    None
                }
            },
        };
        let context_length = unsigned("OLLAMA_CONTEXT_LENGTH", 0).unwrap_or(0);
        let num_parallel = unsigned("OLLAMA_NUM_PARALLEL", 1);
        let max_loaded_models = unsigned("OLLAMA_MAX_LOADED_MODELS", 0).unwrap_or(0);
        let gpu_overhead_bytes = unsigned("OLLAMA_GPU_OVERHEAD", 0).unwrap_or(0);
        let flash_attention = get("OLLAMA_FLASH_ATTENTION").map(|text| {
            // BoolWithDefault: a value strconv.ParseBool rejects counts as true.
            parse_go_bool(text).unwrap_or_else(|| {
                warnings.push(format!(
                    "OLLAMA_FLASH_ATTENTION={text:?} is not a Go boolean; Ollama treats it as true"
                ));
                true
            })
        });
        let keep_alive_seconds = match get("OLLAMA_KEEP_ALIVE") {
            None => Some(300.0),
            Some(text) => {
                let seconds = parse_go_duration_seconds(text).or_else(|| {
                    text.parse::<i64>().ok().map(|whole| {
                        #[allow(clippy::cast_precision_loss)]
                        let seconds = whole as f64;
                        seconds
                    })
                });
                match seconds {
                    Some(seconds) if seconds < 0.0 => None,
                    Some(seconds) => Some(seconds),
                    None => {
                        warnings.push(format!(
                            "OLLAMA_KEEP_ALIVE={text:?} is neither a duration nor seconds; Ollama keeps 5m"
                        ));
                        Some(300.0)
                    }
                }
            }
        };
        Self {
            context_length,
            num_parallel,
            kv_cache_type: get("OLLAMA_KV_CACHE_TYPE").map(str::to_ascii_lowercase),
            flash_attention,
            max_loaded_models,
            keep_alive_seconds,
            gpu_overhead_bytes,
            models: get("OLLAMA_MODELS").map(PathBuf::from),
            host: OllamaHost::parse(get("OLLAMA_HOST").unwrap_or("")),
            warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> String {
        OllamaHost::parse(value).base_url()
    }

    #[test]
    fn host_defaults_follow_envconfig() {
        assert_eq!(host(""), "http://127.0.0.1:11434");
        assert_eq!(host("0.0.0.0"), "http://0.0.0.0:11434");
        assert_eq!(host(":8080"), "http://:8080");
        assert_eq!(host("example.com"), "http://example.com:11434");
        assert_eq!(host("http://example.com"), "http://example.com:80");
        assert_eq!(host("https://example.com"), "https://example.com:443");
        assert_eq!(
            host("https://example.com/ollama"),
            "https://example.com:443/ollama"
        );
        assert_eq!(host("ollama.com"), "https://ollama.com:443");
        assert_eq!(host("[::1]:5000"), "http://[::1]:5000");
        assert_eq!(host("::1"), "http://[::1]:11434");
        assert_eq!(host("1.2.3.4:99999"), "http://1.2.3.4:11434");
        assert_eq!(host("  \"10.0.0.5:1234\"  "), "http://10.0.0.5:1234");
    }

    #[test]
    fn connectable_host_replaces_unspecified_addresses() {
        assert_eq!(
            OllamaHost::parse("0.0.0.0").connectable().base_url(),
            "http://127.0.0.1:11434"
        );
        assert_eq!(
            OllamaHost::parse("[::]:1").connectable().base_url(),
            "http://[::1]:1"
        );
        assert_eq!(
            OllamaHost::parse(":8080").connectable().base_url(),
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn environment_parses_like_the_server() {
        let variables: BTreeMap<String, String> = [
            ("OLLAMA_CONTEXT_LENGTH", "65536"),
            ("OLLAMA_NUM_PARALLEL", "four"),
            ("OLLAMA_KV_CACHE_TYPE", "Q8_0"),
            ("OLLAMA_FLASH_ATTENTION", "yes"),
            ("OLLAMA_KEEP_ALIVE", "-1"),
            ("OLLAMA_GPU_OVERHEAD", "536870912"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        let environment = ServerEnvironment::from_map(&variables);
        assert_eq!(environment.context_length, 65536);
        assert_eq!(environment.num_parallel, None);
        assert_eq!(environment.kv_cache_type.as_deref(), Some("q8_0"));
        assert_eq!(environment.flash_attention, Some(true));
        assert_eq!(environment.keep_alive_seconds, None);
        assert_eq!(environment.gpu_overhead_bytes, 512 * 1024 * 1024);
        assert_eq!(environment.warnings.len(), 2);
    }

    #[test]
    fn keep_alive_accepts_durations_and_seconds() {
        let with = |value: &str| {
            let variables = BTreeMap::from([("OLLAMA_KEEP_ALIVE".to_owned(), value.to_owned())]);
            ServerEnvironment::from_map(&variables).keep_alive_seconds
        };
        assert_eq!(with("10m"), Some(600.0));
        assert_eq!(with("3600"), Some(3600.0));
        assert_eq!(with("0"), Some(0.0));
    }
}
