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

use pep440_rs::Version;

use super::{gpu_label, gpu_list, no_driver, Cell};
use crate::env::{Distribution, PythonEnv, TorchVersionPy};
use crate::knowledge::{ArchList, DriverSupport, Knowledge};
use crate::model::units::{ComputeCapability, CudaVersion};
use crate::model::Verdict;
use crate::probe::HostFacts;
use crate::verify::reason::{ArchFix, Reason};

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

/// A fatbin target as the reader names it (`sm_90`, `sm_90a`, `compute_100f`): its compute
/// capability and suffix (`a` arch-specific, `f` family, or none).
fn fatbin_target(name: &str) -> Option<(ComputeCapability, Option<char>)> {
    let t = name
        .strip_prefix("sm_")
        .or_else(|| name.strip_prefix("compute_"))?;
    let (digits, suffix) = match t.strip_suffix(['a', 'f']) {
        Some(d) => (d, t.chars().last()),
        None => (t, None),
    };
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (major, minor) = digits.split_at(digits.len() - 1);
    Some((
        ComputeCapability::new(major.parse().ok()?, minor.parse().ok()?),
        suffix,
    ))
}

/// Whether a cubin for `target` runs on a GPU of `cc` (FACTS.md): the same major and an equal
/// or newer minor; an arch-specific `a` cubin only on its own architecture.
pub(crate) fn sass_runs(target: &str, cc: ComputeCapability) -> bool {
    match fatbin_target(target) {
        Some((t, Some('a'))) => t == cc,
        Some((t, _)) => t.major == cc.major && t.minor <= cc.minor,
        None => false,
    }
}

/// Whether PTX for `target` JIT-compiles for a GPU of `cc` by architecture (the driver must
/// also support its CUDA): any GPU at or above it; `a` only its own architecture, `f` only its
/// own family (same major, equal or newer minor).
pub(crate) fn ptx_runs(target: &str, cc: ComputeCapability) -> bool {
    match fatbin_target(target) {
        Some((t, Some('a'))) => t == cc,
        Some((t, Some(_))) => t.major == cc.major && t.minor <= cc.minor,
        Some((t, None)) => t <= cc,
        None => false,
    }
}

/// Step 3 from the installed binaries: every GPU against the SASS and PTX in the fatbin of every
/// torch library that carries GPU code. A GPU that some library has neither a cubin nor
/// reachable PTX for fails the cell.
fn gpus_in_torch_fatbins(
    cell: &mut Cell,
    cx: &Ctx<'_>,
    torch: &Distribution,
    tv: &Version,
    tc: CudaVersion,
    libs: &[&crate::env::NativeLibraryFact],
) -> Step {
    // PTX JIT needs a driver that supports the CUDA release the PTX was made with (torch's);
    // under minor-version compatibility the driver does not JIT-compile newer PTX.
    let support = cx.support(tc);
    let ptx_reachable = matches!(support, Some(DriverSupport::Full));
    let blocked = match support {
        Some(DriverSupport::Full) => None,
        Some(_) => Some(format!(
            "{} runs CUDA {tc} only under minor-version compatibility, which does not JIT-compile its PTX",
            cx.driver
        )),
        None => Some(format!("whether {} JIT-compiles CUDA {tc} PTX is unknown", cx.driver)),
    };
    for lib in libs {
        let mut code: Vec<&str> = lib.sass.iter().map(String::as_str).collect();
        code.extend(lib.ptx.iter().map(String::as_str));
        cell.evidence
            .push(format!("fatbin:{}: {}", lib.path.display(), code.join(" ")));
    }
    let mut jit = Vec::new();
    for lib in libs {
        let mut missing = Vec::new();
        let mut only_blocked_ptx = true;
        for g in &cx.host.gpus {
            let cc = g.compute_capability;
            if lib.sass.iter().any(|s| sass_runs(s, cc)) {
                continue;
            }
            let by_arch = lib.ptx.iter().any(|p| ptx_runs(p, cc));
            if by_arch && ptx_reachable {
                jit.push(gpu_label(g));
                continue;
            }
            only_blocked_ptx &= by_arch;
            missing.push(gpu_label(g));
        }
        missing.dedup();
        if missing.is_empty() {
            continue;
        }
        let reason = Reason::FatbinNoKernels {
            torch: torch.version_text.clone(),
            library: lib.path.display().to_string(),
            sass: lib.sass.clone(),
            ptx: lib.ptx.clone(),
            missing,
            ptx_blocked: if only_blocked_ptx {
                blocked.clone()
            } else {
                None
            },
            fix: arch_fix(cx, tv),
        };
        if only_blocked_ptx && support.is_none() {
            // The PTX would reach these GPUs if the driver JIT-compiles it: unknown, not failed.
            return Step::Unknown(reason);
        }
        cell.fail(reason);
        return Step::Done;
    }
    cell.evidence.push(format!(
        "every GPU ({}) has kernels in the installed torch's libraries",
        gpu_list(cx.host)
    ));
    jit.sort();
    jit.dedup();
    for g in jit {
        cell.caveats.push(format!(
            "{g} runs torch only through PTX JIT compilation (slow first start; kernels are not native)"
        ));
    }
    Step::Go
}

