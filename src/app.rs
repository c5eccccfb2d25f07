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
    /// The matrix's risk table with evidence gathered now: installed versions, the package
    /// index (drift, pre-releases, staleness, yanked releases), driver headroom, mitigations.
    #[command(
        after_help = "Exit codes:\n  0  no risk at or above --fail-on\n  1  a risk at or above --fail-on (default high)\n  2  bad input"
    )]
    Risk(RiskArgs),
    /// Run the smoke compressions: int8 (LLM.int8), NF4 (+ double quantization), LoRA, 2:4
    /// sparsity, fp16/bf16 GEMM and a safetensors round trip on Mistral-7B layers, on the GPU
    /// (CUDA kernels compiled at run time) and the CPU, checked against an f32 reference.
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
pub struct RiskArgs {
    #[arg(long, value_name = "PATH")]
    pub matrix: Option<PathBuf>,
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    #[arg(long, value_name = "PATH")]
    pub host: Option<PathBuf>,
    /// The package index (else COMPAT_INDEX_URL, PIP_INDEX_URL, pip's configuration).
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,
    /// Use only the index cache, never the network.
    #[arg(long)]
    pub offline: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: RiskFormat,
    /// Exit 1 when a risk at or above this level is found.
    #[arg(long, value_enum, default_value = "high")]
    pub fail_on: crate::matrix::RiskLevel,
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RiskFormat {
    Table,
    Json,
    Markdown,
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
    /// Check what is about to be installed instead of what is installed: a requirements file,
    /// a pylock.toml, a uv.lock, or the JSON of `pip install --dry-run --report`. Unpinned
    /// requirements are resolved by pip's own resolver (with the target interpreter).
    #[arg(long, value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    /// The package index for planned packages' metadata (else COMPAT_INDEX_URL, PIP_INDEX_URL,
    /// pip's configuration).
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,
    /// Use only the index cache, never the network.
    #[arg(long)]
    pub offline: bool,
    /// Also run the smoke compressions (quantize + matmul on Mistral-7B layers) and fold them
    /// into the matrix as evidence.
    #[arg(long, value_enum, default_value = "none")]
    pub smoke: SmokeLevel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmokeLevel {
    None,
    Quick,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmokeDevice {
    Auto,
    Cpu,
    Cuda,
}

#[derive(Debug, clap::Args)]
pub struct SmokeArgs {
    /// quick: q_proj and down_proj; full: every projection of a decoder layer.
    #[arg(long, value_enum, default_value = "quick")]
    pub level: SmokeLevel,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: SmokeDevice,
    #[arg(long, value_enum, default_value = "table")]
    pub format: MergeFormat,
    /// A model config.json (default: Mistral-7B-v0.1's shapes, built in).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// A safetensors checkpoint (file or folder); else the Hugging Face cache, else synthetic weights.
    #[arg(long, value_name = "PATH")]
    pub weights: Option<PathBuf>,
    /// Write every compressed tensor as safetensors in bitsandbytes' own layouts.
    #[arg(long, value_name = "DIR")]
    pub dump: Option<PathBuf>,
    /// Check (and with --dump, write) every 2-D bf16/f16/f32 tensor of --weights under its own
    /// name, instead of a model's projections.
    #[arg(long, requires = "weights")]
    pub every_tensor: bool,
    #[arg(long, default_value_t = 16)]
    pub lora_rank: usize,
    #[arg(long, default_value_t = 32.0)]
    pub lora_alpha: f32,
    /// Host facts from a profile instead of probing (the GPU path still needs a real GPU).
    #[arg(long, value_name = "PATH")]
    pub host: Option<PathBuf>,
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
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
        Command::Risk(args) => risk(&args),
        Command::Smoke(args) => smoke_cmd(&args),
        Command::Matrices => {
            for (id, _) in matrix::BUILTIN {
                println!("{id}");
            }
            0
        }
    }
}

/// An error and its causes on one line (`a: b: c`).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
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
    let (host, mut env) = match facts(args.host.as_ref(), args.python.as_deref(), false) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut plan_info = None;
    if let Some(path) = &args.requirements {
        let mut plan = match crate::requirements::read_plan(path) {
            Ok(p) => p,
            Err(e) => return error(&e.to_string(), Some("requirements files are PEP 508 lines; locks are pylock.toml or uv.lock; reports come from `pip install --dry-run --report`")),
        };
        if plan.unpinned > 0 && plan.format == crate::requirements::PlanFormat::Requirements {
            let Some(py) = env.interpreter.executable.clone() else {
                return error(
                    &format!("{}: {} requirements are not pinned, and there is no interpreter to run pip's resolver", path.display(), plan.unpinned),
                    Some("pin every requirement (==), or pass --python with an interpreter"),
                );
            };
            plan = match crate::requirements::resolve_with_pip(&py, path, std::time::Duration::from_secs(300)) {
                Ok(p) => p,
                Err(e) => return error(&e.to_string(), Some("pin every requirement, or pass a lock file or a `pip install --dry-run --report` JSON")),
            };
        }
        let lookup = planned_metadata(args, env.interpreter.executable.as_deref());
        env = crate::requirements::planned::planned_env(
            &plan,
            env.interpreter.clone(),
            crate::knowledge::builtin(),
            &*lookup,
        );
        plan_info = Some(report::PlanInfo {
            path: path.display().to_string(),
            format: plan.format,
            packages: plan.packages.len(),
            index_urls: plan.index_urls.clone(),
            notes: plan.notes.clone(),
        });
    }
    let smoke = match args.smoke {
        SmokeLevel::None => None,
        level => {
            let opts = crate::smoke::SmokeOptions {
                level: if level == SmokeLevel::Full {
                    crate::smoke::Level::Full
                } else {
                    crate::smoke::Level::Quick
                },
                progress: level == SmokeLevel::Full && std::io::stderr().is_terminal(),
                ..Default::default()
            };
            match crate::smoke::run(&opts, &host) {
                Ok(r) => Some(r),
                Err(e) => return error(&with_causes(&e), None),
            }
        }
    };
    let verification = verify::verify_with_smoke(&m, &env, &host, smoke.as_ref());
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
    let exit_code = i32::from(
        verification.failed()
            || (strict && undecided)
            || smoke.as_ref().is_some_and(|s| s.failed()),
    );
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
        plan: plan_info,
        smoke,
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

/// The package-index client for `--index-url` / the environment / pip's configuration.
fn index_client(
    flag: Option<&str>,
    offline: bool,
    python: Option<&std::path::Path>,
) -> (crate::index::Client, String) {
    let choice = crate::index::discover(flag, &probe::process_vars, python);
    let desc = match (choice.redacted_url(), offline) {
        (Some(u), false) => format!("{u} (from {})", choice.source),
        (Some(u), true) => format!("{u} (from {}), offline: cache only", choice.source),
        (None, _) => format!(
            "none configured{}: working offline from the cache",
            choice
                .note
                .as_ref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ),
    };
    let client = crate::index::Client::new(crate::index::ClientOptions {
        index_url: choice.url.clone(),
        offline: offline || choice.url.is_none(),
        ..Default::default()
    });
    (client, desc)
}

/// How planned packages' metadata is looked up: the package index (PEP 658 metadata files).
fn planned_metadata(
    args: &CheckArgs,
    python: Option<&std::path::Path>,
) -> Box<crate::requirements::planned::MetadataFn> {
    let (client, _) = index_client(args.index_url.as_deref(), args.offline, python);
    Box::new(move |name: &str, version: &str| {
        let v: pep440_rs::Version = version.parse().ok()?;
        let (_, project) = client.projects(&[name.to_string()]).into_iter().next()?;
        let project = project.ok()?;
        let md = client.metadata(&project, &v).ok()?;
        Some((md.requires_dist, md.requires_python))
    })
}

fn risk(args: &RiskArgs) -> i32 {
    let m = match load_matrix(args.matrix.as_deref()) {
        Ok(m) => m,
        Err(e) => return error(&e.to_string(), Some(&e.hint)),
    };
    let (host, env) = match facts(args.host.as_ref(), args.python.as_deref(), false) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (client, desc) = index_client(
        args.index_url.as_deref(),
        args.offline,
        env.interpreter.executable.as_deref(),
    );
    let mut names: Vec<String> = m
        .doc
        .risks
        .iter()
        .flat_map(|r| {
            r.libraries
                .iter()
                .map(|l| crate::model::normalize(l.get_ref()))
        })
        .collect();
    names.sort();
    names.dedup();
    let facts: crate::risk::IndexFacts = client
        .projects(&names)
        .into_iter()
        .map(|(n, r)| {
            let f = r
                .map_err(|e| e.to_string())
                .map(|p| crate::risk::ProjectFacts {
                    latest: p.latest().map(|r| r.version.clone()),
                    latest_any: p.latest_any().map(|r| r.version.clone()),
                    latest_upload: p.latest_any().and_then(|r| r.upload_time.clone()),
                    yanked: p
                        .releases
                        .iter()
                        .filter(|r| r.yanked)
                        .map(|r| r.version.clone())
                        .collect(),
                    releases: p.releases.len(),
                    source: match p.source {
                        crate::index::FetchSource::Network => "network".into(),
                        crate::index::FetchSource::Cache { age_s } => {
                            format!("cache, {age_s} s old")
                        }
                    },
                });
            (crate::model::normalize(&n), f)
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let report = crate::risk::assess(
        &m,
        &env,
        &host,
        crate::knowledge::builtin(),
        &facts,
        &desc,
        now,
    );
    let text = match args.format {
        RiskFormat::Table => crate::risk::render_table(&report),
        RiskFormat::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
        RiskFormat::Markdown => crate::risk::render_markdown(&report),
    };
    let code = write_or_print(args.output.as_ref(), &text);
    if code != 0 {
        return code;
    }
    i32::from(report.highest.is_some_and(|h| h >= args.fail_on))
}

fn smoke_cmd(args: &SmokeArgs) -> i32 {
    let opts = ProbeOptions {
        host: args.host.clone(),
        slow_toolchains: false,
    };
    let host = match probe::collect(&opts, &probe::process_vars) {
        Ok(h) => h,
        Err(e) => return error(&e.to_string(), None),
    };
    let sopts = crate::smoke::SmokeOptions {
        level: if args.level == SmokeLevel::Full {
            crate::smoke::Level::Full
        } else {
            crate::smoke::Level::Quick
        },
        device: match args.device {
            SmokeDevice::Auto => crate::smoke::DeviceChoice::Auto,
            SmokeDevice::Cpu => crate::smoke::DeviceChoice::Cpu,
            SmokeDevice::Cuda => crate::smoke::DeviceChoice::Cuda,
        },
        config: args.config.clone(),
        weights: args.weights.clone(),
        dump: args.dump.clone(),
        every_tensor: args.every_tensor,
        lora_rank: args.lora_rank,
        lora_alpha: args.lora_alpha,
        progress: args.level == SmokeLevel::Full && std::io::stderr().is_terminal(),
        ..Default::default()
    };
    if args.level == SmokeLevel::None {
        return error(
            "--level none runs nothing",
            Some("use --level quick or --level full"),
        );
    }
    let r =
        match crate::smoke::run(&sopts, &host) {
            Ok(r) => r,
            Err(e) => return error(
                &with_causes(&e),
                Some("--config takes a model config.json; --weights a safetensors file or folder"),
            ),
        };
    let text = match args.format {
        MergeFormat::Table => crate::report::smoke::render_table(&r),
        MergeFormat::Json => serde_json::to_string_pretty(&r).unwrap_or_default() + "\n",
    };
    let code = write_or_print(args.output.as_ref(), &text);
    if code != 0 {
        return code;
    }
    i32::from(r.failed())
}
