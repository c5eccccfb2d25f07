//! Public facts about the GPU software world, as data, and pure queries over them.
//!
//! # Why these are data
//!
//! Which driver a CUDA toolkit needs, which GPU architectures a PyTorch wheel or a bitsandbytes
//! library was compiled for, which compute capability a precision needs: none of this can be
//! derived, and all of it changes with every NVIDIA, PyTorch and bitsandbytes release. So each
//! fact is a row in a TOML table under `matrices/knowledge/`, with the public document it comes
//! from beside it (`source`, with a URL where one is known) and `unsure = true` where the row is
//! sourced but not confirmed. Updating compat for a new release means editing a table and its
//! source, not code; a reviewer checks a row against the document it names.
//!
//! | table | what | primary source |
//! |---|---|---|
//! | `cuda-toolkit-driver.toml` | toolkit release -> minimum Linux driver | NVIDIA CUDA Toolkit Release Notes, Table 3 |
//! | `minor-version-compat.toml` | CUDA major -> minor-compat driver floor, caveat | NVIDIA CUDA Compatibility guide |
//! | `torch-wheels.toml` | torch release -> CUDA variants; (release, variant) -> SASS/PTX archs | pytorch `.ci/manywheel/build_cuda.sh` (pytorch/builder before), `RELEASE.md`, pytorch issues/PRs |
//! | `cuda-arch-support.toml` | CUDA release -> lowest/highest targetable arch | NVIDIA release notes (deprecated architectures) |
//! | `precision.toml` | compute capability thresholds for fp16/bf16/int8/fp8 | DeepSpeed, torch, bitsandbytes, ATen checks |
//! | `bitsandbytes.toml` | shipped CUDA libraries, their archs, selection rule, floors | bitsandbytes build-cuda.sh, cextension.py, issues/PRs |
//! | `gpus.toml` | GPU name -> compute capability | NVIDIA "CUDA GPUs" page |
//!
//! The tables are embedded with `include_str!` and parsed once ([`Knowledge::builtin`]). A
//! malformed embedded table is a bug, caught by the `builtin_tables_are_valid` unit test;
//! [`Knowledge::load`] returns it as an error, and only [`Knowledge::builtin`] panics on it.
//!
//! # Architecture rules used here
//!
//! A cubin (SASS) for `sm_XY` runs on GPUs with the same major `X` and a minor `>= Y` (sm_80
//! runs on 8.6 and 8.9; sm_86 does not run on 8.0; nothing runs across majors). PTX for
//! `compute_XY` is JIT-compiled by the driver for any GPU with compute capability `>= X.Y`
//! (provided the driver is at least as new as the toolkit that wrote the PTX).

mod raw;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::OnceLock;

use pep440_rs::{Version, VersionSpecifiers};

use crate::model::units::{ComputeCapability, CudaVersion, DriverVersion};
use crate::model::Sourced;

/// The raw text of the seven knowledge tables. [`Tables::EMBEDDED`] is the copy built into the
/// binary; tests build others to check that bad tables are refused.
#[derive(Debug, Clone, Copy)]
pub struct Tables<'a> {
    pub cuda_toolkit_driver: &'a str,
    pub minor_version_compat: &'a str,
    pub torch_wheels: &'a str,
    pub cuda_arch_support: &'a str,
    pub precision: &'a str,
    pub bitsandbytes: &'a str,
    pub gpus: &'a str,
}

impl Tables<'static> {
    pub const EMBEDDED: Tables<'static> = Tables {
        cuda_toolkit_driver: include_str!("../../matrices/knowledge/cuda-toolkit-driver.toml"),
        minor_version_compat: include_str!("../../matrices/knowledge/minor-version-compat.toml"),
        torch_wheels: include_str!("../../matrices/knowledge/torch-wheels.toml"),
        cuda_arch_support: include_str!("../../matrices/knowledge/cuda-arch-support.toml"),
        precision: include_str!("../../matrices/knowledge/precision.toml"),
        bitsandbytes: include_str!("../../matrices/knowledge/bitsandbytes.toml"),
        gpus: include_str!("../../matrices/knowledge/gpus.toml"),
    };
}

/// A knowledge table that does not parse or does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("matrices/knowledge/{file}: {message}")]
pub struct KnowledgeError {
    pub file: &'static str,
    pub message: String,
}

fn invalid(file: &'static str, message: impl Into<String>) -> KnowledgeError {
    KnowledgeError {
        file,
        message: message.into(),
    }
}

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

