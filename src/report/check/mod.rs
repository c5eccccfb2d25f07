//! The `compat check` report: one typed model for writing it, reading it back and rendering it.
//!
//! [`Report`] is the JSON document of schema [`SCHEMA`] (fields in `docs/report-schema.md`).
//! It is built from what a check produced ([`Checked`]) by [`Report::new`], which also applies
//! the exit-code gate ([`FailOn`]); it is read back, typed, by [`Report::from_json`] (`compat
//! merge`, the integration tests). The renderers take a `&Report` and return text: [`table`]
//! (the terminal), [`markdown`] (the seed's own shape), [`junit`], [`summary`] (a CI step
//! summary); the JSON form is [`crate::report::to_json`] of the report itself.
//!
//! What is not here: deciding verdicts (`verify`), gathering facts (`probe`, `env`), and
//! printing or writing files (`cli`).

mod advisories;
mod junit;
mod markdown;
mod read;
mod summary;
mod table;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::advisories::{Hit, IgnoredHit};
use crate::env::{Finding, Interpreter, PythonEnv, TorchVersionPy};
use crate::matrix::Matrix;
use crate::model::text::shell_word;

use crate::probe::HostFacts;
use crate::requirements::{PlanFile, PlanFileFormat};
use crate::smoke::SmokeReport;
use crate::verify::Verification;

pub use junit::render as junit;
pub use markdown::render as markdown;
pub use read::ReadError;
pub use summary::render as summary;
pub use table::{render as table, render_in as table_in};

/// The JSON schema id of a `compat check` report. Bump the number on an incompatible change.
pub const SCHEMA: &str = "compat.check/1";

/// What a plan-checking report judged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanInfo {
    pub path: String,
    pub format: PlanFileFormat,
    pub packages: usize,
    pub index_urls: Vec<String>,
    pub notes: Vec<String>,
    /// The package index asked for planned packages' metadata, and where that choice came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
}

