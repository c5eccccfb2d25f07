//! The advisory database through the library's public API (`compat::advisories`): environments
//! reproducing breakages reported in public threads raise the advisory the thread describes
//! (fixtures/advisories/envs), the good-cu124 fixture — read with its METADATA Requires-Dist —
//! raises nothing, and broken family files are reported at `file:line:column`
//! (fixtures/advisories/bad). Wiring into `compat check` is not part of this module yet.

use std::collections::BTreeSet;
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
