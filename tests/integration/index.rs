//! The package-index client against a real HTTP server on 127.0.0.1 that serves the fixture
//! responses in `fixtures/index/` (see its README), plus the failures a real index or proxy
//! produces: 404, 500, a slow answer, a page cut off, a body too large, a closed port.
//!
//! Each test starts its own server (port 0) and its own cache folder, and counts the requests the
//! server sees, so that "the second call made no request" is checked, not assumed. Nothing here
//! touches any network but 127.0.0.1.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use compat::index::{
    discover, Client, ClientOptions, FetchSource, IndexError, Project, ReleaseMetadata,
};
use compat::model::Vars;
use pep440_rs::Version;
use tiny_http::{Header, Response, Server};

/// What the test server saw.
#[derive(Default)]
struct Seen {
    hits: Mutex<HashMap<String, usize>>,
    authorization: Mutex<HashMap<String, String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

struct TestServer {
    server: Arc<Server>,
    port: u16,
    seen: Arc<Seen>,
}

impl TestServer {
    /// Starts a server; every answer waits `delay` first (to make concurrency visible).
    fn start(delay: Duration) -> TestServer {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let seen = Arc::new(Seen::default());
        let (srv, st) = (server.clone(), seen.clone());
        thread::spawn(move || {
            for request in srv.incoming_requests() {
                let st = st.clone();
                // One thread per request: a slow answer must not hold up the others.
                thread::spawn(move || {
                    let path = request.url().to_string();
                    *st.hits
                        .lock()
                        .expect("lock")
                        .entry(path.clone())
                        .or_default() += 1;
                    if let Some(h) = request
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("Authorization"))
                    {
                        st.authorization
                            .lock()
                            .expect("lock")
                            .insert(path.clone(), h.value.to_string());
                    }
                    let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    st.max_in_flight.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(delay);
                    st.in_flight.fetch_sub(1, Ordering::SeqCst);
                    // The client may have given up (timeouts): a failed write is expected.
                    let _ = route(&path, port, request);
                });
            }
        });
        TestServer { server, port, seen }
    }

