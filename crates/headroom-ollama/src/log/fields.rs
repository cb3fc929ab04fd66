//! Reading `key=value` fields out of Go slog text lines and Ollama's human byte sizes.

use std::borrow::Cow;

/// The value of `key=` in a slog text line: bare up to the next space, or a Go-quoted string
/// (`"…"` with backslash escapes). The key must start the line or follow a space.
pub fn field<'a>(line: &'a str, key: &str) -> Option<Cow<'a, str>> {
    let bytes = line.as_bytes();
    let key_bytes = key.as_bytes();
    // Walk the `=` signs (a handful per line) instead of building a substring searcher.
    for equals in memchr::memchr_iter(b'=', bytes) {
        let Some(start) = equals.checked_sub(key_bytes.len()) else {
            continue;
        };
        if &bytes[start..equals] != key_bytes || (start > 0 && bytes[start - 1] != b' ') {
            continue;
        }
        let rest = &line[equals + 1..];
        if let Some(quoted) = rest.strip_prefix('"') {
            return Some(unquote_go(quoted));
        }
        let end = memchr::memchr(b' ', rest.as_bytes()).unwrap_or(rest.len());
        return Some(Cow::Borrowed(&rest[..end]));
    }
    None
}

/// Reads a Go `%q` string body (after the opening quote) up to its closing quote.
fn unquote_go(body: &str) -> Cow<'_, str> {
    let bytes = body.as_bytes();
    let mut index = 0;
    let mut escaped = false;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => {
                escaped = true;
                index += 2;
            }
            b'"' => break,
            _ => index += 1,
        }
    }
    let raw = &body[..index.min(body.len())];
    if !escaped {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut characters = raw.chars();
    while let Some(character) = characters.next() {
        if character != '\\' {
            out.push(character);
            continue;
        }
        match characters.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// An unsigned integer field.
pub fn field_u64(line: &str, key: &str) -> Option<u64> {
    field(line, key)?.trim().parse().ok()
}

/// Parses Ollama's byte sizes: `format.HumanBytes2` (`5.5 GiB`, `512.0 MiB`, binary units) and
/// the older `format.HumanBytes` (`5.5 GB`, decimal units), also llama.cpp's `1024.00 MiB`.
pub fn parse_human_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|character: char| !(character.is_ascii_digit() || character == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return None,
    };
    let bytes = (number * scale).round();
    if !(0.0..1.8e19).contains(&bytes) {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bare_and_quoted_fields() {
        let line = r#"time=2025-06-01T10:00:00.000Z level=WARN msg="truncating input prompt" limit=4096 prompt=5000 keep=5 new=4096"#;
        assert_eq!(
            field(line, "msg").as_deref(),
            Some("truncating input prompt")
        );
        assert_eq!(field_u64(line, "limit"), Some(4096));
        assert_eq!(field_u64(line, "new"), Some(4096));
        assert_eq!(field(line, "level").as_deref(), Some("WARN"));
        assert_eq!(field(line, "missing"), None);
    }

    #[test]
    fn key_must_be_a_whole_word() {
        assert_eq!(field_u64("old_num_ctx=8 num_ctx=4", "num_ctx"), Some(4));
    }

    #[test]
    fn unescapes_quoted_values() {
        assert_eq!(
            field(r#"a="x \"y\" z" b=1"#, "a").as_deref(),
            Some("x \"y\" z")
        );
    }

    #[test]
    fn human_bytes_binary_and_decimal() {
        assert_eq!(parse_human_bytes("512.0 MiB"), Some(512 * 1024 * 1024));
        assert_eq!(parse_human_bytes("5.5 GB"), Some(5_500_000_000));
        assert_eq!(parse_human_bytes("1023 B"), Some(1023));
        assert_eq!(parse_human_bytes("lots"), None);
    }
}
