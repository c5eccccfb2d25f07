//! Text spans: where a byte offset falls in a file, as the 1-based `line:column` that every
//! error about an input file names, and what a TOML (serde) error says is wrong. Used by the
//! matrix loader, the advisory loader and its config, host profiles and plans.

use std::ops::Range;

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary_compat(offset)];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// 1-based line and column where `span` starts in `text`; `(1, 1)` when there is no span
/// (some TOML errors have none).
pub fn span_start(text: &str, span: Option<Range<usize>>) -> (usize, usize) {
    span.map(|s| line_col(text, s.start)).unwrap_or((1, 1))
}

/// What a TOML error message says is wrong. toml's errors have no kind to match on, so it is
/// read from the message's words; each loader turns it into a hint naming its own schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TomlFault {
    /// `unknown field`: a misspelt or unsupported key.
    UnknownKey,
    /// `missing field`: a required key is absent.
    MissingKey,
    /// `unknown variant`: a value outside an enumeration.
    UnknownValue,
    /// Anything else: the TOML itself, or a value of the wrong type.
    Other,
}

impl TomlFault {
    pub fn of(message: &str) -> Self {
        if message.contains("unknown field") {
            TomlFault::UnknownKey
        } else if message.contains("missing field") {
            TomlFault::MissingKey
        } else if message.contains("unknown variant") {
            TomlFault::UnknownValue
        } else {
            TomlFault::Other
        }
    }
}

trait FloorBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::{line_col, span_start, TomlFault};

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        assert_eq!(line_col("a\nbc", 0), (1, 1));
        assert_eq!(line_col("a\nbc", 3), (2, 2));
        assert_eq!(line_col("é\nx", 1), (1, 1), "inside a character: its start");
        assert_eq!(line_col("ab", 99), (1, 3), "past the end: the end");
    }

    #[test]
    fn spans_start_where_they_start_or_at_the_top() {
        assert_eq!(span_start("a\nbc", Some(3..4)), (2, 2));
        assert_eq!(span_start("a\nbc", None), (1, 1));
    }

    #[test]
    fn toml_faults_are_read_from_the_message() {
        assert_eq!(
            TomlFault::of("unknown field `afected`, expected one of"),
            TomlFault::UnknownKey
        );
        assert_eq!(TomlFault::of("missing field `id`"), TomlFault::MissingKey);
        assert_eq!(
            TomlFault::of("unknown variant `gpux`"),
            TomlFault::UnknownValue
        );
        assert_eq!(TomlFault::of("invalid type: integer"), TomlFault::Other);
    }
}
