//! `compat check --requirements`: the gate before an environment is built. Plans are judged
//! against host profiles, on this CPU-only machine, before anything is installed.

use compat::requirements::PlanFileFormat;

use crate::util::*;

fn fix_of(c: &Cell) -> &str {
    c.fix.as_deref().unwrap_or("")
}

fn check_plan(plan: &str, host: &str, extra: &[&str]) -> (i32, Report, String) {
    let out = compat()
        .args(["check", "--format", "json", "--offline", "--requirements"])
        .arg(fixture(&format!("plans/{plan}")))
        .arg("--host")
        .arg(fixture(&format!("hosts/{host}.toml")))
        .arg("--python")
        .arg(fixture("envs/good-cu124"))
        .args(extra)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), report_of(&out), stderr)
}

fn plan_format(r: &Report) -> Option<PlanFileFormat> {
    r.plan.as_ref().map(|p| p.format)
}

#[test]
fn a_good_plan_passes_on_its_host() {
    let (code, r, err) = check_plan("good-cu124.txt", "h100-550", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(plan_format(&r), Some(PlanFileFormat::Requirements));
    assert_eq!(verdict(&r, "torch", "cuda"), Verdict::Verified);
    assert_eq!(verdict(&r, "torch", "version"), Verdict::Verified);
    // Without metadata (offline), what needs Requires-Python is left unverified, not passed.
    assert_eq!(verdict(&r, "peft", "python"), Verdict::Unverified);
    assert!(reason_of(cell(&r, "peft", "python")).contains("no metadata"));
    // Stricter gate: every checkable cell must be verified.
    let (code, _, _) = check_plan("good-cu124.txt", "h100-550", &["--fail-on", "unverified"]);
    assert_eq!(code, 1);
}

#[test]
fn a_cu130_torch_fails_for_volta_before_anything_is_installed() {
    let (code, r, _) = check_plan("cu130-torch.txt", "v100-580", &[]);
    assert_eq!(code, 1);
    let c = cell(&r, "torch", "cuda");
    assert_eq!(c.verdict, Verdict::Failed);
    assert!(
        reason_of(c).contains("no kernels for Tesla V100-SXM2-32GB (sm_70)"),
        "{c:?}"
    );
    assert!(fix_of(c).contains("cu128"), "{c:?}");
    // The same plan is fine for the H100 driver branch that runs CUDA 13? No: 550 cannot run cu130.
    let (code, r, _) = check_plan("cu130-torch.txt", "h100-550", &[]);
    assert_eq!(code, 1);
    assert!(fix_of(cell(&r, "torch", "cuda")).contains("upgrade the driver"));
}

#[test]
fn a_driver_too_old_fails_with_the_fix() {
    let (code, r, _) = check_plan("good-cu124.txt", "a100-470", &[]);
    assert_eq!(code, 1);
    let c = cell(&r, "torch", "cuda");
    assert_eq!(c.verdict, Verdict::Failed);
    let reason = reason_of(c);
    assert!(
        reason.contains("driver 470.82.01 (supports CUDA 11.4) cannot run CUDA 12.4 builds"),
        "{reason}"
    );
    let fix = fix_of(c);
    assert!(
        fix.contains("upgrade the NVIDIA driver to >= 525.60.13") && fix.contains("cu118"),
        "{fix}"
    );
}

#[test]
fn a_pip_report_carries_metadata_for_every_check() {
    let (code, r, err) = check_plan("good-stack.report.json", "h100-550", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(plan_format(&r), Some(PlanFileFormat::PipReport));
    assert_eq!(verdict(&r, "peft", "python"), Verdict::Verified);
    assert_eq!(verdict(&r, "peft", "pytorch"), Verdict::Verified);
    let consistency = &r.verification.consistency;
    assert_eq!(consistency.problems.len(), 0);
    assert!(consistency.requirements_checked > 50);
    // PyPI's default torch 2.4.1 is the CUDA 12.1 build: the CUDA 12.4 claim is not exercised.
    let c = cell(&r, "torch", "cuda");
    assert_eq!(c.verdict, Verdict::Unverified);
    assert!(reason_of(c).contains("built for CUDA 12.1"), "{c:?}");
}

#[test]
fn locks_are_read() {
    let (code, r, err) = check_plan("pylock.toml", "h100-550", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(plan_format(&r), Some(PlanFileFormat::Pylock));
    assert_eq!(verdict(&r, "torch", "cuda"), Verdict::Verified);
    let (code, r, err) = check_plan("uv.lock", "v100-580", &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(plan_format(&r), Some(PlanFileFormat::UvLock));
    assert_eq!(verdict(&r, "torch", "cuda"), Verdict::Failed);
}

#[test]
fn malformed_plans_are_bad_input_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text, line) in [
        (
            "requirements.txt",
            "torch==2.4.1\n\ntransformers >>= 4\n",
            3,
        ),
        (
            "pylock.toml",
            "lock-version = \"1.0\"\n[[packages]]\nname = 5\n",
            3,
        ),
        ("uv.lock", "version = 1\n[[package]\n", 2),
        ("report.json", "{\"install\": [\n{\"metadata\": }]}", 2),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        let out = check_offline(&p);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{name}:{line}:")), "{name}: {err}");
    }
    // Too large to be a plan.
    let big = dir.path().join("big.txt");
    std::fs::write(&big, "a".repeat(9 * 1024 * 1024)).expect("write");
    let out = compat()
        .args(["check", "--requirements"])
        .arg(&big)
        .arg("--python")
        .arg(fixture("envs/good-cu124"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("limit"));
}

/// `compat check --offline --requirements PLAN` against the good-cu124 fixture environment.
fn check_offline(plan: &std::path::Path) -> std::process::Output {
    compat()
        .args(["check", "--offline", "--requirements"])
        .arg(plan)
        .arg("--python")
        .arg(fixture("envs/good-cu124"))
        .output()
        .expect("runs")
}

/// A pip report with a field of the wrong type, a missing `name`/`version`, or a version that
/// is not PEP 440 is bad input (exit 2) at the field's `file:line:column`, naming its path; before,
/// such fields were dropped and the check went on.
#[test]
fn pip_reports_with_wrong_typed_fields_are_bad_input_at_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (text, at) in [
        ("{\"version\": \"1\",\n \"install\": {}}", "2:13: install: invalid type: map"),
        (
            "{\"install\": [\n  {\"metadata\": {\"name\": \"peft\", \"version\": 3}}]}",
            "2:44: install[0].metadata.version: invalid type: integer `3`",
        ),
        (
            "{\"install\": [{\"metadata\": {\"name\": \"peft\", \"version\": \"0.12.0\",\n    \"requires_dist\": \"torch\"}}]}",
            "2:28: install[0].metadata.requires_dist: invalid type: string \"torch\"",
        ),
        (
            "{\"install\": [{\"download_info\": 5,\n  \"metadata\": {\"name\": \"peft\", \"version\": \"0.12.0\"}}]}",
            "1:32: install[0].download_info: invalid type: integer `5`",
        ),
        (
            "{\"install\": [\n{\"metadata\": {\"name\": 7, \"version\": \"0.12.0\"}}]}",
            "2:23: install[0].metadata.name: invalid type: integer `7`",
        ),
        (
            "{\"install\": [\n{\"metadata\": {\"name\": \"peft\"}}]}",
            "2:29: install[0].metadata: missing field `version`",
        ),
        (
            "{\"install\": [\n{\"metadata\": {\"name\": \"peft\", \"version\": \"$(touch x)\"}}]}",
            "2:53: install[0].metadata.version: `$(touch x)` is not a PEP 440 version",
        ),
    ] {
        let p = dir.path().join("report.json");
        std::fs::write(&p, text).expect("write");
        let out = check_offline(&p);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(&format!("report.json:{at}")), "{text}\n{err}");
    }
}

#[test]
fn junit_has_one_case_per_cell() {
    let out = compat()
        .args(["check", "--format", "junit", "--host"])
        .arg(fixture("hosts/rtx5090-570.toml"))
        .arg("--python")
        .arg(fixture("envs/good-cu124"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
    assert_eq!(
        xml.matches("<testcase ").count(),
        64 + 1 + 1,
        "64 cells + the consistency case + COMPAT-2026-0027 (torch cu124 on an RTX 5090)"
    );
    assert_eq!(xml.matches("<failure ").count(), 6 + 1);
    assert!(xml.contains("COMPAT-2026-0027"));
    assert!(xml.contains("name=\"torch CUDA 12.4\""));
    // Three matrix tables, the consistency suite and the advisories suite.
    assert_eq!(xml.matches("<testsuite ").count(), 5);
    assert_eq!(xml.matches("</testsuite>").count(), 5);
}

#[test]
fn fleet_merge_groups_identical_hosts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (i, host) in ["h100-550", "h100-550", "rtx5090-570", "cpu-only"]
        .iter()
        .enumerate()
    {
        let p = dir.path().join(format!("node{i}.json"));
        let out = compat()
            .args(["check", "--format", "json", "--output"])
            .arg(&p)
            .arg("--host")
            .arg(fixture(&format!("hosts/{host}.toml")))
            .arg("--python")
            .arg(fixture("envs/good-cu124"))
            .output()
            .expect("runs");
        assert!(out.status.code().is_some());
        files.push(p);
    }
    let out = compat()
        .args(["merge", "--format", "json"])
        .args(&files)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "one node fails");
    let f: compat::report::Fleet = serde_json::from_slice(&out.stdout).expect("a fleet matrix");
    assert_eq!(f.schema, "compat.fleet/1");
    assert_eq!(f.reports, 4);
    assert_eq!(f.groups.len(), 3);
    assert_eq!(f.failing_hosts.len(), 1);
    assert!(
        f.cells.iter().any(|c| c.contains("torch · CUDA 12.4")),
        "{:?}",
        f.cells
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"schema\": \"other\"}").expect("write");
    let out = compat().args(["merge"]).arg(&bad).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
}
