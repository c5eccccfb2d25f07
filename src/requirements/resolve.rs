//! pip's resolver, asked what a requirements file with unpinned entries would install. The one
//! place in `requirements` that runs a program, and it runs it fenced in:
//!
//! - **nothing is built**: pip gets `--only-binary=:all:`, and only requirements rebuilt from
//!   their parse (name, extras, specifiers, marker). A direct reference — a local folder, a VCS
//!   or archive URL, `name @ URL` — is refused with its `file:line` before pip starts, since
//!   pip would fetch it from where the file says, and build it if it is not a wheel;
//! - **no option of the file is obeyed**: the file pip reads is a new one, written by compat in
//!   a private temporary folder; the index is the one of compat's own settings (`--index-url`,
//!   then the configuration compat discovers), passed as flags; pip reads no configuration file
//!   and no `PIP_*` variable (`--isolated`, `PIP_CONFIG_FILE=/dev/null`), so a `pip.conf` in the
//!   target environment adds no index either. `--pre` is the one option passed on;
//! - **nothing from the target environment runs**: its interpreter is started with `-I -S` —
//!   no site-packages, so no `.pth` file, no `sitecustomize`, no `PYTHON*` variable — with
//!   `sys.path` holding the standard library and a private folder whose one entry links to the
//!   environment's own `pip` package; pip's plug-ins (keyring, ...) cannot be imported;
//! - **offline means offline**: with `--offline` or no index, pip is not started at all.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::parse::parse_pip_report;
use super::{err, PlanError, PlanFile, ResolverLine, MAX_BYTES};

/// Where and how pip's resolver may look for packages: the indexes of compat's own settings,
/// main first (pip's `--index-url`, then `--extra-index-url`s), and the time it may take.
#[derive(Debug, Clone)]
pub struct ResolverIndex {
    pub urls: Vec<String>,
    /// From `--offline`: pip is not started.
    pub offline: bool,
    /// pip's `--timeout` for one request.
    pub request_timeout: Duration,
    /// The most the whole resolution may take.
    pub deadline: Duration,
}

/// The program compat hands the target interpreter (`-I -S -c`): puts the private folder that
/// holds only a link to pip on `sys.path` and runs pip's own entry point with the remaining
/// arguments. Fixed text; every value reaches it as an argument.
const RUN_PIP: &str = "import sys; sys.path.insert(0, sys.argv[1]); \
from pip._internal.cli.main import main; sys.exit(main(sys.argv[2:]))";

/// Environment variables pip may see: where to cache and find certificates, proxies, the
/// locale. Everything else is removed (`-I` drops `PYTHON*` too; `--isolated` drops `PIP_*`).
const PASSED_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "XDG_CACHE_HOME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// The refusal of a requirement pip would fetch from where the file says (and build, unless
/// it is a wheel).
fn direct_refused(l: &ResolverLine, url: &str) -> PlanError {
    err(
        &l.path,
        l.line,
        format!(
            "`{}` is a direct reference ({url}): with unpinned requirements in the plan it would \
             go to pip's resolver, which compat never lets fetch or build what a plan points at",
            l.requirement
        ),
    )
}

/// The arguments after `pip`: a fixed list, the indexes, and the two files compat wrote.
fn pip_args(
    index: &ResolverIndex,
    pre: bool,
    requirements: &Path,
    constraints: Option<&Path>,
) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> = [
        "install",
        "--dry-run",
        "--ignore-installed",
        "--only-binary=:all:",
        "--isolated",
        "--no-input",
        "--disable-pip-version-check",
        "--quiet",
        "--retries",
        "1",
        "--report",
        "-",
    ]
    .iter()
    .map(Into::into)
    .collect();
    a.push("--timeout".into());
    a.push(format!("{}", index.request_timeout.as_secs_f64().ceil().max(1.0)).into());
    for (i, url) in index.urls.iter().enumerate() {
        a.push(
            if i == 0 {
                "--index-url"
            } else {
                "--extra-index-url"
            }
            .into(),
        );
        a.push(url.into());
    }
    if pre {
        a.push("--pre".into());
    }
    if let Some(c) = constraints {
        a.push("-c".into());
        a.push(c.into());
    }
    a.push("-r".into());
    a.push(requirements.into());
    a
}

/// The `pip` package folder of the environment (in the first of its site-packages that has
/// one), which the resolver runs.
fn find_pip(site_packages: &[PathBuf]) -> Option<PathBuf> {
    site_packages
        .iter()
        .map(|s| s.join("pip"))
        .find(|p| p.join("_internal").join("cli").join("main.py").is_file())
}

