//! GPU names to compute capabilities (`gpus.toml`), for host profiles and `nvidia-smi` output
//! that name a GPU without its compute capability.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::table::Table;
use super::{Knowledge, KnowledgeError};
use crate::model::units::ComputeCapability;
use crate::model::Sourced;

pub(super) const FILE: &str = "gpus.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GpuFile {
    schema: Spanned<u32>,
    gpu: Vec<Spanned<GpuRow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GpuRow {
    name: String,
    #[serde(rename = "match")]
    keys: Vec<String>,
    cc: ComputeCapability,
    source: String,
    #[serde(default)]
    unsure: bool,
    #[serde(default)]
    #[allow(dead_code)] // documentation for readers of the table
    note: Option<String>,
}

#[derive(Debug, Clone)]
struct Gpu {
    name: String,
    keys: Vec<String>,
    cc: ComputeCapability,
    source: String,
    unsure: bool,
}

#[derive(Debug, Clone)]
pub(super) struct GpuTable {
    gpus: Vec<Gpu>,
}

impl GpuTable {
    pub(super) fn parse(t: Table<'_>) -> Result<GpuTable, KnowledgeError> {
        let f: GpuFile = t.parse()?;
        t.check_schema(&f.schema)?;
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut gpus = Vec::new();
        for row in f.gpu {
            let span = row.span();
            let g = row.into_inner();
            t.check_source(span.clone(), &g.name, &g.source)?;
            if g.keys.is_empty() || g.keys.iter().any(|k| k.trim().is_empty()) {
                return Err(t.invalid(Some(span), format!("{}: empty `match`", g.name)));
            }
            for k in &g.keys {
                if let Some(other) = seen.insert(k.to_lowercase(), g.name.clone()) {
                    return Err(t.invalid(
                        Some(span),
                        format!("key `{k}` is in both `{other}` and `{}`", g.name),
                    ));
                }
            }
            gpus.push(Gpu {
                name: g.name,
                keys: g.keys,
                cc: g.cc,
                source: g.source,
                unsure: g.unsure,
            });
        }
        Ok(GpuTable { gpus })
    }
}

impl Knowledge {
    /// Compute capability of a GPU by name: case-insensitive match of the table's keys at the
    /// start of a word, longest key first (`"NVIDIA H100 80GB HBM3"` -> 9.0, `"NVIDIA A100"` ->
    /// 8.0 not A10's 8.6).
    pub fn gpu_cc(&self, name: &str) -> Option<ComputeCapability> {
        self.gpu_lookup(name).map(|s| s.value.1)
    }

    /// [`Knowledge::gpu_cc`] with the table row's name and source (`value.0` is the row name).
    pub fn gpu_lookup(&self, name: &str) -> Option<Sourced<(String, ComputeCapability)>> {
        let hay = name.to_lowercase();
        let mut best: Option<(usize, &Gpu)> = None;
        for g in &self.gpus.gpus {
            for k in &g.keys {
                if word_start_match(&hay, k) && best.is_none_or(|(len, _)| k.len() > len) {
                    best = Some((k.len(), g));
                }
            }
        }
        best.map(|(_, g)| Sourced {
            value: (g.name.clone(), g.cc),
            source: g.source.clone(),
            unsure: g.unsure,
        })
    }
}

/// Whether lowercase `key` occurs in lowercase `hay` at a position not preceded by a letter or
/// digit.
fn word_start_match(hay: &str, key: &str) -> bool {
    let key = key.to_lowercase();
    if key.is_empty() {
        return false;
    }
    hay.match_indices(key.as_str()).any(|(i, _)| {
        hay[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}
