//! The parsers of plan files, one per format, each with a sample of its input: a requirements
//! file, a `pylock.toml` (PEP 751), a `uv.lock`, pip's `--report` JSON. They take text and
//! return a [`PlanFile`] or a [`PlanError`] with the line; the one read they do is a
//! requirements file's `-r` include, through the same bounded reader as [`super::read_plan`].

use std::path::{Path, PathBuf};

use super::{
    err, read_bounded, PlanError, PlanFile, PlanFileFormat, Planned, ResolverLine,
    MAX_INCLUDE_DEPTH,
};
use crate::input::InputKind;

/// Parses a requirements file (pip's format): one PEP 508 requirement a line, `#` comments,
/// `\` continuations, `-r`/`--requirement` includes (relative, bounded), `-c` constraints
/// (noted), `--index-url`/`--extra-index-url`, `--hash` options (ignored).
///
/// ```text
/// --extra-index-url https://example.invalid/whl/cu124
/// torch==2.4.1+cu124
/// transformers>=4.44 ; python_version >= "3.9"
/// ```
pub fn parse_requirements(text: &str, path: &Path, depth: usize) -> Result<PlanFile, PlanError> {
    let mut out = PlanFile {
        path: path.to_path_buf(),
        format: PlanFileFormat::Requirements,
        packages: Vec::new(),
        index_urls: Vec::new(),
        unpinned: 0,
        notes: Vec::new(),
        resolver: Default::default(),
    };
    for (lineno, line) in logical_lines(text) {
        // Comments: `#` at the start or after whitespace.
        let content = match line
            .find(" #")
            .or_else(|| line.starts_with('#').then_some(0))
        {
            Some(i) => &line[..i],
            None => line.as_str(),
        };
        let content = content.trim();
        if content.is_empty() {
            continue;
        }
        if content.starts_with('-') {
            option(&mut out, content, path, lineno, depth)?;
            continue;
        }
        // Drop per-requirement options (`--hash=...`).
        let req_text = content.split(" --").next().unwrap_or(content).trim();
        let (p, line) = requirement(req_text, path, lineno)?;
        if p.version.is_none() {
            out.unpinned += 1;
        }
        out.packages.push(p);
        out.resolver.requirements.push(line);
    }
    Ok(out)
}

/// The lines of a requirements file with `\` continuations joined, each with the number of its
/// first line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        if let Some(stripped) = line.strip_suffix('\\') {
            acc.push_str(stripped);
            acc.push(' ');
            pending = Some((start, acc));
            continue;
        }
        acc.push_str(line);
        logical.push((start, acc));
    }
    if let Some(p) = pending {
        logical.push(p);
    }
    logical
}

