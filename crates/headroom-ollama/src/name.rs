//! Ollama model names (`name`, `name:tag`, `namespace/name:tag`, `host/namespace/name:tag`,
//! `hf.co/user/repo:tag`), resolved with Ollama's defaults.
//!
//! Source: `types/model/name.go` of ollama/ollama v0.33.0-rc2 (`ParseName`, `ParseNameBare`,
//! `Merge`, `isValidPart`, `Filepath`, `DisplayShortest`): defaults host `registry.ollama.ai`,
//! namespace `library`, tag `latest`; a `:` after the last `/` starts the tag; a `scheme://`
//! before the host is dropped.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// Ollama's default registry host (`defaultHost`).
pub const DEFAULT_HOST: &str = "registry.ollama.ai";
/// Default namespace (`defaultNamespace`).
pub const DEFAULT_NAMESPACE: &str = "library";
/// Default tag (`defaultTag`).
pub const DEFAULT_TAG: &str = "latest";

/// A fully qualified model name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ModelName {
    /// Registry host (`registry.ollama.ai`, `hf.co`, …), may carry a `:port`.
    pub host: String,
    /// Namespace (`library`, a user, an HF user).
    pub namespace: String,
    /// Model (`qwen3-coder`).
    pub model: String,
    /// Tag (`30b`, `v-128k`, `latest`).
    pub tag: String,
}

/// Why a name is not a valid Ollama model name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid model name {name:?}: {part} part {value:?} is not valid")]
pub struct NameError {
    /// The name as given.
    pub name: String,
    /// Which part is wrong (`host`, `namespace`, `model`, `tag`).
    pub part: &'static str,
    /// Its value (empty when missing).
    pub value: String,
}

/// Which part a string is, for the character rules of `isValidPart`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Host,
    Namespace,
    Model,
    Tag,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Namespace => "namespace",
            Self::Model => "model",
            Self::Tag => "tag",
        }
    }
}

fn is_valid_part(part: Part, value: &str) -> bool {
    let maximum = if part == Part::Host { 350 } else { 80 };
    if value.is_empty() || value.len() > maximum {
        return false;
    }
    value.bytes().enumerate().all(|(index, byte)| {
        let word = byte.is_ascii_alphanumeric() || byte == b'_';
        if index == 0 {
            return word;
        }
        match byte {
            b'-' => true,
            b'.' => part != Part::Namespace,
            b':' => part == Part::Host,
            _ => word,
        }
    })
}

impl ModelName {
    /// Parses a name as `ParseName` does and checks it as `IsValid` does.
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let mut rest = name;
        let mut tag = "";
        // "/" is an illegal tag character, so a ':' after the last '/' starts the tag.
        if let Some(colon) = rest.rfind(':')
            && rest.rfind('/').is_none_or(|slash| colon > slash)
        {
            tag = &rest[colon + 1..];
            rest = &rest[..colon];
            if tag.is_empty() {
                return Err(invalid(name, Part::Tag, tag));
            }
        }
        let (rest, model) = match rest.rsplit_once('/') {
            Some((before, model)) => (Some(before), model),
            None => (None, rest),
        };
        let (namespace, host) = match rest {
            None => ("", ""),
            Some(before) => match before.rsplit_once('/') {
                Some((host, namespace)) => {
                    let host = host.split_once("://").map_or(host, |(_, host)| host);
                    if host.is_empty() {
                        return Err(invalid(name, Part::Host, host));
                    }
                    (namespace, host)
                }
                None => (before, ""),
            },
        };
        if rest.is_some() && namespace.is_empty() {
            return Err(invalid(name, Part::Namespace, namespace));
        }
        let resolved = Self {
            host: if host.is_empty() { DEFAULT_HOST } else { host }.to_owned(),
            namespace: if namespace.is_empty() {
                DEFAULT_NAMESPACE
            } else {
                namespace
            }
            .to_owned(),
            model: model.to_owned(),
            tag: if tag.is_empty() { DEFAULT_TAG } else { tag }.to_owned(),
        };
        for (part, value) in [
            (Part::Host, &resolved.host),
            (Part::Namespace, &resolved.namespace),
            (Part::Model, &resolved.model),
            (Part::Tag, &resolved.tag),
        ] {
            if !is_valid_part(part, value) {
                return Err(invalid(name, part, value));
            }
        }
        Ok(resolved)
    }

    /// The manifest path under the models directory: `manifests/host/namespace/model/tag`.
    pub fn manifest_relative_path(&self) -> PathBuf {
        [
            "manifests",
            &self.host,
            &self.namespace,
            &self.model,
            &self.tag,
        ]
        .iter()
        .collect()
    }

    /// The short form Ollama displays (`DisplayShortest`): `model:tag`, `namespace/model:tag`
    /// off the default namespace, `host/namespace/model:tag` off the default host.
    pub fn display_shortest(&self) -> String {
        if !self.host.eq_ignore_ascii_case(DEFAULT_HOST) {
            format!(
                "{}/{}/{}:{}",
                self.host, self.namespace, self.model, self.tag
            )
        } else if !self.namespace.eq_ignore_ascii_case(DEFAULT_NAMESPACE) {
            format!("{}/{}:{}", self.namespace, self.model, self.tag)
        } else {
            format!("{}:{}", self.model, self.tag)
        }
    }
}

