//! The advisory database through the library's public API (`compat::advisories`): environments
//! reproducing breakages reported in public threads raise the advisory the thread describes
//! (fixtures/advisories/envs), the good-cu124 fixture — read with its METADATA Requires-Dist —
//! raises nothing, and broken family files are reported at `file:line:column`
//! (fixtures/advisories/bad); and through the real binary: site-packages reproductions of
//! public threads (fixtures/advisories/envs/<case>/) fail `compat check` with the advisory's id
//! and fix while real `pip check` passes them, their near misses do not fire, and `compat risk`
//! reports hits as rows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use compat::advisories::{self, model::TestDoc, Facts, Ignore};
use serde::Deserialize;

use crate::util::{compat, fixture};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reproduction {
    thread: String,
    expect: Vec<String>,
    said: String,
    assumed: String,
    env: TestDoc,
}

#[test]
fn public_breakages_raise_their_advisory() {
    let db = advisories::builtin().expect("built-in database");
    let dir = fixture("advisories/envs");
    let mut seen = 0;
    let mut raised = BTreeSet::new();
    for entry in std::fs::read_dir(&dir)
        .expect("fixtures/advisories/envs")
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue; // the site-packages reproductions (one folder each) have their own test
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let r: Reproduction =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            r.thread.starts_with("https://github.com/"),
            "{}",
            path.display()
        );
        assert!(!r.said.is_empty(), "{}", path.display());
        let _ = &r.assumed; // documentation for readers of the fixture
        let facts = r
            .env
            .facts()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let hits = db.evaluate(&facts, &Ignore::none());
        let ids: BTreeSet<&str> = hits.iter().map(|h| h.id.as_str()).collect();
        for want in &r.expect {
            assert!(
                ids.contains(want.as_str()),
                "{}: {want} not raised; got {ids:?}",
                path.display()
            );
            let hit = hits.iter().find(|h| &h.id == want).expect("hit");
            assert!(!hit.fix.is_empty() && !hit.evidence.is_empty());
            raised.insert(want.clone());
        }
        // The first id is the breakage the thread reports, so the thread must be its source;
        // further ids are other breakages waiting in the same environment.
        let first = db.get(&r.expect[0]).expect("known id");
        assert!(
            first.sources.contains(&r.thread),
            "{}: the thread is not among {}'s sources",
            path.display(),
            first.id
        );
        seen += 1;
    }
    assert!(seen >= 10, "{seen} reproductions");
    assert!(raised.len() >= 10, "{raised:?}");
}

/// good-cu124 as a caller would read it: names and versions from the dist-info folders,
/// Requires-Dist from METADATA (so the pre-release rule sees real requirements), torch CUDA
/// 12.4 on an H100.
#[test]
fn good_cu124_with_its_metadata_raises_nothing() {
    let site = fixture("envs/good-cu124/lib/python3.11/site-packages");
    let mut facts = Facts {
        torch_cuda: Some("12.4".into()),
        gpus: vec!["9.0".into()],
        system: Some("Linux".into()),
        machine: Some("x86_64".into()),
        ..Facts::default()
    };
    for entry in std::fs::read_dir(&site).expect("site-packages").flatten() {
        let dir = entry.path();
        let Some(stem) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".dist-info"))
        else {
            continue;
        };
        let meta = std::fs::read_to_string(dir.join("METADATA")).expect("METADATA");
        let field = |k: &str| -> Vec<String> {
            meta.lines()
                .take_while(|l| !l.is_empty())
                .filter_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
                .collect()
        };
        let name = field("Name:").pop().unwrap_or_else(|| stem.to_string());
        let version = field("Version:").pop().expect("Version");
        let requires = field("Requires-Dist:");
        let installer = std::fs::read_to_string(dir.join("INSTALLER"))
            .ok()
            .and_then(|t| t.lines().next().map(str::to_string));
        let p = facts.install(&name, &version);
        p.requires = requires;
        p.installer = installer;
    }
    assert!(facts.packages["torch"]
        .requires
        .iter()
        .any(|r| r.starts_with("triton")));
    let hits = advisories::builtin()
        .expect("db")
        .evaluate(&facts, &Ignore::none());
    assert!(hits.is_empty(), "{hits:#?}");
}