impl PlanInfo {
    /// The plan read from `path` (as the user gave it), as the report describes it.
    pub fn new(path: &Path, plan: &PlanFile) -> PlanInfo {
        PlanInfo {
            path: path.display().to_string(),
            format: plan.format,
            packages: plan.packages.len(),
            index_urls: plan.index_urls.clone(),
            notes: plan.notes.clone(),
            index: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatrixInfo {
    pub id: String,
    pub title: String,
    pub origin: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvironmentInfo {
    pub interpreter: Interpreter,
    pub distributions: usize,
    pub torch: Option<TorchVersionPy>,
    pub scan_ms: f64,
}

/// A whole `compat check` report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: String,
    /// The compat release that wrote it.
    pub compat_version: String,
    /// When the check ran, in whole seconds (RFC 3339, UTC, in JSON).
    pub checked_at: jiff::Timestamp,
    pub matrix: MatrixInfo,
    pub host: HostFacts,
    pub environment: EnvironmentInfo,
    pub findings: Vec<Finding>,
    /// Set when the report judges a plan (`--requirements`) rather than an installed environment.
    pub plan: Option<PlanInfo>,
    /// The smoke compressions (`--smoke quick|full`), when they ran.
    pub smoke: Option<SmokeReport>,
    #[serde(flatten)]
    pub verification: Verification,
    /// The advisories that bite (matrices/advisories): each one fails the check.
    #[serde(default)]
    pub advisories: Vec<Hit>,
    /// Advisories that would bite but an ignore list set aside, each with its reason.
    #[serde(default)]
    pub ignored_advisories: Vec<IgnoredHit>,
    /// 0 nothing failed, 1 something failed (see [`FailOn`]).
    pub exit_code: i32,
    /// What to do next, as one command to run, when the report calls for one: when nothing
    /// of the matrix is installed in the environment checked, the `compat install-order`
    /// command for the same matrix and host (see [`Report::suggest_next_step`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    /// The declared matrix, for the renderers that reproduce it (Markdown); not in the JSON.
    #[serde(skip)]
    pub matrix_doc: Option<Matrix>,
}

/// Everything one check produced: the inputs of [`Report::new`].
#[derive(Debug, Clone)]
pub struct Checked {
    pub matrix: Matrix,
    pub host: HostFacts,
    /// The environment judged: installed, or planned (then `plan` is set).
    pub env: PythonEnv,
    pub plan: Option<PlanInfo>,
    pub smoke: Option<SmokeReport>,
    pub verification: Verification,
    /// The advisories that bite, and those ignored (with their reasons).
    pub advisories: Vec<Hit>,
    pub ignored_advisories: Vec<IgnoredHit>,
}

impl Report {
    /// Assembles the report of a check that ran at `checked_at`, with its exit code decided by
    /// `fail_on`. Pure: the caller reads the clock.
    pub fn new(checked: Checked, fail_on: FailOn, checked_at: jiff::Timestamp) -> Report {
        let Checked {
            matrix,
            host,
            env,
            plan,
            smoke,
            verification,
            advisories,
            ignored_advisories,
        } = checked;
        let exit_code = fail_on
            .exit_code(&verification, smoke.as_ref())
            .max(i32::from(!advisories.is_empty()));
        Report {
            schema: SCHEMA.to_string(),
            compat_version: env!("CARGO_PKG_VERSION").to_string(),
            // Whole seconds: the schema's timestamps carry no fraction.
            checked_at: jiff::Timestamp::from_second(checked_at.as_second()).unwrap_or(checked_at),
            matrix: MatrixInfo {
                id: matrix.doc.id.clone(),
                title: matrix.doc.title.clone(),
                origin: matrix.origin.clone(),
            },
            host,
            environment: EnvironmentInfo {
                distributions: env.distributions.len(),
                torch: env.torch,
                scan_ms: env.scan_ms,
                interpreter: env.interpreter,
            },
            findings: {
                // Only counted here; the process ends soon after the report is printed, and
                // freeing every distribution's strings costs a large check milliseconds.
                std::mem::forget(env.distributions);
                env.findings
            },
            plan,
            smoke,
            verification,
            advisories,
            ignored_advisories,
            exit_code,
            next_step: None,
            matrix_doc: Some(matrix),
        }
    }

    /// Whether the environment checked holds none of the libraries the matrix names (an
    /// installed environment, not a plan; a matrix that names no library never qualifies).
    pub fn nothing_installed(&self) -> bool {
        let installed = &self.verification.installed;
        self.plan.is_none() && !installed.is_empty() && installed.values().all(Option::is_none)
    }

    /// Sets [`Report::next_step`] when nothing of the matrix is installed: the
    /// `compat install-order` command for the matrix file (`None`: the built-in one), the host
    /// profile (`None`: this machine) and the interpreter the commands should call (`None`:
    /// install-order's default), each path quoted for a POSIX shell.
    pub fn suggest_next_step(
        &mut self,
        matrix: Option<&Path>,
        host: Option<&Path>,
        python: Option<&Path>,
    ) {
        if !self.nothing_installed() {
            return;
        }
        let mut cmd = String::from("compat install-order");
        for (flag, path) in [
            ("--matrix", matrix),
            ("--host", host),
            ("--python-command", python),
        ] {
            if let Some(p) = path {
                cmd.push_str(&format!(" {flag} {}", shell_word(&p.to_string_lossy())));
            }
        }
        self.next_step = Some(cmd);
    }
}

/// How strict the gate is: which outcomes make `compat check` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FailOn {
    /// Exit 1 when a cell or check failed.
    #[default]
    Failed,
    /// Also exit 1 when a checkable cell is unverified or not installed.
    Unverified,
}

impl FailOn {
    /// 1 when something failed (a cell, the consistency check, a claimed-resolved conflict, a
    /// smoke check), or, with [`FailOn::Unverified`], when a checkable cell is left undecided;
    /// else 0.
    pub fn exit_code(self, verification: &Verification, smoke: Option<&SmokeReport>) -> i32 {
        let undecided = self == FailOn::Unverified && verification.undecided();
        i32::from(verification.failed() || undecided || smoke.is_some_and(SmokeReport::failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Claim;
    use crate::model::Verdict;
    use crate::verify::{Cell, Counts, Row, Score, TableResult};

    fn verification(verdict: Verdict, checkable: bool) -> Verification {
        let cell = Cell {
            column: "cuda".into(),
            title: "CUDA".into(),
            kind: crate::matrix::ColumnKind::Cuda,
            claim: Claim::Yes,
            verdict,
            checkable,
            reason: None,
            reason_code: None,
            fix: None,
            evidence: Vec::new(),
            caveats: Vec::new(),
        };
        let row = Row {
            library: "torch".into(),
            version_text: None,
            installed: None,
            notes: None,
            broken_requirements: Vec::new(),
            smoke: Vec::new(),
            cells: vec![cell],
        };
        Verification {
            installed: Default::default(),
            tables: vec![TableResult {
                id: "core".into(),
                title: "Core".into(),
                claimed: None,
                notes_column: false,
                columns: Vec::new(),
                rows: vec![row],
            }],
            consistency: Default::default(),
            past_conflicts: Vec::new(),
            current_conflicts: Vec::new(),
            known_issues: Vec::new(),
            graph_edges: Vec::new(),
            counts: Counts {
                failed: usize::from(verdict == Verdict::Failed),
                ..Default::default()
            },
            score: Score {
                verified: 0,
                checkable: 1,
                percent: 0.0,
                claimed_percent: None,
                undecided: Vec::new(),
            },
        }
    }

    #[test]
    fn the_gate_fails_on_failures_and_strictly_on_undecided_checkable_cells() {
        let undecided = verification(Verdict::Unverified, true);
        assert_eq!(FailOn::Failed.exit_code(&undecided, None), 0);
        assert_eq!(FailOn::Unverified.exit_code(&undecided, None), 1);
        let missing = verification(Verdict::NotInstalled, true);
        assert_eq!(FailOn::Unverified.exit_code(&missing, None), 1);
        let rating = verification(Verdict::Unverified, false);
        assert_eq!(FailOn::Unverified.exit_code(&rating, None), 0);
        let failed = verification(Verdict::Failed, true);
        assert_eq!(FailOn::Failed.exit_code(&failed, None), 1);
        let verified = verification(Verdict::Verified, true);
        assert_eq!(FailOn::Unverified.exit_code(&verified, None), 0);
    }

    #[test]
    fn timestamps_are_rfc3339_utc_in_whole_seconds() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (1_795_906_800, "2026-11-28T23:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
        ] {
            let t = jiff::Timestamp::from_second(secs).expect("in range");
            assert_eq!(t.to_string(), text);
            assert_eq!(
                serde_json::to_string(&t).expect("json"),
                format!("\"{text}\"")
            );
        }
    }
}
