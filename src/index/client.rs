//! The blocking index client: project pages and release metadata, from the cache when it is
//! fresh, else from the index.
//!
//! Why these rules:
//! - **Blocking API, own runtime.** compat is synchronous; each call builds nothing global and
//!   runs its requests on the client's current-thread tokio runtime, so a caller never needs
//!   async. Called from inside another tokio runtime (where `block_on` would panic), it runs its
//!   runtime on a scoped thread instead.
//! - **Concurrency** is a sliding window of `concurrency` requests: a matrix names two dozen
//!   projects, and one slow project must not hold up the rest. Results come back in the order
//!   asked, each with its own `Result`.
//! - **Timeouts** apply to each attempt as a whole (connect, headers and body), so a server that
//!   trickles bytes cannot hang a CI job.
//! - **Retries** (`retries` more attempts, backoff 200 ms, 400 ms, …) only for what can pass by
//!   itself: connect errors, timeouts and 5xx. A 404 or a malformed page will not improve.
//! - **A size cap** on every response, checked against `Content-Length` first and then counted
//!   while the body streams in, so a wrong URL that serves a wheel cannot fill memory.
//! - **Cache**: a page fresher than `ttl` is used without a request. Metadata files are cached
//!   without expiry: a distribution file never changes once uploaded (indexes refuse to replace a
//!   file name), so neither does its metadata. `offline` (or no index URL at all) reads only the
//!   cache, at any age, and the answer says how old it is.
//! - **Credentials**: an index URL may carry a password. Reports only ever see it hidden; the
//!   password is sent again to URLs on the index's own host (as pip does), never elsewhere.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pep440_rs::Version;
use reqwest::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use reqwest::Url;
use tokio::task::JoinSet;

use super::cache::{Cache, Entry};
use super::page::{parse_metadata, parse_page};
use super::{redact_url, FetchSource, IndexError, Project, ReleaseMetadata};
use crate::model::{canonical, Vars};

/// What a project page request accepts: PEP 691 JSON first; the HTML forms for indexes that have
/// no JSON (the q-values are the ones PEP 691 suggests).
const ACCEPT_PAGE: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// The first backoff; each retry doubles it.
const BACKOFF: Duration = Duration::from_millis(200);

/// How the client behaves. [`ClientOptions::new`] has no index URL and the defaults below.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The index (a PEP 503 base URL such as `…/simple/`); `None` works from the cache only.
    pub index_url: Option<String>,
    /// Use only the cache, never the network.
    pub offline: bool,
    /// Usually [`default_cache_dir`].
    pub cache_dir: PathBuf,
    /// How long a cached page is used without asking again. Default 1 h.
    pub ttl: Duration,
    /// The limit for one attempt of one request. Default 10 s.
    pub timeout: Duration,
    /// Further attempts after a connect error, a timeout or a 5xx. Default 2.
    pub retries: u32,
    /// The largest response body accepted, in bytes. Default 16 MiB.
    pub max_body: usize,
    /// Requests in flight at once. Default 8.
    pub concurrency: usize,
}

impl ClientOptions {
    /// The defaults, with no index URL and the cache in `cache_dir`.
    pub fn new(cache_dir: PathBuf) -> Self {
        ClientOptions {
            index_url: None,
            offline: false,
            cache_dir,
            ttl: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            retries: 2,
            max_body: 16 << 20,
            concurrency: 8,
        }
    }
}

/// `$XDG_CACHE_HOME/compat/index`, else `~/.cache/compat/index`, else a folder under the system's
/// temporary folder (a user without a home still gets a working cache). The variables come
/// from `vars`.
pub fn default_cache_dir(vars: &Vars) -> PathBuf {
    let base = vars
        .nonempty_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            vars.nonempty_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("compat-cache"));
    base.join("compat").join("index")
}

/// A package-index client. Cheap to keep; every call is independent.
pub struct Client {
    inner: Arc<Inner>,
    runtime: Result<tokio::runtime::Runtime, std::io::Error>,
}

