//! Toolchains found on PATH and their versions, and whether the CUDA compiler accepts the GCC
//! that is there.
//!
//! What lives here:
//! - [`probe`]: the I/O edge. It looks each tool of [`TOOLS`] up on a PATH value it is given (so
//!   tests pass a fake one) and runs `TOOL --version` on its own thread, with a timeout. A tool
//!   that hangs is killed and reported as timed out; a missing tool, a tool that fails and output
//!   without a version are *facts* in [`Toolchain::error`], never an `Err`: a machine without
//!   `conda` is not a broken machine.
//! - `parse_*`: pure parsers, one per tool family, each with a sample of the real output it reads.
//! - [`nvcc_supports_gcc`] and [`host_compiler_note`]: the GCC majors each CUDA release accepts as
//!   host compiler, from `matrices/knowledge/nvcc-host-compilers.toml` (embedded at build time).
//!   nvcc refuses a GCC newer than its `crt/host_config.h` allows, so a wheel that builds CUDA
//!   extensions at install time fails on such a machine long before any GPU code runs.
//!
//! What does not live here: the CUDA toolkit fact itself (the caller takes nvcc's version from
//! these results) and the driver and GPU probes (`probe::gpu`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use crate::process::Ran;
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One tool looked up on PATH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toolchain {
    /// The name looked up, e.g. `nvcc`.
    pub name: String,
    /// Where it was found.
    pub path: Option<PathBuf>,
    /// The parsed version, e.g. `12.4.131` or `12.2.0`.
    pub version: Option<String>,
    /// The line the version came from; when no version was found, the first line of output.
    pub raw: Option<String>,
    /// Why there is no version: `not found on PATH`, `timed out after 5 s`,
    /// `exit status 1: ...`, `no version in output`, `failed to run: ...`.
    pub error: Option<String>,
}

impl Toolchain {
    fn failed(name: &str, path: Option<PathBuf>, error: impl Into<String>) -> Self {
        Toolchain {
            name: name.to_string(),
            path,
            version: None,
            raw: None,
            error: Some(error.into()),
        }
    }
}

/// The tools [`probe`] looks for, in the order it reports them.
pub const TOOLS: &[&str] = &[
    "python3",
    "pip",
    "uv",
    "conda",
    "mamba",
    "micromamba",
    "nvcc",
    "gcc",
    "g++",
    "cmake",
    "ninja",
    "git",
];

/// The error of a tool that is not on PATH.
pub const NOT_FOUND: &str = "not found on PATH";
/// The error of a tool that ran and printed no version.
pub const NO_VERSION: &str = "no version in output";

/// How much of each output stream is kept; the rest is read and dropped.
const MAX_CAPTURE: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Probe (I/O)

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

/// The tools whose `--version` starts a Python interpreter (a quarter of a second or more).
pub const PYTHON_TOOLS: &[&str] = &["pip", "conda", "mamba"];

/// [`probe`], with a choice for the Python-based tools ([`PYTHON_TOOLS`]): their version is
/// first read from files (the installed distribution's metadata), and only when `run_slow` is
/// set are they asked with `--version` when that fails. `compat check` passes `false` to stay
/// fast; `compat probe` passes `true`.
pub fn probe_with(path: Option<&OsStr>, timeout: Duration, run_slow: bool) -> Vec<Toolchain> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let cwd = cwd.as_path();
    thread::scope(|s| {
        let started: Vec<_> = TOOLS
            .iter()
            .map(|&tool| {
                let handle = thread::Builder::new()
                    .name(format!("probe-{tool}"))
                    .spawn_scoped(s, move || probe_one(tool, path, cwd, timeout, run_slow));
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
                Err(_) => probe_one(tool, path, cwd, timeout, run_slow),
            })
            .collect()
    })
}

