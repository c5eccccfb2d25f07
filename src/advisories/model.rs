//! The advisory database's shape as it is written in `matrices/advisories/*.toml` (serde, unknown
//! keys rejected) and the plain facts the evaluator reads. Nothing here reads files or decides:
//! loading and validation live in `load.rs`, the rules in `eval.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// One family file (`matrices/advisories/<family>.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyDoc {
    /// Short id of the family, e.g. `numpy-abi`; must equal the file's stem.
    pub family: Spanned<String>,
    /// One line saying what the family covers.
    pub title: String,
    #[serde(default, rename = "advisory")]
    pub advisories: Vec<AdvisoryDoc>,
}

/// One incompatibility, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvisoryDoc {
    /// `COMPAT-YYYY-NNNN`, stable forever once published.
    pub id: Spanned<String>,
    pub title: String,
    /// The package the advisory is about (any spelling; normalised when loaded).
    pub package: Spanned<String>,
    /// PEP 440 specifier of the affected versions of `package` (local labels ignored).
    pub affected: Spanned<String>,
    /// All of these must hold for the advisory to bite (empty: the version alone bites).
    #[serde(default, rename = "when")]
    pub conditions: Vec<Spanned<Condition>>,
    /// The companion table of a coupling advisory (see [`Condition::CompanionTable`]).
    #[serde(default, rename = "row")]
    pub rows: Vec<Spanned<BTreeMap<String, Spanned<String>>>>,
    /// The error text users see and search for.
    pub symptom: String,
    /// What to do about it.
    pub fix: String,
    /// Issue threads, release notes, changelogs (URLs).
    pub sources: Vec<Spanned<String>>,
    /// The date the entry was last checked against its sources (a TOML date).
    pub checked: Spanned<toml::value::Datetime>,
    /// Where sources disagree, and which reading the entry takes.
    #[serde(default)]
    pub note: Option<String>,
    /// Environments that must (and must not) trigger the advisory.
    #[serde(default, rename = "test")]
    pub tests: Vec<Spanned<TestDoc>>,
}

/// One typed condition; an advisory bites when all of its conditions hold.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Another package is installed, in `version` (default: any), with a local label matching
    /// the glob `local` (default: any, including none); `pre = true` asks for a pre-release or
    /// dev build (`2.5.0a0+…`, as NVIDIA's containers ship), `pre = false` for a final release;
    /// `installer` asks for the tool its INSTALLER file names (`pip`, `conda`, `uv`).
    Package {
        name: String,
        #[serde(default)]
        version: Option<String>,
        #[serde(default)]
        local: Option<String>,
        #[serde(default)]
        pre: Option<bool>,
        #[serde(default)]
        installer: Option<String>,
    },
    /// A package is not installed.
    Missing { name: String },
    /// torch is a CUDA build whose CUDA version is in `version` (e.g. `>=13`).
    TorchCuda { version: String },
    /// torch is installed without CUDA (a CPU or ROCm build).
    TorchCpu {},
    /// At least one GPU has a compute capability in `capability` (e.g. `<8.0`).
    Gpu { capability: String },
    /// The platform's system (`Linux`, `Windows`, `Darwin`) and/or machine (`x86_64`, `aarch64`).
    Platform {
        #[serde(default)]
        system: Option<String>,
        #[serde(default)]
        machine: Option<String>,
    },
    /// An environment variable is set (to a non-empty value), optionally to a value matching
    /// the glob `matches`.
    Env {
        var: String,
        #[serde(default)]
        matches: Option<String>,
    },
    /// A directory named by a search-path variable (`LD_LIBRARY_PATH`, `$CONDA_PREFIX/lib`, ...)
    /// holds a library file matching the glob `file`.
    LibraryOnPath {
        file: String,
        #[serde(default)]
        variable: Option<String>,
    },
    /// What built `package` (read from its wheel file name or its local version label)
    /// disagrees with the installed torch: `against` = `torch_minor`, `cuda_major`, `cuda` or
    /// `cxx11_abi`.
    BuildMismatch {
        package: String,
        against: BuildField,
    },
    /// An installed package's Requires-Dist on `on` has a lower bound `>=X` while the installed
    /// `on` is a pre-release or dev build of X (`2.5.0a0+…` does not satisfy `>=2.5`).
    PrereleaseBelowFloor { on: String },
    /// The advisory's `[[advisory.row]]` table: every row whose `anchor` specifier holds the
    /// affected package's version names companion versions that must go with it.
    CompanionTable {},
}

