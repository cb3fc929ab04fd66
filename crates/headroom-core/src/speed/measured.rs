//! The user's own throughput measurements, which override the speed model's prediction:
//! - Ollama `/api/generate` and `/api/chat` responses (`prompt_eval_count`/`prompt_eval_duration`,
//!   `eval_count`/`eval_duration`, nanoseconds; `api/types.go` `Metrics`), one JSON object or a
//!   stream of them;
//! - llama.cpp timing lines as llama-server prints them (`tools/server/server-context.cpp`:
//!   `prompt eval time = %10.2f ms / %5d tokens (%8.2f ms per token, %8.2f tokens per second)`
//!   and `       eval time = …`) and as Ollama's older runner logs carried them
//!   (`llama_print_timings:` / `llama_perf_context_print:` prefixes, `runs` for tokens);
//! - llama-bench's markdown table (`tools/llama-bench/llama-bench.cpp`: test `pp512`, `tg128`,
//!   `pp2048 @ d16384`; `t/s` as `%.2f ± %.2f`).

/// Prompt processing or generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Prompt processing (prefill).
    Prefill,
    /// Token generation (decode).
    Decode,
}

/// One measured rate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Measurement {
    /// Phase.
    pub phase: Phase,
    /// Tokens per second.
    pub tokens_per_second: f64,
    /// Tokens the rate was measured over, when known.
    pub tokens: Option<u64>,
    /// Context depth before the measured tokens (llama-bench `@ dN`; 0 otherwise).
    pub depth_tokens: u64,
    /// Where it came from (`line 12: llama-server timing`).
    pub origin: String,
}

/// Why a measurement file did not parse.
#[derive(Debug, thiserror::Error)]
pub enum MeasurementError {
    /// A line looked like a measurement but a number in it did not parse.
    #[error("line {line}, column {column}: {what}: `{text}` is not a number")]
    BadNumber {
        /// 1-based line.
        line: usize,
        /// 1-based column of the number.
        column: usize,
        /// Which field.
        what: &'static str,
        /// The text found.
        text: String,
    },
    /// A JSON response did not parse.
    #[error("line {line}: Ollama response is not JSON")]
    Json {
        /// 1-based line.
        line: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// Nothing recognisable.
    #[error(
        "no timing found (expected an Ollama response with prompt_eval_count/eval_count, llama.cpp `prompt eval time = …` lines, or a llama-bench table)"
    )]
    NothingFound,
}

/// Parses every measurement in `text`.
pub fn parse_measurements(text: &str) -> Result<Vec<Measurement>, MeasurementError> {
    let mut found = Vec::new();
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        // One pretty-printed object, or a stream of one object per line.
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
            ollama_response(&value, 1, &mut found);
        } else {
            for (index, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let value: serde_json::Value =
                    serde_json::from_str(line).map_err(|source| MeasurementError::Json {
                        line: index + 1,
                        source,
                    })?;
                ollama_response(&value, index + 1, &mut found);
            }
        }
    } else {
        for (index, line) in text.lines().enumerate() {
            timing_line(line, index + 1, &mut found)?;
            bench_row(line, index + 1, &mut found)?;
        }
    }
    if found.is_empty() {
        return Err(MeasurementError::NothingFound);
    }
    Ok(found)
}

fn ollama_response(value: &serde_json::Value, line: usize, found: &mut Vec<Measurement>) {
    let get = |key: &str| value.get(key).and_then(serde_json::Value::as_u64);
    for (phase, count_key, duration_key) in [
        (Phase::Prefill, "prompt_eval_count", "prompt_eval_duration"),
        (Phase::Decode, "eval_count", "eval_duration"),
    ] {
        if let (Some(count), Some(duration)) = (get(count_key), get(duration_key))
            && count > 0
            && duration > 0
        {
            found.push(Measurement {
                phase,
                tokens_per_second: count as f64 / (duration as f64 / 1e9),
                tokens: Some(count),
                depth_tokens: 0,
                origin: format!("line {line}: Ollama {count_key}/{duration_key}"),
            });
        }
    }
}

fn number_at(
    line: &str,
    start: usize,
    line_number: usize,
    what: &'static str,
) -> Result<(f64, usize), MeasurementError> {
    let rest = &line[start..];
    let skipped = rest.len() - rest.trim_start().len();
    let begin = start + skipped;
    let end = line[begin..]
        .find(|character: char| !(character.is_ascii_digit() || character == '.'))
        .map_or(line.len(), |offset| begin + offset);
    let text = &line[begin..end];
    text.parse::<f64>()
        .map(|value| (value, end))
        .map_err(|_| MeasurementError::BadNumber {
            line: line_number,
            column: begin + 1,
            what,
            text: text.to_owned(),
        })
}

fn timing_line(
    line: &str,
    line_number: usize,
    found: &mut Vec<Measurement>,
) -> Result<(), MeasurementError> {
    let Some(position) = line.find("eval time") else {
        return Ok(());
    };
    let phase = if line[..position].trim_end().ends_with("prompt") {
        Phase::Prefill
    } else {
        Phase::Decode
    };
    let Some(equals) = line[position..]
        .find('=')
        .map(|offset| position + offset + 1)
    else {
        return Ok(());
    };
    let (milliseconds, after) = number_at(line, equals, line_number, "milliseconds")?;
    let Some(slash) = line[after..].find('/').map(|offset| after + offset + 1) else {
        return Ok(());
    };
    let (tokens, _) = number_at(line, slash, line_number, "tokens")?;
    if milliseconds <= 0.0 || tokens <= 0.0 {
        return Ok(());
    }
    found.push(Measurement {
        phase,
        tokens_per_second: tokens / (milliseconds / 1e3),
        tokens: Some(tokens as u64),
        depth_tokens: 0,
        origin: format!("line {line_number}: llama.cpp timing"),
    });
    Ok(())
}

