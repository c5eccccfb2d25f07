//! `compat matrices`: the ids of the built-in matrices, one a line.

use std::process::ExitCode;

use std::io::Write;

use anyhow::Context;

use crate::matrix;

pub fn run() -> anyhow::Result<ExitCode> {
    let text: String = matrix::BUILTIN
        .iter()
        .map(|(id, _)| format!("{id}\n"))
        .collect();
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("cannot write to standard output")?;
    Ok(ExitCode::SUCCESS)
}