/// Which part of a build tag a [`Condition::BuildMismatch`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildField {
    /// The torch `major.minor` in the tag against the installed torch's.
    TorchMinor,
    /// The CUDA major in the tag against torch's CUDA major.
    CudaMajor,
    /// The CUDA `major.minor` in the tag against torch's (companions built together with torch).
    Cuda,
    /// `cxx11abiTRUE/FALSE` in the tag against torch's C++ ABI.
    Cxx11Abi,
}

/// The environment of one table-driven test, written like [`Facts`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestDoc {
    /// `hit` (the advisory must fire) or `miss` (a near miss that must not).
    pub expect: Expect,
    /// Why this environment is the one that matters (e.g. "version just outside the range").
    #[serde(default)]
    pub name: String,
    /// Installed packages: name → version (with local label).
    #[serde(default)]
    pub packages: BTreeMap<String, String>,
    /// Wheel file names by package (as direct_url.json would give them).
    #[serde(default)]
    pub wheels: BTreeMap<String, String>,
    /// Requires-Dist lines by package.
    #[serde(default)]
    pub requires: BTreeMap<String, Vec<String>>,
    /// Build records by package (see [`Installed::built_for`]).
    #[serde(default)]
    pub built_for: BTreeMap<String, BuiltFor>,
    /// INSTALLER by package.
    #[serde(default)]
    pub installers: BTreeMap<String, String>,
    #[serde(default)]
    pub torch_cuda: Option<String>,
    #[serde(default)]
    pub torch_cxx11_abi: Option<bool>,
    #[serde(default)]
    pub gpus: Vec<String>,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub machine: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `[variable, dir, file]` triples.
    #[serde(default)]
    pub libraries: Vec<[String; 3]>,
}

impl TestDoc {
    /// The facts this environment describes. Errors name a wheel or requirement list given for
    /// a package the environment does not install.
    pub fn facts(&self) -> Result<Facts, String> {
        let mut facts = Facts {
            torch_cuda: self.torch_cuda.clone(),
            torch_cxx11_abi: self.torch_cxx11_abi,
            gpus: self.gpus.clone(),
            system: self.system.clone(),
            machine: self.machine.clone(),
            env: self.env.clone(),
            libraries: self
                .libraries
                .iter()
                .map(|[variable, dir, file]| LibraryCopy {
                    variable: variable.clone(),
                    dir: dir.clone(),
                    file: file.clone(),
                })
                .collect(),
            ..Facts::default()
        };
        for (n, v) in &self.packages {
            facts.install(n, v);
        }
        for (n, w) in &self.wheels {
            let p = facts
                .packages
                .get_mut(&crate::model::normalize(n))
                .ok_or_else(|| {
                    format!("a wheel for `{n}`, which the environment does not install")
                })?;
            p.wheel = Some(w.clone());
        }
        for (n, r) in &self.requires {
            let p = facts
                .packages
                .get_mut(&crate::model::normalize(n))
                .ok_or_else(|| {
                    format!("requirements for `{n}`, which the environment does not install")
                })?;
            p.requires = r.clone();
        }
        for (n, b) in &self.built_for {
            let p = facts
                .packages
                .get_mut(&crate::model::normalize(n))
                .ok_or_else(|| {
                    format!("a build record for `{n}`, which the environment does not install")
                })?;
            p.built_for = Some(b.clone());
        }
        for (n, i) in &self.installers {
            let p = facts
                .packages
                .get_mut(&crate::model::normalize(n))
                .ok_or_else(|| {
                    format!("an installer for `{n}`, which the environment does not install")
                })?;
            p.installer = Some(i.clone());
        }
        Ok(facts)
    }
}

/// What a test expects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    #[default]
    Hit,
    Miss,
}