impl fmt::Display for ModelName {
    /// The fully qualified `host/namespace/model:tag`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}/{}/{}:{}",
            self.host, self.namespace, self.model, self.tag
        )
    }
}

fn invalid(name: &str, part: Part, value: &str) -> NameError {
    NameError {
        name: name.to_owned(),
        part: part.name(),
        value: value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(name: &str) -> String {
        ModelName::parse(name).unwrap().to_string()
    }

    #[test]
    fn defaults_fill_missing_parts() {
        assert_eq!(
            full("llama3.1"),
            "registry.ollama.ai/library/llama3.1:latest"
        );
        assert_eq!(
            full("qwen3-coder:v-128k"),
            "registry.ollama.ai/library/qwen3-coder:v-128k"
        );
        assert_eq!(
            full("jmorgan/llama3:8b"),
            "registry.ollama.ai/jmorgan/llama3:8b"
        );
        assert_eq!(
            full("example.com:5000/team/model:q4"),
            "example.com:5000/team/model:q4"
        );
        assert_eq!(
            full("hf.co/unsloth/Qwen3-Coder-30B-A3B-Instruct-GGUF:Q4_K_M"),
            "hf.co/unsloth/Qwen3-Coder-30B-A3B-Instruct-GGUF:Q4_K_M"
        );
        assert_eq!(full("https://example.com/ns/m:t"), "example.com/ns/m:t");
    }

    #[test]
    fn colon_before_a_slash_is_a_host_port_not_a_tag() {
        let name = ModelName::parse("localhost:5000/ns/model").unwrap();
        assert_eq!(
            (name.host.as_str(), name.tag.as_str()),
            ("localhost:5000", "latest")
        );
    }

    #[test]
    fn rejects_invalid_parts() {
        assert_eq!(ModelName::parse("llama3:").unwrap_err().part, "tag");
        assert_eq!(ModelName::parse("/llama3").unwrap_err().part, "namespace");
        assert_eq!(
            ModelName::parse("ns.x/llama3").unwrap_err().part,
            "namespace"
        );
        assert_eq!(ModelName::parse("-bad").unwrap_err().part, "model");
        assert_eq!(ModelName::parse("m:t/x").unwrap_err().part, "namespace");
    }

    #[test]
    fn manifest_path_and_short_display() {
        let name = ModelName::parse("qwen3-coder:30b").unwrap();
        assert_eq!(
            name.manifest_relative_path(),
            PathBuf::from("manifests/registry.ollama.ai/library/qwen3-coder/30b")
        );
        assert_eq!(name.display_shortest(), "qwen3-coder:30b");
        assert_eq!(
            ModelName::parse("hf.co/u/r:q").unwrap().display_shortest(),
            "hf.co/u/r:q"
        );
    }
}
