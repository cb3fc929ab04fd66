//! End-to-end tests of the gateway against fake Ollama and fake clouds on 127.0.0.1: the
//! story's acceptance scenario, dialect translation, streaming failures, failover rules,
//! reload, access control, and a property test that no private request reaches a cloud.

#[cfg(test)]
mod common;

use std::time::Duration;

use common::*;
use headroom_gateway::observe::stats;
use headroom_gateway::server::{Seams, check_listen};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The issue's acceptance scenario with the story config. Token counts are exact: the prompt
/// is N words and the seam counts words (the tokenizer crate plugs in there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_acceptance() {
    // Ollama has an 8,192-token window loaded (a previous client's num_ctx).
    let story = Story::start(8_192).await;
    let (gateway, _) = start_gateway(story.config(|text| text), exact_seams()).await;

    // 146,760 tokens marked public: local prefill at 400 tokens/s would take 367 s > 300 s, so it
    // goes to the smallest cloud window that holds 146,760 + 8,192: Devstral (262,144).
    let (status, headers, body) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[("x-headroom-privacy", "public")],
        Some(openai_body(146_760, false)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-headroom-route"), "cloud");
    assert_eq!(
        header(&headers, "x-headroom-reason"),
        "cloud-local-too-slow"
    );
    assert_eq!(header(&headers, "x-headroom-backend"), "mistral");
    assert_eq!(story.mistral.chat_requests(), 1);
    assert_eq!(story.mistral.last_body()["model"], "devstral-medium-latest");
    assert_eq!(story.gemini.chat_requests(), 0);
    assert_eq!(story.ollama.chat_requests(), 0);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "Hello world");

    // The same request, private by default: an explanatory error, and no cloud sees a byte.
    let before = story.cloud_requests();
    let (status, headers, body) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[],
        Some(openai_body(146_760, false)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(header(&headers, "x-headroom-route"), "rejected");
    let error: Value = serde_json::from_str(&body).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("146,760 prompt tokens"), "{message}");
    assert!(message.contains("300 s deadline"), "{message}");
    assert!(message.contains("Fix:"), "{message}");
    assert_eq!(story.cloud_requests() - before, 0);
    assert_eq!(story.mistral.chat_requests(), 1);
    assert_eq!(story.gemini.chat_requests(), 0);
    assert_eq!(story.ollama.chat_requests(), 0);

    // 20,000 tokens (private) run locally with num_ctx raised from 8,192 to fit 20,000 + 8,192.
    let (status, headers, body) = call(
        gateway,
        "POST",
        "/api/chat",
        &[],
        Some(json!({"model": "qwen3-coder", "stream": false,
            "messages": [{"role": "user", "content": prompt_of_words(20_000)}]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-headroom-route"), "local");
    assert_eq!(
        header(&headers, "x-headroom-reason"),
        "local-num-ctx-raised"
    );
    assert_eq!(header(&headers, "x-headroom-num-ctx"), "28672");
    let sent = story.ollama.last_body();
    assert_eq!(sent["options"]["num_ctx"], 28_672);
    assert_eq!(sent["truncate"], false);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["message"]["content"], "Hello world");
    assert_eq!(answer["prompt_eval_count"], 20_000);
    assert_eq!(story.cloud_requests(), 1);

    // The decision log shows the split.
    let log = story.log_lines(3).await;
    assert!(
        !log.contains("tok tok"),
        "prompt text must not be logged by default"
    );
    let summary = stats(&log);
    assert_eq!(summary.routes["local"].requests, 1);
    assert_eq!(summary.routes["local"].prompt_tokens, 20_000);
    assert_eq!(summary.routes["cloud"].requests, 1);
    assert_eq!(summary.routes["cloud"].prompt_tokens, 146_760);
    assert_eq!(summary.routes["rejected"].requests, 1);
    assert_eq!(summary.reasons["rejected / private-exceeds-deadline"], 1);
}

/// With no tokenizer, the calibrated estimate decides; 60,000 bytes is 13,394 to 34,296 tokens
/// across the calibration's ratios, and every value in that range runs locally with num_ctx
/// raised above the loaded 8,192, so the margin cannot change this decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimate_routes_twenty_thousand_locally_whatever_the_margin() {
    let story = Story::start(8_192).await;
    let (gateway, _) = start_gateway(story.config(|text| text), Seams::default()).await;
    let body = json!({"model": "qwen3-coder:30b", "stream": false, "messages": [{"role": "user", "content": "tok ".repeat(15_000)}]});
    let (status, headers, text) =
        call(gateway, "POST", "/v1/chat/completions", &[], Some(body)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(header(&headers, "x-headroom-route"), "local");
    let num_ctx: u64 = header(&headers, "x-headroom-num-ctx").parse().unwrap();
    // Upper bound: (60,000 + 4 role bytes) / 1.75 + 8 template tokens = 34,296, plus 8,192 reserved.
    assert!(num_ctx >= 34_296 + 8_192, "{num_ctx}");
    assert_eq!(story.cloud_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_stream_from_ollama_is_translated_with_usage() {
    let story = Story::start(131_072).await;
    let (gateway, _) = start_gateway(story.config(|text| text), exact_seams()).await;
    let mut body = openai_body(1_000, true);
    body["stream_options"] = json!({"include_usage": true});
    let (status, headers, text) =
        call(gateway, "POST", "/v1/chat/completions", &[], Some(body)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "text/event-stream");
    assert_eq!(header(&headers, "x-headroom-num-ctx"), "131072");
    let events: Vec<&str> = text
        .split("\n\n")
        .filter(|event| !event.is_empty())
        .collect();
    assert_eq!(events.last(), Some(&"data: [DONE]"));
    let usage: Value =
        serde_json::from_str(events[events.len() - 2].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(usage["usage"]["prompt_tokens"], 1_000);
    assert_eq!(usage["choices"], json!([]));
    assert!(text.contains("\"content\":\"Hello\"") && text.contains("\"content\":\" world\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_stream_from_cloud_has_message_events() {
    let story = Story::start(8_192).await;
    let (gateway, _) = start_gateway(story.config(|text| text), exact_seams()).await;
    let body = json!({"model": "qwen3-coder:public", "max_tokens": 100, "stream": true,
        "messages": [{"role": "user", "content": prompt_of_words(200_000)}]});
    let (status, headers, text) = call(gateway, "POST", "/v1/messages", &[], Some(body)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(header(&headers, "x-headroom-route"), "cloud");
    let names: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("event: "))
        .collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    assert!(names.contains(&"content_block_delta"));
    assert_eq!(story.mistral.chat_requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_death_mid_stream_reaches_the_client_as_an_error() {
    let story = Story::start(131_072).await;
    story.ollama.set_behaviour(Behaviour::DieMidStream);
    let (gateway, _) = start_gateway(story.config(|text| text), exact_seams()).await;
    let body = json!({"model": "qwen3-coder:30b", "messages": [{"role": "user", "content": "hi there"}],
        "stream": true});
    let (status, _, text) = call(
        gateway,
        "POST",
        "/api/chat",
        &[("x-headroom-privacy", "public")],
        Some(body),
    )
    .await;
    // The first byte went out, so there is no failover (no spliced answers): the stream ends with an error line.
    assert_eq!(status, 200);
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines[0]["message"]["content"], "Hello");
    assert!(lines.last().unwrap().get("error").is_some(), "{text}");
    assert_eq!(story.cloud_requests(), 0);
    let log = story.log_lines(1).await;
    assert!(log.contains("\"outcome\":\"upstream-error\""), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_leaving_cancels_the_backend() {
    let story = Story::start(131_072).await;
    story.ollama.set_behaviour(Behaviour::Endless);
    let (gateway, _) = start_gateway(story.config(|text| text), exact_seams()).await;
    let response = send(
        gateway,
        "POST",
        "/api/chat",
        &[],
        Some(json!({"model": "qwen3-coder:30b",
        "messages": [{"role": "user", "content": "go on forever"}]})),
    )
    .await;
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(first.data_ref().unwrap()).contains("tick"));
    drop(body);
    assert!(
        eventually(|| story
            .ollama
            .state
            .cancelled
            .load(std::sync::atomic::Ordering::SeqCst))
        .await
    );
    let log = story.log_lines(1).await;
    assert!(log.contains("\"outcome\":\"client-disconnected\""), "{log}");
}

fn slow_local(text: String) -> String {
    text.replace(
        "idle_timeout_seconds = 300",
        "idle_timeout_seconds = 300\nfirst_byte_timeout_seconds = 1",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_first_byte_fails_over_only_when_public() {
    let story = Story::start(131_072).await;
    story
        .ollama
        .set_behaviour(Behaviour::SlowFirstByte(Duration::from_secs(5)));
    let (gateway, gateway_handle) = start_gateway(story.config(slow_local), exact_seams()).await;

    let (status, headers, body) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[("x-headroom-privacy", "public")],
        Some(openai_body(100, false)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-headroom-route"), "cloud");
    assert_eq!(header(&headers, "x-headroom-reason"), "failover");
    assert_eq!(story.mistral.chat_requests(), 1);

    // The timed-out host is in cooldown until a health probe answers again.
    gateway_handle.probe_once().await;
    let (status, headers, body) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[],
        Some(openai_body(100, false)),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(header(&headers, "x-headroom-privacy"), "private");
    assert!(body.contains("no answer within 1 s"), "{body}");
    assert_eq!(story.cloud_requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_error_before_first_byte_fails_over_only_when_public() {
    let story = Story::start(131_072).await;
    story.ollama.set_behaviour(Behaviour::Status(500));
    let (gateway, _) = start_gateway(story.config(|text| text), exact_seams()).await;
    let (status, _, body) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[],
        Some(openai_body(100, false)),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(story.cloud_requests(), 0);
    let (status, headers, _) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[("x-headroom-privacy", "public")],
        Some(openai_body(100, false)),
    )
    .await;
    // The failed host is in cooldown, so the public request goes straight to the cloud.
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-headroom-route"), "cloud");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_with_a_secret_never_leaves_even_when_marked_public() {
    let story = Story::start(8_192).await;
    let (gateway, _) = start_gateway(story.config(|text| text), exact_seams()).await;
    let content = format!(
        "{} aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        prompt_of_words(146_760)
    );
    let body =
        json!({"model": "qwen3-coder:public", "messages": [{"role": "user", "content": content}]});
    let (status, headers, text) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[("x-headroom-privacy", "public")],
        Some(body),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(header(&headers, "x-headroom-privacy"), "private");
    assert!(text.contains("aws-access-key"), "{text}");
    assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"));
    assert_eq!(story.cloud_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_truncation_is_flagged() {
    let story = Story::start(131_072).await;
    story.ollama.set_behaviour(Behaviour::SilentTruncation);
    let (gateway, _) = start_gateway(story.config(|text| text), exact_seams()).await;
    let (status, headers, _) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[],
        Some(openai_body(100_000, false)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-headroom-truncated"), "true");
    let log = story.log_lines(1).await;
    assert!(log.contains("\"truncated\":true"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefill_rate_is_learned_from_backend_timings() {
    let story = Story::start(131_072).await;
    // Prior 4,000 tokens/s would let 146,760 tokens run locally in 37 s; the fake reports 400 tokens/s.
    let config = story.config(|text| {
        text.replace(
            "prefill_tokens_per_second = 400",
            "prefill_tokens_per_second = 4000",
        )
    });
    let (gateway, _) = start_gateway(config, exact_seams()).await;
    for _ in 0..8 {
        let (status, _, _) = call(
            gateway,
            "POST",
            "/v1/chat/completions",
            &[],
            Some(openai_body(20_000, false)),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (_, headers, _) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[("x-headroom-privacy", "public")],
        Some(openai_body(146_760, false)),
    )
    .await;
    assert_eq!(
        header(&headers, "x-headroom-reason"),
        "cloud-local-too-slow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_changes_rules_without_dropping_requests_in_flight() {
    let story = Story::start(131_072).await;
    story
        .ollama
        .set_behaviour(Behaviour::SlowFirstByte(Duration::from_millis(500)));
    let (gateway_address, gateway) = start_gateway(story.config(|text| text), exact_seams()).await;
    let in_flight = tokio::spawn(call(
        gateway_address,
        "POST",
        "/v1/chat/completions",
        &[],
        Some(openai_body(10, false)),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    gateway
        .reload(story.config(|text| {
            text.replace("allow_public_header = true", "allow_public_header = false")
        }))
        .unwrap();
    let (status, _, _) = in_flight.await.unwrap();
    assert_eq!(status, 200);
    story.ollama.set_behaviour(Behaviour::Normal);
    let (_, headers, _) = call(
        gateway_address,
        "POST",
        "/v1/chat/completions",
        &[("x-headroom-privacy", "public")],
        Some(openai_body(146_760, false)),
    )
    .await;
    assert_eq!(header(&headers, "x-headroom-privacy"), "private");
    assert_eq!(story.cloud_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_and_openai_listing_routes() {
    let story = Story::start(8_192).await;
    let (gateway, _) = start_gateway(story.config(|text| text), exact_seams()).await;
    let (status, _, tags) = call(gateway, "GET", "/api/tags", &[], None).await;
    assert_eq!(status, 200);
    assert!(tags.contains("\"qwen3-coder:public\""));
    let (_, _, models) = call(gateway, "GET", "/v1/models", &[], None).await;
    assert!(models.contains("\"object\":\"list\""));
    let (_, _, ps) = call(gateway, "GET", "/api/ps", &[], None).await;
    assert!(ps.contains("\"context_length\":8192"), "{ps}");
    let (_, _, version) = call(gateway, "GET", "/api/version", &[], None).await;
    assert_eq!(version, r#"{"version":"0.13.0"}"#);
    let (_, _, show) = call(
        gateway,
        "POST",
        "/api/show",
        &[],
        Some(json!({"model": "qwen3-coder"})),
    )
    .await;
    assert!(show.contains("qwen3moe.context_length"));
    let (status, _, body) = call(
        gateway,
        "POST",
        "/api/chat",
        &[],
        Some(json!({"model": "nope", "messages": []})),
    )
    .await;
    assert_eq!(status, 404);
    assert!(body.contains("qwen3-coder:30b"), "{body}");
    call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[],
        Some(openai_body(10, false)),
    )
    .await;
    let (_, _, metrics) = call(gateway, "GET", "/metrics", &[], None).await;
    assert!(
        metrics.contains("headroom_gateway_requests_total{route=\"local\""),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_token_is_required_when_configured() {
    let story = Story::start(8_192).await;
    let mut config = story.config(|text| text);
    config.server.access_token = Some(headroom_gateway::config::Secret::new("let-me-in"));
    let (gateway, _) = start_gateway(config, exact_seams()).await;
    let (status, _, _) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[],
        Some(openai_body(10, false)),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[("authorization", "Bearer let-me-in")],
        Some(openai_body(10, false)),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn remote_listen_needs_flag_and_token() {
    let story = Story::start(8_192).await;
    let mut config = story
        .config(|text| text.replace("listen = \"127.0.0.1:11435\"", "listen = \"0.0.0.0:11435\""));
    assert!(check_listen(&config, false).is_err());
    assert!(
        check_listen(&config, true)
            .unwrap_err()
            .to_string()
            .contains("access token")
    );
    config.server.access_token = Some(headroom_gateway::config::Secret::new("t"));
    assert!(check_listen(&config, true).is_ok());
    assert!(check_listen(&story.config(|text| text), false).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random sizes, privacy marks, model aliases, deadlines and local failures: a cloud stub
    /// only ever receives requests that were public.
    #[test]
    fn no_private_request_reaches_a_cloud(
        words in prop::sample::select(vec![10usize, 5_000, 120_000, 146_760, 300_000, 1_100_000]),
        header_mark in prop::sample::select(vec!["", "public", "private", "PUBLIC", "bogus"]),
        public_alias in any::<bool>(),
        secret in any::<bool>(),
        deadline in prop::sample::select(vec!["", "1", "300", "100000"]),
        local_fails in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let story = Story::start(8_192).await;
            if local_fails {
                story.ollama.set_behaviour(Behaviour::Status(500));
            }
            let (gateway, _) = start_gateway(story.config(|text| text), exact_seams()).await;
            let mut content = prompt_of_words(words);
            if secret {
                content.push_str(" -----BEGIN RSA PRIVATE KEY----- ");
            }
            let model = if public_alias { "qwen3-coder:public" } else { "qwen3-coder:30b" };
            let mut headers = Vec::new();
            if !header_mark.is_empty() {
                headers.push(("x-headroom-privacy", header_mark));
            }
            if !deadline.is_empty() {
                headers.push(("x-headroom-deadline-seconds", deadline));
            }
            let body = json!({"model": model, "messages": [{"role": "user", "content": content}]});
            let (status, response_headers, _) = call(gateway, "POST", "/v1/chat/completions", &headers, Some(body)).await;
            let private = header(&response_headers, "x-headroom-privacy") == "private";
            let expected_private = secret
                || header_mark == "private"
                || header_mark == "bogus"
                || (header_mark.is_empty() && !public_alias);
            prop_assert_eq!(private, expected_private);
            if private {
                prop_assert_eq!(story.cloud_requests(), 0, "status {}", status);
            }
            Ok(())
        })?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_fails_over_to_the_next_local_host_before_the_first_byte() {
    let live = start_fake(Flavor::Ollama, "qwen3-coder:30b", 32_768).await;
    // A port that refuses connections: bound, then closed.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let text = format!(
        r#"
[backends.pool]
kind = "ollama"
urls = ["http://{dead}", "{live}"]
retries = 0
[[models]]
name = "qwen3-coder:30b"
[models.local]
backend = "pool"
model = "qwen3-coder:30b"
max_num_ctx_tokens = 65536
"#,
        live = live.url()
    );
    let config = headroom_gateway::config::Config::parse(
        &text,
        std::path::Path::new("pool.toml"),
        &std::collections::BTreeMap::new(),
    )
    .unwrap();
    let (gateway, handle) = start_gateway(config, exact_seams()).await;
    for _ in 0..4 {
        let (status, headers, body) = call(
            gateway,
            "POST",
            "/v1/chat/completions",
            &[],
            Some(openai_body(100, false)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&headers, "x-headroom-route"), "local");
    }
    assert_eq!(live.chat_requests(), 4);
    // The probe marked the dead host down; the pool as a whole stays healthy.
    handle.probe_once().await;
    let (status, _, _) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[],
        Some(openai_body(100, false)),
    )
    .await;
    assert_eq!(status, 200);
}

/// With a `[machine]` table and the model's GGUF, the largest window comes from headroom-core's
/// memory model (here a 64 GiB Mac: the whole 4,096-token trained window of the tiny llama fits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_fit_from_the_gguf_decides_how_far_num_ctx_may_rise() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny.gguf");
    write_tiny_llama(&gguf);
    let ollama = start_fake(Flavor::Ollama, "tiny", 512).await;
    let text = format!(
        r#"
[machine]
unified_memory_gib = 64
[backends.mac]
kind = "ollama"
urls = ["{url}"]
[[models]]
name = "tiny"
reserve_output_tokens = 16
[models.local]
backend = "mac"
model = "tiny"
gguf = {gguf:?}
"#,
        url = ollama.url()
    );
    let config = headroom_gateway::config::Config::parse(
        &text,
        std::path::Path::new("fit.toml"),
        &std::collections::BTreeMap::new(),
    )
    .unwrap();
    let machine = config.machine.unwrap().machine().unwrap();
    let fit = headroom_gateway::memory_fit::memory_fit(
        &headroom_gateway::memory_fit::GgufSource::File(gguf.clone()),
        &machine,
    )
    .unwrap();
    assert_eq!(fit.training_context_tokens, 4_096);
    assert_eq!(fit.largest_context_tokens, Some(4_096));
    let (gateway, _) = start_gateway(config, exact_seams()).await;

    let body = |words: usize| json!({"model": "tiny", "messages": [{"role": "user", "content": prompt_of_words(words)}]});
    let (status, headers, text) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[],
        Some(body(3_000)),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(header(&headers, "x-headroom-num-ctx"), "3072");
    let (status, _, text) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[],
        Some(body(5_000)),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("(4,096 tokens)"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_leaving_a_non_streaming_request_cancels_the_backend() {
    let story = Story::start(131_072).await;
    story.ollama.set_behaviour(Behaviour::Endless);
    let (gateway, _) = start_gateway(story.config(|text| text), exact_seams()).await;
    let request = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[],
        Some(openai_body(10, false)),
    );
    // The client gives up after 300 ms (dropping the request closes its connection).
    assert!(
        tokio::time::timeout(Duration::from_millis(300), request)
            .await
            .is_err()
    );
    assert!(
        eventually(|| story
            .ollama
            .state
            .cancelled
            .load(std::sync::atomic::Ordering::SeqCst))
        .await
    );
    let log = story.log_lines(1).await;
    assert!(log.contains("\"outcome\":\"client-disconnected\""), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_cross_dialects() {
    let story = Story::start(131_072).await;
    story.ollama.set_behaviour(Behaviour::ToolCall);
    story.mistral.set_behaviour(Behaviour::ToolCall);
    let (gateway, _) = start_gateway(story.config(|text| text), exact_seams()).await;

    // OpenAI client, Ollama backend, not streaming.
    let (status, _, body) = call(
        gateway,
        "POST",
        "/v1/chat/completions",
        &[],
        Some(openai_body(10, false)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    let call_made = &answer["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call_made["function"]["name"], "read");
    assert_eq!(call_made["function"]["arguments"], "{\"path\":\"a.rs\"}");

    // Anthropic client, cloud backend streaming fragments.
    let body = json!({"model": "qwen3-coder:public", "max_tokens": 100, "stream": true,
        "messages": [{"role": "user", "content": prompt_of_words(200_000)}]});
    let (status, _, text) = call(gateway, "POST", "/v1/messages", &[], Some(body)).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("\"type\":\"tool_use\"") && text.contains("\"id\":\"call_abc\""),
        "{text}"
    );
    assert!(
        text.contains("\"partial_json\":\"{\\\"path\\\":\\\"a.rs\\\"}\""),
        "{text}"
    );
    assert!(text.contains("\"stop_reason\":\"tool_use\""), "{text}");
}