/// The facts the evaluator reads; the caller fills them from the environment scan and the host
/// probe. Every field may be empty: a condition about a fact nobody filled does not hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// Installed packages by normalised (PEP 503) name.
    pub packages: BTreeMap<String, Installed>,
    /// `torch.version.cuda` (e.g. `12.4`), `None` for a CPU/ROCm build or no torch.
    pub torch_cuda: Option<String>,
    /// Whether torch was built with `_GLIBCXX_USE_CXX11_ABI=1`, if known.
    pub torch_cxx11_abi: Option<bool>,
    /// Compute capabilities of the GPUs, as `major.minor` (e.g. `9.0`).
    pub gpus: Vec<String>,
    /// `platform.system()` (`Linux`, `Windows`, `Darwin`).
    pub system: Option<String>,
    /// `platform.machine()` (`x86_64`, `aarch64`, `AMD64`).
    pub machine: Option<String>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Library files found in directories named by search-path variables.
    pub libraries: Vec<LibraryCopy>,
}

/// One installed distribution.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// The version as installed, local label included (`2.4.1+cu124`).
    pub version: String,
    /// The wheel file name it was installed from, when known (direct_url.json's URL).
    pub wheel: Option<String>,
    /// The `Tag:` lines of its WHEEL file.
    pub wheel_tags: Vec<String>,
    /// Its Requires-Dist lines.
    pub requires: Vec<String>,
    /// What the package records it was built against, when it keeps such a file
    /// (xformers' `cpp_lib.json`: `torch_version`, `cuda_version`). Read when neither the wheel
    /// name nor the local label says.
    pub built_for: Option<BuiltFor>,
    /// The first line of its dist-info INSTALLER file (`pip`, `conda`, `uv`).
    pub installer: Option<String>,
}

/// A package's own record of the torch and CUDA it was compiled against.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltFor {
    /// The torch version, as recorded (`2.2.0+cu121`).
    #[serde(default)]
    pub torch: Option<String>,
    /// The CUDA version, as recorded (`12.1`, or xformers' `1201`).
    #[serde(default)]
    pub cuda: Option<String>,
    /// The file it was read from (`xformers/cpp_lib.json`).
    pub from: String,
}

/// A library file in a directory that a search-path variable names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryCopy {
    /// The variable (`LD_LIBRARY_PATH`, `CONDA_PREFIX`, ...).
    pub variable: String,
    pub dir: String,
    /// The file name (`libcudnn.so.8`).
    pub file: String,
}

impl Facts {
    /// Adds or replaces an installed package (the name is normalised).
    pub fn install(&mut self, name: &str, version: &str) -> &mut Installed {
        let slot = self
            .packages
            .entry(crate::model::normalize(name))
            .or_default();
        slot.version = version.to_string();
        slot
    }
}

/// Advisory ids to skip, each with the reason someone gave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignore {
    pub entries: Vec<IgnoreEntry>,
}

/// One ignored advisory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoreEntry {
    pub id: String,
    pub reason: String,
}

impl Ignore {
    pub fn none() -> Self {
        Self::default()
    }
    pub fn contains(&self, id: &str) -> bool {
        self.entries.iter().any(|e| e.id == id)
    }

    /// The reason given for ignoring `id`, if it is ignored.
    pub fn reason(&self, id: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.reason.as_str())
    }

    /// Splits `hits` (evaluated with nothing ignored) into those that count and those this list
    /// ignores, each with its reason: an ignored hit is reported, never dropped silently.
    pub fn split(&self, hits: Vec<Hit>) -> (Vec<Hit>, Vec<IgnoredHit>) {
        let mut live = Vec::new();
        let mut ignored = Vec::new();
        for hit in hits {
            match self.reason(&hit.id) {
                Some(reason) => ignored.push(IgnoredHit {
                    reason: reason.to_string(),
                    hit,
                }),
                None => live.push(hit),
            }
        }
        (live, ignored)
    }
}

/// A hit that an ignore list (`--ignore`, `compat.toml`) set aside, with the reason given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredHit {
    #[serde(flatten)]
    pub hit: Hit,
    pub reason: String,
}

/// An advisory that bites in the given facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    pub id: String,
    pub title: String,
    pub family: String,
    /// The affected package and its installed version.
    pub package: String,
    pub version: String,
    /// What made it bite, one line per fact (versions, files, variables).
    pub evidence: Vec<String>,
    pub symptom: String,
    pub fix: String,
    pub sources: Vec<String>,
}
