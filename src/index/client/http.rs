//! The transport: one GET with retries and backoff, each attempt bounded by the request's own
//! timeout and the call's deadline, at most `concurrency` at once, its body capped; a failure
//! classified into its real kind (timeout, redirect loop, refused, TLS, network).

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_RANGE, CONTENT_TYPE, RANGE, USER_AGENT};
use reqwest::Url;
use tokio::time::Instant;

use super::{Inner, BACKOFF};
use crate::index::{redact_url, IndexError};

/// A response that passed the status and size checks.
pub(super) struct Got {
    /// After redirects.
    pub(super) url: Url,
    pub(super) status: u16,
    pub(super) content_type: Option<String>,
    pub(super) content_range: Option<String>,
    pub(super) body: Vec<u8>,
}

/// One attempt's failure, and whether another attempt may succeed.
pub(super) struct Failure {
    pub(super) error: IndexError,
    pub(super) retry: bool,
}

/// One GET: what to accept, an optional `Range`, and the body cap.
pub(super) struct Request<'a> {
    pub(super) accept: &'a str,
    pub(super) range: Option<String>,
    pub(super) limit: usize,
}

/// `bytes START-END/TOTAL` → `(START, TOTAL)`.
pub(super) fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = rest.split_once('/')?;
    let (start, _) = span.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()?))
}

impl Inner {
    /// `url` with an index's user and password put back when it is on that index's origin
    /// (URLs in reports carry `****` in their place); other hosts never see them.
    pub(super) fn with_credentials(&self, url: &str) -> Result<Url, IndexError> {
        let mut u = Url::parse(url).map_err(|e| IndexError::Malformed {
            url: url.to_string(),
            why: format!("not a URL ({e})"),
        })?;
        if let Some(base) = self
            .indexes
            .iter()
            .find(|b| b.origin() == u.origin() && !b.username().is_empty())
        {
            // Both fail only for URLs that cannot carry credentials; http(s) ones can.
            let _ = u.set_username(base.username());
            let _ = u.set_password(base.password());
        }
        Ok(u)
    }

    /// GET with retries and backoff, each attempt bounded by the timeout and the deadline, at
    /// most `concurrency` at once.
    pub(super) async fn get(
        &self,
        url: &Url,
        req: &Request<'_>,
        deadline: Instant,
    ) -> Result<Got, IndexError> {
        let shown = redact_url(url.as_str());
        let http = self.http.as_ref().map_err(|e| IndexError::Network {
            url: shown.clone(),
            why: format!("cannot set up HTTP: {}", error_chain(e)),
        })?;
        let past_deadline = || IndexError::Deadline {
            url: shown.clone(),
            after: self.opts.deadline,
        };
        let mut attempt: u32 = 0;
        loop {
            let failure = {
                let _permit = self.permits.acquire().await.map_err(|_| past_deadline())?;
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(past_deadline());
                }
                let limit = self.opts.timeout.min(left);
                let outcome =
                    tokio::time::timeout(limit, self.attempt(http, url, req, &shown)).await;
                match outcome {
                    Ok(Ok(got)) => return Ok(got),
                    Ok(Err(f)) => f,
                    Err(_) if limit < self.opts.timeout => return Err(past_deadline()),
                    Err(_) => Failure {
                        error: IndexError::Timeout {
                            url: shown.clone(),
                            after: self.opts.timeout,
                        },
                        retry: true,
                    },
                }
            };
            if !failure.retry || attempt >= self.opts.retries {
                return Err(failure.error);
            }
            let wait = BACKOFF.saturating_mul(1u32 << attempt.min(16));
            if Instant::now() + wait >= deadline {
                return Err(failure.error);
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        http: &reqwest::Client,
        url: &Url,
        req: &Request<'_>,
        shown: &str,
    ) -> Result<Got, Failure> {
        let net = |e: reqwest::Error| classify(&e, shown, self.opts.timeout);
        let mut builder = http
            .get(url.clone())
            .header(ACCEPT, req.accept)
            .header(USER_AGENT, concat!("compat/", env!("CARGO_PKG_VERSION")));
        if let Some(r) = &req.range {
            builder = builder.header(RANGE, r);
        }
        let mut resp = builder.send().await.map_err(net)?;
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
        let limit = req.limit;
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
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(CONTENT_TYPE);
        let content_range = header(CONTENT_RANGE);
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(net)? {
            if body.len().saturating_add(chunk.len()) > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Got {
            url: final_url,
            status: status.as_u16(),
            content_type,
            content_range,
            body,
        })
    }
}

/// The error kind of a failed request: timeout, redirect loop, refused, TLS, else network.
fn classify(e: &reqwest::Error, shown: &str, after: Duration) -> Failure {
    let why = error_chain(e);
    let url = shown.to_string();
    let refused = {
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
        let mut found = false;
        while let Some(s) = source {
            if s.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
            {
                found = true;
            }
            source = s.source();
        }
        found || why.contains("Connection refused")
    };
    let lower = why.to_ascii_lowercase();
    let (error, retry) = if e.is_timeout() {
        (IndexError::Timeout { url, after }, true)
    } else if e.is_redirect() {
        (IndexError::RedirectLoop { url, why }, false)
    } else if refused {
        (IndexError::Refused { url }, false)
    } else if ["tls", "ssl", "certificate", "handshake"]
        .iter()
        .any(|w| lower.contains(w))
    {
        (IndexError::Tls { url, why }, false)
    } else {
        (IndexError::Network { url, why }, e.is_connect())
    };
    Failure { error, retry }
}

/// A reqwest error as one line: its own text (without the URL, which may hold a password; the
/// caller names the URL) and its causes.
pub(super) fn error_chain(e: &reqwest::Error) -> String {
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
