//! Which package index to ask, and why — found the way pip (or uv) would find it, by reading
//! their configuration files, never by running anything.
//!
//! compat never names a registry itself (no host name is written in this repository): the index is
//! the one the user already told pip or uv to use, or the one the installed pip names as its own
//! default. Order, first answer wins:
//!
//! 1. `--index-url` (the `flag` argument);
//! 2. `COMPAT_INDEX_URL`;
//! 3. **uv's settings, when the user runs uv** — the target environment was made by uv
//!    (`uv = …` in its `pyvenv.cfg`), the project has a `uv.lock`, or a `UV_*` index variable is
//!    set: `UV_DEFAULT_INDEX`, `UV_INDEX_URL`; then the project's `uv.toml` (else `[tool.uv]` of
//!    its `pyproject.toml`), searched from the current folder upwards; then the user's
//!    `$XDG_CONFIG_HOME/uv/uv.toml` (`~/.config/uv/uv.toml`); then the system's
//!    `$XDG_CONFIG_DIRS/uv/uv.toml`, else `/etc/uv/uv.toml`. In each: `[[index]]` with
//!    `default = true`, else `index-url`. Extra indexes (`UV_INDEX`, `UV_EXTRA_INDEX_URL`,
//!    `[[index]]` without `default`, `extra-index-url`) are asked before the default, as uv's
//!    first-index strategy does;
//! 4. **otherwise pip's**: `PIP_INDEX_URL`; then pip's configuration files in pip's own
//!    precedence (`src/pip/_internal/configuration.py`, highest first): `PIP_CONFIG_FILE`; the
//!    site file `<sys.prefix>/pip.conf` (the target environment's prefix, else `$VIRTUAL_ENV`);
//!    the user files `$XDG_CONFIG_HOME/pip/pip.conf` (`~/.config/pip/pip.conf`), then the legacy
//!    `~/.pip/pip.conf` (both skipped when `PIP_CONFIG_FILE` names a file that exists); the global
//!    files `/etc/pip.conf`, then `<each of $XDG_CONFIG_DIRS, default /etc/xdg>/pip/pip.conf`, the
//!    last one first. `index-url` under `[install]` in any file wins over `[global]` in any file,
//!    as for `pip install`. `PIP_CONFIG_FILE=/dev/null` turns the files off, as in pip. Extra
//!    indexes: `PIP_EXTRA_INDEX_URL`, else `extra-index-url` of the same sections, asked after the
//!    main one;
//! 5. **pip's built-in default**, read from the installed pip's source file
//!    `pip/_internal/models/index.py` (its `PyPI = PackageIndex("…")` line, plus `simple`), in the
//!    target environment's site-packages — the pip that would run there (for the system's
//!    Python, the system's pip). The file is read as text; pip is not imported or run.
//!
//! With none of these there is no URL, and the choice says that compat works offline (from its
//! cache). An empty variable counts as unset. A value that is not an http(s) URL is an error
//! ([`DiscoverError`]) naming where it came from (variable, or file:line): the user meant it, so
//! it is neither skipped nor turned into "offline".

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::redact_url;
use crate::model::Vars;

/// The index compat will ask, and where that came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexChoice {
    /// The main index URL, exactly as configured (it may carry a password: show
    /// [`IndexChoice::redacted_url`] instead). `None`: compat works offline.
    pub url: Option<String>,
    /// Which source answered: `--index-url`, `COMPAT_INDEX_URL`, `PIP_INDEX_URL`,
    /// `UV_DEFAULT_INDEX`, `<pip.conf path>:<line> ([install] index-url)`,
    /// `<uv.toml path>:<line> (index-url)`, `pip's built-in default (<index.py path>:<line>)`,
    /// or `none`.
    pub source: String,
    /// Further indexes, each with where it came from: asked before `url` for uv (its
    /// first-index strategy), after it for pip.
    pub extra: Vec<(String, String)>,
    /// True when the extra indexes are asked before the main one (uv).
    pub extra_first: bool,
    /// Why there is no URL, or anything else the user should know about the choice.
    pub note: Option<String>,
}

impl IndexChoice {
    /// True when there is no index to ask.
    pub fn offline(&self) -> bool {
        self.url.is_none() && self.extra.is_empty()
    }

