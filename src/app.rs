//! The commands: flags in, exit code out. `main.rs` only calls [`main`].
//!
//! Exit codes: 0 nothing failed; 1 at least one cell or check failed; 2 bad input or usage
//! (an unreadable or invalid matrix, a bad flag, no Python environment), with `file:line:column`
//! where a file is at fault.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::env::{self, DiscoveryVars};
use crate::matrix::{self, Matrix};
use crate::report::{self, EnvironmentInfo, HostInfo, MatrixInfo, Report};
use crate::verify;

const EXIT_CODES: &str = "Exit codes:\n  0  nothing failed\n  1  at least one cell or dependency check failed\n  2  bad input or usage (unreadable or invalid matrix, bad flag, no Python environment)";

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
    /// List the built-in matrices.
    Matrices,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// A matrix file (TOML). Default: the built-in `llm-compression` matrix.
    #[arg(long, value_name = "PATH")]
    pub matrix: Option<PathBuf>,
    /// The Python interpreter, or an environment folder, to check. Default: VIRTUAL_ENV, then
    /// CONDA_PREFIX, then python3 on PATH.
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the report to PATH (atomically) instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Colour in the table format. `auto`: only on a terminal, and never when NO_COLOR is set.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
}

/// Runs compat with the process arguments and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Matrices => {
            for (id, _) in matrix::BUILTIN {
                println!("{id}");
            }
            0
        }
    }
}

fn error(msg: &str, hint: Option<&str>) -> i32 {
    eprintln!("error: {msg}");
    if let Some(h) = hint {
        eprintln!("  hint: {h}");
    }
    2
}

/// Loads `--matrix` or the default built-in matrix.
pub fn load_matrix(path: Option<&std::path::Path>) -> Result<Matrix, matrix::LoadError> {
    match path {
        Some(p) => matrix::load_file(p),
        None => matrix::load_builtin(matrix::DEFAULT_BUILTIN),
    }
}

fn check(args: &CheckArgs) -> i32 {
    let m = match load_matrix(args.matrix.as_deref()) {
        Ok(m) => m,
        Err(e) => return error(&e.to_string(), Some(&e.hint)),
    };
    let env = match env::read_environment(args.python.as_deref(), &DiscoveryVars::from_process()) {
        Ok(e) => e,
        Err(e) => {
            return error(
                &e.to_string(),
                Some("pass --python PATH (an interpreter or a virtual environment folder), or activate the environment"),
            )
        }
    };
    let verification = verify::verify(&m, &env);
    let exit_code = i32::from(verification.failed());
    let r = Report {
        schema: report::SCHEMA,
        compat_version: env!("CARGO_PKG_VERSION"),
        checked_at: report::rfc3339(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        ),
        matrix: MatrixInfo {
            id: m.doc.id.clone(),
            title: m.doc.title.clone(),
            origin: m.origin.clone(),
        },
        host: host_info(),
        environment: EnvironmentInfo {
            distributions: env.distributions.len(),
            torch: env.torch.clone(),
            scan_ms: env.scan_ms,
            interpreter: env.interpreter.clone(),
        },
        findings: env.findings.clone(),
        verification,
        exit_code,
        matrix_doc: Some(m),
    };
    let text = match args.format {
        Format::Json => report::json(&r),
        Format::Markdown => report::markdown(&r),
        Format::Table => {
            let color = match args.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    args.output.is_none()
                        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                        && std::io::stdout().is_terminal()
                }
            };
            report::table(&r, color)
        }
    };
    match &args.output {
        Some(path) => {
            if let Err(e) = report::write_atomic(path, &text) {
                return error(&format!("cannot write {}: {e}", path.display()), None);
            }
        }
        None => print!("{text}"),
    }
    exit_code
}

/// The machine's basic facts, read from /proc and /etc (Linux); absent facts stay `None`.
fn host_info() -> HostInfo {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let os = read("/etc/os-release").and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
    });
    HostInfo {
        hostname: read("/proc/sys/kernel/hostname").or_else(|| read("/etc/hostname")),
        os: os.or_else(|| Some(std::env::consts::OS.to_string())),
        kernel: read("/proc/sys/kernel/osrelease"),
        arch: std::env::consts::ARCH.to_string(),
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        gpu: "not probed (the GPU probe is not part of this build)".into(),
    }
}
