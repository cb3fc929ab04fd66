//! Benchmark harness for the gateway's added latency and throughput, all on 127.0.0.1:
//!
//! - `mock PORT`: an OpenAI-compatible backend that answers at once (JSON, or SSE when the
//!   request says `"stream":true`), the stand-in for a model server with zero inference time;
//! - `serve CONFIG`: the gateway itself (the same `run` the `headroom gateway` command calls);
//! - `rate URL RATE SECONDS`: open-loop load at a fixed request rate; prints one JSON line with
//!   sent, ok, errors, achieved rate and latency percentiles (measured from each request's send);
//! - `ceiling URL CONNECTIONS SECONDS`: closed-loop load (each connection sends its next request
//!   when the previous answer is complete); prints requests per second.
//!
//! - `sequential DIRECT GATEWAY ROUNDS PER_ROUND`: one request at a time, alternating direct and
//!   through the gateway; prints the median of the per-round medians of each and of their
//!   difference, with the interquartile range over rounds (the method of the independent
//!   llm-gateway-bench, peers-and-routing.md §1.11), which isolates per-request overhead from load.
//!
//! The request body is a small non-streaming OpenAI chat completion for model `bench`. Load is
//! bounded by the rate or connection count and by SECONDS (at most 120).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Per-request limit; slower answers count as errors.
const REQUEST_TIMEOUT_SECONDS: u64 = 10;

const BODY: &str = r#"{"model":"bench","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello in one word."}],"max_tokens":16}"#;

const JSON_ANSWER: &str = r#"{"id":"x","object":"chat.completion","created":0,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":1,"total_tokens":25}}"#;

const SSE_ANSWER: &str = concat!(
    "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench\",\"choices\":[],\"usage\":{\"prompt_tokens\":24,\"completion_tokens\":1,\"total_tokens\":25}}\n\n",
    "data: [DONE]\n\n"
);

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match arguments.first().map(String::as_str) {
        Some("mock") => runtime.block_on(mock(arguments[1].parse().unwrap())),
        Some("serve") => {
            drop(runtime);
            let options = headroom_gateway::run::RunOptions {
                config_path: arguments[1].clone().into(),
                listen: None,
                allow_remote: false,
            };
            headroom_gateway::run::run_blocking(
                options,
                headroom_gateway::server::Seams::default(),
            )
            .unwrap();
        }
        Some("rate") => runtime.block_on(rate(
            &arguments[1],
            arguments[2].parse().unwrap(),
            seconds(&arguments[3]),
        )),
        Some("ceiling") => runtime.block_on(ceiling(
            &arguments[1],
            arguments[2].parse().unwrap(),
            seconds(&arguments[3]),
        )),
        Some("sequential") => runtime.block_on(sequential(
            &arguments[1],
            &arguments[2],
            arguments[3].parse::<usize>().unwrap().min(100),
            arguments[4].parse::<usize>().unwrap().min(1000),
        )),
        _ => panic!(
            "usage: gateway-bench mock PORT | serve CONFIG | rate URL RATE SECONDS | ceiling URL CONNECTIONS SECONDS | sequential DIRECT_URL GATEWAY_URL ROUNDS PER_ROUND"
        ),
    }
}

fn seconds(text: &str) -> f64 {
    text.parse::<f64>().unwrap().clamp(1.0, 120.0)
}

