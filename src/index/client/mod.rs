//! The blocking index client: project pages and release metadata, from the cache when it is
//! fresh, else from the index.
//!
//! Why these rules:
//! - **Blocking API, own runtime.** compat is synchronous; each call runs its requests on the
//!   client's current-thread tokio runtime, so a caller never needs async. Called from inside
//!   another tokio runtime (where `block_on` would panic), it runs its runtime on a scoped thread.
//! - **Concurrency**: every project (and every planned release) of a call is a task; at most
//!   `concurrency` HTTP requests are in flight at once (a semaphore), so one slow project does
//!   not hold up the rest. Results come back in the order asked, each with its own `Result`.
//! - **One overall deadline** per call (`deadline`, default 30 s): a task not done by then ends
//!   with [`IndexError::Deadline`]; each attempt also has its own limit (`timeout`, connect and
//!   body included, so a server that drips bytes cannot hold a CI job).
//! - **Asked once per run**: pages and metadata are remembered per client, failures included, so
//!   a name asked twice (`Torch`, `torch`) or by two commands' steps is fetched once.
//! - **Retries** (`retries` more attempts, backoff 200 ms, 400 ms, …) only for what can pass by
//!   itself: connect errors other than a refusal, timeouts and 5xx. A 404 will not improve.
//! - **Real error kinds**: HTTP status (404 apart), timeout, deadline, TLS, refused, redirect
//!   loop, malformed answer, too large — each its own [`IndexError`] variant and code.
//! - **A size cap** on every response, checked against `Content-Length` first and then counted
//!   while the body streams in.
//! - **Metadata without PEP 658**: from the wheel, with range requests ([`super::wheel`]); a
//!   server that ignores `Range` sends the whole wheel, read up to [`FULL_DOWNLOAD_CAP`].
//! - **Several indexes**: asked in the order given (the main one, then the extra ones); a 404 on
//!   one moves on to the next, any other failure is the answer (uv's first-index strategy).
//! - **Cache**: a page fresher than `ttl` is used without a request. Metadata is cached without
//!   expiry: a distribution file never changes once uploaded, so neither does its metadata.
//!   `offline` (or no index at all) reads only the cache, at any age, and says how old it is.
//! - **Credentials**: an index URL may carry a password. Reports only ever see it hidden; the
//!   password is sent again to URLs on that index's own origin (as pip does), never elsewhere.
//! - **Progress** on a terminal only: an `indicatif` bar on stderr, hidden when stderr is not a
//!   terminal or `progress` is off.
//!
//! Here: the client, its options, and pages (with the cache). [`http`]: one GET, its retries and
//! its error kinds. [`metadata`]: a release's metadata, from PEP 658 or from the wheel.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pep440_rs::Version;
use reqwest::Url;
use tokio::sync::{OnceCell, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

mod http;
mod metadata;

use http::Request;

use super::cache::{Cache, Entry};
use super::page::parse_page;
use super::{redact_url, FetchSource, IndexError, Project, ReleaseMetadata};
use crate::model::{canonical, Vars};

/// What a project page request accepts: PEP 691 JSON first; the HTML forms for indexes that have
/// no JSON (the q-values are the ones PEP 691 suggests).
const ACCEPT_PAGE: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// The first backoff; each retry doubles it.
pub(super) const BACKOFF: Duration = Duration::from_millis(200);

/// The largest whole wheel read when the server ignores `Range`.
pub const FULL_DOWNLOAD_CAP: usize = 200 << 20;

/// How the client behaves. [`ClientOptions::new`] has no index URL and the defaults below.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The index (a PEP 503 base URL such as `…/simple/`); `None` works from the cache only.
    pub index_url: Option<String>,
    /// More indexes, asked after `index_url` when it does not know a project (404).
    pub extra_urls: Vec<String>,
    /// Use only the cache, never the network.
    pub offline: bool,
    /// Usually [`default_cache_dir`].
    pub cache_dir: PathBuf,
    /// How long a cached page is used without asking again. Default 1 h.
    pub ttl: Duration,
    /// The limit for one attempt of one request (connect, headers and body). Default 10 s.
    pub timeout: Duration,
    /// The limit for one whole call ([`Client::projects`], [`Client::planned_metadata`]),
    /// retries included. Default 30 s.
    pub deadline: Duration,
    /// Further attempts after a connect error, a timeout or a 5xx. Default 2.
    pub retries: u32,
    /// The largest response body accepted for a page or metadata file, in bytes. Default 16 MiB.
    pub max_body: usize,
    /// Requests in flight at once. Default 8.
    pub concurrency: usize,
    /// Show a progress bar on stderr when it is a terminal. Default on.
    pub progress: bool,
}