    /// The URL with any password replaced by `****`, for messages and reports.
    pub fn redacted_url(&self) -> Option<String> {
        self.url.as_deref().map(redact_url)
    }

    /// Every index in the order to ask them.
    pub fn search_order(&self) -> Vec<String> {
        let extra = self.extra.iter().map(|(u, _)| u.clone());
        let main = self.url.iter().cloned();
        if self.extra_first {
            extra.chain(main).collect()
        } else {
            main.chain(extra).collect()
        }
    }

    /// One line for reports: the URL(s), passwords hidden, and where each came from.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(u) = self.redacted_url() {
            parts.push(format!("{u} (from {})", self.source));
        }
        for (u, from) in &self.extra {
            parts.push(format!("extra {} (from {from})", redact_url(u)));
        }
        if parts.is_empty() {
            return format!(
                "none configured: working offline from the cache{}",
                self.note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
        }
        parts.join("; ")
    }
}

/// A configured index URL that compat cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverError {
    #[error("{origin} gives `{url}`, which is not a usable package index URL: {why}")]
    InvalidUrl {
        origin: String,
        url: String,
        why: String,
    },
    #[error("{path}: cannot read uv's configuration: {why}")]
    BadUvConfig { path: String, why: String },
}

/// What discovery knows about the target environment.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// `sys.prefix` of the target interpreter (the venv's folder), when known.
    pub prefix: Option<PathBuf>,
    /// Its site-packages folders, where its pip would live (the system's, for the system's
    /// Python; a virtual environment's own, plus the system's only when it includes them).
    pub site_packages: Vec<PathBuf>,
    /// The folder uv would start its project search from (the current folder).
    pub cwd: Option<PathBuf>,
}

/// Decides which index to ask (see the module comment for the order). `vars` are the
/// environment variables (tests pass fake ones).
pub fn discover(
    flag: Option<&str>,
    vars: &Vars,
    target: &Target,
) -> Result<IndexChoice, DiscoverError> {
    let var = |k: &str| vars.nonempty(k).filter(|v| !v.trim().is_empty());
    let found = |url: String, source: String| -> Result<IndexChoice, DiscoverError> {
        Ok(IndexChoice {
            url: Some(checked(url.trim(), &source)?),
            source,
            extra: Vec::new(),
            extra_first: false,
            note: None,
        })
    };
    if let Some(url) = flag.filter(|v| !v.trim().is_empty()) {
        return found(url.to_string(), "--index-url".into());
    }
    if let Some(url) = var("COMPAT_INDEX_URL") {
        return found(url, "COMPAT_INDEX_URL".into());
    }
    let mut choice = if let Some(why) = uv_in_use(vars, target) {
        let mut c = uv_choice(vars, target)?;
        c.extra_first = true;
        if c.url.is_none() {
            c.note = Some(format!("uv is in use ({why}) and sets no default index"));
        }
        c
    } else {
        pip_choice(vars, target)?
    };
    if choice.url.is_none() {
        if let Some((url, path, line)) = pip_builtin_default(target) {
            choice.url = Some(url);
            choice.source = format!(
                "pip's built-in default, read from {}:{line}",
                path.display()
            );
        } else if choice.extra.is_empty() {
            let prior = choice
                .note
                .take()
                .map(|n| format!("{n}; "))
                .unwrap_or_default();
            choice.note = Some(format!(
                "{prior}no index URL in --index-url, COMPAT_INDEX_URL, pip's or uv's variables or \
                 configuration files, and no installed pip to learn its default from"
            ));
        }
    }
    Ok(choice)
}

/// Keeps an http(s) URL with a host; anything else is an error naming `origin`.
fn checked(url: &str, origin: &str) -> Result<String, DiscoverError> {
    let err = |why: String| DiscoverError::InvalidUrl {
        origin: origin.to_string(),
        url: redact_url(url),
        why,
    };
    match reqwest::Url::parse(url) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => Err(err(format!(
            "a {} URL; compat can only ask http(s) indexes",
            u.scheme()
        ))),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Err(err("it has no host".into())),
        Ok(_) => Ok(url.to_string()),
        Err(e) => Err(err(format!("not a URL ({e})"))),
    }
}

