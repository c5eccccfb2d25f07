//! bitsandbytes' native libraries (`bitsandbytes.toml`): the CUDA versions each release ships a
//! `libbitsandbytes_cudaXY.so` for, the architectures each library is compiled for, how one is
//! chosen at import, and the compute capability floor of each feature.

use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use serde::Deserialize;
use toml::Spanned;

use super::table::Table;
use super::{Knowledge, KnowledgeError};
use crate::model::units::{ComputeCapability, CudaVersion};
use crate::model::Sourced;

pub(super) const FILE: &str = "bitsandbytes.toml";

/// bitsandbytes' compute capability floors per feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BnbFloors {
    /// NF4/FP4 (QLoRA 4-bit) quantization.
    pub nf4: ComputeCapability,
    /// 8-bit optimizers.
    pub optim_8bit: ComputeCapability,
    /// LLM.int8() with int8 tensor cores.
    pub llm_int8_tensor_cores: ComputeCapability,
    pub source: String,
}

// ------------------------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BnbFile {
    schema: Spanned<u32>,
    latest_known: Spanned<String>,
    library_pattern: Spanned<String>,
    library_source: Spanned<String>,
    override_env: String,
    selection_rule: String,
    selection_source: Spanned<String>,
    fallback_since: Spanned<String>,
    builds: Vec<Spanned<BuildsRow>>,
    archs: Vec<Spanned<ArchRow>>,
    floors: Spanned<FloorsRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildsRow {
    bnb: String,
    cuda: Vec<CudaVersion>,
    source: String,
    #[serde(default)]
    unsure: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchRow {
    bnb: String,
    cuda_from: CudaVersion,
    cuda_to: CudaVersion,
    min: ComputeCapability,
    max: ComputeCapability,
    source: String,
    #[serde(default)]
    unsure: bool,
    #[serde(default)]
    #[allow(dead_code)] // documentation for readers of the table
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FloorsRow {
    nf4: ComputeCapability,
    optim_8bit: ComputeCapability,
    llm_int8_tensor_cores: ComputeCapability,
    source: String,
}

// ------------------------------------------------------------------------------------------
// The checked table.

#[derive(Debug, Clone)]
struct Builds {
    spec: VersionSpecifiers,
    cuda: Vec<CudaVersion>,
    source: String,
    unsure: bool,
}

#[derive(Debug, Clone)]
struct Archs {
    spec: VersionSpecifiers,
    from: CudaVersion,
    to: CudaVersion,
    min: ComputeCapability,
    max: ComputeCapability,
    source: String,
    unsure: bool,
}

#[derive(Debug, Clone)]
pub(super) struct BnbTables {
    latest: Version,
    pattern: Sourced<String>,
    override_env: String,
    rule: Sourced<String>,
    fallback_since: Version,
    builds: Vec<Builds>,
    archs: Vec<Archs>,
    floors: BnbFloors,
}

impl BnbTables {
    pub(super) fn parse(t: Table<'_>) -> Result<BnbTables, KnowledgeError> {
        let f: BnbFile = t.parse()?;
        t.check_schema(&f.schema)?;
        if !f.library_pattern.get_ref().contains("{MAJOR}{MINOR}") {
            return Err(t.invalid(
                Some(f.library_pattern.span()),
                "`library_pattern` must contain {MAJOR}{MINOR}",
            ));
        }
        t.check_source(
            f.library_source.span(),
            "library_pattern",
            f.library_source.get_ref(),
        )?;
        t.check_source(
            f.selection_source.span(),
            "selection_rule",
            f.selection_source.get_ref(),
        )?;
        t.check_source(f.floors.span(), "floors", &f.floors.get_ref().source)?;
        let builds = f
            .builds
            .into_iter()
            .map(|row| {
                let span = row.span();
                let b = row.into_inner();
                t.check_source(span.clone(), &b.bnb, &b.source)?;
                Ok(Builds {
                    spec: t.spec(span, &b.bnb)?,
                    cuda: b.cuda,
                    source: b.source,
                    unsure: b.unsure,
                })
            })
            .collect::<Result<Vec<_>, KnowledgeError>>()?;
        let archs = f
            .archs
            .into_iter()
            .map(|row| parse_archs(t, row))
            .collect::<Result<Vec<_>, KnowledgeError>>()?;
        let latest = t.version(f.latest_known.span(), f.latest_known.get_ref())?;
        if !builds.iter().any(|b| b.spec.contains(&latest)) {
            return Err(t.invalid(
                Some(f.latest_known.span()),
                format!("latest_known {latest} is in no [[builds]] row"),
            ));
        }
        let floors = f.floors.into_inner();
        Ok(BnbTables {
            latest,
            pattern: Sourced::new(
                f.library_pattern.into_inner(),
                f.library_source.into_inner(),
            ),
            override_env: f.override_env,
            rule: Sourced::new(f.selection_rule, f.selection_source.into_inner()),
            fallback_since: t.version(f.fallback_since.span(), f.fallback_since.get_ref())?,
            builds,
            archs,
            floors: BnbFloors {
                nf4: floors.nf4,
                optim_8bit: floors.optim_8bit,
                llm_int8_tensor_cores: floors.llm_int8_tensor_cores,
                source: floors.source,
            },
        })
    }
}

fn parse_archs(t: Table<'_>, row: Spanned<ArchRow>) -> Result<Archs, KnowledgeError> {
    let span = row.span();
    let a = row.into_inner();
    let name = format!("archs {} {}..{}", a.bnb, a.cuda_from, a.cuda_to);
    t.check_source(span.clone(), &name, &a.source)?;
    if a.cuda_from > a.cuda_to || a.min > a.max {
        return Err(t.invalid(Some(span), format!("{name}: empty range")));
    }
    Ok(Archs {
        spec: t.spec(span, &a.bnb)?,
        from: a.cuda_from,
        to: a.cuda_to,
        min: a.min,
        max: a.max,
        source: a.source,
        unsure: a.unsure,
    })
}

// ------------------------------------------------------------------------------------------
// Queries.

impl Knowledge {
    /// bitsandbytes' library choice for torch's CUDA among the CUDA versions whose `.so` files
    /// are present (the rule since bitsandbytes 0.50): the exact version, else the highest lower
    /// minor of the same major, else the lowest higher minor of the same major; never across
    /// majors.
    pub fn bnb_select(
        &self,
        torch_cuda: CudaVersion,
        available: &[CudaVersion],
    ) -> Option<CudaVersion> {
        if available.contains(&torch_cuda) {
            return Some(torch_cuda);
        }
        let same_major = available.iter().filter(|c| c.major == torch_cuda.major);
        let lower = same_major
            .clone()
            .filter(|c| c.minor < torch_cuda.minor)
            .max();
        lower
            .or_else(|| same_major.filter(|c| c.minor > torch_cuda.minor).min())
            .copied()
    }

    /// [`Knowledge::bnb_select`] for a given bitsandbytes release: before the same-major
    /// fallback existed (0.50), only an exact match loads.
    pub fn bnb_select_for(
        &self,
        bnb: &Version,
        torch_cuda: CudaVersion,
        available: &[CudaVersion],
    ) -> Option<CudaVersion> {
        if bnb.only_release() < self.bnb.fallback_since {
            available.contains(&torch_cuda).then_some(torch_cuda)
        } else {
            self.bnb_select(torch_cuda, available)
        }
    }

    /// The arch range (lowest, highest) compiled into the latest known bitsandbytes release's
    /// library for a CUDA version.
    pub fn bnb_archs(&self, build: CudaVersion) -> Option<(ComputeCapability, ComputeCapability)> {
        self.bnb_archs_for(&self.bnb.latest, build).map(|s| s.value)
    }

    /// The arch range of a given bitsandbytes release's library for a CUDA version (the range
    /// its build script uses for that CUDA version, whether or not the release ships it; see
    /// [`Knowledge::bnb_builds`]).
    pub fn bnb_archs_for(
        &self,
        bnb: &Version,
        build: CudaVersion,
    ) -> Option<Sourced<(ComputeCapability, ComputeCapability)>> {
        let v = bnb.only_release();
        self.bnb
            .archs
            .iter()
            .find(|a| a.spec.contains(&v) && a.from <= build && build <= a.to)
            .map(|a| Sourced {
                value: (a.min, a.max),
                source: a.source.clone(),
                unsure: a.unsure,
            })
    }

    /// The CUDA versions a bitsandbytes release ships a native library for.
    pub fn bnb_builds(&self, bnb: &Version) -> Option<Sourced<Vec<CudaVersion>>> {
        let v = bnb.only_release();
        self.bnb
            .builds
            .iter()
            .find(|b| b.spec.contains(&v))
            .map(|b| Sourced {
                value: b.cuda.clone(),
                source: b.source.clone(),
                unsure: b.unsure,
            })
    }

    /// The newest bitsandbytes release the tables describe.
    pub fn bnb_latest_known(&self) -> &Version {
        &self.bnb.latest
    }

    /// The native library's file name for a CUDA version (`libbitsandbytes_cuda124.so`).
    pub fn bnb_library_name(&self, cuda: CudaVersion) -> String {
        self.bnb
            .pattern
            .value
            .replace("{MAJOR}", &cuda.major.to_string())
            .replace("{MINOR}", &cuda.minor.to_string())
    }

    /// The CUDA version a native library file name is for (`libbitsandbytes_cuda124.so` ->
    /// 12.4); None for the CPU/ROCm libraries and other names.
    pub fn bnb_library_cuda(&self, file_name: &str) -> Option<CudaVersion> {
        let (prefix, suffix) = self.bnb.pattern.value.split_once("{MAJOR}{MINOR}")?;
        let digits = file_name.strip_prefix(prefix)?.strip_suffix(suffix)?;
        if digits.len() < 3 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        CudaVersion::from_str(digits).ok()
    }

    /// The CUDA versions of the native libraries among `libs` (file names found in an installed
    /// bitsandbytes), sorted and without repeats. Lenient where [`Knowledge::bnb_library_cuda`]
    /// is exact: the digits after the pattern's prefix count whatever follows them
    /// (`libbitsandbytes_cuda124_nocublaslt.so` is a CUDA 12.4 library).
    pub fn bnb_cuda_versions(&self, libs: &[String]) -> Vec<CudaVersion> {
        let prefix = self
            .bnb
            .pattern
            .value
            .split_once("{MAJOR}{MINOR}")
            .map(|(p, _)| p)
            .unwrap_or_default();
        let mut out: Vec<CudaVersion> = libs
            .iter()
            .filter_map(|l| {
                let rest = l.strip_prefix(prefix)?;
                let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                digits.parse::<CudaVersion>().ok()
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The library file name pattern, with its source.
    pub fn bnb_library_pattern(&self) -> &Sourced<String> {
        &self.bnb.pattern
    }

    /// The environment variable that forces bitsandbytes' library choice.
    pub fn bnb_override_env(&self) -> &str {
        &self.bnb.override_env
    }

    /// The selection rule in words, with its source.
    pub fn bnb_selection_rule(&self) -> &Sourced<String> {
        &self.bnb.rule
    }

    /// Compute capability floors of bitsandbytes' features.
    pub fn bnb_floors(&self) -> &BnbFloors {
        &self.bnb.floors
    }
}
