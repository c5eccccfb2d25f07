//! pyenv's shims, seen through without running them.
//!
//! A pyenv shim (`$PYENV_ROOT/shims/python3`) is a bash script that runs `pyenv exec`, which
//! picks a Python version and runs that version's own binary: 50–100 ms per call before the tool
//! itself starts. pyenv's choice is made from files, so compat makes the same choice from the
//! same files, in pyenv's order:
//! 1. `PYENV_VERSION` (versions separated by `:`);
//! 2. `.python-version` in the current directory, then in each of its parents;
//! 3. `$PYENV_ROOT/version`;
//! 4. else `system`.
//!
//! The first listed version whose `bin/` holds the tool wins: `$PYENV_ROOT/versions/<v>/bin/<tool>`,
//! or for `system` the tool on PATH after pyenv's own shim folders. A Python's version is then
//! read from the version folder (`pyvenv.cfg` of a pyenv-virtualenv environment, else a folder
//! name that is a plain `X.Y.Z`, which is how pyenv names what it builds); pip's from its
//! `dist-info` (in `probe::toolchains`).
//!
//! When the files do not settle it (a version pyenv would resolve by prefix, a shim compat does
//! not recognise), nothing is guessed: the caller runs the shim as before.
//!
//! Used by the interpreter discovery here and by the toolchain probe (`probe::toolchains`).
//!
//! What does not live here: running tools and reading versions from output
//! (`probe::toolchains`).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// What the pyenv lookup needs from the process: the variables pyenv reads and the directory
/// `.python-version` is looked for from. Passed in so tests use a fake pyenv root.
#[derive(Debug, Clone, Default)]
pub struct PyenvVars {
    /// `PYENV_VERSION`, when set and not empty.
    pub version: Option<String>,
    /// `PYENV_ROOT`, when set and not empty (a shim names its root itself, which wins).
    pub root: Option<PathBuf>,
    /// Where pyenv starts looking for `.python-version`: the current directory.
    pub cwd: PathBuf,
}

/// A shim's target, as `pyenv exec` would pick it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimTarget {
    /// The binary pyenv would run.
    pub exe: PathBuf,
    /// The version name chosen (`3.11.7`, `system`, a virtualenv's name).
    pub version_name: String,
    /// What chose it: `PYENV_VERSION`, or the version file's path.
    pub chosen_by: String,
    /// The version folder (`$PYENV_ROOT/versions/<v>`); `None` for `system`.
    pub prefix: Option<PathBuf>,
}

impl ShimTarget {
    /// The Python version of the chosen folder, read from files: a `pyvenv.cfg` there, else the
    /// folder's name when it is a plain `X.Y.Z`. `None` for `system` and for any other name.
    pub fn python_version(&self) -> Option<String> {
        let prefix = self.prefix.as_ref()?;
        if let Ok(text) = crate::input::read_text(
            &prefix.join("pyvenv.cfg"),
            crate::input::InputKind::PackageFile,
        ) {
            let v = crate::env::metadata::parse_pyvenv_cfg(&text).version?;
            // virtualenv writes `version_info = 3.11.7.final.0`.
            let v: Vec<&str> = v.split('.').take(3).collect();
            let v = v.join(".");
            return plain_version(&v).then_some(v);
        }
        let name = prefix.file_name()?.to_str()?;
        plain_version(name).then(|| name.to_string())
    }
}

/// `3.11.7`: three dot-separated numbers, nothing else.
fn plain_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The `PYENV_ROOT` a pyenv shim exports, or `None` when `exe` is not a pyenv shim: a script
/// whose text runs `pyenv exec`.
fn shim_root(exe: &Path) -> Option<Option<PathBuf>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(1024);
    std::fs::File::open(exe)
        .ok()?
        .take(1024)
        .read_to_end(&mut head)
        .ok()?;
    let text = std::str::from_utf8(&head).ok()?;
    if !text.starts_with("#!") || !text.contains("pyenv\" exec") {
        return None;
    }
    let root = text.lines().find_map(|l| {
        let v = l.trim().strip_prefix("export PYENV_ROOT=")?;
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && !v.contains('$')).then(|| PathBuf::from(v))
    });
    Some(root)
}

