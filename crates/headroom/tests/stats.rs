//! `headroom stats LOG` end to end: the split by requests and tokens, and why.

use assert_cmd::Command;
use predicates::str::contains;

const LOG: &str = r#"{"time_seconds":1,"request_id":"a","dialect":"openai","model":"qwen3-coder:30b","route":"cloud","reason":"cloud-local-too-slow","explanation":"","privacy":"public","privacy_reason":"","prompt_tokens":146760,"prompt_tokens_upper_bound":146760,"count_exact":true,"status":200,"outcome":"completed","attempts":1}
{"time_seconds":2,"request_id":"b","dialect":"openai","model":"qwen3-coder:30b","route":"rejected","reason":"private-exceeds-deadline","explanation":"","privacy":"private","privacy_reason":"","prompt_tokens":146760,"prompt_tokens_upper_bound":146760,"count_exact":true,"status":400,"outcome":"rejected","attempts":0}
{"time_seconds":3,"request_id":"c","dialect":"ollama-chat","model":"qwen3-coder","route":"local","reason":"local-num-ctx-raised","explanation":"","privacy":"private","privacy_reason":"","prompt_tokens":20000,"prompt_tokens_upper_bound":20000,"count_exact":true,"num_ctx":28672,"status":200,"outcome":"completed","backend_prompt_tokens":20000,"attempts":1}
{"time_seconds":4,"request_id":"d","dialect":"ollama-chat","model":"qwen3-coder","route":"local","reason":"local-fits","explanation":"","privacy":"private","privacy_reason":"","prompt_tokens":3000,"prompt_tokens_upper_bound":3000,"count_exact":true,"status":200,"outcome":"completed","attempts":1}
"#;

#[test]
fn stats_prints_split_and_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decisions.jsonl");
    fs_err::write(&path, LOG).unwrap();
    Command::cargo_bin("headroom")
        .unwrap()
        .arg("stats")
        .arg(&path)
        .assert()
        .success()
        .stdout(contains(
            "local               2   50.0%           23,000   13.5%",
        ))
        .stdout(contains(
            "cloud               1   25.0%          146,760   86.5%",
        ))
        .stdout(contains(
            "33.3% of requests and 86.5% of prompt tokens went to the cloud",
        ))
        .stdout(contains("rejected / private-exceeds-deadline"));
}

#[test]
fn stats_json_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("decisions.jsonl");
    fs_err::write(&path, LOG).unwrap();
    Command::cargo_bin("headroom")
        .unwrap()
        .args(["stats", "--json"])
        .arg(&path)
        .assert()
        .success()
        .stdout(contains("\"prompt_tokens\": 146760"));
    Command::cargo_bin("headroom")
        .unwrap()
        .arg("stats")
        .arg(dir.path().join("missing.jsonl"))
        .assert()
        .code(2)
        .stderr(contains("missing.jsonl"));
}

#[test]
fn gateway_refuses_a_public_address_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    fs_err::write(&path, "[server]\nlisten = \"0.0.0.0:11435\"\n").unwrap();
    Command::cargo_bin("headroom")
        .unwrap()
        .args(["gateway", "--config"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(contains("--allow-remote"));
}
