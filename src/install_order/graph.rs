//! The matrix's dependency graph as `(dependent, dependency)` edges between normalized names,
//! refused when it has a cycle.

use std::collections::{BTreeMap, HashMap};

use super::InstallOrderError;
use crate::matrix::Matrix;
use crate::model::normalize;

/// `(dependent, dependency)` edges of the matrix's graph, checked for cycles.
pub(super) fn edges(matrix: &Matrix) -> Result<Vec<(String, String)>, InstallOrderError> {
    let mut e: Vec<(String, String)> = Vec::new();
    for g in &matrix.doc.graph {
        for (a, b) in g.edges() {
            let pair = (normalize(&a), normalize(&b));
            if !e.contains(&pair) {
                e.push(pair);
            }
        }
    }
    let mut adj: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in &e {
        adj.entry(a.as_str()).or_default().push(b.as_str());
    }
    let mut state = HashMap::new();
    for n in adj.keys() {
        if let Some(c) = visit(n, &adj, &mut state, &mut Vec::new()) {
            return Err(InstallOrderError::Cycle(c));
        }
    }
    Ok(e)
}

/// Depth-first search from `n` for a cycle, returning its path (`state`: 1 on the path, 2 done).
fn visit<'a>(
    n: &'a str,
    adj: &BTreeMap<&'a str, Vec<&'a str>>,
    state: &mut HashMap<&'a str, u8>,
    path: &mut Vec<&'a str>,
) -> Option<Vec<String>> {
    match state.get(n) {
        Some(1) => {
            let start = path.iter().position(|p| *p == n).unwrap_or(0);
            let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        Some(_) => return None,
        None => {}
    }
    state.insert(n, 1);
    path.push(n);
    for m in adj.get(n).into_iter().flatten() {
        if let Some(c) = visit(m, adj, state, path) {
            return Some(c);
        }
    }
    path.pop();
    state.insert(n, 2);
    None
}
