//! The `python` column: the distribution's Requires-Python and its wheel tag against the
//! column's Python `major.minor`, decided on this interpreter when it is that version.

use pep440_rs::Version;

use super::{Cell, Reason};
use crate::env::{Distribution, PythonEnv};
use crate::matrix::{python_matches, Target};
use crate::model::Verdict;

pub(super) fn python_cell(cell: &mut Cell, target: Target, d: &Distribution, env: &PythonEnv) {
    let Target::Python(major, minor) = target else {
        cell.because(Reason::NoTarget { what: "Python" });
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
                cell.fail(Reason::RequiresPythonExcludes {
                    name: d.name.clone(),
                    version: d.version_text.clone(),
                    package: d.normalized.clone(),
                    requires_python: text.clone(),
                    python: probe,
                    target: (major, minor),
                });
                return;
            }
            cell.evidence
                .push(format!("Requires-Python {text} admits {probe}"));
        }
        (Some(text), None) => {
            cell.because(Reason::RequiresPythonUnparsable {
                requires_python: text.clone(),
            });
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
            cell.fail(Reason::WheelTagMismatch {
                package: d.normalized.clone(),
                version: d.version_text.clone(),
                tags: cp_tags.into_iter().cloned().collect(),
                target: (major, minor),
            });
            return;
        }
    }
    if here {
        cell.verdict = Verdict::Verified;
    } else {
        cell.because(Reason::OtherPython {
            interpreter: env.interpreter.python_version.clone(),
            target: (major, minor),
        });
    }
}
