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
//! never a package import. Its answer is cached, as uv caches its own, under
//! `<cache>/compat/interpreters/`, keyed by the executable's path, size and modification time
//! (of the file it resolves to): a rebuilt or replaced interpreter is asked again. A pyenv shim
//! found on PATH is first seen through to the binary pyenv would run (`probe::toolchains::pyenv`),
//! so that the key is the real interpreter's and the shim is never run.

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
    #[serde(serialize_with = "crate::model::paths::ser_opt")]
    pub executable: Option<PathBuf>,
    /// The environment prefix (`sys.prefix`).
    #[serde(serialize_with = "crate::model::paths::ser")]
    pub prefix: PathBuf,
    pub source: InterpreterSource,
    /// `pyvenv.cfg` or `interpreter call`.
    pub read_from: String,
    pub python_version: String,
    pub implementation: String,
    pub markers: Markers,
    /// The folders searched for distributions, in `sys.path` order.
    #[serde(serialize_with = "crate::model::paths::ser_vec")]
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
    /// A `pyvenv.cfg` whose `version` is not a Python version, in an environment without an
    /// interpreter to ask instead.
    #[error("{}:{line}: `{value}` is not a Python version (pyvenv.cfg's `version` or `version_info` must read like `3.11.7`), and the environment has no bin/python3 to ask instead", path.display())]
    BadPyvenvVersion {
        path: PathBuf,
        line: usize,
        value: String,
    },
    /// A `pyvenv.cfg` without a `version`, in an environment without an interpreter.
    #[error("{}: no `version` line, and the environment has no bin/python3 to ask instead", path.display())]
    NoPyvenvVersion { path: PathBuf },
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

/// The script of the one interpreter call, run as `python -I -S -c SCRIPT`: isolated (`-I`: no
/// `PYTHON*` variables, no user site, no current folder on `sys.path`) and without the `site`
/// module's start-up (`-S`), so that no `.pth` line, `sitecustomize` or `usercustomize` from the
/// environment runs. It imports only the standard library, and computes the site folders the
/// way `site` would (a virtual environment's `include-system-site-packages`, the user site
/// unless a venv or `PYTHONNOUSERSITE` turns it off); the folders `.pth` files name are added by
/// compat itself ([`with_pth_paths`]), reading them as text.
const PROBE_SCRIPT: &str = r#"
import json, os, platform, site, sys
# What site.venv() would do, without site.addsitedir (which runs .pth lines).
exe_dir = os.path.dirname(os.path.abspath(sys.executable))
prefix = sys.prefix
first = []
prefixes = [sys.prefix, sys.exec_prefix]
user = True
for conf in (os.path.join(exe_dir, "pyvenv.cfg"), os.path.join(os.path.dirname(exe_dir), "pyvenv.cfg")):
    if os.path.isfile(conf):
        system = "true"
        with open(conf, encoding="utf-8") as f:
            for line in f:
                k, eq, v = line.partition("=")
                if eq and k.strip().lower() == "include-system-site-packages":
                    system = v.strip().lower()
        prefix = os.path.dirname(exe_dir)
        first = [prefix]
        if system != "true":
            prefixes = []
            user = False
        break
if os.environ.get("PYTHONNOUSERSITE") or (hasattr(os, "getuid") and os.getuid() != os.geteuid()):
    user = False
# site's order: the venv's own folder, then the user site, then the others.
cand = site.getsitepackages(first) + ([site.getusersitepackages()] if user else [])
cand += site.getsitepackages([p for p in dict.fromkeys(prefixes) if p not in first])
out = []
for p in cand:
    if p and os.path.isdir(p) and p not in out:
        out.append(p)
def fv(i):
    v = "%d.%d.%d" % (i.major, i.minor, i.micro)
    if i.releaselevel != "final":
        v += i.releaselevel[0] + str(i.serial)
    return v
