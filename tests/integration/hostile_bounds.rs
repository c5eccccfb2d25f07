//! Absurd sizes and counts, and files that are not what they claim to be: a host profile that
//! counts no GPUs or four billion, a matrix of thousands of libraries or past its byte limit,
//! `compat merge` given JSON that is not a compat report, a pyvenv.cfg whose version is not a
//! version. Each is refused with exit 2 and the place at fault.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::util::*;

fn err_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `compat ARGS` and expects exit 2 with `needle` on stderr.
fn refused(args: &[&str], needle: &str) -> String {
    let out = run(args);
    let err = err_of(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected `{needle}` in: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

const GPU: &str = "[[gpus]]\nname = \"NVIDIA H100 80GB HBM3\"\ncompute_capability = \"9.0\"\n";

fn profile(entries: &[&str]) -> String {
    let mut t = String::from("schema = 1\n[driver]\nversion = \"550.54.15\"\ncuda = \"12.4\"\n");
    for e in entries {
        t.push_str(GPU);
        t.push_str(e);
        t.push('\n');
    }
    t
}

#[test]
fn gpu_counts_out_of_bounds_are_refused_at_the_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The count sits on line 8 (4 lines of header, 3 of the entry), after `count = `.
    for (count, needle) in [
        ("0", ":8:9: `count = 0`"),
        (
            "4294967295",
            ":8:9: `count = 4294967295` is more GPUs than one entry may count (64)",
        ),
        ("65", ":8:9: `count = 65`"),
        ("-1", ":8:9:"),
        ("4294967296", ":8:9:"),
        ("\"eight\"", ":8:9:"),
    ] {
        let host = write(
            dir.path(),
            "h.toml",
            &profile(&[&format!("count = {count}")]),
        );
        let host = host.to_str().expect("utf-8");
        for cmd in ["probe", "check"] {
            let err = refused(&[cmd, "--host", host], &format!("h.toml{needle}"));
            assert!(err.contains("host profile"), "{err}");
        }
    }
    // 256 GPUs in all is the most: five entries of 64, or 300 entries of one.
    let five = profile(&["count = 64"; 5]);
    let host = write(dir.path(), "five.toml", &five);
    refused(
        &["probe", "--host", host.to_str().expect("utf-8")],
        "the [[gpus]] entries up to here count 320 GPUs, more than a host profile may describe (256)",
    );
    let many = profile(&[""; 300]);
    let host = write(dir.path(), "many.toml", &many);
    refused(
        &["probe", "--host", host.to_str().expect("utf-8")],
        "count 257 GPUs",
    );
    // Within the bounds, every GPU is there.
    let host = write(
        dir.path(),
        "ok.toml",
        &profile(&["count = 64", "count = 2"]),
    );
    let out = run(&[
        "probe",
        "--host",
        host.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", err_of(&out));
    let facts: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let gpus = facts
        .pointer("/host/gpus")
        .or_else(|| facts.get("gpus"))
        .and_then(|g| g.as_array())
        .map(Vec::len);
    assert_eq!(gpus, Some(66), "{facts}");
}

const BUILTIN: &str = include_str!("../../matrices/llm-compression.toml");

#[test]
fn matrices_past_their_bounds_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 2001 libraries and more: the error points at the first one past the bound.
    let builtin = compat::matrix::load_str(BUILTIN, "b")
        .expect("builtin")
        .doc
        .libraries
        .len();
    for extra in [compat::matrix::MAX_LIBRARIES + 1 - builtin, 30_000] {
        let mut m = BUILTIN.to_string();
        for i in 0..extra {
            m.push_str(&format!(
                "\n[[libraries]]\nname = \"extra{i}\"\ntable = \"core\"\nversion = \">=1\"\n"
            ));
        }
        if m.len() as u64 > compat::input::InputKind::Matrix.limit() {
            m.truncate(compat::input::InputKind::Matrix.limit() as usize - 1);
            m.truncate(m.rfind("\n[[libraries]]").expect("entry"));
        }
        let count = m.matches("[[libraries]]").count();
        let first_past = m
            .lines()
            .position(|l| {
                l == format!(
                    "name = \"extra{}\"",
                    compat::matrix::MAX_LIBRARIES - builtin
                )
            })
            .expect("line")
            + 1;
        let path = write(dir.path(), "m.toml", &m);
        refused(
            &["check", "--matrix", path.to_str().expect("utf-8"), "--host", fixture("hosts/h100-550.toml").to_str().expect("utf-8"), "--python", fixture("envs/good-cu124").to_str().expect("utf-8")],
            &format!("m.toml:{first_past}:8: too many libraries: {count} here, and a matrix may have at most 2000"),
        );
    }
    // Graph nodes, all groups together.
    let mut m = BUILTIN.to_string();
    m.push_str("\n[[graph]]\ntitle = \"g\"\n");
    for _ in 0..=compat::matrix::MAX_GRAPH_NODES {
        m.push_str("[[graph.nodes]]\nname = \"torch\"\n");
    }
    let path = write(dir.path(), "g.toml", &m);
    refused(
        &[
            "check",
            "--matrix",
            path.to_str().expect("utf-8"),
            "--host",
            fixture("hosts/h100-550.toml").to_str().expect("utf-8"),
            "--python",
            fixture("envs/good-cu124").to_str().expect("utf-8"),
        ],
        "too many graph nodes",
    );
    // Past the byte limit: refused before parsing, whatever it holds.
    let mut big = BUILTIN.to_string();
    while (big.len() as u64) <= compat::input::InputKind::Matrix.limit() {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let path = write(dir.path(), "big.toml", &big);
    refused(
        &[
            "check",
            "--matrix",
            path.to_str().expect("utf-8"),
            "--host",
            fixture("hosts/h100-550.toml").to_str().expect("utf-8"),
            "--python",
            fixture("envs/good-cu124").to_str().expect("utf-8"),
        ],
        "larger than 4 MiB",
    );
}

#[test]
fn merge_refuses_what_is_not_a_compat_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_in = format!(
        "{{\"schema\": \"compat.check/1\", \"x\": {}{}}}",
        "{\"a\":".repeat(50_000),
        "1".to_string() + &"}".repeat(50_000)
    );
    for (name, text, needle) in [
        ("empty.json", "{}", "no `schema` of the form `compat.check/N`"),
        ("nothing.json", "", "it is not JSON"),
        ("array.json", "[{\"schema\": \"compat.check/1\"}]", "no `schema`"),
        ("number.json", "{\"schema\": 1}", "no `schema`"),
        ("other.json", "{\"schema\": \"compat.fleet/1\"}", "its schema is `compat.fleet/1`, not `compat.check/1`"),
        ("pip.json", "{\"version\": \"1\", \"pip_version\": \"24.0\", \"installed\": [], \"environment\": {}}", "no `schema`"),
        ("next.json", "{\"schema\": \"compat.check/2\"}", "its schema is `compat.check/2`"),
        ("types.json", "{\"schema\": \"compat.check/1\",\n  \"exit_code\": \"zero\"}", "types.json:2:"),
        ("missing.json", "{\"schema\": \"compat.check/1\"}", "missing field"),
        ("deep.json", deep.as_str(), "deep.json:1:"),
        ("deep_in.json", deep_in.as_str(), "recursion limit"),
        ("escape.json", "{\"schema\": \"x\\u001b[31m\"}", "its schema is `x\\x1b[31m`"),
    ] {
        let p = write(dir.path(), name, text);
        let err = refused(&["merge", p.to_str().expect("utf-8")], needle);
        assert!(err.contains(name), "{err}");
        assert!(!err.contains('\u{1b}'), "{err:?}");
    }
    // A real report merges; with a bad one beside it, the whole merge is refused.
    let good = dir.path().join("good.json");
    let out = run(&[
        "check",
        "--host",
        fixture("hosts/h100-550.toml").to_str().expect("utf-8"),
        "--python",
        fixture("envs/good-cu124").to_str().expect("utf-8"),
        "--format",
        "json",
        "--output",
        good.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", err_of(&out));
    let out = run(&["merge", good.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", err_of(&out));
    let bad = write(
        dir.path(),
        "bad.json",
        "{\"schema\": \"compat.check/1\", \"exit_code\": []}",
    );
    refused(
        &[
            "merge",
            good.to_str().expect("utf-8"),
            bad.to_str().expect("utf-8"),
        ],
        "bad.json:1:",
    );
}

/// A venv made by `python3 -m venv`, with its interpreter links removed when `keep_python`
/// is false, and its pyvenv.cfg's version line replaced by `version_line`.
fn venv(dir: &Path, keep_python: bool, version_line: &str) -> PathBuf {
    let v = dir.join("venv");
    let out = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&v)
        .output()
        .expect("python3 -m venv runs");
    assert!(out.status.success(), "{}", err_of(&out));
    if !keep_python {
        for e in std::fs::read_dir(v.join("bin")).expect("bin") {
            let p = e.expect("entry").path();
            if p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("python"))
            {
                std::fs::remove_file(&p).expect("remove");
            }
        }
    }
    let cfg = v.join("pyvenv.cfg");
    let text = std::fs::read_to_string(&cfg).expect("pyvenv.cfg");
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("version"))
        .map(str::to_string)
        .collect();
    lines.insert(2, version_line.to_string());
    std::fs::write(&cfg, lines.join("\n") + "\n").expect("write pyvenv.cfg");
    v
}

#[test]
fn a_bad_pyvenv_version_is_named_at_its_line() {
    let host = fixture("hosts/h100-550.toml");
    let host = host.to_str().expect("utf-8");
    for (line, needle) in [
        (
            "version = banana",
            "pyvenv.cfg:3: `banana` is not a Python version",
        ),
        (
            "version_info = 3.x",
            "pyvenv.cfg:3: `3.x` is not a Python version",
        ),
        ("version = 3", "pyvenv.cfg:3: `3` is not a Python version"),
        ("version = ", "pyvenv.cfg:3: `` is not a Python version"),
        ("# no version", "pyvenv.cfg: no `version` line"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = venv(dir.path(), false, line);
        let err = refused(
            &[
                "check",
                "--host",
                host,
                "--python",
                v.to_str().expect("utf-8"),
            ],
            needle,
        );
        assert!(!err.contains("does not exist"), "{err}");
        assert!(!err.contains("neither pyvenv.cfg"), "{err}");
    }
    // With its interpreter still there, the interpreter is asked instead: the venv is read.
    let dir = tempfile::tempdir().expect("tempdir");
    let v = venv(dir.path(), true, "version = banana");
    let out = run(&[
        "check",
        "--host",
        host,
        "--python",
        v.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", err_of(&out));
    let r = report_of(&out);
    assert_eq!(r.environment.interpreter.read_from, "interpreter call");
}
