//! Unpinned requirements from a pull request go to pip's resolver — fenced in. These tests use
//! a real venv (`python3 -m venv`, with its own pip) and real indexes on 127.0.0.1, and show
//! each fence with a control that proves the attack would work without it:
//!
//! - a project whose in-tree build backend writes a marker when pip builds it (checked by
//!   building it with the venv's own pip first): compat never lets the marker appear, whether
//!   the project is a local folder, a `name @ file://` reference or an sdist on the index;
//! - index options written in the file (`--index-url`, `--extra-index-url`, `-f`,
//!   `--trusted-host`) and a `pip.conf` inside the venv name a second server: it gets no
//!   request; the index compat was told to use answers;
//! - a `.pth` file and a `sitecustomize.py` in the venv (which do run for a plain start of its
//!   interpreter) do not run when compat starts pip;
//! - `--offline`, and no index at all, start no resolver: neither server is asked anything.

use crate::util::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// A PEP 503 HTML index on 127.0.0.1 serving `files` (name → bytes) at `/files/NAME`, with a
/// page per project at `/simple/PROJECT/`; it records every request's path.
struct Index {
    url: String,
    hits: Arc<Mutex<Vec<String>>>,
    _server: Arc<tiny_http::Server>,
}

impl Index {
    fn start(files: Vec<(String, Vec<u8>)>) -> Index {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let port = server.server_addr().to_ip().expect("ip").port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (srv, log) = (server.clone(), hits.clone());
        let files = Arc::new(files);
        std::thread::spawn(move || {
            for req in srv.incoming_requests() {
                let path = req.url().to_string();
                log.lock().expect("lock").push(path.clone());
                let project = path
                    .strip_prefix("/simple/")
                    .map(|p| p.trim_end_matches('/').to_string());
                let resp = if let Some(project) = project {
                    let links: String = files
                        .iter()
                        .filter(|(f, _)| {
                            f.split('-').next().map(|n| n.replace('_', "-"))
                                == Some(project.clone())
                        })
                        .map(|(f, _)| format!("<a href=\"/files/{f}\">{f}</a>\n"))
                        .collect();
                    if links.is_empty() {
                        tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404)
                    } else {
                        tiny_http::Response::from_data(
                            format!("<!DOCTYPE html><html><body>\n{links}</body></html>\n")
                                .into_bytes(),
                        )
                        .with_header(
                            tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"text/html"[..])
                                .expect("header"),
                        )
                    }
                } else if let Some((_, body)) = path
                    .strip_prefix("/files/")
                    .and_then(|f| files.iter().find(|(n, _)| n == f))
                {
                    tiny_http::Response::from_data(body.clone())
                } else {
                    tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404)
                };
                let _ = req.respond(resp);
            }
        });
        Index {
            url: format!("http://127.0.0.1:{port}/simple/"),
            hits,
            _server: server,
        }
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().expect("lock").clone()
    }
}

