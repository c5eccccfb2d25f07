//! The cells of a library row: one file per column kind, and here the row itself — the
//! not-installed cell, the claims no check can decide, and the matrix's "does not hold" (❌)
//! claims, which turn a passing check into a failure.
//!
//! What does not live here: the document's other statements (`statements.rs`), smoke results
//! (`smoke.rs`), and the sentences of the reasons (`reason/`).

pub(crate) mod cuda;
mod gpu;
mod python;
mod pytorch;
mod version;

use super::{Cell, Consistency, Reason, Row};
use crate::env::{Distribution, PythonEnv};
use crate::knowledge::Knowledge;
use crate::matrix::{Claim, Column, ColumnKind, Library, Matrix, Target};
use crate::model::units::CudaVersion;
use crate::model::Verdict;
use crate::probe::HostFacts;

/// A GPU as the reasons and evidence name it: `NVIDIA H100 80GB HBM3 (sm_90)`.
pub(super) fn gpu_label(g: &crate::probe::Gpu) -> String {
    format!("{} ({})", g.name, g.compute_capability.sm())
}

/// The host's GPU architectures, without repeats of neighbours: `sm_90, sm_80`.
pub(super) fn gpu_list(host: &HostFacts) -> String {
    let mut ccs: Vec<String> = host
        .gpus
        .iter()
        .map(|g| g.compute_capability.sm())
        .collect();
    ccs.dedup();
    ccs.join(", ")
}

/// Why nothing GPU-related can be decided on a host without a driver: the probe's own
/// [`NoDriver`](crate::probe::NoDriver) fact when it has one, else the first note it left about
/// the driver facts it could not read.
pub(crate) fn no_driver(host: &HostFacts) -> Reason {
    let why = match host.no_driver {
        Some(n) => n.to_string(),
        None => host
            .notes
            .first()
            .cloned()
            .unwrap_or_else(|| "no NVIDIA driver".into()),
    };
    Reason::NoDriver {
        profile: host.profile.clone(),
        why,
    }
}

pub(super) fn row(
    matrix: &Matrix,
    table: &crate::matrix::Table,
    lib: &Library,
    env: &PythonEnv,
    host: &HostFacts,
    k: &Knowledge,
    cons: &Consistency,
) -> Row {
    let dist = env.get(lib.name());
    let mut cells = Vec::new();
    let version_claim = Claim::Rating(lib.version_text.clone().unwrap_or_default());
    cells.push(match dist {
        None => not_installed(
            Cell::new(
                "version",
                "Version",
                ColumnKind::Version,
                version_claim,
                true,
            ),
            lib,
            env,
        ),
        Some(d) => version::version_cell(matrix, lib, d, version_claim, env.word()),
    });
    for col in &table.columns {
        let kind = col.kind;
        let claim = Claim::parse(kind, lib.claim(col.id.get_ref()));
        let checkable = kind.checkable() && matches!(claim, Claim::Yes | Claim::No);
        let cell = Cell::new(col.id.get_ref(), &col.title, kind, claim, checkable);
        cells.push(match dist {
            None => not_installed(cell, lib, env),
            Some(d) => column_cell(cell, col, lib, d, env, host, k),
        });
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

/// The cell of an installed distribution in one of the table's own columns.
fn column_cell(
    mut cell: Cell,
    col: &Column,
    lib: &Library,
    d: &Distribution,
    env: &PythonEnv,
    host: &HostFacts,
    k: &Knowledge,
) -> Cell {
    let target = col.parsed_target();
    match (&cell.claim, col.kind) {
        (Claim::Rating(r), ColumnKind::Qualitative) => {
            let rating = Some(r.clone());
            cell.because(Reason::Rating { rating })
        }
        (Claim::NotApplicable, _) => cell.because(Reason::ClaimNotApplicable),
        (Claim::Missing, _) => cell.because(Reason::NoClaim),
        (_, ColumnKind::Cuda) => match target {
            Target::Cuda(a, b) => {
                let target = CudaVersion::new(a as u32, b as u32);
                cuda::cuda_cell(&mut cell, target, d, env, host, k)
            }
            _ => cell.because(Reason::NoTarget { what: "CUDA" }),
        },
        (_, ColumnKind::Gpu) => gpu::gpu_cell(&mut cell, d, host),
        (_, ColumnKind::Python | ColumnKind::Pytorch) if !d.metadata_read => {
            cell.because(Reason::NoMetadata {
                word: env.word().to_string(),
                name: d.name.clone(),
                version: d.version_text.clone(),
            })
        }
        (_, ColumnKind::Python) => python::python_cell(&mut cell, target, d, env),
        (_, ColumnKind::Pytorch) => pytorch::pytorch_cell(&mut cell, target, lib, d, env),
        (_, ColumnKind::Qualitative | ColumnKind::Version) => {
            cell.because(Reason::Rating { rating: None })
        }
    }
    if cell.claim == Claim::No && cell.verdict != Verdict::Unverified {
        // The document says it does NOT hold: a passing check contradicts it.
        cell.verdict = if cell.verdict == Verdict::Verified {
            Verdict::Failed
        } else {
            Verdict::Verified
        };
        cell.evidence
            .push("the matrix claims this does not hold".into());
    }
    cell
}

/// The cell of a library that is not installed: nothing to check it against.
fn not_installed(mut cell: Cell, lib: &Library, env: &PythonEnv) -> Cell {
    cell.verdict = Verdict::NotInstalled;
    cell.because(Reason::NotInstalled {
        library: lib.name().to_string(),
        place: env.place().to_string(),
    });
    cell.evidence.push(format!(
        "no distribution named `{}` in {}",
        crate::model::normalize(lib.name()),
        env.interpreter
            .site_packages
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    cell
}
