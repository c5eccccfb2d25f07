//! The document's other statements, checked like cells: the past conflicts it calls resolved,
//! its current conflicts, its known issues, and the edges of its dependency graph.

use super::cells::no_driver_reason;
use super::{Consistency, Problem, StatementCheck};
use crate::env::PythonEnv;
use crate::knowledge::Knowledge;
use crate::matrix::Matrix;
use crate::model::Verdict;

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
    c.past
        .iter()
        .map(|p| {
            let names: Vec<String> = p
                .libraries
                .iter()
                .map(|l| crate::model::normalize(l.get_ref()))
                .collect();
            let mut check = StatementCheck {
                text: format!("{} ({})", p.text, p.resolution),
                verdict: Verdict::Verified,
                reason: None,
                evidence: Vec::new(),
            };
            let missing: Vec<&String> = names.iter().filter(|n| env.get(n).is_none()).collect();
            if !missing.is_empty() {
                check.verdict = Verdict::NotInstalled;
                check.reason = Some(format!(
                    "not installed: {}",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
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
                    names.contains(&pr.package)
                        && (names.len() == 1 || names.contains(&pr.dependency))
                })
                .collect();
            if let Some(f) = &p.fixed_in {
                let lib = crate::model::normalize(f.library.get_ref());
                let spec: Option<pep440_rs::VersionSpecifiers> = f.version.get_ref().parse().ok();
                if let (Some(d), Some(spec)) = (env.get(&lib), spec) {
                    if d.version.as_ref().is_some_and(|v| spec.contains(v)) {
                        check.evidence.push(format!(
                            "{lib} {} is in the fixing range {spec}",
                            d.version_text
                        ));
                    } else {
                        check.verdict = Verdict::Failed;
                        check.reason = Some(format!(
                            "{lib} {} predates the fix ({spec})",
                            d.version_text
                        ));
                    }
                }
            }
            if !related.is_empty() {
                check.verdict = Verdict::Failed;
                check.reason = Some(
                    related
                        .iter()
                        .map(|p| p.message.clone())
                        .collect::<Vec<_>>()
                        .join(" "),
                );
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
        })
        .collect()
}

/// Current known issues: what the installed metadata says about them.
pub(super) fn current_conflicts(
    matrix: &Matrix,
    env: &PythonEnv,
    host: &crate::probe::HostFacts,
    knowledge: &Knowledge,
) -> Vec<StatementCheck> {
    let Some(c) = &matrix.doc.conflicts else {
        return Vec::new();
    };
    c.current
        .iter()
        .map(|k| {
            let mut check = StatementCheck {
                text: k.text.clone(),
                verdict: Verdict::Unverified,
                reason: None,
                evidence: Vec::new(),
            };
            if k.topic.as_deref() == Some("gpu-arch") {
                old_gpu_arch(&mut check, host, knowledge);
                return check;
            }
            let first = k.libraries.first().map(|l| l.get_ref().as_str()).unwrap_or("");
            match env.get(first) {
                None => {
                    check.verdict = Verdict::NotInstalled;
                    check.reason = Some(format!("{first} is not installed in this environment"));
                }
                Some(d) => {
                    let torch_reqs: Vec<&String> = d.requirements.iter().filter(|(_, r)| r.name.as_ref() == "torch").map(|(l, _)| l).collect();
                    check.evidence.push(format!("{} {} installed", d.normalized, d.version_text));
                    check.evidence.push(if torch_reqs.is_empty() {
                        "declares no requirement on torch".into()
                    } else {
                        format!("Requires-Dist: {}", torch_reqs.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; "))
                    });
                    check.reason = Some("whether sparsegpt itself works with this torch needs its own code run; compat's 2:4 smoke check (`compat smoke`) exercises the operation, not the package".into());
                }
            }
            check
        })
        .collect()
}

/// The current known issue on older GPU architectures: every GPU against the newest CUDA
/// release in compat's tables.
fn old_gpu_arch(check: &mut StatementCheck, host: &crate::probe::HostFacts, k: &Knowledge) {
    check.text = format!(
        "{} — every GPU of this host is supported by the newest CUDA",
        check.text
    );
    if host.gpus.is_empty() {
        check.reason = Some(no_driver_reason(host));
        return;
    }
    let newest = k.newest_cuda();
    let old: Vec<String> = host
        .gpus
        .iter()
        .filter(|g| k.cuda_supports_arch(newest, g.compute_capability) == Some(false))
        .map(|g| format!("{} ({})", g.name, g.compute_capability.sm()))
        .collect();
    if old.is_empty() {
        check.verdict = Verdict::Verified;
        check.evidence.push(format!(
            "CUDA {newest} supports every GPU here ({})",
            host.gpu_summary()
        ));
    } else {
        check.verdict = Verdict::Failed;
        check.reason = Some(format!(
            "CUDA {newest} does not support {}: keep this host on CUDA {}.x wheels",
            old.join(", "),
            newest.major - 1
        ));
    }
}

/// The document's known issues, decided where the facts allow.
pub(super) fn known_issues(
    matrix: &Matrix,
    env: &PythonEnv,
    host: &crate::probe::HostFacts,
    k: &Knowledge,
) -> Vec<StatementCheck> {
    matrix
        .doc
        .known_issues
        .iter()
        .map(|ki| {
            let mut c = StatementCheck {
                text: ki.title.clone(),
                verdict: Verdict::Unverified,
                reason: None,
                evidence: Vec::new(),
            };
            if ki.id.get_ref() == "mixed-precision" {
                c.text = "bf16 runs natively on every GPU (else the seed's fp16 mitigation applies)".into();
                if host.gpus.is_empty() {
                    c.reason = Some(no_driver_reason(host));
                    return c;
                }
                let slow: Vec<String> = host
                    .gpus
                    .iter()
                    .filter(|g| !k.precision(g.compute_capability).bf16_native)
                    .map(|g| format!("{} ({})", g.name, g.compute_capability.sm()))
                    .collect();
                if slow.is_empty() {
                    c.verdict = Verdict::Verified;
                    c.evidence.push(format!("every GPU is sm_80 or newer ({})", host.gpu_summary()));
                } else {
                    c.verdict = Verdict::Failed;
                    c.reason = Some(format!(
                        "no native bf16 on {} (it needs sm_80; emulation is not support): use torch.float16 with automatic loss scaling",
                        slow.join(", ")
                    ));
                }
                return c;
            }
            // Otherwise: the mitigation's library is installed, or not.
            c.text = format!("{}: the mitigation ({}) is available", ki.title, ki.solution);
            for l in &ki.libraries {
                match env.get(l.get_ref()) {
                    Some(d) => {
                        c.verdict = Verdict::Verified;
                        c.evidence.push(format!("{} {} is installed", d.normalized, d.version_text));
                    }
                    None => {
                        c.verdict = Verdict::NotInstalled;
                        c.reason = Some(format!("{} is not installed in this environment", l.get_ref()));
                        break;
                    }
                }
            }
            c
        })
        .collect()
}

/// The graph's edges against the packages' own `Requires-Dist`.
pub(super) fn graph_edges(matrix: &Matrix, env: &PythonEnv) -> Vec<StatementCheck> {
    let mut out = Vec::new();
    for g in &matrix.doc.graph {
        for (from, to) in g.edges() {
            let mut check = StatementCheck {
                text: format!("{from} requires {to}"),
                verdict: Verdict::Unverified,
                reason: None,
                evidence: Vec::new(),
            };
            let Some(d) = env.get(&from) else {
                check.verdict = Verdict::NotInstalled;
                check.reason = Some(format!("{from} is not installed in this environment"));
                out.push(check);
                continue;
            };
            let target = crate::model::normalize(&to);
            let lines: Vec<&(String, pep508_rs::Requirement)> = d
                .requirements
                .iter()
                .filter(|(_, r)| r.name.as_ref() == target)
                .collect();
            let markers = env.marker_env();
            let applies = |r: &pep508_rs::Requirement| {
                markers
                    .as_ref()
                    .map(|m| r.evaluate_markers(m, &[]))
                    .unwrap_or(r.marker.contents().is_none())
            };
            for (l, _) in &lines {
                check.evidence.push(format!(
                    "{} {}: Requires-Dist: {l}",
                    d.normalized, d.version_text
                ));
            }
            if lines.is_empty() {
                check.reason = Some(format!("{} {} declares no requirement on {to}: the edge is the document's, not the package's", d.normalized, d.version_text));
            } else if lines.iter().any(|(_, r)| applies(r)) {
                check.verdict = Verdict::Verified;
            } else {
                check.reason = Some(format!(
                    "{} {} requires {to} only through an extra or a marker that does not hold here",
                    d.normalized, d.version_text
                ));
            }
            out.push(check);
        }
    }
    out
}