/// Looks one tool up and asks it for its version.
fn probe_one(
    tool: &str,
    path: Option<&OsStr>,
    cwd: &Path,
    timeout: Duration,
    run_slow: bool,
) -> Toolchain {
    let Some(paths) = path else {
        return Toolchain::failed(tool, None, NOT_FOUND);
    };
    let exe = match which::which_in(tool, Some(paths), cwd) {
        Ok(exe) => exe,
        Err(_) => return Toolchain::failed(tool, None, NOT_FOUND),
    };
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
        Err(why) => return Toolchain::failed(tool, Some(exe), why),
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
            let head = std::fs::read(&real).ok()?;
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
fn run_with_timeout(exe: &Path, arg: &str, timeout: Duration) -> Result<Ran, String> {
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

// ---------------------------------------------------------------------------------------------
// Parsers (pure)

/// Reads the version out of `TOOL --version` output (stdout, then stderr), with the parser of the
/// tool's family; returns the version and the line it came from. An unknown tool gets the first
/// version-looking word of its output.
pub fn parse_version(tool: &str, output: &str) -> Option<(String, String)> {
    let name = Path::new(tool)
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or(tool);
    match name {
        n if n.starts_with("python") => parse_python(output),
        n if n.starts_with("pip") => parse_pip(output),
        "uv" => parse_uv(output),
        "conda" => parse_conda(output),
        "mamba" => parse_mamba(output),
        "micromamba" => parse_micromamba(output),
        "nvcc" => parse_nvcc(output),
        "cc" | "c++" => parse_gcc(output),
        n if n.ends_with("gcc") || n.ends_with("g++") => parse_gcc(output),
        n if n.starts_with("gcc-") || n.starts_with("g++-") => parse_gcc(output),
        n if n.starts_with("cmake") => parse_cmake(output),
        "ninja" => parse_ninja(output),
        "git" => parse_git(output),
        _ => parse_generic(output),
    }
}

/// `python3 --version` (Python 2 printed it on stderr):
///
/// ```text
/// Python 3.11.7
/// ```
pub fn parse_python(output: &str) -> Option<(String, String)> {
    after_words(output, &["Python"])
}

/// `pip --version`:
///
/// ```text
/// pip 23.2.1 from /usr/lib/python3/dist-packages/pip (python 3.11)
/// ```
pub fn parse_pip(output: &str) -> Option<(String, String)> {
    after_words(output, &["pip"])
}

/// `uv --version`:
///
/// ```text
/// uv 0.4.18 (7b55e9790 2024-10-01)
/// ```
pub fn parse_uv(output: &str) -> Option<(String, String)> {
    after_words(output, &["uv"])
}

/// `conda --version`:
///
/// ```text
/// conda 24.7.1
/// ```
pub fn parse_conda(output: &str) -> Option<(String, String)> {
    after_words(output, &["conda"])
}

/// `mamba --version`; mamba 1.x names itself and the conda it runs on, mamba 2 prints the bare
/// version:
///
/// ```text
/// mamba 1.5.8
/// conda 24.3.0
/// ```
///
/// ```text
/// 2.0.5
/// ```
pub fn parse_mamba(output: &str) -> Option<(String, String)> {
    after_words(output, &["mamba"]).or_else(|| bare_version(output))
}

/// `micromamba --version`:
///
/// ```text
/// 1.5.10
/// ```
pub fn parse_micromamba(output: &str) -> Option<(String, String)> {
    bare_version(output).or_else(|| after_words(output, &["micromamba"]))
}

/// `nvcc --version`; the version is the full one after `V`, else the release:
///
/// ```text
/// nvcc: NVIDIA (R) Cuda compiler driver
/// Copyright (c) 2005-2024 NVIDIA Corporation
/// Built on Thu_Mar_28_02:18:24_PDT_2024
/// Cuda compilation tools, release 12.4, V12.4.131
/// Build cuda_12.4.r12.4/compiler.34097967_0
/// ```
pub fn parse_nvcc(output: &str) -> Option<(String, String)> {
    output.lines().map(str::trim).find_map(|line| {
        let rest = &line[line.find("Cuda compilation tools")?..];
        let full = rest
            .split_once(", V")
            .and_then(|(_, v)| version_token(v.split_whitespace().next()?));
        let release = || {
            let (_, r) = rest.split_once("release ")?;
            version_token(r.split([',', ' ']).next()?)
        };
        let version = full.or_else(release)?;
        Some((version.to_string(), line.to_string()))
    })
}

/// `gcc --version` / `g++ --version`; the version is the first one after the parenthesised
/// package description, which may hold other version numbers:
///
/// ```text
/// gcc (Debian 12.2.0-14) 12.2.0
/// Copyright (C) 2022 Free Software Foundation, Inc.
/// This is free software; see the source for copying conditions.  There is NO
/// warranty; not even for MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.
/// ```
///
/// also `gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0` and
/// `g++ (GCC) 13.2.1 20231011 (Red Hat 13.2.1-4)`. On macOS `gcc` is clang
/// (`Apple clang version 15.0.0 (clang-1500.3.9.4)`): that gives `15.0.0`, and the raw line says
/// clang.
pub fn parse_gcc(output: &str) -> Option<(String, String)> {
    output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Copyright"))
        .find_map(|line| {
            let version = after_first_group(line)
                .and_then(|rest| rest.split_whitespace().find_map(version_token))
                .or_else(|| line.split_whitespace().skip(1).find_map(version_token))?;
            Some((version.to_string(), line.to_string()))
        })
}

/// `cmake --version` (`cmake3` on older Red Hat systems):
///
/// ```text
/// cmake version 3.25.1
///
/// CMake suite maintained and supported by Kitware (kitware.com/cmake).
/// ```
pub fn parse_cmake(output: &str) -> Option<(String, String)> {
    after_words(output, &["cmake", "version"])
        .or_else(|| after_words(output, &["cmake3", "version"]))
}

/// `ninja --version`:
///
/// ```text
/// 1.11.1
/// ```
pub fn parse_ninja(output: &str) -> Option<(String, String)> {
    bare_version(output)
}

/// `git --version`:
///
/// ```text
/// git version 2.39.2
/// ```
///
/// also `git version 2.39.3 (Apple Git-145)`.
pub fn parse_git(output: &str) -> Option<(String, String)> {
    after_words(output, &["git", "version"])
}

/// Any other tool: the first version-looking word, e.g. `2.1.0` in `foo 2.1.0`.
fn parse_generic(output: &str) -> Option<(String, String)> {
    output.lines().map(str::trim).find_map(|line| {
        let version = line.split_whitespace().find_map(version_token)?;
        Some((version.to_string(), line.to_string()))
    })
}

/// The version right after `words` at the start of a line (the first word compared without
/// case), from the first line that has one.
fn after_words(output: &str, words: &[&str]) -> Option<(String, String)> {
    output.lines().map(str::trim).find_map(|line| {
        let mut tokens = line.split_whitespace();
        for (i, want) in words.iter().enumerate() {
            let got = tokens.next()?;
            let same = if i == 0 {
                got.eq_ignore_ascii_case(want)
            } else {
                got == *want
            };
            if !same {
                return None;
            }
        }
        let version = version_token(tokens.next()?)?;
        Some((version.to_string(), line.to_string()))
    })
}

/// The first line that is nothing but a version.
fn bare_version(output: &str) -> Option<(String, String)> {
    output.lines().map(str::trim).find_map(|line| {
        let mut tokens = line.split_whitespace();
        let version = version_token(tokens.next()?)?;
        tokens
            .next()
            .is_none()
            .then(|| (version.to_string(), line.to_string()))
    })
}

/// What follows the first balanced parenthesised group of a line, if it has one.
fn after_first_group(line: &str) -> Option<&str> {
    let open = line.find('(')?;
    let mut depth = 0usize;
    for (i, c) in line[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&line[open + i + 1..]);
                }
            }
            _ => {}
        }
    }
    None
}

