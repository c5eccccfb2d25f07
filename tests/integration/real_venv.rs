//! Real Python environments made with `python3 -m venv`: discovery, both ways of reading an
//! interpreter, and agreement with the venv's own `pip check` (run here, offline).

use crate::util::*;
use std::path::Path;
use std::process::Command;

/// These tests need python3 with venv; they fail (not pass) without it, as README says.
fn require_python3() {
    let ok = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "these tests need python3 with the venv and ensurepip modules on PATH"
    );
}

fn make_venv(dir: &Path, args: &[&str]) {
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .args(args)
        .arg(dir)
        .output()
        .expect("python3 -m venv runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn site_packages(venv: &Path) -> std::path::PathBuf {
    let lib = venv.join("lib");
    let minor = std::fs::read_dir(&lib)
        .expect("lib")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .expect("lib/python3.X");
    minor.path().join("site-packages")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

#[test]
fn real_venv_agrees_with_its_own_pip_check() {
    require_python3();
    let tmp = tempfile::tempdir().expect("tempdir");
    let venv = tmp.path().join("venv");
    make_venv(&venv, &[]);

    // A fresh venv: pip is there, nothing of the matrix is, nothing fails.
    let c = check_json(&venv, &[]);
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert_eq!(c.report.environment.interpreter.read_from, "pyvenv.cfg");
    let torch = c.report.verification.installed.get("torch").cloned();
    assert_eq!(torch.flatten(), None);
    assert!(
        c.report.environment.distributions >= 1,
        "pip's own dist-info was not found"
    );

    // Found through VIRTUAL_ENV, as an activated venv would be.
    let out = compat()
        .args(["check", "--format", "json"])
        .env("VIRTUAL_ENV", &venv)
        .output()
        .expect("runs");
    let r = report_of(&out);
    assert_eq!(
        r.environment.interpreter.source,
        compat::env::InterpreterSource::VirtualEnv
    );

    // Copy real packages' metadata in (the `conflicts` fixture) and ask the venv's own pip.
    let site = site_packages(&venv);
    let fixture_site = site_packages(&fixture("envs/conflicts"));
    copy_dir(&fixture_site, &site);
    let pip = Command::new(venv.join("bin/python"))
        .args(["-m", "pip", "check", "--disable-pip-version-check"])
        .env("PIP_NO_INDEX", "1")
        .output()
        .expect("pip check runs");
    let pip_text = String::from_utf8_lossy(&pip.stdout).into_owned();
    let c = check_json(&venv.join("bin/python"), &[]);
    assert_eq!(c.code, 1);
    assert_eq!(pip.status.code(), Some(1), "{pip_text}");
    let theirs = pip_check_problems(&pip_text);
    assert!(!theirs.is_empty());
    assert_eq!(
        compat_problems(&c.report),
        theirs,
        "pip check said:\n{pip_text}"
    );
    let torch = c.report.environment.torch.as_ref().expect("torch");
    assert_eq!(torch.cuda.as_deref(), Some("12.1"));
}

#[test]
fn interpreter_call_and_layout_read_the_same_markers() {
    require_python3();
    let tmp = tempfile::tempdir().expect("tempdir");
    let plain = tmp.path().join("plain");
    let system = tmp.path().join("system");
    make_venv(&plain, &["--without-pip"]);
    // A venv that sees the system site-packages cannot be read from its layout alone.
    make_venv(&system, &["--without-pip", "--system-site-packages"]);
    let a = check_json(&plain, &[]).report.environment.interpreter;
    let b = check_json(&system, &[]).report.environment.interpreter;
    assert_eq!(a.read_from, "pyvenv.cfg");
    assert_eq!(b.read_from, "interpreter call");
    assert_eq!(a.markers, b.markers);
    let sites = b.site_packages.len();
    assert!(
        sites >= 2,
        "the system site-packages should be searched too"
    );
}

#[test]
fn asking_the_interpreter_runs_nothing_from_the_environment() {
    // A venv that sees the system site-packages is read by one interpreter call. Its
    // site-packages holds a `.pth` file with an `import` line, a sitecustomize, and the folder
    // compat runs in holds a `json.py` and a `platform.py`: Python would run each of them on a
    // plain `python -c`. None may run; the `.pth` file's path line is still followed.
    require_python3();
    let tmp = tempfile::tempdir().expect("tempdir");
    let venv = tmp.path().join("system");
    make_venv(&venv, &["--without-pip", "--system-site-packages"]);
    let site = site_packages(&venv);
    let marker = |name: &str| tmp.path().join(format!("ran-{name}"));
    let touch = |name: &str| {
        format!(
            "open({:?}, 'w').close()",
            marker(name).display().to_string()
        )
    };
    let extra = tmp.path().join("extra");
    std::fs::create_dir_all(extra.join("extra_pkg-1.0.dist-info")).expect("mkdir");
    std::fs::write(
        extra.join("extra_pkg-1.0.dist-info/METADATA"),
        "Metadata-Version: 2.1\nName: extra-pkg\nVersion: 1.0\n",
    )
    .expect("write");
    std::fs::write(
        site.join("aaa.pth"),
        format!("{}\nimport os; {}\n", extra.display(), touch("pth")),
    )
    .expect("write");
    std::fs::write(site.join("sitecustomize.py"), touch("sitecustomize") + "\n").expect("write");
    let cwd = tmp.path().join("work");
    std::fs::create_dir_all(&cwd).expect("mkdir");
    for module in ["json", "platform", "os", "site"] {
        std::fs::write(cwd.join(format!("{module}.py")), touch(module) + "\n").expect("write");
    }
    let out = compat()
        .current_dir(&cwd)
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .args(["check", "--format", "json", "--python"])
        .arg(&venv)
        .output()
        .expect("compat runs");
    let report = report_of(&out);
    for name in ["pth", "sitecustomize", "json", "platform", "os", "site"] {
        assert!(
            !marker(name).exists(),
            "{name} ran in the target interpreter"
        );
    }
    let interp = report.environment.interpreter;
    assert_eq!(interp.read_from, "interpreter call");
    assert!(
        interp.site_packages.iter().any(|p| p == &extra),
        "the .pth path line is followed: {:?}",
        interp.site_packages
    );
    // The same Python started as Python starts would have run them (the test can fail).
    let python = venv.join("bin/python3");
    Command::new(&python)
        .current_dir(&cwd)
        .args(["-c", "import json"])
        .output()
        .expect("python runs");
    assert!(
        marker("pth").exists() && marker("sitecustomize").exists() && marker("json").exists(),
        "a plain interpreter start runs them, so their absence above is the isolation's doing"
    );
}

/// An empty venv: every cell is not installed, and the report says what to run next — the
/// install-order command for the same matrix, host profile and interpreter, which runs as
/// printed in a shell even when the paths hold spaces and quotes.
#[test]
fn an_empty_venv_is_told_the_install_order_command_for_its_host() {
    require_python3();
    let tmp = tempfile::tempdir().expect("tempdir");
    let venv = tmp.path().join("empty venv");
    make_venv(&venv, &["--without-pip"]);
    let host = tmp.path().join("host's profile.toml");
    std::fs::copy(fixture("hosts/h100-550.toml"), &host).expect("copy host profile");
    let host_arg = host.to_str().expect("utf-8 path");

    let c = check_json(&venv, &["--host", host_arg]);
    assert_eq!(c.code, 0, "{}", c.stderr);
    let n = &c.report.verification.counts;
    assert_eq!((n.verified, n.failed, n.unverified), (0, 0, 0));
    assert!(n.not_installed > 0);
    let next = c.report.next_step.clone().expect("a next step");
    assert!(next.starts_with("compat install-order --host '"), "{next}");
    assert!(next.contains("'\\''s profile.toml'"), "{next}");
    assert!(next.contains("--python-command '"), "{next}");

    // The command runs as printed.
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_compat"));
    let path = format!(
        "{}:{}",
        bin.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ran = Command::new("sh")
        .args(["-c", &format!("{next} --format json")])
        .env("PATH", path)
        .output()
        .expect("sh runs");
    assert!(
        ran.status.success(),
        "{next}: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&ran.stdout).expect("install-order JSON");
    let text = plan.to_string();
    assert!(
        text.contains("venv/bin/python"),
        "the venv's interpreter is used: {text}"
    );

    // Every human format says it in one line.
    for format in ["table", "summary", "markdown"] {
        let out = compat()
            .args([
                "check", "--color", "never", "--format", format, "--host", host_arg, "--python",
            ])
            .arg(&venv)
            .output()
            .expect("compat runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout.lines().filter(|l| l.contains(&next)).collect();
        assert_eq!(lines.len(), 1, "{format}: {stdout}");
        assert!(
            lines[0].contains("nothing of the matrix is installed"),
            "{format}"
        );
    }

    // With the matrix given as a file, the command names it too; an environment with the
    // matrix's libraries gets no next step.
    let m = fixture("../matrices/llm-compression.toml");
    let c = check_json(&venv, &["--matrix", m.to_str().expect("utf-8")]);
    let next = c.report.next_step.expect("a next step");
    assert!(next.starts_with("compat install-order --matrix "), "{next}");
    assert!(!next.contains("--host"), "{next}");
    let c = check_json(&fixture("envs/good-cu124"), &[]);
    assert_eq!(c.report.next_step, None);
}
