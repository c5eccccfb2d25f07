//! `compat merge`: many nodes' JSON reports into one fleet matrix ([`report::Fleet`]).
//!
//! Nodes are grouped by identical host facts (driver, the CUDA it supports, GPU models and
//! compute capabilities, torch build, Python version), so a thousand identical nodes read as one
//! line. For every cell that is not verified on every group, the matrix shows each group's
//! verdict. compat schedules nothing: the reports come from whatever ran `compat check --format
//! json` on each node (Slurm `srun`, a Kubernetes Job or DaemonSet; see docs/fleet.md).
//!
//! Reports are read with the same types that wrote them ([`Report::from_json`]); a file that is
//! not one is an error that names the file and what is wrong with it. The fleet document and its
//! table are presentation and live in `report::fleet`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::input::{InputError, InputKind};
use crate::model::Verdict;
use crate::report::{self, Fleet, Group, GroupKey, ReadError, Report};

/// A file that cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// Not a readable regular file of at most [`InputKind::MergeReport`]'s limit.
    #[error("{source}")]
    Read {
        #[source]
        source: InputError,
    },
    #[error("{}{}: not a compat check report", path.display(), at.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    NotAReport {
        path: PathBuf,
        /// Line and column at fault, where the JSON parser names one.
        at: Option<(usize, usize)>,
        #[source]
        source: ReadError,
    },
}

/// The facts that make two nodes interchangeable, from one report.
fn key(r: &Report) -> GroupKey {
    let h = &r.host;
    let dash = || "—".to_string();
    let mut gpus: Vec<String> = h
        .gpus
        .iter()
        .map(|g| format!("{} ({})", g.name, g.compute_capability))
        .collect();
    gpus.sort();
    let counted = crate::probe::count_alike(gpus);
    GroupKey {
        driver: h.driver.as_ref().map_or_else(dash, |d| d.value.to_string()),
        driver_cuda: h
            .driver_cuda
            .as_ref()
            .map_or_else(dash, |d| d.value.to_string()),
        gpus: if counted.is_empty() {
            "no GPU".into()
        } else {
            counted
                .iter()
                .map(|(g, k)| format!("{k}× {g}"))
                .collect::<Vec<_>>()
                .join(" + ")
        },
        torch: r
            .environment
            .torch
            .as_ref()
            .and_then(|t| t.version.clone())
            .unwrap_or_else(dash),
        python: r.environment.interpreter.python_version.clone(),
    }
}

/// Reads the reports at `paths` and merges them.
pub fn merge_files(paths: &[PathBuf]) -> Result<Fleet, MergeError> {
    let reports = paths
        .iter()
        .map(|p| read(p).map(|r| (p.as_path(), r)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(merge(&reports))
}

/// Merges reports, each with the file it came from (the host's name when the report has none).
pub fn merge(reports: &[(&Path, Report)]) -> Fleet {
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut failing = Vec::new();
    for (path, r) in reports {
        let host = r
            .host
            .hostname
            .clone()
            .unwrap_or_else(|| path.display().to_string());
        let k = key(r);
        let g = groups.entry(k.clone()).or_insert_with(|| Group {
            key: k,
            hosts: Vec::new(),
            failed: 0,
            verdicts: BTreeMap::new(),
            exit_codes: Vec::new(),
        });
        g.hosts.push(host.clone());
        g.exit_codes.push(i64::from(r.exit_code));
        if r.exit_code != 0 {
            failing.push(host);
        }
        for row in r.verification.tables.iter().flat_map(|t| &t.rows) {
            for c in &row.cells {
                let id = format!("{} · {}", row.library, c.title);
                if !order.contains(&id) {
                    order.push(id.clone());
                }
                if c.verdict == Verdict::Failed {
                    g.failed += 1;
                }
                let verdict = c.verdict.as_str();
                let e = g.verdicts.entry(id).or_insert_with(|| verdict.to_string());
                if *e != verdict {
                    *e = "mixed".into();
                }
            }
        }
    }
    let groups: Vec<Group> = groups.into_values().collect();
    let cells = order
        .into_iter()
        .filter(|id| {
            groups
                .iter()
                .any(|g| g.verdicts.get(id).is_some_and(|v| v != "verified"))
        })
        .filter(|id| {
            !groups
                .iter()
                .all(|g| g.verdicts.get(id).is_some_and(|v| v == "not-installed"))
        })
        .collect();
    Fleet {
        schema: report::fleet::FLEET_SCHEMA.to_string(),
        reports: reports.len(),
        groups,
        cells,
        failing_hosts: failing,
    }
}

/// Reads one report, through the bounded reader.
fn read(path: &Path) -> Result<Report, MergeError> {
    let text = crate::input::read_text(path, InputKind::MergeReport)
        .map_err(|source| MergeError::Read { source })?;
    Report::from_json(&text).map_err(|source| MergeError::NotAReport {
        path: path.to_path_buf(),
        at: source.line_col(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_report_names_the_file_and_the_fault() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\"schema\": \"compat.check/1\", \"exit_code\": 0}").expect("write");
        let e = merge_files(std::slice::from_ref(&bad)).expect_err("not a report");
        assert!(e.to_string().contains("bad.json"), "{e}");
        let chain: Vec<String> =
            std::iter::successors(std::error::Error::source(&e), |e| e.source())
                .map(ToString::to_string)
                .collect();
        assert_eq!(chain.len(), 2, "{chain:?}");
        assert!(chain[1].contains("missing field"), "{chain:?}");

        let missing = dir.path().join("missing.json");
        let e = merge_files(&[missing]).expect_err("missing");
        assert!(matches!(e, MergeError::Read { .. }), "{e}");
    }
}