print(json.dumps({
    "executable": sys.executable, "prefix": prefix, "paths": out,
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
    let path = vars.get_os("PATH");
    match which::which_in("python3", path, &cwd) {
        Ok(p) => {
            let pyenv = super::pyenv::PyenvVars {
                version: vars.nonempty("PYENV_VERSION"),
                root: vars.nonempty_os("PYENV_ROOT").map(PathBuf::from),
                cwd,
            };
            let real = path
                .and_then(|path| super::pyenv::resolve("python3", &p, path, &pyenv))
                .map_or(p, |t| t.exe);
            Ok((real, InterpreterSource::Path))
        }
        Err(_) => Err(InterpreterError::NotFound),
    }
}

/// Reads the interpreter at `target` (an executable or an environment folder); `cache` is the
/// folder of cached interpreter answers ([`default_cache_dir`]), `None` for none.
pub fn read(
    target: &Path,
    source: InterpreterSource,
    cache: Option<&Path>,
) -> Result<Interpreter, InterpreterError> {
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
        Some(exe) => call(&exe, source, cache),
        None => Err(prefix
            .as_deref()
            .and_then(pyvenv_fault)
            .unwrap_or_else(|| InterpreterError::NotAnEnvironment(target.to_path_buf()))),
    }
}

/// What is wrong with the `version` of `prefix`'s `pyvenv.cfg`, if anything.
fn pyvenv_fault(prefix: &Path) -> Option<InterpreterError> {
    let path = prefix.join("pyvenv.cfg");
    let text = crate::input::read_text(&path, crate::input::InputKind::PackageFile).ok()?;
    let cfg = parse_pyvenv_cfg(&text);
    let Some(value) = cfg.version else {
        return Some(InterpreterError::NoPyvenvVersion { path });
    };
    let release_ok = value
        .trim()
        .parse::<Version>()
        .is_ok_and(|v| v.release().len() >= 2);
    (!release_ok).then(|| InterpreterError::BadPyvenvVersion {
        path,
        line: cfg.version_line,
        value: crate::model::clean(&value).into_owned(),
    })
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
    let cfg = parse_pyvenv_cfg(
        &crate::input::read_text(
            &prefix.join("pyvenv.cfg"),
            crate::input::InputKind::PackageFile,
        )
        .ok()?,
    );
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
            let Ok(text) = crate::input::read_text(&file, crate::input::InputKind::PackageFile)
            else {
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

#[derive(Serialize, Deserialize)]
struct CallOutput {
    executable: String,
    prefix: String,
    paths: Vec<String>,
    markers: Markers,
}

/// What a cached interpreter answer is valid for: the executable's path, and the size and
/// modification time of the file it resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CacheKey {
    path: PathBuf,
    size: u64,
    mtime_ns: i128,
    /// Which [`PROBE_SCRIPT`] gave the answer: an answer of an older script (none recorded
    /// reads as 0) is asked again.
    #[serde(default)]
    script: u32,
}

/// Raised whenever [`PROBE_SCRIPT`] changes what it answers.
const SCRIPT_VERSION: u32 = 2;

impl CacheKey {
    fn of(exe: &Path) -> Option<CacheKey> {
        let meta = std::fs::metadata(exe).ok()?;
        let mtime = meta.modified().ok()?;
        let mtime_ns = match mtime.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i128::try_from(d.as_nanos()).ok()?,
            Err(e) => -i128::try_from(e.duration().as_nanos()).ok()?,
        };
        Some(CacheKey {
            path: exe.to_path_buf(),
            size: meta.len(),
            mtime_ns,
            script: SCRIPT_VERSION,
        })
    }

    fn file(&self, dir: &Path) -> PathBuf {
        let hash = crate::model::fnv1a(self.path.as_os_str().as_encoded_bytes());
        dir.join(format!("{hash:016x}.json"))
    }
}

#[derive(Serialize, Deserialize)]
struct CacheEntry {
    key: CacheKey,
    answer: CallOutput,
}

/// Where interpreter answers are cached: `interpreters/` beside the index cache
/// (`$XDG_CACHE_HOME/compat/`, else `~/.cache/compat/`).
pub fn default_cache_dir(vars: &Vars) -> PathBuf {
    vars.cache_root().join("interpreters")
}

/// The one interpreter call, bounded in time, or its cached answer (`cache`: the folder, or
/// `None` for no cache). A cache that cannot be read or written only costs the call.
fn call(
    exe: &Path,
    source: InterpreterSource,
    cache: Option<&Path>,
) -> Result<Interpreter, InterpreterError> {
    let key = cache.and_then(|dir| Some((dir, CacheKey::of(exe)?)));
    let cached = key.as_ref().and_then(|(dir, key)| {
        let entry: CacheEntry = serde_json::from_slice(&std::fs::read(key.file(dir)).ok()?).ok()?;
        (entry.key == *key).then_some(entry.answer)
    });
    let (parsed, read_from) = match cached {
        Some(answer) => (answer, "interpreter call (cached)"),
        None => {
            let out = crate::process::run_ok(
                Command::new(exe).args(["-I", "-S", "-c", PROBE_SCRIPT]),
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
            if let Some((dir, key)) = &key {
                let entry = CacheEntry {
                    key: key.clone(),
                    answer: parsed,
                };
                write_atomically(&key.file(dir), &entry);
                (entry.answer, "interpreter call")
            } else {
                (parsed, "interpreter call")
            }
        }
    };
    Ok(Interpreter {
        executable: Some(PathBuf::from(parsed.executable)),
        prefix: PathBuf::from(parsed.prefix),
        source,
        read_from: read_from.into(),
        python_version: parsed.markers.python_full_version.clone(),
        implementation: parsed.markers.platform_python_implementation.clone(),
        site_packages: with_pth_paths(parsed.paths.into_iter().map(PathBuf::from).collect()),
        markers: parsed.markers,
    })
}

/// Best effort: a temporary file in the same folder, then a rename, so that a reader never sees
/// half an entry. Failing to write a cache entry is not an error.
fn write_atomically(path: &Path, entry: &CacheEntry) {
    use std::io::Write;
    let Some(dir) = path.parent() else { return };
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(&serde_json::to_vec(entry).map_err(std::io::Error::other)?)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    let _ = write();
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

    /// A fake interpreter that leaves a marker each time it runs and prints a fixed answer.
    #[cfg(unix)]
    fn fake_python(dir: &Path, marker: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let answer = r#"{"executable": "/fake/bin/python3", "prefix": "/fake", "paths": ["/fake/lib/site-packages"], "markers": {"implementation_name": "cpython", "implementation_version": "3.11.7", "os_name": "posix", "platform_machine": "x86_64", "platform_python_implementation": "CPython", "platform_release": "6.1", "platform_system": "Linux", "platform_version": "1", "python_full_version": "3.11.7", "python_version": "3.11", "sys_platform": "linux"}}"#;
        let exe = dir.join("python3");
        std::fs::write(
            &exe,
            format!(
                "#!/bin/sh\necho run >> {}\necho '{answer}'\n",
                marker.display()
            ),
        )
        .expect("write");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        exe
    }

    #[cfg(unix)]
    #[test]
    fn the_interpreter_answer_is_cached_by_path_size_and_mtime() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = dir.path().join("cache");
        let marker = dir.path().join("runs");
        let exe = fake_python(dir.path(), &marker);
        let runs = || {
            std::fs::read_to_string(&marker)
                .map(|t| t.lines().count())
                .unwrap_or(0)
        };

        let first = read(&exe, InterpreterSource::Flag, Some(&cache)).expect("read");
        assert_eq!((runs(), first.read_from.as_str()), (1, "interpreter call"));
        assert_eq!(first.python_version, "3.11.7");
        let second = read(&exe, InterpreterSource::Flag, Some(&cache)).expect("read");
        assert_eq!(
            (runs(), second.read_from.as_str()),
            (1, "interpreter call (cached)")
        );
        assert_eq!(second.site_packages, first.site_packages);

        // Another size (and mtime): asked again.
        let text = std::fs::read_to_string(&exe).expect("read") + "\n";
        std::fs::write(&exe, text).expect("write");
        let third = read(&exe, InterpreterSource::Flag, Some(&cache)).expect("read");
        assert_eq!((runs(), third.read_from.as_str()), (2, "interpreter call"));
        // No cache: always asked.
        read(&exe, InterpreterSource::Flag, None).expect("read");
        assert_eq!(runs(), 3);
    }

    #[cfg(unix)]
    #[test]
    fn a_pyenv_shim_on_path_is_seen_through() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("pyenv");
        let marker = dir.path().join("shim-ran");
        let shims = root.join("shims");
        std::fs::create_dir_all(&shims).expect("mkdir");
        let shim = shims.join("python3");
        std::fs::write(
            &shim,
            format!(
                "#!/usr/bin/env bash\ntouch {}\nexport PYENV_ROOT=\"{}\"\nexec \"{}/libexec/pyenv\" exec \"python3\" \"$@\"\n",
                marker.display(),
                root.display(),
                root.display()
            ),
        )
        .expect("write");
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let bin = root.join("versions/3.11.7/bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let real = fake_python(&bin, &dir.path().join("real-ran"));
        std::fs::write(root.join("version"), "3.11.7\n").expect("write");
        let vars = Vars::from_pairs([("PATH", shims.as_os_str())]);
        assert_eq!(
            discover(None, &vars).ok(),
            Some((real, InterpreterSource::Path))
        );
        assert!(!marker.exists(), "the shim was run");
    }
}
