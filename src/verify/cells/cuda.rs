//! The CUDA column, decided from host facts (driver, GPUs), torch's
//! build facts (`torch/version.py`), the bitsandbytes libraries present, and the knowledge tables.
//!
//! Failure versus caveat: a build for a newer CUDA minor than the driver's own runs under
//! minor-version compatibility, so the cell is verified *with the caveat stated*; crossing a
//! major version, a driver below the major's floor, or a GPU missing from the build's
//! architecture list is a failure, said plainly with its fix.

use super::Cell;
use crate::env::{Distribution, PythonEnv};
use crate::knowledge::{DriverSupport, Knowledge};
use crate::model::units::{ComputeCapability, CudaVersion};
use crate::model::Verdict;
use crate::probe::HostFacts;

/// Why a CUDA cell cannot be decided on a host without a driver.
pub fn no_driver_reason(host: &HostFacts) -> String {
    let why = host
        .notes
        .iter()
        .find(|n| n.contains("no NVIDIA driver") || n.contains("not found"))
        .cloned()
        .unwrap_or_else(|| "no NVIDIA driver".into());
    match &host.profile {
        Some(p) => format!("no GPU on this host: the host profile {p} has no NVIDIA driver"),
        None => {
            format!("no GPU on this host ({why}): pass --host PROFILE to check against a GPU host")
        }
    }
}

/// How the host's driver stands to a CUDA release ([`Knowledge::driver_support`]); `None` when
/// the host has no driver facts.
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

fn fail(cell: &mut Cell, reason: String, fix: String) {
    cell.verdict = Verdict::Failed;
    cell.reason = Some(reason);
    cell.fix = Some(fix);
}

/// Torch CUDA variants of this torch release that the driver runs and whose wheels carry native
/// kernels (SASS) for every GPU: what a careful engineer would install (no PTX JIT at start-up).
fn better_variants(
    k: &Knowledge,
    host: &HostFacts,
    torch: &pep440_rs::Version,
) -> Vec<CudaVersion> {
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
        let v: pep440_rs::Version = format!("2.{minor}.0").parse().ok()?;
        better_variants(k, host, &v)
            .first()
            .map(|c| (format!("2.{minor}"), *c))
    })
}

