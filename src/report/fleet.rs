//! The fleet matrix (`compat merge`, schema [`FLEET_SCHEMA`]): nodes grouped by identical host
//! facts, and every cell that is not verified on every group. The document and its table live
//! here; reading the nodes' reports and grouping them is `crate::fleet`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::style;

/// The JSON schema id of a merged fleet matrix.
pub const FLEET_SCHEMA: &str = "compat.fleet/1";

/// The facts that make two nodes interchangeable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupKey {
    pub driver: String,
    pub driver_cuda: String,
    pub gpus: String,
    pub torch: String,
    pub python: String,
}

/// Nodes with identical host facts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    pub key: GroupKey,
    pub hosts: Vec<String>,
    /// Failed cells, summed over the group's nodes.
    pub failed: usize,
    /// `library · column` -> verdict (the same on every node of the group, else "mixed").
    pub verdicts: BTreeMap<String, String>,
    pub exit_codes: Vec<i64>,
}

/// Many nodes' reports as one matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fleet {
    /// [`FLEET_SCHEMA`].
    pub schema: String,
    pub reports: usize,
    pub groups: Vec<Group>,
    /// Cells not verified on at least one group, in matrix order.
    pub cells: Vec<String>,
    pub failing_hosts: Vec<String>,
}

/// The groups, the cells not verified everywhere (a column per group), the failing hosts.
pub fn render_table(f: &Fleet) -> String {
    let mut o = format!(
        "Fleet: {} reports in {} groups of identical host facts\n",
        f.reports,
        f.groups.len()
    );
    o.push_str(&groups_table(f));
    o.push('\n');
    if !f.cells.is_empty() {
        o.push_str("\nCells not verified everywhere:\n");
        o.push_str(&cells_table(f));
        o.push('\n');
    }
    o.push_str(&format!(
        "failing hosts: {}\n",
        if f.failing_hosts.is_empty() {
            "none".to_string()
        } else {
            crate::model::clean(&f.failing_hosts.join(", ")).into_owned()
        }
    ));
    style::finish(o, &style::Styles::plain())
}

fn groups_table(f: &Fleet) -> String {
    let mut t = style::table();
    t.set_header(vec![
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
            style::cell(&format!("G{}", i + 1)),
            style::cell(&hosts),
            style::cell(&g.key.gpus),
            style::cell(&format!("{} ({})", g.key.driver, g.key.driver_cuda)),
            style::cell(&g.key.torch),
            style::cell(&g.key.python),
            style::cell(&(g.failed / g.hosts.len().max(1)).to_string()),
        ]);
    }
    t.to_string()
}

fn cells_table(f: &Fleet) -> String {
    let mut t = style::table();
    let mut header = vec!["cell".to_string()];
    header.extend((1..=f.groups.len()).map(|i| format!("G{i}")));
    t.set_header(header);
    for c in &f.cells {
        let mut row = vec![style::cell(c)];
        for g in &f.groups {
            row.push(style::cell(g.verdicts.get(c).map_or("—", String::as_str)));
        }
        t.add_row(row);
    }
    t.to_string()
}
