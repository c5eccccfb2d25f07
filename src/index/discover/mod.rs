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

use serde::Serialize;

mod pip;
mod uv;

use pip::pip_choice;
pub use pip::{
    config_files, index_from_files, parse_pip_conf, parse_pip_index_py, pip_builtin_default,
    ConfEntry, ConfigFiles,
};
use uv::{uv_choice, uv_in_use};

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

/// Reads a configuration file (pip.conf, uv.toml, pyproject.toml, pip's index.py) through the
/// bounded reader: a regular file only (a FIFO or a device would never end), at most
/// [`InputKind::Config`]'s limit, UTF-8. The callers treat a failure as absent: pip skips what it
/// cannot read too.
fn read_config(path: &Path) -> Result<String, crate::input::InputError> {
    crate::input::read_text(path, crate::input::InputKind::Config)
}

#[cfg(test)]
mod tests {
    use super::pip::*;
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
