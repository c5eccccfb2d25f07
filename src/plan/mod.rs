//! `compat install-order`: the order in which to install a matrix's libraries on a host, and the
//! exact commands.
//!
//! Pure: a function of the matrix, the host facts and the knowledge tables. The seed's stages are
//! checked against the dependency graph (a cycle, or a stage that installs a package before one
//! it requires, is an error naming the edge). torch's CUDA variant is chosen from the driver's
//! CUDA *and* every GPU's compute capability: a driver that allows cu130 does not make cu130 right
//! for a Volta GPU, whose architecture CUDA 13 wheels no longer carry. Later steps install under a
//! constraints file pinning torch and its CUDA wheels, so they cannot replace it with a CPU or
//! other-CUDA build. No index host is written here: PyTorch's wheel index comes from
//! `--torch-index-url` or `COMPAT_TORCH_INDEX_URL` (uv finds it itself with `--torch-backend`).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::knowledge::{DriverSupport, Knowledge};
use crate::matrix::Matrix;
use crate::model::normalize;
use crate::model::units::CudaVersion;
use crate::probe::HostFacts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    Pip,
    Uv,
    Conda,
}

#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub tool: Tool,
    /// Base URL of PyTorch's wheel index (ending in `/whl`), to which `/cu124` or `/cpu` is added.
    pub torch_index: Option<String>,
    /// The newest torch release the package index knows, when it was asked.
    pub torch_latest: Option<pep440_rs::Version>,
    /// The Python interpreter the commands run (`python` by default).
    pub python: String,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            tool: Tool::Pip,
            torch_index: None,
            torch_latest: None,
            python: "python".into(),
        }
    }
}

/// Why a plan cannot be made from this matrix.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("the dependency graph has a cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("stage {dependent_stage} installs `{dependent}` before stage {dependency_stage} installs `{dependency}`, which it requires (graph edge {dependent} -> {dependency})")]
    StageOrder {
        dependent: String,
        dependency: String,
        dependent_stage: u32,
        dependency_stage: u32,
    },
}

/// The torch build chosen for this host.
#[derive(Debug, Clone, Serialize)]
pub struct TorchChoice {
    /// The requirement, bounded where newer releases ship no fitting variant (`torch>=2.4.0,<2.7`).
    pub requirement: String,
    /// `None`: the CPU build.
    pub variant: Option<CudaVersion>,
    /// The release series the choice was made for (`2.6`).
    pub release: Option<String>,
    pub reasons: Vec<String>,
    /// Variants of the newest fitting release that were passed over, and why.
    pub rejected: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub order: u32,
    pub title: String,
    pub libraries: Vec<String>,
    /// PEP 508 requirements, bounded by the matrix's minimums.
    pub requirements: Vec<String>,
    pub commands: Vec<String>,
    /// Why the step is where it is: the edges and facts that put it there.
    pub why: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub schema: &'static str,
    pub tool: Tool,
    pub host: String,
    pub cpu_only: bool,
    pub torch: TorchChoice,
    pub steps: Vec<Step>,
    pub notes: Vec<String>,
}

/// `(dependent, dependency)` edges of the matrix's graph, checked for cycles.
fn edges(matrix: &Matrix) -> Result<Vec<(String, String)>, PlanError> {
    let mut e: Vec<(String, String)> = Vec::new();
    for g in &matrix.doc.graph {
        for (a, b) in g.edges() {
            let pair = (normalize(&a), normalize(&b));
            if !e.contains(&pair) {
                e.push(pair);
            }
        }
    }
    // Depth-first search for a cycle, reporting its path.
    let mut adj: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in &e {
        adj.entry(a.as_str()).or_default().push(b.as_str());
    }
    fn visit<'a>(
        n: &'a str,
        adj: &BTreeMap<&'a str, Vec<&'a str>>,
        state: &mut HashMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let start = path.iter().position(|p| *p == n).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Some(_) => return None,
            None => {}
        }
        state.insert(n, 1);
        path.push(n);
        for m in adj.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, adj, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n, 2);
        None
    }
    let mut state = HashMap::new();
    for n in adj.keys() {
        if let Some(c) = visit(n, &adj, &mut state, &mut Vec::new()) {
            return Err(PlanError::Cycle(c));
        }
    }
    Ok(e)
}