async fn mock(port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|request: Request<hyper::body::Incoming>| async move {
                let body = request
                    .into_body()
                    .collect()
                    .await
                    .map(|body| body.to_bytes())
                    .unwrap_or_default();
                let streaming = body.windows(13).any(|window| window == b"\"stream\":true");
                let (content_type, answer) = if streaming {
                    ("text/event-stream", SSE_ANSWER)
                } else {
                    ("application/json", JSON_ANSWER)
                };
                let mut response = Response::new(Full::new(Bytes::from_static(answer.as_bytes())));
                response
                    .headers_mut()
                    .insert("content-type", content_type.parse().unwrap());
                Ok::<_, Infallible>(response)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(4096)
        .build(connector)
}

async fn one(client: &Client<HttpConnector, Full<Bytes>>, url: &str) -> bool {
    let request = Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .unwrap();
    // A request that takes longer than this counts as an error, which bounds every run.
    let answer = async {
        match client.request(request).await {
            Ok(response) => {
                let ok = response.status().is_success();
                ok && response.into_body().collect().await.is_ok()
            }
            Err(_) => false,
        }
    };
    tokio::time::timeout(Duration::from_secs(REQUEST_TIMEOUT_SECONDS), answer)
        .await
        .unwrap_or(false)
}

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn rate(url: &str, requests_per_second: f64, seconds: f64) {
    let client = client();
    // Warm the connection pool so connects are not measured.
    for _ in 0..50 {
        one(&client, url).await;
    }
    let total = (requests_per_second * seconds) as u64;
    let interval = Duration::from_secs_f64(1.0 / requests_per_second);
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(total as usize)));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for index in 0..total {
        let scheduled = tokio::time::Instant::from_std(start + interval * index as u32);
        tokio::time::sleep_until(scheduled).await;
        let (client, url, latencies, errors) = (
            client.clone(),
            url.to_string(),
            latencies.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            if one(&client, &url).await {
                latencies
                    .lock()
                    .unwrap()
                    .push(sent.elapsed().as_secs_f64() * 1000.0);
            } else {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let sending_seconds = start.elapsed().as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    let mut sorted = latencies.lock().unwrap().clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "{{\"url\":\"{url}\",\"rate\":{requests_per_second},\"seconds\":{seconds},\"sent\":{total},\"ok\":{},\"errors\":{},\"achieved_rate\":{:.1},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
        sorted.len(),
        errors.load(Ordering::Relaxed),
        total as f64 / sending_seconds,
        percentile(&sorted, 0.50),
        percentile(&sorted, 0.90),
        percentile(&sorted, 0.99),
        sorted.last().copied().unwrap_or(f64::NAN),
    );
}

async fn ceiling(url: &str, connections: usize, seconds: f64) {
    let client = client();
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (client, url, done, errors) = (
            client.clone(),
            url.to_string(),
            done.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                if one(&client, &url).await {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{{\"url\":\"{url}\",\"connections\":{connections},\"seconds\":{elapsed:.1},\"ok\":{},\"errors\":{},\"requests_per_second\":{:.1}}}",
        done.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        done.load(Ordering::Relaxed) as f64 / elapsed,
    );
}

async fn timed(client: &Client<HttpConnector, Full<Bytes>>, url: &str) -> f64 {
    let sent = Instant::now();
    assert!(one(client, url).await, "request to {url} failed");
    sent.elapsed().as_secs_f64() * 1000.0
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(values, 0.5)
}

async fn sequential(direct: &str, gateway: &str, rounds: usize, per_round: usize) {
    let client = client();
    for _ in 0..15 {
        timed(&client, direct).await;
        timed(&client, gateway).await;
    }
    let (mut direct_medians, mut gateway_medians, mut overhead_medians) =
        (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (mut direct_round, mut gateway_round) =
            (Vec::with_capacity(per_round), Vec::with_capacity(per_round));
        for _ in 0..per_round {
            direct_round.push(timed(&client, direct).await);
            gateway_round.push(timed(&client, gateway).await);
        }
        let (direct_median, gateway_median) =
            (median(&mut direct_round), median(&mut gateway_round));
        direct_medians.push(direct_median);
        gateway_medians.push(gateway_median);
        overhead_medians.push(gateway_median - direct_median);
    }
    let summary = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        (
            percentile(values, 0.5),
            percentile(values, 0.25),
            percentile(values, 0.75),
        )
    };
    let (direct_ms, _, _) = summary(&mut direct_medians);
    let (gateway_ms, _, _) = summary(&mut gateway_medians);
    let (overhead_ms, q1, q3) = summary(&mut overhead_medians);
    println!(
        "{{\"rounds\":{rounds},\"per_round\":{per_round},\"direct_median_ms\":{direct_ms:.3},\"gateway_median_ms\":{gateway_ms:.3},\"overhead_median_ms\":{overhead_ms:.3},\"overhead_iqr_ms\":[{q1:.3},{q3:.3}]}}"
    );
}
