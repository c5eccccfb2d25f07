//! What every knowledge table shares: parsing its TOML into the raw row types (unknown keys
//! refused), `schema = 1`, a non-empty `source` on each row, and errors that point at
//! `file:line:column`. The families' own checks (ranges, duplicates, overlaps) live beside their
//! types in the family files.

use std::ops::Range;
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};
use toml::Spanned;

use super::KnowledgeError;
use crate::model::line_col;

/// One table file's text and name, for parsing and for errors that point into it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Table<'t> {
    pub file: &'static str,
    pub text: &'t str,
}

impl<'t> Table<'t> {
    pub fn new(file: &'static str, text: &'t str) -> Self {
        Table { file, text }
    }

    /// The file as its raw shape; a syntax or shape error points where the parser stopped.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, KnowledgeError> {
        toml::from_str(self.text).map_err(|e| {
            let (line, column) = self.position(e.span());
            KnowledgeError {
                file: self.file,
                line,
                column,
                message: e.message().trim().to_string(),
                source: Some(Box::new(e)),
            }
        })
    }

    /// An error at a span of the file (`None`: the file as a whole, reported at 1:1).
    pub fn invalid(
        &self,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> KnowledgeError {
        let (line, column) = self.position(span);
        KnowledgeError {
            file: self.file,
            line,
            column,
            message: message.into(),
            source: None,
        }
    }

    fn position(&self, span: Option<Range<usize>>) -> (usize, usize) {
        span.map(|s| line_col(self.text, s.start)).unwrap_or((1, 1))
    }

    pub fn check_schema(&self, schema: &Spanned<u32>) -> Result<(), KnowledgeError> {
        match *schema.get_ref() {
            1 => Ok(()),
            n => Err(self.invalid(Some(schema.span()), format!("schema {n}, expected 1"))),
        }
    }

    /// A row (`row` names it in the message) must say where its fact comes from.
    pub fn check_source(
        &self,
        span: Range<usize>,
        row: &str,
        source: &str,
    ) -> Result<(), KnowledgeError> {
        if source.trim().is_empty() {
            Err(self.invalid(Some(span), format!("{row}: empty `source`")))
        } else {
            Ok(())
        }
    }

    pub fn spec(&self, span: Range<usize>, s: &str) -> Result<VersionSpecifiers, KnowledgeError> {
        VersionSpecifiers::from_str(s)
            .map_err(|e| self.invalid(Some(span), format!("`{s}` is not a PEP 440 specifier: {e}")))
    }

    pub fn version(&self, span: Range<usize>, s: &str) -> Result<Version, KnowledgeError> {
        Version::from_str(s)
            .map_err(|e| self.invalid(Some(span), format!("`{s}` is not a version: {e}")))
    }
}
