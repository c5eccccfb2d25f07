//! Folding `compat smoke`'s results into the rows: every check a row names becomes one line of
//! the row's `smoke`; a GPU pass is evidence on the row's CUDA cell, a GPU failure a caveat.

use super::Row;
use crate::matrix::{ColumnKind, Library};
use crate::model::Verdict;

/// Adds a library's smoke results to its row and its CUDA cell.
pub(super) fn fold_smoke(row: &mut Row, lib: &Library, sm: &crate::smoke::SmokeReport) {
    for id in &lib.smoke {
        let Some(id) = crate::model::SmokeCheckId::parse(id.get_ref()) else {
            continue;
        };
        for device in crate::smoke::Device::ALL {
            let Some(v) = sm.verdict(id, device) else {
                continue;
            };
            let worst = sm
                .checks_for(id, device)
                .filter_map(|c| c.kernel_error.zip(c.kernel_bound))
                .fold(None::<(f64, f64)>, |acc, x| {
                    if acc.is_none_or(|a| x.0 > a.0) {
                        Some(x)
                    } else {
                        acc
                    }
                });
            let why = sm.checks_for(id, device).find_map(|c| c.reason.clone());
            let line = format!(
                "smoke {id} on {device}: {}{}{}",
                v.as_str(),
                worst
                    .map(|(e, b)| format!(" (kernel error {e:.2e}, bound {b:.1e})"))
                    .unwrap_or_default(),
                why.map(|w| format!(": {w}")).unwrap_or_default()
            );
            row.smoke.push(line.clone());
            if device == crate::smoke::Device::Cuda {
                if let Some(cell) = row.cells.iter_mut().find(|c| c.kind == ColumnKind::Cuda) {
                    match v {
                        Verdict::Verified => cell
                            .evidence
                            .push(format!("{line} — the kernel ran correctly on this GPU")),
                        Verdict::Failed => cell.caveats.push(line),
                        _ => {}
                    }
                }
            }
        }
    }
}