impl ClientOptions {
    /// The defaults, with no index URL and the cache in `cache_dir`.
    pub fn new(cache_dir: PathBuf) -> Self {
        ClientOptions {
            index_url: None,
            extra_urls: Vec::new(),
            offline: false,
            cache_dir,
            ttl: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
            retries: 2,
            max_body: 16 << 20,
            concurrency: 8,
            progress: true,
        }
    }
}

/// `$XDG_CACHE_HOME/compat/index`, else `~/.cache/compat/index`, else a folder under the system's
/// temporary folder (a user without a home still gets a working cache). The variables come
/// from `vars`.
pub fn default_cache_dir(vars: &Vars) -> PathBuf {
    vars.cache_root().join("index")
}

type Shared<T> = Arc<OnceCell<Result<T, IndexError>>>;

/// A package-index client. Cheap to keep; it remembers every answer (and failure) it got.
pub struct Client {
    inner: Arc<Inner>,
    runtime: Result<tokio::runtime::Runtime, std::io::Error>,
}

struct Inner {
    opts: ClientOptions,
    cache: Cache,
    /// The index base URLs in the order asked, each with a trailing slash.
    indexes: Vec<Url>,
    http: Result<reqwest::Client, reqwest::Error>,
    permits: Semaphore,
    pages: Mutex<HashMap<String, Shared<Project>>>,
    metadata: Mutex<HashMap<String, Shared<ReleaseMetadata>>>,
}

/// Parses an index base URL, adding the trailing slash `join` needs.
fn base_url(raw: &str) -> Option<Url> {
    let mut u = Url::parse(raw).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    if !u.path().ends_with('/') {
        let path = format!("{}/", u.path());
        u.set_path(&path);
    }
    Some(u)
}

impl Client {
    pub fn new(opts: ClientOptions) -> Self {
        let indexes = opts
            .index_url
            .iter()
            .chain(&opts.extra_urls)
            .filter_map(|raw| base_url(raw))
            .collect();
        let http = reqwest::Client::builder()
            .connect_timeout(opts.timeout)
            .timeout(opts.timeout)
            .build();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        Client {
            inner: Arc::new(Inner {
                cache: Cache::new(opts.cache_dir.clone()),
                permits: Semaphore::new(opts.concurrency.max(1)),
                opts,
                indexes,
                http,
                pages: Mutex::new(HashMap::new()),
                metadata: Mutex::new(HashMap::new()),
            }),
            runtime,
        }
    }

    /// The project pages of `names`, fetched concurrently; one entry per name, in the order given,
    /// each with the name as given. A name asked twice is fetched once.
    pub fn projects(&self, names: &[String]) -> Vec<(String, Result<Project, IndexError>)> {
        let keys: Vec<String> = names
            .iter()
            .map(|n| canonical(n).unwrap_or_else(|| n.clone()))
            .collect();
        let mut unique: Vec<String> = Vec::new();
        for k in &keys {
            if !unique.contains(k) {
                unique.push(k.clone());
            }
        }
        let fetched = self.batch(unique.clone(), |inner, name, deadline| async move {
            inner.project_once(&name, deadline).await
        });
        let by_name: HashMap<String, Result<Project, IndexError>> =
            unique.into_iter().zip(fetched).collect();
        names
            .iter()
            .zip(keys)
            .map(|(n, k)| {
                let result = by_name
                    .get(&k)
                    .cloned()
                    .unwrap_or_else(|| Err(self.lost(&k)));
                (n.clone(), result)
            })
            .collect()
    }

