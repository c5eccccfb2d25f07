//! pip's resolver, asked what a requirements file with unpinned entries would install. The one
//! place in `requirements` that runs a program.

use std::path::Path;

use super::parse::parse_pip_report;
use super::{err, PlanError, PlanFile, MAX_BYTES};

/// Asks pip's resolver what a requirements file with unpinned entries would install: runs
/// `PYTHON -m pip install --dry-run --ignore-installed --quiet --report - -r FILE` (a fixed
/// argument list; the file is passed as one argument, never through a shell) and parses the
/// report. Needs the index pip is configured for.
pub fn resolve_with_pip(
    python: &Path,
    requirements: &Path,
    timeout: std::time::Duration,
) -> Result<PlanFile, PlanError> {
    let out = crate::process::run(
        std::process::Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--disable-pip-version-check",
                "--report",
                "-",
                "-r",
            ])
            .arg(requirements),
        timeout,
        MAX_BYTES as usize,
    )
    .map_err(|e| {
        err(
            requirements,
            0,
            format!("pip's resolver ({}): {e}", python.display()),
        )
        .because(e)
    })?;
    if !out.status.success() {
        return Err(err(
            requirements,
            0,
            format!("pip's resolver failed: {}", out.last_stderr_line()),
        ));
    }
    let text = out.stdout;
    let mut p = parse_pip_report(&text, requirements)?;
    p.notes.push(format!(
        "resolved by pip's resolver ({} -m pip install --dry-run --report)",
        python.display()
    ));
    Ok(p)
}