fn bad(name: &str) -> advisories::LoadError {
    let path = fixture(&format!("advisories/bad/{name}.toml"));
    match advisories::load_file(&path) {
        Ok(_) => panic!("{name} loaded"),
        Err(e) => {
            assert!(
                e.to_string().starts_with(&path.display().to_string()),
                "{e}"
            );
            e
        }
    }
}

#[test]
fn broken_family_files_are_reported_where_they_break() {
    let e = bad("unknown-key");
    assert_eq!((e.line, e.column), (8, 1), "{e}");
    assert!(e.message.contains("unknown field `afected`"), "{e}");

    let e = bad("bad-specifier");
    assert_eq!((e.line, e.column), (9, 9), "{e}");
    assert!(e.message.contains("`2+`"), "{e}");

    let e = bad("bad-id");
    assert_eq!((e.line, e.column), (5, 6), "{e}");
    assert!(e.message.contains("CVE-2024-0001"), "{e}");

    let e = bad("named-nowhere");
    assert_eq!(e.line, 9, "{e}");
    assert!(e.message.contains("`numpy`"), "{e}");
    assert!(!e.hint.is_empty());
    assert!(Path::new(&e.origin).exists());
}

/// The real binary: `compat advisories` lists every entry with its sources, `show` prints one,
/// and `compat check` on good-cu124 against the RTX 5090 host raises COMPAT-2026-0027 (a torch
/// built for CUDA 12.4 on an sm_120 GPU), exit 1; `--ignore` with the id moves it to the
/// ignored list. Against the H100 host nothing fires.
#[test]
fn the_binary_lists_shows_evaluates_and_ignores_advisories() {
    let out = compat()
        .args(["advisories", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let list = list.as_array().expect("a list");
    assert!(list.len() >= 40, "{} advisories", list.len());
    assert!(list
        .iter()
        .all(|a| a["sources"].as_array().is_some_and(|s| !s.is_empty())));
    let show = compat()
        .args(["advisories", "show", "COMPAT-2026-0027"])
        .output()
        .expect("runs");
    assert_eq!(show.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&show.stdout).contains("no kernel image is available"));
    let unknown = compat()
        .args(["advisories", "show", "COMPAT-1999-0001"])
        .output()
        .expect("runs");
    assert_eq!(unknown.status.code(), Some(2));

    let env = fixture("envs/good-cu124");
    let run = |host: &str, extra: &[&str]| {
        let out = compat()
            .args(["check", "--format", "json", "--python"])
            .arg(&env)
            .arg("--host")
            .arg(fixture(&format!("hosts/{host}.toml")))
            .args(extra)
            .output()
            .expect("runs");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        (out.status.code(), v)
    };
    let ids = |v: &serde_json::Value, key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| {
                h["id"]
                    .as_str()
                    .or(h["hit"]["id"].as_str())
                    .map(str::to_string)
            })
            .collect()
    };
    let (code, v) = run("h100-550", &[]);
    assert_eq!(code, Some(0));
    assert!(
        ids(&v, "advisories").is_empty(),
        "{:?}",
        ids(&v, "advisories")
    );
    let (code, v) = run("rtx5090-570", &[]);
    assert_eq!(code, Some(1));
    assert_eq!(ids(&v, "advisories"), ["COMPAT-2026-0027"]);
    let (_, v) = run("rtx5090-570", &["--ignore", "COMPAT-2026-0027"]);
    assert!(ids(&v, "advisories").is_empty());
    assert_eq!(ids(&v, "ignored_advisories"), ["COMPAT-2026-0027"]);
}