    fn index_url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    fn hits(&self, path: &str) -> usize {
        self.seen
            .hits
            .lock()
            .expect("lock")
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    fn total_hits(&self) -> usize {
        self.seen.hits.lock().expect("lock").values().sum()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/index")
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

const JSON: &str = "application/vnd.pypi.simple.v1+json";

/// Sends `body` with a Content-Length (never chunked).
fn fixed(code: u16, content_type: &str, body: Vec<u8>) -> Response<Cursor<Vec<u8>>> {
    let len = body.len();
    Response::new(
        code.into(),
        vec![header("Content-Type", content_type)],
        Cursor::new(body),
        Some(len),
        None,
    )
    .with_chunked_threshold(usize::MAX)
}

fn route(path: &str, port: u16, request: tiny_http::Request) -> std::io::Result<()> {
    let not_found = || fixed(404, "text/plain", b"404 Not Found".to_vec());
    let response = match path {
        "/simple/missing/" => not_found(),
        "/simple/flaky/" => fixed(500, "text/html", b"<h1>Internal Server Error</h1>".to_vec()),
        "/simple/slow/" => {
            thread::sleep(Duration::from_millis(1000));
            fixed(
                200,
                JSON,
                b"{\"meta\":{\"api-version\":\"1.1\"},\"files\":[]}".to_vec(),
            )
        }
        "/simple/huge/" => fixed(200, JSON, huge_body()),
        "/simple/huge-chunked/" => {
            // No length: sent chunked, so only counting the bytes can stop it.
            let body = huge_body();
            let r = Response::new(
                200.into(),
                vec![header("Content-Type", JSON)],
                Cursor::new(body),
                None,
                None,
            );
            return request.respond(r);
        }
        _ => {
            let file = |rel: String| std::fs::read(fixtures().join(rel)).ok();
            let page = path
                .strip_prefix("/simple/")
                .and_then(|r| r.strip_suffix('/'));
            let metadata = path
                .strip_prefix("/packages/")
                .and_then(|r| r.rsplit('/').next())
                .filter(|f| f.ends_with(".metadata"));
            if let Some(name) = page {
                if let Some(body) = file(format!("simple/{name}.json")) {
                    let text =
                        String::from_utf8_lossy(&body).replace("{{port}}", &port.to_string());
                    fixed(200, JSON, text.into_bytes())
                } else if let Some(body) = file(format!("simple/{name}.html")) {
                    fixed(200, "text/html; charset=utf-8", body)
                } else {
                    not_found()
                }
            } else if let Some(f) = metadata {
                match file(format!("metadata/{f}")) {
                    Some(body) => fixed(200, "binary/octet-stream", body),
                    None => not_found(),
                }
            } else {
                not_found()
            }
        }
    };
    request.respond(response)
}

/// 100 KiB of valid-looking JSON, over the 64 KiB cap the size tests set.
fn huge_body() -> Vec<u8> {
    let mut s = String::from("{\"meta\":{\"api-version\":\"1.1\"},\"files\":[],\"pad\":\"");
    s.push_str(&"x".repeat(100 * 1024));
    s.push_str("\"}");
    s.into_bytes()
}

/// Options for a test: its own cache, short timeouts and backoff budget.
fn options(server: &TestServer, cache: &tempfile::TempDir) -> ClientOptions {
    ClientOptions {
        index_url: Some(server.index_url()),
        offline: false,
        cache_dir: cache.path().to_path_buf(),
        ttl: Duration::from_secs(3600),
        timeout: Duration::from_secs(5),
        retries: 2,
        max_body: 16 << 20,
        concurrency: 8,
    }
}

fn one(client: &Client, name: &str) -> Result<Project, IndexError> {
    let mut all = client.projects(&[name.to_string()]);
    assert_eq!(all.len(), 1);
    all.remove(0).1
}

fn v(s: &str) -> Version {
    s.parse().expect("a version")
}

fn versions(p: &Project) -> Vec<&str> {
    p.releases.iter().map(|r| r.version.as_str()).collect()
}

#[test]
fn json_page_gives_releases_yanks_and_prereleases() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(options(&server, &cache));
    let torch = one(&client, "torch").expect("torch page");
    assert_eq!(torch.name, "torch");
    assert_eq!(torch.source, FetchSource::Network);
    assert_eq!(torch.url, format!("{}torch/", server.index_url()));
    assert_eq!(
        versions(&torch),
        [
            "2.0.0",
            "2.3.1",
            "2.4.0",
            "2.4.1",
            "2.5.1",
            "2.6.0.dev20241112",
            "2.6.0rc1"
        ]
    );
    let r240 = torch.release(&v("2.4")).expect("2.4 is 2.4.0");
    assert_eq!(r240.files, 3);
    assert_eq!(
        r240.upload_time.as_deref(),
        Some("2024-07-24T18:23:01.922841Z"),
        "the earliest file's"
    );
    assert_eq!(r240.requires_python.as_deref(), Some(">=3.8.0"));
    assert!(!r240.yanked && !r240.prerelease);
    // Relative file URLs resolve against the page; the Linux x86_64 wheel speaks for the release.
    assert_eq!(
        r240.metadata_url.as_deref(),
        Some(
            format!(
                "http://127.0.0.1:{}/packages/torch/torch-2.4.0-cp311-cp311-manylinux1_x86_64.whl.metadata",
                server.port
            )
            .as_str()
        )
    );
    let yanked = torch.release(&v("2.4.1")).expect("2.4.1");
    assert!(yanked.yanked);
    assert_eq!(
        yanked.yanked_reason.as_deref(),
        Some("Linux wheels pin the wrong cuDNN; use 2.4.0 or 2.5.1")
    );
    let gone = torch.release(&v("2.0.0")).expect("listed in `versions`");
    assert_eq!(
        (gone.files, gone.yanked, gone.upload_time.as_deref()),
        (0, false, None)
    );
    assert!(torch.release(&v("2.6.0rc1")).is_some_and(|r| r.prerelease));
    assert_eq!(torch.latest().map(|r| r.version.as_str()), Some("2.5.1"));
    assert_eq!(
        torch.latest_any().map(|r| r.version.as_str()),
        Some("2.6.0rc1")
    );
    // The report form is plain JSON.
    let json = serde_json::to_value(&torch).expect("serializes");
    assert_eq!(json["source"]["kind"], "network");
}

#[test]
fn a_dev_only_project_has_no_final_release() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(options(&server, &cache));
    let p = one(&client, "SparseGPT").expect("sparsegpt page");
    assert_eq!(versions(&p), ["0.1.0.dev0"]);
    assert!(p.latest().is_none());
    let any = p.latest_any().expect("the dev release");
    assert!(any.prerelease);
    assert_eq!(
        any.upload_time.as_deref(),
        Some("2023-03-02T09:41:27.880421Z")
    );
    // An sdist without core metadata: a clear error, and no request.
    let before = server.total_hits();
    let err = client.metadata(&p, &v("0.1.0.dev0")).unwrap_err();
    assert_eq!(err.code(), "index-no-metadata");
    assert!(err.to_string().contains("sparsegpt"), "{err}");
    let err = client.metadata(&p, &v("9.9")).unwrap_err();
    assert!(matches!(err, IndexError::UnknownVersion { .. }), "{err}");
    assert_eq!(server.total_hits(), before);
}

#[test]
fn latest_skips_a_yanked_newest_release() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(options(&server, &cache));
    let p = one(&client, "bitsandbytes").expect("bitsandbytes page");
    let newest = p.releases.last().expect("releases");
    assert_eq!(newest.version, "0.44.1");
    assert!(newest.yanked);
    assert_eq!(
        newest.yanked_reason.as_deref(),
        Some("libbitsandbytes_cuda124.so missing from the Linux wheel")
    );
    assert_eq!(p.latest().map(|r| r.version.as_str()), Some("0.44.0"));
    assert_eq!(p.latest_any().map(|r| r.version.as_str()), Some("0.44.0"));
    // Absolute file URLs are used as they are.
    let md = client.metadata(&p, &v("0.44.0")).expect("metadata");
    assert_eq!(md.requires_dist[..2], ["torch", "numpy"]);
    assert_eq!(md.requires_python, None);
}

