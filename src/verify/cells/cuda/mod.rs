//! The CUDA column, decided from host facts (driver, GPUs), torch's build facts
//! (`torch/version.py`), the bitsandbytes libraries present, and the knowledge tables, in four
//! steps: the driver against the column's CUDA release, torch's CUDA build against the driver,
//! every GPU against torch's compiled architectures, and for bitsandbytes its own native
//! library. The first step that decides the cell ends it.
//!
//! Failure versus caveat: a build for a newer CUDA minor than the driver's own runs under
//! minor-version compatibility, so the cell is verified *with the caveat stated*; crossing a
//! major version, a driver below the major's floor, or a GPU missing from the build's
//! architecture list is a failure, said plainly with its fix.
//!
//! Here: the context and the first two steps. [`archs`]: the GPUs against torch's build.
//! [`bitsandbytes`]: bitsandbytes' own native library.

mod archs;
mod bitsandbytes;

use pep440_rs::Version;

use super::{gpu_label, gpu_list, no_driver, Cell};
use crate::env::{Distribution, PythonEnv, TorchVersionPy};
use crate::knowledge::{ArchList, DriverSupport, Knowledge};
use crate::model::units::{ComputeCapability, CudaVersion};
use crate::model::Verdict;
use crate::probe::HostFacts;
use crate::verify::reason::{ArchFix, Reason};

use archs::{bf16_caveat, gpus_in_torch_build};
#[cfg(test)]
pub(crate) use archs::{ptx_runs, sass_runs};
use bitsandbytes::bitsandbytes;

/// What every step reads.
struct Ctx<'a> {
    target: CudaVersion,
    d: &'a Distribution,
    env: &'a PythonEnv,
    host: &'a HostFacts,
    k: &'a Knowledge,
    /// The driver, described for messages.
    driver: String,
}

impl Ctx<'_> {
    /// How the host's driver stands to a CUDA release ([`Knowledge::driver_support`]).
    fn support(&self, cuda: CudaVersion) -> Option<DriverSupport> {
        driver_support(self.k, self.host, cuda)
    }
}

fn driver_support(k: &Knowledge, host: &HostFacts, cuda: CudaVersion) -> Option<DriverSupport> {
    k.driver_support(
        host.driver.as_ref().map(|d| &d.value),
        host.cuda().map(|c| c.value),
        cuda,
    )
}

/// The host's driver, described for messages; `None` when the host has no driver facts.
fn describe_driver(host: &HostFacts) -> Option<String> {
    match (&host.driver, host.cuda().map(|c| c.value)) {
        (Some(d), Some(c)) => Some(format!("driver {} (supports CUDA {c})", d.value)),
        (Some(d), None) => Some(format!("driver {}", d.value)),
        (None, Some(c)) => Some(format!("a driver that supports CUDA {c}")),
        (None, None) => None,
    }
}

/// The CUDA cell of a library row whose distribution is installed.
pub(super) fn cuda_cell(
    cell: &mut Cell,
    target: CudaVersion,
    d: &Distribution,
    env: &PythonEnv,
    host: &HostFacts,
    k: &Knowledge,
) {
    let Some(driver) = describe_driver(host) else {
        cell.because(no_driver(host));
        return;
    };
    let cx = Ctx {
        target,
        d,
        env,
        host,
        k,
        driver,
    };
    // Each step returns `None` once it has decided the cell.
    let _ = decide(cell, &cx);
}

fn decide(cell: &mut Cell, cx: &Ctx<'_>) -> Option<()> {
    driver_against_target(cell, cx)?;
    let (torch, build) = torch_build(cell, cx)?;
    let tc = torch_cuda(cell, cx, torch, &build)?;
    let tv = torch
        .version
        .clone()
        .map(|v| v.without_local())
        .or_else(|| {
            cell.because(Reason::TorchVersionUnreadable {
                version: torch.version_text.clone(),
            });
            None
        })?;
    match gpus_in_torch_build(cell, cx, torch, &tv, tc) {
        Step::Go => {}
        Step::Done => return None,
        Step::Unknown(reason) => {
            // A definite failure is never hidden behind an unrelated unknown: bitsandbytes'
            // own library choice does not depend on torch's architectures.
            if cx.d.normalized == "bitsandbytes" {
                let _ = bitsandbytes(cell, cx, tc);
                if cell.verdict == Verdict::Failed {
                    return None;
                }
            }
            cell.because(reason);
            return None;
        }
    }
    if cx.d.normalized == "bitsandbytes" {
        bitsandbytes(cell, cx, tc)?;
    } else if cx.d.normalized == "torch" {
        bf16_caveat(cell, cx);
    } else {
        cell.evidence
            .push(format!("{} uses CUDA through torch", cx.d.normalized));
    }
    if tc != cx.target {
        cell.because(Reason::TorchOtherCuda {
            built: tc,
            target: cx.target,
        });
        return None;
    }
    cell.verdict = Verdict::Verified;
    Some(())
}

