//! `compat risk`: the matrix's risk table with evidence gathered now (installed versions, the
//! package index, the driver). The rules are `risk`'s; this file asks the index and hands its
//! answers over.

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::args::{IndexArgs, MatrixArg, OutputArgs, TargetArgs};
use super::{exit, output};
use crate::index::{self, FetchSource};
use crate::matrix::{Matrix, RiskLevel};
use crate::risk::{self, IndexFacts, ProjectFacts};
use crate::{model, report};

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
    let (client, desc) = args.index.client(env.interpreter.executable.as_deref());
    let facts = index_facts(&client, &matrix);
    let now = u64::try_from(jiff::Timestamp::now().as_second()).unwrap_or(0);
    let report = risk::assess(
        &matrix,
        &env,
        &host,
        &super::inputs::knowledge()?,
        &facts,
        &desc,
        now,
    );
    let text = match args.format {
        RiskFormat::Table => risk::render_table(&report),
        RiskFormat::Json => report::to_json("risk report", &report)?,
        RiskFormat::Markdown => risk::render_markdown(&report),
    };
    output::emit(&args.output, &text)?;
    Ok(exit(report.highest.is_some_and(|h| h >= args.fail_on)))
}

/// What the index says of every library the matrix's risks name, by normalized name.
fn index_facts(client: &index::Client, matrix: &Matrix) -> IndexFacts {
    let mut names: Vec<String> = matrix
        .doc
        .risks
        .iter()
        .flat_map(|r| r.libraries.iter().map(|l| model::normalize(l.get_ref())))
        .collect();
    names.sort();
    names.dedup();
    client
        .projects(&names)
        .into_iter()
        .map(|(n, r)| {
            let f = r.map_err(|e| e.to_string()).map(|p| project_facts(&p));
            (model::normalize(&n), f)
        })
        .collect()
}

/// The facts the risk rules use of one project.
fn project_facts(p: &index::Project) -> ProjectFacts {
    ProjectFacts {
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
            FetchSource::Network => "network".into(),
            FetchSource::Cache { age_s } => format!("cache, {age_s} s old"),
        },
    }
}