#[test]
fn html_page_from_an_index_without_json() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(options(&server, &cache));
    let p = one(&client, "peft").expect("peft page");
    assert_eq!(versions(&p), ["0.11.1", "0.12.0"]);
    let r = p.release(&v("0.12.0")).expect("0.12.0");
    assert_eq!((r.files, r.upload_time.as_deref()), (2, None));
    assert_eq!(r.requires_python.as_deref(), Some(">=3.8.0"));
    let md = client.metadata(&p, &v("0.12.0")).expect("metadata");
    assert!(md.requires_dist.iter().any(|d| d == "torch>=1.13.0"));
}

#[test]
fn metadata_from_the_pep658_file_then_from_the_cache() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(options(&server, &cache));
    let torch = one(&client, "torch").expect("torch page");
    let md: ReleaseMetadata = client.metadata(&torch, &v("2.4.0")).expect("metadata");
    assert_eq!(md.source, FetchSource::Network);
    assert_eq!(md.requires_python.as_deref(), Some(">=3.8.0"));
    assert!(md.requires_dist.iter().any(|d| d
        == "nvidia-cudnn-cu12==9.1.0.70; platform_system == \"Linux\" and platform_machine == \"x86_64\""));
    assert!(md
        .requires_dist
        .iter()
        .any(|d| d == "optree>=0.11.0; extra == \"optree\""));
    assert_eq!(
        md.requires_dist.len(),
        20,
        "the description body is not read"
    );
    let path = "/packages/torch/torch-2.4.0-cp311-cp311-manylinux1_x86_64.whl.metadata";
    assert_eq!(server.hits(path), 1);
    let again = client.metadata(&torch, &v("2.4.0")).expect("metadata");
    assert!(matches!(again.source, FetchSource::Cache { .. }));
    assert_eq!(again.requires_dist, md.requires_dist);
    assert_eq!(
        server.hits(path),
        1,
        "metadata never changes: no second request"
    );
}

#[test]
fn not_found_is_reported_without_retries() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(options(&server, &cache));
    let err = one(&client, "missing").unwrap_err();
    let url = format!("{}missing/", server.index_url());
    assert_eq!(err, IndexError::NotFound { url: url.clone() });
    assert_eq!(
        err.to_string(),
        format!("`{url}` was not found on the index (HTTP 404)")
    );
    assert_eq!(server.hits("/simple/missing/"), 1);
}

#[test]
fn server_error_is_retried_then_reported() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(options(&server, &cache));
    let started = Instant::now();
    let err = one(&client, "flaky").unwrap_err();
    assert!(
        matches!(&err, IndexError::Status { code: 500, url } if url.ends_with("/simple/flaky/")),
        "{err}"
    );
    assert_eq!(
        server.hits("/simple/flaky/"),
        3,
        "one attempt and two retries"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "backoff 200 ms then 400 ms"
    );
}