/// 1. The driver against the column's CUDA release.
fn driver_against_target(cell: &mut Cell, cx: &Ctx<'_>) -> Option<()> {
    let (target, desc) = (cx.target, &cx.driver);
    let Some(support) = cx.support(target) else {
        cell.because(no_driver(cx.host));
        return None;
    };
    let driver_src = cx
        .host
        .driver
        .as_ref()
        .map(|f| f.source.clone())
        .or_else(|| cx.host.cuda().map(|f| f.source.clone()))
        .unwrap_or_default();
    match support {
        DriverSupport::Full => cell
            .evidence
            .push(format!("{desc} [{driver_src}] runs CUDA {target} builds")),
        DriverSupport::MinorCompat { caveat } => cell.caveats.push(format!(
            "{desc} runs CUDA {target} builds under minor-version compatibility: {caveat}"
        )),
        DriverSupport::No { needs } => {
            // What would run here instead: torch's other CUDA variants of the installed release.
            let alternative = cx
                .env
                .get("torch")
                .and_then(|t| t.version.clone())
                .and_then(|v| {
                    better_variants(cx.k, cx.host, &v.without_local())
                        .first()
                        .copied()
                });
            cell.fail(Reason::DriverTooOld {
                driver: desc.clone(),
                target,
                needs,
                full_support: cx.k.toolkit_min_driver(target).map(|s| s.value),
                alternative,
            });
            return None;
        }
    }
    Some(())
}

/// 2a. torch, which every core library's CUDA work goes through, and what its
/// `torch/version.py` says of its build.
fn torch_build<'a>(cell: &mut Cell, cx: &Ctx<'a>) -> Option<(&'a Distribution, TorchVersionPy)> {
    let Some(torch) = cx.env.get("torch") else {
        cell.because(Reason::NoTorchBuild);
        return None;
    };
    match &cx.env.torch {
        Some(t) if t.version.is_some() || t.cuda.is_some() || t.hip.is_some() => {
            Some((torch, t.clone()))
        }
        _ => {
            cell.because(Reason::TorchBuildUnknown {
                planned: cx.env.planned,
            });
            None
        }
    }
}

/// 2b. torch's CUDA release, and whether the driver runs it.
fn torch_cuda(
    cell: &mut Cell,
    cx: &Ctx<'_>,
    torch: &Distribution,
    build: &TorchVersionPy,
) -> Option<CudaVersion> {
    let Some(tc_text) = build.cuda.clone() else {
        cell.fail(Reason::TorchNotCuda {
            torch: torch.version_text.clone(),
            hip: build.hip.clone(),
            target: cx.target,
        });
        return None;
    };
    let Ok(tc) = tc_text.parse::<CudaVersion>() else {
        cell.because(Reason::TorchCudaUnreadable { text: tc_text });
        return None;
    };
    cell.evidence.push(format!(
        "torch {} is built for CUDA {tc} (torch/version.py)",
        torch.version_text
    ));
    match cx.support(tc) {
        Some(DriverSupport::Full) | None => {}
        Some(DriverSupport::MinorCompat { caveat }) => {
            if tc != cx.target {
                cell.caveats.push(format!(
                    "{} runs torch's CUDA {tc} build under minor-version compatibility: {caveat}",
                    cx.driver
                ));
            }
        }
        Some(DriverSupport::No { needs }) => {
            let alternative = torch.version.clone().and_then(|v| {
                better_variants(cx.k, cx.host, &v.without_local())
                    .first()
                    .copied()
            });
            cell.fail(Reason::DriverTooOldForTorch {
                driver: cx.driver.clone(),
                torch: torch.version_text.clone(),
                cuda: tc,
                needs,
                alternative,
            });
            return None;
        }
    }
    Some(tc)
}

/// How step 3 ended: go on, decided (the cell says why), or undecided for this reason (which
/// a later, independent failure may still override).
enum Step {
    Go,
    Done,
    Unknown(Reason),
}

/// The fix for GPUs missing from torch's build: another variant of this release, a later
/// release, or the driver (from the knowledge tables, which know what each wheel carries).
fn arch_fix(cx: &Ctx<'_>, tv: &Version) -> ArchFix {
    match (
        better_variants(cx.k, cx.host, tv).first(),
        first_torch_that_fits(cx.k, cx.host),
    ) {
        (Some(a), _) => ArchFix::Variant {
            torch: tv.clone(),
            variant: *a,
        },
        (None, Some((release, variant))) => ArchFix::Release { release, variant },
        (None, None) => ArchFix::UpgradeDriver,
    }
}

/// Torch CUDA variants of this torch release that the driver runs and whose wheels carry native
/// kernels (SASS) for every GPU: what a careful engineer would install (no PTX JIT at start-up).
fn better_variants(k: &Knowledge, host: &HostFacts, torch: &Version) -> Vec<CudaVersion> {
    let mut out: Vec<CudaVersion> = k
        .torch_variants(torch)
        .into_iter()
        .filter(|v| {
            matches!(
                driver_support(k, host, *v),
                Some(DriverSupport::Full | DriverSupport::MinorCompat { .. })
            )
        })
        .filter(|v| {
            k.torch_archs(torch, *v).is_some_and(|a| {
                host.gpus
                    .iter()
                    .all(|g| a.sass_for(g.compute_capability).is_some())
            })
        })
        .collect();
    out.sort();
    out.reverse();
    out
}

/// The first torch release (2.0 onwards, per compat's tables) with a CUDA variant that this
/// driver runs and whose wheels cover every GPU: `(release, variant)`.
fn first_torch_that_fits(k: &Knowledge, host: &HostFacts) -> Option<(String, CudaVersion)> {
    (0..=30).find_map(|minor| {
        let v: Version = format!("2.{minor}.0").parse().ok()?;
        better_variants(k, host, &v)
            .first()
            .map(|c| (format!("2.{minor}"), *c))
    })
}
