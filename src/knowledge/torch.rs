//! PyTorch's wheels (`torch-wheels.toml`): the CUDA variants each torch release ships, and the
//! GPU code (SASS cubins, PTX) compiled into each (release, variant) build.

use std::collections::{BTreeMap, BTreeSet};

use pep440_rs::{Version, VersionSpecifiers};
use serde::Deserialize;
use toml::Spanned;

use super::table::Table;
use super::{Knowledge, KnowledgeError};
use crate::model::units::{ComputeCapability, CudaVersion};
use crate::model::Sourced;

pub(super) const FILE: &str = "torch-wheels.toml";

/// The GPU code compiled into a build: cubins for `sass`, and PTX for `ptx` if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchList {
    pub sass: Vec<ComputeCapability>,
    pub ptx: Option<ComputeCapability>,
    pub source: String,
    pub unsure: bool,
}

impl ArchList {
    /// Whether a GPU of compute capability `cc` can run this build: a cubin of the GPU's major
    /// with a minor at or below the GPU's (SASS is binary-compatible within a major for higher
    /// minors only), or PTX for an arch at or below the GPU's (JIT-compiled by the driver).
    pub fn runs_on(&self, cc: ComputeCapability) -> bool {
        self.sass_for(cc).is_some() || self.ptx.is_some_and(|p| p <= cc)
    }

    /// The cubin the GPU would load: the highest listed arch of the GPU's major whose minor is
    /// at or below the GPU's.
    pub fn sass_for(&self, cc: ComputeCapability) -> Option<ComputeCapability> {
        self.sass
            .iter()
            .copied()
            .filter(|s| s.major == cc.major && s.minor <= cc.minor)
            .max()
    }

    /// Whether the GPU runs this build only through PTX JIT (slower first launch, and it needs a
    /// driver at least as new as the build's toolkit).
    pub fn needs_jit(&self, cc: ComputeCapability) -> bool {
        self.sass_for(cc).is_none() && self.runs_on(cc)
    }
}

