//! Reading every `*.dist-info` and `*.egg-info` on the interpreter's site folders: the listing,
//! the reading of each entry (in parallel), the first copy of each package, torch's
//! `version.py` and bitsandbytes' libraries. The file formats are parsed by `super::metadata`;
//! what is odd about an entry becomes a [`Finding`], never an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pep440_rs::{Version, VersionSpecifiers};

use super::metadata::{
    parse_core_metadata, parse_torch_version_py, parse_wheel, requires_txt_to_requires_dist,
    CoreMetadata,
};
use super::{DistFormat, Distribution, Finding, Interpreter, PythonEnv, TorchVersionPy};
use crate::input::{self, InputKind};
use crate::model::{normalize, paths};

/// Reads all distributions visible to `interp`, in `sys.path` order: the first copy of a
/// package wins, as it does for Python's import system and `importlib.metadata`.
pub fn scan(interp: Interpreter) -> PythonEnv {
    let (entries, mut findings) = list_entries(&interp.site_packages);
    let (distributions, shadowed) = first_copies(read_all(&entries), &mut findings);
    for d in distributions.values() {
        if let Some(f) = wheel_tag_finding(d, &interp) {
            findings.push(f);
        }
    }
    let torch = distributions
        .get("torch")
        .map(|t| torch_version(t, &mut findings));
    let bnb_libraries = bnb_libraries(&distributions);
    PythonEnv {
        interpreter: interp,
        bnb_libraries,
        native_libraries: Vec::new(),
        distributions,
        shadowed,
        torch,
        findings,
        scan_ms: 0.0,
        planned: false,
        planned_complete: false,
    }
}

/// Every `*.dist-info` and `*.egg-info` entry of the site folders, in their order; a folder or
/// entry that cannot be listed is a finding.
fn list_entries(site_packages: &[PathBuf]) -> (Vec<PathBuf>, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut entries: Vec<PathBuf> = Vec::new();
    for dir in site_packages {
        if !paths::is_utf8(dir) {
            findings.push(non_utf8_finding(None, dir));
        }
        match std::fs::read_dir(dir) {
            Ok(rd) => {
                for e in rd {
                    match e {
                        Ok(e) => {
                            let name = e.file_name();
                            // Python reads such names too (with surrogate escapes): the entry
                            // is read, and the report says its name is shown lossily.
                            if name.to_str().is_none() {
                                findings.push(non_utf8_finding(None, &e.path()));
                            }
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
    (entries, findings)
}

/// A `non-unicode-path` finding: `path`'s name is not UTF-8, so reports show it with replacement
/// characters (the file itself is still read by its real name).
fn non_utf8_finding(package: Option<&str>, path: &Path) -> Finding {
    Finding {
        code: "non-unicode-path",
        package: package.map(str::to_string),
        path: Some(path.to_path_buf()),
        message: format!(
            "the name of {} is not UTF-8: it is shown here with replacement characters (U+FFFD)",
            paths::lossy(path)
        ),
    }
}

/// What [`read_dist`] makes of one entry.
type DistRead = (Option<Distribution>, Vec<Finding>);

/// [`read_dist`] of every entry, in order. Read in parallel: metadata files are small, but
/// there are hundreds of them. Each thread (this one among them) takes the next entry not yet
/// taken, so a thread that loses its core for a while does not hold the others up.
fn read_all(entries: &[PathBuf]) -> Vec<DistRead> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(entries.len().div_ceil(16).max(1));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(p) = entries.get(i) else {
                return done;
            };
            done.push((i, read_dist(p)));
        }
    };
    let mut all: Vec<(usize, DistRead)> = std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in others {
            // A reader that panicked must not lose its entries silently.
            all.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    });
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// Keeps the first copy of each package (by normalized name); the later ones are shadowed,
/// and each is a `duplicate-distribution` finding.
fn first_copies(
    results: Vec<DistRead>,
    findings: &mut Vec<Finding>,
) -> (BTreeMap<String, Distribution>, Vec<Distribution>) {
    let mut distributions: BTreeMap<String, Distribution> = BTreeMap::new();
    let mut shadowed = Vec::new();
    for (dist, mut f) in results {
        findings.append(&mut f);
        let Some(dist) = dist else { continue };
        if let Some(first) = distributions.get(&dist.normalized) {
            // The command only for a PEP 508 name and a PEP 440 version, as one shell word;
            // METADATA text that is neither gets words, never a command.
            let reinstall =
                match crate::model::text::reinstall_pinned(&dist.normalized, &first.version_text) {
                    Some(cmd) => format!("`{cmd}`"),
                    None => format!("{} {} from its wheel", dist.name, first.version_text),
                };
            findings.push(Finding {
                code: "duplicate-distribution",
                package: Some(dist.name.clone()),
                path: Some(dist.path.clone()),
                message: format!(
                    "{} is installed twice: {} ({}) and {} ({}); Python loads {}. Reinstall it: {reinstall} after removing the stale folder",
                    dist.name,
                    first.version_text,
                    first.path.display(),
                    dist.version_text,
                    dist.path.display(),
                    first.version_text,
                ),
            });
            shadowed.push(dist);
        } else {
            distributions.insert(dist.normalized.clone(), dist);
        }
    }
    (distributions, shadowed)
}

/// torch's build facts, from `torch/version.py` beside its metadata.
fn torch_version(torch: &Distribution, findings: &mut Vec<Finding>) -> TorchVersionPy {
    let site = torch.path.parent().unwrap_or(Path::new("."));
    let file = site.join("torch").join("version.py");
    match input::read_text(&file, InputKind::PackageFile) {
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
                    "{} cannot be read ({}): torch's CUDA build is unknown",
                    file.display(),
                    e.reason()
                ),
            });
            Default::default()
        }
    }
}

