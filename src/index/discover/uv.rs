//! uv's side of discovery: whether the user runs uv, and uv's settings (`UV_*` variables, the
//! project's `uv.toml` or `[tool.uv]`, the user's and the system's `uv.toml`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{checked, read_config, DiscoverError, IndexChoice, Target};
use crate::model::Vars;

/// Why compat thinks the user runs uv, or `None`.
pub(super) fn uv_in_use(vars: &Vars, target: &Target) -> Option<String> {
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

pub(super) fn uv_choice(vars: &Vars, target: &Target) -> Result<IndexChoice, DiscoverError> {
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
