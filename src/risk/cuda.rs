//! The CUDA rules, for a risk row about CUDA: the driver's headroom for the matrix's CUDA target,
//! and the native libraries (torch's CUDA build, bitsandbytes' library) against the driver.

use super::{Facts, Findings};
use crate::knowledge::{DriverSupport, RiskRuleId};
use crate::model::units::CudaVersion;

pub(super) fn rules(facts: &Facts<'_>, found: &mut Findings) {
    let (k, host, env) = (facts.k, facts.host, facts.env);
    let support = |v: CudaVersion| -> Option<DriverSupport> {
        k.driver_support(
            host.driver.as_ref().map(|d| &d.value),
            host.cuda().map(|c| c.value),
            v,
        )
    };
    found.evidence.push(format!("host: {}", host.gpu_summary()));
    if let Some(t) = facts.matrix.cuda_target() {
        match support(t) {
            None => found.evidence.push(format!(
                "no driver here: the headroom for CUDA {t} cannot be measured"
            )),
            Some(DriverSupport::Full) => found.fire(
                k,
                RiskRuleId::DriverHeadroomOk,
                format!("the driver fully supports CUDA {t}"),
            ),
            Some(DriverSupport::MinorCompat { .. }) => found.fire(
                k,
                RiskRuleId::DriverMinorCompat,
                format!("the driver runs CUDA {t} only under minor-version compatibility"),
            ),
            Some(DriverSupport::No { needs }) => found.fire(
                k,
                RiskRuleId::DriverBelowTargetMajor,
                format!("the driver cannot run CUDA {t} (needs >= {needs})"),
            ),
        }
    }
    let Some(tc) = env
        .torch
        .as_ref()
        .and_then(|t| t.cuda.as_deref())
        .and_then(|c| c.parse::<CudaVersion>().ok())
    else {
        return;
    };
    if let Some(DriverSupport::No { needs }) = support(tc) {
        found.fire(
            k,
            RiskRuleId::NativeCudaTooNew,
            format!("torch is built for CUDA {tc}; the driver needs >= {needs} for it"),
        );
    }
    let libs = k.bnb_cuda_versions(&env.bnb_libraries);
    if let Some(sel) = k.bnb_select(tc, &libs) {
        found.evidence.push(format!(
            "bitsandbytes would load {}",
            k.bnb_library_name(sel)
        ));
        if let Some(DriverSupport::No { needs }) = support(sel) {
            found.fire(
                k,
                RiskRuleId::NativeCudaTooNew,
                format!("bitsandbytes' CUDA {sel} library needs a driver >= {needs}"),
            );
        }
    }
}
