//! Hostile inputs and outputs, made in a temporary folder: FIFOs, device nodes, symbolic links,
//! oversized files, non-UTF-8 names. Every run has a deadline: a read that would never end is a
//! failed test, never a hung test binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// Runs `cmd` (stdin closed), killing it after `secs`: `None` when it had to be killed.
fn run_within(mut cmd: Command, secs: u64) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("compat starts");
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return Some(child.wait_with_output().expect("output"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn err_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `compat ARGS`, expecting exit 2 within 20 s with `needle` on stderr.
fn refused(args: &[&std::ffi::OsStr], needle: &str) -> String {
    let mut c = compat();
    c.args(args);
    let out = run_within(c, 20).unwrap_or_else(|| panic!("{args:?}: did not end within 20 s"));
    let err = err_of(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: wanted `{needle}` in: {err}"
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    err
}

pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// The inputs a command line names, each with the flags that pass it.
fn each_input(special: &Path) -> Vec<Vec<std::ffi::OsString>> {
    let host = fixture("hosts/h100-550.toml");
    let env = fixture("envs/good-cu124");
    let s = special.as_os_str().to_owned();
    vec![
        vec![
            "check".into(),
            "--matrix".into(),
            s.clone(),
            "--host".into(),
            host.clone().into(),
        ],
        vec![
            "check".into(),
            "--host".into(),
            s.clone(),
            "--python".into(),
            env.clone().into(),
        ],
        vec![
            "check".into(),
            "--offline".into(),
            "--requirements".into(),
            s.clone(),
            "--host".into(),
            host.into(),
            "--python".into(),
            env.into(),
        ],
        vec!["merge".into(), s],
    ]
}

#[test]
fn a_fifo_given_as_any_input_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("input.toml");
    mkfifo(&fifo);
    for args in each_input(&fifo) {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let err = refused(&args, "FIFO");
        assert!(err.contains("input.toml"), "{err}");
    }
}

#[test]
fn dev_zero_and_a_symlink_to_it_are_refused_as_devices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("requirements.txt");
    std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
    for special in [Path::new("/dev/zero"), link.as_path()] {
        for args in each_input(special) {
            let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
            refused(&args, "character device");
        }
    }
}

#[test]
fn a_directory_and_an_oversized_file_are_refused_with_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = fixture("hosts/h100-550.toml");
    refused(
        &[
            os("check"),
            os("--matrix"),
            dir.path().as_os_str(),
            os("--host"),
            host.as_os_str(),
        ],
        "directory",
    );
    // One byte over the matrix limit (4 MiB), as a TOML comment: refused before parsing.
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; 4 * 1024 * 1024 + 1]).expect("write");
    let err = refused(
        &[
            os("check"),
            os("--matrix"),
            big.as_os_str(),
            os("--host"),
            host.as_os_str(),
        ],
        "4 MiB",
    );
    assert!(err.contains("limit for a matrix"), "{err}");
    // A host profile of 300 KiB (limit 256 KiB).
    let big_host = dir.path().join("host.toml");
    std::fs::write(&big_host, vec![b'#'; 300 * 1024]).expect("write");
    refused(
        &[
            os("check"),
            os("--host"),
            big_host.as_os_str(),
            os("--python"),
            fixture("envs/good-cu124").as_os_str(),
        ],
        "256 KiB",
    );
}

/// A copy of the `good-cu124` fixture environment, to make hostile in a temporary folder.
pub fn copy_env(into: &Path) -> PathBuf {
    let env = into.join("venv");
    let st = Command::new("cp")
        .arg("-r")
        .arg(fixture("envs/good-cu124"))
        .arg(&env)
        .status()
        .expect("cp");
    assert!(st.success());
    env
}

pub fn site_packages(env: &Path) -> PathBuf {
    let lib = env.join("lib");
    let py = std::fs::read_dir(&lib)
        .expect("lib")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("python"))
        .expect("pythonX.Y");
    py.path().join("site-packages")
}

fn dist_info(site: &Path, prefix: &str) -> PathBuf {
    std::fs::read_dir(site)
        .expect("site")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().map(|n| n.to_string_lossy().into_owned());
            n.is_some_and(|n| n.starts_with(prefix) && n.ends_with(".dist-info"))
        })
        .unwrap_or_else(|| panic!("{prefix}*.dist-info in {}", site.display()))
}

#[test]
fn a_fifo_or_a_device_as_metadata_is_a_finding_and_the_check_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = copy_env(dir.path());
    let site = site_packages(&env);
    let peft = dist_info(&site, "peft-").join("METADATA");
    std::fs::remove_file(&peft).expect("rm");
    mkfifo(&peft);
    let accel = dist_info(&site, "accelerate-").join("METADATA");
    std::fs::remove_file(&accel).expect("rm");
    std::os::unix::fs::symlink("/dev/zero", &accel).expect("symlink");
    let mut c = compat();
    c.args(["check", "--format", "json", "--python"])
        .arg(&env)
        .arg("--host")
        .arg(fixture("hosts/h100-550.toml"));
    let out = run_within(c, 60).expect("the check ends");
    report_of(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FIFO"), "{text}");
    assert!(text.contains("character device"), "{text}");
    assert!(text.contains("unreadable-entry"), "{text}");
}

/// `-r` and `-c` lines must not leave the plan's folder: not by `..`, not through a symbolic
/// link, not by an absolute path. Each refusal is `file:line`.
#[test]
fn includes_that_leave_the_plan_folder_are_refused_with_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = dir.path().join("secret.txt");
    std::fs::write(&outside, "numpy==2.0.0\n").expect("write");
    let plan_dir = dir.path().join("plan");
    std::fs::create_dir(&plan_dir).expect("mkdir");
    std::os::unix::fs::symlink(&outside, plan_dir.join("link.txt")).expect("symlink");
    std::fs::create_dir(plan_dir.join("sub")).expect("mkdir");
    std::fs::write(plan_dir.join("sub/ok.txt"), "numpy==2.0.0\n").expect("write");
    let host = fixture("hosts/h100-550.toml");
    for (line, expect) in [
        ("-r ../secret.txt", "leaves this file's folder"),
        ("-r sub/../../secret.txt", "leaves this file's folder"),
        ("-r link.txt", "leaves this file's folder"),
        ("--requirement=link.txt", "leaves this file's folder"),
        ("-c ../secret.txt", "leaves this file's folder"),
        ("-r /etc/passwd", "only files relative"),
    ] {
        let req = plan_dir.join("requirements.txt");
        std::fs::write(&req, format!("torch==2.4.1\n{line}\n")).expect("write");
        let err = refused(
            &[
                os("check"),
                os("--offline"),
                os("--requirements"),
                req.as_os_str(),
                os("--host"),
                host.as_os_str(),
            ],
            expect,
        );
        assert!(err.contains("requirements.txt:2:"), "{line}: {err}");
    }
    // Inside the folder, through a subfolder: read.
    let req = plan_dir.join("requirements.txt");
    std::fs::write(&req, "torch==2.4.1\n-r sub/ok.txt\n").expect("write");
    let out = compat()
        .args(["check", "--offline", "--format", "json", "--requirements"])
        .arg(&req)
        .arg("--host")
        .arg(&host)
        .output()
        .expect("runs");
    assert_ne!(out.status.code(), Some(2), "{}", err_of(&out));
}
