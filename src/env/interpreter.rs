//! Finding the target interpreter and its site-packages.
//!
//! Sources, in order (the first that answers wins, and the report says which):
//! 1. `--python PATH` (an interpreter, or an environment folder holding `pyvenv.cfg`/`bin/python`),
//! 2. `VIRTUAL_ENV`, 3. `CONDA_PREFIX`, 4. `python3` on `PATH`.
//!
//! Reading it: a virtual environment on Linux whose `pyvenv.cfg` names the Python version and
//! does not include the system site-packages is read from its layout alone (no process is
//! started). Anything else costs exactly one call of the interpreter with a fixed, built-in
//! script that prints `sys.path` and the PEP 508 marker values as JSON: never a shell string,
//! never a package import.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use super::metadata::{parse_pyvenv_cfg, pth_paths};
use crate::model::Vars;
use crate::process::RunError;

/// Where the interpreter choice came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterpreterSource {
    Flag,
    VirtualEnv,
    CondaPrefix,
    Path,
}

impl InterpreterSource {
    pub fn describe(self) -> &'static str {
        match self {
            InterpreterSource::Flag => "--python",
            InterpreterSource::VirtualEnv => "VIRTUAL_ENV",
            InterpreterSource::CondaPrefix => "CONDA_PREFIX",
            InterpreterSource::Path => "python3 on PATH",
        }
    }
}

/// PEP 508 environment marker values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Markers {
    pub implementation_name: String,
    pub implementation_version: String,
    pub os_name: String,
    pub platform_machine: String,
    pub platform_python_implementation: String,
    pub platform_release: String,
    pub platform_system: String,
    pub platform_version: String,
    pub python_full_version: String,
    pub python_version: String,
    pub sys_platform: String,
}

impl Markers {
    pub fn to_pep508(&self) -> Result<pep508_rs::MarkerEnvironment, pep440_rs::VersionParseError> {
        pep508_rs::MarkerEnvironment::try_from(pep508_rs::MarkerEnvironmentBuilder {
            implementation_name: &self.implementation_name,
            implementation_version: &self.implementation_version,
            os_name: &self.os_name,
            platform_machine: &self.platform_machine,
            platform_python_implementation: &self.platform_python_implementation,
            platform_release: &self.platform_release,
            platform_system: &self.platform_system,
            platform_version: &self.platform_version,
            python_full_version: &self.python_full_version,
            python_version: &self.python_version,
            sys_platform: &self.sys_platform,
        })
    }
}

/// The interpreter as compat sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interpreter {
    /// The interpreter executable, when there is one.
    pub executable: Option<PathBuf>,
    /// The environment prefix (`sys.prefix`).
    pub prefix: PathBuf,
    pub source: InterpreterSource,
    /// `pyvenv.cfg` or `interpreter call`.
    pub read_from: String,
    pub python_version: String,
    pub implementation: String,
    pub markers: Markers,
    /// The folders searched for distributions, in `sys.path` order.
    pub site_packages: Vec<PathBuf>,
}

impl Interpreter {
    pub fn version(&self) -> Option<Version> {
        self.python_version.parse().ok()
    }
}

