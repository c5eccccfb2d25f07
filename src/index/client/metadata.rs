//! Release metadata: the PEP 658 file when the index serves one, else the wheel's own METADATA,
//! read by range requests ([`crate::index::wheel`]) or, from a server that ignores `Range`, by a
//! download of the whole file up to [`super::FULL_DOWNLOAD_CAP`].

use pep440_rs::Version;
use tokio::time::Instant;

use super::http::{parse_content_range, Request};
use super::{Inner, FULL_DOWNLOAD_CAP};
use crate::index::cache::Entry;
use crate::index::page::parse_metadata;
use crate::index::wheel::{self, Sparse, Step};
use crate::index::{redact_url, FetchSource, IndexError, Project, Release, ReleaseMetadata};

/// The end of a wheel fetched first: the end-of-central-directory records and, for most wheels,
/// the whole central directory.
const WHEEL_TAIL: u64 = 64 << 10;
/// The least one further range request asks for.
const WHEEL_MIN_RANGE: u64 = 256 << 10;
/// The most bytes fetched by range requests for one wheel's metadata.
const WHEEL_RANGE_CAP: u64 = 64 << 20;
/// The most range requests for one wheel after the first.
const WHEEL_ROUNDS: usize = 8;

impl Inner {
    /// A release's metadata: PEP 658 file, else the wheel's METADATA; once per client.
    pub(super) async fn release_metadata(
        &self,
        project: &Project,
        version: &Version,
        deadline: Instant,
    ) -> Result<ReleaseMetadata, IndexError> {
        let release = project
            .release(version)
            .ok_or_else(|| IndexError::UnknownVersion {
                name: project.name.clone(),
                version: version.to_string(),
                url: project.url.clone(),
            })?;
        let key = release
            .metadata_url
            .clone()
            .or_else(|| release.wheel_url.as_ref().map(|w| format!("{w}.metadata")))
            .ok_or_else(|| IndexError::NoMetadata {
                name: project.name.clone(),
                version: release.version.clone(),
                url: project.url.clone(),
            })?;
        let cell = {
            let mut all = self.metadata.lock().unwrap_or_else(|p| p.into_inner());
            all.entry(key.clone()).or_default().clone()
        };
        cell.get_or_init(|| self.metadata_uncached(project, release, &key, deadline))
            .await
            .clone()
    }

    async fn metadata_uncached(
        &self,
        project: &Project,
        release: &Release,
        key: &str,
        deadline: Instant,
    ) -> Result<ReleaseMetadata, IndexError> {
        let path = self.cache.metadata_path(key);
        if let Some(entry) = self.cache.read(&path) {
            let source = FetchSource::Cache {
                age_s: entry.age().as_secs(),
            };
            if let Ok(md) = parse_metadata(&entry.body, source) {
                return Ok(md);
            }
        }
        let what = format!("{}=={}", project.name, release.version);
        if self.opts.offline {
            return Err(IndexError::NotInCache { name: what });
        }
        if self.indexes.is_empty() {
            return Err(IndexError::Offline { name: what });
        }
        let (text, url, content_type) = match (&release.metadata_url, &release.wheel_url) {
            (Some(url), _) => {
                let target = self.with_credentials(url)?;
                let req = Request {
                    accept: "text/plain, */*;q=0.1",
                    range: None,
                    limit: self.opts.max_body,
                };
                let got = self.get(&target, &req, deadline).await?;
                let text = String::from_utf8_lossy(&got.body).into_owned();
                (text, url.clone(), got.content_type)
            }
            (None, Some(wheel)) => {
                let text = self.wheel_metadata(wheel, deadline).await?;
                (text, key.to_string(), Some("text/plain".to_string()))
            }
            (None, None) => {
                return Err(IndexError::NoMetadata {
                    name: project.name.clone(),
                    version: release.version.clone(),
                    url: project.url.clone(),
                })
            }
        };
        let md =
            parse_metadata(&text, FetchSource::Network).map_err(|e| IndexError::Malformed {
                url: redact_url(&url),
                why: e.to_string(),
            })?;
        let _ = self
            .cache
            .write(&path, &Entry::new(&url, content_type, text));
        Ok(md)
    }

    /// A wheel's METADATA text, by range requests (see [`super::wheel`]); the whole file, up to
    /// [`FULL_DOWNLOAD_CAP`], when the server ignores `Range`.
    async fn wheel_metadata(&self, url: &str, deadline: Instant) -> Result<String, IndexError> {
        let target = self.with_credentials(url)?;
        let shown = redact_url(url);
        let bad = |why: String| IndexError::Malformed {
            url: shown.clone(),
            why: format!("cannot read the wheel's METADATA: {why}"),
        };
        let first = Request {
            accept: "*/*",
            range: Some(format!("bytes=-{WHEEL_TAIL}")),
            limit: FULL_DOWNLOAD_CAP,
        };
        let got = self.get(&target, &first, deadline).await?;
        if got.status != 206 {
            // The server ignored Range: this is the whole wheel (bounded by the cap).
            return wheel::read_metadata(std::io::Cursor::new(got.body))
                .map_err(|e| bad(e.to_string()));
        }
        let (start, total) = got
            .content_range
            .as_deref()
            .and_then(parse_content_range)
            .ok_or_else(|| bad("a 206 answer without a usable Content-Range".into()))?;
        let mut sparse = Sparse::new(total);
        sparse.insert(start, got.body);
        for _ in 0..=WHEEL_ROUNDS {
            match wheel::step(&mut sparse) {
                Step::Done(text) => return Ok(text),
                Step::Bad(why) => return Err(bad(why.to_string())),
                Step::Need(s, e) => {
                    let (s, e) = sparse.widen((s, e), WHEEL_MIN_RANGE);
                    if sparse.held().saturating_add(e - s) > WHEEL_RANGE_CAP {
                        return Err(IndexError::TooLarge {
                            url: shown.clone(),
                            limit: usize::try_from(WHEEL_RANGE_CAP).unwrap_or(usize::MAX),
                        });
                    }
                    let req = Request {
                        accept: "*/*",
                        range: Some(format!("bytes={s}-{}", e.saturating_sub(1))),
                        limit: usize::try_from(e - s).unwrap_or(usize::MAX),
                    };
                    let got = self.get(&target, &req, deadline).await?;
                    let at = got
                        .content_range
                        .as_deref()
                        .and_then(parse_content_range)
                        .filter(|_| got.status == 206)
                        .ok_or_else(|| {
                            bad("the server stopped answering range requests with 206".into())
                        })?;
                    sparse.insert(at.0, got.body);
                }
            }
        }
        Err(bad(format!(
            "still incomplete after {WHEEL_ROUNDS} range requests"
        )))
    }
}
