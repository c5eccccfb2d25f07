//! Choosing torch's build for a host: among the torch releases the matrix allows and compat's
//! tables know, the CUDA variant the driver runs whose wheels carry native kernels for every
//! GPU, preferring the matrix's CUDA major, full driver support, the newest release, the highest
//! CUDA — in that order.

use pep440_rs::{Version, VersionSpecifiers};

use super::TorchChoice;
use crate::knowledge::{DriverSupport, Knowledge};
use crate::matrix::Matrix;
use crate::model::units::CudaVersion;
use crate::probe::HostFacts;

/// The torch releases compat's tables know, newest first, that satisfy `spec` (and are not
/// newer than `latest`).
fn torch_releases(
    k: &Knowledge,
    spec: Option<&VersionSpecifiers>,
    latest: Option<&Version>,
) -> Vec<(u64, Version)> {
    let mut out = Vec::new();
    for minor in 0..=60u64 {
        let v = Version::new([2, minor, 0]);
        if k.torch_variants(&v).is_empty() {
            continue;
        }
        if let Some(l) = latest {
            let r = l.release();
            if r.len() >= 2 && (r[0] < 2 || (r[0] == 2 && r[1] < minor)) {
                continue;
            }
        }
        // A release series fits the spec when its newest patch could: test x.y.0 and x.y.99.
        let hi = Version::new([2, minor, 99]);
        if spec.is_none_or(|s| s.contains(&v) || s.contains(&hi)) {
            out.push((minor, v));
        }
    }
    out.reverse();
    out
}

/// The best (release, variant) and what was passed over of the newest release.
struct Ranking {
    /// `(matrix's CUDA major, 2 full support | 1 minor compat, release minor, variant)`.
    best: Option<(bool, u8, u64, CudaVersion)>,
    rejected_newest: Vec<String>,
}

/// The host's GPUs as `name (sm_XY)`, neighbours' repeats dropped.
fn gpu_names<'a>(gpus: impl Iterator<Item = &'a crate::probe::Gpu>) -> Vec<String> {
    let mut v: Vec<String> = gpus
        .map(|g| format!("{} ({})", g.name, g.compute_capability.sm()))
        .collect();
    v.dedup();
    v
}

fn driver_description(host: &HostFacts) -> String {
    match (&host.driver, host.cuda()) {
        (Some(d), Some(c)) => format!("driver {} (CUDA {})", d.value, c.value),
        (Some(d), None) => format!("driver {}", d.value),
        (None, Some(c)) => format!("a driver for CUDA {}", c.value),
        (None, None) => "an unknown driver".into(),
    }
}

/// Scores every (release, variant): the matrix's CUDA major first (CUDA 12.4 asks for a CUDA 12
/// build where one fits), then full driver support over minor-version compatibility, then the
/// newest release, then the highest CUDA. Every GPU must have native kernels (SASS).
fn rank(
    k: &Knowledge,
    host: &HostFacts,
    releases: &[(u64, Version)],
    target: Option<CudaVersion>,
    driver_desc: &str,
) -> Ranking {
    let support = |v: CudaVersion| {
        k.driver_support(
            host.driver.as_ref().map(|d| &d.value),
            host.cuda().map(|c| c.value),
            v,
        )
    };
    let mut ranking = Ranking {
        best: None,
        rejected_newest: Vec::new(),
    };
    for (i, (minor, v)) in releases.iter().enumerate() {
        for variant in k.torch_variants(v) {
            let why_not = match k.torch_archs(v, variant) {
                None => Some("its GPU architectures are not in compat's tables".to_string()),
                Some(a) => {
                    let missing = gpu_names(
                        host.gpus
                            .iter()
                            .filter(|g| a.sass_for(g.compute_capability).is_none()),
                    );
                    (!missing.is_empty())
                        .then(|| format!("its wheels have no kernels for {}", missing.join(", ")))
                }
            };
            let (rank, why_not) = match (why_not, support(variant)) {
                (Some(w), _) => (0, Some(w)),
                (None, Some(DriverSupport::Full)) | (None, None) => (2, None),
                (None, Some(DriverSupport::MinorCompat { .. })) => (1, None),
                (None, Some(DriverSupport::No { needs })) => (
                    0,
                    Some(format!("{driver_desc} cannot run it (needs >= {needs})")),
                ),
            };
            if i == 0 {
                if let Some(w) = &why_not {
                    ranking
                        .rejected_newest
                        .push(format!("torch 2.{minor} {}: {w}", variant.tag()));
                } else if rank == 1 {
                    ranking.rejected_newest.push(format!(
                        "torch 2.{minor} {}: runs only under minor-version compatibility on {driver_desc}",
                        variant.tag()
                    ));
                }
            }
            if rank == 0 {
                continue;
            }
            let key = (
                target.is_none_or(|t| t.major == variant.major),
                rank,
                *minor,
                variant,
            );
            if ranking.best.is_none_or(|b| key > b) {
                ranking.best = Some(key);
            }
        }
    }
    ranking
}

/// Chooses torch's build for the host. Pure.
pub fn choose_torch(
    matrix: &Matrix,
    host: &HostFacts,
    k: &Knowledge,
    latest: Option<&Version>,
) -> TorchChoice {
    let spec = matrix.spec("torch");
    let spec_text = spec.map(|s| s.to_string()).unwrap_or_default();
    let base = format!("torch{spec_text}");
    let releases = torch_releases(k, spec, latest);
    if host.gpus.is_empty() {
        let why = if host.driver.is_none() && host.cuda().is_none() {
            "no NVIDIA driver and no GPU on this host: the CPU build of torch".to_string()
        } else {
            "the driver reports no GPU: the CPU build of torch".to_string()
        };
        return TorchChoice {
            requirement: base,
            variant: None,
            release: releases.first().map(|(m, _)| format!("2.{m}")),
            reasons: vec![why],
            rejected: vec![],
        };
    }
    let gpus = gpu_names(host.gpus.iter());
    let driver_desc = driver_description(host);
    let target = matrix.cuda_target();
    let ranking = rank(k, host, &releases, target, &driver_desc);
    let Some((_, rank, minor, variant)) = ranking.best else {
        return TorchChoice {
            requirement: base,
            variant: None,
            release: None,
            reasons: vec![format!(
                "no torch release in compat's tables has CUDA wheels that {driver_desc} runs with kernels for {}: upgrade the driver, or use the CPU build",
                gpus.join(", ")
            )],
            rejected: ranking.rejected_newest,
        };
    };
    let newest = releases.first().map(|(m, _)| *m).unwrap_or(minor);
    let requirement = if minor < newest {
        format!("torch{spec_text},<2.{}", minor + 1)
    } else {
        base
    };
    let mut reasons = vec![format!(
        "{} fits {driver_desc}{} and has native kernels for every GPU: {}",
        variant.tag(),
        if rank == 2 {
            ""
        } else {
            " (under minor-version compatibility)"
        },
        gpus.join(", ")
    )];
    if minor < newest {
        reasons.push(format!(
            "bounded below 2.{}: torch 2.{newest}'s variants do not fit this host (see rejected)",
            minor + 1
        ));
    }
    if let Some(target) = target.filter(|t| *t != variant) {
        reasons.push(format!(
            "the matrix targets CUDA {target}; {} is the build that fits this host",
            variant.tag()
        ));
    }
    TorchChoice {
        requirement,
        variant: Some(variant),
        release: Some(format!("2.{minor}")),
        reasons,
        rejected: ranking.rejected_newest,
    }
}