/// A real wheel of `name` 1.0 (pure Python), with METADATA, WHEEL and RECORD.
fn wheel(name: &str) -> (String, Vec<u8>) {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    let di = format!("{name}-1.0.dist-info");
    let files = [
        (format!("{name}/__init__.py"), String::new()),
        (
            format!("{di}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n\n"),
        ),
        (
            format!("{di}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .into(),
        ),
    ];
    let mut record = String::new();
    for (path, body) in &files {
        w.start_file(path.as_str(), o).expect("start");
        w.write_all(body.as_bytes()).expect("write");
        record.push_str(&format!("{path},,\n"));
    }
    record.push_str(&format!("{di}/RECORD,,\n"));
    w.start_file(format!("{di}/RECORD"), o).expect("start");
    w.write_all(record.as_bytes()).expect("write");
    (
        format!("{name}-1.0-py3-none-any.whl"),
        w.finish().expect("finish").into_inner(),
    )
}

/// A project `evilpkg` 1.0 in `dir` whose in-tree build backend (no build requirements, so pip
/// needs no index to build it) writes `marker` as soon as pip loads it.
fn evil_project(dir: &Path, marker: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(
        dir.join("pyproject.toml"),
        "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n\n\
         [project]\nname = \"evilpkg\"\nversion = \"1.0\"\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("backend.py"),
        format!(
            "open({:?}, 'w').write('the build backend ran')\n\
             def get_requires_for_build_wheel(config_settings=None):\n    return []\n",
            marker.display().to_string()
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("PKG-INFO"),
        "Metadata-Version: 2.1\nName: evilpkg\nVersion: 1.0\n",
    )
    .expect("write");
}

/// The project as an sdist, `evilpkg-1.0.tar.gz`, packed by Python's own tarfile (its
/// paths passed as arguments).
fn sdist(project: &Path) -> (String, Vec<u8>) {
    let out = project.with_file_name("evilpkg-1.0.tar.gz");
    let st = Command::new("python3")
        .args([
            "-c",
            "import sys, tarfile\nwith tarfile.open(sys.argv[1], 'w:gz') as t: t.add(sys.argv[2], 'evilpkg-1.0')",
        ])
        .arg(&out)
        .arg(project)
        .status()
        .expect("python3 runs");
    assert!(st.success(), "tarfile failed");
    let body = std::fs::read(&out).expect("read");
    std::fs::remove_file(&out).expect("rm");
    ("evilpkg-1.0.tar.gz".into(), body)
}

/// A venv with pip, made by `python3 -m venv`; fails (not skips) without python3, as the
/// README says of the integration tests.
fn venv_with_pip(dir: &Path) -> (PathBuf, PathBuf) {
    let st = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .status()
        .expect("python3 -m venv runs (these tests need python3 with venv and ensurepip)");
    assert!(st.success(), "python3 -m venv failed");
    let lib = dir.join("lib");
    let site = std::fs::read_dir(&lib)
        .expect("lib/")
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.join("pip").is_dir())
        .expect("a site-packages with pip");
    (dir.join("bin/python"), site)
}

fn check_plan(python: &Path, plan: &Path, extra: &[&str], cache: &Path) -> std::process::Output {
    compat()
        .args(["check", "--format", "json", "--python"])
        .arg(python)
        .arg("--requirements")
        .arg(plan)
        .args(extra)
        .env("XDG_CACHE_HOME", cache)
        .env("HOME", cache)
        .env_remove("COMPAT_INDEX_URL")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env_remove("PIP_CONFIG_FILE")
        .output()
        .expect("compat runs")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn no_build_backend_runs_whatever_the_plan_points_at() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (python, _) = venv_with_pip(&tmp.path().join("venv"));
    let marker = tmp.path().join("BUILT");
    let project = tmp.path().join("plan/evilproject");
    evil_project(&project, &marker);

    // Control: the venv's own pip does build it, and the backend writes its marker.
    let control = Command::new(&python)
        .args(["-m", "pip", "install", "--dry-run", "--no-index", "--quiet"])
        .arg(&project)
        .output()
        .expect("pip runs");
    assert!(
        marker.exists(),
        "control: pip did not run the backend: {}",
        text(&control)
    );
    std::fs::remove_file(&marker).expect("rm");

    let good = wheel("goodpkg");
    let index = Index::start(vec![good, sdist(&project)]);
    let cache = tmp.path().join("cache");
    let plan_dir = tmp.path().join("plan");
    let cases = [
        ("./evilproject\ngoodpkg\n", "requirements.txt:1:"),
        ("goodpkg\n\nevilproject/\n", "requirements.txt:3:"),
        (
            &*format!("goodpkg\nevilpkg @ file://{}\n", project.display()),
            "requirements.txt:2:",
        ),
        (
            &*format!("evilpkg @ {}\ngoodpkg\n", project.display()),
            "requirements.txt:1:",
        ),
        (
            &*format!(
                "goodpkg>=0.1\nevilpkg @ {}files/evilpkg-1.0.tar.gz\n",
                index.url.trim_end_matches("simple/")
            ),
            "requirements.txt:2:",
        ),
    ];
    for (plan, at) in cases {
        let path = plan_dir.join("requirements.txt");
        std::fs::write(&path, plan).expect("write");
        let out = check_plan(&python, &path, &["--index-url", &index.url], &cache);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{plan:?}: {t}");
        assert!(t.contains(at), "{plan:?}: no {at} in {t}");
        // Refused as a direct reference, or (`name @ /path`, not a URL) as no PEP 508 line.
        assert!(
            t.contains("direct reference") || t.contains("not a PEP 508 requirement"),
            "{plan:?}: {t}"
        );
        assert!(!marker.exists(), "{plan:?}: the build backend ran");
    }
    assert!(index.hits().is_empty(), "asked: {:?}", index.hits());

    // The sdist on the index, asked for by name: pip is started, finds only an sdist, and is
    // not allowed to build it.
    let path = plan_dir.join("requirements.txt");
    std::fs::write(&path, "goodpkg\nevilpkg\n").expect("write");
    let out = check_plan(&python, &path, &["--index-url", &index.url], &cache);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("pip's resolver failed"), "{t}");
    assert!(t.contains("evilpkg"), "{t}");
    assert!(!marker.exists(), "pip built the sdist: {t}");
    assert!(
        index
            .hits()
            .iter()
            .any(|h| h.starts_with("/simple/evilpkg")),
        "pip did not ask the index: {:?}",
        index.hits()
    );
    assert!(
        !index.hits().iter().any(|h| h.ends_with(".tar.gz")),
        "pip fetched the sdist: {:?}",
        index.hits()
    );
}

