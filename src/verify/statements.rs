//! The document's other statements, checked like cells: the past conflicts it calls resolved,
//! its current conflicts, its known issues, and the edges of its dependency graph.
//!
//! A current conflict or a known issue is checked the way its matrix entry's `check` says
//! ([`CheckKind`], validated by the loader); nothing here looks at a statement's id or words.

use pep440_rs::VersionSpecifiers;

use super::cells::{gpu_label, no_driver};
use super::{applies, Consistency, Problem, Reason, StatementCheck};
use crate::env::PythonEnv;
use crate::knowledge::Knowledge;
use crate::matrix::{CheckKind, CurrentConflict, KnownIssue, Matrix, PastConflict};
use crate::model::{normalize, SmokeCheckId, Verdict};
use crate::probe::HostFacts;

/// Past conflicts the document calls resolved: resolved here when no installed requirement
/// between the named libraries is broken (and, with `fixed_in`, the fixing release is installed).
pub(super) fn past_conflicts(
    matrix: &Matrix,
    env: &PythonEnv,
    cons: &Consistency,
) -> Vec<StatementCheck> {
    let Some(c) = &matrix.doc.conflicts else {
        return Vec::new();
    };
    c.past.iter().map(|p| past_conflict(p, env, cons)).collect()
}

fn past_conflict(p: &PastConflict, env: &PythonEnv, cons: &Consistency) -> StatementCheck {
    let names: Vec<String> = p.libraries.iter().map(|l| normalize(l.get_ref())).collect();
    let mut check = StatementCheck::new(format!("{} ({})", p.text, p.resolution));
    check.verdict = Verdict::Verified;
    let missing: Vec<String> = names
        .iter()
        .filter(|n| env.get(n).is_none())
        .cloned()
        .collect();
    if !missing.is_empty() {
        check.decide(Verdict::NotInstalled, Reason::NoneInstalled { missing });
        return check;
    }
    for n in &names {
        if let Some(d) = env.get(n) {
            check
                .evidence
                .push(format!("{} {}", d.normalized, d.version_text));
        }
    }
    // Problems declared by one of the named libraries (against anything: for torch, its
    // pinned CUDA wheels), or against one of them.
    let related: Vec<&Problem> = cons
        .problems
        .iter()
        .filter(|pr| {
            names.contains(&pr.package) && (names.len() == 1 || names.contains(&pr.dependency))
        })
        .collect();
    if let Some(f) = &p.fixed_in {
        let lib = normalize(f.library.get_ref());
        let spec: Option<VersionSpecifiers> = f.version.get_ref().parse().ok();
        if let (Some(d), Some(spec)) = (env.get(&lib), spec) {
            if d.version.as_ref().is_some_and(|v| spec.contains(v)) {
                check.evidence.push(format!(
                    "{lib} {} is in the fixing range {spec}",
                    d.version_text
                ));
            } else {
                let version = d.version_text.clone();
                check.decide(
                    Verdict::Failed,
                    Reason::PredatesFix {
                        library: lib,
                        version,
                        spec,
                    },
                );
            }
        }
    }
    if !related.is_empty() {
        let messages = related.iter().map(|p| p.message.clone()).collect();
        check.decide(Verdict::Failed, Reason::BrokenRequirement { messages });
    } else if check.verdict == Verdict::Verified {
        check.evidence.push(format!(
            "no broken requirement {} in the installed metadata",
            if names.len() == 1 {
                format!("declared by {}", names[0])
            } else {
                format!("between {}", names.join(" and "))
            }
        ));
    }
    check
}

/// Current conflicts, each checked as its `check` says.
pub(super) fn current_conflicts(
    matrix: &Matrix,
    env: &PythonEnv,
    host: &HostFacts,
    k: &Knowledge,
) -> Vec<StatementCheck> {
    let Some(c) = &matrix.doc.conflicts else {
        return Vec::new();
    };
    c.current
        .iter()
        .map(|cur| match cur.check() {
            CheckKind::GpuArch => gpu_arch(&cur.text, host, k),
            CheckKind::Bf16Native => bf16_native(host, k),
            CheckKind::DeclaredRequirements | CheckKind::MitigationInstalled => {
                declared_requirements(cur, matrix, env)
            }
        })
        .collect()
}

/// What the conflict's first library declares about the others. Whether it works with them
/// needs its own code run, so the check stays unverified with what the metadata says.
fn declared_requirements(
    cur: &CurrentConflict,
    matrix: &Matrix,
    env: &PythonEnv,
) -> StatementCheck {
    let mut check = StatementCheck::new(cur.text.clone());
    let mut libs = cur.libraries.iter().map(|l| l.get_ref().as_str());
    let first = libs.next().unwrap_or("");
    let others: Vec<String> = libs.map(str::to_string).collect();
    let Some(d) = env.get(first) else {
        let library = first.to_string();
        check.decide(Verdict::NotInstalled, Reason::NotInstalledHere { library });
        return check;
    };
    let wanted: Vec<String> = others.iter().map(|o| normalize(o)).collect();
    let lines: Vec<&str> = d
        .requirements
        .iter()
        .filter(|(_, r)| wanted.iter().any(|w| r.name.as_ref() == w))
        .map(|(l, _)| l.as_str())
        .collect();
    check
        .evidence
        .push(format!("{} {} installed", d.normalized, d.version_text));
    if !others.is_empty() {
        check.evidence.push(if lines.is_empty() {
            format!("declares no requirement on {}", others.join(" or "))
        } else {
            format!("Requires-Dist: {}", lines.join("; "))
        });
    }
    let smoke = matrix
        .library(first)
        .map(|l| {
            l.smoke
                .iter()
                .filter_map(|s| SmokeCheckId::parse(s.get_ref()))
                .collect()
        })
        .unwrap_or_default();
    check.decide(
        Verdict::Unverified,
        Reason::NeedsCodeRun {
            package: first.to_string(),
            others,
            smoke,
        },
    );
    check
}

