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
    discover, Client, ClientOptions, FetchSource, IndexError, Project, ReleaseMetadata, Target,
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
        timeout: Duration::from_secs(5),
        progress: false,
        ..ClientOptions::new(cache.path().to_path_buf())
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
    assert_eq!(
        client.metadata(&torch, &v("2.4.0")),
        Ok(md.clone()),
        "remembered"
    );
    let again = Client::new(options(&server, &cache))
        .metadata(&torch, &v("2.4.0"))
        .expect("metadata");
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
    // Nor cached: the next run (a new client) asks again.
    let _ = one(&Client::new(options(&server, &cache)), "broken");
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
    // One client asks once per run; the next run finds the cache expired.
    let again = one(
        &Client::new(ClientOptions {
            ttl: Duration::ZERO,
            ..options(&server, &cache)
        }),
        "torch",
    )
    .expect("torch");
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
    let IndexError::Refused { url } = &err else {
        panic!("expected Refused, got {err}");
    };
    assert_eq!(url, &format!("http://127.0.0.1:{port}/simple/torch/"));
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
    let none = Target::default();
    let flag = "http://127.0.0.1:9/flag/simple/";
    let c = discover(
        Some(flag),
        &env(&[("COMPAT_INDEX_URL", "http://127.0.0.1:9/c/")]),
        &none,
    )
    .expect("ok");
    assert_eq!(
        (c.url.as_deref(), c.source.as_str()),
        (Some(flag), "--index-url")
    );
    let vars = env(&[
        ("COMPAT_INDEX_URL", ""),
        ("PIP_INDEX_URL", "http://127.0.0.1:9/pip-env/"),
    ]);
    let c = discover(None, &vars, &none).expect("ok");
    assert_eq!(
        c.source, "PIP_INDEX_URL",
        "an empty variable counts as unset"
    );
    let c = discover(None, &env(&[]), &none).expect("ok");
    assert_eq!(
        c.url.as_deref(),
        Some("http://127.0.0.1:9/from-file/simple/")
    );
    assert_eq!(c.source, format!("{conf_text}:5 ([install] index-url)"));
    assert!(c.note.is_none());
    // With pip's files turned off and no pip to read a default from: offline, and why.
    let off = Vars::from_pairs([("PIP_CONFIG_FILE", "/dev/null")]);
    let c = discover(None, &off, &none).expect("ok");
    assert_eq!((c.url.as_deref(), c.source.as_str()), (None, "none"));
    let note = c.note.unwrap_or_default();
    assert!(
        note.contains("/dev/null") && note.contains("no installed pip"),
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

// ---------------------------------------------------------------------------------------------
// An index without PEP 658 files, failures of every kind, and discovery through the binary.

/// A request as the handler sees it: the path and the `Range` header.
struct Asked {
    path: String,
    range: Option<String>,
}

/// One request seen: its path and its `Range` header.
type Logged = (String, Option<String>);

type Handler = dyn Fn(&Asked) -> Response<Box<dyn std::io::Read + Send>> + Send + Sync;

/// A server on 127.0.0.1 that answers each connection on its own thread with `handler`, and
/// records every request (path and Range
/// header). Its own accept loop rather than tiny_http's: tiny_http hands connections to a pool
/// of threads, and a connection queued behind the stalls this module makes (a response that
/// hangs or drips) waited past the client's timeout, which made the timing tests flaky.
struct Serve {
    port: u16,
    log: Arc<Mutex<Vec<Logged>>>,
}

impl Serve {
    fn start(handler: Arc<Handler>) -> Serve {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("an address").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lg = log.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (h, lg) = (handler.clone(), lg.clone());
                thread::spawn(move || serve_connection(stream, &*h, &lg));
            }
        });
        Serve { port, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self, prefix: &str) -> Vec<Logged> {
        let log = self.log.lock().expect("lock");
        log.iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .cloned()
            .collect()
    }
}