/// Whether a driver can run an application built with a given CUDA release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverSupport {
    /// The driver is at least the toolkit's own driver: everything works.
    Full,
    /// Same major, below the toolkit driver but at or above the major's minor-version floor:
    /// runs with the limits in `caveat`.
    MinorCompat { caveat: String },
    /// The driver is too old; `needs` is the lowest driver that would run it (the minor-compat
    /// floor where the major has one, else the toolkit driver).
    No { needs: DriverVersion },
}

/// What a GPU's compute capability allows, per the gate each library applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precision {
    /// fp16 is supported (>= 7.0).
    pub fp16: bool,
    /// fp16 works but is deprecated (6.x: DeepSpeed refuses it unless DS_ALLOW_DEPRECATED_FP16=1).
    pub fp16_deprecated: bool,
    /// bf16 in hardware (>= 8.0); below, torch emulates it (slowly).
    pub bf16_native: bool,
    /// int8 tensor-core matmul (IMMA, >= 7.5).
    pub int8_tensor_cores: bool,
    /// fp8 matmul (`torch._scaled_mm`: 8.9 or >= 9.0).
    pub fp8: bool,
    pub sources: PrecisionSources,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrecisionSources {
    pub fp16: String,
    pub bf16_native: String,
    pub int8_tensor_cores: String,
    pub fp8: String,
}

/// The compute capability range a CUDA release can compile for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaArchRange {
    pub min: ComputeCapability,
    pub max: ComputeCapability,
    /// Archs below this still compile but are deprecated by this release.
    pub deprecated_below: Option<ComputeCapability>,
    pub source: String,
    pub unsure: bool,
}

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
// The checked tables.

#[derive(Debug, Clone)]
struct Toolkit {
    release: (u32, u32, u32),
    label: String,
    driver: DriverVersion,
    source: String,
    unsure: bool,
}

#[derive(Debug, Clone)]
struct MinorFloor {
    floor: DriverVersion,
    source: String,
    unsure: bool,
}

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
struct ArchRange {
    from: CudaVersion,
    to: CudaVersion,
    range: CudaArchRange,
}

#[derive(Debug, Clone)]
struct Threshold {
    min: ComputeCapability,
    deprecated_min: Option<ComputeCapability>,
    also: Vec<ComputeCapability>,
    source: String,
}

impl Threshold {
    fn admits(&self, cc: ComputeCapability) -> bool {
        cc >= self.min || self.also.contains(&cc)
    }
}

#[derive(Debug, Clone)]
struct BnbBuilds {
    spec: VersionSpecifiers,
    cuda: Vec<CudaVersion>,
    source: String,
    unsure: bool,
}

#[derive(Debug, Clone)]
struct BnbArchs {
    spec: VersionSpecifiers,
    from: CudaVersion,
    to: CudaVersion,
    min: ComputeCapability,
    max: ComputeCapability,
    source: String,
    unsure: bool,
}

#[derive(Debug, Clone)]
struct Gpu {
    name: String,
    keys: Vec<String>,
    cc: ComputeCapability,
    source: String,
    unsure: bool,
}

/// All the knowledge tables, parsed and checked.
#[derive(Debug, Clone)]
pub struct Knowledge {
    toolkits: Vec<Toolkit>,
    newest_cuda: CudaVersion,
    floors: BTreeMap<u32, MinorFloor>,
    minor_caveat: Sourced<String>,
    torch_releases: Vec<TorchRelease>,
    torch_builds: Vec<TorchBuild>,
    arch_ranges: Vec<ArchRange>,
    fp16: Threshold,
    bf16: Threshold,
    int8: Threshold,
    fp8: Threshold,
    bnb_latest: Version,
    bnb_pattern: Sourced<String>,
    bnb_override_env: String,
    bnb_rule: Sourced<String>,
    bnb_fallback_since: Version,
    bnb_builds: Vec<BnbBuilds>,
    bnb_archs: Vec<BnbArchs>,
    bnb_floors: BnbFloors,
    gpus: Vec<Gpu>,
}

static BUILTIN: OnceLock<Knowledge> = OnceLock::new();

/// The embedded tables, parsed once ([`Knowledge::builtin`]).
pub fn builtin() -> &'static Knowledge {
    Knowledge::builtin()
}