#[test]
fn slow_response_times_out() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(ClientOptions {
        timeout: Duration::from_millis(300),
        retries: 1,
        ..options(&server, &cache)
    });
    let started = Instant::now();
    let err = one(&client, "slow").unwrap_err();
    assert!(matches!(err, IndexError::Timeout { .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with("/simple/slow/` did not answer within 300 ms"),
        "{err}"
    );
    assert_eq!(server.hits("/simple/slow/"), 2, "a timeout is retried");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn malformed_json_is_reported() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(options(&server, &cache));
    let err = one(&client, "broken").unwrap_err();
    let IndexError::Malformed { url, why } = &err else {
        panic!("expected Malformed, got {err}");
    };
    assert!(url.ends_with("/simple/broken/"));
    assert!(why.contains("not Simple API JSON"), "{why}");
    assert_eq!(
        server.hits("/simple/broken/"),
        1,
        "a bad page is not retried"
    );
    // Nor cached: the next call asks again.
    let _ = one(&client, "broken");
    assert_eq!(server.hits("/simple/broken/"), 2);
}

#[test]
fn oversized_body_is_refused_by_its_length() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(ClientOptions {
        max_body: 64 * 1024,
        ..options(&server, &cache)
    });
    let err = one(&client, "huge").unwrap_err();
    assert!(
        matches!(err, IndexError::TooLarge { limit: 65536, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("more than 65536 bytes"), "{err}");
}

#[test]
fn oversized_body_is_refused_while_streaming() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(ClientOptions {
        max_body: 64 * 1024,
        ..options(&server, &cache)
    });
    let err = one(&client, "huge-chunked").unwrap_err();
    assert!(matches!(err, IndexError::TooLarge { .. }), "{err}");
}

#[test]
fn second_call_uses_the_cache() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(options(&server, &cache));
    let first = one(&client, "torch").expect("torch");
    // A new client on the same folder: the cache is on disk, not in memory.
    let client = Client::new(options(&server, &cache));
    let second = one(&client, "torch").expect("torch");
    assert_eq!(server.hits("/simple/torch/"), 1);
    assert!(matches!(second.source, FetchSource::Cache { age_s } if age_s < 60));
    assert_eq!(second.releases, first.releases);
}

#[test]
fn expired_cache_is_fetched_again() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(ClientOptions {
        ttl: Duration::ZERO,
        ..options(&server, &cache)
    });
    one(&client, "torch").expect("torch");
    let again = one(&client, "torch").expect("torch");
    assert_eq!(again.source, FetchSource::Network);
    assert_eq!(server.hits("/simple/torch/"), 2);
}

#[test]
fn offline_uses_the_cache_at_any_age_and_fails_cleanly() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let online = Client::new(options(&server, &cache));
    let torch = one(&online, "torch").expect("torch");
    online.metadata(&torch, &v("2.4.0")).expect("metadata");
    let before = server.total_hits();
    let offline = Client::new(ClientOptions {
        offline: true,
        ttl: Duration::ZERO,
        ..options(&server, &cache)
    });
    let cached = one(&offline, "torch").expect("from the cache");
    assert!(matches!(cached.source, FetchSource::Cache { .. }));
    assert_eq!(cached.releases, torch.releases);
    let md = offline
        .metadata(&cached, &v("2.4.0"))
        .expect("cached metadata");
    assert!(matches!(md.source, FetchSource::Cache { .. }));
    let err = one(&offline, "peft").unwrap_err();
    assert_eq!(
        err,
        IndexError::NotInCache {
            name: "peft".into()
        }
    );
    assert!(err.to_string().contains("--offline"), "{err}");
    let err = offline.metadata(&cached, &v("2.5.1")).unwrap_err();
    assert_eq!(err.code(), "index-not-in-cache");
    assert_eq!(
        server.total_hits(),
        before,
        "offline never asks the network"
    );
}

#[test]
fn no_index_configured_reads_any_cached_index() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    one(&Client::new(options(&server, &cache)), "torch").expect("torch");
    let none = Client::new(ClientOptions {
        index_url: None,
        ..options(&server, &cache)
    });
    let got = none.projects(&["torch".into(), "peft".into()]);
    assert!(got[0].1.as_ref().is_ok_and(|p| p.latest().is_some()));
    let err = got[1].1.as_ref().unwrap_err();
    assert_eq!(err.code(), "index-offline");
    assert!(err.to_string().contains("working offline"), "{err}");
}

#[test]
fn closed_port_is_a_network_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(ClientOptions {
        index_url: Some(format!("http://127.0.0.1:{port}/simple")),
        retries: 1,
        ..ClientOptions::new(cache.path().to_path_buf())
    });
    let err = one(&client, "torch").unwrap_err();
    let IndexError::Network { url, why } = &err else {
        panic!("expected Network, got {err}");
    };
    assert_eq!(url, &format!("http://127.0.0.1:{port}/simple/torch/"));
    assert!(!why.is_empty());
}

