//! Which package index to ask, and why.
//!
//! compat never names a registry itself (no host name is written in this repository): the index is
//! the one the user already told pip to use, found in this order, first answer wins:
//!
//! 1. `--index-url` (the `flag` argument);
//! 2. `COMPAT_INDEX_URL`;
//! 3. `PIP_INDEX_URL`;
//! 4. pip's configuration files, in pip's own precedence: `PIP_CONFIG_FILE`; the site file
//!    (the target environment's `pip.conf`, else `$VIRTUAL_ENV/pip.conf`); the user files
//!    (`$XDG_CONFIG_HOME/pip/pip.conf` or `~/.config/pip/pip.conf`, then `~/.pip/pip.conf`); the
//!    global files (`/etc/pip.conf`, then `<each of $XDG_CONFIG_DIRS, default /etc/xdg>/pip/pip.conf`).
//!    In them, `index-url` under `[install]` in any file wins over `[global]` in any file, as it
//!    does for `pip install`. `PIP_CONFIG_FILE=/dev/null` turns the files off, as in pip;
//! 5. the target interpreter's pip, asked with `<python> -m pip config list` (fixed arguments,
//!    no shell, at most 10 s), which also sees configuration compat does not know about.
//!
//! With none of these, there is no URL, and the choice says that compat is working offline (from
//! its cache) and why. An empty variable counts as unset. A value that is not an http(s) URL is
//! not skipped silently: it stops the search with a note, since the user meant it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use super::redact_url;
use crate::model::Vars;
use crate::process::RunError;

/// The index compat will ask, and where that came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexChoice {
    /// The index URL, exactly as configured (it may carry a password: show
    /// [`IndexChoice::redacted_url`] instead). `None`: compat works offline.
    pub url: Option<String>,
    /// Which source answered: `--index-url`, `COMPAT_INDEX_URL`, `PIP_INDEX_URL`,
    /// `pip config file <path>`, `pip config list`, or `none`.
    pub source: String,
    /// Why there is no URL, or anything else the user should know about the choice.
    pub note: Option<String>,
}

impl IndexChoice {
    /// True when there is no index to ask.
    pub fn offline(&self) -> bool {
        self.url.is_none()
    }

    /// The URL with any password replaced by `****`, for messages and reports.
    pub fn redacted_url(&self) -> Option<String> {
        self.url.as_deref().map(redact_url)
    }
}

/// How long `python -m pip config list` may take.
const PIP_TIMEOUT: Duration = Duration::from_secs(10);

/// Decides which index to ask (see the module comment for the order). `vars` are the
/// environment variables (tests pass fake ones); `python` is the target interpreter, asked last.
pub fn discover(flag: Option<&str>, vars: &Vars, python: Option<&Path>) -> IndexChoice {
    let files = config_files(vars, python);
    discover_with(flag, vars, &files, python, &|py| {
        pip_config_list(py, PIP_TIMEOUT)
    })
}

/// [`discover`] with the configuration files and the pip call given, for tests.
pub fn discover_with(
    flag: Option<&str>,
    vars: &Vars,
    files: &ConfigFiles,
    python: Option<&Path>,
    pip: &dyn Fn(&Path) -> Result<String, RunError>,
) -> IndexChoice {
    let var = |k: &str| vars.get(k).filter(|v| !v.trim().is_empty());
    let chosen = |url: String, source: String| checked(url.trim().to_string(), source);
    if let Some(url) = flag.filter(|v| !v.trim().is_empty()) {
        return chosen(url.to_string(), "--index-url".into());
    }
    for name in ["COMPAT_INDEX_URL", "PIP_INDEX_URL"] {
        if let Some(url) = var(name) {
            return chosen(url, name.into());
        }
    }
    if let Some((path, url)) = index_from_files(&files.paths) {
        return chosen(url, format!("pip config file {}", path.display()));
    }
    let pip_why = match python {
        None => "there is no target interpreter to ask for pip's configuration".to_string(),
        Some(py) => match pip(py) {
            Ok(out) => match parse_pip_config_list(&out) {
                Some(url) => return chosen(url, "pip config list".into()),
                None => format!("`{} -m pip config list` names no index-url", py.display()),
            },
            Err(why) => format!("`{} -m pip config list` failed: {why}", py.display()),
        },
    };
    let files_note = if files.disabled {
        "pip's configuration files are turned off (PIP_CONFIG_FILE is /dev/null)"
    } else {
        "pip's configuration files set none"
    };
    IndexChoice {
        url: None,
        source: "none".into(),
        note: Some(format!(
            "no index URL: --index-url, COMPAT_INDEX_URL and PIP_INDEX_URL are unset, {files_note}, \
             and {pip_why}; compat is working offline, from its cache"
        )),
    }
}

