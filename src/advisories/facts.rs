//! Filling [`Facts`] from what compat already gathered: the scanned (or planned) Python
//! environment, the host facts (probed or from a profile), and — only when this machine is
//! probed — the process's variables and the library files in the directories that
//! `LD_LIBRARY_PATH` and `$CONDA_PREFIX/lib` name.
//!
//! The few files read here (a dist-info's `direct_url.json` and `INSTALLER`, xformers'
//! `cpp_lib.json`) are read with a size bound and parsed leniently: a missing, oversized or
//! malformed file leaves the fact unset, never panics. A planned environment has no dist-info
//! on disk, so only its versions, tags and requirements count. The rules that read these facts
//! live in `eval.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::load::Database;
use super::model::{BuiltFor, Condition, Facts, LibraryCopy};
use crate::env::{Distribution, PythonEnv};
use crate::model::Vars;
use crate::probe::HostFacts;

/// The most library file names kept per directory.
const MAX_LIBRARIES_PER_DIR: usize = 2000;
/// The most directories listed from one search-path variable.
const MAX_DIRS: usize = 32;

/// The facts of `env` on `host`. `local` is the process's variables when this machine is the
/// one probed (no `--host`); with a host profile it is `None` and no variable or directory of
/// this machine is read. `db` says which variables the advisories look at.
pub fn from_env(env: &PythonEnv, host: &HostFacts, local: Option<&Vars>, db: &Database) -> Facts {
    let mut facts = Facts {
        torch_cuda: env.torch.as_ref().and_then(|t| t.cuda.clone()),
        gpus: host
            .gpus
            .iter()
            .map(|g| g.compute_capability.to_string())
            .collect(),
        machine: Some(host.arch.clone()).filter(|a| !a.is_empty()),
        system: system(host, local.is_some()),
        ..Facts::default()
    };
    // Three small files per distribution: read in parallel (hundreds of opens on a large
    // environment), then put in place in order.
    let on_disk: Vec<OnDisk> = {
        use rayon::prelude::*;
        let all: Vec<&Distribution> = env.distributions.values().collect();
        all.par_iter()
            .map(|d| match dist_info_dir(d).filter(|_| !env.planned) {
                Some(dir) => OnDisk {
                    wheel: wheel_from_direct_url(&dir),
                    installer: installer(&dir),
                    built_for: (d.normalized == "xformers")
                        .then(|| xformers_built_for(&dir))
                        .flatten(),
                },
                None => OnDisk::default(),
            })
            .collect()
    };
    for (d, disk) in env.distributions.values().zip(on_disk) {
        let p = facts.install(&d.name, &d.version_text);
        p.wheel_tags = d.wheel_tags.clone();
        p.requires = d.requires_dist.clone();
        p.wheel = disk.wheel;
        p.installer = disk.installer;
        p.built_for = disk.built_for;
    }
    if let Some(vars) = local {
        for name in variable_names(db) {
            if let Some(v) = vars.get(&name) {
                facts.env.insert(name, v);
            }
        }
        facts.libraries = libraries(vars);
    }
    facts
}

/// `platform.system()`: `Linux` for this machine (compat probes Linux hosts), else what the host
/// profile's `os` says, recognised loosely (`Ubuntu 22.04` is Linux).
fn system(host: &HostFacts, this_machine: bool) -> Option<String> {
    if this_machine && cfg!(target_os = "linux") {
        return Some("Linux".into());
    }
    let os = host.os.as_deref()?.to_ascii_lowercase();
    let linuxes = [
        "linux", "ubuntu", "debian", "rhel", "red hat", "centos", "rocky", "alma", "fedora",
        "suse", "amazon", "arch",
    ];
    if linuxes.iter().any(|l| os.contains(l)) {
        Some("Linux".into())
    } else if os.contains("windows") {
        Some("Windows".into())
    } else if os.contains("darwin") || os.contains("macos") {
        Some("Darwin".into())
    } else {
        None
    }
}

/// Every variable an `env` condition names, and the search-path variables.
fn variable_names(db: &Database) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = ["LD_LIBRARY_PATH", "CONDA_PREFIX"]
        .into_iter()
        .map(String::from)
        .collect();
    for a in &db.advisories {
        for c in &a.conditions {
            if let Condition::Env { var, .. } = &c.raw {
                names.insert(var.clone());
            }
        }
    }
    names
}

/// What a distribution's own files add to its facts.
#[derive(Default)]
struct OnDisk {
    wheel: Option<String>,
    installer: Option<String>,
    built_for: Option<BuiltFor>,
}

/// The dist-info directory of an installed distribution (egg-info and planned ones have none).
fn dist_info_dir(d: &Distribution) -> Option<PathBuf> {
    let name = d.path.file_name()?.to_str()?;
    (name.ends_with(".dist-info") && d.path.is_dir()).then(|| d.path.clone())
}

/// The text of a small file of a distribution, through the bounded reader; `None` when
/// missing, not a regular file, larger than the limit, or not UTF-8.
fn read_bounded(path: &Path) -> Option<String> {
    crate::input::read_text(path, crate::input::InputKind::PackageFile).ok()
}

