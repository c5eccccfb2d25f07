//! `compat risk`: the matrix's risk table, each row with the evidence gathered now and the rules
//! that set its level.
//!
//! The seed's risk levels are opinions ("LOW: stable, well-tested"). Here a level is computed:
//! rules (in `matrices/knowledge/risk-rules.toml`, levels and thresholds as data) fire on facts —
//! the installed version, the package index's releases (drift, pre-release-only, staleness,
//! yanked), the driver's headroom for the matrix's CUDA target, native libraries built for a
//! CUDA the driver cannot run, and whether the mitigations the seed names are installed. The
//! row's level is the highest level of the rules that fired, and the table shows which fired.
//! Pure: index facts come in as data ([`IndexFacts`]), gathered by `crate::index`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::env::PythonEnv;
use crate::knowledge::{DriverSupport, Knowledge, RiskRuleId};
use crate::matrix::{Matrix, RiskLevel};
use crate::model::normalize;
use crate::model::units::CudaVersion;
use crate::probe::HostFacts;

/// What the package index says about one project, reduced to what the rules need.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProjectFacts {
    /// Newest non-yanked final release.
    pub latest: Option<String>,
    /// Newest release of any kind.
    pub latest_any: Option<String>,
    /// Upload time (RFC 3339) of the newest release of any kind.
    pub latest_upload: Option<String>,
    pub yanked: Vec<String>,
    pub releases: usize,
    /// `network` or `cache (age N s)`.
    pub source: String,
}

/// Index facts by normalized project name: the facts, or why there are none.
pub type IndexFacts = BTreeMap<String, Result<ProjectFacts, String>>;

