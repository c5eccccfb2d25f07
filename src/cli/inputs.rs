//! The shared flag groups turned into the library's inputs: the matrix (`--matrix`), the host
//! facts (`--host`), the Python environment (`--python`) and the package-index client
//! (`--index-url`, `--offline`). Each failure carries the hint the user needs; the process
//! environment is read here, at the edge, and handed to the library.

use std::time::Duration;

use anyhow::anyhow;

use super::args::{HostArg, IndexArgs, MatrixArg, TargetArgs};
use super::{hinted, Hint};
use crate::env::{self, Interpreter, PythonEnv};
use crate::index::{self, IndexChoice};
use crate::knowledge::Knowledge;
use crate::matrix::{self, Matrix};
use crate::model::Vars;
use crate::probe::{self, HostFacts, ProbeOptions};

const HOST_HINT: &str = "a host profile is TOML as `compat probe --format toml` writes it; override values look like 12.4, 550.54.15, 8.0,9.0";
const PYTHON_HINT: &str = "pass --python PATH (an interpreter or a virtual environment folder), or activate the environment";

impl MatrixArg {
    /// `--matrix`, or the default built-in matrix.
    pub fn load(&self) -> anyhow::Result<Matrix> {
        let loaded = match &self.matrix {
            Some(p) => matrix::load_file(p),
            None => matrix::load_builtin(matrix::DEFAULT_BUILTIN),
        };
        loaded.map_err(|e| {
            let hint = e.hint.clone();
            hinted(e, hint)
        })
    }
}

impl HostArg {
    /// The host profile given, else this machine's facts; `toolchains` also looks for the
    /// toolchains on PATH (only `compat probe` needs them).
    pub fn probe(&self, toolchains: bool) -> anyhow::Result<HostFacts> {
        probe::collect(&self.options(toolchains), &Vars::from_process()).hint(HOST_HINT)
    }

    fn options(&self, toolchains: bool) -> ProbeOptions {
        ProbeOptions {
            host: self.host.clone(),
            toolchains,
        }
    }
}

impl TargetArgs {
    /// Host facts and the Python environment, gathered at the same time (the GPU probe and the
    /// site-packages scan are independent).
    /// `toolchains` as for [`HostArg::probe`].
    pub fn facts(&self, toolchains: bool) -> anyhow::Result<(HostFacts, PythonEnv)> {
        let opts = self.host.options(toolchains);
        let vars = Vars::from_process();
        let (host, env) = std::thread::scope(|s| {
            let h = s.spawn(|| probe::collect(&opts, &vars));
            let e = env::read_environment(self.python.as_deref(), &vars);
            (h.join(), e)
        });
        let host = host
            .map_err(|_| anyhow!("the host probe crashed"))?
            .hint(HOST_HINT)?;
        let env = env.hint(PYTHON_HINT)?;
        Ok((host, env))
    }
}

impl IndexArgs {
    /// The package-index client for `--index-url` / the environment / uv's or pip's
    /// configuration as they would read it for `interp`, the target interpreter (its prefix holds
    /// pip's site file, its site-packages pip's built-in default), and the choice it made. A
    /// configured URL that is not usable is an error naming where it came from (exit 2).
    pub fn client(&self, interp: &Interpreter) -> anyhow::Result<(index::Client, IndexChoice)> {
        let vars = Vars::from_process();
        let target = index::Target {
            prefix: (!interp.prefix.as_os_str().is_empty()).then(|| interp.prefix.clone()),
            site_packages: interp.site_packages.clone(),
            cwd: std::env::current_dir().ok(),
        };
        let choice = index::discover(self.index_url.as_deref(), &vars, &target).hint(
            "an index URL is http(s)://host/path/ (a PEP 503 simple index); fix or unset the named setting",
        )?;
        let order = choice.search_order();
        let mut urls = order.into_iter();
        let client = index::Client::new(index::ClientOptions {
            index_url: urls.next(),
            extra_urls: urls.collect(),
            offline: self.offline,
            deadline: Duration::from_secs_f64(self.index_deadline),
            timeout: Duration::from_secs_f64(self.index_timeout),
            ..index::ClientOptions::new(index::default_cache_dir(&vars))
        });
        Ok((client, choice))
    }

    /// One line for reports: which index, from where, and whether offline.
    pub fn describe(&self, choice: &IndexChoice) -> String {
        let d = choice.describe();
        if self.offline && !choice.offline() {
            format!("{d}, offline: cache only")
        } else {
            d
        }
    }
}

/// compat's knowledge tables (embedded in the binary), loaded once per command.
pub fn knowledge() -> anyhow::Result<Knowledge> {
    Ok(Knowledge::embedded()?)
}