/// A word that looks like a version: a digit first, then a dot and a digit after the first run of
/// digits (`3.11.7`, `0.4.18`, `3.13.0rc1`, `13.2.1`); surrounding punctuation is dropped.
fn version_token(word: &str) -> Option<&str> {
    let t = word
        .trim_matches(|c: char| matches!(c, ',' | ';' | ':' | '(' | ')' | '"' | '\'' | '[' | ']'));
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &t.as_bytes()[digits..];
    (digits > 0 && rest.len() >= 2 && rest[0] == b'.' && rest[1].is_ascii_digit()).then_some(t)
}

fn first_line(output: &str) -> Option<&str> {
    output.lines().map(str::trim).find(|l| !l.is_empty())
}

/// The leading number of a version: `12` of `12.4.131`.
fn leading_number(version: &str) -> Option<u32> {
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `(12, 4)` of `12.4.131`, `12.4` or `V12.4.131`.
fn major_minor(version: &str) -> Option<(u32, u32)> {
    let v = version.trim().trim_start_matches(['V', 'v']);
    let (major, rest) = v.split_once('.')?;
    Some((major.parse().ok()?, leading_number(rest)?))
}

// ---------------------------------------------------------------------------------------------
// Host compilers (knowledge)

const HOST_COMPILERS_TOML: &str = include_str!("../../matrices/knowledge/nvcc-host-compilers.toml");

/// Whether nvcc of one CUDA release accepts a GCC as host compiler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCompilerSupport {
    /// Whether the GCC major is at most [`Self::max_gcc_major`].
    pub supported: bool,
    /// The newest GCC major the release accepts.
    pub max_gcc_major: u32,
    /// Where that limit comes from; ends with `[unconfirmed]` when it could not be confirmed.
    pub source: String,
}

