//! The `python` column: the distribution's Requires-Python and its wheel tag against the
//! column's Python `major.minor`, decided on this interpreter when it is that version.

use pep440_rs::Version;

use super::Cell;
use crate::env::{Distribution, PythonEnv};
use crate::matrix::{python_matches, Target};
use crate::model::Verdict;

pub(super) fn python_cell(cell: &mut Cell, target: Target, d: &Distribution, env: &PythonEnv) {
    let Target::Python(major, minor) = target else {
        cell.reason = Some("the column has no Python target".into());
        return;
    };
    let interp = env.interpreter.version();
    let here = interp
        .as_ref()
        .is_some_and(|v| python_matches((major, minor), v));
    cell.evidence.push(format!(
        "interpreter CPython {} ({})",
        env.interpreter.python_version, env.interpreter.read_from
    ));
    // The versions the target stands for: this interpreter when it is the target, else X.Y.0.
    let probe: Version = match (&interp, here) {
        (Some(v), true) => v.clone(),
        _ => Version::new([major, minor, 0]),
    };
    match (&d.requires_python, &d.requires_python_spec) {
        (Some(text), Some(spec)) => {
            if !spec.contains(&probe) {
                cell.verdict = Verdict::Failed;
                cell.reason = Some(format!(
                    "{} {} declares Requires-Python {text}, which excludes Python {probe}",
                    d.name, d.version_text
                ));
                cell.fix = Some(format!(
                    "install a release of {} whose Requires-Python admits {major}.{minor}",
                    d.normalized
                ));
                return;
            }
            cell.evidence
                .push(format!("Requires-Python {text} admits {probe}"));
        }
        (Some(text), None) => {
            cell.reason = Some(format!("Requires-Python `{text}` cannot be parsed"));
            return;
        }
        (None, _) => cell.evidence.push("declares no Requires-Python".into()),
    }
    let py_tag = format!("cp{major}{minor}");
    let cp_tags: Vec<&String> = d
        .wheel_tags
        .iter()
        .filter(|t| t.starts_with("cp"))
        .collect();
    if here && !cp_tags.is_empty() {
        if let Some(t) = cp_tags
            .iter()
            .find(|t| t.starts_with(&py_tag) || t.contains("-abi3-"))
        {
            cell.evidence.push(format!("wheel tag {t}"));
        } else {
            cell.verdict = Verdict::Failed;
            cell.reason = Some(format!(
                "the installed wheel is tagged {}, not for CPython {major}.{minor}",
                cp_tags
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            cell.fix = Some(format!(
                "pip install --force-reinstall {}=={}",
                d.normalized, d.version_text
            ));
            return;
        }
    }
    if here {
        cell.verdict = Verdict::Verified;
    } else {
        cell.reason = Some(format!(
            "the interpreter is Python {}, not {major}.{minor}: run with --python pointing at a {major}.{minor} environment",
            env.interpreter.python_version
        ));
    }
}
