//! `compat probe`: every host and environment fact with its source; `--format toml` writes the
//! host profile that `--host` reads back.

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::args::{OutputArgs, TargetArgs};
use super::output;
use crate::{probe, report};

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// `toml` writes this host's profile (host facts only).
    #[arg(long, value_enum, default_value = "table")]
    pub format: ProbeFormat,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeFormat {
    /// Every fact with its source, for people.
    Table,
    /// Schema `compat.probe/1`.
    Json,
    /// A host profile for `--host`.
    Toml,
}

pub fn run(args: &ProbeArgs) -> anyhow::Result<ExitCode> {
    let text = match args.format {
        ProbeFormat::Toml => probe::to_profile_toml(&args.target.host.probe(true)?),
        ProbeFormat::Json => {
            let (host, env) = args.target.facts(true)?;
            report::probe_json(&host, &env)?
        }
        ProbeFormat::Table => {
            let (host, env) = args.target.facts(true)?;
            report::probe_table(&host, &env)
        }
    };
    output::emit(&args.output, &text)?;
    Ok(ExitCode::SUCCESS)
}
