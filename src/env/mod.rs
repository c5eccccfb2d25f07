//! The Python environment as facts: the interpreter, every installed distribution's metadata,
//! and torch's build facts, all read from files. No package is ever imported.
//!
//! Problems with what is installed (a dist-info without METADATA, bad encoding, two versions of
//! one package, an unreadable entry) are [`Finding`]s in the result, not errors: the scan goes
//! on. Errors are only for when there is no environment to read at all.
//!
//! What lives where: this file holds the environment's types ([`PythonEnv`], [`Distribution`],
//! [`Finding`] and its codes) and [`read_environment`]; [`interpreter`] finds the interpreter
//! (from `--python` and the [`Vars`](crate::model::Vars) handed in) and reads its paths and
//! markers; `scan` reads the site folders; [`metadata`] holds the pure parsers of the files.
//! What does not: a planned environment (`crate::requirements::planned` builds the same type
//! from a lock) and any judgement of what is installed (`crate::verify`).

pub mod fatbin;
pub mod interpreter;
pub mod metadata;
pub mod pyenv;
pub mod rfc822;
mod scan;

use std::collections::BTreeMap;
use std::path::PathBuf;

use pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::Requirement;
use serde::Serialize;

pub use interpreter::{Interpreter, InterpreterError, InterpreterSource, Markers};
pub use metadata::TorchVersionPy;
pub use scan::scan;

/// One installed distribution.
#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    /// The name as its metadata spells it.
    pub name: String,
    /// PEP 503 normalized name.
    pub normalized: String,
    /// The version text as written.
    pub version_text: String,
    #[serde(skip)]
    pub version: Option<Version>,
    /// Every `Requires-Dist` line as written.
    pub requires_dist: Vec<String>,
    /// The lines that parse as PEP 508, with their parse.
    #[serde(skip)]
    pub requirements: Vec<(String, Requirement)>,
    pub requires_python: Option<String>,
    pub provides_extra: Vec<String>,
    #[serde(skip)]
    pub requires_python_spec: Option<VersionSpecifiers>,
    pub wheel_tags: Vec<String>,
    /// The `.dist-info` / `.egg-info` path (`plan:FILE` for a planned package).
    #[serde(serialize_with = "crate::model::paths::ser")]
    pub path: PathBuf,
    /// Whether its metadata (Requires-Dist, Requires-Python) was read; false for a planned
    /// package whose metadata could not be had.
    pub metadata_read: bool,
    pub format: DistFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DistFormat {
    DistInfo,
    EggInfo,
}

/// Something odd about the environment, found while reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Finding {
    /// Stable kebab-case code, see [`FINDING_CODES`].
    #[serde(deserialize_with = "finding_code")]
    pub code: FindingCode,
    pub package: Option<String>,
    #[serde(serialize_with = "crate::model::paths::ser_opt")]
    pub path: Option<PathBuf>,
    pub message: String,
}

/// Every finding code with what it means.
pub const FINDING_CODES: &[(&str, &str)] = &[
    (
        "missing-metadata",
        "a .dist-info/.egg-info holds no METADATA/PKG-INFO file",
    ),
    (
        "bad-encoding",
        "a metadata file is not valid UTF-8; it was read with replacement characters",
    ),
    ("invalid-version", "a distribution's Version is not PEP 440"),
    ("invalid-requirement", "a Requires-Dist line is not PEP 508"),
    (
        "invalid-requires-python",
        "a Requires-Python value is not a PEP 440 specifier set",
    ),
    (
        "duplicate-distribution",
        "two versions of one package are installed; Python loads the first one on sys.path",
    ),
    (
        "unreadable-entry",
        "a site-packages entry or metadata file cannot be read",
    ),
    (
        "missing-site-packages",
        "a folder on sys.path cannot be listed",
    ),
    (
        "wheel-tag-mismatch",
        "an installed wheel was built for another Python or platform",
    ),
    (
        "bad-torch-version-py",
        "torch/version.py is missing or does not say which build torch is",
    ),
    (
        "unreadable-native-library",
        "an installed shared library's GPU code (its .nv_fatbin) cannot be read",
    ),
    (
        "non-unicode-path",
        "a file or folder name in the environment is not UTF-8; it is shown with replacement characters",
    ),
    (
        "plan-without-metadata",
        "a planned package's metadata could not be had: its requirements are not checked",
    ),
    (
        "plan-unpinned",
        "a planned package is not pinned to one version",
    ),
    (
        "plan-torch-build",
        "where the plan's torch CUDA build was read from",
    ),
];

