//! CUDA releases: the minimum driver of every toolkit release (`cuda-toolkit-driver.toml`), the
//! minor-version-compatibility floor of every CUDA major (`minor-version-compat.toml`), the
//! architectures a release compiles for (`cuda-arch-support.toml`), and the driver-support rule
//! built on the first two ([`Knowledge::driver_runs`], [`Knowledge::driver_support`]).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use serde::Deserialize;
use toml::Spanned;

use super::table::Table;
use super::{Knowledge, KnowledgeError};
use crate::model::units::{ComputeCapability, CudaVersion, DriverVersion};
use crate::model::Sourced;

pub(super) const TOOLKIT_FILE: &str = "cuda-toolkit-driver.toml";
pub(super) const MINOR_FILE: &str = "minor-version-compat.toml";
pub(super) const ARCH_FILE: &str = "cuda-arch-support.toml";

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

// ------------------------------------------------------------------------------------------
// The files as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolkitFile {
    schema: Spanned<u32>,
    toolkit: Vec<Spanned<ToolkitRow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolkitRow {
    release: String,
    label: String,
    linux_x86_64: DriverVersion,
    source: String,
    #[serde(default)]
    unsure: bool,
    #[serde(default)]
    #[allow(dead_code)] // documentation for readers of the table
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MinorCompatFile {
    schema: Spanned<u32>,
    caveat: Spanned<String>,
    caveat_source: Spanned<String>,
    floor: Vec<Spanned<MinorFloorRow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MinorFloorRow {
    major: u32,
    floor: DriverVersion,
    /// The driver branch where NVIDIA's table ends the range (newer drivers still run it
    /// through ordinary backward compatibility).
    #[serde(default)]
    #[allow(dead_code)]
    upper: Option<String>,
    source: String,
    #[serde(default)]
    unsure: bool,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchSupportFile {
    schema: Spanned<u32>,
    range: Vec<Spanned<ArchRangeRow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchRangeRow {
    from: CudaVersion,
    to: CudaVersion,
    min: ComputeCapability,
    max: ComputeCapability,
    #[serde(default)]
    deprecated_below: Option<ComputeCapability>,
    source: String,
    #[serde(default)]
    unsure: bool,
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

impl Toolkit {
    fn sourced(&self) -> Sourced<DriverVersion> {
        Sourced {
            value: self.driver.clone(),
            source: self.source.clone(),
            unsure: self.unsure,
        }
    }
}

#[derive(Debug, Clone)]
struct MinorFloor {
    floor: DriverVersion,
    source: String,
    unsure: bool,
}

#[derive(Debug, Clone)]
struct ArchRange {
    from: CudaVersion,
    to: CudaVersion,
    range: CudaArchRange,
}

#[derive(Debug, Clone)]
pub(super) struct CudaTables {
    toolkits: Vec<Toolkit>,
    newest: CudaVersion,
    floors: BTreeMap<u32, MinorFloor>,
    minor_caveat: Sourced<String>,
    arch_ranges: Vec<ArchRange>,
}

/// `12.4.1` -> `(12, 4, 1)`.
fn parse_release(s: &str) -> Option<(u32, u32, u32)> {
    let parts: Result<Vec<u32>, _> = s.trim().split('.').map(str::parse::<u32>).collect();
    match parts.as_deref() {
        Ok([a, b, c]) => Some((*a, *b, *c)),
        _ => None,
    }
}

impl CudaTables {
    pub(super) fn parse(
        toolkit: Table<'_>,
        minor: Table<'_>,
        arch: Table<'_>,
    ) -> Result<CudaTables, KnowledgeError> {
        let toolkits = parse_toolkits(toolkit)?;
        let (floors, minor_caveat) = parse_minor(minor)?;
        let arch_ranges = parse_arch_ranges(arch)?;
        let newest = toolkits
            .iter()
            .map(|tk| CudaVersion::new(tk.release.0, tk.release.1))
            .max()
            .ok_or_else(|| toolkit.invalid(None, "no [[toolkit]] rows"))?;
        Ok(CudaTables {
            toolkits,
            newest,
            floors,
            minor_caveat,
            arch_ranges,
        })
    }
}

fn parse_toolkits(t: Table<'_>) -> Result<Vec<Toolkit>, KnowledgeError> {
    let f: ToolkitFile = t.parse()?;
    t.check_schema(&f.schema)?;
    let mut out: Vec<(Toolkit, std::ops::Range<usize>)> = Vec::new();
    let mut seen = BTreeSet::new();
    for row in f.toolkit {
        let span = row.span();
        let r = row.into_inner();
        let release = parse_release(&r.release).ok_or_else(|| {
            t.invalid(
                Some(span.clone()),
                format!("`{}` is not a toolkit release like 12.4.1", r.release),
            )
        })?;
        t.check_source(span.clone(), &r.release, &r.source)?;
        if !seen.insert(release) {
            return Err(t.invalid(Some(span), format!("{} listed twice", r.release)));
        }
        out.push((
            Toolkit {
                release,
                label: r.label,
                driver: r.linux_x86_64,
                source: r.source,
                unsure: r.unsure,
            },
            span,
        ));
    }
    if out.is_empty() {
        return Err(t.invalid(None, "no [[toolkit]] rows"));
    }
    // A newer toolkit never needs an older driver: catches a typo in either column.
    let mut sorted: Vec<&(Toolkit, std::ops::Range<usize>)> = out.iter().collect();
    sorted.sort_by_key(|(t, _)| t.release);
    for w in sorted.windows(2) {
        let ((old, _), (new, span)) = (w[0], w[1]);
        if new.driver < old.driver {
            return Err(t.invalid(
                Some(span.clone()),
                format!(
                    "{:?} needs driver {} but the older {:?} needs {}",
                    new.release, new.driver, old.release, old.driver
                ),
            ));
        }
    }
    Ok(out.into_iter().map(|(t, _)| t).collect())
}

fn parse_minor(
    t: Table<'_>,
) -> Result<(BTreeMap<u32, MinorFloor>, Sourced<String>), KnowledgeError> {
    let f: MinorCompatFile = t.parse()?;
    t.check_schema(&f.schema)?;
    t.check_source(f.caveat_source.span(), "caveat", f.caveat_source.get_ref())?;
    if f.caveat.get_ref().trim().is_empty() {
        return Err(t.invalid(Some(f.caveat.span()), "empty `caveat`"));
    }
    let mut floors = BTreeMap::new();
    for row in f.floor {
        let span = row.span();
        let r = row.into_inner();
        t.check_source(span.clone(), &format!("major {}", r.major), &r.source)?;
        let floor = MinorFloor {
            floor: r.floor,
            source: r.source,
            unsure: r.unsure,
        };
        if floors.insert(r.major, floor).is_some() {
            return Err(t.invalid(Some(span), format!("major {} listed twice", r.major)));
        }
    }
    Ok((
        floors,
        Sourced {
            value: f.caveat.into_inner(),
            source: f.caveat_source.into_inner(),
            unsure: false,
        },
    ))
}

fn parse_arch_ranges(t: Table<'_>) -> Result<Vec<ArchRange>, KnowledgeError> {
    let f: ArchSupportFile = t.parse()?;
    t.check_schema(&f.schema)?;
    let mut out: Vec<ArchRange> = Vec::new();
    for row in f.range {
        let span = row.span();
        let r = row.into_inner();
        let name = format!("{}..{}", r.from, r.to);
        t.check_source(span.clone(), &name, &r.source)?;
        if r.from > r.to || r.min > r.max {
            return Err(t.invalid(Some(span), format!("{name}: from > to or min > max")));
        }
        if let Some(o) = out.iter().find(|o| o.from <= r.to && r.from <= o.to) {
            return Err(t.invalid(Some(span), format!("{name} overlaps {}..{}", o.from, o.to)));
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

// ------------------------------------------------------------------------------------------
// Queries.

impl Knowledge {
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
                let r = parse_release(release)?;
                self.cuda
                    .toolkits
                    .iter()
                    .find(|t| t.release == r)
                    .map(Toolkit::sourced)
            }
            _ => None,
        }
    }

    /// The newest CUDA major.minor in the toolkit table (what "the newest CUDA" means to compat).
    pub fn newest_cuda(&self) -> CudaVersion {
        self.cuda.newest
    }

    /// NVIDIA's name for a toolkit release (`"CUDA 12.4 Update 1"`).
    pub fn toolkit_label(&self, release: &str) -> Option<&str> {
        let r = parse_release(release)?;
        self.cuda
            .toolkits
            .iter()
            .find(|t| t.release == r)
            .map(|t| t.label.as_str())
    }

    /// Every known toolkit release of a major.minor, oldest first, as `x.y.z` strings.
    pub fn toolkit_releases(&self, cuda: CudaVersion) -> Vec<String> {
        let mut v: Vec<&Toolkit> = self
            .cuda
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
        self.cuda.floors.get(&major).map(|f| Sourced {
            value: f.floor.clone(),
            source: f.source.clone(),
            unsure: f.unsure,
        })
    }

    /// The limits every minor-compat verdict carries (PTX JIT, newer-driver features).
    pub fn minor_compat_caveat(&self) -> &Sourced<String> {
        &self.cuda.minor_caveat
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
        let floor = self.cuda.floors.get(&cuda.major);
        let toolkit = self.ga(cuda);
        if let Some(tk) = toolkit {
            if *driver >= tk.driver {
                return DriverSupport::Full;
            }
        }
        let caveat = &self.cuda.minor_caveat.value;
        match (toolkit, floor) {
            (_, Some(f)) if *driver < f.floor => DriverSupport::No {
                needs: f.floor.clone(),
            },
            (Some(tk), Some(f)) => DriverSupport::MinorCompat {
                caveat: format!(
                    "CUDA {cuda} wants driver {} for full support; driver {driver} is below it but \
                     meets the CUDA {}.x minor-version floor {}. {caveat}",
                    tk.driver, cuda.major, f.floor
                ),
            },
            (None, Some(f)) => DriverSupport::MinorCompat {
                caveat: format!(
                    "CUDA {cuda} is not in compat's toolkit table, so its own driver is unknown; \
                     driver {driver} meets the CUDA {}.x minor-version floor {}. {caveat}",
                    cuda.major, f.floor
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
        (self.ga(cuda).is_some() || self.cuda.floors.contains_key(&cuda.major))
            .then(|| self.driver_runs(driver, cuda))
    }

    /// How a host's driver stands to a CUDA release, from what the host says of its driver: its
    /// version (judged by [`Knowledge::driver_runs`]) or, without one, only the highest CUDA it
    /// supports (`driver_cuda`, from NVML or a profile). `None` when the host says neither. Used
    /// by the CUDA column, the install order and the risk rules.
    pub fn driver_support(
        &self,
        driver: Option<&DriverVersion>,
        driver_cuda: Option<CudaVersion>,
        cuda: CudaVersion,
    ) -> Option<DriverSupport> {
        Some(match (driver, driver_cuda) {
            (Some(d), _) => self.driver_runs(d, cuda),
            (None, Some(c)) if c >= cuda => DriverSupport::Full,
            (None, Some(c)) if c.major == cuda.major => DriverSupport::MinorCompat {
                caveat: "PTX built by the newer toolkit cannot be JIT-compiled by this driver (cudaErrorUnsupportedPtxVersion)".into(),
            },
            (None, Some(_)) => DriverSupport::No {
                needs: self
                    .minor_compat_floor(cuda.major)
                    .map(|f| f.value)
                    .unwrap_or_else(|| DriverVersion(vec![0])),
            },
            (None, None) => return None,
        })
    }

    /// Whether a CUDA release can compile for a compute capability (between its lowest and
    /// highest target; None when the release is not in the table). A GPU above `max` of the
    /// same major can still run the highest cubin of its major, see
    /// [`super::ArchList::runs_on`].
    pub fn cuda_supports_arch(&self, cuda: CudaVersion, cc: ComputeCapability) -> Option<bool> {
        self.cuda_arch_range(cuda)
            .map(|r| r.min <= cc && cc <= r.max)
    }

    /// The compute capability range a CUDA release compiles for.
    pub fn cuda_arch_range(&self, cuda: CudaVersion) -> Option<CudaArchRange> {
        self.cuda
            .arch_ranges
            .iter()
            .find(|r| r.from <= cuda && cuda <= r.to)
            .map(|r| r.range.clone())
    }

    fn ga(&self, cuda: CudaVersion) -> Option<&Toolkit> {
        self.cuda
            .toolkits
            .iter()
            .filter(|t| t.release.0 == cuda.major && t.release.1 == cuda.minor)
            .min_by_key(|t| t.release.2)
    }

    fn ga_releases(&self) -> Vec<&Toolkit> {
        let mut by_minor: BTreeMap<(u32, u32), &Toolkit> = BTreeMap::new();
        for t in &self.cuda.toolkits {
            let e = by_minor.entry((t.release.0, t.release.1)).or_insert(t);
            if t.release.2 < e.release.2 {
                *e = t;
            }
        }
        by_minor.into_values().collect()
    }
}
