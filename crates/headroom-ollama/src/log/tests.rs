use super::*;

fn only(line: &str) -> EventKind {
    let events = parse_log(line);
    assert_eq!(events.len(), 1, "{line}: {events:?}");
    events.into_iter().next().unwrap().kind
}

#[test]
fn go_runner_truncation_keep_new_layout() {
    let kind = only(
        r#"time=2025-06-01T10:00:00.000Z level=WARN source=runner.go:153 msg="truncating input prompt" limit=131072 prompt=146760 keep=5 new=131072"#,
    );
    assert_eq!(
        kind,
        EventKind::PromptTruncated {
            layout: TruncationLayout::KeepNew,
            limit_tokens: Some(131_072),
            prompt_tokens: Some(146_760),
            keep_tokens: Some(5),
            new_tokens: Some(131_072),
            dropped_tokens: Some(15_688),
        }
    );
}

#[test]
fn early_go_runner_truncation_num_keep_layout() {
    let kind = only(
        r#"time=2024-11-07T10:00:00.000Z level=WARN source=runner.go:126 msg="truncating input prompt" limit=2048 prompt=3000 numKeep=5"#,
    );
    assert!(matches!(
        kind,
        EventKind::PromptTruncated {
            layout: TruncationLayout::NumKeep,
            keep_tokens: Some(5),
            new_tokens: None,
            ..
        }
    ));
}

#[test]
fn cpp_runner_truncation_json_layout() {
    let kind = only(
        r#"{"function":"update_slots","level":"INFO","line":1706,"msg":"input truncated","n_ctx":2048,"n_erase":1046,"n_keep":4,"n_left":2044,"n_shift":1022,"tid":"1","timestamp":1721640000}"#,
    );
    assert!(matches!(
        kind,
        EventKind::PromptTruncated {
            layout: TruncationLayout::CppRunner,
            limit_tokens: Some(2048),
            dropped_tokens: Some(1046),
            ..
        }
    ));
}

#[test]
fn gin_line_with_and_without_colour() {
    let kind = only(
        r#"[GIN] 2026/02/18 - 11:15:03 | 500 |          5m0s |       127.0.0.1 | POST     "/api/chat""#,
    );
    assert_eq!(
        kind,
        EventKind::Request {
            status: 500,
            latency_seconds: Some(300.0),
            client: "127.0.0.1".into(),
            method: "POST".into(),
            path: "/api/chat".into()
        }
    );
    let coloured = "[GIN] 2026/02/18 - 11:15:03 |\u{1b}[97;42m 200 \u{1b}[0m|    1.234567s |       127.0.0.1 |\u{1b}[97;46m POST    \u{1b}[0m \"/v1/chat/completions\"";
    assert!(
        matches!(only(coloured), EventKind::Request { status: 200, ref path, .. } if path == "/v1/chat/completions")
    );
}

#[test]
fn journal_prefix_is_stripped_and_timestamp_kept() {
    let events = parse_log(
        "Feb 18 11:15:03 gpu-box ollama[1234]: [GIN] 2026/02/18 - 11:15:03 | 200 |  2.5s |  127.0.0.1 | POST     \"/api/generate\"\n",
    );
    assert_eq!(
        events[0].timestamp.as_deref(),
        Some("2026/02/18 - 11:15:03")
    );
    let events =
        parse_log("Feb 18 11:15:03 gpu-box ollama[1234]: llama_context: n_ctx         = 8192\n");
    assert_eq!(events[0].timestamp.as_deref(), Some("Feb 18 11:15:03"));
    assert_eq!(
        events[0].kind,
        EventKind::ContextParameter {
            key: "n_ctx".into(),
            value: 8192
        }
    );
}

#[test]
fn llama_server_context_errors() {
    let kind = only(
        "srv    send_error: task id = 7, error: request (146760 tokens) exceeds the available context size (131072 tokens), try increasing it",
    );
    assert_eq!(
        kind,
        EventKind::PromptTooLong {
            prompt_tokens: Some(146_760),
            context_tokens: Some(131_072),
            message: "exceeds the available context size".into()
        }
    );
}

#[test]
fn line_numbers_and_crlf() {
    let text = "noise\r\nmore noise\r\n[GIN] 2026/02/18 - 11:15:03 | 200 |  1s |  ::1 | GET      \"/api/tags\"\r\nend";
    let events = parse_log(text);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].line, 3);
    assert!(matches!(&events[0].kind, EventKind::Request { path, .. } if path == "/api/tags"));
}

#[test]
fn line_numbers_survive_block_boundaries() {
    let mut text = String::new();
    let filler = "time=2025-01-01T00:00:00.000Z level=INFO msg=\"nothing to see\"\n";
    let mut expected = Vec::new();
    let mut line = 1u64;
    while text.len() < 3 * BLOCK_BYTES {
        if line.is_multiple_of(9973) {
            text.push_str("llama_context: n_ctx = 4096\n");
            expected.push(line);
        } else {
            text.push_str(filler);
        }
        line += 1;
    }
    let found: Vec<u64> = parse_log(&text)
        .into_iter()
        .map(|event| event.line)
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn very_long_line_without_break_is_bounded() {
    let mut text = "x".repeat(3 * MAX_LINE_BYTES);
    text.push_str("\nllama_context: n_ctx = 4096\n");
    let events = parse_log(&text);
    assert_eq!(events.len(), 1);
}

#[test]
fn irrelevant_lines_give_no_events() {
    assert!(
        parse_log(
            "time=2025-01-01T00:00:00Z level=DEBUG msg=\"evicting cache slot\" id=0\nhello\n"
        )
        .is_empty()
    );
}
