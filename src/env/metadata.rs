//! Pure parsers for the files of an installed distribution: core metadata (`METADATA`,
//! `PKG-INFO`), `WHEEL`, legacy `requires.txt`, `pyvenv.cfg`, `.pth` and `torch/version.py`.
//! They take text and return data; reading the files is `super::scan`'s job.

/// Parses one PEP 508 requirement from untrusted text, without panicking.
///
/// pep508_rs 0.9.2 panics on two kinds of input that fuzzing found in METADATA files: a name
/// that ends in `-`, `_` or `.` before a character that cannot continue it (`foo-/bar`, an
/// `expect` in its name parser), and non-ASCII characters after a quoted marker value (it slices
/// by byte counts). Both are refused here before the parser sees them (real Requires-Dist lines
/// are ASCII), and any other panic inside the parser is caught and returned as an error.
pub fn parse_requirement(line: &str) -> Result<pep508_rs::Requirement, RequirementError> {
    if let Some(c) = line.chars().find(|c| !c.is_ascii()) {
        return Err(RequirementError::NonAscii(c));
    }
    let t = line.trim_start();
    let name_len = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(t.len());
    let name = &t[..name_len];
    if name.ends_with(['-', '_', '.']) {
        return Err(RequirementError::NameEnd(name.to_string()));
    }
    // A large environment's Requires-Dist lines carry few distinct markers (`extra == 'dev'`
    // hundreds of times), and parsing the marker was half of all parsing: the part before `;`
    // and the marker are parsed apart, the marker once per distinct text. Only where that is
    // the same grammar: no `@` (a URL's own rules for `;`), and both parts must parse, else the
    // whole line is parsed as one for its own error.
    if !line.contains('@') {
        if let Some((req, marker)) = line.split_once(';') {
            if let (Ok(mut r), Some(m)) = (guarded(req), cached_marker(marker)) {
                r.marker = m;
                return Ok(r);
            }
        }
    }
    guarded(line)
}

/// pep508_rs's parse of `text` with any panic caught.
fn guarded(text: &str) -> Result<pep508_rs::Requirement, RequirementError> {
    let owned = text.to_string();
    match std::panic::catch_unwind(move || owned.parse::<pep508_rs::Requirement>()) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(RequirementError::Pep508(e.message)),
        Err(_) => Err(RequirementError::ParserPanicked),
    }
}

/// The marker `text` parses to (`None`: it does not parse), remembered per thread.
fn cached_marker(text: &str) -> Option<pep508_rs::MarkerTree> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static SEEN: RefCell<HashMap<String, Option<pep508_rs::MarkerTree>>> =
            RefCell::new(HashMap::new());
    }
    if let Some(hit) = SEEN.with(|s| s.borrow().get(text).cloned()) {
        return hit;
    }
    let owned = text.to_string();
    let parsed = std::panic::catch_unwind(move || owned.parse::<pep508_rs::MarkerTree>())
        .ok()
        .and_then(Result::ok);
    SEEN.with(|s| s.borrow_mut().insert(text.to_string(), parsed.clone()));
    parsed
}

/// Why a line is not a PEP 508 requirement.
#[derive(Debug, thiserror::Error)]
pub enum RequirementError {
    #[error("non-ASCII character {0:?} in a requirement")]
    NonAscii(char),
    #[error("package name `{0}` must end with a letter or digit")]
    NameEnd(String),
    /// pep508_rs's own reason (without the input it quotes).
    #[error(transparent)]
    Pep508(pep508_rs::Pep508ErrorSource),
    #[error("the PEP 508 parser failed on this line")]
    ParserPanicked,
}

/// The header fields of core metadata that compat uses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CoreMetadata {
    pub metadata_version: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub requires_python: Option<String>,
    pub requires_dist: Vec<String>,
    pub provides_extra: Vec<String>,
    pub summary: Option<String>,
}

/// Parses the header block of an RFC 822-style metadata file (METADATA or PKG-INFO), as
/// Python's email parser (and so `importlib.metadata` and pip) reads it: see [`super::rfc822`]
/// for the grammar (a whitespace-only line continues a header; CR, LF and CRLF end lines).
///
/// ```text
/// Metadata-Version: 2.1
/// Name: peft
/// Version: 0.12.0
/// Requires-Python: >=3.8.0
/// Requires-Dist: torch>=1.13.0
/// ```
///
/// The text is already decoded (the scanner reports bytes that are not UTF-8 as a finding).
pub fn parse_core_metadata(text: &str) -> CoreMetadata {
    let md = super::rfc822::parse_fields(text);
    // A folded Summary is one line for people: its lines joined by one space.
    let summary = md
        .get("Summary")
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "));
    CoreMetadata {
        metadata_version: md.metadata_version,
        name: md.name,
        version: md.version,
        requires_python: md.requires_python.filter(|v| !v.trim().is_empty()),
        requires_dist: md.requires_dist,
        provides_extra: md.provides_extra,
        summary,
    }
}

/// The `WHEEL` file: its tags and whether the wheel was purelib.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WheelInfo {
    pub tags: Vec<String>,
    pub root_is_purelib: Option<bool>,
    pub generator: Option<String>,
}