struct Inner {
    opts: ClientOptions,
    cache: Cache,
    /// The index base URL, with a trailing slash; `None` when none was given or it is not a URL.
    index: Option<Url>,
    http: Result<reqwest::Client, reqwest::Error>,
}

impl Client {
    pub fn new(opts: ClientOptions) -> Self {
        let index = opts.index_url.as_deref().and_then(|raw| {
            let mut u = Url::parse(raw).ok()?;
            if !u.path().ends_with('/') {
                let path = format!("{}/", u.path());
                u.set_path(&path);
            }
            Some(u)
        });
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
                opts,
                index,
                http,
            }),
            runtime,
        }
    }

    /// The project pages of `names`, fetched concurrently; one entry per name, in the order given,
    /// each with the name as given. A name asked twice is fetched once.
    pub fn projects(&self, names: &[String]) -> Vec<(String, Result<Project, IndexError>)> {
        let mut unique: Vec<String> = Vec::new();
        for n in names {
            let key = canonical(n).unwrap_or_else(|| n.clone());
            if !unique.contains(&key) {
                unique.push(key);
            }
        }
        let fetched: HashMap<String, Result<Project, IndexError>> = match &self.runtime {
            Ok(rt) => run(rt, fetch_all(self.inner.clone(), unique)).unwrap_or_default(),
            Err(why) => unique
                .into_iter()
                .map(|n| {
                    let err = IndexError::Network {
                        url: self.page_url_text(&n),
                        why: format!("cannot start the I/O runtime: {why}"),
                    };
                    (n, Err(err))
                })
                .collect(),
        };
        names
            .iter()
            .map(|n| {
                let key = canonical(n).unwrap_or_else(|| n.clone());
                let result = fetched.get(&key).cloned().unwrap_or_else(|| {
                    Err(IndexError::Network {
                        url: self.page_url_text(&key),
                        why: "the request was lost (an internal error)".into(),
                    })
                });
                (n.clone(), result)
            })
            .collect()
    }

    /// `Requires-Dist` and `Requires-Python` of `version` of `project`, from the core metadata
    /// file the index serves beside one of its files (PEP 658), a wheel's where there is one.
    pub fn metadata(
        &self,
        project: &Project,
        version: &Version,
    ) -> Result<ReleaseMetadata, IndexError> {
        let release = project
            .release(version)
            .ok_or_else(|| IndexError::UnknownVersion {
                name: project.name.clone(),
                version: version.to_string(),
                url: project.url.clone(),
            })?;
        let Some(url) = release.metadata_url.as_deref() else {
            return Err(IndexError::NoMetadata {
                name: project.name.clone(),
                version: release.version.clone(),
                url: project.url.clone(),
            });
        };
        let what = format!("{}=={}", project.name, release.version);
        let path = self.inner.cache.metadata_path(url);
        if let Some(entry) = self.inner.cache.read(&path) {
            let source = FetchSource::Cache {
                age_s: entry.age().as_secs(),
            };
            if let Ok(md) = parse_metadata(&entry.body, source) {
                return Ok(md);
            }
        }
        if let Some(e) = self.network_refusal(&what) {
            return Err(e);
        }
        let rt = self.runtime.as_ref().map_err(|why| IndexError::Network {
            url: url.to_string(),
            why: format!("cannot start the I/O runtime: {why}"),
        })?;
        let inner = self.inner.clone();
        let url = url.to_string();
        let lost = IndexError::Network {
            url: url.to_string(),
            why: "the request was lost (an internal error)".into(),
        };
        run(rt, async move {
            let target = inner.with_credentials(&url)?;
            let got = inner.get(&target, "text/plain, */*;q=0.1").await?;
            let text = String::from_utf8_lossy(&got.body).into_owned();
            let md =
                parse_metadata(&text, FetchSource::Network).map_err(|e| IndexError::Malformed {
                    url: url.clone(),
                    why: e.to_string(),
                })?;
            // A cache that cannot be written costs a request next time, nothing more.
            let _ = inner
                .cache
                .write(&path, &Entry::new(&url, got.content_type, text));
            Ok(md)
        })
        .unwrap_or(Err(lost))
    }

    /// Why the network may not be used, or `None` when it may.
    fn network_refusal(&self, what: &str) -> Option<IndexError> {
        if self.inner.opts.offline {
            Some(IndexError::NotInCache {
                name: what.to_string(),
            })
        } else if self.inner.index.is_none() {
            Some(IndexError::Offline {
                name: what.to_string(),
            })
        } else {
            None
        }
    }

    fn page_url_text(&self, name: &str) -> String {
        match &self.inner.index {
            Some(base) => redact_url(&format!("{base}{name}/")),
            None => name.to_string(),
        }
    }
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

