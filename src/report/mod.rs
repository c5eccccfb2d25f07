//! Presentation only: every document compat prints, and the typed model of the one it reads back.
//!
//! - [`check`]: the `compat check` report — its schema types ([`Report`], versioned as
//!   [`SCHEMA`], see `docs/report-schema.md`), how it is assembled from the verification
//!   ([`Report::new`], the exit-code gate [`FailOn`]), how it is read back ([`Report::from_json`],
//!   for `merge` and the tests), and its five renderers: table, JSON, Markdown, JUnit, summary.
//! - [`probe`]: `compat probe`'s table and JSON.
//! - [`fleet`]: the merged fleet matrix (`compat merge`) and its table.
//! - [`style`]: the one table preset and the colours (anstyle) every terminal table uses; the
//!   cleaning of text from inputs (no control character reaches a terminal raw) and the fitting
//!   of tables and lines to a terminal's width.
//!
//! Nothing here reaches back into the machine: no file, clock, environment variable or
//! terminal is read here. The caller decides colour (see [`Styles`]), the width to fit (`None`:
//! unwrapped, for pipes and files) and the time of the check, and writes the text where it
//! belongs (`cli::output`). JSON is machine output and never
//! coloured; a value that cannot be serialised is an error, never an empty document.

pub mod advisories;
pub mod check;
pub mod fleet;
pub mod install_order;
pub mod probe;
pub mod risk;
pub mod smoke;
pub mod style;

use serde::Serialize;

pub use check::{
    junit, markdown, summary, table, table_in, Checked, EnvironmentInfo, FailOn, MatrixInfo,
    PlanInfo, ReadError, Report, SCHEMA,
};
pub use fleet::{Fleet, Group, GroupKey};
pub use probe::{probe_json, probe_table};
pub use style::Styles;

/// A document that cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot write the {what} as JSON")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// `value` as pretty-printed JSON with a final newline: the form of every JSON document compat
/// prints. `what` names the document in the error.
pub fn to_json<T: Serialize + ?Sized>(
    what: &'static str,
    value: &T,
) -> Result<String, RenderError> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(|source| RenderError::Json { what, source })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn json_is_pretty_with_a_final_newline() {
        let text = super::to_json("value", &[1, 2]).expect("serialises");
        assert_eq!(text, "[\n  1,\n  2\n]\n");
    }

    #[test]
    fn a_value_json_cannot_hold_is_an_error_not_an_empty_document() {
        // JSON object keys must be strings.
        let map: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        let e = super::to_json("map", &map).expect_err("not serialisable");
        assert_eq!(e.to_string(), "cannot write the map as JSON");
        assert!(std::error::Error::source(&e).is_some());
    }
}