/// Parses a `WHEEL` file:
///
/// ```text
/// Wheel-Version: 1.0
/// Generator: bdist_wheel (0.43.0)
/// Root-Is-Purelib: false
/// Tag: cp311-cp311-manylinux_2_17_x86_64
/// ```
pub fn parse_wheel(text: &str) -> WheelInfo {
    let mut w = WheelInfo::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "tag" => w.tags.push(v.to_string()),
            "root-is-purelib" => w.root_is_purelib = Some(v.eq_ignore_ascii_case("true")),
            "generator" => w.generator = Some(v.to_string()),
            _ => {}
        }
    }
    w
}

/// Converts a legacy `requires.txt` (setuptools egg-info) to `Requires-Dist` lines.
///
/// ```text
/// numpy>=1.17
/// [:python_version < "3.8"]
/// importlib-metadata
/// [test]
/// pytest
/// ```
///
/// Lines before any section are unconditional; `[extra]`, `[:marker]` and `[extra:marker]`
/// sections become PEP 508 markers.
pub fn requires_txt_to_requires_dist(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let (extra, env) = match section.split_once(':') {
                Some((e, m)) => (e.trim(), m.trim()),
                None => (section.trim(), ""),
            };
            marker = match (extra.is_empty(), env.is_empty()) {
                (true, true) => None,
                (true, false) => Some(env.to_string()),
                (false, true) => Some(format!("extra == \"{extra}\"")),
                (false, false) => Some(format!("({env}) and extra == \"{extra}\"")),
            };
            continue;
        }
        match &marker {
            None => out.push(line.to_string()),
            Some(m) => out.push(format!("{line} ; {m}")),
        }
    }
    out
}

/// The keys of a `pyvenv.cfg` that compat uses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PyvenvCfg {
    pub home: Option<String>,
    pub version: Option<String>,
    /// The line (1-based) `version` was read from; 0 when there is none.
    pub version_line: usize,
    pub implementation: Option<String>,
    pub include_system_site_packages: bool,
}

/// Parses `pyvenv.cfg` (`key = value` lines). CPython writes `version`, uv `version_info`.
pub fn parse_pyvenv_cfg(text: &str) -> PyvenvCfg {
    let mut c = PyvenvCfg::default();
    for (n, line) in text.lines().enumerate() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "home" => c.home = Some(v),
            "version" => {
                c.version = Some(v);
                c.version_line = n + 1;
            }
            "version_info" if c.version.is_none() => {
                c.version = Some(v);
                c.version_line = n + 1;
            }
            "implementation" => c.implementation = Some(v),
            "include-system-site-packages" => {
                c.include_system_site_packages = v.eq_ignore_ascii_case("true")
            }
            _ => {}
        }
    }
    c
}

/// The directories a `.pth` file adds to `sys.path`: every line that is not empty, not a
/// comment and not an `import` statement (those are code, and compat runs no code).
pub fn pth_paths(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !l.starts_with("import ") && !l.starts_with("import\t"))
        .map(str::to_string)
        .collect()
}

/// torch's build facts from `torch/version.py`.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TorchVersionPy {
    pub version: Option<String>,
    /// The CUDA release torch was built for (`"12.4"`), `None` for CPU and ROCm builds.
    pub cuda: Option<String>,
    pub hip: Option<String>,
    pub git_version: Option<String>,
    pub debug: Option<bool>,
}

