//! A malformed matrix is bad input: exit 2 and `file:line:column` with a hint on stderr.

use crate::util::*;

fn builtin() -> String {
    std::fs::read_to_string(root().join("matrices/llm-compression.toml")).expect("builtin matrix")
}

fn check_with(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).expect("write");
    // The environment does not matter: the matrix is read first.
    let out = compat()
        .args(["check", "--matrix"])
        .arg(&path)
        .args(["--python"])
        .arg(fixture("envs/good-cu124"))
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        path.display().to_string(),
    )
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle")
        + 1
}

#[test]
fn unknown_key() {
    let t = builtin().replacen(
        "notes = \"Fast serialization\"",
        "notes = \"Fast serialization\"\nnotse = \"x\"",
        1,
    );
    let (code, err, path) = check_with(&t);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "{path}:{}:1: unknown field `notse`",
            line_of(&t, "notse")
        )),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn bad_version_specifier() {
    let t = builtin().replacen("version = \">=0.12\"", "version = \"=>0.12\"", 1);
    let (code, err, path) = check_with(&t);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "{path}:{}:11: bad version specifier `=>0.12`",
            line_of(&t, "=>0.12")
        )),
        "{err}"
    );
}

#[test]
fn duplicate_row() {
    let t = builtin()
        .replacen("name = \"peft\"", "name = \"PEFT\"", 1)
        .replacen(
            "name = \"transformers\"\ntable",
            "name = \"peft\"\ntable",
            1,
        );
    let (code, err, path) = check_with(&t);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "{path}:{}:8: duplicate library `PEFT`",
            line_of(&t, "name = \"PEFT\"")
        )),
        "{err}"
    );
}

#[test]
fn dangling_references() {
    for (from, to, needle) in [
        (
            "{ name = \"nbdime\", under = \"jupyterlab\"",
            "{ name = \"nbdime\", under = \"jupyter\"",
            "under = \"jupyter\"",
        ),
        (
            "libraries = [\"sparsegpt\"]",
            "libraries = [\"sparsegpt2\"]",
            "sparsegpt2",
        ),
        (
            "libraries = [\"wandb\", \"tensorboard\", \"dvc\", \"nbdime\"]",
            "libraries = [\"wandb\", \"tensorboard\", \"dvc\", \"nbdiff\"]",
            "nbdiff",
        ),
    ] {
        let t = builtin().replacen(from, to, 1);
        assert_ne!(t, builtin(), "{from}");
        let (code, err, path) = check_with(&t);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&format!("{path}:{}:", line_of(&t, needle))),
            "{err}"
        );
        assert!(err.contains("names no library"), "{err}");
    }
}

#[test]
fn toml_syntax_error_and_unreadable_file() {
    let (code, err, path) = check_with("schema = 1\nid = \"x\"\n[[tables]\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{path}:3:")), "{err}");

    let out = compat()
        .args(["check", "--matrix", "/nonexistent/m.toml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/m.toml"));
}

#[test]
fn bad_flag_is_usage_error() {
    let out = run(&["check", "--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["check", "--python", "/nonexistent/python3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