// ---------------------------------------------------------------------------------------------
// pip

/// pip's configuration files, highest precedence first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFiles {
    pub paths: Vec<PathBuf>,
    /// `PIP_CONFIG_FILE` is `/dev/null`: pip loads no file at all.
    pub disabled: bool,
}

/// The files pip would read for the target, highest precedence first (see the module comment).
pub fn config_files(vars: &Vars, prefix: Option<&Path>) -> ConfigFiles {
    let var = |k: &str| vars.nonempty(k);
    let env_file = var("PIP_CONFIG_FILE");
    if env_file.as_deref() == Some("/dev/null") {
        return ConfigFiles {
            paths: Vec::new(),
            disabled: true,
        };
    }
    let mut paths = Vec::new();
    let mut skip_user = false;
    if let Some(f) = env_file {
        let f = PathBuf::from(f);
        // pip skips the user files when PIP_CONFIG_FILE names a file that exists.
        skip_user = f.exists();
        paths.push(f);
    }
    // The site file is `sys.prefix/pip.conf`.
    let prefix = prefix
        .map(Path::to_path_buf)
        .or_else(|| var("VIRTUAL_ENV").map(PathBuf::from));
    if let Some(prefix) = prefix {
        paths.push(prefix.join("pip.conf"));
    }
    if !skip_user {
        let home = var("HOME").map(PathBuf::from);
        let config_home = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".config")));
        if let Some(c) = config_home {
            paths.push(c.join("pip").join("pip.conf"));
        }
        if let Some(h) = &home {
            paths.push(h.join(".pip").join("pip.conf"));
        }
    }
    paths.push(PathBuf::from("/etc/pip.conf"));
    let xdg_dirs = var("XDG_CONFIG_DIRS").unwrap_or_else(|| "/etc/xdg".into());
    let mut global: Vec<PathBuf> = xdg_dirs
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join("pip").join("pip.conf"))
        .collect();
    // pip reads them in $XDG_CONFIG_DIRS order, a later one overriding an earlier one.
    global.reverse();
    paths.extend(global);
    ConfigFiles {
        paths,
        disabled: false,
    }
}

fn pip_choice(vars: &Vars, target: &Target) -> Result<IndexChoice, DiscoverError> {
    let files = config_files(vars, target.prefix.as_deref());
    let parsed = read_pip_files(&files.paths);
    let mut choice = IndexChoice {
        url: None,
        source: "none".into(),
        extra: Vec::new(),
        extra_first: false,
        note: files.disabled.then(|| {
            "pip's configuration files are turned off (PIP_CONFIG_FILE is /dev/null)".into()
        }),
    };
    if let Some(url) = vars
        .nonempty("PIP_INDEX_URL")
        .filter(|v| !v.trim().is_empty())
    {
        choice.url = Some(checked(url.trim(), "PIP_INDEX_URL")?);
        choice.source = "PIP_INDEX_URL".into();
    } else if let Some(hit) = lookup(&parsed, "index-url") {
        let origin = hit.origin("index-url");
        choice.url = Some(checked(hit.value.trim(), &origin)?);
        choice.source = origin;
    }
    if let Some(list) = vars.nonempty("PIP_EXTRA_INDEX_URL") {
        for u in list.split_whitespace() {
            choice.extra.push((
                checked(u, "PIP_EXTRA_INDEX_URL")?,
                "PIP_EXTRA_INDEX_URL".into(),
            ));
        }
    } else if let Some(hit) = lookup(&parsed, "extra-index-url") {
        let origin = hit.origin("extra-index-url");
        for u in hit.value.split_whitespace() {
            choice.extra.push((checked(u, &origin)?, origin.clone()));
        }
    }
    Ok(choice)
}

/// One value found in a pip configuration file.
struct Hit<'a> {
    path: &'a Path,
    section: &'a str,
    line: usize,
    value: &'a str,
}

impl Hit<'_> {
    fn origin(&self, key: &str) -> String {
        format!(
            "{}:{} ([{}] {key})",
            self.path.display(),
            self.line,
            self.section
        )
    }
}

type ParsedFile = (PathBuf, Vec<ConfEntry>);

