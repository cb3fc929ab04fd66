//! Privacy classification, fail-closed: a request is private unless a rule marks it public, an
//! explicit private mark beats every public one, and a prompt carrying a secret is private
//! whatever the rules say.

use std::path::{Component, Path};

use crate::config::{PrivacyConfig, PrivacyMark};
use crate::secrets::SecretKind;

/// Header a client uses to mark a request `public` or `private`.
pub const PRIVACY_HEADER: &str = "x-headroom-privacy";
/// Header naming the project a request comes from (matched against configured paths).
pub const PROJECT_HEADER: &str = "x-headroom-project";

/// Everything about a request that privacy rules look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrivacyFacts<'a> {
    /// The client identified by its token, and the mark configured for it.
    pub client: Option<(&'a str, PrivacyMark)>,
    /// The raw `x-headroom-privacy` header value.
    pub header: Option<&'a str>,
    /// The model name was a public alias.
    pub public_alias: Option<&'a str>,
    /// The `x-headroom-project` header value.
    pub project: Option<&'a str>,
    /// A secret found in the prompt.
    pub secret: Option<SecretKind>,
}

/// The outcome: the mark and the rule that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyVerdict {
    /// Private or public.
    pub mark: PrivacyMark,
    /// Which rule decided, in words (no prompt text, no secret values).
    pub reason: String,
}

impl PrivacyVerdict {
    /// Whether the request may leave the machine.
    pub fn may_leave(&self) -> bool {
        self.mark == PrivacyMark::Public
    }

    fn private(reason: impl Into<String>) -> Self {
        Self {
            mark: PrivacyMark::Private,
            reason: reason.into(),
        }
    }

    fn public(reason: impl Into<String>) -> Self {
        Self {
            mark: PrivacyMark::Public,
            reason: reason.into(),
        }
    }
}

/// A path with no `..` and no `.` that can be compared component-wise; `None` for anything
/// ambiguous, which then never matches a public rule.
fn clean_path(text: &str) -> Option<&Path> {
    let path = Path::new(text);
    let clean = path.is_absolute()
        && path
            .components()
            .all(|component| matches!(component, Component::RootDir | Component::Normal(_)));
    clean.then_some(path)
}

fn under_any(path: &Path, roots: &[std::path::PathBuf]) -> bool {
    roots.iter().any(|root| path.starts_with(root))
}

/// Classifies a request.
pub fn classify(config: &PrivacyConfig, facts: &PrivacyFacts<'_>) -> PrivacyVerdict {
    if let Some(kind) = facts.secret {
        return PrivacyVerdict::private(format!("prompt carries a secret ({})", kind.name()));
    }
    let header = facts.header.map(|value| value.trim().to_ascii_lowercase());
    match header.as_deref() {
        Some("private") => return PrivacyVerdict::private(format!("{PRIVACY_HEADER}: private")),
        Some("public") | None => {}
        Some(_) => {
            return PrivacyVerdict::private(format!("{PRIVACY_HEADER} has an unknown value"));
        }
    }
    if let Some((name, PrivacyMark::Private)) = facts.client {
        return PrivacyVerdict::private(format!("client {name} is private"));
    }
    let project = facts.project.map(|text| (text, clean_path(text)));
    match project {
        Some((_, None)) => {
            return PrivacyVerdict::private(format!(
                "{PROJECT_HEADER} is not a clean absolute path"
            ));
        }
        Some((_, Some(path))) if under_any(path, &config.private_project_paths) => {
            return PrivacyVerdict::private("project is under a private path");
        }
        _ => {}
    }
    if header.as_deref() == Some("public") {
        if config.allow_public_header {
            return PrivacyVerdict::public(format!("{PRIVACY_HEADER}: public"));
        }
        return PrivacyVerdict::private(format!(
            "{PRIVACY_HEADER}: public is not honoured (privacy.allow_public_header is false)"
        ));
    }
    if let Some((name, PrivacyMark::Public)) = facts.client {
        return PrivacyVerdict::public(format!("client {name} is public"));
    }
    if let Some(alias) = facts.public_alias {
        return PrivacyVerdict::public(format!("model alias {alias} is public"));
    }
    if let Some((_, Some(path))) = project
        && under_any(path, &config.public_project_paths)
    {
        return PrivacyVerdict::public("project is under a public path");
    }
    PrivacyVerdict::private("default: no rule marks it public")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PrivacyConfig {
        PrivacyConfig {
            allow_public_header: true,
            public_project_paths: vec!["/src/oss".into()],
            private_project_paths: vec!["/src/oss/fork".into()],
        }
    }

    #[test]
    fn default_is_private() {
        let verdict = classify(&config(), &PrivacyFacts::default());
        assert_eq!(verdict.mark, PrivacyMark::Private);
    }

    #[test]
    fn secret_beats_every_public_rule() {
        let facts = PrivacyFacts {
            client: Some(("bot", PrivacyMark::Public)),
            header: Some("public"),
            public_alias: Some("coder-public"),
            project: Some("/src/oss/app"),
            secret: Some(SecretKind::PrivateKey),
        };
        let verdict = classify(&config(), &facts);
        assert_eq!(verdict.mark, PrivacyMark::Private);
        assert!(verdict.reason.contains("private-key"));
    }

    #[test]
    fn public_header_needs_opt_in() {
        let facts = PrivacyFacts {
            header: Some("public"),
            ..Default::default()
        };
        assert!(classify(&config(), &facts).may_leave());
        let closed = PrivacyConfig {
            allow_public_header: false,
            ..config()
        };
        assert!(!classify(&closed, &facts).may_leave());
    }

    #[test]
    fn private_path_beats_public_path_and_alias() {
        let facts = PrivacyFacts {
            public_alias: Some("x"),
            project: Some("/src/oss/fork/lib"),
            ..Default::default()
        };
        assert!(!classify(&config(), &facts).may_leave());
        let facts = PrivacyFacts {
            project: Some("/src/oss/app"),
            ..Default::default()
        };
        assert!(classify(&config(), &facts).may_leave());
    }

    #[test]
    fn path_prefix_matches_components_not_strings() {
        let facts = PrivacyFacts {
            project: Some("/src/ossified"),
            ..Default::default()
        };
        assert!(!classify(&config(), &facts).may_leave());
    }

    #[test]
    fn dotdot_project_fails_closed() {
        let facts = PrivacyFacts {
            project: Some("/src/oss/../secret"),
            ..Default::default()
        };
        assert!(!classify(&config(), &facts).may_leave());
    }

    #[test]
    fn unknown_header_value_fails_closed() {
        let facts = PrivacyFacts {
            header: Some("maybe"),
            public_alias: Some("x"),
            ..Default::default()
        };
        assert!(!classify(&config(), &facts).may_leave());
    }

    #[test]
    fn private_client_beats_public_alias() {
        let facts = PrivacyFacts {
            client: Some(("laptop", PrivacyMark::Private)),
            public_alias: Some("x"),
            ..Default::default()
        };
        assert!(!classify(&config(), &facts).may_leave());
    }
}