/// Fetches every name, at most `concurrency` at once.
async fn fetch_all(
    inner: Arc<Inner>,
    names: Vec<String>,
) -> HashMap<String, Result<Project, IndexError>> {
    let limit = inner.opts.concurrency.max(1);
    let mut results = HashMap::new();
    let mut set = JoinSet::new();
    let mut queue = names.into_iter();
    let spawn_next = |set: &mut JoinSet<(String, Result<Project, IndexError>)>,
                      queue: &mut std::vec::IntoIter<String>| {
        if let Some(name) = queue.next() {
            let inner = inner.clone();
            set.spawn(async move {
                let result = inner.project(&name).await;
                (name, result)
            });
        }
    };
    for _ in 0..limit {
        spawn_next(&mut set, &mut queue);
    }
    while let Some(joined) = set.join_next().await {
        // A task can only fail by panicking, which nothing in `project` does; a lost answer is
        // reported by the caller as an internal error rather than taking the others down.
        if let Ok((name, result)) = joined {
            results.insert(name, result);
        }
        spawn_next(&mut set, &mut queue);
    }
    results
}

/// A response that passed the status and size checks.
struct Got {
    /// After redirects.
    url: Url,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// One attempt's failure, and whether another attempt may succeed.
struct Failure {
    error: IndexError,
    retry: bool,
}

impl Inner {
    /// One project's page: cache when fresh (or when offline), else the index.
    async fn project(&self, name: &str) -> Result<Project, IndexError> {
        let Some(norm) = canonical(name) else {
            return Err(IndexError::InvalidName {
                name: name.to_string(),
            });
        };
        let from_cache = |entry: &Entry| -> Option<Project> {
            let source = FetchSource::Cache {
                age_s: entry.age().as_secs(),
            };
            parse_page(
                &norm,
                &entry.url,
                entry.content_type.as_deref(),
                &entry.body,
                source,
            )
            .ok()
        };
        let base = match &self.index {
            Some(base) => base,
            None => {
                // No index configured: whatever any index left in the cache.
                return self
                    .cache
                    .read_page_any_index(&norm)
                    .and_then(|e| from_cache(&e))
                    .ok_or(if self.opts.offline {
                        IndexError::NotInCache { name: norm.clone() }
                    } else {
                        IndexError::Offline { name: norm.clone() }
                    });
            }
        };
        let path = self.cache.page_path(base.as_str(), &norm);
        let cached = self.cache.read(&path);
        if let Some(entry) = &cached {
            if self.opts.offline || entry.age() < self.opts.ttl {
                if let Some(p) = from_cache(entry) {
                    return Ok(p);
                }
            }
        }
        if self.opts.offline {
            return Err(IndexError::NotInCache { name: norm });
        }
        let url = base
            .join(&format!("{norm}/"))
            .map_err(|e| IndexError::Malformed {
                url: redact_url(base.as_str()),
                why: format!("cannot form the project URL ({e})"),
            })?;
        let got = self.get(&url, ACCEPT_PAGE).await?;
        let shown = redact_url(got.url.as_str());
        let body = String::from_utf8(got.body).map_err(|e| IndexError::Malformed {
            url: shown.clone(),
            why: format!("the page is not UTF-8 ({e})"),
        })?;
        let project = parse_page(
            &norm,
            got.url.as_str(),
            got.content_type.as_deref(),
            &body,
            FetchSource::Network,
        )
        .map_err(|e| IndexError::Malformed {
            url: shown,
            why: e.to_string(),
        })?;
        let _ = self
            .cache
            .write(&path, &Entry::new(got.url.as_str(), got.content_type, body));
        Ok(project)
    }

