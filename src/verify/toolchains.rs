//! Rules over the toolchains `probe` found: whether the CUDA compiler on PATH accepts the GCC
//! beside it as host compiler (the limits are knowledge: `knowledge::nvcc`).

use crate::knowledge::Knowledge;
use crate::probe::Toolchain;

/// The summary fact for the report: when nvcc and GCC (`gcc`, else `g++`) both have a version,
/// whether nvcc accepts that GCC as host compiler, in one sentence. `None` when either is missing
/// or `gcc` is really clang (macOS).
pub fn host_compiler_note(k: &Knowledge, tools: &[Toolchain]) -> Option<String> {
    let versioned = |name: &str| tools.iter().find(|t| t.name == name && t.version.is_some());
    let nvcc = versioned("nvcc")?;
    let nvcc_version = nvcc.version.as_deref()?;
    let gcc = versioned("gcc").or_else(|| versioned("g++"))?;
    let gcc_version = gcc.version.as_deref()?;
    if gcc.raw.as_deref().is_some_and(|r| r.contains("clang")) {
        return None;
    }
    let Some(row) = k.nvcc_release(nvcc_version) else {
        let (major, minor) = nvcc_major_minor(nvcc_version)?;
        return Some(format!(
            "`nvcc` {nvcc_version} with `{}` {gcc_version}: the host-compiler table has no row for \
             CUDA {major}.{minor}, so the pairing is unchecked.",
            gcc.name
        ));
    };
    let support = k.nvcc_supports_gcc(nvcc_version, gcc_version)?;
    let (major, minor) = (row.cuda.major, row.cuda.minor);
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

/// `(12, 4)` of `12.4.131` or `V12.4.131`, for naming a release the table lacks.
fn nvcc_major_minor(version: &str) -> Option<(u32, u32)> {
    let v = version.trim().trim_start_matches(['V', 'v']);
    let (major, rest) = v.split_once('.')?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((major.parse().ok()?, digits.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::toolchains::NOT_FOUND;
    use std::path::PathBuf;

    #[test]
    fn nvcc_release_names() {
        assert_eq!(nvcc_major_minor("V12.4.131"), Some((12, 4)));
        assert_eq!(nvcc_major_minor("12.7.1"), Some((12, 7)));
        assert_eq!(nvcc_major_minor("12"), None);
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
        let k = crate::knowledge::for_tests();
        let nvcc = found(
            "nvcc",
            "12.4.131",
            "Cuda compilation tools, release 12.4, V12.4.131",
        );
        let gcc11 = found("gcc", "11.4.0", "gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0");
        let gcc14 = found("gcc", "14.2.0", "gcc (Debian 14.2.0-19) 14.2.0");

        let ok = host_compiler_note(k, &[nvcc.clone(), gcc11.clone()]).expect("a note");
        assert_eq!(
            ok,
            "`nvcc` 12.4.131 accepts `gcc` 11.4.0 as its host compiler (CUDA 12.4 supports GCC up to 13)."
        );
        let bad = host_compiler_note(k, &[gcc14, nvcc.clone()]).expect("a note");
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
        let missing_gcc = Toolchain {
            name: "gcc".into(),
            path: None,
            version: None,
            raw: None,
            error: Some(NOT_FOUND.into()),
        };
        let via_gxx = host_compiler_note(k, &[nvcc.clone(), missing_gcc, gxx]).expect("a note");
        assert!(via_gxx.contains("accepts `g++` 13.2.1"), "{via_gxx}");

        // Nothing to say without both, or when gcc is clang.
        assert_eq!(host_compiler_note(k, std::slice::from_ref(&nvcc)), None);
        assert_eq!(host_compiler_note(k, std::slice::from_ref(&gcc11)), None);
        let clang = found(
            "gcc",
            "15.0.0",
            "Apple clang version 15.0.0 (clang-1500.3.9.4)",
        );
        assert_eq!(host_compiler_note(k, &[nvcc, clang]), None);

        // A release the table lacks, and one it is unsure of.
        let unknown = found(
            "nvcc",
            "12.7.1",
            "Cuda compilation tools, release 12.7, V12.7.1",
        );
        let note = host_compiler_note(k, &[unknown, gcc11.clone()]).expect("a note");
        assert!(note.contains("no row for CUDA 12.7"), "{note}");
        let unsure = found(
            "nvcc",
            "13.1.80",
            "Cuda compilation tools, release 13.1, V13.1.80",
        );
        let note = host_compiler_note(k, &[unsure, gcc11]).expect("a note");
        assert!(note.contains("up to 15, unconfirmed"), "{note}");
    }
}