/// The CUDA cell of a library row whose distribution is installed.
pub fn cuda_cell(
    cell: &mut Cell,
    target: CudaVersion,
    d: &Distribution,
    env: &PythonEnv,
    host: &HostFacts,
    k: &Knowledge,
) {
    // 1. The driver against the column's CUDA release.
    let (Some(support), Some(desc)) = (driver_support(k, host, target), describe_driver(host))
    else {
        cell.reason = Some(no_driver_reason(host));
        return;
    };
    let driver_src = host
        .driver
        .as_ref()
        .map(|f| f.source.clone())
        .or_else(|| host.cuda().map(|f| f.source.clone()))
        .unwrap_or_default();
    match &support {
        DriverSupport::Full => cell
            .evidence
            .push(format!("{desc} [{driver_src}] runs CUDA {target} builds")),
        DriverSupport::MinorCompat { caveat } => cell.caveats.push(format!(
            "{desc} runs CUDA {target} builds under minor-version compatibility: {caveat}"
        )),
        DriverSupport::No { needs } => {
            let full = k
                .toolkit_min_driver(target)
                .map(|s| format!(" ({} for full support)", s.value))
                .unwrap_or_default();
            // What would run here instead: torch's other CUDA variants of the installed release.
            let alt = env
                .get("torch")
                .and_then(|t| t.version.clone())
                .map(|v| better_variants(k, host, &v.without_local()))
                .unwrap_or_default();
            let or = match alt.first() {
                Some(a) => format!(
                    ", or install torch's {} wheels (runs here, but not the CUDA {target} the matrix names)",
                    a.tag()
                ),
                None => String::new(),
            };
            fail(
                cell,
                format!("{desc} cannot run CUDA {target} builds: they need a CUDA {} driver (>= {needs}){full}", target.major),
                format!("upgrade the NVIDIA driver to >= {needs}{or}"),
            );
            return;
        }
    }

    // 2. torch's CUDA build, which every core library's CUDA work goes through.
    let Some(torch) = env.get("torch") else {
        cell.reason = Some(
            "torch is not installed: there is no CUDA build to check against the driver and GPUs"
                .into(),
        );
        return;
    };
    let tb = match &env.torch {
        Some(t) if t.version.is_some() || t.cuda.is_some() || t.hip.is_some() => t.clone(),
        _ => {
            cell.reason = Some(if env.planned {
                "the plan does not say which CUDA build of torch it installs (no +cuXYZ version, no CUDA index, no pinned CUDA runtime)".into()
            } else {
                "torch/version.py is missing or unreadable: torch's CUDA build is unknown".into()
            });
            return;
        }
    };
    let tv = torch.version.clone().map(|v| v.without_local());
    let Some(tc_text) = tb.cuda.clone() else {
        let what = match &tb.hip {
            Some(h) => format!("a ROCm build (HIP {h})"),
            None => "a CPU-only build".to_string(),
        };
        fail(
            cell,
            format!(
                "torch {} is {what}: it cannot use the NVIDIA GPU",
                torch.version_text
            ),
            format!(
                "reinstall torch from PyTorch's {} wheel index (--index-url …/whl/{})",
                target.tag(),
                target.tag()
            ),
        );
        return;
    };
    let Ok(tc) = tc_text.parse::<CudaVersion>() else {
        cell.reason = Some(format!(
            "torch/version.py names CUDA `{tc_text}`, which compat cannot read"
        ));
        return;
    };
    cell.evidence.push(format!(
        "torch {} is built for CUDA {tc} (torch/version.py)",
        torch.version_text
    ));
    match driver_support(k, host, tc) {
        Some(DriverSupport::Full) | None => {}
        Some(DriverSupport::MinorCompat { caveat }) => {
            if tc != target {
                cell.caveats.push(format!("{desc} runs torch's CUDA {tc} build under minor-version compatibility: {caveat}"));
            }
        }
        Some(DriverSupport::No { needs }) => {
            let alt = tv
                .as_ref()
                .map(|v| better_variants(k, host, v))
                .unwrap_or_default();
            let or = match alt.first() {
                Some(a) => format!(", or install torch's {} wheels", a.tag()),
                None => String::new(),
            };
            fail(
                cell,
                format!(
                    "{desc}; torch {} needs a CUDA {} driver (>= {needs})",
                    torch.version_text, tc.major
                ),
                format!("upgrade the driver{or}"),
            );
            return;
        }
    }

    // 3. Every GPU's architecture in torch's build.
    let Some(tv) = tv else {
        cell.reason = Some(format!(
            "torch version `{}` is not PEP 440",
            torch.version_text
        ));
        return;
    };
    match k.torch_archs(&tv, tc) {
        None => {
            cell.reason = Some(format!(
                "the GPU architectures of torch {tv} {} wheels are not in compat's tables",
                tc.tag()
            ));
            return;
        }
        Some(archs) => {
            let list: Vec<String> = archs.sass.iter().map(|c| c.sm()).collect();
            let mut missing: Vec<String> = host
                .gpus
                .iter()
                .filter(|g| !archs.runs_on(g.compute_capability))
                .map(|g| format!("{} ({})", g.name, g.compute_capability.sm()))
                .collect();
            missing.dedup();
            if !missing.is_empty() {
                let alt = better_variants(k, host, &tv);
                let fix = match (alt.first(), first_torch_that_fits(k, host)) {
                    (Some(a), _) => format!("install torch {tv} from the {} wheels, which cover these GPUs", a.tag()),
                    (None, Some((rel, c))) => format!(
                        "install torch>={rel} from its {} wheels (the first release whose wheels cover these GPUs and run on this driver)",
                        c.tag()
                    ),
                    (None, None) => "no torch release in compat's tables covers these GPUs on this driver: upgrade the driver".into(),
                };
                fail(
                    cell,
                    format!(
                        "torch {} has no kernels for {}: its build covers {}{}",
                        torch.version_text,
                        missing.join(", "),
                        list.join(", "),
                        archs
                            .ptx
                            .map(|p| format!(" + PTX {}", p.sm()))
                            .unwrap_or_default()
                    ),
                    fix,
                );
                return;
            }
            cell.evidence.push(format!(
                "every GPU ({}) is covered by torch's {} build ({}) [{}]",
                gpu_list(host),
                tc.tag(),
                list.join(", "),
                archs.source
            ));
            for g in &host.gpus {
                if archs.needs_jit(g.compute_capability) {
                    cell.caveats.push(format!(
                        "{} ({}) runs torch only through PTX JIT compilation (slow first start; kernels are not native){}",
                        g.name,
                        g.compute_capability.sm(),
                        if archs.unsure { ", and whether these wheels carry PTX is unsure" } else { "" }
                    ));
                }
            }
            if archs.unsure {
                cell.caveats.push(format!(
                    "the {} architecture list is marked unsure in compat's tables",
                    tc.tag()
                ));
            }
        }
    }

    // 4. bitsandbytes: its own native library must match torch's CUDA and the GPUs.
    if d.normalized == "bitsandbytes" && !bnb_checks(cell, k, d, env, host, tc, &desc) {
        return;
    }
    if d.normalized == "torch" {
        for g in &host.gpus {
            if !k.precision(g.compute_capability).bf16_native {
                cell.caveats.push(format!(
                    "bf16 is not native on {} ({}): the seed's mixed-precision issue applies here; use fp16 with loss scaling",
                    g.name,
                    g.compute_capability.sm()
                ));
                break;
            }
        }
    } else if d.normalized != "bitsandbytes" {
        cell.evidence
            .push(format!("{} uses CUDA through torch", d.normalized));
    }

    if tc != target {
        cell.reason = Some(format!(
            "this environment's torch is built for CUDA {tc}, not {target}: the CUDA {target} claim is not exercised here (everything else checked out)"
        ));
        return;
    }
    cell.verdict = Verdict::Verified;
}

