//! `compat check`: the matrix against the Python environment (installed, or planned with
//! `--requirements`), optionally with the smoke compressions as evidence; the report in one of
//! five formats. The verdicts are `verify`'s, the report and its gate are `report`'s.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use clap::{Args, ValueEnum};

use super::advisories::{ignores, ConfigArg};
use super::args::{IndexArgs, MatrixArg, OutputArgs, TargetArgs};
use super::smoke::SmokeLevel;
use super::{exit, hinted, output, Hint};
use crate::env::PythonEnv;
use crate::model::Vars;
use crate::report::{self, Checked, FailOn, PlanInfo, Report};
use crate::requirements::{self, planned, PlanFileFormat};
use crate::smoke::SmokeReport;
use crate::{probe, verify};

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub matrix: MatrixArg,
    #[command(flatten)]
    pub target: TargetArgs,
    /// How to print the report.
    #[arg(long, value_enum, default_value = "table")]
    pub format: CheckFormat,
    #[command(flatten)]
    pub output: OutputArgs,
    /// How strict the gate is: `failed` (default) or `unverified` (every checkable cell must be
    /// verified).
    #[arg(long, value_enum, default_value = "failed")]
    pub fail_on: FailOn,
    /// Check what is about to be installed instead of what is installed: a requirements file,
    /// a pylock.toml, a uv.lock, or the JSON of `pip install --dry-run --report`. Unpinned
    /// requirements are resolved by pip's own resolver (with the target interpreter).
    #[arg(long, value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    #[command(flatten)]
    pub index: IndexArgs,
    /// Also run the smoke compressions (quantize + matmul on Mistral-7B layers) and fold them
    /// into the matrix as evidence.
    #[arg(long, value_enum, default_value = "none")]
    pub smoke: CheckSmoke,
    /// Set an advisory aside (repeatable); it is still listed, as ignored.
    #[arg(long, value_name = "ID")]
    pub ignore: Vec<String>,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// A table per matrix table, then why each cell is not verified, for a terminal.
    Table,
    /// The report as JSON (schema `compat.check/1`, docs/report-schema.md).
    Json,
    /// The verified matrix in the seed's own shape.
    Markdown,
    /// JUnit XML, one test case per cell.
    Junit,
    /// A short Markdown summary for a CI job's step summary.
    Summary,
}

/// `--smoke`: none, or a smoke level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckSmoke {
    /// Do not run the smoke compressions.
    None,
    /// q_proj and down_proj of one decoder layer.
    Quick,
    /// Every projection of one decoder layer.
    Full,
}

impl CheckSmoke {
    fn level(self) -> Option<SmokeLevel> {
        match self {
            CheckSmoke::None => None,
            CheckSmoke::Quick => Some(SmokeLevel::Quick),
            CheckSmoke::Full => Some(SmokeLevel::Full),
        }
    }
}

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    // The matrix, the knowledge tables and the advisory database are parsed on a thread of
    // their own while the machine and the environment are read; errors are still reported in
    // that order.
    let (tables, facts) = std::thread::scope(|s| {
        let tables = s.spawn(|| {
            (
                args.matrix.load(),
                super::inputs::knowledge(),
                crate::advisories::builtin(),
            )
        });
        let facts = args.target.facts(false);
        (tables.join(), facts)
    });
    let (matrix, knowledge, db) = tables.map_err(|_| anyhow!("loading the matrix crashed"))?;
    let matrix = matrix?;
    let knowledge = knowledge?;
    let (host, env) = facts?;
    let (env, plan) = planned_env(args, env, &knowledge)?;
    let smoke = smoke(args.smoke, &host)?;
    let db = db.hint("the built-in advisory database is broken")?;
    let ignore = ignores(&db, &args.config, &args.ignore)?;
    let local = args.target.host.host.is_none().then(Vars::from_process);
    let facts = crate::advisories::facts_from_env(&env, &host, local.as_ref(), &db);
    let (advisories, ignored_advisories) =
        ignore.split(db.evaluate(&facts, &crate::advisories::Ignore::none()));
    let verification = verify::verify(&verify::Inputs {
        matrix: &matrix,
        env: &env,
        host: &host,
        knowledge: &knowledge,
        smoke: smoke.as_ref(),
    });
    let checked = Checked {
        matrix,
        host,
        env,
        plan,
        smoke,
        verification,
        advisories,
        ignored_advisories,
    };
    let mut report = Report::new(checked, args.fail_on, jiff::Timestamp::now());
    let python = args
        .target
        .python
        .as_ref()
        .and(report.environment.interpreter.executable.clone());
    report.suggest_next_step(
        args.matrix.matrix.as_deref(),
        args.target.host.host.as_deref(),
        python.as_deref(),
    );
    let text = match args.format {
        CheckFormat::Json => report::to_json("report", &report)?,
        CheckFormat::Markdown => report::markdown(&report),
        CheckFormat::Junit => report::junit(&report, args.fail_on),
        CheckFormat::Summary => report::summary(&report),
        CheckFormat::Table => report::table_in(
            &report,
            &output::styles(&args.output),
            output::width(&args.output),
        ),
    };
    output::emit(&args.output, &text)?;
    let code = exit(report.exit_code != 0);
    // The process ends after this: freeing every string that was read would cost a large
    // check more time (milliseconds) than it gives back.
    std::mem::forget((report, text, knowledge, db, facts));
    Ok(code)
}

