//! Text: where a byte offset falls in a file, as the 1-based `line:column` that every error
//! about an input file names, and what a TOML (serde) error says is wrong (the matrix loader,
//! the advisory loader and its config, host profiles, plans); and text from inputs made safe to
//! print for people ([`clean`], [`clean_lines`]).
//!
//! Everything compat prints for people may hold text from an untrusted input: a matrix title,
//! a METADATA `Summary`, a host profile's GPU name, a merged report's fields, a path in an
//! error. A terminal obeys the control characters in such text — `ESC [2J` clears the screen,
//! `ESC ] 52` writes the clipboard, `ESC ] 8` makes a hidden link, a carriage return or a
//! backspace overwrites what was printed, U+202E reverses it — so every human format passes its
//! text through these functions, which replace each such character with a visible escape
//! (`\x1b`, `\u{202e}`). JSON needs none (serde escapes it); XML gets the same treatment.
//!
//! Text pasted into a shell command compat prints (a fix line, an install-order script) goes
//! through [`shell_word`] instead: one POSIX `sh` word, whatever the package name, version,
//! spec or path holds.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::ops::Range;

/// Whether `c` must not reach a terminal raw: a C0 control (tab and newline included), DEL,
/// a C1 control (U+0080..U+009F, among them the one-byte CSI U+009B), or a Unicode bidi
/// control (the embeddings, overrides and isolates U+202A..U+202E and U+2066..U+2069, the
/// marks U+200E, U+200F and U+061C).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// `s` with every [`is_unsafe`] character replaced by a visible escape: `\n`, `\r`, `\t`,
/// `\x1b` for the other ASCII controls and DEL, `\u{9b}` for the rest. For a value printed on
/// one line or in one table cell: a newline in it never starts a line of its own.
pub fn clean(s: &str) -> Cow<'_, str> {
    clean_with(s, false)
}

/// [`clean`], keeping line breaks (`\n`): for a block of text whose lines are its layout.
pub fn clean_lines(s: &str) -> Cow<'_, str> {
    clean_with(s, true)
}

fn clean_with(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let bad = |c: char| is_unsafe(c) && !(keep_newlines && c == '\n');
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Appends the visible escape of `c`.
pub fn push_escape(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// Where each line of a text starts, for many [`line_col`] answers on one text without
/// counting from its start each time (a load that records the place of every entry).
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { starts }
    }

    /// The same answer as [`line_col`]`(text, offset)`, for the `text` the index was made of.
    pub fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = text.floor_char_boundary_compat(offset.min(text.len()));
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts.get(line.wrapping_sub(1)).copied().unwrap_or(0);
        let col = text.get(start..offset).map_or(0, |t| t.chars().count()) + 1;
        (line.max(1), col)
    }
}

/// Single-quotes `s` for a POSIX shell: inside single quotes nothing is special (`$`, `` ` ``,
/// `;`, `\\`, a newline), and a quote itself is closed, escaped and reopened (`'\\''`).
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `s` as one POSIX shell word: as it is when it holds only characters no shell treats
/// specially (`python`, `/opt/py/bin/python3.11`, an https URL, `torch==2.4.1+cu124`), else
/// [`quote`]d. Every value compat pastes into a command it prints goes through this.
pub(crate) fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain {
        s.to_string()
    } else {
        quote(s)
    }
}

/// `pip install <flags><package><rest>` as a line a POSIX shell runs as meant: the requirement
/// is one [`shell_word`], so nothing in it (`;`, `$(...)`, a backtick, a newline) is run.
/// `None` when `package` is not a PEP 508 name: such a name has no command that installs it,
/// and one that starts with `-` would be read by pip as an option, quoted or not. `flags` are
/// compat's own (`--force-reinstall `), never input.
pub(crate) fn pip_install(flags: &str, package: &str, rest: &str) -> Option<String> {
    super::names::canonical(package)?;
    Some(format!(
        "pip install {flags}{}",
        shell_word(&format!("{}{rest}", package.trim()))
    ))
}

/// `pip install --force-reinstall 'package==version'`, or `None` when `version` is not
/// PEP 440 (METADATA text that never reaches a command) or `package` is not a PEP 508 name.
pub(crate) fn reinstall_pinned(package: &str, version: &str) -> Option<String> {
    version.parse::<pep440_rs::Version>().ok()?;
    pip_install("--force-reinstall ", package, &format!("=={version}"))
}

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
    use super::{clean, clean_lines, line_col, shell_word, span_start, LineIndex, TomlFault};

    #[test]
    fn the_line_index_answers_as_line_col_does_at_every_offset() {
        for text in [
            "",
            "a",
            "\n",
            "a\nbé c\n\nxyz",
            "\n\nééé\r\nq",
            "no newline at all",
        ] {
            let index = LineIndex::new(text);
            for offset in 0..=text.len() + 2 {
                assert_eq!(
                    index.line_col(text, offset),
                    line_col(text, offset),
                    "{text:?} at {offset}"
                );
            }
        }
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        for plain in [
            "fixtures/hosts/h100.toml",
            "python3.11",
            "https://download.pytorch.org/whl/cu124",
            "torch==2.4.1+cu124",
        ] {
            assert_eq!(shell_word(plain), plain);
        }
        assert_eq!(shell_word("my host.toml"), "'my host.toml'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("$(rm -rf ~)"), "'$(rm -rf ~)'");
        assert_eq!(shell_word("`id`"), "'`id`'");
        assert_eq!(shell_word("1.0; rm -rf /"), "'1.0; rm -rf /'");
        assert_eq!(shell_word("a\nb"), "'a\nb'");
        assert_eq!(shell_word("torch>=2.4"), "'torch>=2.4'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn controls_and_bidi_overrides_become_visible_escapes() {
        for (raw, shown) in [
            ("\x1b[2Jgone", "\\x1b[2Jgone"),
            (
                "\x1b]8;;http://x\x07link\x1b]8;;\x07",
                "\\x1b]8;;http://x\\x07link\\x1b]8;;\\x07",
            ),
            ("\x1b]52;c;cm0gLXJmIH4=\x07", "\\x1b]52;c;cm0gLXJmIH4=\\x07"),
            ("evil\rgood", "evil\\rgood"),
            ("abc\x08\x08\x08xyz", "abc\\x08\\x08\\x08xyz"),
            ("\u{9b}31m", "\\u{9b}31m"),
            ("\u{202e}txt.exe", "\\u{202e}txt.exe"),
            ("\u{2066}a\u{2069}", "\\u{2066}a\\u{2069}"),
            ("a\tb\x7f\0", "a\\tb\\x7f\\x00"),
            ("two\nlines", "two\\nlines"),
        ] {
            assert_eq!(clean(raw), shown, "{raw:?}");
            assert!(!clean(raw).chars().any(super::is_unsafe));
        }
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for s in [
            "",
            "torch 2.4.0+cu124 — ✓ verified",
            "NVIDIA H100 80GB HBM3",
            "日本語 é",
        ] {
            assert!(matches!(clean(s), std::borrow::Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn clean_lines_keeps_line_breaks_only() {
        assert_eq!(clean_lines("a\nb\r\x1b[K\n"), "a\nb\\r\\x1b[K\n");
    }

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
