//! Reading a `compat check --format json` report back into [`Report`]: the same types that
//! wrote it, so a renamed or retyped field is a compile error here or a clear error on input,
//! never a silent default.
//!
//! The schema id is looked at first, so a file that is JSON but not a compat report, or a
//! report of another schema version, says so instead of listing a missing field.

use super::{Report, SCHEMA};

/// Why a text is not a `compat.check/1` report.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("it is not JSON")]
    Json(#[source] serde_json::Error),
    #[error("it has no `schema` of the form `compat.check/N`: not a `compat check --format json` report")]
    NotAReport,
    #[error("its schema is `{found}`, not `{SCHEMA}`: not a `compat check --format json` report")]
    OtherSchema { found: String },
    #[error("its schema is `{found}`, and this compat reads `{SCHEMA}`")]
    Version { found: String },
    #[error("it does not follow schema `{SCHEMA}`")]
    Shape(#[source] serde_json::Error),
}

impl ReadError {
    /// The line and column (1-based) at fault, where serde_json names one.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        match self {
            ReadError::Json(e) | ReadError::Shape(e) if e.line() > 0 => {
                Some((e.line(), e.column()))
            }
            _ => None,
        }
    }
}

impl Report {
    /// Parses a report written by `compat check --format json`.
    pub fn from_json(text: &str) -> Result<Report, ReadError> {
        let head: serde_json::Value = serde_json::from_str(text).map_err(ReadError::Json)?;
        match head.get("schema").and_then(serde_json::Value::as_str) {
            Some(SCHEMA) => {}
            Some(other) if other.starts_with("compat.check/") => {
                return Err(ReadError::Version {
                    found: other.to_string(),
                })
            }
            Some(other) => {
                return Err(ReadError::OtherSchema {
                    found: crate::model::clean(other).chars().take(200).collect(),
                })
            }
            None => return Err(ReadError::NotAReport),
        }
        // From the text again, not from `head`: serde_json's errors then carry line and column.
        serde_json::from_str(text).map_err(ReadError::Shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ReadError {
        Report::from_json(text).expect_err("not a report")
    }

    #[test]
    fn what_is_wrong_is_named() {
        assert!(matches!(err("{\"schema\": "), ReadError::Json(_)));
        assert!(matches!(err("[1, 2]"), ReadError::NotAReport));
        match err("{\"schema\": \"other\"}") {
            ReadError::OtherSchema { found } => assert_eq!(found, "other"),
            e => panic!("{e}"),
        }
        assert!(matches!(err("{\"schema\": 1}"), ReadError::NotAReport));
        match err("{\"schema\": \"compat.check/2\"}") {
            ReadError::Version { found } => assert_eq!(found, "compat.check/2"),
            e => panic!("{e}"),
        }
        let e = err("{\"schema\": \"compat.check/1\"}");
        assert!(matches!(e, ReadError::Shape(_)), "{e}");
        let cause = std::error::Error::source(&e).expect("cause").to_string();
        assert!(cause.contains("missing field"), "{cause}");
        assert!(cause.contains("line 1"), "{cause}");
    }
}
