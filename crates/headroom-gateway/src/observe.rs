//! Observability: the JSON-lines decision log (no prompt text unless configured), Prometheus
//! counters served at `/metrics`, and the `stats` summary of a log (local/cloud split by requests
//! and by tokens, and why).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;

use serde::{Deserialize, Serialize};

use crate::decision::grouped;

/// One routing decision and its outcome: one line of the decision log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// Unix time, seconds.
    pub time_seconds: u64,
    /// Gateway request id.
    pub request_id: String,
    /// Client dialect.
    pub dialect: String,
    /// Model name the client used.
    pub model: String,
    /// `local`, `cloud` or `rejected`.
    pub route: String,
    /// Stable reason code.
    pub reason: String,
    /// Human explanation.
    pub explanation: String,
    /// `private` or `public`.
    pub privacy: String,
    /// The privacy rule that decided.
    pub privacy_reason: String,
    /// Backend that answered (or was tried last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Model on that backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_model: Option<String>,
    /// Prompt tokens counted before routing (best value).
    pub prompt_tokens: u64,
    /// Upper bound used for the decision.
    pub prompt_tokens_upper_bound: u64,
    /// Whether the count was exact.
    pub count_exact: bool,
    /// `num_ctx` sent to a local Ollama.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_ctx: Option<u64>,
    /// Predicted local prefill seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_local_seconds: Option<f64>,
    /// Deadline used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_seconds: Option<f64>,
    /// HTTP status sent to the client.
    pub status: u16,
    /// `completed`, `upstream-error`, `client-disconnected`, `rejected`.
    pub outcome: String,
    /// Prompt tokens the backend reported evaluating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_prompt_tokens: Option<u64>,
    /// Answer tokens the backend reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    /// The backend evaluated far fewer prompt tokens than were sent: truncation.
    #[serde(default)]
    pub truncated: bool,
    /// Attempts made (failover and retries).
    pub attempts: u32,
    /// Error text from upstream, when any (no prompt text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Prompt text, only with `server.log_prompt_text = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_text: Option<String>,
}

/// Appends records to a file from a background thread so the request path never waits on disk.
#[derive(Debug)]
pub struct DecisionLog {
    sender: Mutex<Option<mpsc::Sender<DecisionRecord>>>,
}

impl DecisionLog {
    /// Opens (appends to) `path`; `None` logs nowhere.
    pub fn open(path: Option<&Path>) -> std::io::Result<Self> {
        let Some(path) = path else {
            return Ok(Self {
                sender: Mutex::new(None),
            });
        };
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            fs_err::create_dir_all(parent)?;
        }
        let file = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let (sender, receiver) = mpsc::channel::<DecisionRecord>();
        let path: PathBuf = path.to_path_buf();
        std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || {
                let mut writer = std::io::BufWriter::new(file);
                while let Ok(record) = receiver.recv() {
                    let mut line = serde_json::to_vec(&record).unwrap_or_default();
                    line.push(b'\n');
                    let written = writer.write_all(&line);
                    // Flush when the queue is drained, so a reader sees whole lines promptly.
                    let flushed = match receiver.try_recv() {
                        Ok(next) => {
                            let mut next_line = serde_json::to_vec(&next).unwrap_or_default();
                            next_line.push(b'\n');
                            writer.write_all(&next_line).and_then(|()| writer.flush())
                        }
                        Err(_) => writer.flush(),
                    };
                    if let Err(error) = written.and(flushed) {
                        eprintln!(
                            "headroom gateway: cannot write decision log {}: {error}",
                            path.display()
                        );
                    }
                }
            })?;
        Ok(Self {
            sender: Mutex::new(Some(sender)),
        })
    }

    /// Queues a record.
    pub fn write(&self, record: DecisionRecord) {
        if let Ok(sender) = self.sender.lock()
            && let Some(sender) = sender.as_ref()
        {
            let _ = sender.send(record);
        }
    }
}

/// Counters for Prometheus, keyed by metric name and label set.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(String, String), f64>>,
}

impl Metrics {
    /// Adds `value` to a counter with pre-rendered labels (`route="local",reason="x"`).
    pub fn add(&self, name: &str, labels: &str, value: f64) {
        if let Ok(mut counters) = self.counters.lock() {
            *counters
                .entry((name.to_string(), labels.to_string()))
                .or_insert(0.0) += value;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(counters) = self.counters.lock() else {
            return out;
        };
        let mut last = "";
        for ((name, labels), value) in counters.iter() {
            if name != last {
                out.push_str(&format!("# TYPE {name} counter\n"));
                last = name;
            }
            if labels.is_empty() {
                out.push_str(&format!("{name} {value}\n"));
            } else {
                out.push_str(&format!("{name}{{{labels}}} {value}\n"));
            }
        }
        out
    }

    /// Counts a finished request.
    pub fn record(&self, record: &DecisionRecord) {
        let labels = format!("route=\"{}\",reason=\"{}\"", record.route, record.reason);
        self.add("headroom_gateway_requests_total", &labels, 1.0);
        self.add(
            "headroom_gateway_prompt_tokens_total",
            &format!("route=\"{}\"", record.route),
            record.prompt_tokens as f64,
        );
        self.add(
            "headroom_gateway_outcomes_total",
            &format!("outcome=\"{}\"", record.outcome),
            1.0,
        );
        if record.truncated {
            self.add("headroom_gateway_truncations_total", "", 1.0);
        }
    }
}

/// A log file's summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Requests and prompt tokens per route (`local`, `cloud`, `rejected`).
    pub routes: BTreeMap<String, RouteTotals>,
    /// Requests per (route, reason).
    pub reasons: BTreeMap<String, u64>,
    /// Answers flagged as truncated.
    pub truncated: u64,
    /// Lines that did not parse (line numbers, first few).
    pub bad_lines: Vec<usize>,
}

