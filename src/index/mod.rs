//! The package index as facts: which releases a project has, when they were uploaded, which are
//! yanked or pre-releases, and what a named release requires (`Requires-Dist`, `Requires-Python`).
//!
//! Why a client of our own rather than asking pip: pip has no stable machine-readable way to
//! list a project's releases with their upload times and yank state, and `pip download` of every
//! wheel to read its metadata would cost gigabytes for torch. The Simple API answers all of it
//! with one small JSON page per project (PEP 691, with PEP 700's `upload-time` and `versions`),
//! plus one `.metadata` file per release when its `Requires-Dist` is needed (PEP 658/714).
//!
//! What lives here, and what does not:
//! - [`discover`](mod@discover) decides *which* index to ask, reading uv's or pip's configuration
//!   files in their own order (nothing is run), and says where the choice came from. No
//!   registry host name is written anywhere in this crate: the URL comes from a flag, an
//!   environment variable, a configuration file, or the installed pip's own source file.
//! - [`page`] holds the pure parsers (a Simple API page, JSON or the older HTML form, into a
//!   [`Project`]); they take text and return data, and are tested with canned pages.
//! - [`cache`] is the on-disk cache: one JSON file per page and per metadata file, written
//!   atomically, with the time it was fetched.
//! - [`wheel`] reads `*.dist-info/METADATA` out of a remote wheel through range requests
//!   (end of central directory, central directory, one entry), for indexes without PEP 658.
//! - [`client`] does the I/O: concurrent requests on a current-thread tokio runtime of its own,
//!   a timeout per request, retries with backoff for failures that can pass (connect errors,
//!   timeouts, 5xx), and a size cap on every response. The API is blocking so that callers stay
//!   synchronous, like the rest of compat.
//!
//! Problems are values: one project failing (404, 500, a slow or malformed answer) is an
//! [`IndexError`] in that project's slot, and the others still come back. Nothing here panics on
//! what the network or the disk hands it.

pub mod cache;
pub mod client;
pub mod discover;
pub mod page;
pub mod wheel;

use std::time::Duration;

use pep440_rs::Version;
use serde::{Deserialize, Serialize};

pub use client::{default_cache_dir, Client, ClientOptions};
pub use discover::{discover, DiscoverError, IndexChoice, Target};
pub use page::{parse_html_page, parse_json_page, parse_metadata};

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FetchSource {
    /// Fetched from the index just now.
    Network,
    /// Read from the on-disk cache; `age_s` is the seconds since it was fetched. Offline, this can
    /// be older than the time-to-live: the age says how old the evidence is.
    Cache { age_s: u64 },
}

/// One project's page on the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// The name as the index spells it (PEP 503 normalized when the page does not say).
    pub name: String,
    /// Every release, sorted by PEP 440 version, oldest first.
    pub releases: Vec<Release>,
    pub source: FetchSource,
    /// The page's URL, with any password in it replaced by `****`.
    pub url: String,
}

/// One version of a project, summarised from its files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// The version as the index writes it.
    pub version: String,
    /// The earliest upload time of its files (RFC 3339), when the index gives one.
    pub upload_time: Option<String>,
    /// True when every file of the release is yanked (PEP 592). A release with no files is not.
    pub yanked: bool,
    /// The reason the index gives for yanking, if any.
    pub yanked_reason: Option<String>,
    /// `Requires-Python` of its files (a wheel's first), as written.
    pub requires_python: Option<String>,
    /// A pre-release or development release (PEP 440).
    pub prerelease: bool,
    /// How many files the release has. Zero for a version listed only in `versions` (PEP 700).
    pub files: usize,
    /// The URL of the core metadata of one of its files (PEP 658), a wheel's where there is one.
    pub metadata_url: Option<String>,
    /// The URL of one of its wheels (a pure-Python one first, else a Linux x86-64 one), whose
    /// `METADATA` is read with range requests when the index serves no PEP 658 file.
    #[serde(default)]
    pub wheel_url: Option<String>,
}

impl Release {
    /// The parsed version; `None` never happens for releases built by [`page`], which drops
    /// versions that are not PEP 440.
    pub fn parsed_version(&self) -> Option<Version> {
        self.version.parse().ok()
    }
}

impl Project {
    /// The newest release that is neither yanked, nor a pre- or development release, and has
    /// at least one file: what `pip install name` would pick, ignoring the host's tags.
    pub fn latest(&self) -> Option<&Release> {
        self.releases
            .iter()
            .rev()
            .find(|r| !r.yanked && !r.prerelease && r.files > 0)
    }

    /// The newest release that is not yanked and has files, pre-releases included.
    pub fn latest_any(&self) -> Option<&Release> {
        self.releases
            .iter()
            .rev()
            .find(|r| !r.yanked && r.files > 0)
    }

    /// The release whose version equals `v` (PEP 440 equality: `2.4` is `2.4.0`).
    pub fn release(&self, v: &Version) -> Option<&Release> {
        self.releases
            .iter()
            .find(|r| r.parsed_version().as_ref() == Some(v))
    }
}