#[derive(Debug, Clone, Serialize)]
pub struct Fired {
    pub rule: RiskRuleId,
    pub level: RiskLevel,
    pub because: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RiskRow {
    pub subject: String,
    pub libraries: Vec<String>,
    pub risk: String,
    pub mitigation: String,
    /// The matrix's level; `None` for rows compat adds (known issues' mitigations).
    pub claimed_level: Option<RiskLevel>,
    /// `None` when no fact could be gathered for the row.
    pub level: Option<RiskLevel>,
    pub fired: Vec<Fired>,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RiskReport {
    pub schema: &'static str,
    pub index: String,
    pub rows: Vec<RiskRow>,
    pub highest: Option<RiskLevel>,
}

/// Days between an RFC 3339 date (its `YYYY-MM-DD` part) and `now` (seconds since the epoch).
fn age_days(rfc3339: &str, now: u64) -> Option<u64> {
    let date = rfc3339.get(..10)?;
    let mut it = date.split('-');
    let (y, m, d): (i64, i64, i64) = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    // days_from_civil (Howard Hinnant)
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let now_days = (now / 86_400) as i64;
    (now_days >= days).then(|| (now_days - days) as u64)
}

fn fire(k: &Knowledge, out: &mut Vec<Fired>, id: RiskRuleId, because: String) {
    out.push(Fired {
        rule: id,
        level: k.risk_rules().get(id).level,
        because,
    });
}

fn release_of(v: &str) -> Option<(u64, u64)> {
    let v: pep440_rs::Version = v.parse().ok()?;
    let r = v.release();
    Some((*r.first()?, r.get(1).copied().unwrap_or(0)))
}

/// The library rules: installed vs matrix vs index.
#[allow(clippy::too_many_arguments)] // until the risk rules are split (next commits)
fn library_rules(
    lib: &str,
    k: &Knowledge,
    matrix: &Matrix,
    env: &PythonEnv,
    index: &IndexFacts,
    now: u64,
    fired: &mut Vec<Fired>,
    evidence: &mut Vec<String>,
) {
    let n = normalize(lib);
    let spec = matrix.spec(lib);
    let installed = env.get(lib);
    match installed {
        Some(d) => {
            evidence.push(format!("{n} {} installed", d.version_text));
            if let (Some(s), Some(v)) = (spec, &d.version) {
                if !s.contains(v) {
                    fire(
                        k,
                        fired,
                        RiskRuleId::InstalledBelowMatrix,
                        format!("{n} {} does not satisfy the matrix's {s}", d.version_text),
                    );
                }
            }
        }
        None => fire(
            k,
            fired,
            RiskRuleId::NotInstalled,
            format!("{n} is not installed in this environment"),
        ),
    }
    match index.get(&n) {
        None => evidence.push(format!("{n}: the package index was not asked")),
        Some(Err(e)) => evidence.push(format!("{n}: no index facts ({e})")),
        Some(Ok(p)) => {
            evidence.push(format!(
                "index ({}): latest {}, newest of any kind {}, {} releases",
                p.source,
                p.latest.as_deref().unwrap_or("none"),
                p.latest_any.as_deref().unwrap_or("none"),
                p.releases
            ));
            if p.latest.is_none() && p.latest_any.is_some() {
                fire(
                    k,
                    fired,
                    RiskRuleId::PrereleaseOnly,
                    format!(
                        "{n}'s only releases are pre-releases or development versions (newest {})",
                        p.latest_any.as_deref().unwrap_or("")
                    ),
                );
            }
            if let Some(up) = &p.latest_upload {
                if let Some(days) = age_days(up, now) {
                    evidence.push(format!("newest release uploaded {up} ({days} days ago)"));
                    let two = k.risk_rules().days(RiskRuleId::Stale2y);
                    let one = k.risk_rules().days(RiskRuleId::Stale1y);
                    if days > two {
                        fire(
                            k,
                            fired,
                            RiskRuleId::Stale2y,
                            format!("{n}'s newest release is {days} days old"),
                        );
                    } else if days > one {
                        fire(
                            k,
                            fired,
                            RiskRuleId::Stale1y,
                            format!("{n}'s newest release is {days} days old"),
                        );
                    }
                }
            }
            if let Some(d) = installed {
                if p.yanked.iter().any(|y| {
                    *y == d.version_text
                        || y.parse::<pep440_rs::Version>().ok()
                            == d.version.clone().map(|v| v.without_local())
                }) {
                    fire(
                        k,
                        fired,
                        RiskRuleId::YankedInstalled,
                        format!("{n} {} is yanked on the index", d.version_text),
                    );
                }
            }
            let base = installed
                .map(|d| d.version_text.clone())
                .or_else(|| spec.and_then(|s| s.iter().next().map(|v| v.version().to_string())));
            if let (Some(latest), Some(base)) = (&p.latest, base) {
                if let (Some((lm, lmin)), Some((bm, bmin))) =
                    (release_of(latest), release_of(&base))
                {
                    let what = if installed.is_some() {
                        "installed"
                    } else {
                        "the matrix's floor"
                    };
                    if lm > bm {
                        fire(k, fired, RiskRuleId::MajorDrift, format!("{n}: the index's latest is {latest}, {what} is {base} (a major version behind)"));
                    } else if lm == bm {
                        let gap = lmin.saturating_sub(bmin);
                        let limit = k.risk_rules().minor_drift();
                        if installed.is_some() && gap >= limit {
                            fire(
                                k,
                                fired,
                                RiskRuleId::MinorDrift,
                                format!(
                                    "{n} {base} is {gap} minor releases behind the latest {latest}"
                                ),
                            );
                        }
                    }
                    if let Some(s) = spec {
                        evidence.push(format!("drift: the matrix says {n}{s}, the index's latest is {latest}, {what} is {base}"));
                    }
                }
            }
        }
    }
}

/// The CUDA rules for the matrix's CUDA target and the native libraries.
fn cuda_rules(
    matrix: &Matrix,
    env: &PythonEnv,
    host: &HostFacts,
    k: &Knowledge,
    fired: &mut Vec<Fired>,
    evidence: &mut Vec<String>,
) {
    let target = matrix.cuda_target();
    let support = |v: CudaVersion| -> Option<DriverSupport> {
        k.driver_support(
            host.driver.as_ref().map(|d| &d.value),
            host.cuda().map(|c| c.value),
            v,
        )
    };
    evidence.push(format!("host: {}", host.gpu_summary()));
    if let Some(t) = target {
        match support(t) {
            None => evidence.push(format!(
                "no driver here: the headroom for CUDA {t} cannot be measured"
            )),
            Some(DriverSupport::Full) => fire(
                k,
                fired,
                RiskRuleId::DriverHeadroomOk,
                format!("the driver fully supports CUDA {t}"),
            ),
            Some(DriverSupport::MinorCompat { .. }) => fire(
                k,
                fired,
                RiskRuleId::DriverMinorCompat,
                format!("the driver runs CUDA {t} only under minor-version compatibility"),
            ),
            Some(DriverSupport::No { needs }) => fire(
                k,
                fired,
                RiskRuleId::DriverBelowTargetMajor,
                format!("the driver cannot run CUDA {t} (needs >= {needs})"),
            ),
        }
    }
    if let Some(tc) = env
        .torch
        .as_ref()
        .and_then(|t| t.cuda.as_deref())
        .and_then(|c| c.parse::<CudaVersion>().ok())
    {
        if let Some(DriverSupport::No { needs }) = support(tc) {
            fire(
                k,
                fired,
                RiskRuleId::NativeCudaTooNew,
                format!("torch is built for CUDA {tc}; the driver needs >= {needs} for it"),
            );
        }
        let libs = k.bnb_cuda_versions(&env.bnb_libraries);
        if let Some(sel) = k.bnb_select(tc, &libs) {
            evidence.push(format!(
                "bitsandbytes would load libbitsandbytes_cuda{}{}.so",
                sel.major, sel.minor
            ));
            if let Some(DriverSupport::No { needs }) = support(sel) {
                fire(
                    k,
                    fired,
                    RiskRuleId::NativeCudaTooNew,
                    format!("bitsandbytes' CUDA {sel} library needs a driver >= {needs}"),
                );
            }
        }
    }
}

/// Assesses every risk row of the matrix. Pure.
pub fn assess(
    matrix: &Matrix,
    env: &PythonEnv,
    host: &HostFacts,
    k: &Knowledge,
    index: &IndexFacts,
    index_desc: &str,
    now: u64,
) -> RiskReport {
    let mut rows = Vec::new();
    for r in &matrix.doc.risks {
        let mut fired = Vec::new();
        let mut evidence = Vec::new();
        let libs: Vec<String> = r.libraries.iter().map(|l| l.get_ref().clone()).collect();
        for l in &libs {
            library_rules(l, k, matrix, env, index, now, &mut fired, &mut evidence);
        }
        if r.topic.as_deref() == Some("cuda") {
            cuda_rules(matrix, env, host, k, &mut fired, &mut evidence);
        }
        // External service (the seed's wandb row) and its local alternatives.
        if r.risk.to_ascii_lowercase().contains("external service") {
            let alts = &k
                .risk_rules()
                .get(RiskRuleId::ExternalServiceNoLocal)
                .alternatives;
            let present: Vec<String> = alts
                .iter()
                .filter_map(|a| {
                    env.get(a)
                        .map(|d| format!("{} {}", d.normalized, d.version_text))
                })
                .collect();
            if present.is_empty() {
                fire(
                    k,
                    &mut fired,
                    RiskRuleId::ExternalServiceNoLocal,
                    format!(
                        "{} reports to an external service and none of {} is installed",
                        libs.join(", "),
                        alts.join(", ")
                    ),
                );
            } else {
                fire(
                    k,
                    &mut fired,
                    RiskRuleId::ExternalServiceWithLocal,
                    format!("local alternative installed: {}", present.join(", ")),
                );
            }
        }
        // `not-installed` only informs; it does not lower a level set by real evidence.
        let level = fired
            .iter()
            .filter(|f| f.rule != RiskRuleId::NotInstalled || fired.len() == 1)
            .map(|f| f.level)
            .max();
        rows.push(RiskRow {
            subject: r.subject.clone(),
            libraries: libs,
            risk: r.risk.clone(),
            mitigation: r.mitigation.clone(),
            claimed_level: Some(r.level),
            level,
            fired,
            evidence,
        });
    }
    // The known issues whose solution is another library: is that mitigation installed?
    for ki in &matrix.doc.known_issues {
        for l in &ki.libraries {
            let n = normalize(l.get_ref());
            if n == "torch" {
                continue; // the solution is a torch feature (fp16), not a library to install
            }
            let mut fired = Vec::new();
            let mut evidence = Vec::new();
            match env.get(&n) {
                Some(d) => evidence.push(format!(
                    "{n} {} is installed: the mitigation is ready",
                    d.version_text
                )),
                None => fire(
                    k,
                    &mut fired,
                    RiskRuleId::MitigationMissing,
                    format!("\"{}\" relies on {n}, which is not installed", ki.solution),
                ),
            }
            rows.push(RiskRow {
                subject: format!("known issue: {}", ki.title),
                libraries: vec![n.clone()],
                risk: ki.issue.clone(),
                mitigation: ki.solution.clone(),
                claimed_level: None,
                level: fired.iter().map(|f| f.level).max().or(Some(RiskLevel::Low)),
                fired,
                evidence,
            });
        }
    }
    let highest = rows.iter().filter_map(|r| r.level).max();
    RiskReport {
        schema: "compat.risk/1",
        index: index_desc.to_string(),
        rows,
        highest,
    }
}

fn lvl(l: Option<RiskLevel>) -> &'static str {
    match l {
        Some(RiskLevel::Low) => "LOW",
        Some(RiskLevel::Medium) => "MEDIUM",
        Some(RiskLevel::High) => "HIGH",
        None => "—",
    }
}

pub fn render_table(r: &RiskReport) -> String {
    use comfy_table::{presets, ContentArrangement, Table};
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "seed",
            "now",
            "library",
            "risk",
            "rules fired",
            "evidence",
        ]);
    for row in &r.rows {
        t.add_row(vec![
            lvl(row.claimed_level).to_string(),
            lvl(row.level).to_string(),
            row.subject.clone(),
            format!("{}\nmitigation: {}", row.risk, row.mitigation),
            row.fired
                .iter()
                .map(|f| format!("{} ({}): {}", f.rule, lvl(Some(f.level)), f.because))
                .collect::<Vec<_>>()
                .join("\n"),
            row.evidence.join("\n"),
        ]);
    }
    format!(
        "Risk assessment (index: {})\n{t}\nhighest: {}\n",
        r.index,
        lvl(r.highest)
    )
}

pub fn render_markdown(r: &RiskReport) -> String {
    let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut o = format!("## Risk Assessment\n\nIndex: {}.\n\n| Seed level | Level now | Library | Risk | Mitigation | Rules fired | Evidence |\n|---|---|---|---|---|---|---|\n", r.index);
    for row in &r.rows {
        o.push_str(&format!(
            "| {} | **{}** | {} | {} | {} | {} | {} |\n",
            lvl(row.claimed_level),
            lvl(row.level),
            esc(&row.subject),
            esc(&row.risk),
            esc(&row.mitigation),
            esc(&row
                .fired
                .iter()
                .map(|f| format!("`{}` ({}): {}", f.rule, lvl(Some(f.level)), f.because))
                .collect::<Vec<_>>()
                .join("<br>")),
            esc(&row.evidence.join("<br>"))
        ));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        // 2026-11-28 00:00 UTC
        let now = 1_795_824_000;
        assert_eq!(age_days("2026-11-28T10:00:00Z", now), Some(0));
        assert_eq!(age_days("2025-11-28T10:00:00Z", now), Some(365));
        assert_eq!(age_days("2023-05-01T00:00:00.123Z", now), Some(1307));
        assert_eq!(age_days("garbage", now), None);
    }
}
