//! Numbers as the doctor prints them: token counts with thousands separators, memory in binary
//! units (GiB = 2^30 bytes, said so), seconds with minutes, rates in tokens per second.

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = MIB * 1024.0;

/// `262,144`.
pub fn tokens(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `41.6 GiB`, `344 MiB`.
pub fn bytes(value: u64) -> String {
    let value = value as f64;
    if value >= GIB {
        format!("{:.1} GiB", value / GIB)
    } else {
        format!("{:.0} MiB", value / MIB)
    }
}

/// `-1.2 GiB` for negative headroom.
pub fn signed_bytes(value: i64) -> String {
    if value < 0 {
        format!("-{}", bytes(value.unsigned_abs()))
    } else {
        bytes(value.unsigned_abs())
    }
}

/// `367 s (6 min 7 s)`; below a minute just `42 s`.
pub fn seconds(value: f64) -> String {
    let whole = value.round().max(0.0) as u64;
    if whole < 60 {
        format!("{whole} s")
    } else {
        let (minutes, rest) = (whole / 60, whole % 60);
        if rest == 0 {
            format!("{whole} s ({minutes} min)")
        } else {
            format!("{whole} s ({minutes} min {rest} s)")
        }
    }
}

/// `400 tokens/s` (one decimal below 10).
pub fn rate(tokens_per_second: f64) -> String {
    if tokens_per_second < 10.0 {
        format!("{tokens_per_second:.1} tokens/s")
    } else {
        format!("{} tokens/s", tokens(tokens_per_second.round() as u64))
    }
}

/// A tag-friendly size: `262k` for 262,144 (thousands, rounded down, as people read window
/// sizes), `4k` for 4,096; below 1,000 the number itself.
pub fn tag_size(tokens: u64) -> String {
    if tokens >= 1000 {
        format!("{}k", tokens / 1000)
    } else {
        tokens.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_for_people() {
        assert_eq!(tokens(146_760), "146,760");
        assert_eq!(tokens(999), "999");
        assert_eq!(bytes(24 * 1024 * 1024 * 1024), "24.0 GiB");
        assert_eq!(bytes(344 * 1024 * 1024), "344 MiB");
        assert_eq!(seconds(366.9), "367 s (6 min 7 s)");
        assert_eq!(seconds(480.0), "480 s (8 min)");
        assert_eq!(tag_size(262_144), "262k");
        assert_eq!(tag_size(131_072), "131k");
    }
}
