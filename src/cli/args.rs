//! The flag groups several commands share, flattened into each command's own flags
//! (`#[command(flatten)]`), so a flag is defined, and documented, once. Each command's own
//! flags (its `--format`, its gate) sit beside its code.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// `--matrix`: the declared matrix.
#[derive(Debug, Clone, Args)]
pub struct MatrixArg {
    /// A matrix file (TOML). Default: the built-in `llm-compression` matrix.
    #[arg(long, value_name = "PATH")]
    pub matrix: Option<PathBuf>,
}

/// `--host`: the machine whose facts to use.
#[derive(Debug, Clone, Args)]
pub struct HostArg {
    /// Use a host profile (TOML, from `compat probe --format toml`) instead of probing this
    /// machine: for CI runners without the target's GPU.
    #[arg(long, value_name = "PATH")]
    pub host: Option<PathBuf>,
}

/// `--host` and `--python`: the machine and the Python environment a command looks at.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub host: HostArg,
    /// The Python interpreter, or an environment folder, to read. Default: VIRTUAL_ENV, then
    /// CONDA_PREFIX, then python3 on PATH.
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
}

/// `--index-url`, `--offline` and the index time limits: the package index.
#[derive(Debug, Clone, Args)]
pub struct IndexArgs {
    /// The package index (else COMPAT_INDEX_URL, uv's or pip's variables and configuration
    /// files, else pip's built-in default read from the installed pip; see the README).
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,
    /// Use only the index cache, never the network.
    #[arg(long)]
    pub offline: bool,
    /// The most seconds all index requests of one step may take together.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = seconds)]
    pub index_deadline: f64,
    /// The most seconds one index request may take (connect, headers and body).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = seconds)]
    pub index_timeout: f64,
}

/// A positive, finite number of seconds, at most a day.
fn seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 86400"
        )),
    }
}

/// `--output` and `--color`: where the text goes and whether it is coloured.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Write to PATH (atomically: a temporary file, then a rename) instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Colour in terminal tables. `auto`: only on a terminal, and never when NO_COLOR is set
    /// or TERM=dumb.
    /// Machine formats (JSON, JUnit, TOML) are never coloured.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when standard output is a terminal, NO_COLOR is not set and TERM is not `dumb`.
    Auto,
    /// Always colour, also into a pipe or a file.
    Always,
    /// Never colour.
    Never,
}

/// The `--format` of commands that print a table or its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableOrJson {
    /// A table for people.
    Table,
    /// JSON for machines.
    Json,
}