/// Requests and tokens of one route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RouteTotals {
    /// Request count.
    pub requests: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
}

/// Summarises a decision log.
pub fn stats(text: &str) -> Stats {
    let mut stats = Stats::default();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Ok(record) = serde_json::from_str::<DecisionRecord>(line) else {
            if stats.bad_lines.len() < 10 {
                stats.bad_lines.push(index + 1);
            }
            continue;
        };
        let totals = stats.routes.entry(record.route.clone()).or_default();
        totals.requests += 1;
        totals.prompt_tokens += record.backend_prompt_tokens.unwrap_or(record.prompt_tokens);
        *stats
            .reasons
            .entry(format!("{} / {}", record.route, record.reason))
            .or_default() += 1;
        stats.truncated += u64::from(record.truncated);
    }
    stats
}

impl Stats {
    fn served(&self, route: &str) -> RouteTotals {
        self.routes.get(route).copied().unwrap_or_default()
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let requests: u64 = self.routes.values().map(|totals| totals.requests).sum();
        let (local, cloud) = (self.served("local"), self.served("cloud"));
        // Token shares are of the work actually served (local + cloud); rejected requests ran nowhere.
        let served_tokens = local.prompt_tokens + cloud.prompt_tokens;
        let percent = |part: u64, whole: u64| {
            if whole == 0 {
                0.0
            } else {
                100.0 * part as f64 / whole as f64
            }
        };
        writeln!(
            formatter,
            "{:<10} {:>10} {:>7} {:>16} {:>7}",
            "route", "requests", "%", "prompt tokens", "%"
        )?;
        for (route, totals) in &self.routes {
            let token_share = if route == "local" || route == "cloud" {
                format!("{:>6.1}%", percent(totals.prompt_tokens, served_tokens))
            } else {
                format!("{:>7}", "-")
            };
            writeln!(
                formatter,
                "{route:<10} {:>10} {:>6.1}% {:>16} {token_share}",
                grouped(totals.requests),
                percent(totals.requests, requests),
                grouped(totals.prompt_tokens),
            )?;
        }
        writeln!(formatter, "{:<10} {:>10}", "total", grouped(requests))?;
        writeln!(
            formatter,
            "\nserved: {:.1}% of requests and {:.1}% of prompt tokens went to the cloud",
            percent(cloud.requests, local.requests + cloud.requests),
            percent(cloud.prompt_tokens, served_tokens)
        )?;
        writeln!(formatter, "\nwhy:")?;
        for (reason, count) in &self.reasons {
            writeln!(formatter, "  {:>8}  {reason}", grouped(*count))?;
        }
        if self.truncated > 0 {
            writeln!(
                formatter,
                "\nwarning: {} local answers evaluated far fewer prompt tokens than were sent (truncated)",
                self.truncated
            )?;
        }
        if !self.bad_lines.is_empty() {
            writeln!(
                formatter,
                "\nwarning: lines that are not decision records: {:?}",
                self.bad_lines
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(route: &str, reason: &str, tokens: u64) -> String {
        let record = DecisionRecord {
            route: route.into(),
            reason: reason.into(),
            prompt_tokens: tokens,
            ..Default::default()
        };
        serde_json::to_string(&record).unwrap()
    }

    #[test]
    fn stats_split_by_requests_and_tokens() {
        let text = [
            line("local", "local-fits", 1_000),
            line("local", "local-fits", 3_000),
            line("local", "local-num-ctx-raised", 20_000),
            line("cloud", "cloud-local-too-slow", 146_760),
            line("rejected", "private-exceeds-deadline", 146_760),
            "garbage".into(),
        ]
        .join("\n");
        let stats = stats(&text);
        assert_eq!(
            stats.routes["local"],
            RouteTotals {
                requests: 3,
                prompt_tokens: 24_000
            }
        );
        assert_eq!(stats.routes["cloud"].requests, 1);
        assert_eq!(stats.reasons["local / local-fits"], 2);
        assert_eq!(stats.bad_lines, vec![6]);
        let printed = stats.to_string();
        assert!(printed.contains("60.0%"), "{printed}");
        assert!(
            printed.contains("25.0% of requests and 85.9% of prompt tokens went to the cloud"),
            "{printed}"
        );
    }

    #[test]
    fn metrics_render_prometheus_text() {
        let metrics = Metrics::default();
        metrics.record(&DecisionRecord {
            route: "local".into(),
            reason: "local-fits".into(),
            outcome: "completed".into(),
            prompt_tokens: 5,
            ..Default::default()
        });
        let text = metrics.render();
        assert!(text.contains("# TYPE headroom_gateway_requests_total counter"));
        assert!(
            text.contains(
                "headroom_gateway_requests_total{route=\"local\",reason=\"local-fits\"} 1"
            )
        );
    }

    #[test]
    fn log_writes_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log/decisions.jsonl");
        let log = DecisionLog::open(Some(&path)).unwrap();
        log.write(DecisionRecord {
            route: "local".into(),
            ..Default::default()
        });
        drop(log);
        // The writer thread ends when the sender is dropped; wait for the line to land.
        for _ in 0..200 {
            if fs_err::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .count()
                == 1
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let text = fs_err::read_to_string(&path).unwrap();
        assert_eq!(stats(&text).routes["local"].requests, 1);
    }
}
