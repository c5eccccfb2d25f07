//! A plan as a `PythonEnv`, so the same rules that judge an installed environment judge the plan
//! (`env.planned` makes every message say "planned"). Requires-Dist and Requires-Python come from
//! the plan itself (pip's report, uv.lock's edges) or from the package index's metadata, via
//! `metadata`; torch's CUDA build from its local version (`+cu124`), its index URL (`/cu124`), or
//! the CUDA runtime wheel the plan pins; bitsandbytes' native libraries from compat's table of
//! its builds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{PlanFile, Planned};
use crate::env::{DistFormat, Distribution, Finding, Interpreter, PythonEnv, TorchVersionPy};
use crate::knowledge::Knowledge;
use crate::model::normalize;
use crate::model::units::CudaVersion;

/// Looks up `(Requires-Dist, Requires-Python)` of `name==version` (the package index); the error
/// says why there is none (the index's own error: offline, 404, timeout, …).
pub type MetadataFn = dyn Fn(&str, &str) -> Result<(Vec<String>, Option<String>), String>;
/// A borrowed [`MetadataFn`].
pub type MetadataLookup<'a> = &'a MetadataFn;

/// `cu124` / `cpu` / `rocm6.1` in a local version or a URL path segment.
fn build_tag(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    for seg in lower.split(['/', '+', '-', '%']) {
        let seg = seg.trim_start_matches("2b"); // %2B
        if seg == "cpu"
            || (seg.starts_with("cu")
                && seg.len() >= 4
                && seg[2..].chars().all(|c| c.is_ascii_digit()))
            || seg.starts_with("rocm")
        {
            return Some(seg.to_string());
        }
    }
    None
}

/// torch's build facts as far as the plan tells them.
fn torch_build(
    plan: &PlanFile,
    torch: &Planned,
    all: &[Planned],
) -> Option<(TorchVersionPy, String)> {
    let version = torch.version.clone();
    let from = |tag: &str, how: String| -> Option<(TorchVersionPy, String)> {
        let mut t = TorchVersionPy {
            version: version.clone(),
            ..Default::default()
        };
        if let Some(r) = tag.strip_prefix("rocm") {
            t.hip = Some(r.to_string());
        } else if tag != "cpu" {
            t.cuda = Some(tag.parse::<CudaVersion>().ok()?.to_string());
        }
        Some((t, how))
    };
    if let Some(local) = version
        .as_deref()
        .and_then(|v| v.split_once('+'))
        .map(|(_, l)| l)
    {
        if let Some(tag) = build_tag(local) {
            return from(&tag, format!("the local version +{local}"));
        }
    }
    for url in torch.source.iter().chain(plan.index_urls.iter()) {
        if let Some(tag) = build_tag(url) {
            return from(&tag, format!("the index URL {url}"));
        }
    }
    // The CUDA runtime wheel pinned in the plan (or in torch's own Requires-Dist).
    let runtime = all
        .iter()
        .find(|p| {
            matches!(
                normalize(&p.name).as_str(),
                "nvidia-cuda-runtime-cu12" | "nvidia-cuda-runtime-cu11" | "nvidia-cuda-runtime"
            )
        })
        .and_then(|p| p.version.clone().map(|v| (p.name.clone(), v)));
    if let Some((name, v)) = runtime {
        let mm: Vec<&str> = v.split('.').take(2).collect();
        if mm.len() == 2 {
            return from(
                &format!("cu{}{}", mm[0], mm[1]),
                format!("the pinned CUDA runtime {name}=={v}"),
            );
        }
    }
    None
}

/// Builds the planned environment. Pure apart from `metadata`.
pub fn planned_env(
    plan: &PlanFile,
    interp: Interpreter,
    k: &Knowledge,
    metadata: MetadataLookup,
) -> PythonEnv {
    let mut findings = Vec::new();
    let mut distributions = BTreeMap::new();
    let markers = interp.markers.to_pep508().ok();
    for p in &plan.packages {
        // Entries whose marker does not hold for the target interpreter are not installed there.
        if let (Some(m), Some(env)) = (&p.marker, &markers) {
            if let Ok(req) = crate::env::metadata::parse_requirement(&format!("{} ; {m}", p.name)) {
                if !req.evaluate_markers(env, &[]) {
                    continue;
                }
            }
        }
        let d = distribution(plan, p, metadata, &mut findings);
        distributions.insert(d.normalized.clone(), d);
    }
    let torch = planned_torch(plan, &mut findings);
    let bnb_libraries = distributions
        .get("bitsandbytes")
        .and_then(|d| d.version.clone())
        .and_then(|v| k.bnb_builds(&v.without_local()))
        .map(|b| b.value.iter().map(|c| k.bnb_library_name(*c)).collect())
        .unwrap_or_default();
    PythonEnv {
        interpreter: interp,
        distributions,
        shadowed: Vec::new(),
        torch,
        bnb_libraries,
        native_libraries: Vec::new(),
        findings,
        scan_ms: 0.0,
        planned: true,
        planned_complete: plan.format != super::PlanFileFormat::Requirements,
    }
}