/// Keeps an http(s) URL; anything else becomes "no URL" with a note naming the source.
fn checked(url: String, source: String) -> IndexChoice {
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => IndexChoice {
            url: Some(url),
            source,
            note: None,
        },
        Ok(u) => IndexChoice {
            note: Some(format!(
                "{source} gives `{}`, a {} URL; compat can only ask http(s) indexes, so it is working offline, from its cache",
                redact_url(&url),
                u.scheme()
            )),
            url: None,
            source,
        },
        Err(e) => IndexChoice {
            note: Some(format!(
                "{source} gives `{}`, which is not a URL ({e}); compat is working offline, from its cache",
                redact_url(&url)
            )),
            url: None,
            source,
        },
    }
}

/// pip's configuration files, highest precedence first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFiles {
    pub paths: Vec<PathBuf>,
    /// `PIP_CONFIG_FILE` is `/dev/null`: pip loads no file at all.
    pub disabled: bool,
}

/// The files pip would read for `python`, highest precedence first (see the module comment).
pub fn config_files(vars: &Vars, python: Option<&Path>) -> ConfigFiles {
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
    // The site file is `sys.prefix/pip.conf`: the target venv's when --python names one.
    let venv_prefix = python
        .and_then(|p| p.parent()?.parent())
        .filter(|prefix| prefix.join("pyvenv.cfg").is_file())
        .map(Path::to_path_buf);
    if let Some(prefix) = venv_prefix.or_else(|| var("VIRTUAL_ENV").map(PathBuf::from)) {
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

/// The first `index-url` in `[install]` across the files, else the first in `[global]`; files are
/// in precedence order and unreadable ones are skipped.
pub fn index_from_files(paths: &[PathBuf]) -> Option<(PathBuf, String)> {
    let parsed: Vec<(PathBuf, Vec<ConfEntry>)> = paths
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            Some((p.clone(), parse_pip_conf(&text)))
        })
        .collect();
    for section in ["install", "global"] {
        for (path, entries) in &parsed {
            let found = entries
                .iter()
                .rev()
                .find(|(s, k, v)| s == section && k == "index-url" && !v.is_empty());
            if let Some((_, _, v)) = found {
                return Some((path.clone(), v.clone()));
            }
        }
    }
    None
}

/// One `(section, key, value)` of a pip configuration file.
pub type ConfEntry = (String, String, String);

/// Parses pip's ini-format configuration into `(section, key, value)`, keys normalized as pip
/// does (lower case, `_` as `-`, a leading `--` dropped).
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
/// Indented lines continue the previous value, as in Python's `configparser`.
pub fn parse_pip_conf(text: &str) -> Vec<ConfEntry> {
    let mut out: Vec<ConfEntry> = Vec::new();
    let mut section: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, _, v)) = out.last_mut() {
                if !v.is_empty() {
                    v.push('\n');
                }
                v.push_str(trimmed);
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = Some(name.trim().to_string());
            continue;
        }
        let Some(sec) = &section else { continue };
        let split = trimmed.find(['=', ':']);
        let Some(i) = split else { continue };
        let key = trimmed[..i]
            .trim()
            .trim_start_matches("--")
            .to_ascii_lowercase()
            .replace('_', "-");
        let value = trimmed[i + 1..].trim().to_string();
        out.push((sec.clone(), key, value));
    }
    out
}