/// Why no interpreter could be read. These are errors of compat's input: exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    #[error("no Python interpreter found: --python was not given, VIRTUAL_ENV and CONDA_PREFIX are unset, and there is no `python3` on PATH")]
    NotFound,
    #[error("`{0}` does not exist")]
    Missing(PathBuf),
    #[error("`{0}` is a folder with neither pyvenv.cfg nor bin/python3 in it")]
    NotAnEnvironment(PathBuf),
    #[error("running `{path}` failed: {source}")]
    Call {
        path: PathBuf,
        #[source]
        source: RunError,
    },
    #[error(
        "running `{path}` failed: unexpected output ({source}); is this a Python 3 interpreter?"
    )]
    Output {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

const PROBE_SCRIPT: &str = r#"
import json, os, platform, sys, sysconfig
paths = sysconfig.get_paths()
std = {os.path.realpath(p) for p in (paths.get("stdlib"), paths.get("platstdlib")) if p}
out = []
for p in sys.path:
    if not p or not os.path.isdir(p):
        continue
    r = os.path.realpath(p)
    if r in std or os.path.basename(r) == "lib-dynload":
        continue
    out.append(p)
def fv(i):
    v = "%d.%d.%d" % (i.major, i.minor, i.micro)
    if i.releaselevel != "final":
        v += i.releaselevel[0] + str(i.serial)
    return v
print(json.dumps({
    "executable": sys.executable, "prefix": sys.prefix, "paths": out,
    "markers": {
        "implementation_name": sys.implementation.name,
        "implementation_version": fv(sys.implementation.version),
        "os_name": os.name, "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(), "platform_system": platform.system(),
        "platform_version": platform.version(), "python_full_version": platform.python_version(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    },
}))
"#;

/// Chooses the interpreter (or environment folder) to read, and says why. `vars` gives
/// `VIRTUAL_ENV`, `CONDA_PREFIX` (an empty one counts as unset) and `PATH`.
pub fn discover(
    flag: Option<&Path>,
    vars: &Vars,
) -> Result<(PathBuf, InterpreterSource), InterpreterError> {
    if let Some(p) = flag {
        return Ok((p.to_path_buf(), InterpreterSource::Flag));
    }
    if let Some(v) = vars.nonempty("VIRTUAL_ENV") {
        return Ok((PathBuf::from(v), InterpreterSource::VirtualEnv));
    }
    if let Some(c) = vars.nonempty("CONDA_PREFIX") {
        return Ok((PathBuf::from(c), InterpreterSource::CondaPrefix));
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    match which::which_in("python3", vars.get_os("PATH"), cwd) {
        Ok(p) => Ok((p, InterpreterSource::Path)),
        Err(_) => Err(InterpreterError::NotFound),
    }
}

/// Reads the interpreter at `target` (an executable or an environment folder).
pub fn read(target: &Path, source: InterpreterSource) -> Result<Interpreter, InterpreterError> {
    if !target.exists() {
        return Err(InterpreterError::Missing(target.to_path_buf()));
    }
    let (prefix, exe) = if target.is_dir() {
        let exe = [
            "bin/python3",
            "bin/python",
            "python.exe",
            "Scripts/python.exe",
        ]
        .iter()
        .map(|c| target.join(c))
        .find(|p| p.exists());
        if exe.is_none() && !target.join("pyvenv.cfg").is_file() {
            return Err(InterpreterError::NotAnEnvironment(target.to_path_buf()));
        }
        (Some(target.to_path_buf()), exe)
    } else {
        // An executable: its environment is the folder above bin/ when that holds pyvenv.cfg.
        let prefix = target
            .parent()
            .and_then(Path::parent)
            .filter(|p| p.join("pyvenv.cfg").is_file())
            .map(Path::to_path_buf);
        (prefix, Some(target.to_path_buf()))
    };
    if let Some(prefix) = &prefix {
        if let Some(i) = from_layout(prefix, exe.clone(), source) {
            return Ok(i);
        }
    }
    match exe {
        Some(exe) => call(&exe, source),
        None => Err(InterpreterError::NotAnEnvironment(target.to_path_buf())),
    }
}

/// The fast path: a Linux virtual environment read from `pyvenv.cfg` and its folders.
fn from_layout(
    prefix: &Path,
    exe: Option<PathBuf>,
    source: InterpreterSource,
) -> Option<Interpreter> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let cfg = parse_pyvenv_cfg(&std::fs::read_to_string(prefix.join("pyvenv.cfg")).ok()?);
    if cfg.include_system_site_packages {
        return None;
    }
    let impl_name = cfg.implementation.as_deref().unwrap_or("CPython");
    if !impl_name.eq_ignore_ascii_case("cpython") {
        return None;
    }
    let full: Version = cfg.version.as_deref()?.trim().parse().ok()?;
    let release = full.release();
    if release.len() < 2 {
        return None;
    }
    let minor = format!("python{}.{}", release[0], release[1]);
    let mut site = Vec::new();
    for lib in ["lib", "lib64"] {
        let dir = prefix.join(lib).join(&minor).join("site-packages");
        if dir.is_dir() && !site.iter().any(|s: &PathBuf| same_file(s, &dir)) {
            site.push(dir);
        }
    }
    if site.is_empty() {
        return None;
    }
    let site = with_pth_paths(site);
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let full_text = full.to_string();
    let markers = Markers {
        implementation_name: "cpython".into(),
        implementation_version: full_text.clone(),
        os_name: "posix".into(),
        platform_machine: std::env::consts::ARCH.into(),
        platform_python_implementation: "CPython".into(),
        platform_release: read("/proc/sys/kernel/osrelease"),
        platform_system: "Linux".into(),
        platform_version: read("/proc/sys/kernel/version"),
        python_full_version: full_text.clone(),
        python_version: format!("{}.{}", release[0], release[1]),
        sys_platform: "linux".into(),
    };
    Some(Interpreter {
        executable: exe,
        prefix: prefix.to_path_buf(),
        source,
        read_from: "pyvenv.cfg".into(),
        python_version: full_text,
        implementation: "CPython".into(),
        markers,
        site_packages: site,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Adds the folders named by `.pth` files, as `site` does, after the site folders.
fn with_pth_paths(site: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut out = site.clone();
    for dir in &site {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut pth: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "pth"))
            .collect();
        pth.sort();
        for file in pth {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            for line in pth_paths(&text) {
                let p = dir.join(line);
                if p.is_dir() && !out.iter().any(|o| same_file(o, &p)) {
                    out.push(p);
                }
            }
        }
    }
    out
}

#[derive(Deserialize)]
struct CallOutput {
    executable: String,
    prefix: String,
    paths: Vec<String>,
    markers: Markers,
}

/// The one interpreter call, bounded in time.
fn call(exe: &Path, source: InterpreterSource) -> Result<Interpreter, InterpreterError> {
    let out = crate::process::run_ok(
        Command::new(exe).arg("-c").arg(PROBE_SCRIPT),
        Duration::from_secs(20),
        4 << 20,
    )
    .map_err(|source| InterpreterError::Call {
        path: exe.to_path_buf(),
        source,
    })?;
    let parsed: CallOutput =
        serde_json::from_str(&out.stdout).map_err(|source| InterpreterError::Output {
            path: exe.to_path_buf(),
            source,
        })?;
    Ok(Interpreter {
        executable: Some(PathBuf::from(parsed.executable)),
        prefix: PathBuf::from(parsed.prefix),
        source,
        read_from: "interpreter call".into(),
        python_version: parsed.markers.python_full_version.clone(),
        implementation: parsed.markers.platform_python_implementation.clone(),
        site_packages: parsed.paths.into_iter().map(PathBuf::from).collect(),
        markers: parsed.markers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_order() {
        let vars = Vars::from_pairs([("VIRTUAL_ENV", "/venv"), ("CONDA_PREFIX", "/conda")]);
        let flag = PathBuf::from("/x/python");
        assert_eq!(
            discover(Some(&flag), &vars).ok(),
            Some((flag.clone(), InterpreterSource::Flag))
        );
        assert_eq!(
            discover(None, &vars).ok(),
            Some((PathBuf::from("/venv"), InterpreterSource::VirtualEnv))
        );
        let conda = vars.clone().with("VIRTUAL_ENV", "");
        assert_eq!(
            discover(None, &conda).ok(),
            Some((PathBuf::from("/conda"), InterpreterSource::CondaPrefix))
        );
        let none = Vars::from_pairs([("PATH", "/nonexistent-dir")]);
        assert!(matches!(
            discover(None, &none),
            Err(InterpreterError::NotFound)
        ));
    }
}