/// Issue 11's torch-family CUDA variant: torch 2.4.1+cu124 beside torchvision 0.19.1+cu118
/// satisfies every Requires-Dist (PEP 440 ignores local labels, so pip check is silent), and
/// compat fails it with COMPAT-2026-0012 naming both CUDA versions and the fix.
#[test]
fn a_torchvision_built_for_another_cuda_fails_while_pip_check_passes() {
    let out = compat()
        .args(["check", "--format", "json", "--python"])
        .arg(fixture("envs/family-mismatch"))
        .arg("--host")
        .arg(fixture("hosts/h100-550.toml"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v["consistency"]["problems"].as_array().map(Vec::len),
        Some(0),
        "the metadata is consistent"
    );
    let hit = v["advisories"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| h["id"] == "COMPAT-2026-0012")
        .expect("COMPAT-2026-0012 fires");
    let evidence = hit["evidence"].to_string();
    assert!(
        evidence.contains("11.8") && evidence.contains("12.4"),
        "{evidence}"
    );
    assert!(hit["fix"].as_str().is_some_and(|f| f.contains("same")));
}

/// `compat risk` adds a HIGH row per advisory hit, with the id, evidence, symptom and fix, in
/// JSON, table and Markdown (good-cu124 on the RTX 5090 host: COMPAT-2026-0027), and fails the
/// default `--fail-on high` gate; `--ignore ID` or a `compat.toml` ignore list (with its
/// reason) removes the row, lists the hit as ignored and lets the gate pass. On the H100 host
/// no advisory row appears.
#[test]
fn risk_reports_advisory_hits_as_high_rows_and_honours_ignores() {
    let run = |host: &str, format: &str, extra: &[&str]| {
        let out = compat()
            .env_remove("COMPAT_INDEX_URL")
            .env_remove("PIP_INDEX_URL")
            .env("PIP_CONFIG_FILE", "/dev/null")
            .args(["risk", "--offline", "--format", format, "--python"])
            .arg(fixture("envs/good-cu124"))
            .arg("--host")
            .arg(fixture(&format!("hosts/{host}.toml")))
            .args(extra)
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let advisory_rows = |text: &str| -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(text).expect("json");
        v["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r.get("advisory").is_some())
            .cloned()
            .collect()
    };
    let (code, text) = run("rtx5090-570", "json", &[]);
    assert_eq!(code, Some(1), "{text}");
    let rows = advisory_rows(&text);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let row = &rows[0];
    assert_eq!(row["advisory"], "COMPAT-2026-0027");
    assert_eq!(row["level"], "high");
    assert_eq!(row["libraries"][0], "torch");
    assert!(row["risk"]
        .as_str()
        .is_some_and(|s| s.contains("no kernel image is available")));
    assert!(row["mitigation"]
        .as_str()
        .is_some_and(|s| s.contains("12.8")));
    let evidence = row["evidence"].to_string();
    assert!(
        evidence.contains("sm_120") && evidence.contains("12.4"),
        "{evidence}"
    );
    assert!(row["sources"].as_array().is_some_and(|s| !s.is_empty()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["highest"], "high");

    for format in ["table", "markdown"] {
        let (code, text) = run("rtx5090-570", format, &[]);
        assert_eq!(code, Some(1), "{format}");
        assert!(text.contains("COMPAT-2026-0027"), "{format}: {text}");
        assert!(text.contains("torch 2.7 or newer"), "{format}: {text}");
    }

    let (code, text) = run("rtx5090-570", "json", &["--ignore", "COMPAT-2026-0027"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(advisory_rows(&text).is_empty());
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["ignored_advisories"][0]["id"], "COMPAT-2026-0027");
    let (_, table) = run("rtx5090-570", "table", &["--ignore", "COMPAT-2026-0027"]);
    assert!(
        table.contains("ignored advisory COMPAT-2026-0027"),
        "{table}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("compat.toml");
    std::fs::write(
        &config,
        "[[advisories.ignore]]\nid = \"COMPAT-2026-0027\"\nreason = \"the 5090 nodes get a cu128 image next week\"\n",
    )
    .expect("write");
    let (code, text) = run(
        "rtx5090-570",
        "json",
        &["--config", &config.display().to_string()],
    );
    assert_eq!(code, Some(0), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        v["ignored_advisories"][0]["reason"],
        "the 5090 nodes get a cu128 image next week"
    );

    let (code, unknown) = run("rtx5090-570", "json", &["--ignore", "COMPAT-1999-0001"]);
    assert_eq!(code, Some(2), "{unknown}");

    let (_, text) = run("h100-550", "json", &[]);
    assert!(advisory_rows(&text).is_empty());
}

/// One site-packages reproduction: `fixtures/advisories/envs/<case>/case.toml` (see
/// fixtures/advisories/README.md) and its `hit/` and `miss/` dist-info overlays.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteCase {
    thread: String,
    advisory: String,
    said: String,
    assumed: String,
    /// A host profile under fixtures/hosts; none: probe this machine (so variables are read).
    #[serde(default)]
    host: Option<String>,
    hit: Variant,
    miss: Variant,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Variant {
    why: String,
    /// Distributions of good-cu124 left out.
    #[serde(default)]
    remove: Vec<String>,
    /// What make_sites.py wrote into the overlay (checked against it here).
    #[serde(default)]
    pins: Vec<String>,
    #[serde(default)]
    sdist_pins: Vec<String>,
    #[serde(default)]
    local: BTreeMap<String, String>,
    #[serde(default)]
    direct_url: BTreeMap<String, String>,
    /// Variables for the run; `{libdir}` is a directory holding `libraries` (empty files).
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    libraries: Vec<String>,
}

fn norm(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '.'], "-")
}

/// The distribution name of a `name-version.dist-info` folder, normalised.
fn dist_name(folder: &str) -> Option<String> {
    let stem = folder.strip_suffix(".dist-info")?;
    Some(norm(stem.rsplit_once('-')?.0))
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else if e.file_name() != ".keep" {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// good-cu124's site-packages less `remove`, plus the variant's overlay, as a fixture venv
/// under `root`; returns its site-packages.
fn assemble(case: &Path, name: &str, v: &Variant, root: &Path) -> std::path::PathBuf {
    let base = fixture("envs/good-cu124");
    std::fs::create_dir_all(root).expect("mkdir");
    std::fs::copy(base.join("pyvenv.cfg"), root.join("pyvenv.cfg")).expect("pyvenv.cfg");
    let site = root.join("lib/python3.11/site-packages");
    std::fs::create_dir_all(&site).expect("mkdir");
    let mut removed = BTreeSet::new();
    for e in std::fs::read_dir(base.join("lib/python3.11/site-packages"))
        .expect("site-packages")
        .flatten()
    {
        let file = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = dist_name(&file) {
            if v.remove.iter().any(|r| norm(r) == n) {
                removed.insert(n);
                continue;
            }
        }
        let to = site.join(&file);
        if e.path().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).expect("copy");
        }
    }
    let wanted: BTreeSet<String> = v.remove.iter().map(|r| norm(r)).collect();
    assert_eq!(
        removed,
        wanted,
        "{}/{name}: `remove` names what good-cu124 holds",
        case.display()
    );
    let overlay = case.join(name);
    let added: BTreeSet<String> = std::fs::read_dir(&overlay)
        .expect("overlay")
        .flatten()
        .filter_map(|e| dist_name(&e.file_name().to_string_lossy()))
        .collect();
    let pinned: BTreeSet<String> = v
        .pins
        .iter()
        .chain(&v.sdist_pins)
        .map(|p| norm(p.split("==").next().unwrap_or(p)))
        .collect();
    assert_eq!(
        added,
        pinned,
        "{}/{name}: run make_sites.py",
        case.display()
    );
    for (pkg, url) in &v.direct_url {
        let found = std::fs::read_dir(&overlay)
            .expect("overlay")
            .flatten()
            .any(|e| {
                dist_name(&e.file_name().to_string_lossy()).as_deref() == Some(&norm(pkg))
                    && std::fs::read_to_string(e.path().join("direct_url.json"))
                        .is_ok_and(|t| t.contains(url.as_str()))
            });
        assert!(found, "{}/{name}: direct_url.json of {pkg}", case.display());
    }
    for (pkg, label) in &v.local {
        assert!(
            std::fs::read_dir(&overlay)
                .expect("overlay")
                .flatten()
                .any(|e| e
                    .file_name()
                    .to_string_lossy()
                    .ends_with(&format!("+{label}.dist-info"))
                    && dist_name(&e.file_name().to_string_lossy()).as_deref() == Some(&norm(pkg))),
            "{}/{name}: {pkg} labelled +{label}",
            case.display()
        );
    }
    copy_tree(&overlay, &site);
    site
}

/// Real `pip check` (the system python3's pip, run against a `python3 -m venv` whose
/// site-packages holds `site`'s folders): exit status and stdout.
fn real_pip_check(site: &Path, venv: &Path) -> (bool, String) {
    let out = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(venv)
        .output()
        .expect("python3 -m venv runs (these tests need python3 with venv)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = venv.join("lib");
    let minor = std::fs::read_dir(&lib)
        .expect("lib")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .expect("lib/python3.X");
    copy_tree(site, &minor.path().join("site-packages"));
    let out = std::process::Command::new("python3")
        .args(["-m", "pip", "--disable-pip-version-check", "--python"])
        .arg(venv.join("bin/python"))
        .arg("check")
        .env("PIP_CONFIG_FILE", "/dev/null")
        .output()
        .expect("pip runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Every site-packages reproduction of a public thread (fixtures/advisories/envs/<case>/):
/// the reported environment fails the real binary's `compat check` with the advisory's id,
/// evidence and fix (exit 1) in JSON and in the table, while real `pip check` passes it and
/// compat's own consistency check finds nothing; the near miss raises no advisory at all, and
/// pip check passes it too. At least ten cases, each a different advisory, each thread among
/// its advisory's sources.
#[test]
fn site_packages_reproductions_fail_with_their_advisory_while_pip_check_passes() {
    let db = advisories::builtin().expect("built-in database");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cases = 0;
    let mut ids = BTreeSet::new();
    let mut sanity_done = false;
    let mut dirs: Vec<_> = std::fs::read_dir(fixture("advisories/envs"))
        .expect("envs")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("case.toml").is_file())
        .collect();
    dirs.sort();
    let doc =
        std::fs::read_to_string(crate::util::root().join("docs/advisories.md")).expect("docs");
    for case_dir in dirs {
        let label = case_dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(case_dir.join("case.toml")).expect("case.toml");
        let case: SiteCase =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{label}/case.toml: {e}"));
        assert!(!case.said.is_empty() && !case.assumed.is_empty(), "{label}");
        assert!(
            doc.lines().any(|l| l.starts_with(&format!(
                "| {label} | {} | {} |",
                case.advisory, case.thread
            ))),
            "{label}: not listed (with its advisory and thread) in docs/advisories.md"
        );
        let a = db
            .get(&case.advisory)
            .unwrap_or_else(|| panic!("{label}: unknown id"));
        assert!(
            a.sources.contains(&case.thread),
            "{label}: the thread is not among {}'s sources",
            a.id
        );
        for (name, v, hit) in [("hit", &case.hit, true), ("miss", &case.miss, false)] {
            assert!(!v.why.is_empty());
            let root = tmp.path().join(format!("{label}-{name}"));
            let site = assemble(&case_dir, name, v, &root);
            let libdir = tmp.path().join(format!("{label}-{name}-lib"));
            std::fs::create_dir_all(&libdir).expect("mkdir");
            for f in &v.libraries {
                std::fs::write(libdir.join(f), "").expect("library file");
            }
            let run = |format: &str| {
                let mut cmd = compat();
                cmd.args(["check", "--format", format, "--python"])
                    .arg(&root);
                if let Some(h) = &case.host {
                    cmd.arg("--host").arg(fixture(&format!("hosts/{h}.toml")));
                }
                for var in [
                    "LD_LIBRARY_PATH",
                    "CONDA_PREFIX",
                    "BNB_CUDA_VERSION",
                    "CUDA_HOME",
                ] {
                    cmd.env_remove(var);
                }
                for (k, val) in &v.env {
                    cmd.env(k, val.replace("{libdir}", &libdir.display().to_string()));
                }
                let out = cmd.output().expect("runs");
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                )
            };
            let (code, json) = run("json");
            let report: serde_json::Value = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("{label}/{name}: {e}: {json}"));
            assert_eq!(
                report["consistency"]["problems"].as_array().map(Vec::len),
                Some(0),
                "{label}/{name}: the metadata is consistent"
            );
            let fired: Vec<&serde_json::Value> = report["advisories"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|h| h["id"] == case.advisory.as_str())
                .collect();
            if hit {
                assert_eq!(code, Some(1), "{label}/{name}: {json}");
                let h = fired.first().unwrap_or_else(|| {
                    panic!(
                        "{label}: {} not raised: {}",
                        case.advisory, report["advisories"]
                    )
                });
                assert_eq!(h["fix"].as_str(), Some(a.fix.as_str()), "{label}");
                assert!(
                    h["evidence"].as_array().is_some_and(|e| e.len() >= 2),
                    "{label}: {}",
                    h["evidence"]
                );
                let (code, table) = run("table");
                assert_eq!(code, Some(1), "{label}/{name} table");
                assert!(table.contains(&case.advisory), "{label}: {table}");
                let fix_start: String = a.fix.chars().take(30).collect();
                assert!(
                    table.contains(&fix_start),
                    "{label}: the fix in the table: {table}"
                );
                ids.insert(case.advisory.clone());
            } else {
                // Nothing at all fires on a near miss (any exit 1 left is the matrix's).
                assert_eq!(
                    report["advisories"].as_array().map(Vec::len),
                    Some(0),
                    "{label}/{name} fired: {}",
                    report["advisories"]
                );
            }
            let (ok, stdout) =
                real_pip_check(&site, &tmp.path().join(format!("venv-{label}-{name}")));
            assert!(
                ok && stdout.contains("No broken requirements found"),
                "{label}/{name}: pip check: {stdout}"
            );
            if !sanity_done {
                // The same pip check does see a missing requirement: not a check that cannot fail.
                let broken = tmp.path().join("sanity-site");
                copy_tree(&site, &broken);
                let tok = std::fs::read_dir(&broken)
                    .expect("site")
                    .flatten()
                    .find(|e| {
                        dist_name(&e.file_name().to_string_lossy()).as_deref() == Some("tokenizers")
                    })
                    .expect("tokenizers in the stack");
                std::fs::remove_dir_all(tok.path()).expect("rm");
                let (ok, stdout) = real_pip_check(&broken, &tmp.path().join("venv-sanity"));
                assert!(!ok && stdout.contains("tokenizers"), "{stdout}");
                sanity_done = true;
            }
        }
        cases += 1;
    }
    assert!(cases >= 10, "{cases} site-packages reproductions");
    assert_eq!(
        ids.len(),
        cases,
        "each case reproduces another advisory: {ids:?}"
    );
}

/// `compat check --requirements` evaluates the advisories against the planned environment: a
/// `pip install --dry-run --report` of the numpy-26710-pandas reproduction's packages (their
/// real METADATA, as the report carries it) raises COMPAT-2026-0002 and exits 1 before
/// anything is installed; the near-miss plan (pandas 2.2.2) raises nothing and passes.
#[test]
fn a_planned_environment_raises_advisories_before_it_is_installed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (variant, hit) in [("hit", true), ("miss", false)] {
        let overlay = fixture(&format!("advisories/envs/numpy-26710-pandas/{variant}"));
        let mut install = Vec::new();
        for e in std::fs::read_dir(&overlay).expect("overlay").flatten() {
            let meta = std::fs::read_to_string(e.path().join("METADATA")).expect("METADATA");
            let field = |k: &str| -> Vec<String> {
                meta.lines()
                    .filter_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
                    .collect()
            };
            let name = field("Name:").pop().expect("Name");
            let version = field("Version:").pop().expect("Version");
            install.push(serde_json::json!({
                "download_info": {
                    "url": format!("https://example.invalid/{name}-{version}-py3-none-any.whl"),
                    "archive_info": {}
                },
                "is_direct": false,
                "requested": true,
                "metadata": {
                    "metadata_version": "2.1",
                    "name": name,
                    "version": version,
                    "requires_dist": field("Requires-Dist:"),
                    "requires_python": field("Requires-Python:").pop(),
                }
            }));
        }
        assert!(install.len() >= 5, "{variant}: {}", install.len());
        let report = serde_json::json!({
            "version": "1",
            "pip_version": "23.2.1",
            "install": install,
            "environment": {"python_version": "3.11", "sys_platform": "linux", "platform_machine": "x86_64"}
        });
        let plan = tmp.path().join(format!("{variant}.json"));
        std::fs::write(&plan, report.to_string()).expect("write");
        let out = compat()
            .args(["check", "--offline", "--format", "json", "--requirements"])
            .arg(&plan)
            .arg("--python")
            .arg(fixture("envs/good-cu124"))
            .arg("--host")
            .arg(fixture("hosts/h100-550.toml"))
            .output()
            .expect("runs");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert!(v["plan"].is_object(), "{variant}: a plan was checked");
        let ids: Vec<&str> = v["advisories"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h["id"].as_str())
            .collect();
        if hit {
            assert_eq!(ids, ["COMPAT-2026-0002"], "{variant}");
            assert_eq!(out.status.code(), Some(1));
            let evidence = v["advisories"][0]["evidence"].to_string();
            assert!(
                evidence.contains("pandas 2.1.1") && evidence.contains("numpy 2.0.0"),
                "{evidence}"
            );
        } else {
            assert!(ids.is_empty(), "{variant}: {ids:?}");
        }
    }
}

/// A real venv (`python3 -m venv`, its interpreter run by compat) holding good-cu124's
/// site-packages: no advisory fires, on the H100 host or on this machine's own probe.
#[test]
fn no_advisory_fires_on_a_real_venv_of_the_seed_stack() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let venv = tmp.path().join("venv");
    let (ok, stdout) = real_pip_check(
        &fixture("envs/good-cu124/lib/python3.11/site-packages"),
        &venv,
    );
    assert!(ok, "pip check: {stdout}");
    for host in [Some("h100-550"), None] {
        let mut cmd = compat();
        cmd.args(["check", "--format", "json", "--python"])
            .arg(&venv);
        if let Some(h) = host {
            cmd.arg("--host").arg(fixture(&format!("hosts/{h}.toml")));
        }
        for var in [
            "LD_LIBRARY_PATH",
            "CONDA_PREFIX",
            "BNB_CUDA_VERSION",
            "CUDA_HOME",
        ] {
            cmd.env_remove(var);
        }
        let out = cmd.output().expect("runs");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert!(
            v["environment"].to_string().contains("venv"),
            "the venv was checked: {}",
            v["environment"]
        );
        assert_eq!(
            v["advisories"].as_array().map(Vec::len),
            Some(0),
            "{host:?}: {}",
            v["advisories"]
        );
    }
}
