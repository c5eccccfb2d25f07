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

/// `sh -c SCRIPT` with `$COMPAT` the binary and `$ENV`, `$HOST` a fixture environment and host:
/// (exit code, stderr).
fn sh(script: &str, cwd: &Path) -> (i32, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .env("COMPAT", env!("CARGO_BIN_EXE_compat"))
        .env("ENV", fixture("envs/good-cu124"))
        .env("HOST", fixture("hosts/h100-550.toml"))
        .env_remove("NO_COLOR")
        .env_remove("VIRTUAL_ENV")
        .env_remove("CONDA_PREFIX")
        .output()
        .expect("sh runs");
    (out.status.code().unwrap_or(-1), err_of(&out))
}

const CHECK: &str = r#""$COMPAT" check --python "$ENV" --host "$HOST""#;

/// A reader that goes away (`| head -1`, `| true`, `| head -c0`) ends compat quietly with the
/// check's own exit code; `> /dev/full` and `>&-` are errors, exit 2, never a silent 0.
#[test]
fn closed_pipes_end_quietly_and_full_or_closed_stdout_is_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    for format in ["table", "json", "markdown"] {
        for reader in ["head -1", "true", "head -c0"] {
            // The subshell reports compat's own status on stderr.
            let script = format!(r#"({CHECK} --format {format}; echo "rc=$?" >&2) | {reader}"#);
            let (_, err) = sh(&script, dir.path());
            assert!(
                err.trim_end().ends_with("rc=0") || err.trim_end().ends_with("rc=1"),
                "{format} | {reader}: {err}"
            );
            assert!(!err.contains("panicked") && !err.contains("error"), "{err}");
        }
    }
    if Path::new("/dev/full").exists() {
        for redirect in ["> /dev/full", "--output /dev/full"] {
            let (code, err) = sh(&format!("{CHECK} {redirect}"), dir.path());
            assert_eq!(code, 2, "{redirect}: {err}");
            assert!(
                err.to_lowercase().contains("no space left on device"),
                "{redirect}: {err}"
            );
        }
    }
    let (code, err) = sh(&format!("{CHECK} >&-"), dir.path());
    assert_eq!(code, 2, ">&-: {err}");
    assert!(
        err.contains("standard output") && err.contains("closed"),
        "{err}"
    );
    // Closed stdout and a file given: the file is written, nothing else is needed of stdout.
    let (code, err) = sh(&format!("{CHECK} --output r.txt >&-"), dir.path());
    assert!(code == 0 || code == 1, "{err}");
    assert!(dir.path().join("r.txt").is_file());
}

/// `--output`: a device stays a device, a link stays a link (its target replaced, its mode
/// kept), a new file gets 0666 less the umask, and no temporary file is left.
#[test]
fn output_respects_devices_links_modes_and_the_umask() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, err) = sh(&format!("{CHECK} --output /dev/null"), dir.path());
    assert!(code == 0 || code == 1, "{err}");
    let ft = std::fs::metadata("/dev/null").expect("meta").file_type();
    assert!(ft.is_char_device(), "/dev/null is still a character device");

    for (umask, mode) in [("077", 0o600), ("022", 0o644), ("027", 0o640)] {
        let name = format!("new-{umask}.txt");
        let (code, err) = sh(
            &format!("umask {umask}; {CHECK} --output {name}"),
            dir.path(),
        );
        assert!(code == 0 || code == 1, "{err}");
        let m = std::fs::metadata(dir.path().join(&name)).expect("written");
        assert_eq!(m.permissions().mode() & 0o777, mode, "umask {umask}");
    }

    let target = dir.path().join("kept.txt");
    std::fs::write(&target, "old").expect("write");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::os::unix::fs::symlink("kept.txt", dir.path().join("link.txt")).expect("symlink");
    let (code, err) = sh(&format!("umask 000; {CHECK} --output link.txt"), dir.path());
    assert!(code == 0 || code == 1, "{err}");
    let link = std::fs::symlink_metadata(dir.path().join("link.txt")).expect("meta");
    assert!(link.file_type().is_symlink(), "the link is still a link");
    let text = std::fs::read_to_string(&target).expect("read");
    assert!(
        text.contains("torch"),
        "the target holds the report: {text}"
    );
    let m = std::fs::metadata(&target).expect("meta");
    assert_eq!(m.permissions().mode() & 0o777, 0o600, "mode kept");

    // A FIFO given as --output is written through (a reader on the other end), not replaced.
    let fifo = dir.path().join("out.fifo");
    mkfifo(&fifo);
    let (code, err) = sh(
        &format!("cat out.fifo > from-fifo.txt & {CHECK} --output out.fifo; rc=$?; wait; exit $rc"),
        dir.path(),
    );
    assert!(code == 0 || code == 1, "{err}");
    let ft = std::fs::symlink_metadata(&fifo).expect("meta").file_type();
    assert!(ft.is_fifo(), "still a FIFO");
    let through = std::fs::read_to_string(dir.path().join("from-fifo.txt")).expect("read");
    assert!(through.contains("torch"), "{through}");

    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