fn bench_row(
    line: &str,
    line_number: usize,
    found: &mut Vec<Measurement>,
) -> Result<(), MeasurementError> {
    if !line.trim_start().starts_with('|') || !line.contains('±') {
        return Ok(());
    }
    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
    // Leading and trailing empty cells around `| … |`.
    let Some(rate_index) = cells.iter().rposition(|cell| cell.contains('±')) else {
        return Ok(());
    };
    let Some(test) = rate_index.checked_sub(1).and_then(|index| cells.get(index)) else {
        return Ok(());
    };
    let (kind, rest) = if let Some(rest) = test.strip_prefix("pp") {
        (Phase::Prefill, rest)
    } else if let Some(rest) = test.strip_prefix("tg") {
        (Phase::Decode, rest)
    } else {
        return Ok(());
    };
    // `pp512+tg128` mixes phases: not a rate of either.
    if rest.contains('+') {
        return Ok(());
    }
    let (count_text, depth_text) = match rest.split_once("@ d") {
        Some((count, depth)) => (count.trim(), Some(depth.trim())),
        None => (rest.trim(), None),
    };
    let column = line.find(test).map_or(1, |offset| offset + 1);
    let bad = |what: &'static str, text: &str| MeasurementError::BadNumber {
        line: line_number,
        column,
        what,
        text: text.to_owned(),
    };
    let tokens: u64 = count_text
        .parse()
        .map_err(|_| bad("test tokens", count_text))?;
    let depth: u64 = match depth_text {
        Some(text) => text.parse().map_err(|_| bad("depth", text))?,
        None => 0,
    };
    let rate_text = cells[rate_index]
        .split('±')
        .next()
        .unwrap_or_default()
        .trim();
    let rate: f64 = rate_text
        .parse()
        .map_err(|_| bad("tokens per second", rate_text))?;
    found.push(Measurement {
        phase: kind,
        tokens_per_second: rate,
        tokens: Some(tokens),
        depth_tokens: depth,
        origin: format!("line {line_number}: llama-bench {test}"),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_ollama_response() {
        let text = r#"{"model":"qwen3-coder:30b","done":true,"prompt_eval_count":4000,"prompt_eval_duration":10000000000,"eval_count":50,"eval_duration":1000000000}"#;
        let found = parse_measurements(text).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].phase, Phase::Prefill);
        assert!((found[0].tokens_per_second - 400.0).abs() < 1e-9);
        assert!((found[1].tokens_per_second - 50.0).abs() < 1e-9);
    }

    #[test]
    fn reads_llama_server_timing_lines() {
        let text = "prompt eval time =   36690.00 ms / 14676 tokens (    2.50 ms per token,   400.00 tokens per second)\n       eval time =    2000.00 ms /    80 tokens (   25.00 ms per token,    40.00 tokens per second)\n";
        let found = parse_measurements(text).unwrap();
        assert_eq!(found[0].phase, Phase::Prefill);
        assert!((found[0].tokens_per_second - 400.0).abs() < 0.01);
        assert_eq!(found[1].phase, Phase::Decode);
        assert!((found[1].tokens_per_second - 40.0).abs() < 0.01);
    }

    #[test]
    fn reads_llama_perf_lines_from_an_ollama_runner_log() {
        let text = "llama_perf_context_print: prompt eval time =   10000.00 ms /  4000 tokens (    2.50 ms per token,   400.00 tokens per second)\nllama_perf_context_print:        eval time =    5000.00 ms /   127 runs   (   39.37 ms per token,    25.40 tokens per second)\n";
        let found = parse_measurements(text).unwrap();
        assert_eq!(found.len(), 2);
        assert!((found[0].tokens_per_second - 400.0).abs() < 1e-9);
        assert_eq!(found[1].tokens, Some(127));
    }

    #[test]
    fn reads_a_llama_bench_table_with_depth() {
        let text = "| model | size | params | backend | ngl | test | t/s |\n| --- | ---: | ---: | --- | --: | ---: | ---: |\n| qwen3moe 30B.A3B Q8_0 | 30.25 GiB | 30.53 B | CUDA | 99 | pp2048 @ d32768 | 1348.17 ± 2.10 |\n| qwen3moe 30B.A3B Q8_0 | 30.25 GiB | 30.53 B | CUDA | 99 | tg32 @ d32768 | 30.21 ± 0.05 |\n";
        let found = parse_measurements(text).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].depth_tokens, 32768);
        assert_eq!(found[0].tokens, Some(2048));
        assert_eq!(found[1].phase, Phase::Decode);
    }

    #[test]
    fn names_the_line_and_column_of_a_bad_number() {
        let text = "prompt eval time = abc ms / 10 tokens\n";
        let error = parse_measurements(text).unwrap_err().to_string();
        assert!(error.contains("line 1, column 20"), "{error}");
    }

    #[test]
    fn refuses_text_without_timings() {
        assert!(matches!(
            parse_measurements("hello\n"),
            Err(MeasurementError::NothingFound)
        ));
    }
}