/// Answers the requests of one connection, one after another (keep-alive), with `handler`,
/// until the client closes it.
fn serve_connection(mut stream: std::net::TcpStream, handler: &Handler, log: &Mutex<Vec<Logged>>) {
    use std::io::Read;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
            if pending.len() > 1 << 16 {
                return;
            }
        };
        let head: Vec<u8> = pending.drain(..end).collect();
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut lines = text.split("\r\n");
        let path = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or("/")
            .to_string();
        let range = lines.take_while(|l| !l.is_empty()).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("range")
                .then(|| v.trim().to_string())
        });
        let asked = Asked { path, range };
        log.lock()
            .expect("lock")
            .push((asked.path.clone(), asked.range.clone()));
        let response = handler(&asked);
        if response
            .raw_print(&mut stream, tiny_http::HTTPVersion(1, 1), &[], false, None)
            .is_err()
        {
            return;
        }
    }
}

fn boxed(
    code: u16,
    headers: Vec<Header>,
    body: Vec<u8>,
) -> Response<Box<dyn std::io::Read + Send>> {
    let len = body.len();
    Response::new(
        code.into(),
        headers,
        Box::new(Cursor::new(body)) as Box<dyn std::io::Read + Send>,
        Some(len),
        None,
    )
    .with_chunked_threshold(usize::MAX)
}

/// Answers a `Range: bytes=…` request on `bytes` as a static file server does (206 with
/// Content-Range), or the whole file (200) when there is no Range or `honour` is false.
fn ranged(
    bytes: &[u8],
    range: Option<&str>,
    honour: bool,
) -> Response<Box<dyn std::io::Read + Send>> {
    let len = bytes.len() as u64;
    let span = range
        .filter(|_| honour)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| {
            let (a, b) = r.split_once('-')?;
            if a.is_empty() {
                let n: u64 = b.parse().ok()?;
                Some((len.saturating_sub(n), len - 1))
            } else {
                let a: u64 = a.parse().ok()?;
                let b: u64 = if b.is_empty() {
                    len - 1
                } else {
                    b.parse().ok()?
                };
                Some((a, b.min(len - 1)))
            }
        });
    match span {
        Some((a, b)) => boxed(
            206,
            vec![header("Content-Range", &format!("bytes {a}-{b}/{len}"))],
            bytes[a as usize..=b as usize].to_vec(),
        ),
        None => boxed(200, vec![], bytes.to_vec()),
    }
}

/// A real wheel: `filler` bytes of incompressible data stored first (so that reading METADATA
/// by range requests is visibly cheaper than the whole file), then the dist-info.
fn build_wheel(name: &str, requires: &[&str], filler: usize) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file(format!("{name}/_data.bin"), stored)
        .expect("start");
    let mut x: u32 = 12345;
    let data: Vec<u8> = (0..filler)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    w.write_all(&data).expect("write");
    w.start_file(format!("{name}/__init__.py"), deflated)
        .expect("start");
    w.write_all(b"__version__ = '1.0'\n").expect("write");
    let mut md =
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\nRequires-Python: >=3.9\n");
    for r in requires {
        md.push_str(&format!("Requires-Dist: {r}\n"));
    }
    md.push('\n');
    w.start_file(format!("{name}-1.0.dist-info/METADATA"), deflated)
        .expect("start");
    w.write_all(md.as_bytes()).expect("write");
    w.start_file(format!("{name}-1.0.dist-info/WHEEL"), deflated)
        .expect("start");
    w.write_all(b"Wheel-Version: 1.0\nTag: py3-none-any\n")
        .expect("write");
    // A RECORD big enough that METADATA is not in the last 64 KiB: its own range request.
    w.start_file(format!("{name}-1.0.dist-info/RECORD"), stored)
        .expect("start");
    w.write_all(&data[..data.len().min(128 << 10)])
        .expect("write");
    w.finish().expect("finish").into_inner()
}