/// One planned package as a distribution: its requirements from the plan, else from the
/// index's metadata (a finding when there is none), and a finding when it is not pinned.
fn distribution(
    plan: &PlanFile,
    p: &Planned,
    metadata: MetadataLookup,
    findings: &mut Vec<Finding>,
) -> Distribution {
    let (requires_dist, requires_python, metadata_read) = match (&p.requires_dist, &p.version) {
        (Some(rd), _) => (rd.clone(), p.requires_python.clone(), true),
        (None, Some(v)) => {
            match metadata(&p.name, v) {
                Ok((rd, rp)) => (rd, rp.or(p.requires_python.clone()), true),
                Err(why) => {
                    findings.push(Finding {
                    code: "plan-without-metadata",
                    package: Some(p.name.clone()),
                    path: Some(plan.path.clone()),
                    message: format!("no metadata for planned {}=={v}: its requirements are not checked ({why})", p.name),
                });
                    (Vec::new(), p.requires_python.clone(), false)
                }
            }
        }
        (None, None) => (Vec::new(), p.requires_python.clone(), false),
    };
    let requirements = requires_dist
        .iter()
        .filter_map(|l| {
            crate::env::metadata::parse_requirement(l)
                .ok()
                .map(|r| (l.clone(), r))
        })
        .collect();
    let version_text = p
        .version
        .clone()
        .or(p.requirement.clone())
        .unwrap_or_default();
    let d = Distribution {
        name: p.name.clone(),
        normalized: normalize(&p.name),
        version: p.version.as_deref().and_then(|v| v.parse().ok()),
        version_text,
        requires_dist,
        requirements,
        requires_python_spec: requires_python.as_deref().and_then(|s| s.parse().ok()),
        requires_python,
        provides_extra: Vec::new(),
        wheel_tags: wheel_tags(p.source.as_deref()),
        path: PathBuf::from(format!("plan:{}", plan.path.display())),
        metadata_read,
        format: DistFormat::DistInfo,
    };
    if d.version.is_none() {
        findings.push(Finding {
            code: "plan-unpinned",
            package: Some(p.name.clone()),
            path: Some(plan.path.clone()),
            message: format!(
                "{} is not pinned in the plan (`{}`)",
                p.name,
                p.requirement.as_deref().unwrap_or("")
            ),
        });
    }
    d
}

/// The tag of a wheel URL or file name (`…/torch-2.4.1+cu124-cp311-cp311-linux_x86_64.whl` →
/// `cp311-cp311-linux_x86_64`); none for anything else.
fn wheel_tags(source: Option<&str>) -> Vec<String> {
    source
        .and_then(|s| s.rsplit('/').next())
        .and_then(|f| f.strip_suffix(".whl"))
        .map(|stem| {
            let parts: Vec<&str> = stem.split('-').collect();
            if parts.len() >= 5 {
                vec![parts[parts.len() - 3..].join("-")]
            } else {
                Vec::new()
            }
        })
        .unwrap_or_default()
}

/// torch's build facts when the plan has torch, with a finding that says where they came from.
fn planned_torch(plan: &PlanFile, findings: &mut Vec<Finding>) -> Option<TorchVersionPy> {
    plan.packages
        .iter()
        .find(|p| normalize(&p.name) == "torch")
        .map(|t| match torch_build(plan, t, &plan.packages) {
            Some((tb, how)) => {
                findings.push(Finding {
                    code: "plan-torch-build",
                    package: Some("torch".into()),
                    path: Some(plan.path.clone()),
                    message: format!(
                        "torch's build is taken from {how}: CUDA {}",
                        tb.cuda
                            .as_deref()
                            .or(tb.hip.as_deref().map(|_| "none (ROCm)"))
                            .unwrap_or("none (CPU)")
                    ),
                });
                tb
            }
            None => TorchVersionPy::default(),
        })
}