/// The native libraries bitsandbytes ships, sorted by name (a name that is not UTF-8 is
/// written lossily; [`library_candidates`] makes its finding).
fn bnb_libraries(distributions: &BTreeMap<String, Distribution>) -> Vec<String> {
    distributions
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
        .unwrap_or_default()
}

/// Packages whose shared libraries are listed whatever their names: torch and the packages
/// that ship CUDA kernels built against it. Any other package's library is listed only when
/// its file name says `cuda`.
const CUDA_PACKAGES: &[&str] = &[
    "torch",
    "bitsandbytes",
    "flash-attn",
    "xformers",
    "torchvision",
    "torchaudio",
    "vllm",
    "deepspeed",
    "apex",
    "mamba-ssm",
    "causal-conv1d",
    "auto-gptq",
    "flashinfer-python",
];
/// At most this many libraries are opened per scan, and none after this long.
const MAX_LIBRARIES: usize = 512;
const MAX_LIBRARY_TIME: std::time::Duration = std::time::Duration::from_secs(10);

fn is_shared_library(name: &str) -> bool {
    name.ends_with(".so") || name.contains(".so.")
}

/// The lines of `text` (split at `\n`, in order, each once) that hold `needle`. Only a line
/// naming a shared library can name one (its file name holds `.so`), and a RECORD is mostly
/// other lines: one substring search over the whole file finds the few worth splitting.
fn lines_holding<'a>(text: &'a [u8], needle: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut next_line = 0;
    for hit in memchr::memmem::find_iter(text, needle) {
        if hit < next_line {
            continue;
        }
        let start = memchr::memrchr(b'\n', &text[..hit]).map_or(0, |i| i + 1);
        let end = memchr::memchr(b'\n', &text[hit..]).map_or(text.len(), |i| hit + i);
        out.push(&text[start..end]);
        next_line = end + 1;
    }
    out
}