fn read_pip_files(paths: &[PathBuf]) -> Vec<ParsedFile> {
    paths
        .iter()
        .filter_map(|p| {
            let text = read_config(p).ok()?;
            Some((p.clone(), parse_pip_conf(&text)))
        })
        .collect()
}

/// Reads a configuration file (pip.conf, uv.toml, pyproject.toml, pip's index.py) through the
/// bounded reader: a regular file only (a FIFO or a device would never end), at most
/// [`InputKind::Config`]'s limit, UTF-8. The callers treat a failure as absent: pip skips what it
/// cannot read too.
fn read_config(path: &Path) -> Result<String, crate::input::InputError> {
    crate::input::read_text(path, crate::input::InputKind::Config)
}

/// `key` under `[install]` in the files (highest precedence first), else under `[global]`; in
/// one file the last occurrence wins, as in `configparser`.
fn lookup<'a>(parsed: &'a [ParsedFile], key: &str) -> Option<Hit<'a>> {
    for section in ["install", "global"] {
        for (path, entries) in parsed {
            let found = entries
                .iter()
                .rev()
                .find(|e| e.section == section && e.key == key && !e.value.trim().is_empty());
            if let Some(e) = found {
                return Some(Hit {
                    path,
                    section: &e.section,
                    line: e.line,
                    value: &e.value,
                });
            }
        }
    }
    None
}

/// The first `index-url` in `[install]` across the files, else the first in `[global]`; files are
/// in precedence order and unreadable ones are skipped. Returns the file, its line and the value.
pub fn index_from_files(paths: &[PathBuf]) -> Option<(PathBuf, usize, String)> {
    let parsed = read_pip_files(paths);
    let hit = lookup(&parsed, "index-url")?;
    Some((hit.path.to_path_buf(), hit.line, hit.value.to_string()))
}

/// One `key = value` of a pip configuration file, with the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfEntry {
    pub section: String,
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Parses pip's ini-format configuration, keys normalized as pip does (lower case, `_` as `-`, a
/// leading `--` dropped).
///
/// ```text
/// [global]
/// index-url = http://127.0.0.1:3141/root/pypi/+simple/
/// timeout: 60
/// ; a comment
/// [install]
/// trusted-host =
///     127.0.0.1
/// ```
///
/// Indented lines continue the previous value, as in Python's `configparser`. Hand-written
/// rather than `rust-ini`/`configparser` because those neither join continuation lines the way
/// Python does nor give the line a value came from, which the report names.
pub fn parse_pip_conf(text: &str) -> Vec<ConfEntry> {
    let mut out: Vec<ConfEntry> = Vec::new();
    let mut section: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(e) = out.last_mut() {
                if !e.value.is_empty() {
                    e.value.push('\n');
                }
                e.value.push_str(trimmed);
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = Some(name.trim().to_string());
            continue;
        }
        let Some(sec) = &section else { continue };
        let Some(at) = trimmed.find(['=', ':']) else {
            continue;
        };
        let key = trimmed[..at]
            .trim()
            .trim_start_matches("--")
            .to_ascii_lowercase()
            .replace('_', "-");
        out.push(ConfEntry {
            section: sec.clone(),
            key,
            value: trimmed[at + 1..].trim().to_string(),
            line: i + 1,
        });
    }
    out
}

/// pip's own default index, read from the installed pip's `pip/_internal/models/index.py`: the
/// string in its `PyPI = PackageIndex("…")` line joined with `simple`, as pip's
/// `PackageIndex.simple_url` is. Returns the URL, the file and the line.
pub fn pip_builtin_default(target: &Target) -> Option<(String, PathBuf, usize)> {
    target
        .site_packages
        .iter()
        .map(|d| d.join("pip/_internal/models/index.py"))
        .find_map(|p| {
            let text = read_config(&p).ok()?;
            let (url, line) = parse_pip_index_py(&text)?;
            Some((url, p, line))
        })
}

