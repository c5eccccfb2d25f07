//! Presentation only: the terminal table, JSON and Markdown. Nothing here reaches back into
//! the machine; everything shown comes from [`Report`].
//!
//! The JSON form is machine output with a versioned schema (`docs/report-schema.md`); it is
//! never coloured.

mod junit;
mod markdown;
mod probe;
pub mod smoke;
mod summary;
mod table;

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::env::{Finding, Interpreter, TorchVersionPy};
use crate::matrix::Matrix;
use crate::verify::Verification;

pub use junit::render as junit;
pub use markdown::render as markdown;
pub use probe::{probe_json, probe_table};
pub use summary::render as summary;
pub use table::render as table;

/// The JSON schema id of a `compat check` report. Bump the number on an incompatible change.
pub const SCHEMA: &str = "compat.check/1";

/// What a plan-checking report judged.
#[derive(Debug, Clone, Serialize)]
pub struct PlanInfo {
    pub path: String,
    pub format: crate::requirements::PlanFormat,
    pub packages: usize,
    pub index_urls: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MatrixInfo {
    pub id: String,
    pub title: String,
    pub origin: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentInfo {
    pub interpreter: Interpreter,
    pub distributions: usize,
    pub torch: Option<TorchVersionPy>,
    pub scan_ms: f64,
}

/// A whole `compat check` report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub compat_version: &'static str,
    /// UTC, RFC 3339.
    pub checked_at: String,
    pub matrix: MatrixInfo,
    pub host: crate::probe::HostFacts,
    pub environment: EnvironmentInfo,
    pub findings: Vec<Finding>,
    /// Set when the report judges a plan (`--requirements`) rather than an installed environment.
    pub plan: Option<PlanInfo>,
    /// The smoke compressions (`--smoke quick|full`), when they ran.
    pub smoke: Option<crate::smoke::SmokeReport>,
    #[serde(flatten)]
    pub verification: Verification,
    /// 0 nothing failed, 1 something failed.
    pub exit_code: i32,
    #[serde(skip)]
    pub matrix_doc: Option<Matrix>,
}

pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")) + "\n"
}

/// Writes `text` to `path` atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Seconds since the epoch as an RFC 3339 UTC timestamp.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_906_800), "2026-11-28T23:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
