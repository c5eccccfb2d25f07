//! The GCC majors each CUDA release's nvcc accepts as host compiler, and the one-sentence note
//! the probe adds about the pair found on PATH.
//!
//! This is knowledge, not probing: it sits in a file of its own, unchanged, so that it can move
//! into `knowledge/` whole.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::parse::{leading_number, major_minor};
use super::Toolchain;

const HOST_COMPILERS_TOML: &str =
    include_str!("../../../matrices/knowledge/nvcc-host-compilers.toml");

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
    use super::super::NOT_FOUND;
    use super::*;
    use std::path::PathBuf;

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
}
