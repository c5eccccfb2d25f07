//! pip's side of discovery: its configuration files in pip's own precedence, their ini format,
//! `PIP_INDEX_URL` / `PIP_EXTRA_INDEX_URL`, and pip's built-in default read from its source.

use std::path::{Path, PathBuf};

use super::{checked, read_config, DiscoverError, IndexChoice, Target};
use crate::model::Vars;

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

pub(super) fn pip_choice(vars: &Vars, target: &Target) -> Result<IndexChoice, DiscoverError> {
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