/// The version names a version file lists (words; `#` starts a comment line), in order.
fn read_version_file(path: &Path) -> Option<Vec<String>> {
    let text = crate::input::read_text(path, crate::input::InputKind::Config).ok()?;
    Some(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .flat_map(str::split_whitespace)
            .map(str::to_string)
            .collect(),
    )
}

/// The versions pyenv would use, and what chose them.
fn chosen_versions(root: &Path, vars: &PyenvVars) -> (Vec<String>, String) {
    if let Some(v) = vars.version.as_deref().filter(|v| !v.trim().is_empty()) {
        let names = v
            .split(':')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        return (names, "PYENV_VERSION".into());
    }
    for dir in vars.cwd.ancestors() {
        let file = dir.join(".python-version");
        if let Some(names) = read_version_file(&file) {
            if !names.is_empty() {
                return (names, file.display().to_string());
            }
        }
    }
    let file = root.join("version");
    match read_version_file(&file) {
        Some(names) if !names.is_empty() => (names, file.display().to_string()),
        _ => (vec!["system".into()], "no version file".into()),
    }
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Where `pyenv exec TOOL` would go, for a `shim` found on `path`; `None` when `shim` is not a
/// pyenv shim or pyenv's files do not settle the choice (the caller then runs the shim).
pub fn resolve(tool: &str, shim: &Path, path: &OsStr, vars: &PyenvVars) -> Option<ShimTarget> {
    let exported = shim_root(shim)?;
    let root = exported
        .or_else(|| vars.root.clone())
        .or_else(|| Some(shim.parent()?.parent()?.to_path_buf()))?;
    let (names, chosen_by) = chosen_versions(&root, vars);
    for name in names {
        if name == "system" {
            // The tool on PATH, past every pyenv shim folder.
            let shims = root.join("shims");
            let rest: Vec<PathBuf> = std::env::split_paths(path)
                .filter(|d| d != &shims && !d.ends_with("shims"))
                .collect();
            let rest: OsString = std::env::join_paths(rest).ok()?;
            if let Ok(exe) = which::which_in(tool, Some(rest), &vars.cwd) {
                return Some(ShimTarget {
                    exe,
                    version_name: name,
                    chosen_by,
                    prefix: None,
                });
            }
            continue;
        }
        if name.contains('/') || name == ".." || name == "." {
            return None;
        }
        let prefix = root.join("versions").join(&name);
        let exe = prefix.join("bin").join(tool);
        if is_executable(&exe) {
            return Some(ShimTarget {
                exe,
                version_name: name,
                chosen_by,
                prefix: Some(prefix),
            });
        }
    }
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write_exe(path: &Path, body: &str) {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, body).expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// A pyenv shim as pyenv writes it, except that running it leaves a marker file.
    fn shim(root: &Path, tool: &str, marker: &Path) {
        write_exe(
            &root.join("shims").join(tool),
            &format!(
                "#!/usr/bin/env bash\nset -e\nprogram=\"${{0##*/}}\"\n\
                 touch {}\nexport PYENV_ROOT=\"{}\"\n\
                 exec \"{}/libexec/pyenv\" exec \"$program\" \"$@\"\n",
                marker.display(),
                root.display(),
                root.display()
            ),
        );
    }

    #[test]
    fn pyenv_order_is_followed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("pyenv");
        let marker = dir.path().join("ran");
        shim(&root, "python3", &marker);
        write_exe(&root.join("versions/3.11.7/bin/python3"), "#!/bin/sh\n");
        write_exe(&root.join("versions/3.12.1/bin/python3"), "#!/bin/sh\n");
        write_exe(&root.join("versions/venv1/bin/python3"), "#!/bin/sh\n");
        std::fs::write(
            root.join("versions/venv1/pyvenv.cfg"),
            "home = /x\nversion_info = 3.10.13.final.0\n",
        )
        .expect("cfg");
        std::fs::write(root.join("version"), "# global\n3.11.7\n").expect("version");
        let project = dir.path().join("project/sub");
        std::fs::create_dir_all(&project).expect("mkdir");
        let shim_path = root.join("shims/python3");
        let path = std::env::join_paths([root.join("shims")]).expect("path");
        let vars = |version: Option<&str>| PyenvVars {
            version: version.map(str::to_string),
            root: None,
            cwd: project.clone(),
        };

        let global = resolve("python3", &shim_path, &path, &vars(None)).expect("resolved");
        assert_eq!(global.exe, root.join("versions/3.11.7/bin/python3"));
        assert_eq!(global.chosen_by, root.join("version").display().to_string());
        assert_eq!(global.python_version().as_deref(), Some("3.11.7"));

        // A .python-version in a parent of the current directory beats the global file.
        std::fs::write(dir.path().join("project/.python-version"), "3.9.0 3.12.1\n").expect("w");
        let local = resolve("python3", &shim_path, &path, &vars(None)).expect("resolved");
        assert_eq!(
            local.version_name, "3.12.1",
            "3.9.0 is not installed: the next one"
        );
        assert_eq!(local.python_version().as_deref(), Some("3.12.1"));

        // PYENV_VERSION beats both; a virtualenv's version comes from its pyvenv.cfg.
        let env = resolve("python3", &shim_path, &path, &vars(Some("venv1"))).expect("resolved");
        assert_eq!(env.chosen_by, "PYENV_VERSION");
        assert_eq!(env.python_version().as_deref(), Some("3.10.13"));

        // Nothing installed by that name: not guessed.
        assert_eq!(
            resolve("python3", &shim_path, &path, &vars(Some("3.11"))),
            None
        );
        // Not a shim: not resolved.
        let plain = root.join("versions/3.11.7/bin/python3");
        assert_eq!(resolve("python3", &plain, &path, &vars(None)), None);
        assert!(!marker.exists(), "a shim was run");
    }

    #[test]
    fn system_is_the_tool_past_the_shims() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("pyenv");
        let marker = dir.path().join("ran");
        shim(&root, "python3", &marker);
        let usr = dir.path().join("usr/bin");
        write_exe(&usr.join("python3"), "#!/bin/sh\n");
        let path = std::env::join_paths([root.join("shims"), usr.clone()]).expect("path");
        let vars = PyenvVars {
            version: Some("system".into()),
            root: None,
            cwd: dir.path().to_path_buf(),
        };
        let t = resolve("python3", &root.join("shims/python3"), &path, &vars).expect("resolved");
        assert_eq!(t.exe, usr.join("python3"));
        assert_eq!(t.python_version(), None, "asked by running it");
        assert!(!marker.exists());
    }

    /// The whole probe on a PATH of shims: python3 and pip get their versions from pyenv's files,
    /// and neither a shim nor the interpreter behind it is run.
    #[test]
    fn the_probe_runs_no_shim() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("pyenv");
        let marker = dir.path().join("ran");
        for tool in ["python3", "pip", "cmake"] {
            shim(&root, tool, &marker);
        }
        let prefix = root.join("versions/3.11.7");
        let python = prefix.join("bin/python3.11");
        let touch = format!("#!/bin/sh\ntouch {}\n", marker.display());
        write_exe(&python, &touch);
        write_exe(&prefix.join("bin/python3"), &touch);
        write_exe(
            &prefix.join("bin/pip"),
            &format!("#!{}\nimport pip\n", python.display()),
        );
        std::fs::create_dir_all(prefix.join("lib/python3.11/site-packages/pip-24.0.dist-info"))
            .expect("mkdir");
        // cmake from a pyenv version is run, but directly, not through its shim.
        write_exe(
            &prefix.join("bin/cmake"),
            "#!/bin/sh\necho 'cmake version 3.28.1'\n",
        );
        std::fs::write(root.join("version"), "3.11.7\n").expect("write");
        let path = std::env::join_paths([root.join("shims")]).expect("path");
        let vars = PyenvVars {
            version: None,
            root: None,
            cwd: dir.path().to_path_buf(),
        };
        let tools = crate::probe::toolchains::probe_in(
            Some(&path),
            &vars,
            std::time::Duration::from_secs(5),
            true,
        );
        let get = |name: &str| tools.iter().find(|t| t.name == name).expect("reported");
        let py = get("python3");
        assert_eq!(py.version.as_deref(), Some("3.11.7"), "{py:?}");
        assert_eq!(
            py.path.as_deref(),
            Some(prefix.join("bin/python3").as_path())
        );
        assert_eq!(get("pip").version.as_deref(), Some("24.0"));
        assert_eq!(get("cmake").version.as_deref(), Some("3.28.1"));
        assert!(!marker.exists(), "a shim or the interpreter was run");
    }
}
