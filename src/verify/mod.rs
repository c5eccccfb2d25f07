//! The rules that turn a declared matrix and the facts of a machine into verdicts.
//!
//! Pure functions of their inputs ([`Inputs`]): nothing here touches the disk, the network or a
//! GPU, so every rule is tested with fixtures. Each cell gets exactly one [`Verdict`] and the
//! evidence that decided it; a cell is `verified` only when a metadata read that could have said
//! otherwise said yes. What cannot be decided here (the CUDA column on a host without a GPU)
//! stays `unverified` with the reason, as data ([`Reason`], with a stable code) worded in one
//! place.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the result types, [`verify`], the counts and the score |
//! | `cells/` | a library row, one file per column kind |
//! | `statements.rs` | the document's conflicts, known issues and graph edges |
//! | `consistency.rs` | the `pip check` equivalent |
//! | `smoke.rs` | folding smoke results into rows |
//! | `reason.rs` | every reason, with its code, sentence and fix |
//! | `toolchains.rs` | whether nvcc accepts the GCC beside it |
//!
//! What does not live here: gathering facts (`env`, `probe`, `smoke`), the public facts
//! themselves (`knowledge`), and presenting the result (`report`).

mod cells;
pub mod consistency;
pub mod reason;
mod smoke;
mod statements;
#[cfg(test)]
mod tests;
pub mod toolchains;

use serde::Serialize;

use crate::env::PythonEnv;
use crate::knowledge::Knowledge;
use crate::matrix::{Claim, ColumnKind, Matrix};
use crate::model::verdict::ReasonCode;
pub use crate::model::Verdict;
pub use consistency::{Consistency, Problem};
pub use reason::Reason;

