//! The shape of a matrix file. Field names are the TOML keys; unknown keys are rejected.
//!
//! Values a user can get wrong in a way only compat can detect (a library name referenced
//! elsewhere, a version specifier, a column id) are `Spanned`, so validation can point at them.

use std::collections::{BTreeMap, HashMap};

use pep440_rs::{Version, VersionSpecifiers};
use serde::Deserialize;
use toml::Spanned;

use crate::model::normalize;
pub use crate::model::verdict::RiskLevel;

/// A loaded and validated matrix.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Where it came from: `builtin:<id>` or the file path as given.
    pub origin: String,
    pub doc: MatrixDoc,
    /// Parsed `version` specifier of each library, by normalized name.
    pub(crate) specs: HashMap<String, VersionSpecifiers>,
}

impl Matrix {
    /// The parsed version specifier of a library row, if it has one.
    pub fn spec(&self, library: &str) -> Option<&VersionSpecifiers> {
        self.specs.get(&normalize(library))
    }

    /// The library rows of one table, in file order.
    pub fn rows<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a Library> + 'a {
        self.doc
            .libraries
            .iter()
            .filter(move |l| l.table.as_ref().map(|t| t.get_ref().as_str()) == Some(table))
    }

    /// The CUDA release the matrix's CUDA column targets (`12.4`), if it has one.
    pub fn cuda_target(&self) -> Option<crate::model::units::CudaVersion> {
        self.doc
            .tables
            .iter()
            .flat_map(|t| &t.columns)
            .find_map(|c| match c.parsed_target() {
                Target::Cuda(a, b) => {
                    Some(crate::model::units::CudaVersion::new(a as u32, b as u32))
                }
                _ => None,
            })
    }

    pub fn library(&self, name: &str) -> Option<&Library> {
        let n = normalize(name);
        self.doc
            .libraries
            .iter()
            .find(|l| normalize(l.name.get_ref()) == n)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixDoc {
    pub schema: Spanned<u32>,
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub section: Option<String>,
    #[serde(default)]
    pub basis: Option<String>,
    #[serde(default)]
    pub as_of: Option<String>,
    #[serde(default)]
    pub tables: Vec<Table>,
    #[serde(default)]
    pub libraries: Vec<Library>,
    #[serde(default)]
    pub known_issues: Vec<KnownIssue>,
    #[serde(default)]
    pub conflicts: Option<Conflicts>,
    #[serde(default)]
    pub install: Option<Install>,
    #[serde(default)]
    pub performance: Vec<PerformanceGroup>,
    #[serde(default)]
    pub risks: Vec<Risk>,
    #[serde(default)]
    pub score: Option<Score>,
    #[serde(default)]
    pub graph: Vec<GraphGroup>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub id: Spanned<String>,
    pub title: String,
    /// The status the document claims for the whole table ("VERIFIED").
    #[serde(default)]
    pub claimed: Option<String>,
    /// Whether the document shows a Notes column for this table.
    #[serde(default)]
    pub notes_column: bool,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ColumnKind {
    /// The implicit first column of every table: the installed version against the row's
    /// `version`. Never written in a matrix (a column of this kind is refused as unknown).
    #[serde(skip_deserializing)]
    Version,
    /// Works with the installed torch, within the target specifier (e.g. `>=2.4`).
    Pytorch,
    /// Works with the target CUDA release on this host's driver and GPUs.
    Cuda,
    /// Works on the target Python minor version (e.g. `3.11`).
    Python,
    /// Supports GPUs (monitoring tools): needs the host probe.
    Gpu,
    /// A rating in words ("Excellent"): no check can decide it.
    Qualitative,
}

impl ColumnKind {
    /// Whether a check exists (here or on a GPU host) that can decide a claim in this column.
    /// The `version` column's check needs a `version` on the row, which the cell itself says.
    pub fn checkable(self) -> bool {
        !matches!(self, ColumnKind::Qualitative)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub id: Spanned<String>,
    pub title: String,
    pub kind: ColumnKind,
    #[serde(default)]
    pub target: Option<Spanned<String>>,
}

/// A parsed column target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A PEP 440 specifier set on torch's version.
    Torch(VersionSpecifiers),
    /// A Python `major.minor`.
    Python(u64, u64),
    /// A CUDA `major.minor`.
    Cuda(u64, u64),
    None,
}

impl Column {
    /// The target as parsed. Validation has already rejected targets that do not parse.
    pub fn parsed_target(&self) -> Target {
        let Some(t) = &self.target else {
            return Target::None;
        };
        parse_target(self.kind, t.get_ref()).unwrap_or(Target::None)
    }
}

/// Why a column target does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// A pytorch target that is not a PEP 440 specifier set.
    #[error("bad PEP 440 specifier `{text}`")]
    Specifier {
        text: String,
        #[source]
        source: pep440_rs::VersionSpecifiersParseError,
    },
    /// A python or cuda target that is not `MAJOR.MINOR`.
    #[error("bad target `{text}`: expected MAJOR.MINOR, like `3.11` or `12.4`")]
    MajorMinor { text: String },
    /// A target on a column kind that takes none.
    #[error("a column of this kind takes no target (got `{text}`)")]
    Unexpected { text: String },
}

/// Parses a column target for its kind, or says what is wrong with it.
pub fn parse_target(kind: ColumnKind, text: &str) -> Result<Target, TargetError> {
    match kind {
        ColumnKind::Pytorch => text
            .parse::<VersionSpecifiers>()
            .map(Target::Torch)
            .map_err(|source| TargetError::Specifier {
                text: text.to_string(),
                source,
            }),
        ColumnKind::Python | ColumnKind::Cuda => {
            let mut it = text.trim().split('.');
            let major = it.next().and_then(|s| s.parse::<u64>().ok());
            let minor = it.next().and_then(|s| s.parse::<u64>().ok());
            match (major, minor, it.next()) {
                (Some(a), Some(b), None) if kind == ColumnKind::Python => Ok(Target::Python(a, b)),
                (Some(a), Some(b), None) => Ok(Target::Cuda(a, b)),
                _ => Err(TargetError::MajorMinor {
                    text: text.to_string(),
                }),
            }
        }
        ColumnKind::Version | ColumnKind::Gpu | ColumnKind::Qualitative => {
            Err(TargetError::Unexpected {
                text: text.to_string(),
            })
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Library {
    pub name: Spanned<String>,
    /// The table the library is a row of; a library in no table is only referenced elsewhere.
    #[serde(default)]
    pub table: Option<Spanned<String>>,
    /// PEP 440 specifier set, e.g. `>=2.4.0`.
    #[serde(default)]
    pub version: Option<Spanned<String>>,
    /// The version as the source document wrote it ("2.4.0+").
    #[serde(default)]
    pub version_text: Option<String>,
    /// Column id -> claim ("yes", "no", "n/a", or a rating for qualitative columns).
    #[serde(default)]
    pub claims: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub notes: Option<String>,
    /// The smoke checks that exercise this library (`gemm-fp16`, `nf4`, ...).
    #[serde(default)]
    pub smoke: Vec<Spanned<String>>,
}

impl Library {
    pub fn name(&self) -> &str {
        self.name.get_ref()
    }

    pub fn claim(&self, column: &str) -> Option<&str> {
        self.claims
            .iter()
            .find(|(k, _)| k.get_ref() == column)
            .map(|(_, v)| v.get_ref().as_str())
    }
}

/// What a cell claims.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "text")]
pub enum Claim {
    Yes,
    No,
    NotApplicable,
    Rating(String),
    /// The row has no claim for this column.
    Missing,
}

impl Claim {
    pub fn parse(kind: ColumnKind, text: Option<&str>) -> Claim {
        match text {
            None => Claim::Missing,
            Some(t) if kind == ColumnKind::Qualitative => Claim::Rating(t.to_string()),
            Some(t) => match t.to_ascii_lowercase().as_str() {
                "yes" => Claim::Yes,
                "no" => Claim::No,
                "n/a" => Claim::NotApplicable,
                _ => Claim::Rating(t.to_string()),
            },
        }
    }

    /// How the seed wrote it.
    pub fn seed_text(&self) -> String {
        match self {
            Claim::Yes => "✅".into(),
            Claim::No => "❌".into(),
            Claim::NotApplicable => "N/A".into(),
            Claim::Rating(t) => t.clone(),
            Claim::Missing => "".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownIssue {
    pub id: Spanned<String>,
    pub title: String,
    pub issue: String,
    pub solution: String,
    #[serde(default)]
    pub solution_code: Option<String>,
    #[serde(default)]
    pub solution_language: Option<String>,
    #[serde(default)]
    pub libraries: Vec<Spanned<String>>,
    /// How compat checks the issue here; [`CheckKind::MitigationInstalled`] when not given.
    #[serde(default)]
    pub check: Option<Spanned<CheckKind>>,
}

impl KnownIssue {
    pub fn check(&self) -> CheckKind {
        self.check
            .as_ref()
            .map(|c| *c.get_ref())
            .unwrap_or(CheckKind::MitigationInstalled)
    }
}

/// How compat checks one of the document's statements (a known issue, a current conflict).
/// The loader refuses a check that does not fit its section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// Every GPU of the host runs bf16 natively (the precision table's floor).
    Bf16Native,
    /// Every GPU of the host is supported by the newest CUDA release in compat's tables.
    GpuArch,
    /// The libraries the statement names (its mitigation) are installed. Known issues only.
    MitigationInstalled,
    /// What the first library declares about the others (its Requires-Dist); whether it works
    /// with them needs its own code run, so this stays unverified. Current conflicts only.
    DeclaredRequirements,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Bf16Native => "bf16-native",
            CheckKind::GpuArch => "gpu-arch",
            CheckKind::MitigationInstalled => "mitigation-installed",
            CheckKind::DeclaredRequirements => "declared-requirements",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conflicts {
    #[serde(default)]
    pub claimed: Option<String>,
    #[serde(default)]
    pub past: Vec<PastConflict>,
    #[serde(default)]
    pub current: Vec<CurrentConflict>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PastConflict {
    pub text: String,
    pub resolution: String,
    #[serde(default)]
    pub fixed_in: Option<FixedIn>,
    #[serde(default)]
    pub libraries: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedIn {
    pub library: Spanned<String>,
    pub version: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrentConflict {
    pub id: Spanned<String>,
    pub text: String,
    #[serde(default)]
    pub plan: Option<String>,
    #[serde(default)]
    pub libraries: Vec<Spanned<String>>,
    /// How compat checks the conflict here; [`CheckKind::DeclaredRequirements`] when not given.
    /// `topic` is the key's older name.
    #[serde(default, alias = "topic")]
    pub check: Option<Spanned<CheckKind>>,
}

impl CurrentConflict {
    pub fn check(&self) -> CheckKind {
        self.check
            .as_ref()
            .map(|c| *c.get_ref())
            .unwrap_or(CheckKind::DeclaredRequirements)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Install {
    #[serde(default)]
    pub stages: Vec<Stage>,
    #[serde(default)]
    pub strategy: Vec<Strategy>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub order: Spanned<u32>,
    pub title: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub libraries: Vec<Spanned<String>>,
    /// `"cuda"` when the stage installs from a CUDA-specific index.
    #[serde(default)]
    pub index: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    pub tool: String,
    pub what: String,
    #[serde(default)]
    pub why: Option<String>,
    #[serde(default)]
    pub libraries: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceGroup {
    pub gpu: String,
    #[serde(default)]
    pub estimated: bool,
    #[serde(default)]
    pub claims: Vec<PerformanceClaim>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceClaim {
    pub subject: String,
    #[serde(default)]
    pub library: Option<Spanned<String>>,
    pub claim: String,
    pub metric: String,
    #[serde(default)]
    pub low: Option<f64>,
    #[serde(default)]
    pub high: Option<f64>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub baseline: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Risk {
    pub level: RiskLevel,
    pub subject: String,
    #[serde(default)]
    pub libraries: Vec<Spanned<String>>,
    /// Which topic rules of `compat risk` apply to the row, besides its libraries' rules.
    #[serde(default)]
    pub topic: Option<RiskTopic>,
    pub risk: String,
    pub mitigation: String,
}

/// What a risk row is about, for the rules that go beyond its libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RiskTopic {
    /// The driver against the matrix's CUDA target, and the native CUDA libraries.
    Cuda,
    /// A service outside the machine the stack reports to: is a local alternative installed?
    ExternalService,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Score {
    pub claimed_percent: f64,
    #[serde(default)]
    pub assessment: Option<String>,
    #[serde(default)]
    pub recommendation: Option<String>,
    #[serde(default)]
    pub next_steps: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphGroup {
    pub title: String,
    #[serde(default)]
    pub root: Option<Spanned<String>>,
    #[serde(default)]
    pub nodes: Vec<GraphNode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// The node depends on the node it is drawn under.
    RequiresParent,
    /// The node it is drawn under depends on this node.
    ParentRequires,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphNode {
    pub name: Spanned<String>,
    #[serde(default)]
    pub under: Option<Spanned<String>>,
    #[serde(default)]
    pub edge: Option<EdgeKind>,
}

impl GraphGroup {
    /// The dependency edges `(dependent, dependency)` this group draws.
    pub fn edges(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for n in &self.nodes {
            let (Some(under), Some(kind)) = (&n.under, n.edge) else {
                continue;
            };
            let (a, b) = (n.name.get_ref().clone(), under.get_ref().clone());
            match kind {
                EdgeKind::RequiresParent => out.push((a, b)),
                EdgeKind::ParentRequires => out.push((b, a)),
            }
        }
        out
    }
}

/// Parses a Python version for matching a `Target::Python`.
pub fn python_matches(target: (u64, u64), v: &Version) -> bool {
    let r = v.release();
    r.len() >= 2 && r[0] == target.0 && r[1] == target.1
}
