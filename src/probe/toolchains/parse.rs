//! Pure parsers of `TOOL --version` output, one per tool family, each with a sample of the real
//! output it reads in its doc comment. They take text and return `(version, line it came from)`;
//! running the tools is [`super::probe`](mod@super::probe)'s job.

use std::ffi::OsStr;
use std::path::Path;

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

pub(super) fn first_line(output: &str) -> Option<&str> {
    output.lines().map(str::trim).find(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