/// The file a `-r` / `-c` line of `path` names, refused unless it stays inside `path`'s own
/// folder once `..` and symbolic links are resolved: a plan from a pull request must not make
/// compat read (or hand pip) a file elsewhere on the machine.
fn include_path(path: &Path, lineno: usize, opt: &str, val: &str) -> Result<PathBuf, PlanError> {
    if val.is_empty() {
        return Err(err(path, lineno, format!("`{opt}` needs a file")));
    }
    if val.contains("://") || Path::new(val).is_absolute() {
        return Err(err(
            path,
            lineno,
            format!("`{opt} {val}`: only files relative to this one are read"),
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let inc = dir.join(val);
    let outside = || {
        err(
            path,
            lineno,
            format!(
                "`{opt} {val}` leaves this file's folder (`{}`): includes must stay beside the plan",
                dir.display()
            ),
        )
    };
    // Lexically first (`..` climbing above the folder), then for real (symbolic links).
    let mut depth = 0usize;
    for c in Path::new(val).components() {
        match c {
            std::path::Component::ParentDir => {
                depth = depth.checked_sub(1).ok_or_else(outside)?;
            }
            std::path::Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    if let (Ok(real_dir), Ok(real)) = (dir.canonicalize(), inc.canonicalize()) {
        if !real.starts_with(&real_dir) {
            return Err(outside());
        }
    }
    Ok(inc)
}

/// The file a `-r` / `-c` line names, parsed as a requirements file one level deeper
/// (depth-bounded, beside the plan, through the bounded reader).
fn include(
    path: &Path,
    lineno: usize,
    opt: &str,
    val: &str,
    depth: usize,
) -> Result<PlanFile, PlanError> {
    if depth >= MAX_INCLUDE_DEPTH {
        return Err(err(
            path,
            lineno,
            format!("`{opt}` nested more than {MAX_INCLUDE_DEPTH} deep"),
        ));
    }
    let inc = include_path(path, lineno, opt, val)?;
    parse_requirements(
        &read_bounded(&inc, InputKind::Requirements)?,
        &inc,
        depth + 1,
    )
}

/// One option line of a requirements file (`-r FILE`, `--index-url URL`, ...), into `out`.
fn option(
    out: &mut PlanFile,
    content: &str,
    path: &Path,
    lineno: usize,
    depth: usize,
) -> Result<(), PlanError> {
    let (opt, val) = match content.split_once([' ', '=']) {
        Some((o, v)) => (o.trim(), v.trim()),
        None => (content, ""),
    };
    match opt {
        "-r" | "--requirement" => {
            let inner = include(path, lineno, opt, val, depth)?;
            out.packages.extend(inner.packages);
            out.index_urls.extend(inner.index_urls);
            out.unpinned += inner.unpinned;
            out.notes.extend(inner.notes);
            out.resolver
                .requirements
                .extend(inner.resolver.requirements);
            out.resolver.constraints.extend(inner.resolver.constraints);
            out.resolver.pre |= inner.resolver.pre;
        }
        "-c" | "--constraint" => {
            // Read (bounded, beside the plan) for pip's resolver only: constraints narrow
            // versions, they add no packages.
            let inner = include(path, lineno, opt, val, depth)?;
            out.notes.extend(inner.notes);
            let r = inner.resolver;
            out.resolver
                .constraints
                .extend(r.requirements.into_iter().chain(r.constraints));
        }
        "-i" | "--index-url" | "--extra-index-url" => {
            if val.is_empty() {
                return Err(err(path, lineno, format!("`{opt}` needs a URL")));
            }
            out.index_urls.push(val.to_string());
            out.notes.push(format!(
                "line {lineno}: `{opt}` is read for torch's CUDA tag only, never asked: compat and \
                 pip's resolver ask the index of compat's own settings (--index-url, \
                 COMPAT_INDEX_URL, pip's or uv's configuration)"
            ));
        }
        "--pre" => {
            out.resolver.pre = true;
        }
        "-e" | "--editable" => {
            return Err(err(
                path,
                lineno,
                "editable requirements (`-e`) cannot be checked before they are built",
            ))
        }
        "-f" | "--find-links" | "--no-index" | "--prefer-binary" | "--only-binary"
        | "--no-binary" | "--trusted-host" => out.notes.push(format!(
            "line {lineno}: option `{opt}` not obeyed: options in a plan never reach pip's \
             resolver, which takes only wheels from compat's own index"
        )),
        _ => return Err(err(path, lineno, format!("unknown option `{opt}`"))),
    }
    Ok(())
}

/// One requirement line (options already dropped) as a planned package — its exact version
/// when it pins one (`==`, `===`, or a file URL that names it) — and as the resolver's line.
fn requirement(
    req_text: &str,
    path: &Path,
    lineno: usize,
) -> Result<(Planned, ResolverLine), PlanError> {
    if bare_reference(req_text) {
        return Err(err(
            path,
            lineno,
            format!(
                "`{req_text}` is a direct reference (a path or URL) without a name: pip would \
                 build it to learn what it is, which compat never lets happen; write it \
                 `NAME @ URL`, or pin NAME==VERSION"
            ),
        ));
    }
    let req = crate::env::metadata::parse_requirement(req_text)
        .map_err(|e| err(path, lineno, format!("not a PEP 508 requirement: {e}")).because(e))?;
    let marker = req.marker.contents().map(|m| m.to_string());
    let (version, source) = match &req.version_or_url {
        Some(pep508_rs::VersionOrUrl::VersionSpecifier(spec)) => {
            let exact: Vec<_> = spec
                .iter()
                .filter(|s| {
                    matches!(
                        s.operator(),
                        pep440_rs::Operator::Equal | pep440_rs::Operator::ExactEqual
                    )
                })
                .collect();
            (exact.first().map(|s| s.version().to_string()), None)
        }
        Some(pep508_rs::VersionOrUrl::Url(u)) => {
            (version_from_filename(&u.to_string()), Some(u.to_string()))
        }
        None => (None, None),
    };
    let line = ResolverLine {
        path: path.to_path_buf(),
        line: lineno,
        requirement: req.to_string(),
        direct: source.clone(),
    };
    let planned = Planned {
        name: req.name.to_string(),
        requirement: version.is_none().then(|| req_text.to_string()),
        version,
        requires_dist: None,
        requires_python: None,
        source,
        marker,
    };
    Ok((planned, line))
}

/// A requirement line that pip reads as a path or URL rather than a name: `./project`,
/// `/abs/path`, `~/x`, `file:...`, `git+https://...`, `https://.../x.whl`, `project.zip`.
fn bare_reference(t: &str) -> bool {
    let head = t
        .split([' ', '@', ';', '[', '<', '>', '=', '!', '~', '('])
        .next()
        .unwrap_or(t);
    head.contains(['/', '\\'])
        || t.starts_with(['.', '/', '~', '\\'])
        || t.split_once("://")
            .is_some_and(|(scheme, _)| !scheme.contains([' ', '@', ';']))
        || t.starts_with("file:")
        || [".whl", ".tar.gz", ".zip", ".tgz"]
            .iter()
            .any(|e| t.trim_end().ends_with(e) && !t.contains('@'))
}

/// The version in a wheel or sdist file name or URL (`torch-2.4.1+cu124-cp311-...whl`).
pub fn version_from_filename(url: &str) -> Option<String> {
    let file = url.rsplit('/').next()?;
    let file = percent_decode(file);
    let stem = file
        .strip_suffix(".whl")
        .or_else(|| file.strip_suffix(".tar.gz"))
        .or_else(|| file.strip_suffix(".zip"))?;
    let v = stem.split('-').nth(1)?;
    v.parse::<pep440_rs::Version>().ok().map(|_| v.to_string())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn toml_err(e: toml::de::Error, text: &str, path: &Path) -> PlanError {
    let line = e
        .span()
        .map(|s| crate::model::line_col(text, s.start).0)
        .unwrap_or(1);
    err(path, line, e.message().trim().to_string()).because(e)
}

/// PEP 751 `pylock.toml`: `[[packages]]` with `name`, `version`, `marker`, `requires-python`,
/// `index`, and `wheels`/`sdist` whose URLs or names carry the exact file.
pub fn parse_pylock(text: &str, path: &Path) -> Result<PlanFile, PlanError> {
    #[derive(serde::Deserialize)]
    struct Lock {
        #[serde(rename = "lock-version")]
        lock_version: String,
        #[serde(default)]
        packages: Vec<Pkg>,
    }
    #[derive(serde::Deserialize)]
    struct Pkg {
        name: String,
        version: Option<String>,
        marker: Option<String>,
        #[serde(rename = "requires-python")]
        requires_python: Option<String>,
        index: Option<String>,
        #[serde(default)]
        wheels: Vec<File>,
        sdist: Option<File>,
    }
    #[derive(serde::Deserialize)]
    struct File {
        name: Option<String>,
        url: Option<String>,
    }
    let lock: Lock = toml::from_str(text).map_err(|e| toml_err(e, text, path))?;
    if !lock.lock_version.starts_with("1.") {
        return Err(err(
            path,
            1,
            format!(
                "lock-version {} is not a PEP 751 1.x lock",
                lock.lock_version
            ),
        ));
    }
    let packages = lock
        .packages
        .into_iter()
        .map(|p| {
            // A local version (+cu124) lives only in the file names.
            let file = p
                .wheels
                .iter()
                .chain(p.sdist.iter())
                .find_map(|f| f.name.clone().or_else(|| f.url.clone()));
            let version = file
                .as_deref()
                .and_then(version_from_filename)
                .or(p.version);
            Planned {
                name: p.name,
                version,
                requirement: None,
                requires_dist: None,
                requires_python: p.requires_python,
                source: p.index.or(file),
                marker: p.marker,
            }
        })
        .collect::<Vec<_>>();
    Ok(PlanFile {
        path: path.to_path_buf(),
        format: PlanFileFormat::Pylock,
        unpinned: packages.iter().filter(|p| p.version.is_none()).count(),
        packages,
        index_urls: Vec::new(),
        notes: Vec::new(),
        resolver: Default::default(),
    })
}

/// `uv.lock`: `[[package]]` with `name`, `version`, `source` (`registry = URL`), `dependencies`
/// (names and markers), `wheels` (URLs).
pub fn parse_uv_lock(text: &str, path: &Path) -> Result<PlanFile, PlanError> {
    #[derive(serde::Deserialize)]
    struct Lock {
        version: u32,
        #[serde(default)]
        package: Vec<Pkg>,
    }
    #[derive(serde::Deserialize)]
    struct Pkg {
        name: String,
        version: Option<String>,
        source: Option<toml::Value>,
        #[serde(default)]
        dependencies: Vec<Dep>,
        #[serde(default)]
        wheels: Vec<Wheel>,
        #[serde(rename = "requires-python")]
        requires_python: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Dep {
        name: String,
        marker: Option<String>,
        #[serde(default)]
        extra: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    struct Wheel {
        url: Option<String>,
    }
    let lock: Lock = toml::from_str(text).map_err(|e| toml_err(e, text, path))?;
    if lock.version != 1 {
        return Err(err(
            path,
            1,
            format!("uv.lock version {} is not supported (1 is)", lock.version),
        ));
    }
    let packages = lock
        .package
        .into_iter()
        .map(|p| {
            let source = p.source.as_ref().and_then(|s| {
                ["registry", "url", "path", "git", "editable", "virtual"]
                    .iter()
                    .find_map(|k| s.get(k).and_then(|v| v.as_str()).map(str::to_string))
            });
            let file = p.wheels.iter().find_map(|w| w.url.clone());
            let version = file
                .as_deref()
                .and_then(version_from_filename)
                .or(p.version);
            let deps = p
                .dependencies
                .iter()
                .map(|d| {
                    let extras = if d.extra.is_empty() {
                        String::new()
                    } else {
                        format!("[{}]", d.extra.join(","))
                    };
                    match &d.marker {
                        Some(m) => format!("{}{extras} ; {m}", d.name),
                        None => format!("{}{extras}", d.name),
                    }
                })
                .collect();
            Planned {
                name: p.name,
                version,
                requirement: None,
                requires_dist: Some(deps),
                requires_python: p.requires_python,
                source: source.or(file),
                marker: None,
            }
        })
        .collect::<Vec<_>>();
    Ok(PlanFile {
        path: path.to_path_buf(),
        format: PlanFileFormat::UvLock,
        unpinned: packages.iter().filter(|p| p.version.is_none()).count(),
        packages,
        index_urls: Vec::new(),
        notes: vec!["uv.lock records dependency names without their version ranges: only presence is checked between planned packages".into()],
        resolver: Default::default(),
    })
}

/// The JSON report of `pip install --dry-run --ignore-installed --report FILE`: every package
/// pip would install, with its full metadata.
///
/// ```text
/// {"version": "1", "install": [{"download_info": {"url": "https://h/peft-0.12.0-py3-none-any.whl"},
///   "metadata": {"name": "peft", "version": "0.12.0", "requires_dist": ["torch>=1.13.0"]}}]}
/// ```
///
/// Read into typed structs, so a field of the wrong type (`"install": {}`, `"version": 3`,
/// `"requires_dist": "x"`) or a missing `metadata.name`/`metadata.version` is an error at its
/// `line:column` naming the field's path (`install[0].metadata.version`), never a field silently
/// dropped; a `metadata.version` that is not PEP 440 is one too. Fields compat does not read are
/// ignored (pip adds new ones).
pub fn parse_pip_report(text: &str, path: &Path) -> Result<PlanFile, PlanError> {
    #[derive(serde::Deserialize)]
    struct Report {
        install: Vec<Obj<Item>>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        metadata: Obj<Metadata>,
        download_info: Option<Obj<DownloadInfo>>,
    }
    #[derive(serde::Deserialize)]
    struct Metadata {
        name: String,
        version: Pep440,
        requires_dist: Option<Vec<String>>,
        requires_python: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct DownloadInfo {
        url: String,
    }

    // Syntax first, so a JSON error is told as one; then the shape, from the text again so
    // that serde_json's errors carry line and column.
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return Err(json_err(e, text, path, "not JSON"));
    }
    let report: Obj<Report> = serde_json::from_str(text).map_err(|e| {
        let no_install = e.to_string().starts_with("missing field `install`");
        let mut pe = json_err(e, text, path, "");
        if no_install {
            pe.message = "no `install` list: not a `pip install --report` file".into();
        }
        pe
    })?;
    let packages = report
        .0
        .install
        .into_iter()
        .map(|Obj(item)| {
            let md = item.metadata.0;
            let url = item.download_info.map(|d| d.0.url);
            // A local version (+cu124) lives only in the file name.
            let version = url
                .as_deref()
                .and_then(version_from_filename)
                .unwrap_or(md.version.0);
            Planned {
                name: md.name,
                version: Some(version),
                requirement: None,
                requires_dist: Some(md.requires_dist.unwrap_or_default()),
                requires_python: md.requires_python,
                source: url,
                marker: None,
            }
        })
        .collect();
    Ok(PlanFile {
        path: path.to_path_buf(),
        format: PlanFileFormat::PipReport,
        unpinned: 0,
        packages,
        index_urls: Vec::new(),
        notes: Vec::new(),
        resolver: Default::default(),
    })
}

/// A JSON object read into `T`: serde's derived structs also take an array (the fields by
/// position), which a pip report never has, so this asks for a map and nothing else.
struct Obj<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Obj<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Obj)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A version string that parses as PEP 440, checked as the string is read so that the error
/// is at its position.
struct Pep440(String);

impl<'de> serde::Deserialize<'de> for Pep440 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Pep440;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a PEP 440 version string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Pep440, E> {
                match s.parse::<pep440_rs::Version>() {
                    Ok(_) => Ok(Pep440(s.to_string())),
                    Err(e) => Err(E::custom(format!(
                        "`{}` is not a PEP 440 version: {e}",
                        crate::model::clean(s).chars().take(200).collect::<String>()
                    ))),
                }
            }
        }
        d.deserialize_str(V)
    }
}

/// A serde_json error as `file:line:column: <field path>: <what>`: serde_json's message
/// without its own ` at line L column C` tail, the column counted in characters, and the path
/// of the field at that position ([`json_path_at`]); `prefix` (`not JSON`) leads when given.
fn json_err(e: serde_json::Error, text: &str, path: &Path, prefix: &str) -> PlanError {
    let full = e.to_string();
    let what = match full.rfind(" at line ") {
        Some(i) if e.line() > 0 => &full[..i],
        _ => full.as_str(),
    };
    let (line, column, field) = if e.line() == 0 {
        (1, 1, String::new())
    } else {
        // serde_json's column counts bytes: the last byte it read (1-based), or, when it
        // stopped at a value it only peeked at (`"install": {}`), that value's (0-based).
        let line_start: usize = text
            .split_inclusive('\n')
            .take(e.line() - 1)
            .map(str::len)
            .sum();
        let end = (line_start + e.column()).min(text.len());
        let peeked = text.as_bytes().get(end).is_some_and(|b| {
            matches!(
                b,
                b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
            )
        });
        let at = if peeked { end } else { end.saturating_sub(1) };
        let (l, c) = crate::model::line_col(text, at);
        (l, c, json_path_at(&text[..floor_boundary(text, end)]))
    };
    let mut message = String::new();
    if !prefix.is_empty() {
        message.push_str(prefix);
        message.push_str(": ");
    }
    if !field.is_empty() {
        message.push_str(&field);
        message.push_str(": ");
    }
    message.push_str(what);
    PlanError {
        path: path.display().to_string(),
        line,
        column: Some(column),
        message,
        source: None,
    }
    .because(e)
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The path (`install[3].metadata.version`) of the JSON value being read at the end of
/// `prefix` (the text up to where serde_json stopped): object keys and array indices of the
/// containers still open there (a missing field is reported after its object's `}`, so its
/// path is the object's). Empty at the top level.
fn json_path_at(prefix: &str) -> String {
    enum Frame {
        Obj { key: Option<String>, want_key: bool },
        Arr { index: usize },
    }
    let mut stack: Vec<Frame> = Vec::new();
    let b = prefix.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' => stack.push(Frame::Obj {
                key: None,
                want_key: true,
            }),
            b'[' => stack.push(Frame::Arr { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Arr { index }) => *index += 1,
                Some(Frame::Obj { want_key, .. }) => *want_key = true,
                None => {}
            },
            b':' => {
                if let Some(Frame::Obj { want_key, .. }) = stack.last_mut() {
                    *want_key = false;
                }
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                let end = (i + 1).min(b.len());
                if let Some(Frame::Obj {
                    key,
                    want_key: true,
                }) = stack.last_mut()
                {
                    let raw = &prefix[start..floor_boundary(prefix, end)];
                    *key = Some(
                        serde_json::from_str::<String>(raw)
                            .unwrap_or_else(|_| raw.trim_matches('"').to_string()),
                    );
                }
            }
            _ => {}
        }
        i += 1;
    }
    let mut out = String::new();
    for f in &stack {
        match f {
            Frame::Obj { key: Some(k), .. } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&crate::model::clean(k));
            }
            Frame::Obj { key: None, .. } => {}
            Frame::Arr { index } => {
                out.push_str(&format!("[{index}]"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<PlanFile, PlanError> {
        parse_requirements(text, Path::new("r.txt"), 0)
    }

    #[test]
    fn requirements_lines() {
        let f = p("# stack\n--extra-index-url https://example.invalid/whl/cu124\ntorch==2.4.1+cu124 \\\n    --hash=sha256:00\ntransformers>=4.44 ; python_version >= \"3.9\"  # comment\npeft==0.12.0\n").expect("parses");
        assert_eq!(f.packages.len(), 3);
        assert_eq!(f.packages[0].version.as_deref(), Some("2.4.1+cu124"));
        assert_eq!(f.packages[1].version, None);
        assert!(f.packages[1].marker.is_some());
        assert_eq!(f.unpinned, 1);
        assert_eq!(f.index_urls, ["https://example.invalid/whl/cu124"]);
    }

    #[test]
    fn requirements_errors_name_the_line() {
        let e = p("torch==2.4.1\ntransformers>>4\n").expect_err("bad");
        assert_eq!(e.line, 2);
        assert!(
            e.to_string()
                .starts_with("r.txt:2: not a PEP 508 requirement"),
            "{e}"
        );
        assert_eq!(p("--frobnicate\n").expect_err("bad").line, 1);
        assert!(p("-e .\n").is_err());
        assert!(p("-r /etc/passwd\n").is_err());
        assert!(p("-r https://x/y.txt\n").is_err());
    }

    #[test]
    fn file_names_carry_local_versions() {
        assert_eq!(
            version_from_filename(
                "https://h/whl/cu124/torch-2.4.1%2Bcu124-cp311-cp311-linux_x86_64.whl"
            )
            .as_deref(),
            Some("2.4.1+cu124")
        );
        assert_eq!(
            version_from_filename("peft-0.12.0-py3-none-any.whl").as_deref(),
            Some("0.12.0")
        );
        assert_eq!(version_from_filename("no-version"), None);
    }

    #[test]
    fn locks() {
        let pylock = "lock-version = \"1.0\"\ncreated-by = \"uv\"\n[[packages]]\nname = \"torch\"\nversion = \"2.4.1\"\nindex = \"https://example.invalid/whl/cu124\"\nwheels = [{ name = \"torch-2.4.1+cu124-cp311-cp311-linux_x86_64.whl\", url = \"https://example.invalid/whl/cu124/torch-2.4.1%2Bcu124-cp311-cp311-linux_x86_64.whl\", hashes = { sha256 = \"00\" } }]\n";
        let f = parse_pylock(pylock, Path::new("pylock.toml")).expect("pylock");
        assert_eq!(f.packages[0].version.as_deref(), Some("2.4.1+cu124"));
        let e = parse_pylock("lock-version = 1\n", Path::new("pylock.toml")).expect_err("bad type");
        assert_eq!(e.line, 1);

        let uv = "version = 1\nrequires-python = \">=3.11\"\n[[package]]\nname = \"peft\"\nversion = \"0.12.0\"\nsource = { registry = \"https://example.invalid/simple\" }\ndependencies = [{ name = \"torch\" }, { name = \"accelerate\" }, { name = \"triton\", marker = \"sys_platform == 'linux'\" }]\n";
        let f = parse_uv_lock(uv, Path::new("uv.lock")).expect("uv.lock");
        assert_eq!(
            f.packages[0].requires_dist.as_ref().map(|d| d.len()),
            Some(3)
        );

        let rep = r#"{"version": "1", "install": [{"metadata": {"name": "peft", "version": "0.12.0", "requires_dist": ["torch>=1.13.0"], "requires_python": ">=3.8.0"}, "download_info": {"url": "https://example.invalid/peft-0.12.0-py3-none-any.whl"}}]}"#;
        let f = parse_pip_report(rep, Path::new("r.json")).expect("report");
        assert_eq!(
            f.packages[0].requires_dist.as_deref(),
            Some(&["torch>=1.13.0".to_string()][..])
        );
        assert!(parse_pip_report("{\"x\": 1}", Path::new("r.json")).is_err());
    }

    /// Each wrong-typed or missing field of a pip report is an error at its `line:column`,
    /// naming the field's path.
    #[test]
    fn pip_report_fields_of_the_wrong_type_are_errors_at_their_position() {
        let good =
            r#"{"version": "1", "install": [{"metadata": {"name": "peft", "version": "0.12.0"}}]}"#;
        assert!(parse_pip_report(good, Path::new("r.json")).is_ok());
        for (text, at, field) in [
            ("{\n  \"install\": {}\n}", "2:14", "install: invalid type: map"),
            (
                "{\"install\": [{\"metadata\": [\"a\", \"1.0\"]}]}",
                "1:27",
                "install[0].metadata: invalid type: sequence",
            ),
            (
                "{\"install\": [\n {\"metadata\": {\"name\": \"a\", \"version\": 3}}]}",
                "2:40",
                "install[0].metadata.version: invalid type: integer `3`",
            ),
            (
                "{\"install\": [{\"metadata\": {\"name\": \"a\", \"version\": \"1\"}},\n {\"metadata\": {\"name\": \"b\", \"version\": \"1\",\n   \"requires_dist\": \"x\"}}]}",
                "3:23",
                "install[1].metadata.requires_dist: invalid type: string \"x\"",
            ),
            (
                "{\"install\": [{\"metadata\": {\"name\": \"a\", \"version\": \"1\", \"requires_dist\": [\"x\", 5]}}]}",
                "1:80",
                "install[0].metadata.requires_dist[1]: invalid type: integer `5`",
            ),
            (
                "{\"install\": [{\"download_info\": 5, \"metadata\": {\"name\": \"a\", \"version\": \"1\"}}]}",
                "1:32",
                "install[0].download_info: invalid type: integer `5`",
            ),
            (
                "{\"install\": [{\"metadata\": {\"name\": [\"a\"], \"version\": \"1\"}}]}",
                "1:36",
                "install[0].metadata.name: invalid type: sequence, expected a string",
            ),
            (
                "{\"install\": [{\"metadata\": {\"name\": \"a\"}}]}",
                "1:39",
                "install[0].metadata: missing field `version`",
            ),
            (
                "{\"install\": [{\"metadata\": {\"version\": \"1.0\"}}]}",
                "1:44",
                "install[0].metadata: missing field `name`",
            ),
            (
                "{\"install\": [{\"metadata\": {\"name\": \"a\", \"version\": \"1.0; rm -rf /\"}}]}",
                "1:66",
                "install[0].metadata.version: `1.0; rm -rf /` is not a PEP 440 version",
            ),
            ("{\"x\": 1}", "1:8", "no `install` list"),
            ("[1]", "1:1", "invalid type: sequence, expected an object"),
            ("{\"install\": [\n{\"metadata\": }]}", "2:14", "not JSON: install[0]: expected value"),
        ] {
            let e = parse_pip_report(text, Path::new("r.json")).expect_err(text);
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("r.json:{at}: {field}")),
                "{text}\n{shown}"
            );
        }
    }

    #[test]
    fn errors_carry_their_causes() {
        use std::error::Error;
        let e = p("torch==2.4.1\ntransformers>>4\n").expect_err("bad");
        assert!(e
            .source()
            .and_then(|s| s.downcast_ref::<crate::env::metadata::RequirementError>())
            .is_some());
        let e = super::super::read_plan(Path::new("/nonexistent/r.txt")).expect_err("missing");
        assert!(e
            .source()
            .and_then(|s| s.downcast_ref::<crate::input::InputError>())
            .is_some());
        assert!(
            e.to_string()
                .starts_with("/nonexistent/r.txt: cannot read: "),
            "{e}"
        );
    }
}
