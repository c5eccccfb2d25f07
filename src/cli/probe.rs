//! `compat probe`: every host and environment fact with its source; `--format toml` writes the
//! host profile that `--host` reads back.

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::args::{OutputArgs, TargetArgs};
use super::output;
use crate::probe::HostFacts;
use crate::{probe, report, verify};

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
    let knowledge = super::inputs::knowledge()?;
    // Whether this machine's nvcc accepts its GCC: a note for the toolchains probed here (a host
    // profile carries its own notes).
    let judged = |mut host: HostFacts| {
        if args.target.host.host.is_none() {
            if let Some(n) = verify::toolchains::host_compiler_note(&knowledge, &host.toolchains) {
                host.notes.push(n);
            }
        }
        host
    };
    let text = match args.format {
        ProbeFormat::Toml => probe::to_profile_toml(&judged(args.target.host.probe(true)?)),
        ProbeFormat::Json => {
            let (host, env) = args.target.facts(true)?;
            report::probe_json(&judged(host), &env)?
        }
        ProbeFormat::Table => {
            let (host, env) = args.target.facts(true)?;
            report::probe_table(&judged(host), &env)
        }
    };
    output::emit(&args.output, &text)?;
    Ok(ExitCode::SUCCESS)
}
