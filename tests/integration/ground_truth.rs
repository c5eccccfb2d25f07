//! Differential tests against the ground truth: compat's readers compared with the programs
//! whose reading is the truth.
//!
//! - METADATA: `compat::env::rfc822` on every file of `fixtures/metadata-corpus/` against what
//!   Python's `importlib.metadata` read from the same bytes (`expected.json`, written by
//!   `scripts/make_metadata_corpus.py`). 0 disagreements allowed. The same comparison is
//!   counted, not asserted, for today's reader (`compat::env::metadata`) and for mailparse.
//! - fatbin: `compat::env::fatbin` on the CUDA libraries of a real bitsandbytes wheel against
//!   NVIDIA's `cuobjdump --list-elf --list-ptx`. Ignored by default: the wheels are downloaded
//!   by `scripts/ci-ground-truth.sh` into `target/ground-truth/`, never committed.

use crate::util::*;
use compat::env::metadata::parse_core_metadata;
use compat::env::rfc822::{parse_metadata, MetadataError};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The five facts compared, as JSON values shaped like expected.json's.
#[derive(Debug, PartialEq)]
struct Read {
    name: Value,
    version: Value,
    requires_dist: Value,
    requires_python: Value,
    provides_extra: Value,
}

impl Read {
    fn from_expected(v: &Value) -> Read {
        Read {
            name: v["name"].clone(),
            version: v["version"].clone(),
            requires_dist: v["requires_dist"].clone(),
            requires_python: v["requires_python"].clone(),
            provides_extra: v["provides_extra"].clone(),
        }
    }

    fn new(
        name: Option<String>,
        version: Option<String>,
        requires_dist: Vec<String>,
        requires_python: Option<String>,
        provides_extra: Vec<String>,
    ) -> Read {
        Read {
            name: name.into(),
            version: version.into(),
            requires_dist: requires_dist.into(),
            requires_python: requires_python.into(),
            provides_extra: provides_extra.into(),
        }
    }

    /// The fields that differ, by name.
    fn diff(&self, other: &Read) -> Vec<&'static str> {
        let mut d = Vec::new();
        if self.name != other.name {
            d.push("name");
        }
        if self.version != other.version {
            d.push("version");
        }
        if self.requires_dist != other.requires_dist {
            d.push("requires_dist");
        }
        if self.requires_python != other.requires_python {
            d.push("requires_python");
        }
        if self.provides_extra != other.provides_extra {
            d.push("provides_extra");
        }
        d
    }
}

fn corpus() -> (PathBuf, BTreeMap<String, Value>) {
    let dir = fixture("metadata-corpus");
    let text = std::fs::read_to_string(dir.join("expected.json")).expect("expected.json reads");
    let doc: Value = serde_json::from_str(&text).expect("expected.json is JSON");
    let files = doc["files"]
        .as_object()
        .expect("expected.json has files")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (dir, files)
}

/// Today's reader, fed as the scanner feeds it (lossy UTF-8; the scanner reports the bad
/// encoding as a finding, which counts as agreeing with Python's refusal).
fn old_reader(bytes: &[u8], expected: &Value) -> Vec<&'static str> {
    if expected.get("error").is_some() {
        return if std::str::from_utf8(bytes).is_err() {
            vec![]
        } else {
            vec!["error"]
        };
    }
    let md = parse_core_metadata(&String::from_utf8_lossy(bytes));
    let read = Read::new(
        md.name,
        md.version,
        md.requires_dist,
        md.requires_python,
        md.provides_extra,
    );
    Read::from_expected(expected).diff(&read)
}

/// mailparse as uv uses it: `parse_headers` and `get_value`.
fn mailparse_reader(bytes: &[u8], expected: &Value) -> Vec<&'static str> {
    use mailparse::MailHeaderMap;
    if expected.get("error").is_some() {
        return vec!["error"]; // mailparse has no notion of the file's encoding
    }
    let Ok((headers, _)) = mailparse::parse_headers(bytes) else {
        return vec!["parse"];
    };
    let read = Read::new(
        headers.get_first_value("Name"),
        headers.get_first_value("Version"),
        headers.get_all_values("Requires-Dist"),
        headers.get_first_value("Requires-Python"),
        headers.get_all_values("Provides-Extra"),
    );
    Read::from_expected(expected).diff(&read)
}

