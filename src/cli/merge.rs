//! `compat merge`: per-node JSON reports into one fleet matrix. Reading and grouping are
//! `fleet`'s, the table `report::fleet`'s.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::args::{OutputArgs, TableOrJson};
use super::{exit, output, Hint};
use crate::{fleet, report};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The reports, one per node (`compat check --format json`).
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// How to print the fleet matrix.
    #[arg(long, value_enum, default_value = "table")]
    pub format: TableOrJson,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(args: &MergeArgs) -> anyhow::Result<ExitCode> {
    let fleet = fleet::merge_files(&args.reports)
        .hint("pass the JSON reports of `compat check --format json`")?;
    let text = match args.format {
        TableOrJson::Table => report::fleet::render_table(&fleet),
        TableOrJson::Json => report::to_json("fleet matrix", &fleet)?,
    };
    output::emit(&args.output, &text)?;
    Ok(exit(!fleet.failing_hosts.is_empty()))
}
