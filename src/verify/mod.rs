//! The rules that turn a declared matrix and the facts of a machine into verdicts.
//!
//! Pure functions of their inputs: nothing here touches the disk, the network or a GPU, so
//! every rule is tested with fixtures. Each cell gets exactly one [`Verdict`] and the evidence
//! that decided it; a cell is `verified` only when a metadata read that could have said
//! otherwise said yes. What cannot be decided here (the CUDA column on a host without a GPU)
//! stays `unverified` with the reason.

pub mod consistency;
pub mod cuda;

use pep440_rs::Version;
use pep508_rs::VersionOrUrl;
use serde::Serialize;

use crate::env::{Distribution, PythonEnv};
use crate::matrix::{python_matches, Claim, ColumnKind, Library, Matrix, Target};
pub use crate::model::Verdict;
pub use consistency::{Consistency, Problem};

/// One cell: a library row crossed with a column.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub column: String,
    pub title: String,
    /// `version`, or the column kind.
    pub kind: String,
    pub claim: Claim,
    pub verdict: Verdict,
    /// Whether a check exists that can decide this claim (it counts in the score).
    pub checkable: bool,
    /// Why the cell is not verified, in one line.
    pub reason: Option<String>,
    /// What to do about a failed cell.
    pub fix: Option<String>,
    /// The facts that decided it.
    pub evidence: Vec<String>,
    /// What holds only with a condition (verified under minor-version compatibility, ...).
    pub caveats: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub library: String,
    pub version_text: Option<String>,
    pub installed: Option<String>,
    pub notes: Option<String>,
    /// Broken requirements declared by this library (from the consistency check).
    pub broken_requirements: Vec<String>,
    /// The smoke checks that exercised this library's operations, one line each.
    pub smoke: Vec<String>,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableResult {
    pub id: String,
    pub title: String,
    pub claimed: Option<String>,
    pub notes_column: bool,
    /// The implicit `version` column first, then the table's own.
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnInfo {
    pub id: String,
    pub title: String,
    /// `version`, or the column kind.
    pub kind: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Undecided {
    pub reason: String,
    pub cells: usize,
}

/// A check of one of the document's other statements (a conflict it calls resolved, an edge
/// of its graph), with a verdict like a cell's.
#[derive(Debug, Clone, Serialize)]
pub struct StatementCheck {
    pub text: String,
    pub verdict: Verdict,
    pub reason: Option<String>,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub verified: usize,
    pub failed: usize,
    pub unverified: usize,
    pub not_installed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Score {
    pub verified: usize,
    /// Cells a check exists for (all but qualitative ratings and N/A claims).
    pub checkable: usize,
    pub percent: f64,
    pub claimed_percent: Option<f64>,
    /// Checkable cells left unverified here, and why (reason -> count).
    pub undecided: Vec<Undecided>,
}

/// Everything `verify` decides.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Every library the matrix names (rows and tracked ones) -> the installed version.
    pub installed: std::collections::BTreeMap<String, Option<String>>,
    pub tables: Vec<TableResult>,
    pub consistency: Consistency,
    pub past_conflicts: Vec<StatementCheck>,
    pub current_conflicts: Vec<StatementCheck>,
    /// The document's known issues, as they stand on this host and environment.
    pub known_issues: Vec<StatementCheck>,
    pub graph_edges: Vec<StatementCheck>,
    pub counts: Counts,
    pub score: Score,
}

impl Verification {
    /// Whether anything failed: a cell, a consistency check or a checked statement.
    pub fn failed(&self) -> bool {
        self.counts.failed > 0
            || !self.consistency.ok()
            || self
                .past_conflicts
                .iter()
                .any(|c| c.verdict == Verdict::Failed)
    }
}

/// Decides every cell of `matrix` against `env`.
pub fn verify(matrix: &Matrix, env: &PythonEnv, host: &crate::probe::HostFacts) -> Verification {
    verify_with_smoke(matrix, env, host, None)
}

/// [`verify`], with the smoke checks' results as evidence: a GPU pass adds to the row's CUDA
/// cell, a GPU failure is a caveat on it; CPU results are evidence for the operation itself
/// (the row's `smoke` lines), not for CUDA.
pub fn verify_with_smoke(
    matrix: &Matrix,
    env: &PythonEnv,
    host: &crate::probe::HostFacts,
    smoke: Option<&crate::smoke::SmokeReport>,
) -> Verification {
    let consistency = consistency::check(env);
    let mut tables = Vec::new();
    for t in &matrix.doc.tables {
        let mut rows = Vec::new();
        for lib in matrix.rows(t.id.get_ref()) {
            let mut r = row(matrix, t, lib, env, host, &consistency);
            if let Some(sm) = smoke {
                fold_smoke(&mut r, lib, sm);
            }
            rows.push(r);
        }
        tables.push(TableResult {
            id: t.id.get_ref().clone(),
            title: t.title.clone(),
            claimed: t.claimed.clone(),
            notes_column: t.notes_column,
            columns: std::iter::once(ColumnInfo {
                id: "version".into(),
                title: "Version".into(),
                kind: "version".into(),
            })
            .chain(t.columns.iter().map(|c| ColumnInfo {
                id: c.id.get_ref().clone(),
                title: c.title.clone(),
                kind: kind_name(c.kind),
            }))
            .collect(),
            rows,
        });
    }
    let mut counts = Counts::default();
    let mut checkable = 0;
    let mut undecided: Vec<Undecided> = Vec::new();
    for c in tables.iter().flat_map(|t| &t.rows).flat_map(|r| &r.cells) {
        match c.verdict {
            Verdict::Verified => counts.verified += 1,
            Verdict::Failed => counts.failed += 1,
            Verdict::Unverified => counts.unverified += 1,
            Verdict::NotInstalled => counts.not_installed += 1,
        }
        if c.checkable {
            checkable += 1;
            if c.verdict == Verdict::Unverified {
                let key = c.reason.clone().unwrap_or_default();
                match undecided.iter_mut().find(|u| u.reason == key) {
                    Some(u) => u.cells += 1,
                    None => undecided.push(Undecided {
                        reason: key,
                        cells: 1,
                    }),
                }
            }
        }
    }
    let verified_checkable = tables
        .iter()
        .flat_map(|t| &t.rows)
        .flat_map(|r| &r.cells)
        .filter(|c| c.checkable && c.verdict == Verdict::Verified)
        .count();
    let score = Score {
        verified: verified_checkable,
        checkable,
        percent: if checkable == 0 {
            0.0
        } else {
            100.0 * verified_checkable as f64 / checkable as f64
        },
        claimed_percent: matrix.doc.score.as_ref().map(|s| s.claimed_percent),
        undecided,
    };
    let installed = matrix
        .doc
        .libraries
        .iter()
        .map(|l| {
            (
                l.name().to_string(),
                env.get(l.name()).map(|d| d.version_text.clone()),
            )
        })
        .collect();
    Verification {
        installed,
        past_conflicts: past_conflicts(matrix, env, &consistency),
        current_conflicts: current_conflicts(matrix, env, host),
        known_issues: known_issues(matrix, env, host),
        graph_edges: graph_edges(matrix, env),
        tables,
        consistency,
        counts,
        score,
    }
}

fn row(
    matrix: &Matrix,
    table: &crate::matrix::Table,
    lib: &Library,
    env: &PythonEnv,
    host: &crate::probe::HostFacts,
    cons: &Consistency,
) -> Row {
    let dist = env.get(lib.name());
    let mut cells = Vec::new();
    let version_claim = Claim::Rating(lib.version_text.clone().unwrap_or_default());
    cells.push(match dist {
        None => not_installed(
            lib,
            env,
            "version",
            "Version",
            "version",
            version_claim,
            true,
        ),
        Some(d) => version_cell(matrix, lib, d, version_claim, env.word()),
    });
    for col in &table.columns {
        let kind = col.kind;
        let claim = Claim::parse(kind, lib.claim(col.id.get_ref()));
        let checkable = kind.checkable() && matches!(claim, Claim::Yes | Claim::No);
        let kind_name = kind_name(kind);
        let (id, title) = (col.id.get_ref().as_str(), col.title.as_str());
        let Some(d) = dist else {
            cells.push(not_installed(
                lib, env, id, title, &kind_name, claim, checkable,
            ));
            continue;
        };
        let mut cell = Cell {
            column: id.to_string(),
            title: title.to_string(),
            kind: kind_name,
            claim: claim.clone(),
            verdict: Verdict::Unverified,
            checkable,
            reason: None,
            fix: None,
            evidence: Vec::new(),
            caveats: Vec::new(),
        };
        match (&claim, kind) {
            (Claim::Rating(r), ColumnKind::Qualitative) => {
                cell.reason = Some(format!("a rating (\"{r}\"), not a checkable claim"));
            }
            (Claim::NotApplicable, _) => {
                cell.reason = Some("the matrix claims N/A: nothing to check".into())
            }
            (Claim::Missing, _) => cell.reason = Some("the matrix makes no claim here".into()),
            (_, ColumnKind::Cuda) => match col.parsed_target() {
                Target::Cuda(a, b) => cuda::cuda_cell(
                    &mut cell,
                    crate::model::units::CudaVersion::new(a as u32, b as u32),
                    d,
                    env,
                    host,
                ),
                _ => cell.reason = Some("the column has no CUDA target".into()),
            },
            (_, ColumnKind::Gpu) => cuda::gpu_cell(&mut cell, d, host),
            (_, ColumnKind::Python | ColumnKind::Pytorch) if !d.metadata_read => {
                cell.reason = Some(format!(
                    "no metadata for {} {} {}: its Requires-Python and Requires-Dist are unknown (offline, or no index)",
                    env.word(),
                    d.name,
                    d.version_text
                ));
            }
            (_, ColumnKind::Python) => python_cell(&mut cell, col.parsed_target(), d, env),
            (_, ColumnKind::Pytorch) => pytorch_cell(&mut cell, col.parsed_target(), lib, d, env),
            (_, ColumnKind::Qualitative) => {
                cell.reason = Some("a rating, not a checkable claim".into())
            }
        }
        if claim == Claim::No && cell.verdict != Verdict::Unverified {
            // The document says it does NOT hold: a passing check contradicts it.
            cell.verdict = if cell.verdict == Verdict::Verified {
                Verdict::Failed
            } else {
                Verdict::Verified
            };
            cell.evidence
                .push("the matrix claims this does not hold".into());
        }
        cells.push(cell);
    }
    Row {
        library: lib.name().to_string(),
        version_text: lib.version_text.clone(),
        installed: dist.map(|d| d.version_text.clone()),
        notes: lib.notes.clone(),
        broken_requirements: cons
            .problems
            .iter()
            .filter(|p| dist.is_some_and(|d| d.normalized == p.package))
            .map(|p| p.message.clone())
            .collect(),
        smoke: Vec::new(),
        cells,
    }
}

fn kind_name(kind: ColumnKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn not_installed(
    lib: &Library,
    env: &PythonEnv,
    id: &str,
    title: &str,
    kind: &str,
    claim: Claim,
    checkable: bool,
) -> Cell {
    Cell {
        column: id.to_string(),
        title: title.to_string(),
        kind: kind.to_string(),
        claim,
        verdict: Verdict::NotInstalled,
        checkable,
        reason: Some(format!("{} is not installed {}", lib.name(), env.place())),
        fix: None,
        caveats: Vec::new(),
        evidence: vec![format!(
            "no distribution named `{}` in {}",
            crate::model::normalize(lib.name()),
            env.interpreter
                .site_packages
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )],
    }
}

fn version_cell(
    matrix: &Matrix,
    lib: &Library,
    d: &Distribution,
    claim: Claim,
    env_word: &str,
) -> Cell {
    let mut cell = Cell {
        column: "version".into(),
        title: "Version".into(),
        kind: "version".into(),
        claim,
        verdict: Verdict::Unverified,
        checkable: true,
        reason: None,
        fix: None,
        caveats: Vec::new(),
        evidence: vec![format!(
            "{} {} {} ({})",
            env_word,
            d.name,
            d.version_text,
            d.path.display()
        )],
    };
    match (matrix.spec(lib.name()), &d.version) {
        (None, _) => {
            cell.checkable = false;
            cell.reason = Some("the matrix names no version for this row".into());
        }
        (Some(_), None) => {
            cell.reason = Some(format!(
                "installed version `{}` is not PEP 440",
                d.version_text
            ))
        }
        (Some(spec), Some(v)) if spec.contains(v) => {
            cell.verdict = Verdict::Verified;
            cell.evidence
                .push(format!("{} satisfies {spec}", d.version_text));
        }
        (Some(spec), Some(_)) => {
            cell.verdict = Verdict::Failed;
            cell.reason = Some(format!(
                "installed {} does not satisfy {spec}",
                d.version_text
            ));
            cell.fix = Some(format!("pip install '{}{spec}'", d.normalized));
        }
    }
    cell
}

fn python_cell(cell: &mut Cell, target: Target, d: &Distribution, env: &PythonEnv) {
    let Target::Python(major, minor) = target else {
        cell.reason = Some("the column has no Python target".into());
        return;
    };
    let interp = env.interpreter.version();
    let here = interp
        .as_ref()
        .is_some_and(|v| python_matches((major, minor), v));
    cell.evidence.push(format!(
        "interpreter CPython {} ({})",
        env.interpreter.python_version, env.interpreter.read_from
    ));
    // The versions the target stands for: this interpreter when it is the target, else X.Y.0.
    let probe: Version = match (&interp, here) {
        (Some(v), true) => v.clone(),
        _ => Version::new([major, minor, 0]),
    };
    match (&d.requires_python, &d.requires_python_spec) {
        (Some(text), Some(spec)) => {
            if !spec.contains(&probe) {
                cell.verdict = Verdict::Failed;
                cell.reason = Some(format!(
                    "{} {} declares Requires-Python {text}, which excludes Python {probe}",
                    d.name, d.version_text
                ));
                cell.fix = Some(format!(
                    "install a release of {} whose Requires-Python admits {major}.{minor}",
                    d.normalized
                ));
                return;
            }
            cell.evidence
                .push(format!("Requires-Python {text} admits {probe}"));
        }
        (Some(text), None) => {
            cell.reason = Some(format!("Requires-Python `{text}` cannot be parsed"));
            return;
        }
        (None, _) => cell.evidence.push("declares no Requires-Python".into()),
    }
    let py_tag = format!("cp{major}{minor}");
    let cp_tags: Vec<&String> = d
        .wheel_tags
        .iter()
        .filter(|t| t.starts_with("cp"))
        .collect();
    if here && !cp_tags.is_empty() {
        if let Some(t) = cp_tags
            .iter()
            .find(|t| t.starts_with(&py_tag) || t.contains("-abi3-"))
        {
            cell.evidence.push(format!("wheel tag {t}"));
        } else {
            cell.verdict = Verdict::Failed;
            cell.reason = Some(format!(
                "the installed wheel is tagged {}, not for CPython {major}.{minor}",
                cp_tags
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            cell.fix = Some(format!(
                "pip install --force-reinstall {}=={}",
                d.normalized, d.version_text
            ));
            return;
        }
    }
    if here {
        cell.verdict = Verdict::Verified;
    } else {
        cell.reason = Some(format!(
            "the interpreter is Python {}, not {major}.{minor}: run with --python pointing at a {major}.{minor} environment",
            env.interpreter.python_version
        ));
    }
}

fn pytorch_cell(cell: &mut Cell, target: Target, lib: &Library, d: &Distribution, env: &PythonEnv) {
    let Target::Torch(spec) = target else {
        cell.reason = Some("the column has no torch target".into());
        return;
    };
    let Some(torch) = env.get("torch") else {
        cell.reason = Some(format!("torch is not installed {}", env.place()));
        return;
    };
    let Some(tv) = &torch.version else {
        cell.reason = Some(format!(
            "installed torch version `{}` is not PEP 440",
            torch.version_text
        ));
        return;
    };
    let is_torch = crate::model::normalize(lib.name()) == "torch";
    let in_target = spec.contains(tv);
    cell.evidence.push(format!(
        "installed torch {} {} the column's target {spec}",
        torch.version_text,
        if in_target { "satisfies" } else { "is outside" }
    ));
    if !in_target {
        if is_torch {
            cell.verdict = Verdict::Failed;
            cell.reason = Some(format!(
                "torch {} is not PyTorch {spec}",
                torch.version_text
            ));
            cell.fix = Some(format!(
                "install torch{spec} from the CUDA wheel index that fits the driver (`compat install-order` prints the command)"
            ));
        } else {
            cell.reason = Some(format!(
                "installed torch {} is outside {spec}, so this claim cannot be tried here",
                torch.version_text
            ));
        }
        return;
    }
    if is_torch {
        cell.verdict = Verdict::Verified;
        return;
    }
    // Requirements on torch: those that hold here (no extras), and those that hold only with
    // one of the package's extras; the extras' pins are its word on torch too.
    let markers = env.marker_env();
    let extras: Vec<pep508_rs::ExtraName> = d
        .provides_extra
        .iter()
        .filter_map(|e| e.parse().ok())
        .collect();
    let mut on_torch = 0;
    let mut ignored: Vec<String> = Vec::new();
    for (line, req) in &d.requirements {
        if req.name.as_ref() != "torch" {
            continue;
        }
        let (plain, with_extras) = match &markers {
            Some(m) => (
                req.evaluate_markers(m, &[]),
                req.evaluate_markers(m, &extras),
            ),
            None => (req.marker.contents().is_none(), false),
        };
        if !plain && !with_extras {
            ignored.push(line.clone());
            continue;
        }
        let how = if plain { "" } else { " (through an extra)" };
        on_torch += 1;
        let ok = match &req.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(s)) => s.contains(tv),
            _ => true,
        };
        if !ok {
            cell.verdict = Verdict::Failed;
            cell.reason = Some(format!(
                "{} {} requires `{line}`{how}, but torch is {}",
                d.name, d.version_text, torch.version_text
            ));
            cell.fix = Some(format!(
                "install a release of {} that admits torch {}, or a torch it admits",
                d.normalized, torch.version_text
            ));
            cell.evidence.push(format!("Requires-Dist: {line}"));
            return;
        }
        cell.evidence.push(format!(
            "Requires-Dist: {line}{how} admits {}",
            torch.version_text
        ));
    }
    if on_torch == 0 {
        cell.evidence.push(format!(
            "{} declares no requirement on torch that applies here",
            d.name
        ));
    }
    if !ignored.is_empty() {
        cell.evidence
            .push(format!("not for this platform: {}", ignored.join("; ")));
    }
    cell.verdict = Verdict::Verified;
}

/// Adds a library's smoke results to its row and its CUDA cell.
fn fold_smoke(row: &mut Row, lib: &Library, sm: &crate::smoke::SmokeReport) {
    for id in &lib.smoke {
        let Some(id) = crate::model::SmokeCheckId::parse(id.get_ref()) else {
            continue;
        };
        for device in crate::smoke::Device::ALL {
            let Some(v) = sm.verdict(id, device) else {
                continue;
            };
            let worst = sm
                .checks_for(id, device)
                .filter_map(|c| c.kernel_error.zip(c.kernel_bound))
                .fold(None::<(f64, f64)>, |acc, x| {
                    if acc.is_none_or(|a| x.0 > a.0) {
                        Some(x)
                    } else {
                        acc
                    }
                });
            let why = sm.checks_for(id, device).find_map(|c| c.reason.clone());
            let line = format!(
                "smoke {id} on {device}: {}{}{}",
                v.as_str(),
                worst
                    .map(|(e, b)| format!(" (kernel error {e:.2e}, bound {b:.1e})"))
                    .unwrap_or_default(),
                why.map(|w| format!(": {w}")).unwrap_or_default()
            );
            row.smoke.push(line.clone());
            if device == crate::smoke::Device::Cuda {
                if let Some(cell) = row.cells.iter_mut().find(|c| c.kind == "cuda") {
                    match v {
                        Verdict::Verified => cell
                            .evidence
                            .push(format!("{line} — the kernel ran correctly on this GPU")),
                        Verdict::Failed => cell.caveats.push(line),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// Past conflicts the document calls resolved: resolved here when no installed requirement
/// between the named libraries is broken (and, with `fixed_in`, the fixing release is installed).
fn past_conflicts(matrix: &Matrix, env: &PythonEnv, cons: &Consistency) -> Vec<StatementCheck> {
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
fn current_conflicts(
    matrix: &Matrix,
    env: &PythonEnv,
    host: &crate::probe::HostFacts,
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
                old_gpu_arch(&mut check, host);
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
fn old_gpu_arch(check: &mut StatementCheck, host: &crate::probe::HostFacts) {
    check.text = format!(
        "{} — every GPU of this host is supported by the newest CUDA",
        check.text
    );
    if host.gpus.is_empty() {
        check.reason = Some(cuda::no_driver_reason(host));
        return;
    }
    let k = crate::knowledge::builtin();
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
fn known_issues(
    matrix: &Matrix,
    env: &PythonEnv,
    host: &crate::probe::HostFacts,
) -> Vec<StatementCheck> {
    let k = crate::knowledge::builtin();
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
                    c.reason = Some(cuda::no_driver_reason(host));
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
fn graph_edges(matrix: &Matrix, env: &PythonEnv) -> Vec<StatementCheck> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{DistFormat, Interpreter, InterpreterSource, Markers};
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn dist(
        name: &str,
        version: &str,
        requires: &[&str],
        requires_python: Option<&str>,
        tags: &[&str],
    ) -> Distribution {
        Distribution {
            name: name.into(),
            normalized: crate::model::normalize(name),
            version_text: version.into(),
            version: version.parse().ok(),
            requires_dist: requires.iter().map(|s| s.to_string()).collect(),
            requirements: requires
                .iter()
                .map(|s| (s.to_string(), s.parse().expect("test requirement")))
                .collect(),
            requires_python: requires_python.map(str::to_string),
            provides_extra: vec!["torch".into()],
            requires_python_spec: requires_python.map(|s| s.parse().expect("spec")),
            wheel_tags: tags.iter().map(|s| s.to_string()).collect(),
            path: PathBuf::from(format!("/site/{name}-{version}.dist-info")),
            metadata_read: true,
            format: DistFormat::DistInfo,
        }
    }

    fn env(python: &str, dists: Vec<Distribution>) -> PythonEnv {
        let minor = python
            .rsplit_once('.')
            .map(|(a, _)| a)
            .unwrap_or(python)
            .to_string();
        PythonEnv {
            interpreter: Interpreter {
                executable: None,
                prefix: "/venv".into(),
                source: InterpreterSource::Flag,
                read_from: "pyvenv.cfg".into(),
                python_version: python.into(),
                implementation: "CPython".into(),
                markers: Markers {
                    implementation_name: "cpython".into(),
                    implementation_version: python.into(),
                    os_name: "posix".into(),
                    platform_machine: "x86_64".into(),
                    platform_python_implementation: "CPython".into(),
                    platform_release: "6.1".into(),
                    platform_system: "Linux".into(),
                    platform_version: "#1".into(),
                    python_full_version: python.into(),
                    python_version: minor,
                    sys_platform: "linux".into(),
                },
                site_packages: vec!["/site".into()],
            },
            distributions: dists
                .into_iter()
                .map(|d| (d.normalized.clone(), d))
                .collect::<BTreeMap<_, _>>(),
            shadowed: vec![],
            torch: None,
            bnb_libraries: vec![],
            findings: vec![],
            scan_ms: 0.0,
            planned: false,
            planned_complete: false,
        }
    }

    fn matrix() -> Matrix {
        crate::matrix::load_builtin("llm-compression").expect("builtin")
    }

    fn find<'a>(v: &'a Verification, lib: &str, col: &str) -> &'a Cell {
        v.tables
            .iter()
            .flat_map(|t| &t.rows)
            .find(|r| r.library == lib)
            .and_then(|r| r.cells.iter().find(|c| c.column == col))
            .expect("cell")
    }

    #[test]
    fn pytorch_cell_fails_on_a_requirement_that_excludes_installed_torch() {
        let e = env(
            "3.11.7",
            vec![
                dist(
                    "torch",
                    "2.5.1+cu124",
                    &[],
                    Some(">=3.9"),
                    &["cp311-cp311-linux_x86_64"],
                ),
                dist(
                    "peft",
                    "0.12.0",
                    &["torch<2.5,>=1.13"],
                    Some(">=3.8"),
                    &["py3-none-any"],
                ),
                dist(
                    "safetensors",
                    "0.4.5",
                    &["torch>=2.6; extra == \"torch\""],
                    None,
                    &[],
                ),
            ],
        );
        let v = verify(&matrix(), &e, &crate::probe::HostFacts::default());
        let peft = find(&v, "peft", "pytorch");
        assert_eq!(peft.verdict, Verdict::Failed, "{peft:?}");
        assert!(peft
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("torch<2.5,>=1.13"));
        // An extra's pin is the package's word on torch too.
        assert_eq!(find(&v, "safetensors", "pytorch").verdict, Verdict::Failed);
        assert_eq!(find(&v, "torch", "pytorch").verdict, Verdict::Verified);
        // The consistency check agrees: peft's requirement is broken.
        assert_eq!(v.consistency.problems.len(), 1);
        assert_eq!(v.consistency.problems[0].code, "version-conflict");
        assert!(v.failed());
    }

    #[test]
    fn python_cell_rules() {
        let e = env(
            "3.11.7",
            vec![
                dist(
                    "transformers",
                    "4.44.2",
                    &[],
                    Some(">=3.12"),
                    &["py3-none-any"],
                ),
                dist(
                    "peft",
                    "0.12.0",
                    &[],
                    Some(">=3.8"),
                    &["cp312-cp312-manylinux_2_17_x86_64"],
                ),
                dist(
                    "accelerate",
                    "0.33.0",
                    &[],
                    Some(">=3.8.0"),
                    &["py3-none-any"],
                ),
                dist(
                    "safetensors",
                    "0.4.5",
                    &[],
                    Some(">=3.7"),
                    &["cp38-abi3-manylinux_2_17_x86_64"],
                ),
            ],
        );
        let v = verify(&matrix(), &e, &crate::probe::HostFacts::default());
        assert_eq!(find(&v, "transformers", "python").verdict, Verdict::Failed);
        assert_eq!(
            find(&v, "peft", "python").verdict,
            Verdict::Failed,
            "a cp312 wheel on 3.11"
        );
        assert_eq!(find(&v, "accelerate", "python").verdict, Verdict::Verified);
        assert_eq!(
            find(&v, "safetensors", "python").verdict,
            Verdict::Verified,
            "abi3 from 3.8 runs on 3.11"
        );

        // On another interpreter the claim about 3.11 cannot be tried, unless metadata excludes it.
        let e = env(
            "3.12.4",
            vec![
                dist(
                    "accelerate",
                    "0.33.0",
                    &[],
                    Some(">=3.8.0"),
                    &["py3-none-any"],
                ),
                dist(
                    "transformers",
                    "5.0.0",
                    &[],
                    Some(">=3.12"),
                    &["py3-none-any"],
                ),
            ],
        );
        let v = verify(&matrix(), &e, &crate::probe::HostFacts::default());
        let acc = find(&v, "accelerate", "python");
        assert_eq!(acc.verdict, Verdict::Unverified);
        assert!(acc.reason.as_deref().unwrap_or("").contains("not 3.11"));
        assert_eq!(find(&v, "transformers", "python").verdict, Verdict::Failed);
    }

    #[test]
    fn version_cell_and_score() {
        let e = env(
            "3.11.7",
            vec![
                dist("torch", "2.4.0rc1", &[], None, &[]),
                dist("bitsandbytes", "0.41.0", &[], None, &[]),
                dist("ruff", "0.4.10", &[], None, &[]),
            ],
        );
        let v = verify(&matrix(), &e, &crate::probe::HostFacts::default());
        // A release candidate of 2.4.0 is before 2.4.0 (PEP 440), so >=2.4.0 fails.
        assert_eq!(find(&v, "torch", "version").verdict, Verdict::Failed);
        assert_eq!(
            find(&v, "bitsandbytes", "version").verdict,
            Verdict::Verified
        );
        let ruff = find(&v, "ruff", "version");
        assert_eq!(ruff.verdict, Verdict::Failed);
        assert_eq!(ruff.fix.as_deref(), Some("pip install 'ruff>=0.5'"));
        assert_eq!(find(&v, "wandb", "version").verdict, Verdict::NotInstalled);
        assert_eq!(find(&v, "torch", "cuda").verdict, Verdict::Unverified);
        assert_eq!(v.score.checkable, 42);
        let verified = v
            .tables
            .iter()
            .flat_map(|t| &t.rows)
            .flat_map(|r| &r.cells)
            .filter(|c| c.checkable && c.verdict == Verdict::Verified)
            .count();
        assert_eq!(v.score.verified, verified);
        assert!(v.failed());
    }

    #[test]
    fn qualitative_and_na_cells_are_not_checkable() {
        let e = env("3.11.7", vec![dist("dvc", "3.51.0", &[], None, &[])]);
        let v = verify(&matrix(), &e, &crate::probe::HostFacts::default());
        let gpu = find(&v, "dvc", "gpu-support");
        assert_eq!((gpu.verdict, gpu.checkable), (Verdict::Unverified, false));
        let rating = find(&v, "dvc", "ml-integration");
        assert_eq!(
            (rating.verdict, rating.checkable),
            (Verdict::Unverified, false)
        );
        assert_eq!(find(&v, "dvc", "version").verdict, Verdict::Verified);
        assert!(!v.failed());
    }

    fn host(text: &str) -> crate::probe::HostFacts {
        crate::probe::host::parse_profile(text, "test").expect("profile")
    }

    fn torch_env(
        version: &str,
        cuda: Option<&str>,
        hip: Option<&str>,
        bnb_libs: &[&str],
    ) -> PythonEnv {
        let mut e = env(
            "3.11.7",
            vec![
                dist("torch", version, &[], None, &[]),
                dist("bitsandbytes", "0.50.0", &["torch<3,>=2.3"], None, &[]),
            ],
        );
        e.torch = Some(crate::env::TorchVersionPy {
            version: Some(version.into()),
            cuda: cuda.map(str::to_string),
            hip: hip.map(str::to_string),
            git_version: None,
            debug: Some(false),
        });
        e.bnb_libraries = bnb_libs.iter().map(|s| s.to_string()).collect();
        e
    }

    const V100_580: &str = "schema = 1\n[driver]\nversion = \"580.65.06\"\ncuda = \"13.0\"\n[[gpus]]\nname = \"Tesla V100-SXM2-32GB\"\ncompute_capability = \"7.0\"\n";
    const H100_550: &str = "schema = 1\n[driver]\nversion = \"550.54.15\"\ncuda = \"12.4\"\n[[gpus]]\nname = \"NVIDIA H100 80GB HBM3\"\ncompute_capability = \"9.0\"\n";

    #[test]
    fn cu130_torch_on_volta_fails_although_the_driver_allows_cuda_13() {
        let e = torch_env(
            "2.9.0+cu130",
            Some("13.0"),
            None,
            &["libbitsandbytes_cuda130.so"],
        );
        let v = verify(&matrix(), &e, &host(V100_580));
        let c = find(&v, "torch", "cuda");
        assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
        let why = c.reason.as_deref().unwrap_or("");
        assert!(
            why.contains("no kernels for Tesla V100-SXM2-32GB (sm_70)"),
            "{why}"
        );
        let fix = c.fix.as_deref().unwrap_or("");
        assert!(
            fix.contains("cu12"),
            "the fix names a CUDA 12 variant that still has sm_70: {fix}"
        );
    }

    #[test]
    fn cpu_and_rocm_builds_of_torch_fail_the_cuda_column() {
        for (cuda, hip, word) in [(None, None, "CPU-only"), (None, Some("6.1"), "ROCm")] {
            let e = torch_env("2.4.1", cuda, hip, &[]);
            let v = verify(&matrix(), &e, &host(H100_550));
            let c = find(&v, "torch", "cuda");
            assert_eq!(c.verdict, Verdict::Failed);
            assert!(c.reason.as_deref().unwrap_or("").contains(word), "{c:?}");
        }
    }

    #[test]
    fn bitsandbytes_never_loads_across_a_major_version() {
        let e = torch_env(
            "2.9.0+cu130",
            Some("13.0"),
            None,
            &["libbitsandbytes_cuda124.so", "libbitsandbytes_cuda128.so"],
        );
        let h = host("schema = 1\n[driver]\nversion = \"580.65.06\"\ncuda = \"13.0\"\n[[gpus]]\nname = \"NVIDIA H100 80GB HBM3\"\ncompute_capability = \"9.0\"\n");
        let v = verify(&matrix(), &e, &h);
        assert_eq!(
            find(&v, "torch", "cuda")
                .reason
                .as_deref()
                .map(|r| r.contains("not 12.4")),
            Some(true)
        );
        let b = find(&v, "bitsandbytes", "cuda");
        assert_eq!(b.verdict, Verdict::Failed, "{b:?}");
        assert!(b
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("never crosses a major version"));
    }

    #[test]
    fn a_torch_built_for_another_cuda_minor_leaves_the_12_4_claim_unverified() {
        let e = torch_env(
            "2.6.0+cu126",
            Some("12.6"),
            None,
            &["libbitsandbytes_cuda126.so"],
        );
        let h = host("schema = 1\n[driver]\nversion = \"560.35.03\"\ncuda = \"12.6\"\n[[gpus]]\nname = \"NVIDIA H100 80GB HBM3\"\ncompute_capability = \"9.0\"\n");
        let v = verify(&matrix(), &e, &h);
        let c = find(&v, "torch", "cuda");
        assert_eq!(c.verdict, Verdict::Unverified, "{c:?}");
        assert!(c
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("built for CUDA 12.6, not 12.4"));
        // An older driver than torch's CUDA needs, across a major: failed, with the fix.
        let old = host("schema = 1\n[driver]\nversion = \"470.82.01\"\ncuda = \"11.4\"\n[[gpus]]\nname = \"NVIDIA A100-SXM4-80GB\"\ncompute_capability = \"8.0\"\n");
        let v = verify(&matrix(), &e, &old);
        let c = find(&v, "torch", "cuda");
        assert_eq!(c.verdict, Verdict::Failed);
        assert!(
            c.fix
                .as_deref()
                .unwrap_or("")
                .contains("upgrade the NVIDIA driver"),
            "{c:?}"
        );
    }
}
