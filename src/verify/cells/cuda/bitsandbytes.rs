//! The fourth step, for bitsandbytes: the native library it would load for torch's CUDA build,
//! and whether that library carries code for every GPU.

use super::*;

/// 4. bitsandbytes: its own native library must match torch's CUDA and the GPUs.
pub(super) fn bitsandbytes(cell: &mut Cell, cx: &Ctx<'_>, tc: CudaVersion) -> Option<()> {
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
