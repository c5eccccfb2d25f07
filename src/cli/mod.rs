//! The commands: flags in, library calls, text out. Wiring only — what a command decides lives
//! in the library (`verify`, `plan`, `risk`, `fleet`), how it looks in `report`.
//!
//! - [`Cli`] and [`Command`]: the command line (clap derive); the flag groups several commands
//!   share are in [`args`], each command's own flags beside its code (`check.rs`, `probe.rs`,
//!   `install_order.rs`, `risk.rs`, `smoke.rs`, `merge.rs`, `matrices.rs`, `advisories.rs`).
//! - `inputs`: the shared flag groups turned into the library's inputs (the matrix, host facts,
//!   the Python environment, the package-index client), each failure with a hint.
//! - `output`: standard output or an atomic file write, and the colour decision.
//! - [`run`] dispatches; [`fail`] is the one error printer.
//!
//! Exit codes: 0 nothing failed; 1 at least one cell or check failed; 2 bad input or usage
//! (an unreadable or invalid matrix, a bad flag, no Python environment), with `file:line:column`
//! where a file is at fault. A command returns `Ok(0 | 1)`; any error is exit 2, printed as
//! `error: …`, one `Caused by: …` line per cause, then `hint: …` when there is one.

mod advisories;
pub mod args;
mod check;
mod inputs;
mod install_order;
mod matrices;
mod merge;
mod output;
mod probe;
mod risk;
mod smoke;

use std::fmt;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use advisories::AdvisoriesArgs;
pub use check::CheckArgs;
pub use install_order::InstallOrderArgs;
pub use merge::MergeArgs;
pub use output::guard_standard_streams;
pub use probe::ProbeArgs;
pub use risk::RiskArgs;
pub use smoke::SmokeArgs;

const EXIT_CODES: &str = "Exit codes:\n  0  nothing failed\n  1  at least one cell or dependency check failed (with --fail-on unverified: or a checkable cell is not verified)\n  2  bad input or usage (unreadable or invalid matrix, host profile or requirements file, bad flag, no Python environment)";

#[derive(Debug, Parser)]
#[command(name = "compat", version, about = "Verify a GPU machine-learning environment against a declared compatibility matrix", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the Python environment against the matrix: a verdict and its evidence for every cell.
    #[command(after_help = EXIT_CODES)]
    Check(CheckArgs),
    /// Print every host fact (driver, GPUs, CUDA, toolchains) and environment fact, each with
    /// its source. `--format toml` writes a host profile for `--host`.
    Probe(ProbeArgs),
    /// The order in which to install the matrix's libraries on this host (or --host), with the
    /// exact commands and the reason for each step.
    #[command(
        name = "install-order",
        after_help = "Exit codes:\n  0  a plan was made\n  2  bad input (matrix, host profile), or the matrix's stages contradict its dependency graph"
    )]
    InstallOrder(InstallOrderArgs),
    /// The matrix's risk table with evidence gathered now: installed versions, the package
    /// index (drift, pre-releases, staleness, yanked releases), driver headroom, mitigations.
    #[command(
        after_help = "Exit codes:\n  0  no risk at or above --fail-on\n  1  a risk at or above --fail-on (default high)\n  2  bad input"
    )]
    Risk(RiskArgs),
    /// Run the smoke compressions: int8 (LLM.int8), NF4 (+ double quantization), LoRA, 2:4
    /// sparsity, fp16/bf16 GEMM and a safetensors round trip on Mistral-7B layers, on the GPU
    /// (CUDA kernels compiled at run time) and the CPU, checked against an f32 reference.
    /// With --host, the host facts come from the profile, but the GPU checks still need a real
    /// GPU.
    #[command(
        after_help = "Exit codes:\n  0  every check that ran passed\n  1  a check failed\n  2  bad input (config, weights, dump folder)"
    )]
    Smoke(SmokeArgs),
    /// Merge per-node JSON reports (`compat check --format json`) into one fleet matrix.
    #[command(
        after_help = "Exit codes:\n  0  no node failed\n  1  at least one node's report failed\n  2  a file is not a compat check report"
    )]
    Merge(MergeArgs),
    /// List the built-in matrices.
    Matrices,
    /// List the advisories (the incompatibilities no metadata states), or `show ID` one whole.
    Advisories(AdvisoriesArgs),
}

/// Runs one command: `Ok` with exit code 0 or 1, or the error that makes it exit 2.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Probe(args) => probe::run(&args),
        Command::InstallOrder(args) => install_order::run(&args),
        Command::Risk(args) => risk::run(&args),
        Command::Smoke(args) => smoke::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Matrices => matrices::run(),
        Command::Advisories(args) => advisories::run(&args),
    }
}

/// The one error printer: `error: …`, each cause as `  Caused by: …`, the hint as `  hint: …`.
/// Returns exit code 2.
/// Every message is cleaned (`model::clean_lines`: its line breaks stay, as a TOML error's
/// snippet needs them): a path or a value from an input in it cannot send control sequences to
/// the terminal.
pub fn fail(error: &anyhow::Error) -> ExitCode {
    use crate::model::clean_lines as clean;
    eprintln!("error: {}", clean(&error.to_string()));
    for cause in error.chain().skip(1) {
        eprintln!("  Caused by: {}", clean(&cause.to_string()));
    }
    if let Some(h) = error.chain().find_map(|e| e.downcast_ref::<Hinted>()) {
        eprintln!("  hint: {}", clean(&h.hint));
    }
    ExitCode::from(2)
}

/// Exit code 1 when `failed`, else 0.
fn exit(failed: bool) -> ExitCode {
    ExitCode::from(u8::from(failed))
}

/// An error with one line for the user saying what to do about it. It reads as the error it
/// wraps (the same message, the same causes); only [`fail`] looks for the hint.
#[derive(Debug)]
struct Hinted {
    error: anyhow::Error,
    hint: String,
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// `error` with a hint.
fn hinted(error: impl Into<anyhow::Error>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        error: error.into(),
        hint: hint.into(),
    })
}

/// Adds a hint to the error of a result.
trait Hint<T> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> Hint<T> for Result<T, E> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| hinted(e, hint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_hinted_error_reads_as_the_error_it_wraps() {
        let inner = Outer(std::io::Error::other("inner"));
        let e: anyhow::Error = Err::<(), _>(inner).hint("do this").expect_err("error");
        let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
        assert_eq!(chain, ["outer", "inner"]);
        let h = e.chain().find_map(|c| c.downcast_ref::<Hinted>());
        assert_eq!(h.map(|h| h.hint.as_str()), Some("do this"));
        // Context added on top keeps the hint findable.
        let e = e.context("while checking");
        assert!(e.chain().any(|c| c.downcast_ref::<Hinted>().is_some()));
    }

    #[test]
    fn the_flags_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
