//! The PATH probe (I/O): finds each tool of [`TOOLS`] on a PATH value it is given, and asks it
//! for its version, one thread per tool, each bounded in time through [`crate::process::run`].
//!
//! What does not live here: reading a version out of the output (that is [`super::parse`],
//! pure).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::thread;
use std::time::Duration;

use super::parse::{first_line, parse_version};
use super::{Toolchain, NOT_FOUND, NO_VERSION, PYTHON_TOOLS, TOOLS};
use crate::env::pyenv::{self, PyenvVars};
use crate::process::{Ran, RunError};

/// How much of each output stream is kept; the rest is read and dropped.
const MAX_CAPTURE: usize = 64 * 1024;

/// Finds every tool in [`TOOLS`] on `path` (the value of PATH, passed in so tests can fake it;
/// `None`, an unset PATH, finds nothing) with the `which` crate, and asks each for its version
/// with `--version`, concurrently (one thread per tool), each within `timeout`.
///
/// Commands are run directly (no shell) with stdin closed; stdout and stderr are both read, since
/// some tools print their version on stderr. A tool still running at `timeout` is killed and
/// reported as timed out; a child it started that keeps the output pipes open is not waited for.
/// Never hangs, never panics: every tool comes back, in [`TOOLS`] order, with a version or an error.
pub fn probe(path: Option<&OsStr>, timeout: Duration) -> Vec<Toolchain> {
    probe_with(path, timeout, true)
}

/// [`probe`], with a choice for the Python-based tools ([`PYTHON_TOOLS`]): their version is
/// first read from files (the installed distribution's metadata), and only when `run_slow` is
/// set are they asked with `--version` when that fails. pyenv's variables are not read: see
/// [`probe_in`].
pub fn probe_with(path: Option<&OsStr>, timeout: Duration, run_slow: bool) -> Vec<Toolchain> {
    let pyenv = PyenvVars {
        cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        ..PyenvVars::default()
    };
    probe_in(path, &pyenv, timeout, run_slow)
}

/// [`probe_with`], seeing through pyenv shims with `pyenv`'s variables and directory
/// ([`super::pyenv`]): a shim's target is found from pyenv's files and asked (or read) directly,
/// and the shim is never run unless those files do not settle it.
pub fn probe_in(
    path: Option<&OsStr>,
    pyenv: &PyenvVars,
    timeout: Duration,
    run_slow: bool,
) -> Vec<Toolchain> {
    thread::scope(|s| {
        let started: Vec<_> = TOOLS
            .iter()
            .map(|&tool| {
                let handle = thread::Builder::new()
                    .name(format!("probe-{tool}"))
                    .spawn_scoped(s, move || probe_one(tool, path, pyenv, timeout, run_slow));
                (tool, handle)
            })
            .collect();
        started
            .into_iter()
            .map(|(tool, handle)| match handle {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    Toolchain::failed(tool, None, "the probe of this tool panicked")
                }),
                // No thread to be had: ask on this one.
                Err(_) => probe_one(tool, path, pyenv, timeout, run_slow),
            })
            .collect()
    })
}

