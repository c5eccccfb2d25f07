//! The `pytorch` column: the installed torch against the column's target, and the row's own
//! requirements on torch (with its extras' pins) against the installed torch.

use pep508_rs::VersionOrUrl;

use super::Cell;
use crate::env::{Distribution, PythonEnv};
use crate::matrix::{Library, Target};
use crate::model::Verdict;

pub(super) fn pytorch_cell(
    cell: &mut Cell,
    target: Target,
    lib: &Library,
    d: &Distribution,
    env: &PythonEnv,
) {
    let Target::Torch(spec) = target else {
        cell.reason = Some("the column has no torch target".into());
        return;
    };
    let Some(torch) = env.get("torch") else {
        cell.reason = Some(format!("torch is not installed {}", env.place()));
        return;
    };
    let Some(tv) = &torch.version else {
        cell.reason = Some(format!(
            "installed torch version `{}` is not PEP 440",
            torch.version_text
        ));
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
        if is_torch {
            cell.verdict = Verdict::Failed;
            cell.reason = Some(format!(
                "torch {} is not PyTorch {spec}",
                torch.version_text
            ));
            cell.fix = Some(format!(
                "install torch{spec} from the CUDA wheel index that fits the driver (`compat install-order` prints the command)"
            ));
        } else {
            cell.reason = Some(format!(
                "installed torch {} is outside {spec}, so this claim cannot be tried here",
                torch.version_text
            ));
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
        let (plain, with_extras) = match &markers {
            Some(m) => (
                req.evaluate_markers(m, &[]),
                req.evaluate_markers(m, &extras),
            ),
            None => (req.marker.contents().is_none(), false),
        };
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
            cell.verdict = Verdict::Failed;
            cell.reason = Some(format!(
                "{} {} requires `{line}`{how}, but torch is {}",
                d.name, d.version_text, torch.version_text
            ));
            cell.fix = Some(format!(
                "install a release of {} that admits torch {}, or a torch it admits",
                d.normalized, torch.version_text
            ));
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