/// One cell: a library row crossed with a column.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Cell {
    pub column: String,
    pub title: String,
    /// `version`, or the column kind.
    #[serde(deserialize_with = "column_kind_in_report")]
    pub kind: ColumnKind,
    pub claim: Claim,
    pub verdict: Verdict,
    /// Whether a check exists that can decide this claim (it counts in the score).
    pub checkable: bool,
    /// Why the cell is not verified, in one line ([`Reason`]'s wording).
    pub reason: Option<String>,
    /// The reason's stable code (`docs/report-schema.md`, "Reason codes").
    pub reason_code: Option<ReasonCode>,
    /// What to do about a failed cell.
    pub fix: Option<String>,
    /// The facts that decided it.
    pub evidence: Vec<String>,
    /// What holds only with a condition (verified under minor-version compatibility, ...).
    pub caveats: Vec<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Row {
    pub library: String,
    pub version_text: Option<String>,
    pub installed: Option<String>,
    pub notes: Option<String>,
    /// Broken requirements declared by this library (from the consistency check).
    pub broken_requirements: Vec<String>,
    /// The smoke checks that exercised this library's operations, one line each.
    pub smoke: Vec<String>,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TableResult {
    pub id: String,
    pub title: String,
    pub claimed: Option<String>,
    pub notes_column: bool,
    /// The implicit `version` column first, then the table's own.
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ColumnInfo {
    pub id: String,
    pub title: String,
    /// `version`, or the column kind.
    #[serde(deserialize_with = "column_kind_in_report")]
    pub kind: ColumnKind,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Undecided {
    pub reason: String,
    pub cells: usize,
}

/// A check of one of the document's other statements (a conflict it calls resolved, an edge
/// of its graph), with a verdict like a cell's.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StatementCheck {
    pub text: String,
    pub verdict: Verdict,
    pub reason: Option<String>,
    /// The reason's stable code (`docs/report-schema.md`, "Reason codes").
    pub reason_code: Option<ReasonCode>,
    pub evidence: Vec<String>,
}

/// A column kind as a report writes it: also `version`, which a matrix may not declare (and
/// which [`ColumnKind`]'s own deserialiser therefore refuses).
fn column_kind_in_report<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ColumnKind, D::Error> {
    use serde::de::IntoDeserializer;
    let text = <String as serde::Deserialize>::deserialize(d)?;
    if text == "version" {
        return Ok(ColumnKind::Version);
    }
    let de: serde::de::value::StrDeserializer<'_, D::Error> = text.as_str().into_deserializer();
    <ColumnKind as serde::Deserialize>::deserialize(de)
}

impl Cell {
    /// A cell of a library row, unverified until a rule decides it.
    fn new(column: &str, title: &str, kind: ColumnKind, claim: Claim, checkable: bool) -> Cell {
        Cell {
            column: column.to_string(),
            title: title.to_string(),
            kind,
            claim,
            verdict: Verdict::Unverified,
            checkable,
            reason: None,
            reason_code: None,
            fix: None,
            evidence: Vec::new(),
            caveats: Vec::new(),
        }
    }

    /// Says why the cell stands where it does; the verdict is unchanged.
    fn because(&mut self, reason: Reason) {
        self.reason_code = Some(reason.code());
        self.reason = Some(reason.to_string());
    }

    /// Fails the cell for `reason`, with the reason's fix.
    fn fail(&mut self, reason: Reason) {
        self.verdict = Verdict::Failed;
        self.fix = reason.fix();
        self.because(reason);
    }
}

impl StatementCheck {
    /// A statement check with this text, unverified until a rule decides it.
    fn new(text: String) -> StatementCheck {
        StatementCheck {
            text,
            verdict: Verdict::Unverified,
            reason: None,
            reason_code: None,
            evidence: Vec::new(),
        }
    }

    /// Sets the verdict and says why.
    fn decide(&mut self, verdict: Verdict, reason: Reason) {
        self.verdict = verdict;
        self.reason_code = Some(reason.code());
        self.reason = Some(reason.to_string());
    }
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Counts {
    pub verified: usize,
    pub failed: usize,
    pub unverified: usize,
    pub not_installed: usize,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Score {
    pub verified: usize,
    /// Cells a check exists for (all but qualitative ratings and N/A claims).
    pub checkable: usize,
    pub percent: f64,
    pub claimed_percent: Option<f64>,
    /// Checkable cells left unverified here, and why (reason -> count).
    pub undecided: Vec<Undecided>,
}

/// Everything `verify` decides.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Verification {
    /// Every library the matrix names (rows and tracked ones) -> the installed version.
    pub installed: std::collections::BTreeMap<String, Option<String>>,
    pub tables: Vec<TableResult>,
    pub consistency: Consistency,
    pub past_conflicts: Vec<StatementCheck>,
    pub current_conflicts: Vec<StatementCheck>,
    /// The document's known issues, as they stand on this host and environment.
    pub known_issues: Vec<StatementCheck>,
    pub graph_edges: Vec<StatementCheck>,
    pub counts: Counts,
    pub score: Score,
}

impl Verification {
    /// Whether anything failed: a cell, a consistency check or a checked statement.
    pub fn failed(&self) -> bool {
        self.counts.failed > 0
            || !self.consistency.ok()
            || self
                .past_conflicts
                .iter()
                .any(|c| c.verdict == Verdict::Failed)
    }

    /// Whether a checkable cell was left undecided (unverified or not installed): what
    /// `--fail-on unverified` fails on.
    pub fn undecided(&self) -> bool {
        self.tables
            .iter()
            .flat_map(|t| &t.rows)
            .flat_map(|r| &r.cells)
            .any(|c| {
                c.checkable && matches!(c.verdict, Verdict::Unverified | Verdict::NotInstalled)
            })
    }
}

/// What [`verify`] decides from: the declared matrix, the facts of the environment and the host,
/// compat's knowledge tables, and the smoke checks' results when they ran.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub matrix: &'a Matrix,
    pub env: &'a PythonEnv,
    pub host: &'a crate::probe::HostFacts,
    pub knowledge: &'a Knowledge,
    /// A GPU pass adds to the row's CUDA cell, a GPU failure is a caveat on it; CPU results are
    /// evidence for the operation itself (the row's `smoke` lines), not for CUDA.
    pub smoke: Option<&'a crate::smoke::SmokeReport>,
}

/// Decides every cell of the matrix, and checks its other statements.
pub fn verify(inputs: &Inputs<'_>) -> Verification {
    let &Inputs {
        matrix,
        env,
        host,
        knowledge: k,
        smoke,
    } = inputs;
    let consistency = consistency::check(env);
    let mut tables = Vec::new();
    for t in &matrix.doc.tables {
        let mut rows = Vec::new();
        for lib in matrix.rows(t.id.get_ref()) {
            let mut r = cells::row(matrix, t, lib, env, host, k, &consistency);
            if let Some(sm) = smoke {
                smoke::fold_smoke(&mut r, lib, sm);
            }
            rows.push(r);
        }
        tables.push(TableResult {
            id: t.id.get_ref().clone(),
            title: t.title.clone(),
            claimed: t.claimed.clone(),
            notes_column: t.notes_column,
            columns: std::iter::once(ColumnInfo {
                id: "version".into(),
                title: "Version".into(),
                kind: ColumnKind::Version,
            })
            .chain(t.columns.iter().map(|c| ColumnInfo {
                id: c.id.get_ref().clone(),
                title: c.title.clone(),
                kind: c.kind,
            }))
            .collect(),
            rows,
        });
    }
    let (counts, score) = tally(
        &tables,
        matrix.doc.score.as_ref().map(|s| s.claimed_percent),
    );
    let installed = matrix
        .doc
        .libraries
        .iter()
        .map(|l| {
            (
                l.name().to_string(),
                env.get(l.name()).map(|d| d.version_text.clone()),
            )
        })
        .collect();
    Verification {
        installed,
        past_conflicts: statements::past_conflicts(matrix, env, &consistency),
        current_conflicts: statements::current_conflicts(matrix, env, host, k),
        known_issues: statements::known_issues(matrix, env, host, k),
        graph_edges: statements::graph_edges(matrix, env),
        tables,
        consistency,
        counts,
        score,
    }
}

/// The verdict counts over all cells, and the score over the checkable ones.
fn tally(tables: &[TableResult], claimed_percent: Option<f64>) -> (Counts, Score) {
    let mut counts = Counts::default();
    let mut checkable = 0;
    let mut undecided: Vec<Undecided> = Vec::new();
    for c in tables.iter().flat_map(|t| &t.rows).flat_map(|r| &r.cells) {
        match c.verdict {
            Verdict::Verified => counts.verified += 1,
            Verdict::Failed => counts.failed += 1,
            Verdict::Unverified => counts.unverified += 1,
            Verdict::NotInstalled => counts.not_installed += 1,
        }
        if c.checkable {
            checkable += 1;
            if c.verdict == Verdict::Unverified {
                let key = c.reason.clone().unwrap_or_default();
                match undecided.iter_mut().find(|u| u.reason == key) {
                    Some(u) => u.cells += 1,
                    None => undecided.push(Undecided {
                        reason: key,
                        cells: 1,
                    }),
                }
            }
        }
    }
    let verified_checkable = tables
        .iter()
        .flat_map(|t| &t.rows)
        .flat_map(|r| &r.cells)
        .filter(|c| c.checkable && c.verdict == Verdict::Verified)
        .count();
    let score = Score {
        verified: verified_checkable,
        checkable,
        percent: if checkable == 0 {
            0.0
        } else {
            100.0 * verified_checkable as f64 / checkable as f64
        },
        claimed_percent,
        undecided,
    };
    (counts, score)
}

/// Whether a requirement holds here: its markers, evaluated for this interpreter with `extras`
/// active. Without a marker environment only an unconditional requirement holds. The one
/// answer to "does this requirement apply?" for the consistency check, the pytorch column and
/// the graph's edges.
pub(crate) fn applies(
    req: &pep508_rs::Requirement,
    markers: Option<&pep508_rs::MarkerEnvironment>,
    extras: &[pep508_rs::ExtraName],
) -> bool {
    match markers {
        Some(m) => req.evaluate_markers(m, extras),
        None => req.marker.contents().is_none(),
    }
}