/// One row of `nvcc-host-compilers.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostCompilerRow {
    /// The CUDA release, major.minor: `12.4`.
    pub cuda: String,
    /// The newest GCC major its `crt/host_config.h` accepts.
    pub max_gcc_major: u32,
    pub source: String,
    /// Set where the row could not be confirmed from the header or NVIDIA's guide.
    #[serde(default)]
    pub unsure: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostCompilerFile {
    release: Vec<HostCompilerRow>,
}

/// Parses the host-compiler table: every row with a `major.minor` release, a source, and no
/// release twice.
fn parse_host_compilers(text: &str) -> Result<Vec<HostCompilerRow>, String> {
    let file: HostCompilerFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut seen = Vec::new();
    for row in &file.release {
        let key = major_minor(&row.cuda)
            .filter(|_| row.cuda.split('.').count() == 2)
            .ok_or_else(|| format!("release {:?} is not major.minor", row.cuda))?;
        if row.source.trim().is_empty() {
            return Err(format!("release {} has no source", row.cuda));
        }
        if seen.contains(&key) {
            return Err(format!("release {} is listed twice", row.cuda));
        }
        seen.push(key);
    }
    Ok(file.release)
}

/// The table of `matrices/knowledge/nvcc-host-compilers.toml`, parsed once. An `Err` means the
/// embedded file is broken, which the unit tests rule out.
pub fn host_compiler_table() -> Result<&'static [HostCompilerRow], &'static str> {
    static TABLE: OnceLock<Result<Vec<HostCompilerRow>, String>> = OnceLock::new();
    match TABLE.get_or_init(|| parse_host_compilers(HOST_COMPILERS_TOML)) {
        Ok(rows) => Ok(rows),
        Err(e) => Err(e),
    }
}

/// The row for the CUDA release of an nvcc version (`12.4.131` → `12.4`).
fn host_compiler_row(nvcc_version: &str) -> Option<&'static HostCompilerRow> {
    let key = major_minor(nvcc_version)?;
    host_compiler_table()
        .ok()?
        .iter()
        .find(|row| major_minor(&row.cuda) == Some(key))
}

/// Whether nvcc of a CUDA release (`12.4.131`, `12.4`) accepts a GCC (`11.4.0`, `13`) as host
/// compiler: nvcc checks the GCC major only. `None` when either version cannot be read or the
/// table has no row for the release (CUDA 12.7 does not exist; releases before 11.8 are not in
/// the table).
pub fn nvcc_supports_gcc(nvcc_version: &str, gcc_version: &str) -> Option<HostCompilerSupport> {
    let gcc_major = leading_number(gcc_version.trim())?;
    let row = host_compiler_row(nvcc_version)?;
    Some(HostCompilerSupport {
        supported: gcc_major <= row.max_gcc_major,
        max_gcc_major: row.max_gcc_major,
        source: if row.unsure {
            format!("{} [unconfirmed]", row.source)
        } else {
            row.source.clone()
        },
    })
}

