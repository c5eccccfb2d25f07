//! Dependency consistency, as `pip check` does it: every `Requires-Dist` of every installed
//! distribution whose markers hold for this interpreter (no extras) must name an installed
//! distribution whose version satisfies the specifier.

use pep508_rs::{MarkerEnvironment, VersionOrUrl};
use serde::Serialize;

use crate::env::PythonEnv;

/// One broken requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Problem {
    /// One of [`PROBLEM_CODES`].
    #[serde(deserialize_with = "problem_code")]
    pub code: ProblemCode,
    /// The normalized name of the distribution that declares the requirement.
    pub package: String,
    pub version: String,
    /// The `Requires-Dist` line as written.
    pub requirement: String,
    /// The normalized name of the required distribution.
    pub dependency: String,
    /// The installed version of the dependency, for a conflict.
    pub installed: Option<String>,
    /// The same sentence `pip check` prints.
    pub message: String,
}

/// Every problem code: a requirement names a distribution that is not installed, or one whose
/// version does not satisfy it.
pub const PROBLEM_CODES: &[&str] = &["missing-dependency", "version-conflict"];

/// A problem's code: one of [`PROBLEM_CODES`]. (Named, because serde's derive takes a field
/// spelled `&'static str` to borrow from its input; it is read back by `problem_code`.)
pub type ProblemCode = &'static str;

/// Reads a problem code back from a report: one of [`PROBLEM_CODES`], else an error.
fn problem_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
    PROBLEM_CODES
        .iter()
        .copied()
        .find(|c| *c == s)
        .ok_or_else(|| serde::de::Error::unknown_variant(&s, PROBLEM_CODES))
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Consistency {
    pub distributions: usize,
    /// Requirements whose markers hold here and were checked.
    pub requirements_checked: usize,
    pub problems: Vec<Problem>,
}

impl Consistency {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks every requirement of every installed distribution. Pure: reads only `env`.
pub fn check(env: &PythonEnv) -> Consistency {
    let markers: Option<MarkerEnvironment> = env.marker_env();
    let mut out = Consistency {
        distributions: env.distributions.len(),
        ..Default::default()
    };
    for dist in env.distributions.values() {
        for (line, req) in &dist.requirements {
            // Without a marker environment, only unconditional requirements are checked.
            if !super::applies(req, markers.as_ref(), &[]) {
                continue;
            }
            out.requirements_checked += 1;
            let dep = req.name.to_string();
            let Some(installed) = env.distributions.get(&dep) else {
                if env.planned && !env.planned_complete {
                    // A requirements file lists top-level packages; pip adds what they need.
                    continue;
                }
                out.problems.push(Problem {
                    code: "missing-dependency",
                    package: dist.normalized.clone(),
                    version: dist.version_text.clone(),
                    requirement: line.clone(),
                    dependency: dep.clone(),
                    installed: None,
                    message: format!(
                        "{} {} requires {}, which is not installed.",
                        dist.normalized, dist.version_text, dep
                    ),
                });
                continue;
            };
            let Some(VersionOrUrl::VersionSpecifier(spec)) = &req.version_or_url else {
                continue;
            };
            let Some(v) = &installed.version else {
                continue; // an invalid version is already a finding
            };
            if !spec.contains(v) {
                out.problems.push(Problem {
                    code: "version-conflict",
                    package: dist.normalized.clone(),
                    version: dist.version_text.clone(),
                    requirement: line.clone(),
                    dependency: dep.clone(),
                    installed: Some(installed.version_text.clone()),
                    message: format!(
                        "{} {} has requirement {}, but you have {} {}.",
                        dist.normalized,
                        dist.version_text,
                        pip_requirement_text(req, line),
                        dep,
                        installed.version_text
                    ),
                });
            }
        }
    }
    out.problems
        .sort_by(|a, b| (&a.package, &a.dependency).cmp(&(&b.package, &b.dependency)));
    out
}

/// A requirement as `packaging` prints it: specifiers sorted, joined by `,`, then the marker.
/// The marker is taken as written (with `"` quotes, as packaging prints it), not re-serialized.
fn pip_requirement_text(req: &pep508_rs::Requirement, line: &str) -> String {
    let mut s = req.name.to_string();
    if !req.extras.is_empty() {
        let mut extras: Vec<String> = req.extras.iter().map(ToString::to_string).collect();
        extras.sort();
        s.push_str(&format!("[{}]", extras.join(",")));
    }
    if let Some(VersionOrUrl::VersionSpecifier(spec)) = &req.version_or_url {
        let mut parts: Vec<String> = spec.iter().map(ToString::to_string).collect();
        parts.sort();
        s.push_str(&parts.join(","));
    }
    if req.marker.contents().is_some() {
        if let Some((_, m)) = line.split_once(';') {
            s.push_str(&format!("; {}", m.trim().replace('\'', "\"")));
        }
    }
    s
}
