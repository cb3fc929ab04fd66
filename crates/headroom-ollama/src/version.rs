//! Ollama version numbers as `/api/version` reports them (`"0.15.5"`, `"0.12.0-rc1"`), and the
//! version ranges that the server rules in this crate hold for.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An Ollama release version: `MAJOR.MINOR.PATCH` with an optional pre-release (`rc1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    /// Major number (0 for every Ollama release so far).
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Patch number.
    pub patch: u64,
    /// Pre-release or build suffix after `-` (`rc1`, `rc0-3-gabcdef`), if any.
    pub prerelease: Option<String>,
}

/// Why a version string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("version {text:?} is not MAJOR.MINOR.PATCH[-PRERELEASE]")]
pub struct VersionError {
    /// The text given.
    pub text: String,
}

impl Version {
    /// A release version.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
            prerelease: None,
        }
    }

    /// The numeric triple; rules compare on this, so `0.15.5-rc1` already counts as 0.15.5
    /// (release candidates carry the change they precede).
    pub fn triple(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }

    /// True when this version is at least `major.minor.patch` (pre-release ignored).
    pub fn at_least(&self, major: u64, minor: u64, patch: u64) -> bool {
        self.triple() >= (major, minor, patch)
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || VersionError {
            text: text.to_owned(),
        };
        let trimmed = text.trim();
        let trimmed = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let (core, prerelease) = match trimmed.split_once(['-', '+']) {
            Some((core, rest)) if !rest.is_empty() => (core, Some(rest.to_owned())),
            Some(_) => return Err(error()),
            None => (trimmed, None),
        };
        let mut parts = core.split('.');
        let mut number = || -> Result<u64, VersionError> {
            let part = parts.next().ok_or_else(error)?;
            if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(error());
            }
            part.parse().map_err(|_| error())
        };
        let major = number()?;
        let minor = number()?;
        let patch = number()?;
        if parts.next().is_some() {
            return Err(error());
        }
        Ok(Self {
            major,
            minor,
            patch,
            prerelease,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(prerelease) = &self.prerelease {
            write!(formatter, "-{prerelease}")?;
        }
        Ok(())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    /// Semver order: a pre-release sorts before its release.
    fn cmp(&self, other: &Self) -> Ordering {
        self.triple().cmp(&other.triple()).then_with(|| {
            match (&self.prerelease, &other.prerelease) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(left), Some(right)) => left.cmp(right),
            }
        })
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An inclusive range of Ollama versions a rule holds for; `None` ends are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VersionRange {
    /// First version the rule holds for.
    pub from: Option<(u64, u64, u64)>,
    /// Last version the rule holds for.
    pub through: Option<(u64, u64, u64)>,
}

impl VersionRange {
    /// True when `version` lies in the range (pre-release ignored).
    pub fn contains(&self, version: &Version) -> bool {
        let triple = version.triple();
        self.from.is_none_or(|from| triple >= from)
            && self.through.is_none_or(|through| triple <= through)
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |(major, minor, patch): (u64, u64, u64)| format!("v{major}.{minor}.{patch}");
        match (self.from, self.through) {
            (None, None) => formatter.write_str("all versions"),
            (Some(from), None) => write!(formatter, "{}+", show(from)),
            (None, Some(through)) => write!(formatter, "up to {}", show(through)),
            (Some(from), Some(through)) => write!(formatter, "{}–{}", show(from), show(through)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_release_and_release_candidate() {
        let release: Version = "0.15.5".parse().unwrap();
        assert_eq!(release, Version::new(0, 15, 5));
        let candidate: Version = "0.12.0-rc1".parse().unwrap();
        assert_eq!(candidate.prerelease.as_deref(), Some("rc1"));
        assert!(candidate < Version::new(0, 12, 0));
        assert!(candidate.at_least(0, 12, 0));
        assert_eq!("v0.6.7".parse::<Version>().unwrap(), Version::new(0, 6, 7));
    }

    #[test]
    fn rejects_malformed_versions() {
        for text in ["", "0.15", "0.15.x", "0.15.5.1", "0.15.5-", "latest"] {
            assert!(text.parse::<Version>().is_err(), "{text}");
        }
    }

    #[test]
    fn ranges_are_inclusive() {
        let range = VersionRange {
            from: Some((0, 11, 4)),
            through: Some((0, 15, 4)),
        };
        assert!(range.contains(&Version::new(0, 11, 4)));
        assert!(range.contains(&Version::new(0, 15, 4)));
        assert!(!range.contains(&Version::new(0, 15, 5)));
        assert_eq!(range.to_string(), "v0.11.4–v0.15.4");
    }
}