/// The parts of a release's core metadata that compat uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseMetadata {
    /// Every `Requires-Dist` line as written.
    pub requires_dist: Vec<String>,
    pub requires_python: Option<String>,
    pub source: FetchSource,
}

/// Why the index could not answer for one project or release. Every message is one sentence that
/// names the URL (passwords hidden) or the project; [`IndexError::code`] gives a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("no package index is configured, so compat is working offline, and `{name}` is not in the cache; pass --index-url or set COMPAT_INDEX_URL")]
    Offline { name: String },
    #[error("`{url}` was not found on the index (HTTP 404)")]
    NotFound { url: String },
    #[error("the index answered `{url}` with HTTP status {code}")]
    Status { url: String, code: u16 },
    #[error("`{url}` did not answer within {}", human_duration(*.after))]
    Timeout { url: String, after: Duration },
    #[error("`{url}` sent more than {limit} bytes, the size cap for one response")]
    TooLarge { url: String, limit: usize },
    #[error("`{url}` is not a valid answer: {why}")]
    Malformed { url: String, why: String },
    #[error("could not reach `{url}`: {why}")]
    Network { url: String, why: String },
    #[error("`{url}` refused the connection (nothing listens there)")]
    Refused { url: String },
    #[error("TLS with `{url}` failed: {why}")]
    Tls { url: String, why: String },
    #[error("`{url}` redirects in a loop, or more than 10 times: {why}")]
    RedirectLoop { url: String, why: String },
    #[error("`{url}` was not answered before the overall deadline of {} (--index-deadline)", human_duration(*.after))]
    Deadline { url: String, after: Duration },
    #[error("`{name}` is not in the cache, and --offline allows no network request")]
    NotInCache { name: String },
    #[error("`{name}` is not a valid project name (PEP 508 names are letters, digits, `-`, `_` and `.`)")]
    InvalidName { name: String },
    #[error("`{name}` has no release {version} on `{url}`")]
    UnknownVersion {
        name: String,
        version: String,
        url: String,
    },
    #[error("no file of `{name}` {version} on `{url}` offers its core metadata (PEP 658), and it has no wheel to read it from")]
    NoMetadata {
        name: String,
        version: String,
        url: String,
    },
}

impl IndexError {
    /// A stable kebab-case code for reports and tests.
    pub fn code(&self) -> &'static str {
        match self {
            IndexError::Offline { .. } => "index-offline",
            IndexError::NotFound { .. } => "index-not-found",
            IndexError::Status { .. } => "index-status",
            IndexError::Timeout { .. } => "index-timeout",
            IndexError::TooLarge { .. } => "index-too-large",
            IndexError::Malformed { .. } => "index-malformed",
            IndexError::Network { .. } => "index-network",
            IndexError::Refused { .. } => "index-refused",
            IndexError::Tls { .. } => "index-tls",
            IndexError::RedirectLoop { .. } => "index-redirect-loop",
            IndexError::Deadline { .. } => "index-deadline",
            IndexError::NotInCache { .. } => "index-not-in-cache",
            IndexError::InvalidName { .. } => "index-invalid-name",
            IndexError::UnknownVersion { .. } => "index-unknown-version",
            IndexError::NoMetadata { .. } => "index-no-metadata",
        }
    }
}

/// The URL with its password (if any) replaced by `****`, for messages and reports: index URLs
/// often carry a token (`https://user:token@host/simple`). Text that is not a URL is returned
/// as it is.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            // Only fails for URLs that cannot have a password, which this one has.
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

pub(crate) use crate::process::human_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("https://me:s3cret@127.0.0.1/simple/"),
            "https://me:****@127.0.0.1/simple/"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:8080/simple/"),
            "http://127.0.0.1:8080/simple/"
        );
    }

    #[test]
    fn codes_are_unique() {
        let errors = [
            IndexError::Offline { name: "a".into() },
            IndexError::NotFound { url: "u".into() },
            IndexError::Status {
                url: "u".into(),
                code: 500,
            },
            IndexError::Timeout {
                url: "u".into(),
                after: Duration::from_millis(300),
            },
            IndexError::TooLarge {
                url: "u".into(),
                limit: 1,
            },
            IndexError::Malformed {
                url: "u".into(),
                why: "w".into(),
            },
            IndexError::Network {
                url: "u".into(),
                why: "w".into(),
            },
            IndexError::Refused { url: "u".into() },
            IndexError::Tls {
                url: "u".into(),
                why: "w".into(),
            },
            IndexError::RedirectLoop {
                url: "u".into(),
                why: "w".into(),
            },
            IndexError::Deadline {
                url: "u".into(),
                after: Duration::from_secs(1),
            },
            IndexError::NotInCache { name: "a".into() },
            IndexError::InvalidName { name: "a".into() },
            IndexError::UnknownVersion {
                name: "a".into(),
                version: "1".into(),
                url: "u".into(),
            },
            IndexError::NoMetadata {
                name: "a".into(),
                version: "1".into(),
                url: "u".into(),
            },
        ];
        let mut codes: Vec<_> = errors.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
        assert_eq!(errors[3].to_string(), "`u` did not answer within 300 ms");
    }
}
