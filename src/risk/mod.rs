//! `compat risk`: the matrix's risk table, each row with the evidence gathered now and the rules
//! that set its level.
//!
//! The seed's risk levels are opinions ("LOW: stable, well-tested"). Here a level is computed:
//! rules (in `matrices/knowledge/risk-rules.toml`, levels and thresholds as data, loaded with
//! the other knowledge tables) fire on facts — the installed version, the package index's
//! releases (drift, pre-release-only, staleness, yanked), the driver's headroom for the matrix's
//! CUDA target, native libraries built for a CUDA the driver cannot run, and whether the
//! mitigations the seed names are installed. The row's level is the highest level of the rules
//! that fired, and the table shows which fired. Every advisory that bites (matrices/advisories,
//! evaluated by the caller) adds a row of its own at [`ADVISORY_LEVEL`] with its id, evidence,
//! symptom and fix ([`RiskReport::add_advisories`]). A row's `topic` (`cuda`, `external-service`)
//! says which of the topic rules apply to it.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the result types, [`assess`], index facts from `crate::index`'s projects |
//! | `library.rs` | the library rules: installed vs matrix vs index |
//! | `cuda.rs` | the CUDA rules: the driver against the target and the native libraries |
//!
//! Pure: index facts come in as data ([`IndexFacts`], made by [`index_facts`] from what
//! `crate::index` fetched). What does not live here: fetching (`index`), rendering
//! (`report::risk`), the rules' levels (`knowledge::risk_rules`).

mod cuda;
mod library;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::advisories::{Hit, IgnoredHit};
use crate::env::PythonEnv;
use crate::index::{FetchSource, IndexError, Project};
use crate::knowledge::{Knowledge, RiskRuleId};
use crate::matrix::{CheckKind, Matrix, Risk, RiskLevel, RiskTopic};
use crate::model::normalize;
use crate::probe::HostFacts;

/// What the package index says about one project, reduced to what the rules need.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectFacts {
    /// Newest non-yanked final release.
    pub latest: Option<String>,
    /// Newest release of any kind.
    pub latest_any: Option<String>,
    /// Upload time (RFC 3339) of the newest release of any kind.
    pub latest_upload: Option<String>,
    pub yanked: Vec<String>,
    pub releases: usize,
    /// Fetched now, or read from the cache (and how old it is).
    pub source: FetchSource,
}

impl From<&Project> for ProjectFacts {
    fn from(p: &Project) -> Self {
        ProjectFacts {
            latest: p.latest().map(|r| r.version.clone()),
            latest_any: p.latest_any().map(|r| r.version.clone()),
            latest_upload: p.latest_any().and_then(|r| r.upload_time.clone()),
            yanked: p
                .releases
                .iter()
                .filter(|r| r.yanked)
                .map(|r| r.version.clone())
                .collect(),
            releases: p.releases.len(),
            source: p.source,
        }
    }
}

/// Index facts by normalized project name: the facts, or why there are none.
pub type IndexFacts = BTreeMap<String, Result<ProjectFacts, IndexError>>;

/// The index facts of what `crate::index::Client::projects` fetched.
pub fn index_facts(projects: Vec<(String, Result<Project, IndexError>)>) -> IndexFacts {
    projects
        .into_iter()
        .map(|(name, p)| (normalize(&name), p.map(|p| ProjectFacts::from(&p))))
        .collect()
}

/// The risk rows' libraries, normalized, each once: the projects to ask the index about.
pub fn projects_to_ask(matrix: &Matrix) -> Vec<String> {
    let mut names: Vec<String> = matrix
        .doc
        .risks
        .iter()
        .flat_map(|r| r.libraries.iter().map(|l| normalize(l.get_ref())))
        .collect();
    names.sort();
    names.dedup();
    names
}

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
    /// The advisory id, for the rows an advisory hit adds (matrices/advisories): their level is
    /// [`ADVISORY_LEVEL`], `risk` is the symptom and `mitigation` the fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advisory: Option<String>,
    /// The advisory's sources (URLs), on advisory rows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RiskReport {
    pub schema: &'static str,
    pub index: String,
    pub rows: Vec<RiskRow>,
    pub highest: Option<RiskLevel>,
    /// Advisory hits an ignore list (`--ignore`, `compat.toml`) set aside, each with its
    /// reason; they add no row and do not count towards `highest`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_advisories: Vec<IgnoredHit>,
}

/// The level of a row an advisory hit adds: a hit is a breakage someone reported, not a drift.
pub const ADVISORY_LEVEL: RiskLevel = RiskLevel::High;