/// The default index URL and its line in the text of pip's `models/index.py`.
pub fn parse_pip_index_py(text: &str) -> Option<(String, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let rest = line.trim_start().strip_prefix("PyPI")?.trim_start();
        let rest = rest.strip_prefix('=')?.trim_start();
        let rest = rest.strip_prefix("PackageIndex(")?.trim_start();
        let rest = rest.strip_prefix("url=").unwrap_or(rest);
        let quote = rest.chars().next().filter(|c| matches!(c, '"' | '\''))?;
        let inner = &rest[1..];
        let base = &inner[..inner.find(quote)?];
        let u = reqwest::Url::parse(base).ok()?;
        if !matches!(u.scheme(), "http" | "https") {
            return None;
        }
        Some((u.join("simple").ok()?.to_string(), i + 1))
    })
}

// ---------------------------------------------------------------------------------------------
// uv

/// Why compat thinks the user runs uv, or `None`.
fn uv_in_use(vars: &Vars, target: &Target) -> Option<String> {
    for name in [
        "UV_DEFAULT_INDEX",
        "UV_INDEX_URL",
        "UV_INDEX",
        "UV_EXTRA_INDEX_URL",
    ] {
        if vars.nonempty(name).is_some() {
            return Some(format!("{name} is set"));
        }
    }
    if let Some(prefix) = &target.prefix {
        let cfg = prefix.join("pyvenv.cfg");
        if let Ok(text) = read_config(&cfg) {
            let made_by_uv = text
                .lines()
                .any(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == "uv"));
            if made_by_uv {
                return Some(format!("{} was written by uv", cfg.display()));
            }
        }
    }
    let mut dir = target.cwd.as_deref();
    while let Some(d) = dir {
        let lock = d.join("uv.lock");
        if lock.is_file() {
            return Some(format!("{} exists", lock.display()));
        }
        dir = d.parent();
    }
    None
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UvSettings {
    #[serde(default)]
    index_url: Option<toml::Spanned<String>>,
    #[serde(default)]
    extra_index_url: Option<Vec<toml::Spanned<String>>>,
    #[serde(default)]
    index: Option<Vec<UvIndex>>,
}

#[derive(Debug, Deserialize)]
struct UvIndex {
    url: toml::Spanned<String>,
    #[serde(default)]
    default: bool,
}

#[derive(Debug, Deserialize)]
struct PyProject {
    #[serde(default)]
    tool: Option<PyTool>,
}

#[derive(Debug, Deserialize)]
struct PyTool {
    #[serde(default)]
    uv: Option<UvSettings>,
}

/// uv's configuration files, highest precedence first, each with its settings and text.
fn uv_files(
    vars: &Vars,
    target: &Target,
) -> Result<Vec<(PathBuf, String, UvSettings)>, DiscoverError> {
    let mut out = Vec::new();
    let bad = |p: &Path, why: String| DiscoverError::BadUvConfig {
        path: p.display().to_string(),
        why,
    };
    let read_uv_toml = |p: &Path| -> Result<Option<(String, UvSettings)>, DiscoverError> {
        let Ok(text) = read_config(p) else {
            return Ok(None);
        };
        let s: UvSettings = toml::from_str(&text).map_err(|e| bad(p, e.to_string()))?;
        Ok(Some((text, s)))
    };
    // Project: the nearest folder with a uv.toml, or a pyproject.toml that has [tool.uv].
    let mut dir = target.cwd.as_deref();
    while let Some(d) = dir {
        let uv = d.join("uv.toml");
        if let Some((text, s)) = read_uv_toml(&uv)? {
            out.push((uv, text, s));
            break;
        }
        let py = d.join("pyproject.toml");
        if let Ok(text) = read_config(&py) {
            let p: PyProject = toml::from_str(&text).map_err(|e| bad(&py, e.to_string()))?;
            if let Some(s) = p.tool.and_then(|t| t.uv) {
                out.push((py, text, s));
                break;
            }
        }
        dir = d.parent();
    }
    let home = vars.nonempty("HOME").map(PathBuf::from);
    let user = vars
        .nonempty("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".config")))
        .map(|c| c.join("uv").join("uv.toml"));
    if let Some(p) = user {
        if let Some((text, s)) = read_uv_toml(&p)? {
            out.push((p, text, s));
        }
    }
    // System: the first of $XDG_CONFIG_DIRS/uv/uv.toml (default /etc/xdg), then /etc/uv/uv.toml.
    let xdg = vars
        .nonempty("XDG_CONFIG_DIRS")
        .unwrap_or_else(|| "/etc/xdg".into());
    let system = xdg
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join("uv").join("uv.toml"))
        .chain([PathBuf::from("/etc/uv/uv.toml")]);
    for p in system {
        if let Some((text, s)) = read_uv_toml(&p)? {
            out.push((p, text, s));
            break;
        }
    }
    Ok(out)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |t| t.matches('\n').count() + 1)
}