/// Parses `torch/version.py` without running it:
///
/// ```text
/// __version__ = '2.4.1+cu124'
/// debug = False
/// cuda: Optional[str] = '12.4'
/// git_version = 'ee1b6804381c57161c477caa380a840a84167676'
/// hip: Optional[str] = None
/// ```
pub fn parse_torch_version_py(text: &str) -> TorchVersionPy {
    let mut t = TorchVersionPy::default();
    for line in text.lines() {
        let Some((lhs, rhs)) = line.split_once('=') else {
            continue;
        };
        let name = lhs.split(':').next().unwrap_or("").trim();
        let value = rhs.trim();
        let string = if (value.starts_with('\'') && value.ends_with('\'') && value.len() >= 2)
            || (value.starts_with('"') && value.ends_with('"') && value.len() >= 2)
        {
            Some(value[1..value.len() - 1].to_string())
        } else {
            None
        };
        match name {
            "__version__" => t.version = string,
            "cuda" => t.cuda = string,
            "hip" => t.hip = string,
            "git_version" => t.git_version = string,
            "debug" => t.debug = Some(value == "True"),
            _ => {}
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The split parse (requirement, then the remembered marker) gives what one parse of the
    /// whole line gives, on every Requires-Dist line of the fixtures and on edge cases; and an
    /// error where one parse errs.
    #[test]
    fn parsing_the_marker_apart_gives_the_same_requirement() {
        fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p
                    .file_name()
                    .is_some_and(|n| n == "METADATA" || n == "PKG-INFO")
                {
                    let text =
                        String::from_utf8_lossy(&std::fs::read(&p).expect("read")).into_owned();
                    out.extend(parse_core_metadata(&text).requires_dist);
                }
            }
        }
        let mut lines = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"),
            &mut lines,
        );
        assert!(lines.len() > 500, "only {} lines", lines.len());
        lines.extend(
            [
                "a;extra=='x'",
                "a ; extra == \"x\"",
                "a[b,c] (>=1,<2) ; python_version < '3.11' and extra == 'dev'",
                "a>=1;",
                "a>=1 ; ",
                "a>=1 ; extra ==",
                "a>=1 junk ; extra == 'x'",
                "a ; python_version < '3.11' ; extra == 'x'",
                "a ;; extra == 'x'",
                "a>=1.0;sys_platform=='linux' or(platform_machine=='x86_64')",
                "; extra == 'x'",
                "a @ https://x.invalid/a-1.0.whl ; extra == 'x'",
            ]
            .map(String::from),
        );
        for line in &lines {
            let split = parse_requirement(line);
            let whole = guarded(line);
            match (&split, &whole) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a, b, "{line}");
                    assert_eq!(a.to_string(), b.to_string(), "{line}");
                }
                (Err(_), Err(_)) => {}
                _ => panic!("{line}: split {split:?}, whole {whole:?}"),
            }
        }
    }

    #[test]
    fn core_metadata_headers_and_body() {
        let md = parse_core_metadata(
            "Metadata-Version: 2.1\nName: peft\nVersion: 0.12.0\nSummary: Parameter-Efficient\n  Fine-Tuning\nRequires-Python: >=3.8.0\nRequires-Dist: numpy>=1.17\nRequires-Dist: torch>=1.13.0\nProvides-Extra: test\n\nRequires-Dist: not-a-header\n",
        );
        assert_eq!(md.name.as_deref(), Some("peft"));
        assert_eq!(md.version.as_deref(), Some("0.12.0"));
        assert_eq!(
            md.summary.as_deref(),
            Some("Parameter-Efficient Fine-Tuning")
        );
        assert_eq!(md.requires_python.as_deref(), Some(">=3.8.0"));
        assert_eq!(md.requires_dist, ["numpy>=1.17", "torch>=1.13.0"]);
        assert_eq!(md.provides_extra, ["test"]);
    }

    #[test]
    fn requirement_parsing_never_panics() {
        assert!(parse_requirement("torch>=2.4; python_version >= \"3.9\"").is_ok());
        // Found by fuzzing: pep508_rs 0.9.2 panics on these.
        for bad in [
            "Home-/huggpage:",
            "foo-/bar",
            "a_/x",
            "b./y",
            "datasets ; extra == 'test'\u{FFFD}s",
        ] {
            assert!(parse_requirement(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn requires_txt_sections() {
        let r = requires_txt_to_requires_dist(
            "numpy>=1.17\n\n[:python_version < \"3.8\"]\nimportlib-metadata\n\n[test]\npytest\n[gpu:sys_platform == \"linux\"]\ncupy\n",
        );
        assert_eq!(
            r,
            [
                "numpy>=1.17",
                "importlib-metadata ; python_version < \"3.8\"",
                "pytest ; extra == \"test\"",
                "cupy ; (sys_platform == \"linux\") and extra == \"gpu\"",
            ]
        );
    }

    #[test]
    fn torch_version_py() {
        let t = parse_torch_version_py(
            "from typing import Optional\n\n__all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip']\n__version__ = '2.4.1+cu124'\ndebug = False\ncuda: Optional[str] = '12.4'\ngit_version = 'ee1b6804381c57161c477caa380a840a84167676'\nhip: Optional[str] = None\n",
        );
        assert_eq!(t.version.as_deref(), Some("2.4.1+cu124"));
        assert_eq!(t.cuda.as_deref(), Some("12.4"));
        assert_eq!(t.hip, None);
        assert_eq!(t.debug, Some(false));
    }

    #[test]
    fn pyvenv_and_pth() {
        let c = parse_pyvenv_cfg(
            "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.7\n",
        );
        assert_eq!(c.version.as_deref(), Some("3.11.7"));
        assert_eq!(c.version_line, 3);
        assert!(!c.include_system_site_packages);
        let uv = parse_pyvenv_cfg("home = /x\nimplementation = CPython\nversion_info = 3.12.4\ninclude-system-site-packages = true\n");
        assert_eq!(uv.version.as_deref(), Some("3.12.4"));
        assert!(uv.include_system_site_packages);
        assert_eq!(
            pth_paths("# c\n/src/pkg\nimport _virtualenv\n\n"),
            ["/src/pkg"]
        );
    }

    #[test]
    fn wheel_tags() {
        let w = parse_wheel("Wheel-Version: 1.0\nGenerator: bdist_wheel (0.43.0)\nRoot-Is-Purelib: false\nTag: cp311-cp311-manylinux_2_17_x86_64\nTag: cp311-cp311-manylinux2014_x86_64\n");
        assert_eq!(w.tags.len(), 2);
        assert_eq!(w.root_is_purelib, Some(false));
    }
}
