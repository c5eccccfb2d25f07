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
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the result types, [`install_order`]: stages checked against the graph, steps |
//! | `graph.rs` | the graph's edges, refused on a cycle |
//! | `torch.rs` | choosing torch's build for the host |
//! | `commands.rs` | each step's commands for pip, uv or conda |
//!
//! What does not live here: presenting the order (`report::install_order`), and anything that
//! reads the host (`probe`).

mod commands;
mod graph;
mod torch;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::knowledge::Knowledge;
use crate::matrix::{Matrix, Stage};
use crate::model::normalize;
use crate::model::units::CudaVersion;
use crate::probe::HostFacts;
pub use torch::choose_torch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    Pip,
    Uv,
    Conda,
}

#[derive(Debug, Clone)]
pub struct InstallOrderOptions {
    pub tool: Tool,
    /// PyTorch's wheel index (its base, ending in `/whl`, to which `/cu124` or `/cpu` is added),
    /// and where that choice came from.
    pub torch_index: TorchIndex,
    /// The newest torch release the package index knows, when it was asked.
    pub torch_latest: Option<pep440_rs::Version>,
    /// The Python interpreter the commands run (`python` by default).
    pub python: String,
}

impl Default for InstallOrderOptions {
    fn default() -> Self {
        InstallOrderOptions {
            tool: Tool::Pip,
            torch_index: TorchIndex::default(),
            torch_latest: None,
            python: "python".into(),
        }
    }
}

/// PyTorch's own public wheel index: the download location its install guide and uv's
/// `--torch-backend` use. Not a package registry of the kind compat never names: it serves only
/// PyTorch's builds (and their CUDA wheels), per CUDA variant under `/cu124`, `/cpu`, ...
pub const PYTORCH_WHEEL_INDEX: &str = "https://download.pytorch.org/whl";

/// The base URL of PyTorch's wheel index the commands install torch from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorchIndex {
    /// Without a trailing slash.
    pub url: String,
    pub source: TorchIndexSource,
}

/// Where the torch index URL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchIndexSource {
    /// `--torch-index-url`.
    Flag,
    /// `COMPAT_TORCH_INDEX_URL`.
    Env,
    /// [`PYTORCH_WHEEL_INDEX`].
    BuiltIn,
}

impl Default for TorchIndex {
    fn default() -> Self {
        TorchIndex {
            url: PYTORCH_WHEEL_INDEX.into(),
            source: TorchIndexSource::BuiltIn,
        }
    }
}

impl TorchIndex {
    /// One line for the plan's notes: which index, and from where.
    pub fn describe(&self) -> String {
        let from = match self.source {
            TorchIndexSource::Flag => "given by --torch-index-url",
            TorchIndexSource::Env => "given by COMPAT_TORCH_INDEX_URL",
            TorchIndexSource::BuiltIn => {
                "PyTorch's own wheel index, the built-in default; --torch-index-url or COMPAT_TORCH_INDEX_URL changes it"
            }
        };
        format!("torch comes from {}: {from}", self.url)
    }
}

/// Why an install order cannot be made from this matrix.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InstallOrderError {
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

/// The install order for one host: its steps, with torch's build chosen for the host.
#[derive(Debug, Clone, Serialize)]
pub struct InstallOrder {
    pub schema: &'static str,
    pub tool: Tool,
    pub host: String,
    pub cpu_only: bool,
    pub torch: TorchChoice,
    pub steps: Vec<Step>,
    pub notes: Vec<String>,
}

/// Which stage installs each library, and why a library the matrix puts in no stage went where
/// it did.
struct Placement {
    stage_of: HashMap<String, u32>,
    /// Stage order -> `(library, why)` of the libraries placed there by compat.
    extra: BTreeMap<u32, Vec<(String, String)>>,
}

/// Every stage's libraries must come after what they require (per the graph).
fn check_stage_order(
    stages: &[Stage],
    edges: &[(String, String)],
) -> Result<HashMap<String, u32>, InstallOrderError> {
    let mut stage_of: HashMap<String, u32> = HashMap::new();
    for s in stages {
        for l in &s.libraries {
            stage_of.insert(normalize(l.get_ref()), *s.order.get_ref());
        }
    }
    for (a, b) in edges {
        if let (Some(sa), Some(sb)) = (stage_of.get(a), stage_of.get(b)) {
            if sa < sb {
                return Err(InstallOrderError::StageOrder {
                    dependent: a.clone(),
                    dependency: b.clone(),
                    dependent_stage: *sa,
                    dependency_stage: *sb,
                });
            }
        }
    }
    Ok(stage_of)
}