/// The wheel file name from `direct_url.json`'s `url` (PEP 610), when it names a `.whl`.
fn wheel_from_direct_url(dir: &Path) -> Option<String> {
    let text = read_bounded(&dir.join("direct_url.json"))?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    wheel_name(v.get("url")?.as_str()?)
}

/// The last path segment of a URL (query and fragment dropped, `%2B` decoded) when it is a
/// wheel file name.
fn wheel_name(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let last = path.rsplit('/').next()?;
    let name = last.replace("%2B", "+").replace("%2b", "+");
    name.ends_with(".whl").then_some(name)
}

/// The first line of `INSTALLER`.
fn installer(dir: &Path) -> Option<String> {
    let text = read_bounded(&dir.join("INSTALLER"))?;
    let first = text.lines().next()?.trim();
    (!first.is_empty()).then(|| first.to_string())
}

/// xformers' `xformers/cpp_lib.json` (beside the dist-info, in site-packages): the torch and
/// CUDA it was built against.
fn xformers_built_for(dir: &Path) -> Option<BuiltFor> {
    let file = dir.parent()?.join("xformers").join("cpp_lib.json");
    let text = read_bounded(&file)?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let text_of = |key: &str| -> Option<String> {
        match v.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let torch = text_of("torch_version");
    let cuda = text_of("cuda_version");
    (torch.is_some() || cuda.is_some()).then(|| BuiltFor {
        torch,
        cuda,
        from: "xformers/cpp_lib.json".into(),
    })
}

/// The library files (`lib*.so*`) in the directories `LD_LIBRARY_PATH` names and in
/// `$CONDA_PREFIX/lib`, at most [`MAX_LIBRARIES_PER_DIR`] per directory.
fn libraries(vars: &Vars) -> Vec<LibraryCopy> {
    let mut out = Vec::new();
    if let Some(p) = vars.nonempty("LD_LIBRARY_PATH") {
        for dir in p.split(':').filter(|d| !d.is_empty()).take(MAX_DIRS) {
            list_dir("LD_LIBRARY_PATH", Path::new(dir), &mut out);
        }
    }
    if let Some(prefix) = vars.nonempty("CONDA_PREFIX") {
        list_dir("CONDA_PREFIX", &Path::new(&prefix).join("lib"), &mut out);
    }
    out
}

fn list_dir(variable: &str, dir: &Path, out: &mut Vec<LibraryCopy>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("lib") && n.contains(".so"))
        .take(MAX_LIBRARIES_PER_DIR)
        .collect();
    names.sort();
    out.extend(names.into_iter().map(|file| LibraryCopy {
        variable: variable.to_string(),
        dir: dir.display().to_string(),
        file,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names_come_from_the_url_path() {
        assert_eq!(
            wheel_name("https://github.com/x/releases/download/v2.6.3/flash_attn-2.6.3%2Bcu123torch2.3cxx11abiFALSE-cp311-cp311-linux_x86_64.whl").as_deref(),
            Some("flash_attn-2.6.3+cu123torch2.3cxx11abiFALSE-cp311-cp311-linux_x86_64.whl")
        );
        assert_eq!(
            wheel_name("file:///tmp/a-1.0-py3-none-any.whl#sha256=00").as_deref(),
            Some("a-1.0-py3-none-any.whl")
        );
        assert_eq!(wheel_name("file:///home/me/src/project"), None);
    }

    #[test]
    fn bad_files_leave_facts_unset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        std::fs::write(p.join("direct_url.json"), "{not json").expect("write");
        assert_eq!(wheel_from_direct_url(p), None);
        std::fs::write(p.join("direct_url.json"), r#"{"url": 7}"#).expect("write");
        assert_eq!(wheel_from_direct_url(p), None);
        std::fs::write(p.join("direct_url.json"), vec![b' '; 70_000]).expect("write");
        assert_eq!(wheel_from_direct_url(p), None);
        std::fs::write(p.join("INSTALLER"), "conda\n").expect("write");
        assert_eq!(installer(p).as_deref(), Some("conda"));
        std::fs::write(p.join("INSTALLER"), "\n").expect("write");
        assert_eq!(installer(p), None);
    }

    #[test]
    fn xformers_records_numbers_or_strings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let info = dir.path().join("xformers-0.0.24.dist-info");
        std::fs::create_dir_all(&info).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("xformers")).expect("mkdir");
        std::fs::write(
            dir.path().join("xformers/cpp_lib.json"),
            r#"{"cuda_version": 1201, "torch_version": "2.2.0+cu121"}"#,
        )
        .expect("write");
        let b = xformers_built_for(&info).expect("read");
        assert_eq!(b.cuda.as_deref(), Some("1201"));
        assert_eq!(b.torch.as_deref(), Some("2.2.0+cu121"));
    }

    #[test]
    fn a_profile_names_its_system_loosely() {
        let mut host = HostFacts {
            os: Some("Ubuntu 22.04.4 LTS".into()),
            ..HostFacts::default()
        };
        assert_eq!(system(&host, false).as_deref(), Some("Linux"));
        host.os = Some("Plan 9".into());
        assert_eq!(system(&host, false), None);
        host.os = None;
        assert_eq!(system(&host, false), None);
    }
}
