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
use crate::probe::{self, HostFacts, ProbeOptions};
use crate::report::{self, EnvironmentInfo, MatrixInfo, Report};
use crate::verify;

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
    /// Merge per-node JSON reports (`compat check --format json`) into one fleet matrix.
    #[command(
        after_help = "Exit codes:\n  0  no node failed\n  1  at least one node's report failed\n  2  a file is not a compat check report"
    )]
    Merge(MergeArgs),
    /// List the built-in matrices.
    Matrices,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// The verified matrix in the seed's own shape.
    Markdown,
    /// JUnit XML, one test case per cell.
    Junit,
    /// A short Markdown summary for a CI job's step summary.
    Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Exit 1 when a cell or check failed.
    Failed,
    /// Also exit 1 when a checkable cell is unverified or not installed.
    Unverified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeFormat {
    Table,
    Json,
    Toml,
}

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// Use a host profile (TOML) instead of probing this machine.
    #[arg(long, value_name = "PATH")]
    pub host: Option<PathBuf>,
    /// The Python interpreter or environment folder whose facts to include.
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// `toml` writes this host's profile (host facts only).
    #[arg(long, value_enum, default_value = "table")]
    pub format: ProbeFormat,
    /// Write to PATH (atomically) instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Shell,
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct InstallOrderArgs {
    /// A matrix file (TOML). Default: the built-in `llm-compression` matrix.
    #[arg(long, value_name = "PATH")]
    pub matrix: Option<PathBuf>,
    /// Plan for a host profile instead of this machine.
    #[arg(long, value_name = "PATH")]
    pub host: Option<PathBuf>,
    /// The installer the commands use.
    #[arg(long, value_enum, default_value = "pip")]
    pub tool: crate::plan::Tool,
    #[arg(long, value_enum, default_value = "shell")]
    pub format: PlanFormat,
    /// Base URL of PyTorch's wheel index (ending in /whl); `/cu124`, `/cpu`... is appended.
    #[arg(long, value_name = "URL", env = "COMPAT_TORCH_INDEX_URL")]
    pub torch_index_url: Option<String>,
    /// The interpreter the commands call.
    #[arg(long, value_name = "PYTHON", default_value = "python")]
    pub python: String,
    /// Write to PATH (atomically) instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The reports, one per node.
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: MergeFormat,
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MergeFormat {
    Table,
    Json,
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
    /// Check against a host profile (TOML, from `compat probe --format toml`) instead of
    /// probing this machine: for CI runners without the target's GPU.
    #[arg(long, value_name = "PATH")]
    pub host: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the report to PATH (atomically) instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Colour in the table format. `auto`: only on a terminal, and never when NO_COLOR is set.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// How strict the gate is: `failed` (default) or `unverified` (every checkable cell must be
    /// verified).
    #[arg(long, value_enum, default_value = "failed")]
    pub fail_on: FailOn,
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
        Command::Probe(args) => probe_cmd(&args),
        Command::InstallOrder(args) => install_order(&args),
        Command::Merge(args) => merge(&args),
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
    let (host, env) = match facts(args.host.as_ref(), args.python.as_deref(), false) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let verification = verify::verify(&m, &env, &host);
    let strict = args.fail_on == FailOn::Unverified;
    let undecided = verification
        .tables
        .iter()
        .flat_map(|t| &t.rows)
        .flat_map(|r| &r.cells)
        .any(|c| {
            c.checkable
                && matches!(
                    c.verdict,
                    verify::Verdict::Unverified | verify::Verdict::NotInstalled
                )
        });
    let exit_code = i32::from(verification.failed() || (strict && undecided));
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
        host,
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
        Format::Junit => report::junit(&r, strict),
        Format::Summary => report::summary(&r),
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

/// Host facts and the Python environment, gathered at the same time (the GPU probe and the
/// site-packages scan are independent). Errors are printed; the `Err` is the exit code.
fn facts(
    host: Option<&PathBuf>,
    python: Option<&std::path::Path>,
    slow_toolchains: bool,
) -> Result<(HostFacts, env::PythonEnv), i32> {
    let opts = ProbeOptions {
        host: host.cloned(),
        slow_toolchains,
    };
    let (host, env) = std::thread::scope(|s| {
        let h = s.spawn(|| probe::collect(&opts, &probe::process_vars));
        let e = env::read_environment(python, &DiscoveryVars::from_process());
        (h.join(), e)
    });
    let host = match host {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            return Err(error(
                &e.to_string(),
                Some("a host profile is TOML as `compat probe --format toml` writes it; override values look like 12.4, 550.54.15, 8.0,9.0"),
            ))
        }
        Err(_) => return Err(error("the host probe crashed", None)),
    };
    let env = env.map_err(|e| {
        error(
            &e.to_string(),
            Some("pass --python PATH (an interpreter or a virtual environment folder), or activate the environment"),
        )
    })?;
    Ok((host, env))
}

fn probe_cmd(args: &ProbeArgs) -> i32 {
    let text = if args.format == ProbeFormat::Toml {
        let opts = ProbeOptions {
            host: args.host.clone(),
            slow_toolchains: true,
        };
        match probe::collect(&opts, &probe::process_vars) {
            Ok(h) => probe::to_profile_toml(&h),
            Err(e) => return error(&e.to_string(), None),
        }
    } else {
        let (host, env) = match facts(args.host.as_ref(), args.python.as_deref(), true) {
            Ok(x) => x,
            Err(code) => return code,
        };
        match args.format {
            ProbeFormat::Json => report::probe_json(&host, &env),
            _ => report::probe_table(&host, &env),
        }
    };
    match &args.output {
        Some(path) => match report::write_atomic(path, &text) {
            Ok(()) => 0,
            Err(e) => error(&format!("cannot write {}: {e}", path.display()), None),
        },
        None => {
            print!("{text}");
            0
        }
    }
}

fn write_or_print(output: Option<&PathBuf>, text: &str) -> i32 {
    match output {
        Some(path) => match report::write_atomic(path, text) {
            Ok(()) => 0,
            Err(e) => error(&format!("cannot write {}: {e}", path.display()), None),
        },
        None => {
            print!("{text}");
            0
        }
    }
}

fn install_order(args: &InstallOrderArgs) -> i32 {
    let m = match load_matrix(args.matrix.as_deref()) {
        Ok(m) => m,
        Err(e) => return error(&e.to_string(), Some(&e.hint)),
    };
    let opts = ProbeOptions {
        host: args.host.clone(),
        slow_toolchains: false,
    };
    let host = match probe::collect(&opts, &probe::process_vars) {
        Ok(h) => h,
        Err(e) => return error(&e.to_string(), None),
    };
    let popts = crate::plan::PlanOptions {
        tool: args.tool,
        torch_index: args.torch_index_url.clone().filter(|u| !u.is_empty()),
        torch_latest: None,
        python: args.python.clone(),
    };
    let plan = match crate::plan::plan(&m, &host, crate::knowledge::builtin(), &popts) {
        Ok(p) => p,
        Err(e) => {
            return error(
                &format!("{}: {e}", m.origin),
                Some("fix the matrix's [[install.stages]] or [[graph]] so every library comes after what it requires"),
            )
        }
    };
    let text = match args.format {
        PlanFormat::Shell => crate::plan::render_shell(&plan),
        PlanFormat::Table => crate::plan::render_table(&plan),
        PlanFormat::Json => serde_json::to_string_pretty(&plan).unwrap_or_default() + "\n",
    };
    write_or_print(args.output.as_ref(), &text)
}

fn merge(args: &MergeArgs) -> i32 {
    let fleet = match crate::fleet::merge(&args.reports) {
        Ok(f) => f,
        Err(e) => {
            return error(
                &e.to_string(),
                Some("pass the JSON reports of `compat check --format json`"),
            )
        }
    };
    let text = match args.format {
        MergeFormat::Table => crate::fleet::render_table(&fleet),
        MergeFormat::Json => serde_json::to_string_pretty(&fleet).unwrap_or_default() + "\n",
    };
    let code = write_or_print(args.output.as_ref(), &text);
    if code != 0 {
        return code;
    }
    i32::from(!fleet.failing_hosts.is_empty())
}