impl RiskReport {
    /// Adds one row per advisory hit (level [`ADVISORY_LEVEL`], with the advisory's id,
    /// evidence, symptom, fix and sources) and keeps the ignored hits beside the rows;
    /// `highest` is recomputed.
    pub fn add_advisories(&mut self, hits: Vec<Hit>, ignored: Vec<IgnoredHit>) {
        self.rows.extend(hits.into_iter().map(|h| RiskRow {
            subject: format!("advisory {}: {}", h.id, h.title),
            libraries: vec![h.package],
            risk: h.symptom,
            mitigation: h.fix,
            claimed_level: None,
            level: Some(ADVISORY_LEVEL),
            fired: Vec::new(),
            evidence: h.evidence,
            advisory: Some(h.id),
            sources: h.sources,
        }));
        self.ignored_advisories.extend(ignored);
        self.highest = self.rows.iter().filter_map(|r| r.level).max();
    }
}

/// What the rules read.
struct Facts<'a> {
    matrix: &'a Matrix,
    env: &'a PythonEnv,
    host: &'a HostFacts,
    k: &'a Knowledge,
    index: &'a IndexFacts,
    now: jiff::Timestamp,
}

/// The rules that fired for a row, and the evidence gathered on the way.
#[derive(Default)]
struct Findings {
    fired: Vec<Fired>,
    evidence: Vec<String>,
}

impl Findings {
    fn fire(&mut self, k: &Knowledge, id: RiskRuleId, because: String) {
        self.fired.push(Fired {
            rule: id,
            level: k.risk_rules().get(id).level,
            because,
        });
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
    now: jiff::Timestamp,
) -> RiskReport {
    let facts = Facts {
        matrix,
        env,
        host,
        k,
        index,
        now,
    };
    let mut rows: Vec<RiskRow> = matrix
        .doc
        .risks
        .iter()
        .map(|r| risk_row(&facts, r))
        .collect();
    rows.extend(mitigation_rows(&facts));
    let highest = rows.iter().filter_map(|r| r.level).max();
    RiskReport {
        schema: "compat.risk/1",
        index: index_desc.to_string(),
        rows,
        highest,
        ignored_advisories: Vec::new(),
    }
}

fn risk_row(facts: &Facts<'_>, r: &Risk) -> RiskRow {
    let mut found = Findings::default();
    let libs: Vec<String> = r.libraries.iter().map(|l| l.get_ref().clone()).collect();
    for l in &libs {
        library::rules(facts, l, &mut found);
    }
    match r.topic {
        Some(RiskTopic::Cuda) => cuda::rules(facts, &mut found),
        Some(RiskTopic::ExternalService) => external_service(facts, &libs, &mut found),
        None => {}
    }
    // `not-installed` only informs; it does not lower a level set by real evidence.
    let level = found
        .fired
        .iter()
        .filter(|f| f.rule != RiskRuleId::NotInstalled || found.fired.len() == 1)
        .map(|f| f.level)
        .max();
    RiskRow {
        subject: r.subject.clone(),
        libraries: libs,
        risk: r.risk.clone(),
        mitigation: r.mitigation.clone(),
        claimed_level: Some(r.level),
        level,
        fired: found.fired,
        evidence: found.evidence,
        advisory: None,
        sources: Vec::new(),
    }
}

/// An external service (the seed's wandb row) and its local alternatives.
fn external_service(facts: &Facts<'_>, libs: &[String], found: &mut Findings) {
    let k = facts.k;
    let alts = &k
        .risk_rules()
        .get(RiskRuleId::ExternalServiceNoLocal)
        .alternatives;
    let present: Vec<String> = alts
        .iter()
        .filter_map(|a| {
            facts
                .env
                .get(a)
                .map(|d| format!("{} {}", d.normalized, d.version_text))
        })
        .collect();
    if present.is_empty() {
        found.fire(
            k,
            RiskRuleId::ExternalServiceNoLocal,
            format!(
                "{} reports to an external service and none of {} is installed",
                libs.join(", "),
                alts.join(", ")
            ),
        );
    } else {
        found.fire(
            k,
            RiskRuleId::ExternalServiceWithLocal,
            format!("local alternative installed: {}", present.join(", ")),
        );
    }
}

/// The known issues whose check is their mitigation's library: is it installed?
fn mitigation_rows(facts: &Facts<'_>) -> Vec<RiskRow> {
    let mut rows = Vec::new();
    for ki in &facts.matrix.doc.known_issues {
        if ki.check() != CheckKind::MitigationInstalled {
            continue; // e.g. bf16-native: the solution is a torch feature, not a library
        }
        for l in &ki.libraries {
            let n = normalize(l.get_ref());
            let mut found = Findings::default();
            match facts.env.get(&n) {
                Some(d) => found.evidence.push(format!(
                    "{n} {} is installed: the mitigation is ready",
                    d.version_text
                )),
                None => found.fire(
                    facts.k,
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
                level: found
                    .fired
                    .iter()
                    .map(|f| f.level)
                    .max()
                    .or(Some(RiskLevel::Low)),
                fired: found.fired,
                evidence: found.evidence,
                advisory: None,
                sources: Vec::new(),
            });
        }
    }
    rows
}
