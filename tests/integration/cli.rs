//! The command line itself: the shared flag groups, the renamed flags and their old spellings,
//! values that are not representable, and the one error printer (`error:`, `Caused by:`,
//! `hint:`, exit 2).

use crate::util::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn install_order_python_command_and_its_old_spelling() {
    let host = fixture("hosts/h100-550.toml");
    for flag in ["--python-command", "--python"] {
        let out = compat()
            .args(["install-order", flag, "python3.11", "--host"])
            .arg(&host)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(0), "{flag}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("python3.11 -m pip install"), "{flag}: {text}");
    }
    // The old spelling works but is not offered.
    let help = compat()
        .args(["install-order", "--help"])
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--python-command"), "{help}");
    assert!(!help.contains("--python <"), "{help}");
}

#[test]
fn smoke_level_none_is_a_usage_error() {
    let out = run(&["smoke", "--level", "none"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'none'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_flag_has_help() {
    for cmd in ["check", "probe", "install-order", "risk", "smoke", "merge"] {
        let out = run(&[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{cmd}");
        let help = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            // In long help, a flag's description is on the lines after it, indented deeper.
            if line.trim_start().starts_with("--") || line.trim_start().starts_with("-o,") {
                let next = lines.get(i + 1).copied().unwrap_or("");
                assert!(
                    next.starts_with("          ") && !next.trim().is_empty(),
                    "{cmd}: `{}` has no help",
                    line.trim()
                );
            }
        }
    }
}

#[test]
fn errors_print_their_causes_and_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    // JSON, with the schema of a check report, but not one.
    let bad = dir.path().join("node1.json");
    std::fs::write(&bad, "{\"schema\": \"compat.check/1\", \"exit_code\": 0}").expect("write");
    let out = compat().arg("merge").arg(&bad).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("node1.json"),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  Caused by: ") && l.contains("missing field")),
        "{err}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("  hint: ") && l.contains("--format json")),
        "{err}"
    );
    // Another schema version is named as such.
    std::fs::write(&bad, "{\"schema\": \"compat.check/9\"}").expect("write");
    let out = compat().arg("merge").arg(&bad).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("compat.check/9"), "{}", stderr(&out));

    // A report that cannot be written: the path, then the operating system's reason.
    let out = compat()
        .args(["check", "--python"])
        .arg(fixture("envs/good-cu124"))
        .arg("--output")
        .arg(dir.path().join("missing/report.txt"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.starts_with("error: cannot write "), "{err}");
    assert!(err.contains("report.txt"), "{err}");
    assert!(err.contains("\n  Caused by: "), "{err}");
}

/// `compat check | head -1`: the reader goes away before compat writes. compat ends quietly
/// with the check's own exit code (here 1: the RTX 5090 fails the cu124 torch), no panic, no
/// error. A full disk is an error (exit 2), never a silent 0.
#[test]
fn a_closed_pipe_ends_quietly_and_a_full_disk_is_an_error() {
    let env = fixture("envs/good-cu124");
    let host = fixture("hosts/rtx5090-570.toml");
    for format in ["table", "json"] {
        let mut child = compat()
            .args(["check", "--format", format, "--python"])
            .arg(&env)
            .arg("--host")
            .arg(&host)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("waits");
        assert_eq!(out.status.code(), Some(1), "{format}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{format}: nothing on stderr");
    }
    if std::path::Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full opens");
        let out = compat()
            .args(["check", "--python"])
            .arg(&env)
            .arg("--host")
            .arg(&host)
            .stdout(full)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("cannot write to standard output"),
            "{}",
            stderr(&out)
        );
    } else {
        eprintln!("skipped the /dev/full case: this machine has no /dev/full");
    }
}
