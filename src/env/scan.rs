//! Reading every `*.dist-info` and `*.egg-info` on the interpreter's site folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pep440_rs::{Version, VersionSpecifiers};

use super::metadata::{
    parse_core_metadata, parse_torch_version_py, parse_wheel, requires_txt_to_requires_dist,
};
use super::{DistFormat, Distribution, Finding, Interpreter, PythonEnv};
use crate::model::normalize;

/// Reads all distributions visible to `interp`, in `sys.path` order: the first copy of a
/// package wins, as it does for Python's import system and `importlib.metadata`.
pub fn scan(interp: Interpreter) -> PythonEnv {
    let mut findings = Vec::new();
    let mut entries: Vec<PathBuf> = Vec::new();
    for dir in &interp.site_packages {
        match std::fs::read_dir(dir) {
            Ok(rd) => {
                for e in rd {
                    match e {
                        Ok(e) => {
                            let name = e.file_name();
                            let name = name.to_string_lossy();
                            if name.ends_with(".dist-info") || name.ends_with(".egg-info") {
                                entries.push(e.path());
                            }
                        }
                        Err(err) => findings.push(Finding {
                            code: "unreadable-entry",
                            package: None,
                            path: Some(dir.clone()),
                            message: format!("an entry of {} cannot be read: {err}", dir.display()),
                        }),
                    }
                }
            }
            Err(err) => findings.push(Finding {
                code: "missing-site-packages",
                package: None,
                path: Some(dir.clone()),
                message: format!("{} cannot be listed: {err}", dir.display()),
            }),
        }
    }

    // Read in parallel: metadata files are small, but there are hundreds of them.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    let chunk = entries.len().div_ceil(threads.max(1)).max(16);
    let results: Vec<(Option<Distribution>, Vec<Finding>)> = std::thread::scope(|s| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|p| read_dist(p)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });

    let mut distributions: BTreeMap<String, Distribution> = BTreeMap::new();
    let mut shadowed = Vec::new();
    for (dist, mut f) in results {
        findings.append(&mut f);
        let Some(dist) = dist else { continue };
        if let Some(first) = distributions.get(&dist.normalized) {
            findings.push(Finding {
                code: "duplicate-distribution",
                package: Some(dist.name.clone()),
                path: Some(dist.path.clone()),
                message: format!(
                    "{} is installed twice: {} ({}) and {} ({}); Python loads {}. Reinstall it: `pip install --force-reinstall {}=={}` after removing the stale folder",
                    dist.name,
                    first.version_text,
                    first.path.display(),
                    dist.version_text,
                    dist.path.display(),
                    first.version_text,
                    dist.normalized,
                    first.version_text,
                ),
            });
            shadowed.push(dist);
        } else {
            distributions.insert(dist.normalized.clone(), dist);
        }
    }

    for d in distributions.values() {
        if let Some(f) = wheel_tag_finding(d, &interp) {
            findings.push(f);
        }
    }

    let torch = distributions.get("torch").map(|t| {
        let site = t.path.parent().unwrap_or(Path::new("."));
        let file = site.join("torch").join("version.py");
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let v = parse_torch_version_py(&text);
                if v.version.is_none() {
                    findings.push(Finding {
                        code: "bad-torch-version-py",
                        package: Some("torch".into()),
                        path: Some(file.clone()),
                        message: format!("{} has no __version__", file.display()),
                    });
                }
                v
            }
            Err(e) => {
                findings.push(Finding {
                    code: "bad-torch-version-py",
                    package: Some("torch".into()),
                    path: Some(file.clone()),
                    message: format!(
                        "{} cannot be read ({e}): torch's CUDA build is unknown",
                        file.display()
                    ),
                });
                Default::default()
            }
        }
    });

    let bnb_libraries = distributions
        .get("bitsandbytes")
        .and_then(|d| d.path.parent())
        .and_then(|site| std::fs::read_dir(site.join("bitsandbytes")).ok())
        .map(|rd| {
            let mut libs: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.starts_with("libbitsandbytes_")
                        && (n.ends_with(".so") || n.ends_with(".dylib") || n.ends_with(".dll"))
                })
                .collect();
            libs.sort();
            libs
        })
        .unwrap_or_default();

    PythonEnv {
        interpreter: interp,
        bnb_libraries,
        distributions,
        shadowed,
        torch,
        findings,
        scan_ms: 0.0,
        planned: false,
        planned_complete: false,
    }
}

