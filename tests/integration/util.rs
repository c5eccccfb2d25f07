//! Helpers shared by the integration tests: run the real binary with a clean environment and
//! read its JSON report back into the library's own report types.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use compat::model::Verdict;
pub use compat::report::Report;
pub use compat::verify::Cell;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

/// The compat binary with the user's environment choices cleared.
pub fn compat() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_compat"));
    for k in [
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "NO_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "PYTHONPATH",
        "PYTHONHOME",
    ] {
        c.env_remove(k);
    }
    c
}

pub fn run(args: &[&str]) -> Output {
    compat().args(args).output().expect("compat runs")
}

/// A `compat check --format json` run: its exit code, the report read back typed (with the
/// library's own types, as ripgrep's tests read its JSON messages), and its stderr.
pub struct Checked {
    pub code: i32,
    pub report: Report,
    pub stderr: String,
}

/// The report a `compat check --format json` run printed. Panics with its stderr when the
/// output is not a report.
pub fn report_of(out: &Output) -> Report {
    let stdout = String::from_utf8_lossy(&out.stdout);
    Report::from_json(&stdout).unwrap_or_else(|e| {
        panic!(
            "not a report ({e}: {:?}): {stdout}\nstderr: {}",
            std::error::Error::source(&e).map(ToString::to_string),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `compat check --python ENV --format json` plus extra args.
pub fn check_json(env: &Path, extra: &[&str]) -> Checked {
    let out = compat()
        .args(["check", "--format", "json", "--python"])
        .arg(env)
        .args(extra)
        .output()
        .expect("compat runs");
    Checked {
        code: out.status.code().unwrap_or(-1),
        report: report_of(&out),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The cell of `library` in `column`, from a report.
pub fn cell<'a>(r: &'a Report, library: &str, column: &str) -> &'a Cell {
    r.verification
        .tables
        .iter()
        .flat_map(|t| &t.rows)
        .find(|row| row.library == library)
        .and_then(|row| row.cells.iter().find(|c| c.column == column))
        .unwrap_or_else(|| panic!("no cell {library}/{column}"))
}

pub fn verdict(r: &Report, library: &str, column: &str) -> Verdict {
    cell(r, library, column).verdict
}

/// A cell's reason, or the empty string.
pub fn reason_of(c: &Cell) -> &str {
    c.reason.as_deref().unwrap_or("")
}

/// `(package, dependency, code)` of every problem `pip check` printed, names normalized.
pub fn pip_check_problems(text: &str) -> Vec<(String, String, String)> {
    let norm = |s: &str| compat::model::normalize(s);
    let mut out = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        if line.ends_with(", which is not installed.") && words.len() >= 4 && words[2] == "requires"
        {
            out.push((
                norm(words[0]),
                norm(words[3].trim_end_matches(',')),
                "missing-dependency".to_string(),
            ));
        } else if let Some(i) = line.find(", but you have ") {
            let rest: Vec<&str> = line[i + ", but you have ".len()..].split(' ').collect();
            if words.len() >= 2 && !rest.is_empty() {
                out.push((
                    norm(words[0]),
                    norm(rest[0]),
                    "version-conflict".to_string(),
                ));
            }
        }
    }
    out.sort();
    out
}

pub fn compat_problems(r: &Report) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = r
        .verification
        .consistency
        .problems
        .iter()
        .map(|p| {
            (
                compat::model::normalize(&p.package),
                compat::model::normalize(&p.dependency),
                p.code.to_string(),
            )
        })
        .collect();
    out.sort();
    out
}