#[test]
fn metadata_corpus_reads_as_python_reads_it() {
    let (dir, files) = corpus();
    assert!(
        files.len() >= 500,
        "the corpus has {} files, fewer than 500",
        files.len()
    );
    let mut new_bad = Vec::new();
    let mut old_bad = Vec::new();
    let mut mailparse_bad = 0;
    let mut errors = 0;
    for (rel, expected) in &files {
        let bytes = std::fs::read(dir.join(rel)).expect("corpus file reads");
        let got = parse_metadata(&bytes);
        match (got, expected.get("error")) {
            (Ok(md), None) => {
                let read = Read::new(
                    md.name,
                    md.version,
                    md.requires_dist,
                    md.requires_python,
                    md.provides_extra,
                );
                let d = Read::from_expected(expected).diff(&read);
                if !d.is_empty() {
                    new_bad.push(format!("{rel}: {d:?}"));
                }
            }
            (Err(MetadataError::NotUtf8 { offset, .. }), Some(_)) => {
                errors += 1;
                if expected["offset"].as_u64() != Some(offset as u64) {
                    new_bad.push(format!(
                        "{rel}: UnicodeDecodeError at {} in Python, at {offset} here",
                        expected["offset"]
                    ));
                }
            }
            (Ok(_), Some(e)) => new_bad.push(format!("{rel}: Python says {e}, read fine here")),
            (Err(e), None) => new_bad.push(format!("{rel}: Python reads it, here: {e}")),
        }
        let d = old_reader(&bytes, expected);
        if !d.is_empty() {
            old_bad.push(format!("{rel}: {d:?}"));
        }
        if !mailparse_reader(&bytes, expected).is_empty() {
            mailparse_bad += 1;
        }
    }
    println!(
        "metadata corpus: {} files ({errors} that Python refuses as not UTF-8)",
        files.len()
    );
    println!(
        "disagreements with importlib.metadata: rfc822 {}, today's reader (env::metadata) {}, \
         mailparse {mailparse_bad}",
        new_bad.len(),
        old_bad.len()
    );
    for line in &old_bad {
        println!("  today's reader: {line}");
    }
    assert!(
        new_bad.is_empty(),
        "rfc822 disagrees with Python on {} files:\n{}",
        new_bad.len(),
        new_bad.join("\n")
    );
}

/// The corpus is what the script says it is: every expected.json entry has its file and every
/// file its entry, so a file added by hand cannot go untested.
#[test]
fn metadata_corpus_and_expected_json_list_the_same_files() {
    let (dir, files) = corpus();
    let mut on_disk = BTreeSet::new();
    for sub in ["files", "synthetic"] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".METADATA") || name.ends_with(".PKG-INFO") {
                on_disk.insert(format!("{sub}/{name}"));
            }
        }
    }
    let listed: BTreeSet<String> = files.keys().cloned().collect();
    assert_eq!(on_disk, listed);
}

fn ground_truth_dir() -> PathBuf {
    std::env::var_os("COMPAT_GROUND_TRUTH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/ground-truth"))
}

fn find_files(dir: &Path, pred: &dyn Fn(&str) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            find_files(&p, pred, out);
        } else if pred(&e.file_name().to_string_lossy()) {
            out.push(p);
        }
    }
}

