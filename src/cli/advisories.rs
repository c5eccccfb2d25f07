//! `compat advisories` (the database, as a table or JSON) and `compat advisories show ID` (one
//! advisory whole); and the ignore list every command that evaluates advisories shares:
//! `--ignore ID` and the `[[advisories.ignore]]` tables of `compat.toml` (the current
//! directory's, or `--config PATH`). Parsing the config is `advisories::config`'s, rendering is
//! `report::advisories`'.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;
use clap::{Args, Subcommand, ValueEnum};

use super::args::OutputArgs;
use super::{hinted, output, Hint};
use crate::advisories::{self, Database, Ignore, IgnoreEntry};
use crate::report;

/// The config file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG: &str = "compat.toml";

/// `--config`: where the ignore list is.
#[derive(Debug, Clone, Args)]
pub struct ConfigArg {
    /// The config file with `[[advisories.ignore]]` tables (id and reason). Default:
    /// `compat.toml` in the current directory, when there is one.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// The ignore list: the config file's entries, then each `--ignore ID` (its reason says it came
/// from the command line). An id that names no advisory is an error.
pub fn ignores(db: &Database, config: &ConfigArg, cli: &[String]) -> anyhow::Result<Ignore> {
    let path = match &config.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.is_file()),
    };
    let mut ignore = match &path {
        Some(p) => read_config(p, db)?,
        None => Ignore::none(),
    };
    for id in cli {
        if db.get(id).is_none() {
            return Err(hinted(
                anyhow!("--ignore {id}: no advisory has this id"),
                "`compat advisories` lists every id",
            ));
        }
        if !ignore.contains(id) {
            ignore.entries.push(IgnoreEntry {
                id: id.clone(),
                reason: "--ignore on the command line".into(),
            });
        }
    }
    Ok(ignore)
}

fn read_config(path: &Path, db: &Database) -> anyhow::Result<Ignore> {
    let text = crate::input::read_text(path, crate::input::InputKind::Advisory)
        .map_err(|e| anyhow!("cannot read the config {}: {}", path.display(), e.reason()))?;
    advisories::parse_ignores(&text, &path.display().to_string(), db).map_err(|e| {
        let hint = e.hint.clone();
        hinted(e, hint)
    })
}

#[derive(Debug, Args)]
pub struct AdvisoriesArgs {
    #[command(subcommand)]
    pub command: Option<AdvisoriesCommand>,
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub format: AdvisoriesFormat,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Subcommand)]
pub enum AdvisoriesCommand {
    /// Print one advisory whole: conditions, companion table, symptom, fix, sources.
    Show {
        /// The advisory's id (COMPAT-YYYY-NNNN).
        id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AdvisoriesFormat {
    Table,
    Json,
}

pub fn run(args: &AdvisoriesArgs) -> anyhow::Result<ExitCode> {
    let db = advisories::builtin().hint("the built-in advisory database is broken")?;
    let text = match &args.command {
        None => match args.format {
            AdvisoriesFormat::Table => report::advisories::list_table(&db),
            AdvisoriesFormat::Json => {
                report::to_json("advisories", &report::advisories::list_entries(&db))?
            }
        },
        Some(AdvisoriesCommand::Show { id }) => {
            let a = db.get(id).ok_or_else(|| {
                hinted(
                    anyhow!("no advisory has the id {id}"),
                    "`compat advisories` lists every id",
                )
            })?;
            match args.format {
                AdvisoriesFormat::Table => report::advisories::show(a),
                AdvisoriesFormat::Json => report::to_json("advisory", a)?,
            }
        }
    };
    output::emit(&args.output, &text)?;
    Ok(ExitCode::SUCCESS)
}