/// The shared libraries a distribution installed, as paths: from its `RECORD`, plus (for
/// installs without one) `torch/lib` and bitsandbytes' folder. `RECORD` is read as bytes: a
/// line naming a file that is not UTF-8 still names that file (by its bytes), and a library
/// so named is a `non-unicode-path` finding.
fn library_candidates(d: &Distribution) -> (Vec<PathBuf>, Vec<Finding>) {
    use std::os::unix::ffi::OsStrExt;
    let mut findings = Vec::new();
    let Some(site) = d.path.parent() else {
        return (Vec::new(), findings);
    };
    let known = CUDA_PACKAGES.contains(&d.normalized.as_str());
    let wanted = |rel: &str| {
        let file = rel.rsplit('/').next().unwrap_or(rel);
        is_shared_library(file)
            && (known
                || file
                    .as_bytes()
                    .windows(4)
                    .any(|w| w.eq_ignore_ascii_case(b"cuda")))
    };
    let mut out: Vec<PathBuf> = Vec::new();
    // A wheel whose every tag is `…-none-any` is pure Python by its own name: a wheel with
    // compiled code must carry a platform tag, so its RECORD (most of a large environment's
    // RECORD bytes) is not read. The CUDA packages are read whatever their tags say.
    let pure = !d.wheel_tags.is_empty() && d.wheel_tags.iter().all(|t| t.ends_with("-none-any"));
    let record = if pure && !known {
        Err(())
    } else {
        input::read_bytes(&d.path.join("RECORD"), InputKind::Record).map_err(|_| ())
    };
    if let Ok(record) = record {
        for line in lines_holding(&record, b".so") {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let rel_bytes = line.split(|b| *b == b',').next().unwrap_or(b"");
            let rel = String::from_utf8_lossy(rel_bytes);
            // Only files inside the site folder: never `..` paths (scripts, data files).
            if rel.is_empty() || rel.starts_with('/') || rel.split('/').any(|c| c == "..") {
                continue;
            }
            if wanted(&rel) {
                let path = site.join(std::ffi::OsStr::from_bytes(rel_bytes));
                if std::str::from_utf8(rel_bytes).is_err() {
                    findings.push(non_utf8_finding(Some(&d.name), &path));
                }
                out.push(path);
            }
        }
    }
    let extra = match d.normalized.as_str() {
        "torch" => Some(site.join("torch").join("lib")),
        "bitsandbytes" => Some(site.join("bitsandbytes")),
        _ => None,
    };
    if let Some(dir) = extra {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if is_shared_library(&name) {
                    let path = e.path();
                    if e.file_name().to_str().is_none() {
                        findings.push(non_utf8_finding(Some(&d.name), &path));
                    }
                    out.push(path);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    findings.sort_by(|a, b| a.path.cmp(&b.path));
    findings.dedup();
    (out, findings)
}

/// The GPU code of every CUDA library the distributions installed (bounded by
/// [`MAX_LIBRARIES`] and [`MAX_LIBRARY_TIME`]), through the listing cache in `cache_dir`. A
/// file that is not ELF (a linker script, a placeholder) is skipped; one whose fatbin cannot
/// be read is a finding. Libraries without GPU code are not listed.
pub fn native_libraries(
    distributions: &BTreeMap<String, Distribution>,
    cache_dir: &Path,
) -> (Vec<super::NativeLibraryFact>, Vec<Finding>) {
    use super::fatbin::{FatbinError, ListingCache};
    let start = std::time::Instant::now();
    let mut cache = ListingCache::open(cache_dir);
    let mut libs = Vec::new();
    let mut findings = Vec::new();
    let mut opened = 0usize;
    // Reading every RECORD is the slow part on a large environment: in parallel.
    let candidates: Vec<(&Distribution, Vec<PathBuf>)> = {
        use rayon::prelude::*;
        let all: Vec<&Distribution> = distributions.values().collect();
        all.par_iter()
            .map(|d| (*d, library_candidates(d)))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|(d, (paths, mut f))| {
                findings.append(&mut f);
                (d, paths)
            })
            .collect()
    };
    'outer: for (d, paths) in candidates {
        for path in paths {
            if opened >= MAX_LIBRARIES || start.elapsed() > MAX_LIBRARY_TIME {
                findings.push(Finding {
                    code: "unreadable-native-library",
                    package: None,
                    path: None,
                    message: format!(
                        "stopped listing GPU code after {opened} libraries ({} ms): the rest are not read",
                        start.elapsed().as_millis()
                    ),
                });
                break 'outer;
            }
            opened += 1;
            match cache.list(&path) {
                Ok(l) if l.sass.is_empty() && l.ptx.is_empty() => {}
                Ok(l) => libs.push(super::NativeLibraryFact {
                    package: d.normalized.clone(),
                    path: l.path,
                    sass: l.sass,
                    ptx: l.ptx,
                }),
                Err(FatbinError::NotElf { .. }) => {}
                Err(e) => findings.push(Finding {
                    code: "unreadable-native-library",
                    package: Some(d.name.clone()),
                    path: Some(path.clone()),
                    message: format!("the GPU code of a library cannot be listed: {e}"),
                }),
            }
        }
    }
    // A cache that cannot be written only costs a re-read next time.
    let _ = cache.save();
    (libs, findings)
}