/// A finding's code: one of [`FINDING_CODES`]. (Named, because serde's derive takes a field
/// spelled `&'static str` to borrow from its input; it is read back by `finding_code`.)
pub type FindingCode = &'static str;

/// Reads a finding code back from a report: one of [`FINDING_CODES`], else an error.
fn finding_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
    FINDING_CODES
        .iter()
        .map(|(c, _)| *c)
        .find(|c| *c == s)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown finding code `{s}`")))
}

/// One installed CUDA shared library and the GPU code its `.nv_fatbin` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NativeLibraryFact {
    /// The distribution that installed it (normalized name).
    pub package: String,
    #[serde(serialize_with = "crate::model::paths::ser")]
    pub path: PathBuf,
    /// `sm_80` style, as `cuobjdump --list-elf` names them.
    pub sass: Vec<String>,
    /// `compute_90` style, as `cuobjdump --list-ptx` names them.
    pub ptx: Vec<String>,
}

/// The environment read from disk.
#[derive(Debug, Clone, Serialize)]
pub struct PythonEnv {
    pub interpreter: Interpreter,
    /// Distributions by normalized name: the one Python would load.
    pub distributions: BTreeMap<String, Distribution>,
    /// Shadowed copies of packages installed more than once.
    pub shadowed: Vec<Distribution>,
    pub torch: Option<TorchVersionPy>,
    /// The native libraries bitsandbytes ships (`libbitsandbytes_cuda124.so`, ...), when installed.
    pub bnb_libraries: Vec<String>,
    /// The installed CUDA libraries with the GPU code their fatbins carry (read from the ELF
    /// files; empty for a plan). Only libraries with GPU code are listed.
    pub native_libraries: Vec<NativeLibraryFact>,
    pub findings: Vec<Finding>,
    /// How long reading took, in milliseconds.
    pub scan_ms: f64,
    /// These are the packages of a plan (`--requirements`), not an installed environment.
    pub planned: bool,
    /// For a plan: whether it lists everything that would be installed (a lock, pip's report),
    /// or only the top-level requirements (a requirements file), whose dependencies pip adds.
    pub planned_complete: bool,
}

impl PythonEnv {
    /// "installed" or "planned", for messages.
    pub fn word(&self) -> &'static str {
        if self.planned {
            "planned"
        } else {
            "installed"
        }
    }

    /// "in this environment" or "in the plan", for messages.
    pub fn place(&self) -> &'static str {
        if self.planned {
            "in the plan"
        } else {
            "in this environment"
        }
    }

    pub fn get(&self, name: &str) -> Option<&Distribution> {
        self.distributions.get(&crate::model::normalize(name))
    }

    /// The marker environment of the interpreter, for evaluating `Requires-Dist` markers.
    pub fn marker_env(&self) -> Option<pep508_rs::MarkerEnvironment> {
        self.interpreter.markers.to_pep508().ok()
    }
}

/// Reads the environment chosen by `--python` / `VIRTUAL_ENV` / `CONDA_PREFIX` / `PATH` (the
/// variables from `vars`).
pub fn read_environment(
    python: Option<&std::path::Path>,
    vars: &crate::model::Vars,
) -> Result<PythonEnv, InterpreterError> {
    let start = std::time::Instant::now();
    let (target, source) = interpreter::discover(python, vars)?;
    let cache = interpreter::default_cache_dir(vars);
    let interp = interpreter::read(&target, source, Some(&cache))?;
    let mut env = scan(interp);
    // The listing cache sits beside the index cache, in compat's cache folder.
    let (libs, mut found) = scan::native_libraries(&env.distributions, &vars.cache_root());
    env.native_libraries = libs;
    env.findings.append(&mut found);
    env.scan_ms = start.elapsed().as_secs_f64() * 1000.0;
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::FINDING_CODES;

    #[test]
    fn finding_codes_are_unique_kebab_case_and_documented() {
        let doc = include_str!("../../docs/report-schema.md");
        let mut seen = std::collections::HashSet::new();
        for (code, meaning) in FINDING_CODES {
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{code}"
            );
            assert!(
                doc.contains(&format!("| `{code}` | {meaning} |")),
                "docs/report-schema.md lacks `{code}` with its meaning"
            );
        }
        let documented = doc
            .lines()
            .filter(|l| l.starts_with("| `") && !l.contains("[]"))
            .count();
        assert!(documented >= FINDING_CODES.len());
    }
}
