//! `compat install-order`: the order in which to install the matrix's libraries on this host
//! (or `--host`), with the exact commands. The plan is `plan`'s.

use std::process::ExitCode;

use anyhow::anyhow;
use clap::{Args, ValueEnum};

use super::args::{HostArg, MatrixArg, OutputArgs};
use super::{hinted, output};
use crate::install_order::{self, InstallOrderOptions, Tool, TorchIndex, TorchIndexSource};
use crate::model::Vars;
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
    /// Else COMPAT_TORCH_INDEX_URL, else PyTorch's own index (https://download.pytorch.org/whl).
    #[arg(long, value_name = "URL")]
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
        torch_index: torch_index(args.torch_index_url.as_deref(), &Vars::from_process())?,
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

/// The torch index: the flag, else `COMPAT_TORCH_INDEX_URL` (an empty one counts as unset), else
/// PyTorch's own. A value that is not an http(s) URL is an error naming where it came from: it is
/// pasted into the commands (quoted), and a typo there would only fail at install time.
fn torch_index(flag: Option<&str>, vars: &Vars) -> anyhow::Result<TorchIndex> {
    let (raw, source, origin) = match (flag, vars.nonempty("COMPAT_TORCH_INDEX_URL")) {
        (Some(u), _) => (u.to_string(), TorchIndexSource::Flag, "--torch-index-url"),
        (None, Some(u)) => (u, TorchIndexSource::Env, "COMPAT_TORCH_INDEX_URL"),
        (None, None) => return Ok(TorchIndex::default()),
    };
    let ok = reqwest::Url::parse(raw.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if ok.is_none() || raw.trim() != raw || raw.chars().any(char::is_whitespace) {
        return Err(hinted(
            anyhow!("{origin}: `{raw}` is not an http(s) URL"),
            "give the base of PyTorch's wheel index, e.g. https://download.pytorch.org/whl",
        ));
    }
    Ok(TorchIndex {
        url: raw.trim_end_matches('/').to_string(),
        source,
    })
}
