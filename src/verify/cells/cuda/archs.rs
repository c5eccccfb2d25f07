//! The third step: every GPU against the architectures torch was compiled for, read from the
//! `.nv_fatbin` sections of its own CUDA libraries where they are installed, else from the
//! knowledge tables; and the bf16 caveat for GPUs without native bf16.

use super::*;

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
pub(super) fn gpus_in_torch_build(
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
pub(super) fn bf16_caveat(cell: &mut Cell, cx: &Ctx<'_>) {
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
