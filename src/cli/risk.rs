//! `compat risk`: the matrix's risk table with evidence gathered now (installed versions, the
//! package index, the driver). The rules are `risk`'s; this file asks the index and hands its
//! answers over, with the advisories that bite (each a row of its own; `--ignore ID` and
//! `compat.toml`'s ignore list as in `compat check`).

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::advisories::{ignores, ConfigArg};
use super::args::{IndexArgs, MatrixArg, OutputArgs, TargetArgs};
use super::{exit, output, Hint};
use crate::matrix::RiskLevel;
use crate::model::Vars;
use crate::report;
use crate::risk;

#[derive(Debug, Args)]
pub struct RiskArgs {
    #[command(flatten)]
    pub matrix: MatrixArg,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub index: IndexArgs,
    /// How to print the risk table.
    #[arg(long, value_enum, default_value = "table")]
    pub format: RiskFormat,
    /// Exit 1 when a risk at or above this level is found.
    #[arg(long, value_enum, default_value = "high")]
    pub fail_on: RiskLevel,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Set an advisory aside (repeatable); it is still listed, as ignored.
    #[arg(long, value_name = "ID")]
    pub ignore: Vec<String>,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RiskFormat {
    /// A table for people.
    Table,
    /// The risk report as JSON.
    Json,
    /// The seed's risk table, with the evidence beside each row.
    Markdown,
}

pub fn run(args: &RiskArgs) -> anyhow::Result<ExitCode> {
    let matrix = args.matrix.load()?;
    let (host, env) = args.target.facts(false)?;
    let db = crate::advisories::builtin().hint("the built-in advisory database is broken")?;
    let ignore = ignores(&db, &args.config, &args.ignore)?;
    let local = args.target.host.host.is_none().then(Vars::from_process);
    let adv_facts = crate::advisories::facts_from_env(&env, &host, local.as_ref(), &db);
    let (hits, ignored) = ignore.split(db.evaluate(&adv_facts, &crate::advisories::Ignore::none()));
    let (client, choice) = args.index.client(&env.interpreter)?;
    let desc = args.index.describe(&choice);
    let facts = risk::index_facts(client.projects(&risk::projects_to_ask(&matrix)));
    let mut report = risk::assess(
        &matrix,
        &env,
        &host,
        &super::inputs::knowledge()?,
        &facts,
        &desc,
        jiff::Timestamp::now(),
    );
    report.add_advisories(hits, ignored);
    let text = match args.format {
        RiskFormat::Table => report::risk::render_table_in(&report, output::width(&args.output)),
        RiskFormat::Json => report::to_json("risk report", &report)?,
        RiskFormat::Markdown => report::risk::render_markdown(&report),
    };
    output::emit(&args.output, &text)?;
    Ok(exit(report.highest.is_some_and(|h| h >= args.fail_on)))
}