fn uv_choice(vars: &Vars, target: &Target) -> Result<IndexChoice, DiscoverError> {
    let mut choice = IndexChoice {
        url: None,
        source: "none".into(),
        extra: Vec::new(),
        extra_first: true,
        note: None,
    };
    for name in ["UV_DEFAULT_INDEX", "UV_INDEX_URL"] {
        if let Some(url) = vars.nonempty(name).filter(|v| !v.trim().is_empty()) {
            choice.url = Some(checked(url.trim(), name)?);
            choice.source = name.into();
            break;
        }
    }
    for name in ["UV_INDEX", "UV_EXTRA_INDEX_URL"] {
        if let Some(list) = vars.nonempty(name) {
            for item in list.split_whitespace() {
                // UV_INDEX entries may be `name=url`.
                let url = match item.split_once('=') {
                    Some((n, u)) if !n.contains(':') => u,
                    _ => item,
                };
                choice.extra.push((checked(url, name)?, name.into()));
            }
        }
    }
    let files = uv_files(vars, target)?;
    let origin = |p: &Path, text: &str, span: std::ops::Range<usize>, what: &str| {
        format!("{}:{} ({what})", p.display(), line_of(text, span.start))
    };
    for (path, text, s) in &files {
        let key = |k: &str| {
            if path.file_name().is_some_and(|n| n == "pyproject.toml") {
                format!("tool.uv.{k}")
            } else {
                k.to_string()
            }
        };
        if choice.url.is_none() {
            let default = s
                .index
                .iter()
                .flatten()
                .find(|i| i.default)
                .map(|i| (&i.url, key("index, default = true")))
                .or_else(|| s.index_url.as_ref().map(|u| (u, key("index-url"))));
            if let Some((u, what)) = default {
                let o = origin(path, text, u.span(), &what);
                choice.url = Some(checked(u.get_ref().trim(), &o)?);
                choice.source = o;
            }
        }
        for i in s.index.iter().flatten().filter(|i| !i.default) {
            let o = origin(path, text, i.url.span(), &key("index"));
            choice.extra.push((checked(i.url.get_ref().trim(), &o)?, o));
        }
        for u in s.extra_index_url.iter().flatten() {
            let o = origin(path, text, u.span(), &key("extra-index-url"));
            choice.extra.push((checked(u.get_ref().trim(), &o)?, o));
        }
    }
    Ok(choice)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from_pairs(pairs.iter().copied())
    }

    const A: &str = "http://127.0.0.1:1/a/simple/";
    const B: &str = "http://127.0.0.1:2/b/simple/";

    fn bare() -> Target {
        Target::default()
    }

    #[test]
    fn flag_then_variables() {
        let env = vars(&[("COMPAT_INDEX_URL", A), ("PIP_INDEX_URL", B)]);
        let c = discover(Some(B), &env, &bare()).expect("ok");
        assert_eq!(
            (c.url.as_deref(), c.source.as_str()),
            (Some(B), "--index-url")
        );
        let c = discover(None, &env, &bare()).expect("ok");
        assert_eq!(
            (c.url.as_deref(), c.source.as_str()),
            (Some(A), "COMPAT_INDEX_URL")
        );
        let env = vars(&[
            ("COMPAT_INDEX_URL", ""),
            ("PIP_INDEX_URL", B),
            ("PIP_EXTRA_INDEX_URL", A),
            ("PIP_CONFIG_FILE", "/dev/null"),
        ]);
        let c = discover(None, &env, &bare()).expect("ok");
        assert_eq!(
            (c.url.as_deref(), c.source.as_str()),
            (Some(B), "PIP_INDEX_URL")
        );
        assert_eq!(c.search_order(), [B, A]);
    }

    #[test]
    fn describes_the_choice_without_passwords() {
        let env = vars(&[
            ("PIP_INDEX_URL", "http://me:tok@127.0.0.1:1/simple/"),
            ("PIP_EXTRA_INDEX_URL", B),
            ("PIP_CONFIG_FILE", "/dev/null"),
        ]);
        let c = discover(None, &env, &bare()).expect("ok");
        assert_eq!(
            c.describe(),
            format!("http://me:****@127.0.0.1:1/simple/ (from PIP_INDEX_URL); extra {B} (from PIP_EXTRA_INDEX_URL)")
        );
    }

    #[test]
    fn config_files_in_pip_order() {
        let env = vars(&[
            ("HOME", "/home/u"),
            ("VIRTUAL_ENV", "/venv"),
            ("XDG_CONFIG_DIRS", "/x1:/x2"),
        ]);
        let files = config_files(&env, None);
        let want: Vec<PathBuf> = [
            "/venv/pip.conf",
            "/home/u/.config/pip/pip.conf",
            "/home/u/.pip/pip.conf",
            "/etc/pip.conf",
            "/x2/pip/pip.conf",
            "/x1/pip/pip.conf",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(files.paths, want);
        assert_eq!(
            config_files(&env, Some(Path::new("/target"))).paths.first(),
            Some(&PathBuf::from("/target/pip.conf"))
        );
        let env = vars(&[("PIP_CONFIG_FILE", "/dev/null"), ("HOME", "/home/u")]);
        assert!(config_files(&env, None).disabled);
        let env = vars(&[("XDG_CONFIG_HOME", "/cfg")]);
        assert_eq!(
            config_files(&env, None).paths.first(),
            Some(&PathBuf::from("/cfg/pip/pip.conf"))
        );
    }

    #[test]
    fn config_file_answers_with_install_over_global_and_names_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let high = dir.path().join("high.conf");
        let low = dir.path().join("low.conf");
        std::fs::write(&high, format!("[global]\ntimeout = 5\nindex-url = {A}\n")).expect("write");
        std::fs::write(&low, format!("# pip\n[install]\nindex_url: {B}\n")).expect("write");
        let paths = vec![dir.path().join("missing.conf"), high.clone(), low.clone()];
        assert_eq!(
            index_from_files(&paths),
            Some((low.clone(), 3, B.to_string()))
        );
        std::fs::write(&low, "[install]\ntimeout = 5\n").expect("write");
        assert_eq!(index_from_files(&paths), Some((high, 3, A.to_string())));
    }

    #[test]
    fn site_file_of_the_target_and_invalid_urls_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("pip.conf"),
            "[global]\n\nindex-url = file:///srv/simple\n",
        )
        .expect("write");
        let target = Target {
            prefix: Some(dir.path().to_path_buf()),
            ..Target::default()
        };
        let env = vars(&[("PIP_CONFIG_FILE", "/nonexistent/pip.conf")]);
        let err = discover(None, &env, &target).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("{}:3", dir.path().join("pip.conf").display()))
                && text.contains("file URL"),
            "{text}"
        );
        for bad in ["not a url", "http://", "ftp://127.0.0.1/simple"] {
            let err = discover(Some(bad), &vars(&[]), &bare()).unwrap_err();
            assert!(err.to_string().starts_with("--index-url gives"), "{err}");
        }
        let env = vars(&[("PIP_EXTRA_INDEX_URL", "http://127.0.0.1:1/ok/ nope")]);
        let err = discover(None, &env, &bare()).unwrap_err();
        assert!(err.to_string().contains("PIP_EXTRA_INDEX_URL"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_huge_file_as_pip_conf_is_skipped_without_hanging() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("pip.conf");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        let huge = dir.path().join("huge.conf");
        let mut text = format!("[global]\nindex-url = {A}\n");
        text.push_str(&"#".repeat(2 << 20));
        std::fs::write(&huge, text).expect("write");
        let mut paths = vec![huge];
        if made {
            paths.insert(0, fifo);
        }
        assert_eq!(index_from_files(&paths), None);
    }

    #[test]
    fn parses_ini_continuations_with_lines() {
        let got =
            parse_pip_conf("[install]\n\ntrusted-host =\n    127.0.0.1\n    127.0.0.2\nkey\n");
        assert_eq!(
            got,
            [ConfEntry {
                section: "install".into(),
                key: "trusted-host".into(),
                value: "127.0.0.1\n127.0.0.2".into(),
                line: 3,
            }]
        );
    }

    #[test]
    fn reads_pips_builtin_default_from_its_source() {
        let text = "class PackageIndex:\n    pass\n\n\nPyPI = PackageIndex(\"http://127.0.0.1:9/\", file_storage_domain=\"x\")\nTestPyPI = PackageIndex(\"http://127.0.0.1:8/\")\n";
        assert_eq!(
            parse_pip_index_py(text),
            Some(("http://127.0.0.1:9/simple".to_string(), 5))
        );
        assert_eq!(parse_pip_index_py("PyPI = PackageIndex(base)\n"), None);
        assert_eq!(
            parse_pip_index_py("PyPI = PackageIndex('file:///x/')\n"),
            None
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let models = dir.path().join("pip/_internal/models");
        std::fs::create_dir_all(&models).expect("mkdir");
        std::fs::write(models.join("index.py"), text).expect("write");
        let target = Target {
            site_packages: vec![dir.path().join("absent"), dir.path().to_path_buf()],
            ..Target::default()
        };
        let c = discover(None, &vars(&[("PIP_CONFIG_FILE", "/dev/null")]), &target).expect("ok");
        assert_eq!(c.url.as_deref(), Some("http://127.0.0.1:9/simple"));
        assert_eq!(
            c.source,
            format!(
                "pip's built-in default, read from {}:5",
                models.join("index.py").display()
            )
        );
        let c = discover(None, &vars(&[("PIP_CONFIG_FILE", "/dev/null")]), &bare()).expect("ok");
        assert!(c.offline() && c.note.is_some(), "{c:?}");
    }

    #[test]
    fn uv_settings_in_uvs_precedence() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let project = dir.path().join("proj");
        let sub = project.join("src");
        std::fs::create_dir_all(home.join(".config/uv")).expect("mkdir");
        std::fs::create_dir_all(&sub).expect("mkdir");
        std::fs::write(project.join("uv.lock"), "version = 1\n").expect("write");
        std::fs::write(
            home.join(".config/uv/uv.toml"),
            format!("index-url = \"{B}\"\n"),
        )
        .expect("write");
        let target = Target {
            cwd: Some(sub.clone()),
            ..Target::default()
        };
        let env = vars(&[("HOME", home.to_str().unwrap_or("")), ("PIP_INDEX_URL", A)]);
        let c = discover(None, &env, &target).expect("ok");
        assert_eq!(
            c.url.as_deref(),
            Some(B),
            "uv.lock: uv's settings, not pip's"
        );
        assert!(c.source.ends_with("uv.toml:1 (index-url)"), "{}", c.source);
        std::fs::write(
            project.join("pyproject.toml"),
            format!("[project]\nname = \"p\"\n\n[[tool.uv.index]]\nurl = \"{A}\"\ndefault = true\n\n[[tool.uv.index]]\nurl = \"{B}\"\n"),
        )
        .expect("write");
        let c = discover(None, &env, &target).expect("ok");
        assert_eq!(c.url.as_deref(), Some(A));
        assert!(
            c.source
                .ends_with("pyproject.toml:5 (tool.uv.index, default = true)"),
            "{}",
            c.source
        );
        assert_eq!(
            c.search_order(),
            [B, A],
            "extra indexes first, as uv asks them"
        );
        let env = env.with("UV_DEFAULT_INDEX", "http://127.0.0.1:3/u/");
        let c = discover(None, &env, &target).expect("ok");
        assert_eq!(
            (c.url.as_deref(), c.source.as_str()),
            (Some("http://127.0.0.1:3/u/"), "UV_DEFAULT_INDEX")
        );
        std::fs::write(project.join("uv.toml"), "index-url = 3\n").expect("write");
        let err = discover(None, &env, &target).unwrap_err();
        assert!(matches!(err, DiscoverError::BadUvConfig { .. }), "{err}");
    }
}
