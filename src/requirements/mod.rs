//! Planned environments: what is *about to be* installed, read from a requirements file, a
//! `pylock.toml` (PEP 751), a `uv.lock`, or the JSON report of
//! `pip install --dry-run --ignore-installed --report`.
//!
//! These files come from pull requests: they are untrusted. Nothing in them is run, no shell
//! string is built from them, every file is size-bounded, `-r` includes are bounded in depth and
//! stay relative to the including file, and every malformed file is reported as `file:line` and
//! exit 2. Unpinned requirements are resolved by pip's own resolver (`pip install --dry-run
//! --report`, a fixed argument list), never by hand.
//!
//! What lives where:
//! - this file: the plan's types ([`PlanFile`], [`Planned`], [`PlanFileFormat`], [`PlanError`])
//!   and [`read_plan`], which reads a file (bounded) and picks its parser;
//! - [`parse`]: the parsers, one per format, each with a sample of its input (a requirements
//!   file's `-r` includes are read through the same bounded reader);
//! - [`resolve`]: the one place that runs a program, pip's resolver;
//! - [`planned`]: a plan as a `PythonEnv`, so that the rules judge it like an installed one.
//!
//! What does not live here: the package index (`crate::index`, reached through
//! [`planned::MetadataFn`]) and any judging of the plan (`crate::verify`).

pub mod parse;
pub mod planned;
pub mod resolve;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::input::InputKind;

pub use parse::{
    parse_pip_report, parse_pylock, parse_requirements, parse_uv_lock, version_from_filename,
};
pub use resolve::{resolve_with_pip, ResolverIndex};

/// The most bytes of pip's resolver's report read from its output (files are read through
/// [`crate::input`], each kind with its own limit).
pub const MAX_BYTES: u64 = 8 * 1024 * 1024;
const MAX_INCLUDE_DEPTH: usize = 8;

/// One package of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub name: String,
    /// The exact version, when the plan pins one.
    pub version: Option<String>,
    /// The requirement as written, for unpinned entries (`transformers>=4.44`).
    pub requirement: Option<String>,
    /// Requires-Dist lines, when the plan carries metadata (pip's report; uv.lock's edges).
    pub requires_dist: Option<Vec<String>>,
    pub requires_python: Option<String>,
    /// Where its files come from (an index or file URL), when the plan says.
    pub source: Option<String>,
    /// PEP 508 marker of the entry, if any.
    pub marker: Option<String>,
}

/// Which kind of file a plan was read from (serialised as `requirements`, `pylock`, `uv-lock`,
/// `pip-report`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanFileFormat {
    Requirements,
    Pylock,
    UvLock,
    PipReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanFile {
    pub path: PathBuf,
    pub format: PlanFileFormat,
    pub packages: Vec<Planned>,
    /// `--index-url` / `--extra-index-url` values of a requirements file.
    pub index_urls: Vec<String>,
    /// Entries that are not pinned to one version (need pip's resolver).
    pub unpinned: usize,
    pub notes: Vec<String>,
    /// What pip's resolver would be handed, for a requirements file (empty for other formats).
    #[serde(skip)]
    pub resolver: ResolverInput,
}

/// A requirements file as pip's resolver may see it: every requirement rebuilt from its parse
/// (name, extras, specifiers, marker), never the line as written, with where it was written;
/// the constraints of its `-c` files the same way; and the one option passed on (`--pre`).
/// Everything else a file says (index URLs, `-f`, `--trusted-host`, `--no-binary`, ...) stays
/// here, unobeyed.
#[derive(Debug, Clone, Default)]
pub struct ResolverInput {
    pub requirements: Vec<ResolverLine>,
    pub constraints: Vec<ResolverLine>,
    pub pre: bool,
}

/// One requirement for the resolver: `file:line`, the PEP 508 text rebuilt from the parse, and
/// the URL when it is a direct reference (a path, a VCS or an archive URL), which the resolver
/// is never handed.
#[derive(Debug, Clone)]
pub struct ResolverLine {
    pub path: PathBuf,
    pub line: usize,
    pub requirement: String,
    pub direct: Option<String>,
}

/// Why a plan cannot be had: the file and line (0: the file as a whole), the column where the
/// parser names one (pip's JSON report: `file:line:column:`), the message (which names the
/// cause), and the cause itself when there is one (an I/O, TOML, JSON or PEP 508 error, or the
/// resolver's run).
#[derive(Debug, thiserror::Error)]
#[error("{path}{}: {message}", place(*.line, *.column))]
pub struct PlanError {
    pub path: String,
    pub line: usize,
    /// 1-based, in characters; `None` for the formats whose errors name a line only.
    pub column: Option<usize>,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// `:LINE:COLUMN`, `:LINE`, or nothing for the file as a whole (line 0).
fn place(line: usize, column: Option<usize>) -> String {
    match (line, column) {
        (0, _) => String::new(),
        (l, Some(c)) => format!(":{l}:{c}"),
        (l, None) => format!(":{l}"),
    }
}

impl PlanError {
    /// The same error, with its cause.
    fn because(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}

fn err(path: &Path, line: usize, message: impl Into<String>) -> PlanError {
    PlanError {
        path: path.display().to_string(),
        line,
        column: None,
        message: message.into(),
        source: None,
    }
}

/// A plan file's text, read through the one bounded reader (regular files only, at most
/// `kind`'s limit, UTF-8); a failure is `file:line` (0: the file as a whole).
fn read_bounded(path: &Path, kind: InputKind) -> Result<String, PlanError> {
    crate::input::read_text(path, kind).map_err(|e| err(path, e.line(), e.reason()).because(e))
}

/// Reads a plan, telling the format from the file name and content.
pub fn read_plan(path: &Path) -> Result<PlanFile, PlanError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let kind = if name.ends_with(".json") {
        InputKind::PipReport
    } else if name.ends_with(".lock") || name.ends_with(".toml") {
        InputKind::Lock
    } else {
        InputKind::Requirements
    };
    let text = read_bounded(path, kind)?;
    if name.ends_with(".json") || text.trim_start().starts_with('{') {
        parse_pip_report(&text, path)
    } else if name == "uv.lock" || name.ends_with(".uv.lock") {
        parse_uv_lock(&text, path)
    } else if name == "pylock.toml" || (name.starts_with("pylock.") && name.ends_with(".toml")) {
        parse_pylock(&text, path)
    } else {
        parse_requirements(&text, path, 0)
    }
}