/// With `--requirements`: the planned environment (resolved by pip when a requirements file is
/// not pinned) in place of the installed one, and what the report says about the plan.
fn planned_env(
    args: &CheckArgs,
    env: PythonEnv,
    knowledge: &crate::knowledge::Knowledge,
) -> anyhow::Result<(PythonEnv, Option<PlanInfo>)> {
    let Some(path) = &args.requirements else {
        return Ok((env, None));
    };
    let mut plan = requirements::read_plan(path).hint("requirements files are PEP 508 lines; locks are pylock.toml or uv.lock; reports come from `pip install --dry-run --report`")?;
    let (client, choice) = args.index.client(&env.interpreter)?;
    let index_line = args.index.describe(&choice);
    if plan.unpinned > 0 && plan.format == PlanFileFormat::Requirements {
        let Some(py) = env.interpreter.executable.clone() else {
            return Err(hinted(
                anyhow!(
                    "{}: {} requirements are not pinned, and there is no interpreter to run pip's resolver",
                    path.display(),
                    plan.unpinned
                ),
                "pin every requirement (==), or pass --python with an interpreter",
            ));
        };
        let index = requirements::ResolverIndex {
            urls: choice.search_order(),
            offline: args.index.offline,
            request_timeout: Duration::from_secs_f64(args.index.index_timeout),
            deadline: Duration::from_secs(300),
        };
        plan = requirements::resolve_with_pip(&py, &env.interpreter.site_packages, &plan, &index)
            .hint(
            "pin every requirement, or pass a lock file or a `pip install --dry-run --report` JSON",
        )?;
    }
    let lookup = planned_metadata(&client, &plan);
    let mut info = PlanInfo::new(path, &plan);
    info.notes.push(format!("package index: {index_line}"));
    info.index = Some(index_line);
    let env = planned::planned_env(&plan, env.interpreter.clone(), knowledge, &*lookup);
    Ok((env, Some(info)))
}

/// How planned packages' metadata is looked up: every pinned package without metadata in the
/// plan is fetched from the index first, concurrently under one deadline (PEP 658 metadata
/// files, else the wheel's METADATA by range requests); the lookup then answers from those
/// results, each failure with its own reason.
fn planned_metadata(
    client: &crate::index::Client,
    plan: &requirements::PlanFile,
) -> Box<planned::MetadataFn> {
    let mut wanted: Vec<(String, String)> = Vec::new();
    for p in &plan.packages {
        if let (None, Some(v)) = (&p.requires_dist, &p.version) {
            let key = (crate::model::normalize(&p.name), v.clone());
            if !wanted.contains(&key) {
                wanted.push(key);
            }
        }
    }
    let answers: std::collections::HashMap<(String, String), Result<_, String>> = wanted
        .iter()
        .cloned()
        .zip(client.planned_metadata(&wanted))
        .map(|(k, r)| {
            let r = r
                .map(|md| (md.requires_dist, md.requires_python))
                .map_err(|e| format!("{}: {e}", e.code()));
            (k, r)
        })
        .collect();
    let lookup = move |name: &str, version: &str| {
        answers
            .get(&(crate::model::normalize(name), version.to_string()))
            .cloned()
            .unwrap_or_else(|| Err("it was not asked of the index (an internal error)".into()))
    };
    Box::new(lookup)
}

/// With `--smoke quick|full`: the smoke compressions on this host.
fn smoke(level: CheckSmoke, host: &probe::HostFacts) -> anyhow::Result<Option<SmokeReport>> {
    let Some(level) = level.level() else {
        return Ok(None);
    };
    let report = crate::smoke::run(&super::smoke::options(level), host)?;
    Ok(Some(report))
}