/// Looks one tool up and asks it for its version.
fn probe_one(
    tool: &str,
    path: Option<&OsStr>,
    pyenv: &PyenvVars,
    timeout: Duration,
    run_slow: bool,
) -> Toolchain {
    let Some(paths) = path else {
        return Toolchain::failed(tool, None, NOT_FOUND);
    };
    let mut exe = match which::which_in(tool, Some(paths), &pyenv.cwd) {
        Ok(exe) => exe,
        Err(_) => return Toolchain::failed(tool, None, NOT_FOUND),
    };
    if let Some(target) = pyenv::resolve(tool, &exe, paths, pyenv) {
        if tool == "python3" {
            if let Some(version) = target.python_version() {
                return Toolchain {
                    name: tool.to_string(),
                    raw: Some(format!(
                        "pyenv version {} (chosen by {}), read from {}",
                        target.version_name,
                        target.chosen_by,
                        target
                            .prefix
                            .as_ref()
                            .map_or(String::new(), |p| p.display().to_string())
                    )),
                    path: Some(target.exe),
                    version: Some(version),
                    error: None,
                };
            }
        }
        exe = target.exe;
    }
    if PYTHON_TOOLS.contains(&tool) {
        if let Some((version, raw)) = version_from_files(tool, &exe) {
            return Toolchain {
                name: tool.to_string(),
                path: Some(exe),
                version: Some(version),
                raw: Some(raw),
                error: None,
            };
        }
        if !run_slow {
            return Toolchain::failed(
                tool,
                Some(exe),
                "version not asked by `compat check` (it starts Python); `compat probe` asks",
            );
        }
    }
    let ran = match run_with_timeout(&exe, "--version", timeout) {
        Ok(ran) => ran,
        Err(why) => return Toolchain::failed(tool, Some(exe), why.to_string()),
    };
    if !ran.status.success() {
        let mut why = describe_status(ran.status);
        if let Some(line) = error_line(&ran.stderr).or_else(|| error_line(&ran.stdout)) {
            why = format!("{why}: {line}");
        }
        return Toolchain::failed(tool, Some(exe), why);
    }
    let output = if ran.stderr.trim().is_empty() {
        ran.stdout
    } else {
        format!("{}\n{}", ran.stdout, ran.stderr)
    };
    match parse_version(tool, &output) {
        Some((version, raw)) => Toolchain {
            name: tool.to_string(),
            path: Some(exe),
            version: Some(version),
            raw: Some(raw),
            error: None,
        },
        None => Toolchain {
            raw: first_line(&output).map(str::to_string),
            ..Toolchain::failed(tool, Some(exe), NO_VERSION)
        },
    }
}

/// Reads a Python-based tool's version from its installation instead of running it:
/// pip from the `pip-X.dist-info` beside the interpreter its script's `#!` line names, conda and
/// mamba from `conda-meta/<name>-X-<build>.json` of the prefix they live in.
fn version_from_files(tool: &str, exe: &Path) -> Option<(String, String)> {
    let real = std::fs::canonicalize(exe).unwrap_or_else(|_| exe.to_path_buf());
    let prefix = match tool {
        "pip" => {
            let head =
                crate::input::read_bytes(&real, crate::input::InputKind::PackageFile).ok()?;
            let first = String::from_utf8_lossy(&head[..head.len().min(512)])
                .lines()
                .next()?
                .to_string();
            let interp = first
                .strip_prefix("#!")?
                .split_whitespace()
                .next()?
                .to_string();
            if !interp.contains("python") {
                return None;
            }
            Path::new(&interp).parent()?.parent()?.to_path_buf()
        }
        _ => {
            // <prefix>/bin/conda or <prefix>/condabin/conda
            real.parent()?.parent()?.to_path_buf()
        }
    };
    if tool == "pip" {
        for lib in ["lib", "lib64"] {
            let Ok(rd) = std::fs::read_dir(prefix.join(lib)) else {
                continue;
            };
            for py in rd.flatten() {
                let site = py.path().join("site-packages");
                let Ok(entries) = std::fs::read_dir(&site) else {
                    continue;
                };
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if let Some(v) = name
                        .strip_prefix("pip-")
                        .and_then(|r| r.strip_suffix(".dist-info"))
                    {
                        return Some((v.to_string(), format!("{}", site.join(&name).display())));
                    }
                }
            }
        }
        return None;
    }
    let meta = prefix.join("conda-meta");
    let rd = std::fs::read_dir(&meta).ok()?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_prefix(&format!("{tool}-"))
            .and_then(|r| r.strip_suffix(".json"))
        else {
            continue;
        };
        // <version>-<build>: the version is everything before the last dash.
        if let Some((v, _build)) = rest.rsplit_once('-') {
            if v.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                return Some((v.to_string(), format!("{}", meta.join(&name).display())));
            }
        }
    }
    None
}

/// Runs `exe arg` through [`crate::process::run`] (stdin closed, both streams drained, killed
/// at the deadline).
fn run_with_timeout(exe: &Path, arg: &str, timeout: Duration) -> Result<Ran, RunError> {
    crate::process::run(Command::new(exe).arg(arg), timeout, MAX_CAPTURE)
}

/// `exit status 1`, or `terminated by signal 9`.
fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("terminated by signal {signal}");
        }
    }
    format!("{status}")
}

