//! Helpers shared by the integration tests: run the real binary with a clean environment and
//! read its JSON report back as data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

pub struct Checked {
    pub code: i32,
    pub json: serde_json::Value,
    pub stderr: String,
}

/// `compat check --python ENV --format json` plus extra args.
pub fn check_json(env: &Path, extra: &[&str]) -> Checked {
    let out = compat()
        .args(["check", "--format", "json", "--python"])
        .arg(env)
        .args(extra)
        .output()
        .expect("compat runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Checked {
        code: out.status.code().unwrap_or(-1),
        json,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The cell of `library` in `column`, from a JSON report.
pub fn cell<'a>(r: &'a serde_json::Value, library: &str, column: &str) -> &'a serde_json::Value {
    r["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["rows"].as_array().into_iter().flatten())
        .find(|row| row["library"] == library)
        .and_then(|row| {
            row["cells"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["column"] == column))
        })
        .unwrap_or_else(|| panic!("no cell {library}/{column}"))
}

pub fn verdict(r: &serde_json::Value, library: &str, column: &str) -> String {
    cell(r, library, column)["verdict"]
        .as_str()
        .unwrap_or("")
        .to_string()
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

pub fn compat_problems(r: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = r["consistency"]["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                compat::model::normalize(p["package"].as_str().unwrap_or("")),
                compat::model::normalize(p["dependency"].as_str().unwrap_or("")),
                p["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}
