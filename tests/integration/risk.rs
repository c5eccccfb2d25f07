//! `compat risk` with a real HTTP index on 127.0.0.1 serving fixtures/index, then offline from
//! the cache it left. Levels are computed by the rules in matrices/knowledge/risk-rules.toml.

use crate::util::*;
use std::sync::Arc;

/// Serves fixtures/index/simple/NAME.json at /simple/NAME/ and 404 for anything else.
pub fn serve() -> (Arc<tiny_http::Server>, String) {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
    let port = server.server_addr().to_ip().expect("ip").port();
    let srv = server.clone();
    std::thread::spawn(move || {
        for req in srv.incoming_requests() {
            let path = req.url().trim_matches('/').to_string();
            let name = path.strip_prefix("simple/").unwrap_or("");
            let file = fixture(&format!("index/simple/{name}.json"));
            let resp = match std::fs::read_to_string(&file) {
                Ok(body) if !name.is_empty() && !name.contains('.') => {
                    let body = body.replace("{{port}}", &port.to_string());
                    tiny_http::Response::from_string(body).with_header(
                        tiny_http::Header::from_bytes(
                            &b"Content-Type"[..],
                            &b"application/vnd.pypi.simple.v1+json"[..],
                        )
                        .expect("header"),
                    )
                }
                _ => tiny_http::Response::from_string("not found").with_status_code(404),
            };
            let _ = req.respond(resp);
        }
    });
    (server, format!("http://127.0.0.1:{port}/simple/"))
}

fn risk(args: &[&str], cache: &std::path::Path) -> (i32, serde_json::Value) {
    let out = compat()
        .env("XDG_CACHE_HOME", cache)
        .env_remove("COMPAT_INDEX_URL")
        .env_remove("PIP_INDEX_URL")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .args(["risk", "--format", "json", "--python"])
        .arg(fixture("envs/good-cu124"))
        .args(args)
        .output()
        .expect("runs");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

fn row<'a>(r: &'a serde_json::Value, subject: &str) -> &'a serde_json::Value {
    r["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["subject"] == subject)
        .unwrap_or_else(|| panic!("no row {subject}"))
}

fn fired(r: &serde_json::Value, subject: &str) -> Vec<String> {
    row(r, subject)["fired"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["rule"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn risk_from_a_live_index_then_offline_from_its_cache() {
    let cache = tempfile::tempdir().expect("cache");
    let (server, url) = serve();
    let h100 = fixture("hosts/h100-550.toml");
    let h100 = h100.to_str().expect("utf-8 path");
    let (code, r) = risk(&["--index-url", &url, "--host", h100], cache.path());
    // sparsegpt's only release is a .dev: high, and the default --fail-on high fails the run.
    assert_eq!(code, 1);
    assert_eq!(row(&r, "sparsegpt")["level"], "high");
    assert!(fired(&r, "sparsegpt").contains(&"prerelease-only".to_string()));
    // The installed torch 2.4.1(+cu124) is yanked in this index: high.
    assert!(
        fired(&r, "PyTorch, transformers").contains(&"yanked-installed".to_string()),
        "{:?}",
        fired(&r, "PyTorch, transformers")
    );
    // bitsandbytes: its newest release is yanked, so `latest` is 0.44.0; no drift rule at 0.43.3.
    let bnb = row(&r, "bitsandbytes, PEFT")["evidence"].to_string();
    assert!(bnb.contains("latest 0.44.0"), "{bnb}");
    // The H100 driver fully supports the matrix's CUDA 12.4.
    assert_eq!(fired(&r, "bleeding-edge CUDA"), ["driver-headroom-ok"]);
    assert_eq!(row(&r, "bleeding-edge CUDA")["level"], "low");
    drop(server);

    // Offline: the same facts from the cache, no server needed.
    let (code, r) = risk(
        &["--offline", "--index-url", &url, "--host", h100],
        cache.path(),
    );
    assert_eq!(code, 1);
    assert!(row(&r, "sparsegpt")["evidence"]
        .to_string()
        .contains("cache"));
    assert!(fired(&r, "sparsegpt").contains(&"prerelease-only".to_string()));
    // --fail-on is the gate's strictness.
    let mut args = vec!["--offline", "--index-url", &url, "--host", h100];
    let (code, _) = risk(&args, cache.path());
    assert_eq!(code, 1);
    args.push("--fail-on");
    args.push("high");
    let (code, _) = risk(&args, cache.path());
    assert_eq!(code, 1);
}

#[test]
fn driver_headroom_per_host_and_an_unreachable_index() {
    let cache = tempfile::tempdir().expect("cache");
    // A closed port: the index is down; every row still comes out, with the error as evidence.
    let dead = "http://127.0.0.1:9/simple/";
    for (host, rule, level) in [
        ("h100-550", "driver-headroom-ok", "low"),
        ("t4-525", "driver-minor-compat", "medium"),
        ("a100-470", "driver-below-target-major", "high"),
    ] {
        let h = fixture(&format!("hosts/{host}.toml"));
        let (_, r) = risk(
            &["--index-url", dead, "--host", h.to_str().expect("utf-8")],
            cache.path(),
        );
        let f = fired(&r, "bleeding-edge CUDA");
        assert_eq!(f[0], rule, "{host}");
        // On the 470 driver, torch's cu124 build and bitsandbytes' CUDA 12.4 library cannot load.
        assert_eq!(
            f.contains(&"native-cuda-too-new".to_string()),
            host == "a100-470",
            "{host}: {f:?}"
        );
        assert_eq!(row(&r, "bleeding-edge CUDA")["level"], level, "{host}");
        assert!(
            row(&r, "sparsegpt")["evidence"]
                .to_string()
                .contains("no index facts"),
            "{host}"
        );
    }
    // The known issues' mitigations: accelerate is installed in good-cu124, nbdime is not.
    let (_, r) = risk(&["--index-url", dead], cache.path());
    assert_eq!(
        row(&r, "known issue: Notebook + Git Integration")["level"],
        "medium"
    );
    assert_eq!(
        row(&r, "known issue: CUDA Memory Management")["level"],
        "low"
    );
}