/// Every GPU of the host against the newest CUDA release in compat's tables.
fn gpu_arch(text: &str, host: &HostFacts, k: &Knowledge) -> StatementCheck {
    let mut check = StatementCheck::new(format!(
        "{text} — every GPU of this host is supported by the newest CUDA"
    ));
    if host.gpus.is_empty() {
        check.decide(Verdict::Unverified, no_driver(host));
        return check;
    }
    let newest = k.newest_cuda();
    let gpus: Vec<String> = host
        .gpus
        .iter()
        .filter(|g| k.cuda_supports_arch(newest, g.compute_capability) == Some(false))
        .map(gpu_label)
        .collect();
    if gpus.is_empty() {
        check.verdict = Verdict::Verified;
        check.evidence.push(format!(
            "CUDA {newest} supports every GPU here ({})",
            host.gpu_summary()
        ));
    } else {
        check.decide(
            Verdict::Failed,
            Reason::ArchDroppedByNewestCuda { newest, gpus },
        );
    }
    check
}

/// Every GPU of the host runs bf16 natively (else the fp16 mitigation applies).
fn bf16_native(host: &HostFacts, k: &Knowledge) -> StatementCheck {
    let mut check = StatementCheck::new(
        "bf16 runs natively on every GPU (else the seed's fp16 mitigation applies)".into(),
    );
    if host.gpus.is_empty() {
        check.decide(Verdict::Unverified, no_driver(host));
        return check;
    }
    let floor = k.bf16_native_floor();
    let gpus: Vec<String> = host
        .gpus
        .iter()
        .filter(|g| !k.precision(g.compute_capability).bf16_native)
        .map(gpu_label)
        .collect();
    if gpus.is_empty() {
        check.verdict = Verdict::Verified;
        check.evidence.push(format!(
            "every GPU is {} or newer ({})",
            floor.sm(),
            host.gpu_summary()
        ));
    } else {
        check.decide(Verdict::Failed, Reason::NoNativeBf16 { gpus, floor });
    }
    check
}

/// The document's known issues, each checked as its `check` says.
pub(super) fn known_issues(
    matrix: &Matrix,
    env: &PythonEnv,
    host: &HostFacts,
    k: &Knowledge,
) -> Vec<StatementCheck> {
    matrix
        .doc
        .known_issues
        .iter()
        .map(|ki| match ki.check() {
            CheckKind::Bf16Native => bf16_native(host, k),
            CheckKind::GpuArch => gpu_arch(&ki.title, host, k),
            CheckKind::MitigationInstalled | CheckKind::DeclaredRequirements => {
                mitigation_installed(ki, env)
            }
        })
        .collect()
}

/// The libraries the issue's solution relies on are installed, or not.
fn mitigation_installed(ki: &KnownIssue, env: &PythonEnv) -> StatementCheck {
    let mut check = StatementCheck::new(format!(
        "{}: the mitigation ({}) is available",
        ki.title, ki.solution
    ));
    for l in &ki.libraries {
        match env.get(l.get_ref()) {
            Some(d) => {
                check.verdict = Verdict::Verified;
                check
                    .evidence
                    .push(format!("{} {} is installed", d.normalized, d.version_text));
            }
            None => {
                let library = l.get_ref().clone();
                check.decide(Verdict::NotInstalled, Reason::NotInstalledHere { library });
                break;
            }
        }
    }
    check
}

/// The graph's edges against the packages' own `Requires-Dist`.
pub(super) fn graph_edges(matrix: &Matrix, env: &PythonEnv) -> Vec<StatementCheck> {
    let markers = env.marker_env();
    let mut out = Vec::new();
    for g in &matrix.doc.graph {
        for (from, to) in g.edges() {
            let mut check = StatementCheck::new(format!("{from} requires {to}"));
            let Some(d) = env.get(&from) else {
                let library = from.clone();
                check.decide(Verdict::NotInstalled, Reason::NotInstalledHere { library });
                out.push(check);
                continue;
            };
            let target = normalize(&to);
            let lines: Vec<&(String, pep508_rs::Requirement)> = d
                .requirements
                .iter()
                .filter(|(_, r)| r.name.as_ref() == target)
                .collect();
            for (l, _) in &lines {
                check.evidence.push(format!(
                    "{} {}: Requires-Dist: {l}",
                    d.normalized, d.version_text
                ));
            }
            let (package, version) = (d.normalized.clone(), d.version_text.clone());
            if lines.is_empty() {
                let reason = Reason::EdgeNotDeclared {
                    package,
                    version,
                    to,
                };
                check.decide(Verdict::Unverified, reason);
            } else if lines.iter().any(|(_, r)| applies(r, markers.as_ref(), &[])) {
                check.verdict = Verdict::Verified;
            } else {
                let reason = Reason::EdgeConditional {
                    package,
                    version,
                    to,
                };
                check.decide(Verdict::Unverified, reason);
            }
            out.push(check);
        }
    }
    out
}