    /// `Requires-Dist` and `Requires-Python` of each `(name, version)`, fetched concurrently
    /// under one deadline: the project page, then the release's PEP 658 metadata file, else its
    /// wheel's METADATA by range requests. One entry per pair, in the order given.
    pub fn planned_metadata(
        &self,
        wanted: &[(String, String)],
    ) -> Vec<Result<ReleaseMetadata, IndexError>> {
        let items: Vec<(String, String)> = wanted.to_vec();
        self.batch(items, |inner, (name, version), deadline| async move {
            let project = inner.project_once(&name, deadline).await?;
            let v: Version = version.parse().map_err(|_| IndexError::UnknownVersion {
                name: project.name.clone(),
                version: version.clone(),
                url: project.url.clone(),
            })?;
            inner.release_metadata(&project, &v, deadline).await
        })
    }

    /// `Requires-Dist` and `Requires-Python` of `version` of `project`: its PEP 658 metadata
    /// file, else its wheel's METADATA read with range requests.
    pub fn metadata(
        &self,
        project: &Project,
        version: &Version,
    ) -> Result<ReleaseMetadata, IndexError> {
        let project = project.clone();
        let version = version.clone();
        let mut got = self.batch(vec![()], move |inner, (), deadline| {
            let (project, version) = (project.clone(), version.clone());
            async move { inner.release_metadata(&project, &version, deadline).await }
        });
        got.pop().unwrap_or_else(|| Err(self.lost("metadata")))
    }

    fn lost(&self, what: &str) -> IndexError {
        IndexError::Network {
            url: what.to_string(),
            why: "the request was lost (an internal error)".into(),
        }
    }

    /// Runs `work` for every item concurrently on the client's runtime, under one deadline, with
    /// a progress bar on a terminal. Results in the order of `items`.
    fn batch<I, T, F, Fut>(&self, items: Vec<I>, work: F) -> Vec<Result<T, IndexError>>
    where
        I: Send + 'static,
        T: Send + 'static,
        F: Fn(Arc<Inner>, I, Instant) -> Fut + Send + Sync,
        Fut: std::future::Future<Output = Result<T, IndexError>> + Send + 'static,
    {
        let n = items.len();
        let rt = match &self.runtime {
            Ok(rt) => rt,
            Err(why) => {
                return (0..n)
                    .map(|_| {
                        Err(IndexError::Network {
                            url: "the package index".into(),
                            why: format!("cannot start the I/O runtime: {why}"),
                        })
                    })
                    .collect()
            }
        };
        let bar = progress_bar(self.inner.opts.progress, n);
        let inner = self.inner.clone();
        let limit = inner.opts.deadline;
        let fut = async move {
            let deadline = Instant::now() + limit;
            let mut set = JoinSet::new();
            for (i, item) in items.into_iter().enumerate() {
                let task = work(inner.clone(), item, deadline);
                set.spawn(async move {
                    // A moment of grace, so that the request's own deadline error, which
                    // names its URL, is the one reported.
                    let grace = deadline + Duration::from_millis(200);
                    let r = tokio::time::timeout_at(grace, task).await.unwrap_or(Err(
                        IndexError::Deadline {
                            url: "the package index".into(),
                            after: limit,
                        },
                    ));
                    (i, r)
                });
            }
            let mut out: Vec<Option<Result<T, IndexError>>> = (0..n).map(|_| None).collect();
            while let Some(joined) = set.join_next().await {
                bar.inc(1);
                // A task only fails by panicking, which nothing here does; a lost answer is
                // reported as an internal error rather than taking the others down.
                if let Ok((i, r)) = joined {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = Some(r);
                    }
                }
            }
            bar.finish_and_clear();
            out
        };
        let got = run(rt, fut).unwrap_or_default();
        let mut got = got.into_iter();
        (0..n)
            .map(|_| {
                got.next()
                    .flatten()
                    .unwrap_or_else(|| Err(self.lost("a request")))
            })
            .collect()
    }
}

/// A bar on stderr when it is a terminal, else nothing drawn at all.
fn progress_bar(enabled: bool, len: usize) -> indicatif::ProgressBar {
    if !enabled || len < 2 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("asking the package index {bar:30} {pos}/{len}")
    {
        bar.set_style(style);
    }
    bar
}

