//! `compat install-order`: the order in which to install the matrix's libraries on this host
//! (or `--host`), with the exact commands. The plan is `plan`'s.

use std::process::ExitCode;

use anyhow::anyhow;
use clap::{Args, ValueEnum};

use super::args::{HostArg, MatrixArg, OutputArgs};
use super::{hinted, output};
use crate::install_order::{self, InstallOrderOptions, Tool};
use crate::report;

#[derive(Debug, Args)]
pub struct InstallOrderArgs {
    #[command(flatten)]
    pub matrix: MatrixArg,
    #[command(flatten)]
    pub host: HostArg,
    /// The installer the commands use.
    #[arg(long, value_enum, default_value = "pip")]
    pub tool: Tool,
    /// How to print the plan.
    #[arg(long, value_enum, default_value = "shell")]
    pub format: InstallOrderFormat,
    /// Base URL of PyTorch's wheel index (ending in /whl); `/cu124`, `/cpu`... is appended.
    #[arg(long, value_name = "URL", env = "COMPAT_TORCH_INDEX_URL")]
    pub torch_index_url: Option<String>,
    /// The Python interpreter the printed commands call (a name on PATH or a path; compat does
    /// not run it). `--python` is an older spelling of this flag.
    #[arg(
        long = "python-command",
        alias = "python",
        value_name = "PYTHON",
        default_value = "python"
    )]
    pub python_command: String,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InstallOrderFormat {
    /// A POSIX shell script, one step after another.
    Shell,
    /// A table of the steps and why each comes where it does.
    Table,
    /// The plan as JSON.
    Json,
}

pub fn run(args: &InstallOrderArgs) -> anyhow::Result<ExitCode> {
    let matrix = args.matrix.load()?;
    let host = args.host.probe(false)?;
    let opts = InstallOrderOptions {
        tool: args.tool,
        torch_index: args.torch_index_url.clone().filter(|u| !u.is_empty()),
        torch_latest: None,
        python: args.python_command.clone(),
    };
    let plan = install_order::install_order(&matrix, &host, &super::inputs::knowledge()?, &opts).map_err(|e| {
        hinted(
            anyhow!("{}: {e}", matrix.origin),
            "fix the matrix's [[install.stages]] or [[graph]] so every library comes after what it requires",
        )
    })?;
    let text = match args.format {
        InstallOrderFormat::Shell => report::install_order::render_shell(&plan),
        InstallOrderFormat::Table => {
            report::install_order::render_table_in(&plan, output::width(&args.output))
        }
        InstallOrderFormat::Json => report::to_json("install order", &plan)?,
    };
    output::emit(&args.output, &text)?;
    Ok(ExitCode::SUCCESS)
}
