//! Detects secrets in prompt text: a prompt that carries one is private whatever the rules say.
//!
//! Shapes follow the providers' published token formats (GitHub "About authentication", token
//! prefixes `ghp_ gho_ ghu_ ghs_ ghr_ github_pat_`; AWS IAM "unique identifiers", access key ids
//! `AKIA`/`ASIA` + 16 upper-case letters or digits; OpenAI `sk-`/`sk-proj-`; Anthropic `sk-ant-`;
//! Google API keys `AIza` + 35; Slack `xox?-`; PEM `-----BEGIN ... PRIVATE KEY-----` (RFC 7468);
//! JWT = three base64url parts, the first two starting with `eyJ`, RFC 7519). The scan is linear,
//! allocation-free, and reports only the kind, never the matched text.

/// What kind of secret was found (for the log and the reason header; never the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// A PEM private key block.
    PrivateKey,
    /// An AWS access key id.
    AwsAccessKey,
    /// A GitHub token.
    GithubToken,
    /// An OpenAI-style `sk-` key.
    OpenAiKey,
    /// An Anthropic key.
    AnthropicKey,
    /// A Google API key.
    GoogleApiKey,
    /// A Slack token.
    SlackToken,
    /// A JSON Web Token.
    JsonWebToken,
}

impl SecretKind {
    /// Stable name used in logs and headers.
    pub fn name(self) -> &'static str {
        match self {
            Self::PrivateKey => "private-key",
            Self::AwsAccessKey => "aws-access-key",
            Self::GithubToken => "github-token",
            Self::OpenAiKey => "openai-key",
            Self::AnthropicKey => "anthropic-key",
            Self::GoogleApiKey => "google-api-key",
            Self::SlackToken => "slack-token",
            Self::JsonWebToken => "jwt",
        }
    }
}

fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

fn is_base64url_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' || byte == b'='
}

/// Length of the run of bytes satisfying `accept` starting at `start`.
fn run_length(bytes: &[u8], start: usize, accept: impl Fn(u8) -> bool) -> usize {
    bytes.get(start..).map_or(0, |rest| {
        rest.iter().take_while(|&&byte| accept(byte)).count()
    })
}

/// True when the byte before `index` is not part of a token (so `xghp_` does not match `ghp_`).
fn at_word_start(bytes: &[u8], index: usize) -> bool {
    index == 0
        || bytes
            .get(index - 1)
            .is_none_or(|&byte| !is_token_byte(byte))
}

fn find_all<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    let mut from = 0;
    std::iter::from_fn(move || {
        let rest = haystack.get(from..)?;
        let position = rest
            .windows(needle.len())
            .position(|window| window == needle)?;
        let found = from + position;
        from = found + 1;
        Some(found)
    })
}

/// The first secret found in `text`, if any.
pub fn find_secret(text: &str) -> Option<SecretKind> {
    let bytes = text.as_bytes();
    if find_all(bytes, b"-----BEGIN ").any(|start| {
        let line_end = bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| start + p);
        let header = &bytes[start..line_end.min(start + 80)];
        header
            .windows(b"PRIVATE KEY-----".len())
            .any(|w| w == b"PRIVATE KEY-----")
    }) {
        return Some(SecretKind::PrivateKey);
    }
    for prefix in [&b"AKIA"[..], b"ASIA"] {
        if find_all(bytes, prefix).any(|start| {
            at_word_start(bytes, start)
                && run_length(bytes, start + 4, |b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit()
                }) == 16
                && !bytes
                    .get(start + 20)
                    .is_some_and(|&b| b.is_ascii_alphanumeric())
        }) {
            return Some(SecretKind::AwsAccessKey);
        }
    }
    for prefix in [&b"ghp_"[..], b"gho_", b"ghu_", b"ghs_", b"ghr_"] {
        if find_all(bytes, prefix).any(|start| {
            at_word_start(bytes, start)
                && run_length(bytes, start + 4, |b| b.is_ascii_alphanumeric()) >= 36
        }) {
            return Some(SecretKind::GithubToken);
        }
    }
    if find_all(bytes, b"github_pat_").any(|start| {
        at_word_start(bytes, start)
            && run_length(bytes, start + 11, |b| {
                b.is_ascii_alphanumeric() || b == b'_'
            }) >= 22
    }) {
        return Some(SecretKind::GithubToken);
    }
    if find_all(bytes, b"sk-ant-").any(|start| {
        at_word_start(bytes, start) && run_length(bytes, start + 7, is_token_byte) >= 32
    }) {
        return Some(SecretKind::AnthropicKey);
    }
    if find_all(bytes, b"sk-").any(|start| {
        // `sk-` followed by at least 20 key characters including a digit: excludes prose like
        // "sk-learn" and hyphenated words.
        let length = run_length(bytes, start + 3, is_token_byte);
        at_word_start(bytes, start)
            && length >= 20
            && bytes[start + 3..start + 3 + length]
                .iter()
                .any(u8::is_ascii_digit)
            && bytes[start + 3..start + 3 + length]
                .iter()
                .any(u8::is_ascii_alphabetic)
    }) {
        return Some(SecretKind::OpenAiKey);
    }
    if find_all(bytes, b"AIza").any(|start| {
        at_word_start(bytes, start) && run_length(bytes, start + 4, is_token_byte) == 35
    }) {
        return Some(SecretKind::GoogleApiKey);
    }
    for prefix in [&b"xoxb-"[..], b"xoxa-", b"xoxp-", b"xoxr-", b"xoxs-"] {
        if find_all(bytes, prefix).any(|start| {
            at_word_start(bytes, start) && run_length(bytes, start + 5, is_token_byte) >= 10
        }) {
            return Some(SecretKind::SlackToken);
        }
    }
    if find_all(bytes, b"eyJ").any(|start| at_word_start(bytes, start) && is_jwt_at(bytes, start)) {
        return Some(SecretKind::JsonWebToken);
    }
    None
}