/// The torch releases compat's tables know, newest first, that satisfy `spec` (and are not
/// newer than `latest`).
fn torch_releases(
    k: &Knowledge,
    spec: Option<&pep440_rs::VersionSpecifiers>,
    latest: Option<&pep440_rs::Version>,
) -> Vec<(u64, pep440_rs::Version)> {
    let mut out = Vec::new();
    for minor in 0..=60u64 {
        let v = pep440_rs::Version::new([2, minor, 0]);
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
        let hi = pep440_rs::Version::new([2, minor, 99]);
        if spec.is_none_or(|s| s.contains(&v) || s.contains(&hi)) {
            out.push((minor, v));
        }
    }
    out.reverse();
    out
}

/// Chooses torch's build for the host. Pure.
pub fn choose_torch(
    matrix: &Matrix,
    host: &HostFacts,
    k: &Knowledge,
    latest: Option<&pep440_rs::Version>,
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
    let gpus: Vec<String> = host
        .gpus
        .iter()
        .map(|g| format!("{} ({})", g.name, g.compute_capability.sm()))
        .collect();
    let mut gpus_dedup = gpus.clone();
    gpus_dedup.dedup();
    let driver_desc = match (&host.driver, host.cuda()) {
        (Some(d), Some(c)) => format!("driver {} (CUDA {})", d.value, c.value),
        (Some(d), None) => format!("driver {}", d.value),
        (None, Some(c)) => format!("a driver for CUDA {}", c.value),
        (None, None) => "an unknown driver".into(),
    };
    let support = |v: CudaVersion| -> Option<DriverSupport> {
        k.driver_support(
            host.driver.as_ref().map(|d| &d.value),
            host.cuda().map(|c| c.value),
            v,
        )
    };
    // Score every (release, variant): the matrix's CUDA major first (CUDA 12.4 asks for a CUDA 12
    // build where one fits), then full driver support over minor-version compatibility, then the
    // newest release, then the highest CUDA. Every GPU must have native kernels (SASS).
    let target = matrix.cuda_target();
    let mut best: Option<(bool, u8, u64, CudaVersion)> = None;
    let mut rejected_newest: Vec<String> = Vec::new();
    for (i, (minor, v)) in releases.iter().enumerate() {
        for variant in k.torch_variants(v) {
            let why_not = match k.torch_archs(v, variant) {
                None => Some("its GPU architectures are not in compat's tables".to_string()),
                Some(a) => {
                    let missing: Vec<String> = host
                        .gpus
                        .iter()
                        .filter(|g| a.sass_for(g.compute_capability).is_none())
                        .map(|g| format!("{} ({})", g.name, g.compute_capability.sm()))
                        .collect();
                    (!missing.is_empty()).then(|| {
                        let mut m = missing;
                        m.dedup();
                        format!("its wheels have no kernels for {}", m.join(", "))
                    })
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
                    rejected_newest.push(format!("torch 2.{minor} {}: {w}", variant.tag()));
                } else if rank == 1 {
                    rejected_newest.push(format!(
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
            if best.is_none_or(|b| key > b) {
                best = Some(key);
            }
        }
    }
    let Some((_, rank, minor, variant)) = best else {
        return TorchChoice {
            requirement: base,
            variant: None,
            release: None,
            reasons: vec![format!(
                "no torch release in compat's tables has CUDA wheels that {driver_desc} runs with kernels for {}: upgrade the driver, or use the CPU build",
                gpus_dedup.join(", ")
            )],
            rejected: rejected_newest,
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
        gpus_dedup.join(", ")
    )];
    if minor < newest {
        reasons.push(format!(
            "bounded below 2.{}: torch 2.{newest}'s variants do not fit this host (see rejected)",
            minor + 1
        ));
    }
    if let Some(target) = target {
        if target != variant {
            reasons.push(format!(
                "the matrix targets CUDA {target}; {} is the build that fits this host",
                variant.tag()
            ));
        }
    }
    TorchChoice {
        requirement,
        variant: Some(variant),
        release: Some(format!("2.{minor}")),
        reasons,
        rejected: rejected_newest,
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Makes the install plan. Pure.
pub fn plan(
    matrix: &Matrix,
    host: &HostFacts,
    k: &Knowledge,
    opts: &PlanOptions,
) -> Result<Plan, PlanError> {
    let edges = edges(matrix)?;
    let stages = matrix
        .doc
        .install
        .as_ref()
        .map(|i| i.stages.clone())
        .unwrap_or_default();
    let mut stage_of: HashMap<String, u32> = HashMap::new();
    for s in &stages {
        for l in &s.libraries {
            stage_of.insert(normalize(l.get_ref()), *s.order.get_ref());
        }
    }
    for (a, b) in &edges {
        if let (Some(sa), Some(sb)) = (stage_of.get(a), stage_of.get(b)) {
            if sa < sb {
                return Err(PlanError::StageOrder {
                    dependent: a.clone(),
                    dependency: b.clone(),
                    dependent_stage: *sa,
                    dependency_stage: *sb,
                });
            }
        }
    }
    // Table rows that no stage installs go after every stage holding one of their dependencies.
    let mut orders: Vec<u32> = stages.iter().map(|s| *s.order.get_ref()).collect();
    orders.sort();
    let mut extra: BTreeMap<u32, Vec<(String, String)>> = BTreeMap::new();
    for lib in matrix.doc.libraries.iter().filter(|l| l.table.is_some()) {
        let n = normalize(lib.name());
        if stage_of.contains_key(&n) {
            continue;
        }
        let deps: Vec<&(String, String)> = edges.iter().filter(|(a, _)| *a == n).collect();
        let after = deps
            .iter()
            .filter_map(|(_, b)| stage_of.get(b))
            .max()
            .copied()
            .unwrap_or(0);
        let target = orders
            .iter()
            .copied()
            .find(|o| *o > after)
            .or(orders.last().copied())
            .unwrap_or(1);
        let why = if deps.is_empty() {
            format!("{n} is in no stage and requires nothing in the graph: placed in the first stage after PyTorch")
        } else {
            format!(
                "{n} is in no stage of the matrix; it requires {} (stage {after}), so it goes in stage {target}",
                deps.iter().map(|(_, b)| b.as_str()).collect::<Vec<_>>().join(", ")
            )
        };
        stage_of.insert(n.clone(), target);
        extra.entry(target).or_default().push((n, why));
    }

    let torch = choose_torch(matrix, host, k, opts.torch_latest.as_ref());
    let cpu_only = torch.variant.is_none();
    let tag = torch
        .variant
        .map(|v| v.tag())
        .unwrap_or_else(|| "cpu".into());
    let py = &opts.python;
    let index = match &opts.torch_index {
        Some(u) => format!("{}/{tag}", u.trim_end_matches('/')),
        None => format!("\"${{COMPAT_TORCH_INDEX_URL:?set it to the base URL of PyTorch's wheel index (ending in /whl)}}/{tag}\""),
    };
    let constraints = "compat-constraints.txt";
    let freeze = match opts.tool {
        Tool::Uv => format!(
            "uv pip freeze --python {py} | grep -iE '^(torch|triton|nvidia-)' > {constraints}"
        ),
        _ => format!("{py} -m pip freeze | grep -iE '^(torch|triton|nvidia-)' > {constraints}"),
    };
    let req = |name: &str| -> String {
        match matrix.spec(name) {
            Some(s) => format!("{}{}", normalize(name), s),
            None => normalize(name),
        }
    };

    let mut steps = Vec::new();
    let mut notes = Vec::new();
    for s in &stages {
        let order = *s.order.get_ref();
        let mut libs: Vec<String> = s.libraries.iter().map(|l| normalize(l.get_ref())).collect();
        let mut why: Vec<String> = Vec::new();
        for (n, w) in extra.get(&order).into_iter().flatten() {
            libs.push(n.clone());
            why.push(w.clone());
        }
        why.insert(
            0,
            format!(
                "stage {order} of the matrix: {}{}",
                s.title,
                s.detail
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
        );
        for (a, b) in &edges {
            if libs.contains(a) && !libs.contains(b) {
                if let Some(sb) = stage_of.get(b) {
                    why.push(format!("{a} requires {b} (graph), installed by stage {sb}"));
                }
            }
            if libs.contains(b)
                && !libs.contains(a)
                && stage_of.get(a).is_some_and(|sa| *sa > order)
            {
                why.push(format!("{b} comes before {a}, which requires it (graph)"));
            }
        }
        let is_torch = libs.iter().any(|l| l == "torch");
        let requirements: Vec<String> = libs
            .iter()
            .map(|l| {
                if l == "torch" {
                    torch.requirement.clone()
                } else {
                    req(l)
                }
            })
            .collect();
        let mut commands = Vec::new();
        if is_torch {
            why.extend(torch.reasons.iter().cloned());
            why.extend(torch.rejected.iter().map(|r| format!("passed over {r}")));
            let others: Vec<String> = requirements
                .iter()
                .filter(|r| !r.starts_with("torch"))
                .map(|r| quote(r))
                .collect();
            match opts.tool {
                Tool::Pip => commands.push(format!(
                    "{py} -m pip install {} --index-url {index}",
                    quote(&torch.requirement)
                )),
                Tool::Uv => commands.push(format!(
                    "uv pip install --python {py} {} --torch-backend {tag}",
                    quote(&torch.requirement)
                )),
                Tool::Conda => {
                    let pkg = if cpu_only {
                        "pytorch-cpu"
                    } else {
                        "pytorch-gpu"
                    };
                    let mut c = format!(
                        "conda install -y -c conda-forge {}",
                        quote(&format!(
                            "{pkg}{}",
                            torch.requirement.trim_start_matches("torch")
                        ))
                    );
                    if let Some(v) = torch.variant {
                        c.push_str(&format!(" {}", quote(&format!("cuda-version={v}"))));
                    }
                    commands.push(c);
                    notes.push("conda: PyTorch + CUDA from conda-forge (the seed's pip-vs-conda strategy); conda-forge's CUDA builds are its own, not PyTorch's wheels".into());
                }
            }
            if !others.is_empty() {
                commands.push(format!("{py} -m pip install {}", others.join(" ")));
            }
            commands.push(freeze.clone());
            why.push(format!(
                "{constraints} pins torch and its CUDA wheels, so later steps cannot replace them with a CPU or other-CUDA build"
            ));
        } else {
            let args: Vec<String> = requirements.iter().map(|r| quote(r)).collect();
            let line = match opts.tool {
                Tool::Uv => format!(
                    "uv pip install --python {py} -c {constraints} {}",
                    args.join(" ")
                ),
                _ => format!("{py} -m pip install -c {constraints} {}", args.join(" ")),
            };
            commands.push(line);
        }
        steps.push(Step {
            order,
            title: s.title.clone(),
            libraries: libs,
            requirements,
            commands,
            why,
        });
    }
    let tracked: Vec<String> = matrix
        .doc
        .libraries
        .iter()
        .filter(|l| l.table.is_none())
        .map(|l| l.name().to_string())
        .collect();
    if !tracked.is_empty() {
        notes.push(format!(
            "not installed by the plan (the matrix names them only in its conflicts or risks): {}",
            tracked.join(", ")
        ));
    }
    if cpu_only {
        notes.insert(0, "CPU-only host: this is the CPU plan (torch's CPU build); bitsandbytes runs its CPU backend, without CUDA kernels".into());
    }
    if opts.torch_index.is_none() && opts.tool == Tool::Pip {
        notes.push("PyTorch's wheel index is not named here: pass --torch-index-url, or set COMPAT_TORCH_INDEX_URL, to its base URL (ending in /whl)".into());
    }
    Ok(Plan {
        schema: "compat.install-order/1",
        tool: opts.tool,
        host: host.gpu_summary(),
        cpu_only,
        torch,
        steps,
        notes,
    })
}

/// The plan as a shell script.
pub fn render_shell(p: &Plan) -> String {
    let mut o = String::from("#!/bin/sh\n# Install plan by `compat install-order`\n");
    o.push_str(&format!("# host: {}\n", p.host));
    for n in &p.notes {
        o.push_str(&format!("# note: {n}\n"));
    }
    o.push_str("set -eu\n");
    for s in &p.steps {
        o.push_str(&format!("\n# {}. {}\n", s.order, s.title));
        for w in &s.why {
            o.push_str(&format!("#   why: {w}\n"));
        }
        for c in &s.commands {
            o.push_str(c);
            o.push('\n');
        }
    }
    o
}

/// The plan as a table.
pub fn render_table(p: &Plan) -> String {
    use comfy_table::{presets, ContentArrangement, Table};
    let mut o = format!(
        "Install plan for {}\ntorch: {} {}\n",
        p.host,
        p.torch.requirement,
        p.torch
            .variant
            .map(|v| format!("({})", v.tag()))
            .unwrap_or_else(|| "(CPU build)".into())
    );
    for r in &p.torch.reasons {
        o.push_str(&format!("  because {r}\n"));
    }
    for r in &p.torch.rejected {
        o.push_str(&format!("  passed over: {r}\n"));
    }
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec!["#", "stage", "installs", "why"]);
    for s in &p.steps {
        t.add_row(vec![
            s.order.to_string(),
            s.title.clone(),
            s.requirements.join("\n"),
            s.why.join("\n"),
        ]);
    }
    o.push_str(&t.to_string());
    o.push('\n');
    for n in &p.notes {
        o.push_str(&format!("note: {n}\n"));
    }
    o.push_str("\ncommands:\n");
    for s in &p.steps {
        for c in &s.commands {
            o.push_str(&format!("  {c}\n"));
        }
    }
    o
}
