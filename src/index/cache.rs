//! The on-disk cache of index answers, under the user's cache folder.
//!
//! Why a cache: `compat risk` and `compat install-order` ask about the same two dozen projects
//! every run, CI runs them often, and `--offline` must still give an answer (with its age) on a
//! machine that cannot reach the index. The cache holds the raw body of each answer, not the
//! parsed [`super::Project`], so that a cached page and a fresh one go through the same parser
//! and a change to compat's types never makes old entries unreadable.
//!
//! Layout (each file one JSON [`Entry`], written to a temporary file and renamed, so a crash or
//! two compat processes at once never leave half an entry):
//!
//! ```text
//! <cache_dir>/pages/<hash of the index URL>/<normalized name>.json
//! <cache_dir>/metadata/<hash of the metadata URL>-<file name>.json
//! ```
//!
//! Index URLs are keyed with their password hidden, so a rotated token keeps the cache. An entry
//! that cannot be read or parsed is treated as absent: the cache is an optimisation, never a
//! reason to fail.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::redact_url;

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The URL it was fetched from (after redirects), password hidden.
    pub url: String,
    /// When it was fetched, in milliseconds since the Unix epoch.
    pub fetched_at_ms: u64,
    pub content_type: Option<String>,
    pub body: String,
}

impl Entry {
    pub fn new(url: &str, content_type: Option<String>, body: String) -> Self {
        Entry {
            url: redact_url(url),
            fetched_at_ms: now_ms(),
            content_type,
            body,
        }
    }

    /// How long ago it was fetched (zero for an entry from the future: a clock that moved back).
    pub fn age(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.fetched_at_ms))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The cache folder and its file naming.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: PathBuf) -> Self {
        Cache { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the page of `name` (already normalized) from `index_url` lives.
    pub fn page_path(&self, index_url: &str, name: &str) -> PathBuf {
        self.dir
            .join("pages")
            .join(index_key(index_url))
            .join(format!("{name}.json"))
    }

    /// Where the metadata file at `url` lives.
    pub fn metadata_path(&self, url: &str) -> PathBuf {
        let key = redact_url(url);
        let file: String = key
            .rsplit('/')
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
            .take(120)
            .collect();
        self.dir.join("metadata").join(format!(
            "{:016x}-{file}.json",
            crate::model::fnv1a(key.as_bytes())
        ))
    }

    /// The entry at `path`, or `None` when there is none or it cannot be read.
    pub fn read(&self, path: &Path) -> Option<Entry> {
        let text = fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// The newest cached page of `name` from any index: what "working offline" with no index
    /// configured can still show.
    pub fn read_page_any_index(&self, name: &str) -> Option<Entry> {
        let dirs = fs::read_dir(self.dir.join("pages")).ok()?;
        dirs.filter_map(Result::ok)
            .filter_map(|d| self.read(&d.path().join(format!("{name}.json"))))
            .max_by_key(|e| e.fetched_at_ms)
    }

    /// Writes `entry` to `path` atomically (temporary file in the same folder, then rename).
    pub fn write(&self, path: &Path, entry: &Entry) -> std::io::Result<()> {
        let parent = path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(parent)?;
        let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
        let bytes = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        tmp.write_all(&bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The folder name for one index: a hash of its URL (password hidden, trailing slash ignored).
fn index_key(index_url: &str) -> String {
    let url = redact_url(index_url);
    format!(
        "{:016x}",
        crate::model::fnv1a(url.trim_end_matches('/').as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::new(dir.path().to_path_buf());
        let path = cache.page_path("http://u:secret@127.0.0.1:9/simple/", "torch");
        assert_eq!(
            path,
            cache.page_path("http://u:other@127.0.0.1:9/simple", "torch"),
            "the password and a trailing slash do not change the key"
        );
        let entry = Entry::new(
            "http://u:secret@127.0.0.1:9/simple/torch/",
            Some("application/vnd.pypi.simple.v1+json".into()),
            "{}".into(),
        );
        assert!(!entry.url.contains("secret"));
        cache.write(&path, &entry).expect("write");
        assert_eq!(cache.read(&path), Some(entry.clone()));
        assert_eq!(cache.read_page_any_index("torch"), Some(entry));
        assert_eq!(cache.read_page_any_index("peft"), None);
        // A corrupt entry is absent, not an error.
        fs::write(&path, b"{not json").expect("write");
        assert_eq!(cache.read(&path), None);
    }

    #[test]
    fn metadata_names_are_safe() {
        let cache = Cache::new(PathBuf::from("/c"));
        let p = cache.metadata_path(
            "http://127.0.0.1/p/../torch-2.4.0-cp311-cp311-linux_x86_64.whl.metadata",
        );
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(
            name.ends_with("-torch-2.4.0-cp311-cp311-linux_x86_64.whl.metadata.json"),
            "{name}"
        );
        assert_eq!(p.parent(), Some(Path::new("/c/metadata")));
    }
}
