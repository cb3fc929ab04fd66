//! Go `time.Duration` text (`5m0s`, `1.5s`, `250ms`, `12.345678s`), as Ollama prints latencies
//! and reads `OLLAMA_KEEP_ALIVE` (`time.ParseDuration`).

/// Parses Go's duration syntax into seconds: a signed sequence of decimal numbers with units
/// `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`. `"0"` alone is zero. Returns `None` otherwise.
pub fn parse_go_duration_seconds(text: &str) -> Option<f64> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0f64;
    while !rest.is_empty() {
        let number_length = rest
            .bytes()
            .take_while(|byte| byte.is_ascii_digit() || *byte == b'.')
            .count();
        if number_length == 0 {
            return None;
        }
        let number: f64 = rest[..number_length].parse().ok()?;
        rest = &rest[number_length..];
        let unit_length = rest
            .char_indices()
            .find(|(_, character)| character.is_ascii_digit() || *character == '.')
            .map_or(rest.len(), |(index, _)| index);
        let scale = match &rest[..unit_length] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_length..];
        total += number * scale;
    }
    Some(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration_seconds as parse;

    #[test]
    fn parses_gin_latencies() {
        assert_eq!(parse("5m0s"), Some(300.0));
        assert_eq!(parse("12.345678s"), Some(12.345678));
        assert_eq!(parse("1h2m3s"), Some(3723.0));
        assert!((parse("250.5µs").unwrap() - 0.0002505).abs() < 1e-12);
        assert_eq!(parse("-1m"), Some(-60.0));
    }

    #[test]
    fn rejects_numbers_without_units() {
        assert_eq!(parse("300"), None);
        assert_eq!(parse("5x"), None);
        assert_eq!(parse(""), None);
    }
}