/// Reads one `.dist-info` / `.egg-info` entry. `None` with findings when it is unusable.
fn read_dist(path: &Path) -> (Option<Distribution>, Vec<Finding>) {
    let mut findings = Vec::new();
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let format = if file_name.ends_with(".dist-info") {
        DistFormat::DistInfo
    } else {
        DistFormat::EggInfo
    };
    // The folder name: `name-version.dist-info`; a fallback when metadata lacks a field.
    let stem = file_name
        .rsplit_once('.')
        .map(|(s, _)| s)
        .unwrap_or(&file_name);
    let (dir_name, dir_version) = match stem.split_once('-') {
        Some((n, v)) => (n.to_string(), v.split('-').next().unwrap_or(v).to_string()),
        None => (stem.to_string(), String::new()),
    };
    let finding = |code: &'static str, message: String| Finding {
        code,
        package: Some(dir_name.clone()),
        path: Some(path.to_path_buf()),
        message,
    };

    let meta_path = match format {
        DistFormat::DistInfo => path.join("METADATA"),
        // A legacy egg-info is a folder holding PKG-INFO, or a single PKG-INFO-format file.
        DistFormat::EggInfo if path.is_dir() => path.join("PKG-INFO"),
        DistFormat::EggInfo => path.to_path_buf(),
    };
    let bytes = match std::fs::read(&meta_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            findings.push(finding(
                "missing-metadata",
                format!(
                    "{} has no {}: the install is broken; reinstall {}",
                    path.display(),
                    meta_path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    dir_name
                ),
            ));
            return (None, findings);
        }
        Err(e) => {
            findings.push(finding(
                "unreadable-entry",
                format!("{} cannot be read: {e}", meta_path.display()),
            ));
            return (None, findings);
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            findings.push(finding(
                "bad-encoding",
                format!(
                    "{} is not valid UTF-8 (byte {at}); read with replacement characters",
                    meta_path.display()
                ),
            ));
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    };
    let md = parse_core_metadata(&text);
    let name = md.name.clone().unwrap_or_else(|| dir_name.clone());
    let version_text = md.version.clone().unwrap_or_else(|| dir_version.clone());
    let version = match version_text.parse::<Version>() {
        Ok(v) => Some(v),
        Err(e) => {
            findings.push(finding(
                "invalid-version",
                format!("{name} has version `{version_text}`, which is not PEP 440: {e}"),
            ));
            None
        }
    };

    let mut requires_dist = md.requires_dist.clone();
    if format == DistFormat::EggInfo && path.is_dir() {
        match std::fs::read_to_string(path.join("requires.txt")) {
            Ok(t) => requires_dist.extend(requires_txt_to_requires_dist(&t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => findings.push(finding(
                "unreadable-entry",
                format!("{}/requires.txt cannot be read: {e}", path.display()),
            )),
        }
    }
    let mut requirements = Vec::new();
    for line in &requires_dist {
        match super::metadata::parse_requirement(line) {
            Ok(r) => requirements.push((line.clone(), r)),
            Err(e) => findings.push(finding(
                "invalid-requirement",
                format!(
                    "{name} {version_text} declares `{line}`, which is not PEP 508: {}",
                    first_line(&e.to_string())
                ),
            )),
        }
    }
    let requires_python_spec = match &md.requires_python {
        None => None,
        Some(rp) => match rp.parse::<VersionSpecifiers>() {
            Ok(s) => Some(s),
            Err(e) => {
                findings.push(finding(
                    "invalid-requires-python",
                    format!(
                        "{name} {version_text} has Requires-Python `{rp}`: {}",
                        first_line(&e.to_string())
                    ),
                ));
                None
            }
        },
    };
    let wheel_tags = if format == DistFormat::DistInfo {
        std::fs::read_to_string(path.join("WHEEL"))
            .map(|t| parse_wheel(&t).tags)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let dist = Distribution {
        normalized: normalize(&name),
        name,
        version_text,
        version,
        requires_dist,
        requirements,
        requires_python: md.requires_python,
        provides_extra: md.provides_extra,
        requires_python_spec,
        wheel_tags,
        path: path.to_path_buf(),
        metadata_read: true,
        format,
    };
    (Some(dist), findings)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// A wheel whose every tag names another CPython minor version, or another CPU architecture.
fn wheel_tag_finding(d: &Distribution, interp: &Interpreter) -> Option<Finding> {
    if d.wheel_tags.is_empty() {
        return None;
    }
    let py = interp.markers.python_version.replace('.', "");
    let machine = interp.markers.platform_machine.as_str();
    let fits = |tag: &str| -> bool {
        let mut parts = tag.split('-');
        let (Some(pyt), Some(abi), Some(plat)) = (parts.next(), parts.next(), parts.next()) else {
            return true;
        };
        let py_ok = pyt.split('.').any(|p| match p.strip_prefix("cp") {
            // cp38-abi3 runs on every CPython 3.x from 3.8 on; cp311-cp311 only on 3.11.
            Some(v) if abi == "abi3" => cp_version(v) <= cp_version(&py),
            Some(v) => v == py,
            None => true, // py3, py2.py3, pp…: not judged here
        });
        let plat_ok = plat == "any"
            || plat.split('.').any(|p| {
                p.ends_with(machine)
                    || (machine == "aarch64" && p.ends_with("arm64"))
                    || p.contains("universal2")
            });
        py_ok && plat_ok
    };
    if d.wheel_tags.iter().any(|t| fits(t)) {
        return None;
    }
    Some(Finding {
        code: "wheel-tag-mismatch",
        package: Some(d.name.clone()),
        path: Some(d.path.clone()),
        message: format!(
            "{} {} was built for {} but this is CPython {} on {}: reinstall it with this interpreter's pip",
            d.name,
            d.version_text,
            d.wheel_tags.join(", "),
            interp.markers.python_version,
            machine
        ),
    })
}

/// `"311"` -> `(3, 11)`.
fn cp_version(v: &str) -> Option<(u32, u32)> {
    if v.len() < 2 || !v.is_char_boundary(1) {
        return None;
    }
    let (a, b) = v.split_at(1);
    Some((a.parse().ok()?, b.parse().ok()?))
}
