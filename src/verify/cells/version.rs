//! The implicit `version` column: the installed version against the row's `version` specifier.

use super::{Cell, Reason};
use crate::env::Distribution;
use crate::matrix::{Claim, ColumnKind, Library, Matrix};
use crate::model::Verdict;

pub(super) fn version_cell(
    matrix: &Matrix,
    lib: &Library,
    d: &Distribution,
    claim: Claim,
    env_word: &str,
) -> Cell {
    let mut cell = Cell::new("version", "Version", ColumnKind::Version, claim, true);
    cell.evidence.push(format!(
        "{} {} {} ({})",
        env_word,
        d.name,
        d.version_text,
        d.path.display()
    ));
    match (matrix.spec(lib.name()), &d.version) {
        (None, _) => {
            cell.checkable = false;
            cell.because(Reason::NoVersionDeclared);
        }
        (Some(_), None) => cell.because(Reason::VersionNotPep440 {
            version: d.version_text.clone(),
        }),
        (Some(spec), Some(v)) if spec.contains(v) => {
            cell.verdict = Verdict::Verified;
            cell.evidence
                .push(format!("{} satisfies {spec}", d.version_text));
        }
        (Some(spec), Some(_)) => cell.fail(Reason::VersionOutsideSpec {
            package: d.normalized.clone(),
            installed: d.version_text.clone(),
            spec: spec.clone(),
        }),
    }
    cell
}