#[test]
fn many_projects_at_once_keep_their_order() {
    let server = TestServer::start(Duration::from_millis(250));
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(ClientOptions {
        concurrency: 3,
        ..options(&server, &cache)
    });
    let names: Vec<String> = [
        "torch",
        "missing",
        "sparsegpt",
        "broken",
        "bitsandbytes",
        "peft",
        "Torch",
        "bad/name",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let started = Instant::now();
    let got = client.projects(&names);
    let elapsed = started.elapsed();
    let asked: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(asked, names.iter().map(String::as_str).collect::<Vec<_>>());
    let codes: Vec<&str> = got
        .iter()
        .map(|(_, r)| match r {
            Ok(_) => "ok",
            Err(e) => e.code(),
        })
        .collect();
    assert_eq!(
        codes,
        [
            "ok",
            "index-not-found",
            "ok",
            "index-malformed",
            "ok",
            "ok",
            "ok",
            "index-invalid-name"
        ]
    );
    assert_eq!(
        server.hits("/simple/torch/"),
        1,
        "`Torch` is `torch`: asked once"
    );
    let max = server.seen.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&max),
        "at most 3 at once, and more than 1: {max}"
    );
    // Six requests of 250 ms each, three at a time: about 500 ms, not 1.5 s.
    assert!(elapsed < Duration::from_millis(1200), "{elapsed:?}");
}

#[test]
fn password_is_hidden_in_results_but_sent_to_the_index() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(ClientOptions {
        index_url: Some(format!(
            "http://me:s3cret@127.0.0.1:{}/simple/",
            server.port
        )),
        ..options(&server, &cache)
    });
    let torch = one(&client, "torch").expect("torch");
    let json = serde_json::to_string(&torch).expect("serializes");
    assert!(!json.contains("s3cret"), "{json}");
    assert!(torch.url.ends_with("/simple/torch/"), "{}", torch.url);
    client
        .metadata(&torch, &v("2.4.0"))
        .expect("metadata with the credentials put back");
    let auth = server.seen.authorization.lock().expect("lock").clone();
    let basic = "Basic bWU6czNjcmV0"; // base64("me:s3cret")
    assert_eq!(auth.get("/simple/torch/").map(String::as_str), Some(basic));
    assert_eq!(
        auth.get("/packages/torch/torch-2.4.0-cp311-cp311-manylinux1_x86_64.whl.metadata")
            .map(String::as_str),
        Some(basic)
    );
    let err = one(&client, "missing").unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[test]
fn discover_walks_the_flag_the_variables_and_pip_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("pip.conf");
    std::fs::write(
        &conf,
        "[global]\ntimeout = 60\n\n[install]\nindex-url = http://127.0.0.1:9/from-file/simple/\n",
    )
    .expect("write");
    let conf_text = conf.display().to_string();
    let home = dir.path().display().to_string();
    let env = |extra: &'static [(&'static str, &'static str)]| {
        Vars::from_pairs(extra.iter().copied())
            .with("PIP_CONFIG_FILE", conf_text.clone())
            .with("HOME", home.clone())
    };
    let flag = "http://127.0.0.1:9/flag/simple/";
    let c = discover(
        Some(flag),
        &env(&[("COMPAT_INDEX_URL", "http://127.0.0.1:9/c/")]),
        None,
    );
    assert_eq!(
        (c.url.as_deref(), c.source.as_str()),
        (Some(flag), "--index-url")
    );
    let vars = env(&[
        ("COMPAT_INDEX_URL", ""),
        ("PIP_INDEX_URL", "http://127.0.0.1:9/pip-env/"),
    ]);
    let c = discover(None, &vars, None);
    assert_eq!(
        c.source, "PIP_INDEX_URL",
        "an empty variable counts as unset"
    );
    let c = discover(None, &env(&[]), None);
    assert_eq!(
        c.url.as_deref(),
        Some("http://127.0.0.1:9/from-file/simple/")
    );
    assert_eq!(c.source, format!("pip config file {conf_text}"));
    assert!(c.note.is_none());
    // With pip's files turned off and no interpreter to ask: offline, and the note says why.
    let off = Vars::from_pairs([("PIP_CONFIG_FILE", "/dev/null")]);
    let c = discover(None, &off, None);
    assert_eq!((c.url.as_deref(), c.source.as_str()), (None, "none"));
    let note = c.note.unwrap_or_default();
    assert!(
        note.contains("working offline") && note.contains("/dev/null"),
        "{note}"
    );
}

#[test]
fn works_when_called_from_inside_a_tokio_runtime() {
    let server = TestServer::start(Duration::ZERO);
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(options(&server, &cache));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let got = rt.block_on(async { one(&client, "torch") });
    assert!(got.is_ok_and(|p| p.latest().is_some()));
}
