//! Public facts about the GPU software world, as data, and pure queries over them.
//!
//! # Why these are data
//!
//! Which driver a CUDA toolkit needs, which GPU architectures a PyTorch wheel or a bitsandbytes
//! library was compiled for, which compute capability a precision needs: none of this can be
//! derived, and all of it changes with every NVIDIA, PyTorch and bitsandbytes release. So each
//! fact is a row in a TOML table under `matrices/knowledge/`, with the public document it comes
//! from beside it (`source`, with a URL where one is known) and `unsure = true` where the row is
//! sourced but not confirmed. Updating compat for a new release means editing a table and its
//! source, not code; a reviewer checks a row against the document it names.
//!
//! | table | file here | what | primary source |
//! |---|---|---|---|
//! | `cuda-toolkit-driver.toml` | [`cuda`] | toolkit release -> minimum Linux driver | NVIDIA CUDA Toolkit Release Notes, Table 3 |
//! | `minor-version-compat.toml` | [`cuda`] | CUDA major -> minor-compat driver floor, caveat | NVIDIA CUDA Compatibility guide |
//! | `cuda-arch-support.toml` | [`cuda`] | CUDA release -> lowest/highest targetable arch | NVIDIA release notes (deprecated architectures) |
//! | `torch-wheels.toml` | [`torch`] | torch release -> CUDA variants; (release, variant) -> SASS/PTX archs | pytorch `.ci/manywheel/build_cuda.sh` (pytorch/builder before), `RELEASE.md`, pytorch issues/PRs |
//! | `precision.toml` | [`precision`] | compute capability thresholds for fp16/bf16/int8/fp8 | DeepSpeed, torch, bitsandbytes, ATen checks |
//! | `bitsandbytes.toml` | [`bitsandbytes`] | shipped CUDA libraries, their archs, selection rule, floors | bitsandbytes build-cuda.sh, cextension.py, issues/PRs |
//! | `gpus.toml` | [`gpus`] | GPU name -> compute capability | NVIDIA "CUDA GPUs" page |
//! | `risk-rules.toml` | [`risk_rules`] | the levels and thresholds of `compat risk`'s rules | compat's own policy |
//! | `nvcc-host-compilers.toml` | [`nvcc`] | CUDA release -> newest GCC major nvcc accepts | `crt/host_config.h`, NVIDIA's installation guide, nixpkgs, Spack |
//!
//! # One load, one policy
//!
//! The tables are embedded with `include_str!` and parsed by [`Knowledge::embedded`], which the
//! command line calls once and then hands the [`Knowledge`] down to every rule that needs it
//! (`verify`, `install_order`, `risk`, `requirements`): nothing reads a global. A table that
//! does not parse or does not hold together is a [`KnowledgeError`] naming
//! `matrices/knowledge/FILE:LINE:COLUMN`, never an empty table; the `embedded_tables_are_valid`
//! unit test keeps every build's own tables valid.
//!
//! Adding a table family is one file here: its raw row types, a `parse` that takes a `table::Table`, the checked type
//! as a field of [`Knowledge`], its text in [`Tables`].
//!
//! What does not live here: anything that reads the host or the environment. Queries take plain
//! values (a driver version, a CUDA release, a compute capability), so this module sits below
//! `probe` and `env` and is tested without either.
//!
//! # Architecture rules used here
//!
//! A cubin (SASS) for `sm_XY` runs on GPUs with the same major `X` and a minor `>= Y` (sm_80
//! runs on 8.6 and 8.9; sm_86 does not run on 8.0; nothing runs across majors). PTX for
//! `compute_XY` is JIT-compiled by the driver for any GPU with compute capability `>= X.Y`
//! (provided the driver is at least as new as the toolkit that wrote the PTX).

pub mod bitsandbytes;
pub mod cuda;
pub mod gpus;
pub mod nvcc;
pub mod precision;
pub mod risk_rules;
mod table;
#[cfg(test)]
mod tests;
pub mod torch;

pub use bitsandbytes::BnbFloors;
pub use cuda::{CudaArchRange, DriverSupport};
pub use nvcc::{HostCompilerRelease, HostCompilerSupport};
pub use precision::{Precision, PrecisionSources};
pub use risk_rules::{RiskRule, RiskRuleId, RiskRules};
pub use torch::ArchList;