#[test]
fn the_resolver_obeys_no_option_of_the_file_or_the_venv_and_runs_nothing_of_the_venv() {
    let tmp = tempfile::tempdir().expect("tmp");
    let venv = tmp.path().join("venv");
    let (python, site) = venv_with_pip(&venv);
    let ran = tmp.path().join("SITE_RAN");
    // A .pth line and a sitecustomize that run whenever the interpreter starts with its site.
    std::fs::write(
        site.join("zz-evil.pth"),
        format!(
            "import os; open({:?}, 'a').write('pth\\n')\n",
            ran.display().to_string()
        ),
    )
    .expect("write");
    std::fs::write(
        site.join("sitecustomize.py"),
        format!(
            "open({:?}, 'a').write('sitecustomize\\n')\n",
            ran.display().to_string()
        ),
    )
    .expect("write");
    // Control: a plain start runs both.
    Command::new(&python)
        .args(["-c", "pass"])
        .status()
        .expect("python runs");
    let said = std::fs::read_to_string(&ran).unwrap_or_default();
    assert!(
        said.contains("pth") && said.contains("sitecustomize"),
        "control: {said:?}"
    );
    std::fs::remove_file(&ran).expect("rm");

    let good = Index::start(vec![wheel("goodpkg")]);
    let other = Index::start(vec![wheel("goodpkg"), wheel("otherpkg")]);
    // The venv's own pip.conf names the other server too.
    std::fs::write(
        venv.join("pip.conf"),
        format!(
            "[global]\nextra-index-url = {}\nfind-links = {}\n",
            other.url,
            other.url.trim_end_matches("simple/")
        ),
    )
    .expect("write");
    let files = other.url.trim_end_matches("simple/");
    let plan = tmp.path().join("requirements.txt");
    std::fs::write(
        &plan,
        format!(
            "--index-url {o}\n--extra-index-url {o}\n-f {files}\n--find-links={files}files/\n\
             --trusted-host 127.0.0.1\n--no-binary :all:\ngoodpkg>=0.5\n",
            o = other.url
        ),
    )
    .expect("write");
    let cache = tmp.path().join("cache");
    let out = check_plan(&python, &plan, &["--index-url", &good.url], &cache);
    let t = text(&out);
    let report = report_of(&out);
    let plan = report.plan.as_ref().expect("a plan");
    assert_eq!(plan.packages, 1, "{t}");
    let notes = plan.notes.join("\n");
    for opt in [
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "--trusted-host",
        "--no-binary",
    ] {
        assert!(
            notes.contains(&format!("`{opt}`")),
            "{opt} not noted: {notes}"
        );
    }
    assert!(notes.contains("pip's resolver"), "{notes}");
    assert!(
        good.hits()
            .iter()
            .any(|h| h == "/files/goodpkg-1.0-py3-none-any.whl"),
        "the index compat was given was not asked: {:?}",
        good.hits()
    );
    assert!(
        other.hits().is_empty(),
        "the file's or the venv's index was asked: {:?}",
        other.hits()
    );
    assert!(
        !ran.exists(),
        "the venv's site ran: {:?}",
        std::fs::read_to_string(&ran)
    );
}

#[test]
fn offline_or_no_index_starts_no_resolver() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (python, _) = venv_with_pip(&tmp.path().join("venv"));
    let index = Index::start(vec![wheel("goodpkg")]);
    let plan = tmp.path().join("requirements.txt");
    std::fs::write(&plan, format!("--index-url {}\ngoodpkg\n", index.url)).expect("write");
    let cache = tmp.path().join("cache");
    let out = check_plan(
        &python,
        &plan,
        &["--index-url", &index.url, "--offline"],
        &cache,
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("--offline"), "{t}");
    assert!(t.contains("not started"), "{t}");
    assert!(
        index.hits().is_empty(),
        "asked while offline: {:?}",
        index.hits()
    );
}