/// The summary fact for the report: when nvcc and GCC (`gcc`, else `g++`) both have a version,
/// whether nvcc accepts that GCC as host compiler, in one sentence. `None` when either is missing
/// or `gcc` is really clang (macOS).
pub fn host_compiler_note(tools: &[Toolchain]) -> Option<String> {
    let versioned = |name: &str| tools.iter().find(|t| t.name == name && t.version.is_some());
    let nvcc = versioned("nvcc")?;
    let nvcc_version = nvcc.version.as_deref()?;
    let gcc = versioned("gcc").or_else(|| versioned("g++"))?;
    let gcc_version = gcc.version.as_deref()?;
    if gcc.raw.as_deref().is_some_and(|r| r.contains("clang")) {
        return None;
    }
    let (major, minor) = major_minor(nvcc_version)?;
    let Some(row) = host_compiler_row(nvcc_version) else {
        return Some(format!(
            "`nvcc` {nvcc_version} with `{}` {gcc_version}: the host-compiler table has no row for \
             CUDA {major}.{minor}, so the pairing is unchecked.",
            gcc.name
        ));
    };
    let support = nvcc_supports_gcc(nvcc_version, gcc_version)?;
    let unconfirmed = if row.unsure { ", unconfirmed" } else { "" };
    Some(if support.supported {
        format!(
            "`nvcc` {nvcc_version} accepts `{}` {gcc_version} as its host compiler (CUDA {major}.{minor} \
             supports GCC up to {}{unconfirmed}).",
            gcc.name, support.max_gcc_major
        )
    } else {
        format!(
            "`nvcc` {nvcc_version} rejects `{}` {gcc_version} as its host compiler (CUDA {major}.{minor} \
             supports GCC up to {}{unconfirmed}); point `-ccbin` at an older GCC or use a newer CUDA.",
            gcc.name, support.max_gcc_major
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn parsed(tool: &str, output: &str) -> (String, String) {
        parse_version(tool, output).expect("a version")
    }

    // --- parsers, on real output ---

    #[test]
    fn parses_python() {
        assert_eq!(
            parsed("python3", "Python 3.11.7\n"),
            ("3.11.7".into(), "Python 3.11.7".into())
        );
        assert_eq!(parsed("python3", "Python 3.13.0rc1\n").0, "3.13.0rc1");
    }

    #[test]
    fn parses_pip() {
        let out = "pip 23.2.1 from /x/site-packages/pip (python 3.11)\n";
        assert_eq!(parsed("pip", out), ("23.2.1".into(), out.trim().into()));
    }

    #[test]
    fn parses_uv() {
        assert_eq!(
            parsed("uv", "uv 0.4.18 (7b55e9790 2024-10-01)\n").0,
            "0.4.18"
        );
    }

    #[test]
    fn parses_conda() {
        assert_eq!(
            parsed("conda", "conda 24.7.1\n"),
            ("24.7.1".into(), "conda 24.7.1".into())
        );
    }

    #[test]
    fn parses_mamba_1_and_2() {
        assert_eq!(
            parsed("mamba", "mamba 1.5.8\nconda 24.3.0\n"),
            ("1.5.8".into(), "mamba 1.5.8".into())
        );
        assert_eq!(parsed("mamba", "2.0.5\n"), ("2.0.5".into(), "2.0.5".into()));
    }

    #[test]
    fn parses_micromamba() {
        assert_eq!(
            parsed("micromamba", "1.5.10\n"),
            ("1.5.10".into(), "1.5.10".into())
        );
    }

    #[test]
    fn parses_nvcc() {
        let out = "nvcc: NVIDIA (R) Cuda compiler driver\n\
                   Copyright (c) 2005-2024 NVIDIA Corporation\n\
                   Built on Thu_Mar_28_02:18:24_PDT_2024\n\
                   Cuda compilation tools, release 12.4, V12.4.131\n\
                   Build cuda_12.4.r12.4/compiler.34097967_0\n";
        assert_eq!(
            parsed("nvcc", out),
            (
                "12.4.131".into(),
                "Cuda compilation tools, release 12.4, V12.4.131".into()
            )
        );
        // Without the V part, the release.
        assert_eq!(
            parsed("nvcc", "Cuda compilation tools, release 11.8\n").0,
            "11.8"
        );
        assert_eq!(
            parse_version("nvcc", "nvcc: NVIDIA (R) Cuda compiler driver\n"),
            None
        );
    }

    #[test]
    fn parses_gcc_and_gxx() {
        let debian = "gcc (Debian 12.2.0-14) 12.2.0\n\
                      Copyright (C) 2022 Free Software Foundation, Inc.\n\
                      This is free software; see the source for copying conditions.  There is NO\n\
                      warranty; not even for MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.\n";
        assert_eq!(
            parsed("gcc", debian),
            ("12.2.0".into(), "gcc (Debian 12.2.0-14) 12.2.0".into())
        );
        assert_eq!(
            parsed("gcc", "gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0\n").0,
            "11.4.0"
        );
        assert_eq!(
            parsed("g++", "g++ (GCC) 13.2.1 20231011 (Red Hat 13.2.1-4)\n").0,
            "13.2.1"
        );
        assert_eq!(
            parsed(
                "gcc",
                "x86_64-conda-linux-gnu-gcc (conda-forge gcc 12.3.0-3) 12.3.0\n"
            )
            .0,
            "12.3.0"
        );
        let apple = parsed(
            "gcc",
            "Apple clang version 15.0.0 (clang-1500.3.9.4)\nTarget: arm64-apple-darwin23.4.0\n",
        );
        assert_eq!(apple.0, "15.0.0");
        assert!(apple.1.contains("clang"));
    }

    #[test]
    fn parses_cmake() {
        let out = "cmake version 3.25.1\n\nCMake suite maintained and supported by Kitware (kitware.com/cmake).\n";
        assert_eq!(
            parsed("cmake", out),
            ("3.25.1".into(), "cmake version 3.25.1".into())
        );
    }

    #[test]
    fn parses_ninja() {
        assert_eq!(
            parsed("ninja", "1.11.1\n"),
            ("1.11.1".into(), "1.11.1".into())
        );
    }

    #[test]
    fn parses_git() {
        assert_eq!(
            parsed("git", "git version 2.39.2\n"),
            ("2.39.2".into(), "git version 2.39.2".into())
        );
        assert_eq!(
            parsed("git", "git version 2.39.3 (Apple Git-145)\n").0,
            "2.39.3"
        );
    }

    #[test]
    fn output_without_a_version_gives_none() {
        assert_eq!(parse_version("gcc", ""), None);
        assert_eq!(
            parse_version("ninja", "ninja: error: loading 'build.ninja'\n"),
            None
        );
        assert_eq!(parse_version("conda", "usage: conda [-h] [-v]\n"), None);
        assert_eq!(parse_version("python3", "Python\n"), None);
    }

    #[test]
    fn version_tokens() {
        assert_eq!(version_token("3.11.7"), Some("3.11.7"));
        assert_eq!(version_token("12.4,"), Some("12.4"));
        assert_eq!(version_token("20231011"), None);
        assert_eq!(version_token("v1.2"), None);
        assert_eq!(version_token("1."), None);
        assert_eq!(major_minor("V12.4.131"), Some((12, 4)));
        assert_eq!(major_minor("12"), None);
    }

    // --- host compilers ---

    #[test]
    fn host_compiler_table_parses() {
        let rows = host_compiler_table().expect("the embedded nvcc-host-compilers.toml parses");
        let releases: Vec<&str> = rows.iter().map(|r| r.cuda.as_str()).collect();
        for want in [
            "11.8", "12.0", "12.1", "12.2", "12.3", "12.4", "12.5", "12.6", "12.8", "12.9", "13.0",
            "13.1",
        ] {
            assert!(releases.contains(&want), "no row for CUDA {want}");
        }
        assert!(!releases.contains(&"12.7"), "there is no CUDA 12.7");
        // Ascending releases, and a newer release never accepts less.
        for pair in rows.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(
                major_minor(&a.cuda) < major_minor(&b.cuda),
                "{} before {}",
                a.cuda,
                b.cuda
            );
            assert!(
                a.max_gcc_major <= b.max_gcc_major,
                "{} -> {}",
                a.cuda,
                b.cuda
            );
        }
        assert!(rows.iter().all(|r| !r.source.trim().is_empty()));
    }

    #[test]
    fn host_compiler_table_rejects_bad_rows() {
        let dup = "[[release]]\ncuda = \"12.4\"\nmax_gcc_major = 13\nsource = \"x\"\n\
                   [[release]]\ncuda = \"12.4\"\nmax_gcc_major = 13\nsource = \"y\"\n";
        assert!(parse_host_compilers(dup).is_err());
        let no_source = "[[release]]\ncuda = \"12.4\"\nmax_gcc_major = 13\nsource = \" \"\n";
        assert!(parse_host_compilers(no_source).is_err());
        let patch = "[[release]]\ncuda = \"12.4.1\"\nmax_gcc_major = 13\nsource = \"x\"\n";
        assert!(parse_host_compilers(patch).is_err());
    }

    #[test]
    fn nvcc_gcc_pairings() {
        let s = |nvcc: &str, gcc: &str| {
            nvcc_supports_gcc(nvcc, gcc).map(|h| (h.supported, h.max_gcc_major))
        };
        assert_eq!(s("11.8.89", "11.4.0"), Some((true, 11)));
        assert_eq!(s("11.8.89", "12.3.0"), Some((false, 11)));
        assert_eq!(s("12.1.105", "12.2.0"), Some((true, 12)));
        assert_eq!(s("12.2.140", "13.2.1"), Some((false, 12)));
        assert_eq!(s("12.4.131", "13.2.0"), Some((true, 13)));
        assert_eq!(
            s("12.6.85", "13.3.0"),
            Some((true, 13)),
            "the check is on the major only"
        );
        assert_eq!(s("12.4.131", "14.1.0"), Some((false, 13)));
        assert_eq!(s("12.8.93", "14.2.0"), Some((true, 14)));
        assert_eq!(s("12.9", "15.1.1"), Some((false, 14)));
        assert_eq!(s("V13.0.88", "15"), Some((true, 15)));
        assert_eq!(s("12.7.0", "12.2.0"), None, "no CUDA 12.7");
        assert_eq!(s("11.2.152", "9.4.0"), None, "before the table");
        assert_eq!(s("garbage", "11.4.0"), None);
        assert_eq!(s("12.4.131", "gcc"), None);
        let unsure = nvcc_supports_gcc("13.1.80", "15.2.0").expect("a 13.1 row");
        assert!(unsure.source.ends_with("[unconfirmed]"));
        let sure = nvcc_supports_gcc("12.4.131", "13.2.0").expect("a 12.4 row");
        assert!(!sure.source.contains("[unconfirmed]") && sure.source.contains("host_config.h"));
    }

    fn found(name: &str, version: &str, raw: &str) -> Toolchain {
        Toolchain {
            name: name.into(),
            path: Some(PathBuf::from(format!("/usr/bin/{name}"))),
            version: Some(version.into()),
            raw: Some(raw.into()),
            error: None,
        }
    }

    #[test]
    fn host_compiler_notes() {
        let nvcc = found(
            "nvcc",
            "12.4.131",
            "Cuda compilation tools, release 12.4, V12.4.131",
        );
        let gcc11 = found("gcc", "11.4.0", "gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0");
        let gcc14 = found("gcc", "14.2.0", "gcc (Debian 14.2.0-19) 14.2.0");

        let ok = host_compiler_note(&[nvcc.clone(), gcc11.clone()]).expect("a note");
        assert_eq!(
            ok,
            "`nvcc` 12.4.131 accepts `gcc` 11.4.0 as its host compiler (CUDA 12.4 supports GCC up to 13)."
        );
        let bad = host_compiler_note(&[gcc14, nvcc.clone()]).expect("a note");
        assert!(
            bad.starts_with("`nvcc` 12.4.131 rejects `gcc` 14.2.0"),
            "{bad}"
        );
        assert!(bad.contains("up to 13") && bad.contains("-ccbin"), "{bad}");

        // g++ stands in for a missing gcc.
        let gxx = found(
            "g++",
            "13.2.1",
            "g++ (GCC) 13.2.1 20231011 (Red Hat 13.2.1-4)",
        );
        let missing_gcc = Toolchain::failed("gcc", None, NOT_FOUND);
        let via_gxx = host_compiler_note(&[nvcc.clone(), missing_gcc, gxx]).expect("a note");
        assert!(via_gxx.contains("accepts `g++` 13.2.1"), "{via_gxx}");

        // Nothing to say without both, or when gcc is clang.
        assert_eq!(host_compiler_note(std::slice::from_ref(&nvcc)), None);
        assert_eq!(host_compiler_note(std::slice::from_ref(&gcc11)), None);
        let clang = found(
            "gcc",
            "15.0.0",
            "Apple clang version 15.0.0 (clang-1500.3.9.4)",
        );
        assert_eq!(host_compiler_note(&[nvcc, clang]), None);

        // A release the table lacks, and one it is unsure of.
        let unknown = found(
            "nvcc",
            "12.7.1",
            "Cuda compilation tools, release 12.7, V12.7.1",
        );
        let note = host_compiler_note(&[unknown, gcc11.clone()]).expect("a note");
        assert!(note.contains("no row for CUDA 12.7"), "{note}");
        let unsure = found(
            "nvcc",
            "13.1.80",
            "Cuda compilation tools, release 13.1, V13.1.80",
        );
        let note = host_compiler_note(&[unsure, gcc11]).expect("a note");
        assert!(note.contains("up to 15, unconfirmed"), "{note}");
    }

    // --- the probe, on a fake PATH ---

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
        println!("{:?}", host_compiler_note(&tools));
        assert_eq!(tools.len(), TOOLS.len());
    }

    #[test]
    fn probe_without_path_finds_nothing() {
        let tools = probe(None, Duration::from_secs(1));
        assert_eq!(tools.len(), TOOLS.len());
        assert!(tools.iter().all(|t| t.error.as_deref() == Some(NOT_FOUND)));
    }
}