    /// `url` with the index's user and password put back when it is on the index's own origin
    /// (URLs in reports carry `****` in their place); other hosts never see them.
    fn with_credentials(&self, url: &str) -> Result<Url, IndexError> {
        let mut u = Url::parse(url).map_err(|e| IndexError::Malformed {
            url: url.to_string(),
            why: format!("not a URL ({e})"),
        })?;
        if let Some(base) = &self.index {
            if base.origin() == u.origin() && !base.username().is_empty() {
                // Both fail only for URLs that cannot carry credentials; http(s) ones can.
                let _ = u.set_username(base.username());
                let _ = u.set_password(base.password());
            }
        }
        Ok(u)
    }

    /// GET with retries and backoff, each attempt bounded by the timeout.
    async fn get(&self, url: &Url, accept: &str) -> Result<Got, IndexError> {
        let shown = redact_url(url.as_str());
        let http = self.http.as_ref().map_err(|e| IndexError::Network {
            url: shown.clone(),
            why: format!("cannot set up HTTP: {}", error_chain(e)),
        })?;
        let mut attempt: u32 = 0;
        loop {
            let outcome =
                tokio::time::timeout(self.opts.timeout, self.attempt(http, url, accept, &shown))
                    .await;
            let failure = match outcome {
                Ok(Ok(got)) => return Ok(got),
                Ok(Err(f)) => f,
                Err(_) => Failure {
                    error: IndexError::Timeout {
                        url: shown.clone(),
                        after: self.opts.timeout,
                    },
                    retry: true,
                },
            };
            if !failure.retry || attempt >= self.opts.retries {
                return Err(failure.error);
            }
            let wait = BACKOFF.saturating_mul(1u32 << attempt.min(16));
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        http: &reqwest::Client,
        url: &Url,
        accept: &str,
        shown: &str,
    ) -> Result<Got, Failure> {
        let net = |e: reqwest::Error| {
            let error = if e.is_timeout() {
                IndexError::Timeout {
                    url: shown.to_string(),
                    after: self.opts.timeout,
                }
            } else {
                IndexError::Network {
                    url: shown.to_string(),
                    why: error_chain(&e),
                }
            };
            Failure {
                retry: e.is_connect() || e.is_timeout(),
                error,
            }
        };
        let mut resp = http
            .get(url.clone())
            .header(ACCEPT, accept)
            .header(USER_AGENT, concat!("compat/", env!("CARGO_PKG_VERSION")))
            .send()
            .await
            .map_err(net)?;
        let status = resp.status();
        let final_url = resp.url().clone();
        let final_shown = redact_url(final_url.as_str());
        if status.as_u16() == 404 || status.as_u16() == 410 {
            return Err(Failure {
                error: IndexError::NotFound { url: final_shown },
                retry: false,
            });
        }
        if !status.is_success() {
            return Err(Failure {
                error: IndexError::Status {
                    url: final_shown,
                    code: status.as_u16(),
                },
                retry: status.is_server_error(),
            });
        }
        let limit = self.opts.max_body;
        let too_large = || Failure {
            error: IndexError::TooLarge {
                url: final_shown.clone(),
                limit,
            },
            retry: false,
        };
        if resp
            .content_length()
            .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
        {
            return Err(too_large());
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(net)? {
            if body.len().saturating_add(chunk.len()) > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Got {
            url: final_url,
            content_type,
            body,
        })
    }
}

/// A reqwest error as one line: its own text (without the URL, which may hold a password; the
/// caller names the URL) and its causes.
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let top = match e.url() {
        Some(_) => {
            let text = e.to_string();
            // reqwest writes "… for url (…)": keep what comes before it.
            text.split(" for url (").next().unwrap_or(&text).to_string()
        }
        None => e.to_string(),
    };
    parts.push(top);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
