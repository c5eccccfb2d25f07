//! Toolchains found on PATH and their versions. (Whether the CUDA compiler accepts the GCC
//! that is there is a rule: `verify::toolchains`, over the table in `knowledge::nvcc`.)
//!
//! What lives here:
//! - [`Toolchain`], the fact for one tool, and [`TOOLS`], the tools looked for;
//! - [`probe`](mod@probe): the I/O edge. It looks each tool up on a PATH value it is given (so
//!   tests pass a fake one) and runs `TOOL --version` on its own thread, with a timeout. A tool
//!   that hangs is killed and reported as timed out; a missing tool, a tool that fails and output
//!   without a version are *facts* in [`Toolchain::error`], never an `Err`: a machine without
//!   `conda` is not a broken machine.
//! - a pyenv shim's target comes from `env::pyenv` (pyenv's version files), so that no shim is
//!   run;
//! - [`parse`]: pure parsers, one per tool family, each with a sample of the real output it reads.
//!
//! What does not live here: the CUDA toolkit fact itself (the caller takes nvcc's version from
//! these results) and the driver and GPU probes (`probe::gpu`).

pub mod parse;
pub mod probe;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::env::pyenv::PyenvVars;
pub use parse::{
    parse_cmake, parse_conda, parse_gcc, parse_git, parse_mamba, parse_micromamba, parse_ninja,
    parse_nvcc, parse_pip, parse_python, parse_uv, parse_version,
};
pub use probe::{probe, probe_in, probe_with};

/// One tool looked up on PATH.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toolchain {
    /// The name looked up, e.g. `nvcc`.
    pub name: String,
    /// Where it was found.
    #[serde(serialize_with = "crate::model::paths::ser_opt")]
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
    pub(crate) fn failed(name: &str, path: Option<PathBuf>, error: impl Into<String>) -> Self {
        Toolchain {
            name: name.to_string(),
            path,
            version: None,
            raw: None,
            error: Some(error.into()),
        }
    }
}

/// The tools [`probe()`] looks for, in the order it reports them.
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

/// The tools whose `--version` starts a Python interpreter (a quarter of a second or more).
pub const PYTHON_TOOLS: &[&str] = &["pip", "conda", "mamba"];
