//! Environments that are odd rather than malicious, and must not take the report down: file
//! names in site-packages that are not UTF-8 (a `.dist-info` folder, a top-level module, a
//! CUDA library found by listing or named in `RECORD`, the venv's own folder), and NVIDIA
//! driver libraries that lack symbols (stubs built here with `cc` and found through
//! `LD_LIBRARY_PATH`). Each run must exit with its normal code, print a complete JSON report,
//! and say what is odd: a `non-unicode-path` finding, or a note naming the library and symbol.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::hostile_io::{copy_env, site_packages};
use crate::util::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A path under `dir` whose last component is `name`'s bytes (not UTF-8).
fn raw(dir: &Path, name: &[u8]) -> PathBuf {
    dir.join(OsStr::from_bytes(name))
}

/// `compat ARGS` with extra environment variables; never a panic, never exit 101.
fn run_env(args: &[&OsStr], env: &[(&str, &OsStr)]) -> Output {
    let mut c = compat();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("compat runs");
    let err = text(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{args:?} panicked: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    out
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// `compat probe --format json --python ENV`: exit 0 and a whole `compat.probe/1` document.
fn probe_json(env: &Path, vars: &[(&str, &OsStr)]) -> serde_json::Value {
    let out = run_env(
        &[
            os("probe"),
            os("--format"),
            os("json"),
            os("--python"),
            env.as_os_str(),
        ],
        vars,
    );
    assert_eq!(out.status.code(), Some(0), "probe: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("probe JSON ({e}): {}", text(&out.stdout)));
    assert_eq!(v["schema"], "compat.probe/1", "{v}");
    assert!(v["host"].is_object() && v["environment"]["distributions"].is_object());
    v
}

/// `compat check --format json --offline --python ENV`: the normal exit code (0 or 1) and a
/// report that reads back as compat's own type.
fn check_json(env: &Path, vars: &[(&str, &OsStr)]) -> (i32, serde_json::Value) {
    let out = run_env(
        &[
            os("check"),
            os("--format"),
            os("json"),
            os("--offline"),
            os("--python"),
            env.as_os_str(),
        ],
        vars,
    );
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "check exit {code}: {}",
        text(&out.stderr)
    );
    let _typed = report_of(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check JSON");
    assert_eq!(v["schema"], "compat.check/1");
    (code, v)
}

/// The `non-unicode-path` findings of a report's `findings` array, as `(path, message)`.
fn non_utf8(findings: &serde_json::Value) -> Vec<(String, String)> {
    findings
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["code"] == "non-unicode-path")
        .map(|f| {
            (
                f["path"].as_str().unwrap_or("").to_string(),
                f["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn assert_finding(found: &[(String, String)], lossy_tail: &str) {
    assert!(
        found
            .iter()
            .any(|(p, m)| p.ends_with(lossy_tail) && m.contains("is not UTF-8")),
        "no non-unicode-path finding for …{lossy_tail} in {found:?}"
    );
}

fn mkdir(dir: &Path, name: &str) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

/// The fixture environment with four names that are not UTF-8 added to its site-packages.
fn hostile_env(dir: &Path) -> PathBuf {
    let env = copy_env(dir);
    let site = site_packages(&env);
    // 1. a .dist-info folder, with metadata of its own: the package must still be read
    let d = raw(&site, b"caf\xe9-1.0.dist-info");
    std::fs::create_dir(&d).expect("dist-info");
    std::fs::write(
        d.join("METADATA"),
        "Metadata-Version: 2.1\nName: cafe\nVersion: 1.0\n",
    )
    .expect("METADATA");
    // 2. a top-level module folder
    std::fs::create_dir(raw(&site, b"mod\xff")).expect("module");
    // 3. a CUDA library found by listing bitsandbytes' folder
    std::fs::write(
        raw(&site.join("bitsandbytes"), b"libbitsandbytes_cuda\xfe.so"),
        b"not ELF",
    )
    .expect("bnb library");
    // 4. a library named in a RECORD: RECORD itself is then not UTF-8
    let rec = site.join("cudaext-0.1.dist-info");
    std::fs::create_dir(&rec).expect("cudaext");
    std::fs::write(
        rec.join("METADATA"),
        "Metadata-Version: 2.1\nName: cudaext\nVersion: 0.1\n",
    )
    .expect("METADATA");
    let mut record = b"cudaext/__init__.py,,\ncudaext/_cuda\xe9.so,,\n".to_vec();
    record.extend_from_slice(b"cudaext-0.1.dist-info/RECORD,,\n");
    std::fs::write(rec.join("RECORD"), record).expect("RECORD");
    std::fs::create_dir(site.join("cudaext")).expect("cudaext/");
    std::fs::write(raw(&site.join("cudaext"), b"_cuda\xe9.so"), b"not ELF").expect("so");
    env
}

const TAILS: &[&str] = &[
    "caf\u{fffd}-1.0.dist-info",
    "mod\u{fffd}",
    "libbitsandbytes_cuda\u{fffd}.so",
    "_cuda\u{fffd}.so",
];

#[test]
fn non_utf8_names_in_site_packages_are_reported_lossily_in_probe_json() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let clean = probe_json(&copy_env(&mkdir(tmp.path(), "clean")), &[]);
    let env = hostile_env(tmp.path());
    let v = probe_json(&env, &[]);
    let found = non_utf8(&v["environment"]["findings"]);
    for t in TAILS {
        assert_finding(&found, t);
    }
    let dists = v["environment"]["distributions"].as_object().expect("map");
    let clean_dists = clean["environment"]["distributions"]
        .as_object()
        .expect("map");
    // every package of the clean copy, plus the two added; `cafe` by its lossy path
    for name in clean_dists.keys() {
        assert!(dists.contains_key(name), "{name} lost");
    }
    assert_eq!(dists.len(), clean_dists.len() + 2);
    let cafe = dists["cafe"]["path"].as_str().expect("path");
    assert!(cafe.ends_with("caf\u{fffd}-1.0.dist-info"), "{cafe}");
    assert!(dists.contains_key("torch"));
    // the table says the same, and does not fail either
    let out = run_env(&[os("probe"), os("--python"), env.as_os_str()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn non_utf8_names_in_site_packages_are_reported_lossily_in_check_json() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (clean_code, clean) = check_json(&copy_env(&mkdir(tmp.path(), "clean")), &[]);
    let env = hostile_env(tmp.path());
    let (code, v) = check_json(&env, &[]);
    assert_eq!(code, clean_code, "the odd names change no verdict");
    let found = non_utf8(&v["findings"]);
    for t in TAILS {
        assert_finding(&found, t);
    }
    assert_eq!(
        v["environment"]["distributions"].as_u64(),
        clean["environment"]["distributions"]
            .as_u64()
            .map(|n| n + 2)
    );
    // the verdicts are the clean copy's: the same tables, rows and verdicts
    assert_eq!(v["verification"]["tables"], clean["verification"]["tables"]);
    // table output too
    let out = run_env(
        &[
            os("check"),
            os("--offline"),
            os("--python"),
            env.as_os_str(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(clean_code), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("non-unicode-path") || text(&out.stdout).contains("not UTF-8")
    );
}

#[test]
fn a_venv_whose_own_folder_is_not_utf8_is_read() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = copy_env(tmp.path());
    let odd = raw(tmp.path(), b"v\xe9nv");
    std::fs::rename(&env, &odd).expect("rename");
    let (_, v) = check_json(&odd, &[]);
    let found = non_utf8(&v["findings"]);
    assert_finding(&found, "site-packages");
    assert!(v["environment"]["interpreter"]["prefix"]
        .as_str()
        .expect("prefix")
        .contains("v\u{fffd}nv"));
    let p = probe_json(&odd, &[]);
    assert!(p["environment"]["distributions"]
        .as_object()
        .expect("map")
        .contains_key("torch"));
}

// ---- driver libraries that lack symbols ----

/// Builds `lib` (a shared library from the C `source`) in `dir` with `cc`.
fn build_stub(dir: &Path, lib: &str, source: &str) {
    let c = dir.join(format!("{lib}.c"));
    std::fs::write(&c, source).expect("write C");
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(dir.join(lib))
        .arg(&c)
        .output()
        .unwrap_or_else(|e| panic!("these tests need a C compiler (`cc`) on PATH: {e}"));
    assert!(out.status.success(), "cc {lib}: {}", text(&out.stderr));
}

/// A folder with a libcuda.so.1 exporting `cuInit` and `cuDriverGetVersion` (success, 12.4)
/// and a libnvidia-ml.so.1 exporting `nvmlInit_v2` only; or (`empty`) both exporting nothing.
fn stub_dir(dir: &Path, empty: bool) -> PathBuf {
    let d = dir.join(if empty { "empty" } else { "partial" });
    std::fs::create_dir_all(&d).expect("stub dir");
    if empty {
        build_stub(&d, "libcuda.so.1", "int compat_stub_nothing;\n");
        build_stub(&d, "libnvidia-ml.so.1", "int compat_stub_nothing;\n");
    } else {
        build_stub(
            &d,
            "libcuda.so.1",
            "int cuInit(unsigned int f) { (void)f; return 0; }\n\
             int cuDriverGetVersion(int *v) { *v = 12040; return 0; }\n",
        );
        build_stub(
            &d,
            "libnvidia-ml.so.1",
            "int nvmlInit_v2(void) { return 0; }\n",
        );
    }
    d
}

fn notes(v: &serde_json::Value) -> Vec<String> {
    v["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect()
}

fn assert_note(notes: &[String], needle: &str) {
    assert!(
        notes.iter().any(|n| n.contains(needle)),
        "no note with `{needle}` in {notes:#?}"
    );
}

#[test]
fn stub_driver_libraries_are_notes_in_probe_and_check() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = copy_env(tmp.path());
    for empty in [false, true] {
        let stubs = stub_dir(tmp.path(), empty);
        let vars = [("LD_LIBRARY_PATH", stubs.as_os_str())];
        let p = probe_json(&env, &vars);
        let n = notes(&p["host"]);
        let (_, c) = check_json(&env, &vars);
        let cn = notes(&c["host"]);
        for notes in [&n, &cn] {
            assert_note(notes, "libnvidia-ml.so.1");
            assert_note(notes, "nvmlShutdown");
            assert_note(notes, &stubs.join("libcuda.so.1").display().to_string());
            if empty {
                assert_note(notes, "libcuda.so.1");
                assert_note(notes, "lacks cuInit, cuDriverGetVersion");
                assert_note(notes, "lacks nvmlInit_v2");
            } else {
                // the probe's two symbols are there: libcuda's CUDA version is a fact, and
                // what the smoke test would lack is a note
                assert_note(notes, "lacks nvmlShutdown");
                assert_note(notes, "cuLaunchKernel");
            }
        }
        if empty {
            assert!(p["host"]["libcuda_cuda"].is_null());
        } else {
            assert_eq!(p["host"]["libcuda_cuda"]["value"], "12.4", "{}", p["host"]);
        }
        assert!(p["environment"]["distributions"]
            .as_object()
            .expect("map")
            .contains_key("torch"));
    }
}

#[test]
fn smoke_on_cuda_with_a_stub_driver_exits_2_naming_the_symbol() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (empty, symbol) in [(false, "cuLaunchKernel"), (true, "cuInit")] {
        let stubs = stub_dir(tmp.path(), empty);
        let out = run_env(
            &[
                os("smoke"),
                os("--device"),
                os("cuda"),
                os("--level"),
                os("quick"),
            ],
            &[("LD_LIBRARY_PATH", stubs.as_os_str())],
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("the CUDA driver cannot be used"), "{err}");
        assert!(err.contains("libcuda.so.1"), "{err}");
        assert!(err.contains(symbol), "{err}");
        assert!(out.stdout.is_empty(), "no report after the error");
    }
}
