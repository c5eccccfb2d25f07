//! The shared flag groups turned into the library's inputs: the matrix (`--matrix`), the host
//! facts (`--host`), the Python environment (`--python`) and the package-index client
//! (`--index-url`, `--offline`). Each failure carries the hint the user needs; the process
//! environment is read here, at the edge, and handed to the library.

use std::path::Path;

use anyhow::anyhow;

use super::args::{HostArg, IndexArgs, MatrixArg, TargetArgs};
use super::{hinted, Hint};
use crate::env::{self, PythonEnv};
use crate::index;
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
    /// The package-index client for `--index-url` / the environment / pip's configuration
    /// (pip's own, as `python`, the target interpreter, would read it), and one line saying
    /// which index it is and where that came from.
    pub fn client(&self, python: Option<&Path>) -> (index::Client, String) {
        let vars = Vars::from_process();
        let choice = index::discover(self.index_url.as_deref(), &vars, python);
        let desc = match (choice.redacted_url(), self.offline) {
            (Some(u), false) => format!("{u} (from {})", choice.source),
            (Some(u), true) => format!("{u} (from {}), offline: cache only", choice.source),
            (None, _) => format!(
                "none configured{}: working offline from the cache",
                choice
                    .note
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ),
        };
        let client = index::Client::new(index::ClientOptions {
            index_url: choice.url.clone(),
            offline: self.offline || choice.url.is_none(),
            ..index::ClientOptions::new(index::default_cache_dir(&vars))
        });
        (client, desc)
    }
}

/// compat's knowledge tables (embedded in the binary), loaded once per command.
pub fn knowledge() -> anyhow::Result<Knowledge> {
    Ok(Knowledge::embedded()?)
}