/// A PEP 503 HTML index without PEP 658 files: `okpkg` (Range honoured), `nrpkg` (Range ignored),
/// plus the failures: `hang`, `drip`, `e500`, `loop`, and 404 for anything else.
fn no_pep658_index() -> (Serve, usize) {
    let ok = Arc::new(build_wheel("okpkg", &["numpy>=1.21", "tqdm"], 2 << 20));
    let nr = Arc::new(build_wheel("nrpkg", &["packaging"], 64 << 10));
    let size = ok.len();
    let handler: Arc<Handler> = Arc::new(move |a: &Asked| {
        let page = |file: &str| {
            boxed(
                200,
                vec![header("Content-Type", "text/html")],
                format!(
                    "<!DOCTYPE html><html><body><a href=\"/files/{file}#sha256=00\" data-requires-python=\"&gt;=3.9\">{file}</a></body></html>"
                )
                .into_bytes(),
            )
        };
        match a.path.as_str() {
            "/simple/okpkg/" => page("okpkg-1.0-py3-none-any.whl"),
            "/simple/nrpkg/" => page("nrpkg-1.0-py3-none-any.whl"),
            "/files/okpkg-1.0-py3-none-any.whl" => ranged(&ok, a.range.as_deref(), true),
            "/files/nrpkg-1.0-py3-none-any.whl" => ranged(&nr, a.range.as_deref(), false),
            "/simple/hang/" => {
                thread::sleep(Duration::from_secs(8));
                boxed(200, vec![], Vec::new())
            }
            "/simple/drip/" => {
                struct Drip(usize);
                impl std::io::Read for Drip {
                    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                        if self.0 == 0 || buf.is_empty() {
                            return Ok(0);
                        }
                        thread::sleep(Duration::from_millis(100));
                        self.0 -= 1;
                        buf[0] = b' ';
                        Ok(1)
                    }
                }
                Response::new(
                    200.into(),
                    vec![header("Content-Type", "text/html")],
                    Box::new(Drip(80)) as Box<dyn std::io::Read + Send>,
                    Some(80),
                    None,
                )
                .with_chunked_threshold(usize::MAX)
            }
            "/simple/e500/" => boxed(500, vec![], b"oops".to_vec()),
            "/simple/loop/" => boxed(302, vec![header("Location", "/simple/loop/")], Vec::new()),
            _ => boxed(404, vec![], b"not found".to_vec()),
        }
    });
    (Serve::start(handler), size)
}

fn quiet(index: String, cache: &tempfile::TempDir) -> ClientOptions {
    ClientOptions {
        index_url: Some(index),
        progress: false,
        ..ClientOptions::new(cache.path().to_path_buf())
    }
}

#[test]
fn metadata_from_wheels_by_range_requests_and_by_a_bounded_download() {
    let (server, size) = no_pep658_index();
    let cache = tempfile::tempdir().expect("tempdir");
    let client = Client::new(quiet(server.url("/simple/"), &cache));
    let wanted: Vec<(String, String)> = [("okpkg", "1.0"), ("NRPkg", "1.0"), ("okpkg", "1.0")]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let got = client.planned_metadata(&wanted);
    let ok = got[0].as_ref().expect("okpkg's METADATA by range requests");
    assert_eq!(ok.requires_dist, ["numpy>=1.21", "tqdm"]);
    assert_eq!(ok.requires_python.as_deref(), Some(">=3.9"));
    assert_eq!(ok.source, FetchSource::Network);
    let nr = got[1]
        .as_ref()
        .expect("nrpkg's METADATA from the whole file");
    assert_eq!(nr.requires_dist, ["packaging"]);
    assert_eq!(got[2], got[0]);
    // Range requests only, far fewer bytes than the wheel: the tail, then the entry.
    let asked = server.requests("/files/okpkg");
    assert!(
        asked.len() == 2 && asked.iter().all(|(_, r)| r.is_some()),
        "{asked:?}"
    );
    assert_eq!(asked[0].1.as_deref(), Some("bytes=-65536"));
    let fetched: u64 = asked
        .iter()
        .skip(1)
        .filter_map(|(_, r)| {
            let (a, b) = r.as_deref()?.strip_prefix("bytes=")?.split_once('-')?;
            Some(b.parse::<u64>().ok()? - a.parse::<u64>().ok()? + 1)
        })
        .sum::<u64>()
        + 65536;
    assert!(fetched < size as u64 / 4, "{fetched} of {size} bytes");
    assert_eq!(
        server.requests("/files/nrpkg").len(),
        1,
        "one full download"
    );
    // A new client (a new run) reads both from the cache: no request at all.
    let before = server.requests("/").len();
    let again = Client::new(quiet(server.url("/simple/"), &cache));
    let got = again.planned_metadata(&wanted[..2]);
    assert!(got
        .iter()
        .all(|r| matches!(r, Ok(md) if matches!(md.source, FetchSource::Cache { .. }))));
    assert_eq!(
        server.requests("/").len(),
        before,
        "pages and metadata both come from the cache"
    );
}