/// A `.dist-info` / `.egg-info` entry, named as its folder is: `name-version.dist-info`.
struct Entry<'a> {
    path: &'a Path,
    format: DistFormat,
    /// The name and version of the folder name: a fallback when metadata lacks a field.
    dir_name: String,
    dir_version: String,
}

impl<'a> Entry<'a> {
    fn new(path: &'a Path) -> Self {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let format = if file_name.ends_with(".dist-info") {
            DistFormat::DistInfo
        } else {
            DistFormat::EggInfo
        };
        let stem = file_name
            .rsplit_once('.')
            .map(|(s, _)| s)
            .unwrap_or(&file_name);
        let (dir_name, dir_version) = match stem.split_once('-') {
            Some((n, v)) => (n.to_string(), v.split('-').next().unwrap_or(v).to_string()),
            None => (stem.to_string(), String::new()),
        };
        Entry {
            path,
            format,
            dir_name,
            dir_version,
        }
    }

    fn finding(&self, code: &'static str, message: String) -> Finding {
        Finding {
            code,
            package: Some(self.dir_name.clone()),
            path: Some(self.path.to_path_buf()),
            message,
        }
    }

    /// The core metadata's text (with replacement characters when it is not UTF-8), or `None`
    /// when there is none to read.
    fn metadata_text(&self, findings: &mut Vec<Finding>) -> Option<String> {
        let path = self.path;
        let meta_path = match self.format {
            DistFormat::DistInfo => path.join("METADATA"),
            // A legacy egg-info is a folder holding PKG-INFO, or a single PKG-INFO-format file.
            DistFormat::EggInfo if path.is_dir() => path.join("PKG-INFO"),
            DistFormat::EggInfo => path.to_path_buf(),
        };
        let bytes = match input::read_bytes(&meta_path, InputKind::Metadata) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                findings.push(self.finding(
                    "missing-metadata",
                    format!(
                        "{} has no {}: the install is broken; reinstall {}",
                        path.display(),
                        meta_path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                        self.dir_name
                    ),
                ));
                return None;
            }
            Err(e) => {
                findings.push(self.finding(
                    "unreadable-entry",
                    format!("{} cannot be read: {}", meta_path.display(), e.reason()),
                ));
                return None;
            }
        };
        Some(match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                findings.push(self.finding(
                    "bad-encoding",
                    format!(
                        "{} is not valid UTF-8 (byte {at}); read with replacement characters",
                        meta_path.display()
                    ),
                ));
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        })
    }

    /// `Requires-Dist`, plus a legacy egg-info folder's `requires.txt`.
    fn requires_dist(&self, md: &CoreMetadata, findings: &mut Vec<Finding>) -> Vec<String> {
        let mut requires_dist = md.requires_dist.clone();
        if self.format == DistFormat::EggInfo && self.path.is_dir() {
            match input::read_text(&self.path.join("requires.txt"), InputKind::PackageFile) {
                Ok(t) => requires_dist.extend(requires_txt_to_requires_dist(&t)),
                Err(e) if e.is_not_found() => {}
                Err(e) => findings.push(self.finding(
                    "unreadable-entry",
                    format!(
                        "{}/requires.txt cannot be read: {}",
                        self.path.display(),
                        e.reason()
                    ),
                )),
            }
        }
        requires_dist
    }
}

