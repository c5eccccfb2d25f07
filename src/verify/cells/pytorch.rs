//! The `pytorch` column: the installed torch against the column's target, and the row's own
//! requirements on torch (with its extras' pins) against the installed torch.

use pep508_rs::VersionOrUrl;

use super::{Cell, Reason};
use crate::env::{Distribution, PythonEnv};
use crate::matrix::{Library, Target};
use crate::model::Verdict;
use crate::verify::applies;

pub(super) fn pytorch_cell(
    cell: &mut Cell,
    target: Target,
    lib: &Library,
    d: &Distribution,
    env: &PythonEnv,
) {
    let Target::Torch(spec) = target else {
        cell.because(Reason::NoTarget { what: "torch" });
        return;
    };
    let Some(torch) = env.get("torch") else {
        cell.because(Reason::TorchNotInstalled {
            place: env.place().to_string(),
        });
        return;
    };
    let Some(tv) = &torch.version else {
        cell.because(Reason::TorchVersionNotPep440 {
            version: torch.version_text.clone(),
        });
        return;
    };
    let is_torch = crate::model::normalize(lib.name()) == "torch";
    let in_target = spec.contains(tv);
    cell.evidence.push(format!(
        "installed torch {} {} the column's target {spec}",
        torch.version_text,
        if in_target { "satisfies" } else { "is outside" }
    ));
    if !in_target {
        let torch = torch.version_text.clone();
        if is_torch {
            cell.fail(Reason::TorchOutsideTarget { torch, spec });
        } else {
            cell.because(Reason::OtherTorch { torch, spec });
        }
        return;
    }
    if is_torch {
        cell.verdict = Verdict::Verified;
        return;
    }
    // Requirements on torch: those that hold here (no extras), and those that hold only with
    // one of the package's extras; the extras' pins are its word on torch too.
    let markers = env.marker_env();
    let extras: Vec<pep508_rs::ExtraName> = d
        .provides_extra
        .iter()
        .filter_map(|e| e.parse().ok())
        .collect();
    let mut on_torch = 0;
    let mut ignored: Vec<String> = Vec::new();
    for (line, req) in &d.requirements {
        if req.name.as_ref() != "torch" {
            continue;
        }
        let plain = applies(req, markers.as_ref(), &[]);
        let with_extras = applies(req, markers.as_ref(), &extras);
        if !plain && !with_extras {
            ignored.push(line.clone());
            continue;
        }
        let how = if plain { "" } else { " (through an extra)" };
        on_torch += 1;
        let ok = match &req.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(s)) => s.contains(tv),
            _ => true,
        };
        if !ok {
            cell.fail(Reason::RequirementExcludesTorch {
                name: d.name.clone(),
                version: d.version_text.clone(),
                package: d.normalized.clone(),
                requirement: line.clone(),
                through_extra: !plain,
                torch: torch.version_text.clone(),
            });
            cell.evidence.push(format!("Requires-Dist: {line}"));
            return;
        }
        cell.evidence.push(format!(
            "Requires-Dist: {line}{how} admits {}",
            torch.version_text
        ));
    }
    if on_torch == 0 {
        cell.evidence.push(format!(
            "{} declares no requirement on torch that applies here",
            d.name
        ));
    }
    if !ignored.is_empty() {
        cell.evidence
            .push(format!("not for this platform: {}", ignored.join("; ")));
    }
    cell.verdict = Verdict::Verified;
}