/// Reads `install.index-url` (else `global.index-url`) from `pip config list` output:
///
/// ```text
/// global.index-url='http://127.0.0.1:3141/root/pypi/+simple/'
/// install.trusted-host='127.0.0.1'
/// ```
pub fn parse_pip_config_list(out: &str) -> Option<String> {
    let mut found: [Option<String>; 2] = [None, None];
    for line in out.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let slot = match key.trim() {
            "install.index-url" | "install.index_url" => 0,
            "global.index-url" | "global.index_url" => 1,
            _ => continue,
        };
        let v = unquote(value.trim());
        if !v.is_empty() {
            found[slot] = Some(v);
        }
    }
    let [install, global] = found;
    install.or(global)
}

/// Undoes Python's `repr()` of a string, as far as URLs need.
fn unquote(v: &str) -> String {
    let inner = ['\'', '"']
        .iter()
        .find_map(|q| v.strip_prefix(*q).and_then(|r| r.strip_suffix(*q)))
        .unwrap_or(v);
    inner.replace("\\'", "'").replace("\\\\", "\\")
}

/// Runs `<python> -m pip config list`: no shell, stdin closed, at most `timeout`.
pub fn pip_config_list(python: &Path, timeout: Duration) -> Result<String, RunError> {
    let out = crate::process::run_ok(
        Command::new(python)
            .args(["-m", "pip", "config", "list"])
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PIP_NO_INPUT", "1"),
        timeout,
        1 << 20,
    )?;
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from_pairs(pairs.iter().copied())
    }

    fn no_pip(_: &Path) -> Result<String, RunError> {
        Err(RunError::Spawn(std::io::Error::other("not asked")))
    }

    const A: &str = "http://127.0.0.1:1/a/simple/";
    const B: &str = "http://127.0.0.1:2/b/simple/";

    #[test]
    fn flag_then_variables() {
        let env = vars(&[("COMPAT_INDEX_URL", A), ("PIP_INDEX_URL", B)]);
        let files = ConfigFiles::default();
        let c = discover_with(Some(B), &env, &files, None, &no_pip);
        assert_eq!(
            (c.url.as_deref(), c.source.as_str()),
            (Some(B), "--index-url")
        );
        let c = discover_with(None, &env, &files, None, &no_pip);
        assert_eq!(
            (c.url.as_deref(), c.source.as_str()),
            (Some(A), "COMPAT_INDEX_URL")
        );
        let env = vars(&[("COMPAT_INDEX_URL", ""), ("PIP_INDEX_URL", B)]);
        let c = discover_with(None, &env, &files, None, &no_pip);
        assert_eq!(
            (c.url.as_deref(), c.source.as_str()),
            (Some(B), "PIP_INDEX_URL")
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
        let env = vars(&[("PIP_CONFIG_FILE", "/dev/null"), ("HOME", "/home/u")]);
        assert!(config_files(&env, None).disabled);
        let env = vars(&[("XDG_CONFIG_HOME", "/cfg")]);
        assert_eq!(
            config_files(&env, None).paths.first(),
            Some(&PathBuf::from("/cfg/pip/pip.conf"))
        );
    }

    #[test]
    fn config_file_answers_with_install_over_global() {
        let dir = tempfile::tempdir().expect("tempdir");
        let high = dir.path().join("high.conf");
        let low = dir.path().join("low.conf");
        std::fs::write(&high, format!("[global]\nindex-url = {A}\ntimeout = 5\n")).expect("write");
        std::fs::write(&low, format!("# pip\n[install]\nindex_url: {B}\n")).expect("write");
        let files = ConfigFiles {
            paths: vec![dir.path().join("missing.conf"), high.clone(), low.clone()],
            disabled: false,
        };
        let c = discover_with(None, &vars(&[]), &files, None, &no_pip);
        assert_eq!(c.url.as_deref(), Some(B));
        assert_eq!(c.source, format!("pip config file {}", low.display()));
        std::fs::write(&low, "[install]\ntimeout = 5\n").expect("write");
        let c = discover_with(None, &vars(&[]), &files, None, &no_pip);
        assert_eq!(c.url.as_deref(), Some(A));
        assert_eq!(c.source, format!("pip config file {}", high.display()));
    }

    #[test]
    fn asks_pip_last_then_works_offline() {
        let files = ConfigFiles::default();
        let py = Path::new("/venv/bin/python");
        let pip = |_: &Path| Ok(format!("global.timeout='5'\nglobal.index-url='{A}'\n"));
        let c = discover_with(None, &vars(&[]), &files, Some(py), &pip);
        assert_eq!(
            (c.url.as_deref(), c.source.as_str()),
            (Some(A), "pip config list")
        );
        let c = discover_with(None, &vars(&[]), &files, Some(py), &no_pip);
        assert_eq!((c.url.as_deref(), c.source.as_str()), (None, "none"));
        assert!(c.offline());
        let note = c.note.unwrap_or_default();
        assert!(
            note.contains("working offline") && note.contains("not asked"),
            "{note}"
        );
        let c = discover_with(None, &vars(&[]), &files, None, &no_pip);
        assert!(c.note.unwrap_or_default().contains("no target interpreter"));
    }

    #[test]
    fn a_bad_url_is_not_skipped() {
        let env = vars(&[("PIP_INDEX_URL", "file:///srv/simple")]);
        let c = discover_with(None, &env, &ConfigFiles::default(), None, &no_pip);
        assert_eq!(
            (c.url.as_deref(), c.source.as_str()),
            (None, "PIP_INDEX_URL")
        );
        let env = vars(&[("COMPAT_INDEX_URL", "https://me:tok@127.0.0.1:1/simple")]);
        let c = discover_with(None, &env, &ConfigFiles::default(), None, &no_pip);
        assert_eq!(
            c.redacted_url().as_deref(),
            Some("https://me:****@127.0.0.1:1/simple")
        );
    }

    #[test]
    fn parses_pip_config_list() {
        let out = "global.index-url='http://127.0.0.1:1/g/'\ninstall.index-url=\"http://127.0.0.1:1/i/\"\n";
        assert_eq!(
            parse_pip_config_list(out).as_deref(),
            Some("http://127.0.0.1:1/i/")
        );
        assert_eq!(parse_pip_config_list("global.timeout='60'\n"), None);
        assert_eq!(parse_pip_config_list(""), None);
    }

    #[test]
    fn parses_ini_continuations() {
        let got = parse_pip_conf("[install]\ntrusted-host =\n    127.0.0.1\n    127.0.0.2\nkey\n");
        assert_eq!(
            got,
            [(
                "install".to_string(),
                "trusted-host".to_string(),
                "127.0.0.1\n127.0.0.2".to_string()
            )]
        );
    }

    #[cfg(unix)]
    #[test]
    fn runs_the_interpreter_with_fixed_arguments() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let py = dir.path().join("python");
        std::fs::write(
            &py,
            "#!/bin/sh\n[ \"$*\" = \"-m pip config list\" ] || exit 3\necho \"global.index-url='http://127.0.0.1:1/simple/'\"\n",
        )
        .expect("write");
        std::fs::set_permissions(&py, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let out = pip_config_list(&py, Duration::from_secs(10)).expect("runs");
        assert_eq!(
            parse_pip_config_list(&out).as_deref(),
            Some("http://127.0.0.1:1/simple/")
        );
        let slow = dir.path().join("slow");
        std::fs::write(&slow, "#!/bin/sh\nexec sleep 5\n").expect("write");
        std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let err = pip_config_list(&slow, Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("200 ms"), "{err}");
        let err = pip_config_list(&dir.path().join("absent"), Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, RunError::Spawn(_)), "{err}");
    }
}