/// Reads one `.dist-info` / `.egg-info` entry. `None` with findings when it is unusable.
fn read_dist(path: &Path) -> (Option<Distribution>, Vec<Finding>) {
    let mut findings = Vec::new();
    let entry = Entry::new(path);
    let Some(text) = entry.metadata_text(&mut findings) else {
        return (None, findings);
    };
    let md = parse_core_metadata(&text);
    let name = md.name.clone().unwrap_or_else(|| entry.dir_name.clone());
    let version_text = md
        .version
        .clone()
        .unwrap_or_else(|| entry.dir_version.clone());
    let version = match version_text.parse::<Version>() {
        Ok(v) => Some(v),
        Err(e) => {
            findings.push(entry.finding(
                "invalid-version",
                format!("{name} has version `{version_text}`, which is not PEP 440: {e}"),
            ));
            None
        }
    };
    let requires_dist = entry.requires_dist(&md, &mut findings);
    let mut requirements = Vec::new();
    for line in &requires_dist {
        match super::metadata::parse_requirement(line) {
            Ok(r) => requirements.push((line.clone(), r)),
            Err(e) => findings.push(entry.finding(
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
                findings.push(entry.finding(
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
    let wheel_tags = if entry.format == DistFormat::DistInfo {
        input::read_text(&path.join("WHEEL"), InputKind::PackageFile)
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
        format: entry.format,
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

#[cfg(test)]
mod tests {
    use super::lines_holding;

    /// Every line split at `\n`, kept where it holds the needle: what [`lines_holding`] must give.
    fn naive<'a>(text: &'a [u8], needle: &[u8]) -> Vec<&'a [u8]> {
        text.split(|b| *b == b'\n')
            .filter(|l| memchr::memmem::find(l, needle).is_some())
            .collect()
    }

    #[test]
    fn lines_holding_finds_the_lines_a_full_split_finds() {
        let cases: &[&[u8]] = &[
            b"",
            b".so",
            b"\n",
            b"a.so",
            b"a.so\n",
            b"\na.so",
            b"x/a.so,sha256=abc,12\r\nx/b.py,sha256=def,3\r\nx/c.so.1,,\r\n",
            b"x/a.so.so.so,,\nx/b.so,,\n\n\nlast.so",
            b"pkg.sources/mod.py,,\npkg/_c.cpython-311-x86_64-linux-gnu.so,sha256=q,9\n",
            b"no libraries\nhere at all\n",
            b".so\n.so\n.so.so\n",
            b"a.s\no\n.s.so\n",
        ];
        for text in cases {
            assert_eq!(lines_holding(text, b".so"), naive(text, b".so"), "{text:?}");
        }
        // Generated: every string over a small alphabet up to length 7.
        let alphabet = [b'.', b's', b'o', b'\n', b'x'];
        let mut text = Vec::new();
        for len in 0..=7u32 {
            for mut n in 0..alphabet.len().pow(len) {
                text.clear();
                for _ in 0..len {
                    text.push(alphabet[n % alphabet.len()]);
                    n /= alphabet.len();
                }
                assert_eq!(
                    lines_holding(&text, b".so"),
                    naive(&text, b".so"),
                    "{text:?}"
                );
            }
        }
    }
}