/// Asks pip's resolver what `plan` (a requirements file with unpinned entries) would install,
/// fenced in as the module comment says, and parses its report. `python` is the target
/// interpreter, `site_packages` its folders (where its pip is).
pub fn resolve_with_pip(
    python: &Path,
    site_packages: &[PathBuf],
    plan: &PlanFile,
    index: &ResolverIndex,
) -> Result<PlanFile, PlanError> {
    let input = &plan.resolver;
    for l in input.requirements.iter().chain(&input.constraints) {
        if let Some(url) = &l.direct {
            return Err(direct_refused(l, url));
        }
        if l.requirement.chars().any(char::is_control) {
            return Err(err(&l.path, l.line, "a control character in a requirement"));
        }
    }
    let path = &plan.path;
    if index.offline {
        return Err(err(
            path,
            0,
            format!(
                "{} requirements are not pinned and --offline is set: pip's resolver needs the \
                 index, so it is not started",
                plan.unpinned
            ),
        ));
    }
    if index.urls.is_empty() {
        return Err(err(
            path,
            0,
            format!(
                "{} requirements are not pinned, and no package index is configured for pip's \
                 resolver (--index-url, COMPAT_INDEX_URL, pip's or uv's configuration)",
                plan.unpinned
            ),
        ));
    }
    let Some(pip) = find_pip(site_packages) else {
        return Err(err(
            path,
            0,
            format!(
                "{} requirements are not pinned, and the environment of {} has no pip to resolve \
                 them with",
                plan.unpinned,
                python.display()
            ),
        ));
    };
    let io = |what: &str, e: std::io::Error| {
        err(path, 0, format!("pip's resolver: cannot {what}: {e}")).because(e)
    };
    // A private folder (mode 0700): the link to pip, and the files pip is handed.
    let dir = tempfile::Builder::new()
        .prefix("compat-resolve-")
        .tempdir()
        .map_err(|e| io("make a temporary folder", e))?;
    let pip_path = dir.path().join("path");
    std::fs::create_dir(&pip_path).map_err(|e| io("make a folder", e))?;
    link(&pip, &pip_path.join("pip")).map_err(|e| io("link pip", e))?;
    let lines = |ls: &[ResolverLine]| {
        ls.iter()
            .map(|l| format!("{}\n", l.requirement))
            .collect::<String>()
    };
    let reqs = dir.path().join("requirements.txt");
    std::fs::write(&reqs, lines(&input.requirements)).map_err(|e| io("write", e))?;
    let cons = (!input.constraints.is_empty())
        .then(|| dir.path().join("constraints.txt"))
        .map(|c| std::fs::write(&c, lines(&input.constraints)).map(|()| c))
        .transpose()
        .map_err(|e| io("write", e))?;
    let mut cmd = std::process::Command::new(python);
    cmd.args(["-I", "-S", "-c", RUN_PIP])
        .arg(&pip_path)
        .args(pip_args(index, input.pre, &reqs, cons.as_deref()))
        .current_dir(dir.path())
        .env_clear()
        .env("PIP_CONFIG_FILE", "/dev/null");
    for k in PASSED_VARS {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    let out = crate::process::run(&mut cmd, index.deadline, MAX_BYTES as usize).map_err(|e| {
        err(
            path,
            0,
            format!("pip's resolver ({}): {e}", python.display()),
        )
        .because(e)
    })?;
    if !out.status.success() {
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("ERROR:") || l.starts_with("error:"))
            .take(3)
            .collect();
        let why = if errors.is_empty() {
            out.last_stderr_line().to_string()
        } else {
            errors.join(" ")
        };
        return Err(err(path, 0, format!("pip's resolver failed: {why}")));
    }
    let mut p = parse_pip_report(&out.stdout, path)?;
    p.notes.push(format!(
        "resolved by pip's resolver ({} -I -S, its own pip: install --dry-run --only-binary=:all: \
         --isolated --report, {} requirement(s) rebuilt from the file, {})",
        python.display(),
        input.requirements.len(),
        index
            .urls
            .iter()
            .map(|u| crate::index::redact_url(u))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    p.notes.extend(plan.notes.iter().cloned());
    p.index_urls = plan.index_urls.clone();
    Ok(p)
}

#[cfg(unix)]
fn link(target: &Path, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

#[cfg(not(unix))]
fn link(_target: &Path, _at: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "pip's resolver is run on Unix only",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requirements::parse_requirements;

    fn plan(text: &str) -> PlanFile {
        parse_requirements(text, Path::new("/nowhere/requirements.txt"), 0).expect("parses")
    }

    fn index() -> ResolverIndex {
        ResolverIndex {
            urls: vec!["http://127.0.0.1:9/simple/".into()],
            offline: false,
            request_timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(5),
        }
    }

    fn refused(text: &str, index: &ResolverIndex) -> String {
        // The interpreter is never started for these: each is refused first.
        resolve_with_pip(Path::new("/nonexistent/python"), &[], &plan(text), index)
            .expect_err("refused")
            .to_string()
    }

    /// `e` refuses a direct reference at `line` of the plan made of `text`.
    fn assert_direct_reference_at(e: &str, text: &str, line: usize) {
        assert!(
            e.starts_with(&format!("/nowhere/requirements.txt:{line}: ")),
            "{text:?}: {e}"
        );
        assert!(e.contains("direct reference"), "{e}");
    }

    #[test]
    fn bare_paths_and_urls_are_refused_when_read() {
        for (text, line) in [
            ("numpy\n./localproject\n", 2),
            ("/abs/project\n", 1),
            ("numpy\n~/src/project\n", 2),
            ("numpy\nsrc/project/\n", 2),
            ("git+https://127.0.0.1/evil.git#egg=evil\n", 1),
            ("numpy\nhttps://127.0.0.1/evil-1.0.tar.gz\n", 2),
            ("numpy\nevil-1.0.zip\n", 2),
            ("file:../project\n", 1),
        ] {
            let e = parse_requirements(text, Path::new("/nowhere/requirements.txt"), 0)
                .expect_err(text)
                .to_string();
            assert_direct_reference_at(&e, text, line);
        }
    }

    #[test]
    fn direct_references_are_refused_at_their_line() {
        for (text, line) in [
            ("numpy\nevil @ file:///tmp/evil\n", 2),
            ("evil @ git+https://127.0.0.1/evil.git\nnumpy\n", 1),
            (
                "numpy\n\n# c\nevil @ https://127.0.0.1/evil-1.0.tar.gz\n",
                4,
            ),
            (
                "numpy\nevil @ https://127.0.0.1/evil-1.0-py3-none-any.whl\n",
                2,
            ),
        ] {
            assert_direct_reference_at(&refused(text, &index()), text, line);
        }
    }

    #[test]
    fn includes_and_constraints_reach_the_resolver_rebuilt_with_their_own_lines() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("base.txt"),
            "# base\nNumPy >=1.26\n--extra-index-url http://127.0.0.1:7/\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("pins.txt"), "numpy<2\n-c more.txt\n").expect("write");
        std::fs::write(dir.path().join("more.txt"), "\n\nsafetensors==0.4.5\n").expect("write");
        let top = dir.path().join("requirements.txt");
        std::fs::write(&top, "-r base.txt\n-c pins.txt\ntransformers\n").expect("write");
        let p = crate::requirements::read_plan(&top).expect("reads");
        let r = &p.resolver;
        let reqs: Vec<(String, usize, String)> = r
            .requirements
            .iter()
            .map(|l| {
                let file = l.path.file_name().map(|f| f.to_string_lossy().into_owned());
                (file.unwrap_or_default(), l.line, l.requirement.clone())
            })
            .collect();
        assert_eq!(
            reqs,
            vec![
                ("base.txt".to_string(), 2, "numpy>=1.26".to_string()),
                (
                    "requirements.txt".to_string(),
                    3,
                    "transformers".to_string()
                ),
            ]
        );
        let cons: Vec<(usize, &str)> = r
            .constraints
            .iter()
            .map(|l| (l.line, l.requirement.as_str()))
            .collect();
        assert_eq!(cons, vec![(1, "numpy<2"), (3, "safetensors==0.4.5")]);
        // Constraints add no packages to the plan.
        assert_eq!(p.packages.len(), 2);
        // A direct reference in a constraints file is refused at its own file:line.
        std::fs::write(dir.path().join("more.txt"), "evil @ file:///tmp/evil\n").expect("write");
        let p = crate::requirements::read_plan(&top).expect("reads");
        let e = resolve_with_pip(Path::new("/nonexistent/python"), &[], &p, &index())
            .expect_err("refused")
            .to_string();
        assert!(e.contains("more.txt:1: "), "{e}");
    }

    #[test]
    fn offline_or_no_index_starts_nothing() {
        let off = ResolverIndex {
            offline: true,
            ..index()
        };
        assert!(refused("numpy\n", &off).contains("--offline"));
        let none = ResolverIndex {
            urls: vec![],
            ..index()
        };
        assert!(refused("numpy\n", &none).contains("no package index"));
        assert!(refused("numpy\n", &index()).contains("has no pip"));
    }

    #[test]
    fn the_file_pip_reads_is_rebuilt_and_its_options_are_not_passed() {
        let p = plan(
            "--index-url http://127.0.0.1:1/evil/\n--extra-index-url http://127.0.0.1:2/\n\
             -f http://127.0.0.1:3/\n--trusted-host 127.0.0.1\n--pre\n\
             Transformers[torch] >=4.44 ; python_version >= \"3.9\" --hash=sha256:00\n",
        );
        let r = &p.resolver;
        assert!(r.pre);
        assert_eq!(r.requirements.len(), 1);
        assert_eq!(r.requirements[0].line, 6);
        let text = &r.requirements[0].requirement;
        assert!(text.starts_with("transformers[torch]>=4.44"), "{text}");
        assert!(!text.contains("--hash"), "{text}");
        let args: Vec<String> = pip_args(&index(), r.pre, Path::new("r.txt"), None)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"--only-binary=:all:".to_string()));
        assert!(args.contains(&"--isolated".to_string()));
        assert!(args.contains(&"--pre".to_string()));
        assert!(!args.iter().any(|a| a.contains("127.0.0.1:1")
            || a.contains("127.0.0.1:2")
            || a.contains("127.0.0.1:3")
            || a == "--trusted-host"
            || a == "-f"));
        assert_eq!(
            args.iter().filter(|a| a.as_str() == "--index-url").count(),
            1
        );
        for n in ["--index-url", "--extra-index-url", "-f", "--trusted-host"] {
            assert!(
                p.notes.iter().any(|x| x.contains(n)),
                "{n} not noted: {:?}",
                p.notes
            );
        }
    }
}