/// Table rows that no stage installs go after every stage holding one of their dependencies.
fn place_unstaged(
    matrix: &Matrix,
    stages: &[Stage],
    edges: &[(String, String)],
    mut stage_of: HashMap<String, u32>,
) -> Placement {
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
    Placement { stage_of, extra }
}

/// The libraries of one stage (with those compat placed there) and why the stage is where it is.
fn stage_libraries(
    s: &Stage,
    edges: &[(String, String)],
    placement: &Placement,
) -> (Vec<String>, Vec<String>) {
    let order = *s.order.get_ref();
    let mut libs: Vec<String> = s.libraries.iter().map(|l| normalize(l.get_ref())).collect();
    let mut why: Vec<String> = vec![format!(
        "stage {order} of the matrix: {}{}",
        s.title,
        s.detail
            .as_ref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    )];
    for (n, w) in placement.extra.get(&order).into_iter().flatten() {
        libs.push(n.clone());
        why.push(w.clone());
    }
    for (a, b) in edges {
        if libs.contains(a) && !libs.contains(b) {
            if let Some(sb) = placement.stage_of.get(b) {
                why.push(format!("{a} requires {b} (graph), installed by stage {sb}"));
            }
        }
        if libs.contains(b)
            && !libs.contains(a)
            && placement.stage_of.get(a).is_some_and(|sa| *sa > order)
        {
            why.push(format!("{b} comes before {a}, which requires it (graph)"));
        }
    }
    (libs, why)
}

/// Makes the install order. Pure.
pub fn install_order(
    matrix: &Matrix,
    host: &HostFacts,
    k: &Knowledge,
    opts: &InstallOrderOptions,
) -> Result<InstallOrder, InstallOrderError> {
    let edges = graph::edges(matrix)?;
    let stages = matrix
        .doc
        .install
        .as_ref()
        .map(|i| i.stages.clone())
        .unwrap_or_default();
    let stage_of = check_stage_order(&stages, &edges)?;
    let placement = place_unstaged(matrix, &stages, &edges, stage_of);
    let torch = choose_torch(matrix, host, k, opts.torch_latest.as_ref());
    let cpu_only = torch.variant.is_none();
    let cmds = commands::Commands::new(opts, &torch);
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    for s in &stages {
        let (libraries, mut why) = stage_libraries(s, &edges, &placement);
        let requirements: Vec<String> = libraries
            .iter()
            .map(|l| match (l.as_str(), matrix.spec(l)) {
                ("torch", _) => torch.requirement.clone(),
                (_, Some(spec)) => format!("{}{spec}", normalize(l)),
                (_, None) => normalize(l),
            })
            .collect();
        let commands = if libraries.iter().any(|l| l == "torch") {
            why.extend(torch.reasons.iter().cloned());
            why.extend(torch.rejected.iter().map(|r| format!("passed over {r}")));
            cmds.torch_step(&requirements, &mut why, &mut notes)
        } else {
            vec![cmds.later_step(&requirements)]
        };
        steps.push(Step {
            order: *s.order.get_ref(),
            title: s.title.clone(),
            libraries,
            requirements,
            commands,
            why,
        });
    }
    finish_notes(matrix, opts, cpu_only, &mut notes);
    Ok(InstallOrder {
        schema: "compat.install-order/1",
        tool: opts.tool,
        host: host.gpu_summary(),
        cpu_only,
        torch,
        steps,
        notes,
    })
}

/// The notes every install order ends with: what it does not install, the CPU-only case, and
/// PyTorch's wheel index when it is not named.
fn finish_notes(
    matrix: &Matrix,
    opts: &InstallOrderOptions,
    cpu_only: bool,
    notes: &mut Vec<String>,
) {
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
    if opts.tool == Tool::Pip {
        notes.push(opts.torch_index.describe());
    }
}
