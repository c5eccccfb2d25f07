//! The cells of a library row: one file per column kind, and here the row itself — the
//! not-installed cell, the claims no check can decide, and the matrix's "does not hold" (❌)
//! claims, which turn a passing check into a failure.

mod cuda;
mod gpu;
mod python;
mod pytorch;
mod version;

pub(super) use cuda::no_driver_reason;

use super::{Cell, Consistency, Row};
use crate::env::PythonEnv;
use crate::knowledge::Knowledge;
use crate::matrix::{Claim, ColumnKind, Library, Matrix, Target};
use crate::model::Verdict;

pub(super) fn row(
    matrix: &Matrix,
    table: &crate::matrix::Table,
    lib: &Library,
    env: &PythonEnv,
    host: &crate::probe::HostFacts,
    k: &Knowledge,
    cons: &Consistency,
) -> Row {
    let dist = env.get(lib.name());
    let mut cells = Vec::new();
    let version_claim = Claim::Rating(lib.version_text.clone().unwrap_or_default());
    cells.push(match dist {
        None => not_installed(
            lib,
            env,
            "version",
            "Version",
            "version",
            version_claim,
            true,
        ),
        Some(d) => version::version_cell(matrix, lib, d, version_claim, env.word()),
    });
    for col in &table.columns {
        let kind = col.kind;
        let claim = Claim::parse(kind, lib.claim(col.id.get_ref()));
        let checkable = kind.checkable() && matches!(claim, Claim::Yes | Claim::No);
        let kind_name = kind_name(kind);
        let (id, title) = (col.id.get_ref().as_str(), col.title.as_str());
        let Some(d) = dist else {
            cells.push(not_installed(
                lib, env, id, title, &kind_name, claim, checkable,
            ));
            continue;
        };
        let mut cell = Cell {
            column: id.to_string(),
            title: title.to_string(),
            kind: kind_name,
            claim: claim.clone(),
            verdict: Verdict::Unverified,
            checkable,
            reason: None,
            fix: None,
            evidence: Vec::new(),
            caveats: Vec::new(),
        };
        match (&claim, kind) {
            (Claim::Rating(r), ColumnKind::Qualitative) => {
                cell.reason = Some(format!("a rating (\"{r}\"), not a checkable claim"));
            }
            (Claim::NotApplicable, _) => {
                cell.reason = Some("the matrix claims N/A: nothing to check".into())
            }
            (Claim::Missing, _) => cell.reason = Some("the matrix makes no claim here".into()),
            (_, ColumnKind::Cuda) => match col.parsed_target() {
                Target::Cuda(a, b) => cuda::cuda_cell(
                    &mut cell,
                    crate::model::units::CudaVersion::new(a as u32, b as u32),
                    d,
                    env,
                    host,
                    k,
                ),
                _ => cell.reason = Some("the column has no CUDA target".into()),
            },
            (_, ColumnKind::Gpu) => gpu::gpu_cell(&mut cell, d, host),
            (_, ColumnKind::Python | ColumnKind::Pytorch) if !d.metadata_read => {
                cell.reason = Some(format!(
                    "no metadata for {} {} {}: its Requires-Python and Requires-Dist are unknown (offline, or no index)",
                    env.word(),
                    d.name,
                    d.version_text
                ));
            }
            (_, ColumnKind::Python) => python::python_cell(&mut cell, col.parsed_target(), d, env),
            (_, ColumnKind::Pytorch) => {
                pytorch::pytorch_cell(&mut cell, col.parsed_target(), lib, d, env)
            }
            (_, ColumnKind::Qualitative) => {
                cell.reason = Some("a rating, not a checkable claim".into())
            }
        }
        if claim == Claim::No && cell.verdict != Verdict::Unverified {
            // The document says it does NOT hold: a passing check contradicts it.
            cell.verdict = if cell.verdict == Verdict::Verified {
                Verdict::Failed
            } else {
                Verdict::Verified
            };
            cell.evidence
                .push("the matrix claims this does not hold".into());
        }
        cells.push(cell);
    }
    Row {
        library: lib.name().to_string(),
        version_text: lib.version_text.clone(),
        installed: dist.map(|d| d.version_text.clone()),
        notes: lib.notes.clone(),
        broken_requirements: cons
            .problems
            .iter()
            .filter(|p| dist.is_some_and(|d| d.normalized == p.package))
            .map(|p| p.message.clone())
            .collect(),
        smoke: Vec::new(),
        cells,
    }
}

pub(super) fn kind_name(kind: ColumnKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn not_installed(
    lib: &Library,
    env: &PythonEnv,
    id: &str,
    title: &str,
    kind: &str,
    claim: Claim,
    checkable: bool,
) -> Cell {
    Cell {
        column: id.to_string(),
        title: title.to_string(),
        kind: kind.to_string(),
        claim,
        verdict: Verdict::NotInstalled,
        checkable,
        reason: Some(format!("{} is not installed {}", lib.name(), env.place())),
        fix: None,
        caveats: Vec::new(),
        evidence: vec![format!(
            "no distribution named `{}` in {}",
            crate::model::normalize(lib.name()),
            env.interpreter
                .site_packages
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )],
    }
}