/// Step 3: every GPU's architecture in torch's build: from the installed libraries' fatbins when
/// there are any, else from the knowledge tables (a plan, or libraries that could not be read).
fn gpus_in_torch_build(
    cell: &mut Cell,
    cx: &Ctx<'_>,
    torch: &Distribution,
    tv: &Version,
    tc: CudaVersion,
) -> Step {
    if !cx.env.planned {
        let libs: Vec<_> = cx
            .env
            .native_libraries
            .iter()
            .filter(|l| l.package == "torch")
            .collect();
        if !libs.is_empty() {
            return gpus_in_torch_fatbins(cell, cx, torch, tv, tc, &libs);
        }
    }
    let Some(archs) = cx.k.torch_archs(tv, tc) else {
        return Step::Unknown(Reason::TorchArchsUnknown {
            torch: tv.clone(),
            cuda: tc,
        });
    };
    let mut missing: Vec<String> = cx
        .host
        .gpus
        .iter()
        .filter(|g| !archs.runs_on(g.compute_capability))
        .map(gpu_label)
        .collect();
    missing.dedup();
    if !missing.is_empty() {
        cell.fail(Reason::ArchNotInBuild {
            torch: torch.version_text.clone(),
            missing,
            sass: archs.sass.clone(),
            ptx: archs.ptx,
            fix: arch_fix(cx, tv),
        });
        return Step::Done;
    }
    // A verified never rests on a row marked unsure.
    if archs.unsure {
        let mut jit: Vec<String> = cx
            .host
            .gpus
            .iter()
            .filter(|g| archs.needs_jit(g.compute_capability))
            .map(gpu_label)
            .collect();
        jit.dedup();
        return Step::Unknown(Reason::TorchArchsUnsure {
            torch: tv.clone(),
            cuda: tc,
            jit,
        });
    }
    covered(cell, cx, &archs, tc);
    Step::Go
}

/// The evidence and caveats of a torch build that covers every GPU.
fn covered(cell: &mut Cell, cx: &Ctx<'_>, archs: &ArchList, tc: CudaVersion) {
    let list: Vec<String> = archs.sass.iter().map(|c| c.sm()).collect();
    cell.evidence.push(format!(
        "every GPU ({}) is covered by torch's {} build ({}) [{}]",
        gpu_list(cx.host),
        tc.tag(),
        list.join(", "),
        archs.source
    ));
    for g in &cx.host.gpus {
        if archs.needs_jit(g.compute_capability) {
            cell.caveats.push(format!(
                "{} runs torch only through PTX JIT compilation (slow first start; kernels are not native)",
                gpu_label(g),
            ));
        }
    }
}

/// The torch row's caveat when a GPU has no native bf16.
fn bf16_caveat(cell: &mut Cell, cx: &Ctx<'_>) {
    if let Some(g) = cx
        .host
        .gpus
        .iter()
        .find(|g| !cx.k.precision(g.compute_capability).bf16_native)
    {
        cell.caveats.push(format!(
            "bf16 is not native on {}: the seed's mixed-precision issue applies here; use fp16 with loss scaling",
            gpu_label(g)
        ));
    }
}

/// 4. bitsandbytes: its own native library must match torch's CUDA and the GPUs.
fn bitsandbytes(cell: &mut Cell, cx: &Ctx<'_>, tc: CudaVersion) -> Option<()> {
    let (k, d, host) = (cx.k, cx.d, cx.host);
    let available = k.bnb_cuda_versions(&cx.env.bnb_libraries);
    if available.is_empty() {
        cell.because(Reason::BnbLibrariesUnknown {
            version: d.version_text.clone(),
        });
        return None;
    }
    let bnb_version = d.version.clone().map(|v| v.without_local());
    let selected = match &bnb_version {
        Some(v) => k.bnb_select_for(v, tc, &available),
        None => k.bnb_select(tc, &available),
    };
    let Some(sel) = selected else {
        cell.fail(Reason::BnbNoLibraryForCuda {
            version: d.version_text.clone(),
            available,
            torch_cuda: tc,
        });
        return None;
    };
    let listed: Vec<String> = available.iter().map(|c| c.to_string()).collect();
    cell.evidence.push(format!(
        "bitsandbytes selects {} for torch's CUDA {tc} (available: {})",
        k.bnb_library_name(sel),
        listed.join(", ")
    ));
    if let Some(DriverSupport::No { needs }) = cx.support(sel) {
        cell.fail(Reason::DriverTooOldForBnb {
            driver: cx.driver.clone(),
            library: sel,
            needs,
        });
        return None;
    }
    let archs = bnb_version
        .as_ref()
        .and_then(|v| k.bnb_archs_for(v, sel))
        .map(|s| s.value);
    match archs {
        Some((lowest, highest)) => {
            let mut outside: Vec<String> = host
                .gpus
                .iter()
                .filter(|g| g.compute_capability < lowest || g.compute_capability > highest)
                .map(gpu_label)
                .collect();
            outside.dedup();
            if !outside.is_empty() {
                cell.fail(Reason::BnbArchNotInBuild {
                    library: sel,
                    lowest,
                    highest,
                    outside,
                });
                return None;
            }
            cell.evidence.push(format!(
                "its CUDA {sel} build covers {}–{}",
                lowest.sm(),
                highest.sm()
            ));
        }
        None => cell.caveats.push(format!(
            "the architectures of bitsandbytes {}'s CUDA {sel} build are not in compat's tables",
            d.version_text
        )),
    }
    let floors = k.bnb_floors();
    for g in &host.gpus {
        if g.compute_capability < floors.nf4 {
            cell.fail(Reason::GpuBelowBnbFloor {
                gpu: g.name.clone(),
                cc: g.compute_capability,
                floor: floors.nf4,
            });
            return None;
        }
        if g.compute_capability < floors.llm_int8_tensor_cores {
            cell.caveats.push(format!(
                "{} has no int8 tensor cores: LLM.int8 runs without them (slower)",
                gpu_label(g)
            ));
        }
    }
    Some(())
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