/// The line of a failing tool's output that says why: the first, or for a Python traceback the
/// last (`ModuleNotFoundError: No module named 'conda'`). At most 200 characters.
fn error_line(output: &str) -> Option<String> {
    let mut lines = output.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next()?;
    let line = if first.starts_with("Traceback") {
        lines.next_back().unwrap_or(first)
    } else {
        first
    };
    Some(match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[cfg(unix)]
    fn script(dir: &Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    #[cfg(unix)]
    #[test]
    fn probe_on_a_fake_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A version on stdout, one on stderr, a hang, a failure, and output without a version.
        script(
            dir.path(),
            "cmake",
            "echo 'cmake version 3.25.1'\necho\necho 'CMake suite maintained and supported by Kitware (kitware.com/cmake).'",
        );
        script(dir.path(), "python3", "echo 'Python 3.11.7' >&2");
        script(dir.path(), "nvcc", "sleep 30");
        script(
            dir.path(),
            "conda",
            "echo 'Traceback (most recent call last):' >&2\n\
             echo '  File \"/opt/conda/bin/conda\", line 12, in <module>' >&2\n\
             echo \"ModuleNotFoundError: No module named 'conda'\" >&2\nexit 1",
        );
        script(dir.path(), "ninja", "echo 'hello'");
        // Not executable: not found.
        std::fs::write(
            dir.path().join("git"),
            "#!/bin/sh\necho 'git version 2.39.2'\n",
        )
        .expect("write");

        let timeout = Duration::from_secs(2);
        let start = Instant::now();
        let tools = probe(Some(dir.path().as_os_str()), timeout);
        let took = start.elapsed();
        assert!(
            took < timeout + Duration::from_secs(3),
            "the hung tool held the probe for {took:?}"
        );

        assert_eq!(
            tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            TOOLS
        );
        let get = |name: &str| {
            tools
                .iter()
                .find(|t| t.name == name)
                .expect("every tool is reported")
        };

        let cmake = get("cmake");
        assert_eq!(cmake.version.as_deref(), Some("3.25.1"));
        assert_eq!(cmake.raw.as_deref(), Some("cmake version 3.25.1"));
        assert_eq!(
            cmake.path.as_deref(),
            Some(dir.path().join("cmake").as_path())
        );
        assert_eq!(cmake.error, None);

        let python = get("python3");
        assert_eq!(
            python.version.as_deref(),
            Some("3.11.7"),
            "read from stderr"
        );
        assert_eq!(python.error, None);

        let nvcc = get("nvcc");
        assert_eq!(nvcc.error.as_deref(), Some("timed out after 2 s"));
        assert_eq!(nvcc.version, None);
        assert!(nvcc.path.is_some());

        let conda = get("conda");
        assert_eq!(
            conda.error.as_deref(),
            Some("exit status 1: ModuleNotFoundError: No module named 'conda'")
        );
        assert_eq!(conda.version, None);

        let ninja = get("ninja");
        assert_eq!(ninja.error.as_deref(), Some(NO_VERSION));
        assert_eq!(ninja.raw.as_deref(), Some("hello"));

        for name in ["pip", "uv", "mamba", "micromamba", "gcc", "g++", "git"] {
            let t = get(name);
            assert_eq!(t.error.as_deref(), Some(NOT_FOUND), "{name}");
            assert_eq!(
                (&t.path, &t.version, &t.raw),
                (&None, &None, &None),
                "{name}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn probe_reports_sub_second_timeouts_in_ms() {
        let dir = tempfile::tempdir().expect("temp dir");
        script(dir.path(), "uv", "exec sleep 30");
        let tools = probe(Some(dir.path().as_os_str()), Duration::from_millis(300));
        let uv = tools
            .iter()
            .find(|t| t.name == "uv")
            .expect("uv is reported");
        assert_eq!(uv.error.as_deref(), Some("timed out after 300 ms"));
    }

    /// The real PATH of this machine: `cargo test --lib probe::toolchains -- --ignored --nocapture`.
    #[test]
    #[ignore = "runs the tools installed on this machine"]
    fn probe_this_machine() {
        let tools = probe(std::env::var_os("PATH").as_deref(), Duration::from_secs(5));
        for t in &tools {
            println!("{t:?}");
        }
        assert_eq!(tools.len(), TOOLS.len());
    }

    #[test]
    fn probe_without_path_finds_nothing() {
        let tools = probe(None, Duration::from_secs(1));
        assert_eq!(tools.len(), TOOLS.len());
        assert!(tools.iter().all(|t| t.error.as_deref() == Some(NOT_FOUND)));
    }
}