#[test]
fn each_failure_has_its_own_kind_all_within_one_deadline() {
    let (server, _) = no_pep658_index();
    let cache = tempfile::tempdir().expect("tempdir");
    let refused_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let client = Client::new(ClientOptions {
        timeout: Duration::from_secs(2),
        deadline: Duration::from_secs(8),
        retries: 0,
        ..quiet(server.url("/simple/"), &cache)
    });
    let names: Vec<String> = ["hang", "drip", "e500", "loop", "missing", "okpkg", "Hang"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let started = Instant::now();
    let got = client.projects(&names);
    let elapsed = started.elapsed();
    let codes: Vec<&str> = got
        .iter()
        .map(|(_, r)| r.as_ref().map_or_else(|e| e.code(), |_| "ok"))
        .collect();
    assert_eq!(
        codes,
        [
            "index-timeout",
            "index-timeout",
            "index-status",
            "index-redirect-loop",
            "index-not-found",
            "ok",
            "index-timeout"
        ]
    );
    // Two stalls of 2 s each, side by side: under their 4 s sum.
    assert!(elapsed < Duration::from_millis(3600), "{elapsed:?}");
    let e500 = got[2].1.as_ref().unwrap_err().to_string();
    assert!(e500.contains("HTTP status 500"), "{e500}");
    // Remembered for the run: asking again makes no request and takes no time.
    let before = server.requests("/").len();
    let started = Instant::now();
    let again = client.projects(&names[..2]);
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(server.requests("/").len(), before);
    assert_eq!(again[0].1, got[0].1);
    // The overall deadline ends what the per-request timeout would not.
    let client = Client::new(ClientOptions {
        timeout: Duration::from_secs(20),
        deadline: Duration::from_millis(800),
        ..quiet(server.url("/simple/"), &cache)
    });
    let started = Instant::now();
    let got = client.projects(&["hang".to_string(), "drip".to_string()]);
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "{:?}",
        started.elapsed()
    );
    for (_, r) in &got {
        assert_eq!(r.as_ref().map(|_| ()).unwrap_err().code(), "index-deadline");
    }
    // TLS to a server that answers in plain text: the handshake fails, and says so.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let plain_port = plain.local_addr().expect("addr").port();
    thread::spawn(move || {
        for stream in plain.incoming().flatten() {
            use std::io::Write;
            let mut stream = stream;
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let client = Client::new(ClientOptions {
        retries: 0,
        ..quiet(format!("https://127.0.0.1:{plain_port}/simple/"), &cache)
    });
    let got = client.projects(&["okpkg".to_string()]);
    assert_eq!(
        got[0].1.as_ref().unwrap_err().code(),
        "index-tls",
        "{:?}",
        got[0].1
    );
    // Nothing listening: refused, at once.
    let client = Client::new(quiet(
        format!("http://127.0.0.1:{refused_port}/simple/"),
        &cache,
    ));
    let started = Instant::now();
    let got = client.projects(&["okpkg".to_string()]);
    assert_eq!(got[0].1.as_ref().unwrap_err().code(), "index-refused");
    assert!(started.elapsed() < Duration::from_secs(2));
}

// ---------------------------------------------------------------------------------------------
// Through the binary: index discovery in a temporary HOME, nothing of pip run.

/// A fake virtual environment with a pip whose `models/index.py` names `default_index` (as the
/// real one names its registry); no interpreter at all, so nothing could run.
fn fake_venv(root: &std::path::Path, default_index: Option<&str>, uv: bool) -> PathBuf {
    let venv = root.join("venv");
    let site = venv.join("lib/python3.11/site-packages");
    std::fs::create_dir_all(&site).expect("mkdir");
    let mut cfg = String::from(
        "home = /nonexistent/bin\ninclude-system-site-packages = false\nversion = 3.11.7\n",
    );
    if uv {
        cfg.push_str("uv = 0.5.0\n");
    }
    std::fs::write(venv.join("pyvenv.cfg"), cfg).expect("write");
    if let Some(url) = default_index {
        let models = site.join("pip/_internal/models");
        std::fs::create_dir_all(&models).expect("mkdir");
        std::fs::write(
            models.join("index.py"),
            format!("from urllib import parse as urllib_parse\n\n\nclass PackageIndex:\n    pass\n\n\nPyPI = PackageIndex(\"{url}\", file_storage_domain=\"127.0.0.1\")\n"),
        )
        .expect("write");
    }
    venv
}

/// `compat risk --format json --offline` in `home` (HOME, XDG_CONFIG_HOME unset so the default
/// applies, XDG_CONFIG_DIRS inside it), every PIP_* / UV_* variable of this process removed,
/// `vars` set, run in `cwd`: the exit code, the JSON (or null) and stderr.
fn risk_in(
    home: &std::path::Path,
    cwd: &std::path::Path,
    venv: &std::path::Path,
    vars: &[(&str, &str)],
    args: &[&str],
) -> (i32, serde_json::Value, String) {
    let mut c = crate::util::compat();
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("PIP_")
            || k.starts_with("UV_")
            || k.starts_with("XDG_")
            || k == "COMPAT_INDEX_URL"
        {
            c.env_remove(&k);
        }
    }
    c.env("HOME", home)
        .env("XDG_CONFIG_DIRS", home.join("xdg"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .current_dir(cwd);
    for (k, v) in vars {
        c.env(k, v);
    }
    let h100 = crate::util::fixture("hosts/h100-550.toml");
    let out = c
        .args(["risk", "--format", "json", "--host"])
        .arg(h100)
        .arg("--python")
        .arg(venv)
        .args(args)
        .output()
        .expect("compat runs");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn risk_with_nothing_configured_uses_pips_builtin_default() {
    let srv = TestServer::start(Duration::ZERO);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let base = format!("http://127.0.0.1:{}/", srv.port);
    let venv = fake_venv(dir.path(), Some(&base), false);
    let (code, r, err) = risk_in(&home, dir.path(), &venv, &[], &[]);
    assert!(code == 0 || code == 1, "{code}: {err}");
    let index = r["index"].as_str().unwrap_or_default();
    let index_py = venv.join("lib/python3.11/site-packages/pip/_internal/models/index.py");
    assert_eq!(
        index,
        format!(
            "{base}simple (from pip's built-in default, read from {}:8)",
            index_py.display()
        )
    );
    assert!(
        srv.hits("/simple/torch/") >= 1,
        "the default index was asked"
    );
    let torch = r["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["subject"] == "torch")
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(!torch.contains("offline"), "{torch}");
}

#[test]
fn pip_and_uv_configuration_in_their_precedence_shown_in_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let home = root.join("home");
    let project = root.join("project");
    for d in [
        home.join(".pip"),
        home.join(".config/pip"),
        home.join(".config/uv"),
        project.clone(),
    ] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let venv = fake_venv(root, Some("http://127.0.0.1:9/builtin/"), false);
    let shown = |vars: &[(&str, &str)], cwd: &std::path::Path, venv: &std::path::Path| {
        let (code, r, err) = risk_in(&home, cwd, venv, vars, &["--offline"]);
        assert!(code == 0 || code == 1, "{code}: {err}");
        let line = r["index"].as_str().unwrap_or_default();
        assert!(line.ends_with(", offline: cache only"), "{line}");
        line.trim_end_matches(", offline: cache only").to_string()
    };
    let url = |n: &str| format!("http://127.0.0.1:9/{n}/simple/");
    let write = |p: PathBuf, text: String| std::fs::write(p, text).expect("write");
    // What the report says for an index-url found in a pip file.
    let from_global = |name: &str, file: &std::path::Path, line: usize| {
        format!(
            "{} (from {}:{line} ([global] index-url))",
            url(name),
            file.display()
        )
    };
    // Nothing configured: pip's default, from its own source file.
    assert!(shown(&[], &project, &venv).contains("from pip's built-in default"));
    // The legacy user file, then the XDG one over it, then the venv's site file over both.
    write(
        home.join(".pip/pip.conf"),
        format!("[global]\nindex-url = {}\n", url("legacy")),
    );
    assert_eq!(
        shown(&[], &project, &venv),
        from_global("legacy", &home.join(".pip/pip.conf"), 2)
    );
    write(
        home.join(".config/pip/pip.conf"),
        format!("[global]\n\nindex-url = {}\n", url("user")),
    );
    assert_eq!(
        shown(&[], &project, &venv),
        from_global("user", &home.join(".config/pip/pip.conf"), 3)
    );
    write(
        venv.join("pip.conf"),
        format!(
            "[global]\nindex-url = {}\nextra-index-url = {}\n",
            url("site"),
            url("extra")
        ),
    );
    let s = shown(&[], &project, &venv);
    assert!(
        s.starts_with(&format!(
            "{} (from {}:2",
            url("site"),
            venv.join("pip.conf").display()
        )),
        "{s}"
    );
    assert!(s.contains(&format!("extra {}", url("extra"))), "{s}");
    // [install] in a lower file beats [global] in a higher one, as for `pip install`.
    write(
        home.join(".pip/pip.conf"),
        format!("[install]\nindex-url = {}\n", url("install")),
    );
    assert!(shown(&[], &project, &venv).starts_with(&url("install")));
    // PIP_CONFIG_FILE over the files, PIP_INDEX_URL over everything of pip's.
    let env_file = root.join("env.conf");
    write(
        env_file.clone(),
        format!("[install]\nindex-url = {}\n", url("envfile")),
    );
    let f = env_file.display().to_string();
    assert!(shown(&[("PIP_CONFIG_FILE", &f)], &project, &venv).starts_with(&url("envfile")));
    let s = shown(
        &[("PIP_CONFIG_FILE", &f), ("PIP_INDEX_URL", &url("var"))],
        &project,
        &venv,
    );
    assert!(
        s.starts_with(&format!("{} (from PIP_INDEX_URL)", url("var"))),
        "{s}"
    );
    // PIP_CONFIG_FILE=/dev/null turns every file off: back to pip's default.
    assert!(
        shown(&[("PIP_CONFIG_FILE", "/dev/null")], &project, &venv).contains("built-in default")
    );

    // uv: a venv made by uv reads uv's settings and ignores pip's.
    let uv_venv = fake_venv(&root.join("uvroot"), None, true);
    write(
        uv_venv.join("pip.conf"),
        format!("[global]\nindex-url = {}\n", url("pip-ignored")),
    );
    write(
        home.join(".config/uv/uv.toml"),
        format!("index-url = \"{}\"\n", url("uv-user")),
    );
    let s = shown(&[], &project, &uv_venv);
    assert_eq!(
        s,
        format!(
            "{} (from {}:1 (index-url))",
            url("uv-user"),
            home.join(".config/uv/uv.toml").display()
        )
    );
    write(
        project.join("pyproject.toml"),
        format!(
            "[project]\nname = \"p\"\n\n[[tool.uv.index]]\nurl = \"{}\"\ndefault = true\n",
            url("uv-project")
        ),
    );
    let sub = project.join("src");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let s = shown(&[], &sub, &uv_venv);
    assert!(
        s.starts_with(&format!(
            "{} (from {}:5 (tool.uv.index, default = true))",
            url("uv-project"),
            project.join("pyproject.toml").display()
        )),
        "{s}"
    );
    write(
        project.join("uv.toml"),
        format!("[[index]]\nurl = \"{}\"\ndefault = true\n", url("uv-toml")),
    );
    assert!(
        shown(&[], &sub, &uv_venv).starts_with(&url("uv-toml")),
        "uv.toml over pyproject.toml"
    );
    let s = shown(
        &[
            ("UV_DEFAULT_INDEX", &url("uv-env")),
            ("UV_INDEX", &format!("mine={}", url("uv-extra"))),
        ],
        &sub,
        &uv_venv,
    );
    assert!(
        s.starts_with(&format!(
            "{} (from UV_DEFAULT_INDEX); extra {} (from UV_INDEX)",
            url("uv-env"),
            url("uv-extra")
        )),
        "{s}"
    );
}

#[test]
fn an_invalid_index_url_is_an_error_naming_its_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".config/pip")).expect("mkdir");
    let venv = fake_venv(dir.path(), None, false);
    for (args, vars, want) in [
        (
            vec!["--index-url", "not a url"],
            vec![],
            "--index-url gives `not a url`",
        ),
        (
            vec!["--index-url", "ftp://127.0.0.1/simple"],
            vec![],
            "a ftp URL",
        ),
        (
            vec![],
            vec![("PIP_INDEX_URL", "http://")],
            "PIP_INDEX_URL gives",
        ),
        (
            vec!["--offline"],
            vec![("COMPAT_INDEX_URL", "file:///srv/simple")],
            "COMPAT_INDEX_URL gives",
        ),
    ] {
        let (code, _, err) = risk_in(&home, dir.path(), &venv, &vars, &args);
        assert_eq!(code, 2, "{args:?} {vars:?}: {err}");
        assert!(err.contains(want) && !err.contains("offline"), "{err}");
    }
    let conf = home.join(".config/pip/pip.conf");
    std::fs::write(&conf, "[global]\ntimeout = 5\nindex-url = htp:/nowhere\n").expect("write");
    let (code, _, err) = risk_in(&home, dir.path(), &venv, &[], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{}:3 ([global] index-url)", conf.display())),
        "{err}"
    );
}

#[test]
fn check_requirements_reads_planned_metadata_from_wheels_and_names_each_failure() {
    let (server, _) = no_pep658_index();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let venv = fake_venv(dir.path(), None, false);
    let req = dir.path().join("requirements.txt");
    std::fs::write(
        &req,
        "okpkg==1.0\nnrpkg==1.0\nOKPkg==1.0\ngone==1.0\ne500==1.0\n",
    )
    .expect("write");
    let mut c = crate::util::compat();
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("PIP_") || k.starts_with("UV_") || k == "COMPAT_INDEX_URL" {
            c.env_remove(&k);
        }
    }
    let started = Instant::now();
    let out = c
        .env("HOME", &home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .current_dir(dir.path())
        .args([
            "check",
            "--format",
            "json",
            "--index-timeout",
            "2",
            "--index-url",
        ])
        .arg(server.url("/simple/"))
        .arg("--host")
        .arg(crate::util::fixture("hosts/h100-550.toml"))
        .arg("--python")
        .arg(&venv)
        .arg("--requirements")
        .arg(&req)
        .output()
        .expect("compat runs");
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("\"plan\""), "{err}");
    assert!(
        !err.contains("asking the package index"),
        "no progress bar when stderr is not a terminal: {err}"
    );
    for ok in ["okpkg", "nrpkg"] {
        assert!(
            !text.contains(&format!("no metadata for planned {ok}")),
            "{ok}: {text}"
        );
    }
    assert!(
        text.contains(
            "no metadata for planned gone==1.0: its requirements are not checked (index-not-found:"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "no metadata for planned e500==1.0: its requirements are not checked (index-status:"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "package index: {} (from --index-url)",
            server.url("/simple/")
        )),
        "{text}"
    );
    // okpkg is asked once though the file names it twice.
    assert_eq!(server.requests("/simple/okpkg/").len(), 1);
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}