/// `eyJ<header>.eyJ<payload>.<signature>`, each part base64url of plausible length.
fn is_jwt_at(bytes: &[u8], start: usize) -> bool {
    let header = run_length(bytes, start, is_base64url_byte);
    if header < 10 || bytes.get(start + header) != Some(&b'.') {
        return false;
    }
    let payload_start = start + header + 1;
    if bytes.get(payload_start..payload_start + 3) != Some(b"eyJ") {
        return false;
    }
    let payload = run_length(bytes, payload_start, is_base64url_byte);
    if payload < 10 || bytes.get(payload_start + payload) != Some(&b'.') {
        return false;
    }
    run_length(bytes, payload_start + payload + 1, is_base64url_byte) >= 16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_pem_private_key() {
        let text = "config:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----";
        assert_eq!(find_secret(text), Some(SecretKind::PrivateKey));
        assert_eq!(
            find_secret("-----BEGIN RSA PRIVATE KEY-----"),
            Some(SecretKind::PrivateKey)
        );
    }

    #[test]
    fn public_key_and_certificate_are_not_secrets() {
        assert_eq!(find_secret("-----BEGIN PUBLIC KEY-----\nMIIB\n"), None);
        assert_eq!(find_secret("-----BEGIN CERTIFICATE-----\nMIIB\n"), None);
    }

    #[test]
    fn finds_aws_access_key_id() {
        // AWS documentation's example key id.
        assert_eq!(
            find_secret("aws_access_key_id = AKIAIOSFODNN7EXAMPLE"),
            Some(SecretKind::AwsAccessKey)
        );
        assert_eq!(find_secret("AKIAIOSFODNN7EXAMPLEX"), None);
    }

    #[test]
    fn finds_github_tokens() {
        let classic = format!("token: ghp_{}", "a1B2".repeat(9));
        assert_eq!(find_secret(&classic), Some(SecretKind::GithubToken));
        let fine = format!("github_pat_{}", "11ABCDEFG0".repeat(8));
        assert_eq!(find_secret(&fine), Some(SecretKind::GithubToken));
        assert_eq!(find_secret("the ghp_ prefix is documented"), None);
    }

    #[test]
    fn finds_openai_and_anthropic_keys() {
        assert_eq!(
            find_secret("OPENAI_API_KEY=sk-proj-abc123DEF456ghi789JKL0"),
            Some(SecretKind::OpenAiKey)
        );
        let anthropic = format!("sk-ant-api03-{}", "x9Y8".repeat(10));
        assert_eq!(find_secret(&anthropic), Some(SecretKind::AnthropicKey));
        assert_eq!(
            find_secret("we use sk-learn and scikit-learn-contrib-packages"),
            None
        );
    }

    #[test]
    fn finds_google_and_slack_keys() {
        let google = format!(
            "key=AIza{}",
            "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q".get(..35).unwrap()
        );
        assert_eq!(find_secret(&google), Some(SecretKind::GoogleApiKey));
        assert_eq!(
            find_secret("xoxb-1234567890-abcdef"),
            Some(SecretKind::SlackToken)
        );
    }

    #[test]
    fn finds_jwt() {
        let jwt = "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(find_secret(jwt), Some(SecretKind::JsonWebToken));
        assert_eq!(find_secret("eyJ alone is fine"), None);
    }

    #[test]
    fn ordinary_code_has_no_secret() {
        let code =
            "fn main() { let key = std::env::var(\"OPENAI_API_KEY\")?; println!(\"{key:?}\"); }";
        assert_eq!(find_secret(code), None);
    }

    #[test]
    fn handles_multibyte_text_and_edges() {
        assert_eq!(find_secret("ünïcödé sk-"), None);
        assert_eq!(find_secret(""), None);
        assert_eq!(find_secret("AKIA"), None);
    }
}