// ------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TorchFile {
    schema: Spanned<u32>,
    release: Vec<Spanned<ReleaseRow>>,
    build: Vec<Spanned<BuildRow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseRow {
    torch: String,
    variants: Vec<CudaVersion>,
    source: String,
    #[serde(default)]
    unsure: bool,
    #[serde(default)]
    #[allow(dead_code)] // documentation for readers of the table
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildRow {
    torch: String,
    cuda: CudaVersion,
    sass: Vec<ComputeCapability>,
    #[serde(default)]
    ptx: Option<ComputeCapability>,
    source: String,
    #[serde(default)]
    unsure: bool,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

// ------------------------------------------------------------------------------------------
// The checked table.

#[derive(Debug, Clone)]
struct TorchRelease {
    spec: VersionSpecifiers,
    variants: Vec<CudaVersion>,
    source: String,
    unsure: bool,
}

#[derive(Debug, Clone)]
struct TorchBuild {
    spec: VersionSpecifiers,
    cuda: CudaVersion,
    archs: ArchList,
}

#[derive(Debug, Clone)]
pub(super) struct TorchTables {
    releases: Vec<TorchRelease>,
    builds: Vec<TorchBuild>,
}

/// The versions a specifier set names (its bounds), as release-only versions.
fn bounds(spec: &VersionSpecifiers) -> Vec<Version> {
    spec.iter().map(|s| s.version().only_release()).collect()
}

impl TorchTables {
    pub(super) fn parse(t: Table<'_>) -> Result<TorchTables, KnowledgeError> {
        let f: TorchFile = t.parse()?;
        t.check_schema(&f.schema)?;
        let mut releases = Vec::new();
        for row in f.release {
            let span = row.span();
            let r = row.into_inner();
            t.check_source(span.clone(), &r.torch, &r.source)?;
            if r.variants.is_empty() {
                return Err(t.invalid(Some(span), format!("release {}: no variants", r.torch)));
            }
            releases.push(TorchRelease {
                spec: t.spec(span, &r.torch)?,
                variants: r.variants,
                source: r.source,
                unsure: r.unsure,
            });
        }
        let mut builds = Vec::new();
        for row in f.build {
            let span = row.span();
            let b = row.into_inner();
            let name = format!("build {} {}", b.torch, b.cuda.tag());
            t.check_source(span.clone(), &name, &b.source)?;
            if b.sass.is_empty() || b.sass.windows(2).any(|w| w[0] >= w[1]) {
                return Err(t.invalid(
                    Some(span),
                    format!("{name}: `sass` must be non-empty and strictly ascending"),
                ));
            }
            builds.push(TorchBuild {
                spec: t.spec(span, &b.torch)?,
                cuda: b.cuda,
                archs: ArchList {
                    sass: b.sass,
                    ptx: b.ptx,
                    source: b.source,
                    unsure: b.unsure,
                },
            });
        }
        let tables = TorchTables { releases, builds };
        tables.check_overlaps(t)?;
        Ok(tables)
    }

    /// No torch version may fall in two rows (of the same variant, for builds): checked at
    /// every bound any row names, which is where overlapping ranges meet.
    fn check_overlaps(&self, t: Table<'_>) -> Result<(), KnowledgeError> {
        let mut probes: BTreeSet<Version> = BTreeSet::new();
        for r in &self.releases {
            probes.extend(bounds(&r.spec));
        }
        for b in &self.builds {
            probes.extend(bounds(&b.spec));
        }
        for v in &probes {
            let n = self.releases.iter().filter(|r| r.spec.contains(v)).count();
            if n > 1 {
                return Err(t.invalid(None, format!("torch {v} is in {n} [[release]] rows")));
            }
            let mut per_variant: BTreeMap<CudaVersion, usize> = BTreeMap::new();
            for b in self.builds.iter().filter(|b| b.spec.contains(v)) {
                *per_variant.entry(b.cuda).or_default() += 1;
            }
            if let Some((c, n)) = per_variant.into_iter().find(|(_, n)| *n > 1) {
                return Err(t.invalid(
                    None,
                    format!("torch {v} {} is in {n} [[build]] rows", c.tag()),
                ));
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Queries.

impl Knowledge {
    /// torch's compiled architectures for a torch version and CUDA variant (None when unknown).
    /// Matched on the release part of the version (`2.4.1+cu124` -> `2.4.1`).
    pub fn torch_archs(&self, torch: &Version, cuda: CudaVersion) -> Option<ArchList> {
        let v = torch.only_release();
        self.torch
            .builds
            .iter()
            .find(|b| b.cuda == cuda && b.spec.contains(&v))
            .map(|b| b.archs.clone())
    }

    /// The CUDA variants a torch release ships (empty when the release is unknown).
    pub fn torch_variants(&self, torch: &Version) -> Vec<CudaVersion> {
        self.torch_variants_sourced(torch)
            .map(|s| s.value)
            .unwrap_or_default()
    }

    /// [`Knowledge::torch_variants`] with its source.
    pub fn torch_variants_sourced(&self, torch: &Version) -> Option<Sourced<Vec<CudaVersion>>> {
        let v = torch.only_release();
        self.torch
            .releases
            .iter()
            .find(|r| r.spec.contains(&v))
            .map(|r| Sourced {
                value: r.variants.clone(),
                source: r.source.clone(),
                unsure: r.unsure,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_tables_are_consistent() {
        // Every variant a release ships has an arch list, and every arch list belongs to a variant
        // its release ships, at every version any row names as a bound.
        let k = crate::knowledge::for_tests();
        let mut probes: BTreeSet<Version> = BTreeSet::new();
        for r in &k.torch.releases {
            probes.extend(bounds(&r.spec));
        }
        for b in &k.torch.builds {
            probes.extend(bounds(&b.spec));
        }
        for p in &probes {
            let variants = k.torch_variants(p);
            for cuda in &variants {
                assert!(
                    k.torch_archs(p, *cuda).is_some(),
                    "torch {p} ships {} but has no arch list",
                    cuda.tag()
                );
            }
            for b in k.torch.builds.iter().filter(|b| b.spec.contains(p)) {
                assert!(
                    variants.contains(&b.cuda),
                    "torch {p} has an arch list for {} but does not ship it",
                    b.cuda.tag()
                );
            }
        }
    }

    #[test]
    fn torch_arch_lists_fit_their_cuda() {
        // No wheel claims an arch its CUDA cannot compile for.
        let k = crate::knowledge::for_tests();
        for b in &k.torch.builds {
            if let Some(r) = k.cuda_arch_range(b.cuda) {
                for s in b.archs.sass.iter().chain(b.archs.ptx.iter()) {
                    assert!(
                        r.min <= *s && *s <= r.max,
                        "{} lists {s} outside CUDA {}'s {}..{}",
                        b.cuda.tag(),
                        b.cuda,
                        r.min,
                        r.max
                    );
                }
            }
        }
    }
}