/// `cuobjdump --list-elf --list-ptx LIB` as two sorted, deduplicated lists: the `sm_XY` of
/// every `ELF file N: NAME.N.sm_XY.cubin` line and the `compute_XY` of every `PTX file N:
/// NAME.N.sm_XY.ptx` line; and whether cuobjdump finished (the CUDA 13 cuobjdump stops with
/// "Invalid ELF" after the first cubin of some CUDA 12.1 fatbins, see FACTS.md).
fn cuobjdump_lists(cuobjdump: &Path, lib: &Path) -> (Vec<String>, Vec<String>, bool) {
    let out = std::process::Command::new(cuobjdump)
        .args(["--list-elf", "--list-ptx"])
        .arg(lib)
        .output()
        .expect("cuobjdump runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // `sm_90a` as (90, "a"), so that the lists sort as compat sorts them.
    let arch_num = |name: &str, ext: &str| -> Option<(u32, String)> {
        let stem = name.trim().strip_suffix(ext)?;
        let arch = stem.rsplit('.').next()?.strip_prefix("sm_")?;
        let digits = arch
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(arch.len());
        Some((arch[..digits].parse().ok()?, arch[digits..].to_string()))
    };
    let (mut sass, mut ptx) = (BTreeSet::new(), BTreeSet::new());
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("ELF file") {
            let name = rest.split_once(':').map_or("", |(_, n)| n);
            sass.insert(arch_num(name, ".cubin").expect("an sm_XY cubin name"));
        } else if let Some(rest) = line.strip_prefix("PTX file") {
            let name = rest.split_once(':').map_or("", |(_, n)| n);
            ptx.insert(arch_num(name, ".ptx").expect("an sm_XY ptx name"));
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || stderr.contains("Invalid ELF"),
        "cuobjdump failed on {}: {stderr}",
        lib.display()
    );
    (
        sass.into_iter()
            .map(|(a, s)| format!("sm_{a}{s}"))
            .collect(),
        ptx.into_iter()
            .map(|(a, s)| format!("compute_{a}{s}"))
            .collect(),
        out.status.success(),
    )
}

/// Every `libbitsandbytes_cuda*.so` of the real wheel, and every other CUDA library found under
/// the ground-truth dir (the CI script adds NVIDIA's libcurand), listed by compat and by
/// cuobjdump: exactly equal. Run by `scripts/ci-ground-truth.sh`, which downloads the wheels.
#[test]
#[ignore = "needs the bitsandbytes and nvidia-cuda-cuobjdump wheels; scripts/ci-ground-truth.sh"]
fn fatbin_listing_equals_cuobjdump_on_real_libraries() {
    use compat::env::fatbin::{list_library, ListingCache};
    use std::time::Instant;
    let dir = ground_truth_dir();
    let mut tools = Vec::new();
    find_files(&dir, &|n| n == "cuobjdump", &mut tools);
    let cuobjdump = tools.first().expect("cuobjdump under the ground-truth dir");
    let mut libs = Vec::new();
    find_files(
        &dir,
        &|n| n.starts_with("libbitsandbytes_cuda") && n.ends_with(".so"),
        &mut libs,
    );
    assert!(
        !libs.is_empty(),
        "no libbitsandbytes_cuda*.so under {}",
        dir.display()
    );
    let mut others = Vec::new();
    find_files(
        &dir,
        &|n| n.starts_with("libcurand.so") || n.starts_with("libcublas") || n == "libtorch_cuda.so",
        &mut others,
    );
    libs.extend(others);
    libs.sort();
    let mut compared = 0;
    let mut unreadable = Vec::new();
    for lib in &libs {
        let ours = list_library(lib).unwrap_or_else(|e| panic!("{e}"));
        let (sass, ptx, finished) = cuobjdump_lists(cuobjdump, lib);
        println!(
            "{}: compat sass {:?} ptx {:?} | cuobjdump sass {sass:?} ptx {ptx:?}{}",
            lib.display(),
            ours.sass,
            ours.ptx,
            if finished {
                ""
            } else {
                " (cuobjdump stopped: Invalid ELF)"
            }
        );
        assert!(
            !sass.is_empty(),
            "cuobjdump listed nothing for {}",
            lib.display()
        );
        if finished {
            assert_eq!((ours.sass, ours.ptx), (sass, ptx), "{}", lib.display());
            compared += 1;
        } else {
            // What cuobjdump listed before it stopped is in ours.
            for a in sass.iter().chain(&ptx) {
                assert!(
                    ours.sass.contains(a) || ours.ptx.contains(a),
                    "{}: cuobjdump lists {a}, compat does not",
                    lib.display()
                );
            }
            unreadable.push(lib.display().to_string());
        }
    }
    println!(
        "fatbin: {compared} of {} libraries equal to cuobjdump; cuobjdump cannot read {:?}",
        libs.len(),
        unreadable
    );
    assert!(
        compared * 2 > libs.len(),
        "cuobjdump could check only {compared} of {} libraries",
        libs.len()
    );

    // Time to list the largest library: cold (a fresh cache) and cached.
    let largest = libs
        .iter()
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a library");
    let size = std::fs::metadata(largest).map(|m| m.len()).unwrap_or(0);
    let cache_dir = tempfile::tempdir().expect("a temporary dir");
    let mut cache = ListingCache::open(cache_dir.path());
    let t = Instant::now();
    let cold = cache.list(largest).unwrap_or_else(|e| panic!("{e}"));
    let cold_time = t.elapsed();
    cache.save().unwrap_or_else(|e| panic!("{e}"));
    let mut cache = ListingCache::open(cache_dir.path());
    let t = Instant::now();
    let warm = cache.list(largest).unwrap_or_else(|e| panic!("{e}"));
    let warm_time = t.elapsed();
    assert_eq!(cold, warm);
    assert_eq!((cache.hits, cache.misses), (1, 0));
    println!(
        "fatbin: listing {} ({size} bytes): cold {:?}, cached {:?}",
        largest.display(),
        cold_time,
        warm_time
    );
}
