//! `compat merge`: many nodes' JSON reports into one fleet matrix.
//!
//! Nodes are grouped by identical host facts (driver, the CUDA it supports, GPU models and
//! compute capabilities, torch build, Python version), so a thousand identical nodes read as one
//! line. For every cell that is not verified on every group, the table shows each group's verdict.
//! compat schedules nothing: the reports come from whatever ran `compat check --format json` on
//! each node (Slurm `srun`, a Kubernetes Job or DaemonSet; see docs/fleet.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{path}: {why}")]
    Bad { path: String, why: String },
}

/// The facts that make two nodes interchangeable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct GroupKey {
    pub driver: String,
    pub driver_cuda: String,
    pub gpus: String,
    pub torch: String,
    pub python: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub key: GroupKey,
    pub hosts: Vec<String>,
    pub failed: usize,
    /// `library/column` -> verdict (the same on every node of the group, else "mixed").
    pub verdicts: BTreeMap<String, String>,
    pub exit_codes: Vec<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    pub schema: &'static str,
    pub reports: usize,
    pub groups: Vec<Group>,
    /// Cells not verified on at least one group, in matrix order.
    pub cells: Vec<String>,
    pub failing_hosts: Vec<String>,
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

fn key(r: &Value) -> GroupKey {
    let h = &r["host"];
    let mut gpus: Vec<String> = h["gpus"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| format!("{} ({})", s(&g["name"]), s(&g["compute_capability"])))
        .collect();
    gpus.sort();
    let counted = crate::probe::count_alike(gpus);
    GroupKey {
        driver: s(&h["driver"]["value"]),
        driver_cuda: s(&h["driver_cuda"]["value"]),
        gpus: if counted.is_empty() {
            "no GPU".into()
        } else {
            counted
                .iter()
                .map(|(g, k)| format!("{k}× {g}"))
                .collect::<Vec<_>>()
                .join(" + ")
        },
        torch: r["environment"]["torch"]["version"]
            .as_str()
            .unwrap_or("—")
            .to_string(),
        python: s(&r["environment"]["interpreter"]["python_version"]),
    }
}

/// Reads and merges reports. A file that is not a compat check report is an error naming it.
pub fn merge(paths: &[PathBuf]) -> Result<Fleet, MergeError> {
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut failing = Vec::new();
    for p in paths {
        let r = read(p)?;
        let host = r["host"]["hostname"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| p.display().to_string());
        let k = key(&r);
        let g = groups.entry(k.clone()).or_insert_with(|| Group {
            key: k,
            hosts: Vec::new(),
            failed: 0,
            verdicts: BTreeMap::new(),
            exit_codes: Vec::new(),
        });
        g.hosts.push(host.clone());
        let code = r["exit_code"].as_i64().unwrap_or(-1);
        g.exit_codes.push(code);
        if code != 0 {
            failing.push(host.clone());
        }
        for t in r["tables"].as_array().into_iter().flatten() {
            for row in t["rows"].as_array().into_iter().flatten() {
                for c in row["cells"].as_array().into_iter().flatten() {
                    let id = format!("{} · {}", s(&row["library"]), s(&c["title"]));
                    if !order.contains(&id) {
                        order.push(id.clone());
                    }
                    let verdict = s(&c["verdict"]);
                    if verdict == "failed" {
                        g.failed += 1;
                    }
                    let e = g.verdicts.entry(id).or_insert_with(|| verdict.clone());
                    if *e != verdict {
                        *e = "mixed".into();
                    }
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
    Ok(Fleet {
        schema: "compat.fleet/1",
        reports: paths.len(),
        groups,
        cells,
        failing_hosts: failing,
    })
}

fn read(p: &Path) -> Result<Value, MergeError> {
    let bad = |why: String| MergeError::Bad {
        path: p.display().to_string(),
        why,
    };
    let meta = std::fs::metadata(p).map_err(|e| bad(e.to_string()))?;
    if meta.len() > 64 * 1024 * 1024 {
        return Err(bad("larger than 64 MiB: not a compat report".into()));
    }
    let text = std::fs::read_to_string(p).map_err(|e| bad(e.to_string()))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("line {} column {}: {e}", e.line(), e.column())))?;
    match v["schema"].as_str() {
        Some(s) if s.starts_with("compat.check/") => Ok(v),
        _ => Err(bad(
            "not a `compat check --format json` report (no schema compat.check/N)".into(),
        )),
    }
}

pub fn render_table(f: &Fleet) -> String {
    use comfy_table::{presets, ContentArrangement, Table};
    let mut o = format!(
        "Fleet: {} reports in {} groups of identical host facts\n",
        f.reports,
        f.groups.len()
    );
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "group",
            "hosts",
            "GPUs",
            "driver (CUDA)",
            "torch",
            "python",
            "failed cells",
        ]);
    for (i, g) in f.groups.iter().enumerate() {
        let hosts = if g.hosts.len() > 4 {
            format!("{} hosts: {}, …", g.hosts.len(), g.hosts[..3].join(", "))
        } else {
            g.hosts.join(", ")
        };
        t.add_row(vec![
            format!("G{}", i + 1),
            hosts,
            g.key.gpus.clone(),
            format!("{} ({})", g.key.driver, g.key.driver_cuda),
            g.key.torch.clone(),
            g.key.python.clone(),
            (g.failed / g.hosts.len().max(1)).to_string(),
        ]);
    }
    o.push_str(&t.to_string());
    o.push('\n');
    if !f.cells.is_empty() {
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled);
        let mut header = vec!["cell".to_string()];
        header.extend((1..=f.groups.len()).map(|i| format!("G{i}")));
        t.set_header(header);
        for c in &f.cells {
            let mut row = vec![c.clone()];
            for g in &f.groups {
                row.push(g.verdicts.get(c).cloned().unwrap_or_else(|| "—".into()));
            }
            t.add_row(row);
        }
        o.push_str("\nCells not verified everywhere:\n");
        o.push_str(&t.to_string());
        o.push('\n');
    }
    o.push_str(&format!(
        "failing hosts: {}\n",
        if f.failing_hosts.is_empty() {
            "none".to_string()
        } else {
            f.failing_hosts.join(", ")
        }
    ));
    o
}
