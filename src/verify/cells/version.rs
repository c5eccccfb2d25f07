//! The implicit `version` column: the installed version against the row's `version` specifier.

use super::Cell;
use crate::env::Distribution;
use crate::matrix::{Claim, Library, Matrix};
use crate::model::Verdict;

pub(super) fn version_cell(
    matrix: &Matrix,
    lib: &Library,
    d: &Distribution,
    claim: Claim,
    env_word: &str,
) -> Cell {
    let mut cell = Cell {
        column: "version".into(),
        title: "Version".into(),
        kind: "version".into(),
        claim,
        verdict: Verdict::Unverified,
        checkable: true,
        reason: None,
        fix: None,
        caveats: Vec::new(),
        evidence: vec![format!(
            "{} {} {} ({})",
            env_word,
            d.name,
            d.version_text,
            d.path.display()
        )],
    };
    match (matrix.spec(lib.name()), &d.version) {
        (None, _) => {
            cell.checkable = false;
            cell.reason = Some("the matrix names no version for this row".into());
        }
        (Some(_), None) => {
            cell.reason = Some(format!(
                "installed version `{}` is not PEP 440",
                d.version_text
            ))
        }
        (Some(spec), Some(v)) if spec.contains(v) => {
            cell.verdict = Verdict::Verified;
            cell.evidence
                .push(format!("{} satisfies {spec}", d.version_text));
        }
        (Some(spec), Some(_)) => {
            cell.verdict = Verdict::Failed;
            cell.reason = Some(format!(
                "installed {} does not satisfy {spec}",
                d.version_text
            ));
            cell.fix = Some(format!("pip install '{}{spec}'", d.normalized));
        }
    }
    cell
}