/// Runs `fut` to completion on the client's runtime. From inside another runtime, where
/// `block_on` panics, it runs on a scoped thread of its own. `None` only if that thread panicked.
fn run<T: Send>(
    rt: &tokio::runtime::Runtime,
    fut: impl std::future::Future<Output = T> + Send,
) -> Option<T> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Some(rt.block_on(fut));
    }
    std::thread::scope(|s| s.spawn(|| rt.block_on(fut)).join().ok())
}

impl Inner {
    /// One project's page, fetched once per client: later calls get the same answer.
    async fn project_once(&self, name: &str, deadline: Instant) -> Result<Project, IndexError> {
        let key = canonical(name).unwrap_or_else(|| name.to_string());
        let cell = {
            let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
            pages.entry(key).or_default().clone()
        };
        cell.get_or_init(|| self.project(name, deadline))
            .await
            .clone()
    }

    /// One project's page: cache when fresh (or when offline), else the indexes in order.
    async fn project(&self, name: &str, deadline: Instant) -> Result<Project, IndexError> {
        let Some(norm) = canonical(name) else {
            return Err(IndexError::InvalidName {
                name: name.to_string(),
            });
        };
        if self.indexes.is_empty() {
            // No index configured: whatever any index left in the cache.
            return self
                .cache
                .read_page_any_index(&norm)
                .and_then(|e| page_from_cache(&norm, &e))
                .ok_or(if self.opts.offline {
                    IndexError::NotInCache { name: norm.clone() }
                } else {
                    IndexError::Offline { name: norm.clone() }
                });
        }
        let mut not_found = None;
        for base in &self.indexes {
            match self.project_from(base, &norm, deadline).await {
                Err(e @ (IndexError::NotFound { .. } | IndexError::NotInCache { .. })) => {
                    not_found = Some(e);
                }
                other => return other,
            }
        }
        Err(not_found.unwrap_or(IndexError::NotInCache { name: norm }))
    }

    async fn project_from(
        &self,
        base: &Url,
        norm: &str,
        deadline: Instant,
    ) -> Result<Project, IndexError> {
        let path = self.cache.page_path(base.as_str(), norm);
        let cached = self.cache.read(&path);
        if let Some(entry) = &cached {
            if self.opts.offline || entry.age() < self.opts.ttl {
                if let Some(p) = page_from_cache(norm, entry) {
                    return Ok(p);
                }
            }
        }
        if self.opts.offline {
            return Err(IndexError::NotInCache {
                name: norm.to_string(),
            });
        }
        let url = base
            .join(&format!("{norm}/"))
            .map_err(|e| IndexError::Malformed {
                url: redact_url(base.as_str()),
                why: format!("cannot form the project URL ({e})"),
            })?;
        let req = Request {
            accept: ACCEPT_PAGE,
            range: None,
            limit: self.opts.max_body,
        };
        let got = self.get(&url, &req, deadline).await?;
        let shown = redact_url(got.url.as_str());
        let body = String::from_utf8(got.body).map_err(|e| IndexError::Malformed {
            url: shown.clone(),
            why: format!("the page is not UTF-8 ({e})"),
        })?;
        let project = parse_page(
            norm,
            got.url.as_str(),
            got.content_type.as_deref(),
            &body,
            FetchSource::Network,
        )
        .map_err(|e| IndexError::Malformed {
            url: shown,
            why: e.to_string(),
        })?;
        // A cache that cannot be written costs a request next time, nothing more.
        let _ = self
            .cache
            .write(&path, &Entry::new(got.url.as_str(), got.content_type, body));
        Ok(project)
    }
}

fn page_from_cache(norm: &str, entry: &Entry) -> Option<Project> {
    let source = FetchSource::Cache {
        age_s: entry.age().as_secs(),
    };
    parse_page(
        norm,
        &entry.url,
        entry.content_type.as_deref(),
        &entry.body,
        source,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::http::parse_content_range;
    use super::*;

    #[test]
    fn content_range_and_base_urls() {
        assert_eq!(parse_content_range("bytes 100-199/1000"), Some((100, 1000)));
        assert_eq!(parse_content_range("bytes 0-0/*"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(
            base_url("http://127.0.0.1:1/simple").map(|u| u.to_string()),
            Some("http://127.0.0.1:1/simple/".to_string())
        );
        assert_eq!(base_url("file:///srv/simple/"), None);
    }
}