/// The raw text of the knowledge tables. [`Tables::EMBEDDED`] is the copy built into the
/// binary; tests build others to check that bad tables are refused.
#[derive(Debug, Clone, Copy)]
pub struct Tables<'a> {
    pub cuda_toolkit_driver: &'a str,
    pub minor_version_compat: &'a str,
    pub torch_wheels: &'a str,
    pub cuda_arch_support: &'a str,
    pub precision: &'a str,
    pub bitsandbytes: &'a str,
    pub gpus: &'a str,
    pub risk_rules: &'a str,
    pub nvcc_host_compilers: &'a str,
}

impl Tables<'static> {
    pub const EMBEDDED: Tables<'static> = Tables {
        cuda_toolkit_driver: include_str!("../../matrices/knowledge/cuda-toolkit-driver.toml"),
        minor_version_compat: include_str!("../../matrices/knowledge/minor-version-compat.toml"),
        torch_wheels: include_str!("../../matrices/knowledge/torch-wheels.toml"),
        cuda_arch_support: include_str!("../../matrices/knowledge/cuda-arch-support.toml"),
        precision: include_str!("../../matrices/knowledge/precision.toml"),
        bitsandbytes: include_str!("../../matrices/knowledge/bitsandbytes.toml"),
        gpus: include_str!("../../matrices/knowledge/gpus.toml"),
        risk_rules: include_str!("../../matrices/knowledge/risk-rules.toml"),
        nvcc_host_compilers: include_str!("../../matrices/knowledge/nvcc-host-compilers.toml"),
    };
}

/// A knowledge table that does not parse or does not hold together, with the place at fault.
#[derive(Debug, Clone, thiserror::Error)]
#[error("matrices/knowledge/{file}:{line}:{column}: {message}")]
pub struct KnowledgeError {
    /// The table's file name (`gpus.toml`).
    pub file: &'static str,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The TOML parser's own error, when the file does not parse into the table's shape.
    #[source]
    pub source: Option<Box<toml::de::Error>>,
}

/// All the knowledge tables, parsed and checked.
#[derive(Debug, Clone)]
pub struct Knowledge {
    cuda: cuda::CudaTables,
    torch: torch::TorchTables,
    precision: precision::PrecisionTable,
    bnb: bitsandbytes::BnbTables,
    gpus: gpus::GpuTable,
    risk_rules: RiskRules,
    nvcc: nvcc::NvccTable,
}

impl Knowledge {
    /// Parse and check the tables built into the binary. The command line calls this once per
    /// run and passes the result down.
    pub fn embedded() -> Result<Knowledge, KnowledgeError> {
        Knowledge::from_tables(&Tables::EMBEDDED)
    }

    /// Parse and check a set of tables.
    pub fn from_tables(t: &Tables<'_>) -> Result<Knowledge, KnowledgeError> {
        use table::Table;
        Ok(Knowledge {
            cuda: cuda::CudaTables::parse(
                Table::new(cuda::TOOLKIT_FILE, t.cuda_toolkit_driver),
                Table::new(cuda::MINOR_FILE, t.minor_version_compat),
                Table::new(cuda::ARCH_FILE, t.cuda_arch_support),
            )?,
            torch: torch::TorchTables::parse(Table::new(torch::FILE, t.torch_wheels))?,
            precision: precision::PrecisionTable::parse(Table::new(precision::FILE, t.precision))?,
            bnb: bitsandbytes::BnbTables::parse(Table::new(bitsandbytes::FILE, t.bitsandbytes))?,
            gpus: gpus::GpuTable::parse(Table::new(gpus::FILE, t.gpus))?,
            risk_rules: RiskRules::parse(Table::new(risk_rules::FILE, t.risk_rules))?,
            nvcc: nvcc::NvccTable::parse(Table::new(nvcc::FILE, t.nvcc_host_compilers))?,
        })
    }

    /// The rules of `compat risk`, with their levels and thresholds.
    pub fn risk_rules(&self) -> &RiskRules {
        &self.risk_rules
    }
}

/// The embedded tables, parsed once for the unit tests of every module.
#[cfg(test)]
pub(crate) fn for_tests() -> &'static Knowledge {
    static K: std::sync::OnceLock<Knowledge> = std::sync::OnceLock::new();
    K.get_or_init(|| Knowledge::embedded().expect("embedded knowledge tables are valid"))
}