pub(super) fn gpu_list(host: &HostFacts) -> String {
    let mut ccs: Vec<String> = host
        .gpus
        .iter()
        .map(|g| g.compute_capability.sm())
        .collect();
    ccs.dedup();
    ccs.join(", ")
}

/// Returns false when the cell has been decided (failed or unverified).
fn bnb_checks(
    cell: &mut Cell,
    k: &Knowledge,
    d: &Distribution,
    env: &PythonEnv,
    host: &HostFacts,
    tc: CudaVersion,
    desc: &str,
) -> bool {
    let available = k.bnb_cuda_versions(&env.bnb_libraries);
    if available.is_empty() {
        cell.reason = Some(format!(
            "no libbitsandbytes_cuda*.so in bitsandbytes {}: compat cannot tell which CUDA builds it ships",
            d.version_text
        ));
        return false;
    }
    let listed: Vec<String> = available.iter().map(|c| c.to_string()).collect();
    let bnb_version = d.version.clone().map(|v| v.without_local());
    let selected = match &bnb_version {
        Some(v) => k.bnb_select_for(v, tc, &available),
        None => k.bnb_select(tc, &available),
    };
    let Some(sel) = selected else {
        fail(
            cell,
            format!(
                "bitsandbytes {} ships CUDA libraries for {} but torch is built for CUDA {tc}: none of them loads (bitsandbytes never crosses a major version)",
                d.version_text,
                listed.join(", ")
            ),
            format!("install a bitsandbytes release built for CUDA {}.x, or torch built for CUDA {}", tc.major, available.last().map(|c| c.to_string()).unwrap_or_default()),
        );
        return false;
    };
    cell.evidence.push(format!(
        "bitsandbytes selects libbitsandbytes_cuda{}{}.so for torch's CUDA {tc} (available: {})",
        sel.major,
        sel.minor,
        listed.join(", ")
    ));
    if let Some(DriverSupport::No { needs }) = driver_support(k, host, sel) {
        fail(
            cell,
            format!("{desc} cannot run bitsandbytes' CUDA {sel} library: it needs >= {needs}"),
            format!("upgrade the driver to >= {needs}"),
        );
        return false;
    }
    let archs = match &bnb_version {
        Some(v) => k.bnb_archs_for(v, sel).map(|s| s.value),
        None => None,
    };
    if let Some((lo, hi)) = archs {
        let mut outside: Vec<String> = host
            .gpus
            .iter()
            .filter(|g| g.compute_capability < lo || g.compute_capability > hi)
            .map(|g| format!("{} ({})", g.name, g.compute_capability.sm()))
            .collect();
        outside.dedup();
        if !outside.is_empty() {
            fail(
                cell,
                format!(
                    "bitsandbytes' CUDA {sel} library is compiled for {}–{}; it has no kernels for {}",
                    lo.sm(),
                    hi.sm(),
                    outside.join(", ")
                ),
                "install a bitsandbytes release whose CUDA build covers these GPUs".into(),
            );
            return false;
        }
        cell.evidence.push(format!(
            "its CUDA {sel} build covers {}–{}",
            lo.sm(),
            hi.sm()
        ));
    } else {
        cell.caveats.push(format!(
            "the architectures of bitsandbytes {}'s CUDA {sel} build are not in compat's tables",
            d.version_text
        ));
    }
    let nf4_floor = ComputeCapability::new(6, 0);
    let imma = ComputeCapability::new(7, 5);
    for g in &host.gpus {
        if g.compute_capability < nf4_floor {
            fail(
                cell,
                format!(
                    "{} ({}) is below sm_60, the floor of bitsandbytes' 4-bit and 8-bit kernels",
                    g.name,
                    g.compute_capability.sm()
                ),
                "use a GPU of compute capability 6.0 or newer".into(),
            );
            return false;
        }
        if g.compute_capability < imma {
            cell.caveats.push(format!(
                "{} ({}) has no int8 tensor cores: LLM.int8 runs without them (slower)",
                g.name,
                g.compute_capability.sm()
            ));
        }
    }
    true
}