impl Knowledge {
    /// Parse and check the embedded tables.
    pub fn load() -> Result<Knowledge, KnowledgeError> {
        Knowledge::from_tables(&Tables::EMBEDDED)
    }

    /// The embedded tables, parsed once. Panics only if the embedded data is invalid, which the
    /// `builtin_tables_are_valid` test rules out for every build that passed its tests.
    pub fn builtin() -> &'static Knowledge {
        BUILTIN.get_or_init(|| match Knowledge::load() {
            Ok(k) => k,
            Err(e) => panic!("compat's embedded knowledge tables are invalid (a bug): {e}"),
        })
    }

    /// Parse and check a set of tables.
    pub fn from_tables(t: &Tables<'_>) -> Result<Knowledge, KnowledgeError> {
        let (toolkits, (floors, minor_caveat)) = (
            parse_toolkits(t.cuda_toolkit_driver)?,
            parse_minor(t.minor_version_compat)?,
        );
        let (torch_releases, torch_builds) = parse_torch(t.torch_wheels)?;
        let arch_ranges = parse_arch_ranges(t.cuda_arch_support)?;
        let (fp16, bf16, int8, fp8) = parse_precision(t.precision)?;
        let bnb = parse_bnb(t.bitsandbytes)?;
        let gpus = parse_gpus(t.gpus)?;
        let newest_cuda = toolkits
            .iter()
            .map(|tk| CudaVersion::new(tk.release.0, tk.release.1))
            .max()
            .ok_or_else(|| invalid(TOOLKIT_FILE, "no [[toolkit]] rows"))?;
        Ok(Knowledge {
            toolkits,
            newest_cuda,
            floors,
            minor_caveat,
            torch_releases,
            torch_builds,
            arch_ranges,
            fp16,
            bf16,
            int8,
            fp8,
            bnb_latest: bnb.latest,
            bnb_pattern: bnb.pattern,
            bnb_override_env: bnb.override_env,
            bnb_rule: bnb.rule,
            bnb_fallback_since: bnb.fallback_since,
            bnb_builds: bnb.builds,
            bnb_archs: bnb.archs,
            bnb_floors: bnb.floors,
            gpus,
        })
    }

    // --------------------------------------------------------------------------------------
    // CUDA toolkit and driver.

    /// Minimum driver for a CUDA toolkit release: for `major.minor`, the driver of that
    /// major.minor's first (GA) release. See [`Knowledge::toolkit_release_min_driver`] for an
    /// exact `12.4.1` lookup.
    pub fn toolkit_min_driver(&self, cuda: CudaVersion) -> Option<Sourced<DriverVersion>> {
        self.ga(cuda).map(Toolkit::sourced)
    }

    /// Minimum driver for an exact toolkit release (`"12.4.1"`; `"12.4"` means the GA release).
    pub fn toolkit_release_min_driver(&self, release: &str) -> Option<Sourced<DriverVersion>> {
        let parts: Vec<&str> = release.trim().split('.').collect();
        match parts.as_slice() {
            [_, _] => self.toolkit_min_driver(CudaVersion::from_str(release).ok()?),
            [_, _, _] => {
                let r = parse_release(release).ok()?;
                self.toolkits
                    .iter()
                    .find(|t| t.release == r)
                    .map(Toolkit::sourced)
            }
            _ => None,
        }
    }

    /// The newest CUDA major.minor in the toolkit table (what "the newest CUDA" means to compat).
    pub fn newest_cuda(&self) -> CudaVersion {
        self.newest_cuda
    }

    /// NVIDIA's name for a toolkit release (`"CUDA 12.4 Update 1"`).
    pub fn toolkit_label(&self, release: &str) -> Option<&str> {
        let r = parse_release(release).ok()?;
        self.toolkits
            .iter()
            .find(|t| t.release == r)
            .map(|t| t.label.as_str())
    }

    /// Every known toolkit release of a major.minor, oldest first, as `x.y.z` strings.
    pub fn toolkit_releases(&self, cuda: CudaVersion) -> Vec<String> {
        let mut v: Vec<&Toolkit> = self
            .toolkits
            .iter()
            .filter(|t| t.release.0 == cuda.major && t.release.1 == cuda.minor)
            .collect();
        v.sort_by_key(|t| t.release);
        v.iter()
            .map(|t| format!("{}.{}.{}", t.release.0, t.release.1, t.release.2))
            .collect()
    }

    /// Minor-version-compatibility floor for a CUDA major (11, 12, 13).
    pub fn minor_compat_floor(&self, major: u32) -> Option<Sourced<DriverVersion>> {
        self.floors.get(&major).map(|f| Sourced {
            value: f.floor.clone(),
            source: f.source.clone(),
            unsure: f.unsure,
        })
    }

    /// The limits every minor-compat verdict carries (PTX JIT, newer-driver features).
    pub fn minor_compat_caveat(&self) -> &Sourced<String> {
        &self.minor_caveat
    }

    /// The highest CUDA major.minor whose toolkit (GA) driver is at or below `driver`: what the
    /// driver fully supports per the toolkit table.
    pub fn max_cuda_for_driver(&self, driver: &DriverVersion) -> Option<CudaVersion> {
        self.ga_releases()
            .into_iter()
            .filter(|t| t.driver <= *driver)
            .map(|t| CudaVersion::new(t.release.0, t.release.1))
            .max()
    }

    /// Whether `driver` can run an application built with `cuda`: `Full` at or above the
    /// toolkit's driver; `MinorCompat` (with the caveat) when the same major's minor-version
    /// floor is met; `No` with the floor (or, before CUDA 11, the toolkit driver) otherwise.
    ///
    /// A CUDA release the tables do not know (a future major, a minor that does not exist)
    /// cannot be judged: it comes back as `MinorCompat` whose caveat says it is unverified
    /// (`None` from [`Knowledge::driver_runs_known`]).
    pub fn driver_runs(&self, driver: &DriverVersion, cuda: CudaVersion) -> DriverSupport {
        let floor = self.floors.get(&cuda.major);
        let toolkit = self.ga(cuda);
        if let Some(tk) = toolkit {
            if *driver >= tk.driver {
                return DriverSupport::Full;
            }
        }
        match (toolkit, floor) {
            (_, Some(f)) if *driver < f.floor => DriverSupport::No {
                needs: f.floor.clone(),
            },
            (Some(tk), Some(f)) => DriverSupport::MinorCompat {
                caveat: format!(
                    "CUDA {cuda} wants driver {} for full support; driver {driver} is below it but \
                     meets the CUDA {}.x minor-version floor {}. {}",
                    tk.driver, cuda.major, f.floor, self.minor_caveat.value
                ),
            },
            (None, Some(f)) => DriverSupport::MinorCompat {
                caveat: format!(
                    "CUDA {cuda} is not in compat's toolkit table, so its own driver is unknown; \
                     driver {driver} meets the CUDA {}.x minor-version floor {}. {}",
                    cuda.major, f.floor, self.minor_caveat.value
                ),
            },
            (Some(tk), None) => DriverSupport::No {
                needs: tk.driver.clone(),
            },
            (None, None) => DriverSupport::MinorCompat {
                caveat: format!(
                    "compat's tables do not know CUDA {cuda} (neither its toolkit driver nor a \
                     CUDA {}.x minor-version floor), so whether driver {driver} runs it is \
                     unverified",
                    cuda.major
                ),
            },
        }
    }

    /// [`Knowledge::driver_runs`], or None when the tables know neither the CUDA release's
    /// toolkit driver nor its major's minor-version floor.
    pub fn driver_runs_known(
        &self,
        driver: &DriverVersion,
        cuda: CudaVersion,
    ) -> Option<DriverSupport> {
        (self.ga(cuda).is_some() || self.floors.contains_key(&cuda.major))
            .then(|| self.driver_runs(driver, cuda))
    }

    fn ga(&self, cuda: CudaVersion) -> Option<&Toolkit> {
        self.toolkits
            .iter()
            .filter(|t| t.release.0 == cuda.major && t.release.1 == cuda.minor)
            .min_by_key(|t| t.release.2)
    }

    fn ga_releases(&self) -> Vec<&Toolkit> {
        let mut by_minor: BTreeMap<(u32, u32), &Toolkit> = BTreeMap::new();
        for t in &self.toolkits {
            let e = by_minor.entry((t.release.0, t.release.1)).or_insert(t);
            if t.release.2 < e.release.2 {
                *e = t;
            }
        }
        by_minor.into_values().collect()
    }

    // --------------------------------------------------------------------------------------
    // PyTorch wheels.

    /// torch's compiled architectures for a torch version and CUDA variant (None when unknown).
    /// Matched on the release part of the version (`2.4.1+cu124` -> `2.4.1`).
    pub fn torch_archs(&self, torch: &Version, cuda: CudaVersion) -> Option<ArchList> {
        let v = torch.only_release();
        self.torch_builds
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
        self.torch_releases
            .iter()
            .find(|r| r.spec.contains(&v))
            .map(|r| Sourced {
                value: r.variants.clone(),
                source: r.source.clone(),
                unsure: r.unsure,
            })
    }

    // --------------------------------------------------------------------------------------
    // CUDA architecture support.

    /// Whether a CUDA release can compile for a compute capability (between its lowest and
    /// highest target; None when the release is not in the table). A GPU above `max` of the
    /// same major can still run the highest cubin of its major, see [`ArchList::runs_on`].
    pub fn cuda_supports_arch(&self, cuda: CudaVersion, cc: ComputeCapability) -> Option<bool> {
        self.cuda_arch_range(cuda)
            .map(|r| r.min <= cc && cc <= r.max)
    }

    /// The compute capability range a CUDA release compiles for.
    pub fn cuda_arch_range(&self, cuda: CudaVersion) -> Option<CudaArchRange> {
        self.arch_ranges
            .iter()
            .find(|r| r.from <= cuda && cuda <= r.to)
            .map(|r| r.range.clone())
    }

    // --------------------------------------------------------------------------------------
    // Precision.

    /// What a compute capability allows.
    pub fn precision(&self, cc: ComputeCapability) -> Precision {
        let fp16 = self.fp16.admits(cc);
        Precision {
            fp16,
            fp16_deprecated: !fp16 && self.fp16.deprecated_min.is_some_and(|d| cc >= d),
            bf16_native: self.bf16.admits(cc),
            int8_tensor_cores: self.int8.admits(cc),
            fp8: self.fp8.admits(cc),
            sources: PrecisionSources {
                fp16: self.fp16.source.clone(),
                bf16_native: self.bf16.source.clone(),
                int8_tensor_cores: self.int8.source.clone(),
                fp8: self.fp8.source.clone(),
            },
        }
    }

    // --------------------------------------------------------------------------------------
    // bitsandbytes.

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
        if bnb.only_release() < self.bnb_fallback_since {
            available.contains(&torch_cuda).then_some(torch_cuda)
        } else {
            self.bnb_select(torch_cuda, available)
        }
    }

    /// The arch range (lowest, highest) compiled into the latest known bitsandbytes release's
    /// library for a CUDA version.
    pub fn bnb_archs(&self, build: CudaVersion) -> Option<(ComputeCapability, ComputeCapability)> {
        self.bnb_archs_for(&self.bnb_latest, build).map(|s| s.value)
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
        self.bnb_archs
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
        self.bnb_builds
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
        &self.bnb_latest
    }

    /// The native library's file name for a CUDA version (`libbitsandbytes_cuda124.so`).
    pub fn bnb_library_name(&self, cuda: CudaVersion) -> String {
        self.bnb_pattern
            .value
            .replace("{MAJOR}", &cuda.major.to_string())
            .replace("{MINOR}", &cuda.minor.to_string())
    }

    /// The CUDA version a native library file name is for (`libbitsandbytes_cuda124.so` ->
    /// 12.4); None for the CPU/ROCm libraries and other names.
    pub fn bnb_library_cuda(&self, file_name: &str) -> Option<CudaVersion> {
        let (prefix, suffix) = self.bnb_pattern.value.split_once("{MAJOR}{MINOR}")?;
        let digits = file_name.strip_prefix(prefix)?.strip_suffix(suffix)?;
        if digits.len() < 3 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        CudaVersion::from_str(digits).ok()
    }

    /// The library file name pattern, with its source.
    pub fn bnb_library_pattern(&self) -> &Sourced<String> {
        &self.bnb_pattern
    }

    /// The environment variable that forces bitsandbytes' library choice.
    pub fn bnb_override_env(&self) -> &str {
        &self.bnb_override_env
    }

    /// The selection rule in words, with its source.
    pub fn bnb_selection_rule(&self) -> &Sourced<String> {
        &self.bnb_rule
    }

    /// Compute capability floors of bitsandbytes' features.
    pub fn bnb_floors(&self) -> &BnbFloors {
        &self.bnb_floors
    }

    // --------------------------------------------------------------------------------------
    // GPUs.

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
        for g in &self.gpus {
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

impl Toolkit {
    fn sourced(&self) -> Sourced<DriverVersion> {
        Sourced {
            value: self.driver.clone(),
            source: self.source.clone(),
            unsure: self.unsure,
        }
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

// ------------------------------------------------------------------------------------------
// Parsing and checking.

const TOOLKIT_FILE: &str = "cuda-toolkit-driver.toml";
const MINOR_FILE: &str = "minor-version-compat.toml";
const TORCH_FILE: &str = "torch-wheels.toml";
const ARCH_FILE: &str = "cuda-arch-support.toml";
const PRECISION_FILE: &str = "precision.toml";
const BNB_FILE: &str = "bitsandbytes.toml";
const GPU_FILE: &str = "gpus.toml";

fn parse_file<T: serde::de::DeserializeOwned>(
    file: &'static str,
    text: &str,
) -> Result<T, KnowledgeError> {
    toml::from_str(text).map_err(|e| invalid(file, e.to_string()))
}

fn check_schema(file: &'static str, schema: u32) -> Result<(), KnowledgeError> {
    if schema == 1 {
        Ok(())
    } else {
        Err(invalid(file, format!("schema {schema}, expected 1")))
    }
}

fn check_source(file: &'static str, row: &str, source: &str) -> Result<(), KnowledgeError> {
    if source.trim().is_empty() {
        Err(invalid(file, format!("{row}: empty `source`")))
    } else {
        Ok(())
    }
}

fn parse_release(s: &str) -> Result<(u32, u32, u32), String> {
    let parts: Result<Vec<u32>, _> = s.trim().split('.').map(str::parse::<u32>).collect();
    match parts.as_deref() {
        Ok([a, b, c]) => Ok((*a, *b, *c)),
        _ => Err(format!("`{s}` is not a toolkit release like 12.4.1")),
    }
}

fn parse_spec(file: &'static str, s: &str) -> Result<VersionSpecifiers, KnowledgeError> {
    VersionSpecifiers::from_str(s)
        .map_err(|e| invalid(file, format!("`{s}` is not a PEP 440 specifier: {e}")))
}

fn parse_version(file: &'static str, s: &str) -> Result<Version, KnowledgeError> {
    Version::from_str(s).map_err(|e| invalid(file, format!("`{s}` is not a version: {e}")))
}

fn parse_toolkits(text: &str) -> Result<Vec<Toolkit>, KnowledgeError> {
    let f: raw::ToolkitFile = parse_file(TOOLKIT_FILE, text)?;
    check_schema(TOOLKIT_FILE, f.schema)?;
    let mut out: Vec<Toolkit> = Vec::new();
    let mut seen = BTreeSet::new();
    for r in f.toolkit {
        let release = parse_release(&r.release).map_err(|e| invalid(TOOLKIT_FILE, e))?;
        check_source(TOOLKIT_FILE, &r.release, &r.source)?;
        if !seen.insert(release) {
            return Err(invalid(TOOLKIT_FILE, format!("{} listed twice", r.release)));
        }
        out.push(Toolkit {
            release,
            label: r.label,
            driver: r.linux_x86_64,
            source: r.source,
            unsure: r.unsure,
        });
    }
    if out.is_empty() {
        return Err(invalid(TOOLKIT_FILE, "no [[toolkit]] rows"));
    }
    // A newer toolkit never needs an older driver: catches a typo in either column.
    let mut sorted: Vec<&Toolkit> = out.iter().collect();
    sorted.sort_by_key(|t| t.release);
    for w in sorted.windows(2) {
        if w[1].driver < w[0].driver {
            return Err(invalid(
                TOOLKIT_FILE,
                format!(
                    "{:?} needs driver {} but the older {:?} needs {}",
                    w[1].release, w[1].driver, w[0].release, w[0].driver
                ),
            ));
        }
    }
    Ok(out)
}

fn parse_minor(text: &str) -> Result<(BTreeMap<u32, MinorFloor>, Sourced<String>), KnowledgeError> {
    let f: raw::MinorCompatFile = parse_file(MINOR_FILE, text)?;
    check_schema(MINOR_FILE, f.schema)?;
    check_source(MINOR_FILE, "caveat", &f.caveat_source)?;
    if f.caveat.trim().is_empty() {
        return Err(invalid(MINOR_FILE, "empty `caveat`"));
    }
    let mut floors = BTreeMap::new();
    for r in f.floor {
        check_source(MINOR_FILE, &format!("major {}", r.major), &r.source)?;
        let row = MinorFloor {
            floor: r.floor,
            source: r.source,
            unsure: r.unsure,
        };
        if floors.insert(r.major, row).is_some() {
            return Err(invalid(
                MINOR_FILE,
                format!("major {} listed twice", r.major),
            ));
        }
    }
    Ok((
        floors,
        Sourced {
            value: f.caveat,
            source: f.caveat_source,
            unsure: false,
        },
    ))
}

/// The versions a specifier set names (its bounds), as release-only versions.
fn bounds(spec: &VersionSpecifiers) -> Vec<Version> {
    spec.iter().map(|s| s.version().only_release()).collect()
}

fn parse_torch(text: &str) -> Result<(Vec<TorchRelease>, Vec<TorchBuild>), KnowledgeError> {
    let f: raw::TorchFile = parse_file(TORCH_FILE, text)?;
    check_schema(TORCH_FILE, f.schema)?;
    let mut releases = Vec::new();
    for r in f.release {
        check_source(TORCH_FILE, &r.torch, &r.source)?;
        if r.variants.is_empty() {
            return Err(invalid(
                TORCH_FILE,
                format!("release {}: no variants", r.torch),
            ));
        }
        releases.push(TorchRelease {
            spec: parse_spec(TORCH_FILE, &r.torch)?,
            variants: r.variants,
            source: r.source,
            unsure: r.unsure,
        });
    }
    let mut builds = Vec::new();
    for b in f.build {
        let row = format!("build {} {}", b.torch, b.cuda.tag());
        check_source(TORCH_FILE, &row, &b.source)?;
        if b.sass.is_empty() || b.sass.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid(
                TORCH_FILE,
                format!("{row}: `sass` must be non-empty and strictly ascending"),
            ));
        }
        builds.push(TorchBuild {
            spec: parse_spec(TORCH_FILE, &b.torch)?,
            cuda: b.cuda,
            archs: ArchList {
                sass: b.sass,
                ptx: b.ptx,
                source: b.source,
                unsure: b.unsure,
            },
        });
    }
    // No torch version may fall in two rows (of the same variant, for builds): checked at every
    // bound any row names, which is where overlapping ranges meet.
    let mut probes: BTreeSet<Version> = BTreeSet::new();
    for r in &releases {
        probes.extend(bounds(&r.spec));
    }
    for b in &builds {
        probes.extend(bounds(&b.spec));
    }
    for v in &probes {
        let n = releases.iter().filter(|r| r.spec.contains(v)).count();
        if n > 1 {
            return Err(invalid(
                TORCH_FILE,
                format!("torch {v} is in {n} [[release]] rows"),
            ));
        }
        let mut per_variant: BTreeMap<CudaVersion, usize> = BTreeMap::new();
        for b in builds.iter().filter(|b| b.spec.contains(v)) {
            *per_variant.entry(b.cuda).or_default() += 1;
        }
        if let Some((c, n)) = per_variant.into_iter().find(|(_, n)| *n > 1) {
            return Err(invalid(
                TORCH_FILE,
                format!("torch {v} {} is in {n} [[build]] rows", c.tag()),
            ));
        }
    }
    Ok((releases, builds))
}

fn parse_arch_ranges(text: &str) -> Result<Vec<ArchRange>, KnowledgeError> {
    let f: raw::ArchSupportFile = parse_file(ARCH_FILE, text)?;
    check_schema(ARCH_FILE, f.schema)?;
    let mut out: Vec<ArchRange> = Vec::new();
    for r in f.range {
        let row = format!("{}..{}", r.from, r.to);
        check_source(ARCH_FILE, &row, &r.source)?;
        if r.from > r.to || r.min > r.max {
            return Err(invalid(ARCH_FILE, format!("{row}: from > to or min > max")));
        }
        if let Some(o) = out.iter().find(|o| o.from <= r.to && r.from <= o.to) {
            return Err(invalid(
                ARCH_FILE,
                format!("{row} overlaps {}..{}", o.from, o.to),
            ));
        }
        out.push(ArchRange {
            from: r.from,
            to: r.to,
            range: CudaArchRange {
                min: r.min,
                max: r.max,
                deprecated_below: r.deprecated_below,
                source: r.source,
                unsure: r.unsure,
            },
        });
    }
    Ok(out)
}

fn threshold(name: &str, t: raw::Threshold) -> Result<Threshold, KnowledgeError> {
    check_source(PRECISION_FILE, name, &t.source)?;
    Ok(Threshold {
        min: t.min,
        deprecated_min: t.deprecated_min,
        also: t.also,
        source: t.source,
    })
}

fn parse_precision(
    text: &str,
) -> Result<(Threshold, Threshold, Threshold, Threshold), KnowledgeError> {
    let f: raw::PrecisionFile = parse_file(PRECISION_FILE, text)?;
    check_schema(PRECISION_FILE, f.schema)?;
    Ok((
        threshold("fp16", f.fp16)?,
        threshold("bf16_native", f.bf16_native)?,
        threshold("int8_tensor_cores", f.int8_tensor_cores)?,
        threshold("fp8", f.fp8)?,
    ))
}

struct BnbTables {
    latest: Version,
    pattern: Sourced<String>,
    override_env: String,
    rule: Sourced<String>,
    fallback_since: Version,
    builds: Vec<BnbBuilds>,
    archs: Vec<BnbArchs>,
    floors: BnbFloors,
}

fn parse_bnb(text: &str) -> Result<BnbTables, KnowledgeError> {
    let f: raw::BnbFile = parse_file(BNB_FILE, text)?;
    check_schema(BNB_FILE, f.schema)?;
    if !f.library_pattern.contains("{MAJOR}{MINOR}") {
        return Err(invalid(
            BNB_FILE,
            "`library_pattern` must contain {MAJOR}{MINOR}",
        ));
    }
    check_source(BNB_FILE, "library_pattern", &f.library_source)?;
    check_source(BNB_FILE, "selection_rule", &f.selection_source)?;
    check_source(BNB_FILE, "floors", &f.floors.source)?;
    let mut builds = Vec::new();
    for b in f.builds {
        check_source(BNB_FILE, &b.bnb, &b.source)?;
        builds.push(BnbBuilds {
            spec: parse_spec(BNB_FILE, &b.bnb)?,
            cuda: b.cuda,
            source: b.source,
            unsure: b.unsure,
        });
    }
    let mut archs = Vec::new();
    for a in f.archs {
        let row = format!("archs {} {}..{}", a.bnb, a.cuda_from, a.cuda_to);
        check_source(BNB_FILE, &row, &a.source)?;
        if a.cuda_from > a.cuda_to || a.min > a.max {
            return Err(invalid(BNB_FILE, format!("{row}: empty range")));
        }
        archs.push(BnbArchs {
            spec: parse_spec(BNB_FILE, &a.bnb)?,
            from: a.cuda_from,
            to: a.cuda_to,
            min: a.min,
            max: a.max,
            source: a.source,
            unsure: a.unsure,
        });
    }
    let latest = parse_version(BNB_FILE, &f.latest_known)?;
    if !builds.iter().any(|b| b.spec.contains(&latest)) {
        return Err(invalid(
            BNB_FILE,
            format!("latest_known {latest} is in no [[builds]] row"),
        ));
    }
    Ok(BnbTables {
        latest,
        pattern: Sourced {
            value: f.library_pattern,
            source: f.library_source,
            unsure: false,
        },
        override_env: f.override_env,
        rule: Sourced {
            value: f.selection_rule,
            source: f.selection_source,
            unsure: false,
        },
        fallback_since: parse_version(BNB_FILE, &f.fallback_since)?,
        builds,
        archs,
        floors: BnbFloors {
            nf4: f.floors.nf4,
            optim_8bit: f.floors.optim_8bit,
            llm_int8_tensor_cores: f.floors.llm_int8_tensor_cores,
            source: f.floors.source,
        },
    })
}

fn parse_gpus(text: &str) -> Result<Vec<Gpu>, KnowledgeError> {
    let f: raw::GpuFile = parse_file(GPU_FILE, text)?;
    check_schema(GPU_FILE, f.schema)?;
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for g in f.gpu {
        check_source(GPU_FILE, &g.name, &g.source)?;
        if g.keys.is_empty() || g.keys.iter().any(|k| k.trim().is_empty()) {
            return Err(invalid(GPU_FILE, format!("{}: empty `match`", g.name)));
        }
        for k in &g.keys {
            if let Some(other) = seen.insert(k.to_lowercase(), g.name.clone()) {
                return Err(invalid(
                    GPU_FILE,
                    format!("key `{k}` is in both `{other}` and `{}`", g.name),
                ));
            }
        }
        out.push(Gpu {
            name: g.name,
            keys: g.keys,
            cc: g.cc,
            source: g.source,
            unsure: g.unsure,
        });
    }
    Ok(out)
}
